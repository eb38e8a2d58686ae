//! Approval scenarios: a customer assignment request (资源分配) goes through a two-step flow
//! (the requester's unit manager, then every holder of a position) on every store.

use std::sync::Barrier;

use crm::workflow::{Status, TaskId};
use crm::{AssignmentStatus, Crm, Customer, CustomerStatus, Principal, RecordId, Role, UnitKind};

use super::fresh_admin;

/// Everyone a flow needs: a sales unit with a manager and a salesperson, two reviewers
/// holding the `reviewer` position, an outsider, and a pool customer.
struct Setup {
    admin: Principal,
    manager: Principal,
    seller: Principal,
    reviewers: [Principal; 2],
    outsider: Principal,
    customer: RecordId,
}

fn setup(crm: &Crm) -> Setup {
    let admin = fresh_admin(crm);
    let org = crm.org(&admin);
    let root = org.units().unwrap()[0].id;
    let sales = org.add_unit("销售一部", UnitKind::Department, root).unwrap();
    let user = |login: &str, unit: RecordId| {
        let user = org.add_user(login, login, unit, Role::User).unwrap();
        Principal::user(admin.tenant.clone(), user.id)
    };
    let manager = user("manager", sales.id);
    let seller = user("seller", sales.id);
    let reviewers = [user("reviewer1", root), user("reviewer2", root)];
    let outsider = user("outsider", sales.id);
    org.set_manager(sales.id, Some(manager.user)).unwrap();
    org.add_position("reviewer", "Reviewer / 复核").unwrap();
    for reviewer in &reviewers {
        org.add_membership(reviewer.user, root, "reviewer").unwrap();
    }

    let pool = Customer {
        name: "公海客户 Pool Ltd".into(),
        status: CustomerStatus::Pool,
        ..Customer::default()
    };
    let customer = crm.customers(&admin).create(pool, vec![]).unwrap().id;
    crm.workflows(&admin).define(&definition(admin.user)).unwrap();
    Setup { admin, manager, seller, reviewers, outsider, customer }
}

fn definition(fallback: RecordId) -> String {
    format!(
        r#"
name = "customer_request"
title = "Customer request / 客户申请"
form = "customer_assignment"
fallback_approver = {fallback}

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "manager"
type = "approval"
label = "Unit manager"
approvers = [{{ unit_manager = 0 }}]

[[nodes]]
id = "review"
type = "approval"
mode = "all"
approvers = [{{ position = {{ name = "reviewer", lookup = "anywhere" }} }}]

[[nodes]]
id = "end"
type = "end"

[[edges]]
from = "start"
to = "manager"

[[edges]]
from = "manager"
to = "review"

[[edges]]
from = "review"
to = "end"
"#
    )
}

/// The (instance, task, node) lines of a principal's to-do list.
fn todo(crm: &Crm, who: &Principal) -> Vec<(RecordId, TaskId, String)> {
    let page = crm.workflows(who).todo(0, 50).unwrap();
    assert_eq!(page.total, page.items.len() as u64);
    page.items.iter().map(|item| (item.instance, item.task, item.node.clone())).collect()
}

pub fn assignment_is_approved_in_two_steps(crm: &Crm) {
    let s = setup(crm);
    let listed = crm.workflows(&s.seller).definitions().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].version), ("customer_request", 1));
    let svg = crm.workflows(&s.seller).definition_svg("customer_request", None).unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{}", &svg[..40]);

    let requested = crm.assignments(&s.seller).request(s.customer, "我跟进过这家").unwrap();
    assert_eq!(requested.request.status, AssignmentStatus::Pending);
    let instance = requested.instance;
    assert_eq!(
        crm.assignments(&s.seller).get(requested.request.id).unwrap().status,
        AssignmentStatus::Pending
    );

    let manager_todo = todo(crm, &s.manager);
    assert_eq!(manager_todo.len(), 1);
    assert_eq!((manager_todo[0].0, manager_todo[0].2.as_str()), (instance, "manager"));
    let item = &crm.workflows(&s.manager).todo(0, 10).unwrap().items[0];
    assert_eq!((item.record, item.submitter), (requested.request.id, s.seller.user));
    assert!(todo(crm, &s.reviewers[0]).is_empty());
    assert!(todo(crm, &s.seller).is_empty());

    crm.workflows(&s.manager).approve(instance, None, "同意").unwrap();
    assert!(todo(crm, &s.manager).is_empty());
    assert_eq!(crm.workflows(&s.manager).done(0, 10).unwrap().total, 1);
    for reviewer in &s.reviewers {
        let lines = todo(crm, reviewer);
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].0, lines[0].2.as_str()), (instance, "review"));
    }

    let first = crm.workflows(&s.reviewers[0]).approve(instance, None, "").unwrap();
    assert_eq!(first.status, Status::Pending);
    let customer = crm.customers(&s.admin).get(s.customer).unwrap();
    assert_eq!((customer.owner, customer.status), (None, CustomerStatus::Pool));

    let last = crm.workflows(&s.reviewers[1]).approve(instance, None, "ok").unwrap();
    assert_eq!(last.status, Status::Approved);
    assert!(todo(crm, &s.reviewers[1]).is_empty());
    let counts = crm.workflows(&s.reviewers[1]).todo_counts(chrono::Duration::hours(1)).unwrap();
    assert_eq!((counts.open, counts.done, counts.overdue), (0, 1, 0));

    let customer = crm.customers(&s.seller).get(s.customer).unwrap();
    assert_eq!((customer.owner, customer.status), (Some(s.seller.user), CustomerStatus::Private));
    let request = crm.assignments(&s.seller).get(requested.request.id).unwrap();
    assert_eq!(request.status, AssignmentStatus::Approved);
    let history = crm.customers(&s.admin).history(s.customer).unwrap();
    let assigned = history.last().unwrap();
    assert_eq!(assigned.actor, s.reviewers[1].user);
    assert!(assigned.changes.iter().any(|c| c.field == "owner"), "{assigned:?}");

    let shown = crm.workflows(&s.seller).instance(instance).unwrap();
    assert_eq!(shown.state.status, Status::Approved);
    assert_eq!(shown.state.tasks.len(), 3);
    assert!(crm.workflows(&s.seller).history(instance).unwrap().len() >= 4);
}

