//! The macro benchmark: bulk insert and fuzzy search through the engine, each printed beside
//! a hand-written baseline measured in the same run on the same rows.
//!
//! Run with `cargo bench -p crm-benches --bench macro`; `CRM_BENCH_CUSTOMERS` sets the number
//! of customers (default 100,000), `CRM_BENCH_CHUNK` the customers per batch (default 1,000,
//! that is 3,000 rows with the contacts), `CRM_BENCH_ONLY` limits the run to `sled` or
//! `postgres`, `CRM_BENCH_SKIP_SEARCH=1` leaves out the searches (to profile the inserts),
//! `CRM_BENCH_ROUNDS` sets the insert rounds whose medians are reported (default 3). Without
//! `--bench` (as `cargo test --benches` runs it) it does a small smoke run and fails when the
//! engine and a baseline disagree on what a search finds.
//!
//! PostgreSQL comes from `crm-test-support`: a throwaway cluster, or a fresh database on the
//! server named by `CRM_TEST_PG_URL`.

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crm::{Contact, Crm, Customer, CustomerSearch, Principal, Store, TenantId};
use crm_benches::data::{self, RawCustomer, RawRow, CONTACTS_PER_CUSTOMER, SEED};
use crm_benches::report::{ratio, Line, Report};
use crm_benches::stats::{ms, rows_per_second, timed, Latencies};
use crm_benches::timed_store::{StoreTimes, TimedStore};
use crm_benches::{raw_pg, raw_sled, terms};
use crm_storage::sled_store::open_locked;
use crm_storage::{PgOptions, PgStore, SledStore};
use crm_test_support::PgCluster;
use sqlx::Connection;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Both sides run under the allocator a bulk-loading host would pick: the engine's records
/// are many small maps and strings, which the system allocator serves slowly once its free
/// lists fragment.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The page size of every search, as a search box shows it.
const PAGE: usize = 50;

/// Terms searched untimed before the timed pass, so caches are warm on both sides.
const WARM_UP_TERMS: usize = 20;

/// Targets the figures are reported against.
const INSERT_RATIO_TARGET: f64 = 2.0;
const SLED_SEARCH_P99_TARGET_MS: f64 = 20.0;

/// What to run, from the environment.
#[derive(Debug, Clone)]
struct Config {
    customers: usize,
    chunk: usize,
    sled: bool,
    postgres: bool,
    /// Whether to time the searches (off for profiling the inserts alone).
    search: bool,
    /// Insert rounds per store; the figures are their medians.
    rounds: usize,
    /// A smoke run under `cargo test`: small, and disagreements fail it.
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
        let customers = number("CRM_BENCH_CUSTOMERS", if smoke { 300 } else { 100_000 })?;
        let chunk = number("CRM_BENCH_CHUNK", if smoke { 100 } else { 1_000 })?;
        let only = std::env::var("CRM_BENCH_ONLY").unwrap_or_default();
        let (sled, postgres) = match only.trim() {
            "" => (true, true),
            "sled" => (true, false),
            "postgres" => (false, true),
            other => return Err(format!("CRM_BENCH_ONLY={other:?}: use sled or postgres").into()),
        };
        let search = std::env::var("CRM_BENCH_SKIP_SEARCH").map_or(true, |v| v.trim() != "1");
        let rounds = number("CRM_BENCH_ROUNDS", if smoke { 1 } else { 3 })?;
        Ok(Self { customers, chunk, sled, postgres, search, rounds, smoke })
    }

    /// Rows written per customer: the customer and its contacts.
    fn rows(&self) -> usize {
        self.customers * (1 + CONTACTS_PER_CUSTOMER)
    }
}

/// The engine's data: the generated customers in the chunks `create_chunks` gets.
fn engine_chunks(
    rows: &[(Customer, Vec<Contact>)],
    chunk: usize,
) -> Vec<Vec<(Customer, Vec<Contact>)>> {
    rows.chunks(chunk).map(<[_]>::to_vec).collect()
}

/// The middle one of `times` (the upper middle of an even count).
fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// Inserts every chunk through the engine; the caller adds the flush.
fn engine_insert(
    crm: &Crm,
    admin: &Principal,
    chunks: Vec<Vec<(Customer, Vec<Contact>)>>,
) -> Result<usize, BoxError> {
    Ok(crm.customers(admin).create_chunks(chunks)?)
}

