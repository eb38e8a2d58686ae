//! The storage contract as one suite of named cases, run against every adapter.
//!
//! Each adapter has a `harness = false` test target (`tests/memory.rs`, `tests/sled.rs`,
//! `tests/postgres.rs`) whose `main` opens a store and hands it to [`run`] (or [`run_with`]
//! to add adapter-specific trials). Every case becomes a libtest trial named
//! `<adapter>::<case>`, so output and filters name the adapter; `cargo test --test sled --
//! fuzzy` runs the fuzzy cases only. Cases run in parallel on the one store; each works in a
//! tenant of its own, so they never see each other's records.
//!
//! The reference semantics are `Query::matches`/`Query::compare`/`Query::apply` from
//! crm-domain; expected values here are written out by hand, and one case compares random
//! queries against `Query::apply`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crm_domain::text::{fold, search_text};
use crm_domain::{
    Batch, EntityDesc, FieldDesc, FieldType, Filter, Query, Record, RecordId, Sort, Store,
    StoreError, StoreErrorKind, TenantId, Value,
};
use libtest_mimic::{Arguments, Conclusion, Trial};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;

/// Runs the whole suite against `store` with the command-line arguments of the test binary
/// and returns the exit code to end `main` with. `adapter` is the store's backend name and
/// the first part of every trial name.
#[allow(dead_code, reason = "targets that add their own trials call run_with instead")]
pub fn run(adapter: &'static str, store: Arc<dyn Store>) -> ExitCode {
    run_with(adapter, store, Vec::new()).exit_code()
}

/// Runs the suite plus `extra` adapter-specific trials and returns libtest-mimic's
/// conclusion, so the caller can do more (an integrity check, removing a database) before
/// it exits.
pub fn run_with(adapter: &'static str, store: Arc<dyn Store>, extra: Vec<Trial>) -> Conclusion {
    let args = Arguments::from_args();
    let mut all = trials(adapter, store);
    all.extend(extra);
    libtest_mimic::run(&args, all)
}

/// Every case of the suite as a trial named `<adapter>::<case>`. Registers the suite's
/// entity descriptions first, one after the other, so cases never race to create tables.
pub fn trials(adapter: &'static str, store: Arc<dyn Store>) -> Vec<Trial> {
    let registered =
        [item(), node(), badge()].into_iter().try_for_each(|desc| store.register(desc));
    if let Err(error) = registered {
        return vec![Trial::test(format!("{adapter}::register"), move || {
            Err(format!("registering the suite's entities failed: {error}").into())
        })];
    }
    CASES
        .iter()
        .map(|(name, case)| {
            let store = Arc::clone(&store);
            let case = *case;
            Trial::test(format!("{adapter}::{name}"), move || {
                case(&Ctx { store, tenant: fresh_tenant(), adapter });
                Ok(())
            })
        })
        .collect()
}

/// One case: panics (through `assert!`) when the store breaks the contract.
type Case = fn(&Ctx);

const CASES: &[(&str, Case)] = &[
    ("register_is_idempotent", register_is_idempotent),
    ("round_trip_every_value_type", round_trip_every_value_type),
    ("get_many_keeps_order_and_skips_missing", get_many_keeps_order_and_skips_missing),
    ("insert_of_taken_id_conflicts", insert_of_taken_id_conflicts),
    ("update_with_stale_version_conflicts", update_with_stale_version_conflicts),
    ("delete_needs_the_stored_version", delete_needs_the_stored_version),
    ("check_op_guards_a_batch", check_op_guards_a_batch),
    ("exists_op_needs_the_record_at_any_version", exists_op_needs_the_record_at_any_version),
    ("none_match_op_guards_a_batch", none_match_op_guards_a_batch),
    ("unique_fields_refuse_a_second_holder", unique_fields_refuse_a_second_holder),
    ("failed_batch_leaves_nothing", failed_batch_leaves_nothing),
    ("batch_sees_its_earlier_ops", batch_sees_its_earlier_ops),
    ("values_of_the_wrong_type_are_refused", values_of_the_wrong_type_are_refused),
    ("filter_eq_including_null", filter_eq_including_null),
    ("filter_range_with_open_bounds", filter_range_with_open_bounds),
    ("filter_in", filter_in),
    ("filter_prefix", filter_prefix),
    ("filters_combine", filters_combine),
    ("filter_any", filter_any),
    ("filter_any_with_and_filters_sorts_and_pages", filter_any_with_and_filters_sorts_and_pages),
    ("filter_any_with_fuzzy", filter_any_with_fuzzy),
    ("none_match_with_any", none_match_with_any),
    ("fuzzy_search_folds_case_and_width", fuzzy_search_folds_case_and_width),
    ("fuzzy_search_takes_wildcards_literally", fuzzy_search_takes_wildcards_literally),
    ("fuzzy_search_combines_with_filters_and_sorts", fuzzy_search_combines_with_filters_and_sorts),
    ("sort_orders_nulls_text_and_ties", sort_orders_nulls_text_and_ties),
    ("sort_on_several_keys", sort_on_several_keys),
    ("pages_and_totals", pages_and_totals),
    ("invalid_queries_are_refused_before_running", invalid_queries_are_refused_before_running),
    ("changes_move_index_entries", changes_move_index_entries),
    ("lists_follow_changes", lists_follow_changes),
    ("tenants_are_isolated", tenants_are_isolated),
    ("sequences_hand_out_blocks", sequences_hand_out_blocks),
    ("sequences_under_concurrency", sequences_under_concurrency),
    ("concurrent_updates_one_winner_per_version", concurrent_updates_one_winner_per_version),
    ("hierarchy_walks_levels_and_stops_cycles", hierarchy_walks_levels_and_stops_cycles),
    ("hierarchy_chain_of_ten_thousand", hierarchy_chain_of_ten_thousand),
    ("error_kinds", error_kinds),
    ("random_queries_match_reference", random_queries_match_reference),
];

// ---------------------------------------------------------------------------------------
// Entities, fixtures and helpers
// ---------------------------------------------------------------------------------------

/// The suite's main kind: every field type, indexed and plain twins of each filterable
/// type, searchable and sortable text.
pub fn item() -> &'static EntityDesc {
    static DESC: LazyLock<EntityDesc> = LazyLock::new(|| {
        let f = |name: &str, ty: FieldType| FieldDesc::new(name, ty, name, name);
        EntityDesc::new(
            "conf_item",
            vec![
                f("name", FieldType::Text).indexed().sortable(),
                f("note", FieldType::Text).sortable(),
                f("code", FieldType::Text).indexed(),
                f("search", FieldType::Text).searchable(),
                f("label", FieldType::Text).searchable().sortable(),
                f("qty", FieldType::Integer).indexed().sortable(),
                f("score", FieldType::Integer).sortable(),
                f("plain", FieldType::Integer),
                f("amount", FieldType::Decimal).indexed().sortable(),
                f("price", FieldType::Decimal).sortable(),
                f("active", FieldType::Bool).indexed().sortable(),
                f("due", FieldType::Date).indexed().sortable(),
                f("born", FieldType::Date).sortable(),
                f("at", FieldType::Timestamp).indexed().sortable(),
                f("seen", FieldType::Timestamp).sortable(),
                f("parent", FieldType::Ref).indexed(),
                f("link", FieldType::Ref).sortable(),
                f("blob", FieldType::Bytes),
                f("data", FieldType::Json),
            ],
        )
        .expect("the suite's item description is valid")
    });
    &DESC
}

/// A hierarchy kind: records with an indexed parent reference.
pub fn node() -> &'static EntityDesc {
    static DESC: LazyLock<EntityDesc> = LazyLock::new(|| {
        EntityDesc::new(
            "conf_node",
            vec![
                FieldDesc::new("name", FieldType::Text, "Name", "名称").sortable(),
                FieldDesc::new("parent", FieldType::Ref, "Parent", "上级").indexed(),
            ],
        )
        .expect("the suite's node description is valid")
    });
    &DESC
}

/// A kind with unique fields: a number (text) and a serial (integer).
pub fn badge() -> &'static EntityDesc {
    static DESC: LazyLock<EntityDesc> = LazyLock::new(|| {
        EntityDesc::new(
            "conf_badge",
            vec![
                FieldDesc::new("number", FieldType::Text, "Number", "编号").unique().sortable(),
                FieldDesc::new("serial", FieldType::Integer, "Serial", "序号").unique(),
                FieldDesc::new("holder", FieldType::Text, "Holder", "持有人"),
            ],
        )
        .expect("the suite's badge description is valid")
    });
    &DESC
}

/// A kind the suite never registers.
fn unregistered() -> &'static EntityDesc {
    static DESC: LazyLock<EntityDesc> = LazyLock::new(|| {
        EntityDesc::new(
            "conf_unregistered",
            vec![FieldDesc::new("name", FieldType::Text, "Name", "名称").sortable()],
        )
        .expect("the suite's unregistered description is valid")
    });
    &DESC
}

/// A tenant no other case (and no earlier run against the same database) uses.
pub fn fresh_tenant() -> TenantId {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let started = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    TenantId::new(format!("c{}_{started}_{n}", std::process::id())).expect("valid tenant")
}

/// What a case works with.
pub struct Ctx {
    /// The store under test.
    pub store: Arc<dyn Store>,
    /// The case's own tenant.
    pub tenant: TenantId,
    /// The adapter name the suite was started with.
    pub adapter: &'static str,
}

impl Ctx {
    fn commit(&self, batch: &Batch<'_>) -> Result<(), StoreError> {
        self.store.commit(&self.tenant, batch)
    }

    fn insert_all(&self, desc: &EntityDesc, records: impl IntoIterator<Item = Record>) {
        let mut batch = Batch::new();
        for record in records {
            batch.insert(desc, record);
        }
        self.commit(&batch).expect("inserting fixture records");
    }

    fn get(&self, id: u64) -> Option<Record> {
        self.store.get(&self.tenant, item(), RecordId(id)).expect("get")
    }

    fn page(&self, query: &Query) -> (Vec<u64>, u64) {
        let page = self.store.query(&self.tenant, item(), query).expect("query");
        (page.records.iter().map(|r| r.id.0).collect(), page.total)
    }

    /// The ids matching `filters`, in id order; also checks that `total` agrees.
    fn ids(&self, filters: Vec<Filter>) -> Vec<u64> {
        let (ids, total) = self.page(&Query { filters, ..Query::default() });
        assert_eq!(total, ids.len() as u64, "total of an unpaged query");
        ids
    }

    fn sorted(&self, sorts: Vec<Sort>) -> Vec<u64> {
        self.page(&Query { sorts, ..Query::default() }).0
    }
}

/// A record of `id` with the given fields; names `custom.<x>` go to the custom fields.
fn rec(id: u64, fields: Vec<(&str, Value)>) -> Record {
    let mut record = Record::new(RecordId(id));
    for (name, value) in fields {
        match name.strip_prefix("custom.") {
            Some(custom) => {
                record.custom.insert(custom.to_owned(), value);
            }
            None => {
                record.fields.insert(name.to_owned().into(), value);
            }
        }
    }
    record
}

