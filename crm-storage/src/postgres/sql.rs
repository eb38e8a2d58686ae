//! SQL text with its bind parameters, and the translation of the query model into it.
//!
//! Identifiers written into SQL come only from an [`EntityDesc`], whose names
//! `EntityDesc::new` restricts to lowercase identifiers, and are double-quoted besides.
//! Every value, custom field name and pattern is a bind parameter: no user text ever
//! becomes SQL.
//!
//! The translation follows the reference semantics of [`Filter::matches`] and
//! [`Query::compare`] exactly. Where SQL cannot express them exactly (custom timestamps,
//! bytes and JSON, sorting on JSON fields), the filter is left to Rust: the translator says
//! so and the store finishes the query in memory with the reference code.

use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::entity::CUSTOM_PREFIX;
use crm_domain::text::fold;
use crm_domain::{EntityDesc, FieldType, Filter, Query, RecordId, StoreError, TenantId, Value};
use rust_decimal::Decimal;
use sqlx::postgres::{PgArguments, Postgres};
use std::cmp::Ordering;

/// One bind parameter, typed so PostgreSQL receives the column's own type.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(Option<String>),
    Integer(Option<i64>),
    Decimal(Option<Decimal>),
    Bool(Option<bool>),
    Date(Option<NaiveDate>),
    Timestamp(Option<DateTime<Utc>>),
    Bytes(Option<Vec<u8>>),
    Json(Option<serde_json::Value>),
    TextArray(Vec<Option<String>>),
    IntegerArray(Vec<Option<i64>>),
    DecimalArray(Vec<Option<Decimal>>),
    BoolArray(Vec<Option<bool>>),
    DateArray(Vec<Option<NaiveDate>>),
    TimestampArray(Vec<Option<DateTime<Utc>>>),
    BytesArray(Vec<Option<Vec<u8>>>),
    JsonArray(Vec<Option<serde_json::Value>>),
}

/// SQL text under construction and the parameters its `$n` placeholders stand for.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    /// Starts with `text`.
    pub fn new(text: &str) -> Self {
        Self { text: text.to_owned(), binds: Vec::new() }
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Adds a parameter and returns its placeholder, for text that uses it more than once.
    pub fn param(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    /// Adds a parameter and appends its placeholder.
    pub fn push_bind(&mut self, bind: Bind) -> &mut Self {
        let placeholder = self.param(bind);
        self.text.push_str(&placeholder);
        self
    }

    /// The query ready to run; the text stays borrowed from `self`.
    pub fn query(&self) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        // PostgreSQL refuses parameters the text does not use.
        debug_assert!(
            (1..=self.binds.len()).all(|n| self.text.contains(&format!("${n}"))),
            "a parameter is not used by {}",
            self.text
        );
        bind_all(sqlx::query(&self.text), &self.binds)
    }
}

/// Binds every parameter to `query`, in order.
fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Postgres, PgArguments>,
    binds: &[Bind],
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    for bind in binds {
        query = match bind.clone() {
            Bind::Text(v) => query.bind(v),
            Bind::Integer(v) => query.bind(v),
            Bind::Decimal(v) => query.bind(v),
            Bind::Bool(v) => query.bind(v),
            Bind::Date(v) => query.bind(v),
            Bind::Timestamp(v) => query.bind(v),
            Bind::Bytes(v) => query.bind(v),
            Bind::Json(v) => query.bind(v),
            Bind::TextArray(v) => query.bind(v),
            Bind::IntegerArray(v) => query.bind(v),
            Bind::DecimalArray(v) => query.bind(v),
            Bind::BoolArray(v) => query.bind(v),
            Bind::DateArray(v) => query.bind(v),
            Bind::TimestampArray(v) => query.bind(v),
            Bind::BytesArray(v) => query.bind(v),
            Bind::JsonArray(v) => query.bind(v),
        };
    }
    query
}

/// A double-quoted identifier. Names come from entity descriptions, which admit only
/// lowercase letters, digits and `_`; the assertion documents that nothing else gets here.
pub(crate) fn ident(name: &str) -> String {
    debug_assert!(
        name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "identifier {name:?} did not come from an entity description"
    );
    format!("\"{name}\"")
}

