//! Builders for test input: small workbooks with typed cells, and CSV text.

use chrono::NaiveDate;
use crm_io::{read_table, Format, Table};
use rust_xlsxwriter::{Format as CellFormat, Workbook};

/// A typed cell to put into a test workbook.
#[derive(Debug, Clone, Copy)]
pub enum C<'a> {
    /// A string cell (`write_string`).
    S(&'a str),
    /// A number cell.
    N(f64),
    /// A date cell with a date format.
    D(i32, u32, u32),
    /// A date-and-time cell.
    T(i32, u32, u32, u32, u32),
    /// A boolean cell.
    B(bool),
    /// Nothing.
    E,
}

/// A workbook whose first sheet holds `rows`, the first of them the header, from A1.
pub fn xlsx(rows: &[Vec<C<'_>>]) -> Vec<u8> {
    let mut workbook = Workbook::new();
    let date = CellFormat::new().set_num_format("yyyy-mm-dd");
    let datetime = CellFormat::new().set_num_format("yyyy-mm-dd hh:mm");
    let sheet = workbook.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r).unwrap();
        for (c, cell) in row.iter().enumerate() {
            let c = u16::try_from(c).unwrap();
            match *cell {
                C::S(text) => {
                    sheet.write_string(r, c, text).unwrap();
                }
                C::N(number) => {
                    sheet.write_number(r, c, number).unwrap();
                }
                C::D(y, m, d) => {
                    let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
                    sheet.write_datetime_with_format(r, c, day, &date).unwrap();
                }
                C::T(y, m, d, h, min) => {
                    let at =
                        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap();
                    sheet.write_datetime_with_format(r, c, at, &datetime).unwrap();
                }
                C::B(flag) => {
                    sheet.write_boolean(r, c, flag).unwrap();
                }
                C::E => {}
            }
        }
    }
    workbook.save_to_buffer().unwrap()
}

/// A table read from a workbook of `rows`.
pub fn xlsx_table(rows: &[Vec<C<'_>>]) -> Table {
    read_table(&xlsx(rows), Format::Xlsx).unwrap()
}

/// A table read from CSV text.
pub fn csv_table(text: &str) -> Table {
    read_table(text.as_bytes(), Format::Csv).unwrap()
}

/// The display form of every error, for exact comparisons.
pub fn messages<E: ToString>(errors: &[E]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}
