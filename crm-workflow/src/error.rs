//! The errors of the engine: one enum per operation (reading and validating a definition,
//! deciding an action, replaying a log) and [`WorkflowError`], the umbrella the persistence
//! layer returns. Every error that concerns a node names it.

use crm_domain::{FieldType, RecordId, StoreError};

use crate::instance::{Status, TaskId};

/// Why a definition was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// The text is not a definition in the documented format.
    #[error("cannot read the definition: {0}")]
    Parse(String),
    /// The definition could not be written out.
    #[error("cannot write the definition: {0}")]
    Write(String),
    /// The name is empty or not a lowercase identifier.
    #[error("definition name {name:?}: use lowercase letters, digits and '_', at most 48")]
    BadName {
        /// The name given.
        name: String,
    },
    /// The title or a node's label is too long or holds characters that cannot be shown.
    #[error("{what} {reason}")]
    BadText {
        /// What the text is (`title`, `node "manager" label`).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A node id is empty or too long.
    #[error("node #{position} has an empty or overlong id")]
    BadNodeId {
        /// The node's position in the list, from 1.
        position: usize,
    },
    /// No node is a start.
    #[error("the definition has no start node")]
    NoStart,
    /// More than one node is a start.
    #[error("the definition has several start nodes: {}", nodes.join(", "))]
    SeveralStarts {
        /// The start nodes.
        nodes: Vec<String>,
    },
    /// Two nodes share an id.
    #[error("node {node:?} is declared twice")]
    DuplicateNode {
        /// The id.
        node: String,
    },
    /// An edge names a node that is not declared.
    #[error("the edge from {from:?} to {to:?} names node {node:?}, which is not declared")]
    UnknownNode {
        /// Where the edge starts.
        from: String,
        /// Where the edge ends.
        to: String,
        /// The missing node.
        node: String,
    },
    /// A new version of a definition binds another form than the versions before it.
    #[error(
        "workflow {name:?} is bound to form {bound}; a new version keeps its form (give a flow \
         for form {given} another name)"
    )]
    FormChanged {
        /// The definition's name.
        name: String,
        /// The form its earlier versions bind.
        bound: String,
        /// The form the new version names.
        given: String,
    },
    /// The same edge is declared twice.
    #[error("the edge from {from:?} to {to:?} is declared twice")]
    DuplicateEdge {
        /// Where it starts.
        from: String,
        /// Where it ends.
        to: String,
    },
    /// A node has the wrong number or kind of edges for its type.
    #[error("node {node:?}: {reason}")]
    BadEdges {
        /// The node.
        node: String,
        /// What is wrong.
        reason: String,
    },
    /// A node cannot be reached from the start.
    #[error("node {node:?} cannot be reached from the start")]
    Unreachable {
        /// The node.
        node: String,
    },
    /// No path leads from the node to an end.
    #[error("node {node:?} cannot reach an end")]
    CannotReachEnd {
        /// The node.
        node: String,
    },
    /// A join is not closing exactly one parallel split.
    #[error("join {node:?} has no parallel split that every path to it passes")]
    JoinWithoutSplit {
        /// The join.
        node: String,
    },
    /// A parallel split has no join that closes it.
    #[error("split {node:?} has no join that closes it")]
    SplitWithoutJoin {
        /// The split.
        node: String,
    },
    /// A branch of a parallel section leaves it without passing its join.
    #[error(
        "split {split:?}: node {node:?} lies on a branch that leaves without passing the join"
    )]
    BranchEscapes {
        /// The split that opens the section.
        split: String,
        /// The node where the branch leaves.
        node: String,
    },
    /// A condition names a field the bound form lacks.
    #[error("node {node:?}: the condition names field {field:?}, which the bound form lacks")]
    UnknownField {
        /// The gateway whose edge carries the condition.
        node: String,
        /// The field.
        field: String,
    },
    /// A condition compares a field in a way its type does not allow.
    #[error("node {node:?}: condition on {field:?}: {reason}")]
    BadCondition {
        /// The gateway whose edge carries the condition.
        node: String,
        /// The field, or empty when the problem is the shape of the condition.
        field: String,
        /// What does not fit.
        reason: String,
    },
    /// A loop in the graph passes no approval node, so it would run without a person acting.
    #[error("node {node:?} would loop without a person acting")]
    WouldLoop {
        /// A node on the loop.
        node: String,
    },
    /// A loop re-enters a parallel section from inside it, through its split or its join.
    #[error("node {node:?}: a loop re-enters this parallel section without passing all of it")]
    ParallelLoop {
        /// The split or join on the loop.
        node: String,
    },
    /// An approval node names no approver rule.
    #[error("approval node {node:?} names no approvers")]
    NoApprovers {
        /// The node.
        node: String,
    },
    /// A notify node names no recipient rule.
    #[error("notify node {node:?} names no recipients")]
    NoRecipients {
        /// The node.
        node: String,
    },
    /// A node's field permissions name a field the bound form lacks.
    #[error("node {node:?} names field {field:?}, which the bound form lacks")]
    UnknownAccessField {
        /// The node.
        node: String,
        /// The field.
        field: String,
    },
    /// A node lets approvers edit a field they may not see.
    #[error("node {node:?} lets approvers edit {field:?} but not see it")]
    EditableNotVisible {
        /// The node.
        node: String,
        /// The field.
        field: String,
    },
}

