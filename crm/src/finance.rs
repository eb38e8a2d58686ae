//! Finance requests (财务申请): expense, reimbursement and loan requests, each approved
//! through the tenant's workflow bound to its form (`expense`, `reimbursement`, `loan`).
//!
//! The applicant writes a draft, edits it, and submits it; the request's status then follows
//! its approval (draft → pending → approved / rejected / withdrawn) through
//! `follow_approval`, which the facade's workflow hook calls inside every approval action's
//! batch. Fields an approver changed (where the node lets them) are written back to the
//! request in the same batch. A rejected or withdrawn request can be edited and submitted
//! again: its approval starts a new round from the first node.
//!
//! Visibility: the applicant and administrators see a request. Approvers see it through its
//! approval instance, which shows each of them only the fields their node lets them see.
//! Lists show a plain user their own requests and an administrator everyone's.

use chrono::NaiveDate;
use crm_domain::audit::{diff, AuditAction};
use crm_domain::model::{ApprovalStatus, FinanceRequest, RequestForm};
use crm_domain::{
    Batch, DomainError, Entity, Filter, Principal, Query, RecordId, Sort, Store, TenantId, Value,
};
use crm_workflow::store::StatusChange;
use crm_workflow::{Action, Actor, FormBinding, Status, WorkflowError, WorkflowStore};
use rust_decimal::Decimal;

pub use crm_domain::model::finance::parse_amount;

use crate::assignments::add_audits;
use crate::changes::{ensure_current, Changes};
use crate::workflow::{FormHook, OrgDirectory};
use crate::{Crm, Page, Result};

/// What an applicant types into a finance request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestDraft {
    /// Which form (fixed once created).
    pub form: RequestForm,
    /// A one-line subject.
    pub title: String,
    /// The amount asked for.
    pub amount: Decimal,
    /// ISO currency code; empty means `CNY`.
    pub currency: String,
    /// The kind of cost.
    pub category: String,
    /// What the money is for.
    pub purpose: String,
    /// When the cost arises or arose.
    pub spent_on: Option<NaiveDate>,
    /// When a loan is repaid (loans only).
    pub repay_by: Option<NaiveDate>,
    /// The customer the cost is for.
    pub customer: Option<RecordId>,
}

/// Which requests [`Requests::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only this form.
    pub form: Option<RequestForm>,
    /// Only this status.
    pub status: Option<ApprovalStatus>,
    /// Skip this many.
    pub offset: u64,
    /// At most this many (0 = 50).
    pub limit: u64,
}

/// The workflow form binding of a finance form.
pub fn binding_of(form: RequestForm) -> FormBinding {
    match form {
        RequestForm::Expense => FormBinding::Expense,
        RequestForm::Reimbursement => FormBinding::Reimbursement,
        RequestForm::Loan => FormBinding::Loan,
    }
}

