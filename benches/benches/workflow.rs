//! The workflow benchmark: many approval requests open at once, each user's to-do list read
//! while they are, and tasks approved one by one, on sled and on PostgreSQL.
//!
//! A one-node flow sends each request to the manager of its submitter's unit; the submitters
//! are spread over `CRM_BENCH_USERS` units (default 1,000), so each manager has about
//! `CRM_BENCH_INSTANCES / CRM_BENCH_USERS` open tasks (default 100,000 requests). The bench
//! times the submissions, `todo(user, 0, 50)` for `CRM_BENCH_TODO_QUERIES` random managers
//! (default 1,000) and `CRM_BENCH_APPROVALS` single approvals (default 2,000).
//! `CRM_BENCH_ONLY` limits the run to `sled` or `postgres`.
//!
//! Run with `cargo bench -p crm-benches --bench workflow`. Without `--bench` (as
//! `cargo test --benches` runs it) it does a small smoke run and fails when a to-do list does
//! not hold exactly the tasks submitted for (and not yet approved by) its user.
//!
//! PostgreSQL comes from `crm-test-support`: a throwaway cluster, or a fresh database on the
//! server named by `CRM_TEST_PG_URL`.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use crm_benches::data::{XorShift, SEED};
use crm_benches::report::thousands;
use crm_benches::stats::{ms, rows_per_second, timed, Latencies};
use crm_domain::{FieldType, RecordId, Store, TenantId, Value};
use crm_storage::{PgStore, SledStore};
use crm_test_support::PgCluster;
use crm_workflow::{
    Action, Actor, Definition, DefinitionCache, FormField, MemoryDirectory, TaskId, WorkflowStore,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The page of every to-do lookup, as a to-do screen shows it.
const PAGE: u64 = 50;

/// To-do lookups made untimed before the timed ones, so caches are warm.
const WARM_UP_LOOKUPS: usize = 20;

/// The target the to-do latency is reported against.
const SLED_TODO_P99_TARGET_MS: f64 = 5.0;

/// The flow: one approval by the manager of the submitter's unit.
const FLOW: &str = r#"
name = "bench_approval"
form = "quote"
nodes = [
  { id = "start", type = "start" },
  { id = "manager", type = "approval", label = "Manager", approvers = [{ unit_manager = 0 }] },
  { id = "end", type = "end" },
]
edges = [{ from = "start", to = "manager" }, { from = "manager", to = "end" }]
"#;

/// Where the ids of the generated organisation start: managers, units, submitters, records.
const MANAGER_BASE: u64 = 1_000_000;
const UNIT_BASE: u64 = 2_000_000;
const SUBMITTER_BASE: u64 = 3_000_000;
const RECORD_BASE: u64 = 10_000_000;

/// What to run, from the environment.
#[derive(Debug, Clone)]
struct Config {
    instances: usize,
    users: usize,
    lookups: usize,
    approvals: usize,
    sled: bool,
    postgres: bool,
    /// A smoke run under `cargo test`: small, and every to-do count is checked.
    smoke: bool,
}

impl Config {
    fn from_env() -> Result<Self, BoxError> {
        let smoke = !std::env::args().any(|a| a == "--bench");
        let number = |name: &str, default: usize| -> Result<usize, BoxError> {
            match std::env::var(name) {
                Ok(text) => {
                    let value: usize =
                        text.trim().replace(['_', ','], "").parse().map_err(|_| {
                            format!("{name}={text:?} is not a positive whole number")
                        })?;
                    if value == 0 {
                        return Err(format!("{name} must be at least 1").into());
                    }
                    Ok(value)
                }
                Err(_) => Ok(default),
            }
        };
        let instances = number("CRM_BENCH_INSTANCES", if smoke { 500 } else { 100_000 })?;
        let users = number("CRM_BENCH_USERS", if smoke { 20 } else { 1_000 })?;
        let lookups = number("CRM_BENCH_TODO_QUERIES", if smoke { 100 } else { 1_000 })?;
        let approvals = number("CRM_BENCH_APPROVALS", if smoke { 100 } else { 2_000 })?;
        let only = std::env::var("CRM_BENCH_ONLY").unwrap_or_default();
        let (sled, postgres) = match only.trim() {
            "" => (true, true),
            "sled" => (true, false),
            "postgres" => (false, true),
            other => return Err(format!("CRM_BENCH_ONLY={other:?}: use sled or postgres").into()),
        };
        Ok(Self {
            instances,
            users,
            lookups,
            approvals: approvals.min(instances),
            sled,
            postgres,
            smoke,
        })
    }
}

/// The generated organisation and which unit each request comes from.
struct Workload {
    directory: MemoryDirectory,
    /// The unit index (0..users) of each request, in submission order.
    units: Vec<usize>,
    /// The managers picked for the timed to-do lookups, by unit index.
    lookups: Vec<usize>,
}

fn manager(unit: usize) -> RecordId {
    RecordId(MANAGER_BASE + unit as u64)
}

fn submitter(unit: usize) -> RecordId {
    RecordId(SUBMITTER_BASE + unit as u64)
}

impl Workload {
    fn generate(config: &Config) -> Self {
        let mut directory = MemoryDirectory::new();
        for unit in 0..config.users {
            let id = RecordId(UNIT_BASE + unit as u64);
            directory = directory
                .unit(id, None, Some(manager(unit)))
                .user(manager(unit), id)
                .user(submitter(unit), id);
        }
        let mut rng = XorShift::new(SEED);
        let users = config.users as u64;
        let units = (0..config.instances).map(|_| rng.below(users) as usize).collect();
        let lookups = (0..config.lookups).map(|_| rng.below(users) as usize).collect();
        Self { directory, units, lookups }
    }

    /// How many requests went to each unit's manager.
    fn expected(&self, users: usize) -> Vec<u64> {
        let mut counts = vec![0; users];
        for unit in &self.units {
            counts[*unit] += 1;
        }
        counts
    }
}

/// A task left open by a submission: the instance, the task and the unit whose manager has it.
#[derive(Debug, Clone, Copy)]
struct OpenTask {
    instance: RecordId,
    task: TaskId,
    unit: usize,
}

/// What one store measured.
#[derive(Debug)]
struct StoreRun {
    submit: Duration,
    todo: Latencies,
    approve: Duration,
    /// Items on the pages the timed lookups returned, summed.
    items_seen: u64,
    /// To-do counts that did not match what was submitted (checked in smoke runs).
    mismatches: Vec<String>,
}

/// A fixed instant the bench's clock starts from, so every run stores the same times.
fn epoch() -> Result<DateTime<Utc>, BoxError> {
    Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0).single().ok_or_else(|| "bad epoch".into())
}