/// What a store returns for `record` after inserting it: version 1, `Null`s not kept.
fn as_stored(record: &Record, version: u64) -> Record {
    let mut record = record.clone();
    record.version = version;
    record.fields.retain(|_, v| !v.is_null());
    record.custom.retain(|_, v| !v.is_null());
    record
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn int(i: i64) -> Value {
    Value::Integer(i)
}

fn dec(s: &str) -> Value {
    Value::Decimal(s.parse().expect("decimal literal"))
}

fn date(s: &str) -> Value {
    Value::Date(s.parse().expect("date literal"))
}

fn ts(s: &str) -> Value {
    Value::Timestamp(s.parse().expect("timestamp literal"))
}

fn eq(field: &str, value: Value) -> Filter {
    Filter::Eq(field.to_owned(), value)
}

fn range(field: &str, min: Option<Value>, max: Option<Value>) -> Filter {
    Filter::Range { field: field.to_owned(), min, max }
}

fn one_of(field: &str, values: Vec<Value>) -> Filter {
    Filter::In(field.to_owned(), values)
}

fn prefix(field: &str, prefix: &str) -> Filter {
    Filter::Prefix(field.to_owned(), prefix.to_owned())
}

fn fuzzy(field: &str, term: &str) -> Filter {
    Filter::Fuzzy(field.to_owned(), term.to_owned())
}

fn any(filters: Vec<Filter>) -> Filter {
    Filter::Any(filters)
}

/// The error kind of a result that must be an error.
fn kind_of<T: std::fmt::Debug>(result: Result<T, StoreError>) -> StoreErrorKind {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => {
            assert!(!error.to_string().is_empty(), "errors say what failed");
            error.kind()
        }
    }
}

/// Eight records whose values exercise nulls, negatives, equal decimals of different
/// scales, ties and byte-ordered text. Each filterable type is stored three times: in an
/// indexed field, a plain field and a custom field, so every filter is checked on each.
fn fixture() -> Vec<Record> {
    type Row = (u64, Option<&'static str>, Option<i64>, Option<&'static str>);
    type More = (Option<&'static str>, Option<&'static str>, Option<&'static str>);
    let rows: [(Row, More, Option<bool>, Option<u64>); 8] = [
        (
            (1, Some("alpha"), Some(5), Some("10.50")),
            (Some("2024-01-10"), Some("2024-01-10T10:00:00Z"), Some("A-1")),
            Some(true),
            Some(100),
        ),
        (
            (2, Some("Beta"), Some(-3), Some("-2.25")),
            (Some("2023-12-31"), Some("2023-12-31T23:59:59.999999Z"), Some("A-2")),
            Some(false),
            None,
        ),
        ((3, Some("gamma"), None, None), (None, None, Some("B-1")), None, Some(100)),
        (
            (4, Some("delta"), Some(0), Some("0")),
            (Some("2024-02-29"), Some("2024-02-29T00:00:00Z"), Some("AB")),
            Some(true),
            Some(101),
        ),
        (
            (5, Some("Épée"), Some(100), Some("100.000")),
            (Some("2025-06-01"), Some("2025-06-01T12:00:00Z"), Some("A-10")),
            Some(false),
            None,
        ),
        (
            (6, Some("epsilon"), Some(-100), Some("-100")),
            (Some("1999-12-31"), Some("1999-12-31T23:59:59Z"), None),
            None,
            None,
        ),
        (
            (7, Some("a"), Some(5), Some("10.5")),
            (Some("2024-01-10"), Some("2024-01-10T10:00:00Z"), Some("A-1")),
            None,
            None,
        ),
        (
            (8, None, Some(7), Some("7.77")),
            (Some("2024-01-11"), Some("2024-01-10T10:00:00.000001Z"), Some("a-1")),
            None,
            None,
        ),
    ];
    rows.into_iter()
        .map(|((id, name, qty, amount), (due, at, code), active, parent)| {
            let name = name.map_or(Value::Null, text);
            let qty = qty.map_or(Value::Null, int);
            let amount = amount.map_or(Value::Null, dec);
            let due = due.map_or(Value::Null, date);
            let at = at.map_or(Value::Null, ts);
            rec(
                id,
                vec![
                    ("name", name.clone()),
                    ("note", name.clone()),
                    ("custom.title", name),
                    ("qty", qty.clone()),
                    ("score", qty.clone()),
                    ("custom.level", qty),
                    ("amount", amount.clone()),
                    ("price", amount.clone()),
                    ("custom.rate", amount),
                    ("due", due.clone()),
                    ("born", due.clone()),
                    ("custom.since", due),
                    ("at", at.clone()),
                    ("seen", at.clone()),
                    ("custom.stamp", at),
                    ("code", code.map_or(Value::Null, text)),
                    ("active", active.map_or(Value::Null, Value::Bool)),
                    ("parent", parent.map_or(Value::Null, |p| Value::Ref(RecordId(p)))),
                ],
            )
        })
        .collect()
}

/// The indexed, plain and custom field holding the same values.
const TEXTS: [&str; 3] = ["name", "note", "custom.title"];
const INTEGERS: [&str; 3] = ["qty", "score", "custom.level"];
const DECIMALS: [&str; 3] = ["amount", "price", "custom.rate"];
const DATES: [&str; 3] = ["due", "born", "custom.since"];
const TIMESTAMPS: [&str; 3] = ["at", "seen", "custom.stamp"];

// ---------------------------------------------------------------------------------------
// Records and batches
// ---------------------------------------------------------------------------------------

fn register_is_idempotent(ctx: &Ctx) {
    assert_eq!(ctx.store.backend(), ctx.adapter);
    ctx.store.register(item()).expect("second registration");
    ctx.store.register(node()).expect("second registration");
    ctx.insert_all(item(), [rec(1, vec![("name", text("kept"))])]);
    ctx.store.register(item()).expect("registration with records stored");
    assert_eq!(ctx.get(1).expect("still stored").get("name"), &text("kept"));
}

fn round_trip_every_value_type(ctx: &Ctx) {
    let full = rec(
        1,
        vec![
            ("name", text("Zoë 北京 'single' \"double\" %_\\ \u{1f600}")),
            ("note", text("")),
            ("code", text("A-1")),
            ("search", text(&fold("Zoë 北京"))),
            ("label", text("label")),
            ("qty", int(i64::MIN)),
            ("score", int(i64::MAX)),
            ("plain", Value::Null),
            ("amount", dec("-12345.6789")),
            ("price", dec("0.01")),
            ("active", Value::Bool(false)),
            ("due", date("2024-02-29")),
            ("born", date("1899-12-31")),
            ("at", ts("2024-05-01T08:30:00.123456Z")),
            ("seen", ts("1969-07-20T20:17:40Z")),
            ("parent", Value::Ref(RecordId(7))),
            ("link", Value::Ref(RecordId(u64::from(u32::MAX)))),
            ("blob", Value::Bytes(vec![0, 1, 2, 127, 128, 255])),
            (
                "data",
                Value::Json(serde_json::json!({
                    "list": [1, -2, {"nested": null}], "text": "x'\"", "flag": true, "n": 0
                })),
            ),
            ("custom.level", int(-42)),
            ("custom.tag", text("vip 客户")),
            ("custom.rate", dec("1.50")),
            ("custom.since", date("2000-01-01")),
            ("custom.stamp", ts("2030-12-31T23:59:59.999999Z")),
            ("custom.flag", Value::Bool(true)),
            ("custom.owner", Value::Ref(RecordId(3))),
            ("custom.raw", Value::Bytes(vec![9, 0, 9])),
            ("custom.meta", Value::Json(serde_json::json!(["a", 1, {"b": false}]))),
            ("custom.gone", Value::Null),
        ],
    );
    let mut with_version = full.clone();
    with_version.version = 7;
    let empty = rec(2, vec![("plain", Value::Null)]);
    // Already in stored form (version 1, no `Null`), as bulk callers build records.
    let mut ready = rec(3, vec![("plain", int(5)), ("custom.tag", text("t"))]);
    ready.version = 1;
    ctx.insert_all(item(), [with_version, empty.clone(), ready.clone()]);

    let read = ctx.get(1).expect("record 1 is stored");
    assert_eq!(read, as_stored(&full, 1), "what is written is what is read");
    assert_eq!(read.version, 1, "inserts store version 1 whatever the record says");
    assert_eq!(read.get("amount").display(), "-12345.6789", "decimal scale is kept");
    assert_eq!(read.get("custom.rate").display(), "1.50", "custom decimal scale is kept");
    assert_eq!(read.get("plain"), &Value::Null);
    assert!(!read.fields.contains_key("plain"), "null fields are not kept");
    assert!(!read.custom.contains_key("gone"), "null custom fields are not kept");
    assert_eq!(read.get("custom.gone"), &Value::Null);

    let read = ctx.get(2).expect("record 2 is stored");
    assert_eq!(read, as_stored(&empty, 1));
    assert!(read.fields.is_empty() && read.custom.is_empty());
    assert_eq!(ctx.get(3), Some(ready.clone()));
    assert_eq!(ctx.get(4), None);

    let page = ctx.store.query(&ctx.tenant, item(), &Query::all()).expect("query");
    assert_eq!(page.records, vec![as_stored(&full, 1), as_stored(&empty, 1), ready]);
    assert_eq!(page.total, 3);

    // The same values in a batch large enough for a store's bulk path.
    let many: Vec<Record> = (100..140)
        .map(|id| {
            let mut record = if id % 2 == 0 { full.clone() } else { empty.clone() };
            record.id = RecordId(id);
            record
        })
        .collect();
    ctx.insert_all(item(), many.clone());
    for record in many {
        assert_eq!(ctx.get(record.id.0), Some(as_stored(&record, 1)), "bulk {}", record.id);
    }
}

fn get_many_keeps_order_and_skips_missing(ctx: &Ctx) {
    ctx.insert_all(item(), (1..=3).map(|i| rec(i, vec![("qty", int(i as i64))])));
    let ids = [RecordId(3), RecordId(99), RecordId(1), RecordId(3)];
    let found = ctx.store.get_many(&ctx.tenant, item(), &ids).expect("get_many");
    let found: Vec<u64> = found.iter().map(|r| r.id.0).collect();
    assert_eq!(found, vec![3, 1, 3]);
}

fn insert_of_taken_id_conflicts(ctx: &Ctx) {
    ctx.insert_all(item(), [rec(1, vec![("name", text("first"))])]);
    let mut batch = Batch::new();
    batch.insert(item(), rec(1, vec![("name", text("second"))]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict);
    let stored = ctx.get(1).expect("stored");
    assert_eq!((stored.get("name"), stored.version), (&text("first"), 1));
    assert_eq!(ctx.ids(vec![eq("name", text("second"))]), Vec::<u64>::new());
}

fn update_with_stale_version_conflicts(ctx: &Ctx) {
    ctx.insert_all(item(), [rec(1, vec![("name", text("v1")), ("qty", int(1))])]);

    let mut update = ctx.get(1).expect("stored");
    update.set("name", "v2");
    update.set("qty", 2);
    let mut batch = Batch::new();
    batch.update(item(), update.clone());
    ctx.commit(&batch).expect("update with the stored version");
    let stored = ctx.get(1).expect("stored");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.get("name"), &text("v2"));
    assert_eq!(stored.get("qty"), &int(2));

    let mut stale = update.clone();
    stale.set("name", "lost");
    let mut batch = Batch::new();
    batch.update(item(), stale);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict);
    let stored = ctx.get(1).expect("stored");
    assert_eq!((stored.get("name"), stored.version), (&text("v2"), 2), "nothing changed");
    assert_eq!(ctx.ids(vec![eq("name", text("lost"))]), Vec::<u64>::new());

    let mut ahead = stored.clone();
    ahead.version = 5;
    let mut batch = Batch::new();
    batch.update(item(), ahead);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict, "a version ahead");

    let mut batch = Batch::new();
    batch.update(item(), rec(9, vec![("name", text("ghost"))]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict, "a missing record");
    assert_eq!(ctx.get(9), None);

    let mut cleared = ctx.get(1).expect("stored");
    cleared.fields.remove("qty");
    cleared.set("name", Value::Null);
    let mut batch = Batch::new();
    batch.update(item(), cleared);
    ctx.commit(&batch).expect("update that clears fields");
    let stored = ctx.get(1).expect("stored");
    assert_eq!(stored.version, 3);
    assert!(stored.fields.is_empty(), "cleared fields read as unset: {stored:?}");
}

