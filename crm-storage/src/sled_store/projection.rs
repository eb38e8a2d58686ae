//! In-memory projections and indexes of the sled store: the searchable and sortable field
//! values of every record of a (tenant, kind), so fuzzy search and sorted lists do not
//! decode records, and the secondary index of every indexed field.
//!
//! A projection is built lazily by one scan the first time a query or a `NoneMatch`
//! precondition needs it, then kept current by every commit while the commit holds the
//! cache's write lock, the same lock under which the commit writes to sled. Queries hold
//! the read lock for their whole run, so the projection, the indexes and the stored records
//! they read always agree. A projection is current only for the projected and indexed
//! fields it was built for ([`Projection::fits`]); registering a kind drops its projections.
//!
//! Rows live in slots of a slab. The text of every searchable column is also kept in one
//! contiguous buffer per column, slot after slot, each text followed by a NUL byte, so a
//! fuzzy search is a single substring scan over one buffer instead of one per record. A
//! changed record gets a new slot at the end and its old slot dies; when dead slots
//! outnumber live ones the projection is compacted back into id order.
//!
//! Every sortable text column also keeps the [`Value::sort_prefix`] of each slot's value in
//! one array, so sorting many rows compares integers that sit side by side and reads the
//! texts only when two prefixes tie. Other types gain little from a prefix (it holds only
//! their type), so their sorts compare the values.
//!
//! Every indexed field has a [`FieldIndex`]: an ordered map from the
//! [`codec::encode_value`] bytes of each value held (inline when short) to the ids holding
//! it (one id inline, several in a set), so a unique field costs one map entry per record
//! and a field with few values little more than its ids. Unset values have no entry.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use crm_domain::{EntityDesc, FieldType, Record, RecordId, StoreError, TenantId, Value};

use crate::batch::Change;
use crate::codec;

/// The byte after every text in a search buffer. A hit that runs over it is not a match of
/// the text it starts in, which the search checks, so texts holding it stay correct.
const END_OF_TEXT: u8 = 0;

/// Dead slots tolerated before a compaction is considered at all.
const MIN_DEAD_FOR_COMPACTION: usize = 1024;

/// Rows found by a search, and whether they come in id order.
pub(super) type Found = (Vec<Row>, bool);

/// A live row of a projection: the record id and the slot holding its values. Plans carry
/// these small handles and read a row's values ([`Projection::values_of`]) or sort prefixes
/// ([`Projection::sort_prefixes`]) only when a filter or a sort needs them. A handle is
/// valid while the projection is not changed, which the cache's read lock guarantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Row {
    /// The record.
    pub id: RecordId,
    /// Its slot.
    pub slot: usize,
}

/// One live row: the record id and its projected values in column order.
#[derive(Debug)]
struct Slot {
    id: RecordId,
    row: Box<[Value]>,
}

/// The texts of one searchable column, slot by slot, in one buffer.
#[derive(Debug)]
struct SearchTexts {
    /// The column the texts come from.
    column: usize,
    /// Every slot's text (empty when the value is not text) followed by [`END_OF_TEXT`].
    buffer: Vec<u8>,
    /// Where each slot's text starts in `buffer`; one entry per slot.
    starts: Vec<usize>,
}

impl SearchTexts {
    fn push(&mut self, value: Option<&Value>) {
        self.starts.push(self.buffer.len());
        if let Some(text) = value.and_then(Value::as_text) {
            self.buffer.extend_from_slice(text.as_bytes());
        }
        self.buffer.push(END_OF_TEXT);
    }

    /// The end (exclusive, before [`END_OF_TEXT`]) of slot `slot`'s text.
    fn end_of(&self, slot: usize) -> usize {
        self.starts.get(slot + 1).map_or(self.buffer.len(), |next| *next) - 1
    }

    /// The slot whose text (or end byte) holds byte `at`, for an `at` at or after the start
    /// of slot `from`. Gallops forward from `from` before halving, so a hit in the next few
    /// slots (the common case of a broad term) costs a few steps, not a search of them all.
    fn slot_at(&self, from: usize, at: usize) -> usize {
        debug_assert!(self.starts.get(from).is_some_and(|start| *start <= at));
        let mut low = from;
        let mut step = 1;
        while self.starts.get(low + step).is_some_and(|start| *start <= at) {
            low += step;
            step *= 2;
        }
        // Slot `low` starts at or before `at`; slot `low + step`, if any, after it.
        let window = self.starts.get(low + 1..(low + step).min(self.starts.len()));
        low + window.unwrap_or_default().partition_point(|start| *start <= at)
    }
}

