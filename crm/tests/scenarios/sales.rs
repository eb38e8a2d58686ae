//! Quote and contract scenarios (报价单 / 合同): sales documents approved through flows
//! bound to `quote` and `contract`, on every store.

use chrono::NaiveDate;
use crm::workflow::Status;
use crm::{
    ApprovalStatus, AuditEntry, ContractDraft, Crm, Customer, DomainError, Entity, Error,
    Principal, Query, QuoteDraft, QuoteLine, RecordId, Role, SalesFilter, UnitKind,
};
use rust_decimal::Decimal;

use super::fresh_admin;

/// A sales unit with a manager and two salespeople, a director holding `sales_director`,
/// and one customer owned by each salesperson.
pub(super) struct Setup {
    pub(super) admin: Principal,
    pub(super) manager: Principal,
    pub(super) seller: Principal,
    pub(super) other: Principal,
    pub(super) director: Principal,
    pub(super) customer: RecordId,
    pub(super) others_customer: RecordId,
}

pub(super) fn setup(crm: &Crm) -> Setup {
    let admin = fresh_admin(crm);
    let org = crm.org(&admin);
    let root = org.units().unwrap()[0].id;
    let sales = org.add_unit("销售三部", UnitKind::Department, root).unwrap();
    let user = |login: &str, unit: RecordId| {
        let user = org.add_user(login, login, unit, Role::User).unwrap();
        Principal::user(admin.tenant.clone(), user.id)
    };
    let manager = user("manager", sales.id);
    let seller = user("seller", sales.id);
    let other = user("other", sales.id);
    let director = user("director", root);
    org.set_manager(sales.id, Some(manager.user)).unwrap();
    org.add_position("sales_director", "Sales director / 销售总监").unwrap();
    org.add_membership(director.user, root, "sales_director").unwrap();
    let own = |who: &Principal, name: &str| {
        let customer = Customer { name: name.into(), ..Customer::default() };
        crm.customers(who).create(customer, vec![]).unwrap().id
    };
    let customer = own(&seller, "华东机电 East Machinery");
    let others_customer = own(&other, "北方贸易 North Trading");
    Setup { admin, manager, seller, other, director, customer, others_customer }
}

/// The unit manager approves and may change `editable`; above 10,000 every sales director
/// approves as well.
fn definition(form: &str, amount: &str, editable: &str, fallback: RecordId) -> String {
    format!(
        r#"
name = "{form}_approval"
form = "{form}"
fallback_approver = {fallback}

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "manager"
type = "approval"
approvers = [{{ unit_manager = 0 }}]
editable_fields = [{editable}]

[[nodes]]
id = "large"
type = "gateway"

[[nodes]]
id = "director"
type = "approval"
mode = "all"
approvers = [{{ position = {{ name = "sales_director", lookup = "anywhere" }} }}]

[[nodes]]
id = "end"
type = "end"

[[edges]]
from = "start"
to = "manager"

[[edges]]
from = "manager"
to = "large"

[[edges]]
from = "large"
to = "director"
when = "{amount} > 10000"

[[edges]]
from = "large"
to = "end"

[[edges]]
from = "director"
to = "end"
"#
    )
}

fn line(product: &str, quantity: i64, cents: i64, discount: i64) -> QuoteLine {
    QuoteLine {
        product: product.into(),
        quantity: Decimal::new(quantity, 0),
        unit_price: Decimal::new(cents, 2),
        discount: Decimal::new(discount, 0),
    }
}

fn quote_draft(customer: RecordId, lines: Vec<QuoteLine>) -> QuoteDraft {
    QuoteDraft {
        customer,
        title: "2027 年度设备报价".into(),
        valid_until: NaiveDate::from_ymd_opt(2027, 1, 31),
        lines,
        remarks: "含安装".into(),
        ..QuoteDraft::default()
    }
}

pub(super) fn field_of(error: &Error) -> Option<&str> {
    match error {
        Error::Domain(DomainError::Invalid { field, .. } | DomainError::Required { field }) => {
            Some(field)
        }
        _ => None,
    }
}

