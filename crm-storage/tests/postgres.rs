//! The PostgreSQL store against a real server: the shared conformance suite plus the checks
//! only PostgreSQL has (typed tables a plain SQL join can use, tenant-led primary keys, user
//! text that never becomes SQL, error mapping, migrations, bulk inserts, recursive walks, and
//! agreement with the reference store on random queries).
//!
//! The server is a throwaway cluster from the local PostgreSQL binaries, or a fresh database
//! on the server `CRM_TEST_PG_URL` names. If neither can be had the run fails: this suite is
//! never skipped. The cluster is stopped and removed after the run, before the process exits.

use crm_domain::model::{Contact, Customer};
use crm_domain::{
    Batch, Entity, EntityDesc, FieldDesc, FieldType, Filter, Op, Query, Record, RecordId, Sort,
    Store, StoreErrorKind, TenantId, Value,
};
use crm_storage::{MemoryStore, PgOptions, PgStore};
use crm_test_support::PgCluster;
use libtest_mimic::{Failed, Trial};
use rust_decimal::Decimal;
use std::process::ExitCode;
use std::sync::Arc;

/// What every PostgreSQL-specific trial needs.
struct Context {
    cluster: Arc<PgCluster>,
    /// URL of the database the store uses.
    url: String,
    store: Arc<PgStore>,
}

type Check = fn(&Context) -> Result<(), Failed>;

mod conformance;

fn main() -> ExitCode {
    let cluster = match PgCluster::start() {
        Ok(cluster) => Arc::new(cluster),
        Err(error) => {
            eprintln!("error: no PostgreSQL for the postgres suite: {error}");
            return ExitCode::FAILURE;
        }
    };
    let url = match cluster.create_database("crm_storage") {
        Ok(url) => url,
        Err(error) => {
            eprintln!("error: cannot create the suite's database: {error}");
            return ExitCode::FAILURE;
        }
    };
    let store = match PgStore::connect(&url) {
        Ok(store) => Arc::new(store),
        Err(error) => {
            eprintln!("error: cannot open the postgres store: {error}");
            return ExitCode::FAILURE;
        }
    };

    let context = Arc::new(Context { cluster: cluster.clone(), url, store });
    let checks: &[(&str, Check)] = &[
        ("kinds_are_tables_with_typed_columns", kinds_are_tables_with_typed_columns),
        ("primary_keys_lead_with_tenant", primary_keys_lead_with_tenant),
        ("user_text_is_never_sql", user_text_is_never_sql),
        ("errors_map_onto_neutral_kinds", errors_map_onto_neutral_kinds),
        ("register_migrates_added_fields", register_migrates_added_fields),
        ("concurrent_opens_and_registers", concurrent_opens_and_registers),
        ("bulk_inserts_span_chunks_atomically", bulk_inserts_span_chunks_atomically),
        ("none_match_claims_are_serialised", none_match_claims_are_serialised),
        ("a_failed_lock_leaves_connections_usable", a_failed_lock_leaves_connections_usable),
        ("opening_does_not_wait_for_writes", opening_does_not_wait_for_writes),
        (
            "a_field_becomes_unique_only_without_repeats",
            a_field_becomes_unique_only_without_repeats,
        ),
        ("deep_chains_walk_in_one_query", deep_chains_walk_in_one_query),
        ("agrees_with_reference_on_random_queries", agrees_with_reference_on_random_queries),
        ("timestamps_keep_microseconds", timestamps_keep_microseconds),
        ("trigram_indexes_are_opt_in", trigram_indexes_are_opt_in),
    ];
    let trials = checks
        .iter()
        .map(|(name, check)| {
            let context = context.clone();
            let check = *check;
            Trial::test(format!("postgres::pg_{name}"), move || check(&context))
        })
        .collect();

    let store: Arc<dyn Store> = context.store.clone();
    let conclusion = conformance::run_with("postgres", store, trials);
    // The trials are done and dropped: this drops the store, then stops and removes the
    // cluster (or drops the fresh databases on an external server).
    drop(context);
    drop(cluster);
    conclusion.exit_code()
}

// ---------------------------------------------------------------------------------------
// Helpers

fn ensure(condition: bool, message: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

fn fail(message: impl std::fmt::Display) -> Failed {
    message.to_string().into()
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).expect("valid tenant")
}

fn desc(kind: &str, fields: Vec<FieldDesc>) -> &'static EntityDesc {
    Box::leak(Box::new(EntityDesc::new(kind, fields).expect("valid description")))
}

fn record(id: u64, fields: &[(&str, Value)]) -> Record {
    let mut record = Record::new(RecordId(id));
    for (name, value) in fields {
        record.set(name.to_string(), value.clone());
    }
    record
}

fn insert_all(store: &dyn Store, tenant: &TenantId, desc: &EntityDesc, records: Vec<Record>) {
    let mut batch = Batch::new();
    for record in records {
        batch.insert(desc, record);
    }
    store.commit(tenant, &batch).expect("insert");
}

fn psql(context: &Context, sql: &str) -> Result<String, Failed> {
    context.cluster.psql(&context.url, sql).map_err(fail)
}

// ---------------------------------------------------------------------------------------
// Checks

