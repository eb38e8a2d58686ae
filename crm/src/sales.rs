//! Quotes (报价单) and contracts (合同): sales documents a salesperson writes for a customer
//! they can see and submits for approval through the workflow bound to `quote` or
//! `contract`. Their status follows the approval (draft → pending → approved / rejected /
//! withdrawn), approvers' changes to the fields their node opens are written back, and a
//! rejected or withdrawn document can be changed and submitted again — all shared with
//! finance requests through `crate::approvable`.
//!
//! Visibility: the owner and administrators see a document; approvers see it through its
//! approval instance, field by field as their node allows.

use chrono::NaiveDate;
use crm_domain::model::{ApprovalStatus, Contract, Quote, QuoteLine};
use crm_domain::{DomainError, Entity, Filter, Principal, Query, RecordId, Value};
use rust_decimal::Decimal;

use crate::approvable::Documents;
use crate::{Crm, Page, Result};

/// What a salesperson types into a quote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuoteDraft {
    /// The customer it is for.
    pub customer: RecordId,
    /// A one-line subject.
    pub title: String,
    /// ISO currency code; empty means `CNY`.
    pub currency: String,
    /// The last day the offer holds.
    pub valid_until: Option<NaiveDate>,
    /// What is offered; the total is worked out from these.
    pub lines: Vec<QuoteLine>,
    /// Terms, delivery, anything else.
    pub remarks: String,
}

/// What a salesperson types into a contract.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContractDraft {
    /// The customer it is with.
    pub customer: RecordId,
    /// A one-line subject.
    pub title: String,
    /// The contract's value.
    pub amount: Decimal,
    /// ISO currency code; empty means `CNY`.
    pub currency: String,
    /// The quote it follows: one of the same customer that the principal can see.
    pub quote: Option<RecordId>,
    /// The day it is (to be) signed.
    pub signed_on: Option<NaiveDate>,
    /// The first day it runs.
    pub starts_on: Option<NaiveDate>,
    /// The last day it runs.
    pub ends_on: Option<NaiveDate>,
    /// How and when the customer pays.
    pub payment_terms: String,
    /// Anything else.
    pub remarks: String,
}

/// Which documents a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalesFilter {
    /// Only documents of this customer.
    pub customer: Option<RecordId>,
    /// Only this status.
    pub status: Option<ApprovalStatus>,
    /// Skip this many.
    pub offset: u64,
    /// At most this many (0 = 50, at most 500).
    pub limit: u64,
}

impl SalesFilter {
    fn filters(&self) -> Vec<Filter> {
        let mut filters = Vec::new();
        if let Some(customer) = self.customer {
            filters.push(Filter::Eq("customer".into(), Value::Ref(customer)));
        }
        if let Some(status) = self.status {
            filters.push(Filter::Eq("status".into(), status.as_str().into()));
        }
        filters
    }
}

/// Quotes as one principal sees them.
pub struct Quotes<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

impl<'a> Quotes<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    fn documents(&self) -> Documents<'a, Quote> {
        Documents::new(self.crm, self.who)
    }

    /// Writes a new draft quote owned by the principal, numbered `QT…`.
    pub fn create(&self, draft: QuoteDraft) -> Result<Quote> {
        let now = crate::now();
        let mut quote = Quote { owner: self.who.user, created_at: now, ..Quote::default() };
        apply_quote(&mut quote, draft);
        quote.updated_at = now;
        quote.normalize()?;
        self.documents().customer_visible("customer", Some(quote.customer))?;
        self.documents().insert(&mut quote, "code.quote", "QT")?;
        Ok(quote)
    }

    /// One quote, for its owner and administrators.
    pub fn get(&self, id: RecordId) -> Result<Quote> {
        self.documents().get(id)
    }

    /// How many contracts follow quote `id`, whoever owns them.
    fn contracts_following(&self, id: RecordId) -> Result<u64> {
        let query = Query::all().filter(Filter::Eq("quote".into(), Value::Ref(id))).page(0, 1);
        Ok(self.crm.store.query(&self.who.tenant, Contract::desc(), &query)?.total)
    }

    /// Changes the owner's draft (or rejected / withdrawn quote) written at `version`. A
    /// quote that contracts follow keeps its customer.
    pub fn update(&self, id: RecordId, version: u64, draft: QuoteDraft) -> Result<Quote> {
        let documents = self.documents();
        let old = documents.own_editable(id, version)?;
        let mut quote = old.clone();
        apply_quote(&mut quote, draft);
        quote.normalize()?;
        documents.customer_visible("customer", Some(quote.customer))?;
        if quote.customer != old.customer && self.contracts_following(id)? > 0 {
            return Err(DomainError::invalid(
                "customer",
                "contracts follow this quote, so its customer cannot change",
            )
            .into());
        }
        if quote == old {
            return Ok(old);
        }
        quote.updated_at = crate::now();
        documents.save(old, quote)
    }

    /// Deletes a draft that was never submitted and that no contract follows.
    pub fn delete(&self, id: RecordId, version: u64) -> Result<()> {
        let quote = self.documents().own_editable(id, version)?;
        let count = self.contracts_following(id)?;
        if count > 0 {
            return Err(DomainError::InUse { what: format!("quote {}", quote.code), count }.into());
        }
        self.documents().delete(id, version)
    }

    /// Submits the owner's quote at `version` for approval, made for `unit` (one of the
    /// owner's units; `None`: their home unit). A rejected or withdrawn quote starts a new
    /// round of its approval.
    pub fn submit(&self, id: RecordId, version: u64, unit: Option<RecordId>) -> Result<Quote> {
        self.documents().submit_for(id, version, unit)
    }

    /// Quotes, newest first: a plain user's own, or everyone's for an administrator.
    pub fn list(&self, filter: &SalesFilter) -> Result<Page<Quote>> {
        self.documents().list(filter.filters(), filter.offset, filter.limit)
    }
}