/// The finance form a workflow binding stands for, if it is one.
pub fn form_of(binding: &FormBinding) -> Option<RequestForm> {
    match binding {
        FormBinding::Expense => Some(RequestForm::Expense),
        FormBinding::Reimbursement => Some(RequestForm::Reimbursement),
        FormBinding::Loan => Some(RequestForm::Loan),
        _ => None,
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

/// The fields an approver may change (where the node allows it) and that are written back to
/// the request; the rest (number, applicant, status, …) belong to the engine.
const APPROVER_EDITABLE: [&str; 8] =
    ["title", "amount", "currency", "category", "purpose", "spent_on", "repay_by", "customer"];

/// Refuses a definition for a finance form whose approvers could edit a field that is not
/// theirs to change (the number, applicant, status, approval or times).
pub(crate) fn check_editable(definition: &crm_workflow::Definition) -> Result<()> {
    for node in &definition.nodes {
        let Some(approval) = node.approval() else { continue };
        if let Some(field) =
            approval.editable_fields.iter().find(|f| !APPROVER_EDITABLE.contains(&f.as_str()))
        {
            return Err(DomainError::invalid(
                "editable_fields",
                format!(
                    "node {:?}: approvers may not change {field:?}; they may change {}",
                    node.id,
                    APPROVER_EDITABLE.join(", ")
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// Checks approvers' `changes` to finance request `id` before the approval runs, so a bad
/// value is refused with an error naming its field: the request with the changes applied
/// must be one its applicant could have written, and a customer must exist.
pub(crate) fn check_approver_changes(
    crm: &Crm,
    tenant: &TenantId,
    id: RecordId,
    changes: &std::collections::BTreeMap<String, Value>,
) -> Result<()> {
    let stored = crm
        .store
        .get(tenant, FinanceRequest::desc(), id)?
        .ok_or(DomainError::NotFound { kind: "finance request".into(), id })?;
    let mut changed = stored.clone();
    for (name, value) in changes {
        if let Some(field) = FinanceRequest::desc().field(name) {
            if !value.is_null() && value.field_type() != Some(field.ty) {
                return Err(DomainError::invalid(name, format!("must be a {:?}", field.ty)).into());
            }
        }
        changed.fields.insert(name.clone(), value.clone());
    }
    let request = FinanceRequest::from_record(&changed).map_err(|_| {
        let field = changes.keys().next().cloned().unwrap_or_default();
        DomainError::invalid(&field, "cannot be left empty")
    })?;
    request.validate()?;
    if let Some(customer) =
        request.customer.filter(|c| Some(*c) != stored.get("customer").as_ref_id())
    {
        if crm.load::<crm_domain::model::Customer>(tenant, customer)?.is_none() {
            return Err(DomainError::invalid(
                "customer",
                format!("there is no customer {customer}"),
            )
            .into());
        }
    }
    Ok(())
}

/// Keeps a finance request in step with its approval: sets its status and approval instance
/// and writes back the fields approvers changed, with audit entries, in the action's batch.
/// A change of the instance's fields that leaves the request invalid aborts the action.
pub(crate) fn follow_approval<'h>(
    store: &dyn Store,
    tenant: &TenantId,
    actor: RecordId,
    change: &StatusChange<'_>,
    batch: &mut Batch<'h>,
) -> Result<(), WorkflowError> {
    let hook_error = |e: &dyn std::fmt::Display| WorkflowError::Hook(e.to_string());
    let before = store
        .get(tenant, FinanceRequest::desc(), change.record)?
        .ok_or_else(|| hook_error(&format!("finance request {} not found", change.record)))?;
    let submitting = change.to == Status::Pending
        && matches!(change.from, None | Some(Status::Rejected | Status::Withdrawn));
    if submitting {
        // The request was read before the submission; an edit saved in between must not be
        // overwritten by the older fields the approval carries.
        let changed = APPROVER_EDITABLE
            .iter()
            .any(|name| before.get(name) != change.state.fields.get(*name).unwrap_or(&Value::Null));
        if changed {
            return Err(crm_domain::StoreError::conflict(format!(
                "finance request {} was changed while it was being submitted; reload and submit again",
                change.record
            ))
            .into());
        }
    }
    let mut after = before.clone();
    for name in APPROVER_EDITABLE {
        if let Some(value) = change.state.fields.get(name) {
            after.fields.insert(name.to_owned(), value.clone());
        }
    }
    let mut request = FinanceRequest::from_record(&after).map_err(|e| hook_error(&e))?;
    if change.from.is_some() {
        // Approvers' edits must leave a request its applicant could have written, kept the
        // same way (an amount typed `1200` is stored as `1200.00`).
        request.normalize().map_err(|e| hook_error(&e))?;
    }
    request.status = approval_status(change.to);
    request.instance = Some(change.instance);
    request.updated_at = crate::now();
    let after = request.to_record().map_err(|e| hook_error(&e))?;
    let changes = diff(Some(&before), Some(&after));
    if changes.is_empty() {
        return Ok(());
    }
    batch.update(FinanceRequest::desc(), after);
    tracing::info!(
        %tenant,
        request = %request.id,
        form = %request.form,
        status = %request.status,
        "finance request follows its approval"
    );
    let audit = (FinanceRequest::desc().kind.clone(), request.id, AuditAction::Update, changes);
    add_audits(store, tenant, actor, request.updated_at, vec![audit], batch)
}

/// Finance requests as one principal sees them.
pub struct Requests<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

impl<'a> Requests<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    fn not_found(id: RecordId) -> crate::Error {
        DomainError::NotFound { kind: "finance request".into(), id }.into()
    }

    /// Writes a new draft for the principal, numbered from the form's sequence.
    pub fn create(&self, draft: RequestDraft) -> Result<FinanceRequest> {
        let tenant = &self.who.tenant;
        let now = crate::now();
        let mut request = FinanceRequest {
            applicant: self.who.user,
            status: ApprovalStatus::Draft,
            created_at: now,
            updated_at: now,
            ..FinanceRequest::default()
        };
        apply(&mut request, draft);
        // Checked before numbers are spent, so a refused draft costs nothing.
        request.normalize()?;
        self.customer_visible(request.customer)?;
        request.id = RecordId(self.crm.allocate::<FinanceRequest>(tenant, 1)?);
        let number = self.crm.store.next_in_sequence(
            tenant,
            &format!("code.{}", request.form.as_str()),
            1,
        )?;
        request.code = format!("{}{number:06}", request.form.code_prefix());
        let mut changes = Changes::new();
        changes.create(&request)?;
        changes.commit(self.crm, self.who)?;
        request.version = 1;
        tracing::info!(%tenant, request = %request.id, code = %request.code, "finance request written");
        Ok(request)
    }

    /// One request: its applicant and administrators see it; to anyone else it does not
    /// exist (approvers read it through the approval instance, field by field as their node
    /// allows).
    pub fn get(&self, id: RecordId) -> Result<FinanceRequest> {
        let request = self
            .crm
            .load::<FinanceRequest>(&self.who.tenant, id)?
            .ok_or_else(|| Self::not_found(id))?;
        if self.who.is_admin() || request.applicant == self.who.user {
            return Ok(request);
        }
        Err(Self::not_found(id))
    }

    /// A request the principal may change: their own, still editable.
    fn own_editable(&self, id: RecordId, version: u64) -> Result<FinanceRequest> {
        let request = self.get(id)?;
        if request.applicant != self.who.user {
            return Err(DomainError::Forbidden(format!(
                "only the applicant changes finance request {}",
                request.code
            ))
            .into());
        }
        ensure_current("finance request", id, version, request.version)?;
        if !request.is_editable() {
            return Err(DomainError::State(format!(
                "finance request {} is {} and cannot be changed",
                request.code, request.status
            ))
            .into());
        }
        Ok(request)
    }

    /// Changes the applicant's draft (or rejected / withdrawn request) written at `version`.
    pub fn update(
        &self,
        id: RecordId,
        version: u64,
        draft: RequestDraft,
    ) -> Result<FinanceRequest> {
        let old = self.own_editable(id, version)?;
        if draft.form != old.form {
            return Err(DomainError::invalid("form", "the form of a request cannot change").into());
        }
        let mut request = old.clone();
        apply(&mut request, draft);
        request.normalize()?;
        self.customer_visible(request.customer)?;
        if request == old {
            return Ok(old);
        }
        request.updated_at = crate::now();
        let mut changes = Changes::new();
        if !changes.update(&old, &request)? {
            return Ok(old);
        }
        changes.commit(self.crm, self.who)?;
        request.version = old.version + 1;
        Ok(request)
    }

    /// Deletes a draft that was never submitted.
    pub fn delete(&self, id: RecordId, version: u64) -> Result<()> {
        let request = self.own_editable(id, version)?;
        if request.instance.is_some() {
            return Err(DomainError::State(format!(
                "finance request {} has an approval history and is kept",
                request.code
            ))
            .into());
        }
        let mut changes = Changes::new();
        changes.delete(&request)?;
        changes.commit(self.crm, self.who)
    }

    /// Submits the applicant's request at `version` for approval: a draft starts an instance
    /// of the workflow bound to its form (the most recently defined one), a rejected or
    /// withdrawn request starts a new round of its instance with its current fields.
    pub fn submit(&self, id: RecordId, version: u64) -> Result<FinanceRequest> {
        self.submit_for(id, version, None)
    }

    /// [`Requests::submit`] made for one of the applicant's units (`None`: their home unit):
    /// approver rules that look at the applicant's unit (its manager, positions in it and
    /// above) use that unit. A resubmission keeps the unit of the first submission.
    pub fn submit_for(
        &self,
        id: RecordId,
        version: u64,
        unit: Option<RecordId>,
    ) -> Result<FinanceRequest> {
        let request = self.own_editable(id, version)?;
        if unit.is_some() && request.instance.is_some() {
            return Err(DomainError::invalid(
                "unit",
                "a request submitted again keeps the unit of its first submission",
            )
            .into());
        }
        let tenant = &self.who.tenant;
        let fields = request.to_record()?.fields;
        let directory = OrgDirectory::load(self.crm, self.who)?;
        let hook = FormHook::new(self.who.user);
        let engine = WorkflowStore::new(self.crm.store.as_ref(), tenant).with_hook(&hook);
        let now = crate::now();
        match request.instance {
            None => {
                let binding = binding_of(request.form);
                let bound = engine
                    .definitions()?
                    .into_iter()
                    .filter(|d| d.form == binding)
                    .max_by_key(|d| (d.created_at, d.id))
                    .ok_or_else(|| {
                        DomainError::State(format!(
                            "no workflow is bound to {}; an administrator must define one",
                            binding.key()
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

    /// Requests, newest first: a plain user's own, or everyone's for an administrator.
    pub fn list(&self, filter: &RequestFilter) -> Result<Page<FinanceRequest>> {
        let mut query = Query::all()
            .sort(Sort::desc("created_at"))
            .page(filter.offset, if filter.limit == 0 { 50 } else { filter.limit.min(500) });
        if !self.who.is_admin() {
            query = query.filter(Filter::Eq("applicant".into(), Value::Ref(self.who.user)));
        }
        if let Some(form) = filter.form {
            query = query.filter(Filter::Eq("form".into(), form.as_str().into()));
        }
        if let Some(status) = filter.status {
            query = query.filter(Filter::Eq("status".into(), status.as_str().into()));
        }
        self.crm.find(&self.who.tenant, &query)
    }

    /// Refuses a customer the principal could not see.
    fn customer_visible(&self, customer: Option<RecordId>) -> Result<()> {
        match customer {
            Some(id) => self.crm.customers(self.who).get(id).map(drop).map_err(|_| {
                DomainError::invalid("customer", format!("customer {id} is not one you can see"))
                    .into()
            }),
            None => Ok(()),
        }
    }
}

fn apply(request: &mut FinanceRequest, draft: RequestDraft) {
    request.form = draft.form;
    request.title = draft.title;
    request.amount = draft.amount;
    request.currency = draft.currency;
    request.category = draft.category;
    request.purpose = draft.purpose;
    request.spent_on = draft.spent_on;
    request.repay_by = draft.repay_by;
    request.customer = draft.customer;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_round_trip() {
        for form in RequestForm::ALL {
            assert_eq!(form_of(&binding_of(form)), Some(form));
            assert_eq!(binding_of(form).key(), form.as_str());
        }
        assert_eq!(form_of(&FormBinding::CustomerAssignment), None);
        assert_eq!(approval_status(Status::Rejected), ApprovalStatus::Rejected);
    }
}