/// The sort prefixes of one sortable text column, one per slot.
#[derive(Debug)]
struct SortPrefixes {
    /// The column the values come from.
    column: usize,
    /// [`Value::sort_prefix`] of every slot's value (of `Null` when the column is missing).
    prefixes: Vec<u64>,
}

impl SortPrefixes {
    fn push(&mut self, value: Option<&Value>) {
        self.prefixes.push(value.unwrap_or(&Value::Null).sort_prefix());
    }
}

/// Encoded values up to this many bytes are kept inline in the index, without an allocation
/// of their own: codes, references, numbers, dates and timestamps.
const INLINE_VALUE: usize = 22;

/// One encoded value as an index keeps it: inline when short, on the heap otherwise. Orders,
/// compares and borrows as its bytes.
enum Encoded {
    /// The length and the bytes, zero-padded.
    Inline(u8, [u8; INLINE_VALUE]),
    Heap(Box<[u8]>),
}

impl Encoded {
    fn new(bytes: &[u8]) -> Self {
        let mut inline = [0; INLINE_VALUE];
        match (inline.get_mut(..bytes.len()), u8::try_from(bytes.len())) {
            (Some(head), Ok(len)) => {
                head.copy_from_slice(bytes);
                Encoded::Inline(len, inline)
            }
            _ => Encoded::Heap(bytes.into()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Encoded::Inline(len, bytes) => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Encoded::Heap(bytes) => bytes,
        }
    }
}

impl Borrow<[u8]> for Encoded {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

impl PartialEq for Encoded {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Encoded {}

impl PartialOrd for Encoded {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Encoded {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bytes().cmp(other.bytes())
    }
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.bytes())
    }
}

/// The ids of the records holding one value of an indexed field. Most values of a
/// unique or nearly unique field (numbers, codes, logins) belong to one record, which needs
/// no set of its own.
#[derive(Debug)]
enum Ids {
    One(RecordId),
    Many(BTreeSet<RecordId>),
}

impl Ids {
    fn contains(&self, id: RecordId) -> bool {
        match self {
            Ids::One(one) => *one == id,
            Ids::Many(ids) => ids.contains(&id),
        }
    }

    fn insert(&mut self, id: RecordId) {
        match self {
            Ids::One(one) if *one == id => {}
            Ids::One(one) => *self = Ids::Many(BTreeSet::from([*one, id])),
            Ids::Many(ids) => {
                ids.insert(id);
            }
        }
    }

    /// Drops `id`; the caller drops the value once [`Ids::is_empty`] says none is left.
    fn remove(&mut self, id: RecordId) {
        match self {
            Ids::One(one) if *one == id => *self = Ids::Many(BTreeSet::new()),
            Ids::One(_) => {}
            Ids::Many(ids) => {
                ids.remove(&id);
            }
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Ids::Many(ids) if ids.is_empty())
    }

