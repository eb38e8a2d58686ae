//! The query model every store translates: filters, sorts and pages.
//!
//! [`Query::validate`] runs before any store sees a query, so a sort on an undeclared field
//! is refused the same way everywhere. [`Query::matches`] and [`Query::compare`] are the
//! reference semantics: the in-memory and sled stores evaluate with them and the PostgreSQL
//! store must agree, which the conformance suite checks.

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
}

impl Filter {
    /// The field the filter applies to.
    pub fn field(&self) -> &str {
        match self {
            Filter::Eq(field, _)
            | Filter::Range { field, .. }
            | Filter::In(field, _)
            | Filter::Prefix(field, _)
            | Filter::Fuzzy(field, _) => field,
        }
    }

    /// Whether `record` satisfies the filter.
    pub fn matches(&self, record: &Record) -> bool {
        let value = record.get(self.field());
        match self {
            Filter::Eq(_, expected) => value == expected,
            Filter::Range { min, max, .. } => {
                !value.is_null()
                    && min.as_ref().is_none_or(|min| value.sort_cmp(min) != Ordering::Less)
                    && max.as_ref().is_none_or(|max| value.sort_cmp(max) != Ordering::Greater)
            }
            Filter::In(_, values) => values.contains(value),
            Filter::Prefix(_, prefix) => value.as_text().is_some_and(|t| t.starts_with(prefix)),
            Filter::Fuzzy(_, term) => {
                let term = fold(term);
                value.as_text().is_some_and(|t| t.contains(&term))
            }
        }
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

/// A list query: all filters must hold; results are sorted by the sorts, then by id.
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

    /// Checks the query against the description before any store runs it.
    pub fn validate(&self, desc: &EntityDesc) -> Result<(), StoreError> {
        for filter in &self.filters {
            let name = filter.field();
            if let Some(custom) = name.strip_prefix(CUSTOM_PREFIX) {
                if custom.is_empty() || matches!(filter, Filter::Fuzzy(..)) {
                    return Err(StoreError::invalid_query(format!(
                        "{}: cannot filter {name:?} that way",
                        desc.kind
                    )));
                }
                continue;
            }
            let Some(field) = desc.field(name) else {
                return Err(StoreError::invalid_query(format!(
                    "{}: no field {name:?} to filter on",
                    desc.kind
                )));
            };
            let fits = match filter {
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
