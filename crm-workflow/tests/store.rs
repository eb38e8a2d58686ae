//! The persistence layer over an in-memory store: versioned definitions, submissions,
//! actions committed as one batch, to-do lookups from the task table, the host hook, and
//! concurrent decisions of which exactly one takes effect.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod support;

use std::sync::atomic::Ordering;
use std::thread;

use chrono::Duration;
use crm_domain::{
    Batch, EntityDesc, FieldDesc, FieldType, Record, RecordId, Store, TenantId, Value,
};
use crm_workflow::store::{INSTANCE, TASK};
use crm_workflow::{
    replay, Action, ActionError, Actor, Definition, DefinitionCache, DefinitionError, FormBinding,
    Status, StatusChange, TaskStatus, WorkflowError, WorkflowHook, WorkflowStore,
};
use support::{at, id, org, quote, quote_fields, MemStore};

const MANAGER_THEN_DIRECTOR: &str = r#"
name = "quote_approval"
form = "quote"
nodes = [
  { id = "start", type = "start" },
  { id = "manager", type = "approval", label = "Manager", approvers = [{ unit_manager = 0 }] },
  { id = "director", type = "approval", approvers = [{ unit_manager = 1 }] },
  { id = "end", type = "end" },
]
edges = [{ from = "start", to = "manager" }, { from = "manager", to = "director" },
         { from = "director", to = "end" }]
"#;

const TWO_ANY: &str = r#"
name = "two_any"
form = "expense"
nodes = [
  { id = "start", type = "start" },
  { id = "either", type = "approval", approvers = [{ users = [100, 200] }] },
  { id = "end", type = "end" },
]
edges = [{ from = "start", to = "either" }, { from = "either", to = "end" }]
"#;

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn setup(store: &MemStore) {
    WorkflowStore::register(store).unwrap();
}

fn define(wf: &WorkflowStore<'_>, text: &str) -> u32 {
    wf.define(&Definition::from_toml(text).unwrap(), &quote_fields(), at(0)).unwrap().version
}

#[test]
fn definitions_are_versioned_and_instances_keep_their_version() {
    let store = MemStore::new();
    setup(&store);
    let tenant = tenant();
    // Instances keep their version also when versions come from the cache.
    let cache = DefinitionCache::default();
    let wf = WorkflowStore::new(&store, &tenant).with_cache(&cache);
    assert_eq!(define(&wf, MANAGER_THEN_DIRECTOR), 1);
    let directory = org();
    let first =
        wf.submit("quote_approval", id(501), id(301), quote("10"), at(1), &directory).unwrap();

    // Version 2 drops the director; the running instance still needs one.
    let shorter = r#"
name = "quote_approval"
form = "quote"
nodes = [
  { id = "start", type = "start" },
  { id = "manager", type = "approval", label = "Manager", approvers = [{ unit_manager = 0 }] },
  { id = "end", type = "end" },
]
edges = [{ from = "start", to = "manager" }, { from = "manager", to = "end" }]
"#;
    assert_eq!(define(&wf, shorter), 2);
    assert_eq!(wf.definition("quote_approval", None).unwrap().version(), 2);
    let uncached = WorkflowStore::new(&store, &tenant).definition("quote_approval", Some(1));
    let cached = wf.definition("quote_approval", Some(1)).unwrap();
    assert_eq!(cached.definition(), uncached.unwrap().definition());
    assert_eq!(cached.version(), 1);
    let listed: Vec<(String, u32)> =
        wf.definitions().unwrap().into_iter().map(|d| (d.name, d.version)).collect();
    assert_eq!(listed, [("quote_approval".to_owned(), 1), ("quote_approval".to_owned(), 2)]);

    let task = first.state.open_tasks_of(id(300)).next().unwrap().id;
    let outcome = wf
        .act(first.instance, Actor::user(id(300)), Action::approve(task), at(2), &directory)
        .unwrap();
    assert_eq!(outcome.status, Status::Pending);
    assert_eq!(outcome.state.open_tasks().map(|t| t.assignee).collect::<Vec<_>>(), [id(200)]);

    let second =
        wf.submit("quote_approval", id(502), id(301), quote("10"), at(3), &directory).unwrap();
    let task = second.state.open_tasks_of(id(300)).next().unwrap().id;
    let outcome = wf
        .act(second.instance, Actor::user(id(300)), Action::approve(task), at(4), &directory)
        .unwrap();
    assert_eq!(outcome.status, Status::Approved);

    let err = wf.definition("missing", None).unwrap_err();
    assert!(matches!(err, WorkflowError::UnknownDefinition { .. }));
    let bad = Definition::from_toml(
        &MANAGER_THEN_DIRECTOR.replace("start\", type = \"start\"", "start\", type = \"end\""),
    )
    .unwrap();
    let err = wf.define(&bad, &quote_fields(), at(5)).unwrap_err();
    assert!(matches!(err, WorkflowError::Definition(DefinitionError::NoStart)));

    // A name keeps its form: submissions find their flow by form.
    let moved = Definition::from_toml(&shorter.replace("\"quote\"", "\"contract\"")).unwrap();
    let err = wf.define(&moved, &quote_fields(), at(6)).unwrap_err();
    assert!(
        matches!(&err, WorkflowError::Definition(DefinitionError::FormChanged { bound, given, .. })
            if bound == "quote" && given == "contract"),
        "{err:?}"
    );
    assert_eq!(wf.definition("quote_approval", None).unwrap().version(), 2);
}

