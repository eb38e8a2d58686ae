//! Spreadsheet import and export through the services: files are parsed by `crm-io`, checked
//! against the settings and the store, and stored in one atomic batch — or not at all.

use crm_domain::model::{Customer, Lead, SettingList};
use crm_domain::{Entity, Filter, Principal, Query, Value};
use crm_io::{Format, Lang, RowError};

use crate::{Crm, Error, Result};

/// What an import did, or in a dry run would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Records created (customers or leads).
    pub created: usize,
    /// Contacts created with the customers.
    pub contacts: usize,
    /// Columns that were ignored, and similar notes.
    pub warnings: Vec<String>,
    /// Whether nothing was stored because the import was a dry run.
    pub dry_run: bool,
}

/// Import and export as one principal.
pub struct Imports<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

impl<'a> Imports<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    /// Imports customers with contacts from an `.xlsx` or `.csv` file. Every bad row is
    /// reported in [`Error::Import`] with row, column and reason, and then nothing is stored.
    /// Category and source cells may hold a code or a display name of the settings lists.
    pub fn customers(&self, bytes: &[u8], format: Format, dry_run: bool) -> Result<ImportReport> {
        let table = crm_io::read_table(bytes, format)?;
        let parsed = crm_io::import_customers(&table);
        let mut errors = parsed.errors;
        let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
        let codes = crate::settings::codes(self.crm, &self.who.tenant)?;
        let mut rows = Vec::with_capacity(parsed.rows.len());
        for mut row in parsed.rows {
            for list in [SettingList::CustomerCategory, SettingList::CustomerSource] {
                let field = list.customer_field();
                let text = match list {
                    SettingList::CustomerCategory => &mut row.customer.category,
                    SettingList::CustomerSource => &mut row.customer.source,
                };
                if text.is_empty() {
                    continue;
                }
                match codes.resolve(list, text) {
                    Some(code) => *text = code,
                    None => errors.push(RowError {
                        row: row.row,
                        column: column_label(&table, field),
                        field: field.to_owned(),
                        reason: codes.not_a_value(list, text),
                    }),
                }
            }
            rows.push(row);
        }
        let given: Vec<(u32, String)> = rows
            .iter()
            .filter(|r| !r.customer.code.trim().is_empty())
            .map(|r| (r.row, r.customer.code.trim().to_owned()))
            .collect();
        for chunk in given.chunks(1000) {
            let codes = chunk.iter().map(|(_, c)| Value::Text(c.clone())).collect();
            let query = Query::all().filter(Filter::In("code".into(), codes));
            let taken = self.crm.store.query(&self.who.tenant, Customer::desc(), &query)?;
            for record in taken.records {
                let code = record.get("code").display();
                if let Some((row, _)) = chunk.iter().find(|(_, c)| *c == code) {
                    errors.push(RowError {
                        row: *row,
                        column: column_label(&table, "code"),
                        field: "code".into(),
                        reason: format!("customer number {code:?} already exists"),
                    });
                }
            }
        }
        if !errors.is_empty() {
            errors.sort_by(|a, b| (a.row, &a.column).cmp(&(b.row, &b.column)));
            return Err(Error::Import(errors));
        }
        let contacts = rows.iter().map(|r| r.contacts.len()).sum();
        let created = rows.len();
        if !dry_run {
            let rows = rows.into_iter().map(|r| (r.customer, r.contacts)).collect();
            self.crm.customers(self.who).create_many(rows)?;
            tracing::info!(tenant = %self.who.tenant, created, contacts, "customers imported");
        }
        Ok(ImportReport { created, contacts, warnings, dry_run })
    }

    /// Imports leads from an `.xlsx` or `.csv` file, all or nothing.
    pub fn leads(&self, bytes: &[u8], format: Format, dry_run: bool) -> Result<ImportReport> {
        let table = crm_io::read_table(bytes, format)?;
        let parsed = crm_io::import_leads(&table);
        let mut errors = parsed.errors;
        let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
        let codes = crate::settings::codes(self.crm, &self.who.tenant)?;
        let mut leads: Vec<Lead> = Vec::with_capacity(parsed.rows.len());
        for mut row in parsed.rows {
            if !row.lead.source.is_empty() {
                match codes.resolve(SettingList::CustomerSource, &row.lead.source) {
                    Some(code) => row.lead.source = code,
                    None => errors.push(RowError {
                        row: row.row,
                        column: crm_io::header_of(&table, Lead::desc(), "source")
                            .map(str::to_owned)
                            .or_else(|| Lead::desc().field("source").map(|f| f.label.en.clone()))
                            .unwrap_or_default(),
                        field: "source".into(),
                        reason: codes.not_a_value(SettingList::CustomerSource, &row.lead.source),
                    }),
                }
            }
            leads.push(row.lead);
        }
        if !errors.is_empty() {
            return Err(Error::Import(errors));
        }
        let created = leads.len();
        if !dry_run {
            self.crm.leads(self.who).create_many(leads)?;
        }
        Ok(ImportReport { created, contacts: 0, warnings, dry_run })
    }

    /// Exports the visible customers with their contacts as `.xlsx` (typed cells; text is
    /// never written as a formula) or `.csv`.
    pub fn export_customers(&self, format: Format, lang: Lang) -> Result<Vec<u8>> {
        let (customers, contacts) = self.crm.customers(self.who).export_rows()?;
        let bytes = match format {
            Format::Xlsx => crm_io::export_customers_xlsx(&customers, &contacts, lang)?,
            Format::Csv => crm_io::export_customers_csv(&customers, &contacts, lang)?,
        };
        Ok(bytes)
    }
}

/// How to name the column of customer field `field` in a row error: its header in the file,
/// or the field's English label when the file has no such column.
fn column_label(table: &crm_io::Table, field: &str) -> String {
    crm_io::header_of(table, Customer::desc(), field).map(str::to_owned).unwrap_or_else(|| {
        Customer::desc()
            .field(field)
            .map(|f| f.label.en.clone())
            .unwrap_or_else(|| field.to_owned())
    })
}
