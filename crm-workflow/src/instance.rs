//! Instances: an append-only log of [`Event`]s, the [`InstanceState`] derived from it by
//! [`replay`], and [`decide`], which checks an [`Action`] against a state and returns the
//! events that record it.
//!
//! The split is strict. `replay` (a fold of [`InstanceState::apply`]) needs nothing but the
//! definition and the log: every fact that came from outside — who was assigned at a node,
//! which branch a gateway took, who was told — is written into the log when it happens, so a
//! log replays to the same state years later, whatever the organisation looks like by then.
//! `decide` is pure as well: it reads the state, asks the [`Directory`] when a node needs
//! people, evaluates gateway conditions over the request's fields, and returns new events
//! without storing anything. Advancing through automatic nodes (gateways, notifications,
//! splits and joins) is bounded by the definition's step limit.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use chrono::{DateTime, Utc};
use crm_domain::{RecordId, Value};
use serde::{Deserialize, Serialize};

use crate::definition::{Mode, NodeKind, ValidDefinition};
use crate::directory::{resolve, Directory, ForUnit};
use crate::error::{ActionError, ReplayError};

/// The number of a task within its instance, from 1 in order of creation.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct TaskId(pub u32);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The status of an instance; the bound record's approval status follows it (a record that
/// was never submitted is a draft).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Under way: some node waits for people.
    Pending,
    /// Every branch reached an end.
    Approved,
    /// An approver rejected it; back with the submitter, who may resubmit.
    Rejected,
    /// The submitter took it back before anyone decided; they may resubmit.
    Withdrawn,
}

impl Status {
    /// The status as stored and shown: `pending`, `approved`, `rejected`, `withdrawn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Withdrawn => "withdrawn",
        }
    }

    /// Reads [`Status::as_str`] back.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Status::Pending,
            "approved" => Status::Approved,
            "rejected" => Status::Rejected,
            "withdrawn" => Status::Withdrawn,
            _ => return None,
        })
    }

    /// Whether the request is finished for now (approved, rejected or withdrawn).
    pub fn is_final(self) -> bool {
        self != Status::Pending
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum TaskStatus {
    /// In a sequence, waiting for the approvers before it.
    Queued,
    /// Waiting for its assignee's decision.
    Open,
    /// The assignee approved.
    Approved,
    /// The assignee rejected the request.
    Rejected,
    /// The assignee returned the request to an earlier node.
    Returned,
    /// Handed to another user, whose task replaced this one.
    Reassigned {
        /// The task that replaced it.
        to: TaskId,
    },
    /// Closed without a decision of its own: another approver decided for an any-one node,
    /// or the request was rejected, returned or withdrawn.
    Cancelled,
}

impl TaskStatus {
    /// The status as stored: `queued`, `open`, `approved`, `rejected`, `returned`,
    /// `reassigned`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Open => "open",
            TaskStatus::Approved => "approved",
            TaskStatus::Rejected => "rejected",
            TaskStatus::Returned => "returned",
            TaskStatus::Reassigned { .. } => "reassigned",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the assignee decided it (approved, rejected or returned).
    pub fn is_decided(self) -> bool {
        matches!(self, TaskStatus::Approved | TaskStatus::Rejected | TaskStatus::Returned)
    }

    /// Whether it is still to be acted on (open or queued).
    pub fn is_current(self) -> bool {
        matches!(self, TaskStatus::Open | TaskStatus::Queued)
    }
}

/// One person's piece of work at one visit of an approval node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    /// Its number in the instance.
    pub id: TaskId,
    /// The approval node.
    pub node: String,
    /// The round it belongs to (1 for the first submission, +1 per resubmission).
    pub round: u32,
    /// The index of its visit in [`InstanceState::visits`].
    pub visit: usize,
    /// Who must act.
    pub assignee: RecordId,
    /// Its place in the node's resolved order (the order a sequence follows).
    pub position: u32,
    /// Where it stands.
    pub status: TaskStatus,
    /// Whether the definition's fallback approver got it because the node resolved to nobody.
    pub via_fallback: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it became open (for reminders); `None` while queued.
    pub opened_at: Option<DateTime<Utc>>,
    /// When it was decided or closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// The comment given with the decision or reassignment.
    pub comment: String,
}

/// Where a visit of an approval node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitState {
    /// Waiting for its tasks.
    Active,
    /// Its approvers approved as its mode requires; the request moved on.
    Completed,
    /// Closed by a rejection, return or withdrawal.
    Cancelled,
}

/// One activation of an approval node: entering it again (a loop, a return, a new round)
/// makes a new visit with new tasks, so earlier decisions stay in history but no longer count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Visit {
    /// The approval node.
    pub node: String,
    /// The round.
    pub round: u32,
    /// How many times the node was entered in this round, this visit included.
    pub pass: u32,
    /// The node's mode.
    pub mode: Mode,
    /// Its tasks in creation order, replacements of reassigned tasks included.
    pub tasks: Vec<TaskId>,
    /// Where it stands.
    pub state: VisitState,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it completed or was cancelled.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A comment on the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    /// The event that recorded it.
    pub seq: u64,
    /// Who wrote it.
    pub author: RecordId,
    /// When.
    pub at: DateTime<Utc>,
    /// The text.
    pub text: String,
}

