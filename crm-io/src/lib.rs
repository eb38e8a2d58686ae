//! Spreadsheet (XLSX) and CSV import and export for the CRM.
//!
//! Import runs in two steps. [`read_table`] decodes a file into a [`Table`] of typed
//! [`Cell`]s with their row numbers, knowing nothing of entities. [`import_customers`],
//! [`import_leads`] and [`import_records`] then match the header row to an entity's fields
//! (by name, English label or Chinese label), convert every cell to its field's type and run
//! the entity's rules, returning the built values together with a [`RowError`] for every bad
//! cell and a [`ColumnWarning`] for every ignored column. This crate stores nothing: the
//! caller applies an import whole, or not at all when it has errors.
//!
//! Export writes customers (with contacts), leads or records to XLSX or CSV with headers in
//! either language, laid out so that importing the file gives the same values back.

#![forbid(unsafe_code)]

mod cell;
mod columns;
mod convert;
pub mod demo;
mod error;
mod export;
mod import;
mod table;

pub use cell::{Cell, Number, MAX_CELL_CHARS};
pub use columns::header_of;
pub use convert::convert_cell;
pub use error::{ColumnWarning, IoError, RowError, SheetLimit};
pub use export::{
    export_customers_csv, export_customers_xlsx, export_leads_csv, export_leads_xlsx,
    export_records_csv, export_records_xlsx, Lang,
};
pub use import::{
    import_customers, import_leads, import_records, CustomerImport, CustomerRow, LeadImport,
    LeadRow, RecordImport, RecordRow,
};
pub use table::{read_table, Format, Row, Table, MAX_COLUMNS, MAX_ROWS, MAX_TEXT_BYTES};
