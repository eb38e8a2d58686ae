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
    /// Id of the changed record.
    pub record_id: RecordId,
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

/// The fields that differ between two versions of a record, declared and custom, in name
/// order. Bytes are compared but shown by size only.
pub fn diff(old: Option<&Record>, new: Option<&Record>) -> Vec<FieldChange> {
    let empty = Record::new(RecordId(0));
    let old = old.unwrap_or(&empty);
    let new = new.unwrap_or(&empty);
    let mut names: Vec<String> = old.fields.keys().chain(new.fields.keys()).cloned().collect();
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