/// The table of an entity kind.
pub(crate) fn table(desc: &EntityDesc) -> String {
    ident(&format!("crm_{}", desc.kind))
}

/// The column type a field type is kept in.
pub(crate) fn column_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Text => "text",
        FieldType::Integer | FieldType::Ref => "bigint",
        FieldType::Decimal => "numeric",
        FieldType::Bool => "boolean",
        FieldType::Date => "date",
        FieldType::Timestamp => "timestamptz",
        FieldType::Bytes => "bytea",
        FieldType::Json => "jsonb",
    }
}

/// The id as PostgreSQL's signed bigint.
// FIXME: ids and references above i64::MAX cannot be kept in bigint columns; writes of them
// fail as invalid, where the other stores accept the whole u64 range.
pub(crate) fn id_param(id: RecordId) -> Result<i64, StoreError> {
    i64::try_from(id.0).map_err(|_| {
        StoreError::invalid_query(format!("record id {id} is beyond what a bigint column keeps"))
    })
}

/// The tenant as a bind.
pub(crate) fn tenant_bind(tenant: &TenantId) -> Bind {
    Bind::Text(Some(tenant.as_str().to_owned()))
}

/// The bind of `value` for a column of type `ty`; `None` when the value is of another type
/// (or a reference too large for a bigint), so no stored value can equal it.
pub(crate) fn scalar(ty: FieldType, value: &Value) -> Option<Bind> {
    Some(match (ty, value) {
        (FieldType::Text, Value::Null) => Bind::Text(None),
        (FieldType::Integer, Value::Null) => Bind::Integer(None),
        (FieldType::Ref, Value::Null) => Bind::Integer(None),
        (FieldType::Decimal, Value::Null) => Bind::Decimal(None),
        (FieldType::Bool, Value::Null) => Bind::Bool(None),
        (FieldType::Date, Value::Null) => Bind::Date(None),
        (FieldType::Timestamp, Value::Null) => Bind::Timestamp(None),
        (FieldType::Bytes, Value::Null) => Bind::Bytes(None),
        (FieldType::Json, Value::Null) => Bind::Json(None),
        (FieldType::Text, Value::Text(v)) => Bind::Text(Some(v.clone())),
        (FieldType::Integer, Value::Integer(v)) => Bind::Integer(Some(*v)),
        (FieldType::Ref, Value::Ref(v)) => Bind::Integer(Some(i64::try_from(v.0).ok()?)),
        (FieldType::Decimal, Value::Decimal(v)) => Bind::Decimal(Some(*v)),
        (FieldType::Bool, Value::Bool(v)) => Bind::Bool(Some(*v)),
        (FieldType::Date, Value::Date(v)) => Bind::Date(Some(*v)),
        (FieldType::Timestamp, Value::Timestamp(v)) => Bind::Timestamp(Some(*v)),
        (FieldType::Bytes, Value::Bytes(v)) => Bind::Bytes(Some(v.clone())),
        (FieldType::Json, Value::Json(v)) => Bind::Json(Some(v.clone())),
        _ => return None,
    })
}

/// A column of values of one field type, bound as one typed array (for `= ANY` filters and
/// lookups by many values).
#[derive(Debug)]
pub(crate) struct ColumnArray {
    ty: FieldType,
    bind: Bind,
}

impl ColumnArray {
    /// An empty column of `ty` with room for `capacity` values.
    pub fn new(ty: FieldType, capacity: usize) -> Self {
        let bind = match ty {
            FieldType::Text => Bind::TextArray(Vec::with_capacity(capacity)),
            FieldType::Integer | FieldType::Ref => Bind::IntegerArray(Vec::with_capacity(capacity)),
            FieldType::Decimal => Bind::DecimalArray(Vec::with_capacity(capacity)),
            FieldType::Bool => Bind::BoolArray(Vec::with_capacity(capacity)),
            FieldType::Date => Bind::DateArray(Vec::with_capacity(capacity)),
            FieldType::Timestamp => Bind::TimestampArray(Vec::with_capacity(capacity)),
            FieldType::Bytes => Bind::BytesArray(Vec::with_capacity(capacity)),
            FieldType::Json => Bind::JsonArray(Vec::with_capacity(capacity)),
        };
        Self { ty, bind }
    }

