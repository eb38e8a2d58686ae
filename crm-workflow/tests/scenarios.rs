//! Scenario tests of the pure engine: one test per action and per rule of the issue, each
//! driving an instance through `submit`, `decide` and `replay`.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod support;

use std::collections::BTreeSet;

use chrono::Duration;
use crm_domain::Value;
use crm_workflow::access::{can_act, can_view, field_access, visible_decisions, FieldSet};
use crm_workflow::todo::{counts, done_tasks, open_tasks, overdue, InstanceRef, TodoCounts};
use crm_workflow::{
    replay, Action, ActionError, Actor, Event, EventKind, ReplayError, Status, TaskId, TaskStatus,
    VisitState,
};
use support::{at, decimal, definition, id, org, quote, Run};

/// Manager of the submitter's unit, then the manager one level up, then a finance countersign.
const THREE_STEPS: &str = r#"
name = "three_steps"
form = "quote"
nodes = [
  { id = "start", type = "start" },
  { id = "manager", type = "approval", approvers = [{ unit_manager = 0 }], visible_fields = ["customer", "amount", "discount"], editable_fields = ["discount"] },
  { id = "director", type = "approval", approvers = [{ unit_manager = 1 }] },
  { id = "finance", type = "approval", mode = "all", approvers = [{ position = { name = "finance", lookup = "submitter_unit_and_ancestors" } }], visible_fields = ["amount"] },
  { id = "end", type = "end" },
]
edges = [
  { from = "start", to = "manager" }, { from = "manager", to = "director" },
  { from = "director", to = "finance" }, { from = "finance", to = "end" },
]
"#;

fn one_node(mode: &str, approvers: &str, extra: &str) -> String {
    format!(
        r#"
name = "one_node"
form = "quote"
{extra}
nodes = [
  {{ id = "start", type = "start" }},
  {{ id = "decide", type = "approval", mode = "{mode}", approvers = {approvers} }},
  {{ id = "end", type = "end" }},
]
edges = [{{ from = "start", to = "decide" }}, {{ from = "decide", to = "end" }}]
"#
    )
}

