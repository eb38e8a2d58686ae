//! Persistence of definitions, instances, their logs and their tasks through the storage
//! port, so the engine runs on every store adapter (sled, PostgreSQL, memory) unchanged.
//!
//! Four entity kinds hold it:
//!
//! - `workflow_definition`: one row per (name, version), the definition as JSON plus the form
//!   fields it was validated against, so any version can be rebuilt without the host.
//! - `workflow_instance`: one row per instance with its definition name and version, bound
//!   form and record, submitter, status, round and the sequence number of its last event. Its
//!   version guards every action.
//! - `workflow_event`: the log, one row per event (instance, seq, actor, time, payload).
//! - `workflow_task`: one row per task, kept in step with the replayed state, so a to-do list
//!   is one indexed equality lookup (`open_assignee = user`) and never replays a log.
//!
//! An action reads the instance row and its events, replays, decides, and commits one batch:
//! the instance row updated under its version, the new events inserted, the task rows
//! changed, whatever the host's [`WorkflowHook`] adds, and any operations the host passes
//! along (the stored file of an attachment, for one). Two actions that race on one
//! instance cannot both commit: the second gets a version conflict, is retried on the fresh
//! state, and is then refused by the engine (for a decision on the same task: "already
//! decided").

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use crm_domain::{
    Batch, EntityDesc, FieldDesc, FieldType as T, Filter, Query, Record, RecordId, Sort, Store,
    StoreError, StoreErrorKind, TenantId, Value,
};

use crate::definition::{Definition, FormBinding, FormField, ValidDefinition};
use crate::directory::Directory;
use crate::error::{ActionError, DefinitionError, WorkflowError};
use crate::instance::{
    decide, replay, submit_for, Action, Actor, Event, EventKind, InstanceState, Status, Task,
    TaskId, TaskStatus,
};
use crate::todo::{TodoCounts, TodoItem};

/// How often an action is retried after losing a race to a concurrent writer.
const MAX_ATTEMPTS: u32 = 8;

fn desc(kind: &str, fields: Vec<FieldDesc>) -> EntityDesc {
    match EntityDesc::new(kind, fields) {
        Ok(desc) => desc,
        // The descriptions are constants of this file; a test builds each one.
        Err(error) => panic!("workflow description {kind} is invalid: {error}"),
    }
}

/// Stored definitions, one row per version.
pub static DEFINITION: LazyLock<EntityDesc> = LazyLock::new(|| {
    desc(
        "workflow_definition",
        vec![
            FieldDesc::new("name", T::Text, "Name", "名称").indexed().sortable(),
            FieldDesc::new("definition_version", T::Integer, "Version", "版本")
                .indexed()
                .sortable(),
            FieldDesc::new("form", T::Text, "Form", "表单").indexed(),
            FieldDesc::new("title", T::Text, "Title", "标题"),
            FieldDesc::new("body", T::Json, "Definition", "定义"),
            FieldDesc::new("form_fields", T::Json, "Form fields", "表单字段"),
            FieldDesc::new("created_at", T::Timestamp, "Created", "创建时间").sortable(),
        ],
    )
});

/// Instances, one row each.
pub static INSTANCE: LazyLock<EntityDesc> = LazyLock::new(|| {
    desc(
        "workflow_instance",
        vec![
            FieldDesc::new("definition", T::Text, "Workflow", "流程").indexed(),
            FieldDesc::new("definition_version", T::Integer, "Version", "版本"),
            FieldDesc::new("form", T::Text, "Form", "表单").indexed(),
            FieldDesc::new("record", T::Ref, "Record", "单据").indexed(),
            FieldDesc::new("submitter", T::Ref, "Submitter", "提交人").indexed(),
            FieldDesc::new("status", T::Text, "Status", "状态").indexed(),
            FieldDesc::new("pending_key", T::Text, "Pending for", "审批中单据").indexed(),
            FieldDesc::new("round", T::Integer, "Round", "轮次"),
            FieldDesc::new("last_seq", T::Integer, "Events", "事件数"),
            FieldDesc::new("submitted_at", T::Timestamp, "Submitted", "提交时间").sortable(),
            FieldDesc::new("updated_at", T::Timestamp, "Updated", "更新时间").sortable(),
        ],
    )
});

/// The instances' logs, one row per event.
pub static EVENT: LazyLock<EntityDesc> = LazyLock::new(|| {
    desc(
        "workflow_event",
        vec![
            FieldDesc::new("instance", T::Ref, "Instance", "流程实例").indexed(),
            FieldDesc::new("seq", T::Integer, "Sequence", "序号").sortable(),
            FieldDesc::new("actor", T::Ref, "Actor", "操作人").indexed(),
            FieldDesc::new("at", T::Timestamp, "Time", "时间").sortable(),
            FieldDesc::new("kind", T::Text, "Kind", "类型").indexed(),
            FieldDesc::new("payload", T::Json, "Payload", "内容"),
        ],
    )
});

