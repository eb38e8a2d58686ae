//! Approval workflows (工作流) wired into the facade: the organisation as the engine's
//! [`Directory`], and [`Workflows`], the service through which a principal defines flows,
//! reads their to-do list and acts on instances.
//!
//! The engine itself lives in `crm-workflow`; this module only adds who may do what (define:
//! administrators; view an instance and its files: its participants and administrators), the
//! hook that keeps bound records in step ([`FormHook`]), and the
//! files attached to requests, stored as [`Attachment`] records owned by the instance and
//! committed in the same batch as the event that names them.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;
use crm_domain::audit::AuditAction;
use crm_domain::model::{AssignmentRequest, Attachment, FormDef, Membership, Unit, User};
use crm_domain::{
    Batch, DomainError, Entity, FieldType, Principal, Query, RecordId, TenantId, Value,
};
use crm_workflow::directory::Directory;
use crm_workflow::{Action, Actor, Definition, MemoryDirectory};

pub use crm_workflow::store::{Instance, InstanceSummary, Outcome, StoredDefinition, TodoPage};
pub use crm_workflow::store::{StatusChange, WorkflowHook};
pub use crm_workflow::todo::{TodoCounts, TodoItem};
pub use crm_workflow::FormField;
pub use crm_workflow::WorkflowError;
pub use crm_workflow::{
    replay, Event, EventKind, FormBinding, InstanceState, Status, Task, TaskId, TaskStatus,
};

use crate::approvable::Kind;
use crate::leads::NewAttachment;
use crate::{Crm, Result};

/// The `owner_kind` of an [`Attachment`] that belongs to a workflow instance.
pub const ATTACHMENT_OWNER_KIND: &str = "workflow_instance";

/// What an approver decides on a task, for [`Workflows::decide`].
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Approve the task.
    Approve,
    /// Approve the task with changes to the bound record's fields, each of which the task's
    /// node must list as editable ([`Workflows::parse_changes`] reads them from typed text).
    ApproveWithChanges(BTreeMap<String, Value>),
    /// Reject the request back to its submitter.
    Reject,
    /// Send the request back to this earlier approval node of the round.
    ReturnTo(String),
}

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
        for membership in &memberships {
            inner = inner.member_of(membership.user, membership.unit);
            if !membership.position.is_empty() {
                inner = inner.position(&membership.position, membership.user, membership.unit);
            }
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

    fn units_of(&self, user: RecordId) -> Vec<RecordId> {
        self.inner.units_of(user)
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

/// Host code that hears every approval status change of a tenant's instances, registered
/// with [`Crm::with_approval_hook`].
pub type HostHook = Arc<dyn WorkflowHook>;

/// The facade's workflow hook: keeps the record bound to an instance in step with it, in the
/// action's batch — customer assignment requests (`crate::assignments::follow_approval`),
/// and finance requests, quotes, contracts and entries of user-defined forms
/// (`crate::approvable`) — and then runs the host's hooks in the same batch.
#[derive(Clone)]
pub struct FormHook {
    actor: RecordId,
    new_request: Option<AssignmentRequest>,
    host: Arc<Vec<HostHook>>,
}

impl std::fmt::Debug for FormHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormHook")
            .field("actor", &self.actor)
            .field("new_request", &self.new_request)
            .field("host_hooks", &self.host.len())
            .finish()
    }
}

impl FormHook {
    /// A hook for actions taken by `actor` (who the audit entries name) on `crm`, with the
    /// host's hooks registered there.
    pub fn new(crm: &Crm, actor: RecordId) -> Self {
        Self { actor, new_request: None, host: crm.hooks.clone() }
    }

    /// A hook for the submission of an assignment `request`, which it inserts with the
    /// submission.
    pub(crate) fn submitting(crm: &Crm, actor: RecordId, request: AssignmentRequest) -> Self {
        Self { new_request: Some(request), ..Self::new(crm, actor) }
    }
}

