//! Reading a spreadsheet or CSV file into a [`Table`]: a header row and typed data rows that
//! remember their row numbers in the file.
//!
//! This step knows nothing of entities; it only decodes. CSV cells are always text (CSV has no
//! types); XLSX cells keep the type the workbook gave them.

use calamine::{Data, DataRef, Reader, Xlsx};
use chrono::{NaiveDate, NaiveDateTime};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use crate::cell::{Cell, Number};
use crate::error::{IoError, SheetLimit};

/// The most data rows one import reads; larger files are refused rather than half-read. An
/// XLSX worksheet may use only its first `MAX_ROWS + 1` rows (the header included).
pub const MAX_ROWS: usize = 100_000;

/// The most columns an XLSX worksheet may use, counted from column A.
pub const MAX_COLUMNS: usize = 256;

/// The most bytes of text one import keeps from all cells of an XLSX worksheet together.
pub const MAX_TEXT_BYTES: usize = 256 << 20;

/// The most cells an XLSX import reads, and separately the most it keeps (a row is kept out
/// to its last cell): room for every row at its limit with 64 columns.
const MAX_CELLS: usize = (MAX_ROWS + 1) * 64;

/// The characters a spreadsheet may take as the start of a formula. CSV exports put a `'`
/// before text that starts with one of them, and CSV imports take that `'` off again.
pub(crate) const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A file format the import and export understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Office Open XML workbook (`.xlsx`); the first worksheet is read.
    Xlsx,
    /// Comma-separated values in UTF-8, with or without a byte order mark.
    Csv,
}

impl Format {
    /// The format named by a file's extension, compared without regard to case.
    pub fn from_path(path: &Path) -> Result<Self, IoError> {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        match extension.to_ascii_lowercase().as_str() {
            "xlsx" => Ok(Format::Xlsx),
            "csv" => Ok(Format::Csv),
            _ => Err(IoError::UnsupportedFormat { extension: extension.to_owned() }),
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
        }
    }

    /// The media type to send the file with.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// One data row of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The 1-based row number in the file: the spreadsheet row for XLSX, the line on which
    /// the record starts for CSV.
    pub number: u32,
    /// The cells, one per column; a row may be shorter than the header.
    pub cells: Vec<Cell>,
}

impl Row {
    /// The cell in `column` (0-based), or [`Cell::Empty`] past the end of the row.
    pub fn cell(&self, column: usize) -> &Cell {
        static EMPTY: Cell = Cell::Empty;
        self.cells.get(column).unwrap_or(&EMPTY)
    }
}

/// A decoded file: the header row's texts and the non-blank data rows below it.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Header texts as written (not trimmed), one per column.
    pub headers: Vec<String>,
    /// The 1-based row number of the header row.
    pub header_row: u32,
    /// Data rows, blank rows left out; each keeps its row number.
    pub rows: Vec<Row>,
}

/// Decodes `bytes` as a file of `format`: the first row is the header, every later row that is
/// not blank is a data row.
pub fn read_table(bytes: &[u8], format: Format) -> Result<Table, IoError> {
    let table = match format {
        Format::Csv => read_csv(bytes)?,
        Format::Xlsx => read_xlsx(bytes)?,
    };
    tracing::debug!(?format, rows = table.rows.len(), "read table");
    Ok(table)
}

/// Collects rows as (number, cells): the first non-blank row becomes the header.
struct Builder {
    header: Option<(u32, Vec<String>)>,
    rows: Vec<Row>,
}

impl Builder {
    fn new() -> Self {
        Self { header: None, rows: Vec::new() }
    }

    fn push(&mut self, number: u32, cells: Vec<Cell>) -> Result<(), IoError> {
        if cells.iter().all(Cell::is_blank) {
            return Ok(());
        }
        if self.header.is_none() {
            let headers = cells.iter().map(Cell::to_text).collect();
            self.header = Some((number, headers));
            return Ok(());
        }
        if self.rows.len() == MAX_ROWS {
            return Err(IoError::TooManyRows { max: MAX_ROWS });
        }
        self.rows.push(Row { number, cells });
        Ok(())
    }

    fn finish(self) -> Result<Table, IoError> {
        let (header_row, headers) = self.header.ok_or(IoError::NoHeader)?;
        Ok(Table { headers, header_row, rows: self.rows })
    }
}