/// Tasks, one row each, kept in step with the replayed states for to-do lookups.
pub static TASK: LazyLock<EntityDesc> = LazyLock::new(|| {
    desc(
        "workflow_task",
        vec![
            FieldDesc::new("instance", T::Ref, "Instance", "流程实例").indexed(),
            FieldDesc::new("task", T::Integer, "Task", "任务号"),
            FieldDesc::new("node", T::Text, "Node", "节点"),
            FieldDesc::new("node_label", T::Text, "Step", "步骤"),
            FieldDesc::new("definition", T::Text, "Workflow", "流程"),
            FieldDesc::new("form", T::Text, "Form", "表单").indexed(),
            FieldDesc::new("record", T::Ref, "Record", "单据").indexed(),
            FieldDesc::new("submitter", T::Ref, "Submitter", "提交人"),
            FieldDesc::new("assignee", T::Ref, "Assignee", "处理人").indexed(),
            FieldDesc::new("status", T::Text, "Status", "状态").indexed(),
            FieldDesc::new("replaced_by", T::Integer, "Replaced by", "转交任务"),
            FieldDesc::new("open_assignee", T::Ref, "Open for", "待办人").indexed(),
            FieldDesc::new("done_by", T::Ref, "Done by", "已办人").indexed(),
            FieldDesc::new("since", T::Timestamp, "Since", "开始时间").sortable(),
            FieldDesc::new("open_since", T::Timestamp, "Open since", "待办起始")
                .indexed()
                .sortable(),
            FieldDesc::new("closed_at", T::Timestamp, "Closed", "完成时间").sortable(),
        ],
    )
});

/// The four descriptions, for registration and the conformance suite.
pub fn descriptions() -> [&'static EntityDesc; 4] {
    [&DEFINITION, &INSTANCE, &EVENT, &TASK]
}

/// A stored definition version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDefinition {
    /// The row id.
    pub id: RecordId,
    /// The name.
    pub name: String,
    /// The version, from 1.
    pub version: u32,
    /// The bound form type.
    pub form: FormBinding,
    /// The title.
    pub title: String,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
}

/// An instance's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSummary {
    /// The instance id.
    pub id: RecordId,
    /// The definition's name.
    pub definition: String,
    /// The definition version it runs on.
    pub version: u32,
    /// The bound form type.
    pub form: FormBinding,
    /// The bound record.
    pub record: RecordId,
    /// Who submitted it.
    pub submitter: RecordId,
    /// Its status.
    pub status: Status,
    /// Its round.
    pub round: u32,
    /// The sequence number of its last event.
    pub last_seq: u64,
    /// When it was first submitted.
    pub submitted_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// An instance with its definition and replayed state.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Its row.
    pub summary: InstanceSummary,
    /// The definition version it runs on.
    pub definition: ValidDefinition,
    /// Its state, replayed from the log.
    pub state: InstanceState,
}

/// What a submission or action did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The instance.
    pub instance: RecordId,
    /// The status before (`None` for a submission).
    pub previous: Option<Status>,
    /// The status after.
    pub status: Status,
    /// The events recorded.
    pub events: Vec<Event>,
    /// The state after.
    pub state: InstanceState,
}

/// A status change the host may react to inside the same batch.
#[derive(Debug, Clone, Copy)]
pub struct StatusChange<'s> {
    /// The instance.
    pub instance: RecordId,
    /// The definition's name.
    pub definition: &'s str,
    /// The bound form type.
    pub form: &'s FormBinding,
    /// The bound record, whose approval status should follow.
    pub record: RecordId,
    /// The status before; `None` when the record is submitted (it was a draft).
    pub from: Option<Status>,
    /// The status after.
    pub to: Status,
    /// The instance's state after the change (fields include approvers' edits).
    pub state: &'s InstanceState,
}

/// What the host registers to follow status changes: typically it updates the bound record's
/// status (draft → pending → approved / rejected / withdrawn) and, on approval, does what the
/// form needs (for example assigns the requested customer). It is also called when approvers
/// changed the request's fields without changing its status (`from` equals `to` then), so
/// the bound record can take the edits. Its operations join the action's
/// batch, so they commit together with it or not at all.
pub trait WorkflowHook: Send + Sync {
    /// Adds the operations that follow `change` to `batch`. An error aborts the action.
    fn status_changed<'h>(
        &'h self,
        store: &dyn Store,
        tenant: &TenantId,
        change: &StatusChange<'_>,
        batch: &mut Batch<'h>,
    ) -> Result<(), WorkflowError>;
}

/// One page of a to-do list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TodoPage {
    /// The lines of the page.
    pub items: Vec<TodoItem>,
    /// How many lines the whole list has.
    pub total: u64,
}

