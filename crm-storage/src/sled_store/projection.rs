//! In-memory projections of the sled store: the searchable and sortable field values of
//! every record of a (tenant, kind), so fuzzy search and sorted lists do not decode records.
//!
//! A projection is built lazily by one scan the first time a query needs it, then kept
//! current by every commit while the commit holds the cache's write lock, the same lock
//! under which the commit writes to sled. Queries hold the read lock for their whole run,
//! so the projection and the stored records they read always agree.

use std::collections::{BTreeMap, HashMap};

use crm_domain::{EntityDesc, Record, RecordId, StoreError, TenantId, Value};

use crate::batch::Change;
use crate::codec;

/// The projected values of every record of one (tenant, kind).
#[derive(Debug)]
pub(super) struct Projection {
    /// The projected fields, in description order: searchable or sortable declared fields.
    pub columns: Vec<String>,
    /// One row per record, values in column order.
    pub rows: BTreeMap<RecordId, Box<[Value]>>,
}

impl Projection {
    /// The fields a projection of `desc` holds.
    pub fn columns_of(desc: &EntityDesc) -> Vec<String> {
        desc.fields.iter().filter(|f| f.searchable || f.sortable).map(|f| f.name.clone()).collect()
    }

    /// Builds the projection of `desc`'s records of `tenant` by one scan.
    pub fn build(
        tree: &sled::Tree,
        tenant: &TenantId,
        desc: &EntityDesc,
    ) -> Result<Self, StoreError> {
        let mut projection = Self { columns: Self::columns_of(desc), rows: BTreeMap::new() };
        for item in tree.scan_prefix(codec::record_prefix(tenant, &desc.kind)) {
            let (_, bytes) = item.map_err(super::sled_error)?;
            let record = codec::decode_record(&bytes)?;
            let row = projection.row(&record);
            projection.rows.insert(record.id, row);
        }
        Ok(projection)
    }

    /// The projected values of `record`.
    pub fn row(&self, record: &Record) -> Box<[Value]> {
        self.columns.iter().map(|c| record.get(c).clone()).collect()
    }

    /// The position of `field` among the columns.
    pub fn column(&self, field: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == field)
    }
}

/// Every projection built so far, by tenant and kind.
///
/// FIXME: projections are never evicted, so a process that searches many tenants keeps the
/// searchable and sortable values of each of them in memory; a size bound with least
/// recently used eviction would cap that.
#[derive(Debug, Default)]
pub(super) struct Projections {
    tables: HashMap<TenantId, HashMap<String, Projection>>,
}

impl Projections {
    /// The projection of `kind` in `tenant`, if built.
    pub fn get(&self, tenant: &TenantId, kind: &str) -> Option<&Projection> {
        self.tables.get(tenant)?.get(kind)
    }

    /// Stores a freshly built projection.
    pub fn insert(&mut self, tenant: &TenantId, kind: &str, projection: Projection) {
        self.tables.entry(tenant.clone()).or_default().insert(kind.to_owned(), projection);
    }

    /// Carries committed changes into the built projections.
    pub fn apply(&mut self, tenant: &TenantId, changes: &[Change<'_>]) {
        let Some(tables) = self.tables.get_mut(tenant) else { return };
        for change in changes {
            let Some(projection) = tables.get_mut(&change.desc.kind) else { continue };
            match &change.after {
                Some(record) => {
                    let row = projection.row(record);
                    projection.rows.insert(change.id, row);
                }
                None => {
                    projection.rows.remove(&change.id);
                }
            }
        }
    }

    /// Drops every projection of `kind`, as when its description changes.
    pub fn forget_kind(&mut self, kind: &str) {
        for tables in self.tables.values_mut() {
            tables.remove(kind);
        }
    }

    /// Every built projection, for the integrity check.
    pub fn iter(&self) -> impl Iterator<Item = (&TenantId, &str, &Projection)> {
        self.tables.iter().flat_map(|(tenant, tables)| {
            tables.iter().map(move |(kind, projection)| (tenant, kind.as_str(), projection))
        })
    }
}