/// Why an action on an instance was refused. Nothing was recorded.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// A comment that cannot be stored or shown safely.
    #[error("comment: {reason}")]
    BadComment {
        /// What is wrong with it.
        reason: String,
    },
    /// A request made for a unit the submitter does not belong to.
    #[error("user {user} does not belong to unit {unit}")]
    NotInUnit {
        /// The submitter.
        user: RecordId,
        /// The unit named.
        unit: RecordId,
    },
    /// The task number is not one of the instance's tasks.
    #[error("task {task} does not exist in this instance")]
    UnknownTask {
        /// The task.
        task: TaskId,
    },
    /// Only the task's assignee (or, to reassign, an administrator) may act on it.
    #[error("task {task} is assigned to someone else")]
    NotAssignee {
        /// The task.
        task: TaskId,
    },
    /// The task is closed: decided, or made moot by another decision.
    #[error("task {task} is already decided")]
    AlreadyDecided {
        /// The task.
        task: TaskId,
    },
    /// The task was handed to someone else.
    #[error("task {task} was reassigned to user {to}")]
    Reassigned {
        /// The task.
        task: TaskId,
        /// Its new assignee.
        to: RecordId,
    },
    /// A task of a sequence whose earlier approvers have not decided yet.
    #[error("task {task} is not open yet: earlier approvers of the sequence decide first")]
    NotYourTurn {
        /// The task.
        task: TaskId,
    },
    /// The submitter may not approve their own request at this node.
    #[error("node {node:?} does not let the submitter approve their own request")]
    SelfApproval {
        /// The node.
        node: String,
    },
    /// Only the submitter may do this.
    #[error("only the submitter may {what}")]
    NotSubmitter {
        /// What was tried.
        what: &'static str,
    },
    /// A withdrawal after an approver decided.
    #[error("cannot withdraw: an approver has already decided")]
    WithdrawAfterDecision,
    /// The instance's status does not allow the action.
    #[error("the request is {status}; it cannot be {what}")]
    WrongStatus {
        /// The current status.
        status: Status,
        /// What was tried, as a past participle.
        what: &'static str,
    },
    /// A node resolved to no active approver and the definition has no usable fallback.
    #[error("node {node:?} resolves to no active approver and no fallback approver can take it")]
    NoApprover {
        /// The node.
        node: String,
    },
    /// No branch of an exclusive gateway matches and it has no default branch.
    #[error("gateway {node:?}: no branch condition holds and there is no default branch")]
    NoBranch {
        /// The gateway.
        node: String,
    },
    /// The node named in a return is not an earlier node the request can go back to.
    #[error("cannot return to node {node:?}: {reason}")]
    CannotReturn {
        /// The node asked for.
        node: String,
        /// Why not.
        reason: String,
    },
    /// An approver tried to change a field their node does not let them edit.
    #[error("node {node:?} does not let approvers edit field {field:?}")]
    FieldNotEditable {
        /// The node.
        node: String,
        /// The field.
        field: String,
    },
    /// A field value does not fit the form's type for it.
    #[error("field {field:?} expects a {expected:?} value")]
    FieldType {
        /// The field.
        field: String,
        /// The form's type for it.
        expected: FieldType,
    },
    /// The user named as new assignee is not active.
    #[error("user {user} is not active and cannot be assigned work")]
    InactiveUser {
        /// The user.
        user: RecordId,
    },
    /// The user named as new assignee already holds a task of that node.
    #[error("user {user} already holds a task of node {node:?}")]
    AlreadyAssigned {
        /// The user.
        user: RecordId,
        /// The node.
        node: String,
    },
    /// Only people who took part in the instance may comment or attach files.
    #[error("user {user} takes no part in this request")]
    NotParticipant {
        /// The user.
        user: RecordId,
    },
    /// A comment or file name is empty.
    #[error("the {what} is empty")]
    Empty {
        /// What is empty.
        what: &'static str,
    },
    /// Advancing through automatic nodes did not come to rest within the step limit.
    #[error(
        "node {node:?}: more than {limit} automatic steps; the flow would loop without a person"
    )]
    WouldLoop {
        /// The node where the limit was hit.
        node: String,
        /// The limit.
        limit: usize,
    },
    /// Applying the new events failed; the engine has a bug or the log is damaged.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Why an event log could not be replayed: it does not describe a possible history.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The log holds no event.
    #[error("the event log is empty")]
    Empty,
    /// The first event is not a submission, or a later one is.
    #[error("event {seq}: the log must open with exactly one submission")]
    NotSubmittedFirst {
        /// The event's sequence number.
        seq: u64,
    },
    /// Sequence numbers are not 1, 2, 3, ...
    #[error("event {seq}: expected sequence number {expected}")]
    Sequence {
        /// The number found.
        seq: u64,
        /// The number expected.
        expected: u64,
    },
    /// The event names a task that is not open (for example, a second decision).
    #[error("event {seq}: task {task} is not open")]
    TaskNotOpen {
        /// The event's sequence number.
        seq: u64,
        /// The task.
        task: TaskId,
    },
    /// The event does not fit the state it is applied to.
    #[error("event {seq}: {reason}")]
    Invalid {
        /// The event's sequence number.
        seq: u64,
        /// What does not fit.
        reason: String,
    },
    /// Automatic advancing exceeded the definition's step limit.
    #[error("event {seq}: advancing took more than {limit} automatic steps")]
    StepLimit {
        /// The event's sequence number.
        seq: u64,
        /// The limit.
        limit: usize,
    },
}