/// A file attached to the request; the bytes are stored by the host as an attachment record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachedFile {
    /// The event that recorded it.
    pub seq: u64,
    /// Who attached it.
    pub by: RecordId,
    /// When.
    pub at: DateTime<Utc>,
    /// The attachment record.
    pub attachment: RecordId,
    /// The file name.
    pub file_name: String,
}

/// People told at a notify node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// The event that recorded it.
    pub seq: u64,
    /// The notify node.
    pub node: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who was told.
    pub recipients: Vec<RecordId>,
}

/// One entry of an instance's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Its place in the log, from 1 without gaps.
    pub seq: u64,
    /// Who acted; automatic steps carry the actor whose action caused them.
    pub actor: RecordId,
    /// When, in UTC.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
}

/// What an event records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The submitter (the actor) submitted the record; the first event of every log.
    Submitted {
        /// The bound record's fields at submission.
        fields: BTreeMap<String, Value>,
        /// The unit the request is made for, when the submitter chose one of their units
        /// other than the home unit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<RecordId>,
    },
    /// The submitter submitted again after a rejection or withdrawal: a new round from the
    /// start.
    Resubmitted {
        /// The record's fields at resubmission.
        fields: BTreeMap<String, Value>,
    },
    /// An approval node was entered and resolved to these people.
    NodeActivated {
        /// The approval node.
        node: String,
        /// The approvers in order; one task each.
        assignees: Vec<RecordId>,
        /// Whether they are the definition's fallback approver.
        #[serde(default)]
        fallback: bool,
    },
    /// An exclusive gateway chose a branch.
    BranchTaken {
        /// The gateway.
        gateway: String,
        /// The node the chosen edge leads to.
        to: String,
    },
    /// A notify node told these people.
    Notified {
        /// The notify node.
        node: String,
        /// Who was told.
        recipients: Vec<RecordId>,
    },
    /// The task's assignee approved.
    Approved {
        /// The task.
        task: TaskId,
        /// Their comment.
        #[serde(default)]
        comment: String,
        /// Field changes they made (only fields their node lets them edit).
        #[serde(default)]
        changes: BTreeMap<String, Value>,
    },
    /// The task's assignee rejected the request back to the submitter.
    Rejected {
        /// The task.
        task: TaskId,
        /// Their comment.
        #[serde(default)]
        comment: String,
    },
    /// The task's assignee returned the request to an earlier node.
    Returned {
        /// The task.
        task: TaskId,
        /// The node it goes back to.
        to: String,
        /// Their comment.
        #[serde(default)]
        comment: String,
    },
    /// The submitter withdrew the request.
    Withdrawn {
        /// Their comment.
        #[serde(default)]
        comment: String,
    },
    /// The task was handed to another user.
    Reassigned {
        /// The task.
        task: TaskId,
        /// The new assignee.
        to: RecordId,
        /// Why.
        #[serde(default)]
        comment: String,
    },
    /// Someone who takes part commented.
    Commented {
        /// The text.
        text: String,
    },
    /// Someone who takes part attached a file.
    AttachmentAdded {
        /// The attachment record the host stored.
        attachment: RecordId,
        /// The file name.
        file_name: String,
    },
}

impl EventKind {
    /// The event type's name, as in the serialised form: `submitted`, `approved`, ...
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Submitted { .. } => "submitted",
            EventKind::Resubmitted { .. } => "resubmitted",
            EventKind::NodeActivated { .. } => "node_activated",
            EventKind::BranchTaken { .. } => "branch_taken",
            EventKind::Notified { .. } => "notified",
            EventKind::Approved { .. } => "approved",
            EventKind::Rejected { .. } => "rejected",
            EventKind::Returned { .. } => "returned",
            EventKind::Withdrawn { .. } => "withdrawn",
            EventKind::Reassigned { .. } => "reassigned",
            EventKind::Commented { .. } => "commented",
            EventKind::AttachmentAdded { .. } => "attachment_added",
        }
    }
}

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The acting user.
    pub user: RecordId,
    /// Administrators may reassign any open task and comment on any request.
    pub administrator: bool,
}

impl Actor {
    /// A plain user.
    pub fn user(user: RecordId) -> Self {
        Self { user, administrator: false }
    }

    /// An administrator.
    pub fn administrator(user: RecordId) -> Self {
        Self { user, administrator: true }
    }
}

/// Something a person does to a pending or finished request.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Approve one's task, optionally changing fields the node lets one edit.
    Approve {
        /// The task.
        task: TaskId,
        /// A comment.
        comment: String,
        /// New values of editable fields.
        changes: BTreeMap<String, Value>,
    },
    /// Reject the request back to the submitter.
    Reject {
        /// The task.
        task: TaskId,
        /// A comment.
        comment: String,
    },
    /// Send the request back to an earlier approval node of this round; every approver there
    /// acts again.
    Return {
        /// The task.
        task: TaskId,
        /// The earlier node.
        to: String,
        /// A comment.
        comment: String,
    },
    /// Take the request back (submitter only, before any approver decided in this round).
    Withdraw {
        /// A comment.
        comment: String,
    },
    /// Submit again after a rejection or withdrawal (submitter only); `None` keeps the fields.
    Resubmit {
        /// The record's current fields.
        fields: Option<BTreeMap<String, Value>>,
    },
    /// Hand a task to another user (its assignee, or an administrator).
    Reassign {
        /// The task.
        task: TaskId,
        /// The new assignee.
        to: RecordId,
        /// Why.
        comment: String,
    },
    /// Comment (anyone who takes part).
    Comment {
        /// The text.
        text: String,
    },
    /// Record an attached file (anyone who takes part).
    Attach {
        /// The attachment record the host stored.
        attachment: RecordId,
        /// The file name.
        file_name: String,
    },
}

