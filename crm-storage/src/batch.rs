//! Batch evaluation shared by the in-process stores (memory and sled).
//!
//! A batch is judged as a whole before anything is written: every operation is checked
//! against the stored state as changed by the batch's earlier operations (an overlay), and
//! the result is the list of record changes to apply. A store applies that list in one
//! atomic step, or nothing at all when evaluation fails, so a failing last operation leaves
//! no trace of the earlier ones.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crm_domain::{
    Batch, EntityDesc, FieldDesc, FieldOrder, Filter, Op, Query, Record, RecordId, StoreError,
    Value,
};

/// What evaluation needs to read from the state before the batch.
pub(crate) trait StoredState {
    /// The stored record `id` of `desc`'s kind.
    fn stored(&self, desc: &EntityDesc, id: RecordId) -> Result<Option<Record>, StoreError>;

    /// The ids of the stored records of `desc`'s kind that match every filter.
    fn stored_matching(
        &self,
        desc: &EntityDesc,
        filters: &[Filter],
    ) -> Result<Vec<RecordId>, StoreError>;

    /// The ids of the stored records of `desc`'s kind from `first` to `last` (inclusive), when
    /// one range read finds them more cheaply than a read per id; `None` otherwise, and the
    /// ids are then read one by one.
    fn stored_ids_between(
        &self,
        _desc: &EntityDesc,
        _first: RecordId,
        _last: RecordId,
    ) -> Result<Option<Vec<RecordId>>, StoreError> {
        Ok(None)
    }
}

/// Inserted ids that are known not to be stored, found with one range read per kind instead
/// of one read per insert. Bulk creates allocate their ids in runs, so the ranges are dense.
#[derive(Default)]
struct KnownAbsent<'a> {
    /// Per kind: the range read, and the ids found stored inside it.
    ranges: HashMap<&'a str, (RecordId, RecordId, HashSet<RecordId>)>,
}

impl<'a> KnownAbsent<'a> {
    /// Inserts of one kind spread wider than this many ids per insert are read one by one.
    const MAX_SPREAD: u64 = 4;

    /// Reads the range of every kind that several inserts of `batch` name.
    fn read(state: &impl StoredState, batch: &Batch<'a>) -> Result<Self, StoreError> {
        let mut spans: HashMap<&'a str, (&'a EntityDesc, RecordId, RecordId, u64)> = HashMap::new();
        for op in &batch.ops {
            if let Op::Insert(desc, record) = op {
                let span =
                    spans.entry(desc.kind.as_str()).or_insert((desc, record.id, record.id, 0));
                span.1 = span.1.min(record.id);
                span.2 = span.2.max(record.id);
                span.3 += 1;
            }
        }
        let mut known = Self::default();
        for (kind, (desc, first, last, count)) in spans {
            let width = last.0 - first.0 + 1;
            if count < 2 || width > count.saturating_mul(Self::MAX_SPREAD) {
                continue;
            }
            if let Some(stored) = state.stored_ids_between(desc, first, last)? {
                known.ranges.insert(kind, (first, last, stored.into_iter().collect()));
            }
        }
        Ok(known)
    }

    /// Whether record `id` of `kind` is certainly not stored.
    fn contains(&self, kind: &str, id: RecordId) -> bool {
        self.ranges.get(kind).is_some_and(|(first, last, stored)| {
            (*first..=*last).contains(&id) && !stored.contains(&id)
        })
    }
}

/// Where each record the batch names has its slot, by kind and id.
type SlotIndex<'a> = HashMap<(&'a str, RecordId), usize, BuildHasherDefault<KeyHasher>>;

/// A quick hash for slot keys: kind names and record ids come from the engine's descriptions
/// and allocated ids, not from what a user types, so the hash need not resist chosen keys,
/// and a bulk insert hashes thousands of them.
#[derive(Default)]
struct KeyHasher(u64);