/// Each kind is its own table with one typed column per field; a plain SQL join works.
fn kinds_are_tables_with_typed_columns(context: &Context) -> Result<(), Failed> {
    let store = &context.store;
    let company = desc(
        "pg_company",
        vec![
            FieldDesc::new("name", FieldType::Text, "Name", "名称").sortable(),
            FieldDesc::new("staff", FieldType::Integer, "Staff", "人数"),
            FieldDesc::new("capital", FieldType::Decimal, "Capital", "资本"),
            FieldDesc::new("listed", FieldType::Bool, "Listed", "上市"),
            FieldDesc::new("founded", FieldType::Date, "Founded", "成立"),
            FieldDesc::new("checked_at", FieldType::Timestamp, "Checked", "核查"),
            FieldDesc::new("parent", FieldType::Ref, "Parent", "上级").indexed(),
            FieldDesc::new("logo", FieldType::Bytes, "Logo", "标志"),
            FieldDesc::new("extra", FieldType::Json, "Extra", "附加"),
        ],
    );
    let person = desc(
        "pg_person",
        vec![
            FieldDesc::new("company", FieldType::Ref, "Company", "公司").indexed(),
            FieldDesc::new("name", FieldType::Text, "Name", "姓名").sortable(),
        ],
    );
    store.register(company)?;
    store.register(person)?;

    let columns = psql(
        context,
        "SELECT column_name || ':' || data_type FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'crm_pg_company' \
         ORDER BY ordinal_position",
    )?;
    let expected = [
        "tenant_id:text",
        "id:bigint",
        "version:bigint",
        "name:text",
        "staff:bigint",
        "capital:numeric",
        "listed:boolean",
        "founded:date",
        "checked_at:timestamp with time zone",
        "parent:bigint",
        "logo:bytea",
        "extra:jsonb",
        "custom:jsonb",
    ];
    ensure(columns.lines().eq(expected), format!("columns of crm_pg_company:\n{columns}"))?;

    let acme = tenant("acme");
    let other = tenant("other");
    insert_all(
        store.as_ref(),
        &acme,
        company,
        vec![
            record(1, &[("name", "Alfreds".into()), ("staff", 12i64.into())]),
            record(2, &[("name", "Berglunds".into()), ("capital", Decimal::new(12345, 2).into())]),
        ],
    );
    insert_all(
        store.as_ref(),
        &acme,
        person,
        vec![
            record(10, &[("company", RecordId(1).into()), ("name", "Maria".into())]),
            record(11, &[("company", RecordId(2).into()), ("name", "Christina".into())]),
            record(12, &[("company", RecordId(1).into()), ("name", "Ana".into())]),
        ],
    );
    insert_all(
        store.as_ref(),
        &other,
        person,
        vec![record(10, &[("company", RecordId(1).into()), ("name", "Intruder".into())])],
    );

    let joined = psql(
        context,
        "SELECT c.name || ' ' || p.name FROM crm_pg_company c \
         JOIN crm_pg_person p ON p.tenant_id = c.tenant_id AND p.company = c.id \
         WHERE c.tenant_id = 'acme' ORDER BY p.name",
    )?;
    ensure(
        joined == "Alfreds Ana\nBerglunds Christina\nAlfreds Maria",
        format!("plain SQL join gave:\n{joined}"),
    )?;
    let capital = psql(context, "SELECT capital * 2 FROM crm_pg_company WHERE id = 2")?;
    ensure(capital == "246.90", format!("numeric arithmetic in SQL gave {capital}"))
}

/// Every table holding tenant data has a primary key whose first column is `tenant_id`.
fn primary_keys_lead_with_tenant(context: &Context) -> Result<(), Failed> {
    let store = &context.store;
    for desc in [Customer::desc(), Contact::desc()] {
        store.register(desc)?;
    }
    store.next_in_sequence(&tenant("acme"), "pk_probe", 1)?;
    let keys = psql(
        context,
        "SELECT c.relname || ':' || a.attname FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] \
         WHERE i.indisprimary AND c.relname LIKE 'crm\\_%' AND c.relname <> 'crm_migrations' \
         ORDER BY 1",
    )?;
    let keys: Vec<&str> = keys.lines().collect();
    ensure(keys.contains(&"crm_customer:tenant_id"), format!("{keys:?}"))?;
    ensure(keys.contains(&"crm_contact:tenant_id"), format!("{keys:?}"))?;
    ensure(keys.contains(&"crm_sequences:tenant_id"), format!("{keys:?}"))?;
    for key in keys {
        ensure(
            key.ends_with(":tenant_id"),
            format!("primary key of {key} does not lead with tenant"),
        )?;
    }
    // Every table without a primary key would escape the check above.
    let without = psql(
        context,
        "SELECT string_agg(c.relname, ',') FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() \
         WHERE c.relkind = 'r' AND c.relname LIKE 'crm\\_%' \
         AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)",
    )?;
    ensure(without.is_empty(), format!("tables without a primary key: {without}"))
}