impl Action {
    /// Approve `task` without comment or changes.
    pub fn approve(task: TaskId) -> Self {
        Action::Approve { task, comment: String::new(), changes: BTreeMap::new() }
    }

    /// Reject `task` with a comment.
    pub fn reject(task: TaskId, comment: &str) -> Self {
        Action::Reject { task, comment: comment.to_owned() }
    }

    /// Return `task`'s request to node `to`.
    pub fn return_to(task: TaskId, to: &str, comment: &str) -> Self {
        Action::Return { task, to: to.to_owned(), comment: comment.to_owned() }
    }
}

/// The state of an instance, derived from its log by [`replay`] and nothing else.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceState {
    /// Where the request stands; always exactly one of the four.
    pub status: Status,
    /// Who submitted it.
    pub submitter: RecordId,
    /// The round: 1, plus one per resubmission.
    pub round: u32,
    /// The unit the request is made for; `None` means the submitter's home unit.
    pub unit: Option<RecordId>,
    /// The request's fields: as submitted, with approvers' changes applied.
    pub fields: BTreeMap<String, Value>,
    /// Every task ever created, in order; `tasks[i].id == TaskId(i + 1)`.
    pub tasks: Vec<Task>,
    /// Every visit of an approval node, in order.
    pub visits: Vec<Visit>,
    /// Comments in order.
    pub comments: Vec<Comment>,
    /// Attached files in order.
    pub attachments: Vec<AttachedFile>,
    /// Notifications sent, in order.
    pub notifications: Vec<Notification>,
    /// When it was first submitted.
    pub submitted_at: DateTime<Utc>,
    /// When the last event happened.
    pub updated_at: DateTime<Utc>,
    /// When it last became approved, rejected or withdrawn; `None` while pending.
    pub finished_at: Option<DateTime<Utc>>,
    /// The sequence number of the last event applied.
    pub last_seq: u64,
    /// Gateway, notify and approval nodes entered but not yet resolved by an event.
    #[serde(skip)]
    waiting: Vec<String>,
    /// Branches that reached each join, until it fires.
    #[serde(skip)]
    joins: BTreeMap<String, u32>,
}

/// Rebuilds an instance's state from its whole log.
pub fn replay(
    definition: &ValidDefinition,
    events: &[Event],
) -> Result<InstanceState, ReplayError> {
    let (first, rest) = events.split_first().ok_or(ReplayError::Empty)?;
    let mut state = InstanceState::begin(definition, first)?;
    for event in rest {
        state.apply(definition, event)?;
    }
    Ok(state)
}

/// Checks a submission and returns the events that start an instance: the submission and
/// the automatic steps up to the first nodes that need people.
pub fn submit(
    definition: &ValidDefinition,
    submitter: RecordId,
    fields: BTreeMap<String, Value>,
    now: DateTime<Utc>,
    directory: &dyn Directory,
) -> Result<Vec<Event>, ActionError> {
    submit_for(definition, submitter, None, fields, now, directory)
}

/// [`submit`] for one of the submitter's units (`None`: the home unit): rules that look at
/// the submitter's unit use that unit, in this and every later round. Refused when the
/// submitter does not belong to it.
pub fn submit_for(
    definition: &ValidDefinition,
    submitter: RecordId,
    unit: Option<RecordId>,
    fields: BTreeMap<String, Value>,
    now: DateTime<Utc>,
    directory: &dyn Directory,
) -> Result<Vec<Event>, ActionError> {
    check_field_types(definition, &fields)?;
    if let Some(unit) = unit {
        if !directory.units_of(submitter).contains(&unit) {
            return Err(ActionError::NotInUnit { user: submitter, unit });
        }
    }
    let kind = EventKind::Submitted { fields, unit };
    let first = Event { seq: 1, actor: submitter, at: now, kind };
    let mut state = InstanceState::begin(definition, &first)?;
    let mut events = vec![first];
    advance(definition, &mut state, &mut events, submitter, now, directory)?;
    Ok(events)
}

/// Checks `action` by `actor` against `state` and returns the events that record it and the
/// automatic steps it causes. Nothing is stored; append the events to the log (atomically,
/// guarded against concurrent appends) to make the action happen.
pub fn decide(
    definition: &ValidDefinition,
    state: &InstanceState,
    action: Action,
    actor: Actor,
    now: DateTime<Utc>,
    directory: &dyn Directory,
) -> Result<Vec<Event>, ActionError> {
    let kind = check_action(definition, state, action, actor, directory)?;
    let first = Event { seq: state.last_seq + 1, actor: actor.user, at: now, kind };
    let mut next = state.clone();
    next.apply(definition, &first)?;
    let mut events = vec![first];
    advance(definition, &mut next, &mut events, actor.user, now, directory)?;
    Ok(events)
}

