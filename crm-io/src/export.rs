//! Writing customers, leads or plain records to XLSX and CSV files that the import reads back.
//!
//! Every export lays its values out as a [`Sheet`] first (headers and typed values), then one
//! writer per format renders it. XLSX cells keep their types: text is always written as a
//! string cell (never a formula, whatever it starts with), dates as date cells, timestamps as
//! date-and-time cells in UTC, numbers as numbers. CSV files are UTF-8 with a byte order mark
//! so spreadsheet programs read Chinese correctly, and text that a spreadsheet would take for a
//! formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) gets a leading `'`, the
//! usual defence against formula injection; the CSV import takes that `'` off again.

use chrono::SecondsFormat;
use crm_domain::entity::{EntityDesc, FieldDesc, Label, Record};
use crm_domain::model::{Contact, Customer, Lead};
use crm_domain::{Entity, RecordId, Value};
use rust_xlsxwriter as xlsx;
use std::collections::{BTreeSet, HashMap};

use crate::cell::MAX_CELL_CHARS;
use crate::columns::CUSTOM_PREFIXES;
use crate::error::IoError;
use crate::import::CONTACT_SYSTEM;
use crate::table::FORMULA_STARTS;

/// The language of the header row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English labels.
    #[default]
    En,
    /// Simplified Chinese labels.
    Zh,
}

impl Lang {
    /// The label in this language.
    pub fn label(self, label: &Label) -> &str {
        match self {
            Lang::En => &label.en,
            Lang::Zh => &label.zh,
        }
    }

    /// Parses a language tag: `en…` is English, `zh…` Chinese, case ignored.
    pub fn parse(tag: &str) -> Option<Self> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag.starts_with("zh") {
            Some(Lang::Zh)
        } else if tag.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    fn custom_header(self, name: &str) -> String {
        let prefix = match self {
            Lang::En => CUSTOM_PREFIXES[0],
            Lang::Zh => CUSTOM_PREFIXES[1],
        };
        format!("{prefix}{name}")
    }
}

/// Fields an export leaves out: folded search text is derived, not data.
const NOT_EXPORTED: &[&str] = &["search"];