/// Quotes, wildcards, backslashes and SQL in values, patterns and custom field names are
/// data: they match literally and never change the statement.
fn user_text_is_never_sql(context: &Context) -> Result<(), Failed> {
    let store = &context.store;
    let memory = MemoryStore::new();
    let note = desc(
        "pg_note",
        vec![
            FieldDesc::new("title", FieldType::Text, "Title", "标题").indexed().sortable(),
            FieldDesc::new("search", FieldType::Text, "Search", "检索").searchable(),
        ],
    );
    store.register(note)?;
    memory.register(note)?;
    let texts = [
        "O'Brien",
        "x'); DROP TABLE crm_pg_note; --",
        "100%",
        "100 percent",
        "a_b",
        "axb",
        r"back\slash",
        "\"quoted\"",
        "$1",
        "%",
        "_",
    ];
    let acme = tenant("acme");
    let mut records = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let mut r = record(
            i as u64 + 1,
            &[("title", (*text).into()), ("search", crm_domain::text::fold(text).into())],
        );
        r.custom.insert("x'); DROP TABLE crm_pg_note; --".into(), Value::Text((*text).into()));
        records.push(r);
    }
    insert_all(store.as_ref(), &acme, note, records.clone());
    insert_all(&memory, &acme, note, records);

    let evil_field = "custom.x'); DROP TABLE crm_pg_note; --".to_owned();
    for text in texts {
        let queries = [
            Query::all().filter(Filter::Eq("title".into(), text.into())),
            Query::all().filter(Filter::Prefix("title".into(), text.into())),
            Query::all().filter(Filter::Fuzzy("search".into(), text.into())),
            Query::all().filter(Filter::Eq(evil_field.clone(), text.into())),
            Query::all().filter(Filter::Prefix(evil_field.clone(), text.into())),
            Query::all().filter(Filter::In("title".into(), vec![text.into(), "%".into()])),
        ];
        for query in queries {
            let expected = memory.query(&acme, note, &query)?;
            let got = store.query(&acme, note, &query)?;
            ensure(got == expected, format!("{query:?}:\n got {got:?}\n expected {expected:?}"))?;
            ensure(expected.total >= 1, format!("{query:?} finds its own record"))?;
        }
    }
    let exact =
        store.query(&acme, note, &Query::all().filter(Filter::Eq("title".into(), "%".into())))?;
    ensure(exact.total == 1, format!("'%' matched {} titles, not only itself", exact.total))?;
    let count = psql(context, "SELECT count(*) FROM crm_pg_note")?;
    ensure(count == texts.len().to_string(), format!("table holds {count} rows"))
}

/// Database failures arrive as the backend-neutral kinds.
fn errors_map_onto_neutral_kinds(context: &Context) -> Result<(), Failed> {
    let store = &context.store;
    let item =
        desc("pg_errors", vec![FieldDesc::new("name", FieldType::Text, "Name", "名称").indexed()]);
    store.register(item)?;
    let acme = tenant("acme");
    insert_all(store.as_ref(), &acme, item, vec![record(1, &[("name", "one".into())])]);

    let kind = |result: Result<(), crm_domain::StoreError>| result.err().map(|e| e.kind());
    let mut batch = Batch::new();
    batch.insert(item, record(1, &[("name", "again".into())]));
    ensure(kind(store.commit(&acme, &batch)) == Some(StoreErrorKind::Conflict), "duplicate id")?;

    let mut stale = record(1, &[("name", "stale".into())]);
    stale.version = 7;
    let mut batch = Batch::new();
    batch.update(item, stale);
    ensure(kind(store.commit(&acme, &batch)) == Some(StoreErrorKind::Conflict), "stale update")?;

    let mut batch = Batch::new();
    batch.insert(item, record(2, &[("name", "two".into())]));
    batch.none_match(item, vec![Filter::Eq("name".into(), "one".into())]);
    ensure(kind(store.commit(&acme, &batch)) == Some(StoreErrorKind::Constraint), "none match")?;
    ensure(store.get(&acme, item, RecordId(2))?.is_none(), "failed batch left a record")?;

    // PostgreSQL text cannot hold NUL: the value is refused, not the store broken.
    let mut batch = Batch::new();
    batch.insert(item, record(3, &[("name", "nul\0byte".into())]));
    ensure(kind(store.commit(&acme, &batch)) == Some(StoreErrorKind::Constraint), "NUL text")?;

    let mut batch = Batch::new();
    batch.insert(item, record(4, &[("name", Value::Integer(4))]));
    ensure(kind(store.commit(&acme, &batch)) == Some(StoreErrorKind::Constraint), "wrong type")?;

    let never = desc("pg_never_registered", vec![]);
    let missing = store.get(&acme, never, RecordId(1)).err().map(|e| e.kind());
    ensure(missing == Some(StoreErrorKind::NotFound), format!("unregistered kind: {missing:?}"))?;

    let query = Query::all().sort(Sort::asc("name"));
    let invalid = store.query(&acme, item, &query).err().map(|e| e.kind());
    ensure(invalid == Some(StoreErrorKind::InvalidQuery), format!("bad sort: {invalid:?}"))?;

    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let started = std::time::Instant::now();
    let unreachable = PgStore::connect(&format!("postgres://postgres@127.0.0.1:{port}/x"));
    let unreachable = unreachable.err().map(|e| e.kind());
    ensure(unreachable == Some(StoreErrorKind::Unavailable), format!("{unreachable:?}"))?;
    ensure(started.elapsed().as_secs() < 10, "an unreachable server fails fast")
}