/// Resolves every node that waits for an outside fact, recording each as an event, until
/// only people can move the request on.
fn advance(
    definition: &ValidDefinition,
    state: &mut InstanceState,
    events: &mut Vec<Event>,
    actor: RecordId,
    now: DateTime<Utc>,
    directory: &dyn Directory,
) -> Result<(), ActionError> {
    let scoped;
    let directory: &dyn Directory = match state.unit {
        Some(unit) => {
            scoped = ForUnit::new(directory, state.submitter, unit);
            &scoped
        }
        None => directory,
    };
    let mut steps = 0;
    while let Some(node_id) = state.waiting.first().cloned() {
        steps += 1;
        if steps > definition.step_limit() {
            return Err(ActionError::WouldLoop { node: node_id, limit: definition.step_limit() });
        }
        let Some(node) = definition.node(&node_id) else {
            return Err(ReplayError::Invalid {
                seq: state.last_seq,
                reason: format!("node {node_id:?} is not in the definition"),
            }
            .into());
        };
        let kind = match &node.kind {
            NodeKind::Approval(approval) => {
                let allowed = |user: RecordId| {
                    directory.is_active(user)
                        && (approval.allow_self_approval || user != state.submitter)
                };
                let mut assignees: Vec<RecordId> =
                    resolve(&approval.approvers, state.submitter, directory);
                assignees.retain(|u| allowed(*u));
                let mut fallback = false;
                if assignees.is_empty() {
                    match definition.definition().fallback_approver {
                        Some(user) if allowed(user) => {
                            tracing::info!(
                                node = %node_id,
                                %user,
                                "no active approver; the fallback approver gets the task"
                            );
                            assignees.push(user);
                            fallback = true;
                        }
                        _ => return Err(ActionError::NoApprover { node: node_id }),
                    }
                }
                EventKind::NodeActivated { node: node_id, assignees, fallback }
            }
            NodeKind::Gateway => {
                let edges = definition.outgoing(&node_id);
                let chosen = edges
                    .iter()
                    .find(|e| e.when.as_ref().is_some_and(|c| c.evaluate(&state.fields)))
                    .or_else(|| edges.iter().find(|e| e.when.is_none()));
                let Some(edge) = chosen else {
                    return Err(ActionError::NoBranch { node: node_id });
                };
                EventKind::BranchTaken { gateway: node_id, to: edge.to.clone() }
            }
            NodeKind::Notify(notify) => {
                let mut recipients = resolve(&notify.recipients, state.submitter, directory);
                recipients.retain(|u| directory.is_active(*u));
                EventKind::Notified { node: node_id, recipients }
            }
            _ => {
                return Err(ReplayError::Invalid {
                    seq: state.last_seq,
                    reason: format!("node {node_id:?} cannot wait for a resolution"),
                }
                .into())
            }
        };
        let event = Event { seq: state.last_seq + 1, actor, at: now, kind };
        state.apply(definition, &event)?;
        events.push(event);
    }
    Ok(())
}

fn check_field_types(
    definition: &ValidDefinition,
    fields: &BTreeMap<String, Value>,
) -> Result<(), ActionError> {
    for (field, value) in fields {
        if let (Some(expected), Some(actual)) = (definition.field_type(field), value.field_type()) {
            if expected != actual {
                return Err(ActionError::FieldType { field: field.clone(), expected });
            }
        }
    }
    Ok(())
}

/// The task `task` if `user` may decide it now.
fn decidable(state: &InstanceState, task: TaskId, user: RecordId) -> Result<&Task, ActionError> {
    let found = state.task(task).ok_or(ActionError::UnknownTask { task })?;
    if found.assignee != user {
        return Err(ActionError::NotAssignee { task });
    }
    open_or_explain(state, found)
}

fn open_or_explain<'s>(state: &'s InstanceState, task: &'s Task) -> Result<&'s Task, ActionError> {
    match task.status {
        TaskStatus::Open => Ok(task),
        TaskStatus::Queued => Err(ActionError::NotYourTurn { task: task.id }),
        TaskStatus::Reassigned { to } => Err(ActionError::Reassigned {
            task: task.id,
            to: state.task(to).map_or(RecordId(0), |t| t.assignee),
        }),
        _ => Err(ActionError::AlreadyDecided { task: task.id }),
    }
}

/// The longest comment an action may carry, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// Refuses a comment too long to show, or holding control characters other than tab and
/// line breaks (they break terminals and PostgreSQL text alike).
fn check_comment(text: &str) -> Result<(), ActionError> {
    if text.chars().count() > MAX_COMMENT_CHARS {
        return Err(ActionError::BadComment {
            reason: format!("longer than {MAX_COMMENT_CHARS} characters"),
        });
    }
    if let Some(c) = crm_domain::text::direction_control(text) {
        return Err(ActionError::BadComment {
            reason: format!("contains the direction control character U+{:04X}", u32::from(c)),
        });
    }
    match text.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        Some(c) => Err(ActionError::BadComment {
            reason: format!("contains the control character U+{:04X}", u32::from(c)),
        }),
        None => Ok(()),
    }
}

