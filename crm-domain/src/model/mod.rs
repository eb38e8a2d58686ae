//! The business entities of the CRM and the rules that hold for each.

pub mod approval;
pub mod assignment;
pub mod customer;
pub mod finance;
pub mod forms;
pub mod lead;
pub mod org;
pub mod sales;
pub mod settings;

pub use approval::ApprovalStatus;
pub use assignment::{AssignmentRequest, AssignmentStatus};
pub use customer::{Contact, Customer, CustomerStatus, Relative};
pub use finance::{FinanceRequest, RequestForm};
pub use forms::{FormDef, FormEntry, FormFieldDef, FormFieldKind};
pub use lead::{Attachment, Interaction, Lead, LeadStatus};
pub use org::{Membership, Position, Unit, UnitKind, User};
pub use sales::{Contract, Quote, QuoteLine};
pub use settings::{SettingList, SettingValue};

use crate::error::DomainError;

/// Trims `value` and refuses it when empty.
pub(crate) fn required(field: &str, value: &str) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::Required { field: field.to_owned() });
    }
    Ok(())
}

/// Refuses a custom field name that is blank, longer than 64 characters, or holds a control
/// character (line breaks and tabs included) or a character [`text`] refuses: names become
/// JSON keys, columns of exports and labels on forms.
pub(crate) fn custom_name(name: &str) -> Result<(), DomainError> {
    if name.trim().is_empty() {
        return Err(DomainError::invalid("custom", "a custom field needs a name"));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(DomainError::invalid(
            "custom",
            format!(
                "the custom field name {name:?}: contains the control character U+{:04X}",
                u32::from(c)
            ),
        ));
    }
    text("custom", name, 64).map_err(|error| match error {
        DomainError::Invalid { reason, .. } => {
            DomainError::invalid("custom", format!("the custom field name {name:?}: {reason}"))
        }
        other => other,
    })
}

/// Refuses text longer than `max` characters.
pub(crate) fn max_chars(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.chars().count() > max {
        return Err(DomainError::invalid(field, format!("longer than {max} characters")));
    }
    Ok(())
}

/// Refuses text longer than `max` characters or holding control characters other than tab
/// and line breaks (they break terminals, spreadsheets and PostgreSQL text alike), or the
/// characters that reorder how text around them reads (U+202A–U+202E, U+2066–U+2069), with
/// which a title could show another amount than the one stored.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.is_ascii() {
        // One pass over the bytes: no direction controls in ASCII, one character per byte.
        if value.len() > max {
            return Err(DomainError::invalid(field, format!("longer than {max} characters")));
        }
        return match value
            .bytes()
            .find(|b| b.is_ascii_control() && !matches!(b, b'\t' | b'\n' | b'\r'))
        {
            Some(b) => Err(DomainError::invalid(
                field,
                format!("contains the control character U+{:04X}", u32::from(b)),
            )),
            None => Ok(()),
        };
    }
    max_chars(field, value, max)?;
    if let Some(c) = value.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(DomainError::invalid(
            field,
            format!("contains the control character U+{:04X}", u32::from(c)),
        ));
    }
    if let Some(c) = crate::text::direction_control(value) {
        return Err(DomainError::invalid(
            field,
            format!("contains the direction control character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(())
}

/// Trims every one of `values` in place and writes their line breaks as `\n` (without
/// reallocating what needs neither).
pub(crate) fn trim_all<const N: usize>(values: [&mut String; N]) {
    for value in values {
        if let std::borrow::Cow::Owned(unix) = crate::text::unix_line_breaks(value) {
            *value = unix;
        }
        let trimmed = value.trim();
        if trimmed.len() != value.len() {
            *value = trimmed.to_owned();
        }
    }
}

/// Upper-cases a currency code and fills `CNY` when none is given.
pub(crate) fn default_currency(currency: &mut String) {
    *currency = currency.to_ascii_uppercase();
    if currency.is_empty() {
        *currency = "CNY".into();
    }
}

/// Refuses anything but three upper-case letters.
pub(crate) fn currency(field: &str, code: &str) -> Result<(), DomainError> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(());
    }
    Err(DomainError::invalid(field, format!("{code:?} is not a three-letter currency code")))
}

/// A required one-line title of at most 200 characters.
pub(crate) fn one_line_title(title: &str) -> Result<(), DomainError> {
    required("title", title)?;
    text("title", title, 200)?;
    if title.contains(['\n', '\r']) {
        return Err(DomainError::invalid("title", "must be one line"));
    }
    Ok(())
}

/// A money amount someone asks for or signs: above zero, at most
/// [`MAX_AMOUNT`](finance::MAX_AMOUNT), at most two decimals.
pub(crate) fn positive_amount(
    field: &str,
    amount: rust_decimal::Decimal,
) -> Result<(), DomainError> {
    if amount <= rust_decimal::Decimal::ZERO {
        return Err(DomainError::invalid(field, "must be greater than zero"));
    }
    if amount > finance::MAX_AMOUNT {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {}", finance::MAX_AMOUNT),
        ));
    }
    if amount.normalize().scale() > 2 {
        return Err(DomainError::invalid(field, "has more than two decimals"));
    }
    Ok(())
}