impl KeyHasher {
    const FACTOR: u64 = 0x517c_c1b7_2722_0a95;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::FACTOR);
    }
}

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        for byte in chunks.remainder() {
            self.mix(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
}

/// The net effect of a batch on one record.
#[derive(Debug)]
pub(crate) struct Change<'a> {
    /// The description the batch named the record with.
    pub desc: &'a EntityDesc,
    /// The record id.
    pub id: RecordId,
    /// The stored record before the batch.
    pub before: Option<Record>,
    /// The record after the batch; `None` when it is absent afterwards. An inserted record
    /// that already is in stored form is borrowed from the batch rather than copied.
    pub after: Option<Cow<'a, Record>>,
}

/// One record the batch touched, with whether any write (not only a check) named it.
struct Slot<'a> {
    change: Change<'a>,
    written: bool,
}

/// Checks every operation of `batch` in order and returns the record changes to apply.
/// Nothing is written; an error names the first operation that failed.
pub(crate) fn evaluate<'a>(
    state: &impl StoredState,
    batch: &'a Batch<'_>,
) -> Result<Vec<Change<'a>>, StoreError> {
    let mut slots: Vec<Slot<'a>> = Vec::with_capacity(batch.ops.len());
    let mut by_key = SlotIndex::with_capacity_and_hasher(batch.ops.len(), Default::default());
    let absent = KnownAbsent::read(state, batch)?;
    let mut orders = FieldOrders::default();

    for op in &batch.ops {
        match op {
            Op::Insert(desc, record) => {
                orders.check(desc, record)?;
                let slot = if absent.contains(&desc.kind, record.id) {
                    new_slot(&mut slots, &mut by_key, desc, record.id, None)?
                } else {
                    slot(state, &mut slots, &mut by_key, desc, record.id)?
                };
                if slot.change.after.is_some() {
                    return Err(StoreError::conflict(format!(
                        "{} {} already exists",
                        desc.kind, record.id
                    )));
                }
                slot.change.after = Some(inserted(record));
                slot.written = true;
            }
            Op::Update(desc, record) => {
                orders.check(desc, record)?;
                let slot = slot(state, &mut slots, &mut by_key, desc, record.id)?;
                expect_version(desc, record.id, record.version, slot.change.after.as_deref())?;
                let mut stored = normalized(record);
                stored.version = record.version.checked_add(1).ok_or_else(|| {
                    StoreError::new(
                        crm_domain::StoreErrorKind::Constraint,
                        format!("{} {}: version overflow", desc.kind, record.id),
                    )
                })?;
                slot.change.after = Some(Cow::Owned(stored));
                slot.written = true;
            }
            Op::Delete(desc, id, version) => {
                let slot = slot(state, &mut slots, &mut by_key, desc, *id)?;
                expect_version(desc, *id, *version, slot.change.after.as_deref())?;
                slot.change.after = None;
                slot.written = true;
            }
            Op::Check(desc, id, version) => {
                let slot = slot(state, &mut slots, &mut by_key, desc, *id)?;
                expect_version(desc, *id, *version, slot.change.after.as_deref())?;
            }
            Op::Exists(desc, id) => {
                let slot = slot(state, &mut slots, &mut by_key, desc, *id)?;
                if slot.change.after.is_none() {
                    return Err(StoreError::conflict(format!(
                        "{} {id} is not stored: another writer removed it",
                        desc.kind
                    )));
                }
            }
            Op::NoneMatch(desc, filters) => {
                let query = Query { filters: filters.clone(), ..Query::default() };
                query.validate(desc)?;
                let kind = desc.kind.as_str();
                let stored = state.stored_matching(desc, filters)?;
                let mut found = stored.into_iter().find(|id| !by_key.contains_key(&(kind, *id)));
                if found.is_none() {
                    found = slots
                        .iter()
                        .filter(|s| s.change.desc.kind == kind)
                        .filter_map(|s| s.change.after.as_deref())
                        .find(|record| query.matches(record))
                        .map(|record| record.id);
                }
                if let Some(id) = found {
                    return Err(constraint(format!(
                        "{kind} {id} matches a filter the batch requires to match nothing"
                    )));
                }
            }
        }
    }

    check_unique(state, &slots, &by_key)?;
    Ok(slots
        .into_iter()
        .filter(|s| s.written && (s.change.before.is_some() || s.change.after.is_some()))
        .map(|s| s.change)
        .collect())
}