    /// Appends `value`; `false` (and nothing appended) when it is not of the column's type.
    pub fn push(&mut self, value: &Value) -> bool {
        match (&mut self.bind, value) {
            (Bind::TextArray(a), Value::Null) => a.push(None),
            (Bind::IntegerArray(a), Value::Null) => a.push(None),
            (Bind::DecimalArray(a), Value::Null) => a.push(None),
            (Bind::BoolArray(a), Value::Null) => a.push(None),
            (Bind::DateArray(a), Value::Null) => a.push(None),
            (Bind::TimestampArray(a), Value::Null) => a.push(None),
            (Bind::BytesArray(a), Value::Null) => a.push(None),
            (Bind::JsonArray(a), Value::Null) => a.push(None),
            (Bind::TextArray(a), Value::Text(v)) => a.push(Some(v.clone())),
            (Bind::IntegerArray(a), Value::Integer(v)) if self.ty == FieldType::Integer => {
                a.push(Some(*v))
            }
            (Bind::IntegerArray(a), Value::Ref(v)) if self.ty == FieldType::Ref => {
                match i64::try_from(v.0) {
                    Ok(v) => a.push(Some(v)),
                    Err(_) => return false,
                }
            }
            (Bind::DecimalArray(a), Value::Decimal(v)) => a.push(Some(*v)),
            (Bind::BoolArray(a), Value::Bool(v)) => a.push(Some(*v)),
            (Bind::DateArray(a), Value::Date(v)) => a.push(Some(*v)),
            (Bind::TimestampArray(a), Value::Timestamp(v)) => a.push(Some(*v)),
            (Bind::BytesArray(a), Value::Bytes(v)) => a.push(Some(v.clone())),
            (Bind::JsonArray(a), Value::Json(v)) => a.push(Some(v.clone())),
            _ => return false,
        }
        true
    }

    /// Whether no value was appended.
    pub fn is_empty(&self) -> bool {
        match &self.bind {
            Bind::TextArray(a) => a.is_empty(),
            Bind::IntegerArray(a) => a.is_empty(),
            Bind::DecimalArray(a) => a.is_empty(),
            Bind::BoolArray(a) => a.is_empty(),
            Bind::DateArray(a) => a.is_empty(),
            Bind::TimestampArray(a) => a.is_empty(),
            Bind::BytesArray(a) => a.is_empty(),
            Bind::JsonArray(a) => a.is_empty(),
            _ => true,
        }
    }

    /// The array bind.
    pub fn into_bind(self) -> Bind {
        self.bind
    }
}

/// Escapes `\`, `%` and `_` so every character of `text` is literal in a `LIKE` pattern
/// with `ESCAPE '\'`.
pub(crate) fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value of type `ty`, for deciding through the reference ordering how a value of `ty`
/// compares with a value of another type (which depends on the types only).
fn sample(ty: FieldType) -> Value {
    match ty {
        FieldType::Text => Value::Text(String::new()),
        FieldType::Integer => Value::Integer(0),
        FieldType::Decimal => Value::Decimal(Decimal::ZERO),
        FieldType::Bool => Value::Bool(false),
        FieldType::Date => Value::Date(NaiveDate::MIN),
        FieldType::Timestamp => Value::Timestamp(DateTime::<Utc>::MIN_UTC),
        FieldType::Ref => Value::Ref(RecordId(0)),
        FieldType::Bytes => Value::Bytes(Vec::new()),
        FieldType::Json => Value::Json(serde_json::Value::Null),
    }
}

const ALL_TYPES: [FieldType; 9] = [
    FieldType::Text,
    FieldType::Integer,
    FieldType::Decimal,
    FieldType::Bool,
    FieldType::Date,
    FieldType::Timestamp,
    FieldType::Ref,
    FieldType::Bytes,
    FieldType::Json,
];

