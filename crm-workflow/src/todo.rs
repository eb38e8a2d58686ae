//! The to-do list (待办事宜) computed over instance states: a user's open tasks with the
//! record each leads to, the tasks they decided, counts, and reminders for tasks left open
//! too long.
//!
//! These functions work on states already in memory (a host's cache, tests, a small
//! deployment). Over a store, [`crate::store::WorkflowStore::todo`] answers the same
//! questions from an indexed task table without replaying any log.

use chrono::{DateTime, Duration, Utc};
use crm_domain::RecordId;
use serde::Serialize;

use crate::definition::{FormBinding, ValidDefinition};
use crate::instance::{InstanceState, Task, TaskId, TaskStatus};

/// One instance as the to-do functions see it.
#[derive(Debug, Clone, Copy)]
pub struct InstanceRef<'a> {
    /// The instance id.
    pub id: RecordId,
    /// The bound record the tasks lead to.
    pub record: RecordId,
    /// The definition version the instance runs on.
    pub definition: &'a ValidDefinition,
    /// Its state.
    pub state: &'a InstanceState,
}

/// One line of a to-do list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TodoItem {
    /// The instance.
    pub instance: RecordId,
    /// The task within it.
    pub task: TaskId,
    /// The definition's name.
    pub definition: String,
    /// The bound form type.
    pub form: FormBinding,
    /// The record the task leads to.
    pub record: RecordId,
    /// The approval node.
    pub node: String,
    /// The node's label.
    pub node_label: String,
    /// Who must act (or acted).
    pub assignee: RecordId,
    /// Who submitted the request.
    pub submitter: RecordId,
    /// The task's status.
    pub status: TaskStatus,
    /// Since when it is open (creation time for tasks never opened).
    pub since: DateTime<Utc>,
    /// When it was decided or closed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// How many tasks a user has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TodoCounts {
    /// Open tasks.
    pub open: u64,
    /// Tasks they decided.
    pub done: u64,
    /// Open tasks older than the reminder threshold.
    pub overdue: u64,
}

impl TodoItem {
    /// The to-do line for `task` of `instance`.
    pub fn new(instance: &InstanceRef<'_>, task: &Task) -> Self {
        let node_label = instance
            .definition
            .node(&task.node)
            .map_or_else(|| task.node.clone(), |n| n.display_label().to_owned());
        TodoItem {
            instance: instance.id,
            task: task.id,
            definition: instance.definition.name().to_owned(),
            form: instance.definition.form().clone(),
            record: instance.record,
            node: task.node.clone(),
            node_label,
            assignee: task.assignee,
            submitter: instance.state.submitter,
            status: task.status,
            since: task.opened_at.unwrap_or(task.created_at),
            closed_at: task.closed_at,
        }
    }
}

/// The open tasks of `user`, oldest first.
pub fn open_tasks(user: RecordId, instances: &[InstanceRef<'_>]) -> Vec<TodoItem> {
    let mut items: Vec<TodoItem> = instances
        .iter()
        .flat_map(|i| i.state.open_tasks_of(user).map(move |t| TodoItem::new(i, t)))
        .collect();
    items.sort_by_key(|item| (item.since, item.instance, item.task));
    items
}

/// The tasks `user` decided (approved, rejected or returned), most recent first.
pub fn done_tasks(user: RecordId, instances: &[InstanceRef<'_>]) -> Vec<TodoItem> {
    let mut items: Vec<TodoItem> = instances
        .iter()
        .flat_map(|i| {
            i.state
                .tasks
                .iter()
                .filter(move |t| t.assignee == user && t.status.is_decided())
                .map(move |t| TodoItem::new(i, t))
        })
        .collect();
    items.sort_by_key(|item| std::cmp::Reverse((item.closed_at, item.instance, item.task)));
    items
}

/// Every open task (of any user) open for longer than `older_than` at `now`, oldest first:
/// the reminders to send.
pub fn overdue(
    instances: &[InstanceRef<'_>],
    now: DateTime<Utc>,
    older_than: Duration,
) -> Vec<TodoItem> {
    let cutoff = now - older_than;
    let mut items: Vec<TodoItem> = instances
        .iter()
        .flat_map(|i| i.state.open_tasks().map(move |t| TodoItem::new(i, t)))
        .filter(|item| item.since < cutoff)
        .collect();
    items.sort_by_key(|item| (item.since, item.instance, item.task));
    items
}

/// The counts of `user`'s open, done and overdue tasks.
pub fn counts(
    user: RecordId,
    instances: &[InstanceRef<'_>],
    now: DateTime<Utc>,
    older_than: Duration,
) -> TodoCounts {
    let open = open_tasks(user, instances);
    let cutoff = now - older_than;
    TodoCounts {
        open: open.len() as u64,
        done: done_tasks(user, instances).len() as u64,
        overdue: open.iter().filter(|item| item.since < cutoff).count() as u64,
    }
}