/// Validated definition versions kept between engine calls. A stored version never changes,
/// so every action on an instance can take its definition from here instead of reading and
/// validating it again. Hosts keep one per store (the `crm` facade keeps one per `Crm`) and
/// hand it to [`WorkflowStore::with_cache`]; a cache must not outlive or change its store.
#[derive(Debug, Default)]
pub struct DefinitionCache {
    versions: Mutex<HashMap<(TenantId, String, u32), ValidDefinition>>,
}

impl DefinitionCache {
    /// At most this many versions are kept; past it the cache starts again empty.
    pub const CAPACITY: usize = 512;

    fn get(&self, tenant: &TenantId, name: &str, version: u32) -> Option<ValidDefinition> {
        let versions = self.versions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        versions.get(&(tenant.clone(), name.to_owned(), version)).cloned()
    }

    fn put(&self, tenant: &TenantId, name: &str, version: u32, definition: &ValidDefinition) {
        let mut versions = self.versions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if versions.len() >= Self::CAPACITY {
            versions.clear();
        }
        versions.insert((tenant.clone(), name.to_owned(), version), definition.clone());
    }
}

/// The workflow engine over a store, for one tenant.
#[derive(Clone, Copy)]
pub struct WorkflowStore<'a> {
    store: &'a dyn Store,
    tenant: &'a TenantId,
    hook: Option<&'a dyn WorkflowHook>,
    cache: Option<&'a DefinitionCache>,
}

impl std::fmt::Debug for WorkflowStore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowStore")
            .field("store", &self.store.backend())
            .field("tenant", self.tenant)
            .field("hook", &self.hook.is_some())
            .field("cache", &self.cache.is_some())
            .finish()
    }
}

/// Truncates to microseconds, the precision every store keeps exactly.
fn stored_time(now: DateTime<Utc>) -> DateTime<Utc> {
    now.trunc_subsecs(6)
}

impl<'a> WorkflowStore<'a> {
    /// The engine over `store` for `tenant`.
    pub fn new(store: &'a dyn Store, tenant: &'a TenantId) -> Self {
        Self { store, tenant, hook: None, cache: None }
    }