/// Headers and typed values, one row per line of the file.
struct Sheet {
    name: String,
    headers: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// The declared fields an export writes, in declaration order.
fn exported<'a>(desc: &'a EntityDesc, skip: &'a [&str]) -> impl Iterator<Item = &'a FieldDesc> {
    desc.fields
        .iter()
        .filter(move |f| !NOT_EXPORTED.contains(&f.name.as_str()))
        .filter(move |f| !skip.contains(&f.name.as_str()))
}

/// The names of all custom fields of `records`, sorted.
fn custom_names<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<String> {
    let names: BTreeSet<&String> = records.into_iter().flat_map(|r| r.custom.keys()).collect();
    names.into_iter().cloned().collect()
}

fn to_record<E: Entity>(entity: &E) -> Result<Record, IoError> {
    entity.to_record().map_err(|error| IoError::Write { reason: error.to_string() })
}

/// Refuses a record with a text value longer than a spreadsheet cell holds, naming the record
/// and the field, before an XLSX writer fails on it with a message that names neither.
fn check_cell_lengths(kind: &str, record: &Record) -> Result<(), IoError> {
    let declared = record.fields.iter().map(|(name, value)| (name.to_string(), value));
    let custom = record.custom.iter().map(|(name, value)| (format!("custom.{name}"), value));
    for (field, value) in declared.chain(custom) {
        let chars = match value {
            Value::Text(text) => text.chars().count(),
            Value::Json(json) => json.to_string().chars().count(),
            _ => continue,
        };
        if chars > MAX_CELL_CHARS {
            return Err(IoError::Write {
                reason: format!(
                    "{kind} {id}, field {field}: the text has {chars} characters, more than the \
                     {MAX_CELL_CHARS} a spreadsheet cell holds (export as csv instead)",
                    id = record.id
                ),
            });
        }
    }
    Ok(())
}

/// Lays out customers with their contacts: one row per contact, the customer's cells repeated;
/// a customer without contacts gets one row. Contacts of customers not in `customers` are
/// left out.
/// With `cell_limit`, a text longer than a spreadsheet cell holds is refused.
fn customer_sheet(
    customers: &[Customer],
    contacts: &[Contact],
    lang: Lang,
    cell_limit: bool,
) -> Result<Sheet, IoError> {
    let customer_fields: Vec<&FieldDesc> = exported(Customer::desc(), &[]).collect();
    let contact_fields: Vec<&FieldDesc> = exported(Contact::desc(), CONTACT_SYSTEM).collect();
    let records = customers.iter().map(to_record).collect::<Result<Vec<_>, _>>()?;
    let custom = custom_names(&records);

    let mut by_customer: HashMap<RecordId, Vec<Record>> = HashMap::new();
    for contact in contacts {
        by_customer.entry(contact.customer).or_default().push(to_record(contact)?);
    }
    if cell_limit {
        for record in &records {
            check_cell_lengths(&Customer::desc().kind, record)?;
            let people = by_customer.get(&record.id).map(Vec::as_slice).unwrap_or_default();
            for person in people {
                check_cell_lengths(&Contact::desc().kind, person)?;
            }
        }
    }

    let headers = customer_fields
        .iter()
        .chain(&contact_fields)
        .map(|f| lang.label(&f.label).to_owned())
        .chain(custom.iter().map(|name| lang.custom_header(name)))
        .collect();
    let mut rows = Vec::new();
    for (customer, record) in customers.iter().zip(&records) {
        let own: Vec<Value> = customer_fields.iter().map(|f| record.get(&f.name).clone()).collect();
        let extra: Vec<Value> = custom
            .iter()
            .map(|name| record.custom.get(name).cloned().unwrap_or(Value::Null))
            .collect();
        let people = by_customer.get(&customer.id).map(Vec::as_slice).unwrap_or_default();
        let blank = Record::new(RecordId(0));
        let people: Vec<&Record> =
            if people.is_empty() { vec![&blank] } else { people.iter().collect() };
        for person in people {
            let mut row = own.clone();
            row.extend(contact_fields.iter().map(|f| person.get(&f.name).clone()));
            row.extend(extra.iter().cloned());
            rows.push(row);
        }
    }
    let name = match lang {
        Lang::En => "Customers",
        Lang::Zh => "客户",
    };
    Ok(Sheet { name: name.to_owned(), headers, rows })
}

fn lead_sheet(leads: &[Lead], lang: Lang, cell_limit: bool) -> Result<Sheet, IoError> {
    let records = leads.iter().map(to_record).collect::<Result<Vec<_>, _>>()?;
    let mut sheet = record_sheet(Lead::desc(), &records, lang, cell_limit)?;
    sheet.name = match lang {
        Lang::En => "Leads",
        Lang::Zh => "潜在客户",
    }
    .to_owned();
    Ok(sheet)
}

/// Lays out records of one kind, one row each; with `cell_limit`, a text longer than a
/// spreadsheet cell holds is refused.
fn record_sheet(
    desc: &EntityDesc,
    records: &[Record],
    lang: Lang,
    cell_limit: bool,
) -> Result<Sheet, IoError> {
    if cell_limit {
        for record in records {
            check_cell_lengths(&desc.kind, record)?;
        }
    }
    let fields: Vec<&FieldDesc> = exported(desc, &[]).collect();
    let custom = custom_names(records);
    let headers = fields
        .iter()
        .map(|f| lang.label(&f.label).to_owned())
        .chain(custom.iter().map(|name| lang.custom_header(name)))
        .collect();
    let rows = records
        .iter()
        .map(|record| {
            fields
                .iter()
                .map(|f| record.get(&f.name).clone())
                .chain(custom.iter().map(|n| record.custom.get(n).cloned().unwrap_or(Value::Null)))
                .collect()
        })
        .collect();
    Ok(Sheet { name: desc.kind.clone(), headers, rows })
}

/// Writes customers and their contacts as an XLSX workbook with headers in `lang`: one row
/// per contact with the customer's cells repeated, one row for a customer without contacts.
/// Importing the file with [`crate::import_customers`] gives the same customers and contacts
/// (ids, versions and timestamps aside).
/// Fails with [`IoError::Write`] naming the record and field when a text is longer than
/// [`MAX_CELL_CHARS`], the most a spreadsheet cell holds.
pub fn export_customers_xlsx(
    customers: &[Customer],
    contacts: &[Contact],
    lang: Lang,
) -> Result<Vec<u8>, IoError> {
    write_xlsx(&customer_sheet(customers, contacts, lang, true)?)
}

/// Writes customers and their contacts as CSV (UTF-8 with a byte order mark), laid out as
/// [`export_customers_xlsx`] does; formula-looking text gets a leading `'`.
pub fn export_customers_csv(
    customers: &[Customer],
    contacts: &[Contact],
    lang: Lang,
) -> Result<Vec<u8>, IoError> {
    write_csv(&customer_sheet(customers, contacts, lang, false)?)
}

/// Writes leads as an XLSX workbook, one row per lead, headers in `lang`.
/// Fails with [`IoError::Write`] naming the record and field when a text is longer than
/// [`MAX_CELL_CHARS`], the most a spreadsheet cell holds.
pub fn export_leads_xlsx(leads: &[Lead], lang: Lang) -> Result<Vec<u8>, IoError> {
    write_xlsx(&lead_sheet(leads, lang, true)?)
}

/// Writes leads as CSV (UTF-8 with a byte order mark); formula-looking text gets a leading `'`.
pub fn export_leads_csv(leads: &[Lead], lang: Lang) -> Result<Vec<u8>, IoError> {
    write_csv(&lead_sheet(leads, lang, false)?)
}

/// Writes records of the kind `desc` describes as an XLSX workbook: every declared field and
/// every custom field any record has, headers in `lang`.
/// Fails with [`IoError::Write`] naming the record and field when a text is longer than
/// [`MAX_CELL_CHARS`], the most a spreadsheet cell holds.
pub fn export_records_xlsx(
    desc: &EntityDesc,
    records: &[Record],
    lang: Lang,
) -> Result<Vec<u8>, IoError> {
    write_xlsx(&record_sheet(desc, records, lang, true)?)
}

/// Writes records as CSV (UTF-8 with a byte order mark), laid out as
/// [`export_records_xlsx`] does.
pub fn export_records_csv(
    desc: &EntityDesc,
    records: &[Record],
    lang: Lang,
) -> Result<Vec<u8>, IoError> {
    write_csv(&record_sheet(desc, records, lang, false)?)
}

/// The largest integer a spreadsheet number holds exactly (2^53); larger ones are written as
/// text so no digit is lost.
const EXACT_INTEGER_LIMIT: u64 = 1 << 53;

/// Decimals with fewer significant digits than this survive a trip through a spreadsheet
/// number; longer ones are written as text.
const EXACT_DECIMAL_DIGITS: u32 = 15;

fn write_error(error: xlsx::XlsxError) -> IoError {
    IoError::Write { reason: error.to_string() }
}

fn write_xlsx(sheet: &Sheet) -> Result<Vec<u8>, IoError> {
    let mut workbook = xlsx::Workbook::new();
    let bold = xlsx::Format::new().set_bold();
    let date = xlsx::Format::new().set_num_format("yyyy-mm-dd");
    let datetime = xlsx::Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let worksheet = workbook.add_worksheet();
    worksheet.set_name(&sheet.name).map_err(write_error)?;

    for (column, header) in sheet.headers.iter().enumerate() {
        let column = column_number(column)?;
        worksheet.write_string_with_format(0, column, header, &bold).map_err(write_error)?;
        worksheet.set_column_width(column, 16).map_err(write_error)?;
    }
    worksheet.set_freeze_panes(1, 0).map_err(write_error)?;

    for (index, values) in sheet.rows.iter().enumerate() {
        let row = u32::try_from(index + 1)
            .map_err(|_| IoError::Write { reason: "too many rows for a worksheet".into() })?;
        for (column, value) in values.iter().enumerate() {
            let column = column_number(column)?;
            match value {
                Value::Null | Value::Bytes(_) => {}
                Value::Text(text) if text.is_empty() => {}
                // Always a string cell: text that looks like a formula stays text.
                Value::Text(text) => {
                    worksheet.write_string(row, column, text).map_err(write_error)?;
                }
                Value::Integer(number) => {
                    if number.unsigned_abs() <= EXACT_INTEGER_LIMIT {
                        worksheet.write_number(row, column, *number as f64).map_err(write_error)?;
                    } else {
                        worksheet
                            .write_string(row, column, number.to_string())
                            .map_err(write_error)?;
                    }
                }
                Value::Ref(id) => {
                    if id.0 <= EXACT_INTEGER_LIMIT {
                        worksheet.write_number(row, column, id.0 as f64).map_err(write_error)?;
                    } else {
                        worksheet.write_string(row, column, id.to_string()).map_err(write_error)?;
                    }
                }
                Value::Decimal(decimal) => {
                    let text = decimal.normalize().to_string();
                    let digits = text.bytes().filter(u8::is_ascii_digit).count();
                    // Parsing the decimal text gives the float nearest to it; with fewer than
                    // 16 significant digits that float reads back as the same decimal.
                    match text.parse::<f64>() {
                        Ok(number) if digits <= EXACT_DECIMAL_DIGITS as usize => {
                            worksheet.write_number(row, column, number).map_err(write_error)?;
                        }
                        _ => {
                            worksheet.write_string(row, column, text).map_err(write_error)?;
                        }
                    }
                }
                Value::Bool(flag) => {
                    worksheet.write_boolean(row, column, *flag).map_err(write_error)?;
                }
                Value::Date(day) => {
                    worksheet
                        .write_datetime_with_format(row, column, day, &date)
                        .map_err(write_error)?;
                }
                Value::Timestamp(at) => {
                    worksheet
                        .write_datetime_with_format(row, column, at.naive_utc(), &datetime)
                        .map_err(write_error)?;
                }
                Value::Json(json) => {
                    worksheet.write_string(row, column, json.to_string()).map_err(write_error)?;
                }
            }
        }
    }
    workbook.save_to_buffer().map_err(write_error)
}

fn column_number(column: usize) -> Result<u16, IoError> {
    u16::try_from(column)
        .map_err(|_| IoError::Write { reason: "too many columns for a worksheet".into() })
}

fn write_csv(sheet: &Sheet) -> Result<Vec<u8>, IoError> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut writer =
            csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(&mut out);
        let csv_error = |error: csv::Error| IoError::Write { reason: error.to_string() };
        writer.write_record(sheet.headers.iter().map(|h| guard(h))).map_err(csv_error)?;
        for values in &sheet.rows {
            writer.write_record(values.iter().map(csv_text)).map_err(csv_error)?;
        }
        writer.flush().map_err(|error| IoError::Write { reason: error.to_string() })?;
    }
    Ok(out)
}

/// A value as CSV text: what the import reads back as the same value.
fn csv_text(value: &Value) -> String {
    match value {
        Value::Null | Value::Bytes(_) => String::new(),
        Value::Text(text) => guard(text),
        Value::Timestamp(at) => at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        Value::Json(json) => guard(&json.to_string()),
        other => other.display(),
    }
}

/// Puts a `'` before text a spreadsheet would read as a formula.
fn guard(text: &str) -> String {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_parse_from_tags() {
        assert_eq!(Lang::parse("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }

    #[test]
    fn formula_looking_text_is_guarded_in_csv() {
        for text in ["=1+1", "+86 10 1234", "-x", "@sum", "\tx", "\rx"] {
            assert_eq!(guard(text), format!("'{text}"));
        }
        assert_eq!(guard("1+1"), "1+1");
        assert_eq!(csv_text(&Value::Decimal(rust_decimal::Decimal::new(-150, 2))), "-1.50");
    }
}