/// Registering a description with more fields adds columns; old rows read the new fields as
/// unset; changing a field's type is refused.
fn register_migrates_added_fields(context: &Context) -> Result<(), Failed> {
    let store = &context.store;
    let v1 = desc("pg_evolving", vec![FieldDesc::new("name", FieldType::Text, "Name", "名称")]);
    store.register(v1)?;
    let acme = tenant("acme");
    insert_all(store.as_ref(), &acme, v1, vec![record(1, &[("name", "old".into())])]);

    let v2 = desc(
        "pg_evolving",
        vec![
            FieldDesc::new("name", FieldType::Text, "Name", "名称"),
            FieldDesc::new("rank", FieldType::Integer, "Rank", "等级").indexed().sortable(),
        ],
    );
    // A second handle, as after a restart with a newer build.
    let reopened = PgStore::connect(&context.url)?;
    reopened.register(v2)?;
    let old = reopened.get(&acme, v2, RecordId(1))?.ok_or("old record gone")?;
    ensure(
        old.get("rank").is_null() && old.get("name") == &Value::from("old"),
        format!("{old:?}"),
    )?;
    insert_all(
        &reopened,
        &acme,
        v2,
        vec![record(2, &[("name", "new".into()), ("rank", 3i64.into())])],
    );
    let page = reopened.query(&acme, v2, &Query::all().sort(Sort::desc("rank")))?;
    let ids: Vec<u64> = page.records.iter().map(|r| r.id.0).collect();
    ensure(ids == [2, 1], format!("sorted by the new field: {ids:?}"))?;
    let index = psql(
        context,
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'crm_pg_evolving_rank_idx'",
    )?;
    ensure(index == "1", "the new indexed field got its index")?;

    // A reference lists do not sort by is indexed where it is set; an index over every row
    // left from an earlier release goes.
    psql(context, "CREATE INDEX crm_pg_evolving_holder_idx ON crm_pg_evolving (tenant_id, rank)")?;
    let with_ref = desc(
        "pg_evolving",
        vec![
            FieldDesc::new("name", FieldType::Text, "Name", "名称"),
            FieldDesc::new("rank", FieldType::Integer, "Rank", "等级").indexed().sortable(),
            FieldDesc::new("holder", FieldType::Ref, "Holder", "持有人").indexed(),
        ],
    );
    reopened.register(with_ref)?;
    let indexes = psql(
        context,
        "SELECT string_agg(indexname || ': ' || substring(indexdef from ' WHERE .*$'), '; ' \
         ORDER BY indexname) FROM pg_indexes WHERE indexname LIKE 'crm_pg_evolving_holder%'",
    )?;
    ensure(
        indexes == "crm_pg_evolving_holder_nn:  WHERE (holder IS NOT NULL)",
        format!("indexes of holder: {indexes}"),
    )?;
    insert_all(
        &reopened,
        &acme,
        with_ref,
        vec![record(3, &[("holder", Value::Ref(RecordId(7)))]), record(4, &[])],
    );
    for (filter, expected) in [
        (Filter::Eq("holder".into(), Value::Ref(RecordId(7))), vec![3]),
        (Filter::Eq("holder".into(), Value::Null), vec![1, 2, 4]),
        (Filter::In("holder".into(), vec![Value::Ref(RecordId(7)), Value::Null]), vec![1, 2, 3, 4]),
    ] {
        let page = reopened.query(&acme, with_ref, &Query::all().filter(filter.clone()))?;
        let mut ids: Vec<u64> = page.records.iter().map(|r| r.id.0).collect();
        ids.sort_unstable();
        ensure(ids == expected, format!("{filter:?} found {ids:?}"))?;
    }

    let v3 = desc("pg_evolving", vec![FieldDesc::new("name", FieldType::Integer, "Name", "名称")]);
    let changed = reopened.register(v3).err().map(|e| e.kind());
    ensure(changed == Some(StoreErrorKind::Constraint), format!("type change: {changed:?}"))
}

/// Trigram indexes come only when asked for; with or without them fuzzy filters find what the
/// reference store finds, and opening without them drops them.
fn trigram_indexes_are_opt_in(context: &Context) -> Result<(), Failed> {
    let url = context.cluster.create_database("crm_trigram").map_err(fail)?;
    let notes = desc(
        "pg_note",
        vec![
            FieldDesc::new("topic", FieldType::Text, "Topic", "主题").indexed(),
            FieldDesc::new("body", FieldType::Text, "Body", "内容").searchable().sortable(),
        ],
    );
    let acme = tenant("acme");
    let bodies = ["north wind 0042", "北京瑞丰科技", "south_wind 100%", "Northwind", "wind"];
    let records: Vec<Record> = (1..=60u64)
        .map(|id| {
            let body = format!("{} {id:03}", bodies[(id % 5) as usize]).to_lowercase();
            record(id, &[("topic", ["a", "b"][(id % 2) as usize].into()), ("body", body.into())])
        })
        .collect();
    let reference = MemoryStore::new();
    reference.register(notes)?;
    insert_all(&reference, &acme, notes, records.clone());
    let trigram_indexes = || -> Result<String, Failed> {
        let sql = "SELECT count(*) FROM pg_indexes WHERE indexname = 'crm_pg_note_body_trgm'";
        context.cluster.psql(&url, sql).map_err(fail)
    };
    let agrees = |store: &PgStore| -> Result<(), Failed> {
        for term in ["wind", "north", "瑞丰", "_wind 1", "00", "100%", "nowhere"] {
            let query = Query::all()
                .filter(Filter::Fuzzy("body".into(), term.into()))
                .sort(Sort::asc("body"));
            let expected = reference.query(&acme, notes, &query)?;
            let found = store.query(&acme, notes, &query)?;
            let ids = |records: &[Record]| records.iter().map(|r| r.id.0).collect::<Vec<_>>();
            ensure(
                ids(&found.records) == ids(&expected.records) && found.total == expected.total,
                format!("{term:?}: {:?} against {:?}", ids(&found.records), ids(&expected.records)),
            )?;
        }
        Ok(())
    };

    let indexed = PgStore::connect_with(&url, PgOptions { trigram_indexes: true })?;
    indexed.register(notes)?;
    insert_all(&indexed, &acme, notes, records);
    ensure(indexed.has_trigram_indexes(), "pg_trgm is installed in the throwaway cluster")?;
    ensure(trigram_indexes()? == "1", "asked for, the trigram index exists")?;
    agrees(&indexed)?;
    drop(indexed);

    let scanning = PgStore::connect(&url)?;
    scanning.register(notes)?;
    ensure(!scanning.has_trigram_indexes(), "the default has no trigram indexes")?;
    ensure(trigram_indexes()? == "0", "opened without them, the index is gone")?;
    agrees(&scanning)
}