    /// Keeps validated definition versions in `cache` between calls.
    pub fn with_cache(mut self, cache: &'a DefinitionCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Registers the host's hook for status changes.
    pub fn with_hook(mut self, hook: &'a dyn WorkflowHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Registers the workflow entity kinds with the store (idempotent).
    pub fn register(store: &dyn Store) -> Result<(), StoreError> {
        descriptions().into_iter().try_for_each(|desc| store.register(desc))
    }

    fn allocate(&self, desc: &EntityDesc, count: u64) -> Result<u64, StoreError> {
        self.store.next_in_sequence(self.tenant, &format!("id.{}", desc.kind), count)
    }

    /// Validates `definition` against the bound form's fields and stores it as the next
    /// version of its name. Running instances keep the version they started with.
    pub fn define(
        &self,
        definition: &Definition,
        form_fields: &[FormField],
        now: DateTime<Utc>,
    ) -> Result<StoredDefinition, WorkflowError> {
        let now = stored_time(now);
        definition.validate(form_fields)?;
        let body_fields = serde_json::to_value(form_fields)
            .map_err(|e| WorkflowError::Malformed(e.to_string()))?;
        for _ in 0..MAX_ATTEMPTS {
            let latest = self.latest_version(&definition.name)?;
            if let Some(latest) = latest {
                // Submissions find their flow by form, so a name keeps the form it binds.
                let bound = self.definition(&definition.name, Some(latest))?.form().clone();
                if bound != definition.form {
                    return Err(DefinitionError::FormChanged {
                        name: definition.name.clone(),
                        bound: bound.key(),
                        given: definition.form.key(),
                    }
                    .into());
                }
            }
            let version = latest.unwrap_or(0) + 1;
            let mut versioned = definition.clone();
            versioned.version = version;
            let body = serde_json::to_value(&versioned)
                .map_err(|e| WorkflowError::Malformed(e.to_string()))?;
            let id = RecordId(self.allocate(&DEFINITION, 1)?);
            let mut record = Record::new(id);
            record.set("name", definition.name.as_str());
            record.set("definition_version", i64::from(version));
            record.set("form", definition.form.key());
            record.set("title", definition.title.as_str());
            record.set("body", Value::Json(body));
            record.set("form_fields", Value::Json(body_fields.clone()));
            record.set("created_at", now);
            let mut batch = Batch::new();
            batch.none_match(
                &DEFINITION,
                vec![
                    Filter::Eq("name".into(), definition.name.as_str().into()),
                    Filter::Eq("definition_version".into(), Value::Integer(i64::from(version))),
                ],
            );
            batch.insert(&DEFINITION, record);
            match self.store.commit(self.tenant, &batch) {
                Ok(()) => {
                    tracing::info!(
                        tenant = %self.tenant,
                        name = %definition.name,
                        version,
                        "workflow definition saved"
                    );
                    return Ok(StoredDefinition {
                        id,
                        name: definition.name.clone(),
                        version,
                        form: definition.form.clone(),
                        title: definition.title.clone(),
                        created_at: now,
                    });
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        StoreErrorKind::Constraint | StoreErrorKind::Conflict
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::conflict(format!(
            "workflow definition {}: gave up after {MAX_ATTEMPTS} concurrent saves",
            definition.name
        ))
        .into())
    }

    fn latest_version(&self, name: &str) -> Result<Option<u32>, WorkflowError> {
        let query = Query::all()
            .filter(Filter::Eq("name".into(), name.into()))
            .sort(Sort::desc("definition_version"))
            .page(0, 1);
        let page = self.store.query(self.tenant, &DEFINITION, &query)?;
        page.records.first().map(|r| Ok(int(r, "definition_version")? as u32)).transpose()
    }

    /// The stored definition `name` at `version`, or its latest version, validated.
    pub fn definition(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<ValidDefinition, WorkflowError> {
        let unknown = || WorkflowError::UnknownDefinition { name: name.to_owned(), version };
        let version = match version {
            Some(v) => v,
            None => self.latest_version(name)?.ok_or_else(unknown)?,
        };
        if let Some(cached) = self.cache.and_then(|c| c.get(self.tenant, name, version)) {
            return Ok(cached);
        }
        let query = Query::all()
            .filter(Filter::Eq("name".into(), name.into()))
            .filter(Filter::Eq("definition_version".into(), Value::Integer(i64::from(version))));
        let page = self.store.query(self.tenant, &DEFINITION, &query)?;
        let row = page.records.first().ok_or_else(unknown)?;
        let definition: Definition = serde_json::from_value(json(row, "body")?)
            .map_err(|e| malformed(row, "body", &e.to_string()))?;
        let fields: Vec<FormField> = serde_json::from_value(json(row, "form_fields")?)
            .map_err(|e| malformed(row, "form_fields", &e.to_string()))?;
        let valid = definition.validate(&fields)?;
        if let Some(cache) = self.cache {
            cache.put(self.tenant, name, version, &valid);
        }
        Ok(valid)
    }

    /// Every stored definition version, by name and then version.
    pub fn definitions(&self) -> Result<Vec<StoredDefinition>, WorkflowError> {
        let query = Query::all().sort(Sort::asc("name")).sort(Sort::asc("definition_version"));
        let page = self.store.query(self.tenant, &DEFINITION, &query)?;
        page.records
            .iter()
            .map(|row| {
                Ok(StoredDefinition {
                    id: row.id,
                    name: text(row, "name")?,
                    version: int(row, "definition_version")? as u32,
                    form: form(row)?,
                    title: row.get("title").as_text().unwrap_or_default().to_owned(),
                    created_at: time(row, "created_at")?,
                })
            })
            .collect()
    }

    /// Submits `record` (with its current `fields`) for approval under the latest version of
    /// definition `name`. Refused while the record has a pending instance.
    pub fn submit(
        &self,
        name: &str,
        record: RecordId,
        submitter: RecordId,
        fields: BTreeMap<String, Value>,
        now: DateTime<Utc>,
        directory: &dyn Directory,
    ) -> Result<Outcome, WorkflowError> {
        self.submit_for(name, record, submitter, None, fields, now, directory)
    }

    /// [`WorkflowStore::submit`] for one of the submitter's units (`None`: the home unit);
    /// see [`crate::instance::submit_for`].
    #[allow(clippy::too_many_arguments, reason = "each is one fact of the submission")]
    pub fn submit_for(
        &self,
        name: &str,
        record: RecordId,
        submitter: RecordId,
        unit: Option<RecordId>,
        fields: BTreeMap<String, Value>,
        now: DateTime<Utc>,
        directory: &dyn Directory,
    ) -> Result<Outcome, WorkflowError> {
        let now = stored_time(now);
        let definition = self.definition(name, None)?;
        let events = submit_for(&definition, submitter, unit, fields, now, directory)?;
        let state = replay(&definition, &events)?;
        let form_key = definition.form().key();
        // One indexed equality on a key set only while pending, so neither this lookup nor
        // the batch's precondition reads every pending instance.
        let pending = vec![Filter::Eq("pending_key".into(), pending_key(&form_key, record).into())];
        let already = || WorkflowError::AlreadyPending { form: form_key.clone(), record };
        let query = Query { filters: pending.clone(), ..Query::default() }.page(0, 1);
        if self.store.query(self.tenant, &INSTANCE, &query)?.total > 0 {
            return Err(already());
        }

        let id = RecordId(self.allocate(&INSTANCE, 1)?);
        let summary = InstanceSummary {
            id,
            definition: definition.name().to_owned(),
            version: definition.version(),
            form: definition.form().clone(),
            record,
            submitter,
            status: state.status,
            round: state.round,
            last_seq: state.last_seq,
            submitted_at: state.submitted_at,
            updated_at: state.updated_at,
        };
        let mut batch: Batch<'a> = Batch::new();
        batch.none_match(&INSTANCE, pending.clone());
        batch.insert(&INSTANCE, instance_row(&summary, 0));
        self.add_events(&mut batch, id, &events)?;
        self.add_tasks(&mut batch, &summary, &definition, None, &state)?;
        self.run_hook(&summary, None, &state, &mut batch)?;
        match self.store.commit(self.tenant, &batch) {
            Ok(()) => {}
            Err(e) if e.kind() == StoreErrorKind::Constraint => {
                // A racing submission of the same record, or a constraint of the hook's ops.
                let query = Query { filters: pending, ..Query::default() }.page(0, 1);
                if self.store.query(self.tenant, &INSTANCE, &query)?.total > 0 {
                    return Err(already());
                }
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            tenant = %self.tenant,
            instance = %id,
            definition = %name,
            %record,
            "request submitted for approval"
        );
        Ok(Outcome { instance: id, previous: None, status: state.status, events, state })
    }

    /// Performs `action` by `actor` on an instance. Retries on a concurrent change, so the
    /// caller sees the engine's verdict on the fresh state (for example "already decided").
    pub fn act(
        &self,
        instance: RecordId,
        actor: Actor,
        action: Action,
        now: DateTime<Utc>,
        directory: &dyn Directory,
    ) -> Result<Outcome, WorkflowError> {
        self.act_with(instance, actor, std::slice::from_ref(&action), &Batch::new(), now, directory)
    }

    /// Performs `actions` by `actor` on an instance one after another as one change, together
    /// with the host's own operations in `host_ops`: each action is decided on the state the
    /// earlier ones left, and everything commits in one batch or nothing does.
    ///
    /// This is how a host stores a record that an action points at, such as the file of an
    /// [`Action::Attach`], so the record and the event naming it exist together; and how a
    /// file and a decision go in as one step. Retries on a concurrent change like [`Self::act`].
    pub fn act_with(
        &self,
        instance: RecordId,
        actor: Actor,
        actions: &[Action],
        host_ops: &Batch<'a>,
        now: DateTime<Utc>,
        directory: &dyn Directory,
    ) -> Result<Outcome, WorkflowError> {
        if actions.is_empty() {
            return Err(ActionError::Empty { what: "list of actions" }.into());
        }
        let now = stored_time(now);
        for attempt in 1..=MAX_ATTEMPTS {
            let (row, summary) = self.summary(instance)?;
            // With a cache (`with_cache`) the definition version is read once per process.
            let definition = self.definition(&summary.definition, Some(summary.version))?;
            let mut log = self.history(instance)?;
            // Events committed after the row was read belong to a newer version of it.
            log.truncate(usize::try_from(summary.last_seq).unwrap_or(usize::MAX));
            if log.len() as u64 != summary.last_seq {
                return Err(WorkflowError::Malformed(format!(
                    "workflow instance {instance} records {} events but {} are stored",
                    summary.last_seq,
                    log.len()
                )));
            }
            let state = replay(&definition, &log)?;
            let mut next = state.clone();
            let mut events = Vec::new();
            for action in actions {
                let decided = decide(&definition, &next, action.clone(), actor, now, directory)?;
                for event in &decided {
                    next.apply(&definition, event)?;
                }
                events.extend(decided);
            }

            let updated = InstanceSummary {
                status: next.status,
                round: next.round,
                last_seq: next.last_seq,
                updated_at: next.updated_at,
                ..summary.clone()
            };
            let mut batch: Batch<'a> = Batch::new();
            batch.update(&INSTANCE, instance_row(&updated, row.version));
            self.add_events(&mut batch, instance, &events)?;
            self.add_tasks(&mut batch, &updated, &definition, Some(&state), &next)?;
            // The hook also hears of approvers' edits, so the bound record can follow them.
            if next.status != state.status
                || next.round != state.round
                || next.fields != state.fields
            {
                self.run_hook(&updated, Some(state.status), &next, &mut batch)?;
            }
            batch.ops.extend(host_ops.ops.iter().cloned());
            match self.store.commit(self.tenant, &batch) {
                Ok(()) => {
                    if next.status != state.status {
                        tracing::info!(
                            tenant = %self.tenant,
                            %instance,
                            status = %next.status,
                            "approval request status changed"
                        );
                    }
                    return Ok(Outcome {
                        instance,
                        previous: Some(state.status),
                        status: next.status,
                        events,
                        state: next,
                    });
                }
                Err(e) if e.kind() == StoreErrorKind::Conflict => {
                    tracing::debug!(%instance, attempt, "workflow action lost a race; retrying");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::conflict(format!(
            "workflow instance {instance}: gave up after {MAX_ATTEMPTS} concurrent changes"
        ))
        .into())
    }

    fn run_hook(
        &self,
        summary: &InstanceSummary,
        from: Option<Status>,
        state: &InstanceState,
        batch: &mut Batch<'a>,
    ) -> Result<(), WorkflowError> {
        let Some(hook) = self.hook else { return Ok(()) };
        let change = StatusChange {
            instance: summary.id,
            definition: &summary.definition,
            form: &summary.form,
            record: summary.record,
            from,
            to: state.status,
            state,
        };
        hook.status_changed(self.store, self.tenant, &change, batch)
    }

    fn add_events(
        &self,
        batch: &mut Batch<'a>,
        instance: RecordId,
        events: &[Event],
    ) -> Result<(), WorkflowError> {
        if events.is_empty() {
            return Ok(());
        }
        let first = self.allocate(&EVENT, events.len() as u64)?;
        for (offset, event) in events.iter().enumerate() {
            let payload = serde_json::to_value(&event.kind)
                .map_err(|e| WorkflowError::Malformed(e.to_string()))?;
            let mut record = Record::new(RecordId(first + offset as u64));
            record.set("instance", instance);
            record.set("seq", event.seq as i64);
            record.set("actor", event.actor);
            record.set("at", event.at);
            record.set("kind", event.kind.name());
            record.set("payload", Value::Json(payload));
            batch.insert(&EVENT, record);
        }
        Ok(())
    }

    /// Inserts rows for new tasks and updates the rows of tasks whose state changed.
    fn add_tasks(
        &self,
        batch: &mut Batch<'a>,
        summary: &InstanceSummary,
        definition: &ValidDefinition,
        before: Option<&InstanceState>,
        after: &InstanceState,
    ) -> Result<(), WorkflowError> {
        let old: &[Task] = before.map_or(&[], |s| s.tasks.as_slice());
        let changed: Vec<&Task> = after
            .tasks
            .iter()
            .zip(old)
            .filter(|(new, old)| new != old)
            .map(|(new, _)| new)
            .collect();
        if !changed.is_empty() {
            let query = Query::all().filter(Filter::Eq("instance".into(), Value::Ref(summary.id)));
            let rows = self.store.query(self.tenant, &TASK, &query)?.records;
            let by_number: BTreeMap<i64, &Record> = rows
                .iter()
                .filter_map(|r| match r.get("task") {
                    Value::Integer(n) => Some((*n, r)),
                    _ => None,
                })
                .collect();
            for task in changed {
                let Some(row) = by_number.get(&i64::from(task.id.0)) else {
                    return Err(WorkflowError::Malformed(format!(
                        "workflow instance {}: task {} has no stored row",
                        summary.id, task.id
                    )));
                };
                batch.update(&TASK, task_row(row.id, row.version, summary, definition, task));
            }
        }
        let new = after.tasks.get(old.len()..).unwrap_or_default();
        if !new.is_empty() {
            let first = self.allocate(&TASK, new.len() as u64)?;
            for (offset, task) in new.iter().enumerate() {
                let id = RecordId(first + offset as u64);
                batch.insert(&TASK, task_row(id, 0, summary, definition, task));
            }
        }
        Ok(())
    }

    fn summary(&self, id: RecordId) -> Result<(Record, InstanceSummary), WorkflowError> {
        let row = self
            .store
            .get(self.tenant, &INSTANCE, id)?
            .ok_or(WorkflowError::UnknownInstance { id })?;
        let summary = summary_of(&row)?;
        Ok((row, summary))
    }

    /// An instance with its definition and its state replayed from the log.
    pub fn instance(&self, id: RecordId) -> Result<Instance, WorkflowError> {
        let (_, summary) = self.summary(id)?;
        let definition = self.definition(&summary.definition, Some(summary.version))?;
        let mut log = self.history(id)?;
        log.truncate(usize::try_from(summary.last_seq).unwrap_or(usize::MAX));
        let state = replay(&definition, &log)?;
        Ok(Instance { summary, definition, state })
    }

    /// The instance's log in order.
    pub fn history(&self, id: RecordId) -> Result<Vec<Event>, WorkflowError> {
        let query = Query::all()
            .filter(Filter::Eq("instance".into(), Value::Ref(id)))
            .sort(Sort::asc("seq"));
        let page = self.store.query(self.tenant, &EVENT, &query)?;
        page.records.iter().map(event_of).collect()
    }

    /// The instances of one bound record, oldest first.
    pub fn instances_of_record(
        &self,
        form: &FormBinding,
        record: RecordId,
    ) -> Result<Vec<InstanceSummary>, WorkflowError> {
        let query = Query::all()
            .filter(Filter::Eq("record".into(), Value::Ref(record)))
            .sort(Sort::asc("submitted_at"));
        let page = self.store.query(self.tenant, &INSTANCE, &query)?;
        let mut found = Vec::with_capacity(page.records.len());
        for row in &page.records {
            let summary = summary_of(row)?;
            if summary.form == *form {
                found.push(summary);
            }
        }
        Ok(found)
    }

    /// A page of `user`'s open tasks, oldest first: one indexed equality lookup.
    pub fn todo(&self, user: RecordId, offset: u64, limit: u64) -> Result<TodoPage, WorkflowError> {
        let query = Query::all()
            .filter(Filter::Eq("open_assignee".into(), Value::Ref(user)))
            .sort(Sort::asc("since"))
            .page(offset, limit);
        self.todo_page(&query)
    }

    /// A page of the tasks `user` decided, most recent first.
    pub fn done(&self, user: RecordId, offset: u64, limit: u64) -> Result<TodoPage, WorkflowError> {
        let query = Query::all()
            .filter(Filter::Eq("done_by".into(), Value::Ref(user)))
            .sort(Sort::desc("closed_at"))
            .page(offset, limit);
        self.todo_page(&query)
    }

    /// How many tasks `user` has open, has decided, and has open for longer than `older_than`.
    pub fn todo_counts(
        &self,
        user: RecordId,
        now: DateTime<Utc>,
        older_than: Duration,
    ) -> Result<TodoCounts, WorkflowError> {
        // The user's open tasks are few: count the overdue ones among them rather than run
        // a range over every open task of the tenant.
        let open = Query::all().filter(Filter::Eq("open_assignee".into(), Value::Ref(user)));
        let open = self.store.query(self.tenant, &TASK, &open)?;
        let cutoff = stored_time(now - older_than);
        let overdue = open
            .records
            .iter()
            .filter(|row| matches!(row.get("open_since"), Value::Timestamp(t) if *t < cutoff))
            .count() as u64;
        let done = Query::all().filter(Filter::Eq("done_by".into(), Value::Ref(user))).page(0, 0);
        Ok(TodoCounts {
            open: open.total,
            done: self.store.query(self.tenant, &TASK, &done)?.total,
            overdue,
        })
    }

    /// Open tasks of every user open for longer than `older_than`, oldest first, at most
    /// `limit`: the reminders to send.
    ///
    /// FIXME: sent reminders are not recorded, so a host that polls gets the same task on
    /// every poll until it is decided; a `reminded_at` column would let it ask for new ones.
    pub fn overdue(
        &self,
        now: DateTime<Utc>,
        older_than: Duration,
        limit: u64,
    ) -> Result<TodoPage, WorkflowError> {
        let query = Query::all()
            .filter(before(now - older_than))
            .sort(Sort::asc("open_since"))
            .page(0, limit);
        self.todo_page(&query)
    }

    fn todo_page(&self, query: &Query) -> Result<TodoPage, WorkflowError> {
        let page = self.store.query(self.tenant, &TASK, query)?;
        let items = page.records.iter().map(todo_of).collect::<Result<_, _>>()?;
        Ok(TodoPage { items, total: page.total })
    }
}

/// Open tasks opened strictly before `cutoff`.
fn before(cutoff: DateTime<Utc>) -> Filter {
    let cutoff = stored_time(cutoff) - Duration::microseconds(1);
    Filter::Range { field: "open_since".into(), min: None, max: Some(Value::Timestamp(cutoff)) }
}

/// What `pending_key` holds while an instance of `record` is pending.
fn pending_key(form_key: &str, record: RecordId) -> String {
    format!("{form_key}/{record}")
}

fn instance_row(summary: &InstanceSummary, version: u64) -> Record {
    let mut record = Record::new(summary.id);
    record.version = version;
    record.set("definition", summary.definition.as_str());
    record.set("definition_version", i64::from(summary.version));
    record.set("form", summary.form.key());
    record.set("record", summary.record);
    record.set("submitter", summary.submitter);
    record.set("status", summary.status.as_str());
    if summary.status == Status::Pending {
        record.set("pending_key", pending_key(&summary.form.key(), summary.record));
    }
    record.set("round", i64::from(summary.round));
    record.set("last_seq", summary.last_seq as i64);
    record.set("submitted_at", summary.submitted_at);
    record.set("updated_at", summary.updated_at);
    record
}

fn task_row(
    id: RecordId,
    version: u64,
    summary: &InstanceSummary,
    definition: &ValidDefinition,
    task: &Task,
) -> Record {
    let mut record = Record::new(id);
    record.version = version;
    let label = definition.node(&task.node).map_or(task.node.as_str(), |n| n.display_label());
    let since = task.opened_at.unwrap_or(task.created_at);
    record.set("instance", summary.id);
    record.set("task", i64::from(task.id.0));
    record.set("node", task.node.as_str());
    record.set("node_label", label);
    record.set("definition", summary.definition.as_str());
    record.set("form", summary.form.key());
    record.set("record", summary.record);
    record.set("submitter", summary.submitter);
    record.set("assignee", task.assignee);
    record.set("status", task.status.as_str());
    if let TaskStatus::Reassigned { to } = task.status {
        record.set("replaced_by", i64::from(to.0));
    }
    if task.status == TaskStatus::Open {
        record.set("open_assignee", task.assignee);
        record.set("open_since", since);
    }
    if task.status.is_decided() {
        record.set("done_by", task.assignee);
    }
    record.set("since", since);
    if let Some(closed) = task.closed_at {
        record.set("closed_at", closed);
    }
    record
}

fn malformed(row: &Record, field: &str, reason: &str) -> WorkflowError {
    WorkflowError::Malformed(format!("row {} field {field}: {reason}", row.id))
}

fn text(row: &Record, field: &str) -> Result<String, WorkflowError> {
    row.get(field).as_text().map(str::to_owned).ok_or_else(|| malformed(row, field, "not text"))
}

fn int(row: &Record, field: &str) -> Result<i64, WorkflowError> {
    match row.get(field) {
        Value::Integer(n) => Ok(*n),
        _ => Err(malformed(row, field, "not an integer")),
    }
}

fn reference(row: &Record, field: &str) -> Result<RecordId, WorkflowError> {
    row.get(field).as_ref_id().ok_or_else(|| malformed(row, field, "not a reference"))
}

fn time(row: &Record, field: &str) -> Result<DateTime<Utc>, WorkflowError> {
    match row.get(field) {
        Value::Timestamp(t) => Ok(*t),
        _ => Err(malformed(row, field, "not a timestamp")),
    }
}

fn json(row: &Record, field: &str) -> Result<serde_json::Value, WorkflowError> {
    match row.get(field) {
        Value::Json(j) => Ok(j.clone()),
        _ => Err(malformed(row, field, "not JSON")),
    }
}

fn form(row: &Record) -> Result<FormBinding, WorkflowError> {
    let key = text(row, "form")?;
    FormBinding::from_key(&key).ok_or_else(|| malformed(row, "form", "not a form binding"))
}

fn summary_of(row: &Record) -> Result<InstanceSummary, WorkflowError> {
    let status = text(row, "status")?;
    Ok(InstanceSummary {
        id: row.id,
        definition: text(row, "definition")?,
        version: int(row, "definition_version")? as u32,
        form: form(row)?,
        record: reference(row, "record")?,
        submitter: reference(row, "submitter")?,
        status: Status::parse(&status).ok_or_else(|| malformed(row, "status", "unknown status"))?,
        round: int(row, "round")? as u32,
        last_seq: int(row, "last_seq")? as u64,
        submitted_at: time(row, "submitted_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn event_of(row: &Record) -> Result<Event, WorkflowError> {
    let kind: EventKind = serde_json::from_value(json(row, "payload")?)
        .map_err(|e| malformed(row, "payload", &e.to_string()))?;
    Ok(Event {
        seq: int(row, "seq")? as u64,
        actor: reference(row, "actor")?,
        at: time(row, "at")?,
        kind,
    })
}

fn todo_of(row: &Record) -> Result<TodoItem, WorkflowError> {
    let status = match text(row, "status")?.as_str() {
        "queued" => TaskStatus::Queued,
        "open" => TaskStatus::Open,
        "approved" => TaskStatus::Approved,
        "rejected" => TaskStatus::Rejected,
        "returned" => TaskStatus::Returned,
        "reassigned" => TaskStatus::Reassigned { to: TaskId(int(row, "replaced_by")? as u32) },
        "cancelled" => TaskStatus::Cancelled,
        _ => return Err(malformed(row, "status", "unknown task status")),
    };
    Ok(TodoItem {
        instance: reference(row, "instance")?,
        task: TaskId(int(row, "task")? as u32),
        definition: text(row, "definition")?,
        form: form(row)?,
        record: reference(row, "record")?,
        node: text(row, "node")?,
        node_label: text(row, "node_label")?,
        assignee: reference(row, "assignee")?,
        submitter: reference(row, "submitter")?,
        status,
        since: time(row, "since")?,
        closed_at: match row.get("closed_at") {
            Value::Timestamp(t) => Some(*t),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_valid_and_distinct() {
        let kinds: Vec<&str> = descriptions().iter().map(|d| d.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["workflow_definition", "workflow_instance", "workflow_event", "workflow_task"]
        );
        let task = &*TASK;
        assert!(task.field("open_assignee").is_some_and(|f| f.indexed));
        assert!(task.field("open_since").is_some_and(|f| f.indexed && f.sortable));
    }
}
