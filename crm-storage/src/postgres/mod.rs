//! The PostgreSQL store: every entity kind in its own table with typed columns, over sqlx.
//!
//! [`PgStore`] implements the synchronous [`Store`] port. It owns a small tokio runtime and a
//! connection pool, and every method blocks on the runtime until PostgreSQL answers. Queries
//! are built with sqlx's plain query API: identifiers come only from entity descriptions and
//! every value is a bind parameter (the `sql` module). The schema (the `schema` module) is
//! migrated when the store opens, and `register` extends a kind's table by new fields.
//!
//! Results agree with the reference semantics of the query model (`Query::matches`,
//! `Query::compare`); the shared conformance suite runs against this store to hold it to
//! that.

mod copy;
mod decode;
mod error;
mod hierarchy;
mod schema;
mod sql;
mod write;

use crm_domain::entity::CUSTOM_PREFIX;
use crm_domain::text::fold;
use crm_domain::{
    Batch, EntityDesc, FieldType, Filter, Page, Query, Record, RecordId, Store, StoreError,
    TenantId, Value,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Row};
use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use self::decode::{column_count, decode, select_list};
use self::error::map_error;
use self::sql::{
    id_param, ident, like_literal, push_filters, push_order, table, tenant_bind, Bind, Sql,
};

/// Connections the pool keeps at most; the runtime has two workers, so more would only queue.
const MAX_CONNECTIONS: u32 = 8;

/// How long a call waits for a free connection (or a new one) before it fails as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a pooled connection may sit idle before it is pinged on its next use. One in use
/// a moment ago is alive; one idle longer may have been cut by a server restart or a network
/// device, and is replaced then instead of failing the call.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A [`Store`] on a PostgreSQL database.
///
/// The methods block the calling thread. They must not be called from inside an async
/// context of another tokio runtime (tokio refuses to block a worker thread and panics);
/// async hosts call them through `tokio::task::spawn_blocking`.
pub struct PgStore {
    /// Drives sqlx; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    pool: PgPool,
    /// Whether searchable fields have trigram indexes: asked for in [`PgOptions`] and
    /// `pg_trgm` installed.
    trigram: bool,
    /// Descriptions registered by this handle, to make repeated `register` calls free.
    registered: Mutex<HashMap<String, EntityDesc>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("trigram", &self.trigram).finish_non_exhaustive()
    }
}

