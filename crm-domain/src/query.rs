//! The query model every store translates: filters, sorts and pages.
//!
//! [`Query::validate`] runs before any store sees a query, so a sort on an undeclared field
//! is refused the same way everywhere. [`Query::matches`] and [`Query::compare`] are the
//! reference semantics: the in-memory and sled stores evaluate with them and the PostgreSQL
//! store must agree, which the conformance suite checks.
//!
//! The filters of a query all hold together (AND). [`Filter::Any`] is the one way to say
//! "this or that": it holds when at least one of its filters does. Its members are
//! single-field filters; an `Any` inside an `Any` is refused by [`Query::validate`], since it
//! could say nothing a flat list does not.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

use crate::entity::{EntityDesc, FieldType, Record, CUSTOM_PREFIX};
use crate::error::StoreError;
use crate::text::fold;
use crate::value::Value;

/// One condition on a field. Field names are declared fields or `custom.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Filter {
    /// The field equals the value (`Null` matches unset fields).
    Eq(String, Value),
    /// The field lies in `[min, max]`; either bound may be open. Unset fields never match.
    Range {
        /// Field name.
        field: String,
        /// Inclusive lower bound.
        min: Option<Value>,
        /// Inclusive upper bound.
        max: Option<Value>,
    },
    /// The field equals one of the values.
    In(String, Vec<Value>),
    /// The text field starts with the prefix (exact, case-sensitive).
    Prefix(String, String),
    /// The folded text of a searchable field contains the folded term as a substring.
    /// Every character of the term is literal, wildcards included.
    Fuzzy(String, String),
    /// At least one of the filters holds (OR); an empty list matches nothing. The members
    /// may be on different fields but must not be `Any` themselves.
    Any(Vec<Filter>),
}

impl Filter {
    /// The field a single-field filter applies to; `None` for [`Filter::Any`], whose
    /// members may each name another field (see [`Filter::fields`]).
    pub fn field(&self) -> Option<&str> {
        match self {
            Filter::Eq(field, _)
            | Filter::Range { field, .. }
            | Filter::In(field, _)
            | Filter::Prefix(field, _)
            | Filter::Fuzzy(field, _) => Some(field),
            Filter::Any(_) => None,
        }
    }

    /// Every field the filter reads, in order, with repeats: one for a single-field filter,
    /// those of its members for [`Filter::Any`] (none for an empty one).
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Filter::Any(filters) => filters.iter().flat_map(Filter::fields).collect(),
            single => single.field().into_iter().collect(),
        }
    }

    /// Whether `record` satisfies the filter.
    pub fn matches(&self, record: &Record) -> bool {
        match self {
            Filter::Eq(field, expected) => record.get(field) == expected,
            Filter::Range { field, min, max } => {
                let value = record.get(field);
                !value.is_null()
                    && min.as_ref().is_none_or(|min| value.sort_cmp(min) != Ordering::Less)
                    && max.as_ref().is_none_or(|max| value.sort_cmp(max) != Ordering::Greater)
            }
            Filter::In(field, values) => values.contains(record.get(field)),
            Filter::Prefix(field, prefix) => {
                record.get(field).as_text().is_some_and(|t| t.starts_with(prefix))
            }
            Filter::Fuzzy(field, term) => {
                let term = fold(term);
                record.get(field).as_text().is_some_and(|t| t.contains(&term))
            }
            Filter::Any(filters) => filters.iter().any(|f| f.matches(record)),
        }
    }

    /// Checks one filter against the description; `nested` when it is a member of an `Any`.
    fn validate(&self, desc: &EntityDesc, nested: bool) -> Result<(), StoreError> {
        let name = match (self, self.field()) {
            (Filter::Any(_), _) if nested => {
                return Err(StoreError::invalid_query(format!(
                    "{}: an Any filter cannot hold another Any; list its members instead",
                    desc.kind
                )));
            }
            (Filter::Any(filters), _) => {
                return filters.iter().try_for_each(|f| f.validate(desc, true));
            }
            (_, Some(name)) => name,
            (_, None) => {
                return Err(StoreError::invalid_query(format!(
                    "{}: a filter without a field",
                    desc.kind
                )));
            }
        };
        if let Some(custom) = name.strip_prefix(CUSTOM_PREFIX) {
            if custom.is_empty() || matches!(self, Filter::Fuzzy(..)) {
                return Err(StoreError::invalid_query(format!(
                    "{}: cannot filter {name:?} that way",
                    desc.kind
                )));
            }
            return Ok(());
        }
        let Some(field) = desc.field(name) else {
            return Err(StoreError::invalid_query(format!(
                "{}: no field {name:?} to filter on",
                desc.kind
            )));
        };
        let fits = match self {
            Filter::Fuzzy(..) => field.searchable,
            Filter::Prefix(..) => field.ty == FieldType::Text,
            _ => !matches!(field.ty, FieldType::Bytes | FieldType::Json),
        };
        if !fits {
            return Err(StoreError::invalid_query(format!(
                "{}: field {name:?} does not support this filter",
                desc.kind
            )));
        }
        Ok(())
    }
}

