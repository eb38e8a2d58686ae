//! The sled store: the embedded default, one ordered keyspace in one sled tree.
//!
//! Records, secondary index entries, sequences and registered descriptions share sled's
//! default tree under this key layout (`/` is a separator byte no tenant, kind or field name
//! can hold):
//!
//! | key | value |
//! |---|---|
//! | `d/<kind>` | the registered `EntityDesc`, postcard |
//! | `r/<tenant>/<kind>/<id: u64 big-endian>` | the `Record`, postcard |
//! | `i/<tenant>/<kind>/<field>/<encoded value><id: u64 big-endian>` | empty |
//! | `s/<tenant>/<sequence name>` | the last number handed out, u64 big-endian |
//!
//! Every indexed field of every record that holds a value has exactly one index entry;
//! unset (`Null`) fields have none, and equality with `Null` is answered without the index
//! (entries for `Null` written by earlier versions are never read and go with updates). An
//! encoded value starts with a type tag ordered as `Value::sort_cmp` orders types; within a
//! type its bytes order as the values do, and equal values (`1.0`, `1.00`) encode alike, so
//! equality, prefix and range filters are prefix or range scans over the index.
//!
//! Every commit is judged under one writer lock against the stored state plus the batch's
//! own earlier operations, and then written, records and index entries together, with a
//! single `apply_batch`, so nothing of a failed or interrupted batch ever lands.
//!
//! Queries use the indexes and, for fuzzy search and sorted lists, in-memory projections of
//! the searchable and sortable fields of each (tenant, kind), built by one scan on first use
//! and kept current by every commit. The planner picks an index or projection scan for the
//! candidates and reads only the records of the requested page when it can.
//!
//! Writes become durable when sled flushes, which it does on its own every half second;
//! call [`SledStore::flush`] where a write must survive a crash right away.

mod integrity;
mod plan;
mod projection;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crm_domain::{
    Batch, EntityDesc, Filter, Op, Page, Query, Record, RecordId, Store, StoreError,
    StoreErrorKind, TenantId,
};

pub use integrity::IntegrityReport;

use crate::batch::{evaluate, Change, StoredState};
use crate::codec;
use plan::Outcome;
use projection::{Projection, Projections};

/// A store kept in an embedded sled database.
pub struct SledStore {
    db: sled::Db,
    /// Serialises commits, sequences and registrations: the state a batch is judged on
    /// cannot change before it is written.
    writer: Mutex<()>,
    /// The registered description of every kind, as stored under `d/<kind>`.
    registry: RwLock<HashMap<String, Arc<EntityDesc>>>,
    /// Projections for fuzzy search and sorting. Record writes happen only under its write
    /// lock, so a reader holding the read lock sees records and projections agree.
    cache: RwLock<Projections>,
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore").field("db", &self.db).finish_non_exhaustive()
    }
}

/// Maps a sled failure onto the backend-neutral kinds.
pub(crate) fn sled_error(error: sled::Error) -> StoreError {
    match error {
        sled::Error::Corruption { .. } => StoreError::corrupt(format!("sled: {error}")),
        other => StoreError::unavailable(format!("sled: {other}")),
    }
}

fn poisoned<T>(_: PoisonError<T>) -> StoreError {
    StoreError::unavailable("sled store: a writer panicked; reopen the store")
}

