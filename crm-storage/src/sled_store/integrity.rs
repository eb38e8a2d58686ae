//! The sled store's integrity check: every record decodes, and every in-memory index entry
//! and projection row agrees with the records.
//!
//! Indexes and projections are derived data; a bug that lets them drift from the records
//! would make queries silently wrong. The check reads everything once and reports each
//! disagreement it finds, so tests and operators can assert a store is sound. Indexes and
//! projections live in memory and are built on first use, so only the (tenant, kind) pairs
//! built so far are compared.

use crm_domain::{RecordId, StoreError, TenantId};
use std::collections::{BTreeSet, HashSet};

use super::{poisoned, sled_error, SledStore};
use crate::codec;

/// At most this many problems are described; the count goes on beyond it.
const MAX_DESCRIBED_PROBLEMS: usize = 100;

/// What [`SledStore::check_integrity`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    /// Records read.
    pub records: u64,
    /// In-memory index entries compared with the records.
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
    /// Checks that stored bytes decode and, for every (tenant, kind) whose projection is
    /// built, that the projection matches the records, that every index entry names a
    /// stored record whose field holds the entry's value, and that every record has the
    /// entries of its kind's indexed fields. Commits wait while the check runs, so it sees
    /// one consistent state.
    pub fn check_integrity(&self) -> Result<IntegrityReport, StoreError> {
        let cache = self.read_cache()?;
        let kinds: HashSet<String> =
            self.registry.read().map_err(poisoned)?.keys().cloned().collect();
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
            if !kinds.contains(parsed.kind) {
                report.problem(format!("{where_}: kind is not registered"));
            } else if TenantId::new(parsed.tenant).is_err() {
                report.problem(format!("{where_}: tenant name is not valid"));
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
            // The ids of the stored records, and of those among them that do not decode.
            let mut ids = BTreeSet::new();
            let mut unreadable = BTreeSet::new();
            // Per index: the (encoded value, id) entries the records call for.
            let mut expected: Vec<BTreeSet<(Vec<u8>, RecordId)>> =
                vec![BTreeSet::new(); projection.indexes().len()];
            for item in self.db.scan_prefix(codec::record_prefix(tenant, kind)) {
                let (key, bytes) = item.map_err(sled_error)?;
                stored += 1;
                let id = codec::id_suffix(&key);
                ids.extend(id);
                let Ok(record) = codec::decode_record(&bytes) else {
                    unreadable.extend(id);
                    continue; // reported with the records
                };
                report.projection_rows += 1;
                if projection.get(record.id) != Some(&*projection.values(&record)) {
                    report.problem(format!(
                        "projection of {kind} {} of tenant {tenant} differs from the record",
                        record.id
                    ));
                }
                for (index, entries) in projection.indexes().iter().zip(&mut expected) {
                    let value = record.get(index.field());
                    if value.is_null() {
                        continue; // unset values have no entry
                    }
                    let mut encoded = Vec::new();
                    codec::encode_value(value, &mut encoded);
                    if !index.contains(&encoded, record.id) {
                        report.problem(format!(
                            "{kind} {} of tenant {tenant}: no index entry for {}",
                            record.id,
                            index.field()
                        ));
                    }
                    entries.insert((encoded, record.id));
                }
            }
            for (index, entries) in projection.indexes().iter().zip(&expected) {
                for (value, id) in index.iter() {
                    report.index_entries += 1;
                    if unreadable.contains(&id) || entries.contains(&(value.to_vec(), id)) {
                        continue;
                    }
                    let field = index.field();
                    let where_ =
                        format!("index entry of {kind}.{field} for {id} of tenant {tenant}");
                    if ids.contains(&id) {
                        report.problem(format!("{where_}: the record holds another value"));
                    } else {
                        report.problem(format!("{where_}: the record is not stored"));
                    }
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
