//! Query execution of the sled store: pick an access path, narrow, sort and page.
//!
//! The result always equals [`Query::apply`] over the kind's records. What changes is how
//! much is read to get there:
//!
//! - The secondary indexes are in-memory and part of the projection (see `projection`), so
//!   a plan that reads an index or the projection wants the projection built; a query asks
//!   for that build, and a commit builds it before judging `NoneMatch` preconditions. Only
//!   when no projection can be had (`may_build` off) does a plan fall back to decoding every
//!   record of the kind.
//! - The driving filter gives the candidate ids: an `Eq`/`In` on an indexed field first, then
//!   a `Fuzzy` filter answered from the projection, then a `Prefix`/`Range` on an indexed
//!   field or an `Any` whose members all are index filters (the union of their entries);
//!   without one, every record is a candidate.
//! - When every other filter and every sort can be answered from indexes and the projection
//!   (the fast path), candidates are narrowed and sorted on ids and projected values, and
//!   only the records of the requested page are read and decoded.
//! - Otherwise (the slow path) the candidates are decoded and [`Query::apply`] does the rest.
//!
//! Any other `Any` filter never drives: it is answered from the projection when every field
//! it reads is projected, and from the decoded records otherwise.

use std::cmp::Ordering;
use std::collections::HashSet;

use crm_domain::text::fold;
use crm_domain::{EntityDesc, Filter, Page, Query, Record, RecordId, StoreError, TenantId, Value};

use super::projection::{Found, Projection, Projections, Row};
use super::{sled_error, SledStore};
use crate::codec;

/// What a query run came to.
pub(super) enum Outcome {
    /// The page.
    Done(Page),
    /// The query wants a projection that is not built yet; build it and run again.
    NeedProjection,
}

