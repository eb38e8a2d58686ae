//! Service scenarios on PostgreSQL: a throwaway cluster (or `CRM_TEST_PG_URL`) per run.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is a failed test")]

mod scenarios;

fn main() -> std::process::ExitCode {
    let cluster = crm_test_support::PgCluster::start().expect("start a PostgreSQL cluster");
    let url = cluster.create_database("crm_services").expect("create a database");
    let crm = crm::Crm::open_location(&url).expect("open the store");
    let conclusion = scenarios::run("postgres", crm);
    drop(cluster);
    conclusion.exit_code()
}
