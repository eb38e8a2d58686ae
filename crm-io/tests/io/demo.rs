//! The Northwind demo files import cleanly through the same path as a user's file.

use crm_domain::model::LeadStatus;
use crm_io::demo::{DEMO_CUSTOMERS_CSV, DEMO_LEADS_CSV};
use crm_io::{import_customers, import_leads, read_table, Format};
use std::collections::BTreeSet;

#[test]
fn demo_customers_import_without_errors() {
    let table = read_table(DEMO_CUSTOMERS_CSV.as_bytes(), Format::Csv).unwrap();
    let import = import_customers(&table);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    assert!(import.warnings.is_empty(), "{:?}", import.warnings);
    assert_eq!(import.rows.len(), 91);
    assert!(import.rows.iter().all(|row| row.contacts.len() == 1));

    let codes: BTreeSet<&str> = import.rows.iter().map(|r| r.customer.code.as_str()).collect();
    assert_eq!(codes.len(), 91);
    let first = &import.rows[0];
    assert_eq!(first.customer.code, "ALFKI");
    assert_eq!(first.customer.name, "Alfreds Futterkiste");
    assert_eq!(first.customer.address, "Obere Str. 57, 12209");
    assert_eq!(first.customer.phone, "030-0074321");
    assert_eq!(first.customer.category, "europe");
    assert_eq!(first.customer.source, "northwind");
    assert_eq!(first.contacts[0].name, "Maria Anders");
    assert_eq!(first.contacts[0].title, "Sales Representative");

    let categories: BTreeSet<&str> =
        import.rows.iter().map(|r| r.customer.category.as_str()).collect();
    assert_eq!(categories, BTreeSet::from(["europe", "latin_america", "north_america"]));
    let mexico = import.rows.iter().find(|r| r.customer.code == "ANTON").unwrap();
    assert_eq!(mexico.customer.name, "Antonio Moreno Taquería");
}

#[test]
fn demo_leads_import_without_errors() {
    let table = read_table(DEMO_LEADS_CSV.as_bytes(), Format::Csv).unwrap();
    let import = import_leads(&table);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    assert!(import.warnings.is_empty(), "{:?}", import.warnings);
    assert_eq!(import.rows.len(), 29);
    assert!(import.rows.iter().all(|r| r.lead.status == LeadStatus::New));
    assert!(import.rows.iter().all(|r| r.lead.source == "northwind"));
    let mate = import.rows.iter().find(|r| r.lead.company == "G'day, Mate").unwrap();
    assert_eq!(mate.lead.name, "Wendy Mackenzie");
    assert_eq!(mate.lead.website, "http://www.microsoft.com/accessdev/sampleapps/gdaymate.htm");
    let grandma = import.rows.iter().find(|r| r.lead.company == "Grandma Kelly's Homestead");
    assert_eq!(grandma.unwrap().lead.address, "707 Oxford Rd., MI 48104");
}
