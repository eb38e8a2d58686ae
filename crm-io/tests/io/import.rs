//! Import of awkward real-world files: typed XLSX cells, both header languages, BOMs, repeated
//! customers, bad values reported by row and column.

use chrono::NaiveDate;
use crm_domain::model::{CustomerStatus, LeadStatus};
use crm_domain::Value;
use crm_io::{
    import_customers, import_leads, import_records, read_table, Cell, Format, IoError, Number, Row,
    Table,
};

use crate::support::{csv_table, messages, xlsx, xlsx_table, C};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn xlsx_cells_keep_their_types() {
    let table = xlsx_table(&[
        vec![C::S("Code"), C::S("Phone"), C::S("Birthday"), C::S("Flag"), C::S("At")],
        vec![
            C::S("007"),
            C::N(13_800_138_000.0),
            C::D(1990, 5, 17),
            C::B(true),
            C::T(2024, 3, 1, 9, 30),
        ],
    ]);
    assert_eq!(table.headers, ["Code", "Phone", "Birthday", "Flag", "At"]);
    assert_eq!(table.header_row, 1);
    assert_eq!(table.rows.len(), 1);
    let row = &table.rows[0];
    assert_eq!(row.number, 2);
    assert_eq!(row.cells[0], Cell::Text("007".into()));
    assert_eq!(row.cells[1], Cell::Number(Number::from_i64(13_800_138_000)));
    assert_eq!(row.cells[2], Cell::Date(date(1990, 5, 17)));
    assert_eq!(row.cells[3], Cell::Bool(true));
    assert_eq!(row.cells[4], Cell::DateTime(date(2024, 3, 1).and_hms_opt(9, 30, 0).unwrap()));
}

#[test]
fn xlsx_rows_keep_sheet_numbers_when_the_data_starts_lower() {
    let table = xlsx_table(&[
        vec![],
        vec![],
        vec![C::E, C::S("Name")],
        vec![C::E, C::S("Acme")],
        vec![],
        vec![C::E, C::S("Beta")],
    ]);
    assert_eq!(table.header_row, 3);
    assert_eq!(table.headers, ["Name"]);
    let numbers: Vec<u32> = table.rows.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [4, 6]);
    let import = import_customers(&table);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    assert_eq!(import.rows[1].row, 6);
}

#[test]
fn leading_zeros_in_text_cells_survive() {
    let table = xlsx_table(&[
        vec![C::S("Code"), C::S("Name"), C::S("Phone"), C::S("Contact name"), C::S("Mobile")],
        vec![
            C::S("000123"),
            C::S("Acme"),
            C::S("010-6275 0000"),
            C::S("Li Lei"),
            C::S("013800138000"),
        ],
    ]);
    let import = import_customers(&table);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    let row = &import.rows[0];
    assert_eq!(row.customer.code, "000123");
    assert_eq!(row.customer.phone, "010-6275 0000");
    assert_eq!(row.contacts[0].mobile, "013800138000");

    let csv = csv_table("Code,Name,Phone\r\n000123,Acme,0086 10 1234\r\n");
    let import = import_customers(&csv);
    assert_eq!(import.rows[0].customer.code, "000123");
    assert_eq!(import.rows[0].customer.phone, "0086 10 1234");
}

#[test]
fn phone_numbers_typed_as_numbers_read_as_digits() {
    let table = xlsx_table(&[
        vec![C::S("Name"), C::S("Phone"), C::S("Contact name"), C::S("Mobile")],
        vec![C::S("Acme"), C::N(13_800_138_000.0), C::S("Li Lei"), C::N(1.38e10)],
    ]);
    let import = import_customers(&table);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    assert_eq!(import.rows[0].customer.phone, "13800138000");
    assert_eq!(import.rows[0].contacts[0].mobile, "13800000000");
}

#[test]
fn chinese_headers_map_to_fields() {
    let table = xlsx_table(&[
        vec![
            C::S("客户编号"),
            C::S("客户名称"),
            C::S("电话"),
            C::S("国家/地区"),
            C::S("联系人"),
            C::S("联系人电话"),
            C::S("生日"),
            C::S("自定义.行业代码"),
        ],
        vec![
            C::S("C001"),
            C::S("北京星辰科技有限公司"),
            C::S("010-88886666"),
            C::S("中国"),
            C::S("王小明"),
            C::S("13911112222"),
            C::D(1985, 10, 1),
            C::S("I65"),
        ],
    ]);
    let import = import_customers(&table);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    assert!(import.warnings.is_empty(), "{:?}", import.warnings);
    let row = &import.rows[0];
    assert_eq!(row.customer.code, "C001");
    assert_eq!(row.customer.name, "北京星辰科技有限公司");
    assert_eq!(row.customer.phone, "010-88886666");
    assert_eq!(row.customer.country, "中国");
    assert_eq!(row.customer.custom.get("行业代码"), Some(&Value::Text("I65".into())));
    assert_eq!(row.contacts.len(), 1);
    assert_eq!(row.contacts[0].name, "王小明");
    assert_eq!(row.contacts[0].phone, "13911112222");
    assert_eq!(row.contacts[0].birthday, Some(date(1985, 10, 1)));
}

