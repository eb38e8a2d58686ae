//! Starts a real throwaway cluster (or uses `CRM_TEST_PG_URL`) and checks that it answers
//! and that dropping it leaves nothing behind.

use crm_test_support::PgCluster;

#[test]
fn cluster_answers_and_is_removed_on_drop() {
    let cluster = PgCluster::start().expect("a PostgreSQL cluster starts");
    let url = cluster.url().to_owned();
    assert!(url.starts_with("postgres://"), "{url}");
    assert_eq!(cluster.psql(&url, "SELECT 1").unwrap(), "1");

    let fresh = cluster.create_database("support_fresh").unwrap();
    assert_ne!(fresh, url);
    cluster.psql(&fresh, "CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1)").unwrap();
    assert_eq!(cluster.psql(&fresh, "SELECT sum(x) FROM t").unwrap(), "42");

    let file = std::env::temp_dir().join(format!("crm-support-{}.sql", std::process::id()));
    std::fs::write(&file, "CREATE TABLE loaded (name text);\nINSERT INTO loaded VALUES ('a');\n")
        .unwrap();
    cluster.load_sql_file(&fresh, &file).unwrap();
    std::fs::write(&file, "SELECT no_such_function();\n").unwrap();
    assert!(cluster.load_sql_file(&fresh, &file).is_err(), "errors stop the load");
    std::fs::remove_file(&file).unwrap();
    assert_eq!(cluster.psql(&fresh, "SELECT name FROM loaded").unwrap(), "a");

    match cluster.directory().map(|dir| dir.to_owned()) {
        Some(dir) => {
            assert!(dir.join("data").join("PG_VERSION").is_file());
            assert!(!url.contains(":5432/"), "a throwaway cluster never uses the standard port");
            drop(cluster);
            assert!(!dir.exists(), "drop removes {}", dir.display());
        }
        None => {
            // An external server: the fresh databases are dropped, the server stays.
            let admin = std::env::var(crm_test_support::URL_VARIABLE).unwrap();
            let name = fresh.rsplit('/').next().unwrap().to_owned();
            let probe = PgCluster::start().unwrap();
            drop(cluster);
            let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
            assert_eq!(probe.psql(&admin, &sql).unwrap(), "0");
        }
    }
}

#[test]
fn rejects_database_names_that_are_not_identifiers() {
    let cluster = PgCluster::start().expect("a PostgreSQL cluster starts");
    let error = cluster.create_database("x\"; DROP DATABASE postgres; --").unwrap_err();
    assert!(error.to_string().contains("invalid database name"), "{error}");
}

#[test]
fn loads_the_northwind_sample() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/northwind/northwind.sql");
    assert!(path.is_file(), "the Northwind sample is missing at {}", path.display());
    let cluster = PgCluster::start().expect("a PostgreSQL cluster starts");
    let db = cluster.create_database("northwind").unwrap();
    cluster.load_sql_file(&db, &path).unwrap();
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM customers").unwrap(), "91");
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM orders").unwrap(), "830");
    let top = "SELECT company_name FROM customers WHERE customer_id = 'ALFKI'";
    assert_eq!(cluster.psql(&db, top).unwrap(), "Alfreds Futterkiste");
}