/// Several handles opening and registering the same new kinds at once do not race on DDL.
fn concurrent_opens_and_registers(context: &Context) -> Result<(), Failed> {
    let descs: Vec<&'static EntityDesc> = (0..4)
        .map(|i| {
            desc(
                &format!("pg_race_{i}"),
                vec![
                    FieldDesc::new("name", FieldType::Text, "Name", "名称").indexed(),
                    FieldDesc::new("search", FieldType::Text, "Search", "检索").searchable(),
                ],
            )
        })
        .collect();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = context.url.clone();
            let descs = descs.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let store = PgStore::connect(&url).map_err(|e| e.to_string())?;
                for desc in descs {
                    store.register(desc).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for handle in handles {
        handle.join().map_err(|_| "a registering thread panicked")??;
    }
    let tables =
        psql(context, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'crm\\_pg\\_race\\_%'")?;
    ensure(tables == "4", format!("{tables} race tables"))
}

/// A batch larger than one insert statement's chunk lands whole, or not at all.
fn bulk_inserts_span_chunks_atomically(context: &Context) -> Result<(), Failed> {
    let store = &context.store;
    let bulk = desc(
        "pg_bulk",
        vec![
            FieldDesc::new("name", FieldType::Text, "Name", "名称").indexed(),
            FieldDesc::new("amount", FieldType::Decimal, "Amount", "金额"),
            FieldDesc::new("day", FieldType::Date, "Day", "日期"),
        ],
    );
    store.register(bulk)?;
    let acme = tenant("acme");
    let day = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).ok_or("date")?;
    let make = |id: u64| {
        let mut r = record(
            id,
            &[
                ("name", format!("name {id}").into()),
                ("amount", Decimal::new(id as i64, 2).into()),
                ("day", day.into()),
            ],
        );
        r.custom.insert("batch".into(), Value::Integer(1));
        r
    };

    let mut batch = Batch::new();
    for id in 1..=25_000 {
        batch.insert(bulk, make(id));
    }
    // The last insert collides with the first: nothing of the batch may stay.
    batch.insert(bulk, make(1));
    let failed = store.commit(&acme, &batch).err().map(|e| e.kind());
    ensure(failed == Some(StoreErrorKind::Conflict), format!("{failed:?}"))?;
    ensure(store.query(&acme, bulk, &Query::all().page(0, 1))?.total == 0, "partial batch")?;

    // A check that fails before the first insert stops the batch while its statements are
    // still being encoded; a bad record at the end refuses it before anything runs.
    let mut early = batch.clone();
    early.ops.pop();
    early.ops.insert(0, Op::Check(bulk, RecordId(99), 1));
    let mut late = batch.clone();
    late.ops.pop();
    late.insert(bulk, record(30_000, &[("day", Value::Text("not a day".into()))]));
    for (when, batch, kind) in [
        ("failed check", early, StoreErrorKind::Conflict),
        ("bad record", late, StoreErrorKind::Constraint),
    ] {
        let failed = store.commit(&acme, &batch).err().map(|e| e.kind());
        ensure(failed == Some(kind), format!("{when}: {failed:?}"))?;
        ensure(store.query(&acme, bulk, &Query::all().page(0, 1))?.total == 0, when)?;
    }

    batch.ops.pop();
    let started = std::time::Instant::now();
    store.commit(&acme, &batch)?;
    let elapsed = started.elapsed();
    let page = store.query(&acme, bulk, &Query::all().page(24_999, 5))?;
    ensure(page.total == 25_000, format!("{} stored", page.total))?;
    ensure(
        page.records
            == vec![{
                let mut r = make(25_000);
                r.version = 1;
                r
            }],
        format!("{:?}", page.records),
    )?;
    ensure(elapsed.as_secs() < 30, format!("25,000 inserts took {elapsed:?}"))
}

/// Concurrent batches that each claim under a "none match" precondition: exactly one wins.
fn none_match_claims_are_serialised(context: &Context) -> Result<(), Failed> {
    let store = context.store.clone();
    let claim =
        desc("pg_claim", vec![FieldDesc::new("slot", FieldType::Text, "Slot", "位置").indexed()]);
    store.register(claim)?;
    for round in 0..5 {
        let slot = format!("slot-{round}");
        let handles: Vec<_> = (0..6u64)
            .map(|i| {
                let store = store.clone();
                let slot = slot.clone();
                std::thread::spawn(move || {
                    let mut batch = Batch::new();
                    batch.none_match(claim, vec![Filter::Eq("slot".into(), slot.as_str().into())]);
                    batch.insert(claim, record(round * 100 + i + 1, &[("slot", slot.into())]));
                    store.commit(&tenant("acme"), &batch).map_err(|e| e.kind())
                })
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join())
            .collect::<Result<_, _>>()
            .map_err(|_| "a claiming thread panicked")?;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        ensure(wins == 1, format!("round {round}: {results:?}"))?;
        ensure(
            results.iter().all(|r| r.is_ok() || *r == Err(StoreErrorKind::Constraint)),
            format!("losers see a constraint error: {results:?}"),
        )?;
    }
    Ok(())
}

/// Making a field unique over rows that repeat a value is refused, naming them; once they
/// are told apart, the field becomes unique and the constraint holds.
fn a_field_becomes_unique_only_without_repeats(context: &Context) -> Result<(), Failed> {
    let store = &context.store;
    let plain = || FieldDesc::new("number", FieldType::Text, "Number", "编号").indexed();
    let before = desc("pg_numbered", vec![plain()]);
    store.register(before)?;
    for name in ["acme", "umbrella"] {
        let records = (1..=3).map(|id| record(id, &[("number", "N1".into())])).collect();
        insert_all(store.as_ref(), &tenant(name), before, records);
    }
    let after = desc("pg_numbered", vec![plain().unique()]);
    let error = store.register(after).expect_err("N1 is held three times");
    ensure(error.kind() == StoreErrorKind::Constraint, format!("{error}"))?;
    let message = error.to_string();
    ensure(
        message.contains(r#"tenant "acme": "N1" (3 records)"#)
            && message.contains(r#"tenant "umbrella": "N1" (3 records)"#),
        message,
    )?;
    psql(context, "UPDATE crm_pg_numbered SET number = 'N' || id")?;
    store.register(after)?;
    let mut batch = Batch::new();
    batch.insert(after, record(4, &[("number", "N1".into())]));
    let error = store.commit(&tenant("acme"), &batch).expect_err("N1 is taken");
    ensure(error.kind() == StoreErrorKind::Constraint, format!("{error}"))
}

/// A batch that cannot take its lock in time (here `lock_timeout`, as also a statement
/// timeout or a cancel) fails alone: its connection goes back to the pool rolled back, and
/// later batches on it succeed.
fn a_failed_lock_leaves_connections_usable(context: &Context) -> Result<(), Failed> {
    let url = context.cluster.create_database("crm_lock_timeout").map_err(fail)?;
    let database = url.rsplit('/').next().unwrap_or_default().to_owned();
    psql(context, &format!("ALTER DATABASE \"{database}\" SET lock_timeout = '50ms'"))?;
    let store = Arc::new(PgStore::connect(&url)?);
    let slots =
        desc("pg_slot", vec![FieldDesc::new("slot", FieldType::Text, "Slot", "位置").indexed()]);
    store.register(slots)?;
    let claim = |id: u64| {
        let mut batch = Batch::new();
        let slot = format!("s{id}");
        batch.none_match(slots, vec![Filter::Eq("slot".into(), slot.as_str().into())]);
        batch.insert(slots, record(id, &[("slot", slot.into())]));
        batch
    };

    // A long batch holds the kind's exclusive lock while short ones time out on it.
    let long = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut batch = claim(1);
            for id in 2..200_000 {
                batch.insert(slots, record(id, &[("slot", format!("s{id}").into())]));
            }
            store.commit(&tenant("acme"), &batch)
        })
    };
    let mut timed_out = 0;
    let mut id = 1_000_000;
    while !long.is_finished() {
        id += 1;
        if store.commit(&tenant("acme"), &claim(id)).is_err() {
            timed_out += 1;
        }
    }
    long.join().map_err(|_| "the long batch panicked")??;
    ensure(timed_out > 0, "no short batch waited long enough to time out")?;
    for _ in 0..20 {
        id += 1;
        store.commit(&tenant("acme"), &claim(id)).map_err(|e| fail(format!("after: {e}")))?;
    }
    Ok(())
}

/// Opening a store over tables and indexes that exist changes nothing, so it does not wait for
/// a write in progress (a long import) and hold up every writer queued behind it.
fn opening_does_not_wait_for_writes(context: &Context) -> Result<(), Failed> {
    let url = context.cluster.create_database("crm_open_busy").map_err(fail)?;
    let database = url.rsplit('/').next().unwrap_or_default().to_owned();
    let busy = desc(
        "pg_busy",
        vec![
            FieldDesc::new("owner", FieldType::Ref, "Owner", "负责人").indexed(),
            FieldDesc::new("code", FieldType::Text, "Code", "编号").unique(),
            FieldDesc::new("status", FieldType::Text, "Status", "状态").indexed(),
        ],
    );
    PgStore::connect(&url)?.register(busy)?;
    psql(context, &format!("ALTER DATABASE \"{database}\" SET lock_timeout = '200ms'"))?;
    let held = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                WHERE c.relname = 'crm_pg_busy' AND l.mode = 'RowExclusiveLock' AND l.granted";
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            context.cluster.psql(
                &url,
                "BEGIN; LOCK TABLE crm_pg_busy IN ROW EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;",
            )
        });
        let started = std::time::Instant::now();
        while context.cluster.psql(&url, held).map_err(fail)? != "1" {
            ensure(started.elapsed().as_secs() < 10, "the writer never took its lock")?;
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let opened = PgStore::connect(&url).and_then(|store| store.register(busy));
        writer.join().map_err(|_| "the writer panicked")?.map_err(fail)?;
        opened.map_err(|e| fail(format!("opening waited for the writer: {e}")))
    })
}

