//! The storage port: what every store adapter offers the services.
//!
//! The contract is small and generic. Reads are plain calls; every write goes through a
//! [`Batch`] that the store applies atomically or not at all. Batches carry their own
//! preconditions (record versions, "no record matches"), which gives optimistic locking,
//! conditional claims and cross-record checks without holding locks across calls.

use crate::entity::{EntityDesc, Record};
use crate::error::StoreError;
use crate::ids::{RecordId, TenantId};
use crate::query::{Filter, Query};

/// One page of query results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The records of the page, in query order.
    pub records: Vec<Record>,
    /// How many records match the filters, over all pages.
    pub total: u64,
}

/// One write or precondition of a batch.
#[derive(Debug, Clone)]
pub enum Op<'a> {
    /// Stores a new record with version 1; a conflict if the id is taken.
    Insert(&'a EntityDesc, Record),
    /// Replaces a record whose stored version equals `record.version`; the stored version
    /// becomes `record.version + 1`. A conflict if the versions differ or it is missing.
    Update(&'a EntityDesc, Record),
    /// Removes a record whose stored version equals `version`; a conflict otherwise.
    Delete(&'a EntityDesc, RecordId, u64),
    /// Requires that the record is stored with exactly this version; a conflict otherwise.
    Check(&'a EntityDesc, RecordId, u64),
    /// Requires that the record is stored, at any version; a conflict otherwise. Unlike
    /// [`Op::Check`] it lets others edit the record meanwhile: only its removal fails the
    /// batch (a child created under a parent).
    Exists(&'a EntityDesc, RecordId),
    /// Requires that no record matches all the filters; a constraint error otherwise.
    NoneMatch(&'a EntityDesc, Vec<Filter>),
}

/// Writes applied atomically: all take effect or none do.
#[derive(Debug, Clone, Default)]
pub struct Batch<'a> {
    /// The operations, applied in order; later ones see earlier ones.
    pub ops: Vec<Op<'a>>,
}

impl<'a> Batch<'a> {
    /// An empty batch.
    pub fn new() -> Self {
        Self { ops: Vec::new() }
    }

    /// Adds an insert.
    pub fn insert(&mut self, desc: &'a EntityDesc, record: Record) -> &mut Self {
        self.ops.push(Op::Insert(desc, record));
        self
    }

    /// Adds an update guarded by `record.version`.
    pub fn update(&mut self, desc: &'a EntityDesc, record: Record) -> &mut Self {
        self.ops.push(Op::Update(desc, record));
        self
    }

    /// Adds a delete guarded by `version`.
    pub fn delete(&mut self, desc: &'a EntityDesc, id: RecordId, version: u64) -> &mut Self {
        self.ops.push(Op::Delete(desc, id, version));
        self
    }

    /// Adds a version check.
    pub fn check(&mut self, desc: &'a EntityDesc, id: RecordId, version: u64) -> &mut Self {
        self.ops.push(Op::Check(desc, id, version));
        self
    }

    /// Adds an "is stored" precondition.
    pub fn exists(&mut self, desc: &'a EntityDesc, id: RecordId) -> &mut Self {
        self.ops.push(Op::Exists(desc, id));
        self
    }

    /// Adds a "no record matches" precondition.
    pub fn none_match(&mut self, desc: &'a EntityDesc, filters: Vec<Filter>) -> &mut Self {
        self.ops.push(Op::NoneMatch(desc, filters));
        self
    }

    /// Whether the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A store of records, partitioned by tenant. Every method names the tenant; no call sees
/// another tenant's data.
pub trait Store: Send + Sync {
    /// The back end's short name (`memory`, `sled`, `postgres`), for logs and reports.
    fn backend(&self) -> &'static str;

    /// Whether a commit spends most of its time waiting on another process (a database
    /// server), so that a caller may prepare its next batch meanwhile. A store that commits
    /// on the caller's own cores says no, the default: preparing meanwhile would only compete
    /// with it for them.
    fn commits_elsewhere(&self) -> bool {
        false
    }

    /// Makes the store ready for `desc`: creates or migrates its table and indexes. Idempotent;
    /// called for every kind when a `Crm` opens.
    fn register(&self, desc: &EntityDesc) -> Result<(), StoreError>;

    /// The record with `id`, if stored.
    fn get(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        id: RecordId,
    ) -> Result<Option<Record>, StoreError>;

    /// The stored records among `ids`, in the order of `ids`, skipping missing ones.
    fn get_many(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        ids: &[RecordId],
    ) -> Result<Vec<Record>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(record) = self.get(tenant, desc, *id)? {
                found.push(record);
            }
        }
        Ok(found)
    }

    /// Runs a query. The store calls [`Query::validate`] first and returns its error unchanged.
    fn query(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        query: &Query,
    ) -> Result<Page, StoreError>;

    /// Applies a batch atomically. On error nothing of the batch is stored.
    fn commit(&self, tenant: &TenantId, batch: &Batch<'_>) -> Result<(), StoreError>;

    /// Reserves `count` consecutive numbers of the named sequence and returns the first.
    /// Sequences start at 1 and never hand out a number twice, also under concurrency.
    fn next_in_sequence(
        &self,
        tenant: &TenantId,
        sequence: &str,
        count: u64,
    ) -> Result<u64, StoreError>;

    /// Reserves a block of each sequence as [`Store::next_in_sequence`] does, for every
    /// `(sequence, count)` in order, and returns the first number of each block. A store that
    /// can reserve them in one round trip does; a failure may leave earlier blocks reserved,
    /// as numbers of a sequence are never handed back anyway.
    fn next_in_sequences(
        &self,
        tenant: &TenantId,
        wanted: &[(&str, u64)],
    ) -> Result<Vec<u64>, StoreError> {
        wanted
            .iter()
            .map(|(sequence, count)| self.next_in_sequence(tenant, sequence, *count))
            .collect()
    }

    /// Walks `parent_field` up from `id` and returns the ancestors, nearest first. Stops after
    /// `limit` steps so a corrupt cycle cannot loop forever.
    fn ancestors(
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

    /// Every record below `id` through `parent_field`, breadth first. Bounded by `limit`.
    fn descendants(
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
            let parents = frontier.drain(..).map(crate::value::Value::Ref).collect();
            let query = Query::all().filter(Filter::In(parent_field.to_owned(), parents));
            let page = self.query(tenant, desc, &query)?;
            for record in page.records {
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