pub fn rejected_assignment_leaves_the_owner(crm: &Crm) {
    let s = setup(crm);
    let requested = crm.assignments(&s.seller).request(s.customer, "").unwrap();
    let outcome = crm.workflows(&s.manager).reject(requested.instance, None, "不符合条件").unwrap();
    assert_eq!(outcome.status, Status::Rejected);
    let request = crm.assignments(&s.admin).get(requested.request.id).unwrap();
    assert_eq!(request.status, AssignmentStatus::Rejected);
    let customer = crm.customers(&s.admin).get(s.customer).unwrap();
    assert_eq!((customer.owner, customer.status), (None, CustomerStatus::Pool));
    assert!(todo(crm, &s.reviewers[0]).is_empty());
    assert!(crm.customers(&s.seller).get(s.customer).unwrap_err().is_not_found());

    // The requester may try again after a rejection.
    let again = crm.workflows(&s.seller).resubmit(requested.instance).unwrap();
    assert_eq!(again.status, Status::Pending);
    let request = crm.assignments(&s.seller).get(requested.request.id).unwrap();
    assert_eq!(request.status, AssignmentStatus::Pending);
    assert_eq!(todo(crm, &s.manager).len(), 1);
}

pub fn departed_approver_falls_back(crm: &Crm) {
    let s = setup(crm);
    crm.org(&s.admin).set_active(s.manager.user, false).unwrap();
    let requested = crm.assignments(&s.seller).request(s.customer, "").unwrap();
    assert!(todo(crm, &s.manager).is_empty());
    let fallback = todo(crm, &s.admin);
    assert_eq!(fallback.len(), 1);
    assert_eq!((fallback[0].0, fallback[0].2.as_str()), (requested.instance, "manager"));
    let shown = crm.workflows(&s.admin).instance(requested.instance).unwrap();
    assert!(shown.state.tasks[0].via_fallback);
    crm.workflows(&s.admin).approve(requested.instance, None, "").unwrap();
    assert_eq!(todo(crm, &s.reviewers[0]).len(), 1);
}

pub fn racing_approvals_decide_once(crm: &Crm) {
    let s = setup(crm);
    let requested = crm.assignments(&s.seller).request(s.customer, "").unwrap();
    let task = todo(crm, &s.manager)[0].1;
    let barrier = Barrier::new(2);
    let results: Vec<crm::Result<_>> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    crm.workflows(&s.manager).approve(requested.instance, Some(task), "")
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    let lost = results.into_iter().find_map(Result::err).unwrap();
    assert!(lost.to_string().contains("already decided"), "{lost}");
    let shown = crm.workflows(&s.seller).instance(requested.instance).unwrap();
    assert_eq!(shown.state.tasks.iter().filter(|t| t.node == "review").count(), 2);
}

pub fn outsiders_cannot_view_or_request(crm: &Crm) {
    let s = setup(crm);
    let requested = crm.assignments(&s.seller).request(s.customer, "").unwrap();
    let error = crm.workflows(&s.outsider).instance(requested.instance).unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert!(crm.workflows(&s.outsider).history(requested.instance).unwrap_err().is_not_found());
    let error = crm.workflows(&s.outsider).approve(requested.instance, Some(TaskId(1)), "");
    assert!(error.unwrap_err().is_not_found());
    assert!(crm.workflows(&s.manager).instance(requested.instance).is_ok());
    assert!(crm.workflows(&s.admin).instance(requested.instance).is_ok());
    assert!(crm.assignments(&s.outsider).get(requested.request.id).unwrap_err().is_not_found());

    // A customer someone owns is invisible to others, so it cannot be requested.
    let owned = crm
        .customers(&s.manager)
        .create(Customer { name: "Owned".into(), ..Customer::default() }, vec![]);
    let owned = owned.unwrap().id;
    assert!(crm.assignments(&s.seller).request(owned, "").unwrap_err().is_not_found());
    // Only administrators define flows, and a flow must exist before a request.
    assert!(crm.workflows(&s.seller).define(&definition(s.admin.user)).is_err());
    let other = fresh_admin(crm);
    let pool = Customer { name: "P".into(), status: CustomerStatus::Pool, ..Customer::default() };
    let id = crm.customers(&other).create(pool, vec![]).unwrap().id;
    let error = crm.assignments(&other).request(id, "").unwrap_err();
    assert!(error.to_string().contains("customer_assignment"), "{error}");
    let quote = definition(other.user).replace("customer_assignment", "quote");
    let error = crm.workflows(&other).define(&quote).unwrap_err();
    assert!(error.to_string().contains("not supported"), "{error}");
}
