//! What every record that goes through approval shares — finance requests, quotes,
//! contracts and entries of user-defined forms: who wrote it and may change it, the fields approvers may change, submitting it
//! (a first round, or a new round after a rejection or withdrawal), and following its
//! approval inside every action's batch.
//!
//! Each form's module adds only what is its own (what a person types, numbering, lists);
//! [`Documents`] does the rest for any [`Approvable`] type, and the dispatch functions here
//! route a workflow binding to its type.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crm_domain::audit::{diff, AuditAction};
use crm_domain::model::{
    ApprovalStatus, Contract, Customer, FinanceRequest, FormDef, FormEntry, Quote,
};
use crm_domain::{
    Batch, DomainError, Entity, Filter, Principal, Query, Record, RecordId, Sort, Store, TenantId,
    Value,
};
use crm_workflow::store::StatusChange;
use crm_workflow::{Action, Actor, FormBinding, Status, WorkflowError};

use crate::assignments::add_audits;
use crate::changes::{ensure_current, Changes};
use crate::workflow::{FormHook, OrgDirectory};
use crate::{Crm, Page, Result};

/// A record whose status follows an approval instance.
pub(crate) trait Approvable: Entity + Clone + PartialEq {
    /// What one is called in messages (`"quote"`).
    const NOUN: &'static str;
    /// The field naming the person who wrote it and submits it.
    const AUTHOR_FIELD: &'static str;
    /// The fields an approver may change (where the node lets them) and that are written
    /// back; the rest (number, author, status, approval, times) belong to the engine.
    const APPROVER_EDITABLE: &'static [&'static str];

    /// The stored version.
    fn version(&self) -> u64;
    /// The document number.
    fn code(&self) -> &str;
    /// The person who wrote it and submits it.
    fn author(&self) -> RecordId;
    /// Where it stands.
    fn status(&self) -> ApprovalStatus;
    /// Its approval instance, once submitted.
    fn instance(&self) -> Option<RecordId>;
    /// The workflow form it is submitted as.
    fn binding(&self) -> FormBinding;
    /// Trims what a person typed and checks every rule, filling what is worked out.
    fn normalize(&mut self) -> std::result::Result<(), DomainError>;
    /// Takes the approval's status and instance, as of `now`.
    fn follow(&mut self, status: ApprovalStatus, instance: RecordId, now: DateTime<Utc>);
    /// Takes the id, document number and version it is stored under.
    fn stored_as(&mut self, id: RecordId, code: String, version: u64);

    /// The fields its approval instance carries, by the names conditions use: what a person
    /// wrote, without the approval's own bookkeeping (status, instance, times), which the
    /// instance keeps itself.
    fn workflow_fields(&self) -> std::result::Result<BTreeMap<String, Value>, DomainError> {
        Ok(without_bookkeeping(self.to_record()?.into_named_fields()))
    }

    /// The names of the fields approvers may have changed, given the approval's `fields`.
    fn approver_fields(fields: &BTreeMap<String, Value>) -> Vec<String> {
        let _ = fields;
        Self::APPROVER_EDITABLE.iter().map(|&name| name.to_owned()).collect()
    }

    /// Checks the record once approvers changed it (`before` is it as stored): it must be one
    /// its author could have written, kept the same way.
    fn check_changed(
        &mut self,
        store: &dyn Store,
        tenant: &TenantId,
        before: &Self,
    ) -> std::result::Result<(), DomainError> {
        let _ = (store, tenant, before);
        self.normalize()
    }
}

/// `fields` without what the approval keeps itself: the record's status, its instance and
/// its times.
fn without_bookkeeping(mut fields: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    for bookkeeping in ["status", "instance", "created_at", "updated_at"] {
        fields.remove(bookkeeping);
    }
    fields
}

/// The value of field `name` of a `T` record: a declared field, or else one of its custom
/// values (where an entry of a user-defined form keeps its form's fields).
fn value_of<'r, T: Entity>(record: &'r Record, name: &str) -> &'r Value {
    static NULL: Value = Value::Null;
    if T::desc().field(name).is_some() {
        return record.get(name);
    }
    record.custom.get(name).unwrap_or(&NULL)
}

/// Sets field `name` of a `T` record, declared or custom (an empty custom value is removed).
fn set_value<T: Entity>(record: &mut Record, name: &str, value: Value) {
    if T::desc().field(name).is_some() {
        record.fields.insert(name.to_owned().into(), value);
    } else if value.is_null() {
        record.custom.remove(name);
    } else {
        record.custom.insert(name.to_owned(), value);
    }
}

