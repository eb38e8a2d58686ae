//! Turning a [`Table`] into validated customers (with contacts), leads or plain records.
//!
//! Nothing here stores anything: an import returns every row it could build together with a
//! [`RowError`] for every bad cell and rule violation, so the caller can apply all rows in one
//! batch or none of them. Ids, versions and timestamps stay at their defaults; the service that
//! stores the rows assigns them.

use crm_domain::entity::{EntityDesc, Record};
use crm_domain::model::{Contact, Customer, CustomerStatus, Lead, LeadStatus};
use crm_domain::text::fold;
use crm_domain::{DomainError, Entity, RecordId, Value};
use std::collections::{BTreeMap, HashMap};

use crate::columns::{map_columns, Mapping, Part, Target};
use crate::convert::convert_cell;
use crate::error::{ColumnWarning, IoError, RowError};
use crate::table::{Row, Table};

/// Customer fields that the system sets; a column for one is recognised and ignored.
pub(crate) const CUSTOMER_SYSTEM: &[&str] = &["search", "created_at", "updated_at"];
/// Contact fields that the system sets: the customer link comes from the row itself.
pub(crate) const CONTACT_SYSTEM: &[&str] = &["customer"];
/// Lead fields that the system sets.
pub(crate) const LEAD_SYSTEM: &[&str] = &["search", "created_at", "updated_at"];
/// Customer fields that hold ids of other records; a column for one is recognised and
/// ignored, since ids do not carry over from the store a file was exported from.
pub(crate) const CUSTOMER_NOT_PORTABLE: &[&str] = &["owner", "parent"];
/// Lead fields that hold ids of other records (the owner, and the customer a converted lead
/// became).
pub(crate) const LEAD_NOT_PORTABLE: &[&str] = &["owner", "customer"];

/// The outcome of a customer import: the customers built, and what was wrong.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerImport {
    /// One entry per customer, in the order of the row that first names it.
    pub rows: Vec<CustomerRow>,
    /// Every bad cell and rule violation; the import should be applied only when empty.
    pub errors: Vec<RowError>,
    /// Columns that were ignored.
    pub warnings: Vec<ColumnWarning>,
}

/// One imported customer with the contacts of all rows that name it.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    /// The spreadsheet row that first names the customer.
    pub row: u32,
    /// The customer, with default id, version and timestamps.
    pub customer: Customer,
    /// Its contacts in row order, with default ids and customer link.
    pub contacts: Vec<Contact>,
}

/// The outcome of a lead import.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeadImport {
    /// One entry per row that holds a lead.
    pub rows: Vec<LeadRow>,
    /// Every bad cell and rule violation; the import should be applied only when empty.
    pub errors: Vec<RowError>,
    /// Columns that were ignored.
    pub warnings: Vec<ColumnWarning>,
}

/// One imported lead.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadRow {
    /// The spreadsheet row.
    pub row: u32,
    /// The lead, with default id, version and timestamps.
    pub lead: Lead,
}

/// The outcome of importing rows of any described entity kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordImport {
    /// One entry per data row.
    pub rows: Vec<RecordRow>,
    /// Every bad cell; the import should be applied only when empty.
    pub errors: Vec<RowError>,
    /// Columns that were ignored.
    pub warnings: Vec<ColumnWarning>,
}

/// One imported record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    /// The spreadsheet row.
    pub row: u32,
    /// The record, with id 0 and version 0; only typed values of declared fields are set.
    pub record: Record,
}