fn check_action(
    definition: &ValidDefinition,
    state: &InstanceState,
    action: Action,
    actor: Actor,
    directory: &dyn Directory,
) -> Result<EventKind, ActionError> {
    let approval_of = |node: &str| {
        definition.node(node).and_then(|n| n.approval()).ok_or_else(|| ReplayError::Invalid {
            seq: state.last_seq,
            reason: format!("task node {node:?} is not an approval node of the definition"),
        })
    };
    let text = match &action {
        Action::Approve { comment, .. }
        | Action::Reject { comment, .. }
        | Action::Return { comment, .. }
        | Action::Withdraw { comment }
        | Action::Reassign { comment, .. } => Some(comment.as_str()),
        Action::Comment { text } => Some(text.as_str()),
        Action::Resubmit { .. } | Action::Attach { .. } => None,
    };
    if let Some(text) = text {
        check_comment(text)?;
    }
    Ok(match action {
        Action::Approve { task, comment, changes } => {
            let found = decidable(state, task, actor.user)?;
            let approval = approval_of(&found.node)?;
            if actor.user == state.submitter && !approval.allow_self_approval {
                return Err(ActionError::SelfApproval { node: found.node.clone() });
            }
            if let Some(field) = changes.keys().find(|f| !approval.editable_fields.contains(f)) {
                return Err(ActionError::FieldNotEditable {
                    node: found.node.clone(),
                    field: field.clone(),
                });
            }
            check_field_types(definition, &changes)?;
            EventKind::Approved { task, comment, changes }
        }
        Action::Reject { task, comment } => {
            decidable(state, task, actor.user)?;
            EventKind::Rejected { task, comment }
        }
        Action::Return { task, to, comment } => {
            let found = decidable(state, task, actor.user)?;
            let refuse = |reason: &str| ActionError::CannotReturn {
                node: to.clone(),
                reason: reason.to_owned(),
            };
            if definition.node(&to).and_then(|n| n.approval()).is_none() {
                return Err(refuse("it is not an approval node of this definition"));
            }
            if to == found.node {
                return Err(refuse("it is the node of the task itself"));
            }
            let visited = state.visits.iter().any(|v| {
                v.node == to && v.round == state.round && v.state == VisitState::Completed
            });
            if !visited || definition.return_plan(&to, &found.node).is_none() {
                return Err(refuse("the request has not passed it on its way to this node"));
            }
            EventKind::Returned { task, to, comment }
        }
        Action::Withdraw { comment } => {
            if actor.user != state.submitter {
                return Err(ActionError::NotSubmitter { what: "withdraw the request" });
            }
            if state.status != Status::Pending {
                return Err(ActionError::WrongStatus { status: state.status, what: "withdrawn" });
            }
            let decided =
                state.tasks.iter().any(|t| t.round == state.round && t.status.is_decided());
            if decided {
                return Err(ActionError::WithdrawAfterDecision);
            }
            EventKind::Withdrawn { comment }
        }
        Action::Resubmit { fields } => {
            if actor.user != state.submitter {
                return Err(ActionError::NotSubmitter { what: "resubmit the request" });
            }
            if !matches!(state.status, Status::Rejected | Status::Withdrawn) {
                return Err(ActionError::WrongStatus { status: state.status, what: "resubmitted" });
            }
            let fields = fields.unwrap_or_else(|| state.fields.clone());
            check_field_types(definition, &fields)?;
            EventKind::Resubmitted { fields }
        }
        Action::Reassign { task, to, comment } => {
            let found = state.task(task).ok_or(ActionError::UnknownTask { task })?;
            if found.assignee != actor.user && !actor.administrator {
                return Err(ActionError::NotAssignee { task });
            }
            if found.status != TaskStatus::Queued {
                open_or_explain(state, found)?;
            }
            if !directory.is_active(to) {
                return Err(ActionError::InactiveUser { user: to });
            }
            let approval = approval_of(&found.node)?;
            if to == state.submitter && !approval.allow_self_approval {
                return Err(ActionError::SelfApproval { node: found.node.clone() });
            }
            let taken = state.visits.get(found.visit).is_some_and(|visit| {
                visit.tasks.iter().filter_map(|t| state.task(*t)).any(|t| {
                    t.assignee == to
                        && matches!(
                            t.status,
                            TaskStatus::Open | TaskStatus::Queued | TaskStatus::Approved
                        )
                })
            });
            if taken {
                return Err(ActionError::AlreadyAssigned { user: to, node: found.node.clone() });
            }
            EventKind::Reassigned { task, to, comment }
        }
        Action::Comment { text } => {
            if text.trim().is_empty() {
                return Err(ActionError::Empty { what: "comment" });
            }
            if !actor.administrator && !state.takes_part(actor.user) {
                return Err(ActionError::NotParticipant { user: actor.user });
            }
            EventKind::Commented { text }
        }
        Action::Attach { attachment, file_name } => {
            if file_name.trim().is_empty() {
                return Err(ActionError::Empty { what: "file name" });
            }
            if !actor.administrator && !state.takes_part(actor.user) {
                return Err(ActionError::NotParticipant { user: actor.user });
            }
            EventKind::AttachmentAdded { attachment, file_name }
        }
    })
}

