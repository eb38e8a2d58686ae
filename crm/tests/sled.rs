//! Service scenarios on the sled store.

mod scenarios;

fn main() -> std::process::ExitCode {
    let dir = tempfile::tempdir().unwrap();
    let crm = crm::Crm::open_location(&format!("sled:{}", dir.path().display())).unwrap();
    let conclusion = scenarios::run("sled", crm);
    drop(dir);
    conclusion.exit_code()
}
