//! Finance request scenarios: expense, reimbursement and loan requests (费用 / 报销 / 借款)
//! approved through flows bound to their forms, on every store.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use crm::workflow::Status;
use crm::{
    ApprovalStatus, AuditEntry, Crm, DomainError, Entity, Error, FinanceRequest, Principal, Query,
    RecordId, RequestDraft, RequestFilter, RequestForm, Role, UnitKind, Value,
};
use rust_decimal::Decimal;

use super::fresh_admin;

/// A sales unit with a manager and a salesperson, a finance officer holding the `finance`
/// position, and an outsider in the same unit.
struct Setup {
    admin: Principal,
    manager: Principal,
    seller: Principal,
    finance: Principal,
    outsider: Principal,
}

fn setup(crm: &Crm) -> Setup {
    let admin = fresh_admin(crm);
    let org = crm.org(&admin);
    let root = org.units().unwrap()[0].id;
    let sales = org.add_unit("销售二部", UnitKind::Department, root).unwrap();
    let user = |login: &str, unit: RecordId| {
        let user = org.add_user(login, login, unit, Role::User).unwrap();
        Principal::user(admin.tenant.clone(), user.id)
    };
    let manager = user("manager", sales.id);
    let seller = user("seller", sales.id);
    let finance = user("cashier", root);
    let outsider = user("outsider", sales.id);
    org.set_manager(sales.id, Some(manager.user)).unwrap();
    org.add_position("finance", "Finance / 财务").unwrap();
    org.add_membership(finance.user, root, "finance").unwrap();
    Setup { admin, manager, seller, finance, outsider }
}

/// The unit manager approves (and may lower the amount); above 5,000 finance approves too.
fn definition(form: &str, fallback: RecordId) -> String {
    format!(
        r#"
name = "{form}_approval"
title = "{form} approval"
form = "{form}"
fallback_approver = {fallback}

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "manager"
type = "approval"
approvers = [{{ unit_manager = 0 }}]
editable_fields = ["amount"]

[[nodes]]
id = "large"
type = "gateway"

[[nodes]]
id = "finance"
type = "approval"
approvers = [{{ position = {{ name = "finance", lookup = "anywhere" }} }}]

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
to = "finance"
when = "amount > 5000"

[[edges]]
from = "large"
to = "end"

[[edges]]
from = "finance"
to = "end"
"#
    )
}

fn draft(form: RequestForm, title: &str, amount: i64) -> RequestDraft {
    RequestDraft {
        form,
        title: title.to_owned(),
        amount: Decimal::new(amount, 0),
        category: "差旅".into(),
        purpose: "拜访客户".into(),
        spent_on: NaiveDate::from_ymd_opt(2026, 11, 20),
        repay_by: (form == RequestForm::Loan)
            .then(|| NaiveDate::from_ymd_opt(2026, 12, 31))
            .flatten(),
        ..RequestDraft::default()
    }
}

fn todo_records(crm: &Crm, who: &Principal) -> Vec<RecordId> {
    let page = crm.workflows(who).todo(0, 50).unwrap();
    page.items.iter().map(|item| item.record).collect()
}

fn field_of(error: &Error) -> Option<&str> {
    match error {
        Error::Domain(DomainError::Invalid { field, .. } | DomainError::Required { field }) => {
            Some(field)
        }
        _ => None,
    }
}