fn three_steps(submitter: u64) -> Run {
    Run::submit(&definition(THREE_STEPS), submitter, quote("5000"), org()).unwrap()
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

#[test]
fn approvals_move_the_request_through_every_node_to_approved() {
    let mut run = three_steps(301);
    assert_eq!(kinds(&run.events), ["submitted", "node_activated"]);
    assert_eq!(run.open_assignees(), [300]);

    run.approve(300).unwrap();
    assert_eq!(run.open_assignees(), [200]);
    let events = run.approve(200).unwrap();
    assert_eq!(kinds(&events), ["approved", "node_activated"]);
    assert_eq!(run.open_assignees(), [101, 102]);

    run.approve(101).unwrap();
    assert_eq!(run.state().status, Status::Pending);
    run.approve(102).unwrap();
    let state = run.state();
    assert_eq!(state.status, Status::Approved);
    assert_eq!(state.finished_at, Some(at(4)));
    assert!(state.visits.iter().all(|v| v.state == VisitState::Completed));
    assert_eq!(state.last_seq, run.events.len() as u64);
}

#[test]
fn reject_sends_the_request_back_and_closes_every_task() {
    let mut run = three_steps(301);
    run.approve(300).unwrap();
    let task = run.task_of(200);
    run.act(200, Action::reject(task, "price too low")).unwrap();
    let state = run.state();
    assert_eq!(state.status, Status::Rejected);
    assert_eq!(state.task(task).unwrap().status, TaskStatus::Rejected);
    assert_eq!(state.task(task).unwrap().comment, "price too low");
    assert_eq!(state.open_tasks().count(), 0);
    assert_eq!(run.act(200, Action::approve(task)), Err(ActionError::AlreadyDecided { task }));
}

#[test]
fn countersign_needs_every_approver_of_the_current_round() {
    let approvers = "[{ users = [100, 101, 102] }]";
    let mut run =
        Run::submit(&definition(&one_node("all", approvers, "")), 301, quote("1"), org()).unwrap();
    assert_eq!(run.open_assignees(), [100, 101, 102]);
    run.approve(100).unwrap();
    run.approve(101).unwrap();
    assert_eq!(run.state().status, Status::Pending);
    assert_eq!(run.open_assignees(), [102]);
    run.approve(102).unwrap();
    assert_eq!(run.state().status, Status::Approved);
}

#[test]
fn any_one_approver_decides_and_the_others_tasks_close() {
    let approvers = "[{ users = [200, 100] }]";
    let mut run =
        Run::submit(&definition(&one_node("any", approvers, "")), 301, quote("1"), org()).unwrap();
    let other = run.task_of(100);
    run.approve(200).unwrap();
    assert_eq!(run.state().status, Status::Approved);
    assert_eq!(run.state().task(other).unwrap().status, TaskStatus::Cancelled);
    assert_eq!(
        run.act(100, Action::approve(other)),
        Err(ActionError::AlreadyDecided { task: other })
    );
}

#[test]
fn sequence_mode_opens_one_task_at_a_time_in_order() {
    let approvers = "[{ users = [200, 100, 7] }]";
    let mut run =
        Run::submit(&definition(&one_node("sequence", approvers, "")), 301, quote("1"), org())
            .unwrap();
    assert_eq!(run.open_assignees(), [200]);
    let queued = run.state().tasks.iter().find(|t| t.assignee == id(100)).unwrap().id;
    assert_eq!(
        run.act(100, Action::approve(queued)),
        Err(ActionError::NotYourTurn { task: queued })
    );
    run.approve(200).unwrap();
    assert_eq!(run.open_assignees(), [100]);
    run.approve(100).unwrap();
    assert_eq!(run.open_assignees(), [7]);
    run.approve(7).unwrap();
    assert_eq!(run.state().status, Status::Approved);
}

const PARALLEL: &str = r#"
name = "parallel"
form = "quote"
nodes = [
  { id = "start", type = "start" },
  { id = "split", type = "split" },
  { id = "finance", type = "approval", approvers = [{ position = { name = "finance" } }] },
  { id = "legal", type = "approval", approvers = [{ users = [7] }] },
  { id = "join", type = "join" },
  { id = "director", type = "approval", approvers = [{ users = [100] }] },
  { id = "end", type = "end" },
]
edges = [
  { from = "start", to = "split" }, { from = "split", to = "finance" },
  { from = "split", to = "legal" },
  { from = "finance", to = "join" }, { from = "legal", to = "join" },
  { from = "join", to = "director" }, { from = "director", to = "end" },
]
"#;

#[test]
fn parallel_branches_run_at_once_and_the_join_waits_for_both() {
    let mut run = Run::submit(&definition(PARALLEL), 301, quote("1"), org()).unwrap();
    assert_eq!(run.open_assignees(), [101, 102, 7]);
    assert_eq!(run.state().active_nodes(), ["finance", "legal"]);
    run.approve(7).unwrap();
    assert_eq!(run.open_assignees(), [101, 102]);
    run.approve(102).unwrap();
    assert_eq!(run.open_assignees(), [100]);
    run.approve(100).unwrap();
    assert_eq!(run.state().status, Status::Approved);
}

#[test]
fn a_rejection_in_one_branch_closes_the_other() {
    let mut run = Run::submit(&definition(PARALLEL), 301, quote("1"), org()).unwrap();
    let legal = run.task_of(7);
    run.act(7, Action::reject(legal, "no")).unwrap();
    let state = run.state();
    assert_eq!(state.status, Status::Rejected);
    assert!(state
        .tasks
        .iter()
        .filter(|t| t.id != legal)
        .all(|t| t.status == TaskStatus::Cancelled));
}

const GATEWAY: &str = r#"
name = "gateway"
form = "quote"
nodes = [
  { id = "start", type = "start" },
  { id = "manager", type = "approval", approvers = [{ users = [300] }], editable_fields = ["discount"] },
  { id = "route", type = "gateway" },
  { id = "director", type = "approval", approvers = [{ users = [100] }] },
  { id = "finance", type = "approval", approvers = [{ users = [101] }] },
  { id = "end", type = "end" },
]
edges = [
  { from = "start", to = "manager" }, { from = "manager", to = "route" },
  { from = "route", to = "director", when = "amount > 100000" },
  { from = "route", to = "finance", when = "discount > 0.2 and not (note == 'renewal')" },
  { from = "route", to = "end" },
  { from = "director", to = "end" }, { from = "finance", to = "end" },
]
"#;

#[test]
fn the_gateway_takes_the_first_branch_whose_condition_holds() {
    let large = {
        let mut run = Run::submit(&definition(GATEWAY), 301, quote("150000"), org()).unwrap();
        let events = run.approve(300).unwrap();
        assert_eq!(kinds(&events), ["approved", "branch_taken", "node_activated"]);
        run.open_assignees()
    };
    assert_eq!(large, [100]);

    let mut small = Run::submit(&definition(GATEWAY), 301, quote("500"), org()).unwrap();
    small.approve(300).unwrap();
    assert_eq!(small.state().status, Status::Approved);
    let taken = small.events.iter().find_map(|e| match &e.kind {
        EventKind::BranchTaken { to, .. } => Some(to.clone()),
        _ => None,
    });
    assert_eq!(taken.as_deref(), Some("end"));
}

#[test]
fn an_approver_edits_an_editable_field_and_the_gateway_sees_the_change() {
    let mut run = Run::submit(&definition(GATEWAY), 301, quote("500"), org()).unwrap();
    let task = run.task_of(300);
    let amount = Action::Approve {
        task,
        comment: String::new(),
        changes: [("amount".to_owned(), decimal("1"))].into(),
    };
    assert_eq!(
        run.act(300, amount),
        Err(ActionError::FieldNotEditable { node: "manager".into(), field: "amount".into() })
    );
    let wrong_type = Action::Approve {
        task,
        comment: String::new(),
        changes: [("discount".to_owned(), Value::Text("lots".into()))].into(),
    };
    assert!(matches!(run.act(300, wrong_type), Err(ActionError::FieldType { .. })));
    let discount = Action::Approve {
        task,
        comment: "more discount".into(),
        changes: [("discount".to_owned(), decimal("0.3"))].into(),
    };
    run.act(300, discount).unwrap();
    assert_eq!(run.open_assignees(), [101]);
    assert_eq!(run.state().fields["discount"], decimal("0.3"));
}

#[test]
fn return_to_an_earlier_node_makes_its_approvers_act_again() {
    let mut run = three_steps(301);
    run.approve(300).unwrap();
    run.approve(200).unwrap();
    run.approve(101).unwrap();
    let task = run.task_of(102);
    run.act(102, Action::return_to(task, "manager", "check the customer")).unwrap();

    let state = run.state();
    assert_eq!(state.status, Status::Pending);
    assert_eq!(state.task(task).unwrap().status, TaskStatus::Returned);
    assert_eq!(run.open_assignees(), [300]);
    let manager_visits: Vec<u32> =
        state.visits.iter().filter(|v| v.node == "manager").map(|v| v.pass).collect();
    assert_eq!(manager_visits, [1, 2]);

    // 101's earlier approval stays in history but no longer counts.
    run.approve(300).unwrap();
    run.approve(200).unwrap();
    assert_eq!(run.open_assignees(), [101, 102]);
    run.approve(102).unwrap();
    assert_eq!(run.state().status, Status::Pending);
    run.approve(101).unwrap();
    let state = run.state();
    assert_eq!(state.status, Status::Approved);
    let approvals_by_101 =
        state.tasks.iter().filter(|t| t.assignee == id(101) && t.status == TaskStatus::Approved);
    assert_eq!(approvals_by_101.count(), 2);
}

#[test]
fn return_is_refused_to_nodes_not_passed_or_not_approvals() {
    let mut run = three_steps(301);
    run.approve(300).unwrap();
    let task = run.task_of(200);
    for (to, reason) in [
        ("finance", "the request has not passed it on its way to this node"),
        ("start", "it is not an approval node of this definition"),
        ("director", "it is the node of the task itself"),
    ] {
        assert_eq!(
            run.act(200, Action::return_to(task, to, "")),
            Err(ActionError::CannotReturn { node: to.into(), reason: reason.into() })
        );
    }
}

#[test]
fn withdraw_is_for_the_submitter_before_anyone_decided() {
    let mut run = three_steps(301);
    let withdraw = || Action::Withdraw { comment: "wrong customer".into() };
    assert_eq!(
        run.act(300, withdraw()),
        Err(ActionError::NotSubmitter { what: "withdraw the request" })
    );
    let mut early = three_steps(301);
    early.act(301, withdraw()).unwrap();
    assert_eq!(early.state().status, Status::Withdrawn);
    assert_eq!(early.state().open_tasks().count(), 0);
    assert_eq!(
        early.act(301, withdraw()),
        Err(ActionError::WrongStatus { status: Status::Withdrawn, what: "withdrawn" })
    );

    run.approve(300).unwrap();
    assert_eq!(run.act(301, withdraw()), Err(ActionError::WithdrawAfterDecision));
    assert_eq!(
        ActionError::WithdrawAfterDecision.to_string(),
        "cannot withdraw: an approver has already decided"
    );
}

#[test]
fn resubmit_after_rejection_starts_a_new_round_from_the_first_node() {
    let mut run = three_steps(301);
    run.approve(300).unwrap();
    let task = run.task_of(200);
    let resubmit = |amount: &str| Action::Resubmit { fields: Some(quote(amount)) };
    assert_eq!(
        run.act(301, resubmit("4000")),
        Err(ActionError::WrongStatus { status: Status::Pending, what: "resubmitted" })
    );
    run.act(200, Action::reject(task, "lower the price")).unwrap();
    assert_eq!(
        run.act(300, resubmit("4000")),
        Err(ActionError::NotSubmitter { what: "resubmit the request" })
    );
    run.act(301, resubmit("4000")).unwrap();

    let state = run.state();
    assert_eq!(state.status, Status::Pending);
    assert_eq!(state.round, 2);
    assert_eq!(state.fields["amount"], decimal("4000"));
    assert_eq!(run.open_assignees(), [300]);
    let round_one: Vec<TaskStatus> =
        state.tasks.iter().filter(|t| t.round == 1).map(|t| t.status).collect();
    assert_eq!(round_one, [TaskStatus::Approved, TaskStatus::Rejected]);
    // A withdrawal in round 2 is allowed again: nobody decided in this round yet.
    run.act(301, Action::Withdraw { comment: String::new() }).unwrap();
    assert_eq!(run.state().status, Status::Withdrawn);
    run.act(301, Action::Resubmit { fields: None }).unwrap();
    assert_eq!(run.state().round, 3);
}

#[test]
fn reassign_hands_the_task_over_and_the_old_one_cannot_be_decided() {
    let mut run = three_steps(301);
    let task = run.task_of(300);
    let reassign = |to: u64| Action::Reassign { task, to: id(to), comment: "on leave".into() };
    assert_eq!(run.act(200, reassign(302)), Err(ActionError::NotAssignee { task }));
    assert_eq!(
        run.act(300, reassign(301)),
        Err(ActionError::SelfApproval { node: "manager".into() })
    );
    assert_eq!(
        run.act(300, reassign(300)),
        Err(ActionError::AlreadyAssigned { user: id(300), node: "manager".into() })
    );
    run.directory.set_active(id(302), false);
    assert_eq!(run.act(300, reassign(302)), Err(ActionError::InactiveUser { user: id(302) }));
    run.directory.set_active(id(302), true);

    run.act(300, reassign(302)).unwrap();
    let state = run.state();
    let replacement = state.open_tasks_of(id(302)).next().unwrap().id;
    assert_eq!(state.task(task).unwrap().status, TaskStatus::Reassigned { to: replacement });
    assert_eq!(
        run.act(300, Action::approve(task)),
        Err(ActionError::Reassigned { task, to: id(302) })
    );
    run.approve(302).unwrap();
    assert_eq!(run.open_assignees(), [200]);

    // An administrator may reassign someone else's task.
    let director = run.task_of(200);
    let by_admin = Action::Reassign { task: director, to: id(100), comment: String::new() };
    run.act_as(Actor::administrator(id(1)), by_admin).unwrap();
    assert_eq!(run.open_assignees(), [100]);
}

#[test]
fn a_departed_approver_is_replaced_by_the_fallback_approver() {
    let text = THREE_STEPS.replace("form = \"quote\"", "form = \"quote\"\nfallback_approver = 1");
    let mut directory = org();
    directory.set_active(id(300), false);
    let run = Run::submit(&definition(&text), 301, quote("1"), directory).unwrap();
    let state = run.state();
    assert_eq!(run.open_assignees(), [1]);
    assert!(state.tasks[0].via_fallback);
    match &run.events[1].kind {
        EventKind::NodeActivated { node, assignees, fallback } => {
            assert_eq!(
                (node.as_str(), assignees.as_slice(), *fallback),
                ("manager", &[id(1)][..], true)
            );
        }
        other => panic!("expected an activation, got {other:?}"),
    }
}

#[test]
fn without_a_fallback_submission_fails_naming_the_node() {
    let mut directory = org();
    directory.set_active(id(300), false);
    let error = Run::submit(&definition(THREE_STEPS), 301, quote("1"), directory).err().unwrap();
    assert_eq!(error, ActionError::NoApprover { node: "manager".into() });
    assert_eq!(
        error.to_string(),
        "node \"manager\" resolves to no active approver and no fallback approver can take it"
    );
}

#[test]
fn the_submitter_never_approves_their_own_request_unless_the_node_allows_it() {
    // 300 manages their own unit: unit_manager 0 resolves to themselves.
    let text = THREE_STEPS.replace("form = \"quote\"", "form = \"quote\"\nfallback_approver = 1");
    let run = Run::submit(&definition(&text), 300, quote("1"), org()).unwrap();
    assert_eq!(run.open_assignees(), [1]);

    let refused = one_node("any", "[{ users = [301, 200] }]", "");
    let run = Run::submit(&definition(&refused), 301, quote("1"), org()).unwrap();
    assert_eq!(run.open_assignees(), [200]);

    let allowed = refused.replace("mode = \"any\"", "mode = \"any\", allow_self_approval = true");
    let mut run = Run::submit(&definition(&allowed), 301, quote("1"), org()).unwrap();
    assert_eq!(run.open_assignees(), [301, 200]);
    run.approve(301).unwrap();
    assert_eq!(run.state().status, Status::Approved);
}

#[test]
fn participants_comment_and_attach_files_others_cannot() {
    let mut run = three_steps(301);
    run.act(300, Action::Comment { text: "looking at it".into() }).unwrap();
    run.act(301, Action::Attach { attachment: id(77), file_name: "quote.pdf".into() }).unwrap();
    assert_eq!(
        run.act(999, Action::Comment { text: "hi".into() }),
        Err(ActionError::NotParticipant { user: id(999) })
    );
    assert_eq!(
        run.act(300, Action::Comment { text: "  ".into() }),
        Err(ActionError::Empty { what: "comment" })
    );
    run.act_as(Actor::administrator(id(1)), Action::Comment { text: "audited".into() }).unwrap();
    let state = run.state();
    let comments: Vec<(u64, &str)> =
        state.comments.iter().map(|c| (c.author.0, c.text.as_str())).collect();
    assert_eq!(comments, [(300, "looking at it"), (1, "audited")]);
    assert_eq!(state.attachments[0].file_name, "quote.pdf");
    assert_eq!(state.attachments[0].by, id(301));
    assert_eq!(state.status, Status::Pending);
}

#[test]
fn only_current_assignees_act() {
    let mut run = three_steps(301);
    let task = run.task_of(300);
    assert_eq!(run.act(200, Action::approve(task)), Err(ActionError::NotAssignee { task }));
    assert_eq!(
        run.act(300, Action::approve(TaskId(42))),
        Err(ActionError::UnknownTask { task: TaskId(42) })
    );
}

#[test]
fn replay_refuses_logs_that_describe_no_possible_history() {
    let mut run = three_steps(301);
    run.approve(300).unwrap();
    let definition = run.definition.clone();
    assert_eq!(replay(&definition, &[]), Err(ReplayError::Empty));

    let mut twice = run.events.clone();
    let mut again = twice[2].clone();
    again.seq = twice.len() as u64 + 1;
    twice.push(again);
    assert_eq!(
        replay(&definition, &twice),
        Err(ReplayError::TaskNotOpen { seq: 5, task: TaskId(1) })
    );

    let mut gap = run.events.clone();
    gap[3].seq = 9;
    assert_eq!(replay(&definition, &gap), Err(ReplayError::Sequence { seq: 9, expected: 4 }));

    let json = serde_json::to_string(&run.events).unwrap();
    let back: Vec<Event> = serde_json::from_str(&json).unwrap();
    assert_eq!(replay(&definition, &back).unwrap(), run.state());
}

#[test]
fn node_permissions_limit_fields_and_outcomes() {
    let mut run = three_steps(301);
    let definition = run.definition.clone();
    let state = run.state();
    let manager = field_access(&definition, &state, id(300));
    let expected: BTreeSet<String> =
        ["customer", "amount", "discount"].into_iter().map(String::from).collect();
    assert_eq!(manager.visible, FieldSet::Only(expected));
    assert_eq!(manager.editable, BTreeSet::from(["discount".to_owned()]));
    assert_eq!(field_access(&definition, &state, id(301)).visible, FieldSet::All);
    assert_eq!(field_access(&definition, &state, id(999)).visible, FieldSet::Only(BTreeSet::new()));
    assert!(can_act(&state, id(300)) && !can_act(&state, id(301)));
    assert!(can_view(&state, id(301)) && !can_view(&state, id(200)));

    run.approve(300).unwrap();
    run.approve(200).unwrap();
    let state = run.state();
    assert!(field_access(&definition, &state, id(300)).editable.is_empty());
    assert!(field_access(&definition, &state, id(200)).visible.contains("note"));
    let filtered = field_access(&definition, &state, id(101)).visible.filter(&state.fields);
    assert_eq!(filtered.keys().collect::<Vec<_>>(), ["amount"]);
    // Finance sees the manager's and the director's decisions; the manager sees only its own.
    let seen = |user: u64| -> Vec<u64> {
        visible_decisions(&definition, &state, id(user)).iter().map(|t| t.assignee.0).collect()
    };
    assert_eq!(seen(101), [300, 200]);
    assert_eq!(seen(300), [300]);
    assert_eq!(seen(301), [300, 200]);
}

#[test]
fn the_todo_list_shows_open_and_done_tasks_with_counts_and_reminders() {
    let mut first = three_steps(301);
    let second = three_steps(302);
    first.approve(300).unwrap();
    let (a, b) = (first.state(), second.state());
    let instances = [
        InstanceRef { id: id(1), record: id(501), definition: &first.definition, state: &a },
        InstanceRef { id: id(2), record: id(502), definition: &second.definition, state: &b },
    ];
    let open = open_tasks(id(200), &instances);
    // 302's unit manager one level up is 200 too, but 302's request is at its own manager.
    let lines: Vec<(u64, u64, &str)> =
        open.iter().map(|i| (i.instance.0, i.record.0, i.node.as_str())).collect();
    assert_eq!(lines, [(1, 501, "director")]);
    let mine = open_tasks(id(300), &instances);
    assert_eq!(mine.iter().map(|i| i.record.0).collect::<Vec<_>>(), [502]);
    let done = done_tasks(id(300), &instances);
    assert_eq!(
        done.iter().map(|i| (i.record.0, i.status)).collect::<Vec<_>>(),
        [(501, TaskStatus::Approved)]
    );
    assert_eq!(
        counts(id(300), &instances, at(90), Duration::minutes(60)),
        TodoCounts { open: 1, done: 1, overdue: 1 }
    );
    assert_eq!(counts(id(300), &instances, at(30), Duration::minutes(60)).overdue, 0);
    let reminders = overdue(&instances, at(61), Duration::minutes(60));
    assert_eq!(reminders.iter().map(|i| i.assignee.0).collect::<Vec<_>>(), [300]);
}

/// A manager, then two branches in parallel (finance then the controller; legal), then the
/// director.
const PARALLEL_STEPS: &str = r#"
name = "parallel_steps"
form = "quote"
nodes = [
  { id = "start", type = "start" },
  { id = "manager", type = "approval", approvers = [{ users = [300] }] },
  { id = "split", type = "split" },
  { id = "finance", type = "approval", approvers = [{ users = [101] }] },
  { id = "controller", type = "approval", approvers = [{ users = [200] }] },
  { id = "legal", type = "approval", approvers = [{ users = [7] }] },
  { id = "join", type = "join" },
  { id = "director", type = "approval", approvers = [{ users = [100] }] },
  { id = "end", type = "end" },
]
edges = [
  { from = "start", to = "manager" }, { from = "manager", to = "split" },
  { from = "split", to = "finance" }, { from = "finance", to = "controller" },
  { from = "controller", to = "join" }, { from = "split", to = "legal" },
  { from = "legal", to = "join" }, { from = "join", to = "director" },
  { from = "director", to = "end" },
]
"#;

fn parallel_steps() -> Run {
    let mut run = Run::submit(&definition(PARALLEL_STEPS), 301, quote("1"), org()).unwrap();
    run.approve(300).unwrap();
    assert_open(&run, &[7, 101]);
    run
}

/// The replayed state equals the state built action by action, and only `open` hold tasks.
fn assert_open(run: &Run, open: &[u64]) {
    let mut assignees = run.open_assignees();
    assignees.sort_unstable();
    assert_eq!(assignees, open);
    let replayed = replay(&definition(PARALLEL_STEPS), &run.events).unwrap();
    assert_eq!(replayed, run.state());
}

#[test]
fn a_return_inside_one_branch_keeps_the_other_branch_done() {
    let mut run = parallel_steps();
    run.approve(101).unwrap();
    run.approve(7).unwrap();
    assert_open(&run, &[200]);

    let controller = run.task_of(200);
    run.act(200, Action::return_to(controller, "finance", "发票不全")).unwrap();
    // Legal already decided and is not asked again; only the finance branch restarts.
    assert_open(&run, &[101]);
    run.approve(101).unwrap();
    assert_open(&run, &[200]);
    run.approve(200).unwrap();
    assert_open(&run, &[100]);
    run.approve(100).unwrap();
    assert_eq!(run.state().status, Status::Approved);
    let legal_tasks = run.state().tasks.iter().filter(|t| t.node == "legal").count();
    assert_eq!(legal_tasks, 1);
}

#[test]
fn a_return_from_after_the_join_reruns_only_that_branch() {
    let mut run = parallel_steps();
    run.approve(7).unwrap();
    run.approve(101).unwrap();
    run.approve(200).unwrap();
    assert_open(&run, &[100]);

    let director = run.task_of(100);
    run.act(100, Action::return_to(director, "controller", "再核一次")).unwrap();
    assert_open(&run, &[200]);
    run.approve(200).unwrap();
    // The join counts legal as arrived, so the controller alone completes it.
    assert_open(&run, &[100]);
    run.approve(100).unwrap();
    let state = run.state();
    assert_eq!(state.status, Status::Approved);
}

#[test]
fn a_return_before_the_split_restarts_every_branch() {
    let mut run = parallel_steps();
    run.approve(7).unwrap();
    let finance = run.task_of(101);
    run.act(101, Action::return_to(finance, "manager", "先改方案")).unwrap();
    assert_open(&run, &[300]);
    run.approve(300).unwrap();
    // Both branches run again: legal decides again in this pass.
    assert_open(&run, &[7, 101]);
    run.approve(7).unwrap();
    run.approve(101).unwrap();
    run.approve(200).unwrap();
    run.approve(100).unwrap();
    assert_eq!(run.state().status, Status::Approved);
}

#[test]
fn a_return_into_another_branch_is_refused() {
    let mut run = parallel_steps();
    run.approve(7).unwrap();
    let finance = run.task_of(101);
    let refused = run.act(101, Action::return_to(finance, "legal", "")).unwrap_err();
    assert!(matches!(refused, ActionError::CannotReturn { .. }), "{refused:?}");
    assert_open(&run, &[101]);
}

#[test]
fn a_request_made_for_another_unit_goes_to_that_units_manager() {
    // 301 works in team 3 and also belongs to head office 1 (and holds nothing there).
    let directory = org().member_of(id(301), id(1));
    let fields = quote("10");
    let def = definition(&one_node("any", "[{ unit_manager = 0 }]", ""));
    let home = crm_workflow::submit(&def, id(301), fields.clone(), at(0), &directory).unwrap();
    let made_for =
        crm_workflow::submit_for(&def, id(301), Some(id(1)), fields.clone(), at(0), &directory)
            .unwrap();
    let assignees = |events: &[Event]| {
        let state = replay(&def, events).unwrap();
        state.open_tasks().map(|t| t.assignee.0).collect::<Vec<_>>()
    };
    assert_eq!(assignees(&home), [300]);
    assert_eq!(assignees(&made_for), [100]);
    assert_eq!(replay(&def, &made_for).unwrap().unit, Some(id(1)));

    // A unit the submitter does not belong to is refused.
    let refused = crm_workflow::submit_for(&def, id(301), Some(id(2)), fields, at(0), &directory);
    assert!(matches!(refused, Err(ActionError::NotInUnit { unit, .. }) if unit == id(2)));
}

#[test]
fn comments_with_control_characters_or_too_long_are_refused() {
    let mut run = three_steps(301);
    let task = run.task_of(300);
    for bad in ["a\u{0}b".to_owned(), "\u{1b}]0;pwned\u{7}".to_owned(), "长".repeat(2001)] {
        let refused = run.act(300, Action::reject(task, &bad)).unwrap_err();
        assert!(matches!(refused, ActionError::BadComment { .. }), "{refused:?}");
        let refused = run.act(300, Action::Comment { text: bad.clone() }).unwrap_err();
        assert!(matches!(refused, ActionError::BadComment { .. }), "{refused:?}");
    }
    assert_eq!(run.state().status, Status::Pending);
    run.act(300, Action::reject(task, "金额\t不对\n请修改")).unwrap();
    assert_eq!(run.state().status, Status::Rejected);
}