/// One filter compiled for evaluation against a single projected value. Mirrors
/// [`Filter::matches`]; the conformance suite's random check holds the two together.
enum Matcher<'q> {
    Eq(&'q Value),
    Range(Option<&'q Value>, Option<&'q Value>),
    In(&'q [Value]),
    Prefix(&'q str),
    Fuzzy(String),
}

impl<'q> Matcher<'q> {
    /// The matcher of a single-field filter; `None` for `Any`, which reads several columns.
    fn new(filter: &'q Filter) -> Option<Self> {
        Some(match filter {
            Filter::Eq(_, value) => Matcher::Eq(value),
            Filter::Range { min, max, .. } => Matcher::Range(min.as_ref(), max.as_ref()),
            Filter::In(_, values) => Matcher::In(values),
            Filter::Prefix(_, prefix) => Matcher::Prefix(prefix),
            Filter::Fuzzy(_, term) => Matcher::Fuzzy(fold(term)),
            Filter::Any(_) => return None,
        })
    }

    fn matches(&self, value: &Value) -> bool {
        match self {
            Matcher::Eq(expected) => value == *expected,
            Matcher::Range(min, max) => {
                !value.is_null()
                    && min.is_none_or(|min| value.sort_cmp(min) != Ordering::Less)
                    && max.is_none_or(|max| value.sort_cmp(max) != Ordering::Greater)
            }
            Matcher::In(values) => values.contains(value),
            Matcher::Prefix(prefix) => value.as_text().is_some_and(|t| t.starts_with(prefix)),
            Matcher::Fuzzy(term) => value.as_text().is_some_and(|t| t.contains(term.as_str())),
        }
    }
}

/// Whether an index entry lookup answers `filter` exactly. Unset (`Null`) values have no
/// index entries, so equality with `Null` is answered from the projection or the records.
fn is_index_filter(filter: &Filter) -> bool {
    match filter {
        Filter::Fuzzy(..) | Filter::Any(_) => false,
        Filter::Eq(_, value) => !value.is_null(),
        Filter::In(_, values) => !values.iter().any(Value::is_null),
        Filter::Range { .. } | Filter::Prefix(..) => true,
    }
}

/// Whether the index entries of `registered` answer `filter` exactly: an index filter on an
/// indexed field, or an `Any` whose members all are (answered as the union of their entries).
fn answered_by_index(registered: &EntityDesc, filter: &Filter) -> bool {
    match filter {
        Filter::Any(members) => {
            members.iter().all(|m| !matches!(m, Filter::Any(_)) && answered_by_index(registered, m))
        }
        _ => {
            is_index_filter(filter)
                && filter.field().and_then(|n| registered.field(n)).is_some_and(|d| d.indexed)
        }
    }
}

impl SledStore {
    /// Runs `query` over `registered`'s records of `tenant`. The first query of a (tenant,
    /// kind) that wants the projection or an index pays for building them with one scan of
    /// the records. With `may_build`, a query that wants a projection not yet built says so
    /// instead of taking the slow path.
    pub(super) fn run_query(
        &self,
        cache: &Projections,
        tenant: &TenantId,
        registered: &EntityDesc,
        query: &Query,
        may_build: bool,
    ) -> Result<Outcome, StoreError> {
        let kind = registered.kind.as_str();
        let columns = Projection::columns_of(registered);
        let projection = cache.get(tenant, kind).filter(|p| p.fits(registered, &columns));
        let indexed = |f: &Filter| answered_by_index(registered, f);
        let projected = |field: &str| columns.iter().any(|c| c == field);

        let driver = query
            .filters
            .iter()
            .position(|f| indexed(f) && matches!(f, Filter::Eq(..) | Filter::In(..)))
            .or_else(|| {
                query.filters.iter().position(|f| {
                    matches!(f, Filter::Fuzzy(..)) && f.field().is_some_and(projected)
                })
            })
            .or_else(|| query.filters.iter().position(&indexed));
        let residual: Vec<&Filter> = query
            .filters
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != driver)
            .map(|(_, f)| f)
            .collect();
        let driver = driver.and_then(|i| query.filters.get(i));

        let needs_records =
            residual.iter().any(|f| !indexed(f) && !f.fields().into_iter().all(projected))
                || query.sorts.iter().any(|s| !projected(&s.field));
        let driver_indexed = driver.is_some_and(&indexed);
        // The indexes live in the projection: a plan that reads either wants it built.
        if projection.is_none() && may_build && (!needs_records || driver_indexed) {
            return Ok(Outcome::NeedProjection);
        }
        if let (false, Some(projection)) = (needs_records, projection) {
            let use_rows =
                !driver_indexed || !query.sorts.is_empty() || residual.iter().any(|f| !indexed(f));
            let page = match driver {
                Some(driver) if !use_rows => {
                    self.index_path(tenant, kind, query, driver, &residual, projection)?
                }
                _ => self.fast_path(tenant, kind, query, driver, &residual, projection)?,
            };
            return Ok(Outcome::Done(page));
        }

        // The slow path: decode the candidates and let the reference semantics decide.
        let records = match (driver, projection) {
            (Some(f), Some(projection)) if indexed(f) => {
                self.fetch(tenant, kind, &index_ids(projection, f)?)?
            }
            (Some(f @ Filter::Fuzzy(..)), Some(projection)) => {
                let rows = fuzzy_rows(projection, f).0;
                let mut ids: Vec<RecordId> = rows.iter().map(|row| row.id).collect();
                ids.sort_unstable();
                self.fetch(tenant, kind, &ids)?
            }
            _ => self.scan(tenant, kind)?,
        };
        let (records, total) = query.apply(records);
        Ok(Outcome::Done(Page { records, total }))
    }

    /// Answers a query without sorts whose every filter an index answers, by intersecting
    /// id lists.
    fn index_path(
        &self,
        tenant: &TenantId,
        kind: &str,
        query: &Query,
        driver: &Filter,
        residual: &[&Filter],
        projection: &Projection,
    ) -> Result<Page, StoreError> {
        let mut ids = index_ids(projection, driver)?;
        for filter in residual {
            let allowed: HashSet<RecordId> = index_ids(projection, filter)?.into_iter().collect();
            ids.retain(|id| allowed.contains(id));
        }
        let total = ids.len() as u64;
        let page = page_bounds(query, ids.len()).and_then(|r| ids.get(r)).unwrap_or_default();
        Ok(Page { records: self.fetch(tenant, kind, page)?, total })
    }

    /// Answers a query whose filters and sorts the indexes and the projection answer, on
    /// projection rows.
    fn fast_path(
        &self,
        tenant: &TenantId,
        kind: &str,
        query: &Query,
        driver: Option<&Filter>,
        residual: &[&Filter],
        projection: &Projection,
    ) -> Result<Page, StoreError> {
        // Candidates carry their slot, so narrowing and sorting never look up ids.
        // Whether `rows` come in id order, the order of a query without sorts.
        let mut ordered = true;
        let mut rows: Vec<Row> = match driver {
            Some(filter @ Filter::Fuzzy(..)) => {
                let (rows, in_order) = fuzzy_rows(projection, filter);
                ordered = in_order;
                rows
            }
            Some(filter) => {
                let ids = index_ids(projection, filter)?;
                let mut rows = Vec::with_capacity(ids.len());
                for id in ids {
                    rows.push(row_of(projection, kind, id)?);
                }
                rows
            }
            None => projection.iter().collect(),
        };
        for filter in residual {
            let projected_any = match filter {
                Filter::Any(members) => members
                    .iter()
                    .map(|m| {
                        Some((m.field().and_then(|n| projection.column(n))?, Matcher::new(m)?))
                    })
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            };
            if let Some(tests) = projected_any {
                rows.retain(|row| {
                    let values = projection.values_of(*row);
                    tests.iter().any(|(c, m)| values.get(*c).is_some_and(|v| m.matches(v)))
                });
            } else if let (Some(column), Some(matcher)) =
                (filter.field().and_then(|n| projection.column(n)), Matcher::new(filter))
            {
                rows.retain(|row| {
                    projection.values_of(*row).get(column).is_some_and(|v| matcher.matches(v))
                });
            } else {
                let allowed: HashSet<RecordId> =
                    index_ids(projection, filter)?.into_iter().collect();
                rows.retain(|row| allowed.contains(&row.id));
            }
        }
        let total = rows.len() as u64;

        let Some(bounds) = page_bounds(query, rows.len()) else {
            return Ok(Page { records: Vec::new(), total });
        };
        if !query.sorts.is_empty() || !ordered {
            sort_head(projection, kind, query, &mut rows, bounds.end)?;
        }
        let page: Vec<RecordId> =
            rows.get(bounds).unwrap_or_default().iter().map(|row| row.id).collect();
        Ok(Page { records: self.fetch(tenant, kind, &page)?, total })
    }

    /// The records with `ids`, in that order. Every id must be stored: ids come from the
    /// indexes or the projection, which change together with the records.
    pub(super) fn fetch(
        &self,
        tenant: &TenantId,
        kind: &str,
        ids: &[RecordId],
    ) -> Result<Vec<Record>, StoreError> {
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            let bytes = self.db.get(codec::record_key(tenant, kind, *id)).map_err(sled_error)?;
            let Some(bytes) = bytes else {
                return Err(StoreError::corrupt(format!(
                    "{kind} {id} is listed by an index but not stored; run an integrity check"
                )));
            };
            records.push(codec::decode_record(&bytes)?);
        }
        Ok(records)
    }

    /// Every record of `kind` in `tenant`, in id order.
    pub(super) fn scan(&self, tenant: &TenantId, kind: &str) -> Result<Vec<Record>, StoreError> {
        let mut records = Vec::new();
        for item in self.db.scan_prefix(codec::record_prefix(tenant, kind)) {
            let (_, bytes) = item.map_err(sled_error)?;
            records.push(codec::decode_record(&bytes)?);
        }
        Ok(records)
    }
}