pub(super) fn todo_records(crm: &Crm, who: &Principal) -> Vec<RecordId> {
    let page = crm.workflows(who).todo(0, 50).unwrap();
    page.items.iter().map(|item| item.record).collect()
}

pub(super) fn trail(crm: &Crm, who: &Principal, kind: &str, id: RecordId) -> usize {
    crm.store()
        .query(&who.tenant, AuditEntry::desc(), &Query::all())
        .unwrap()
        .records
        .iter()
        .map(|r| AuditEntry::from_record(r).unwrap())
        .filter(|e| e.entity == kind && e.covers(id))
        .count()
}

pub fn a_large_quote_needs_the_director_and_follows_its_approval(crm: &Crm) {
    let s = setup(crm);
    let flow = definition("quote", "total", r#""valid_until", "remarks""#, s.admin.user);
    crm.workflows(&s.admin).define(&flow).unwrap();
    let quotes = crm.quotes(&s.seller);

    // 10 × 1,200.00 less 5 % = 11,400.00, plus 2 × 99.50 = 199.00: 11,599.00 in all.
    let lines = vec![line("数控机床保养", 10, 120_000, 5), line("滤芯", 2, 9_950, 0)];
    let quote = quotes.create(quote_draft(s.customer, lines)).unwrap();
    assert_eq!((quote.code.as_str(), quote.version), ("QT000001", 1));
    assert_eq!(quote.total, Decimal::new(1_159_900, 2));
    assert_eq!((quote.status, quote.currency.as_str()), (ApprovalStatus::Draft, "CNY"));

    let submitted = quotes.submit(quote.id, 1, None).unwrap();
    assert_eq!(submitted.status, ApprovalStatus::Pending);
    let instance = submitted.instance.unwrap();
    assert_eq!(todo_records(crm, &s.manager), vec![quote.id]);

    // The manager may move the validity date, typed as text, but not the total.
    let manager = crm.workflows(&s.manager);
    let typed = |name: &str, text: &str| vec![(name.to_owned(), text.to_owned())];
    let refused = manager.parse_changes(instance, &typed("total", "1")).unwrap_err();
    assert_eq!(field_of(&refused), Some("total"));
    // Remarks typed as they are change nothing; emptied, they become empty text.
    assert!(manager.parse_changes(instance, &typed("remarks", " 含安装 ")).unwrap().is_empty());
    let emptied = manager.parse_changes(instance, &typed("remarks", "")).unwrap();
    assert_eq!(emptied.get("remarks"), Some(&crm::Value::Text(String::new())));
    let changes = manager.parse_changes(instance, &typed("valid_until", "2027/2/28")).unwrap();
    let decision = crm::workflow::Decision::ApproveWithChanges(changes);
    let outcome = manager.decide(instance, None, decision, "延长有效期", None).unwrap();
    assert_eq!(outcome.status, Status::Pending);
    let moved = quotes.get(quote.id).unwrap();
    assert_eq!(moved.valid_until, NaiveDate::from_ymd_opt(2027, 2, 28));
    assert_eq!(moved.status, ApprovalStatus::Pending);

    // Above 10,000 the director decides too; then the quote is approved and stays so.
    assert_eq!(todo_records(crm, &s.director), vec![quote.id]);
    crm.workflows(&s.director).approve(instance, None, "同意").unwrap();
    let approved = quotes.get(quote.id).unwrap();
    assert_eq!(approved.status, ApprovalStatus::Approved);
    let edit = quotes.update(quote.id, approved.version, quote_draft(s.customer, vec![]));
    assert!(matches!(edit.unwrap_err(), Error::Domain(DomainError::State(_))));
    // Created, pending, date moved, approved.
    assert_eq!(trail(crm, &s.admin, "quote", quote.id), 4);

    // A small quote needs the manager only.
    let small = quotes.create(quote_draft(s.customer, vec![line("滤芯", 3, 9_950, 0)])).unwrap();
    assert_eq!(small.code, "QT000002");
    let small = quotes.submit(small.id, 1, None).unwrap();
    crm.workflows(&s.manager).approve(small.instance.unwrap(), None, "").unwrap();
    assert_eq!(quotes.get(small.id).unwrap().status, ApprovalStatus::Approved);
    assert!(todo_records(crm, &s.director).is_empty());
}

pub fn a_rejected_contract_is_changed_and_approved(crm: &Crm) {
    let s = setup(crm);
    let flow = definition("contract", "amount", r#""amount""#, s.admin.user);
    crm.workflows(&s.admin).define(&flow).unwrap();
    let quote = crm
        .quotes(&s.seller)
        .create(quote_draft(s.customer, vec![line("数控机床保养", 1, 800_000, 0)]))
        .unwrap();
    let contracts = crm.contracts(&s.seller);
    let draft = ContractDraft {
        customer: s.customer,
        title: "设备维保合同".into(),
        amount: Decimal::new(8_000, 0),
        quote: Some(quote.id),
        starts_on: NaiveDate::from_ymd_opt(2027, 1, 1),
        ends_on: NaiveDate::from_ymd_opt(2027, 12, 31),
        payment_terms: "签约后 30 天内付清".into(),
        ..ContractDraft::default()
    };

    // Links must hold: the quote must be the same customer's, the customer one the seller
    // sees; nothing is stored and no number is spent when they do not.
    let foreign = ContractDraft { customer: s.others_customer, ..draft.clone() };
    assert_eq!(field_of(&contracts.create(foreign).unwrap_err()), Some("customer"));
    let bad_dates = ContractDraft { ends_on: NaiveDate::from_ymd_opt(2026, 1, 1), ..draft.clone() };
    assert_eq!(field_of(&contracts.create(bad_dates).unwrap_err()), Some("ends_on"));
    let other_quote = crm
        .quotes(&s.other)
        .create(quote_draft(s.others_customer, vec![line("x", 1, 100, 0)]))
        .unwrap();
    let mismatched = ContractDraft { quote: Some(other_quote.id), ..draft.clone() };
    assert_eq!(field_of(&contracts.create(mismatched).unwrap_err()), Some("quote"));
    let contract = contracts.create(draft.clone()).unwrap();
    assert_eq!(contract.code, "CT000001");

    // The quote a contract follows keeps its customer and cannot be deleted.
    let in_use = crm.quotes(&s.seller).delete(quote.id, 1).unwrap_err();
    assert!(matches!(in_use, Error::Domain(DomainError::InUse { count: 1, .. })), "{in_use:?}");
    let pool = Customer {
        name: "公海客户".into(),
        status: crm::CustomerStatus::Pool,
        ..Customer::default()
    };
    let pool = crm.customers(&s.admin).create(pool, vec![]).unwrap().id;
    let moved = quote_draft(pool, vec![line("数控机床保养", 1, 800_000, 0)]);
    let refused = crm.quotes(&s.seller).update(quote.id, 1, moved).unwrap_err();
    assert_eq!(field_of(&refused), Some("customer"), "{refused:?}");
    assert_eq!(crm.quotes(&s.seller).get(quote.id).unwrap().customer, s.customer);
    assert_eq!(contract.amount.to_string(), "8000.00");

    // The manager rejects; the seller lowers the amount and submits again: a new round.
    let instance = contracts.submit(contract.id, 1, None).unwrap().instance.unwrap();
    crm.workflows(&s.manager).reject(instance, None, "金额需要再谈").unwrap();
    let rejected = contracts.get(contract.id).unwrap();
    assert_eq!(rejected.status, ApprovalStatus::Rejected);
    let lowered = ContractDraft { amount: Decimal::new(7_500, 0), ..draft };
    let changed = contracts.update(contract.id, rejected.version, lowered).unwrap();
    assert_eq!(changed.amount, Decimal::new(7_500, 0));
    let again = contracts.submit(contract.id, changed.version, None).unwrap();
    assert_eq!((again.status, again.instance), (ApprovalStatus::Pending, Some(instance)));
    let fields = crm.workflows(&s.manager).instance(instance).unwrap().state.fields;
    assert_eq!(fields.get("amount"), Some(&crm::Value::Decimal(Decimal::new(750_000, 2))));
    crm.workflows(&s.manager).approve(instance, None, "同意").unwrap();
    assert_eq!(contracts.get(contract.id).unwrap().status, ApprovalStatus::Approved);
    assert!(todo_records(crm, &s.director).is_empty());
}

pub fn sales_documents_are_private_and_their_flows_checked(crm: &Crm) {
    let s = setup(crm);
    // Approvers may not be given the number, the owner or the status.
    for field in ["code", "owner", "status", "total"] {
        let flow = definition("quote", "total", &format!("{field:?}"), s.admin.user);
        let refused = crm.workflows(&s.admin).define(&flow).unwrap_err();
        assert_eq!(field_of(&refused), Some("editable_fields"), "{field}: {refused:?}");
    }
    // A condition must name a field the form has.
    let flow = definition("contract", "total", r#""amount""#, s.admin.user);
    assert!(crm.workflows(&s.admin).define(&flow).is_err());

    let quote = crm
        .quotes(&s.seller)
        .create(quote_draft(s.customer, vec![line("滤芯", 1, 9_950, 0)]))
        .unwrap();
    // Without a flow bound to quotes, submitting says so and leaves a draft.
    let refused = crm.quotes(&s.seller).submit(quote.id, 1, None).unwrap_err();
    assert!(matches!(refused, Error::Domain(DomainError::State(_))), "{refused:?}");
    assert_eq!(crm.quotes(&s.seller).get(quote.id).unwrap().status, ApprovalStatus::Draft);

    // Only the owner and administrators see it; only the owner changes it.
    assert!(crm.quotes(&s.other).get(quote.id).unwrap_err().is_not_found());
    assert!(crm.quotes(&s.manager).get(quote.id).unwrap_err().is_not_found());
    assert_eq!(crm.quotes(&s.admin).get(quote.id).unwrap().id, quote.id);
    let by_admin = crm.quotes(&s.admin).update(quote.id, 1, quote_draft(s.customer, vec![]));
    assert!(by_admin.is_err());
    assert!(crm.quotes(&s.other).delete(quote.id, 1).is_err());
    crm.quotes(&s.other)
        .create(quote_draft(s.others_customer, vec![line("x", 1, 100, 0)]))
        .unwrap();
    let mine = crm.quotes(&s.seller).list(&SalesFilter::default()).unwrap();
    assert_eq!(mine.items.iter().map(|q| q.id).collect::<Vec<_>>(), vec![quote.id]);
    assert_eq!(crm.quotes(&s.admin).list(&SalesFilter::default()).unwrap().total, 2);
    let of_customer = SalesFilter { customer: Some(s.others_customer), ..SalesFilter::default() };
    assert_eq!(crm.quotes(&s.admin).list(&of_customer).unwrap().total, 1);

    // Bad lines name the line and the field; a stale version is a conflict; drafts delete.
    let bad = quote_draft(s.customer, vec![line("滤芯", 1, 100, 0), line("", 1, 100, 0)]);
    let error = crm.quotes(&s.seller).create(bad).unwrap_err();
    assert_eq!(field_of(&error), Some("lines[2].product"));
    let stale = crm.quotes(&s.seller).update(quote.id, 7, quote_draft(s.customer, vec![]));
    assert!(stale.is_err());
    crm.quotes(&s.seller).delete(quote.id, 1).unwrap();
    assert!(crm.quotes(&s.seller).get(quote.id).unwrap_err().is_not_found());
    let next = crm
        .quotes(&s.seller)
        .create(quote_draft(s.customer, vec![line("滤芯", 1, 9_950, 0)]))
        .unwrap();
    assert_eq!(next.code, "QT000003", "numbers are never reused");
}

/// A host's own record, kept by the store beside the engine's.
static RECEIVABLE: std::sync::LazyLock<crm::EntityDesc> = std::sync::LazyLock::new(|| {
    crm::EntityDesc::new(
        "host_receivable",
        vec![
            crm::FieldDesc::new("contract", crm::FieldType::Ref, "Contract", "合同").indexed(),
            crm::FieldDesc::new("amount", crm::FieldType::Decimal, "Amount", "金额"),
        ],
    )
    .unwrap()
});

/// Host code that writes a receivable when a contract is approved, and refuses approvals of
/// contracts above its credit limit.
struct Receivables {
    credit_limit: Decimal,
}

impl crm::workflow::WorkflowHook for Receivables {
    fn status_changed<'h>(
        &'h self,
        store: &dyn crm::Store,
        tenant: &crm::TenantId,
        change: &crm::workflow::StatusChange<'_>,
        batch: &mut crm::Batch<'h>,
    ) -> Result<(), crm::workflow::WorkflowError> {
        if *change.form != crm::workflow::FormBinding::Contract || change.to != Status::Approved {
            return Ok(());
        }
        let amount = match change.state.fields.get("amount") {
            Some(crm::Value::Decimal(amount)) => *amount,
            other => return Err(crm::workflow::WorkflowError::Hook(format!("amount {other:?}"))),
        };
        if amount > self.credit_limit {
            return Err(crm::workflow::WorkflowError::Hook(format!(
                "{amount} is above the customer's credit limit"
            )));
        }
        let id = store.next_in_sequence(tenant, "id.host_receivable", 1)?;
        let mut receivable = crm::Record::new(RecordId(id));
        receivable.fields.insert("contract".into(), crm::Value::Ref(change.record));
        receivable.fields.insert("amount".into(), crm::Value::Decimal(amount));
        batch.insert(&RECEIVABLE, receivable);
        Ok(())
    }
}

pub fn host_code_follows_approvals_in_the_same_batch(crm: &Crm) {
    crm.store().register(&RECEIVABLE).unwrap();
    let limit = Decimal::new(15_000, 0);
    let crm =
        &crm.clone().with_approval_hook(std::sync::Arc::new(Receivables { credit_limit: limit }));
    let s = setup(crm);
    let flow = definition("contract", "amount", r#""amount""#, s.admin.user);
    crm.workflows(&s.admin).define(&flow).unwrap();
    let receivables = |contract: RecordId| -> Vec<crm::Value> {
        let query =
            Query::all().filter(crm::Filter::Eq("contract".into(), crm::Value::Ref(contract)));
        let page = crm.store().query(&s.admin.tenant, &RECEIVABLE, &query).unwrap();
        page.records.iter().map(|r| r.get("amount").clone()).collect()
    };
    let contracts = crm.contracts(&s.seller);
    let draft = |amount: i64| ContractDraft {
        customer: s.customer,
        title: "设备维保合同".into(),
        amount: Decimal::new(amount, 0),
        ..ContractDraft::default()
    };

    // Approved: the receivable is written with the approval, for the amount approved.
    let small = contracts.create(draft(8_000)).unwrap();
    let instance = contracts.submit(small.id, 1, None).unwrap().instance.unwrap();
    assert!(receivables(small.id).is_empty(), "nothing is owed before the approval");
    crm.workflows(&s.manager).approve(instance, None, "同意").unwrap();
    assert_eq!(contracts.get(small.id).unwrap().status, ApprovalStatus::Approved);
    assert_eq!(receivables(small.id), vec![crm::Value::Decimal(Decimal::new(800_000, 2))]);

    // The host refuses the last approval of a contract above its limit: the decision is not
    // taken, the contract stays pending and the director's task open.
    let large = contracts.create(draft(20_000)).unwrap();
    let instance = contracts.submit(large.id, 1, None).unwrap().instance.unwrap();
    crm.workflows(&s.manager).approve(instance, None, "").unwrap();
    let refused = crm.workflows(&s.director).approve(instance, None, "同意").unwrap_err();
    assert!(refused.to_string().contains("credit limit"), "{refused}");
    assert_eq!(contracts.get(large.id).unwrap().status, ApprovalStatus::Pending);
    assert_eq!(todo_records(crm, &s.director), vec![large.id]);
    assert!(receivables(large.id).is_empty());
}
