//! Hostile and broken files: worksheets that claim or hold far more than an import reads,
//! quotes that never close, cells too long for a spreadsheet. Each is refused with a typed
//! error quickly and in little memory.

use crm_domain::entity::{EntityDesc, FieldDesc};
use crm_domain::model::{Contact, Customer, Lead};
use crm_domain::{FieldType, RecordId};
use crm_io::{
    export_customers_csv, export_customers_xlsx, export_leads_xlsx, import_customers, import_leads,
    import_records, read_table, Cell, Format, IoError, Row, SheetLimit, Table, MAX_CELL_CHARS,
    MAX_COLUMNS, MAX_ROWS,
};
use std::io::{Cursor, Read, Write};
use std::time::{Duration, Instant};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::support::{messages, xlsx, C};

const SHEET: &str = "xl/worksheets/sheet1.xml";

/// A valid workbook whose first worksheet's XML is replaced by `sheet_data` wrapped in a
/// worksheet that declares the dimension `dimension`.
fn workbook_with_sheet(dimension: &str, sheet_data: &[u8]) -> Vec<u8> {
    let original = xlsx(&[vec![C::S("Name")]]);
    let mut archive = ZipArchive::new(Cursor::new(original)).unwrap();
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).unwrap();
        let name = file.name().to_owned();
        writer.start_file(name.as_str(), options).unwrap();
        if name == SHEET {
            let head = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
                 <worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
                 <dimension ref=\"{dimension}\"/><sheetData>"
            );
            writer.write_all(head.as_bytes()).unwrap();
            writer.write_all(sheet_data).unwrap();
            writer.write_all(b"</sheetData></worksheet>").unwrap();
        } else {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            writer.write_all(&bytes).unwrap();
        }
    }
    writer.finish().unwrap().into_inner()
}

/// An inline text cell.
fn text_cell(at: &str, text: &str) -> String {
    format!("<c r=\"{at}\" t=\"inlineStr\"><is><t>{text}</t></is></c>")
}

#[test]
fn a_rewritten_sheet_reads_back() {
    let data = format!(
        "<row r=\"1\">{}</row><row r=\"3\">{}<c r=\"C3\"><v>42</v></c></row>",
        text_cell("A1", "Name"),
        text_cell("A3", "Acme"),
    );
    let table = read_table(&workbook_with_sheet("A1:C3", data.as_bytes()), Format::Xlsx).unwrap();
    assert_eq!(table.headers, ["Name"]);
    assert_eq!(table.rows.len(), 1);
    assert_eq!(table.rows[0].number, 3);
    assert_eq!(table.rows[0].cells[0], Cell::Text("Acme".into()));
    assert_eq!(table.rows[0].cells[2].to_text(), "42");
}

#[test]
fn a_sparse_sheet_reaching_the_last_cell_is_refused_at_once() {
    let data = format!(
        "<row r=\"1\">{}</row><row r=\"1048576\">{}</row>",
        text_cell("A1", "Name"),
        text_cell("XFD1048576", "boom"),
    );
    let bytes = workbook_with_sheet("A1:XFD1048576", data.as_bytes());
    assert!(bytes.len() < 16 * 1024, "{} bytes", bytes.len());

    let started = Instant::now();
    let error = read_table(&bytes, Format::Xlsx).unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    assert_eq!(error, IoError::SheetTooLarge { limit: SheetLimit::Rows, max: MAX_ROWS + 1 });
    assert_eq!(
        error.to_string(),
        "the worksheet is too large: more than 100001 rows (header included)"
    );

    let wide = format!("<row r=\"1\">{}{}</row>", text_cell("A1", "Name"), text_cell("XFD1", "x"));
    let error = read_table(&workbook_with_sheet("A1:XFD1", wide.as_bytes()), Format::Xlsx);
    assert_eq!(error, Err(IoError::SheetTooLarge { limit: SheetLimit::Columns, max: MAX_COLUMNS }));
    assert_eq!(MAX_COLUMNS, 256);
}

#[test]
fn the_last_allowed_row_and_column_still_read() {
    let last_row = MAX_ROWS + 1;
    let data = format!(
        "<row r=\"1\">{}{}</row><row r=\"{last_row}\">{}</row>",
        text_cell("A1", "Name"),
        text_cell("IV1", "Far"),
        text_cell(&format!("A{last_row}"), "Acme"),
    );
    let table = read_table(&workbook_with_sheet("A1:IV2", data.as_bytes()), Format::Xlsx).unwrap();
    assert_eq!(table.headers.len(), MAX_COLUMNS);
    assert_eq!(table.headers[MAX_COLUMNS - 1], "Far");
    assert_eq!(table.rows.len(), 1);
    assert_eq!(table.rows[0].number, u32::try_from(last_row).unwrap());
}