/// The tag serde gives a value of `ty` in the custom JSONB column (`{"Text": "…"}`).
fn tag(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Text => "Text",
        FieldType::Integer => "Integer",
        FieldType::Decimal => "Decimal",
        FieldType::Bool => "Bool",
        FieldType::Date => "Date",
        FieldType::Timestamp => "Timestamp",
        FieldType::Ref => "Ref",
        FieldType::Bytes => "Bytes",
        FieldType::Json => "Json",
    }
}

/// Which bound of a range.
#[derive(Clone, Copy, PartialEq)]
enum Bound {
    Min,
    Max,
}

impl Bound {
    fn operator(self) -> &'static str {
        match self {
            Bound::Min => ">=",
            Bound::Max => "<=",
        }
    }

    /// Whether a value ordered `order` against the bound passes it.
    fn passes(self, order: Ordering) -> bool {
        match self {
            Bound::Min => order != Ordering::Less,
            Bound::Max => order != Ordering::Greater,
        }
    }
}

/// Appends ` AND (…)` for each filter SQL can evaluate exactly. Returns `false` when some
/// filter was left out and the caller must apply the query's filters in Rust.
pub(crate) fn push_filters(
    sql: &mut Sql,
    desc: &EntityDesc,
    filters: &[Filter],
) -> Result<bool, StoreError> {
    let mut exact = true;
    for filter in filters {
        let bound_before = sql.binds.len();
        let mut condition = Sql { text: String::new(), binds: std::mem::take(&mut sql.binds) };
        let translated = filter_condition(&mut condition, desc, filter)?;
        sql.binds = condition.binds;
        if translated {
            sql.push(" AND (").push(&condition.text).push(")");
        } else {
            // Drop the parameters of the abandoned condition so placeholders stay in step.
            sql.binds.truncate(bound_before);
            exact = false;
        }
    }
    Ok(exact)
}

/// The condition of one filter, or `false` when SQL cannot decide it exactly and Rust must.
/// The text may be left half-written when `false` comes back; the caller drops it.
fn filter_condition(sql: &mut Sql, desc: &EntityDesc, filter: &Filter) -> Result<bool, StoreError> {
    if let Filter::Any(members) = filter {
        return any_condition(sql, desc, members);
    }
    match filter.field().and_then(|name| name.strip_prefix(CUSTOM_PREFIX)) {
        Some(name) => Ok(custom_condition(sql, name, filter)),
        None => declared_condition(sql, desc, filter),
    }
}

/// The condition of an `Any` filter: its members' conditions, each in parentheses, joined
/// by `OR` (`FALSE` for no members). Exact only when every member is; one member left to
/// Rust leaves the whole `Any` to Rust.
fn any_condition(sql: &mut Sql, desc: &EntityDesc, members: &[Filter]) -> Result<bool, StoreError> {
    if members.is_empty() {
        sql.push("FALSE");
        return Ok(true);
    }
    for (i, member) in members.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(");
        if !filter_condition(sql, desc, member)? {
            return Ok(false);
        }
        sql.push(")");
    }
    Ok(true)
}