impl SledStore {
    /// Opens (or creates) the database in the directory `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let db = sled::Config::new().path(path).open().map_err(|error| match error {
            // sled locks its directory for one process and reports a taken lock as an I/O
            // error whose text names the lock; say what it means instead.
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                StoreError::unavailable(format!(
                    "the store {} is in use by another process; stop it or use another path",
                    path.display()
                ))
            }
            other => sled_error(other),
        })?;
        Self::with_db(db)
    }

    /// A database in a temporary directory, removed when the store is dropped; for tests.
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open().map_err(sled_error)?;
        Self::with_db(db)
    }

    fn with_db(db: sled::Db) -> Result<Self, StoreError> {
        let mut registry = HashMap::new();
        for item in db.scan_prefix(codec::desc_space()) {
            let (_, bytes) = item.map_err(sled_error)?;
            let desc = codec::decode_desc(&bytes)?;
            registry.insert(desc.kind.clone(), Arc::new(desc));
        }
        tracing::debug!(kinds = registry.len(), "sled store opened");
        Ok(Self {
            db,
            writer: Mutex::new(()),
            registry: RwLock::new(registry),
            cache: RwLock::new(Projections::default()),
        })
    }

    /// Writes everything committed so far to disk and waits until it is there.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(drop).map_err(sled_error)
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, ()>, StoreError> {
        self.writer.lock().map_err(poisoned)
    }

    fn read_cache(&self) -> Result<RwLockReadGuard<'_, Projections>, StoreError> {
        self.cache.read().map_err(poisoned)
    }

    fn write_cache(&self) -> Result<RwLockWriteGuard<'_, Projections>, StoreError> {
        self.cache.write().map_err(poisoned)
    }

    /// The registered description of `kind`; `NotFound` when it was never registered.
    fn registered(&self, kind: &str) -> Result<Arc<EntityDesc>, StoreError> {
        self.registry.read().map_err(poisoned)?.get(kind).cloned().ok_or_else(|| {
            StoreError::not_found(format!("{kind} is not registered with the sled store"))
        })
    }

    /// Builds the projection of `desc` in `tenant` unless a current one exists.
    fn build_projection(&self, tenant: &TenantId, desc: &EntityDesc) -> Result<(), StoreError> {
        let mut cache = self.write_cache()?;
        let columns = Projection::columns_of(desc);
        if cache.get(tenant, &desc.kind).is_some_and(|p| p.columns == columns) {
            return Ok(());
        }
        let projection = Projection::build(&self.db, tenant, desc)?;
        tracing::debug!(kind = %desc.kind, rows = projection.len(), "projection built");
        cache.insert(tenant, &desc.kind, projection);
        Ok(())
    }

    /// Rewrites the index entries of `kind` in every tenant so that exactly the fields
    /// `indexed` have entries, adding them to `batch`.
    ///
    /// FIXME: the rebuild scans every record and index entry of the database and collects
    /// all changes in one in-memory batch; a very large database needs a chunked rebuild
    /// that records its progress so it can resume after a crash.
    fn reindex(
        &self,
        kind: &str,
        previously: Option<&BTreeSet<String>>,
        indexed: &BTreeSet<String>,
        batch: &mut sled::Batch,
    ) -> Result<u64, StoreError> {
        let added: BTreeSet<&str> = indexed
            .iter()
            .filter(|f| previously.is_none_or(|p| !p.contains(*f)))
            .map(String::as_str)
            .collect();
        let mut changed = 0;
        for item in self.db.scan_prefix(codec::index_space()) {
            let (key, _) = item.map_err(sled_error)?;
            let Some(entry) = codec::parse_index_key(&key) else { continue };
            let keep = indexed.contains(entry.field) && !added.contains(entry.field);
            if entry.kind == kind && !keep {
                batch.remove(key);
                changed += 1;
            }
        }
        if added.is_empty() {
            return Ok(changed);
        }
        for item in self.db.scan_prefix(codec::record_space()) {
            let (key, bytes) = item.map_err(sled_error)?;
            let Some(parsed) = codec::parse_record_key(&key) else { continue };
            if parsed.kind != kind {
                continue;
            }
            let tenant = TenantId::new(parsed.tenant)
                .map_err(|e| StoreError::corrupt(format!("record key names a bad tenant: {e}")))?;
            let record = codec::decode_record(&bytes)?;
            for field in &added {
                let value = record.get(field);
                if value.is_null() {
                    continue;
                }
                let key = codec::index_key(&tenant, kind, field, value, record.id);
                batch.insert(key, Vec::new());
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// The sled batch that writes `changes`: records plus their index entries.
    ///
    /// FIXME: bulk inserts cost about seven and a half times a bare write of the records,
    /// mostly sled's per-key work (about 11 keys per customer with two contacts, against 3
    /// raw): getting near twice would need about 5, i.e. grouped index entries for fields
    /// with few values, or fewer indexed fields; leaving out entries for empty text as well
    /// would need the planner to stop using the index for every filter that matches empty
    /// text.
    fn write_batch(
        &self,
        tenant: &TenantId,
        changes: &[Change<'_>],
        registered: &HashMap<&str, Arc<EntityDesc>>,
    ) -> Result<sled::Batch, StoreError> {
        let mut batch = sled::Batch::default();
        for change in changes {
            let kind = change.desc.kind.as_str();
            let desc = registered
                .get(kind)
                .ok_or_else(|| StoreError::not_found(format!("{kind} is not registered")))?;
            let key = codec::record_key(tenant, kind, change.id);
            match &change.after {
                Some(record) => {
                    let bytes = codec::encode_record(record)?;
                    debug_assert_eq!(codec::decode_record(&bytes).ok().as_ref(), Some(record));
                    batch.insert(key, bytes);
                }
                None => batch.remove(key),
            }
            for field in desc.fields.iter().filter(|f| f.indexed) {
                let before = change.before.as_ref().map(|r| r.get(&field.name));
                let after = change.after.as_ref().map(|r| r.get(&field.name));
                if before == after {
                    continue;
                }
                if let Some(value) = before {
                    batch.remove(codec::index_key(tenant, kind, &field.name, value, change.id));
                }
                if let Some(value) = after.filter(|v| !v.is_null()) {
                    let key = codec::index_key(tenant, kind, &field.name, value, change.id);
                    batch.insert(key, Vec::new());
                }
            }
        }
        Ok(batch)
    }
}

/// The stored state a batch is judged on, read under the writer lock.
struct Before<'s> {
    store: &'s SledStore,
    tenant: &'s TenantId,
    cache: &'s Projections,
    registered: &'s HashMap<&'s str, Arc<EntityDesc>>,
}

impl StoredState for Before<'_> {
    fn stored(&self, desc: &EntityDesc, id: RecordId) -> Result<Option<Record>, StoreError> {
        let key = codec::record_key(self.tenant, &desc.kind, id);
        match self.store.db.get(key).map_err(sled_error)? {
            Some(bytes) => Ok(Some(codec::decode_record(&bytes)?)),
            None => Ok(None),
        }
    }

    fn stored_matching(
        &self,
        desc: &EntityDesc,
        filters: &[Filter],
    ) -> Result<Vec<RecordId>, StoreError> {
        let registered = self
            .registered
            .get(desc.kind.as_str())
            .ok_or_else(|| StoreError::not_found(format!("{} is not registered", desc.kind)))?;
        let query = Query { filters: filters.to_vec(), ..Query::default() };
        match self.store.run_query(self.cache, self.tenant, registered, &query, false)? {
            Outcome::Done(page) => Ok(page.records.into_iter().map(|r| r.id).collect()),
            Outcome::NeedProjection => Err(StoreError::corrupt("precondition plan wants a build")),
        }
    }

    /// One key range scan: a bulk insert checks its thousands of new ids with it instead of
    /// a tree descent per id.
    fn stored_ids_between(
        &self,
        desc: &EntityDesc,
        first: RecordId,
        last: RecordId,
    ) -> Result<Option<Vec<RecordId>>, StoreError> {
        let start = codec::record_key(self.tenant, &desc.kind, first);
        let end = codec::record_key(self.tenant, &desc.kind, last);
        let mut ids = Vec::new();
        for item in self.store.db.range(start..=end) {
            let (key, _) = item.map_err(sled_error)?;
            ids.push(
                codec::id_suffix(&key)
                    .ok_or_else(|| StoreError::corrupt("record key without a record id"))?,
            );
        }
        Ok(Some(ids))
    }
}

impl Store for SledStore {
    fn backend(&self) -> &'static str {
        "sled"
    }

    /// Stores the description; when its indexed fields changed, rebuilds that kind's index
    /// entries in every tenant in the same atomic write.
    fn register(&self, desc: &EntityDesc) -> Result<(), StoreError> {
        let _writer = self.lock_writer()?;
        let previous = self.registry.read().map_err(poisoned)?.get(&desc.kind).cloned();
        if previous.as_deref() == Some(desc) {
            return Ok(());
        }

        let indexed_of = |d: &EntityDesc| -> BTreeSet<String> {
            d.fields.iter().filter(|f| f.indexed).map(|f| f.name.clone()).collect()
        };
        let indexed = indexed_of(desc);
        let previously = previous.as_deref().map(indexed_of);
        let mut cache = self.write_cache()?;
        let mut batch = sled::Batch::default();
        let mut changed = 0;
        // FIXME: a changed description is not checked against the stored records (a field
        // whose type changed keeps its old values); registration should refuse or convert.
        if previously.as_ref() != Some(&indexed) {
            changed = self.reindex(&desc.kind, previously.as_ref(), &indexed, &mut batch)?;
        }
        batch.insert(codec::desc_key(&desc.kind), codec::encode_desc(desc)?);
        self.db.apply_batch(batch).map_err(sled_error)?;

        self.registry.write().map_err(poisoned)?.insert(desc.kind.clone(), Arc::new(desc.clone()));
        cache.forget_kind(&desc.kind);
        tracing::info!(kind = %desc.kind, index_entries_changed = changed, "kind registered");
        Ok(())
    }

    fn get(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        id: RecordId,
    ) -> Result<Option<Record>, StoreError> {
        self.registered(&desc.kind)?;
        let bytes = self.db.get(codec::record_key(tenant, &desc.kind, id)).map_err(sled_error)?;
        let record = bytes.map(|b| codec::decode_record(&b)).transpose()?;
        debug_assert!(record.as_ref().is_none_or(|r| r.id == id));
        Ok(record)
    }

    fn query(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        query: &Query,
    ) -> Result<Page, StoreError> {
        query.validate(desc)?;
        let registered = self.registered(&desc.kind)?;
        // A registration between the build and the run can make a projection stale once
        // more; after a few rounds the slow path answers without one.
        for _ in 0..3 {
            let cache = self.read_cache()?;
            match self.run_query(&cache, tenant, &registered, query, true)? {
                Outcome::Done(page) => return Ok(page),
                Outcome::NeedProjection => {}
            }
            drop(cache);
            self.build_projection(tenant, &registered)?;
        }
        let cache = self.read_cache()?;
        match self.run_query(&cache, tenant, &registered, query, false)? {
            Outcome::Done(page) => Ok(page),
            Outcome::NeedProjection => Err(StoreError::corrupt("query plan wants a build")),
        }
    }

    fn commit(&self, tenant: &TenantId, batch: &Batch<'_>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let _writer = self.lock_writer()?;
        let mut registered: HashMap<&str, Arc<EntityDesc>> = HashMap::new();
        for op in &batch.ops {
            let (Op::Insert(desc, _)
            | Op::Update(desc, _)
            | Op::Delete(desc, ..)
            | Op::Check(desc, ..)
            | Op::NoneMatch(desc, _)) = op;
            if !registered.contains_key(desc.kind.as_str()) {
                registered.insert(desc.kind.as_str(), self.registered(&desc.kind)?);
            }
        }

        let changes = {
            let cache = self.read_cache()?;
            let before = Before { store: self, tenant, cache: &cache, registered: &registered };
            evaluate(&before, batch)?
        };
        if changes.is_empty() {
            return Ok(());
        }
        let write = self.write_batch(tenant, &changes, &registered)?;

        let mut cache = self.write_cache()?;
        self.db.apply_batch(write).map_err(sled_error)?;
        cache.apply(tenant, &changes);
        Ok(())
    }

    fn next_in_sequence(
        &self,
        tenant: &TenantId,
        sequence: &str,
        count: u64,
    ) -> Result<u64, StoreError> {
        if count == 0 {
            return Err(StoreError::new(
                StoreErrorKind::Constraint,
                format!("sequence {sequence}: reserve at least one number"),
            ));
        }
        let _writer = self.lock_writer()?;
        let key = codec::sequence_key(tenant, sequence);
        let last = match self.db.get(&key).map_err(sled_error)? {
            Some(bytes) => codec::decode_counter(&bytes)?,
            None => 0,
        };
        let (Some(first), Some(end)) = (last.checked_add(1), last.checked_add(count)) else {
            return Err(StoreError::new(
                StoreErrorKind::Constraint,
                format!("sequence {sequence} is exhausted"),
            ));
        };
        self.db.insert(key, &codec::encode_counter(end)).map_err(sled_error)?;
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::{FieldDesc, FieldType, Value};

    fn desc() -> EntityDesc {
        EntityDesc::new(
            "thing",
            vec![
                FieldDesc::new("name", FieldType::Text, "Name", "名称").indexed().sortable(),
                FieldDesc::new("search", FieldType::Text, "Search", "搜索").searchable(),
            ],
        )
        .unwrap()
    }

    fn stored_thing() -> (SledStore, TenantId, EntityDesc) {
        let store = SledStore::temporary().unwrap();
        let desc = desc();
        store.register(&desc).unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let mut record = Record::new(RecordId(1));
        record.set("name", "alpha");
        record.set("search", "alpha");
        let mut batch = Batch::new();
        batch.insert(&desc, record);
        store.commit(&tenant, &batch).unwrap();
        assert!(store.check_integrity().unwrap().is_sound());
        (store, tenant, desc)
    }

    #[test]
    fn undecodable_records_are_corrupt() {
        let (store, tenant, desc) = stored_thing();
        let key = codec::record_key(&tenant, "thing", RecordId(1));
        store.db.insert(key, &[0xff, 0xff, 0xff][..]).unwrap();
        let error = store.get(&tenant, &desc, RecordId(1)).unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Corrupt);
        let error = store.query(&tenant, &desc, &Query::all()).unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Corrupt);
        let report = store.check_integrity().unwrap();
        assert_eq!(report.problem_count, 1, "{report:?}");
        assert!(report.problems[0].contains("thing 1 of tenant acme"), "{report:?}");
    }

    #[test]
    fn missing_and_stray_index_entries_are_reported() {
        let (store, tenant, desc) = stored_thing();
        let entry = codec::index_key(&tenant, "thing", "name", &"alpha".into(), RecordId(1));
        store.db.remove(&entry).unwrap();
        let report = store.check_integrity().unwrap();
        assert_eq!(report.problems, vec!["thing 1 of tenant acme: no index entry for name"]);

        store.db.insert(entry, &[][..]).unwrap();
        let stray = codec::index_key(&tenant, "thing", "name", &"beta".into(), RecordId(1));
        store.db.insert(stray, &[][..]).unwrap();
        let orphan = codec::index_key(&tenant, "thing", "name", &"alpha".into(), RecordId(9));
        store.db.insert(orphan, &[][..]).unwrap();
        let report = store.check_integrity().unwrap();
        assert_eq!(report.problem_count, 2, "{report:?}");
        assert!(report.problems.iter().any(|p| p.contains("holds another value")));
        assert!(report.problems.iter().any(|p| p.contains("is not stored")));

        // The orphan entry makes an index lookup name a record that is not there.
        let query = Query::all().filter(Filter::Eq("name".into(), "alpha".into()));
        let error = store.query(&tenant, &desc, &query).unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Corrupt);
    }

    #[test]
    fn projection_drift_is_reported() {
        let (store, tenant, desc) = stored_thing();
        let fuzzy = Query::all().filter(Filter::Fuzzy("search".into(), "alp".into()));
        assert_eq!(store.query(&tenant, &desc, &fuzzy).unwrap().total, 1);

        let mut changed = store.get(&tenant, &desc, RecordId(1)).unwrap().unwrap();
        changed.set("search", "beta");
        let key = codec::record_key(&tenant, "thing", RecordId(1));
        store.db.insert(key, codec::encode_record(&changed).unwrap()).unwrap();
        let report = store.check_integrity().unwrap();
        assert_eq!(report.problem_count, 1, "{report:?}");
        assert!(report.problems[0].contains("projection of thing 1"), "{report:?}");
    }

    #[test]
    fn unset_values_have_no_index_entries_yet_match_null() {
        let (store, tenant, desc) = stored_thing();
        let mut batch = Batch::new();
        batch.insert(&desc, Record::new(RecordId(2)));
        store.commit(&tenant, &batch).unwrap();
        let entries = store.db.scan_prefix(codec::index_space()).count();
        assert_eq!(entries, 1);
        assert!(store.check_integrity().unwrap().is_sound());

        let ids = |query: &Query| -> Vec<u64> {
            let page = store.query(&tenant, &desc, query).unwrap();
            page.records.iter().map(|r| r.id.0).collect()
        };
        let unset = Query::all().filter(Filter::Eq("name".into(), Value::Null));
        assert_eq!(ids(&unset), vec![2]);
        let either =
            Query::all().filter(Filter::In("name".into(), vec![Value::Null, "alpha".into()]));
        assert_eq!(ids(&either), vec![1, 2]);
        let set = Query::all().filter(Filter::Eq("name".into(), "alpha".into()));
        assert_eq!(ids(&set), vec![1]);
    }

    #[test]
    fn bulk_inserts_over_a_stored_id_conflict_and_write_nothing() {
        let (store, tenant, desc) = stored_thing();
        let mut batch = Batch::new();
        for id in 0..10 {
            batch.insert(&desc, Record::new(RecordId(id)));
        }
        let error = store.commit(&tenant, &batch).unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Conflict);
        assert!(error.to_string().contains("thing 1 already exists"), "{error}");
        assert!(store.get(&tenant, &desc, RecordId(2)).unwrap().is_none());

        let mut batch = Batch::new();
        for id in 2..10 {
            batch.insert(&desc, Record::new(RecordId(id)));
        }
        batch.insert(&desc, Record::new(RecordId(5)));
        let error = store.commit(&tenant, &batch).unwrap_err();
        assert!(error.to_string().contains("thing 5 already exists"), "{error}");
        batch.ops.pop();
        store.commit(&tenant, &batch).unwrap();
        assert_eq!(store.get(&tenant, &desc, RecordId(9)).unwrap().map(|r| r.version), Some(1));
        assert!(store.check_integrity().unwrap().is_sound());
    }

    #[test]
    fn sled_failures_map_onto_kinds() {
        let error = sled_error(sled::Error::Unsupported("nope".into()));
        assert_eq!(error.kind(), StoreErrorKind::Unavailable);
        let io = std::io::Error::other("disk gone");
        assert_eq!(sled_error(sled::Error::Io(io)).kind(), StoreErrorKind::Unavailable);
        let error = sled_error(sled::Error::ReportableBug("bug".into()));
        assert_eq!(error.kind(), StoreErrorKind::Unavailable);
        assert!(error.to_string().starts_with("sled: "));
    }

    #[test]
    fn unregistered_kinds_are_not_found() {
        let store = SledStore::temporary().unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let error = store.get(&tenant, &desc(), RecordId(1)).unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::NotFound);
    }
}
