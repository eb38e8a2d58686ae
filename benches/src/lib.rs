//! What the CRM benchmarks share: a deterministic data set, the fuzzy search terms, the raw
//! sled and PostgreSQL baselines, a timing store wrapper, latency statistics and the
//! side-by-side report.
//!
//! The benchmark targets (`benches/macro.rs`, `benches/micro.rs`) drive the engine; this crate
//! holds everything that does not need the engine, so the baselines and the data generator are
//! unit-tested on their own and the numbers of a run can be trusted to compare like with like:
//! the engine and the baselines get the very same rows and the very same terms.

#![forbid(unsafe_code)]

pub mod data;
pub mod raw_pg;
pub mod raw_sled;
pub mod report;
pub mod stats;
pub mod terms;
pub mod timed_store;

/// Why a baseline step failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The raw sled database failed.
    #[error("raw sled: {0}")]
    Sled(#[from] sled::Error),
    /// A raw row could not be encoded or decoded.
    #[error("raw row encoding: {0}")]
    Encoding(#[from] postcard::Error),
    /// The raw PostgreSQL baseline failed.
    #[error("raw postgres: {0}")]
    Postgres(#[from] sqlx::Error),
    /// A stored row holds a value the baseline did not write.
    #[error("raw row {0}")]
    Corrupt(String),
}

/// The result type of the baselines.
pub type Result<T> = std::result::Result<T, BenchError>;