/// The condition of a filter on a declared column; always exact.
fn declared_condition(
    sql: &mut Sql,
    desc: &EntityDesc,
    filter: &Filter,
) -> Result<bool, StoreError> {
    let Some(field) = filter.field().and_then(|name| desc.field(name)) else {
        return Err(StoreError::invalid_query(format!(
            "{}: no field {:?} to filter on",
            desc.kind,
            filter.field().unwrap_or_default()
        )));
    };
    let column = ident(&field.name);
    match filter {
        Filter::Eq(_, Value::Null) => {
            sql.push(&column).push(" IS NULL");
        }
        Filter::Eq(_, value) => match scalar(field.ty, value) {
            Some(bind) => {
                sql.push(&column).push(" = ").push_bind(bind);
            }
            None => {
                sql.push("FALSE");
            }
        },
        Filter::In(_, values) => {
            let mut array = ColumnArray::new(field.ty, values.len());
            let mut null = false;
            for value in values {
                if value.is_null() {
                    null = true;
                } else {
                    // A member of another type can equal no stored value: leave it out.
                    array.push(value);
                }
            }
            let mut parts = Vec::new();
            if !array.is_empty() {
                let placeholder = sql.param(array.into_bind());
                parts.push(format!("{column} = ANY({placeholder})"));
            }
            if null {
                parts.push(format!("{column} IS NULL"));
            }
            if parts.is_empty() {
                sql.push("FALSE");
            } else {
                sql.push(&parts.join(" OR "));
            }
        }
        Filter::Range { min, max, .. } => {
            sql.push(&column).push(" IS NOT NULL");
            for (bound, value) in [(Bound::Min, min), (Bound::Max, max)] {
                let Some(value) = value else { continue };
                match scalar(field.ty, value).filter(|_| !value.is_null()) {
                    Some(bind) => {
                        sql.push(" AND ").push(&column).push(" ").push(bound.operator());
                        sql.push(" ").push_bind(bind);
                    }
                    None => {
                        // A bound of another type (or Null) orders against every stored value
                        // the same way, by type; a reference beyond bigint is above them all.
                        let order = match (field.ty, value) {
                            (FieldType::Ref, Value::Ref(_)) => Ordering::Less,
                            _ => sample(field.ty).sort_cmp(value),
                        };
                        if !bound.passes(order) {
                            sql.push(" AND FALSE");
                        }
                    }
                }
            }
        }
        Filter::Prefix(_, prefix) => {
            let pattern = format!("{}%", like_literal(prefix));
            sql.push(&column).push(" LIKE ").push_bind(Bind::Text(Some(pattern)));
            sql.push(" ESCAPE '\\'");
        }
        Filter::Fuzzy(_, term) => {
            let pattern = format!("%{}%", like_literal(&fold(term)));
            sql.push(&column).push(" LIKE ").push_bind(Bind::Text(Some(pattern)));
            sql.push(" ESCAPE '\\'");
        }
        // `filter_condition` translates `Any` itself; should one get here, Rust decides it.
        Filter::Any(_) => return Ok(false),
    }
    Ok(true)
}

/// The JSON a value takes in the custom column: serde's externally tagged form.
pub(crate) fn custom_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// The condition of a filter on a custom field, or `false` when SQL cannot decide it
/// exactly and Rust must.
fn custom_condition(sql: &mut Sql, name: &str, filter: &Filter) -> bool {
    if let Filter::In(_, values) = filter {
        if values.is_empty() {
            sql.push("FALSE");
            return true;
        }
    }
    // Custom values are stored as `{"<Type>": <value>}`; `Null` values are not stored.
    // FIXME: no index covers the custom column, so filters on custom fields scan the tenant's
    // rows of the kind; a GIN index on `custom` with `@>` containment would serve equality.
    let key = sql.param(Bind::Text(Some(name.to_owned())));
    let entry = format!("(custom -> {key})");
    match filter {
        Filter::Eq(_, value) => custom_equals(sql, &entry, value),
        Filter::In(_, values) => {
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    sql.push(" OR ");
                }
                sql.push("(");
                if !custom_equals(sql, &entry, value) {
                    return false;
                }
                sql.push(")");
            }
            true
        }
        Filter::Range { min, max, .. } => {
            sql.push(&entry).push(" IS NOT NULL");
            for (bound, value) in [(Bound::Min, min), (Bound::Max, max)] {
                let Some(value) = value else { continue };
                let Some(ty) = value.field_type() else {
                    // Every stored value is above a Null bound.
                    if bound == Bound::Max {
                        sql.push(" AND FALSE");
                    }
                    continue;
                };
                let Some((cast, bind)) = custom_typed(value) else { return false };
                let placeholder = sql.param(bind);
                let mut parts = vec![format!(
                    "({entry} ->> '{}'){cast} {} {placeholder}",
                    tag(ty),
                    bound.operator()
                )];
                // Values of other types pass or fail by the order of their types.
                for other in ALL_TYPES {
                    if other != ty && bound.passes(sample(other).sort_cmp(&sample(ty))) {
                        parts.push(format!("({entry} -> '{}') IS NOT NULL", tag(other)));
                    }
                }
                sql.push(" AND (").push(&parts.join(" OR ")).push(")");
            }
            true
        }
        Filter::Prefix(_, prefix) => {
            let pattern = format!("{}%", like_literal(prefix));
            sql.push(&format!("({entry} ->> 'Text') LIKE "));
            sql.push_bind(Bind::Text(Some(pattern))).push(" ESCAPE '\\'");
            true
        }
        // `Query::validate` refuses fuzzy filters on custom fields, and `filter_condition`
        // translates `Any` itself.
        Filter::Fuzzy(..) | Filter::Any(_) => false,
    }
}