fn read_csv(bytes: &[u8]) -> Result<Table, IoError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut builder = Builder::new();
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter { bytes, offset: 0, line: 1 };
    // Where the last record starts, as (byte, line): only the last can hold an open quote.
    let mut last = None;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                return Err(IoError::Unreadable { reason: error.to_string() });
            }
        }
        // The reader's own line count lags behind on CRLF files, so lines are counted here.
        let start = record.position().map_or(0, csv::Position::byte);
        let line = lines.line_at(start);
        last = Some((start, line));
        let mut cells = Vec::with_capacity(record.len());
        let mut line_of_field = line;
        for field in &record {
            let text = std::str::from_utf8(field).map_err(|error| {
                let before = &field[..error.valid_up_to()];
                let newlines = before.iter().filter(|&&b| b == b'\n').count();
                IoError::InvalidUtf8 { line: line_of_field + newlines as u64 }
            })?;
            line_of_field += text.matches('\n').count() as u64;
            cells.push(csv_cell(text));
        }
        let number = u32::try_from(line).map_err(|_| IoError::TooManyRows { max: MAX_ROWS })?;
        builder.push(number, cells)?;
    }
    if let Some((start, line)) = last {
        let start = usize::try_from(start).unwrap_or(usize::MAX).min(bytes.len());
        if ends_in_open_quote(&bytes[start..]) {
            return Err(IoError::UnterminatedQuote { line });
        }
    }
    builder.finish()
}

/// Whether the CSV text `record` (one record and everything after it) ends inside a quoted
/// field. The csv reader takes such a field to run to the end of the input without saying so,
/// which would quietly turn the rest of a file into one value.
fn ends_in_open_quote(record: &[u8]) -> bool {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    for &byte in record {
        state = match (state, byte) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::FieldStart, b'"') | (State::QuoteInQuoted, b'"') => State::Quoted,
            (_, b',' | b'\r' | b'\n') => State::FieldStart,
            _ => State::Unquoted,
        };
    }
    state == State::Quoted
}

/// Finds the line on which a record starts, counting line breaks (`\n`, `\r\n` or a lone
/// `\r`) incrementally, since records come in order.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl LineCounter<'_> {
    /// The line of the first character at or after byte `start` that is not a line break:
    /// the reader reports a record's start before the break that ended the previous one.
    fn line_at(&mut self, start: u64) -> u64 {
        let start = usize::try_from(start).unwrap_or(usize::MAX).min(self.bytes.len());
        let mut offset = self.offset;
        while offset < self.bytes.len()
            && (offset < start || matches!(self.bytes[offset], b'\r' | b'\n'))
        {
            let byte = self.bytes[offset];
            let crlf = byte == b'\r' && self.bytes.get(offset + 1) == Some(&b'\n');
            if byte == b'\n' || (byte == b'\r' && !crlf) {
                self.line += 1;
            }
            offset += 1;
        }
        self.offset = offset;
        self.line
    }
}

/// A CSV field as a cell: empty is [`Cell::Empty`], anything else text. A `'` that an export
/// put before formula-looking text is taken off again.
fn csv_cell(text: &str) -> Cell {
    if text.is_empty() {
        return Cell::Empty;
    }
    let text = match text.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => text,
    };
    Cell::Text(text.to_owned())
}

/// Where the sparse cells of a worksheet are gathered, row by row, before they become a
/// [`Table`]: only cells that hold something take room, and every limit is checked as each
/// cell arrives.
struct SheetCells {
    limits: Limits,
    rows: BTreeMap<u32, Vec<Cell>>,
    cells_read: usize,
    cells_kept: usize,
    text_bytes: usize,
}

/// The limits [`SheetCells`] enforces; tests use small ones.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Sheet rows from row 1, the header included.
    rows: usize,
    columns: usize,
    cells: usize,
    text_bytes: usize,
}

impl Limits {
    const IMPORT: Limits = Limits {
        rows: MAX_ROWS + 1,
        columns: MAX_COLUMNS,
        cells: MAX_CELLS,
        text_bytes: MAX_TEXT_BYTES,
    };
}

impl SheetCells {
    fn new(limits: Limits) -> Self {
        Self { limits, rows: BTreeMap::new(), cells_read: 0, cells_kept: 0, text_bytes: 0 }
    }