/// Reads customers and their contacts from `table`.
///
/// Columns map to the fields of [`Customer::desc`] and [`Contact::desc`] by name or label
/// (contact fields also as `contact.<name>`), and `custom.<name>` / `自定义.<name>` columns
/// to the customer's custom fields as text. One row is one customer with at most one contact;
/// a later row with the same code (or, without a code, the same name) adds a contact to the
/// customer already read, and its customer cells must then be empty or repeat the same
/// values.
// FIXME: a row without a code joins an earlier customer of the same name even when that one
// has a code, so exporting two customers of one name, one with and one without a code, does
// not import back as two customers; rows without a code should only join code-less customers
// once the facade can check names against the store.
pub fn import_customers(table: &Table) -> CustomerImport {
    let parts = [
        Part {
            desc: Customer::desc(),
            prefix: None,
            system: CUSTOMER_SYSTEM,
            not_portable: CUSTOMER_NOT_PORTABLE,
        },
        Part {
            desc: Contact::desc(),
            prefix: Some("contact"),
            system: CONTACT_SYSTEM,
            not_portable: &[],
        },
    ];
    let mapping = match map_columns(table, &parts, true) {
        Ok(mapping) => mapping,
        Err(error) => {
            return CustomerImport {
                errors: vec![header_error(table, &error)],
                ..Default::default()
            }
        }
    };
    let mut out = CustomerImport { warnings: mapping.warnings.clone(), ..Default::default() };
    let reader = RowReader { table, parts: &parts, mapping: &mapping };
    let mut by_code: HashMap<String, usize> = HashMap::new();
    // Customer name → its entry, or `None` when several customers with different codes
    // share the name (a row without a code cannot then say which one it means).
    let mut by_name: HashMap<String, Option<usize>> = HashMap::new();

    for row in &table.rows {
        let values = reader.read(row, &mut out.errors);
        let [customer_fields, contact_fields] = &values.fields;
        let code = text_field(customer_fields, "code");
        let name = text_field(customer_fields, "name");

        let existing = if !code.is_empty() {
            by_code.get(code).copied()
        } else if !name.is_empty() {
            match by_name.get(name) {
                Some(Some(index)) => Some(*index),
                Some(None) => {
                    out.errors.push(reader.error_at(
                        row,
                        0,
                        "name",
                        format!("several customers are named {name:?}; give the code"),
                    ));
                    continue;
                }
                None => None,
            }
        } else {
            None
        };

        let index = match existing {
            Some(index) => {
                let first = &out.rows[index];
                let conflicts = reader.conflicts(row, first, customer_fields, &values.custom);
                out.errors.extend(conflicts);
                index
            }
            None => {
                let customer = match build::<Customer>(customer_fields, values.custom.clone()) {
                    Ok(customer) => customer,
                    Err(error) => {
                        reader.push_domain(row, &error, &values.failed, &mut out.errors);
                        continue;
                    }
                };
                if let Err(error) = customer.validate() {
                    reader.push_domain(row, &error, &values.failed, &mut out.errors);
                }
                let index = out.rows.len();
                if !code.is_empty() {
                    by_code.insert(code.to_owned(), index);
                }
                if !name.is_empty() {
                    by_name
                        .entry(name.to_owned())
                        .and_modify(|entry| *entry = None)
                        .or_insert(Some(index));
                }
                out.rows.push(CustomerRow { row: row.number, customer, contacts: Vec::new() });
                index
            }
        };

        if contact_fields.is_empty() {
            continue;
        }
        match build::<Contact>(contact_fields, BTreeMap::new()) {
            Ok(contact) => {
                if let Err(error) = contact.validate() {
                    reader.push_domain(row, &error, &values.failed, &mut out.errors);
                }
                out.rows[index].contacts.push(contact);
            }
            Err(error) => reader.push_domain(row, &error, &values.failed, &mut out.errors),
        }
    }

    tracing::debug!(
        customers = out.rows.len(),
        errors = out.errors.len(),
        "read customers from a table"
    );
    out
}

