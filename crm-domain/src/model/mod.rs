//! The business entities of the CRM and the rules that hold for each.

pub mod approval;
pub mod assignment;
pub mod customer;
pub mod finance;
pub mod lead;
pub mod org;
pub mod sales;
pub mod settings;

pub use approval::ApprovalStatus;
pub use assignment::{AssignmentRequest, AssignmentStatus};
pub use customer::{Contact, Customer, CustomerStatus, Relative};
pub use finance::{FinanceRequest, RequestForm};
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

/// Refuses text longer than `max` characters.
pub(crate) fn max_chars(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.chars().count() > max {
        return Err(DomainError::invalid(field, format!("longer than {max} characters")));
    }
    Ok(())
}

/// Refuses text longer than `max` characters or holding control characters other than tab
/// and line breaks (they break terminals, spreadsheets and PostgreSQL text alike).
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    max_chars(field, value, max)?;
    if let Some(c) = value.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(DomainError::invalid(
            field,
            format!("contains the control character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(())
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
}
