//! Property tests: random sequences of actions by random people on instances of several
//! definitions. After every step the instance is in exactly one consistent state, no task
//! is decided twice, every completed all-of-N visit holds N approvals of its own round, and
//! replaying the log (also after a JSON round trip) gives the state built step by step.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod support;

use std::collections::BTreeMap;

use crm_domain::Value;
use crm_workflow::{
    decide, replay, Action, Actor, Event, EventKind, InstanceState, Mode, Status, TaskId,
    TaskStatus, ValidDefinition, VisitState,
};
use proptest::prelude::*;
use support::{at, decimal, definition, id, org, quote};

const COUNTERSIGN: &str = r#"
name = "countersign"
form = "quote"
nodes = [
  { id = "start", type = "start" },
  { id = "manager", type = "approval", approvers = [{ unit_manager = 0 }, "supervisor"], editable_fields = ["discount"] },
  { id = "finance", type = "approval", mode = "all", approvers = [{ users = [100, 101, 102] }] },
  { id = "chain", type = "approval", mode = "sequence", approvers = [{ users = [200, 7] }] },
  { id = "end", type = "end" },
]
edges = [
  { from = "start", to = "manager" }, { from = "manager", to = "finance" },
  { from = "finance", to = "chain" }, { from = "chain", to = "end" },
]
"#;

const PARALLEL_LOOP: &str = r#"
name = "parallel_loop"
form = "quote"
fallback_approver = 1
nodes = [
  { id = "start", type = "start" },
  { id = "manager", type = "approval", approvers = [{ unit_manager = 0 }], editable_fields = ["discount"] },
  { id = "route", type = "gateway" },
  { id = "split", type = "split" },
  { id = "finance", type = "approval", mode = "all", approvers = [{ position = { name = "finance" } }] },
  { id = "legal", type = "approval", approvers = [{ users = [7, 400] }] },
  { id = "join", type = "join" },
  { id = "tell", type = "notify", recipients = [{ users = [400] }] },
  { id = "director", type = "approval", mode = "sequence", approvers = [{ users = [200, 100] }], editable_fields = ["discount"] },
  { id = "again", type = "gateway" },
  { id = "end", type = "end" },
]
edges = [
  { from = "start", to = "manager" }, { from = "manager", to = "route" },
  { from = "route", to = "split", when = "discount > 0.1" }, { from = "route", to = "tell" },
  { from = "split", to = "finance" }, { from = "split", to = "legal" },
  { from = "finance", to = "join" }, { from = "legal", to = "join" },
  { from = "join", to = "tell" }, { from = "tell", to = "director" },
  { from = "director", to = "again" },
  { from = "again", to = "manager", when = "discount > 0.3" }, { from = "again", to = "end" },
]
"#;

const PEOPLE: [u64; 11] = [1, 7, 100, 101, 102, 200, 300, 301, 302, 400, 999];
const NODES: [&str; 6] = ["manager", "finance", "legal", "director", "chain", "route"];

/// Who acts in a step.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// The assignee of the picked task.
    Assignee,
    /// The submitter.
    Submitter,
    /// Someone from `PEOPLE` (the first of them as an administrator).
    Person(usize),
}

/// What is done in a step, weighted towards approvals so instances get far.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Approve,
    Reject,
    Return,
    Withdraw,
    Resubmit,
    Reassign,
    Comment,
    Attach,
}

/// One random step: who acts, what they do, and the picks that fill in the details.
#[derive(Debug, Clone)]
struct Step {
    who: Who,
    kind: Kind,
    task: usize,
    target: usize,
    discount: usize,
}

fn step() -> impl Strategy<Value = Step> {
    let who = prop_oneof![
        6 => Just(Who::Assignee),
        2 => Just(Who::Submitter),
        2 => (0..PEOPLE.len()).prop_map(Who::Person),
    ];
    let kind = prop_oneof![
        12 => Just(Kind::Approve),
        1 => Just(Kind::Reject),
        2 => Just(Kind::Return),
        1 => Just(Kind::Withdraw),
        2 => Just(Kind::Resubmit),
        2 => Just(Kind::Reassign),
        1 => Just(Kind::Comment),
        1 => Just(Kind::Attach),
    ];
    (who, kind, 0usize..40, 0usize..16, 0usize..5)
        .prop_map(|(who, kind, task, target, discount)| Step { who, kind, task, target, discount })
}

fn action(step: &Step, state: &InstanceState) -> (Actor, Action) {
    // Prefer open tasks: most picks land on one, some on any task, one on no task at all.
    let open: Vec<&crm_workflow::Task> = state.open_tasks().collect();
    let picked = if step.task < 30 && !open.is_empty() {
        open[step.task % open.len()]
    } else {
        &state.tasks[step.task % state.tasks.len()]
    };
    let task = if step.task == 39 { TaskId(999) } else { picked.id };
    let actor = match step.who {
        Who::Assignee => Actor::user(picked.assignee),
        Who::Submitter => Actor::user(state.submitter),
        Who::Person(0) => Actor::administrator(id(PEOPLE[0])),
        Who::Person(n) => Actor::user(id(PEOPLE[n])),
    };
    let discounts = ["0.05", "0.15", "0.35", "0.2", "0.5"];
    let discount = || BTreeMap::from([("discount".to_owned(), decimal(discounts[step.discount]))]);
    let action = match step.kind {
        Kind::Approve => Action::Approve {
            task,
            comment: String::new(),
            changes: if step.target % 3 == 0 { discount() } else { BTreeMap::new() },
        },
        Kind::Reject => Action::reject(task, "no"),
        Kind::Return => Action::return_to(task, NODES[step.target % NODES.len()], "again"),
        Kind::Withdraw => Action::Withdraw { comment: String::new() },
        Kind::Resubmit => {
            let mut fields = quote("100");
            fields.extend(discount());
            Action::Resubmit { fields: (step.target % 2 == 0).then_some(fields) }
        }
        Kind::Reassign => Action::Reassign {
            task,
            to: id(PEOPLE[step.target % PEOPLE.len()]),
            comment: String::new(),
        },
        Kind::Comment => Action::Comment { text: "note".into() },
        Kind::Attach => Action::Attach { attachment: id(5), file_name: "a.pdf".into() },
    };
    (actor, action)
}

