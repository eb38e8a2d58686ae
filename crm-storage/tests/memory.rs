//! The conformance suite against the in-memory store.

mod conformance;

use std::process::ExitCode;
use std::sync::Arc;

use crm_storage::MemoryStore;

fn main() -> ExitCode {
    conformance::run("memory", Arc::new(MemoryStore::new()))
}
