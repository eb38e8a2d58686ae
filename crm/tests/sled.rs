//! Service scenarios on the sled store.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is a failed test")]

mod scenarios;

fn main() -> std::process::ExitCode {
    let dir = tempfile::tempdir().unwrap();
    let crm = crm::Crm::open_location(&format!("sled:{}", dir.path().display())).unwrap();
    let conclusion = scenarios::run("sled", crm);
    drop(dir);
    conclusion.exit_code()
}