/// Compares every manager's to-do total (and first page) with `expected`.
fn check_counts(
    wf: &WorkflowStore<'_>,
    expected: &[u64],
    when: &str,
) -> Result<Vec<String>, BoxError> {
    let mut mismatches = Vec::new();
    for (unit, want) in expected.iter().enumerate() {
        let page = wf.todo(manager(unit), 0, PAGE)?;
        let shown = page.items.len() as u64;
        let wrong_owner = page.items.iter().any(|i| i.assignee != manager(unit));
        if page.total != *want || shown != (*want).min(PAGE) || wrong_owner {
            mismatches.push(format!(
                "{when}: manager of unit {unit} has {} open ({shown} on the page), expected {want}",
                page.total
            ));
        }
    }
    Ok(mismatches)
}

/// Submits every request, reads to-do lists, approves tasks: the measured part on one store.
fn run_store(
    name: &str,
    store: &dyn Store,
    config: &Config,
    workload: &Workload,
) -> Result<StoreRun, BoxError> {
    let tenant = TenantId::new("bench")?;
    WorkflowStore::register(store)?;
    // As the facade runs it: definition versions are read and validated once.
    let cache = DefinitionCache::default();
    let wf = WorkflowStore::new(store, &tenant).with_cache(&cache);
    let fields = vec![FormField::new("note", FieldType::Text)];
    let start_time = epoch()?;
    wf.define(&Definition::from_toml(FLOW)?, &fields, start_time)?;
    let form = BTreeMap::from([("note".to_owned(), Value::from("bench request"))]);

    eprintln!("{name}: submitting {} requests", config.instances);
    let mut open = Vec::with_capacity(config.approvals);
    let started = Instant::now();
    let mut last_report = Instant::now();
    for (n, unit) in workload.units.iter().enumerate() {
        let at = start_time + chrono::Duration::seconds(n as i64 + 1);
        let record = RecordId(RECORD_BASE + n as u64);
        let outcome = wf.submit(
            "bench_approval",
            record,
            submitter(*unit),
            form.clone(),
            at,
            &workload.directory,
        )?;
        if open.len() < config.approvals {
            let task = outcome
                .state
                .open_tasks_of(manager(*unit))
                .next()
                .ok_or_else(|| format!("request {n} opened no task for its manager"))?;
            open.push(OpenTask { instance: outcome.instance, task: task.id, unit: *unit });
        }
        if last_report.elapsed() > Duration::from_secs(15) {
            last_report = Instant::now();
            let so_far = started.elapsed();
            eprintln!(
                "{name}: {} submitted in {:.0} s ({:.0}/s)",
                n + 1,
                so_far.as_secs_f64(),
                rows_per_second(n + 1, so_far)
            );
        }
    }
    let submit = started.elapsed();

    let mut expected = workload.expected(config.users);
    let mut mismatches = Vec::new();
    if config.smoke {
        mismatches.extend(check_counts(&wf, &expected, "after submitting")?);
    }

    eprintln!("{name}: {} to-do lookups", workload.lookups.len());
    for unit in workload.lookups.iter().take(WARM_UP_LOOKUPS) {
        wf.todo(manager(*unit), 0, PAGE)?;
    }
    let mut samples = Vec::with_capacity(workload.lookups.len());
    let mut items_seen = 0;
    for unit in &workload.lookups {
        let (page, took) = timed(|| wf.todo(manager(*unit), 0, PAGE));
        let page = page?;
        samples.push(took);
        items_seen += page.items.len() as u64;
        if page.total != expected[*unit] {
            mismatches.push(format!(
                "lookup: manager of unit {unit} has {} open, expected {}",
                page.total, expected[*unit]
            ));
        }
    }

    eprintln!("{name}: {} approvals", open.len());
    let decided_at = start_time + chrono::Duration::days(1);
    let (approved, approve) = timed(|| -> Result<(), BoxError> {
        for task in &open {
            wf.act(
                task.instance,
                Actor::user(manager(task.unit)),
                Action::approve(task.task),
                decided_at,
                &workload.directory,
            )?;
        }
        Ok(())
    });
    approved?;
    for task in &open {
        expected[task.unit] -= 1;
    }
    if config.smoke {
        mismatches.extend(check_counts(&wf, &expected, "after approving")?);
    }
    Ok(StoreRun { submit, todo: Latencies::new(samples), approve, items_seen, mismatches })
}

