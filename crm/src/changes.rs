//! A change set: the writes of one service call plus their audit entries, committed as one
//! atomic batch.

use std::collections::BTreeMap;

use crm_domain::audit::{diff, runs, AuditAction, AuditEntry};
use crm_domain::{Batch, Entity, EntityDesc, Filter, Principal, Record, RecordId};

use crate::{Crm, Result};

/// Refuses an edit made on version `given` of a record that is now at `stored`: someone else
/// saved it in between, and saving would silently undo their change.
pub(crate) fn ensure_current(kind: &str, id: RecordId, given: u64, stored: u64) -> Result<()> {
    if given == stored {
        return Ok(());
    }
    Err(crm_domain::StoreError::conflict(format!(
        "{kind} {id} was changed by someone else; reload and try again"
    ))
    .into())
}

/// Collects inserts, updates and deletes with their audit entries.
pub(crate) struct Changes {
    batch: Batch<'static>,
    /// Kind, record, action and changed fields of every update and delete, for the audit
    /// entries.
    audits: Vec<(&'static str, RecordId, AuditAction, Vec<crm_domain::audit::FieldChange>)>,
    /// Kind and record of every insert; their audit entries cover runs of ids.
    created: Vec<(&'static str, RecordId)>,
    /// Audit entry ids the caller reserved along with its own (first, count).
    audit_ids: Option<(u64, u64)>,
}

impl Changes {
    pub(crate) fn new() -> Self {
        Self { batch: Batch::new(), audits: Vec::new(), created: Vec::new(), audit_ids: None }
    }

    /// Gives the change set `count` audit entry ids from `first` on, reserved by the caller.
    /// When the commit writes another number of entries, it reserves its own instead.
    pub(crate) fn use_audit_ids(&mut self, first: u64, count: u64) {
        self.audit_ids = Some((first, count));
    }

    /// Inserts a new entity (its id already allocated). The mapping onto a record checks
    /// every field against the description, and the store checks the record again.
    pub(crate) fn create<E: Entity>(&mut self, entity: &E) -> Result<()> {
        let mut record = entity.to_record()?;
        // Stores keep a new record at version 1; giving it that version here lets them keep
        // the batch's record instead of a copy.
        record.version = 1;
        self.created.push((&E::desc().kind, record.id));
        self.batch.insert(E::desc(), record);
        Ok(())
    }

    /// Inserts a new record of `desc` already mapped from its entity, at version 1.
    pub(crate) fn create_record(&mut self, desc: &'static EntityDesc, record: Record) {
        debug_assert_eq!(record.version, 1, "new records are stored at version 1");
        self.created.push((&desc.kind, record.id));
        self.batch.insert(desc, record);
    }

    /// Replaces `old` by `new`, guarded by `old`'s version. Writes nothing when nothing changed.
    pub(crate) fn update<E: Entity>(&mut self, old: &E, new: &E) -> Result<bool> {
        let before = old.to_record()?;
        let mut after = new.to_record()?;
        after.check(E::desc())?;
        after.version = before.version;
        let changes = diff(Some(&before), Some(&after));
        if changes.is_empty() {
            return Ok(false);
        }
        self.audits.push((&E::desc().kind, after.id, AuditAction::Update, changes));
        self.batch.update(E::desc(), after);
        Ok(true)
    }

    /// Deletes `old`, guarded by its version; the audit entry keeps every old value.
    pub(crate) fn delete<E: Entity>(&mut self, old: &E) -> Result<()> {
        let before = old.to_record()?;
        let changes = diff(Some(&before), None);
        self.audits.push((&E::desc().kind, before.id, AuditAction::Delete, changes));
        self.batch.delete(E::desc(), before.id, before.version);
        Ok(())
    }

    /// Requires that a record is still at `version` when the batch commits.
    pub(crate) fn check(&mut self, desc: &'static EntityDesc, id: RecordId, version: u64) {
        self.batch.check(desc, id, version);
    }

    /// Requires that a record is still stored, at any version, when the batch commits.
    pub(crate) fn exists(&mut self, desc: &'static EntityDesc, id: RecordId) {
        self.batch.exists(desc, id);
    }

    /// Requires that no record of `desc` matches `filters` when the batch commits.
    pub(crate) fn none_match(&mut self, desc: &'static EntityDesc, filters: Vec<Filter>) {
        self.batch.none_match(desc, filters);
    }

    /// Commits everything atomically with its audit entries: one per update or delete, and
    /// one per run of consecutive ids of each kind created together (a bulk create or an
    /// import writes a handful of entries, not one per row).
    pub(crate) fn commit(mut self, crm: &Crm, who: &Principal) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut entries = Vec::with_capacity(self.audits.len());
        let mut created: BTreeMap<&str, Vec<RecordId>> = BTreeMap::new();
        for (entity, record_id) in std::mem::take(&mut self.created) {
            created.entry(entity).or_default().push(record_id);
        }
        for (entity, record_id, action, changes) in std::mem::take(&mut self.audits) {
            entries.push((entity.to_owned(), record_id, None, action, changes));
        }
        for (entity, ids) in created {
            for (first, last) in runs(ids) {
                let last = (last != first).then_some(last);
                entries.push((entity.to_owned(), first, last, AuditAction::Create, Vec::new()));
            }
        }
        let count = entries.len() as u64;
        if count > 0 {
            let first = match self.audit_ids {
                Some((first, reserved)) if reserved == count => first,
                _ => crm.allocate::<AuditEntry>(&who.tenant, count)?,
            };
            let at = crate::now();
            for (offset, (entity, record_id, record_last, action, changes)) in
                entries.into_iter().enumerate()
            {
                let entry = AuditEntry {
                    id: RecordId(first + offset as u64),
                    version: 0,
                    entity,
                    record_id,
                    record_last,
                    actor: who.user,
                    at,
                    action,
                    changes,
                };
                self.batch.insert(AuditEntry::desc(), entry.to_record()?);
            }
        }
        crm.store.commit(&who.tenant, &self.batch)?;
        if self.batch.ops.len() >= crate::parallel::MIN_ITEMS {
            crate::parallel::drop_elsewhere(std::mem::take(&mut self.batch));
        }
        Ok(())
    }
}