/// Refuses a batch that would leave two records of a kind holding one value of a unique
/// field: two records the batch names, or one it writes and a stored one it leaves alone.
fn check_unique(
    state: &impl StoredState,
    slots: &[Slot<'_>],
    by_key: &SlotIndex<'_>,
) -> Result<(), StoreError> {
    // One description per kind whose records the batch writes and that has unique fields.
    let mut kinds: Vec<&EntityDesc> = Vec::new();
    for slot in slots.iter().filter(|s| s.written && s.change.after.is_some()) {
        let desc = slot.change.desc;
        if desc.fields.iter().any(|f| f.unique) && !kinds.iter().any(|d| d.kind == desc.kind) {
            kinds.push(desc);
        }
    }
    for desc in kinds {
        let kind = desc.kind.as_str();
        let of_kind = || slots.iter().filter(move |s| s.change.desc.kind == kind);
        for field in desc.fields.iter().filter(|f| f.unique) {
            // Every record the batch names, as it will be stored, and whether the batch gives
            // it the value. Only a value given makes a pair: two records that held one value
            // before the field became unique may still be changed otherwise.
            let mut held: Vec<(&Value, RecordId, bool)> = of_kind()
                .filter_map(|s| held_value(s, &field.name).map(|(v, id)| (v, id, gives(s, field))))
                .collect();
            held.sort_by(|a, b| a.0.sort_cmp(b.0).then(a.1.cmp(&b.1)));
            let pair = held.windows(2).find(|p| p[0].0 == p[1].0 && (p[0].2 || p[1].2));
            if let Some(pair) = pair {
                let (writer, holder) =
                    if pair[1].2 { (pair[1], pair[0]) } else { (pair[0], pair[1]) };
                return Err(taken(kind, &field.name, writer.0, writer.1, holder.1));
            }
            // The values the batch gives, against the stored records it does not name.
            let written: Vec<(Value, RecordId)> = of_kind()
                .filter(|s| gives(s, field))
                .filter_map(|s| held_value(s, &field.name))
                .map(|(value, id)| (value.clone(), id))
                .collect();
            if written.is_empty() {
                continue;
            }
            let values = written.iter().map(|(value, _)| value.clone()).collect();
            let filters = [Filter::In(field.name.clone(), values)];
            let stored = state.stored_matching(desc, &filters)?;
            if let Some(holder) = stored.into_iter().find(|id| !by_key.contains_key(&(kind, *id))) {
                let record = state.stored(desc, holder)?;
                let value = record.as_ref().and_then(|r| r.fields.get(field.name.as_str()));
                if let Some((value, writer)) =
                    value.and_then(|value| written.iter().find(|(v, _)| v == value))
                {
                    return Err(taken(kind, &field.name, value, *writer, holder));
                }
                // The holder's value equals a written one by the filter, if not by `==`.
                return Err(constraint(format!(
                    "{kind}.{} must be unique: {kind} {holder} already holds a value written",
                    field.name
                )));
            }
        }
    }
    Ok(())
}

/// Whether the batch writes the slot's record with a value of `field` it did not hold.
fn gives(slot: &Slot<'_>, field: &FieldDesc) -> bool {
    let after = slot.change.after.as_deref().and_then(|r| r.fields.get(field.name.as_str()));
    let before = slot.change.before.as_ref().and_then(|r| r.fields.get(field.name.as_str()));
    slot.written && after != before
}

/// The value of `field` a slot's record will hold, unless it holds none.
fn held_value<'s>(slot: &'s Slot<'_>, field: &str) -> Option<(&'s Value, RecordId)> {
    let record = slot.change.after.as_deref()?;
    let value = record.fields.get(field).filter(|v| !v.is_null())?;
    Some((value, record.id))
}