/// Reads leads from `table`: one row is one lead. Columns map to the fields of
/// [`Lead::desc`] by name or label, and `custom.<name>` / `自定义.<name>` columns to custom
/// fields as text.
pub fn import_leads(table: &Table) -> LeadImport {
    let parts = [Part {
        desc: Lead::desc(),
        prefix: None,
        system: LEAD_SYSTEM,
        not_portable: LEAD_NOT_PORTABLE,
    }];
    let mapping = match map_columns(table, &parts, true) {
        Ok(mapping) => mapping,
        Err(error) => {
            return LeadImport { errors: vec![header_error(table, &error)], ..Default::default() }
        }
    };
    let mut out = LeadImport { warnings: mapping.warnings.clone(), ..Default::default() };
    let reader = RowReader { table, parts: &parts, mapping: &mapping };

    for row in &table.rows {
        let values = reader.read(row, &mut out.errors);
        let [fields] = &values.fields;
        let lead = match build::<Lead>(fields, values.custom) {
            Ok(lead) => lead,
            Err(error) => {
                reader.push_domain(row, &error, &values.failed, &mut out.errors);
                continue;
            }
        };
        match lead.validate() {
            Err(DomainError::Required { field }) if field == "name" => {
                if !values.failed.iter().any(|failed| failed == "name") {
                    out.errors.push(reader.error_at(
                        row,
                        0,
                        "name",
                        "a name or a company is required".to_owned(),
                    ));
                }
            }
            Err(error) => reader.push_domain(row, &error, &values.failed, &mut out.errors),
            Ok(()) => {}
        }
        out.rows.push(LeadRow { row: row.number, lead });
    }

    tracing::debug!(leads = out.rows.len(), errors = out.errors.len(), "read leads from a table");
    out
}

/// Reads records of the kind `desc` describes: one row is one record, each cell converted to
/// its field's declared type, `custom.<name>` columns kept as text custom fields. No business
/// rule is checked; that is the caller's part for kinds crm-io does not know.
pub fn import_records(table: &Table, desc: &EntityDesc) -> RecordImport {
    // FIXME: reference fields of other kinds still take cells as record ids, which are not
    // portable between stores; the caller should say which references to ignore or resolve.
    let parts = [Part { desc, prefix: None, system: &[], not_portable: &[] }];
    let mapping = match map_columns(table, &parts, true) {
        Ok(mapping) => mapping,
        Err(error) => {
            return RecordImport { errors: vec![header_error(table, &error)], ..Default::default() }
        }
    };
    let mut out = RecordImport { warnings: mapping.warnings.clone(), ..Default::default() };
    let reader = RowReader { table, parts: &parts, mapping: &mapping };
    for row in &table.rows {
        let values = reader.read(row, &mut out.errors);
        let [fields] = values.fields;
        let mut record = Record::new(RecordId(0));
        record.fields = fields.into_iter().map(|(name, value)| (name.into(), value)).collect();
        record.custom = values.custom;
        out.rows.push(RecordRow { row: row.number, record });
    }
    out
}

/// The error for a header row that cannot be mapped.
fn header_error(table: &Table, error: &IoError) -> RowError {
    let (column, field) = match error {
        IoError::DuplicateColumn { second, field, .. } => (second.clone(), field.clone()),
        _ => (String::new(), String::new()),
    };
    RowError { row: table.header_row, column, field, reason: error.to_string() }
}

/// A text field's value, or `""` when absent.
fn text_field<'a>(fields: &'a BTreeMap<String, Value>, name: &str) -> &'a str {
    fields.get(name).and_then(Value::as_text).unwrap_or_default()
}

/// Builds an entity from its defaults with `fields` and `custom` laid over them, through the
/// same record mapping the stores use, so every declared field is covered.
fn build<E: Entity + Default>(
    fields: &BTreeMap<String, Value>,
    custom: BTreeMap<String, Value>,
) -> Result<E, DomainError> {
    let mut record = E::default().to_record()?;
    for (name, value) in fields {
        record.fields.insert(name.clone().into(), value.clone());
    }
    record.custom = custom;
    E::from_record(&record)
}

/// The values read from one row: declared fields per part, and custom fields.
struct RowValues<const N: usize> {
    fields: [BTreeMap<String, Value>; N],
    custom: BTreeMap<String, Value>,
    /// The fields (named as in [`RowError::field`]) whose cells were bad and already
    /// reported; a rule about the same field would only repeat the complaint.
    failed: Vec<String>,
}

/// Reads rows of one table against one mapping, and words their errors.
struct RowReader<'a, const N: usize> {
    table: &'a Table,
    parts: &'a [Part<'a>; N],
    mapping: &'a Mapping,
}

