//! Approval workflows (工作流) wired into the facade: the organisation as the engine's
//! [`Directory`], and [`Workflows`], the service through which a principal defines flows,
//! reads their to-do list and acts on instances.
//!
//! The engine itself lives in `crm-workflow`; this module only adds who may do what (define:
//! administrators; view an instance: its participants and administrators) and the hook that
//! keeps bound records in step ([`crate::assignments::AssignmentHook`]).

use chrono::Duration;
use crm_domain::model::{AssignmentRequest, Membership, Unit, User};
use crm_domain::{DomainError, Entity, Principal, Query, RecordId};
use crm_workflow::directory::Directory;
use crm_workflow::{Action, Actor, Definition, FormBinding, FormField, MemoryDirectory};

pub use crm_workflow::store::{Instance, InstanceSummary, Outcome, StoredDefinition, TodoPage};
pub use crm_workflow::todo::{TodoCounts, TodoItem};
pub use crm_workflow::{Event, EventKind, InstanceState, Status, Task, TaskId, TaskStatus};

use crate::assignments::AssignmentHook;
use crate::{Crm, Result};

/// The organisation of one tenant as the approval engine asks about it: units with their
/// parents and managers, users' home units, supervisors and active flags, and the positions
/// users hold through their memberships.
///
/// It is a snapshot read when an action starts, so approvers are resolved against one
/// consistent view of the organisation.
#[derive(Debug, Clone)]
pub struct OrgDirectory {
    inner: MemoryDirectory,
}

impl OrgDirectory {
    /// Reads the organisation of `who`'s tenant.
    ///
    /// FIXME: the whole organisation is read for every action; a tenant with many thousands of
    /// users should answer the engine's questions with indexed lookups instead.
    pub fn load(crm: &Crm, who: &Principal) -> Result<Self> {
        let tenant = &who.tenant;
        let units = crm.find::<Unit>(tenant, &Query::all())?.items;
        let users = crm.find::<User>(tenant, &Query::all())?.items;
        let memberships = crm.find::<Membership>(tenant, &Query::all())?.items;

        let mut inner = MemoryDirectory::new();
        for unit in &units {
            inner = inner.unit(unit.id, unit.parent, unit.manager);
        }
        for user in &users {
            inner = inner.user(user.id, user.unit);
        }
        for user in &users {
            if let Some(supervisor) = user.supervisor {
                inner = inner.supervisor(user.id, supervisor);
            }
            if !user.active {
                inner.set_active(user.id, false);
            }
        }
        for membership in memberships.iter().filter(|m| !m.position.is_empty()) {
            inner = inner.position(&membership.position, membership.user, membership.unit);
        }
        Ok(Self { inner })
    }
}

impl Directory for OrgDirectory {
    fn is_active(&self, user: RecordId) -> bool {
        self.inner.is_active(user)
    }

    fn unit_of(&self, user: RecordId) -> Option<RecordId> {
        self.inner.unit_of(user)
    }

    fn parent_unit(&self, unit: RecordId) -> Option<RecordId> {
        self.inner.parent_unit(unit)
    }

    fn manager_of(&self, unit: RecordId) -> Option<RecordId> {
        self.inner.manager_of(unit)
    }

    fn holders_of(&self, position: &str, unit: Option<RecordId>) -> Vec<RecordId> {
        self.inner.holders_of(position, unit)
    }

    fn supervisor_of(&self, user: RecordId) -> Option<RecordId> {
        self.inner.supervisor_of(user)
    }
}

/// The form fields a definition bound to `form` may name, from the form's entity description.
pub fn form_fields(form: &FormBinding) -> Result<Vec<FormField>> {
    match form {
        FormBinding::CustomerAssignment => Ok(FormField::of(AssignmentRequest::desc())),
        // FIXME: quotes, contracts, expenses, reimbursements, loans and custom forms have no
        // entity yet, so flows bound to them cannot be defined; each should bind its form's
        // description here once it exists.
        other => Err(DomainError::invalid(
            "form",
            format!("form {other} is not supported yet; use customer_assignment"),
        )
        .into()),
    }
}

/// Approval workflows as one principal sees them.
pub struct Workflows<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