/// The parts of [`Approvable`] every approvable record has under the same field names
/// (`version`, `code`, `status`, `instance`, `updated_at`, `id`, and a `normalize` of its own).
macro_rules! shared_document_fields {
    () => {
        fn version(&self) -> u64 {
            self.version
        }
        fn code(&self) -> &str {
            &self.code
        }
        fn status(&self) -> ApprovalStatus {
            self.status
        }
        fn instance(&self) -> Option<RecordId> {
            self.instance
        }
        fn normalize(&mut self) -> std::result::Result<(), DomainError> {
            Self::normalize(self)
        }
        fn follow(&mut self, status: ApprovalStatus, instance: RecordId, now: DateTime<Utc>) {
            (self.status, self.instance, self.updated_at) = (status, Some(instance), now);
        }
        fn stored_as(&mut self, id: RecordId, code: String, version: u64) {
            (self.id, self.code, self.version) = (id, code, version);
        }
    };
}

impl Approvable for FinanceRequest {
    const NOUN: &'static str = "finance request";
    const AUTHOR_FIELD: &'static str = "applicant";
    const APPROVER_EDITABLE: &'static [&'static str] =
        &["title", "amount", "currency", "category", "purpose", "spent_on", "repay_by", "customer"];

    fn author(&self) -> RecordId {
        self.applicant
    }
    fn binding(&self) -> FormBinding {
        crate::finance::binding_of(self.form)
    }
    shared_document_fields!();
}

impl Approvable for Quote {
    const NOUN: &'static str = "quote";
    const AUTHOR_FIELD: &'static str = "owner";
    const APPROVER_EDITABLE: &'static [&'static str] = &["title", "valid_until", "remarks"];

    fn author(&self) -> RecordId {
        self.owner
    }
    fn binding(&self) -> FormBinding {
        FormBinding::Quote
    }
    shared_document_fields!();
}

impl Approvable for Contract {
    const NOUN: &'static str = "contract";
    const AUTHOR_FIELD: &'static str = "owner";
    const APPROVER_EDITABLE: &'static [&'static str] =
        &["title", "amount", "signed_on", "starts_on", "ends_on", "payment_terms", "remarks"];

    fn author(&self) -> RecordId {
        self.owner
    }
    fn binding(&self) -> FormBinding {
        FormBinding::Contract
    }
    shared_document_fields!();
}

impl Approvable for FormEntry {
    const NOUN: &'static str = "form entry";
    const AUTHOR_FIELD: &'static str = "owner";
    /// The entry's own field approvers may change; the form's fields come on top.
    const APPROVER_EDITABLE: &'static [&'static str] = &["title"];

    fn author(&self) -> RecordId {
        self.owner
    }
    fn binding(&self) -> FormBinding {
        FormBinding::Custom(self.form)
    }
    fn workflow_fields(&self) -> std::result::Result<BTreeMap<String, Value>, DomainError> {
        Ok(without_bookkeeping(FormEntry::workflow_fields(self)?))
    }
    fn approver_fields(fields: &BTreeMap<String, Value>) -> Vec<String> {
        let own = Self::APPROVER_EDITABLE.iter().map(|&name| name.to_owned());
        let values = fields.keys().filter(|name| Self::desc().field(name).is_none()).cloned();
        own.chain(values).collect()
    }
    fn check_changed(
        &mut self,
        store: &dyn Store,
        tenant: &TenantId,
        before: &Self,
    ) -> std::result::Result<(), DomainError> {
        let form = store
            .get(tenant, FormDef::desc(), self.form)
            .map_err(|e| DomainError::invalid("form", e.to_string()))?
            .ok_or_else(|| {
                DomainError::invalid("form", format!("there is no form {}", self.form))
            })?;
        self.normalize_changes(&FormDef::from_record(&form)?, before)
    }
    shared_document_fields!();
}

/// The approvable record type a workflow binding stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Finance,
    Quote,
    Contract,
    /// Entries of user-defined forms, whichever form.
    Custom,
}