/// A 10,000-deep chain walks up and down in one query each, with the default walks' results.
fn deep_chains_walk_in_one_query(context: &Context) -> Result<(), Failed> {
    let store = &context.store;
    let node =
        desc("pg_node", vec![FieldDesc::new("parent", FieldType::Ref, "Parent", "上级").indexed()]);
    store.register(node)?;
    let acme = tenant("acme");
    const DEPTH: u64 = 10_000;
    let records = (1..=DEPTH)
        .map(|id| {
            if id == 1 {
                record(1, &[])
            } else {
                record(id, &[("parent", RecordId(id - 1).into())])
            }
        })
        .collect();
    insert_all(store.as_ref(), &acme, node, records);

    let started = std::time::Instant::now();
    let up = store.ancestors(&acme, node, "parent", RecordId(DEPTH), 20_000)?;
    let down = store.descendants(&acme, node, "parent", RecordId(1), 20_000)?;
    let elapsed = started.elapsed();
    ensure(up.len() == DEPTH as usize - 1, format!("{} ancestors", up.len()))?;
    ensure(up.first().map(|r| r.id) == Some(RecordId(DEPTH - 1)), "nearest ancestor first")?;
    ensure(up.last().map(|r| r.id) == Some(RecordId(1)), "root last")?;
    ensure(down.len() == DEPTH as usize - 1, format!("{} descendants", down.len()))?;
    ensure(down.first().map(|r| r.id) == Some(RecordId(2)), "nearest descendant first")?;
    ensure(elapsed.as_secs() < 20, format!("the walks took {elapsed:?}"))?;

    // The limit is exact: one ancestor too many is an error, as in the default walk.
    let short = store.ancestors(&acme, node, "parent", RecordId(DEPTH), DEPTH as usize - 2);
    ensure(short.err().map(|e| e.kind()) == Some(StoreErrorKind::Corrupt), "ancestor limit")?;
    let exact = store.ancestors(&acme, node, "parent", RecordId(DEPTH), DEPTH as usize - 1)?;
    ensure(exact.len() == DEPTH as usize - 1, "a limit equal to the depth suffices")?;
    let short = store.descendants(&acme, node, "parent", RecordId(1), DEPTH as usize - 2);
    ensure(short.err().map(|e| e.kind()) == Some(StoreErrorKind::Corrupt), "descendant limit")?;

    // A cycle ends in the limit error, never in a runaway query.
    let loop_a = record(DEPTH + 1, &[("parent", RecordId(DEPTH + 2).into())]);
    let loop_b = record(DEPTH + 2, &[("parent", RecordId(DEPTH + 1).into())]);
    insert_all(store.as_ref(), &acme, node, vec![loop_a, loop_b]);
    let up = store.ancestors(&acme, node, "parent", RecordId(DEPTH + 1), 50);
    ensure(up.err().map(|e| e.kind()) == Some(StoreErrorKind::Corrupt), "ancestor cycle")?;
    let down = store.descendants(&acme, node, "parent", RecordId(DEPTH + 1), 50);
    ensure(down.err().map(|e| e.kind()) == Some(StoreErrorKind::Corrupt), "descendant cycle")
}

