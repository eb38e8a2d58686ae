//! Service scenarios on the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is a failed test")]

mod scenarios;

fn main() -> std::process::ExitCode {
    let crm = crm::Crm::open(std::sync::Arc::new(crm_storage::MemoryStore::new())).unwrap();
    scenarios::run("memory", crm).exit_code()
}