impl Kind {
    /// The kind bound as `binding`; `None` for forms whose records are not [`Approvable`].
    pub(crate) fn of(binding: &FormBinding) -> Option<Self> {
        match binding {
            FormBinding::Expense | FormBinding::Reimbursement | FormBinding::Loan => {
                Some(Kind::Finance)
            }
            FormBinding::Quote => Some(Kind::Quote),
            FormBinding::Contract => Some(Kind::Contract),
            FormBinding::Custom(_) => Some(Kind::Custom),
            FormBinding::CustomerAssignment => None,
        }
    }

    /// The description of the kind's records.
    pub(crate) fn desc(self) -> &'static crm_domain::EntityDesc {
        match self {
            Kind::Finance => FinanceRequest::desc(),
            Kind::Quote => Quote::desc(),
            Kind::Contract => Contract::desc(),
            Kind::Custom => FormEntry::desc(),
        }
    }

    /// Refuses a definition whose approvers could change a field that is not theirs;
    /// `fields` are the bound form's fields.
    pub(crate) fn check_editable(
        self,
        definition: &crm_workflow::Definition,
        fields: &[crm_workflow::FormField],
    ) -> Result<()> {
        let own = |editable: &[&str]| editable.iter().map(|&n| n.to_owned()).collect::<Vec<_>>();
        let allowed = match self {
            Kind::Finance => own(FinanceRequest::APPROVER_EDITABLE),
            Kind::Quote => own(Quote::APPROVER_EDITABLE),
            Kind::Contract => own(Contract::APPROVER_EDITABLE),
            Kind::Custom => {
                let values = fields.iter().map(|f| (f.name.clone(), Value::Null)).collect();
                FormEntry::approver_fields(&values)
            }
        };
        check_editable(definition, &allowed)
    }

    /// Checks approvers' changes to record `id` before the approval runs, and returns them
    /// kept the way the record keeps them (an amount typed `11000` as `11000.00`).
    pub(crate) fn check_changes(
        self,
        crm: &Crm,
        tenant: &TenantId,
        id: RecordId,
        changes: &BTreeMap<String, Value>,
    ) -> Result<BTreeMap<String, Value>> {
        match self {
            Kind::Finance => check_approver_changes::<FinanceRequest>(crm, tenant, id, changes),
            Kind::Quote => check_approver_changes::<Quote>(crm, tenant, id, changes),
            Kind::Contract => check_approver_changes::<Contract>(crm, tenant, id, changes),
            Kind::Custom => check_approver_changes::<FormEntry>(crm, tenant, id, changes),
        }
    }

    /// Keeps record `change.record` in step with its approval, in the action's batch.
    pub(crate) fn follow_approval<'h>(
        self,
        store: &dyn Store,
        tenant: &TenantId,
        actor: RecordId,
        change: &StatusChange<'_>,
        batch: &mut Batch<'h>,
    ) -> std::result::Result<(), WorkflowError> {
        match self {
            Kind::Finance => follow_approval::<FinanceRequest>(store, tenant, actor, change, batch),
            Kind::Quote => follow_approval::<Quote>(store, tenant, actor, change, batch),
            Kind::Contract => follow_approval::<Contract>(store, tenant, actor, change, batch),
            Kind::Custom => follow_approval::<FormEntry>(store, tenant, actor, change, batch),
        }
    }

    /// The record's fields as they are now, for a resubmission by `who` (its author).
    pub(crate) fn current_fields(
        self,
        crm: &Crm,
        who: &Principal,
        id: RecordId,
    ) -> Result<BTreeMap<String, Value>> {
        Ok(match self {
            Kind::Finance => {
                Documents::<FinanceRequest>::new(crm, who).get(id)?.workflow_fields()?
            }
            Kind::Quote => Documents::<Quote>::new(crm, who).get(id)?.workflow_fields()?,
            Kind::Contract => Documents::<Contract>::new(crm, who).get(id)?.workflow_fields()?,
            Kind::Custom => Documents::<FormEntry>::new(crm, who).get(id)?.workflow_fields()?,
        })
    }
}

fn approval_status(status: Status) -> ApprovalStatus {
    match status {
        Status::Pending => ApprovalStatus::Pending,
        Status::Approved => ApprovalStatus::Approved,
        Status::Rejected => ApprovalStatus::Rejected,
        Status::Withdrawn => ApprovalStatus::Withdrawn,
    }
}

