//! Turning one [`Cell`] into a [`Value`] of a declared field type, or saying why it cannot be.
//!
//! The rules follow what a person means when they type into a spreadsheet: a number in a text
//! column is its digits, `1,234.50` in a decimal column is exact, dates may be typed as
//! `2024-03-01`, `2024/3/1` or `2024年3月1日`. Failures are sentences that quote the cell,
//! ready to sit after `row 7, column "Birthday": `.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use crm_domain::ids::RecordId;
use crm_domain::text::fold;
use crm_domain::{FieldType, Value};
use rust_decimal::Decimal;

use crate::cell::{Cell, MAX_CELL_CHARS};

/// The date forms accepted in text cells.
const DATE_FORMS: [&str; 3] = ["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日"];

/// The date-and-time forms accepted in text cells, read as UTC.
const DATETIME_FORMS: [&str; 6] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
];

/// Converts `cell` into a value of `ty`. Empty and white-space-only cells are
/// [`Value::Null`]. The error is the reason, quoting the cell.
pub fn convert_cell(cell: &Cell, ty: FieldType) -> Result<Value, String> {
    if cell.is_blank() {
        return Ok(Value::Null);
    }
    if let Cell::Error(code) = cell {
        return Err(format!("the cell holds the spreadsheet error {code}"));
    }
    match ty {
        FieldType::Text => to_text(cell).map(Value::Text),
        FieldType::Integer => to_integer(cell).map(Value::Integer),
        FieldType::Decimal => to_decimal(cell).map(Value::Decimal),
        FieldType::Bool => to_bool(cell).map(Value::Bool),
        FieldType::Date => to_date(cell).map(Value::Date),
        FieldType::Timestamp => to_timestamp(cell).map(Value::Timestamp),
        FieldType::Ref => to_ref(cell).map(Value::Ref),
        FieldType::Bytes | FieldType::Json => {
            Err(format!("{ty:?} fields cannot be imported from a spreadsheet"))
        }
    }
}

/// Trimmed text with line breaks made `\n`; refuses control characters other than tab and
/// line break, which no person types on purpose and which break other systems.
fn to_text(cell: &Cell) -> Result<String, String> {
    let text = match cell {
        Cell::Text(text) => text.replace("\r\n", "\n").replace('\r', "\n"),
        other => other.to_text(),
    };
    let text = text.trim();
    let chars = text.chars().count();
    if chars > MAX_CELL_CHARS {
        return Err(format!(
            "the text is longer than {MAX_CELL_CHARS} characters ({chars}), the most a \
             spreadsheet cell holds"
        ));
    }
    if let Some(c) = text.chars().find(|&c| c.is_control() && c != '\t' && c != '\n') {
        return Err(format!(
            "{} contains the control character U+{:04X}",
            cell.describe(),
            u32::from(c)
        ));
    }
    Ok(text.to_owned())
}

fn to_integer(cell: &Cell) -> Result<i64, String> {
    let decimal = to_decimal(cell).map_err(|_| format!("{} is not a number", cell.describe()))?;
    if !decimal.fract().is_zero() {
        return Err(format!("{} is not a whole number", cell.describe()));
    }
    i64::try_from(decimal).map_err(|_| format!("{} is too large", cell.describe()))
}

fn to_decimal(cell: &Cell) -> Result<Decimal, String> {
    let not_a_number = || format!("{} is not a number", cell.describe());
    match cell {
        Cell::Number(number) => number.to_decimal().ok_or_else(not_a_number),
        Cell::Text(text) => parse_decimal(text.trim()).ok_or_else(not_a_number),
        _ => Err(not_a_number()),
    }
}

/// Parses `1234.5`, `-1,234.50` or `+1,234`: commas are accepted only as thousands
/// separators (groups of three digits), so the European `1,5` is refused rather than read as
/// fifteen.
fn parse_decimal(text: &str) -> Option<Decimal> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let mut groups = whole.split(',');
    let first = groups.next()?;
    let grouped = whole.contains(',');
    if !digits(first) || (grouped && first.len() > 3) {
        return None;
    }
    if !groups.all(|group| group.len() == 3 && digits(group)) || !fraction.is_none_or(digits) {
        return None;
    }
    let plain = text.replace(',', "");
    let plain = plain.strip_prefix('+').unwrap_or(&plain);
    Decimal::from_str_exact(plain).ok()
}

fn to_bool(cell: &Cell) -> Result<bool, String> {
    match cell {
        Cell::Bool(value) => Ok(*value),
        Cell::Number(number) if number.as_str() == "1" => Ok(true),
        Cell::Number(number) if number.as_str() == "0" => Ok(false),
        Cell::Text(text) => match fold(text.trim()).as_str() {
            "true" | "yes" | "是" | "1" => Ok(true),
            "false" | "no" | "否" | "0" => Ok(false),
            _ => Err(format!("{} is not yes or no", cell.describe())),
        },
        _ => Err(format!("{} is not yes or no", cell.describe())),
    }
}