/// What the persistence layer returns: any of the above, or a storage failure.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum WorkflowError {
    /// The definition was refused.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// The action was refused.
    #[error(transparent)]
    Action(#[from] ActionError),
    /// A stored log could not be replayed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The store failed; its kind says whether a retry may help.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No stored definition has this name (and version).
    #[error(
        "no workflow definition {name:?}{}",
        version.map(|v| format!(" version {v}")).unwrap_or_default()
    )]
    UnknownDefinition {
        /// The name asked for.
        name: String,
        /// The version asked for; `None` for the latest.
        version: Option<u32>,
    },
    /// No instance has this id.
    #[error("workflow instance {id} not found")]
    UnknownInstance {
        /// The id asked for.
        id: RecordId,
    },
    /// The record already has an approval under way.
    #[error("{form} {record} already has a pending approval")]
    AlreadyPending {
        /// The form binding, as its key.
        form: String,
        /// The record.
        record: RecordId,
    },
    /// Stored workflow data could not be decoded.
    #[error("stored workflow data is malformed: {0}")]
    Malformed(String),
    /// A host hook refused or failed.
    #[error("workflow hook: {0}")]
    Hook(String),
}

impl WorkflowError {
    /// The action error inside, if the action was refused.
    pub fn as_action(&self) -> Option<&ActionError> {
        match self {
            WorkflowError::Action(error) => Some(error),
            _ => None,
        }
    }
}