/// The error of record `writer` given `value` of unique `field`, which `holder` holds.
fn taken(kind: &str, field: &str, value: &Value, writer: RecordId, holder: RecordId) -> StoreError {
    constraint(format!(
        "{kind} {writer}: {field} {:?} is already held by {kind} {holder}; it must be unique",
        value.display()
    ))
}

fn slot<'s, 'a>(
    state: &impl StoredState,
    slots: &'s mut Vec<Slot<'a>>,
    by_key: &mut SlotIndex<'a>,
    desc: &'a EntityDesc,
    id: RecordId,
) -> Result<&'s mut Slot<'a>, StoreError> {
    let at = match by_key.get(&(desc.kind.as_str(), id)) {
        Some(at) => *at,
        None => {
            let stored = state.stored(desc, id)?;
            return new_slot(slots, by_key, desc, id, stored);
        }
    };
    slots.get_mut(at).ok_or_else(|| StoreError::corrupt("batch evaluation lost a record"))
}

/// The slot of a record the batch has not named before, holding `stored`; a record named
/// earlier keeps its slot.
fn new_slot<'s, 'a>(
    slots: &'s mut Vec<Slot<'a>>,
    by_key: &mut SlotIndex<'a>,
    desc: &'a EntityDesc,
    id: RecordId,
    stored: Option<Record>,
) -> Result<&'s mut Slot<'a>, StoreError> {
    let at = *by_key.entry((desc.kind.as_str(), id)).or_insert_with(|| {
        slots.push(Slot {
            change: Change { desc, id, before: stored.clone(), after: stored.map(Cow::Owned) },
            written: false,
        });
        slots.len() - 1
    });
    slots.get_mut(at).ok_or_else(|| StoreError::corrupt("batch evaluation lost a record"))
}

fn expect_version(
    desc: &EntityDesc,
    id: RecordId,
    expected: u64,
    current: Option<&Record>,
) -> Result<(), StoreError> {
    match current {
        Some(record) if record.version == expected => Ok(()),
        Some(record) => Err(StoreError::conflict(format!(
            "{} {id} is at version {}, not {expected}: another writer changed it",
            desc.kind, record.version
        ))),
        None => Err(StoreError::conflict(format!(
            "{} {id} is not stored (expected version {expected})",
            desc.kind
        ))),
    }
}

/// The field orders of the descriptions a batch writes, each made once.
#[derive(Default)]
struct FieldOrders<'d> {
    orders: Vec<FieldOrder<'d>>,
}

impl<'d> FieldOrders<'d> {
    /// Checks `record` against `desc` (see [`Record::check`]).
    fn check(&mut self, desc: &'d EntityDesc, record: &Record) -> Result<(), StoreError> {
        let at = match self.orders.iter().position(|o| std::ptr::eq(o.desc(), desc)) {
            Some(at) => at,
            None => {
                self.orders.push(FieldOrder::new(desc));
                self.orders.len() - 1
            }
        };
        self.orders[at]
            .check(record)
            .map_err(|e| constraint(format!("{} {}: {e}", desc.kind, record.id)))
    }
}

fn constraint(message: String) -> StoreError {
    StoreError::new(crm_domain::StoreErrorKind::Constraint, message)
}

/// An inserted record as stores keep it, at version 1: borrowed when it already is (callers
/// that insert in bulk build records that way), a normalised copy otherwise.
fn inserted(record: &Record) -> Cow<'_, Record> {
    let has_null = record.fields.values().chain(record.custom.values()).any(Value::is_null);
    if record.version == 1 && !has_null {
        return Cow::Borrowed(record);
    }
    let mut stored = normalized(record);
    stored.version = 1;
    Cow::Owned(stored)
}

/// The record as stores keep it: `Null` values are not kept, a missing field reads as
/// `Null` anyway.
pub(crate) fn normalized(record: &Record) -> Record {
    let mut record = record.clone();
    record.fields.retain(|_, value| !value.is_null());
    record.custom.retain(|_, value| !value.is_null());
    record
}