fn delete_needs_the_stored_version(ctx: &Ctx) {
    ctx.insert_all(item(), [rec(1, vec![("name", text("doomed")), ("code", text("D"))])]);
    let mut batch = Batch::new();
    batch.delete(item(), RecordId(1), 2);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict);
    assert!(ctx.get(1).is_some(), "a stale delete removes nothing");

    let mut batch = Batch::new();
    batch.delete(item(), RecordId(1), 1);
    ctx.commit(&batch).expect("delete with the stored version");
    assert_eq!(ctx.get(1), None);
    assert_eq!(ctx.ids(vec![eq("name", text("doomed"))]), Vec::<u64>::new());
    assert_eq!(ctx.ids(vec![prefix("code", "D")]), Vec::<u64>::new());
    assert_eq!(ctx.page(&Query::all()), (vec![], 0));

    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict, "delete twice");
}

fn check_op_guards_a_batch(ctx: &Ctx) {
    ctx.insert_all(item(), [rec(1, vec![("name", text("guard"))])]);

    let mut batch = Batch::new();
    batch.check(item(), RecordId(1), 1).insert(item(), rec(2, vec![("name", text("two"))]));
    ctx.commit(&batch).expect("check of the stored version");
    assert!(ctx.get(2).is_some());
    assert_eq!(ctx.get(1).expect("stored").version, 1, "a check does not bump the version");

    let mut batch = Batch::new();
    batch.check(item(), RecordId(1), 2).insert(item(), rec(3, vec![("name", text("three"))]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict);
    assert_eq!(ctx.get(3), None);

    let mut batch = Batch::new();
    batch.insert(item(), rec(4, vec![])).check(item(), RecordId(99), 1);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict, "check of a missing id");
    assert_eq!(ctx.get(4), None);
}

fn exists_op_needs_the_record_at_any_version(ctx: &Ctx) {
    ctx.insert_all(item(), [rec(1, vec![("name", text("parent"))])]);
    let mut batch = Batch::new();
    batch.exists(item(), RecordId(1)).insert(item(), rec(2, vec![("name", text("child"))]));
    ctx.commit(&batch).expect("the record is stored");
    assert!(ctx.get(2).is_some());

    // An edit does not fail it: only the version moved.
    let mut edited = ctx.get(1).expect("stored");
    edited.set("name", text("parent, renamed"));
    let mut batch = Batch::new();
    batch.update(item(), edited);
    ctx.commit(&batch).expect("edit");
    let mut batch = Batch::new();
    batch.exists(item(), RecordId(1)).insert(item(), rec(3, vec![("name", text("child"))]));
    ctx.commit(&batch).expect("any version will do");
    assert_eq!(ctx.get(1).expect("stored").version, 2, "the check does not bump the version");

    // A removed record fails it, as does one the batch removes first.
    let mut batch = Batch::new();
    batch.exists(item(), RecordId(99)).insert(item(), rec(4, vec![]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict, "a missing id");
    assert_eq!(ctx.get(4), None);
    let mut batch = Batch::new();
    batch.delete(item(), RecordId(2), 1).exists(item(), RecordId(2)).insert(item(), rec(5, vec![]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict, "removed by the batch");
    assert!(ctx.get(2).is_some() && ctx.get(5).is_none(), "nothing of the batch is stored");

    // A record the batch inserts earlier is stored for it.
    let mut batch = Batch::new();
    batch.insert(item(), rec(6, vec![])).exists(item(), RecordId(6));
    ctx.commit(&batch).expect("inserted earlier in the batch");
}

fn unique_fields_refuse_a_second_holder(ctx: &Ctx) {
    let badge_of = |id: u64| ctx.store.get(&ctx.tenant, badge(), RecordId(id)).expect("get");
    let number_of = |id: u64| badge_of(id).map(|r| r.get("number").clone());
    let holder = |id: u64, number: Value, serial: Value| {
        rec(id, vec![("number", number), ("serial", serial), ("holder", text("x"))])
    };
    // Records without a value never collide.
    ctx.insert_all(
        badge(),
        [
            holder(1, text("A"), int(1)),
            holder(2, text("B"), int(2)),
            holder(3, Value::Null, Value::Null),
            holder(4, Value::Null, Value::Null),
        ],
    );

    let taken = |batch: &Batch<'_>, why: &str| {
        let error = ctx.commit(batch).expect_err(why);
        assert_eq!(error.kind(), StoreErrorKind::Constraint, "{why}: {error}");
    };
    let mut batch = Batch::new();
    batch.insert(badge(), holder(5, text("A"), int(5)));
    taken(&batch, "a stored record holds A");
    let mut batch = Batch::new();
    batch.insert(badge(), holder(5, text("C"), int(2)));
    taken(&batch, "a stored record holds serial 2");
    let mut batch = Batch::new();
    batch
        .insert(badge(), holder(5, text("C"), int(5)))
        .insert(badge(), holder(6, text("C"), int(6)));
    taken(&batch, "two records of the batch hold C");
    assert_eq!((badge_of(5), badge_of(6)), (None, None), "nothing of a refused batch is kept");

    let mut moved = badge_of(1).expect("badge 1");
    moved.set("number", text("B"));
    let mut batch = Batch::new();
    batch.update(badge(), moved.clone());
    taken(&batch, "badge 2 holds B");
    assert_eq!(number_of(1), Some(text("A")));

    // Judged by the state the batch leaves: two records may swap their values, and a value
    // freed by a delete may be taken in the same batch.
    let mut other = badge_of(2).expect("badge 2");
    other.set("number", text("A"));
    let mut batch = Batch::new();
    batch.update(badge(), moved).update(badge(), other);
    ctx.commit(&batch).expect("a swap leaves every number once");
    assert_eq!((number_of(1), number_of(2)), (Some(text("B")), Some(text("A"))));
    let mut batch = Batch::new();
    batch.delete(badge(), RecordId(2), 2).insert(badge(), holder(7, text("A"), int(7)));
    ctx.commit(&batch).expect("the delete frees A");
    assert_eq!(number_of(7), Some(text("A")));

    // Values are unique per tenant.
    let elsewhere = fresh_tenant();
    let mut batch = Batch::new();
    batch.insert(badge(), holder(1, text("A"), int(1)));
    ctx.store.commit(&elsewhere, &batch).expect("another tenant may hold A");
}

fn none_match_op_guards_a_batch(ctx: &Ctx) {
    ctx.insert_all(
        item(),
        [
            rec(1, vec![("code", text("A1")), ("custom.tag", text("vip"))]),
            rec(2, vec![("code", text("B1")), ("qty", int(3))]),
        ],
    );

    let mut batch = Batch::new();
    batch
        .none_match(item(), vec![eq("code", text("A1"))])
        .insert(item(), rec(3, vec![("code", text("A1"))]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint);
    assert_eq!(ctx.get(3), None);

    let mut batch = Batch::new();
    batch
        .insert(item(), rec(3, vec![("code", text("C1"))]))
        .none_match(item(), vec![eq("code", text("C1"))]);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint, "sees earlier ops");
    assert_eq!(ctx.get(3), None);

    let mut batch = Batch::new();
    batch
        .none_match(item(), vec![eq("code", text("C1"))])
        .insert(item(), rec(3, vec![("code", text("C1"))]));
    ctx.commit(&batch).expect("no record holds C1 yet");
    assert!(ctx.get(3).is_some());

    let mut batch = Batch::new();
    batch.delete(item(), RecordId(1), 1).none_match(item(), vec![eq("code", text("A1"))]);
    ctx.commit(&batch).expect("the earlier delete removed the only A1");
    assert_eq!(ctx.get(1), None);

    let mut batch = Batch::new();
    batch.none_match(item(), vec![eq("code", text("B1")), range("qty", Some(int(4)), None)]);
    ctx.commit(&batch).expect("every filter must match for a record to count");
    let mut batch = Batch::new();
    batch.none_match(item(), vec![eq("code", text("B1")), range("qty", Some(int(3)), None)]);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint);

    let mut batch = Batch::new();
    batch.insert(item(), rec(5, vec![("custom.tag", text("vip"))]));
    batch.none_match(item(), vec![eq("custom.tag", text("vip"))]);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint, "custom fields");

    // Many values of an indexed field (a batch's new numbers), alone and with other filters;
    // members of another type match nothing.
    let numbers = |codes: &[&str]| codes.iter().map(|c| text(c)).collect::<Vec<_>>();
    let mut batch = Batch::new();
    batch.none_match(item(), vec![one_of("code", numbers(&["X1", "B1", "Y1"]))]);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint, "one of many taken");
    let mut batch = Batch::new();
    batch.none_match(item(), vec![one_of("code", [numbers(&["X1", "Y1"]), vec![int(1)]].concat())]);
    ctx.commit(&batch).expect("no record holds X1 or Y1");
    let mut batch = Batch::new();
    batch.none_match(
        item(),
        vec![one_of("code", numbers(&["X1", "B1"])), range("qty", Some(int(4)), None)],
    );
    ctx.commit(&batch).expect("B1 is held, but by a record with qty 3");
    let mut batch = Batch::new();
    batch.none_match(
        item(),
        vec![one_of("code", numbers(&["X1", "B1"])), range("qty", Some(int(3)), None)],
    );
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint, "held with qty 3");

    let mut batch = Batch::new();
    batch.none_match(item(), vec![eq("nope", text("x"))]);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::InvalidQuery);
}