fn bench_sled(config: &Config, workload: &Workload) -> Result<StoreRun, BoxError> {
    let store = SledStore::temporary()?;
    run_store("sled", &store, config, workload)
}

fn bench_postgres(config: &Config, workload: &Workload) -> Result<StoreRun, BoxError> {
    eprintln!("postgres: starting a throwaway cluster (or using CRM_TEST_PG_URL)");
    let cluster = PgCluster::start()?;
    let url = cluster.create_database("bench_workflow")?;
    let store = PgStore::connect(&url)?;
    let run = run_store("postgres", &store, config, workload);
    drop(store);
    drop(cluster);
    run
}

/// The table: one column per store, then the verdict and the notes.
fn render(
    config: &Config,
    sled: Option<&StoreRun>,
    postgres: Option<&StoreRun>,
) -> (String, Vec<String>) {
    let approvals = config.approvals;
    type Figure<'c> = (&'static str, Box<dyn Fn(&StoreRun) -> String + 'c>);
    let figures: Vec<Figure<'_>> = vec![
        (
            "submissions/s",
            Box::new(|r: &StoreRun| thousands(rows_per_second(config.instances, r.submit))),
        ),
        ("submit total (s)", Box::new(|r: &StoreRun| format!("{:.1}", r.submit.as_secs_f64()))),
        (
            "to-do p50/p99 (ms)",
            Box::new(|r: &StoreRun| format!("{:.2}/{:.2}", ms(r.todo.p50()), ms(r.todo.p99()))),
        ),
        ("to-do max (ms)", Box::new(|r: &StoreRun| format!("{:.2}", ms(r.todo.max())))),
        (
            "approvals/s",
            Box::new(move |r: &StoreRun| thousands(rows_per_second(approvals, r.approve))),
        ),
    ];
    let cell = |run: Option<&StoreRun>, f: &dyn Fn(&StoreRun) -> String| {
        run.map_or_else(|| "-".to_owned(), f)
    };
    let mut out = String::new();
    let _ = writeln!(out, "{:<30}  {:>14} {:>14}", "figure", "sled", "postgres");
    for (figure, value) in &figures {
        let _ = writeln!(
            out,
            "{figure:<30}  {:>14} {:>14}",
            cell(sled, value.as_ref()),
            cell(postgres, value.as_ref())
        );
    }
    out.push('\n');
    if let Some(run) = sled {
        let p99 = ms(run.todo.p99());
        let word = if p99 <= SLED_TODO_P99_TARGET_MS { "MET   " } else { "MISSED" };
        let _ = writeln!(
            out,
            "{word} to-do p99 <= {SLED_TODO_P99_TARGET_MS:.0} ms on sled at {} open tasks: \
             {p99:.2} ms",
            config.instances
        );
    }
    let mut notes = vec![
        format!(
            "{} requests over {} managers (~{} open tasks each), one approval node \
             (unit_manager = 0), one batch per submission",
            config.instances,
            config.users,
            config.instances / config.users
        ),
        format!(
            "to-do: todo(user, 0, {PAGE}) for {} random managers after {WARM_UP_LOOKUPS} \
             untimed, each call timed alone",
            config.lookups
        ),
        format!(
            "approvals: {approvals} tasks approved one by one by their manager (each ends its \
             instance)"
        ),
    ];
    let mut mismatches = Vec::new();
    for (store, run) in [("sled", sled), ("postgres", postgres)] {
        if let Some(run) = run {
            notes.push(format!("{store}: the timed lookups returned {} items", run.items_seen));
            mismatches.extend(run.mismatches.iter().map(|m| format!("{store} {m}")));
        }
    }
    for mismatch in &mismatches {
        notes.push(format!("MISMATCH {mismatch}"));
    }
    out.push('\n');
    for note in notes {
        let _ = writeln!(out, "note: {note}");
    }
    (out, mismatches)
}

fn main() -> Result<(), BoxError> {
    crm::process::use_small_pages();
    let config = Config::from_env()?;
    eprintln!(
        "workflow bench: {} requests, {} managers, {} lookups, {} approvals{}",
        config.instances,
        config.users,
        config.lookups,
        config.approvals,
        if config.smoke { ", smoke run (no --bench)" } else { "" }
    );
    let workload = Workload::generate(&config);
    let sled = config.sled.then(|| bench_sled(&config, &workload)).transpose()?;
    let postgres = config.postgres.then(|| bench_postgres(&config, &workload)).transpose()?;
    let (table, mismatches) = render(&config, sled.as_ref(), postgres.as_ref());
    println!("\n{table}");
    if config.smoke && !mismatches.is_empty() {
        return Err(
            format!("{} to-do counts disagree with the submissions", mismatches.len()).into()
        );
    }
    Ok(())
}
