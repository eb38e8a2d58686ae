//! The audit trail: who changed which fields of which record, when, from what to what.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

use crate::entity::{Entity, EntityDesc, FieldDesc, FieldType, Record};
use crate::ids::RecordId;
use crate::value::Value;

/// What happened to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// The record was created.
    Create,
    /// Fields of the record changed.
    Update,
    /// The record was deleted.
    Delete,
}

/// One changed field: old and new value as display text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Field name (`custom.<name>` for custom fields).
    pub field: String,
    /// The value before, empty when unset.
    pub old: String,
    /// The value after, empty when unset.
    pub new: String,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Entry id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// Kind of the changed record.
    pub entity: String,
    /// Id of the changed record; the first of the run for an entry that covers records
    /// created together.
    pub record_id: RecordId,
    /// For an entry that covers records created together in one change (a bulk create or an
    /// import): the last id of the run; every id from `record_id` to it was created then.
    #[serde(default)]
    pub record_last: Option<RecordId>,
    /// The acting user.
    pub actor: RecordId,
    /// When, in UTC.
    pub at: DateTime<Utc>,
    /// What happened.
    pub action: AuditAction,
    /// The changed fields.
    pub changes: Vec<FieldChange>,
}

static AUDIT: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "audit_entry",
        vec![
            FieldDesc::new("entity", FieldType::Text, "Entity", "对象"),
            FieldDesc::new("record_id", FieldType::Ref, "Record", "记录").indexed(),
            FieldDesc::new("record_last", FieldType::Ref, "Last record", "末记录").indexed(),
            FieldDesc::new("actor", FieldType::Ref, "Actor", "操作人"),
            FieldDesc::new("at", FieldType::Timestamp, "Time", "时间").sortable(),
            FieldDesc::new("action", FieldType::Json, "Action", "操作"),
            FieldDesc::new("changes", FieldType::Json, "Changes", "变更"),
        ],
    )
    .expect("audit description is valid")
});

impl Entity for AuditEntry {
    fn desc() -> &'static EntityDesc {
        &AUDIT
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl AuditEntry {
    /// Whether the entry is about record `id` (of its entity).
    pub fn covers(&self, id: RecordId) -> bool {
        match self.record_last {
            Some(last) => self.record_id <= id && id <= last,
            None => self.record_id == id,
        }
    }
}

/// Splits ids of records created together into runs of consecutive ids, ascending, so that
/// one audit entry can cover each run.
pub fn runs(mut ids: Vec<RecordId>) -> Vec<(RecordId, RecordId)> {
    ids.sort_unstable();
    ids.dedup();
    let mut runs: Vec<(RecordId, RecordId)> = Vec::new();
    for id in ids {
        match runs.last_mut() {
            Some((_, last)) if last.0.checked_add(1) == Some(id.0) => *last = id,
            _ => runs.push((id, id)),
        }
    }
    runs
}

/// The fields that differ between two versions of a record, declared and custom, in name
/// order. Bytes are compared but shown by size only.
pub fn diff(old: Option<&Record>, new: Option<&Record>) -> Vec<FieldChange> {
    let empty = Record::new(RecordId(0));
    let old = old.unwrap_or(&empty);
    let new = new.unwrap_or(&empty);
    let mut names: Vec<String> =
        old.fields.keys().chain(new.fields.keys()).map(|k| k.to_string()).collect();
    names.extend(
        old.custom
            .keys()
            .chain(new.custom.keys())
            .map(|k| format!("{}{k}", crate::entity::CUSTOM_PREFIX)),
    );
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (a, b): (&Value, &Value) = (old.get(&name), new.get(&name));
            (a != b).then(|| {
                // Secrets such as password hashes are recorded as changed, never shown.
                let secret = name.ends_with("_hash");
                let show =
                    |v: &Value| if secret && !v.is_null() { "***".to_owned() } else { v.display() };
                FieldChange { old: show(a), new: show(b), field: name }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(first: u64, last: Option<u64>) -> AuditEntry {
        AuditEntry {
            id: RecordId(1),
            version: 0,
            entity: "customer".into(),
            record_id: RecordId(first),
            record_last: last.map(RecordId),
            actor: RecordId(2),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            action: AuditAction::Create,
            changes: Vec::new(),
        }
    }

    #[test]
    fn an_entry_covers_its_record_or_its_run() {
        assert!(entry(5, None).covers(RecordId(5)));
        assert!(!entry(5, None).covers(RecordId(6)));
        let run = entry(5, Some(9));
        assert!([5, 7, 9].iter().all(|id| run.covers(RecordId(*id))));
        assert!(!run.covers(RecordId(4)) && !run.covers(RecordId(10)));
        let record = run.to_record().unwrap();
        assert_eq!(AuditEntry::from_record(&record).unwrap(), run);
    }

    #[test]
    fn runs_group_consecutive_ids() {
        let ids = [7, 3, 4, 5, 9, 4, u64::MAX, u64::MAX - 1].map(RecordId).to_vec();
        let found: Vec<(u64, u64)> = runs(ids).into_iter().map(|(a, b)| (a.0, b.0)).collect();
        assert_eq!(found, [(3, 5), (7, 7), (9, 9), (u64::MAX - 1, u64::MAX)]);
        assert!(runs(Vec::new()).is_empty());
    }

    proptest! {
        /// Every id lies in exactly one run, and runs hold nothing else.
        #[test]
        fn runs_cover_exactly_the_ids(ids in proptest::collection::vec(0u64..200, 0..60)) {
            let found = runs(ids.iter().copied().map(RecordId).collect());
            let mut covered = Vec::new();
            for (first, last) in &found {
                prop_assert!(first <= last);
                covered.extend(first.0..=last.0);
            }
            let mut expected = ids.clone();
            expected.sort_unstable();
            expected.dedup();
            prop_assert_eq!(covered, expected);
            for pair in found.windows(2) {
                prop_assert!(pair[0].1 .0 + 1 < pair[1].0 .0, "runs are separate: {:?}", pair);
            }
        }
    }
}