fn to_date(cell: &Cell) -> Result<NaiveDate, String> {
    match cell {
        Cell::Date(date) => Ok(*date),
        Cell::DateTime(at) if at.time() == NaiveTime::MIN => Ok(at.date()),
        Cell::DateTime(_) => {
            Err(format!("{} has a time of day; a date is expected", cell.describe()))
        }
        Cell::Text(text) => {
            parse_date(text.trim()).ok_or_else(|| format!("{} is not a date", cell.describe()))
        }
        _ => Err(format!("{} is not a date", cell.describe())),
    }
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    DATE_FORMS.iter().find_map(|form| NaiveDate::parse_from_str(text, form).ok())
}

/// Date-and-time cells carry no time zone; they are read as UTC.
// FIXME: naive times in a sheet should be read in the tenant's time zone, which crm-io does
// not know yet; until the facade passes it in they are taken as UTC.
fn to_timestamp(cell: &Cell) -> Result<DateTime<Utc>, String> {
    let not_a_time = || format!("{} is not a date and time", cell.describe());
    match cell {
        Cell::DateTime(at) => Ok(at.and_utc()),
        Cell::Date(date) => Ok(date.and_time(NaiveTime::MIN).and_utc()),
        Cell::Text(text) => {
            let text = text.trim();
            if let Ok(at) = DateTime::parse_from_rfc3339(text) {
                return Ok(at.with_timezone(&Utc));
            }
            DATETIME_FORMS
                .iter()
                .find_map(|form| NaiveDateTime::parse_from_str(text, form).ok())
                .or_else(|| parse_date(text).map(|date| date.and_time(NaiveTime::MIN)))
                .map(|at| at.and_utc())
                .ok_or_else(not_a_time)
        }
        _ => Err(not_a_time()),
    }
}