/// Refuses a definition whose approvers could edit a field that is not theirs to change
/// (the number, author, status, approval or times): only the `allowed` ones are.
fn check_editable(definition: &crm_workflow::Definition, allowed: &[String]) -> Result<()> {
    for node in &definition.nodes {
        let Some(approval) = node.approval() else { continue };
        if let Some(field) = approval.editable_fields.iter().find(|f| !allowed.contains(f)) {
            return Err(DomainError::invalid(
                "editable_fields",
                format!(
                    "node {:?}: approvers may not change {field:?}; they may change {}",
                    node.id,
                    allowed.join(", ")
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// Checks approvers' `changes` to record `id` before the approval runs, so a bad value is
/// refused with an error naming its field: the record with the changes applied must be one
/// its author could have written, and a customer named must exist. Returns the changes as
/// the record keeps them once normalized.
fn check_approver_changes<T: Approvable>(
    crm: &Crm,
    tenant: &TenantId,
    id: RecordId,
    changes: &BTreeMap<String, Value>,
) -> Result<BTreeMap<String, Value>> {
    let stored = crm
        .store
        .get(tenant, T::desc(), id)?
        .ok_or(DomainError::NotFound { kind: T::NOUN.into(), id })?;
    let mut changed = stored.clone();
    for (name, value) in changes {
        if let Some(field) = T::desc().field(name) {
            if !value.is_null() && value.field_type() != Some(field.ty) {
                return Err(DomainError::invalid(name, format!("must be a {:?}", field.ty)).into());
            }
        }
        set_value::<T>(&mut changed, name, value.clone());
    }
    // A record that no longer reads is one whose required field was emptied.
    let mut document = T::from_record(&changed).map_err(|_| {
        let emptied = changes.iter().find(|(_, value)| value.is_null()).map(|(name, _)| name);
        let field = emptied.or_else(|| changes.keys().next()).cloned().unwrap_or_default();
        DomainError::invalid(&field, "cannot be left empty")
    })?;
    document.check_changed(crm.store.as_ref(), tenant, &T::from_record(&stored)?)?;
    let customer = changes.get("customer").and_then(Value::as_ref_id);
    if let Some(customer) = customer.filter(|c| Some(*c) != stored.get("customer").as_ref_id()) {
        if crm.load::<Customer>(tenant, customer)?.is_none() {
            return Err(DomainError::invalid(
                "customer",
                format!("there is no customer {customer}"),
            )
            .into());
        }
    }
    let kept = document.to_record()?;
    Ok(changes
        .iter()
        .map(|(name, value)| {
            let value = match value_of::<T>(&kept, name) {
                Value::Null => value.clone(),
                kept => kept.clone(),
            };
            (name.clone(), value)
        })
        .collect())
}

/// Keeps a record in step with its approval: sets its status and approval instance and
/// writes back the fields approvers changed, with audit entries, in the action's batch. A
/// change of the instance's fields that leaves the record invalid aborts the action.
fn follow_approval<'h, T: Approvable>(
    store: &dyn Store,
    tenant: &TenantId,
    actor: RecordId,
    change: &StatusChange<'_>,
    batch: &mut Batch<'h>,
) -> std::result::Result<(), WorkflowError> {
    let hook_error = |e: &dyn std::fmt::Display| WorkflowError::Hook(e.to_string());
    let before = store
        .get(tenant, T::desc(), change.record)?
        .ok_or_else(|| hook_error(&format!("{} {} not found", T::NOUN, change.record)))?;
    let submitting = change.to == Status::Pending
        && matches!(change.from, None | Some(Status::Rejected | Status::Withdrawn));
    if submitting {
        // The record was read before the submission; an edit saved in between must not be
        // overwritten by the older fields the approval carries.
        let changed = T::approver_fields(&change.state.fields).iter().any(|name| {
            value_of::<T>(&before, name) != change.state.fields.get(name).unwrap_or(&Value::Null)
        });
        if changed {
            return Err(crm_domain::StoreError::conflict(format!(
                "{} {} was changed while it was being submitted; reload and submit again",
                T::NOUN,
                change.record
            ))
            .into());
        }
    }
    let mut after = before.clone();
    for name in T::approver_fields(&change.state.fields) {
        if let Some(value) = change.state.fields.get(&name) {
            set_value::<T>(&mut after, &name, value.clone());
        }
    }
    let mut document = T::from_record(&after).map_err(|e| hook_error(&e))?;
    if change.from.is_some() {
        // Approvers' edits must leave a record its author could have written, kept the same
        // way (an amount typed `1200` is stored as `1200.00`).
        let stored = T::from_record(&before).map_err(|e| hook_error(&e))?;
        document.check_changed(store, tenant, &stored).map_err(|e| hook_error(&e))?;
    }
    let now = crate::now();
    document.follow(approval_status(change.to), change.instance, now);
    let after = document.to_record().map_err(|e| hook_error(&e))?;
    let changes = diff(Some(&before), Some(&after));
    if changes.is_empty() {
        return Ok(());
    }
    batch.update(T::desc(), after);
    tracing::info!(
        %tenant,
        kind = T::NOUN,
        record = %change.record,
        status = %document.status(),
        "record follows its approval"
    );
    let audit = (T::desc().kind.clone(), change.record, AuditAction::Update, changes);
    add_audits(store, tenant, actor, now, vec![audit], batch)
}

/// The records of one approvable type as one principal sees them: their author and
/// administrators see a record; approvers read it through its approval instance, field by
/// field as their node allows.
pub(crate) struct Documents<'a, T> {
    crm: &'a Crm,
    who: &'a Principal,
    kind: std::marker::PhantomData<T>,
}

impl<'a, T: Approvable> Documents<'a, T> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who, kind: std::marker::PhantomData }
    }

    pub(crate) fn not_found(id: RecordId) -> crate::Error {
        DomainError::NotFound { kind: T::NOUN.into(), id }.into()
    }

    /// One record, for its author and administrators; to anyone else it does not exist.
    pub(crate) fn get(&self, id: RecordId) -> Result<T> {
        let found = self.crm.load::<T>(&self.who.tenant, id)?.ok_or_else(|| Self::not_found(id))?;
        if self.who.is_admin() || found.author() == self.who.user {
            return Ok(found);
        }
        Err(Self::not_found(id))
    }

    /// A record the principal may change: their own, at `version`, still editable.
    pub(crate) fn own_editable(&self, id: RecordId, version: u64) -> Result<T> {
        let found = self.get(id)?;
        if found.author() != self.who.user {
            return Err(DomainError::Forbidden(format!(
                "only its author changes {} {}",
                T::NOUN,
                found.code()
            ))
            .into());
        }
        ensure_current(T::NOUN, id, version, found.version())?;
        if !found.status().is_editable() {
            return Err(DomainError::State(format!(
                "{} {} is {} and cannot be changed",
                T::NOUN,
                found.code(),
                found.status()
            ))
            .into());
        }
        Ok(found)
    }

    /// Stores a new, normalized `document` under a new id and the next number of
    /// `sequence` (`{prefix}000001`), audited. Called after every check, so a refused
    /// document spends no number.
    pub(crate) fn insert(&self, document: &mut T, sequence: &str, prefix: &str) -> Result<()> {
        let tenant = &self.who.tenant;
        let id = RecordId(self.crm.allocate::<T>(tenant, 1)?);
        let number = self.crm.store.next_in_sequence(tenant, sequence, 1)?;
        document.stored_as(id, format!("{prefix}{number:06}"), 0);
        let mut changes = Changes::new();
        changes.create(document)?;
        changes.commit(self.crm, self.who)?;
        document.stored_as(id, document.code().to_owned(), 1);
        tracing::info!(%tenant, kind = T::NOUN, %id, code = document.code(), "document written");
        Ok(())
    }

    /// Stores `changed` over `old` (both normalized) as one audited change; the record at
    /// its new version, or `old` when nothing changed.
    pub(crate) fn save(&self, old: T, changed: T) -> Result<T> {
        if changed == old {
            return Ok(old);
        }
        let mut changes = Changes::new();
        if !changes.update(&old, &changed)? {
            return Ok(old);
        }
        changes.commit(self.crm, self.who)?;
        self.get(old.id())
    }

    /// Deletes a draft that was never submitted.
    pub(crate) fn delete(&self, id: RecordId, version: u64) -> Result<()> {
        let found = self.own_editable(id, version)?;
        if found.instance().is_some() {
            return Err(DomainError::State(format!(
                "{} {} has an approval history and is kept",
                T::NOUN,
                found.code()
            ))
            .into());
        }
        let mut changes = Changes::new();
        changes.delete(&found)?;
        changes.commit(self.crm, self.who)
    }

    /// Submits the author's record at `version` for approval, made for `unit` (one of the
    /// author's units; `None`: their home unit). A draft starts an instance of the workflow
    /// most recently bound to its form; a rejected or withdrawn record starts a new round of
    /// its instance with its current fields, in the unit of its first submission.
    pub(crate) fn submit_for(
        &self,
        id: RecordId,
        version: u64,
        unit: Option<RecordId>,
    ) -> Result<T> {
        let found = self.own_editable(id, version)?;
        if unit.is_some() && found.instance().is_some() {
            return Err(DomainError::invalid(
                "unit",
                "a request submitted again keeps the unit of its first submission",
            )
            .into());
        }
        let tenant = &self.who.tenant;
        let fields = found.workflow_fields()?;
        let directory = OrgDirectory::load(self.crm, self.who)?;
        let hook = FormHook::new(self.crm, self.who.user);
        let engine = self.crm.engine(tenant).with_hook(&hook);
        let now = crate::now();
        match found.instance() {
            None => {
                let binding = found.binding();
                let bound = engine
                    .definitions()?
                    .into_iter()
                    .filter(|d| d.form == binding)
                    .max_by_key(|d| (d.created_at, d.id))
                    .ok_or_else(|| {
                        let form = match &binding {
                            FormBinding::Custom(id) => self
                                .crm
                                .load::<FormDef>(tenant, *id)
                                .ok()
                                .flatten()
                                .map(|form| format!("form {}", form.key)),
                            _ => None,
                        };
                        DomainError::State(format!(
                            "no workflow is bound to {}; an administrator must define one",
                            form.unwrap_or_else(|| binding.key())
                        ))
                    })?;
                engine.submit_for(&bound.name, id, self.who.user, unit, fields, now, &directory)?;
            }
            Some(instance) => {
                let actor = if self.who.is_admin() {
                    Actor::administrator(self.who.user)
                } else {
                    Actor::user(self.who.user)
                };
                let action = Action::Resubmit { fields: Some(fields) };
                engine.act(instance, actor, action, now, &directory)?;
            }
        }
        self.get(id)
    }

    /// Records newest first, with `filters` on top: a plain user's own, or everyone's for an
    /// administrator. `limit` 0 means 50; at most 500.
    pub(crate) fn list(&self, filters: Vec<Filter>, offset: u64, limit: u64) -> Result<Page<T>> {
        let mut query = Query::all()
            .sort(Sort::desc("created_at"))
            .page(offset, if limit == 0 { 50 } else { limit.min(500) });
        if !self.who.is_admin() {
            query = query.filter(Filter::Eq(T::AUTHOR_FIELD.into(), Value::Ref(self.who.user)));
        }
        for filter in filters {
            query = query.filter(filter);
        }
        self.crm.find(&self.who.tenant, &query)
    }

    /// Refuses a customer the principal could not see, naming `field`.
    pub(crate) fn customer_visible(&self, field: &str, customer: Option<RecordId>) -> Result<()> {
        match customer {
            Some(id) => self.crm.customers(self.who).get(id).map(drop).map_err(|_| {
                DomainError::invalid(field, format!("customer {id} is not one you can see")).into()
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_name_their_kinds() {
        assert_eq!(Kind::of(&FormBinding::Loan), Some(Kind::Finance));
        assert_eq!(Kind::of(&FormBinding::Quote), Some(Kind::Quote));
        assert_eq!(Kind::of(&FormBinding::Contract), Some(Kind::Contract));
        assert_eq!(Kind::of(&FormBinding::Custom(RecordId(3))), Some(Kind::Custom));
        assert_eq!(Kind::of(&FormBinding::CustomerAssignment), None);
        assert_eq!(approval_status(Status::Rejected), ApprovalStatus::Rejected);
        for kind in [Kind::Finance, Kind::Quote, Kind::Contract, Kind::Custom] {
            assert!(kind.desc().field("status").is_some());
        }
    }

    #[test]
    fn approvers_edit_only_typed_fields() {
        for (desc, editable) in [
            (FinanceRequest::desc(), FinanceRequest::APPROVER_EDITABLE),
            (Quote::desc(), Quote::APPROVER_EDITABLE),
            (Contract::desc(), Contract::APPROVER_EDITABLE),
            (FormEntry::desc(), FormEntry::APPROVER_EDITABLE),
        ] {
            for name in editable {
                assert!(desc.field(name).is_some(), "{}: {name}", desc.kind);
                assert!(!["code", "status", "instance", "owner", "applicant"].contains(name));
            }
        }
    }
}