    fn iter(&self) -> impl Iterator<Item = RecordId> + '_ {
        let (one, many) = match self {
            Ids::One(id) => (Some(*id), None),
            Ids::Many(ids) => (None, Some(ids.iter().copied())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

/// The in-memory index of one indexed field: every record holding a value (unset fields
/// have no entry) under the [`codec::encode_value`] bytes of that value. Byte order is the
/// order of [`Value::sort_cmp`] and equal values encode alike, so equality is one lookup
/// and prefix and range filters are one ordered walk.
#[derive(Debug)]
pub(super) struct FieldIndex {
    /// The indexed field.
    field: String,
    /// Encoded value to the records holding it.
    entries: BTreeMap<Encoded, Ids>,
}

impl FieldIndex {
    fn new(field: &str) -> Self {
        Self { field: field.to_owned(), entries: BTreeMap::new() }
    }

    /// Adds the entry of record `id` holding the encoded `value`.
    pub(super) fn insert(&mut self, value: &[u8], id: RecordId) {
        match self.entries.get_mut(value) {
            Some(ids) => ids.insert(id),
            None => {
                self.entries.insert(Encoded::new(value), Ids::One(id));
            }
        }
    }

    /// Drops the entry of record `id` holding the encoded `value`.
    pub(super) fn remove(&mut self, value: &[u8], id: RecordId) {
        let Some(ids) = self.entries.get_mut(value) else { return };
        ids.remove(id);
        if ids.is_empty() {
            self.entries.remove(value);
        }
    }

    /// The indexed field.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Whether record `id` has an entry for the encoded `value`.
    pub fn contains(&self, value: &[u8], id: RecordId) -> bool {
        self.entries.get(value).is_some_and(|ids| ids.contains(id))
    }

    /// Appends the ids holding exactly the encoded `value`.
    pub fn equal(&self, value: &[u8], out: &mut Vec<RecordId>) {
        if let Some(ids) = self.entries.get(value) {
            out.extend(ids.iter());
        }
    }

    /// Appends the ids of every value from the encoded `start` on, for as long as `more`
    /// holds of the values, in value order.
    pub fn walk(&self, start: &[u8], more: impl Fn(&[u8]) -> bool, out: &mut Vec<RecordId>) {
        let range = self.entries.range::<[u8], _>((Bound::Included(start), Bound::Unbounded));
        for (value, ids) in range {
            if !more(value.bytes()) {
                break;
            }
            out.extend(ids.iter());
        }
    }

    /// Every entry in value order: the encoded value and the record id.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], RecordId)> + '_ {
        self.entries.iter().flat_map(|(value, ids)| ids.iter().map(move |id| (value.bytes(), id)))
    }
}

/// The projected values and the indexes of every record of one (tenant, kind).
#[derive(Debug)]
pub(super) struct Projection {
    /// The projected fields, in description order: searchable or sortable declared fields.
    pub columns: Vec<String>,
    /// The slot of every stored record.
    by_id: BTreeMap<RecordId, usize>,
    /// The rows; `None` for a slot whose record changed or left since.
    slots: Vec<Option<Slot>>,
    /// The search buffers of the searchable columns.
    texts: Vec<SearchTexts>,
    /// The sort prefixes of the sortable text columns.
    sorts: Vec<SortPrefixes>,
    /// How many slots are `None`.
    dead: usize,
    /// The highest id ever given a slot since the last compaction.
    highest: Option<RecordId>,
    /// Whether the live slots ascend by id (true until a record is re-slotted out of order).
    ordered: bool,
    /// The indexes of the indexed fields, in description order.
    indexes: Vec<FieldIndex>,
}

impl Projection {
    /// The fields a projection of `desc` holds.
    pub fn columns_of(desc: &EntityDesc) -> Vec<String> {
        desc.fields.iter().filter(|f| f.searchable || f.sortable).map(|f| f.name.clone()).collect()
    }

    /// Whether this projection was built for the projected and indexed fields `desc` has,
    /// given `columns` = [`Projection::columns_of`] `desc`.
    pub fn fits(&self, desc: &EntityDesc, columns: &[String]) -> bool {
        self.columns == columns
            && self.indexes.iter().map(|i| i.field.as_str()).eq(desc
                .fields
                .iter()
                .filter(|f| f.indexed)
                .map(|f| f.name.as_str()))
    }

    /// An empty projection of `desc`.
    fn new(desc: &EntityDesc) -> Self {
        let projected = || desc.fields.iter().filter(|f| f.searchable || f.sortable).enumerate();
        let texts = projected()
            .filter(|(_, f)| f.searchable)
            .map(|(column, _)| SearchTexts { column, buffer: Vec::new(), starts: Vec::new() })
            .collect();
        let sorts = projected()
            .filter(|(_, f)| f.sortable && f.ty == FieldType::Text)
            .map(|(column, _)| SortPrefixes { column, prefixes: Vec::new() })
            .collect();
        Self {
            columns: Self::columns_of(desc),
            by_id: BTreeMap::new(),
            slots: Vec::new(),
            texts,
            sorts,
            dead: 0,
            highest: None,
            ordered: true,
            indexes: desc
                .fields
                .iter()
                .filter(|f| f.indexed)
                .map(|f| FieldIndex::new(&f.name))
                .collect(),
        }
    }

    /// Builds the projection of `desc`'s records of `tenant` by one scan.
    pub fn build(
        tree: &sled::Tree,
        tenant: &TenantId,
        desc: &EntityDesc,
    ) -> Result<Self, StoreError> {
        let mut projection = Self::new(desc);
        for item in tree.scan_prefix(codec::record_prefix(tenant, &desc.kind)) {
            let (_, bytes) = item.map_err(super::sled_error)?;
            let record = codec::decode_record(&bytes)?;
            projection.change(None, Some(&record));
        }
        Ok(projection)
    }

    /// The projected values of `record`.
    pub fn values(&self, record: &Record) -> Box<[Value]> {
        self.columns.iter().map(|c| record.get(c).clone()).collect()
    }

    /// The position of `field` among the columns.
    pub fn column(&self, field: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == field)
    }

    /// How many records the projection holds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The projected values of record `id`.
    pub fn get(&self, id: RecordId) -> Option<&[Value]> {
        self.row(id).map(|row| self.values_of(row))
    }

    /// The live row of record `id`.
    pub fn row(&self, id: RecordId) -> Option<Row> {
        let slot = *self.by_id.get(&id)?;
        self.slots.get(slot)?.as_ref().map(|_| Row { id, slot })
    }

    /// The projected values of a live `row`; empty for a handle that is no longer live.
    pub fn values_of(&self, row: Row) -> &[Value] {
        self.slots.get(row.slot).and_then(Option::as_ref).map_or(&[], |s| &s.row)
    }

    /// The sort prefixes of `column` by slot, if it is a sortable text column.
    pub fn sort_prefixes(&self, column: usize) -> Option<&[u64]> {
        self.sorts.iter().find(|s| s.column == column).map(|s| s.prefixes.as_slice())
    }

    /// Every row, in id order.
    pub fn iter(&self) -> impl Iterator<Item = Row> + '_ {
        self.by_id.iter().filter_map(|(id, slot)| {
            self.slots.get(*slot)?.as_ref().map(|_| Row { id: *id, slot: *slot })
        })
    }