impl<const N: usize> RowReader<'_, N> {
    /// Converts every mapped cell of `row`; a bad cell becomes an error and is left out.
    fn read(&self, row: &Row, errors: &mut Vec<RowError>) -> RowValues<N> {
        let mut values = RowValues {
            fields: std::array::from_fn(|_| BTreeMap::new()),
            custom: BTreeMap::new(),
            failed: Vec::new(),
        };
        for (column, target) in &self.mapping.columns {
            let cell = row.cell(*column);
            let header = self.table.headers[*column].trim();
            match target {
                Target::Field { part, field } => {
                    let part_desc = &self.parts[*part];
                    let desc = &part_desc.desc.fields[*field];
                    let converted = convert_cell(cell, desc.ty)
                        .and_then(|value| choose(&part_desc.desc.kind, &desc.name, value));
                    match converted {
                        Ok(Value::Null) => {}
                        Ok(value) => {
                            values.fields[*part].insert(desc.name.clone(), value);
                        }
                        Err(reason) => {
                            values.failed.push(part_desc.qualified(desc));
                            errors.push(RowError {
                                row: row.number,
                                column: header.to_owned(),
                                field: part_desc.qualified(desc),
                                reason,
                            });
                        }
                    }
                }
                Target::Custom(name) => match convert_cell(cell, crm_domain::FieldType::Text) {
                    Ok(Value::Null) => {}
                    Ok(value) => {
                        values.custom.insert(name.clone(), value);
                    }
                    Err(reason) => errors.push(RowError {
                        row: row.number,
                        column: header.to_owned(),
                        field: format!("custom.{name}"),
                        reason,
                    }),
                },
            }
        }
        values
    }

    /// An error about field `name` of part `part`, located at its column (or its label when
    /// the file has no such column).
    fn error_at(&self, row: &Row, part: usize, name: &str, reason: String) -> RowError {
        let part_desc = &self.parts[part];
        let found = part_desc.desc.fields.iter().position(|f| f.name == name);
        let (column, field) = match found {
            Some(index) => {
                let desc = &part_desc.desc.fields[index];
                let column = match self.mapping.column_of(part, index) {
                    Some(column) => self.table.headers[column].trim().to_owned(),
                    None => self.mapping.label(&desc.label).to_owned(),
                };
                (column, part_desc.qualified(desc))
            }
            None => (String::new(), name.to_owned()),
        };
        RowError { row: row.number, column, field, reason }
    }

    /// Adds the row error for a rule violation, unless the cell of the field it names was
    /// already reported as bad.
    fn push_domain(
        &self,
        row: &Row,
        error: &DomainError,
        failed: &[String],
        errors: &mut Vec<RowError>,
    ) {
        let error = self.domain_error(row, error);
        if !failed.contains(&error.field) {
            errors.push(error);
        }
    }

    /// A rule violation as a row error at the column of the field it names.
    fn domain_error(&self, row: &Row, error: &DomainError) -> RowError {
        let (field, reason) = match error {
            DomainError::Required { field } => (field.as_str(), "a value is required".to_owned()),
            DomainError::Invalid { field, reason } => (field.as_str(), reason.clone()),
            DomainError::Cycle { .. } => ("parent", error.to_string()),
            other => ("", other.to_string()),
        };
        for (index, part) in self.parts.iter().enumerate() {
            let name = match part.prefix {
                Some(prefix) => field.strip_prefix(prefix).and_then(|f| f.strip_prefix('.')),
                None => Some(field),
            };
            if let Some(name) = name {
                if part.desc.field(name).is_some() {
                    return self.error_at(row, index, name, reason);
                }
            }
        }
        let column = field.strip_prefix("custom.").and_then(|name| {
            self.mapping.columns.iter().find_map(|(column, target)| {
                (*target == Target::Custom(name.to_owned()))
                    .then(|| self.table.headers[*column].trim().to_owned())
            })
        });
        RowError {
            row: row.number,
            column: column.unwrap_or_default(),
            field: field.to_owned(),
            reason,
        }
    }

    /// The customer cells of a repeat row that differ from the customer first read.
    fn conflicts(
        &self,
        row: &Row,
        first: &CustomerRow,
        fields: &BTreeMap<String, Value>,
        custom: &BTreeMap<String, Value>,
    ) -> Vec<RowError> {
        let record = match first.customer.to_record() {
            Ok(record) => record,
            Err(error) => return vec![self.domain_error(row, &error)],
        };
        let conflict = |given: &Value, kept: &Value| {
            format!(
                "{} differs from {} given for the same customer in row {}; leave the cell \
                 empty or repeat the value",
                quote(given),
                quote(kept),
                first.row
            )
        };
        let mut errors = Vec::new();
        for (name, value) in fields {
            let kept = record.get(name);
            if kept != value {
                errors.push(self.error_at(row, 0, name, conflict(value, kept)));
            }
        }
        for (name, value) in custom {
            let kept = record.custom.get(name).unwrap_or(&Value::Null);
            if kept != value {
                let column = self.mapping.columns.iter().find_map(|(column, target)| {
                    (*target == Target::Custom(name.clone())).then_some(*column)
                });
                errors.push(RowError {
                    row: row.number,
                    column: column
                        .map(|c| self.table.headers[c].trim().to_owned())
                        .unwrap_or_default(),
                    field: format!("custom.{name}"),
                    reason: conflict(value, kept),
                });
            }
        }
        errors
    }
}

