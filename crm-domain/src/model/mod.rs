//! The business entities of the CRM and the rules that hold for each.

pub mod assignment;
pub mod customer;
pub mod lead;
pub mod org;
pub mod settings;

pub use assignment::{AssignmentRequest, AssignmentStatus};
pub use customer::{Contact, Customer, CustomerStatus, Relative};
pub use lead::{Attachment, Interaction, Lead, LeadStatus};
pub use org::{Membership, Position, Unit, UnitKind, User};
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
    fn email_shapes() {
        assert!(email("email", "").is_ok());
        assert!(email("email", "a@b.cn").is_ok());
        assert!(email("email", "ab.cn").is_err());
        assert!(email("email", "a@b").is_err());
        assert!(email("email", "a b@c.cn").is_err());
    }
}
