//! Approval scenarios: a customer assignment request (资源分配) goes through a two-step flow
//! (the requester's unit manager, then every holder of a position) on every store, with files
//! attached along the way and tasks handed to other people.

use std::sync::Barrier;

use crm::workflow::{Decision, Status, TaskId, TaskStatus};
use crm::{
    AssignmentStatus, AuditAction, AuditEntry, Crm, Customer, CustomerStatus, DomainError, Entity,
    Error, NewAttachment, Principal, Query, RecordId, Role, UnitKind, Value,
};
use crm_workflow::ActionError;

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
    // Still in the pool: the seller sees it but may not change it.
    let seen = crm.customers(&s.seller).get(s.customer).unwrap();
    assert!(!crm.customers(&s.seller).can_change(&seen));

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
    let custom = definition(other.user).replace("\"customer_assignment\"", "{ custom = 7 }");
    // A flow bound to a user-defined form the tenant does not have is refused.
    let error = crm.workflows(&other).define(&custom).unwrap_err();
    assert!(error.to_string().contains("there is no form 7"), "{error}");
}

/// A small file as a browser or the terminal would hand it over.
fn file(name: &str, content_type: &str, bytes: &[u8]) -> NewAttachment {
    NewAttachment {
        file_name: name.to_owned(),
        content_type: content_type.to_owned(),
        bytes: bytes.to_vec(),
    }
}

/// The workflow engine's refusal inside a facade error.
fn action_error(error: &Error) -> Option<&ActionError> {
    match error {
        Error::Workflow(e) => e.as_action(),
        _ => None,
    }
}

pub fn files_are_attached_and_read_back_by_participants(crm: &Crm) {
    let s = setup(crm);
    let requested = crm.assignments(&s.seller).request(s.customer, "见附件").unwrap();
    let instance = requested.instance;
    let pdf = b"%PDF-1.4 quote for Pool Ltd\n%%EOF";

    let outcome = crm
        .workflows(&s.seller)
        .attach(instance, file(" 报价单 v2.pdf ", "application/pdf", pdf))
        .unwrap();
    assert_eq!(outcome.status, Status::Pending);
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].kind.name(), "attachment_added");
    let attached = &outcome.state.attachments;
    assert_eq!(attached.len(), 1);
    assert_eq!((attached[0].file_name.as_str(), attached[0].by), ("报价单 v2.pdf", s.seller.user));
    let id = attached[0].attachment;

    // Everyone who may view the request reads the same bytes back.
    for reader in [&s.seller, &s.manager, &s.admin] {
        let read = crm.workflows(reader).attachment(instance, id).unwrap();
        assert_eq!(read.bytes, pdf.to_vec());
        assert_eq!(read.file_name, "报价单 v2.pdf");
        assert_eq!(read.content_type, "application/pdf");
        assert_eq!(read.size_bytes, pdf.len() as i64);
        assert_eq!((read.owner_kind.as_str(), read.owner_id), ("workflow_instance", instance));
    }
    let shown = crm.workflows(&s.manager).instance(instance).unwrap();
    assert_eq!(shown.state.attachments, outcome.state.attachments);
    let kinds: Vec<String> = crm
        .workflows(&s.manager)
        .history(instance)
        .unwrap()
        .iter()
        .map(|e| e.kind.name().to_owned())
        .collect();
    assert_eq!(kinds, ["submitted", "node_activated", "attachment_added"]);

    // The stored file carries an audit entry like every other record.
    let query = Query::all()
        .filter(crm_domain::Filter::Eq("record_id".into(), Value::Ref(id)))
        .filter(crm_domain::Filter::Eq("entity".into(), "attachment".into()));
    let audits = crm.store().query(&s.admin.tenant, AuditEntry::desc(), &query).unwrap();
    let audits: Vec<AuditEntry> =
        audits.records.iter().map(|r| AuditEntry::from_record(r).unwrap()).collect();
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(
        (audits[0].entity.as_str(), audits[0].actor, audits[0].action),
        ("attachment", s.seller.user, AuditAction::Create)
    );

    // Anyone else finds neither the request nor its files; a file is read only through its
    // own instance, and lead attachment lookups do not reach it.
    let outsider = crm.workflows(&s.outsider);
    assert!(outsider.attachment(instance, id).unwrap_err().is_not_found());
    let error = outsider.attach(instance, file("x.txt", "text/plain", b"x")).unwrap_err();
    assert!(error.is_not_found(), "{error}");
    let other = RecordId(instance.0 + 1000);
    assert!(crm.workflows(&s.admin).attachment(other, id).unwrap_err().is_not_found());
    let missing = RecordId(id.0 + 1000);
    assert!(crm.workflows(&s.admin).attachment(instance, missing).unwrap_err().is_not_found());
    assert!(crm.leads(&s.admin).attachment(id).unwrap_err().is_not_found());

    // Bad files are refused naming the field, and store nothing.
    let refusals = [
        (file("   ", "text/plain", b"x"), "file_name"),
        (file("a\nb.txt", "text/plain", b"x"), "file_name"),
        (file("bell\u{7}.txt", "text/plain", b"x"), "file_name"),
        (file("a.txt", "text/plain\r\nX-Injected: 1", b"x"), "content_type"),
        (file("big.bin", "", &vec![0; crm::MAX_ATTACHMENT_BYTES + 1]), "file"),
    ];
    for (bad, field) in refusals {
        let name = bad.file_name.clone();
        let error = crm.workflows(&s.seller).attach(instance, bad).unwrap_err();
        let named = match &error {
            Error::Domain(DomainError::Invalid { field, .. })
            | Error::Domain(DomainError::Required { field }) => field.as_str(),
            other => panic!("{name:?}: {other}"),
        };
        assert_eq!(named, field, "{name:?}: {error}");
    }
    let shown = crm.workflows(&s.seller).instance(instance).unwrap();
    assert_eq!(shown.state.attachments.len(), 1);
    assert_eq!(shown.summary.last_seq, 3);

    // A file without a type is stored as plain bytes; files may follow a finished request.
    crm.workflows(&s.manager).reject(instance, None, "").unwrap();
    let late = crm.workflows(&s.manager).attach(instance, file("notes", "", b"")).unwrap();
    assert_eq!(late.status, Status::Rejected);
    let notes = late.state.attachments.last().unwrap().attachment;
    let read = crm.workflows(&s.seller).attachment(instance, notes).unwrap();
    assert_eq!((read.content_type.as_str(), read.size_bytes), ("application/octet-stream", 0));
}