impl WorkflowHook for FormHook {
    fn status_changed<'h>(
        &'h self,
        store: &dyn crm_domain::Store,
        tenant: &crm_domain::TenantId,
        change: &StatusChange<'_>,
        batch: &mut Batch<'h>,
    ) -> std::result::Result<(), crm_workflow::WorkflowError> {
        match change.form {
            FormBinding::CustomerAssignment => crate::assignments::follow_approval(
                store,
                tenant,
                self.actor,
                self.new_request.as_ref(),
                change,
                batch,
            ),
            form => match Kind::of(form) {
                Some(kind) => kind.follow_approval(store, tenant, self.actor, change, batch),
                None => Ok(()),
            },
        }?;
        for hook in self.host.iter() {
            hook.status_changed(store, tenant, change, batch)?;
        }
        Ok(())
    }
}

/// The form fields a definition bound to `form` may name, from the form's entity description
/// (and, for a user-defined form of `tenant`, its fields).
pub fn form_fields(crm: &Crm, tenant: &TenantId, form: &FormBinding) -> Result<Vec<FormField>> {
    match form {
        FormBinding::CustomerAssignment => Ok(FormField::of(AssignmentRequest::desc())),
        FormBinding::Custom(id) => match crm.load::<FormDef>(tenant, *id)? {
            Some(def) => Ok(crate::forms::bindable_fields(&def)),
            None => Err(DomainError::invalid("form", format!("there is no form {id}")).into()),
        },
        form => match Kind::of(form) {
            Some(kind) => Ok(FormField::of(kind.desc())),
            None => Err(DomainError::invalid("form", format!("form {form} has no records")).into()),
        },
    }
}

