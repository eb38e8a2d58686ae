//! Storage adapters for the CRM's storage port ([`crm_domain::Store`]).
//!
//! - [`MemoryStore`]: maps in process memory; the executable reference of the contract,
//!   for unit tests.
//! - [`SledStore`] (feature `sled`, on by default): the embedded default, records in one
//!   sled tree, with secondary indexes and search projections kept in memory.
//! - `PgStore` (feature `postgres`): PostgreSQL through sqlx.
//!
//! Every adapter passes the same conformance suite (`tests/conformance`), which is the
//! contract in executable form.

#![forbid(unsafe_code)]

mod batch;
#[cfg(feature = "sled")]
mod codec;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sled")]
pub mod sled_store;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PgOptions, PgStore};
#[cfg(feature = "sled")]
pub use sled_store::{IntegrityReport, SledStore};
