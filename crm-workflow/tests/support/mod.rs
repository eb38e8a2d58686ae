//! Test support shared by the integration tests: a small in-memory `Store` (this crate must
//! not depend on crm-storage, which depends on it), an organisation, the quote form's fields,
//! and a harness that runs one instance through the pure engine.

#![allow(dead_code, reason = "each test target uses a different part of the support")]
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};

use chrono::{DateTime, Duration, TimeZone, Utc};
use crm_domain::{
    Batch, EntityDesc, FieldType, Op, Page, Query, Record, RecordId, Store, StoreError,
    StoreErrorKind, TenantId, Value,
};
use crm_workflow::{
    decide, replay, submit, Action, ActionError, Actor, Definition, Event, FormField,
    InstanceState, MemoryDirectory, TaskId, TaskStatus, ValidDefinition,
};

/// Records of one tenant: kind → id → record.
type Tables = HashMap<String, BTreeMap<RecordId, Record>>;

/// A store in process memory. Each commit applies its batch to a copy of the tenant's
/// tables and swaps the copy in only when every operation succeeded.
#[derive(Default)]
pub struct MemStore {
    state: Mutex<MemState>,
    /// When set, the first two `get`s of this kind wait for each other, so two threads are
    /// sure to read the same version before either commits.
    gate: Option<(String, Arc<Barrier>, AtomicU64)>,
    /// How many commits failed with a conflict.
    pub conflicts: AtomicU64,
}

#[derive(Default)]
struct MemState {
    registered: HashMap<String, EntityDesc>,
    tenants: HashMap<TenantId, Tables>,
    sequences: HashMap<(TenantId, String), u64>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose first two reads of `kind` meet at a barrier.
    pub fn gated(kind: &str) -> Self {
        Self {
            gate: Some((kind.to_owned(), Arc::new(Barrier::new(2)), AtomicU64::new(0))),
            ..Self::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every record of `kind` in `tenant`.
    pub fn all(&self, tenant: &TenantId, kind: &str) -> Vec<Record> {
        let state = self.lock();
        state
            .tenants
            .get(tenant)
            .and_then(|t| t.get(kind))
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default()
    }
}

fn version_check(
    desc: &EntityDesc,
    id: RecordId,
    expected: u64,
    stored: Option<&Record>,
) -> Result<(), StoreError> {
    match stored {
        Some(record) if record.version == expected => Ok(()),
        _ => Err(StoreError::conflict(format!("{} {id}: not at version {expected}", desc.kind))),
    }
}

fn normalized(record: &Record, version: u64) -> Record {
    let mut record = record.clone();
    record.version = version;
    record.fields.retain(|_, v| !v.is_null());
    record
}

impl Store for MemStore {
    fn backend(&self) -> &'static str {
        "test-memory"
    }

    fn register(&self, desc: &EntityDesc) -> Result<(), StoreError> {
        self.lock().registered.insert(desc.kind.clone(), desc.clone());
        Ok(())
    }

    fn get(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        id: RecordId,
    ) -> Result<Option<Record>, StoreError> {
        let found = {
            let state = self.lock();
            if !state.registered.contains_key(&desc.kind) {
                return Err(StoreError::not_found(format!("{} is not registered", desc.kind)));
            }
            state
                .tenants
                .get(tenant)
                .and_then(|t| t.get(&desc.kind))
                .and_then(|t| t.get(&id))
                .cloned()
        };
        if let Some((kind, barrier, count)) = &self.gate {
            if *kind == desc.kind && count.fetch_add(1, Ordering::SeqCst) < 2 {
                barrier.wait();
            }
        }
        Ok(found)
    }

    fn query(
        &self,
        tenant: &TenantId,
        desc: &EntityDesc,
        query: &Query,
    ) -> Result<Page, StoreError> {
        query.validate(desc)?;
        let state = self.lock();
        if !state.registered.contains_key(&desc.kind) {
            return Err(StoreError::not_found(format!("{} is not registered", desc.kind)));
        }
        let records = state.tenants.get(tenant).and_then(|t| t.get(&desc.kind));
        let (records, total) = query.apply(records.into_iter().flat_map(|t| t.values().cloned()));
        Ok(Page { records, total })
    }

    fn commit(&self, tenant: &TenantId, batch: &Batch<'_>) -> Result<(), StoreError> {
        let mut state = self.lock();
        let mut tables = state.tenants.get(tenant).cloned().unwrap_or_default();
        for op in &batch.ops {
            let result = match op {
                Op::Insert(desc, record) => {
                    record
                        .check(desc)
                        .map_err(|e| StoreError::new(StoreErrorKind::Constraint, e.to_string()))?;
                    let table = tables.entry(desc.kind.clone()).or_default();
                    match table.entry(record.id) {
                        Entry::Occupied(_) => {
                            Err(StoreError::conflict(format!("{} {} exists", desc.kind, record.id)))
                        }
                        Entry::Vacant(slot) => {
                            slot.insert(normalized(record, 1));
                            Ok(())
                        }
                    }
                }
                Op::Update(desc, record) => {
                    record
                        .check(desc)
                        .map_err(|e| StoreError::new(StoreErrorKind::Constraint, e.to_string()))?;
                    let table = tables.entry(desc.kind.clone()).or_default();
                    version_check(desc, record.id, record.version, table.get(&record.id)).map(
                        |()| {
                            table.insert(record.id, normalized(record, record.version + 1));
                        },
                    )
                }
                Op::Delete(desc, id, version) => {
                    let table = tables.entry(desc.kind.clone()).or_default();
                    version_check(desc, *id, *version, table.get(id)).map(|()| {
                        table.remove(id);
                    })
                }
                Op::Check(desc, id, version) => {
                    let table = tables.entry(desc.kind.clone()).or_default();
                    version_check(desc, *id, *version, table.get(id))
                }
                Op::Exists(desc, id) => match tables.get(&desc.kind).and_then(|t| t.get(id)) {
                    Some(_) => Ok(()),
                    None => Err(StoreError::conflict(format!("{} {id} is missing", desc.kind))),
                },
                Op::NoneMatch(desc, filters) => {
                    let query = Query { filters: filters.clone(), ..Query::default() };
                    query.validate(desc)?;
                    let table = tables.entry(desc.kind.clone()).or_default();
                    if table.values().any(|r| query.matches(r)) {
                        Err(StoreError::new(
                            StoreErrorKind::Constraint,
                            format!("a {} matches", desc.kind),
                        ))
                    } else {
                        Ok(())
                    }
                }
            };
            if let Err(error) = result {
                if error.kind() == StoreErrorKind::Conflict {
                    self.conflicts.fetch_add(1, Ordering::SeqCst);
                }
                return Err(error);
            }
        }
        state.tenants.insert(tenant.clone(), tables);
        Ok(())
    }

    fn next_in_sequence(
        &self,
        tenant: &TenantId,
        sequence: &str,
        count: u64,
    ) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let last = state.sequences.entry((tenant.clone(), sequence.to_owned())).or_insert(0);
        let first = *last + 1;
        *last += count;
        Ok(first)
    }
}

