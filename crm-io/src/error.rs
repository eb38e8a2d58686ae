//! What can go wrong reading or writing a file, and the per-row and per-column findings of an
//! import.
//!
//! A file that cannot be read at all is an [`IoError`]; a file that reads but holds bad
//! values yields [`RowError`]s (one per bad cell, naming the spreadsheet row and the column as
//! headed in the file) and [`ColumnWarning`]s for columns the import does not use.

/// A file could not be read or written as a whole.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoError {
    /// The file name does not end in a supported extension.
    #[error("unsupported file type {extension:?}: use .xlsx or .csv")]
    UnsupportedFormat {
        /// The extension found, without the dot (empty when there is none).
        extension: String,
    },
    /// The bytes are not a readable workbook or CSV file.
    #[error("the file cannot be read: {reason}")]
    Unreadable {
        /// What the reader reported.
        reason: String,
    },
    /// The workbook holds no worksheet.
    #[error("the workbook has no worksheet")]
    NoWorksheet,
    /// The file (or its first worksheet) is empty, so there is no header row.
    #[error("the file is empty: no header row")]
    NoHeader,
    /// A CSV file is not UTF-8.
    #[error("line {line} is not valid utf-8 text (save the file as utf-8)")]
    InvalidUtf8 {
        /// The 1-based line of the first invalid byte.
        line: u64,
    },
    /// The file has more data rows than one import accepts.
    #[error("the file has more than {max} data rows")]
    TooManyRows {
        /// The largest number of data rows accepted.
        max: usize,
    },
    /// A worksheet reaches past a limit of what one import reads; reading stops at the first
    /// cell past it, before the rest of the sheet is read or any room is set aside for it.
    #[error("the worksheet is too large: more than {max} {limit}")]
    SheetTooLarge {
        /// Which limit was passed.
        limit: SheetLimit,
        /// The limit.
        max: usize,
    },
    /// A CSV field opens a quote that is never closed, so the rest of the file would be read
    /// as one value.
    #[error(
        "line {line}: unterminated quoted field (a field starts with \" that is never closed)"
    )]
    UnterminatedQuote {
        /// The 1-based line on which the record with the open quote starts.
        line: u64,
    },
    /// Two columns map to the same field.
    #[error("columns {first:?} and {second:?} both map to field {field}")]
    DuplicateColumn {
        /// The field both columns map to.
        field: String,
        /// The header of the first column, as in the file.
        first: String,
        /// The header of the second column, as in the file.
        second: String,
    },
    /// The spreadsheet or CSV file could not be produced.
    #[error("the file cannot be written: {reason}")]
    Write {
        /// What the writer reported.
        reason: String,
    },
}

/// A limit on the size of a worksheet that [`IoError::SheetTooLarge`] names.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SheetLimit {
    /// Sheet rows, counted from row 1 (the header included).
    Rows,
    /// Sheet columns, counted from column A.
    Columns,
    /// Cells read or kept.
    Cells,
    /// Bytes of text kept from all cells.
    TextBytes,
}

impl std::fmt::Display for SheetLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SheetLimit::Rows => "rows (header included)",
            SheetLimit::Columns => "columns",
            SheetLimit::Cells => "cells",
            SheetLimit::TextBytes => "bytes of text",
        })
    }
}

/// One bad cell (or a bad row) of an import, located as a person sees it in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}, column {column:?}: {reason}")]
pub struct RowError {
    /// The 1-based spreadsheet row (the header is row 1 in a file that starts with it; for
    /// CSV, the line on which the record starts).
    pub row: u32,
    /// The column header as written in the file, or the field's label when the file has no
    /// such column.
    pub column: String,
    /// The field the column maps to (`contact.<name>` for a contact field of a customer
    /// import, `custom.<name>` for a custom field).
    pub field: String,
    /// What is wrong, quoting the value.
    pub reason: String,
}

/// A column the import does not use, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column:?}: {reason}")]
pub struct ColumnWarning {
    /// The column header as written in the file (`#<n>` for a column without a header).
    pub column: String,
    /// Why the column is ignored.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_error_reads_like_a_sentence() {
        let error = RowError {
            row: 7,
            column: "Birthday".into(),
            field: "contact.birthday".into(),
            reason: "\"2023-02-30\" is not a date".into(),
        };
        assert_eq!(error.to_string(), r#"row 7, column "Birthday": "2023-02-30" is not a date"#);

        let chinese = RowError { column: "生日".into(), ..error };
        assert_eq!(chinese.to_string(), r#"row 7, column "生日": "2023-02-30" is not a date"#);
    }
}