    /// Appends the derived columns (search texts, sort prefixes) of a new slot's `row`.
    fn push_derived(&mut self, row: &[Value]) {
        for texts in &mut self.texts {
            texts.push(row.get(texts.column));
        }
        for sorts in &mut self.sorts {
            sorts.push(row.get(sorts.column));
        }
    }

    /// The index of `field`, if it is indexed.
    pub fn index(&self, field: &str) -> Option<&FieldIndex> {
        self.indexes.iter().find(|i| i.field == field)
    }

    /// Every index, in description order.
    pub fn indexes(&self) -> &[FieldIndex] {
        &self.indexes
    }

    /// The index of `field`, to change behind the records' back in tests.
    #[cfg(test)]
    pub fn index_mut(&mut self, field: &str) -> Option<&mut FieldIndex> {
        self.indexes.iter_mut().find(|i| i.field == field)
    }

    /// Carries one record change into the rows and the indexes: `before` is the stored
    /// record the change replaces (`None` for an insert), `after` what is stored now
    /// (`None` for a delete).
    pub fn change(&mut self, before: Option<&Record>, after: Option<&Record>) {
        let mut old = Vec::new();
        let mut new = Vec::new();
        for index in &mut self.indexes {
            old.clear();
            new.clear();
            let value = |record: Option<&Record>, out: &mut Vec<u8>| {
                let value = record.map(|r| r.get(&index.field)).filter(|v| !v.is_null());
                value.map(|v| codec::encode_value(v, out)).is_some()
            };
            let had = value(before, &mut old);
            let has = value(after, &mut new);
            if had == has && old == new {
                continue; // the same record keeps its value
            }
            if let (true, Some(record)) = (had, before) {
                index.remove(&old, record.id);
            }
            if let (true, Some(record)) = (has, after) {
                index.insert(&new, record.id);
            }
        }
        match (before, after) {
            (_, Some(record)) => self.put(record),
            (Some(record), None) => self.remove(record.id),
            (None, None) => {}
        }
    }

