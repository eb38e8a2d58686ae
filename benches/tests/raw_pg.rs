//! The raw PostgreSQL baseline against a real server: a throwaway cluster from
//! `crm-test-support` (or `CRM_TEST_PG_URL`), so the macro benchmark's baseline is known to
//! store and find what it claims before any figure of it is trusted.

use chrono::DateTime;
use crm_benches::data::{generate, raw_rows, SEED};
use crm_benches::{raw_pg, raw_sled};
use crm_domain::text::fold;
use crm_test_support::PgCluster;
use sqlx::Connection;

#[test]
fn raw_postgres_stores_and_finds_what_raw_sled_does() {
    let rows = raw_rows(
        &generate(250, SEED),
        DateTime::from_timestamp(1_700_000_000, 0).expect("valid instant"),
    );
    let cluster = PgCluster::start().expect("a postgres cluster starts");
    let url = cluster.create_database("bench_raw_test").expect("a database is created");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime starts");
    let mut conn = runtime.block_on(sqlx::PgConnection::connect(&url)).expect("connects");
    runtime.block_on(raw_pg::create_tables(&mut conn)).expect("tables are created");
    runtime.block_on(raw_pg::insert_all(&mut conn, &rows, 100)).expect("rows insert");
    assert_eq!(runtime.block_on(raw_pg::count(&mut conn)).expect("count"), (250, 500));

    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled::Config::new().path(dir.path()).open().expect("sled opens");
    raw_sled::insert_all(&db, &rows, 100).expect("sled rows insert");

    let name = &rows[7].customer.name;
    let contact_phone = &rows[11].contacts[1].phone;
    for term in [name.as_str(), contact_phone.as_str(), "北京", "ＮＯＲＴＨ", "010-", "zzqx", "50%"]
    {
        let (pg_page, pg_total) =
            runtime.block_on(raw_pg::search(&mut conn, term, 50)).expect("postgres search");
        let (sled_page, sled_total) = raw_sled::search(&db, term, 50).expect("sled search");
        let expected =
            rows.iter().filter(|r| r.customer.search.contains(&fold(term))).count() as u64;
        assert_eq!(pg_total, expected, "postgres total for {term:?}");
        assert_eq!(sled_total, expected, "sled total for {term:?}");
        assert_eq!(pg_page, sled_page, "first pages for {term:?}");
    }
    let (page, _) = runtime.block_on(raw_pg::search(&mut conn, name, 50)).expect("search");
    assert!(page.contains(&rows[7].customer), "the row reads back unchanged");
}
