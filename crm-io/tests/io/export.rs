//! Export: typed cells, no formulas, and a round trip through import that gives the same
//! customers, contacts and leads back.

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use crm_domain::model::{Contact, Customer, CustomerStatus, Lead, LeadStatus};
use crm_domain::{RecordId, Value};
use crm_io::{
    export_customers_csv, export_customers_xlsx, export_leads_csv, export_leads_xlsx,
    import_customers, import_leads, read_table, Format, Lang,
};
use std::io::Cursor;

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn customers() -> (Vec<Customer>, Vec<Contact>) {
    let acme = Customer {
        id: RecordId(11),
        version: 3,
        code: "007".into(),
        name: "=1+1".into(),
        short_name: "+Acme".into(),
        category: "key".into(),
        source: "web".into(),
        address: "-1 Main St\nSuite 2".into(),
        city: "@home".into(),
        country: "中国".into(),
        phone: "013800138000".into(),
        email: "info@acme.example".into(),
        owner: Some(RecordId(5)),
        status: CustomerStatus::Private,
        parent: Some(RecordId(2)),
        remarks: r#"100%_sure \'it\' "works""#.into(),
        search: "acme".into(),
        created_at: at(2024, 1, 2, 3),
        updated_at: at(2024, 5, 6, 7),
        custom: [("tier".to_owned(), Value::Text("gold".into()))].into(),
        ..Default::default()
    };
    let lonely = Customer {
        id: RecordId(12),
        code: "B2".into(),
        name: "北京星辰科技有限公司".into(),
        status: CustomerStatus::Pool,
        created_at: at(2024, 2, 1, 0),
        updated_at: at(2024, 2, 1, 0),
        ..Default::default()
    };
    let contacts = vec![
        Contact {
            id: RecordId(21),
            customer: RecordId(11),
            name: "王小明".into(),
            title: "经理".into(),
            mobile: "13911112222".into(),
            birthday: NaiveDate::from_ymd_opt(1985, 10, 1),
            remarks: "-minus first".into(),
            ..Default::default()
        },
        Contact {
            id: RecordId(22),
            customer: RecordId(99),
            name: "not exported: customer not given".into(),
            ..Default::default()
        },
        Contact {
            id: RecordId(23),
            customer: RecordId(11),
            name: "Ann".into(),
            email: "ann@acme.example".into(),
            department: "Sales".into(),
            ..Default::default()
        },
    ];
    (vec![acme, lonely], contacts)
}

/// What an import gives back for what was exported: no ids, versions, timestamps, search
/// text or customer links, which the storing service assigns, and no owner or parent, whose
/// ids mean nothing in another store.
fn as_imported(customers: &[Customer], contacts: &[Contact]) -> Vec<(Customer, Vec<Contact>)> {
    customers
        .iter()
        .map(|customer| {
            let stripped = Customer {
                id: RecordId::default(),
                version: 0,
                search: String::new(),
                owner: None,
                parent: None,
                created_at: DateTime::<Utc>::default(),
                updated_at: DateTime::<Utc>::default(),
                ..customer.clone()
            };
            let people = contacts
                .iter()
                .filter(|c| c.customer == customer.id)
                .map(|c| Contact {
                    id: RecordId::default(),
                    customer: RecordId::default(),
                    ..c.clone()
                })
                .collect();
            (stripped, people)
        })
        .collect()
}

fn reimport(bytes: &[u8], format: Format) -> Vec<(Customer, Vec<Contact>)> {
    let table = read_table(bytes, format).unwrap();
    let import = import_customers(&table);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    let warned: Vec<&str> = import.warnings.iter().map(|w| w.reason.as_str()).collect();
    assert_eq!(
        warned,
        [
            "owner holds record ids of another store, which are not portable; set the owner \
             after import; the column is ignored",
            "parent holds record ids of another store, which are not portable; set the parent \
             after import; the column is ignored",
            "created_at is set by the system; the column is ignored",
            "updated_at is set by the system; the column is ignored",
        ]
    );
    import.rows.into_iter().map(|row| (row.customer, row.contacts)).collect()
}

#[test]
fn customers_round_trip_through_xlsx_in_both_languages() {
    let (customers, contacts) = customers();
    for lang in [Lang::En, Lang::Zh] {
        let bytes = export_customers_xlsx(&customers, &contacts, lang).unwrap();
        assert_eq!(reimport(&bytes, Format::Xlsx), as_imported(&customers, &contacts), "{lang:?}");
    }
}

#[test]
fn customers_round_trip_through_csv_in_both_languages() {
    let (customers, contacts) = customers();
    for lang in [Lang::En, Lang::Zh] {
        let bytes = export_customers_csv(&customers, &contacts, lang).unwrap();
        assert_eq!(reimport(&bytes, Format::Csv), as_imported(&customers, &contacts), "{lang:?}");
    }
}