/// How a [`PgStore`] sets up its database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgOptions {
    /// Give every searchable field a trigram (`pg_trgm` GIN) index, so fuzzy searches for
    /// terms of three letters or digits read the index instead of scanning the kind's rows.
    ///
    /// Off by default: a trigram index makes every insert of a searchable text several times
    /// dearer (a bulk load of customers about five times), while a scan of one search column
    /// answers in tens of milliseconds up to a few hundred thousand rows. Turn it on for
    /// larger tenants that search more than they load. Opening without it drops the trigram
    /// indexes a kind has, so one database keeps one setting.
    pub trigram_indexes: bool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// runs the store's migrations, with the default [`PgOptions`]. Fails as unavailable
    /// when the server cannot be reached.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        Self::connect_with(url, PgOptions::default())
    }

    /// Connects as [`PgStore::connect`] does, set up as `options` say.
    pub fn connect_with(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let wanted = options;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("crm-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::unavailable(format!("postgres: start a runtime: {e}")))?;
        let options = PgConnectOptions::from_str(url).map_err(|e| map_error("read the url", e))?;
        let (pool, available) = runtime.block_on(async {
            // One plain connection first: it fails at once when the server cannot be reached,
            // where the pool would retry until its timeout.
            let mut connection =
                PgConnection::connect_with(&options).await.map_err(|e| map_error("connect", e))?;
            let trigram = schema::migrate(&mut connection).await?;
            if let Err(error) = connection.close().await {
                tracing::debug!(%error, "postgres store: closing the migration connection");
            }
            // FIXME: calls have no statement or keepalive timeout, so a server that stops
            // answering without closing the connection (a paused process, a network that
            // drops packets) blocks the call until it answers again; a stopped server fails
            // each call after the pool's acquire timeout.
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // sqlx would ping every connection it hands out, a round trip as long as a
                // small query; only one idle for a while is pinged (and replaced if dead).
                .test_before_acquire(false)
                .before_acquire(|connection, taken| {
                    Box::pin(async move {
                        if taken.idle_for < PING_AFTER_IDLE {
                            return Ok(true);
                        }
                        Ok(connection.ping().await.is_ok())
                    })
                })
                .connect_lazy_with(options);
            Ok::<_, StoreError>((pool, trigram))
        })?;
        let trigram = wanted.trigram_indexes && available;
        if wanted.trigram_indexes && !available {
            tracing::warn!("postgres store: pg_trgm is not available; fuzzy search will scan");
        }
        tracing::info!(trigram, "postgres store opened");
        Ok(PgStore { runtime: Some(runtime), pool, trigram, registered: Mutex::default() })
    }

    /// Whether fuzzy filters are backed by `pg_trgm` indexes on this database.
    pub fn has_trigram_indexes(&self) -> bool {
        self.trigram
    }

    /// The connection pool, for hosts and tests that read the tables in plain SQL.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `future` to completion on the store's runtime.
    fn block_on<T>(
        &self,
        future: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            None => Err(StoreError::unavailable("postgres: the store is closed")),
        }
    }

    /// One page of `query`, sorted and paged by PostgreSQL.
    async fn query_exact(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        query: &Query,
        sql: Sql,
    ) -> Result<Page, StoreError> {
        let mut sql = sql;
        let limit = query.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
        let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
        sql.push(" OFFSET ").push_bind(Bind::Integer(Some(offset)));
        if let Some(limit) = limit {
            sql.push(" LIMIT ").push_bind(Bind::Integer(Some(limit)));
        }
        let rows = sql
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_error(&format!("query {}", desc.kind), e))?;
        let mut records = Vec::with_capacity(rows.len());
        let mut total = None;
        for row in &rows {
            records.push(decode(desc, row, 0)?);
            if total.is_none() {
                let count: i64 =
                    row.try_get(column_count(desc)).map_err(|e| map_error("read a total", e))?;
                total = Some(u64::try_from(count).unwrap_or(0));
            }
        }
        let total = match total {
            Some(total) => total,
            // The window count comes with rows; an empty page past the end needs a count.
            None if query.offset > 0 || limit == Some(0) => {
                self.count(tenant, desc, &query.filters).await?
            }
            None => 0,
        };
        Ok(Page { records, total })
    }

    /// One page of a fuzzy `query`, matched with one scan in one statement: the matching
    /// rows are gathered narrow (id and sort keys), counted and cut to the page, and only the
    /// page's rows are read whole. A window count over the wide rows would keep every
    /// matching row through the top-N sort and spill to disk for a broad term.
    ///
    /// The access path is chosen per term, and the statement is not kept prepared so no
    /// generic plan overrides that choice:
    /// - a term with three ASCII letters or digits in a row yields trigrams under every
    ///   locale; when fuzzy filters are the only filters, the trigram index is made the only
    ///   way in (table scans off, the tenant condition written so no B-tree serves it),
    ///   because the planner underrates `LIKE` on long search texts and overrates a trigram
    ///   index with a pending list after bulk inserts;
    /// - any other term may yield no trigram (one or two characters, or Chinese under the C
    ///   locale), where the trigram index would be read whole and every row rechecked: its
    ///   column is written as an expression no index serves, so the rows are scanned once.
    async fn query_searched(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        query: &Query,
        ordered: &str,
    ) -> Result<Page, StoreError> {
        let by_trigrams =
            |f: &Filter| matches!(f, Filter::Fuzzy(_, t) if self.trigram && has_trigram(t));
        let force_index = query.filters.iter().all(|f| matches!(f, Filter::Fuzzy(..)))
            && query.filters.iter().any(by_trigrams);
        let tenant_test = if force_index { "tenant_id || '' = " } else { "tenant_id = " };
        let mut where_clause = Sql::new(&format!(" FROM {} WHERE {tenant_test}", table(desc)));
        where_clause.push_bind(tenant_bind(tenant));
        let (fuzzy, others): (Vec<Filter>, Vec<Filter>) =
            query.filters.iter().cloned().partition(|f| matches!(f, Filter::Fuzzy(..)));
        if !push_filters(&mut where_clause, desc, &others)? {
            return Err(StoreError::corrupt("a filter lost its exact SQL form"));
        }
        for filter in &fuzzy {
            let Filter::Fuzzy(field, term) = filter else { continue };
            let column = ident(field);
            let target = if by_trigrams(filter) { column } else { format!("({column} || '')") };
            let pattern = format!("%{}%", like_literal(&fold(term)));
            where_clause.push(" AND (").push(&target).push(" LIKE ");
            where_clause.push_bind(Bind::Text(Some(pattern))).push(" ESCAPE '\\')");
        }

        let mut keys = vec!["id".to_owned()];
        for sort in &query.sorts {
            let key = ident(&sort.field);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        let mut sql =
            Sql::new(&format!("WITH crm_match AS MATERIALIZED (SELECT {}", keys.join(", ")));
        sql.push(&where_clause.text);
        sql.binds = where_clause.binds;
        sql.push("), crm_page AS (SELECT id FROM crm_match").push(ordered);
        let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
        sql.push(" OFFSET ").push_bind(Bind::Integer(Some(offset)));
        if let Some(limit) = query.limit {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            sql.push(" LIMIT ").push_bind(Bind::Integer(Some(limit)));
        }
        sql.push(&format!(
            ") SELECT {}, (SELECT count(*) FROM crm_match) AS crm_total FROM {} WHERE tenant_id = ",
            select_list(desc),
            table(desc)
        ));
        sql.push_bind(tenant_bind(tenant));
        sql.push(" AND id IN (SELECT id FROM crm_page)").push(ordered);

        let what = |step: &str| format!("{step} {}", desc.kind);
        let mut tx =
            self.pool.begin().await.map_err(|e| map_error(&what("begin a query of"), e))?;
        if force_index {
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut *tx)
                .await
                .map_err(|e| map_error(&what("plan a query of"), e))?;
        }
        let rows = sql
            .query()
            .persistent(false)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| map_error(&what("query"), e))?;
        let mut records = Vec::with_capacity(rows.len());
        let mut total = None;
        for row in &rows {
            records.push(decode(desc, row, 0)?);
            if total.is_none() {
                let count: i64 =
                    row.try_get(column_count(desc)).map_err(|e| map_error("read a total", e))?;
                total = Some(u64::try_from(count).unwrap_or(0));
            }
        }
        let total = match total {
            Some(total) => total,
            // The count comes with the page's rows; an empty page past the end needs one.
            None if query.offset > 0 || query.limit == Some(0) => {
                let count = count_sql(tenant, desc, &query.filters)?;
                let count: i64 = count
                    .query()
                    .persistent(false)
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(|e| map_error(&what("count"), e))?;
                u64::try_from(count).unwrap_or(0)
            }
            None => 0,
        };
        tx.commit().await.map_err(|e| map_error(&what("end a query of"), e))?;
        Ok(Page { records, total })
    }

    async fn count(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        filters: &[Filter],
    ) -> Result<u64, StoreError> {
        let sql = count_sql(tenant, desc, filters)?;
        let count: i64 = sql
            .query()
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| map_error(&format!("count {}", desc.kind), e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The port's default ancestor walk, for parent fields SQL cannot follow (custom ones).
    fn walk_up(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        parent_field: &str,
        id: RecordId,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::new();
        let mut current = self.get(tenant, desc, id)?;
        while let Some(record) = current {
            let Some(parent) = record.get(parent_field).as_ref_id() else { break };
            if out.len() >= limit {
                return Err(StoreError::corrupt(format!(
                    "{} {id}: more than {limit} ancestors; the hierarchy may hold a cycle",
                    desc.kind
                )));
            }
            current = self.get(tenant, desc, parent)?;
            if let Some(parent) = &current {
                out.push(parent.clone());
            }
        }
        Ok(out)
    }

    /// The port's default descendant walk, one query per level, for parent fields SQL
    /// cannot follow (custom ones).
    fn walk_down(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        parent_field: &str,
        id: RecordId,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let mut out: Vec<Record> = Vec::new();
        let mut frontier = vec![id];
        while !frontier.is_empty() {
            let parents = frontier.drain(..).map(Value::Ref).collect();
            let query = Query::all().filter(Filter::In(parent_field.to_owned(), parents));
            for record in self.query(tenant, desc, &query)?.records {
                if out.len() >= limit {
                    return Err(StoreError::corrupt(format!(
                        "{} {id}: more than {limit} descendants; the hierarchy may hold a cycle",
                        desc.kind
                    )));
                }
                frontier.push(record.id);
                out.push(record);
            }
        }
        Ok(out)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else { return };
        let pool = self.pool.clone();
        let close = move || runtime.block_on(pool.close());
        if tokio::runtime::Handle::try_current().is_ok() {
            // Blocking (or dropping a runtime) inside another runtime's context panics: close
            // the pool and drop the runtime on a thread of their own.
            let _closer =
                std::thread::Builder::new().name("crm-postgres-close".into()).spawn(close);
        } else {
            close();
        }
    }
}

/// Whether `desc` declares `field` as a reference, the only kind of parent SQL follows.
/// `SELECT count(*)` of the records of `tenant` that the exact SQL form of `filters` admits.
fn count_sql(tenant: &TenantId, desc: &EntityDesc, filters: &[Filter]) -> Result<Sql, StoreError> {
    let mut sql = Sql::new(&format!("SELECT count(*) FROM {} WHERE tenant_id = ", table(desc)));
    sql.push_bind(tenant_bind(tenant));
    push_filters(&mut sql, desc, filters)?;
    Ok(sql)
}

/// Whether the folded `term` surely yields a trigram for a `LIKE` pattern: three ASCII
/// letters or digits in a row are word characters under every locale.
fn has_trigram(term: &str) -> bool {
    let mut run = 0;
    for c in fold(term).chars() {
        run = if c.is_ascii_alphanumeric() { run + 1 } else { 0 };
        if run >= 3 {
            return true;
        }
    }
    false
}

fn is_ref_field(desc: &EntityDesc, field: &str) -> bool {
    desc.field(field).is_some_and(|f| f.ty == FieldType::Ref)
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn commits_elsewhere(&self) -> bool {
        true
    }

    fn register(&self, desc: &EntityDesc) -> Result<(), StoreError> {
        let mut registered = self.registered.lock().unwrap_or_else(PoisonError::into_inner);
        if registered.get(&desc.kind) == Some(desc) {
            return Ok(());
        }
        self.block_on(schema::register(&self.pool, desc, self.trigram))?;
        registered.insert(desc.kind.clone(), desc.clone());
        Ok(())
    }

    fn get(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        id: RecordId,
    ) -> Result<Option<Record>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE tenant_id = $1 AND id = $2",
            select_list(desc),
            table(desc)
        );
        let Ok(id_value) = id_param(id) else { return Ok(None) };
        self.block_on(async {
            let row = sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(id_value)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| map_error(&format!("get {} {id}", desc.kind), e))?;
            row.map(|row| decode(desc, &row, 0)).transpose()
        })
    }

    fn get_many(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        ids: &[RecordId],
    ) -> Result<Vec<Record>, StoreError> {
        let wanted: Vec<i64> = ids.iter().filter_map(|id| id_param(*id).ok()).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE tenant_id = $1 AND id = ANY($2)",
            select_list(desc),
            table(desc)
        );
        let found = self.block_on(async {
            let rows = sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(wanted)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| map_error(&format!("get many {}", desc.kind), e))?;
            let mut found = HashMap::with_capacity(rows.len());
            for row in &rows {
                let record = decode(desc, row, 0)?;
                found.insert(record.id, record);
            }
            Ok(found)
        })?;
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    fn query(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        query: &Query,
    ) -> Result<Page, StoreError> {
        query.validate(desc)?;
        let mut sql = Sql::new(&format!("SELECT {}", select_list(desc)));
        let mut where_clause = Sql::new(&format!(" FROM {} WHERE tenant_id = ", table(desc)));
        where_clause.push_bind(tenant_bind(tenant));
        let exact_filters = push_filters(&mut where_clause, desc, &query.filters)?;

        if exact_filters {
            let mut ordered = Sql::default();
            if push_order(&mut ordered, desc, query) {
                if query.filters.iter().any(|f| matches!(f, Filter::Fuzzy(..))) {
                    return self.block_on(self.query_searched(tenant, desc, query, &ordered.text));
                }
                sql.push(", count(*) OVER () AS crm_total");
                sql.push(&where_clause.text).push(&ordered.text);
                sql.binds = where_clause.binds;
                return self.block_on(self.query_exact(tenant, desc, query, sql));
            }
        }

        // Some filter or sort has no exact SQL form: fetch what SQL can narrow down and let
        // the reference code finish filtering, sorting and paging.
        // FIXME: this reads every row the other filters leave, so a filter on a custom JSON,
        // bytes or timestamp value or a sort on a JSON field is slow on a large table; such
        // filters and sorts should get an exact SQL form (or an expression index).
        sql.push(&where_clause.text);
        sql.binds = where_clause.binds;
        let records = self.block_on(async {
            let rows = sql
                .query()
                .fetch_all(&self.pool)
                .await
                .map_err(|e| map_error(&format!("query {}", desc.kind), e))?;
            rows.iter().map(|row| decode(desc, row, 0)).collect::<Result<Vec<_>, _>>()
        })?;
        let (records, total) = query.apply(records);
        Ok(Page { records, total })
    }

    fn commit(&self, tenant: &TenantId, batch: &Batch<'_>) -> Result<(), StoreError> {
        let steps = write::plan(batch);
        write::with_statements(tenant, &steps, |statements| {
            // Inserted records are checked as they are encoded, on the other thread for a
            // large batch, while this one begins the transaction.
            write::check_batch(batch)?;
            self.block_on(write::apply(&self.pool, tenant, &steps, statements))
        })
    }

    fn next_in_sequence(
        &self,
        tenant: &TenantId,
        sequence: &str,
        count: u64,
    ) -> Result<u64, StoreError> {
        if count == 0 {
            return Err(StoreError::new(
                crm_domain::StoreErrorKind::Constraint,
                format!("sequence {sequence}: reserve at least one number"),
            ));
        }
        let exhausted = || {
            StoreError::new(
                crm_domain::StoreErrorKind::Constraint,
                format!("sequence {sequence} is exhausted"),
            )
        };
        let step = i64::try_from(count).map_err(|_| exhausted())?;
        let last: i64 = self.block_on(async {
            sqlx::query_scalar(
                "INSERT INTO crm_sequences AS s (tenant_id, name, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET value = s.value + EXCLUDED.value \
                 RETURNING value",
            )
            .bind(tenant.as_str())
            .bind(sequence)
            .bind(step)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                let error = map_error(&format!("sequence {sequence}"), e);
                if error.kind() == crm_domain::StoreErrorKind::Constraint {
                    exhausted()
                } else {
                    error
                }
            })
        })?;
        let last = u64::try_from(last).map_err(|_| exhausted())?;
        Ok(last - count + 1)
    }

    fn next_in_sequences(
        &self,
        tenant: &TenantId,
        wanted: &[(&str, u64)],
    ) -> Result<Vec<u64>, StoreError> {
        let names: Vec<&str> = wanted.iter().map(|(name, _)| *name).collect();
        let distinct = names.iter().collect::<std::collections::HashSet<_>>().len();
        let steps: Option<Vec<i64>> =
            wanted.iter().map(|(_, count)| i64::try_from(*count).ok().filter(|c| *c > 0)).collect();
        // One statement cannot raise one row twice; bad counts get the single call's errors.
        let (Some(steps), true) = (steps, distinct == names.len() && wanted.len() > 1) else {
            return wanted
                .iter()
                .map(|(sequence, count)| self.next_in_sequence(tenant, sequence, *count))
                .collect();
        };
        let rows: Vec<(String, i64)> = self.block_on(async {
            sqlx::query_as(
                "INSERT INTO crm_sequences AS s (tenant_id, name, value) \
                 SELECT $1, u.name, u.step FROM unnest($2::text[], $3::bigint[]) AS u(name, step) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET value = s.value + EXCLUDED.value \
                 RETURNING name, value",
            )
            .bind(tenant.as_str())
            .bind(&names)
            .bind(&steps)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| {
                let error = map_error(&format!("sequences {}", names.join(", ")), e);
                if error.kind() == crm_domain::StoreErrorKind::Constraint {
                    StoreError::new(
                        crm_domain::StoreErrorKind::Constraint,
                        format!("one of the sequences {} is exhausted", names.join(", ")),
                    )
                } else {
                    error
                }
            })
        })?;
        wanted
            .iter()
            .map(|(sequence, count)| {
                let last = rows.iter().find(|(name, _)| name == sequence).map(|(_, last)| *last);
                last.and_then(|last| u64::try_from(last).ok())
                    .map(|last| last - count + 1)
                    .ok_or_else(|| {
                        StoreError::corrupt(format!("sequence {sequence} was not raised"))
                    })
            })
            .collect()
    }

    fn ancestors(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        parent_field: &str,
        id: RecordId,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        if parent_field.starts_with(CUSTOM_PREFIX) {
            return self.walk_up(tenant, desc, parent_field, id, limit);
        }
        if !is_ref_field(desc, parent_field) {
            // A field that holds no reference leads nowhere, as in the default walk.
            return Ok(Vec::new());
        }
        self.block_on(hierarchy::ancestors(&self.pool, tenant, desc, parent_field, id, limit))
    }

    fn descendants(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        parent_field: &str,
        id: RecordId,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        if parent_field.starts_with(CUSTOM_PREFIX) || desc.field(parent_field).is_none() {
            return self.walk_down(tenant, desc, parent_field, id, limit);
        }
        if !is_ref_field(desc, parent_field) {
            return Ok(Vec::new());
        }
        self.block_on(hierarchy::descendants(&self.pool, tenant, desc, parent_field, id, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runs_of_three_ascii_word_characters_surely_yield_trigrams() {
        assert!(has_trigram("abc"));
        assert!(has_trigram("Ｎｏｒｔｈ"));
        assert!(has_trigram("x-123"));
        assert!(!has_trigram("ab"));
        assert!(!has_trigram("a-b-c"));
        assert!(!has_trigram("北京科技"));
        assert!(!has_trigram(""));
    }
}