/// Reads `text` typed for field `name` of type `ty` the way a spreadsheet cell of that type
/// is read (`1,234.5`, `2026-03-01`, `是`); text is trimmed and left to the field's own rules
/// to check. The error names the field.
pub(crate) fn typed_value(name: &str, text: &str, ty: FieldType) -> Result<Value> {
    if ty == FieldType::Text {
        return Ok(Value::Text(crm_domain::text::unix_line_breaks(text).trim().to_owned()));
    }
    crm_io::convert_cell(&crm_io::Cell::Text(text.to_owned()), ty)
        .map_err(|reason| DomainError::invalid(name, reason).into())
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

    fn engine<'h>(&self, hook: &'h FormHook) -> crm_workflow::WorkflowStore<'h>
    where
        'a: 'h,
    {
        self.crm.engine(&self.who.tenant).with_hook(hook)
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
    /// A user-defined form may be named by its key (`form = { custom = "leave" }`) as well
    /// as by its id. Administrators only.
    pub fn define(&self, text: &str) -> Result<StoredDefinition> {
        if !self.who.is_admin() {
            return Err(
                DomainError::Forbidden("only administrators define workflows".into()).into()
            );
        }
        let definition = self.parse_definition(text)?;
        let fields = form_fields(self.crm, &self.who.tenant, &definition.form)?;
        if let Some(kind) = Kind::of(&definition.form) {
            kind.check_editable(&definition, &fields)?;
        }
        self.check_people(&definition)?;
        let hook = FormHook::new(self.crm, self.who.user);
        Ok(self.engine(&hook).define(&definition, &fields, crate::now())?)
    }

    /// Reads a definition, putting the id of the user-defined form for a form key.
    fn parse_definition(&self, text: &str) -> Result<Definition> {
        let parse_error = |e: crm_workflow::DefinitionError| -> crate::Error {
            crm_workflow::WorkflowError::from(e).into()
        };
        let tree: Option<serde_json::Value> = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).ok()
        } else {
            toml::from_str(text).ok()
        };
        let key = tree.as_ref().and_then(|t| t.pointer("/form/custom")?.as_str());
        let (Some(mut tree), Some(key)) = (tree.clone(), key) else {
            return Definition::parse(text).map_err(parse_error);
        };
        let form = crate::forms::Forms::new(self.crm, self.who).by_key(key)?;
        tree["form"]["custom"] = form.id.0.into();
        serde_json::from_value(tree)
            .map_err(|e| parse_error(crm_workflow::DefinitionError::Parse(e.to_string())))
    }

    /// Refuses a definition that names users or positions the organisation does not have,
    /// or a fallback approver who does not exist or has left, with an error naming the node:
    /// a flow whose people cannot exist is caught when it is defined, not when a request
    /// reaches it. Named users who have left are accepted (the fallback approver stands in).
    fn check_people(&self, definition: &Definition) -> Result<()> {
        use crm_workflow::{ApproverRule, NodeKind};
        let org = self.crm.org(self.who);
        let users: std::collections::BTreeMap<RecordId, bool> =
            org.users()?.into_iter().map(|u| (u.id, u.active)).collect();
        let positions: std::collections::BTreeSet<String> =
            org.positions()?.into_iter().map(|p| p.code).collect();
        let refuse =
            |reason: String| -> crate::Error { DomainError::invalid("approvers", reason).into() };
        for node in &definition.nodes {
            let rules = match &node.kind {
                NodeKind::Approval(approval) => &approval.approvers,
                NodeKind::Notify(notify) => &notify.recipients,
                _ => continue,
            };
            for rule in rules {
                match rule {
                    ApproverRule::Users(ids) => {
                        if let Some(id) = ids.iter().find(|id| !users.contains_key(id)) {
                            return Err(refuse(format!(
                                "node {:?}: there is no user {id}",
                                node.id
                            )));
                        }
                    }
                    ApproverRule::Position { name, .. } if !positions.contains(name) => {
                        return Err(refuse(format!(
                            "node {:?}: there is no position {name:?}",
                            node.id
                        )));
                    }
                    _ => {}
                }
            }
        }
        match definition.fallback_approver.map(|id| (id, users.get(&id))) {
            Some((id, None)) => {
                Err(DomainError::invalid("fallback_approver", format!("there is no user {id}"))
                    .into())
            }
            Some((id, Some(false))) => Err(DomainError::invalid(
                "fallback_approver",
                format!("user {id} has left; name an active user"),
            )
            .into()),
            _ => Ok(()),
        }
    }

    /// Every stored definition version, by name and then version.
    pub fn definitions(&self) -> Result<Vec<StoredDefinition>> {
        let hook = FormHook::new(self.crm, self.who.user);
        Ok(self.engine(&hook).definitions()?)
    }

    /// The definition `name` (its latest version, or `version`) drawn as an SVG document.
    pub fn definition_svg(&self, name: &str, version: Option<u32>) -> Result<String> {
        let hook = FormHook::new(self.crm, self.who.user);
        let definition = self.engine(&hook).definition(name, version)?;
        Ok(definition.definition().to_svg())
    }

    /// A page of the principal's open tasks, oldest first.
    pub fn todo(&self, offset: u64, limit: u64) -> Result<TodoPage> {
        let hook = FormHook::new(self.crm, self.who.user);
        Ok(self.engine(&hook).todo(self.who.user, offset, limit)?)
    }

    /// A page of the tasks the principal decided, most recent first.
    pub fn done(&self, offset: u64, limit: u64) -> Result<TodoPage> {
        let hook = FormHook::new(self.crm, self.who.user);
        Ok(self.engine(&hook).done(self.who.user, offset, limit)?)
    }

    /// How many tasks the principal has open, has decided, and has open for longer than
    /// `older_than`.
    pub fn todo_counts(&self, older_than: Duration) -> Result<TodoCounts> {
        let hook = FormHook::new(self.crm, self.who.user);
        Ok(self.engine(&hook).todo_counts(self.who.user, crate::now(), older_than)?)
    }

    /// One instance with its definition and replayed state. Only those who take part (the
    /// submitter, anyone who held a task or was told) and administrators see it; to anyone
    /// else it does not exist.
    pub fn instance(&self, id: RecordId) -> Result<Instance> {
        let not_found = || DomainError::NotFound { kind: "workflow instance".into(), id };
        let hook = FormHook::new(self.crm, self.who.user);
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

    /// The bound record's fields as instance `id` carries them (with approvers' changes), as
    /// far as the principal may see them: all of them for the submitter and administrators,
    /// for an approver what the nodes of their tasks show.
    pub fn visible_fields(&self, id: RecordId) -> Result<BTreeMap<String, Value>> {
        let instance = self.instance(id)?;
        if self.who.is_admin() {
            return Ok(instance.state.fields.clone());
        }
        let access = crm_workflow::access::field_access(
            &instance.definition,
            &instance.state,
            self.who.user,
        );
        Ok(access.visible.filter(&instance.state.fields))
    }

    /// How instance `id`'s request reads in a list: its number and title as far as the
    /// principal may see them (`QT000001 年度维保`); `None` when neither shows.
    pub fn subject(&self, id: RecordId) -> Result<Option<String>> {
        let fields = self.visible_fields(id)?;
        let subject: Vec<&str> = ["code", "title"]
            .into_iter()
            .filter_map(|name| fields.get(name).and_then(Value::as_text))
            .filter(|text| !text.is_empty())
            .collect();
        Ok((!subject.is_empty()).then(|| subject.join(" ")))
    }

    /// The instance's event log in order; visible to the same people as the instance.
    pub fn history(&self, id: RecordId) -> Result<Vec<Event>> {
        self.instance(id)?;
        let hook = FormHook::new(self.crm, self.who.user);
        Ok(self.engine(&hook).history(id)?)
    }

    /// Runs `action` on an instance the principal may view, with the organisation as it is now.
    fn act(&self, id: RecordId, action: Action) -> Result<Outcome> {
        let directory = OrgDirectory::load(self.crm, self.who)?;
        let hook = FormHook::new(self.crm, self.who.user);
        Ok(self.engine(&hook).act(id, self.actor(), action, crate::now(), &directory)?)
    }

    /// Stores `file` as an attachment of instance `id` and records it, then runs `then` (a
    /// decision), all in one batch: the file, its audit entry and the events exist together
    /// or not at all.
    fn attach_then(
        &self,
        id: RecordId,
        file: NewAttachment,
        then: Option<Action>,
    ) -> Result<Outcome> {
        let tenant = &self.who.tenant;
        let content_type = file.content_type.trim();
        let mut attachment = Attachment {
            id: RecordId(0),
            version: 0,
            owner_kind: ATTACHMENT_OWNER_KIND.to_owned(),
            owner_id: id,
            file_name: file.file_name.trim().to_owned(),
            content_type: if content_type.is_empty() {
                "application/octet-stream".to_owned()
            } else {
                content_type.to_owned()
            },
            size_bytes: i64::try_from(file.bytes.len()).unwrap_or(i64::MAX),
            bytes: file.bytes,
            created_at: crate::now(),
        };
        // Checked before an id is spent, so a refused file costs nothing.
        attachment.validate()?;
        attachment.id = RecordId(self.crm.allocate::<Attachment>(tenant, 1)?);
        let record = attachment.to_record()?;
        record.check(Attachment::desc())?;

        let mut host_ops = Batch::new();
        host_ops.insert(Attachment::desc(), record);
        let audit =
            (Attachment::desc().kind.clone(), attachment.id, AuditAction::Create, Vec::new());
        crate::assignments::add_audits(
            self.crm.store.as_ref(),
            tenant,
            self.who.user,
            attachment.created_at,
            vec![audit],
            &mut host_ops,
        )?;

        let mut actions = vec![Action::Attach {
            attachment: attachment.id,
            file_name: attachment.file_name.clone(),
        }];
        actions.extend(then);
        let directory = OrgDirectory::load(self.crm, self.who)?;
        let hook = FormHook::new(self.crm, self.who.user);
        let outcome = self.engine(&hook).act_with(
            id,
            self.actor(),
            &actions,
            &host_ops,
            crate::now(),
            &directory,
        )?;
        tracing::info!(
            tenant = %tenant,
            instance = %id,
            attachment = %attachment.id,
            size_bytes = attachment.size_bytes,
            "file attached to an approval request"
        );
        Ok(outcome)
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

    /// Decides the principal's task (`task`, or their one open task) with a comment. With a
    /// `file`, the file is attached first and both go in as one change: a refused decision
    /// stores no file either.
    pub fn decide(
        &self,
        id: RecordId,
        task: Option<TaskId>,
        decision: Decision,
        comment: &str,
        file: Option<NewAttachment>,
    ) -> Result<Outcome> {
        let task = self.task_of(id, task)?;
        let action = match decision {
            Decision::Approve => {
                Action::Approve { task, comment: comment.to_owned(), changes: BTreeMap::new() }
            }
            Decision::ApproveWithChanges(changes) => {
                let summary = self.instance(id)?.summary;
                let changes = match Kind::of(&summary.form) {
                    Some(kind) => {
                        kind.check_changes(self.crm, &self.who.tenant, summary.record, &changes)?
                    }
                    None => changes,
                };
                Action::Approve { task, comment: comment.to_owned(), changes }
            }
            Decision::Reject => Action::reject(task, comment),
            Decision::ReturnTo(node) => Action::return_to(task, &node, comment),
        };
        match file {
            Some(file) => self.attach_then(id, file, Some(action)),
            None => self.act(id, action),
        }
    }

    /// Approves the principal's task (`task`, or their one open task) with a comment.
    pub fn approve(&self, id: RecordId, task: Option<TaskId>, comment: &str) -> Result<Outcome> {
        self.decide(id, task, Decision::Approve, comment, None)
    }

    /// Approves the principal's task with changes to the bound record's fields; the node must
    /// list every changed field as editable. The bound record follows the changes in the same
    /// batch (for the forms whose records the facade keeps in step).
    pub fn approve_with_changes(
        &self,
        id: RecordId,
        task: Option<TaskId>,
        comment: &str,
        changes: BTreeMap<String, Value>,
    ) -> Result<Outcome> {
        self.decide(id, task, Decision::ApproveWithChanges(changes), comment, None)
    }

    /// The fields of instance `id`'s request the principal may change on approving, with
    /// their types: the editable fields of the nodes where they hold an open task, in the
    /// order of the bound form. Empty for anyone without such a task.
    pub fn editable_fields(&self, id: RecordId) -> Result<Vec<FormField>> {
        let instance = self.instance(id)?;
        let access = crm_workflow::access::field_access(
            &instance.definition,
            &instance.state,
            self.who.user,
        );
        if access.editable.is_empty() {
            return Ok(Vec::new());
        }
        Ok(form_fields(self.crm, &self.who.tenant, &instance.summary.form)?
            .into_iter()
            .filter(|f| access.editable.contains(&f.name))
            .collect())
    }

    /// Reads the values an approver typed for the request's fields (`name`, text) into the
    /// changes [`Decision::ApproveWithChanges`] takes. Each text is read by its field's
    /// type the way a spreadsheet cell is (`1,234.50`, `2026-03-01`); an empty text clears
    /// the field (a text field becomes empty text, which an unset one already counts as). Values equal to the request's current ones are left out, so a form that
    /// repeats every field changes only what was edited. A name that is not one of the
    /// principal's [`editable_fields`](Self::editable_fields), or a text its type cannot
    /// hold, is a [`DomainError`] naming the field. A principal without an open task gets
    /// no changes: the decision itself then says why it cannot be taken.
    pub fn parse_changes(
        &self,
        id: RecordId,
        typed: &[(String, String)],
    ) -> Result<BTreeMap<String, Value>> {
        let instance = self.instance(id)?;
        if instance.state.open_tasks_of(self.who.user).next().is_none() {
            // Nothing is theirs to change; the decision itself then says why (no open task,
            // or already decided) rather than a field being refused.
            return Ok(BTreeMap::new());
        }
        let editable = self.editable_fields(id)?;
        let mut changes = BTreeMap::new();
        for (name, text) in typed {
            let Some(field) = editable.iter().find(|f| &f.name == name) else {
                return Err(DomainError::invalid(
                    name,
                    "is not a field you may change at this step",
                )
                .into());
            };
            let value = typed_value(name, text, field.ty)?;
            let (value, current) = match field.ty {
                FieldType::Text => {
                    let current = instance.state.fields.get(name).and_then(Value::as_text);
                    let value = value.as_text().unwrap_or_default().to_owned();
                    (Value::Text(value), Value::Text(current.unwrap_or_default().to_owned()))
                }
                _ => (value, instance.state.fields.get(name).cloned().unwrap_or(Value::Null)),
            };
            if value != current {
                changes.insert(name.clone(), value);
            }
        }
        Ok(changes)
    }

    /// [`parse_changes`](Self::parse_changes) for a decision on `task`: when that task is
    /// no longer the principal's to decide, there is nothing to change and the decision
    /// itself says why (already decided, reassigned).
    pub fn parse_changes_for(
        &self,
        id: RecordId,
        task: Option<TaskId>,
        typed: &[(String, String)],
    ) -> Result<BTreeMap<String, Value>> {
        if let Some(task) = task {
            let instance = self.instance(id)?;
            if !instance.state.open_tasks_of(self.who.user).any(|t| t.id == task) {
                return Ok(BTreeMap::new());
            }
        }
        self.parse_changes(id, typed)
    }

    /// Rejects the request back to its submitter.
    pub fn reject(&self, id: RecordId, task: Option<TaskId>, comment: &str) -> Result<Outcome> {
        self.decide(id, task, Decision::Reject, comment, None)
    }

    /// Sends the request back to an earlier approval node `node` of this round.
    pub fn return_to(
        &self,
        id: RecordId,
        task: Option<TaskId>,
        node: &str,
        comment: &str,
    ) -> Result<Outcome> {
        self.decide(id, task, Decision::ReturnTo(node.to_owned()), comment, None)
    }

    /// Takes the request back (its submitter, before any approver decided in this round).
    pub fn withdraw(&self, id: RecordId) -> Result<Outcome> {
        self.instance(id)?;
        self.act(id, Action::Withdraw { comment: String::new() })
    }

    /// Submits a rejected or withdrawn request again, as a new round from the start.
    /// A finance request, quote or contract goes in with its fields as they are now, so its
    /// author's edits since the rejection count.
    pub fn resubmit(&self, id: RecordId) -> Result<Outcome> {
        let instance = self.instance(id)?;
        let fields = match Kind::of(&instance.summary.form) {
            Some(kind) => Some(kind.current_fields(self.crm, self.who, instance.summary.record)?),
            None => None,
        };
        self.act(id, Action::Resubmit { fields })
    }

    /// Hands a task (`task`, or the principal's one open task) to another active user. The
    /// engine decides who may: the task's assignee, or an administrator for any open or queued
    /// task; it refuses an unknown user (a [`DomainError`] on field `to`), an inactive user,
    /// one who already holds a task of that node, and the submitter where the node forbids
    /// approving one's own request.
    pub fn reassign(
        &self,
        id: RecordId,
        task: Option<TaskId>,
        to: RecordId,
        comment: &str,
    ) -> Result<Outcome> {
        let task = self.task_of(id, task)?;
        if self.crm.load::<User>(&self.who.tenant, to)?.is_none() {
            return Err(DomainError::invalid("to", format!("there is no user {to}")).into());
        }
        self.act(id, Action::Reassign { task, to, comment: comment.to_owned() })
    }

    /// Adds a comment to an instance the principal takes part in.
    pub fn comment(&self, id: RecordId, text: &str) -> Result<Outcome> {
        self.instance(id)?;
        self.act(id, Action::Comment { text: text.to_owned() })
    }

    /// Attaches a file to an instance the principal takes part in (or any instance, for an
    /// administrator), at any status. The file is stored as an [`Attachment`] and recorded
    /// as an event in one batch; the new file is the last of `outcome.state.attachments`.
    ///
    /// The file name must be non-empty, at most 255 characters and free of control
    /// characters, and the content at most
    /// [`MAX_ATTACHMENT_BYTES`](crm_domain::model::lead::MAX_ATTACHMENT_BYTES); anything else
    /// is a [`DomainError`] naming the field (`file_name`, `content_type` or `file`).
    pub fn attach(&self, id: RecordId, file: NewAttachment) -> Result<Outcome> {
        self.instance(id)?;
        self.attach_then(id, file, None)
    }

    /// A file attached to instance `id`, with its content, for anyone who may view the
    /// instance; to anyone else, and for a file of another instance, it does not exist.
    pub fn attachment(&self, id: RecordId, attachment: RecordId) -> Result<Attachment> {
        let not_found = || DomainError::NotFound { kind: "attachment".into(), id: attachment };
        let instance = self.instance(id)?;
        if !instance.state.attachments.iter().any(|a| a.attachment == attachment) {
            return Err(not_found().into());
        }
        let found =
            self.crm.load::<Attachment>(&self.who.tenant, attachment)?.ok_or_else(not_found)?;
        if found.owner_kind != ATTACHMENT_OWNER_KIND || found.owner_id != id {
            return Err(not_found().into());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_keeps_one_kind_of_line_break() {
        let typed = typed_value("remarks", " 第一行\r\n第二行 ", FieldType::Text).unwrap();
        assert_eq!(typed, Value::Text("第一行\n第二行".into()));
        let refused = typed_value("amount", "abc", FieldType::Decimal).unwrap_err();
        assert!(refused.to_string().contains("amount"), "{refused}");
    }
}