#[test]
fn english_and_mixed_case_headers_map_alike() {
    let english = csv_table(
        "Code,Name,Status,Owner,Contact name,Contact email,Birthday,custom.tier\n\
         A1,Acme,pool,7,Ann,ann@acme.example,1990/2/3,gold\n",
    );
    let mixed = csv_table(
        "  cODE ,NAME,status,OWNER,cOnTaCt NaMe,CONTACT.EMAIL,BIRTHDAY,Custom.tier\n\
         A1,Acme,POOL,7,Ann,ann@acme.example,1990年2月3日,gold\n",
    );
    let english = import_customers(&english);
    let mixed = import_customers(&mixed);
    assert!(english.errors.is_empty(), "{:?}", english.errors);
    assert!(mixed.errors.is_empty(), "{:?}", mixed.errors);
    assert_eq!(english.rows, mixed.rows);

    let row = &english.rows[0];
    assert_eq!(row.customer.status, CustomerStatus::Pool);
    // Owner ids are not portable between stores: the column is recognised and ignored.
    assert_eq!(row.customer.owner, None);
    assert_eq!(
        messages(&english.warnings),
        [
            r#"column "Owner": owner holds record ids of another store, which are not portable; set the owner after import; the column is ignored"#
        ]
    );
    assert_eq!(row.customer.custom.get("tier"), Some(&Value::Text("gold".into())));
    assert_eq!(row.contacts[0].email, "ann@acme.example");
    assert_eq!(row.contacts[0].birthday, Some(date(1990, 2, 3)));
}

#[test]
fn csv_with_and_without_bom_read_the_same() {
    let text = "客户名称,联系人\r\n\"Café, Ltd\",José\r\n";
    let plain = read_table(text.as_bytes(), Format::Csv).unwrap();
    let with_bom = read_table(format!("\u{feff}{text}").as_bytes(), Format::Csv).unwrap();
    assert_eq!(plain, with_bom);
    assert_eq!(plain.headers, ["客户名称", "联系人"]);
    let import = import_customers(&with_bom);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    assert_eq!(import.rows[0].customer.name, "Café, Ltd");
    assert_eq!(import.rows[0].contacts[0].name, "José");
}

#[test]
fn wildcard_and_quote_characters_are_kept_exactly() {
    let name = r#"100%_Real \'Quoted\' "Co""#;
    let csv = csv_table("Name,Contact name\n\"100%_Real \\'Quoted\\' \"\"Co\"\"\",a_b%c\n");
    let import = import_customers(&csv);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    assert_eq!(import.rows[0].customer.name, name);
    assert_eq!(import.rows[0].contacts[0].name, "a_b%c");

    let table = xlsx_table(&[vec![C::S("Name")], vec![C::S(name)]]);
    assert_eq!(import_customers(&table).rows[0].customer.name, name);
}

#[test]
fn bad_dates_are_reported_with_row_and_column() {
    let table = xlsx_table(&[
        vec![C::S("Name"), C::S("Contact name"), C::S("Birthday")],
        vec![C::S("A"), C::S("a"), C::S("1990-01-01")],
        vec![C::S("B"), C::S("b"), C::E],
        vec![C::S("C"), C::S("c"), C::D(1991, 2, 28)],
        vec![C::S("D"), C::S("d"), C::S("1992/3/4")],
        vec![C::S("E"), C::S("e"), C::S("abc")],
        vec![C::S("F"), C::S("f"), C::S("2023-02-30")],
    ]);
    let import = import_customers(&table);
    assert_eq!(
        messages(&import.errors),
        [
            r#"row 6, column "Birthday": "abc" is not a date"#,
            r#"row 7, column "Birthday": "2023-02-30" is not a date"#,
        ]
    );
    assert_eq!(import.errors[1].row, 7);
    assert_eq!(import.errors[1].column, "Birthday");
    assert_eq!(import.errors[1].field, "contact.birthday");
    let birthdays: Vec<Option<NaiveDate>> =
        import.rows.iter().map(|r| r.contacts[0].birthday).collect();
    assert_eq!(
        birthdays,
        [Some(date(1990, 1, 1)), None, Some(date(1991, 2, 28)), Some(date(1992, 3, 4)), None, None]
    );
}

