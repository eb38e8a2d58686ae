//! The sled store's integrity check: every index entry, record and projection row agrees
//! with the others.
//!
//! Indexes and projections are derived data; a bug that lets them drift from the records
//! would make queries silently wrong. The check reads everything once and reports each
//! disagreement it finds, so tests and operators can assert a store is sound.

use crm_domain::{EntityDesc, StoreError, TenantId};
use std::collections::HashMap;
use std::sync::Arc;

use super::{poisoned, sled_error, SledStore};
use crate::codec;

/// At most this many problems are described; the count goes on beyond it.
const MAX_DESCRIBED_PROBLEMS: usize = 100;

/// What [`SledStore::check_integrity`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    /// Records read.
    pub records: u64,
    /// Index entries read.
    pub index_entries: u64,
    /// Sequences read.
    pub sequences: u64,
    /// Projection rows compared with their records.
    pub projection_rows: u64,
    /// How many problems were found.
    pub problem_count: u64,
    /// What the first problems are, one sentence each.
    pub problems: Vec<String>,
}

impl IntegrityReport {
    /// Whether no problem was found.
    pub fn is_sound(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_DESCRIBED_PROBLEMS {
            self.problems.push(text);
        }
    }
}

impl SledStore {
    /// Checks that every index entry points at a stored record whose field holds the entry's
    /// value, that every record has the entries of its kind's indexed fields, that stored
    /// bytes decode, and that the in-memory projections match the records. Commits wait
    /// while the check runs, so it sees one consistent state.
    pub fn check_integrity(&self) -> Result<IntegrityReport, StoreError> {
        let cache = self.read_cache()?;
        let registry: HashMap<String, Arc<EntityDesc>> =
            self.registry.read().map_err(poisoned)?.clone();
        let mut report = IntegrityReport::default();

        for item in self.db.scan_prefix(codec::record_space()) {
            let (key, bytes) = item.map_err(sled_error)?;
            report.records += 1;
            let Some(parsed) = codec::parse_record_key(&key) else {
                report.problem(format!("record key {key:?} cannot be parsed"));
                continue;
            };
            let where_ = format!("{} {} of tenant {}", parsed.kind, parsed.id, parsed.tenant);
            let record = match codec::decode_record(&bytes) {
                Ok(record) => record,
                Err(e) => {
                    report.problem(format!("{where_}: {e}"));
                    continue;
                }
            };
            if record.id != parsed.id {
                report.problem(format!("{where_} holds a record with id {}", record.id));
            }
            let Some(desc) = registry.get(parsed.kind) else {
                report.problem(format!("{where_}: kind is not registered"));
                continue;
            };
            let Ok(tenant) = TenantId::new(parsed.tenant) else {
                report.problem(format!("{where_}: tenant name is not valid"));
                continue;
            };
            for field in desc.fields.iter().filter(|f| f.indexed) {
                let value = record.get(&field.name);
                if value.is_null() {
                    continue; // unset values have no entry
                }
                let entry = codec::index_key(&tenant, parsed.kind, &field.name, value, parsed.id);
                if !self.db.contains_key(entry).map_err(sled_error)? {
                    report.problem(format!("{where_}: no index entry for {}", field.name));
                }
            }
        }

        for item in self.db.scan_prefix(codec::index_space()) {
            let (key, bytes) = item.map_err(sled_error)?;
            report.index_entries += 1;
            let Some(entry) = codec::parse_index_key(&key) else {
                report.problem(format!("index key {key:?} cannot be parsed"));
                continue;
            };
            let where_ = format!(
                "index entry of {}.{} for {} of tenant {}",
                entry.kind, entry.field, entry.id, entry.tenant
            );
            if !bytes.is_empty() {
                report.problem(format!("{where_} carries a value"));
            }
            if !registry
                .get(entry.kind)
                .is_some_and(|d| d.field(entry.field).is_some_and(|f| f.indexed))
            {
                report.problem(format!("{where_}: the field is not indexed"));
                continue;
            }
            let Ok(tenant) = TenantId::new(entry.tenant) else {
                report.problem(format!("{where_}: tenant name is not valid"));
                continue;
            };
            let stored = self.db.get(codec::record_key(&tenant, entry.kind, entry.id));
            let Some(bytes) = stored.map_err(sled_error)? else {
                report.problem(format!("{where_}: the record is not stored"));
                continue;
            };
            let Ok(record) = codec::decode_record(&bytes) else {
                continue; // reported with the records
            };
            let mut value = Vec::new();
            codec::encode_value(record.get(entry.field), &mut value);
            if value != entry.value {
                report.problem(format!("{where_}: the record holds another value"));
            }
        }

        for item in self.db.scan_prefix(codec::sequence_space()) {
            let (key, bytes) = item.map_err(sled_error)?;
            report.sequences += 1;
            if codec::decode_counter(&bytes).is_err() {
                report.problem(format!("sequence {key:?} holds {} bytes", bytes.len()));
            }
        }

        for (tenant, kind, projection) in cache.iter() {
            let mut stored = 0usize;
            for item in self.db.scan_prefix(codec::record_prefix(tenant, kind)) {
                let (_, bytes) = item.map_err(sled_error)?;
                stored += 1;
                let Ok(record) = codec::decode_record(&bytes) else { continue };
                report.projection_rows += 1;
                if projection.get(record.id) != Some(&*projection.values(&record)) {
                    report.problem(format!(
                        "projection of {kind} {} of tenant {tenant} differs from the record",
                        record.id
                    ));
                }
            }
            if stored != projection.len() {
                report.problem(format!(
                    "projection of {kind} of tenant {tenant} has {} rows for {stored} records",
                    projection.len()
                ));
            }
        }

        if !report.is_sound() {
            tracing::warn!(problems = report.problem_count, "sled store integrity check failed");
        }
        Ok(report)
    }
}