/// PostgreSQL keeps instants to the microsecond; finer parts are cut on write.
fn timestamps_keep_microseconds(context: &Context) -> Result<(), Failed> {
    let store = &context.store;
    let stamp = desc("pg_stamp", vec![FieldDesc::new("at", FieldType::Timestamp, "At", "时间")]);
    store.register(stamp)?;
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).ok_or("instant")?;
    let acme = tenant("acme");
    insert_all(store.as_ref(), &acme, stamp, vec![record(1, &[("at", at.into())])]);
    let stored = store.get(&acme, stamp, RecordId(1))?.ok_or("stored")?;
    // FIXME: timestamptz keeps microseconds, so the nanoseconds of a stored instant are cut
    // (here 123_456_789 ns reads back as 123_456_000 ns); the other stores keep them whole.
    let cut = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_000).ok_or("instant")?;
    ensure(stored.get("at") == &Value::Timestamp(cut), format!("{:?}", stored.get("at")))
}

// ---------------------------------------------------------------------------------------
// Agreement with the reference store on random data and queries

/// A small deterministic generator (xorshift64*), so a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const TEXTS: &[&str] = &[
    "",
    "a",
    "A",
    "ab",
    "abc",
    "Abc",
    "abd",
    "b",
    "B",
    "ab%",
    "a_c",
    r"a\c",
    "O'Brien",
    "北京",
    "北京科技",
    "ＡＢＣ",
    "abc123",
    "zeta",
    "Zeta",
    "é",
    "e\u{301}",
    "100%",
    "~",
    " a",
];

const TYPES: &[FieldType] = &[
    FieldType::Text,
    FieldType::Integer,
    FieldType::Decimal,
    FieldType::Bool,
    FieldType::Date,
    FieldType::Timestamp,
    FieldType::Ref,
    FieldType::Bytes,
    FieldType::Json,
];

fn random_value(rng: &mut Rng, ty: FieldType) -> Value {
    match ty {
        FieldType::Text => Value::Text((*rng.pick(TEXTS)).to_owned()),
        FieldType::Integer => Value::Integer(rng.below(7) as i64 - 3),
        FieldType::Decimal => {
            Value::Decimal(Decimal::new(rng.below(9) as i64 - 4, rng.below(3) as u32))
        }
        FieldType::Bool => Value::Bool(rng.chance(50)),
        FieldType::Date => Value::Date(
            chrono::NaiveDate::from_ymd_opt(2020 + rng.below(3) as i32, 1 + rng.below(2) as u32, 1)
                .expect("valid date"),
        ),
        FieldType::Timestamp => Value::Timestamp(
            chrono::DateTime::from_timestamp_micros(
                1_700_000_000_000_000 + rng.below(4) as i64 * 1_500_000,
            )
            .expect("valid instant"),
        ),
        FieldType::Ref => Value::Ref(RecordId(rng.below(6))),
        FieldType::Bytes => {
            Value::Bytes((0..rng.below(3)).map(|_| *rng.pick(&[0u8, 1, 255])).collect())
        }
        FieldType::Json => Value::Json(
            rng.pick(&[
                serde_json::json!({"a": 1}),
                serde_json::json!([1, 2]),
                serde_json::json!("s"),
                serde_json::json!(3),
                serde_json::json!({"b": {"c": [true]}}),
            ])
            .clone(),
        ),
    }
}