pub fn id(n: u64) -> RecordId {
    RecordId(n)
}

/// Minutes after a fixed instant, so tests never read the clock.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap() + Duration::minutes(minutes)
}

/// The quote form's fields.
pub fn quote_fields() -> Vec<FormField> {
    vec![
        FormField::new("customer", FieldType::Ref),
        FormField::new("amount", FieldType::Decimal),
        FormField::new("discount", FieldType::Decimal),
        FormField::new("note", FieldType::Text),
    ]
}

pub fn decimal(text: &str) -> Value {
    Value::Decimal(text.parse().unwrap())
}

/// A quote's field values.
pub fn quote(amount: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("customer".to_owned(), Value::Ref(id(9000))),
        ("amount".to_owned(), decimal(amount)),
        ("discount".to_owned(), decimal("0.05")),
    ])
}

/// Units: head office 1 (manager 100) > sales 2 (manager 200) > team 3 (manager 300).
/// Users: 1 fallback admin, 7 legal, 100, 101 and 102 (finance, head office), 200, 300,
/// 301 and 302 (team members; 301's supervisor is 300, 302's is 200), 400 (sales assistant).
pub fn org() -> MemoryDirectory {
    MemoryDirectory::new()
        .unit(id(1), None, Some(id(100)))
        .unit(id(2), Some(id(1)), Some(id(200)))
        .unit(id(3), Some(id(2)), Some(id(300)))
        .user(id(1), id(1))
        .user(id(7), id(1))
        .user(id(100), id(1))
        .user(id(101), id(1))
        .user(id(102), id(1))
        .user(id(200), id(2))
        .user(id(300), id(3))
        .user(id(301), id(3))
        .user(id(302), id(3))
        .user(id(400), id(2))
        .supervisor(id(301), id(300))
        .supervisor(id(302), id(200))
        .position("finance", id(101), id(1))
        .position("finance", id(102), id(1))
        .position("sales_assistant", id(400), id(2))
}

/// A definition from TOML, validated against the quote form.
pub fn definition(text: &str) -> ValidDefinition {
    Definition::from_toml(text).unwrap().validate(&quote_fields()).unwrap()
}

/// One instance driven through the pure engine: its log, and a clock that advances a
/// minute per action.
pub struct Run {
    pub definition: ValidDefinition,
    pub events: Vec<Event>,
    pub directory: MemoryDirectory,
    pub clock: i64,
}

impl Run {
    pub fn submit(
        definition: &ValidDefinition,
        submitter: u64,
        fields: BTreeMap<String, Value>,
        directory: MemoryDirectory,
    ) -> Result<Run, ActionError> {
        let events = submit(definition, id(submitter), fields, at(0), &directory)?;
        Ok(Run { definition: definition.clone(), events, directory, clock: 0 })
    }

    pub fn state(&self) -> InstanceState {
        replay(&self.definition, &self.events).unwrap()
    }

    pub fn act_as(&mut self, actor: Actor, action: Action) -> Result<Vec<Event>, ActionError> {
        let state = self.state();
        self.clock += 1;
        let events =
            decide(&self.definition, &state, action, actor, at(self.clock), &self.directory)?;
        self.events.extend(events.iter().cloned());
        Ok(events)
    }

    pub fn act(&mut self, user: u64, action: Action) -> Result<Vec<Event>, ActionError> {
        self.act_as(Actor::user(id(user)), action)
    }

    /// The open task of `user`; panics when there is none or several.
    pub fn task_of(&self, user: u64) -> TaskId {
        let state = self.state();
        let open: Vec<TaskId> = state.open_tasks_of(id(user)).map(|t| t.id).collect();
        assert_eq!(open.len(), 1, "user {user} should hold one open task: {:?}", state.tasks);
        open[0]
    }

    pub fn approve(&mut self, user: u64) -> Result<Vec<Event>, ActionError> {
        let task = self.task_of(user);
        self.act(user, Action::approve(task))
    }

    /// Who holds an open task now, in task order.
    pub fn open_assignees(&self) -> Vec<u64> {
        self.state().open_tasks().map(|t| t.assignee.0).collect()
    }

    /// The statuses of every task, in order.
    pub fn task_statuses(&self) -> Vec<(u64, TaskStatus)> {
        self.state().tasks.iter().map(|t| (t.assignee.0, t.status)).collect()
    }
}