fn apply_quote(quote: &mut Quote, draft: QuoteDraft) {
    quote.customer = draft.customer;
    quote.title = draft.title;
    quote.currency = draft.currency;
    quote.valid_until = draft.valid_until;
    quote.lines = draft.lines;
    quote.remarks = draft.remarks;
}

/// Contracts as one principal sees them.
pub struct Contracts<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

impl<'a> Contracts<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    fn documents(&self) -> Documents<'a, Contract> {
        Documents::new(self.crm, self.who)
    }

    /// Refuses a customer the principal cannot see, and a quote that is not one of theirs
    /// for the same customer.
    fn check_links(&self, contract: &Contract) -> Result<()> {
        self.documents().customer_visible("customer", Some(contract.customer))?;
        let Some(quote) = contract.quote else { return Ok(()) };
        let found = match Quotes::new(self.crm, self.who).get(quote) {
            Ok(found) => found,
            Err(e) if e.is_not_found() => {
                return Err(
                    DomainError::invalid("quote", format!("there is no quote {quote}")).into()
                )
            }
            Err(e) => return Err(e),
        };
        if found.customer != contract.customer {
            return Err(DomainError::invalid(
                "quote",
                format!("quote {} is for another customer", found.code),
            )
            .into());
        }
        Ok(())
    }

    /// Writes a new draft contract owned by the principal, numbered `CT…`.
    pub fn create(&self, draft: ContractDraft) -> Result<Contract> {
        let now = crate::now();
        let mut contract =
            Contract { owner: self.who.user, created_at: now, ..Contract::default() };
        apply_contract(&mut contract, draft);
        contract.updated_at = now;
        contract.normalize()?;
        self.check_links(&contract)?;
        self.documents().insert(&mut contract, "code.contract", "CT")?;
        Ok(contract)
    }

    /// One contract, for its owner and administrators.
    pub fn get(&self, id: RecordId) -> Result<Contract> {
        self.documents().get(id)
    }

    /// Changes the owner's draft (or rejected / withdrawn contract) written at `version`.
    pub fn update(&self, id: RecordId, version: u64, draft: ContractDraft) -> Result<Contract> {
        let documents = self.documents();
        let old = documents.own_editable(id, version)?;
        let mut contract = old.clone();
        apply_contract(&mut contract, draft);
        contract.normalize()?;
        self.check_links(&contract)?;
        if contract == old {
            return Ok(old);
        }
        contract.updated_at = crate::now();
        documents.save(old, contract)
    }

    /// Deletes a draft that was never submitted.
    pub fn delete(&self, id: RecordId, version: u64) -> Result<()> {
        self.documents().delete(id, version)
    }

    /// Submits the owner's contract at `version` for approval, made for `unit` (one of the
    /// owner's units; `None`: their home unit).
    pub fn submit(&self, id: RecordId, version: u64, unit: Option<RecordId>) -> Result<Contract> {
        self.documents().submit_for(id, version, unit)
    }

    /// Contracts, newest first: a plain user's own, or everyone's for an administrator.
    pub fn list(&self, filter: &SalesFilter) -> Result<Page<Contract>> {
        self.documents().list(filter.filters(), filter.offset, filter.limit)
    }
}

fn apply_contract(contract: &mut Contract, draft: ContractDraft) {
    contract.customer = draft.customer;
    contract.title = draft.title;
    contract.amount = draft.amount;
    contract.currency = draft.currency;
    contract.quote = draft.quote;
    contract.signed_on = draft.signed_on;
    contract.starts_on = draft.starts_on;
    contract.ends_on = draft.ends_on;
    contract.payment_terms = draft.payment_terms;
    contract.remarks = draft.remarks;
}