/// A value of the field's type mostly, sometimes of another type or `Null`.
fn random_operand(rng: &mut Rng, ty: FieldType) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => {
            let other = *rng.pick(TYPES);
            random_value(rng, other)
        }
        _ => random_value(rng, ty),
    }
}

const CUSTOM_NAMES: &[&str] = &["tier", "note", "missing"];

fn random_filter(rng: &mut Rng, desc: &EntityDesc) -> Filter {
    if rng.chance(30) {
        let field = format!("custom.{}", rng.pick(CUSTOM_NAMES));
        let ty = *rng.pick(TYPES);
        return match rng.below(4) {
            0 => Filter::Eq(field, random_operand(rng, ty)),
            1 => Filter::In(field, (0..rng.below(4)).map(|_| random_operand(rng, ty)).collect()),
            2 => Filter::Prefix(field, (*rng.pick(TEXTS)).to_owned()),
            _ => Filter::Range {
                field,
                min: rng.chance(60).then(|| random_operand(rng, ty)),
                max: rng.chance(60).then(|| random_operand(rng, ty)),
            },
        };
    }
    let field = rng.pick(&desc.fields);
    let name = field.name.clone();
    match rng.below(6) {
        0 | 1 => Filter::Eq(name, random_operand(rng, field.ty)),
        2 => Filter::In(name, (0..rng.below(4)).map(|_| random_operand(rng, field.ty)).collect()),
        3 => Filter::Prefix(name, (*rng.pick(TEXTS)).to_owned()),
        4 => Filter::Fuzzy(name, (*rng.pick(TEXTS)).to_owned()),
        _ => Filter::Range {
            field: name,
            min: rng.chance(60).then(|| random_operand(rng, field.ty)),
            max: rng.chance(60).then(|| random_operand(rng, field.ty)),
        },
    }
}

/// Random records and queries give the same pages (or the same error kinds) as the
/// reference store.
fn agrees_with_reference_on_random_queries(context: &Context) -> Result<(), Failed> {
    let store = &context.store;
    let memory = MemoryStore::new();
    let item = desc(
        "pg_random",
        vec![
            FieldDesc::new("name", FieldType::Text, "Name", "名称").indexed().sortable(),
            FieldDesc::new("search", FieldType::Text, "Search", "检索").searchable(),
            FieldDesc::new("size", FieldType::Integer, "Size", "大小").indexed().sortable(),
            FieldDesc::new("price", FieldType::Decimal, "Price", "价格").sortable(),
            FieldDesc::new("active", FieldType::Bool, "Active", "有效").sortable(),
            FieldDesc::new("born", FieldType::Date, "Born", "出生").sortable(),
            FieldDesc::new("seen", FieldType::Timestamp, "Seen", "见于").sortable(),
            FieldDesc::new("owner", FieldType::Ref, "Owner", "负责人").indexed().sortable(),
            FieldDesc::new("blob", FieldType::Bytes, "Blob", "数据块").sortable(),
            FieldDesc::new("data", FieldType::Json, "Data", "数据").sortable(),
        ],
    );
    store.register(item)?;
    memory.register(item)?;

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for tenant_name in ["acme", "other"] {
        let tenant = tenant(tenant_name);
        let mut records = Vec::new();
        for id in 1..=240 {
            let mut r = Record::new(RecordId(id));
            for field in &item.fields {
                if rng.chance(80) {
                    let value = if field.name == "search" {
                        {
                            let text: &&str = rng.pick(TEXTS);
                            Value::Text(crm_domain::text::fold(text))
                        }
                    } else {
                        random_value(&mut rng, field.ty)
                    };
                    r.fields.insert(field.name.clone().into(), value);
                }
            }
            for name in CUSTOM_NAMES.iter().take(2) {
                if rng.chance(70) {
                    let ty = *rng.pick(TYPES);
                    r.custom.insert((*name).to_owned(), random_value(&mut rng, ty));
                }
            }
            records.push(r);
        }
        insert_all(store.as_ref(), &tenant, item, records.clone());
        insert_all(&memory, &tenant, item, records);
    }

    let acme = tenant("acme");
    let sortable: Vec<&str> =
        item.fields.iter().filter(|f| f.sortable).map(|f| f.name.as_str()).collect();
    for case in 0..1500 {
        let mut query = Query::all();
        for _ in 0..rng.below(3) {
            query = query.filter(random_filter(&mut rng, item));
        }
        for _ in 0..rng.below(3) {
            let field = rng.pick(&sortable);
            query = query.sort(if rng.chance(50) { Sort::asc(field) } else { Sort::desc(field) });
        }
        if rng.chance(50) {
            query = query.page(rng.below(30), rng.below(40));
        }
        let expected = memory.query(&acme, item, &query).map_err(|e| e.kind());
        let got = store.query(&acme, item, &query).map_err(|e| e.kind());
        ensure(
            got == expected,
            format!("case {case}: {query:?}\n got      {got:?}\n expected {expected:?}"),
        )?;

        // The same filters as a batch precondition agree too.
        if let Ok(page) = &expected {
            let mut batch = Batch::new();
            batch.none_match(item, query.filters.clone());
            let refused = store.commit(&acme, &batch).err();
            let should = (page.total > 0).then_some(StoreErrorKind::Constraint);
            ensure(
                refused.as_ref().map(|e| e.kind()) == should,
                format!("case {case}: none_match gave {refused:?} for {query:?}"),
            )?;
        }
    }
    Ok(())
}