pub fn a_file_goes_in_with_the_decision(crm: &Crm) {
    let s = setup(crm);
    let requested = crm.assignments(&s.seller).request(s.customer, "").unwrap();
    let instance = requested.instance;

    let approved = crm
        .workflows(&s.manager)
        .decide(
            instance,
            None,
            Decision::Approve,
            "见核查表",
            Some(file("核查表.xlsx", "application/vnd.ms-excel", b"PK\x03\x04")),
        )
        .unwrap();
    assert_eq!(approved.status, Status::Pending);
    assert_eq!(
        approved.events.iter().map(|e| e.kind.name()).collect::<Vec<_>>(),
        ["attachment_added", "approved", "node_activated"]
    );
    assert_eq!(approved.state.attachments.len(), 1);
    assert_eq!(approved.state.tasks[0].comment, "见核查表");
    assert_eq!(todo(crm, &s.reviewers[0]).len(), 1);

    // A refused decision stores its file neither.
    let again = crm
        .workflows(&s.manager)
        .decide(
            instance,
            Some(TaskId(1)),
            Decision::Approve,
            "",
            Some(file("again.txt", "text/plain", b"again")),
        )
        .unwrap_err();
    assert_eq!(action_error(&again), Some(&ActionError::AlreadyDecided { task: TaskId(1) }));
    let shown = crm.workflows(&s.admin).instance(instance).unwrap();
    assert_eq!(shown.state.attachments.len(), 1);
    assert_eq!(shown.summary.last_seq, approved.state.last_seq);

    let rejected = crm
        .workflows(&s.reviewers[0])
        .decide(
            instance,
            None,
            Decision::Reject,
            "缺少合同",
            Some(file("意见.txt", "text/plain", "请补充合同".as_bytes())),
        )
        .unwrap();
    assert_eq!(rejected.status, Status::Rejected);
    let names: Vec<&str> =
        rejected.state.attachments.iter().map(|a| a.file_name.as_str()).collect();
    assert_eq!(names, ["核查表.xlsx", "意见.txt"]);
    let note = rejected.state.attachments[1].attachment;
    let read = crm.workflows(&s.seller).attachment(instance, note).unwrap();
    assert_eq!(String::from_utf8(read.bytes).unwrap(), "请补充合同");
    let request = crm.assignments(&s.seller).get(requested.request.id).unwrap();
    assert_eq!(request.status, AssignmentStatus::Rejected);
}

