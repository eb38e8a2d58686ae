//! Identifiers and the principal that every call names.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::DomainError;

/// The id of a record, unique within its tenant and entity kind, allocated by the store.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct RecordId(pub u64);

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for RecordId {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u64>()
            .map(RecordId)
            .map_err(|_| DomainError::invalid("id", format!("{s:?} is not a record id")))
    }
}

/// The id of an independent company served by one deployment.
///
/// Tenant ids are short ASCII names (letters, digits, `-`, `_`, at most 63 bytes) so that
/// they are safe as key prefixes in every store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Checks and wraps a tenant name.
    pub fn new(name: impl Into<String>) -> Result<Self, DomainError> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 63
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(name))
        } else {
            Err(DomainError::invalid("tenant", "use 1 to 63 ASCII letters, digits, '-' or '_'"))
        }
    }

    /// The tenant name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a principal may see until the full permission model arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Sees and changes every record of the tenant.
    Admin,
    /// Sees and changes the records they own.
    User,
}

/// Who acts: a user of a tenant, with the role that decides what they see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant the call is made in; no call crosses tenants.
    pub tenant: TenantId,
    /// The acting user.
    pub user: RecordId,
    /// What the user may see.
    pub role: Role,
}

impl Principal {
    /// An administrator of `tenant`.
    pub fn admin(tenant: TenantId, user: RecordId) -> Self {
        Self { tenant, user, role: Role::Admin }
    }

    /// A plain user of `tenant`.
    pub fn user(tenant: TenantId, user: RecordId) -> Self {
        Self { tenant, user, role: Role::User }
    }

    /// Whether the principal sees every record of the tenant.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