/// A sort key: a sortable declared field and a direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    /// Field name; must be declared sortable.
    pub field: String,
    /// Largest first.
    pub descending: bool,
}

impl Sort {
    /// Ascending on `field`.
    pub fn asc(field: &str) -> Self {
        Self { field: field.to_owned(), descending: false }
    }

    /// Descending on `field`.
    pub fn desc(field: &str) -> Self {
        Self { field: field.to_owned(), descending: true }
    }
}

/// A list query: all filters must hold (use [`Filter::Any`] for alternatives); results are
/// sorted by the sorts, then by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Conditions, all of which must hold.
    pub filters: Vec<Filter>,
    /// Sort keys in priority order; ties are broken by ascending id.
    pub sorts: Vec<Sort>,
    /// Records to skip.
    pub offset: u64,
    /// At most this many records; `None` for all.
    pub limit: Option<u64>,
}

impl Query {
    /// A query for every record.
    pub fn all() -> Self {
        Self::default()
    }

    /// Adds a filter.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Adds a sort key.
    pub fn sort(mut self, sort: Sort) -> Self {
        self.sorts.push(sort);
        self
    }

    /// Sets the page.
    pub fn page(mut self, offset: u64, limit: u64) -> Self {
        self.offset = offset;
        self.limit = Some(limit);
        self
    }

    /// Checks the query against the description before any store runs it: every filter
    /// (and every member of an [`Filter::Any`]) must name a field that supports it, and an
    /// `Any` must not hold another `Any`.
    pub fn validate(&self, desc: &EntityDesc) -> Result<(), StoreError> {
        for filter in &self.filters {
            filter.validate(desc, false)?;
        }
        for sort in &self.sorts {
            if !desc.field(&sort.field).is_some_and(|f| f.sortable) {
                return Err(StoreError::invalid_query(format!(
                    "{}: cannot sort on {:?}; it is not declared sortable",
                    desc.kind, sort.field
                )));
            }
        }
        Ok(())
    }

    /// Whether `record` satisfies every filter.
    pub fn matches(&self, record: &Record) -> bool {
        self.filters.iter().all(|f| f.matches(record))
    }

    /// Orders two records by the sorts, then by id.
    pub fn compare(&self, a: &Record, b: &Record) -> Ordering {
        for sort in &self.sorts {
            let order = a.get(&sort.field).sort_cmp(b.get(&sort.field));
            let order = if sort.descending { order.reverse() } else { order };
            if order != Ordering::Equal {
                return order;
            }
        }
        a.id.cmp(&b.id)
    }