pub fn expense_follows_its_approval_and_approver_edits(crm: &Crm) {
    let s = setup(crm);
    crm.workflows(&s.admin).define(&definition("expense", s.admin.user)).unwrap();
    let requests = crm.requests(&s.seller);

    let large = requests.create(draft(RequestForm::Expense, "客户招待", 8000)).unwrap();
    assert_eq!((large.status, large.code.as_str()), (ApprovalStatus::Draft, "EX000001"));
    assert_eq!(large.currency, "CNY");
    let submitted = requests.submit(large.id, large.version).unwrap();
    assert_eq!(submitted.status, ApprovalStatus::Pending);
    let instance = submitted.instance.unwrap();
    assert_eq!(todo_records(crm, &s.manager), vec![large.id]);
    // The approver reads the request through the approval, not the request page.
    assert!(crm.requests(&s.manager).get(large.id).is_err());
    let state = crm.workflows(&s.manager).instance(instance).unwrap().state;
    assert_eq!(state.fields.get("title"), Some(&Value::Text("客户招待".into())));

    // The manager may change the amount only, typed as text: the unchanged amount is left
    // out, a field the node does not open and text that is not a number are refused by name.
    let manager = crm.workflows(&s.manager);
    let editable: Vec<String> =
        manager.editable_fields(instance).unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(editable, vec!["amount".to_owned()]);
    assert!(crm.workflows(&s.seller).editable_fields(instance).unwrap().is_empty());
    let typed = |name: &str, text: &str| vec![(name.to_owned(), text.to_owned())];
    assert!(manager.parse_changes(instance, &typed("amount", "8,000.00")).unwrap().is_empty());
    for (name, text) in [("title", "改标题"), ("amount", "6.000,00"), ("status", "approved")] {
        let refused = manager.parse_changes(instance, &typed(name, text)).unwrap_err();
        assert_eq!(field_of(&refused), Some(name), "{refused:?}");
    }

    // The manager lowers the amount, which is still above 5,000: finance decides next.
    let changes = manager.parse_changes(instance, &typed("amount", "6,000")).unwrap();
    assert_eq!(
        changes,
        BTreeMap::from([("amount".to_owned(), Value::Decimal(Decimal::new(6000, 0)))])
    );
    let outcome = crm
        .workflows(&s.manager)
        .approve_with_changes(instance, None, "减少金额", changes)
        .unwrap();
    assert_eq!(outcome.status, Status::Pending);
    // The approval keeps the amount the way the request does.
    let state = crm.workflows(&s.manager).instance(instance).unwrap().state;
    assert_eq!(state.fields.get("amount").map(Value::display).as_deref(), Some("6000.00"));
    let lowered = requests.get(large.id).unwrap();
    assert_eq!((lowered.amount, lowered.status), (Decimal::new(6000, 0), ApprovalStatus::Pending));
    assert_eq!(todo_records(crm, &s.finance), vec![large.id]);

    // A bad value is refused naming its field, and nothing moves.
    for (name, value) in [
        ("amount", Value::Decimal(Decimal::new(-1, 0))),
        ("amount", Value::Text("many".into())),
        ("amount", Value::Null),
    ] {
        let changes = BTreeMap::from([(name.to_owned(), value)]);
        let refused = crm
            .workflows(&s.finance)
            .approve_with_changes(instance, None, "", changes)
            .unwrap_err();
        assert_eq!(field_of(&refused), Some("amount"), "{refused:?}");
    }
    assert_eq!(todo_records(crm, &s.finance), vec![large.id]);
    // With several changes, the emptied one is named, not the first.
    let changes = BTreeMap::from([
        ("amount".to_owned(), Value::Decimal(Decimal::new(5500, 0))),
        ("title".to_owned(), Value::Null),
    ]);
    let refused =
        crm.workflows(&s.finance).approve_with_changes(instance, None, "", changes).unwrap_err();
    assert_eq!(field_of(&refused), Some("title"), "{refused:?}");

    // A field the node does not let approvers change is refused, and nothing moves.
    let title = BTreeMap::from([("title".to_owned(), Value::Text("改标题".into()))]);
    assert!(crm.workflows(&s.finance).approve_with_changes(instance, None, "", title).is_err());
    assert_eq!(requests.get(large.id).unwrap().title, "客户招待");

    crm.workflows(&s.finance).approve(instance, None, "同意").unwrap();
    let approved = requests.get(large.id).unwrap();
    assert_eq!(approved.status, ApprovalStatus::Approved);
    assert!(todo_records(crm, &s.finance).is_empty());

    // The request's trail names the applicant's creation and every status step.
    let trail = crm
        .store()
        .query(&s.admin.tenant, AuditEntry::desc(), &Query::all())
        .unwrap()
        .records
        .iter()
        .map(|r| AuditEntry::from_record(r).unwrap())
        .filter(|e| e.entity == FinanceRequest::desc().kind && e.record_id == large.id)
        .count();
    assert_eq!(trail, 4, "create, pending, amount lowered, approved");

    // A small expense needs the manager only.
    let small = requests.create(draft(RequestForm::Expense, "打车", 120)).unwrap();
    assert_eq!(small.code, "EX000002");
    let small = requests.submit(small.id, small.version).unwrap();
    crm.workflows(&s.manager).approve(small.instance.unwrap(), None, "").unwrap();
    assert_eq!(requests.get(small.id).unwrap().status, ApprovalStatus::Approved);
    assert!(todo_records(crm, &s.finance).is_empty());

    // Approved requests no longer change.
    let error = requests.update(small.id, 3, draft(RequestForm::Expense, "x", 1)).unwrap_err();
    assert!(matches!(error, Error::Domain(DomainError::State(_))), "{error:?}");
}

