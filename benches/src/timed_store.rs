//! A [`Store`] wrapper that times every call into the store it wraps.
//!
//! The macro benchmark puts it between the engine and the real store, so a slow figure can
//! be split into the time the store took (commits, queries, sequences) and the time the
//! engine's services took around it (validation, mapping, search text, audit entries). The
//! overhead is two clock reads per store call, a few tens of nanoseconds against calls that
//! take microseconds to seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_domain::{Batch, EntityDesc, Page, Query, Record, RecordId, Store, StoreError, TenantId};

/// Calls and accumulated time of one kind of store call.
#[derive(Debug, Default)]
struct Meter {
    calls: AtomicU64,
    nanos: AtomicU64,
}

impl Meter {
    fn time<T>(&self, call: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = call();
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        out
    }

    fn read(&self) -> CallTime {
        CallTime {
            calls: self.calls.load(Ordering::Relaxed),
            time: Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
        }
    }

    fn reset(&self) {
        self.calls.store(0, Ordering::Relaxed);
        self.nanos.store(0, Ordering::Relaxed);
    }
}

/// How often one kind of call was made and how long all of them took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTime {
    /// Number of calls.
    pub calls: u64,
    /// Their summed wall time.
    pub time: Duration,
}

/// The time spent in each kind of store call since the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreTimes {
    /// `commit`.
    pub commit: CallTime,
    /// `query`.
    pub query: CallTime,
    /// `get` and `get_many`.
    pub get: CallTime,
    /// `next_in_sequence`.
    pub sequence: CallTime,
}

impl StoreTimes {
    /// All store time together.
    pub fn total(&self) -> Duration {
        self.commit.time + self.query.time + self.get.time + self.sequence.time
    }
}

/// Forwards every call to the wrapped store and times it.
pub struct TimedStore {
    inner: Arc<dyn Store>,
    commit: Meter,
    query: Meter,
    get: Meter,
    sequence: Meter,
}

impl std::fmt::Debug for TimedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedStore").field("backend", &self.inner.backend()).finish()
    }
}

impl TimedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            commit: Meter::default(),
            query: Meter::default(),
            get: Meter::default(),
            sequence: Meter::default(),
        }
    }

    /// The times since creation or the last [`TimedStore::reset`].
    pub fn times(&self) -> StoreTimes {
        StoreTimes {
            commit: self.commit.read(),
            query: self.query.read(),
            get: self.get.read(),
            sequence: self.sequence.read(),
        }
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        for meter in [&self.commit, &self.query, &self.get, &self.sequence] {
            meter.reset();
        }
    }
}

impl Store for TimedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn commits_elsewhere(&self) -> bool {
        self.inner.commits_elsewhere()
    }

    fn register(&self, desc: &EntityDesc) -> Result<(), StoreError> {
        self.inner.register(desc)
    }

    fn get(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        id: RecordId,
    ) -> Result<Option<Record>, StoreError> {
        self.get.time(|| self.inner.get(tenant, desc, id))
    }

    fn get_many(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        ids: &[RecordId],
    ) -> Result<Vec<Record>, StoreError> {
        self.get.time(|| self.inner.get_many(tenant, desc, ids))
    }

    fn query(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        query: &Query,
    ) -> Result<Page, StoreError> {
        self.query.time(|| self.inner.query(tenant, desc, query))
    }

    fn commit(&self, tenant: &TenantId, batch: &Batch<'_>) -> Result<(), StoreError> {
        self.commit.time(|| self.inner.commit(tenant, batch))
    }

    fn next_in_sequence(
        &self,
        tenant: &TenantId,
        sequence: &str,
        count: u64,
    ) -> Result<u64, StoreError> {
        self.sequence.time(|| self.inner.next_in_sequence(tenant, sequence, count))
    }

    fn next_in_sequences(
        &self,
        tenant: &TenantId,
        wanted: &[(&str, u64)],
    ) -> Result<Vec<u64>, StoreError> {
        self.sequence.time(|| self.inner.next_in_sequences(tenant, wanted))
    }

    fn ancestors(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        parent_field: &str,
        id: RecordId,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.query.time(|| self.inner.ancestors(tenant, desc, parent_field, id, limit))
    }

    fn descendants(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        parent_field: &str,
        id: RecordId,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.query.time(|| self.inner.descendants(tenant, desc, parent_field, id, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::model::Customer;
    use crm_domain::{Entity, Filter};
    use crm_storage::MemoryStore;

    #[test]
    fn counts_and_forwards_calls() {
        let store = TimedStore::new(Arc::new(MemoryStore::new()));
        let desc = Customer::desc();
        store.register(desc).expect("register");
        let tenant = TenantId::new("t").expect("tenant");
        let first = store.next_in_sequence(&tenant, "id.customer", 2).expect("sequence");
        assert_eq!(first, 1);
        let mut record = Record::new(RecordId(first));
        record.set("name", "Maple Foods Ltd");
        let mut batch = Batch::new();
        batch.insert(desc, record);
        store.commit(&tenant, &batch).expect("commit");
        let found = store.get(&tenant, desc, RecordId(1)).expect("get").expect("stored");
        assert_eq!(found.get("name").as_text(), Some("Maple Foods Ltd"));
        let page = store
            .query(&tenant, desc, &Query::all().filter(Filter::Eq("name".into(), "x".into())))
            .expect("query");
        assert_eq!(page.total, 0);

        let times = store.times();
        assert_eq!(
            (times.commit.calls, times.get.calls, times.query.calls, times.sequence.calls),
            (1, 1, 1, 1)
        );
        assert!(times.total() >= times.commit.time);
        store.reset();
        assert_eq!(store.times(), StoreTimes::default());
        assert_eq!(store.backend(), "memory");
    }
}