/// A value quoted for a message: text in quotes, nothing as "an empty cell".
fn quote(value: &Value) -> String {
    match value {
        Value::Null => "an empty cell".to_owned(),
        Value::Text(text) if text.is_empty() => "an empty cell".to_owned(),
        Value::Text(text) => format!("{text:?}"),
        other => other.display(),
    }
}

/// Checks a value of a field that takes one of a fixed set of codes, mapping accepted
/// spellings onto the stored code.
fn choose(kind: &str, field: &str, value: Value) -> Result<Value, String> {
    let choices: &[(&str, &[&str])] = match (kind, field) {
        ("customer", "status") => &[
            (CustomerStatus::Private.as_str(), &["私有"]),
            (CustomerStatus::Pool.as_str(), &["公海"]),
        ],
        ("lead", "status") => &[
            (LeadStatus::New.as_str(), &[]),
            (LeadStatus::Contacted.as_str(), &[]),
            (LeadStatus::Qualified.as_str(), &[]),
            (LeadStatus::Converted.as_str(), &[]),
            (LeadStatus::Lost.as_str(), &[]),
        ],
        _ => return Ok(value),
    };
    let Value::Text(text) = &value else {
        return Ok(value);
    };
    let folded = fold(text);
    for (code, aliases) in choices {
        if folded == *code || aliases.contains(&folded.as_str()) {
            return Ok(Value::Text((*code).to_owned()));
        }
    }
    let codes: Vec<&str> = choices.iter().map(|(code, _)| *code).collect();
    Err(format!("{text:?} is not one of {}", codes.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_accept_case_and_chinese() {
        assert_eq!(choose("customer", "status", "Pool".into()), Ok("pool".into()));
        assert_eq!(choose("customer", "status", "公海".into()), Ok("pool".into()));
        assert_eq!(choose("lead", "status", "QUALIFIED".into()), Ok("qualified".into()));
        assert_eq!(
            choose("lead", "status", "hot".into()),
            Err("\"hot\" is not one of new, contacted, qualified, converted, lost".into())
        );
        assert_eq!(choose("lead", "name", "anything".into()), Ok("anything".into()));
    }

    #[test]
    fn building_keeps_defaults_for_absent_fields() {
        let mut fields = BTreeMap::new();
        fields.insert("name".to_owned(), Value::from("Acme"));
        fields.insert("owner".to_owned(), Value::Ref(RecordId(3)));
        let customer: Customer = build(&fields, BTreeMap::new()).unwrap();
        assert_eq!(customer.name, "Acme");
        assert_eq!(customer.owner, Some(RecordId(3)));
        assert_eq!(customer.status, CustomerStatus::Private);
        assert_eq!(
            customer,
            Customer { name: "Acme".into(), owner: Some(RecordId(3)), ..Default::default() }
        );
    }
}