/// The ids whose index entries satisfy `filter`, ascending, without duplicates.
pub(super) fn index_ids(
    projection: &Projection,
    filter: &Filter,
) -> Result<Vec<RecordId>, StoreError> {
    let Some(field) = filter.field() else {
        let Filter::Any(members) = filter else {
            return Err(StoreError::corrupt("a filter without a field has no index to scan"));
        };
        let mut ids = Vec::new();
        for member in members {
            ids.extend(index_ids(projection, member)?);
        }
        ids.sort_unstable();
        ids.dedup();
        return Ok(ids);
    };
    let index = projection
        .index(field)
        .ok_or_else(|| StoreError::corrupt(format!("{field} has no index to scan")))?;
    let encoded = |value: &Value| {
        let mut bytes = Vec::new();
        codec::encode_value(value, &mut bytes);
        bytes
    };
    let mut ids = Vec::new();
    match filter {
        Filter::Eq(_, value) => index.equal(&encoded(value), &mut ids),
        Filter::In(_, values) => {
            for value in values {
                index.equal(&encoded(value), &mut ids);
            }
        }
        Filter::Prefix(_, prefix) => {
            let mut start = Vec::new();
            codec::text_prefix(prefix, &mut start);
            index.walk(&start, |value| value.starts_with(&start), &mut ids);
        }
        Filter::Range { min, max, .. } => {
            // Unset values never match a range (and have no entries): start after `Null`.
            let first = vec![codec::FIRST_NON_NULL_TAG];
            let start = match min {
                Some(min) => encoded(min).max(first),
                None => first,
            };
            let end = max.as_ref().map(encoded);
            // Encodings are self-delimiting, so no value starting with `end` lies past it.
            index.walk(&start, |value| end.as_deref().is_none_or(|end| value <= end), &mut ids);
        }
        Filter::Fuzzy(..) | Filter::Any(_) => {
            return Err(StoreError::corrupt("fuzzy filters have no index to scan"));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The rows `offset..offset + limit` of `len` candidates; `None` when the page is empty.
fn page_bounds(query: &Query, len: usize) -> Option<std::ops::Range<usize>> {
    let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
    let limit = query.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let end = offset.saturating_add(limit).min(len);
    (offset < end).then_some(offset..end)
}

/// The rows whose column of `filter`'s field holds the fuzzy term, and whether they come in
/// id order. The folded term is searched in the column's search buffer with one scan; an
/// empty term (which every text holds) tests the rows one by one.
fn fuzzy_rows(projection: &Projection, filter: &Filter) -> Found {
    let column = filter.field().and_then(|n| projection.column(n));
    let (Some(column), Filter::Fuzzy(_, term)) = (column, filter) else {
        return (Vec::new(), true);
    };
    let term = fold(term);
    if let Some(found) = projection.search(column, &term) {
        return found;
    }
    let rows = projection
        .iter()
        .filter(|row| {
            let value = projection.values_of(*row).get(column);
            value.and_then(Value::as_text).is_some_and(|text| text.contains(&term))
        })
        .collect();
    (rows, true)
}

fn row_of(projection: &Projection, kind: &str, id: RecordId) -> Result<Row, StoreError> {
    projection.row(id).ok_or_else(|| {
        StoreError::corrupt(format!("{kind} {id} is indexed but missing from the projection"))
    })
}

/// Orders `rows` by the query's sorts on projected values, then by id, far enough that the
/// first `end` are in final order. A small page of a long list keeps only its best `end`
/// rows in one pass rather than sorting them all.
fn sort_head(
    projection: &Projection,
    kind: &str,
    query: &Query,
    rows: &mut Vec<Row>,
    end: usize,
) -> Result<(), StoreError> {
    let mut keys: Vec<SortKey<'_>> = Vec::with_capacity(query.sorts.len());
    for sort in &query.sorts {
        let column = projection.column(&sort.field).ok_or_else(|| {
            StoreError::corrupt(format!("{kind}: sort field {} is not projected", sort.field))
        })?;
        let prefixes = projection.sort_prefixes(column);
        keys.push(SortKey { column, prefixes, descending: sort.descending });
    }
    let compare = |a: &Row, b: &Row| {
        for key in &keys {
            let order = key.compare(projection, *a, *b);
            if order != Ordering::Equal {
                return order;
            }
        }
        a.id.cmp(&b.id)
    };
    if end > 0 && end < rows.len() / 2 {
        // Keep the best `end` rows in order while passing over the rest once: after the
        // first few, a row costs one comparison with the worst kept row.
        let mut best: Vec<Row> = Vec::with_capacity(end + 1);
        for row in rows.iter() {
            if best.len() == end
                && best.last().is_some_and(|worst| compare(row, worst) != Ordering::Less)
            {
                continue;
            }
            let at = best.partition_point(|kept| compare(kept, row) == Ordering::Less);
            best.insert(at, *row);
            best.truncate(end);
        }
        *rows = best;
        return Ok(());
    }
    rows.sort_unstable_by(compare);
    Ok(())
}

/// One sort of a query, resolved against a projection.
struct SortKey<'p> {
    /// The sorted column.
    column: usize,
    /// Its sort prefixes by slot, when the projection keeps them.
    prefixes: Option<&'p [u64]>,
    descending: bool,
}

impl SortKey<'_> {
    /// How rows `a` and `b` order by this key: by their sort prefixes where those differ
    /// (they order as the values do), by [`Value::sort_cmp`] of the values otherwise. Rows
    /// missing the column (never the case for live rows) compare equal, as a missing value
    /// never decides.
    fn compare(&self, projection: &Projection, a: Row, b: Row) -> Ordering {
        let prefix = |row: Row| self.prefixes.and_then(|p| p.get(row.slot));
        let order = match (prefix(a), prefix(b)) {
            (Some(x), Some(y)) if x != y => x.cmp(y),
            _ => {
                let value = |row: Row| projection.values_of(row).get(self.column);
                let (Some(x), Some(y)) = (value(a), value(b)) else { return Ordering::Equal };
                x.sort_cmp(y)
            }
        };
        if self.descending {
            order.reverse()
        } else {
            order
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::{Batch, FieldDesc, FieldType, Sort, Store};

    /// Names that tie on their sort prefixes and differ only later, and a few unset ones.
    const NAMES: [Option<&str>; 10] = [
        Some("Aurora Foods Ltd"),
        Some("Aurora Ceramics AB"),
        Some("Aurora "),
        Some("Aurora"),
        None,
        Some("Aurora Foods Inc."),
        Some("北京瑞丰科技"),
        Some("北京瑞丰贸易"),
        None,
        Some("Aurora Ceramics AB"),
    ];

    #[test]
    fn sorts_decide_ties_of_shared_prefixes_by_the_values() {
        let desc = EntityDesc::new(
            "thing",
            vec![
                FieldDesc::new("name", FieldType::Text, "Name", "名称").sortable(),
                FieldDesc::new("search", FieldType::Text, "Search", "搜索").searchable(),
            ],
        )
        .unwrap();
        let store = SledStore::temporary().unwrap();
        store.register(&desc).unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let mut records = Vec::new();
        for (id, name) in (1..).zip(NAMES.iter().cycle().take(40)) {
            let mut record = Record::new(RecordId(id));
            if let Some(name) = name {
                record.set("name", *name);
            }
            record.set("search", if id % 3 == 0 { "a hit" } else { "a miss" });
            records.push(record);
        }
        let mut batch = Batch::new();
        for record in &records {
            batch.insert(&desc, record.clone());
        }
        store.commit(&tenant, &batch).unwrap();
        // Stored records count their first version.
        for record in &mut records {
            record.version = 1;
        }

        for sort in [Sort::asc("name"), Sort::desc("name")] {
            for (offset, limit) in [(0, Some(3)), (2, Some(5)), (0, None)] {
                let mut query = Query::all().sort(sort.clone());
                query.offset = offset;
                query.limit = limit;
                for query in
                    [query.clone(), query.filter(Filter::Fuzzy("search".into(), "hit".into()))]
                {
                    let page = store.query(&tenant, &desc, &query).unwrap();
                    let (expected, total) = query.apply(records.clone());
                    assert_eq!(page.records, expected, "{query:?}");
                    assert_eq!(page.total, total, "{query:?}");
                }
            }
        }
    }
}
