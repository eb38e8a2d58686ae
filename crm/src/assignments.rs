//! Customer assignment requests (资源分配): a salesperson asks to be made the owner of a
//! customer and a manager approves through the tenant's workflow bound to the
//! `customer_assignment` form.
//!
//! `follow_approval` (called by the facade's [`FormHook`]) keeps each request's status in step with its approval and, on approval,
//! makes the requester the customer's owner, in the same batch as the approval itself, with
//! audit entries for both changes.
//!
//! Visibility: [`Assignments::request`] looks the customer up through the customer scope
//! (a plain user sees their own customers and the shared pool), so a customer anyone may
//! request is one they can also find in their list, and anything else is "not found".

use chrono::{DateTime, Utc};
use crm_domain::audit::{diff, AuditAction, AuditEntry, FieldChange};
use crm_domain::model::{AssignmentRequest, AssignmentStatus, Customer, CustomerStatus};
use crm_domain::{
    Batch, DomainError, Entity, Filter, Principal, Query, RecordId, Sort, Store, TenantId, Value,
};
use crm_workflow::store::StatusChange;
use crm_workflow::{FormBinding, Status, WorkflowError};

use crate::workflow::{FormHook, OrgDirectory};
use crate::{Crm, Page, Result};

/// What [`Assignments::request`] created.
#[derive(Debug, Clone, PartialEq)]
pub struct Requested {
    /// The stored request, pending approval.
    pub request: AssignmentRequest,
    /// The workflow instance approving it.
    pub instance: RecordId,
}

/// The request status that follows an approval status.
fn status_of(status: Status) -> AssignmentStatus {
    match status {
        Status::Pending => AssignmentStatus::Pending,
        Status::Approved => AssignmentStatus::Approved,
        Status::Rejected => AssignmentStatus::Rejected,
        Status::Withdrawn => AssignmentStatus::Withdrawn,
    }
}

fn hook_error(error: impl std::fmt::Display) -> WorkflowError {
    WorkflowError::Hook(error.to_string())
}

/// Adds one audit entry per change to a batch an approval commits, so records a hook (or a
/// workflow action) changes carry the same trail as those a service changes.
pub(crate) fn add_audits(
    store: &dyn Store,
    tenant: &TenantId,
    actor: RecordId,
    at: DateTime<Utc>,
    audits: Vec<(String, RecordId, AuditAction, Vec<FieldChange>)>,
    batch: &mut Batch<'_>,
) -> Result<(), WorkflowError> {
    if audits.is_empty() {
        return Ok(());
    }
    let kind = crate::id_sequence(AuditEntry::desc());
    let first = store.next_in_sequence(tenant, &kind, audits.len() as u64)?;
    for (offset, (entity, record_id, action, changes)) in audits.into_iter().enumerate() {
        let entry = AuditEntry {
            id: RecordId(first + offset as u64),
            version: 0,
            entity,
            record_id,
            record_last: None,
            actor,
            at,
            action,
            changes,
        };
        batch.insert(AuditEntry::desc(), entry.to_record().map_err(hook_error)?);
    }
    Ok(())
}

/// Keeps an assignment request in step with its approval, in the action's batch: inserts
/// `new_request` when it is the one being submitted, follows the request's status, and on
/// approval makes the requester the customer's owner, with audit entries for both.
pub(crate) fn follow_approval(
    store: &dyn Store,
    tenant: &TenantId,
    actor: RecordId,
    new_request: Option<&AssignmentRequest>,
    change: &StatusChange<'_>,
    batch: &mut Batch<'_>,
) -> Result<(), WorkflowError> {
    let at = crate::now();
    let mut audits = Vec::new();
    let status = status_of(change.to);

    let request = match (new_request, change.from) {
        (Some(new), None) if new.id == change.record => {
            let request = AssignmentRequest { status, ..new.clone() };
            let record = request.to_record().map_err(hook_error)?;
            record.check(AssignmentRequest::desc()).map_err(hook_error)?;
            // One open request per person and customer, also when two arrive at once:
            // checked before this request's own insert joins the batch.
            batch.none_match(
                AssignmentRequest::desc(),
                vec![
                    Filter::Eq("customer".into(), Value::Ref(request.customer)),
                    Filter::Eq("requester".into(), Value::Ref(request.requester)),
                    Filter::Eq("status".into(), AssignmentStatus::Pending.as_str().into()),
                ],
            );
            audits.push((
                AssignmentRequest::desc().kind.clone(),
                request.id,
                AuditAction::Create,
                Vec::new(),
            ));
            batch.insert(AssignmentRequest::desc(), record);
            request
        }
        _ => {
            let before =
                store.get(tenant, AssignmentRequest::desc(), change.record)?.ok_or_else(|| {
                    hook_error(format!("assignment request {} not found", change.record))
                })?;
            let old = AssignmentRequest::from_record(&before).map_err(hook_error)?;
            let request = AssignmentRequest { status, ..old };
            let after = request.to_record().map_err(hook_error)?;
            let changes = diff(Some(&before), Some(&after));
            if !changes.is_empty() {
                audits.push((
                    AssignmentRequest::desc().kind.clone(),
                    request.id,
                    AuditAction::Update,
                    changes,
                ));
                batch.update(AssignmentRequest::desc(), after);
            }
            request
        }
    };

    if status == AssignmentStatus::Approved {
        let before = store
            .get(tenant, Customer::desc(), request.customer)?
            .ok_or_else(|| hook_error(format!("customer {} no longer exists", request.customer)))?;
        let old = Customer::from_record(&before).map_err(hook_error)?;
        // Requests are made for pool customers; one given to someone else meanwhile is
        // not taken from them by an old approval.
        if old.owner.is_some_and(|owner| owner != request.requester) {
            return Err(hook_error(format!(
                "customer {} was given to someone else while this request waited; reject it",
                request.customer
            )));
        }
        let customer = Customer {
            owner: Some(request.requester),
            status: CustomerStatus::Private,
            updated_at: at,
            ..old
        };
        let after = customer.to_record().map_err(hook_error)?;
        audits.push((
            Customer::desc().kind.clone(),
            customer.id,
            AuditAction::Update,
            diff(Some(&before), Some(&after)),
        ));
        batch.update(Customer::desc(), after);
        tracing::info!(
            %tenant,
            customer = %customer.id,
            owner = %request.requester,
            "customer assigned on approval"
        );
    }
    add_audits(store, tenant, actor, at, audits, batch)
}