    /// Stores or replaces the row of `record`.
    fn put(&mut self, record: &Record) {
        self.kill(record.id);
        let row = self.values(record);
        self.push_derived(&row);
        self.by_id.insert(record.id, self.slots.len());
        self.slots.push(Some(Slot { id: record.id, row }));
        if self.highest.is_some_and(|highest| highest >= record.id) {
            self.ordered = false;
        }
        self.highest = self.highest.max(Some(record.id));
        self.compact_if_sparse();
    }

    /// Drops the row of record `id`.
    fn remove(&mut self, id: RecordId) {
        self.kill(id);
        self.by_id.remove(&id);
        self.compact_if_sparse();
    }

    fn kill(&mut self, id: RecordId) {
        if let Some(slot) = self.by_id.get(&id).and_then(|s| self.slots.get_mut(*s)) {
            if slot.take().is_some() {
                self.dead += 1;
            }
        }
    }

    /// Rebuilds the slots in id order once dead slots outnumber live ones.
    fn compact_if_sparse(&mut self) {
        if self.dead < MIN_DEAD_FOR_COMPACTION || self.dead < self.by_id.len() {
            return;
        }
        let mut live: Vec<Slot> = Vec::with_capacity(self.by_id.len());
        for slot in &self.by_id {
            if let Some(slot) = self.slots.get_mut(*slot.1).and_then(Option::take) {
                live.push(slot);
            }
        }
        self.slots.clear();
        self.by_id.clear();
        self.dead = 0;
        self.highest = None;
        self.ordered = true;
        for texts in &mut self.texts {
            texts.buffer.clear();
            texts.starts.clear();
        }
        for sorts in &mut self.sorts {
            sorts.prefixes.clear();
        }
        for slot in live {
            self.push_derived(&slot.row);
            self.by_id.insert(slot.id, self.slots.len());
            self.highest = Some(slot.id);
            self.slots.push(Some(slot));
        }
    }

    /// The rows whose text in `column` contains the folded, non-empty `term`, and whether
    /// they come in id order. `None` when `column` has no search buffer or `term` is empty;
    /// the caller then tests rows one by one.
    pub fn search(&self, column: usize, term: &str) -> Option<Found> {
        if term.is_empty() {
            return None;
        }
        let texts = self.texts.iter().find(|t| t.column == column)?;
        let finder = memchr::memmem::Finder::new(term.as_bytes());
        let mut rows = Vec::new();
        let mut at = 0;
        // The first slot that may hold the next hit: hits only move forward.
        let mut from = 0;
        while let Some(hit) = texts.buffer.get(at..).and_then(|rest| finder.find(rest)) {
            let hit = at + hit;
            let slot = texts.slot_at(from, hit);
            from = slot + 1;
            let end = texts.end_of(slot);
            // A hit running over the end byte is no match of this text, and neither is any
            // later hit starting in it (it would end beyond the end byte too).
            if hit + term.len() <= end {
                if let Some(Some(live)) = self.slots.get(slot) {
                    rows.push(Row { id: live.id, slot });
                }
            }
            at = end + 1;
        }
        Some((rows, self.ordered))
    }
}

/// Every projection built so far, by tenant and kind.
///
/// FIXME: projections are never evicted, so a process that searches many tenants keeps the
/// searchable, sortable and indexed values of each of them in memory; a size bound with
/// least recently used eviction would cap that.
#[derive(Debug, Default)]
pub(super) struct Projections {
    tables: HashMap<TenantId, HashMap<String, Projection>>,
}

impl Projections {
    /// The projection of `kind` in `tenant`, if built.
    pub fn get(&self, tenant: &TenantId, kind: &str) -> Option<&Projection> {
        self.tables.get(tenant)?.get(kind)
    }

    /// The projection of `kind` in `tenant`, to change behind the records' back in tests.
    #[cfg(test)]
    pub fn get_mut(&mut self, tenant: &TenantId, kind: &str) -> Option<&mut Projection> {
        self.tables.get_mut(tenant)?.get_mut(kind)
    }

    /// Stores a freshly built projection.
    pub fn insert(&mut self, tenant: &TenantId, kind: &str, projection: Projection) {
        self.tables.entry(tenant.clone()).or_default().insert(kind.to_owned(), projection);
    }