pub fn rejected_loan_is_edited_and_submitted_again(crm: &Crm) {
    let s = setup(crm);
    // Approvers may not be given fields the engine owns.
    let owned = definition("loan", s.admin.user)
        .replace(r#"editable_fields = ["amount"]"#, r#"editable_fields = ["applicant"]"#);
    let refused = crm.workflows(&s.admin).define(&owned).unwrap_err();
    assert_eq!(field_of(&refused), Some("editable_fields"), "{refused:?}");
    // People a flow names must exist when it is defined.
    let fine = definition("loan", s.admin.user);
    for (bad, field) in [
        (definition("loan", RecordId(999_999)), "fallback_approver"),
        (fine.replace(r#"name = "finance""#, r#"name = "nobody""#), "approvers"),
        (fine.replace("{ unit_manager = 0 }", "{ users = [999999] }"), "approvers"),
    ] {
        let refused = crm.workflows(&s.admin).define(&bad).unwrap_err();
        assert_eq!(field_of(&refused), Some(field), "{refused:?}");
    }
    assert!(crm.workflows(&s.admin).definitions().unwrap().is_empty());
    crm.workflows(&s.admin).define(&definition("loan", s.admin.user)).unwrap();
    let requests = crm.requests(&s.seller);
    let loan = requests.create(draft(RequestForm::Loan, "出差借款", 3000)).unwrap();
    assert_eq!(loan.code, "LN000001");
    let loan = requests.submit(loan.id, loan.version).unwrap();
    let instance = loan.instance.unwrap();
    crm.workflows(&s.manager).reject(instance, None, "金额太大").unwrap();
    let rejected = requests.get(loan.id).unwrap();
    assert_eq!(rejected.status, ApprovalStatus::Rejected);

    // Submitted once, it is kept: it cannot be deleted, only edited and submitted again.
    let error = requests.delete(loan.id, rejected.version).unwrap_err();
    assert!(matches!(error, Error::Domain(DomainError::State(_))), "{error:?}");
    let stale = requests.update(loan.id, loan.version, draft(RequestForm::Loan, "出差借款", 2000));
    assert!(stale.unwrap_err().is_conflict());
    let edited = requests
        .update(loan.id, rejected.version, draft(RequestForm::Loan, "出差借款", 2000))
        .unwrap();
    assert_eq!(edited.amount, Decimal::new(2000, 0));
    let again = requests.submit(loan.id, edited.version).unwrap();
    assert_eq!((again.status, again.instance), (ApprovalStatus::Pending, Some(instance)));
    assert_eq!(todo_records(crm, &s.manager), vec![loan.id]);
    let state = crm.workflows(&s.seller).instance(instance).unwrap().state;
    assert_eq!(state.round, 2);
    assert_eq!(state.fields.get("amount"), Some(&Value::Decimal(Decimal::new(2000, 0))));
    crm.workflows(&s.manager).approve(instance, None, "").unwrap();
    assert_eq!(requests.get(loan.id).unwrap().status, ApprovalStatus::Approved);

    // A draft never submitted can be deleted.
    let spare = requests.create(draft(RequestForm::Loan, "备用金", 500)).unwrap();
    requests.delete(spare.id, spare.version).unwrap();
    assert!(requests.get(spare.id).is_err());
}

pub fn finance_requests_are_private_and_checked(crm: &Crm) {
    let s = setup(crm);
    let requests = crm.requests(&s.seller);
    let mine = requests.create(draft(RequestForm::Reimbursement, "报销机票", 1880)).unwrap();
    assert_eq!(mine.code, "RB000001");

    // Without a flow bound to the form, submission says what is missing and changes nothing.
    let error = requests.submit(mine.id, mine.version).unwrap_err();
    assert!(error.to_string().contains("reimbursement"), "{error}");
    assert_eq!(requests.get(mine.id).unwrap().status, ApprovalStatus::Draft);

    // Nobody else sees it until they take part in its approval.
    let hidden = crm.requests(&s.outsider).get(mine.id).unwrap_err();
    assert!(matches!(hidden, Error::Domain(DomainError::NotFound { .. })), "{hidden:?}");
    assert_eq!(crm.requests(&s.outsider).list(&RequestFilter::default()).unwrap().total, 0);
    assert!(crm.requests(&s.manager).get(mine.id).is_err());
    let everyone = crm.requests(&s.admin).list(&RequestFilter::default()).unwrap();
    assert_eq!(everyone.items.iter().map(|r| r.id).collect::<Vec<_>>(), vec![mine.id]);
    let by_form = RequestFilter { form: Some(RequestForm::Loan), ..RequestFilter::default() };
    assert_eq!(crm.requests(&s.admin).list(&by_form).unwrap().total, 0);
    let outsider_edit = crm.requests(&s.outsider).update(
        mine.id,
        mine.version,
        draft(RequestForm::Reimbursement, "改", 1),
    );
    assert!(outsider_edit.is_err());

    // Bad input names its field and stores nothing.
    for (bad, field) in [
        (draft(RequestForm::Expense, "", 10), "title"),
        (draft(RequestForm::Expense, "零元", 0), "amount"),
        (RequestDraft { repay_by: None, ..draft(RequestForm::Loan, "借款", 10) }, "repay_by"),
        (
            RequestDraft { currency: "RMB1".into(), ..draft(RequestForm::Expense, "币种", 10) },
            "currency",
        ),
        (
            RequestDraft {
                amount: Decimal::new(12345, 3),
                ..draft(RequestForm::Expense, "小数", 10)
            },
            "amount",
        ),
        (
            RequestDraft {
                customer: Some(RecordId(999_999)),
                ..draft(RequestForm::Expense, "客户", 10)
            },
            "customer",
        ),
    ] {
        let error = requests.create(bad).unwrap_err();
        assert_eq!(field_of(&error), Some(field), "{error:?}");
    }
    assert_eq!(requests.list(&RequestFilter::default()).unwrap().total, 1);
    let changed_form = requests.update(mine.id, mine.version, draft(RequestForm::Loan, "x", 1));
    assert_eq!(field_of(&changed_form.unwrap_err()), Some("form"));
}

pub fn a_request_made_for_a_second_unit_goes_to_its_manager(crm: &Crm) {
    let s = setup(crm);
    crm.workflows(&s.admin).define(&definition("expense", s.admin.user)).unwrap();
    let org = crm.org(&s.admin);
    let root = org.units().unwrap()[0].id;
    let market = org.add_unit("市场部", UnitKind::Department, root).unwrap();
    org.set_manager(market.id, Some(s.outsider.user)).unwrap();
    org.add_membership(s.seller.user, market.id, "").unwrap();

    let requests = crm.requests(&s.seller);
    let request = requests.create(draft(RequestForm::Expense, "展会物料", 900)).unwrap();
    // Not one of the seller's units: refused, and the request stays a draft.
    let refused = requests.submit_for(request.id, request.version, Some(root)).unwrap_err();
    assert!(refused.to_string().contains("does not belong to unit"), "{refused}");
    assert_eq!(requests.get(request.id).unwrap().status, ApprovalStatus::Draft);

    let submitted = requests.submit_for(request.id, request.version, Some(market.id)).unwrap();
    assert_eq!(submitted.status, ApprovalStatus::Pending);
    assert_eq!(todo_records(crm, &s.outsider), vec![request.id]);
    assert!(todo_records(crm, &s.manager).is_empty());
    // Rejected and resubmitted, it stays made for the market unit.
    let instance = submitted.instance.unwrap();
    crm.workflows(&s.outsider).reject(instance, None, "补充说明").unwrap();
    let rejected = requests.get(request.id).unwrap();
    requests.submit(request.id, rejected.version).unwrap();
    assert_eq!(todo_records(crm, &s.outsider), vec![request.id]);
}

pub fn an_edit_racing_a_submission_is_never_lost(crm: &Crm) {
    let s = setup(crm);
    crm.workflows(&s.admin).define(&definition("expense", s.admin.user)).unwrap();
    for round in 0..8 {
        let requests = crm.requests(&s.seller);
        let request = requests.create(draft(RequestForm::Expense, "差旅", 100 + round)).unwrap();
        let barrier = std::sync::Barrier::new(2);
        let (edited, submitted) = std::thread::scope(|scope| {
            let edit = scope.spawn(|| {
                barrier.wait();
                let changed = draft(RequestForm::Expense, "差旅", 999_999);
                crm.requests(&s.seller).update(request.id, request.version, changed)
            });
            let submit = scope.spawn(|| {
                barrier.wait();
                crm.requests(&s.seller).submit(request.id, request.version)
            });
            (edit.join().unwrap(), submit.join().unwrap())
        });
        let stored = requests.get(request.id).unwrap();
        match stored.instance {
            // Submitted: what approvers decide is what is stored.
            Some(instance) => {
                let state = crm.workflows(&s.seller).instance(instance).unwrap().state;
                assert_eq!(state.fields.get("amount"), Some(&Value::Decimal(stored.amount)));
                assert!(submitted.is_ok());
                if edited.is_ok() {
                    assert_eq!(stored.amount, Decimal::new(999_999, 0), "round {round}");
                }
            }
            None => {
                assert!(submitted.is_err(), "round {round}");
                assert_eq!(stored.amount, Decimal::new(999_999, 0), "round {round}");
            }
        }
    }
}
