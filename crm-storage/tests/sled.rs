//! The conformance suite against the sled store, plus what only sled has: reopening a
//! database, in-memory index rebuilds when a description changes, and the integrity check,
//! which also runs over everything the suite left behind.

mod conformance;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_domain::text::fold;
use crm_domain::{
    Batch, EntityDesc, FieldDesc, FieldType, Filter, Query, Record, RecordId, Sort, Store, Value,
};
use crm_storage::SledStore;
use libtest_mimic::{Failed, Trial};

fn main() -> ExitCode {
    let store = match SledStore::temporary() {
        Ok(store) => Arc::new(store),
        Err(error) => {
            eprintln!("cannot open a temporary sled store: {error}");
            return ExitCode::FAILURE;
        }
    };
    let extra = vec![
        trial("integrity_after_changes", {
            let store = Arc::clone(&store);
            move || integrity_after_changes(&store)
        }),
        trial("reopen_keeps_records_registrations_and_sequences", reopen_keeps_everything),
        trial("register_change_rebuilds_indexes", register_change_rebuilds_indexes),
        trial("fuzzy_search_over_many_records", fuzzy_search_over_many_records),
    ];
    let conclusion = conformance::run_with("sled", Arc::clone(&store) as Arc<dyn Store>, extra);

    // Everything the suite wrote must still be consistent.
    match store.check_integrity() {
        Ok(report) if report.is_sound() => conclusion.exit_code(),
        Ok(report) => {
            eprintln!("integrity check after the suite failed: {report:#?}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("integrity check after the suite could not run: {error}");
            ExitCode::FAILURE
        }
    }
}

fn trial(name: &str, test: impl FnOnce() -> Result<(), Failed> + Send + 'static) -> Trial {
    Trial::test(format!("sled::{name}"), test)
}

fn desc(code_indexed: bool) -> EntityDesc {
    let code = FieldDesc::new("code", FieldType::Text, "Code", "编码");
    EntityDesc::new(
        "sled_thing",
        vec![
            FieldDesc::new("name", FieldType::Text, "Name", "名称").sortable().searchable(),
            if code_indexed { code.indexed() } else { code },
            FieldDesc::new("qty", FieldType::Integer, "Quantity", "数量").indexed(),
        ],
    )
    .expect("valid description")
}

fn thing(id: u64, name: &str, code: &str) -> Record {
    let mut record = Record::new(RecordId(id));
    record.set("name", name);
    record.set("code", code);
    record.set("qty", id as i64);
    record
}

fn ids(page: &crm_domain::Page) -> Vec<u64> {
    page.records.iter().map(|r| r.id.0).collect()
}

fn sound(store: &SledStore) -> Result<crm_storage::IntegrityReport, Failed> {
    let report = store.check_integrity()?;
    if report.is_sound() {
        Ok(report)
    } else {
        Err(format!("integrity problems: {:#?}", report.problems).into())
    }
}

fn integrity_after_changes(store: &SledStore) -> Result<(), Failed> {
    let item = conformance::item();
    let tenant = conformance::fresh_tenant();
    let mut batch = Batch::new();
    for id in 1..=20u64 {
        let mut record = Record::new(RecordId(id));
        record.set("name", format!("n{id}"));
        record.set("label", fold(&format!("Label {id}")));
        record.set("qty", (id % 4) as i64);
        record.set("parent", RecordId(id / 2));
        batch.insert(item, record);
    }
    store.commit(&tenant, &batch)?;
    // Build the projection, then change records under it.
    let sorted = store.query(&tenant, item, &Query::all().sort(Sort::desc("label")))?;
    assert_eq!(sorted.total, 20);
    let mut batch = Batch::new();
    for id in 1..=10u64 {
        let mut record = store.get(&tenant, item, RecordId(id))?.ok_or("record missing")?;
        record.set("qty", 99);
        record.set("label", "changed");
        batch.update(item, record);
    }
    for id in 11..=15u64 {
        batch.delete(item, RecordId(id), 1);
    }
    store.commit(&tenant, &batch)?;
    let report = sound(store)?;
    assert!(report.records >= 15 && report.projection_rows >= 15, "{report:?}");
    let changed =
        store.query(&tenant, item, &Query::all().filter(Filter::Eq("qty".into(), 99.into())))?;
    assert_eq!(ids(&changed), (1..=10).collect::<Vec<_>>());
    Ok(())
}

fn reopen_keeps_everything() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let tenant = conformance::fresh_tenant();
    let desc = desc(true);
    {
        let store = SledStore::open(dir.path())?;
        store.register(&desc)?;
        let mut batch = Batch::new();
        batch.insert(&desc, thing(1, "alpha", "A")).insert(&desc, thing(2, "beta", "B"));
        store.commit(&tenant, &batch)?;
        assert_eq!(store.next_in_sequence(&tenant, "invoice", 10)?, 1);
        store.flush()?;
    }
    let store = SledStore::open(dir.path())?;
    // No registration: the description is kept in the database.
    let stored = store.get(&tenant, &desc, RecordId(2))?.ok_or("record 2 missing")?;
    assert_eq!(stored.get("name"), &Value::from("beta"));
    assert_eq!(stored.version, 1);
    let by_code = Query::all().filter(Filter::Eq("code".into(), "A".into()));
    assert_eq!(ids(&store.query(&tenant, &desc, &by_code)?), vec![1]);
    let fuzzy = Query::all().filter(Filter::Fuzzy("name".into(), "ETA".into()));
    assert_eq!(ids(&store.query(&tenant, &desc, &fuzzy)?), vec![2]);
    assert_eq!(store.next_in_sequence(&tenant, "invoice", 1)?, 11);
    sound(&store)?;
    Ok(())
}