fn check_invariants(definition: &ValidDefinition, state: &InstanceState, events: &[Event]) {
    // Exactly one, consistent status.
    assert_eq!(state.finished_at.is_some(), state.status.is_final(), "{state:?}");
    let open: Vec<&crm_workflow::Task> = state.open_tasks().collect();
    match state.status {
        Status::Pending => assert!(!open.is_empty(), "a pending request waits for someone"),
        _ => {
            assert!(
                state.tasks.iter().all(|t| !t.status.is_current()),
                "no current task when final"
            );
            assert!(state.visits.iter().all(|v| v.state != VisitState::Active));
        }
    }
    for (i, task) in state.tasks.iter().enumerate() {
        assert_eq!(task.id, TaskId(i as u32 + 1));
        let visit = &state.visits[task.visit];
        assert_eq!(visit.node, task.node);
        if task.status.is_current() {
            assert_eq!(
                visit.state,
                VisitState::Active,
                "current task {} in a closed visit",
                task.id
            );
            assert_eq!(task.round, state.round);
        }
    }
    for visit in &state.visits {
        let tasks: Vec<&crm_workflow::Task> =
            visit.tasks.iter().map(|t| state.task(*t).unwrap()).collect();
        let live: Vec<&&crm_workflow::Task> =
            tasks.iter().filter(|t| !matches!(t.status, TaskStatus::Reassigned { .. })).collect();
        let opened = live.iter().filter(|t| t.status == TaskStatus::Open).count();
        let approved = live.iter().filter(|t| t.status == TaskStatus::Approved).count();
        if visit.state == VisitState::Active {
            match visit.mode {
                Mode::Any => {
                    assert_eq!(opened, live.len(), "any-one visit: all open until one decides")
                }
                Mode::All => assert!(opened >= 1),
                Mode::Sequence => assert_eq!(opened, 1, "a sequence has one open task"),
            }
        }
        if visit.state == VisitState::Completed {
            // An all-of-N node needs N approvals, all of this visit and round.
            let positions: std::collections::BTreeSet<u32> =
                live.iter().map(|t| t.position).collect();
            match visit.mode {
                Mode::All | Mode::Sequence => assert_eq!(approved, positions.len()),
                Mode::Any => assert_eq!(approved, 1),
            }
            assert!(live.iter().all(|t| t.round == visit.round));
        }
    }
    // No task is decided twice: one decision (or reassignment) event per task at most.
    let mut decided: BTreeMap<TaskId, usize> = BTreeMap::new();
    for event in events {
        if let EventKind::Approved { task, .. }
        | EventKind::Rejected { task, .. }
        | EventKind::Returned { task, .. }
        | EventKind::Reassigned { task, .. } = &event.kind
        {
            *decided.entry(*task).or_default() += 1;
        }
    }
    assert!(decided.values().all(|n| *n == 1), "a task was decided twice: {decided:?}");
    // Replaying the log, also after a JSON round trip, gives the same state.
    assert_eq!(&replay(definition, events).unwrap(), state);
    let json = serde_json::to_string(events).unwrap();
    let back: Vec<Event> = serde_json::from_str(&json).unwrap();
    assert_eq!(&replay(definition, &back).unwrap(), state);
}

fn run(text: &str, submitter: u64, steps: &[Step]) {
    let definition = definition(text);
    let directory = org();
    let mut fields = quote("100");
    fields.insert("note".into(), Value::Text("x".into()));
    let mut events =
        crm_workflow::submit(&definition, id(submitter), fields, at(0), &directory).unwrap();
    let mut state = replay(&definition, &events).unwrap();
    check_invariants(&definition, &state, &events);
    for (n, step) in steps.iter().enumerate() {
        let (actor, action) = action(step, &state);
        let before = state.clone();
        let decision_on = match &action {
            Action::Approve { task, .. }
            | Action::Reject { task, .. }
            | Action::Return { task, .. } => Some(*task),
            _ => None,
        };
        match decide(&definition, &state, action, actor, at(n as i64 + 1), &directory) {
            Ok(new) => {
                if let Some(task) = decision_on {
                    let was = before.task(task).unwrap();
                    assert_eq!(was.status, TaskStatus::Open, "only an open task can be decided");
                    assert_eq!(was.assignee, actor.user, "only the assignee decides");
                }
                for (i, event) in new.iter().enumerate() {
                    assert_eq!(event.seq, before.last_seq + 1 + i as u64);
                    state.apply(&definition, event).unwrap();
                }
                events.extend(new);
            }
            Err(_) => assert_eq!(state, before),
        }
        check_invariants(&definition, &state, &events);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_actions_keep_countersign_and_sequence_instances_consistent(
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        run(COUNTERSIGN, 301, &steps);
    }

    #[test]
    fn random_actions_keep_parallel_looping_instances_consistent(
        steps in proptest::collection::vec(step(), 1..60),
        submitter in prop_oneof![Just(301u64), Just(302), Just(300)],
    ) {
        run(PARALLEL_LOOP, submitter, &steps);
    }
}