impl InstanceState {
    /// The state after the first event of a log, which must be a submission numbered 1.
    fn begin(definition: &ValidDefinition, event: &Event) -> Result<Self, ReplayError> {
        if event.seq != 1 {
            return Err(ReplayError::Sequence { seq: event.seq, expected: 1 });
        }
        let EventKind::Submitted { fields, unit } = &event.kind else {
            return Err(ReplayError::NotSubmittedFirst { seq: event.seq });
        };
        let mut state = InstanceState {
            status: Status::Pending,
            submitter: event.actor,
            round: 1,
            unit: *unit,
            fields: fields.clone(),
            tasks: Vec::new(),
            visits: Vec::new(),
            comments: Vec::new(),
            attachments: Vec::new(),
            notifications: Vec::new(),
            submitted_at: event.at,
            updated_at: event.at,
            finished_at: None,
            last_seq: 1,
            waiting: Vec::new(),
            joins: BTreeMap::new(),
        };
        let start = definition.start().id.clone();
        state.enter(definition, 1, &start)?;
        state.settle(event.at);
        Ok(state)
    }

    /// Applies the next event of the log. [`replay`] is a fold of this; it refuses an event
    /// that does not fit the state (a wrong sequence number, a decision on a closed task, a
    /// resolution for a node that does not wait for one) and then leaves the state unusable.
    pub fn apply(
        &mut self,
        definition: &ValidDefinition,
        event: &Event,
    ) -> Result<(), ReplayError> {
        let seq = event.seq;
        if seq != self.last_seq + 1 {
            return Err(ReplayError::Sequence { seq, expected: self.last_seq + 1 });
        }
        let at = event.at;
        let invalid = |reason: String| ReplayError::Invalid { seq, reason };
        match &event.kind {
            EventKind::Submitted { .. } => return Err(ReplayError::NotSubmittedFirst { seq }),
            EventKind::Resubmitted { fields } => {
                if !matches!(self.status, Status::Rejected | Status::Withdrawn) {
                    return Err(invalid(format!(
                        "a {} request cannot be resubmitted",
                        self.status
                    )));
                }
                self.status = Status::Pending;
                self.round += 1;
                self.fields = fields.clone();
                self.finished_at = None;
                self.waiting.clear();
                self.joins.clear();
                let start = definition.start().id.clone();
                self.enter(definition, seq, &start)?;
            }
            EventKind::NodeActivated { node, assignees, fallback } => {
                self.take_waiting(seq, node)?;
                let approval = definition
                    .node(node)
                    .and_then(|n| n.approval())
                    .ok_or_else(|| invalid(format!("{node:?} is not an approval node")))?;
                let unique: BTreeSet<&RecordId> = assignees.iter().collect();
                if assignees.is_empty() || unique.len() != assignees.len() {
                    return Err(invalid(format!("node {node:?} needs distinct assignees")));
                }
                let visit = self.visits.len();
                let pass = 1 + self
                    .visits
                    .iter()
                    .filter(|v| v.node == *node && v.round == self.round)
                    .count() as u32;
                let mut tasks = Vec::with_capacity(assignees.len());
                for (position, assignee) in assignees.iter().enumerate() {
                    let id = TaskId(self.tasks.len() as u32 + 1);
                    let open = approval.mode != Mode::Sequence || position == 0;
                    self.tasks.push(Task {
                        id,
                        node: node.clone(),
                        round: self.round,
                        visit,
                        assignee: *assignee,
                        position: position as u32,
                        status: if open { TaskStatus::Open } else { TaskStatus::Queued },
                        via_fallback: *fallback,
                        created_at: at,
                        opened_at: open.then_some(at),
                        closed_at: None,
                        comment: String::new(),
                    });
                    tasks.push(id);
                }
                self.visits.push(Visit {
                    node: node.clone(),
                    round: self.round,
                    pass,
                    mode: approval.mode,
                    tasks,
                    state: VisitState::Active,
                    started_at: at,
                    finished_at: None,
                });
            }
            EventKind::BranchTaken { gateway, to } => {
                self.take_waiting(seq, gateway)?;
                if !definition.outgoing(gateway).iter().any(|e| e.to == *to) {
                    return Err(invalid(format!("gateway {gateway:?} has no edge to {to:?}")));
                }
                self.enter(definition, seq, to)?;
            }
            EventKind::Notified { node, recipients } => {
                self.take_waiting(seq, node)?;
                self.notifications.push(Notification {
                    seq,
                    node: node.clone(),
                    at,
                    recipients: recipients.clone(),
                });
                let next = single_successor(definition, seq, node)?;
                self.enter(definition, seq, &next)?;
            }
            EventKind::Approved { task, comment, changes } => {
                let index = self.open_task(seq, *task)?;
                let visit = self.close_task(index, TaskStatus::Approved, comment, at);
                self.fields.extend(changes.iter().map(|(k, v)| (k.clone(), v.clone())));
                self.progress(definition, seq, visit, at)?;
            }
            EventKind::Rejected { task, comment } => {
                let index = self.open_task(seq, *task)?;
                self.close_task(index, TaskStatus::Rejected, comment, at);
                self.close_all(at);
                self.status = Status::Rejected;
                self.finished_at = Some(at);
            }
            EventKind::Returned { task, to, comment } => {
                let index = self.open_task(seq, *task)?;
                if definition.node(to).and_then(|n| n.approval()).is_none() {
                    return Err(invalid(format!("{to:?} is not an approval node")));
                }
                let from = self.tasks.get(index).map(|t| t.node.clone()).unwrap_or_default();
                let plan = definition
                    .return_plan(to, &from)
                    .ok_or_else(|| invalid(format!("{to:?} does not lead to {from:?}")))?;
                self.close_task(index, TaskStatus::Returned, comment, at);
                self.close_nodes(&plan.reset, at);
                for (join, arrived) in plan.joins {
                    if arrived == 0 {
                        self.joins.remove(&join);
                    } else {
                        self.joins.insert(join, arrived);
                    }
                }
                self.enter(definition, seq, to)?;
            }
            EventKind::Withdrawn { .. } => {
                if self.status != Status::Pending {
                    return Err(invalid(format!("a {} request cannot be withdrawn", self.status)));
                }
                self.close_all(at);
                self.status = Status::Withdrawn;
                self.finished_at = Some(at);
            }
            EventKind::Reassigned { task, to, comment } => {
                let index = (task.0 as usize).checked_sub(1).filter(|i| *i < self.tasks.len());
                let old = index
                    .and_then(|i| self.tasks.get(i))
                    .filter(|t| t.status.is_current())
                    .cloned()
                    .ok_or(ReplayError::TaskNotOpen { seq, task: *task })?;
                let id = TaskId(self.tasks.len() as u32 + 1);
                let open = old.status == TaskStatus::Open;
                let visit = old.visit;
                self.tasks.push(Task {
                    id,
                    assignee: *to,
                    created_at: at,
                    opened_at: open.then_some(at),
                    closed_at: None,
                    comment: String::new(),
                    via_fallback: false,
                    ..old
                });
                if let Some(visit) = self.visits.get_mut(visit) {
                    visit.tasks.push(id);
                }
                if let Some(previous) = index.and_then(|i| self.tasks.get_mut(i)) {
                    previous.status = TaskStatus::Reassigned { to: id };
                    previous.closed_at = Some(at);
                    previous.comment = comment.clone();
                }
            }
            EventKind::Commented { text } => {
                self.comments.push(Comment { seq, author: event.actor, at, text: text.clone() });
            }
            EventKind::AttachmentAdded { attachment, file_name } => {
                self.attachments.push(AttachedFile {
                    seq,
                    by: event.actor,
                    at,
                    attachment: *attachment,
                    file_name: file_name.clone(),
                });
            }
        }
        self.last_seq = seq;
        self.updated_at = at;
        self.settle(at);
        Ok(())
    }