pub fn tasks_are_reassigned_to_active_users(crm: &Crm) {
    let s = setup(crm);
    let requested = crm.assignments(&s.seller).request(s.customer, "").unwrap();
    let instance = requested.instance;
    let manager_task = todo(crm, &s.manager)[0].1;

    // A plain user who does not hold the task may not hand it on; an outsider does not even
    // see the request.
    let refused =
        crm.workflows(&s.seller).reassign(instance, Some(manager_task), s.reviewers[0].user, "");
    let refused = refused.unwrap_err();
    assert_eq!(action_error(&refused), Some(&ActionError::NotAssignee { task: manager_task }));
    let hidden =
        crm.workflows(&s.outsider).reassign(instance, Some(manager_task), s.outsider.user, "");
    assert!(hidden.unwrap_err().is_not_found());

    // The administrator may not hand it to a departed or unknown user, nor to the submitter.
    crm.org(&s.admin).set_active(s.outsider.user, false).unwrap();
    let admin = crm.workflows(&s.admin);
    let inactive = admin.reassign(instance, Some(manager_task), s.outsider.user, "").unwrap_err();
    assert_eq!(action_error(&inactive), Some(&ActionError::InactiveUser { user: s.outsider.user }));
    let nobody = RecordId(999_999);
    let unknown = admin.reassign(instance, Some(manager_task), nobody, "").unwrap_err();
    assert!(
        matches!(&unknown, Error::Domain(DomainError::Invalid { field, reason })
            if field == "to" && reason.contains("no user 999999")),
        "{unknown:?}"
    );
    let own = admin.reassign(instance, Some(manager_task), s.seller.user, "").unwrap_err();
    assert!(
        matches!(action_error(&own), Some(ActionError::SelfApproval { node }) if node == "manager"),
        "{own}"
    );
    assert_eq!(todo(crm, &s.manager).len(), 1);

    // The administrator hands the manager's task to a reviewer.
    let handed =
        admin.reassign(instance, Some(manager_task), s.reviewers[0].user, "王经理休假").unwrap();
    assert_eq!(handed.status, Status::Pending);
    let new_task = handed.state.tasks.last().unwrap();
    assert_eq!(new_task.assignee, s.reviewers[0].user);
    assert_eq!(
        handed.state.task(manager_task).unwrap().status,
        TaskStatus::Reassigned { to: new_task.id }
    );
    assert!(todo(crm, &s.manager).is_empty());
    let lines = todo(crm, &s.reviewers[0]);
    assert_eq!((lines.len(), lines[0].1, lines[0].2.as_str()), (1, new_task.id, "manager"));

    // Its new assignee hands it back (their one open task, named or not).
    let back = crm.workflows(&s.reviewers[0]).reassign(instance, None, s.manager.user, "");
    assert_eq!(back.unwrap().state.tasks.last().unwrap().assignee, s.manager.user);
    assert!(todo(crm, &s.reviewers[0]).is_empty());
    let stale = crm.workflows(&s.manager).approve(instance, Some(manager_task), "");
    assert!(matches!(
        action_error(&stale.unwrap_err()),
        Some(ActionError::Reassigned { task, .. }) if *task == manager_task
    ));
    let approved = crm.workflows(&s.manager).approve(instance, None, "").unwrap();
    assert_eq!(approved.status, Status::Pending);
    assert_eq!(todo(crm, &s.reviewers[1]).len(), 1);
    let kinds = crm.workflows(&s.seller).history(instance).unwrap();
    assert_eq!(kinds.iter().filter(|e| e.kind.name() == "reassigned").count(), 2);
}

pub fn assignment_requests_are_neither_doubled_nor_stale(crm: &Crm) {
    let s = setup(crm);
    let first = crm.assignments(&s.seller).request(s.customer, "").unwrap();
    let again = crm.assignments(&s.seller).request(s.customer, "").unwrap_err();
    assert!(matches!(again, Error::Domain(DomainError::State(_))), "{again:?}");
    let rival = crm.assignments(&s.outsider).request(s.customer, "我也想要").unwrap();

    crm.workflows(&s.manager).approve(first.instance, None, "").unwrap();
    for reviewer in &s.reviewers {
        crm.workflows(reviewer).approve(first.instance, None, "").unwrap();
    }
    let owner = |crm: &Crm| crm.customers(&s.admin).get(s.customer).unwrap().owner;
    assert_eq!(owner(crm), Some(s.seller.user));

    // The rival's request, approved later, does not take the customer away.
    crm.workflows(&s.manager).approve(rival.instance, None, "").unwrap();
    crm.workflows(&s.reviewers[0]).approve(rival.instance, None, "").unwrap();
    let stale = crm.workflows(&s.reviewers[1]).approve(rival.instance, None, "").unwrap_err();
    assert!(stale.to_string().contains("given to someone else"), "{stale}");
    assert_eq!(owner(crm), Some(s.seller.user));
    crm.workflows(&s.reviewers[1]).reject(rival.instance, None, "已分配").unwrap();
    let rejected = crm.assignments(&s.outsider).get(rival.request.id).unwrap();
    assert_eq!(rejected.status, AssignmentStatus::Rejected);
}