    /// Takes the cell at 0-based (`row`, `column`), refusing it when it lies past a limit.
    fn add(&mut self, row: u32, column: u32, value: DataRef<'_>) -> Result<(), IoError> {
        let limits = self.limits;
        let too_large = |limit, max| Err(IoError::SheetTooLarge { limit, max });
        // Every cell counts, empty or repeated, so that no sheet takes unbounded time either.
        self.cells_read += 1;
        if self.cells_read > limits.cells {
            return too_large(SheetLimit::Cells, limits.cells);
        }
        if usize::try_from(row).map_or(true, |row| row >= limits.rows) {
            return too_large(SheetLimit::Rows, limits.rows);
        }
        let column = match usize::try_from(column) {
            Ok(column) if column < limits.columns => column,
            _ => return too_large(SheetLimit::Columns, limits.columns),
        };

        let cell = xlsx_cell(Data::from(value));
        if cell == Cell::Empty {
            return Ok(());
        }
        if let Cell::Text(text) | Cell::Error(text) = &cell {
            self.text_bytes = self.text_bytes.saturating_add(text.len());
            if self.text_bytes > limits.text_bytes {
                return too_large(SheetLimit::TextBytes, limits.text_bytes);
            }
        }
        let cells = self.rows.entry(row).or_default();
        if cells.len() <= column {
            // Padding a row out to the cell counts as much as the cells themselves.
            self.cells_kept += column + 1 - cells.len();
            if self.cells_kept > limits.cells {
                return too_large(SheetLimit::Cells, limits.cells);
            }
            cells.resize(column + 1, Cell::Empty);
        }
        cells[column] = cell;
        Ok(())
    }
}

/// Reads the first worksheet cell by cell (never by its declared dimension, which a hostile
/// file sets to a million rows), so that a file past a limit is refused as soon as the first
/// cell past it is read.
// FIXME: calamine reads the whole shared string table into memory when the workbook is
// opened, before any limit here applies, so a small compressed file with a huge
// `xl/sharedStrings.xml` can still claim much memory; callers must cap the upload size until
// the shared strings are read within a byte limit too.
fn read_xlsx(bytes: &[u8]) -> Result<Table, IoError> {
    let unreadable = |error: calamine::XlsxError| IoError::Unreadable { reason: error.to_string() };
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let name = workbook.sheet_names().into_iter().next().ok_or(IoError::NoWorksheet)?;
    let mut reader = workbook.worksheet_cells_reader(&name).map_err(unreadable)?;

    let mut sheet = SheetCells::new(Limits::IMPORT);
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        let (row, column) = cell.get_position();
        sheet.add(row, column, cell.get_value().clone())?;
    }

    // The table starts at the first column that holds anything, as the sheet's used range
    // does, so a table typed from column B reads the same as one typed from column A.
    let first_column = sheet
        .rows
        .values()
        .filter_map(|cells| cells.iter().position(|cell| *cell != Cell::Empty))
        .min()
        .unwrap_or(0);
    let mut builder = Builder::new();
    for (row, mut cells) in sheet.rows {
        cells.drain(..first_column);
        builder.push(row.saturating_add(1), cells)?;
    }
    builder.finish()
}

/// A workbook cell as a [`Cell`], keeping its type.
fn xlsx_cell(data: Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(text) if text.is_empty() => Cell::Empty,
        Data::String(text) => Cell::Text(text),
        Data::Int(value) => Cell::Number(Number::from_i64(value)),
        Data::Float(value) => {
            Number::from_f64(value).map_or_else(|| Cell::Error("#NUM!".to_owned()), Cell::Number)
        }
        Data::Bool(value) => Cell::Bool(value),
        Data::DateTime(value) if value.is_duration() => {
            value.as_duration().map_or_else(|| Cell::Error("#NUM!".to_owned()), duration_cell)
        }
        Data::DateTime(value) => {
            value.as_datetime().map_or_else(|| Cell::Error("#NUM!".to_owned()), datetime_cell)
        }
        Data::DateTimeIso(text) => {
            if let Ok(at) = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f") {
                datetime_cell(at)
            } else if let Ok(date) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                Cell::Date(date)
            } else {
                Cell::Text(text)
            }
        }
        Data::DurationIso(text) => Cell::Text(text),
        Data::Error(error) => Cell::Error(error.to_string()),
    }
}

