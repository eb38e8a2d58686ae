//! One spreadsheet cell as it was typed, before any field type is applied.
//!
//! Spreadsheets keep numbers as binary floats; this module is the only place a float is
//! touched: it turns the float into its shortest exact decimal text at once ([`Number`]), so
//! that a phone number typed as a number (`13800138000`, `1.38E+10`) reads back as digits and
//! every later conversion works on exact decimal text.

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

/// The most characters a spreadsheet cell holds (Excel's limit, which XLSX writers enforce):
/// longer text is refused at import, since it could not be exported again.
pub const MAX_CELL_CHARS: usize = 32_767;

/// The value of one cell, keeping the type the spreadsheet gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing typed.
    Empty,
    /// Text exactly as typed (leading zeros and surrounding spaces kept).
    Text(String),
    /// A number cell.
    Number(Number),
    /// A boolean cell.
    Bool(bool),
    /// A date cell (a date-formatted cell whose time of day is midnight).
    Date(NaiveDate),
    /// A date-and-time cell, as shown in the sheet (no time zone).
    DateTime(NaiveDateTime),
    /// A cell that holds a spreadsheet error such as `#DIV/0!`.
    Error(String),
}

impl Cell {
    /// Whether the cell is empty or holds only white space.
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(text) => text.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell rendered as a person reads it: text as typed, numbers as plain digits, dates
    /// in ISO form, booleans as `TRUE`/`FALSE`, errors as their code.
    pub fn to_text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(text) => text.clone(),
            Cell::Number(number) => number.as_str().to_owned(),
            Cell::Bool(true) => "TRUE".to_owned(),
            Cell::Bool(false) => "FALSE".to_owned(),
            Cell::Date(date) => date.format("%Y-%m-%d").to_string(),
            Cell::DateTime(at) => at.format("%Y-%m-%d %H:%M:%S").to_string(),
            Cell::Error(code) => code.clone(),
        }
    }

    /// A short description for error messages: text quoted, anything else named by type.
    pub fn describe(&self) -> String {
        match self {
            Cell::Empty => "an empty cell".to_owned(),
            Cell::Text(text) => format!("{text:?}"),
            Cell::Number(number) => format!("the number {number}"),
            Cell::Bool(_) => format!("the boolean {}", self.to_text()),
            Cell::Date(_) => format!("the date {}", self.to_text()),
            Cell::DateTime(_) => format!("the date and time {}", self.to_text()),
            Cell::Error(code) => format!("the spreadsheet error {code}"),
        }
    }
}

/// A number cell, kept as plain decimal text: digits, an optional `-` and `.`, never an
/// exponent and never a trailing `.0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number(String);

impl Number {
    /// Converts a spreadsheet float into the shortest decimal text that reads back as the same
    /// float. `None` for NaN and infinities, which no cell can hold.
    pub fn from_f64(value: f64) -> Option<Self> {
        if !value.is_finite() {
            return None;
        }
        // Rust prints floats in plain positional notation (never with an exponent) using the
        // shortest digits that round-trip, so 1.38e10 becomes "13800000000".
        let text = value.to_string();
        let text = if text == "-0" { "0".to_owned() } else { text };
        Some(Self(text))
    }

    /// Wraps an integer.
    pub fn from_i64(value: i64) -> Self {
        Self(value.to_string())
    }

    /// Wraps decimal text, checking that it is plain decimal notation.
    pub fn from_decimal_text(text: &str) -> Option<Self> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (digits, None),
        };
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        let plain = all_digits(whole) && fraction.is_none_or(all_digits);
        plain.then(|| Self(text.to_owned()))
    }

    /// The decimal text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The exact decimal value, or `None` when it is beyond the range of [`Decimal`].
    pub fn to_decimal(&self) -> Option<Decimal> {
        Decimal::from_str_exact(&self.0).ok().or_else(|| Decimal::from_str(&self.0).ok())
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_render_as_plain_digits() {
        assert_eq!(Number::from_f64(13_800_138_000.0).unwrap().as_str(), "13800138000");
        assert_eq!(Number::from_f64(1.38e10).unwrap().as_str(), "13800000000");
        assert_eq!(Number::from_f64(1234.5).unwrap().as_str(), "1234.5");
        assert_eq!(Number::from_f64(0.1).unwrap().as_str(), "0.1");
        assert_eq!(Number::from_f64(-0.0).unwrap().as_str(), "0");
        assert_eq!(Number::from_f64(1e21).unwrap().as_str(), "1000000000000000000000");
        assert_eq!(Number::from_f64(f64::NAN), None);
        assert_eq!(Number::from_i64(-42).as_str(), "-42");
    }

    #[test]
    fn numbers_convert_to_exact_decimals() {
        let number = Number::from_f64(1234.5).unwrap();
        assert_eq!(number.to_decimal(), Some(Decimal::new(12345, 1)));
        assert_eq!(Number::from_f64(1e40).unwrap().to_decimal(), None);
    }

    #[test]
    fn decimal_text_is_checked() {
        assert!(Number::from_decimal_text("-12.50").is_some());
        assert!(Number::from_decimal_text("1e5").is_none());
        assert!(Number::from_decimal_text("12.").is_none());
        assert!(Number::from_decimal_text("").is_none());
    }

    #[test]
    fn cells_render_and_describe() {
        assert_eq!(Cell::Bool(true).to_text(), "TRUE");
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(Cell::Date(date).to_text(), "2024-02-29");
        assert_eq!(Cell::Text("abc".into()).describe(), "\"abc\"");
        assert_eq!(Cell::Error("#DIV/0!".into()).describe(), "the spreadsheet error #DIV/0!");
        assert!(Cell::Text("  ".into()).is_blank());
        assert!(!Cell::Number(Number::from_i64(0)).is_blank());
    }
}