impl<'a> Workflows<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    fn engine<'h>(&self, hook: &'h AssignmentHook) -> crm_workflow::WorkflowStore<'h>
    where
        'a: 'h,
    {
        crm_workflow::WorkflowStore::new(self.crm.store.as_ref(), &self.who.tenant).with_hook(hook)
    }

    fn actor(&self) -> Actor {
        if self.who.is_admin() {
            Actor::administrator(self.who.user)
        } else {
            Actor::user(self.who.user)
        }
    }

    /// Parses a definition (TOML, or JSON when the text starts with `{`), validates it
    /// against its bound form's fields and stores it as the next version of its name.
    /// Administrators only.
    pub fn define(&self, text: &str) -> Result<StoredDefinition> {
        if !self.who.is_admin() {
            return Err(
                DomainError::Forbidden("only administrators define workflows".into()).into()
            );
        }
        let definition = Definition::parse(text).map_err(crm_workflow::WorkflowError::from)?;
        let fields = form_fields(&definition.form)?;
        let hook = AssignmentHook::new(self.who.user);
        Ok(self.engine(&hook).define(&definition, &fields, crate::now())?)
    }

    /// Every stored definition version, by name and then version.
    pub fn definitions(&self) -> Result<Vec<StoredDefinition>> {
        let hook = AssignmentHook::new(self.who.user);
        Ok(self.engine(&hook).definitions()?)
    }

    /// The definition `name` (its latest version, or `version`) drawn as an SVG document.
    pub fn definition_svg(&self, name: &str, version: Option<u32>) -> Result<String> {
        let hook = AssignmentHook::new(self.who.user);
        let definition = self.engine(&hook).definition(name, version)?;
        Ok(definition.definition().to_svg())
    }

    /// A page of the principal's open tasks, oldest first.
    pub fn todo(&self, offset: u64, limit: u64) -> Result<TodoPage> {
        let hook = AssignmentHook::new(self.who.user);
        Ok(self.engine(&hook).todo(self.who.user, offset, limit)?)
    }

    /// A page of the tasks the principal decided, most recent first.
    pub fn done(&self, offset: u64, limit: u64) -> Result<TodoPage> {
        let hook = AssignmentHook::new(self.who.user);
        Ok(self.engine(&hook).done(self.who.user, offset, limit)?)
    }

    /// How many tasks the principal has open, has decided, and has open for longer than
    /// `older_than`.
    pub fn todo_counts(&self, older_than: Duration) -> Result<TodoCounts> {
        let hook = AssignmentHook::new(self.who.user);
        Ok(self.engine(&hook).todo_counts(self.who.user, crate::now(), older_than)?)
    }

    /// One instance with its definition and replayed state. Only those who take part (the
    /// submitter, anyone who held a task or was told) and administrators see it; to anyone
    /// else it does not exist.
    pub fn instance(&self, id: RecordId) -> Result<Instance> {
        let not_found = || DomainError::NotFound { kind: "workflow instance".into(), id };
        let hook = AssignmentHook::new(self.who.user);
        let instance = match self.engine(&hook).instance(id) {
            Ok(instance) => instance,
            Err(crm_workflow::WorkflowError::UnknownInstance { .. }) => {
                return Err(not_found().into())
            }
            Err(other) => return Err(other.into()),
        };
        if !self.who.is_admin() && !instance.state.takes_part(self.who.user) {
            return Err(not_found().into());
        }
        Ok(instance)
    }

    /// The instance's event log in order; visible to the same people as the instance.
    pub fn history(&self, id: RecordId) -> Result<Vec<Event>> {
        self.instance(id)?;
        let hook = AssignmentHook::new(self.who.user);
        Ok(self.engine(&hook).history(id)?)
    }

    /// Runs `action` on an instance the principal may view, with the organisation as it is now.
    fn act(&self, id: RecordId, action: Action) -> Result<Outcome> {
        let directory = OrgDirectory::load(self.crm, self.who)?;
        let hook = AssignmentHook::new(self.who.user);
        Ok(self.engine(&hook).act(id, self.actor(), action, crate::now(), &directory)?)
    }

    /// The task the principal acts on: `task` when given, else their one open task in the
    /// instance (an error when they have none or several).
    fn task_of(&self, id: RecordId, task: Option<TaskId>) -> Result<TaskId> {
        let instance = self.instance(id)?;
        if let Some(task) = task {
            return Ok(task);
        }
        let open: Vec<TaskId> = instance.state.open_tasks_of(self.who.user).map(|t| t.id).collect();
        match open.as_slice() {
            [one] => Ok(*one),
            [] => {
                Err(DomainError::State(format!("you have no open task in workflow instance {id}"))
                    .into())
            }
            _ => Err(DomainError::State(format!(
                "you have several open tasks in workflow instance {id}; name one"
            ))
            .into()),
        }
    }

    /// Approves the principal's task (`task`, or their one open task) with a comment.
    pub fn approve(&self, id: RecordId, task: Option<TaskId>, comment: &str) -> Result<Outcome> {
        let task = self.task_of(id, task)?;
        let action = Action::Approve {
            task,
            comment: comment.to_owned(),
            changes: std::collections::BTreeMap::new(),
        };
        self.act(id, action)
    }

    /// Rejects the request back to its submitter.
    pub fn reject(&self, id: RecordId, task: Option<TaskId>, comment: &str) -> Result<Outcome> {
        let task = self.task_of(id, task)?;
        self.act(id, Action::reject(task, comment))
    }

    /// Sends the request back to an earlier approval node `node` of this round.
    pub fn return_to(
        &self,
        id: RecordId,
        task: Option<TaskId>,
        node: &str,
        comment: &str,
    ) -> Result<Outcome> {
        let task = self.task_of(id, task)?;
        self.act(id, Action::return_to(task, node, comment))
    }

    /// Takes the request back (its submitter, before any approver decided in this round).
    pub fn withdraw(&self, id: RecordId) -> Result<Outcome> {
        self.instance(id)?;
        self.act(id, Action::Withdraw { comment: String::new() })
    }

    /// Submits a rejected or withdrawn request again, as a new round from the start.
    pub fn resubmit(&self, id: RecordId) -> Result<Outcome> {
        self.instance(id)?;
        self.act(id, Action::Resubmit { fields: None })
    }

    /// Hands a task to another user (its assignee, or an administrator).
    pub fn reassign(
        &self,
        id: RecordId,
        task: TaskId,
        to: RecordId,
        comment: &str,
    ) -> Result<Outcome> {
        self.instance(id)?;
        self.act(id, Action::Reassign { task, to, comment: comment.to_owned() })
    }

    /// Adds a comment to an instance the principal takes part in.
    pub fn comment(&self, id: RecordId, text: &str) -> Result<Outcome> {
        self.instance(id)?;
        self.act(id, Action::Comment { text: text.to_owned() })
    }
}