fn failed_batch_leaves_nothing(ctx: &Ctx) {
    ctx.insert_all(
        item(),
        [
            rec(1, vec![("name", text("one")), ("qty", int(1)), ("label", text("one"))]),
            rec(2, vec![("name", text("two")), ("qty", int(2))]),
        ],
    );
    // Build projections and caches first so a leak into them would show.
    assert_eq!(ctx.sorted(vec![Sort::asc("label")]), vec![2, 1]);
    assert_eq!(ctx.ids(vec![fuzzy("label", "one")]), vec![1]);

    let failing_last_ops: [fn(&mut Batch<'static>); 6] = [
        |b| {
            b.insert(item(), rec(1, vec![]));
        },
        |b| {
            b.update(item(), rec(2, vec![("name", text("stale"))]));
        },
        |b| {
            b.delete(item(), RecordId(2), 9);
        },
        |b| {
            b.check(item(), RecordId(2), 9);
        },
        |b| {
            b.none_match(item(), vec![eq("name", text("four"))]);
        },
        |b| {
            b.insert(item(), rec(7, vec![("qty", text("not a number"))]));
        },
    ];
    for (n, last) in failing_last_ops.iter().enumerate() {
        let mut update = rec(1, vec![("name", text("changed")), ("label", text("changed"))]);
        update.version = 1;
        let mut batch = Batch::new();
        batch
            .insert(item(), rec(3, vec![("name", text("three")), ("label", text("three"))]))
            .update(item(), update)
            .delete(item(), RecordId(2), 1)
            .insert(item(), rec(4, vec![("name", text("four")), ("qty", int(4))]));
        last(&mut batch);
        assert!(ctx.commit(&batch).is_err(), "batch {n} must fail");

        let one = ctx.get(1).expect("record 1 stays");
        assert_eq!((one.get("name"), one.version), (&text("one"), 1), "batch {n}");
        assert!(ctx.get(2).is_some(), "batch {n}: record 2 stays");
        assert_eq!((ctx.get(3), ctx.get(4)), (None, None), "batch {n}: nothing inserted");
        assert_eq!(ctx.page(&Query::all()), (vec![1, 2], 2), "batch {n}");
        assert_eq!(ctx.ids(vec![eq("name", text("changed"))]), Vec::<u64>::new());
        assert_eq!(ctx.ids(vec![eq("name", text("one"))]), vec![1]);
        assert_eq!(ctx.ids(vec![range("qty", Some(int(3)), None)]), Vec::<u64>::new());
        assert_eq!(ctx.ids(vec![fuzzy("label", "th")]), Vec::<u64>::new(), "batch {n}");
        assert_eq!(ctx.sorted(vec![Sort::asc("label")]), vec![2, 1], "batch {n}");
    }
}

fn batch_sees_its_earlier_ops(ctx: &Ctx) {
    let mut update = rec(1, vec![("name", text("second"))]);
    update.version = 1;
    let mut batch = Batch::new();
    batch
        .insert(item(), rec(1, vec![("name", text("first"))]))
        .update(item(), update)
        .check(item(), RecordId(1), 2)
        .insert(item(), rec(2, vec![("name", text("brief"))]))
        .delete(item(), RecordId(2), 1);
    ctx.commit(&batch).expect("ops see the ones before them");
    let stored = ctx.get(1).expect("stored");
    assert_eq!((stored.get("name"), stored.version), (&text("second"), 2));
    assert_eq!(ctx.get(2), None);
    assert_eq!(ctx.ids(vec![eq("name", text("first"))]), Vec::<u64>::new());
    assert_eq!(ctx.ids(vec![eq("name", text("second"))]), vec![1]);
    assert_eq!(ctx.ids(vec![eq("name", text("brief"))]), Vec::<u64>::new());

    ctx.commit(&Batch::new()).expect("an empty batch is fine");
}

fn values_of_the_wrong_type_are_refused(ctx: &Ctx) {
    let mut batch = Batch::new();
    batch.insert(item(), rec(1, vec![("qty", text("5"))]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint);
    let mut batch = Batch::new();
    batch.insert(item(), rec(1, vec![("undeclared", text("x"))]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint);
    assert_eq!(ctx.get(1), None);

    ctx.insert_all(item(), [rec(1, vec![("qty", int(5))])]);
    let mut update = rec(1, vec![("due", text("2024-01-01"))]);
    update.version = 1;
    let mut batch = Batch::new();
    batch.update(item(), update);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint);
    assert_eq!(ctx.get(1).expect("stored").get("qty"), &int(5));

    // JSON as deep as every store can read back is kept; deeper is refused, in a declared
    // field and in a custom one.
    let nested = |depth: usize| {
        let mut json = serde_json::json!(1);
        for _ in 1..depth {
            json = serde_json::json!([json]);
        }
        Value::Json(json)
    };
    let deepest = crm_domain::entity::MAX_JSON_DEPTH;
    ctx.insert_all(item(), [rec(2, vec![("data", nested(deepest))])]);
    assert_eq!(ctx.get(2).expect("stored").get("data"), &nested(deepest));
    for field in ["data", "custom.extra"] {
        let mut batch = Batch::new();
        batch.insert(item(), rec(3, vec![(field, nested(deepest + 1))]));
        assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint, "{field}");
    }
    assert_eq!(ctx.get(3), None);

    // The same in a bulk load, with the bad record last: wherever an undeclared name sorts
    // among the declared ones, the error names it, and nothing of the batch is kept.
    let misfits = [
        ("aaa", text("x")),
        ("mid", text("x")),
        ("zzz", text("x")),
        ("qty", text("5")),
        ("data", nested(deepest + 1)),
        ("custom.extra", nested(deepest + 1)),
    ];
    // Rows of a few hundred bytes, so the bad one comes after much of the batch may have been
    // sent.
    let note = "n".repeat(300);
    for (field, value) in misfits {
        let mut batch = Batch::new();
        for id in 10..1010 {
            let row = vec![("name", text("bulk")), ("qty", int(1)), ("note", text(&note))];
            batch.insert(item(), rec(id, row));
        }
        batch.insert(item(), rec(1010, vec![("name", text("bad")), (field, value)]));
        let error = ctx.commit(&batch).expect_err(field);
        assert_eq!(error.kind(), StoreErrorKind::Constraint, "{field}: {error}");
        let named = field.trim_start_matches("custom.");
        assert!(error.to_string().contains(named), "{field}: {error}");
        assert_eq!(ctx.get(10), None, "{field}");
    }
}

// ---------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------

fn filter_eq_including_null(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    for f in TEXTS {
        assert_eq!(ctx.ids(vec![eq(f, text("alpha"))]), vec![1], "{f}");
        assert_eq!(ctx.ids(vec![eq(f, text("Alpha"))]), Vec::<u64>::new(), "{f}");
        assert_eq!(ctx.ids(vec![eq(f, text("Épée"))]), vec![5], "{f}");
        assert_eq!(ctx.ids(vec![eq(f, Value::Null)]), vec![8], "{f}");
    }
    for f in INTEGERS {
        assert_eq!(ctx.ids(vec![eq(f, int(5))]), vec![1, 7], "{f}");
        assert_eq!(ctx.ids(vec![eq(f, int(-100))]), vec![6], "{f}");
        assert_eq!(ctx.ids(vec![eq(f, Value::Null)]), vec![3], "{f}");
        assert_eq!(ctx.ids(vec![eq(f, text("5"))]), Vec::<u64>::new(), "{f}: other type");
    }
    for f in DECIMALS {
        assert_eq!(ctx.ids(vec![eq(f, dec("10.5"))]), vec![1, 7], "{f}: scales compare equal");
        assert_eq!(ctx.ids(vec![eq(f, dec("100"))]), vec![5], "{f}");
        assert_eq!(ctx.ids(vec![eq(f, dec("0.00"))]), vec![4], "{f}");
        assert_eq!(ctx.ids(vec![eq(f, Value::Null)]), vec![3], "{f}");
    }
    for f in DATES {
        assert_eq!(ctx.ids(vec![eq(f, date("2024-01-10"))]), vec![1, 7], "{f}");
        assert_eq!(ctx.ids(vec![eq(f, Value::Null)]), vec![3], "{f}");
    }
    for f in TIMESTAMPS {
        assert_eq!(ctx.ids(vec![eq(f, ts("2024-01-10T10:00:00Z"))]), vec![1, 7], "{f}");
        assert_eq!(
            ctx.ids(vec![eq(f, ts("2024-01-10T10:00:00.000001Z"))]),
            vec![8],
            "{f}: microseconds count"
        );
        assert_eq!(ctx.ids(vec![eq(f, Value::Null)]), vec![3], "{f}");
    }
    assert_eq!(ctx.ids(vec![eq("code", Value::Null)]), vec![6]);
    assert_eq!(ctx.ids(vec![eq("active", Value::Bool(false))]), vec![2, 5]);
    assert_eq!(ctx.ids(vec![eq("active", Value::Null)]), vec![3, 6, 7, 8]);
    assert_eq!(ctx.ids(vec![eq("parent", Value::Ref(RecordId(100)))]), vec![1, 3]);
    assert_eq!(ctx.ids(vec![eq("parent", Value::Null)]), vec![2, 5, 6, 7, 8]);
    assert_eq!(ctx.ids(vec![eq("plain", Value::Null)]), (1..=8).collect::<Vec<_>>());
    assert_eq!(ctx.ids(vec![eq("custom.missing", Value::Null)]), (1..=8).collect::<Vec<_>>());
    assert_eq!(ctx.ids(vec![eq("custom.missing", int(1))]), Vec::<u64>::new());
}

fn filter_range_with_open_bounds(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    let all_set = vec![1, 2, 4, 5, 6, 7, 8];
    for f in INTEGERS {
        assert_eq!(ctx.ids(vec![range(f, Some(int(0)), Some(int(7)))]), vec![1, 4, 7, 8], "{f}");
        assert_eq!(ctx.ids(vec![range(f, None, Some(int(-1)))]), vec![2, 6], "{f}");
        assert_eq!(ctx.ids(vec![range(f, Some(int(6)), None)]), vec![5, 8], "{f}");
        assert_eq!(ctx.ids(vec![range(f, None, None)]), all_set, "{f}: nulls never match");
        assert_eq!(ctx.ids(vec![range(f, Some(int(5)), Some(int(5)))]), vec![1, 7], "{f}");
        assert_eq!(ctx.ids(vec![range(f, Some(int(8)), Some(int(6)))]), Vec::<u64>::new());
    }
    for f in DECIMALS {
        let both = range(f, Some(dec("-2.25")), Some(dec("10.500")));
        assert_eq!(ctx.ids(vec![both]), vec![1, 2, 4, 7, 8], "{f}");
        assert_eq!(ctx.ids(vec![range(f, Some(dec("10.5")), None)]), vec![1, 5, 7], "{f}");
        assert_eq!(ctx.ids(vec![range(f, None, Some(dec("-2.26")))]), vec![6], "{f}");
        assert_eq!(ctx.ids(vec![range(f, None, None)]), all_set, "{f}");
    }
    for f in DATES {
        let year = range(f, Some(date("2024-01-01")), Some(date("2024-12-31")));
        assert_eq!(ctx.ids(vec![year]), vec![1, 4, 7, 8], "{f}");
        assert_eq!(ctx.ids(vec![range(f, None, Some(date("2023-12-31")))]), vec![2, 6], "{f}");
        assert_eq!(ctx.ids(vec![range(f, Some(date("2024-02-29")), None)]), vec![4, 5], "{f}");
    }
    for f in TIMESTAMPS {
        let narrow =
            range(f, Some(ts("2024-01-10T10:00:00Z")), Some(ts("2024-01-10T10:00:00.000001Z")));
        assert_eq!(ctx.ids(vec![narrow]), vec![1, 7, 8], "{f}");
        assert_eq!(ctx.ids(vec![range(f, Some(ts("2025-01-01T00:00:00Z")), None)]), vec![5]);
        assert_eq!(ctx.ids(vec![range(f, None, Some(ts("2000-01-01T00:00:00Z")))]), vec![6]);
        let before = range(f, None, Some(ts("2023-12-31T23:59:59.999998Z")));
        assert_eq!(ctx.ids(vec![before]), vec![6], "{f}");
    }
    for f in TEXTS {
        // Byte order: upper case before lower case before non-ASCII.
        assert_eq!(ctx.ids(vec![range(f, Some(text("B")), Some(text("b")))]), vec![1, 2, 7]);
        assert_eq!(ctx.ids(vec![range(f, Some(text("e")), None)]), vec![3, 5, 6], "{f}");
        assert_eq!(ctx.ids(vec![range(f, None, Some(text("a")))]), vec![2, 7], "{f}");
        assert_eq!(ctx.ids(vec![range(f, Some(text("É")), None)]), vec![5], "{f}");
    }
    assert_eq!(ctx.ids(vec![range("active", Some(Value::Bool(true)), None)]), vec![1, 4]);
    let parents = range("parent", Some(Value::Ref(RecordId(101))), None);
    assert_eq!(ctx.ids(vec![parents]), vec![4]);
}

fn filter_in(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    for f in INTEGERS {
        assert_eq!(ctx.ids(vec![one_of(f, vec![int(5), int(0), int(999)])]), vec![1, 4, 7]);
        assert_eq!(ctx.ids(vec![one_of(f, vec![Value::Null, int(100)])]), vec![3, 5], "{f}");
        assert_eq!(ctx.ids(vec![one_of(f, vec![])]), Vec::<u64>::new(), "{f}");
        assert_eq!(ctx.ids(vec![one_of(f, vec![int(7), int(7)])]), vec![8], "{f}");
    }
    for f in DECIMALS {
        assert_eq!(ctx.ids(vec![one_of(f, vec![dec("0"), dec("100")])]), vec![4, 5], "{f}");
    }
    for f in TEXTS {
        let names = one_of(f, vec![text("alpha"), text("Épée"), text("zeta")]);
        assert_eq!(ctx.ids(vec![names]), vec![1, 5], "{f}");
    }
    for f in DATES {
        let days = one_of(f, vec![date("2024-01-11"), date("1999-12-31")]);
        assert_eq!(ctx.ids(vec![days]), vec![6, 8], "{f}");
    }
    for f in TIMESTAMPS {
        let instants = one_of(f, vec![ts("2025-06-01T12:00:00Z"), Value::Null]);
        assert_eq!(ctx.ids(vec![instants]), vec![3, 5], "{f}");
    }
    let parents = one_of("parent", vec![Value::Ref(RecordId(100)), Value::Ref(RecordId(101))]);
    assert_eq!(ctx.ids(vec![parents]), vec![1, 3, 4]);
    let mixed = one_of("qty", vec![text("5"), int(-3)]);
    assert_eq!(ctx.ids(vec![mixed]), vec![2], "values of another type match nothing");
}

fn filter_prefix(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    assert_eq!(ctx.ids(vec![prefix("code", "A-")]), vec![1, 2, 5, 7]);
    assert_eq!(ctx.ids(vec![prefix("code", "A-1")]), vec![1, 5, 7]);
    assert_eq!(ctx.ids(vec![prefix("code", "a")]), vec![8], "case-sensitive");
    assert_eq!(ctx.ids(vec![prefix("code", "A")]), vec![1, 2, 4, 5, 7]);
    assert_eq!(ctx.ids(vec![prefix("code", "")]), vec![1, 2, 3, 4, 5, 7, 8], "not null");
    assert_eq!(ctx.ids(vec![prefix("code", "A-1-")]), Vec::<u64>::new());
    assert_eq!(ctx.ids(vec![prefix("code", "A_")]), Vec::<u64>::new(), "no wildcards");
    assert_eq!(ctx.ids(vec![prefix("code", "A%")]), Vec::<u64>::new(), "no wildcards");
    for f in TEXTS {
        assert_eq!(ctx.ids(vec![prefix(f, "a")]), vec![1, 7], "{f}");
        assert_eq!(ctx.ids(vec![prefix(f, "E")]), Vec::<u64>::new(), "{f}");
        assert_eq!(ctx.ids(vec![prefix(f, "É")]), vec![5], "{f}");
        assert_eq!(ctx.ids(vec![prefix(f, "alpha")]), vec![1], "{f}");
        assert_eq!(ctx.ids(vec![prefix(f, "alphas")]), Vec::<u64>::new(), "{f}");
    }
}

fn filters_combine(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    let both = vec![eq("qty", int(5)), prefix("name", "al")];
    assert_eq!(ctx.ids(both), vec![1]);
    let both = vec![range("score", Some(int(0)), None), eq("active", Value::Bool(true))];
    assert_eq!(ctx.ids(both), vec![1, 4]);
    let three = vec![
        prefix("code", "A"),
        range("amount", None, Some(dec("10.5"))),
        eq("custom.since", date("2024-01-10")),
    ];
    assert_eq!(ctx.ids(three), vec![1, 7]);
    let none = vec![eq("qty", int(5)), eq("qty", int(7))];
    assert_eq!(ctx.ids(none), Vec::<u64>::new());
    let parent = vec![one_of("parent", vec![Value::Ref(RecordId(100))]), eq("name", Value::Null)];
    assert_eq!(ctx.ids(parent), Vec::<u64>::new());
}

fn filter_any(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    // The same checks on the indexed, the plain and the custom field of each type.
    for form in 0..3 {
        let (name, qty, amount) = (TEXTS[form], INTEGERS[form], DECIMALS[form]);
        let either = any(vec![eq(name, text("Beta")), eq(qty, int(5))]);
        assert_eq!(ctx.ids(vec![either]), vec![1, 2, 7], "{name} or {qty}");
        let unset = any(vec![eq(name, Value::Null), eq(qty, Value::Null)]);
        assert_eq!(ctx.ids(vec![unset]), vec![3, 8], "Null inside Any, {name} or {qty}");
        let kinds = any(vec![
            range(qty, Some(int(100)), None),
            prefix(name, "gam"),
            one_of(amount, vec![dec("0.00"), dec("-2.250")]),
        ]);
        assert_eq!(ctx.ids(vec![kinds]), vec![2, 3, 4, 5], "range, prefix, in: {name}");
        let overlapping = any(vec![eq(qty, int(5)), prefix(name, "a")]);
        assert_eq!(ctx.ids(vec![overlapping]), vec![1, 7], "each match counted once");
        let one = any(vec![eq(qty, int(7))]);
        assert_eq!(ctx.ids(vec![one]), vec![8], "one member: {qty}");
        let in_null = any(vec![one_of(qty, vec![Value::Null, int(0)]), eq(name, text("x"))]);
        assert_eq!(ctx.ids(vec![in_null]), vec![3, 4], "In with Null inside Any: {qty}");
    }
    let mixed = any(vec![
        eq("parent", Value::Ref(RecordId(101))),
        eq("custom.since", date("1999-12-31")),
        eq("code", text("a-1")),
        range("at", Some(ts("2025-01-01T00:00:00Z")), None),
    ]);
    assert_eq!(ctx.ids(vec![mixed]), vec![4, 5, 6, 8], "members on four kinds of field");
    assert_eq!(ctx.ids(vec![any(Vec::new())]), Vec::<u64>::new(), "an empty Any");
    let nothing = vec![any(Vec::new()), eq("qty", int(5))];
    assert_eq!(ctx.ids(nothing), Vec::<u64>::new(), "an empty Any with another filter");
    let mismatched = any(vec![eq("qty", text("5")), eq("name", int(5))]);
    assert_eq!(ctx.ids(vec![mismatched]), Vec::<u64>::new(), "values of another type");
}

fn filter_any_with_and_filters_sorts_and_pages(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    let with_and = vec![
        any(vec![eq("qty", int(5)), eq("active", Value::Bool(false))]),
        prefix("code", "A"),
        range("due", Some(date("2024-01-01")), None),
    ];
    assert_eq!(ctx.ids(with_and), vec![1, 5, 7]);
    let two = vec![
        any(vec![eq("qty", int(5)), eq("score", int(100))]),
        any(vec![eq("code", text("A-10")), eq("active", Value::Bool(true))]),
    ];
    assert_eq!(ctx.ids(two), vec![1, 5], "two Anys hold together");
    let custom_and =
        vec![any(vec![eq("name", Value::Null), eq("qty", int(5))]), eq("custom.level", int(5))];
    assert_eq!(ctx.ids(custom_and), vec![1, 7]);

    let some = any(vec![
        eq("active", Value::Bool(true)),
        eq("qty", Value::Null),
        range("amount", None, Some(dec("-100"))),
    ]);
    let sorted = Query::all().filter(some.clone()).sort(Sort::desc("name"));
    assert_eq!(ctx.page(&sorted), (vec![3, 6, 4, 1], 4));
    assert_eq!(ctx.page(&sorted.clone().page(1, 2)), (vec![6, 4], 4));
    assert_eq!(ctx.page(&sorted.clone().page(10, 2)), (vec![], 4), "a page past the end");
    let by_two = Query::all()
        .filter(any(vec![eq("qty", int(5)), eq("qty", int(7)), eq("qty", int(-3))]))
        .sort(Sort::asc("due"))
        .sort(Sort::desc("at"))
        .page(1, 10);
    assert_eq!(ctx.page(&by_two), (vec![1, 7, 8], 4), "ties on due broken by at, then id");
    let unsorted = Query::all().filter(some).page(0, 3);
    assert_eq!(ctx.page(&unsorted), (vec![1, 3, 4], 4), "by id without sorts");
}

fn filter_any_with_fuzzy(ctx: &Ctx) {
    let labels = ["Delta Ltd", "alpha co", "ALPHA Holdings", "beta", "Alphabet", "gamma"];
    ctx.insert_all(
        item(),
        labels.iter().zip(1u64..).map(|(label, id)| {
            rec(
                id,
                vec![
                    ("label", text(&fold(label))),
                    ("search", text(&fold(label))),
                    ("qty", int((id % 2) as i64)),
                    ("score", int(10 - id as i64)),
                    ("custom.level", int(id as i64)),
                ],
            )
        }),
    );
    let alpha_or_even = any(vec![fuzzy("label", "ALPHA"), eq("qty", int(0))]);
    assert_eq!(ctx.ids(vec![alpha_or_even]), vec![2, 3, 4, 5, 6]);
    let two_terms = any(vec![fuzzy("label", "ltd"), fuzzy("search", "Bet")]);
    assert_eq!(ctx.ids(vec![two_terms]), vec![1, 4, 5]);
    let literal = any(vec![fuzzy("label", "%"), fuzzy("label", "_")]);
    assert_eq!(ctx.ids(vec![literal]), Vec::<u64>::new(), "wildcards stay literal");
    let beside =
        vec![fuzzy("label", "a"), any(vec![eq("score", int(9)), eq("custom.level", int(6))])];
    assert_eq!(ctx.ids(beside), vec![1, 6], "a fuzzy filter beside an Any");
    let custom = vec![any(vec![fuzzy("label", "alpha"), eq("custom.level", int(1))])];
    assert_eq!(ctx.ids(custom), vec![1, 2, 3, 5], "fuzzy or custom");

    let sorted = Query::all()
        .filter(any(vec![fuzzy("label", "alpha"), eq("score", int(6))]))
        .sort(Sort::asc("score"));
    assert_eq!(ctx.page(&sorted), (vec![5, 4, 3, 2], 4));
    assert_eq!(ctx.page(&sorted.page(1, 2)), (vec![4, 3], 4));
    let searched = Query::all()
        .filter(fuzzy("label", "l"))
        .filter(any(vec![fuzzy("search", "co"), eq("score", int(5))]))
        .sort(Sort::desc("label"))
        .page(0, 1);
    assert_eq!(ctx.page(&searched), (vec![5], 2), "alphabet and alpha co, largest first");
}

fn none_match_with_any(ctx: &Ctx) {
    ctx.insert_all(
        item(),
        [
            rec(1, vec![("code", text("A1")), ("qty", int(3))]),
            rec(2, vec![("code", text("B1")), ("custom.tag", text("vip"))]),
        ],
    );
    let mut batch = Batch::new();
    batch
        .none_match(item(), vec![any(vec![eq("code", text("Z9")), eq("custom.tag", text("vip"))])])
        .insert(item(), rec(3, vec![("code", text("C1"))]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint);
    assert_eq!(ctx.get(3), None);

    let mut batch = Batch::new();
    batch
        .insert(item(), rec(3, vec![("code", text("C1"))]))
        .none_match(item(), vec![any(vec![eq("code", text("C1")), eq("qty", int(99))])]);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint, "sees earlier ops");
    assert_eq!(ctx.get(3), None);

    let mut batch = Batch::new();
    batch
        .none_match(item(), vec![any(vec![eq("code", text("C1")), eq("qty", int(99))])])
        .none_match(item(), vec![any(Vec::new())])
        .none_match(item(), vec![any(vec![eq("code", text("A1"))]), eq("qty", int(4))])
        .insert(item(), rec(3, vec![("code", text("C1"))]));
    ctx.commit(&batch).expect("no record matches any of these");
    assert!(ctx.get(3).is_some());
}

/// Records whose search text (folded, as services store it) exercises case, width,
/// Chinese and the wildcard and quote characters of SQL.
fn search_fixture() -> Vec<Record> {
    let texts: [Option<&str>; 12] = [
        Some("Alfreds Futterkiste\u{1f}Berlin"),
        Some("ABC Trading"),
        Some("ＡＢＣ株式会社"),
        Some("北京科技有限公司"),
        Some("100% pure"),
        Some("under_score"),
        Some("back\\slash"),
        Some("it's"),
        Some("say \"hi\""),
        Some("100 percent"),
        Some("underscore"),
        None,
    ];
    texts
        .iter()
        .zip(1u64..)
        .map(|(t, id)| {
            let search = t.map_or(Value::Null, |t| text(&search_text(t.split('\u{1f}'))));
            rec(id, vec![("search", search), ("qty", int((id % 3) as i64))])
        })
        .collect()
}

fn fuzzy_search_folds_case_and_width(ctx: &Ctx) {
    ctx.insert_all(item(), search_fixture());
    assert_eq!(ctx.get(3).expect("stored").get("search"), &text("abc株式会社"));
    for term in ["abc", "ABC", "aBc", "ＡＢＣ", "ａｂｃ"] {
        assert_eq!(ctx.ids(vec![fuzzy("search", term)]), vec![2, 3], "{term}");
    }
    assert_eq!(ctx.ids(vec![fuzzy("search", "科技")]), vec![4]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "北京科技有限公司")]), vec![4]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "株式")]), vec![3]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "BERLIN")]), vec![1]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "TRADING")]), vec![2]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "kiste berlin")]), Vec::<u64>::new(), "parts");
    assert_eq!(ctx.ids(vec![fuzzy("search", "zzz")]), Vec::<u64>::new());
    assert_eq!(ctx.ids(vec![fuzzy("search", "")]), (1..=11).collect::<Vec<_>>(), "not null");
}