#[test]
fn repeated_customer_rows_merge_their_contacts() {
    let table = xlsx_table(&[
        vec![C::S("Code"), C::S("Name"), C::S("City"), C::S("Contact name"), C::S("Title")],
        vec![C::S("A1"), C::S("Acme"), C::S("Beijing"), C::S("Ann"), C::S("CEO")],
        vec![C::S("A1"), C::E, C::E, C::S("Bob"), C::S("CTO")],
        vec![C::S("B2"), C::S("Beta"), C::S("Shanghai"), C::S("Cai"), C::E],
        vec![C::S("A1"), C::S("Acme"), C::S("Beijing"), C::S("Dan"), C::E],
        vec![C::E, C::S("Gamma"), C::E, C::S("Eve"), C::E],
        vec![C::E, C::S("Gamma"), C::E, C::S("Fay"), C::E],
        vec![C::E, C::S("Beta"), C::E, C::S("Gus"), C::E],
    ]);
    let import = import_customers(&table);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    let summary: Vec<(u32, &str, Vec<&str>)> = import
        .rows
        .iter()
        .map(|r| {
            (r.row, r.customer.name.as_str(), r.contacts.iter().map(|c| c.name.as_str()).collect())
        })
        .collect();
    assert_eq!(
        summary,
        [
            (2, "Acme", vec!["Ann", "Bob", "Dan"]),
            (4, "Beta", vec!["Cai", "Gus"]),
            (6, "Gamma", vec!["Eve", "Fay"]),
        ]
    );
    assert_eq!(import.rows[0].contacts[1].title, "CTO");
    assert_eq!(import.rows[0].customer.city, "Beijing");
}

#[test]
fn conflicting_repeat_rows_are_reported() {
    let table = csv_table(
        "Code,Name,City,Contact name\n\
         A1,Acme,Beijing,Ann\n\
         A1,Acme Ltd,,Bob\n\
         A1,,Shanghai,Cai\n",
    );
    let import = import_customers(&table);
    assert_eq!(
        messages(&import.errors),
        [
            "row 3, column \"Name\": \"Acme Ltd\" differs from \"Acme\" given for the same \
             customer in row 2; leave the cell empty or repeat the value",
            "row 4, column \"City\": \"Shanghai\" differs from \"Beijing\" given for the same \
             customer in row 2; leave the cell empty or repeat the value",
        ]
    );
    assert_eq!(import.rows.len(), 1);
    assert_eq!(import.rows[0].contacts.len(), 3);
}