/// `entry` equals `value`; `false` when only Rust can tell.
fn custom_equals(sql: &mut Sql, entry: &str, value: &Value) -> bool {
    match value {
        Value::Null => {
            sql.push(entry).push(" IS NULL");
        }
        // Decimals are equal by number, not by the text serde wrote (1.10 equals 1.1).
        Value::Decimal(d) => {
            sql.push(&format!("({entry} ->> 'Decimal')::numeric = "));
            sql.push_bind(Bind::Decimal(Some(*d)));
        }
        // JSON is kept as text whose form depends on serde_json's features; compare in Rust.
        Value::Json(_) => return false,
        other => {
            sql.push(entry).push(" = ").push_bind(Bind::Json(Some(custom_json(other))));
        }
    }
    true
}

/// The cast that turns a custom value's JSON text into a comparable SQL value, and the bind
/// of the bound; `None` where SQL cannot order exactly like [`Value::sort_cmp`].
fn custom_typed(value: &Value) -> Option<(&'static str, Bind)> {
    Some(match value {
        Value::Text(v) => (" COLLATE \"C\"", Bind::Text(Some(v.clone()))),
        Value::Integer(v) => ("::bigint", Bind::Integer(Some(*v))),
        Value::Decimal(v) => ("::numeric", Bind::Decimal(Some(*v))),
        Value::Bool(v) => ("::boolean", Bind::Bool(Some(*v))),
        Value::Date(v) => ("::date", Bind::Date(Some(*v))),
        Value::Ref(v) => ("::numeric", Bind::Decimal(Some(Decimal::from(v.0)))),
        // Timestamps keep nanoseconds in JSON but timestamptz only microseconds; bytes and
        // JSON have no SQL order equal to the reference one.
        Value::Timestamp(_) | Value::Bytes(_) | Value::Json(_) | Value::Null => return None,
    })
}