fn fuzzy_search_takes_wildcards_literally(ctx: &Ctx) {
    ctx.insert_all(item(), search_fixture());
    assert_eq!(ctx.ids(vec![fuzzy("search", "%")]), vec![5]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "100%")]), vec![5]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "0%p")]), Vec::<u64>::new());
    assert_eq!(ctx.ids(vec![fuzzy("search", "_")]), vec![6]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "r_s")]), vec![6]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "\\")]), vec![7]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "k\\s")]), vec![7]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "'")]), vec![8]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "it's")]), vec![8]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "\"")]), vec![9]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "\"hi\"")]), vec![9]);
    assert_eq!(ctx.ids(vec![fuzzy("search", "*")]), Vec::<u64>::new());
    assert_eq!(ctx.ids(vec![fuzzy("search", "[a-z]")]), Vec::<u64>::new());
}

fn fuzzy_search_combines_with_filters_and_sorts(ctx: &Ctx) {
    let labels = ["Delta Ltd", "alpha co", "ALPHA Holdings", "beta", "Alphabet", "gamma"];
    ctx.insert_all(
        item(),
        labels.iter().zip(1u64..).map(|(label, id)| {
            rec(
                id,
                vec![
                    ("label", text(&fold(label))),
                    ("qty", int((id % 2) as i64)),
                    ("score", int(10 - id as i64)),
                    ("custom.level", int(id as i64)),
                ],
            )
        }),
    );
    assert_eq!(ctx.ids(vec![fuzzy("label", "ALPHA")]), vec![2, 3, 5]);
    let with_index = vec![fuzzy("label", "alpha"), eq("qty", int(1))];
    assert_eq!(ctx.ids(with_index), vec![3, 5]);
    let with_plain = vec![fuzzy("label", "alpha"), range("score", Some(int(7)), None)];
    assert_eq!(ctx.ids(with_plain), vec![2, 3]);
    let with_custom = vec![fuzzy("label", "alpha"), one_of("custom.level", vec![int(2), int(5)])];
    assert_eq!(ctx.ids(with_custom), vec![2, 5]);
    let two_terms = vec![fuzzy("label", "alpha"), fuzzy("label", "co")];
    assert_eq!(ctx.ids(two_terms), vec![2]);

    let sorted = Query::all().filter(fuzzy("label", "a")).sort(Sort::asc("label"));
    assert_eq!(ctx.page(&sorted), (vec![2, 3, 5, 4, 1, 6], 6), "byte order: ' ' < 'b'");
    let page = Query::all().filter(fuzzy("label", "alpha")).sort(Sort::desc("label")).page(1, 1);
    assert_eq!(ctx.page(&page), (vec![3], 3));
    let by_score = Query::all().filter(fuzzy("label", "l")).sort(Sort::asc("score"));
    assert_eq!(ctx.page(&by_score), (vec![5, 3, 2, 1], 4));
}