    fn take_waiting(&mut self, seq: u64, node: &str) -> Result<(), ReplayError> {
        let at =
            self.waiting.iter().position(|w| w == node).ok_or_else(|| ReplayError::Invalid {
                seq,
                reason: format!("node {node:?} is not waiting for a resolution"),
            })?;
        self.waiting.remove(at);
        Ok(())
    }

    fn open_task(&self, seq: u64, task: TaskId) -> Result<usize, ReplayError> {
        let index = (task.0 as usize).checked_sub(1);
        match index.and_then(|i| self.tasks.get(i).map(|t| (i, t))) {
            Some((i, t)) if t.status == TaskStatus::Open => Ok(i),
            _ => Err(ReplayError::TaskNotOpen { seq, task }),
        }
    }

    /// Closes the task at `index` and returns its visit.
    fn close_task(
        &mut self,
        index: usize,
        status: TaskStatus,
        comment: &str,
        at: DateTime<Utc>,
    ) -> usize {
        match self.tasks.get_mut(index) {
            Some(task) => {
                task.status = status;
                task.closed_at = Some(at);
                task.comment = comment.to_owned();
                task.visit
            }
            None => usize::MAX,
        }
    }

    /// Moves a visit on after one of its tasks was approved.
    fn progress(
        &mut self,
        definition: &ValidDefinition,
        seq: u64,
        visit: usize,
        at: DateTime<Utc>,
    ) -> Result<(), ReplayError> {
        let Some(current) = self.visits.get(visit) else {
            return Err(ReplayError::Invalid { seq, reason: "the task has no visit".into() });
        };
        let ids: Vec<TaskId> = current.tasks.clone();
        let node = current.node.clone();
        let index_of = |id: TaskId| (id.0 as usize).checked_sub(1);
        let complete = match current.mode {
            Mode::Any => {
                for id in &ids {
                    if let Some(task) = index_of(*id).and_then(|i| self.tasks.get_mut(i)) {
                        if task.status.is_current() {
                            task.status = TaskStatus::Cancelled;
                            task.closed_at = Some(at);
                        }
                    }
                }
                true
            }
            Mode::All => ids
                .iter()
                .filter_map(|id| index_of(*id).and_then(|i| self.tasks.get(i)))
                .filter(|t| {
                    !matches!(t.status, TaskStatus::Reassigned { .. } | TaskStatus::Cancelled)
                })
                .all(|t| t.status == TaskStatus::Approved),
            Mode::Sequence => {
                let next = ids
                    .iter()
                    .filter_map(|id| index_of(*id))
                    .filter(|i| self.tasks.get(*i).is_some_and(|t| t.status == TaskStatus::Queued))
                    .min_by_key(|i| self.tasks.get(*i).map_or(u32::MAX, |t| t.position));
                match next.and_then(|i| self.tasks.get_mut(i)) {
                    Some(task) => {
                        task.status = TaskStatus::Open;
                        task.opened_at = Some(at);
                        false
                    }
                    None => true,
                }
            }
        };
        if complete {
            if let Some(done) = self.visits.get_mut(visit) {
                done.state = VisitState::Completed;
                done.finished_at = Some(at);
            }
            let next = single_successor(definition, seq, &node)?;
            self.enter(definition, seq, &next)?;
        }
        Ok(())
    }