#[test]
fn actions_keep_the_log_the_state_and_the_task_table_in_step() {
    let store = MemStore::new();
    setup(&store);
    let tenant = tenant();
    let wf = WorkflowStore::new(&store, &tenant);
    define(&wf, MANAGER_THEN_DIRECTOR);
    let directory = org();
    let submitted =
        wf.submit("quote_approval", id(501), id(301), quote("10"), at(1), &directory).unwrap();
    assert_eq!(submitted.previous, None);
    assert_eq!(submitted.status, Status::Pending);
    let again =
        wf.submit("quote_approval", id(501), id(302), quote("10"), at(1), &directory).unwrap_err();
    assert!(matches!(again, WorkflowError::AlreadyPending { record, .. } if record == id(501)));

    let todo = wf.todo(id(300), 0, 10).unwrap();
    assert_eq!(todo.total, 1);
    let item = &todo.items[0];
    assert_eq!(
        (item.instance, item.record, item.node_label.as_str()),
        (submitted.instance, id(501), "Manager")
    );
    assert_eq!(
        (item.form.clone(), item.status, item.since),
        (FormBinding::Quote, TaskStatus::Open, at(1))
    );

    let outcome = wf
        .act(
            submitted.instance,
            Actor::user(id(300)),
            Action::approve(item.task),
            at(2),
            &directory,
        )
        .unwrap();
    assert_eq!(outcome.previous, Some(Status::Pending));
    assert_eq!(wf.todo(id(300), 0, 10).unwrap().total, 0);
    let done = wf.done(id(300), 0, 10).unwrap();
    assert_eq!(
        done.items.iter().map(|i| (i.record, i.status)).collect::<Vec<_>>(),
        [(id(501), TaskStatus::Approved)]
    );
    assert_eq!(done.items[0].closed_at, Some(at(2)));
    assert_eq!(wf.todo(id(200), 0, 10).unwrap().items[0].node, "director");

    let loaded = wf.instance(submitted.instance).unwrap();
    assert_eq!(loaded.state, outcome.state);
    assert_eq!(loaded.summary.status, Status::Pending);
    assert_eq!(loaded.summary.last_seq, 4);
    let history = wf.history(submitted.instance).unwrap();
    assert_eq!(
        history.iter().map(|e| e.kind.name()).collect::<Vec<_>>(),
        ["submitted", "node_activated", "approved", "node_activated"]
    );
    assert_eq!(replay(&loaded.definition, &history).unwrap(), loaded.state);

    // One task row per task, matching the replayed state.
    let rows = store.all(&tenant, &TASK.kind);
    assert_eq!(rows.len(), loaded.state.tasks.len());
    let instances = wf.instances_of_record(&FormBinding::Quote, id(501)).unwrap();
    assert_eq!(instances.iter().map(|i| i.id).collect::<Vec<_>>(), [submitted.instance]);

    let refused = wf.act(
        submitted.instance,
        Actor::user(id(300)),
        Action::approve(item.task),
        at(3),
        &directory,
    );
    assert!(matches!(refused, Err(WorkflowError::Action(ActionError::AlreadyDecided { .. }))));
}