// ---------------------------------------------------------------------------------------
// Sorting and paging
// ---------------------------------------------------------------------------------------

fn sort_orders_nulls_text_and_ties(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    for f in ["name", "note"] {
        assert_eq!(ctx.sorted(vec![Sort::asc(f)]), vec![8, 2, 7, 1, 4, 6, 3, 5], "{f}");
        assert_eq!(ctx.sorted(vec![Sort::desc(f)]), vec![5, 3, 6, 4, 1, 7, 2, 8], "{f}");
    }
    for f in ["qty", "score"] {
        assert_eq!(ctx.sorted(vec![Sort::asc(f)]), vec![3, 6, 2, 4, 1, 7, 8, 5], "{f}");
        assert_eq!(ctx.sorted(vec![Sort::desc(f)]), vec![5, 8, 1, 7, 4, 2, 6, 3], "{f}");
    }
    for f in ["amount", "price"] {
        assert_eq!(ctx.sorted(vec![Sort::asc(f)]), vec![3, 6, 2, 4, 8, 1, 7, 5], "{f}");
        assert_eq!(ctx.sorted(vec![Sort::desc(f)]), vec![5, 1, 7, 8, 4, 2, 6, 3], "{f}");
    }
    for f in ["due", "born"] {
        assert_eq!(ctx.sorted(vec![Sort::asc(f)]), vec![3, 6, 2, 1, 7, 8, 4, 5], "{f}");
    }
    for f in ["at", "seen"] {
        assert_eq!(ctx.sorted(vec![Sort::desc(f)]), vec![5, 4, 8, 1, 7, 2, 6, 3], "{f}");
    }
    assert_eq!(ctx.sorted(vec![Sort::asc("active")]), vec![3, 6, 7, 8, 2, 5, 1, 4]);
    assert_eq!(ctx.sorted(vec![]), (1..=8).collect::<Vec<_>>(), "by id without sorts");
}

fn sort_on_several_keys(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    let sorts = vec![Sort::asc("active"), Sort::desc("qty")];
    assert_eq!(ctx.sorted(sorts), vec![8, 7, 6, 3, 5, 2, 1, 4]);
    let sorts = vec![Sort::desc("due"), Sort::desc("name")];
    assert_eq!(ctx.sorted(sorts), vec![5, 4, 8, 1, 7, 2, 6, 3]);
    let sorts = vec![Sort::asc("amount"), Sort::desc("name")];
    assert_eq!(ctx.sorted(sorts), vec![3, 6, 2, 4, 8, 1, 7, 5]);
}

fn pages_and_totals(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    let by_name = Query::all().sort(Sort::asc("name"));
    assert_eq!(ctx.page(&by_name.clone().page(0, 3)), (vec![8, 2, 7], 8));
    assert_eq!(ctx.page(&by_name.clone().page(2, 3)), (vec![7, 1, 4], 8));
    assert_eq!(ctx.page(&by_name.clone().page(7, 5)), (vec![5], 8));
    assert_eq!(ctx.page(&by_name.clone().page(8, 5)), (vec![], 8));
    assert_eq!(ctx.page(&by_name.clone().page(100, 5)), (vec![], 8));
    assert_eq!(ctx.page(&by_name.clone().page(0, 0)), (vec![], 8));
    let mut offset_only = by_name.clone();
    offset_only.offset = 6;
    assert_eq!(ctx.page(&offset_only), (vec![3, 5], 8));

    let filtered =
        Query::all().filter(range("qty", Some(int(0)), None)).sort(Sort::desc("qty")).page(1, 2);
    assert_eq!(ctx.page(&filtered), (vec![8, 1], 5));
    assert_eq!(ctx.page(&Query::all().page(0, 3)), (vec![1, 2, 3], 8));
    assert_eq!(ctx.page(&Query::all().page(6, 3)), (vec![7, 8], 8));
    let plain = Query::all().filter(eq("plain", Value::Null)).page(3, 2);
    assert_eq!(ctx.page(&plain), (vec![4, 5], 8));
}

fn invalid_queries_are_refused_before_running(ctx: &Ctx) {
    ctx.insert_all(item(), fixture());
    let invalid = |query: Query| kind_of(ctx.store.query(&ctx.tenant, item(), &query));
    for field in ["nope", "blob", "data", "code", "parent", "plain", "custom.level", "search"] {
        let query = Query::all().sort(Sort::asc(field));
        assert_eq!(invalid(query), StoreErrorKind::InvalidQuery, "sort on {field}");
    }
    let filters = [
        eq("nope", int(1)),
        eq("custom.", int(1)),
        eq("blob", Value::Bytes(vec![1])),
        eq("data", Value::Json(serde_json::json!(1))),
        range("blob", None, None),
        one_of("data", vec![]),
        prefix("qty", "1"),
        prefix("due", "2024"),
        fuzzy("name", "alpha"),
        fuzzy("custom.title", "alpha"),
        fuzzy("nope", "x"),
        any(vec![eq("qty", int(1)), eq("nope", int(1))]),
        any(vec![fuzzy("name", "alpha")]),
        any(vec![prefix("qty", "1")]),
        any(vec![eq("data", Value::Json(serde_json::json!(1)))]),
        any(vec![eq("custom.", int(1))]),
        any(vec![fuzzy("custom.title", "alpha")]),
        any(vec![any(vec![eq("qty", int(1))])]),
        any(vec![eq("qty", int(1)), any(Vec::new())]),
    ];
    for filter in filters {
        let query = Query::all().filter(filter.clone());
        assert_eq!(invalid(query), StoreErrorKind::InvalidQuery, "{filter:?}");
    }
    // Validation comes first: an invalid query on an unregistered kind is still invalid.
    let query = Query::all().sort(Sort::asc("nope"));
    let result = ctx.store.query(&ctx.tenant, unregistered(), &query);
    assert_eq!(kind_of(result), StoreErrorKind::InvalidQuery);
}