/// Customer assignment requests as one principal sees them.
pub struct Assignments<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

impl<'a> Assignments<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    /// Asks for `customer` to be assigned to the principal and submits the request to the
    /// tenant's workflow bound to `customer_assignment` (the most recently defined one when
    /// several are). The customer must be visible to the principal under the customer scope
    /// (so for a plain user: in the shared pool) and not already theirs.
    pub fn request(&self, customer: RecordId, reason: &str) -> Result<Requested> {
        let tenant = &self.who.tenant;
        let found = self.crm.customers(self.who).get(customer)?;
        if found.owner == Some(self.who.user) {
            return Err(DomainError::State(format!("customer {customer} is already yours")).into());
        }

        let open = Query::all()
            .filter(Filter::Eq("customer".into(), Value::Ref(customer)))
            .filter(Filter::Eq("requester".into(), Value::Ref(self.who.user)))
            .filter(Filter::Eq("status".into(), AssignmentStatus::Pending.as_str().into()))
            .page(0, 1);
        if self.crm.store.query(tenant, AssignmentRequest::desc(), &open)?.total > 0 {
            return Err(DomainError::State(format!(
                "you already asked for customer {customer}; wait for the decision"
            ))
            .into());
        }

        let engine = self.crm.engine(tenant);
        let bound = engine
            .definitions()?
            .into_iter()
            .filter(|d| d.form == FormBinding::CustomerAssignment)
            .max_by_key(|d| (d.created_at, d.id))
            .ok_or_else(|| {
                DomainError::State(
                    "no workflow is bound to customer_assignment; an administrator must define one"
                        .into(),
                )
            })?;

        let now = crate::now();
        let mut request = AssignmentRequest {
            id: RecordId(self.crm.allocate::<AssignmentRequest>(tenant, 1)?),
            version: 0,
            customer,
            requester: self.who.user,
            reason: reason.trim().to_owned(),
            status: AssignmentStatus::Draft,
            created_at: now,
        };
        request.validate()?;
        let fields = request.to_record()?.into_named_fields();
        let directory = OrgDirectory::load(self.crm, self.who)?;
        let hook = FormHook::submitting(self.crm, self.who.user, request.clone());
        let outcome = engine.with_hook(&hook).submit(
            &bound.name,
            request.id,
            self.who.user,
            fields,
            now,
            &directory,
        )?;
        request.status = status_of(outcome.status);
        request.version = 1;
        Ok(Requested { request, instance: outcome.instance })
    }

    /// One request: its requester and administrators see it.
    pub fn get(&self, id: RecordId) -> Result<AssignmentRequest> {
        let not_found = || DomainError::NotFound { kind: "assignment request".into(), id };
        let request =
            self.crm.load::<AssignmentRequest>(&self.who.tenant, id)?.ok_or_else(not_found)?;
        if !self.who.is_admin() && request.requester != self.who.user {
            return Err(not_found().into());
        }
        Ok(request)
    }

    /// The principal's own requests, newest first.
    pub fn mine(&self) -> Result<Page<AssignmentRequest>> {
        let query = Query::all()
            .filter(Filter::Eq("requester".into(), Value::Ref(self.who.user)))
            .sort(Sort::desc("created_at"));
        self.crm.find(&self.who.tenant, &query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_status_follows_every_approval_status() {
        assert_eq!(status_of(Status::Pending), AssignmentStatus::Pending);
        assert_eq!(status_of(Status::Approved), AssignmentStatus::Approved);
        assert_eq!(status_of(Status::Rejected), AssignmentStatus::Rejected);
        assert_eq!(status_of(Status::Withdrawn), AssignmentStatus::Withdrawn);
    }

    #[test]
    fn audits_join_the_batch() {
        let store = crm_storage::MemoryStore::new();
        store.register(AuditEntry::desc()).unwrap();
        let tenant = TenantId::new("t").unwrap();
        let mut batch = Batch::new();
        let audits = vec![("customer".to_owned(), RecordId(5), AuditAction::Update, Vec::new())];
        add_audits(&store, &tenant, RecordId(2), crate::now(), audits, &mut batch).unwrap();
        store.commit(&tenant, &batch).unwrap();
        let page = store.query(&tenant, AuditEntry::desc(), &Query::all()).unwrap();
        let entry = AuditEntry::from_record(&page.records[0]).unwrap();
        assert_eq!((entry.record_id, entry.actor), (RecordId(5), RecordId(2)));
    }
}