/// Refuses an unset reference (id 0) to a record the field must name.
pub(crate) fn known(field: &str, id: crate::ids::RecordId) -> Result<(), DomainError> {
    if id == crate::ids::RecordId(0) {
        return Err(DomainError::Required { field: field.to_owned() });
    }
    Ok(())
}

/// An amount kept with exactly two decimals, however it was typed (`12`, `12.5`, `12.500`).
pub(crate) fn cents(amount: rust_decimal::Decimal) -> rust_decimal::Decimal {
    let mut amount = amount.normalize();
    amount.rescale(2);
    amount
}

/// Accepts dates a person could mean: years 1900 to 2200.
pub(crate) fn plausible_date(
    field: &str,
    value: Option<chrono::NaiveDate>,
) -> Result<(), DomainError> {
    use chrono::Datelike;
    match value {
        Some(date) if !(1900..=2200).contains(&date.year()) => {
            Err(DomainError::invalid(field, format!("{date} is outside the years 1900 to 2200")))
        }
        _ => Ok(()),
    }
}

/// Accepts an empty string or something shaped like `local@domain.tld`.
pub(crate) fn email(field: &str, value: &str) -> Result<(), DomainError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(());
    }
    let valid = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !value.chars().any(char::is_whitespace)
    });
    if valid {
        Ok(())
    } else {
        Err(DomainError::invalid(field, format!("{value:?} is not an email address")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_refuses_control_characters_and_length() {
        assert!(text("name", "北京\t公司\n", 10).is_ok());
        assert!(text("name", "a\u{0}b", 10).is_err());
        assert!(text("name", "\u{1b}[31m", 10).is_err());
        assert!(text("name", &"长".repeat(11), 10).is_err());
        let reordered = text("title", "报销 \u{202E}000,001 额金", 100).unwrap_err();
        assert!(reordered.to_string().contains("U+202E"), "{reordered}");
        assert!(text("name", "مرحبا 北京", 100).is_ok());
    }

    #[test]
    fn dates_are_plausible() {
        let date = |y| chrono::NaiveDate::from_ymd_opt(y, 1, 1);
        assert!(plausible_date("birthday", date(1985)).is_ok());
        assert!(plausible_date("birthday", None).is_ok());
        assert!(plausible_date("birthday", date(1)).is_err());
    }

    #[test]
    fn email_shapes() {
        assert!(email("email", "").is_ok());
        assert!(email("email", "a@b.cn").is_ok());
        assert!(email("email", "ab.cn").is_err());
        assert!(email("email", "a@b").is_err());
        assert!(email("email", "a b@c.cn").is_err());
    }

    #[test]
    fn text_is_checked_alike_in_ascii_and_beyond() {
        for (value, ok) in [
            ("plain\ttext\r\n", true),
            ("bell\u{7}", false),
            ("del\u{7f}", false),
            ("北京\ttext", true),
            ("北京\u{7}", false),
            ("北京\u{85}", false),
            ("报销 \u{202E}001", false),
        ] {
            assert_eq!(text("name", value, 20).is_ok(), ok, "{value:?}");
        }
        assert!(text("name", "abcde", 5).is_ok());
        assert!(text("name", "abcdef", 5).is_err());
        assert!(text("name", "北京北京北", 5).is_ok());
        assert!(text("name", "北京北京北京", 5).is_err());
    }

    #[test]
    fn custom_field_names_are_checked() {
        assert!(custom_name("tag").is_ok());
        assert!(custom_name("标签").is_ok());
        for bad in ["", "  ", "tag\u{0}", "a\nb", "x\u{202E}y", &"n".repeat(65)] {
            match custom_name(bad) {
                Err(DomainError::Invalid { field, .. }) => assert_eq!(field, "custom", "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let mut customer = crate::model::Customer { name: "N".into(), ..Default::default() };
        customer.custom.insert("tag\u{0}".into(), crate::Value::Text("vip".into()));
        let refused = customer.validate().unwrap_err().to_string();
        assert!(refused.contains("U+0000"), "{refused}");
    }
}