/// How one search compared between the engine and its baseline.
#[derive(Debug, Default)]
struct SearchRun {
    engine: Vec<Duration>,
    baseline: Vec<Duration>,
    /// Terms whose totals or first pages differ, with what each side found.
    disagreements: Vec<String>,
    /// Matches summed over all terms (engine side).
    matches: u64,
    /// The first engine search, before any warm-up (builds caches).
    first_engine: Duration,
    /// The first baseline search.
    first_baseline: Duration,
    /// Every timed term: the term, engine time, baseline time, engine matches.
    per_term: Vec<(String, Duration, Duration, u64)>,
}

impl SearchRun {
    /// The `count` terms the engine took longest on, for the report's notes.
    fn slowest(&self, count: usize) -> String {
        let mut terms: Vec<&(String, Duration, Duration, u64)> = self.per_term.iter().collect();
        terms.sort_by_key(|t| std::cmp::Reverse(t.1));
        terms
            .iter()
            .take(count)
            .map(|(term, engine, baseline, matches)| {
                format!(
                    "{term:?} {:.1} ms ({matches} matches; baseline {:.1} ms)",
                    ms(*engine),
                    ms(*baseline)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Times every term on the engine and on the baseline, alternating so that noise hits both.
fn search_both(
    crm: &Crm,
    admin: &Principal,
    terms: &[String],
    mut baseline: impl FnMut(&str) -> Result<(Vec<RawCustomer>, u64), BoxError>,
) -> Result<SearchRun, BoxError> {
    let mut run = SearchRun::default();
    let engine = |term: &str| crm.customers(admin).search(&CustomerSearch::text(term));

    let (page, first) = timed(|| engine(&terms[0]));
    page?;
    run.first_engine = first;
    let (page, first) = timed(|| baseline(&terms[0]));
    page?;
    run.first_baseline = first;
    for term in terms.iter().take(WARM_UP_TERMS) {
        engine(term)?;
        baseline(term)?;
    }

    for term in terms {
        let start = Instant::now();
        let page = engine(term)?;
        let engine_time = start.elapsed();
        let start = Instant::now();
        let (raw_page, raw_total) = baseline(term)?;
        let baseline_time = start.elapsed();
        run.engine.push(engine_time);
        run.baseline.push(baseline_time);
        run.per_term.push((term.clone(), engine_time, baseline_time, page.total));

        run.matches += page.total;
        let codes: Vec<&str> = page.items.iter().map(|c| c.code.as_str()).collect();
        let raw_codes: Vec<&str> = raw_page.iter().map(|c| c.code.as_str()).collect();
        if page.total != raw_total || codes != raw_codes {
            run.disagreements.push(format!(
                "{term:?}: engine {} matches (first {:?}), baseline {raw_total} (first {:?})",
                page.total,
                codes.first(),
                raw_codes.first()
            ));
        }
    }
    Ok(run)
}

/// Opens the engine on a sled store in `path`, with a timing wrapper between them.
fn open_sled(path: &std::path::Path) -> Result<(Crm, Arc<SledStore>, Arc<TimedStore>), BoxError> {
    let store = Arc::new(SledStore::open(path)?);
    let timed_store = Arc::new(TimedStore::new(Arc::clone(&store) as Arc<dyn Store>));
    let crm = Crm::open(Arc::clone(&timed_store) as Arc<dyn Store>)?;
    Ok((crm, store, timed_store))
}

/// Where the engine's insert time went: inside the store's calls, or around them.
fn breakdown(store: &str, total: Duration, times: StoreTimes, flush: Option<Duration>) -> String {
    let flush = flush.unwrap_or_default();
    let parts = times.total() + flush;
    let share = |d: Duration| 100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-9);
    // Where the next chunk is prepared while one commits, store calls run side by side and
    // add up to more than the total.
    let rest = if parts > total {
        format!(
            "{:.2} s of store calls overlapping (the next chunk prepared while one committed)",
            (parts - total).as_secs_f64()
        )
    } else {
        let service = total - parts;
        format!(
            "crm service around the store {:.2} s ({:.0}%)",
            service.as_secs_f64(),
            share(service)
        )
    };
    format!(
        "{store} engine insert {:.2} s = Store::commit {:.2} s ({:.0}%, {} calls) + \
         next_in_sequence {:.2} s ({} calls) + query/get {:.2} s ({} calls) + flush {:.2} s + \
         {rest}",
        total.as_secs_f64(),
        times.commit.time.as_secs_f64(),
        share(times.commit.time),
        times.commit.calls,
        times.sequence.time.as_secs_f64(),
        times.sequence.calls,
        (times.query.time + times.get.time).as_secs_f64(),
        times.query.calls + times.get.calls,
        flush.as_secs_f64(),
    )
}

/// The sled half: raw batch insert, engine insert, searches on both.
fn bench_sled(
    config: &Config,
    rows: &[(Customer, Vec<Contact>)],
    raw: &[RawRow],
    terms: &[String],
    report: &mut Report,
) -> Result<Vec<String>, BoxError> {
    let tenant = TenantId::new(raw_pg::TENANT)?;

    // Each round inserts everything into fresh databases, the baseline first; the figures
    // are the rounds' medians, so one stall of the disk does not decide a ratio. The last
    // round's databases serve the searches.
    let mut raw_times = Vec::new();
    let mut engine_times = Vec::new();
    let mut last = None;
    for round in 1..=config.rounds {
        eprintln!("sled: round {round}: raw baseline insert of {} rows", config.rows());
        let raw_dir = tempfile::tempdir()?;
        let raw_db = sled::Config::new().path(raw_dir.path()).open()?;
        let (inserted, raw_time) = timed(|| raw_sled::insert_all(&raw_db, raw, config.chunk));
        inserted?;
        let stored = raw_sled::count(&raw_db);
        if stored != (config.customers, config.customers * CONTACTS_PER_CUSTOMER) {
            return Err(format!("raw sled holds {stored:?} after the insert").into());
        }
        raw_sled::verify(&raw_db, &raw[raw.len() / 2].customer)?;
        raw_times.push(raw_time);

        eprintln!("sled: round {round}: engine insert of {} rows", config.rows());
        let engine_dir = tempfile::tempdir()?;
        let (crm, store, timed_store) = open_sled(engine_dir.path())?;
        let admin = crm.bootstrap_tenant(&tenant, "admin", "Bench administrator")?;
        let chunks = engine_chunks(rows, config.chunk);
        timed_store.reset();
        let mut flush_time = Duration::ZERO;
        let (created, engine_time) = timed(|| -> Result<usize, BoxError> {
            let created = engine_insert(&crm, &admin, chunks)?;
            let (flushed, took) = timed(|| store.flush());
            flushed?;
            flush_time = took;
            Ok(created)
        });
        let created = created?;
        if created != config.customers {
            return Err(
                format!("the engine created {created} of {} customers", config.customers).into()
            );
        }
        engine_times.push(engine_time);
        report.note(breakdown(
            &format!("sled round {round}"),
            engine_time,
            timed_store.times(),
            Some(flush_time),
        ));
        last = Some((raw_dir, raw_db, engine_dir, admin));
    }
    let Some((_raw_dir, raw_db, engine_dir, admin)) = last else {
        return Err("no insert round ran".into());
    };
    let (raw_time, engine_time) = (median(raw_times), median(engine_times));
    report.throughput("sled insert (rows/s)", config.rows(), engine_time, raw_time);
    let insert_ratio = ratio(engine_time, raw_time);
    report.verdict(
        &format!("sled insert within {INSERT_RATIO_TARGET:.0}x of raw"),
        insert_ratio <= INSERT_RATIO_TARGET,
        &format!("{insert_ratio:.2}x"),
    );
    report.note(format!(
        "sled: both sides flushed to disk inside the insert timing; medians of {} rounds",
        config.rounds
    ));

    // Reopen the engine's database raw to see what it wrote; the engine then reopens cold.
    let engine_footprint = raw_sled::footprint(&open_locked(engine_dir.path())?)?;
    let raw_footprint = raw_sled::footprint(&raw_db)?;
    let per_customer = |n: u64| n as f64 / config.customers as f64;
    report.line(Line {
        figure: "sled keys per customer".into(),
        library: format!("{:.1}", per_customer(engine_footprint.0)),
        baseline: format!("{:.1}", per_customer(raw_footprint.0)),
        ratio: None,
    });
    report.line(Line {
        figure: "sled key+value bytes per customer".into(),
        library: format!("{:.0}", per_customer(engine_footprint.1)),
        baseline: format!("{:.0}", per_customer(raw_footprint.1)),
        ratio: None,
    });
    let (crm, _store, _timed_store) = open_sled(engine_dir.path())?;
    if !config.search {
        return Ok(Vec::new());
    }

    eprintln!("sled: {} fuzzy searches on each side", terms.len());
    let run = search_both(&crm, &admin, terms, |term| Ok(raw_sled::search(&raw_db, term, PAGE)?))?;
    let engine = Latencies::new(run.engine.clone());
    let baseline = Latencies::new(run.baseline.clone());
    report.line(Line {
        figure: "sled first search, cold (ms)".into(),
        library: format!("{:.2}", ms(run.first_engine)),
        baseline: format!("{:.2}", ms(run.first_baseline)),
        ratio: Some(ratio(run.first_engine, run.first_baseline)),
    });
    report.latency("sled fuzzy search", &engine, &baseline);
    let p99 = ms(engine.p99());
    report.verdict(
        &format!(
            "sled fuzzy search p99 <= {SLED_SEARCH_P99_TARGET_MS:.0} ms at {} customers",
            config.customers
        ),
        p99 <= SLED_SEARCH_P99_TARGET_MS,
        &format!("{p99:.2} ms"),
    );
    report.note(format!("sled: {} matches over {} terms", run.matches, terms.len()));
    report.note(format!("sled: slowest engine searches: {}", run.slowest(5)));
    Ok(run.disagreements.into_iter().map(|d| format!("sled {d}")).collect())
}

/// The PostgreSQL half: raw unnest insert, engine insert, searches on both.
fn bench_postgres(
    config: &Config,
    rows: &[(Customer, Vec<Contact>)],
    raw: &[RawRow],
    terms: &[String],
    report: &mut Report,
) -> Result<Vec<String>, BoxError> {
    eprintln!("postgres: starting a throwaway cluster (or using CRM_TEST_PG_URL)");
    let cluster = PgCluster::start()?;
    let raw_url = cluster.create_database("bench_raw")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;

    // As on sled: rounds into fresh tables, the median time; the last round's tables serve
    // the searches.
    let mut raw_conn = runtime.block_on(sqlx::PgConnection::connect(&raw_url))?;
    let mut raw_times = Vec::new();
    for round in 1..=config.rounds {
        eprintln!("postgres: round {round}: raw baseline insert of {} rows", config.rows());
        runtime.block_on(raw_pg::create_tables(&mut raw_conn))?;
        let (inserted, raw_time) =
            timed(|| runtime.block_on(raw_pg::insert_all(&mut raw_conn, raw, config.chunk)));
        inserted?;
        let stored = runtime.block_on(raw_pg::count(&mut raw_conn))?;
        let expected = (config.customers as i64, (config.customers * CONTACTS_PER_CUSTOMER) as i64);
        if stored != expected {
            return Err(format!("raw postgres holds {stored:?} after the insert").into());
        }
        runtime.block_on(raw_pg::settle(&mut raw_conn))?;
        raw_times.push(raw_time);
    }
    let raw_time = median(raw_times);

    // The default store scans for fuzzy search; the second run adds trigram indexes, to show
    // what they cost on insert and give on search.
    let mut disagreements = Vec::new();
    for (label, options) in [
        ("postgres", PgOptions::default()),
        ("postgres+trigram", PgOptions { trigram_indexes: true }),
    ] {
        let found = engine_postgres(
            config,
            (label, options, &cluster),
            (rows, raw),
            terms,
            (&runtime, &mut raw_conn, raw_time),
            report,
        )?;
        disagreements.extend(found);
    }
    Ok(disagreements)
}

/// One engine run on PostgreSQL: insert through a store opened with `options`, then the
/// searches, each beside the raw baseline.
fn engine_postgres(
    config: &Config,
    (label, options, cluster): (&str, PgOptions, &PgCluster),
    (rows, raw): (&[(Customer, Vec<Contact>)], &[RawRow]),
    terms: &[String],
    (runtime, raw_conn, raw_time): (&tokio::runtime::Runtime, &mut sqlx::PgConnection, Duration),
    report: &mut Report,
) -> Result<Vec<String>, BoxError> {
    let tenant = TenantId::new(raw_pg::TENANT)?;
    let mut engine_times = Vec::new();
    let mut last = None;
    for round in 1..=config.rounds {
        eprintln!("{label}: round {round}: engine insert of {} rows", config.rows());
        let engine_url = cluster.create_database(&format!("bench_{}", label.replace('+', "_")))?;
        let store = PgStore::connect_with(&engine_url, options)?;
        if store.has_trigram_indexes() != options.trigram_indexes {
            return Err(format!("{label}: pg_trgm is not available").into());
        }
        let timed_store = Arc::new(TimedStore::new(Arc::new(store)));
        let crm = Crm::open(Arc::clone(&timed_store) as Arc<dyn Store>)?;
        let admin = crm.bootstrap_tenant(&tenant, "admin", "Bench administrator")?;
        let chunks = engine_chunks(rows, config.chunk);
        timed_store.reset();
        let (created, engine_time) = timed(|| engine_insert(&crm, &admin, chunks));
        report.note(breakdown(
            &format!("{label} round {round}"),
            engine_time,
            timed_store.times(),
            None,
        ));
        let created = created?;
        if created != config.customers {
            return Err(
                format!("the engine created {created} of {} customers", config.customers).into()
            );
        }
        let mut engine_conn = runtime.block_on(sqlx::PgConnection::connect(&engine_url))?;
        runtime.block_on(raw_pg::settle(&mut engine_conn))?;
        engine_times.push(engine_time);
        last = Some((engine_url, crm, admin));
    }
    let Some((engine_url, crm, admin)) = last else {
        return Err("no insert round ran".into());
    };
    let engine_time = median(engine_times);
    let trigram = options.trigram_indexes;
    report.throughput(&format!("{label} insert (rows/s)"), config.rows(), engine_time, raw_time);
    let insert_ratio = ratio(engine_time, raw_time);
    if !trigram {
        report.verdict(
            &format!("{label} insert within {INSERT_RATIO_TARGET:.0}x of raw"),
            insert_ratio <= INSERT_RATIO_TARGET,
            &format!("{insert_ratio:.2}x"),
        );
    }

    if !trigram {
        let indexed_time = raw_with_engine_indexes(config, cluster, runtime, &engine_url, raw)?;
        report.throughput(
            &format!("{label} insert, raw with the engine's indexes (rows/s)"),
            config.rows(),
            engine_time,
            indexed_time,
        );
        report.note(format!(
            "{label}: the second insert line fills raw tables that carry the engine's lookup \
             indexes (read from its database): what the engine costs beyond the indexes its \
             schema keeps; the target is judged against the bare tables"
        ));
    }

    // Fresh statistics on both sides, so neither planner works from an empty table's guess.
    let mut engine_conn = runtime.block_on(sqlx::PgConnection::connect(&engine_url))?;
    runtime.block_on(sqlx::query("ANALYZE").execute(&mut engine_conn))?;
    runtime.block_on(sqlx::query("ANALYZE").execute(&mut *raw_conn))?;
    let size = "SELECT pg_database_size(current_database())";
    let engine_size: i64 =
        runtime.block_on(sqlx::query_scalar(size).fetch_one(&mut engine_conn))?;
    let raw_size: i64 = runtime.block_on(sqlx::query_scalar(size).fetch_one(&mut *raw_conn))?;
    report.line(Line {
        figure: format!("{label} database size (MB)"),
        library: format!("{:.1}", engine_size as f64 / 1e6),
        baseline: format!("{:.1}", raw_size as f64 / 1e6),
        ratio: None,
    });
    if !config.search {
        return Ok(Vec::new());
    }

    eprintln!("{label}: {} fuzzy searches on each side", terms.len());
    let run = search_both(&crm, &admin, terms, |term| {
        Ok(runtime.block_on(raw_pg::search(&mut *raw_conn, term, PAGE as i64))?)
    })?;
    let engine = Latencies::new(run.engine.clone());
    let baseline = Latencies::new(run.baseline.clone());
    report.latency(&format!("{label} fuzzy search"), &engine, &baseline);
    report.note(format!("{label}: slowest engine searches: {}", run.slowest(5)));
    report.note(format!(
        "{label}: engine fuzzy search {}; the baseline is ILIKE without index",
        if trigram { "reads pg_trgm indexes" } else { "scans the search column" }
    ));
    Ok(run.disagreements.into_iter().map(|d| format!("{label} {d}")).collect())
}

/// The raw insert again, into tables given the secondary indexes the engine's schema gave
/// the same columns (read from the engine's database at `engine_url`): the median time over
/// the configured rounds, each into fresh tables of their own database.
fn raw_with_engine_indexes(
    config: &Config,
    cluster: &PgCluster,
    runtime: &tokio::runtime::Runtime,
    engine_url: &str,
    raw: &[RawRow],
) -> Result<Duration, BoxError> {
    let mut engine = runtime.block_on(sqlx::PgConnection::connect(engine_url))?;
    let definitions: Vec<String> = runtime.block_on(
        sqlx::query_scalar(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename IN ('crm_customer', 'crm_contact') AND indexname NOT LIKE '%_pkey' \
             ORDER BY indexname",
        )
        .fetch_all(&mut engine),
    )?;
    if definitions.is_empty() {
        return Err("the engine's customer and contact tables have no secondary index".into());
    }
    let url = cluster.create_database("bench_raw_indexed")?;
    let mut conn = runtime.block_on(sqlx::PgConnection::connect(&url))?;
    let mut times = Vec::new();
    for round in 1..=config.rounds {
        eprintln!("postgres: round {round}: raw insert into tables with the engine's indexes");
        runtime.block_on(raw_pg::create_tables(&mut conn))?;
        for definition in &definitions {
            let ddl = definition
                .replace("crm_customer", "raw_customer")
                .replace("crm_contact", "raw_contact");
            runtime.block_on(sqlx::query(&ddl).execute(&mut conn))?;
        }
        let (inserted, time) =
            timed(|| runtime.block_on(raw_pg::insert_all(&mut conn, raw, config.chunk)));
        inserted?;
        runtime.block_on(raw_pg::settle(&mut conn))?;
        times.push(time);
    }
    Ok(median(times))
}

fn main() -> Result<(), BoxError> {
    // As the shells do: both sides run with transparent huge pages off.
    let small_pages = crm::process::use_small_pages();
    let config = Config::from_env()?;
    eprintln!(
        "macro bench: {} customers ({} rows with contacts), batches of {} customers{}",
        config.customers,
        config.rows(),
        config.chunk,
        if config.smoke { ", smoke run (no --bench)" } else { "" }
    );

    let (rows, generation) = timed(|| data::generate(config.customers, SEED));
    let raw = data::raw_rows(&rows, chrono::Utc::now());
    let terms = terms::search_terms();
    eprintln!(
        "generated in {:.0} ms ({:.0} customers/s)",
        ms(generation),
        rows_per_second(config.customers, generation)
    );

    let mut report = Report::new();
    let mut disagreements = Vec::new();
    if config.sled {
        disagreements.extend(bench_sled(&config, &rows, &raw, &terms, &mut report)?);
    }
    if config.postgres {
        if config.sled {
            // The sled half leaves gigabytes of written pages for the kernel to write back;
            // doing that now keeps it out of the PostgreSQL timings, which it slowed by a
            // fifth (the engine's side more, as it writes more).
            let synced = std::process::Command::new("sync").status();
            if !synced.is_ok_and(|status| status.success()) {
                eprintln!("note: `sync` did not run; PostgreSQL figures may include writeback");
            }
        }
        disagreements.extend(bench_postgres(&config, &rows, &raw, &terms, &mut report)?);
    }

    report.note(format!(
        "{} customers with {CONTACTS_PER_CUSTOMER} contacts each, {} rows, batches of {} \
         customers; rows/s counts customers and contacts, not the engine's index and audit \
         entries",
        config.customers,
        config.rows(),
        config.chunk
    ));
    report.note("ratio = engine time / baseline time (2.00 = takes twice as long)");
    report.note(format!(
        "transparent huge pages {} for this process (as in the shells)",
        if small_pages { "off" } else { "could not be turned off" }
    ));
    if config.search {
        report.note(format!(
            "search: {} terms, page of {PAGE} sorted by name, each call timed alone",
            terms.len()
        ));
    }
    for disagreement in &disagreements {
        report.note(format!("DISAGREEMENT {disagreement}"));
    }
    println!("\n{}", report.render());

    if config.smoke && !disagreements.is_empty() {
        return Err(format!("{} searches disagree with the baseline", disagreements.len()).into());
    }
    Ok(())
}