fn changes_move_index_entries(ctx: &Ctx) {
    let fields = |name: &str, qty: i64, when: &str| {
        vec![
            ("name", text(name)),
            ("code", text(name)),
            ("label", text(name)),
            ("search", text(name)),
            ("qty", int(qty)),
            ("amount", Value::Decimal(Decimal::new(qty, 1))),
            ("due", date(when)),
            ("parent", Value::Ref(RecordId(qty as u64))),
        ]
    };
    ctx.insert_all(item(), [rec(1, fields("old", 1, "2024-01-01")), rec(2, vec![])]);
    let probes = |name: &str, qty: i64, when: &str| {
        vec![
            ctx.ids(vec![eq("name", text(name))]),
            ctx.ids(vec![prefix("code", name)]),
            ctx.ids(vec![fuzzy("search", name)]),
            ctx.ids(vec![fuzzy("label", name)]),
            ctx.ids(vec![range("qty", Some(int(qty)), Some(int(qty)))]),
            ctx.ids(vec![eq("amount", Value::Decimal(Decimal::new(qty * 10, 2)))]),
            ctx.ids(vec![one_of("due", vec![date(when)])]),
            ctx.ids(vec![eq("parent", Value::Ref(RecordId(qty as u64)))]),
        ]
    };
    assert_eq!(probes("old", 1, "2024-01-01"), vec![vec![1]; 8]);

    let mut update = rec(1, fields("new", 2, "2024-02-02"));
    update.version = 1;
    let mut batch = Batch::new();
    batch.update(item(), update);
    ctx.commit(&batch).expect("update");
    assert_eq!(probes("old", 1, "2024-01-01"), vec![Vec::<u64>::new(); 8], "old entries gone");
    assert_eq!(probes("new", 2, "2024-02-02"), vec![vec![1]; 8], "new entries present");
    assert_eq!(ctx.ids(vec![eq("name", Value::Null)]), vec![2]);

    let mut batch = Batch::new();
    batch.delete(item(), RecordId(1), 2);
    ctx.commit(&batch).expect("delete");
    assert_eq!(probes("new", 2, "2024-02-02"), vec![Vec::<u64>::new(); 8], "entries removed");
    assert_eq!(ctx.ids(vec![eq("name", Value::Null)]), vec![2]);
}

fn lists_follow_changes(ctx: &Ctx) {
    let row = |id: u64, label: &str, score: i64| {
        rec(id, vec![("label", text(label)), ("score", int(score)), ("name", text(label))])
    };
    ctx.insert_all(item(), [row(1, "b", 2), row(2, "a", 1), row(3, "c", 3)]);
    let by_label = Query::all().sort(Sort::asc("label"));
    let by_score = Query::all().sort(Sort::desc("score")).page(0, 2);
    assert_eq!(ctx.page(&by_label), (vec![2, 1, 3], 3));
    assert_eq!(ctx.page(&by_score), (vec![3, 1], 3));
    assert_eq!(ctx.ids(vec![fuzzy("label", "c")]), vec![3]);

    let mut update = row(2, "d", 9);
    update.version = 1;
    let mut batch = Batch::new();
    batch.update(item(), update).delete(item(), RecordId(3), 1).insert(item(), row(4, "0c", 0));
    ctx.commit(&batch).expect("changes");
    assert_eq!(ctx.page(&by_label), (vec![4, 1, 2], 3));
    assert_eq!(ctx.page(&by_score), (vec![2, 1], 3));
    assert_eq!(ctx.ids(vec![fuzzy("label", "c")]), vec![4]);
    assert_eq!(ctx.ids(vec![fuzzy("label", "d")]), vec![2]);
    let page = ctx.store.query(&ctx.tenant, item(), &by_score).expect("query");
    assert_eq!(page.records[0].get("label"), &text("d"), "pages carry current records");
    assert_eq!(page.records[0].version, 2);
}

// ---------------------------------------------------------------------------------------
// Tenants, sequences, concurrency
// ---------------------------------------------------------------------------------------

fn tenants_are_isolated(ctx: &Ctx) {
    let a = ctx;
    let b = Ctx { store: Arc::clone(&ctx.store), tenant: fresh_tenant(), adapter: ctx.adapter };
    a.insert_all(
        item(),
        [
            rec(1, vec![("name", text("secret")), ("label", text("secret")), ("qty", int(1))]),
            rec(2, vec![("name", text("other")), ("parent", Value::Ref(RecordId(1)))]),
        ],
    );

    assert_eq!(b.get(1), None, "not even by id");
    assert_eq!(b.page(&Query::all()), (vec![], 0));
    assert_eq!(b.ids(vec![eq("name", text("secret"))]), Vec::<u64>::new());
    assert_eq!(b.ids(vec![fuzzy("label", "secret")]), Vec::<u64>::new());
    assert_eq!(b.ids(vec![range("qty", None, None)]), Vec::<u64>::new());
    assert_eq!(b.page(&Query::all().sort(Sort::asc("label"))), (vec![], 0));
    let found = b.store.get_many(&b.tenant, item(), &[RecordId(1), RecordId(2)]).expect("many");
    assert!(found.is_empty());
    let children = b.store.descendants(&b.tenant, item(), "parent", RecordId(1), 10);
    assert!(children.expect("descendants").is_empty());

    let mut batch = Batch::new();
    batch.update(item(), Record { version: 1, ..rec(1, vec![("name", text("stolen"))]) });
    assert_eq!(kind_of(b.commit(&batch)), StoreErrorKind::Conflict);
    let mut batch = Batch::new();
    batch.delete(item(), RecordId(1), 1);
    assert_eq!(kind_of(b.commit(&batch)), StoreErrorKind::Conflict);
    let mut batch = Batch::new();
    batch.check(item(), RecordId(1), 1);
    assert_eq!(kind_of(b.commit(&batch)), StoreErrorKind::Conflict);

    b.insert_all(item(), [rec(1, vec![("name", text("mine"))])]);
    let mut batch = Batch::new();
    batch.none_match(item(), vec![eq("name", text("mine"))]);
    a.commit(&batch).expect("tenant A does not see B's record");

    let secret = a.get(1).expect("A keeps its record");
    assert_eq!((secret.get("name"), secret.version), (&text("secret"), 1));
    assert_eq!(b.get(1).expect("B has its own").get("name"), &text("mine"));
    assert_eq!(a.page(&Query::all()).1, 2);

    let first_a = a.store.next_in_sequence(&a.tenant, "invoice", 5).expect("sequence");
    let first_b = b.store.next_in_sequence(&b.tenant, "invoice", 1).expect("sequence");
    assert_eq!((first_a, first_b), (1, 1), "sequences are per tenant");
}

fn sequences_hand_out_blocks(ctx: &Ctx) {
    let next = |name: &str, count: u64| {
        ctx.store.next_in_sequence(&ctx.tenant, name, count).expect("sequence")
    };
    assert_eq!(next("order", 1), 1);
    assert_eq!(next("order", 10), 2);
    assert_eq!(next("order", 1), 12);
    assert_eq!(next("quote", 3), 1, "each name counts on its own");
    assert_eq!(next("order", 2), 13);
    assert_eq!(next("quote", 1), 4);
    let zero = ctx.store.next_in_sequence(&ctx.tenant, "order", 0);
    assert_eq!(kind_of(zero), StoreErrorKind::Constraint, "a block of no numbers");
    assert_eq!(next("order", 1), 15);

    // Several sequences at once, new and used, each block as a call of its own gives it.
    let several = |wanted: &[(&str, u64)]| ctx.store.next_in_sequences(&ctx.tenant, wanted);
    assert_eq!(
        several(&[("order", 5), ("invoice", 2), ("quote", 1)]).expect("sequences"),
        vec![16, 1, 5]
    );
    assert_eq!(several(&[("invoice", 1), ("order", 1)]).expect("sequences"), vec![3, 21]);
    assert_eq!(
        several(&[("order", 1), ("order", 2)]).expect("sequences"),
        vec![22, 23],
        "a name twice"
    );
    assert_eq!(several(&[]).expect("sequences"), Vec::<u64>::new());
    let zero = several(&[("invoice", 1), ("order", 0)]);
    assert_eq!(kind_of(zero), StoreErrorKind::Constraint, "a block of no numbers");
    assert_eq!(next("order", 1), 25);
}

fn sequences_under_concurrency(ctx: &Ctx) {
    const THREADS: u64 = 8;
    const CALLS: u64 = 40;
    let blocks: Vec<(u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    (0..CALLS)
                        .map(|i| {
                            let count = 1 + (t + i) % 3;
                            let first = ctx
                                .store
                                .next_in_sequence(&ctx.tenant, "shared", count)
                                .expect("sequence");
                            (first, count)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
    });
    let mut numbers: Vec<u64> =
        blocks.iter().flat_map(|(first, count)| *first..first + count).collect();
    let handed_out = numbers.len();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), handed_out, "no number is handed out twice");
    let expected: Vec<u64> = (1..=handed_out as u64).collect();
    assert_eq!(numbers, expected, "blocks are consecutive and leave no gap");
}

fn concurrent_updates_one_winner_per_version(ctx: &Ctx) {
    const THREADS: usize = 8;
    const ROUNDS: u64 = 5;
    ctx.insert_all(item(), [rec(1, vec![("name", text("start")), ("label", text("start"))])]);
    for round in 0..ROUNDS {
        let barrier = Barrier::new(THREADS);
        let results: Vec<(usize, Result<(), StoreError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let mut record = ctx.get(1).expect("stored");
                        assert_eq!(record.version, round + 1);
                        record.set("name", format!("t{t}r{round}"));
                        record.set("label", format!("t{t}r{round}"));
                        barrier.wait();
                        let mut batch = Batch::new();
                        batch.update(item(), record);
                        (t, ctx.commit(&batch))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let winners: Vec<usize> =
            results.iter().filter(|(_, r)| r.is_ok()).map(|(t, _)| *t).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one update wins");
        for (t, result) in &results {
            if let Err(error) = result {
                assert_eq!(error.kind(), StoreErrorKind::Conflict, "thread {t}: {error}");
            }
        }
        let stored = ctx.get(1).expect("stored");
        assert_eq!(stored.version, round + 2);
        let name = text(&format!("t{}r{round}", winners[0]));
        assert_eq!(stored.get("name"), &name, "the winner's write is the one stored");
        assert_eq!(ctx.ids(vec![eq("name", name.clone())]), vec![1]);
        assert_eq!(ctx.ids(vec![fuzzy("label", &format!("r{round}"))]), vec![1]);
    }
    assert_eq!(ctx.page(&Query::all().sort(Sort::asc("label"))).1, 1);
}

// ---------------------------------------------------------------------------------------
// Hierarchies
// ---------------------------------------------------------------------------------------

fn node_rec(id: u64, parent: Option<u64>) -> Record {
    rec(
        id,
        vec![
            ("name", text(&format!("n{id}"))),
            ("parent", parent.map_or(Value::Null, |p| Value::Ref(RecordId(p)))),
        ],
    )
}

fn ids_of(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.id.0).collect()
}