    /// Carries committed changes into the built projections.
    pub fn apply(&mut self, tenant: &TenantId, changes: &[Change<'_>]) {
        let Some(tables) = self.tables.get_mut(tenant) else { return };
        for change in changes {
            let Some(projection) = tables.get_mut(&change.desc.kind) else { continue };
            projection.change(change.before.as_ref(), change.after.as_deref());
        }
    }

    /// Drops every projection of `kind`, as when its description changes.
    pub fn forget_kind(&mut self, kind: &str) {
        for tables in self.tables.values_mut() {
            tables.remove(kind);
        }
    }

    /// Every built projection, for the integrity check.
    pub fn iter(&self) -> impl Iterator<Item = (&TenantId, &str, &Projection)> {
        self.tables.iter().flat_map(|(tenant, tables)| {
            tables.iter().map(move |(kind, projection)| (tenant, kind.as_str(), projection))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::{FieldDesc, FieldType};

    fn desc() -> EntityDesc {
        EntityDesc::new(
            "thing",
            vec![
                FieldDesc::new("name", FieldType::Text, "Name", "名称").sortable(),
                FieldDesc::new("search", FieldType::Text, "Search", "搜索").searchable(),
            ],
        )
        .unwrap()
    }

    fn record(id: u64, search: Option<&str>) -> Record {
        let mut record = Record::new(RecordId(id));
        record.set("name", format!("n{id}"));
        if let Some(search) = search {
            record.set("search", search);
        }
        record
    }

    fn ids(found: &[Row]) -> Vec<u64> {
        found.iter().map(|row| row.id.0).collect()
    }

    #[test]
    fn search_maps_hits_to_rows_and_never_spans_texts() {
        let desc = desc();
        let mut projection = Projection::new(&desc);
        let column = projection.column("search").unwrap();
        projection.put(&record(1, Some("abc")));
        projection.put(&record(2, None));
        projection.put(&record(3, Some("ca\0cb")));
        projection.put(&record(4, Some("abcabc")));
        let (found, ordered) = projection.search(column, "abc").unwrap();
        assert_eq!(ids(&found), vec![1, 4]);
        assert!(ordered);
        // "a\0c" holds the end byte, yet matches only inside record 3.
        assert_eq!(ids(&projection.search(column, "a\0c").unwrap().0), vec![3]);
        // "bc\0" would run from record 1 over its end into nothing of record 2.
        assert_eq!(ids(&projection.search(column, "bc\0").unwrap().0), Vec::<u64>::new());
        assert!(projection.search(column, "").is_none());
        assert!(projection.search(projection.column("name").unwrap(), "n1").is_none());
    }

    #[test]
    fn changes_reslot_rows_and_compaction_restores_id_order() {
        let desc = desc();
        let mut projection = Projection::new(&desc);
        let column = projection.column("search").unwrap();
        let count = 3 * MIN_DEAD_FOR_COMPACTION as u64;
        for id in 1..=count {
            projection.put(&record(id, Some("old")));
        }
        projection.put(&record(2, Some("new")));
        projection.put(&record(1, Some("new")));
        let (found, ordered) = projection.search(column, "new").unwrap();
        assert_eq!(ids(&found), vec![2, 1]);
        assert!(!ordered);
        assert_eq!(projection.search(column, "old").unwrap().0.len() as u64, count - 2);
        assert_eq!(projection.get(RecordId(1)).unwrap()[column], Value::from("new"));
        assert_prefixes_follow_values(&projection);

        for id in 3..=count {
            projection.remove(RecordId(id));
        }
        assert_eq!(projection.len(), 2);
        assert!(projection.slots.len() < MIN_DEAD_FOR_COMPACTION * 2);
        let (found, ordered) = projection.search(column, "new").unwrap();
        assert_eq!(ids(&found), vec![1, 2]);
        assert!(ordered);
        let listed: Vec<u64> = projection.iter().map(|row| row.id.0).collect();
        assert_eq!(listed, vec![1, 2]);
        assert_prefixes_follow_values(&projection);
    }

    #[test]
    fn indexes_follow_changes_of_shared_and_unique_values() {
        let desc = EntityDesc::new(
            "thing",
            vec![
                FieldDesc::new("code", FieldType::Text, "Code", "编码").indexed(),
                FieldDesc::new("qty", FieldType::Decimal, "Quantity", "数量").indexed(),
            ],
        )
        .unwrap();
        let mut projection = Projection::new(&desc);
        let thing = |id: u64, code: &str, qty: &str| {
            let mut record = Record::new(RecordId(id));
            record.set("code", code);
            record.set("qty", Value::Decimal(qty.parse().unwrap()));
            record
        };
        let encoded = |value: Value| {
            let mut bytes = Vec::new();
            codec::encode_value(&value, &mut bytes);
            bytes
        };
        let equal = |projection: &Projection, field: &str, value: Value| {
            let mut ids = Vec::new();
            projection.index(field).unwrap().equal(&encoded(value), &mut ids);
            ids.iter().map(|id| id.0).collect::<Vec<_>>()
        };
        let (a, b, c) = (thing(1, "a", "1.0"), thing(2, "b", "1.00"), thing(3, "c", "2"));
        for record in [&a, &b, &c] {
            projection.change(None, Some(record));
        }
        assert_eq!(equal(&projection, "qty", Value::Decimal(1.into())), vec![1, 2]);
        assert_eq!(equal(&projection, "code", "b".into()), vec![2]);

        let b2 = thing(2, "a", "2");
        projection.change(Some(&b), Some(&b2));
        assert_eq!(equal(&projection, "qty", Value::Decimal(1.into())), vec![1]);
        assert_eq!(equal(&projection, "qty", Value::Decimal(2.into())), vec![2, 3]);
        assert_eq!(equal(&projection, "code", "a".into()), vec![1, 2]);
        assert!(equal(&projection, "code", "b".into()).is_empty());

        projection.change(Some(&a), None);
        projection.change(Some(&b2), None);
        assert!(equal(&projection, "code", "a".into()).is_empty());
        let entries: Vec<(Vec<u8>, u64)> = projection
            .indexes()
            .iter()
            .flat_map(|index| index.iter().map(|(value, id)| (value.to_vec(), id.0)))
            .collect();
        assert_eq!(entries, vec![(encoded("c".into()), 3), (encoded(Value::Decimal(2.into())), 3)]);
        let mut walked = Vec::new();
        projection.index("code").unwrap().walk(&[], |_| true, &mut walked);
        assert_eq!(walked, vec![RecordId(3)]);
        assert_eq!(projection.len(), 1);
    }

    #[test]
    fn short_and_long_values_order_as_their_bytes() {
        let texts = ["", "a", "ab", "abcdefghijklmnopqrst", "abcdefghijklmnopqrstu", "b"];
        let mut values: Vec<Vec<u8>> = texts
            .iter()
            .map(|t| {
                let mut bytes = Vec::new();
                codec::encode_value(&Value::from(*t), &mut bytes);
                bytes
            })
            .collect();
        values.push(vec![0xff; INLINE_VALUE]);
        values.push(vec![0xff; INLINE_VALUE + 1]);
        assert!(values.iter().any(|v| v.len() <= INLINE_VALUE));
        assert!(values.iter().any(|v| v.len() > INLINE_VALUE));
        let mut index = FieldIndex::new("code");
        for (id, value) in (1..).zip(values.iter().rev()) {
            index.insert(value, RecordId(id));
        }
        let walked: Vec<Vec<u8>> = index.iter().map(|(value, _)| value.to_vec()).collect();
        assert_eq!(walked, values);
        for (id, value) in (1..).zip(values.iter().rev()) {
            assert!(index.contains(value, RecordId(id)));
            index.remove(value, RecordId(id));
        }
        assert_eq!(index.iter().count(), 0);
    }

    /// Every live slot's sort prefix is the prefix of its value, and only sortable text
    /// columns keep them.
    fn assert_prefixes_follow_values(projection: &Projection) {
        let name = projection.column("name").unwrap();
        assert!(projection.sort_prefixes(projection.column("search").unwrap()).is_none());
        let prefixes = projection.sort_prefixes(name).unwrap();
        assert_eq!(prefixes.len(), projection.slots.len());
        for row in projection.iter() {
            assert_eq!(prefixes[row.slot], projection.values_of(row)[name].sort_prefix());
        }
    }
}
