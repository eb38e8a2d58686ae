//! Errors of the domain rules and the backend-neutral storage error the ports return.

use crate::ids::RecordId;

/// Why a storage operation failed, independent of the back end that ran it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The record, table or sequence asked for does not exist.
    NotFound,
    /// Another writer changed the record first (stale version) or the key is taken.
    Conflict,
    /// A precondition or integrity rule of the store refused the write.
    Constraint,
    /// The query names a field the entity does not declare for that use.
    InvalidQuery,
    /// The back end could not be reached or failed in a way a retry may fix.
    Unavailable,
    /// Stored bytes could not be decoded; the store needs an integrity check.
    Corrupt,
}

/// A storage failure: a backend-neutral kind and a message saying what and where.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

impl StoreError {
    /// A new error of `kind` with a lowercase message naming what failed.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// The backend-neutral kind, for callers that react differently to each.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Shorthand for a [`StoreErrorKind::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::NotFound, message)
    }

    /// Shorthand for a [`StoreErrorKind::Conflict`] error.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Conflict, message)
    }

    /// Shorthand for a [`StoreErrorKind::InvalidQuery`] error.
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::InvalidQuery, message)
    }

    /// Shorthand for a [`StoreErrorKind::Unavailable`] error.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Unavailable, message)
    }

    /// Shorthand for a [`StoreErrorKind::Corrupt`] error.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Corrupt, message)
    }
}

/// A business rule refused an input or a change.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// A field holds a value the rules do not accept.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, as named in the entity description.
        field: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// A required field is empty.
    #[error("{field} is required")]
    Required {
        /// The field, as named in the entity description.
        field: String,
    },
    /// Setting this parent would make the hierarchy a cycle.
    #[error("{kind} {child} cannot have {parent} as parent: that would make a cycle")]
    Cycle {
        /// The entity kind of the hierarchy.
        kind: String,
        /// The record whose parent was to change.
        child: RecordId,
        /// The parent that was refused.
        parent: RecordId,
    },
    /// A value cannot be removed while records still use it.
    #[error("{what} is in use by {count} record(s) and cannot be deleted")]
    InUse {
        /// What was to be deleted.
        what: String,
        /// How many records use it (at least).
        count: u64,
    },
    /// A record asked for does not exist or is not visible to the principal.
    #[error("{kind} {id} not found")]
    NotFound {
        /// The entity kind.
        kind: String,
        /// The id asked for.
        id: RecordId,
    },
    /// The principal may not do this.
    #[error("permission denied: {0}")]
    Forbidden(String),
    /// The state of a record does not allow the operation.
    #[error("{0}")]
    State(String),
    /// A stored record could not be mapped onto its entity type.
    #[error("stored {kind} {id} is malformed: {reason}")]
    Malformed {
        /// The entity kind.
        kind: String,
        /// The record id.
        id: RecordId,
        /// What did not fit.
        reason: String,
    },
}

impl DomainError {
    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), reason: reason.into() }
    }
}