    /// Applies the whole query to records in memory: filter, sort, page. Returns the page and
    /// the number of matching records.
    pub fn apply(&self, records: impl IntoIterator<Item = Record>) -> (Vec<Record>, u64) {
        let mut matching: Vec<Record> = records.into_iter().filter(|r| self.matches(r)).collect();
        let total = matching.len() as u64;
        matching.sort_by(|a, b| self.compare(a, b));
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let limit = self.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let page = matching.into_iter().skip(offset).take(limit).collect();
        (page, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::FieldDesc;
    use crate::error::StoreErrorKind;
    use crate::ids::RecordId;

    fn desc() -> EntityDesc {
        EntityDesc::new(
            "thing",
            vec![
                FieldDesc::new("owner", FieldType::Ref, "Owner", "负责人").indexed(),
                FieldDesc::new("status", FieldType::Text, "Status", "状态").indexed(),
                FieldDesc::new("name", FieldType::Text, "Name", "名称").sortable(),
                FieldDesc::new("search", FieldType::Text, "Search", "检索").searchable(),
                FieldDesc::new("data", FieldType::Json, "Data", "数据"),
            ],
        )
        .expect("valid description")
    }

    fn thing(id: u64, owner: Option<u64>, status: &str, name: &str) -> Record {
        let mut record = Record::new(RecordId(id));
        if let Some(owner) = owner {
            record.set("owner", Value::Ref(RecordId(owner)));
        }
        record.set("status", status);
        record.set("name", name);
        record.set("search", fold(name));
        record
    }

    fn mine_or_pool() -> Filter {
        Filter::Any(vec![
            Filter::Eq("owner".into(), Value::Ref(RecordId(7))),
            Filter::Eq("status".into(), "pool".into()),
        ])
    }

    fn things() -> Vec<Record> {
        vec![
            thing(1, Some(7), "private", "Mine"),
            thing(2, Some(8), "private", "Theirs"),
            thing(3, None, "pool", "Pooled"),
            thing(4, Some(7), "pool", "Both"),
            thing(5, None, "private", "Orphan"),
        ]
    }

    #[test]
    fn any_holds_when_one_member_holds() {
        let ids: Vec<u64> =
            things().iter().filter(|r| mine_or_pool().matches(r)).map(|r| r.id.0).collect();
        assert_eq!(ids, [1, 3, 4]);
        assert!(!Filter::Any(Vec::new()).matches(&thing(1, Some(7), "pool", "x")));
        let unowned = Filter::Any(vec![Filter::Eq("owner".into(), Value::Null)]);
        let ids: Vec<u64> =
            things().iter().filter(|r| unowned.matches(r)).map(|r| r.id.0).collect();
        assert_eq!(ids, [3, 5]);
    }

    #[test]
    fn any_combines_with_other_filters_sorts_and_pages() {
        let query = Query::all()
            .filter(mine_or_pool())
            .filter(Filter::Fuzzy("search".into(), "O".into()))
            .sort(Sort::desc("name"))
            .page(1, 1);
        let (page, total) = query.apply(things());
        assert_eq!(total, 2, "Pooled and Both hold an o; Mine does not");
        assert_eq!(page.iter().map(|r| r.id.0).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn fields_lists_every_member() {
        assert_eq!(mine_or_pool().field(), None);
        assert_eq!(mine_or_pool().fields(), ["owner", "status"]);
        assert_eq!(Filter::Eq("name".into(), Value::Null).field(), Some("name"));
        assert!(Filter::Any(Vec::new()).fields().is_empty());
    }

    #[test]
    fn members_of_any_are_validated_like_filters() {
        let valid = |filter: Filter| Query::all().filter(filter).validate(&desc());
        assert!(valid(mine_or_pool()).is_ok());
        assert!(valid(Filter::Any(Vec::new())).is_ok());
        let custom = Filter::Any(vec![Filter::Eq("custom.level".into(), Value::Integer(1))]);
        assert!(valid(custom).is_ok());
        let refused = [
            Filter::Any(vec![Filter::Eq("nope".into(), Value::Null)]),
            Filter::Any(vec![Filter::Fuzzy("name".into(), "x".into())]),
            Filter::Any(vec![Filter::Prefix("owner".into(), "x".into())]),
            Filter::Any(vec![Filter::Eq("data".into(), Value::Null)]),
            Filter::Any(vec![Filter::Fuzzy("custom.level".into(), "x".into())]),
            Filter::Any(vec![mine_or_pool()]),
            Filter::Any(vec![Filter::Any(Vec::new())]),
        ];
        for filter in refused {
            let error = valid(filter.clone()).expect_err("refused");
            assert_eq!(error.kind(), StoreErrorKind::InvalidQuery, "{filter:?}");
        }
    }
}
