//! The approval engine of the CRM (工作流): definitions as graphs, instances as replayable
//! event logs, and the tasks people act on.
//!
//! The core is pure: it does no I/O and names no storage back end. Persistence goes through
//! the storage port of `crm-domain` ([`store::WorkflowStore`]), so the engine runs on every
//! adapter; the organisation is asked through the [`Directory`] trait the host implements.
//!
//! # How a host uses it
//!
//! ```text
//! Definition::parse(text)?                         // TOML or JSON, format below
//!     .validate(&FormField::of(quote_desc))?       // -> ValidDefinition (errors name the node)
//! WorkflowStore::register(store)?                  // once, with the other entity kinds
//! let wf = WorkflowStore::new(store, &tenant).with_hook(&record_status_hook);
//! wf.define(&definition, &form_fields, now)?       // -> StoredDefinition { version, .. }
//! wf.submit("quote_approval", quote_id, user, fields, now, &directory)?   // -> Outcome
//! wf.todo(user, 0, 20)?                            // -> TodoPage of TodoItem (indexed lookup)
//! wf.act(instance, Actor::user(user), Action::approve(task), now, &directory)?
//! wf.instance(id)? / wf.history(id)?               // state replayed from the log / the log
//! access::field_access(&definition, &state, user)  // node relationship permissions
//! ```
//!
//! Without a store the same runs in memory: [`submit`] and [`decide`] return events,
//! [`replay`] turns a log into an [`InstanceState`], and [`mod@todo`] lists tasks over states.
//!
//! # The definition format
//!
//! A definition is TOML (or the same structure in JSON). Nodes have an `id`, an optional
//! `label` and a `type`: `start`, `approval`, `gateway` (exclusive), `split` and `join`
//! (parallel), `notify`, `end`. Edges leaving a gateway may carry a condition `when` over the
//! bound form's fields; the first edge whose condition holds is taken, else the one edge
//! without a condition. Conditions compare a field with a literal (`==`, `!=`, `<`, `<=`, `>`,
//! `>=`, `in [...]`; numbers, `'text'`, `true`, `false`, `null`; dates as `'2024-05-01'`) and
//! combine with `and`, `or`, `not` and parentheses — no arbitrary code.
//!
//! Approvers are a list of rules: `{ users = [12, 57] }`; a position
//! `{ position = { name = "finance_manager", lookup = "submitter_unit_and_ancestors" } }`
//! (`lookup` is `anywhere`, `submitter_unit` or `submitter_unit_and_ancestors`); the manager
//! of the submitter's unit N levels up `{ unit_manager = 1 }`; the submitter's supervisor
//! `"supervisor"`. `mode` is `any` (或签), `all` (会签, countersign) or `sequence`. The
//! submitter is never their own approver unless `allow_self_approval = true`. When a node
//! resolves to no active approver the `fallback_approver` gets the task; without one the
//! action fails with an error naming the node. `visible_fields` (absent: all) and
//! `editable_fields` say what the node's approvers may see and change.
//!
//! ```toml
//! name = "quote_approval"
//! title = "Quote approval / 报价审批"
//! form = "quote"          # contract, expense, reimbursement, loan, customer_assignment,
//!                         # or a user-defined form: form = { custom = 42 } (the facade
//!                         # also takes its key: form = { custom = "leave" })
//! fallback_approver = 1
//!
//! [[nodes]]
//! id = "start"
//! type = "start"
//!
//! [[nodes]]
//! id = "manager"
//! type = "approval"
//! label = "Sales manager"
//! mode = "any"
//! approvers = [{ unit_manager = 0 }, "supervisor"]
//! visible_fields = ["customer", "amount", "discount"]
//! editable_fields = ["discount"]
//!
//! [[nodes]]
//! id = "big"
//! type = "gateway"
//!
//! [[nodes]]
//! id = "finance"
//! type = "approval"
//! mode = "all"
//! approvers = [{ position = { name = "finance", lookup = "submitter_unit_and_ancestors" } }]
//!
//! [[nodes]]
//! id = "end"
//! type = "end"
//!
//! [[edges]]
//! from = "start"
//! to = "manager"
//!
//! [[edges]]
//! from = "manager"
//! to = "big"
//!
//! [[edges]]
//! from = "big"
//! to = "finance"
//! when = "amount > 100000 or discount > 0.15"
//!
//! [[edges]]
//! from = "big"
//! to = "end"             # the default branch
//!
//! [[edges]]
//! from = "finance"
//! to = "end"
//! ```
//!
//! Parallel sections are a `split` node with several outgoing edges and a `join` node every
//! branch reaches; `notify` nodes take `recipients = [...]` rules like approvers. The JSON
//! form is the same structure (`{"name": "quote_approval", "nodes": [{"id": "start",
//! "type": "start"}, ...]}`). A longer example with a parallel section and a notification is
//! `crm-workflow/examples/quote_approval.toml`; tests keep both valid.
//!
//! # Instances
//!
//! An instance is its log of [`Event`]s: submitted, resubmitted, approved, rejected, returned
//! to a node, withdrawn, reassigned, commented, attachment added, plus the facts of automatic
//! steps (a node's resolved approvers, a gateway's branch, a notification's recipients). The
//! state is derived only by replaying the log, so any instance can be rebuilt and audited.
//! The bound record's status follows the instance status (draft → pending → approved /
//! rejected / withdrawn); the host's [`store::WorkflowHook`] writes it in the same batch.
//!
//! The [`Action`]s and who may take them: approve, reject (back to the submitter) and return
//! to an earlier approval node of the round (its approvers act again; earlier decisions stay
//! in history but no longer count) — the task's assignee; withdraw — the submitter, before
//! any approver decided in the round; resubmit after a rejection or withdrawal — the
//! submitter, as a new round from the start; reassign a task — its assignee or an
//! administrator; comment and attach — anyone who takes part. An action on a task already
//! decided is refused with [`ActionError::AlreadyDecided`]; over a store, two actions that
//! race on one instance cannot both commit (the instance row's version guards the batch),
//! and the loser is retried on the new state, where the engine refuses it.
//!
//! [`Definition::to_svg`] draws a definition for people (`crm workflow show NAME`).

#![forbid(unsafe_code)]

pub mod access;
pub mod condition;
pub mod definition;
pub mod directory;
pub mod error;
pub mod instance;
pub mod store;
pub mod svg;
pub mod todo;

pub use condition::Condition;
pub use definition::{
    Approval, ApproverRule, Definition, Edge, FormBinding, FormField, Mode, Node, NodeKind, Notify,
    PositionLookup, ValidDefinition,
};
pub use directory::{Directory, ForUnit, MemoryDirectory};
pub use error::{ActionError, DefinitionError, ReplayError, WorkflowError};
pub use instance::{
    decide, replay, submit, submit_for, Action, Actor, Event, EventKind, InstanceState, Status,
    Task, TaskId, TaskStatus, Visit, VisitState,
};
pub use store::{DefinitionCache, Outcome, StatusChange, TodoPage, WorkflowHook, WorkflowStore};