#[test]
fn counts_and_reminders_come_from_the_task_table() {
    let store = MemStore::new();
    setup(&store);
    let tenant = tenant();
    let wf = WorkflowStore::new(&store, &tenant);
    define(&wf, MANAGER_THEN_DIRECTOR);
    let directory = org();
    for (n, minute) in [(0u64, 0i64), (1, 30), (2, 90)] {
        wf.submit("quote_approval", id(600 + n), id(301), quote("1"), at(minute), &directory)
            .unwrap();
    }
    let counts = wf.todo_counts(id(300), at(120), Duration::minutes(60)).unwrap();
    assert_eq!((counts.open, counts.done, counts.overdue), (3, 0, 2));
    let reminders = wf.overdue(at(120), Duration::minutes(60), 10).unwrap();
    assert_eq!(reminders.items.iter().map(|i| i.record).collect::<Vec<_>>(), [id(600), id(601)]);
    let page = wf.todo(id(300), 1, 1).unwrap();
    assert_eq!((page.total, page.items[0].record), (3, id(601)));
}

/// The host's hook: the quote record's `approval_status` follows the instance.
struct QuoteStatus {
    desc: EntityDesc,
    refuse: bool,
}

impl WorkflowHook for QuoteStatus {
    fn status_changed<'h>(
        &'h self,
        store: &dyn Store,
        tenant: &TenantId,
        change: &StatusChange<'_>,
        batch: &mut Batch<'h>,
    ) -> Result<(), WorkflowError> {
        if self.refuse && change.to == Status::Approved {
            return Err(WorkflowError::Hook("the quote is locked".into()));
        }
        let mut record = store
            .get(tenant, &self.desc, change.record)?
            .ok_or_else(|| WorkflowError::Hook(format!("no quote {}", change.record)))?;
        record.set("approval_status", change.to.as_str());
        batch.update(&self.desc, record);
        Ok(())
    }
}

fn quote_desc() -> EntityDesc {
    EntityDesc::new(
        "quote",
        vec![FieldDesc::new("approval_status", FieldType::Text, "Approval", "审批状态")],
    )
    .unwrap()
}

fn status_of(store: &MemStore, tenant: &TenantId, desc: &EntityDesc, record: RecordId) -> Value {
    store.get(tenant, desc, record).unwrap().unwrap().get("approval_status").clone()
}