/// A date-formatted cell: a plain date when the time is midnight, else a date and time.
fn datetime_cell(at: NaiveDateTime) -> Cell {
    if at.time() == chrono::NaiveTime::MIN {
        Cell::Date(at.date())
    } else {
        Cell::DateTime(at)
    }
}

/// A duration cell (`[h]:mm:ss`) as the text a person sees.
fn duration_cell(duration: chrono::Duration) -> Cell {
    let seconds = duration.num_seconds();
    let sign = if seconds < 0 { "-" } else { "" };
    let seconds = seconds.unsigned_abs();
    Cell::Text(format!("{sign}{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_extension_ignores_case() {
        assert_eq!(Format::from_path(Path::new("a/b/Customers.XLSX")), Ok(Format::Xlsx));
        assert_eq!(Format::from_path(Path::new("leads.Csv")), Ok(Format::Csv));
        assert_eq!(
            Format::from_path(Path::new("old.xls")),
            Err(IoError::UnsupportedFormat { extension: "xls".into() })
        );
        assert_eq!(
            Format::from_path(Path::new("noext")),
            Err(IoError::UnsupportedFormat { extension: String::new() })
        );
    }

    #[test]
    fn csv_rows_keep_their_line_numbers() {
        let table = read_table(b"a,b\r\n1,2\r\n\r\n,\r\n\"x\ny\",3\r\n4,5\n", Format::Csv).unwrap();
        assert_eq!(table.headers, ["a", "b"]);
        assert_eq!(table.header_row, 1);
        let numbers: Vec<u32> = table.rows.iter().map(|r| r.number).collect();
        // The blank line and the row of empty fields are left out; the quoted field spans
        // lines 5 and 6, so the next record starts on line 7.
        assert_eq!(numbers, [2, 5, 7]);
        assert_eq!(table.rows[1].cells[0], Cell::Text("x\ny".into()));
    }

    #[test]
    fn csv_bad_utf8_names_the_line() {
        let error = read_table(b"a,b\n1,2\n\"ok\nbad \xff\",3\n", Format::Csv).unwrap_err();
        assert_eq!(error, IoError::InvalidUtf8 { line: 4 });
        assert_eq!(error.to_string(), "line 4 is not valid utf-8 text (save the file as utf-8)");
    }

    #[test]
    fn csv_without_rows_has_no_header() {
        assert_eq!(read_table(b"", Format::Csv), Err(IoError::NoHeader));
        assert_eq!(read_table("\u{feff}\r\n".as_bytes(), Format::Csv), Err(IoError::NoHeader));
    }

    #[test]
    fn csv_takes_off_the_formula_guard() {
        assert_eq!(csv_cell("'=1+1"), Cell::Text("=1+1".into()));
        assert_eq!(csv_cell("'+86 10"), Cell::Text("+86 10".into()));
        assert_eq!(csv_cell("'quoted'"), Cell::Text("'quoted'".into()));
        assert_eq!(csv_cell("=1+1"), Cell::Text("=1+1".into()));
    }

    #[test]
    fn garbage_is_not_a_workbook() {
        let error = read_table(b"not a zip file", Format::Xlsx).unwrap_err();
        assert!(matches!(error, IoError::Unreadable { .. }), "{error:?}");
    }

    #[test]
    fn workbook_values_become_cells() {
        use calamine::CellErrorType;
        assert_eq!(xlsx_cell(Data::Error(CellErrorType::Div0)), Cell::Error("#DIV/0!".into()));
        assert_eq!(xlsx_cell(Data::Float(1.38e10)), Cell::Number(Number::from_i64(13_800_000_000)));
        assert_eq!(xlsx_cell(Data::Float(f64::INFINITY)), Cell::Error("#NUM!".into()));
        assert_eq!(xlsx_cell(Data::Int(-3)), Cell::Number(Number::from_i64(-3)));
        assert_eq!(xlsx_cell(Data::String(String::new())), Cell::Empty);
        assert_eq!(xlsx_cell(Data::String(" 007 ".into())), Cell::Text(" 007 ".into()));
        let date = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        assert_eq!(xlsx_cell(Data::DateTimeIso("2024-03-01".into())), Cell::Date(date));
        assert_eq!(
            xlsx_cell(Data::DateTimeIso("2024-03-01T10:20:30".into())),
            Cell::DateTime(date.and_hms_opt(10, 20, 30).unwrap())
        );
    }

    #[test]
    fn sheet_cells_are_gathered_sparsely_within_limits() {
        let limits = Limits { rows: 4, columns: 3, cells: 10, text_bytes: 8 };
        let mut sheet = SheetCells::new(limits);
        sheet.add(0, 0, DataRef::SharedString("Name")).unwrap();
        sheet.add(3, 2, DataRef::Int(7)).unwrap();
        sheet.add(2, 1, DataRef::Empty).unwrap();
        assert_eq!(sheet.rows.len(), 2, "empty cells take no room");
        assert_eq!(sheet.rows[&3], [Cell::Empty, Cell::Empty, Cell::Number(Number::from_i64(7))]);

        let rows = sheet.add(4, 0, DataRef::Int(1));
        assert_eq!(rows, Err(IoError::SheetTooLarge { limit: SheetLimit::Rows, max: 4 }));
        let columns = sheet.add(0, 3, DataRef::Empty);
        assert_eq!(columns, Err(IoError::SheetTooLarge { limit: SheetLimit::Columns, max: 3 }));
        let text = sheet.add(1, 0, DataRef::String("12345".into()));
        assert_eq!(text, Err(IoError::SheetTooLarge { limit: SheetLimit::TextBytes, max: 8 }));
        assert_eq!(
            text.unwrap_err().to_string(),
            "the worksheet is too large: more than 8 bytes of text"
        );
    }

    #[test]
    fn repeated_and_padded_cells_count_against_the_cell_limit() {
        let limits = Limits { rows: 100, columns: 100, cells: 5, text_bytes: 100 };
        let mut repeated = SheetCells::new(limits);
        for _ in 0..5 {
            repeated.add(0, 0, DataRef::Int(1)).unwrap();
        }
        let error = repeated.add(0, 0, DataRef::Int(1)).unwrap_err();
        assert_eq!(error, IoError::SheetTooLarge { limit: SheetLimit::Cells, max: 5 });

        let mut padded = SheetCells::new(limits);
        padded.add(0, 3, DataRef::Int(1)).unwrap();
        let error = padded.add(1, 3, DataRef::Int(1)).unwrap_err();
        assert_eq!(error, IoError::SheetTooLarge { limit: SheetLimit::Cells, max: 5 });
    }

    #[test]
    fn open_quotes_at_the_end_are_found() {
        assert!(ends_in_open_quote(b"\"unterminated,X1\n"));
        assert!(ends_in_open_quote(b"a,\"say \"\"hi\"\"\n"));
        assert!(ends_in_open_quote(b"\n\""));
        assert!(!ends_in_open_quote(b"\"closed\",x\n"));
        assert!(!ends_in_open_quote(b"\"closed\"\"\""));
        assert!(!ends_in_open_quote(b"in\"side,b\n"));
        assert!(!ends_in_open_quote(b"\"x\"y\n"));
        assert!(!ends_in_open_quote(b""));
    }

    #[test]
    fn csv_unterminated_quote_is_refused_with_its_line() {
        let error = read_table(b"Name,Code\n\"unterminated,X1\n", Format::Csv).unwrap_err();
        assert_eq!(error, IoError::UnterminatedQuote { line: 2 });
        assert_eq!(
            error.to_string(),
            "line 2: unterminated quoted field (a field starts with \" that is never closed)"
        );
        let error = read_table(b"a\r\n1\r\n\r\n\"x\r\ny", Format::Csv).unwrap_err();
        assert_eq!(error, IoError::UnterminatedQuote { line: 4 });
        let table = read_table(b"a,b\n\"x\ny\",\"\"\"\"\n", Format::Csv).unwrap();
        assert_eq!(table.rows[0].cells, [Cell::Text("x\ny".into()), Cell::Text("\"".into())]);
    }

    #[test]
    fn durations_read_as_clock_text() {
        let cell = duration_cell(chrono::Duration::seconds(26 * 3600 + 5 * 60 + 7));
        assert_eq!(cell, Cell::Text("26:05:07".into()));
    }
}