    /// Cancels the current tasks and active visits of `nodes` and stops them waiting; the
    /// rest of the instance (other branches of a parallel section) goes on.
    fn close_nodes(&mut self, nodes: &BTreeSet<String>, at: DateTime<Utc>) {
        for task in &mut self.tasks {
            if task.status.is_current() && nodes.contains(&task.node) {
                task.status = TaskStatus::Cancelled;
                task.closed_at = Some(at);
            }
        }
        for visit in &mut self.visits {
            if visit.state == VisitState::Active && nodes.contains(&visit.node) {
                visit.state = VisitState::Cancelled;
                visit.finished_at = Some(at);
            }
        }
        self.waiting.retain(|node| !nodes.contains(node));
    }

    /// Closes every current task and visit and forgets every waiting node and join.
    fn close_all(&mut self, at: DateTime<Utc>) {
        for task in &mut self.tasks {
            if task.status.is_current() {
                task.status = TaskStatus::Cancelled;
                task.closed_at = Some(at);
            }
        }
        for visit in &mut self.visits {
            if visit.state == VisitState::Active {
                visit.state = VisitState::Cancelled;
                visit.finished_at = Some(at);
            }
        }
        self.waiting.clear();
        self.joins.clear();
    }

    /// Follows the graph from `first` through the nodes that need no outside fact (start,
    /// split, join, end), leaving approval, gateway and notify nodes waiting. Bounded by the
    /// definition's step limit.
    fn enter(
        &mut self,
        definition: &ValidDefinition,
        seq: u64,
        first: &str,
    ) -> Result<(), ReplayError> {
        let mut work: VecDeque<String> = VecDeque::from([first.to_owned()]);
        let mut steps = 0;
        while let Some(id) = work.pop_front() {
            steps += 1;
            if steps > definition.step_limit() {
                return Err(ReplayError::StepLimit { seq, limit: definition.step_limit() });
            }
            let node = definition.node(&id).ok_or_else(|| ReplayError::Invalid {
                seq,
                reason: format!("node {id:?} is not in the definition"),
            })?;
            match &node.kind {
                NodeKind::Start => work.push_back(single_successor(definition, seq, &id)?),
                NodeKind::Approval(_) | NodeKind::Gateway | NodeKind::Notify(_) => {
                    self.waiting.push(id);
                }
                NodeKind::Split => {
                    work.extend(definition.outgoing(&id).into_iter().map(|e| e.to.clone()));
                }
                NodeKind::Join => {
                    let branches = definition
                        .split_of(&id)
                        .map_or(0, |split| definition.outgoing(&split.id).len())
                        as u32;
                    let arrived = self.joins.entry(id.clone()).or_insert(0);
                    *arrived += 1;
                    if *arrived >= branches {
                        self.joins.remove(&id);
                        work.push_back(single_successor(definition, seq, &id)?);
                    }
                }
                NodeKind::End => {}
            }
        }
        Ok(())
    }

    /// Marks a pending request approved once nothing is left to do.
    fn settle(&mut self, at: DateTime<Utc>) {
        let idle = self.waiting.is_empty()
            && self.joins.is_empty()
            && !self.visits.iter().any(|v| v.state == VisitState::Active);
        if self.status == Status::Pending && idle {
            self.status = Status::Approved;
            self.finished_at = Some(at);
        }
    }

    /// The task with this number.
    pub fn task(&self, id: TaskId) -> Option<&Task> {
        (id.0 as usize).checked_sub(1).and_then(|i| self.tasks.get(i))
    }

    /// The tasks waiting for a decision now.
    pub fn open_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| t.status == TaskStatus::Open)
    }

    /// The open tasks of one user.
    pub fn open_tasks_of(&self, user: RecordId) -> impl Iterator<Item = &Task> {
        self.open_tasks().filter(move |t| t.assignee == user)
    }

    /// The approval nodes waiting for people now.
    pub fn active_nodes(&self) -> Vec<&str> {
        let mut nodes: Vec<&str> = self
            .visits
            .iter()
            .filter(|v| v.state == VisitState::Active)
            .map(|v| v.node.as_str())
            .collect();
        nodes.dedup();
        nodes
    }

    /// Whether the user takes part: the submitter, anyone who ever held a task, anyone told.
    pub fn takes_part(&self, user: RecordId) -> bool {
        user == self.submitter
            || self.tasks.iter().any(|t| t.assignee == user)
            || self.notifications.iter().any(|n| n.recipients.contains(&user))
    }

    /// Everyone who takes part, in id order.
    pub fn participants(&self) -> BTreeSet<RecordId> {
        let mut people: BTreeSet<RecordId> = self.tasks.iter().map(|t| t.assignee).collect();
        people.insert(self.submitter);
        people.extend(self.notifications.iter().flat_map(|n| n.recipients.iter().copied()));
        people
    }
}

fn single_successor(
    definition: &ValidDefinition,
    seq: u64,
    node: &str,
) -> Result<String, ReplayError> {
    match definition.outgoing(node).as_slice() {
        [edge] => Ok(edge.to.clone()),
        _ => Err(ReplayError::Invalid {
            seq,
            reason: format!("node {node:?} has no single successor"),
        }),
    }
}