#[test]
fn the_host_hook_moves_the_record_status_in_the_same_batch() {
    let store = MemStore::new();
    setup(&store);
    let tenant = tenant();
    let hook = QuoteStatus { desc: quote_desc(), refuse: false };
    store.register(&hook.desc).unwrap();
    let mut draft = Record::new(id(501));
    draft.set("approval_status", "draft");
    let mut batch = Batch::new();
    batch.insert(&hook.desc, draft);
    store.commit(&tenant, &batch).unwrap();

    let wf = WorkflowStore::new(&store, &tenant).with_hook(&hook);
    define(&wf, MANAGER_THEN_DIRECTOR);
    let directory = org();
    let submitted =
        wf.submit("quote_approval", id(501), id(301), quote("1"), at(1), &directory).unwrap();
    assert_eq!(status_of(&store, &tenant, &hook.desc, id(501)), Value::from("pending"));
    let task = wf.todo(id(300), 0, 1).unwrap().items[0].task;
    wf.act(submitted.instance, Actor::user(id(300)), Action::approve(task), at(2), &directory)
        .unwrap();
    assert_eq!(status_of(&store, &tenant, &hook.desc, id(501)), Value::from("pending"));

    // A hook that refuses makes the whole action fail and stores nothing.
    let refusing = QuoteStatus { desc: quote_desc(), refuse: true };
    let strict = WorkflowStore::new(&store, &tenant).with_hook(&refusing);
    let task = wf.todo(id(200), 0, 1).unwrap().items[0].task;
    let err = strict
        .act(submitted.instance, Actor::user(id(200)), Action::approve(task), at(3), &directory)
        .unwrap_err();
    assert_eq!(err.to_string(), "workflow hook: the quote is locked");
    assert_eq!(wf.history(submitted.instance).unwrap().len(), 4);
    assert_eq!(wf.todo(id(200), 0, 1).unwrap().total, 1);

    wf.act(submitted.instance, Actor::user(id(200)), Action::approve(task), at(3), &directory)
        .unwrap();
    assert_eq!(status_of(&store, &tenant, &hook.desc, id(501)), Value::from("approved"));
}