fn hierarchy_walks_levels_and_stops_cycles(ctx: &Ctx) {
    ctx.insert_all(
        node(),
        [
            node_rec(1, None),
            node_rec(3, Some(1)),
            node_rec(2, Some(1)),
            node_rec(4, Some(3)),
            node_rec(5, Some(2)),
            node_rec(6, Some(4)),
            node_rec(7, Some(8)),
            node_rec(8, Some(7)),
            node_rec(9, Some(404)),
        ],
    );
    let (store, tenant) = (&ctx.store, &ctx.tenant);
    let down =
        |id: u64, limit: usize| store.descendants(tenant, node(), "parent", RecordId(id), limit);
    let up = |id: u64, limit: usize| store.ancestors(tenant, node(), "parent", RecordId(id), limit);

    assert_eq!(ids_of(&down(1, 100).expect("walk")), vec![2, 3, 4, 5, 6], "level by level");
    assert_eq!(ids_of(&down(3, 100).expect("walk")), vec![4, 6]);
    assert_eq!(ids_of(&down(6, 100).expect("walk")), Vec::<u64>::new());
    assert_eq!(ids_of(&up(6, 100).expect("walk")), vec![4, 3, 1], "nearest first");
    assert_eq!(ids_of(&up(1, 100).expect("walk")), Vec::<u64>::new());
    assert_eq!(ids_of(&up(9, 100).expect("walk")), Vec::<u64>::new(), "missing parent");
    assert_eq!(ids_of(&up(404, 100).expect("walk")), Vec::<u64>::new(), "missing record");
    let full = down(1, 100).expect("walk");
    assert_eq!(full[0].get("name"), &text("n2"), "whole records are returned");

    assert_eq!(kind_of(up(7, 50)), StoreErrorKind::Corrupt, "a cycle upwards");
    assert_eq!(kind_of(down(7, 50)), StoreErrorKind::Corrupt, "a cycle downwards");
    assert_eq!(kind_of(down(1, 3)), StoreErrorKind::Corrupt, "more than the limit");
}

fn hierarchy_chain_of_ten_thousand(ctx: &Ctx) {
    const DEPTH: u64 = 10_000;
    for chunk in (1..=DEPTH).collect::<Vec<_>>().chunks(1_000) {
        ctx.insert_all(node(), chunk.iter().map(|&id| node_rec(id, (id > 1).then(|| id - 1))));
    }
    let (store, tenant) = (&ctx.store, &ctx.tenant);
    let limit = 2 * DEPTH as usize;

    let started = Instant::now();
    let ancestors = store.ancestors(tenant, node(), "parent", RecordId(DEPTH), limit);
    let ancestors_took = started.elapsed();
    assert_eq!(ids_of(&ancestors.expect("ancestors")), (1..DEPTH).rev().collect::<Vec<_>>());

    let started = Instant::now();
    let descendants = store.descendants(tenant, node(), "parent", RecordId(1), limit);
    let descendants_took = started.elapsed();
    assert_eq!(ids_of(&descendants.expect("descendants")), (2..=DEPTH).collect::<Vec<_>>());

    let middle = store.descendants(tenant, node(), "parent", RecordId(DEPTH - 2), limit);
    assert_eq!(ids_of(&middle.expect("descendants")), vec![DEPTH - 1, DEPTH]);
    let bounded = store.ancestors(tenant, node(), "parent", RecordId(DEPTH), 100);
    assert_eq!(kind_of(bounded), StoreErrorKind::Corrupt);

    // Generous bounds for a debug build on a loaded machine; the point is "not quadratic".
    let bound = Duration::from_secs(30);
    assert!(ancestors_took < bound, "ancestors took {ancestors_took:?}");
    assert!(descendants_took < bound, "descendants took {descendants_took:?}");
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

fn error_kinds(ctx: &Ctx) {
    let (store, tenant) = (&ctx.store, &ctx.tenant);
    let ghost = unregistered();
    assert_eq!(kind_of(store.get(tenant, ghost, RecordId(1))), StoreErrorKind::NotFound);
    assert_eq!(kind_of(store.query(tenant, ghost, &Query::all())), StoreErrorKind::NotFound);
    let mut batch = Batch::new();
    batch.insert(ghost, rec(1, vec![]));
    assert_eq!(kind_of(store.commit(tenant, &batch)), StoreErrorKind::NotFound);

    ctx.insert_all(item(), [rec(1, vec![("code", text("X"))])]);
    let mut batch = Batch::new();
    batch.insert(item(), rec(1, vec![]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict);
    let message = ctx.commit(&batch).expect_err("taken id").to_string();
    assert!(message.contains("conf_item") && message.contains('1'), "names kind and id");
    // The same at the end of a bulk load of rows of a few hundred bytes: nothing is kept.
    let mut batch = Batch::new();
    for id in 2..1002 {
        batch.insert(item(), rec(id, vec![("note", text(&"n".repeat(300)))]));
    }
    batch.insert(item(), rec(1, vec![]));
    let message = ctx.commit(&batch).expect_err("taken id in bulk").to_string();
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict, "{message}");
    assert!(message.contains("conf_item") && message.contains('1'), "{message}");
    assert_eq!(ctx.get(2), None);
    // A taken id early in a bulk load and a misfit at its end: the taken id is reported,
    // nothing is kept, and every later batch still goes through.
    let mut batch = Batch::new();
    for id in 2..1002 {
        let id = if id == 12 { 1 } else { id };
        batch.insert(item(), rec(id, vec![("note", text(&"n".repeat(300)))]));
    }
    batch.insert(item(), rec(1002, vec![("undeclared", text("x"))]));
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Conflict);
    assert_eq!(ctx.get(2), None);
    for id in 3000..3012 {
        ctx.insert_all(item(), [rec(id, vec![])]);
    }
    assert!(ctx.get(3011).is_some());

    let mut batch = Batch::new();
    batch.none_match(item(), vec![eq("code", text("X"))]);
    assert_eq!(kind_of(ctx.commit(&batch)), StoreErrorKind::Constraint);

    let query = Query::all().filter(eq("nope", int(1)));
    assert_eq!(kind_of(store.query(tenant, item(), &query)), StoreErrorKind::InvalidQuery);
}

// ---------------------------------------------------------------------------------------
// Random queries against the reference semantics
// ---------------------------------------------------------------------------------------

/// How a field's values are drawn.
#[derive(Clone, Copy)]
enum Draw {
    Text,
    Folded,
    Integer,
    Decimal,
    Date,
    Timestamp,
    Bool,
    Ref,
}

const FIELDS: [(&str, Draw); 18] = [
    ("name", Draw::Text),
    ("note", Draw::Text),
    ("code", Draw::Text),
    ("search", Draw::Folded),
    ("label", Draw::Folded),
    ("qty", Draw::Integer),
    ("score", Draw::Integer),
    ("plain", Draw::Integer),
    ("amount", Draw::Decimal),
    ("price", Draw::Decimal),
    ("active", Draw::Bool),
    ("due", Draw::Date),
    ("born", Draw::Date),
    ("at", Draw::Timestamp),
    ("seen", Draw::Timestamp),
    ("parent", Draw::Ref),
    ("custom.level", Draw::Integer),
    ("custom.tag", Draw::Text),
];

const SORTABLE: [&str; 13] = [
    "name", "note", "label", "qty", "score", "amount", "price", "active", "due", "born", "at",
    "seen", "link",
];

const WORDS: [&str; 10] = ["", "a", "A", "ab", "b", "é", "北京", "a%b", "a_b", "Ab"];

/// A value of `draw` chosen by `b`; about one in eight is `Null`.
fn draw(kind: Draw, b: u8) -> Value {
    if b % 8 == 7 {
        return Value::Null;
    }
    let word = WORDS[usize::from(b) % WORDS.len()];
    let small = i64::from(b % 7) - 3;
    match kind {
        Draw::Text => text(word),
        Draw::Folded => text(&fold(word)),
        Draw::Integer => int(small),
        Draw::Decimal => {
            let mantissa = [-10, -1, 0, 1, 10, 100][usize::from(b) % 6];
            Value::Decimal(Decimal::new(mantissa, u32::from(b / 8 % 3)))
        }
        Draw::Date => date(&format!("2024-01-{:02}", 1 + b % 5)),
        Draw::Timestamp => {
            ts(&format!("2024-01-01T00:00:0{}.{:06}Z", b % 3, u32::from(b / 3 % 2) * 500_000))
        }
        Draw::Bool => Value::Bool(b % 2 == 0),
        Draw::Ref => Value::Ref(RecordId(u64::from(b % 4) + 1)),
    }
}

fn random_record(id: u64, bytes: &[u8; 20]) -> Record {
    let mut fields: Vec<(&str, Value)> =
        FIELDS.iter().zip(bytes).map(|((name, kind), b)| (*name, draw(*kind, *b))).collect();
    fields.push(("link", draw(Draw::Ref, bytes[18])));
    rec(id, fields)
}

fn random_filter(a: u8, b: u8, c: u8) -> Filter {
    let (field, kind) = FIELDS[usize::from(a) % FIELDS.len()];
    let textual = matches!(kind, Draw::Text | Draw::Folded);
    match b % 5 {
        1 => {
            let min = draw(kind, c);
            let max = draw(kind, c.wrapping_mul(7).wrapping_add(b));
            range(field, (!min.is_null()).then_some(min), (!max.is_null()).then_some(max))
        }
        2 => one_of(field, vec![draw(kind, c), draw(kind, (c / 3).wrapping_add(b))]),
        3 if textual => prefix(field, WORDS[usize::from(c) % WORDS.len()]),
        4 if matches!(kind, Draw::Folded) => {
            let terms = ["a", "A", "Ａ", "b", "%", "_", "北", "é", "É", "", "ab", "x"];
            fuzzy(field, terms[usize::from(c) % terms.len()])
        }
        _ => eq(field, draw(kind, c)),
    }
}

/// A random query: up to three filters, up to two sorts and a page. Bits 2 and 3 of `q[0]`
/// decide how the filters join: all together (half the queries), all in one `Any` (empty
/// when there are none), or the first alone beside an `Any` of the others.
fn random_query(q: &[u8; 16]) -> Query {
    let mut query = Query::all();
    for i in 0..usize::from(q[0] % 4) {
        query.filters.push(random_filter(q[1 + 3 * i], q[2 + 3 * i], q[3 + 3 * i]));
    }
    match (q[0] >> 2) & 3 {
        2 => query.filters = vec![any(std::mem::take(&mut query.filters))],
        3 => {
            let rest = query.filters.split_off(query.filters.len().min(1));
            query.filters.push(any(rest));
        }
        _ => {}
    }
    for j in 0..usize::from(q[10] % 3) {
        let field = SORTABLE[usize::from(q[11 + j]) % SORTABLE.len()];
        let sort = if q[11 + j] & 0x80 == 0 { Sort::asc(field) } else { Sort::desc(field) };
        query.sorts.push(sort);
    }
    query.offset = u64::from(q[14] % 5);
    query.limit = (q[15] % 7 != 6).then_some(u64::from(q[15] % 7));
    query
}

fn random_queries_match_reference(ctx: &Ctx) {
    use proptest::collection::vec;
    use proptest::prelude::any;

    let config = Config { cases: 64, failure_persistence: None, ..Config::default() };
    let rng = proptest::test_runner::TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let strategy = (vec(any::<[u8; 20]>(), 0..24), vec(any::<[u8; 16]>(), 6));
    let result = runner.run(&strategy, |(rows, queries)| {
        let tenant = fresh_tenant();
        let records: Vec<Record> =
            rows.iter().zip(1u64..).map(|(bytes, id)| random_record(id, bytes)).collect();
        let mut batch = Batch::new();
        for record in &records {
            batch.insert(item(), record.clone());
        }
        ctx.store.commit(&tenant, &batch).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let stored: Vec<Record> = records.iter().map(|r| as_stored(r, 1)).collect();

        for q in &queries {
            let query = random_query(q);
            let page = ctx
                .store
                .query(&tenant, item(), &query)
                .map_err(|e| TestCaseError::fail(format!("{query:?}: {e}")))?;
            let (expected, total) = query.apply(stored.iter().cloned());
            proptest::prop_assert_eq!(
                ids_of(&page.records),
                ids_of(&expected),
                "query {:?}",
                query
            );
            proptest::prop_assert_eq!(&page.records, &expected);
            proptest::prop_assert_eq!(page.total, total, "total of {:?}", query);
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("store results differ from Query::apply: {failure}");
    }
}