fn to_ref(cell: &Cell) -> Result<RecordId, String> {
    let text = match cell {
        Cell::Number(number) => number.as_str().to_owned(),
        Cell::Text(text) => text.trim().to_owned(),
        _ => String::new(),
    };
    match text.parse::<u64>() {
        Ok(id) if id > 0 => Ok(RecordId(id)),
        _ => Err(format!("{} is not a record id", cell.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::Number;

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    fn number(value: f64) -> Cell {
        Cell::Number(Number::from_f64(value).unwrap())
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn blank_cells_are_null() {
        for ty in [FieldType::Text, FieldType::Date, FieldType::Integer] {
            assert_eq!(convert_cell(&Cell::Empty, ty), Ok(Value::Null));
            assert_eq!(convert_cell(&text("  \t"), ty), Ok(Value::Null));
        }
    }

    #[test]
    fn text_keeps_what_was_typed() {
        let t = FieldType::Text;
        assert_eq!(convert_cell(&text("  007 "), t), Ok(Value::Text("007".into())));
        assert_eq!(convert_cell(&text(r#"50%_off\'"x""#), t), Ok(r#"50%_off\'"x""#.into()));
        assert_eq!(convert_cell(&number(13_800_138_000.0), t), Ok("13800138000".into()));
        assert_eq!(convert_cell(&number(1.38e10), t), Ok("13800000000".into()));
        assert_eq!(convert_cell(&Cell::Date(date(2024, 3, 1)), t), Ok("2024-03-01".into()));
        assert_eq!(convert_cell(&text("a\r\nb"), t), Ok("a\nb".into()));
        assert_eq!(convert_cell(&text("a\tb"), t), Ok("a\tb".into()));
        assert_eq!(
            convert_cell(&text("a\u{7}b"), t),
            Err("\"a\\u{7}b\" contains the control character U+0007".into())
        );
    }

    #[test]
    fn decimals_are_exact() {
        let d = FieldType::Decimal;
        assert_eq!(convert_cell(&text("1,234.50"), d), Ok(Value::Decimal(Decimal::new(123450, 2))));
        assert_eq!(convert_cell(&text("-0.10"), d), Ok(Value::Decimal(Decimal::new(-10, 2))));
        assert_eq!(convert_cell(&text("+7"), d), Ok(Value::Decimal(Decimal::new(7, 0))));
        assert_eq!(convert_cell(&number(0.1), d), Ok(Value::Decimal(Decimal::new(1, 1))));
        assert_eq!(convert_cell(&text("1,5"), d), Err("\"1,5\" is not a number".into()));
        assert_eq!(
            convert_cell(&text("1234,567.8"), d),
            Err("\"1234,567.8\" is not a number".into())
        );
        assert_eq!(convert_cell(&text("1e3"), d), Err("\"1e3\" is not a number".into()));
        assert_eq!(convert_cell(&text("12."), d), Err("\"12.\" is not a number".into()));
    }

    #[test]
    fn integers_must_be_whole() {
        let i = FieldType::Integer;
        assert_eq!(convert_cell(&text("1,000"), i), Ok(Value::Integer(1000)));
        assert_eq!(convert_cell(&number(42.0), i), Ok(Value::Integer(42)));
        assert_eq!(
            convert_cell(&number(4.5), i),
            Err("the number 4.5 is not a whole number".into())
        );
        assert_eq!(convert_cell(&text("x"), i), Err("\"x\" is not a number".into()));
        assert_eq!(
            convert_cell(&text("99999999999999999999"), i),
            Err("\"99999999999999999999\" is too large".into())
        );
    }

    #[test]
    fn booleans_in_both_languages() {
        let b = FieldType::Bool;
        for yes in ["true", "YES", "是", "1"] {
            assert_eq!(convert_cell(&text(yes), b), Ok(Value::Bool(true)), "{yes}");
        }
        for no in ["False", "no", "否", "0"] {
            assert_eq!(convert_cell(&text(no), b), Ok(Value::Bool(false)), "{no}");
        }
        assert_eq!(convert_cell(&Cell::Bool(true), b), Ok(Value::Bool(true)));
        assert_eq!(convert_cell(&number(0.0), b), Ok(Value::Bool(false)));
        assert_eq!(convert_cell(&text("maybe"), b), Err("\"maybe\" is not yes or no".into()));
    }

    #[test]
    fn dates_in_three_forms_and_as_cells() {
        let d = FieldType::Date;
        let expected = Ok(Value::Date(date(2024, 3, 1)));
        assert_eq!(convert_cell(&text("2024-03-01"), d), expected);
        assert_eq!(convert_cell(&text("2024/3/1"), d), expected);
        assert_eq!(convert_cell(&text("2024年3月1日"), d), expected);
        assert_eq!(convert_cell(&Cell::Date(date(2024, 3, 1)), d), expected);
        let midnight = date(2024, 3, 1).and_time(NaiveTime::MIN);
        assert_eq!(convert_cell(&Cell::DateTime(midnight), d), expected);

        assert_eq!(
            convert_cell(&text("2023-02-30"), d),
            Err("\"2023-02-30\" is not a date".into())
        );
        assert_eq!(convert_cell(&text("abc"), d), Err("\"abc\" is not a date".into()));
        assert_eq!(convert_cell(&number(45000.0), d), Err("the number 45000 is not a date".into()));
        let noon = date(2024, 3, 1).and_hms_opt(12, 0, 0).unwrap();
        assert_eq!(
            convert_cell(&Cell::DateTime(noon), d),
            Err("the date and time 2024-03-01 12:00:00 has a time of day; a date is expected"
                .into())
        );
    }

    #[test]
    fn timestamps_read_as_utc() {
        let t = FieldType::Timestamp;
        let at = date(2024, 3, 1).and_hms_opt(8, 30, 0).unwrap().and_utc();
        assert_eq!(convert_cell(&text("2024-03-01 08:30:00"), t), Ok(Value::Timestamp(at)));
        assert_eq!(convert_cell(&text("2024-03-01T16:30:00+08:00"), t), Ok(Value::Timestamp(at)));
        assert_eq!(convert_cell(&text("2024-03-01 08:30"), t), Ok(Value::Timestamp(at)));
        assert_eq!(convert_cell(&Cell::DateTime(at.naive_utc()), t), Ok(Value::Timestamp(at)));
        assert_eq!(convert_cell(&text("soon"), t), Err("\"soon\" is not a date and time".into()));
    }

    #[test]
    fn references_are_positive_ids() {
        let r = FieldType::Ref;
        assert_eq!(convert_cell(&number(12.0), r), Ok(Value::Ref(RecordId(12))));
        assert_eq!(convert_cell(&text(" 7 "), r), Ok(Value::Ref(RecordId(7))));
        assert_eq!(convert_cell(&text("0"), r), Err("\"0\" is not a record id".into()));
        assert_eq!(convert_cell(&number(1.5), r), Err("the number 1.5 is not a record id".into()));
    }

    #[test]
    fn error_cells_are_refused_for_every_type() {
        let cell = Cell::Error("#DIV/0!".into());
        assert_eq!(
            convert_cell(&cell, FieldType::Text),
            Err("the cell holds the spreadsheet error #DIV/0!".into())
        );
    }
}