fn register_change_rebuilds_indexes() -> Result<(), Failed> {
    let store = SledStore::temporary()?;
    let (plain, indexed) = (desc(false), desc(true));
    let tenants = [conformance::fresh_tenant(), conformance::fresh_tenant()];
    store.register(&plain)?;
    for (n, tenant) in tenants.iter().enumerate() {
        let mut batch = Batch::new();
        for id in 1..=3u64 {
            batch.insert(&plain, thing(id, &format!("t{n}"), &format!("C{id}")));
        }
        store.commit(tenant, &batch)?;
    }
    // Indexes live in memory and are built by the first query that wants them.
    assert_eq!(sound(&store)?.index_entries, 0, "nothing built yet");
    let by_qty = Query::all().filter(Filter::Eq("qty".into(), 2.into()));
    for tenant in &tenants {
        assert_eq!(ids(&store.query(tenant, &plain, &by_qty)?), vec![2]);
    }
    let before = sound(&store)?;
    assert_eq!(before.index_entries, 6, "qty only: {before:?}");

    store.register(&indexed)?;
    assert_eq!(sound(&store)?.index_entries, 0, "registering drops the built indexes");
    let by_code = Query::all().filter(Filter::Prefix("code".into(), "C2".into()));
    for tenant in &tenants {
        assert_eq!(ids(&store.query(tenant, &indexed, &by_code)?), vec![2]);
    }
    let after = sound(&store)?;
    assert_eq!(after.index_entries, 12, "qty and code: {after:?}");
    store.register(&indexed)?;
    assert_eq!(sound(&store)?.index_entries, 12, "registering again changes nothing");

    store.register(&plain)?;
    assert_eq!(ids(&store.query(&tenants[1], &plain, &by_code)?), vec![2]);
    assert_eq!(ids(&store.query(&tenants[1], &plain, &by_qty)?), vec![2]);
    assert_eq!(sound(&store)?.index_entries, 3, "a field no longer indexed has no entries");
    Ok(())
}

fn fuzzy_search_over_many_records() -> Result<(), Failed> {
    const RECORDS: u64 = 20_000;
    let store = SledStore::temporary()?;
    let desc = desc(true);
    store.register(&desc)?;
    let tenant = conformance::fresh_tenant();
    for chunk in (1..=RECORDS).collect::<Vec<_>>().chunks(5_000) {
        let mut batch = Batch::new();
        for &id in chunk {
            batch.insert(&desc, thing(id, &fold(&format!("Customer {id} 公司")), "C"));
        }
        store.commit(&tenant, &batch)?;
    }
    let query = |term: &str| {
        Query::all()
            .filter(Filter::Fuzzy("name".into(), term.into()))
            .sort(Sort::asc("name"))
            .page(0, 20)
    };
    let first = store.query(&tenant, &desc, &query("1234"))?;
    let expected = (1..=RECORDS).filter(|id| id.to_string().contains("1234")).count();
    assert_eq!(first.total, expected as u64);
    assert_eq!(first.records[0].get("name"), &Value::from("customer 11234 公司"));

    let mut slowest = Duration::ZERO;
    for n in 0..20u64 {
        let started = Instant::now();
        let page = store.query(&tenant, &desc, &query(&format!("customer {}", 100 + n * 7)))?;
        slowest = slowest.max(started.elapsed());
        assert!(page.total >= 1 && page.records.len() <= 20);
    }
    let everything = store.query(&tenant, &desc, &query("公司"))?;
    assert_eq!(everything.total, RECORDS);
    assert_eq!(everything.records.len(), 20);
    // A debug build is many times slower than the benchmark's release build; this only
    // catches a search that decodes every record.
    assert!(slowest < Duration::from_secs(2), "slowest fuzzy search took {slowest:?}");
    Ok(())
}
