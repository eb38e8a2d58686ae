//! Finance requests (财务申请): expense, reimbursement and loan requests, each approved
//! through the tenant's workflow bound to its form (`expense`, `reimbursement`, `loan`).
//!
//! The applicant writes a draft, edits it, and submits it; the request's status then follows
//! its approval (draft → pending → approved / rejected / withdrawn) through the facade's
//! workflow hook, inside every approval action's batch (`crate::approvable` holds what
//! finance requests share with quotes and contracts). Fields an approver changed (where the node lets them) are written back to the
//! request in the same batch. A rejected or withdrawn request can be edited and submitted
//! again: its approval starts a new round from the first node.
//!
//! Visibility: the applicant and administrators see a request. Approvers see it through its
//! approval instance, which shows each of them only the fields their node lets them see.
//! Lists show a plain user their own requests and an administrator everyone's.

use chrono::NaiveDate;
use crm_domain::model::{ApprovalStatus, FinanceRequest, RequestForm};
use crm_domain::{DomainError, Filter, Principal, RecordId};
use crm_workflow::FormBinding;
use rust_decimal::Decimal;

pub use crm_domain::model::finance::parse_amount;

use crate::approvable::Documents;
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

/// Finance requests as one principal sees them.
pub struct Requests<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

impl<'a> Requests<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    fn documents(&self) -> Documents<'a, FinanceRequest> {
        Documents::new(self.crm, self.who)
    }

    /// Writes a new draft for the principal, numbered from the form's sequence.
    pub fn create(&self, draft: RequestDraft) -> Result<FinanceRequest> {
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
        let documents = self.documents();
        documents.customer_visible("customer", request.customer)?;
        let sequence = format!("code.{}", request.form.as_str());
        let prefix = request.form.code_prefix();
        documents.insert(&mut request, &sequence, prefix)?;
        Ok(request)
    }

    /// One request: its applicant and administrators see it; to anyone else it does not
    /// exist (approvers read it through the approval instance, field by field as their node
    /// allows).
    pub fn get(&self, id: RecordId) -> Result<FinanceRequest> {
        self.documents().get(id)
    }

    /// Changes the applicant's draft (or rejected / withdrawn request) written at `version`.
    pub fn update(
        &self,
        id: RecordId,
        version: u64,
        draft: RequestDraft,
    ) -> Result<FinanceRequest> {
        let documents = self.documents();
        let old = documents.own_editable(id, version)?;
        if draft.form != old.form {
            return Err(DomainError::invalid("form", "the form of a request cannot change").into());
        }
        let mut request = old.clone();
        apply(&mut request, draft);
        request.normalize()?;
        documents.customer_visible("customer", request.customer)?;
        if request == old {
            return Ok(old);
        }
        request.updated_at = crate::now();
        documents.save(old, request)
    }

    /// Deletes a draft that was never submitted.
    pub fn delete(&self, id: RecordId, version: u64) -> Result<()> {
        self.documents().delete(id, version)
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
        self.documents().submit_for(id, version, unit)
    }

    /// Requests, newest first: a plain user's own, or everyone's for an administrator.
    pub fn list(&self, filter: &RequestFilter) -> Result<Page<FinanceRequest>> {
        let mut filters = Vec::new();
        if let Some(form) = filter.form {
            filters.push(Filter::Eq("form".into(), form.as_str().into()));
        }
        if let Some(status) = filter.status {
            filters.push(Filter::Eq("status".into(), status.as_str().into()));
        }
        self.documents().list(filters, filter.offset, filter.limit)
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
    }
}
