//! The one error type of the facade: what a host sees from any service call.

use crm_domain::{DomainError, StoreError, StoreErrorKind};

/// A row-level problem found by an import; the whole import is refused when any exists.
pub use crm_io::RowError;

/// Everything a service call can fail with.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A business rule refused the input or the change.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The store failed; see [`StoreError::kind`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An import found bad rows; nothing was stored.
    #[error("import refused: {} bad row(s); first: {}", bad_rows(.0), .0.first().map(ToString::to_string).unwrap_or_default())]
    Import(Vec<RowError>),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] crm_io::IoError),
    /// The approval engine refused an action or a definition (for example "task 3 is already
    /// decided"); see [`crm_workflow::WorkflowError::as_action`].
    #[error(transparent)]
    Workflow(#[from] crm_workflow::WorkflowError),
    /// The store location is not understood (the location is given with any password
    /// masked).
    #[error("unknown or incomplete store {0:?}: use sled:PATH, memory: or a postgres://USER@HOST/DATABASE URL")]
    StoreLocation(String),
    /// A store option in the location is not understood: what is wrong with it.
    #[error("store option: {0}")]
    StoreOption(String),
}

/// How many rows `errors` name (a row with two bad cells counts once).
fn bad_rows(errors: &[RowError]) -> usize {
    errors.iter().map(|e| e.row).collect::<std::collections::BTreeSet<_>>().len()
}

impl Error {
    /// Whether the error means "someone else changed this first; reload and retry".
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Store(e) if e.kind() == StoreErrorKind::Conflict)
            || matches!(
                self,
                Error::Workflow(crm_workflow::WorkflowError::Store(e))
                    if e.kind() == StoreErrorKind::Conflict
            )
    }

    /// Whether the error means the record does not exist or is not visible.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Domain(DomainError::NotFound { .. }))
            || matches!(self, Error::Store(e) if e.kind() == StoreErrorKind::NotFound)
    }
}

/// The result type of every service call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