/// Appends `ORDER BY` for the query's sorts and the id tie-break. Returns `false` (and
/// appends nothing) when a sort key has no SQL order equal to the reference one.
pub(crate) fn push_order(sql: &mut Sql, desc: &EntityDesc, query: &Query) -> bool {
    let mut keys = Vec::new();
    for sort in &query.sorts {
        let Some(field) = desc.field(&sort.field) else { return false };
        // JSON sorts by its serde_json text, which jsonb's order does not follow.
        if field.ty == FieldType::Json {
            return false;
        }
        let direction = if sort.descending { "DESC NULLS LAST" } else { "ASC NULLS FIRST" };
        keys.push(format!("{} {direction}", ident(&field.name)));
    }
    keys.push("id ASC".to_owned());
    sql.push(" ORDER BY ").push(&keys.join(", "));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::FieldDesc;

    fn desc() -> EntityDesc {
        EntityDesc::new(
            "thing",
            vec![
                FieldDesc::new("name", FieldType::Text, "Name", "名称").sortable(),
                FieldDesc::new("search", FieldType::Text, "Search", "检索").searchable(),
                FieldDesc::new("size", FieldType::Integer, "Size", "大小").sortable(),
                FieldDesc::new("data", FieldType::Json, "Data", "数据").sortable(),
            ],
        )
        .unwrap()
    }

    fn translate(filters: Vec<Filter>) -> (Sql, bool) {
        let mut sql = Sql::new("WHERE tenant_id = $1");
        sql.binds.push(Bind::Text(Some("t".into())));
        let exact = push_filters(&mut sql, &desc(), &filters).unwrap();
        (sql, exact)
    }

    #[test]
    fn escapes_like_wildcards() {
        assert_eq!(like_literal(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn user_text_becomes_binds_only() {
        let evil = "x'); DROP TABLE crm_thing; --%";
        let (sql, exact) = translate(vec![
            Filter::Eq("name".into(), Value::Text(evil.into())),
            Filter::Prefix("name".into(), evil.into()),
            Filter::Fuzzy("search".into(), evil.into()),
            Filter::Eq(format!("custom.{evil}"), Value::Text(evil.into())),
        ]);
        assert!(exact);
        assert!(!sql.text.contains("DROP"), "{}", sql.text);
        assert!(!sql.text.contains(evil), "{}", sql.text);
        assert_eq!(sql.binds.len(), 6);
    }

    #[test]
    fn mismatched_types_become_constants() {
        let (sql, _) = translate(vec![Filter::Eq("size".into(), Value::Text("3".into()))]);
        assert_eq!(sql.text, "WHERE tenant_id = $1 AND (FALSE)");
        // Text ranks above integers, so a text upper bound passes every integer.
        let (sql, _) = translate(vec![Filter::Range {
            field: "size".into(),
            min: None,
            max: Some(Value::Text("a".into())),
        }]);
        assert_eq!(sql.text, "WHERE tenant_id = $1 AND (\"size\" IS NOT NULL)");
        let (sql, _) = translate(vec![Filter::Range {
            field: "size".into(),
            min: Some(Value::Text("a".into())),
            max: None,
        }]);
        assert_eq!(sql.text, "WHERE tenant_id = $1 AND (\"size\" IS NOT NULL AND FALSE)");
    }

    #[test]
    fn custom_json_and_timestamps_are_left_to_rust() {
        let (_, exact) =
            translate(vec![Filter::Eq("custom.x".into(), Value::Json(serde_json::json!({})))]);
        assert!(!exact);
        let (_, exact) = translate(vec![Filter::Range {
            field: "custom.x".into(),
            min: Some(Value::Timestamp(DateTime::<Utc>::MIN_UTC)),
            max: None,
        }]);
        assert!(!exact);
    }

    #[test]
    fn any_becomes_a_parenthesised_or() {
        let (sql, exact) = translate(vec![
            Filter::Eq("size".into(), Value::Integer(3)),
            Filter::Any(vec![
                Filter::Eq("name".into(), Value::Null),
                Filter::Fuzzy("search".into(), "A%".into()),
                Filter::Eq("custom.level".into(), Value::Integer(2)),
            ]),
        ]);
        assert!(exact);
        assert_eq!(
            sql.text,
            "WHERE tenant_id = $1 AND (\"size\" = $2) AND ((\"name\" IS NULL) OR \
             (\"search\" LIKE $3 ESCAPE '\\') OR ((custom -> $4) = $5))"
        );
        assert_eq!(sql.binds.len(), 5);
        assert!(matches!(&sql.binds[2], Bind::Text(Some(p)) if p == "%a\\%%"));
        let (sql, exact) = translate(vec![Filter::Any(Vec::new())]);
        assert!(exact);
        assert_eq!(sql.text, "WHERE tenant_id = $1 AND (FALSE)");
    }

    #[test]
    fn any_with_a_member_only_rust_decides_is_left_to_rust() {
        let (sql, exact) = translate(vec![
            Filter::Any(vec![
                Filter::Eq("name".into(), Value::Text("a".into())),
                Filter::Eq("custom.x".into(), Value::Json(serde_json::json!({}))),
            ]),
            Filter::Eq("size".into(), Value::Integer(1)),
        ]);
        assert!(!exact);
        assert_eq!(sql.text, "WHERE tenant_id = $1 AND (\"size\" = $2)");
        assert_eq!(sql.binds.len(), 2, "the abandoned Any leaves no parameter behind");
    }

    #[test]
    fn orders_like_the_reference() {
        let mut sql = Sql::default();
        let query =
            Query::all().sort(crm_domain::Sort::desc("size")).sort(crm_domain::Sort::asc("name"));
        assert!(push_order(&mut sql, &desc(), &query));
        assert_eq!(
            sql.text,
            " ORDER BY \"size\" DESC NULLS LAST, \"name\" ASC NULLS FIRST, id ASC"
        );
        let query = Query::all().sort(crm_domain::Sort::asc("data"));
        assert!(!push_order(&mut Sql::default(), &desc(), &query));
    }
}