#[test]
fn xlsx_export_has_typed_cells_and_no_formulas() {
    let (customers, contacts) = customers();
    let bytes = export_customers_xlsx(&customers, &contacts, Lang::En).unwrap();
    let mut workbook = Xlsx::new(Cursor::new(bytes)).unwrap();
    assert_eq!(workbook.sheet_names(), ["Customers"]);

    let formulas = workbook.worksheet_formula("Customers").unwrap();
    assert!(formulas.used_cells().all(|(_, _, formula)| formula.is_empty()));

    let range = workbook.worksheet_range("Customers").unwrap();
    let headers: Vec<String> =
        range.rows().next().unwrap().iter().map(ToString::to_string).collect();
    let column = |header: &str| headers.iter().position(|h| h == header).unwrap();
    // Two contacts for Acme, one row for the customer without contacts.
    assert_eq!(range.height(), 4);
    let cell = |row: usize, header: &str| range.get((row, column(header))).unwrap().clone();

    assert_eq!(cell(1, "Name"), Data::String("=1+1".into()));
    assert_eq!(cell(1, "Short name"), Data::String("+Acme".into()));
    assert_eq!(cell(1, "City"), Data::String("@home".into()));
    assert_eq!(cell(1, "Code"), Data::String("007".into()));
    assert_eq!(cell(1, "Phone"), Data::String("013800138000".into()));
    assert_eq!(cell(1, "Owner"), Data::Float(5.0));
    assert_eq!(cell(1, "Contact name"), Data::String("王小明".into()));
    assert_eq!(cell(2, "Contact name"), Data::String("Ann".into()));
    assert_eq!(cell(2, "Name"), Data::String("=1+1".into()));
    assert_eq!(cell(3, "Contact name"), Data::Empty);
    let Data::DateTime(birthday) = cell(1, "Birthday") else {
        panic!("birthday is not a date cell")
    };
    assert_eq!(
        birthday.as_datetime().unwrap().date(),
        NaiveDate::from_ymd_opt(1985, 10, 1).unwrap()
    );
    let Data::DateTime(created) = cell(1, "Created") else { panic!("created is not a date cell") };
    assert_eq!(created.as_datetime().unwrap(), at(2024, 1, 2, 3).naive_utc());
    assert!(!headers.iter().any(|h| h == "Search text"));
    assert!(headers.iter().any(|h| h == "custom.tier"));
}

#[test]
fn csv_export_guards_formulas_and_starts_with_a_bom() {
    let (customers, contacts) = customers();
    let bytes = export_customers_csv(&customers, &contacts, Lang::Zh).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("\u{feff}客户编号,客户名称,简称,"));
    assert!(text.contains("\r\n007,'=1+1,'+Acme,"));
    assert!(text.contains(",'@home,"));
    assert!(text.contains(",'-minus first,gold\r\n"));
    assert!(text.contains(",自定义.tier\r\n"));
    assert!(!text.contains(",=1+1"));
}

fn leads() -> Vec<Lead> {
    vec![
        Lead {
            id: RecordId(1),
            name: "Charlotte Cooper".into(),
            title: "Purchasing Manager".into(),
            company: "Exotic Liquids".into(),
            phone: "(171) 555-2222".into(),
            mobile: "+44 7700 900000".into(),
            status: LeadStatus::Contacted,
            owner: Some(RecordId(4)),
            customer: None,
            created_at: at(2024, 3, 3, 3),
            custom: [("budget".to_owned(), Value::Text("1,000".into()))].into(),
            ..Default::default()
        },
        Lead {
            id: RecordId(2),
            company: "G'day, Mate".into(),
            website: "http://www.example.com/gdaymate.htm".into(),
            status: LeadStatus::Converted,
            customer: Some(RecordId(77)),
            ..Default::default()
        },
    ]
}

#[test]
fn leads_round_trip_through_both_formats() {
    let expected: Vec<Lead> = leads()
        .into_iter()
        .map(|lead| Lead {
            id: RecordId::default(),
            owner: None,
            customer: None,
            created_at: DateTime::<Utc>::default(),
            updated_at: DateTime::<Utc>::default(),
            ..lead
        })
        .collect();
    for lang in [Lang::En, Lang::Zh] {
        for (format, bytes) in [
            (Format::Xlsx, export_leads_xlsx(&leads(), lang).unwrap()),
            (Format::Csv, export_leads_csv(&leads(), lang).unwrap()),
        ] {
            let import = import_leads(&read_table(&bytes, format).unwrap());
            assert!(import.errors.is_empty(), "{:?}", import.errors);
            let ignored: Vec<&str> = import
                .warnings
                .iter()
                .filter(|w| w.reason.contains("not portable"))
                .map(|w| w.reason.split(' ').next().unwrap())
                .collect();
            assert_eq!(ignored, ["owner", "customer"], "{format:?} {lang:?}");
            let back: Vec<Lead> = import.rows.into_iter().map(|row| row.lead).collect();
            assert_eq!(back, expected, "{format:?} {lang:?}");
        }
    }
}
