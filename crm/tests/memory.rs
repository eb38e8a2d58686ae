//! Service scenarios on the in-memory store.

mod scenarios;

fn main() -> std::process::ExitCode {
    let crm = crm::Crm::open(std::sync::Arc::new(crm_storage::MemoryStore::new())).unwrap();
    scenarios::run("memory", crm).exit_code()
}