#[test]
fn two_approvals_of_the_same_task_at_once_take_effect_exactly_once() {
    let store = MemStore::gated(&INSTANCE.kind);
    setup(&store);
    let tenant = tenant();
    let wf = WorkflowStore::new(&store, &tenant);
    define(&wf, MANAGER_THEN_DIRECTOR);
    let directory = org();
    let submitted =
        wf.submit("quote_approval", id(501), id(301), quote("1"), at(1), &directory).unwrap();
    let task = submitted.state.open_tasks_of(id(300)).next().unwrap().id;

    let results: Vec<Result<_, WorkflowError>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|n| {
                let (wf, directory) = (&wf, &directory);
                scope.spawn(move || {
                    wf.act(
                        submitted.instance,
                        Actor::user(id(300)),
                        Action::approve(task),
                        at(2 + n),
                        directory,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(succeeded, 1, "{results:?}");
    let refused = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    let already = ActionError::AlreadyDecided { task };
    assert!(matches!(refused, WorkflowError::Action(error) if *error == already), "{refused:?}");
    assert!(store.conflicts.load(Ordering::SeqCst) >= 1, "both read before either committed");
    let approvals = wf
        .history(submitted.instance)
        .unwrap()
        .iter()
        .filter(|e| e.kind.name() == "approved")
        .count();
    assert_eq!(approvals, 1);
}

#[test]
fn two_approvers_of_an_any_one_node_racing_get_one_decision() {
    let store = MemStore::gated(&INSTANCE.kind);
    setup(&store);
    let tenant = tenant();
    let wf = WorkflowStore::new(&store, &tenant);
    define(&wf, TWO_ANY);
    let directory = org();
    let submitted = wf.submit("two_any", id(700), id(301), quote("1"), at(1), &directory).unwrap();
    let results: Vec<Result<_, WorkflowError>> = thread::scope(|scope| {
        let handles: Vec<_> = [100u64, 200]
            .into_iter()
            .map(|user| {
                let (wf, directory) = (&wf, &directory);
                let task = submitted.state.open_tasks_of(id(user)).next().unwrap().id;
                scope.spawn(move || {
                    wf.act(
                        submitted.instance,
                        Actor::user(id(user)),
                        Action::approve(task),
                        at(2),
                        directory,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results
        .iter()
        .any(|r| matches!(r, Err(WorkflowError::Action(ActionError::AlreadyDecided { .. })))));
    let state = wf.instance(submitted.instance).unwrap().state;
    assert_eq!(state.status, Status::Approved);
    let statuses: Vec<TaskStatus> = state.tasks.iter().map(|t| t.status).collect();
    assert!(
        statuses == [TaskStatus::Approved, TaskStatus::Cancelled]
            || statuses == [TaskStatus::Cancelled, TaskStatus::Approved]
    );
    assert_eq!(wf.todo(id(100), 0, 5).unwrap().total + wf.todo(id(200), 0, 5).unwrap().total, 0);
}

#[test]
fn host_operations_and_several_actions_commit_together_or_not_at_all() {
    let store = MemStore::new();
    setup(&store);
    let tenant = tenant();
    let file_desc = EntityDesc::new(
        "file",
        vec![FieldDesc::new("name", FieldType::Text, "File name", "文件名")],
    )
    .unwrap();
    store.register(&file_desc).unwrap();
    let wf = WorkflowStore::new(&store, &tenant);
    define(&wf, MANAGER_THEN_DIRECTOR);
    let directory = org();
    let submitted =
        wf.submit("quote_approval", id(501), id(301), quote("1"), at(1), &directory).unwrap();
    let task = wf.todo(id(300), 0, 1).unwrap().items[0].task;
    let file_op = |file: u64| {
        let mut record = Record::new(id(file));
        record.set("name", "报价单.pdf");
        let mut batch = Batch::new();
        batch.insert(&file_desc, record);
        batch
    };
    let attach =
        |file: u64| Action::Attach { attachment: id(file), file_name: "报价单.pdf".into() };

    // The last action is refused (the one before it decided the task): no event of the
    // earlier actions and not the host's record is stored.
    let refused = wf.act_with(
        submitted.instance,
        Actor::user(id(300)),
        &[attach(900), Action::approve(task), Action::approve(task)],
        &file_op(900),
        at(2),
        &directory,
    );
    assert!(
        matches!(refused, Err(WorkflowError::Action(ActionError::AlreadyDecided { .. }))),
        "{refused:?}"
    );
    assert_eq!(wf.history(submitted.instance).unwrap().len(), 2);
    assert!(store.get(&tenant, &file_desc, id(900)).unwrap().is_none());
    let nothing = wf.act_with(
        submitted.instance,
        Actor::user(id(300)),
        &[],
        &file_op(900),
        at(2),
        &directory,
    );
    assert!(matches!(nothing, Err(WorkflowError::Action(ActionError::Empty { .. }))));

    // Attach then approve: one change, each action decided on the state the last one left.
    let outcome = wf
        .act_with(
            submitted.instance,
            Actor::user(id(300)),
            &[attach(901), Action::approve(task)],
            &file_op(901),
            at(3),
            &directory,
        )
        .unwrap();
    assert_eq!(
        outcome.events.iter().map(|e| (e.seq, e.kind.name())).collect::<Vec<_>>(),
        [(3, "attachment_added"), (4, "approved"), (5, "node_activated")]
    );
    assert_eq!(outcome.state.attachments.len(), 1);
    assert_eq!(outcome.state.attachments[0].attachment, id(901));
    assert!(store.get(&tenant, &file_desc, id(901)).unwrap().is_some());
    let loaded = wf.instance(submitted.instance).unwrap();
    assert_eq!(loaded.state, outcome.state);
    assert_eq!(wf.todo(id(200), 0, 1).unwrap().total, 1);
}

#[test]
fn tenants_do_not_see_each_others_instances() {
    let store = MemStore::new();
    setup(&store);
    let (acme, other) = (tenant(), TenantId::new("other").unwrap());
    let wf = WorkflowStore::new(&store, &acme);
    define(&wf, MANAGER_THEN_DIRECTOR);
    let submitted =
        wf.submit("quote_approval", id(501), id(301), quote("1"), at(1), &org()).unwrap();
    let elsewhere = WorkflowStore::new(&store, &other);
    assert_eq!(elsewhere.todo(id(300), 0, 10).unwrap().total, 0);
    assert!(matches!(
        elsewhere.instance(submitted.instance),
        Err(WorkflowError::UnknownInstance { .. })
    ));
}