#[test]
fn a_name_shared_by_two_codes_is_ambiguous() {
    let table = csv_table("Code,Name,Contact name\nA1,Acme,Ann\nA2,Acme,Bob\n,Acme,Cai\n");
    let import = import_customers(&table);
    assert_eq!(
        messages(&import.errors),
        [r#"row 4, column "Name": several customers are named "Acme"; give the code"#]
    );
}

#[test]
fn rule_violations_name_their_column() {
    let table = csv_table(
        "客户名称,邮箱,联系人,联系人邮箱,联系人电话\n\
         ,bad-mail,王五,,\n\
         乙公司,,,x@y,123\n",
    );
    let import = import_customers(&table);
    assert_eq!(
        messages(&import.errors),
        [
            r#"row 2, column "客户名称": a value is required"#,
            r#"row 3, column "联系人": a value is required"#,
        ]
    );
    assert_eq!(import.errors[1].field, "contact.name");

    // Without a name column the label is used, in the language of the file.
    let table = csv_table("客户编号,电话\nC1,123\n");
    assert_eq!(
        messages(&import_customers(&table).errors),
        [r#"row 2, column "客户名称": a value is required"#]
    );
    let table = csv_table("Code,Email\nC1,not-an-email\n");
    assert_eq!(
        messages(&import_customers(&table).errors),
        [r#"row 2, column "Name": a value is required"#,]
    );
    let table = csv_table("Name,Email\nAcme,not-an-email\n");
    assert_eq!(
        messages(&import_customers(&table).errors),
        [r#"row 2, column "Email": "not-an-email" is not an email address"#]
    );
}

#[test]
fn unknown_and_system_columns_are_warnings() {
    let table = csv_table("Name,Shoe size,Created,Customer,search\nAcme,42,2024-01-01,9,x\n");
    let import = import_customers(&table);
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    assert_eq!(
        messages(&import.warnings),
        [
            r#"column "Shoe size": no field has this name; the column is ignored"#,
            r#"column "Created": created_at is set by the system; the column is ignored"#,
            r#"column "Customer": customer is set by the system; the column is ignored"#,
            r#"column "search": search is set by the system; the column is ignored"#,
        ]
    );
    assert_eq!(import.rows[0].customer.created_at, chrono::DateTime::<chrono::Utc>::default());
}

#[test]
fn duplicate_columns_stop_the_import_naming_both() {
    let table = csv_table("Name,Phone,客户名称\nAcme,1,Acme\n");
    let import = import_customers(&table);
    assert!(import.rows.is_empty());
    assert_eq!(
        messages(&import.errors),
        [r#"row 1, column "客户名称": columns "Name" and "客户名称" both map to field name"#]
    );
}

#[test]
fn control_characters_are_refused() {
    let table = csv_table("Name,Remarks\nAcme,\"bell\u{7}\"\nBeta,\"two\r\nlines\ttab\"\n");
    let import = import_customers(&table);
    assert_eq!(
        messages(&import.errors),
        [r#"row 2, column "Remarks": "bell\u{7}" contains the control character U+0007"#]
    );
    assert_eq!(import.rows[1].customer.remarks, "two\nlines\ttab");
}

#[test]
fn spreadsheet_error_cells_are_reported() {
    let table = Table {
        headers: vec!["Name".into(), "Contact name".into(), "Birthday".into()],
        header_row: 1,
        rows: vec![Row {
            number: 2,
            cells: vec![
                Cell::Text("Acme".into()),
                Cell::Text("Ann".into()),
                Cell::Error("#DIV/0!".into()),
            ],
        }],
    };
    let import = import_customers(&table);
    assert_eq!(
        messages(&import.errors),
        [r#"row 2, column "Birthday": the cell holds the spreadsheet error #DIV/0!"#]
    );
}

#[test]
fn empty_files_have_no_header() {
    assert_eq!(read_table(b"", Format::Csv), Err(IoError::NoHeader));
    assert_eq!(read_table(&xlsx(&[]), Format::Xlsx), Err(IoError::NoHeader));
    let only_header = csv_table("Name,Phone\n");
    let import = import_customers(&only_header);
    assert!(import.rows.is_empty() && import.errors.is_empty());
}

#[test]
fn leads_import_one_row_each() {
    let table = xlsx_table(&[
        vec![C::S("Name"), C::S("Company"), C::S("Status"), C::S("Phone"), C::S("Source")],
        vec![C::S("Ann"), C::S("Acme"), C::S("Qualified"), C::N(13_800_138_000.0), C::S("web")],
        vec![C::E, C::S("Beta"), C::E, C::E, C::E],
        vec![C::S("Cai"), C::E, C::S("hot"), C::E, C::E],
        vec![C::E, C::E, C::E, C::S("0101234"), C::E],
    ]);
    let import = import_leads(&table);
    assert_eq!(
        messages(&import.errors),
        [
            r#"row 4, column "Status": "hot" is not one of new, contacted, qualified, converted, lost"#,
            r#"row 5, column "Name": a name or a company is required"#,
        ]
    );
    assert_eq!(import.rows.len(), 4);
    let first = &import.rows[0].lead;
    assert_eq!(first.status, LeadStatus::Qualified);
    assert_eq!(first.phone, "13800138000");
    assert_eq!(first.source, "web");
    assert_eq!(import.rows[1].lead.status, LeadStatus::New);
    assert_eq!(import.rows[1].lead.company, "Beta");
}

#[test]
fn records_of_any_kind_import_by_description() {
    use crm_domain::entity::{EntityDesc, FieldDesc};
    use crm_domain::FieldType;
    use rust_decimal::Decimal;

    let desc = EntityDesc::new(
        "product",
        vec![
            FieldDesc::new("sku", FieldType::Text, "SKU", "编号"),
            FieldDesc::new("price", FieldType::Decimal, "Price", "价格"),
            FieldDesc::new("stock", FieldType::Integer, "Stock", "库存"),
            FieldDesc::new("active", FieldType::Bool, "Active", "启用"),
        ],
    )
    .unwrap();
    let table = csv_table(
        "编号,价格,库存,启用,custom.colour\n0042,\"1,234.50\",7,是,red\nX,1.2.3,x,maybe,\n",
    );
    let import = import_records(&table, &desc);
    assert_eq!(
        messages(&import.errors),
        [
            r#"row 3, column "价格": "1.2.3" is not a number"#,
            r#"row 3, column "库存": "x" is not a number"#,
            r#"row 3, column "启用": "maybe" is not yes or no"#,
        ]
    );
    let record = &import.rows[0].record;
    assert_eq!(record.get("sku"), &Value::Text("0042".into()));
    assert_eq!(record.get("price"), &Value::Decimal(Decimal::new(123_450, 2)));
    assert_eq!(record.get("stock"), &Value::Integer(7));
    assert_eq!(record.get("active"), &Value::Bool(true));
    assert_eq!(record.get("custom.colour"), &Value::Text("red".into()));
    assert!(record.check(&desc).is_ok());
}