#[test]
fn a_dense_sheet_is_refused_before_the_rest_is_read() {
    // One cell per row up to one row past the limit, then XML that is not even well formed:
    // a reader that went on past the limit would fail on it instead.
    let mut data = String::new();
    for row in 1..=MAX_ROWS + 2 {
        data.push_str(&format!("<row r=\"{row}\"><c r=\"A{row}\"><v>{row}</v></c></row>"));
    }
    data.push_str("<row r=\"100003\"><c r=\"A100003\"><<< not xml");
    let bytes = workbook_with_sheet("A1:AD1048576", data.as_bytes());
    let error = read_table(&bytes, Format::Xlsx).unwrap_err();
    assert_eq!(error, IoError::SheetTooLarge { limit: SheetLimit::Rows, max: MAX_ROWS + 1 });
}

#[test]
fn a_bad_name_cell_is_reported_once() {
    let table = Table {
        headers: vec!["Name".into(), "Code".into()],
        header_row: 1,
        rows: vec![Row {
            number: 2,
            cells: vec![Cell::Error("#REF!".into()), Cell::Text("C1".into())],
        }],
    };
    assert_eq!(
        messages(&import_customers(&table).errors),
        [r#"row 2, column "Name": the cell holds the spreadsheet error #REF!"#]
    );

    let table = Table { headers: vec!["Name".into(), "Company".into()], ..table };
    assert_eq!(
        messages(&import_leads(&table).errors),
        [r#"row 2, column "Name": the cell holds the spreadsheet error #REF!"#]
    );
}

#[test]
fn text_longer_than_a_cell_holds_is_refused_at_import() {
    let long = "x".repeat(MAX_CELL_CHARS + 1);
    let fits = "字".repeat(MAX_CELL_CHARS);
    let desc =
        EntityDesc::new("note", vec![FieldDesc::new("body", FieldType::Text, "Body", "正文")])
            .unwrap();
    let text = format!("Body,custom.extra\n{long},{fits}\n{fits},{long}\n");
    let import = import_records(&read_table(text.as_bytes(), Format::Csv).unwrap(), &desc);
    assert_eq!(
        messages(&import.errors),
        [
            r#"row 2, column "Body": the text is longer than 32767 characters (32768), the most a spreadsheet cell holds"#,
            r#"row 3, column "custom.extra": the text is longer than 32767 characters (32768), the most a spreadsheet cell holds"#,
        ]
    );
    let kept = import.rows[1].record.get("body").as_text().unwrap();
    assert_eq!(kept.chars().count(), MAX_CELL_CHARS);

    // A field with a shorter limit of its own is reported once, by the cell limit, and a
    // custom field's rule names its column.
    let text = format!("Name,custom.notes\nAcme,{long}\nBeta,{fits}\n");
    let import = import_customers(&read_table(text.as_bytes(), Format::Csv).unwrap());
    assert_eq!(
        messages(&import.errors),
        [
            r#"row 2, column "custom.notes": the text is longer than 32767 characters (32768), the most a spreadsheet cell holds"#,
            r#"row 3, column "custom.notes": longer than 4000 characters"#,
        ]
    );
}

#[test]
fn export_names_the_record_and_field_of_a_too_long_text() {
    let customer = Customer {
        id: RecordId(11),
        name: "Acme".into(),
        remarks: "y".repeat(MAX_CELL_CHARS + 1),
        ..Default::default()
    };
    let error =
        export_customers_xlsx(std::slice::from_ref(&customer), &[], crm_io::Lang::En).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the file cannot be written: customer 11, field remarks: the text has 32768 \
         characters, more than the 32767 a spreadsheet cell holds (export as csv instead)"
    );
    // CSV has no cell limit, and a text that just fits still goes to XLSX.
    assert!(export_customers_csv(std::slice::from_ref(&customer), &[], crm_io::Lang::En).is_ok());
    let fits = Customer { remarks: "y".repeat(MAX_CELL_CHARS), ..customer.clone() };
    assert!(export_customers_xlsx(&[fits], &[], crm_io::Lang::En).is_ok());

    let contact = Contact {
        id: RecordId(21),
        customer: RecordId(12),
        name: "Ann".into(),
        remarks: "z".repeat(MAX_CELL_CHARS + 5),
        ..Default::default()
    };
    let owner = Customer { id: RecordId(12), name: "Beta".into(), ..Default::default() };
    let error = export_customers_xlsx(&[owner], &[contact], crm_io::Lang::Zh).unwrap_err();
    let IoError::Write { reason } = error else { panic!("{error:?}") };
    assert!(reason.starts_with("contact 21, field remarks: the text has 32772 "), "{reason}");

    let tagged = Customer {
        custom: [("notes".to_owned(), "n".repeat(MAX_CELL_CHARS + 1).into())].into(),
        remarks: String::new(),
        ..customer
    };
    let error = export_customers_xlsx(&[tagged], &[], crm_io::Lang::En).unwrap_err();
    let IoError::Write { reason } = error else { panic!("{error:?}") };
    assert!(reason.starts_with("customer 11, field custom.notes: "), "{reason}");

    let lead = Lead { id: RecordId(3), name: "z".repeat(40_000), ..Default::default() };
    let error = export_leads_xlsx(&[lead], crm_io::Lang::En).unwrap_err();
    let IoError::Write { reason } = error else { panic!("{error:?}") };
    assert!(reason.starts_with("lead 3, field name: the text has 40000 characters"), "{reason}");
}
