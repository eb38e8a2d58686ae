//! The in-memory store: maps behind one lock, for unit tests and as the executable form of
//! the storage contract.
//!
//! Every query runs [`Query::apply`] over the kind's records, so this store is the
//! reference the conformance suite holds the other adapters to. It keeps nothing on disk and
//! is not meant for production data.

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crm_domain::{
    Batch, EntityDesc, Filter, Op, Page, Query, Record, RecordId, Store, StoreError, TenantId,
    Value,
};

use crate::batch::{evaluate, StoredState};

/// A store that keeps every tenant's records in process memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    registered: HashMap<String, EntityDesc>,
    tables: HashMap<TenantId, HashMap<String, BTreeMap<RecordId, Record>>>,
    sequences: HashMap<TenantId, HashMap<String, u64>>,
}

impl State {
    fn table(&self, tenant: &TenantId, kind: &str) -> Option<&BTreeMap<RecordId, Record>> {
        self.tables.get(tenant)?.get(kind)
    }

    fn require_registered(&self, kind: &str) -> Result<(), StoreError> {
        if self.registered.contains_key(kind) {
            Ok(())
        } else {
            Err(StoreError::not_found(format!("{kind} is not registered with the memory store")))
        }
    }
}

/// The state before a batch, as the batch evaluation reads it.
struct Before<'s> {
    state: &'s State,
    tenant: &'s TenantId,
}

impl StoredState for Before<'_> {
    fn stored(&self, desc: &EntityDesc, id: RecordId) -> Result<Option<Record>, StoreError> {
        Ok(self.state.table(self.tenant, &desc.kind).and_then(|t| t.get(&id)).cloned())
    }

    fn stored_matching(
        &self,
        desc: &EntityDesc,
        filters: &[Filter],
    ) -> Result<Vec<RecordId>, StoreError> {
        let Some(table) = self.state.table(self.tenant, &desc.kind) else {
            return Ok(Vec::new());
        };
        Ok(table
            .values()
            .filter(|record| filters.iter().all(|f| f.matches(record)))
            .map(|record| record.id)
            .collect())
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while the lock was held cannot leave the maps half-changed: every write
    // builds its result first and only then changes the maps, so a poisoned lock is usable.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn register(&self, desc: &EntityDesc) -> Result<(), StoreError> {
        self.write().registered.insert(desc.kind.clone(), desc.clone());
        Ok(())
    }

    fn get(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        id: RecordId,
    ) -> Result<Option<Record>, StoreError> {
        let state = self.read();
        state.require_registered(&desc.kind)?;
        Ok(state.table(tenant, &desc.kind).and_then(|t| t.get(&id)).cloned())
    }

    fn query(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        query: &Query,
    ) -> Result<Page, StoreError> {
        query.validate(desc)?;
        let state = self.read();
        state.require_registered(&desc.kind)?;
        let Some(table) = state.table(tenant, &desc.kind) else {
            return Ok(Page::default());
        };
        let (records, total) = query.apply(table.values().cloned());
        Ok(Page { records, total })
    }

    fn commit(&self, tenant: &TenantId, batch: &Batch<'_>) -> Result<(), StoreError> {
        let mut state = self.write();
        for op in &batch.ops {
            let (Op::Insert(desc, _)
            | Op::Update(desc, _)
            | Op::Delete(desc, ..)
            | Op::Check(desc, ..)
            | Op::Exists(desc, _)
            | Op::NoneMatch(desc, _)) = op;
            state.require_registered(&desc.kind)?;
        }

        let changes = evaluate(&Before { state: &state, tenant }, batch)?;

        let tables = state.tables.entry(tenant.clone()).or_default();
        for change in changes {
            let table = tables.entry(change.desc.kind.clone()).or_default();
            match change.after {
                Some(record) => table.insert(change.id, record.into_owned()),
                None => table.remove(&change.id),
            };
        }
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
                crm_domain::StoreErrorKind::Constraint,
                format!("sequence {sequence}: reserve at least one number"),
            ));
        }
        let mut state = self.write();
        let last = state.sequences.entry(tenant.clone()).or_default().entry(sequence.to_owned());
        let last = last.or_insert(0);
        let first = last.checked_add(1);
        let end = last.checked_add(count);
        match (first, end) {
            (Some(first), Some(end)) => {
                *last = end;
                Ok(first)
            }
            _ => Err(StoreError::new(
                crm_domain::StoreErrorKind::Constraint,
                format!("sequence {sequence} is exhausted"),
            )),
        }
    }

    /// Walks the children through one map built from all records, level by level with each
    /// level in id order, as the port's default does with one query per level.
    fn descendants(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        parent_field: &str,
        id: RecordId,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let state = self.read();
        state.require_registered(&desc.kind)?;
        let Some(table) = state.table(tenant, &desc.kind) else {
            return Ok(Vec::new());
        };
        let mut children: HashMap<RecordId, Vec<&Record>> = HashMap::new();
        for record in table.values() {
            if let Value::Ref(parent) = record.get(parent_field) {
                children.entry(*parent).or_default().push(record);
            }
        }

        let mut out: Vec<Record> = Vec::new();
        let mut frontier = vec![id];
        while !frontier.is_empty() {
            let mut level: Vec<&Record> =
                frontier.iter().filter_map(|p| children.get(p)).flatten().copied().collect();
            level.sort_by_key(|record| record.id);
            level.dedup_by_key(|record| record.id);
            frontier.clear();
            for record in level {
                if out.len() >= limit {
                    return Err(StoreError::corrupt(format!(
                        "{} {id}: more than {limit} descendants; the hierarchy may hold a cycle",
                        desc.kind
                    )));
                }
                frontier.push(record.id);
                out.push(record.clone());
            }
        }
        Ok(out)
    }
}
