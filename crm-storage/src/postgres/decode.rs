//! Reading rows back into [`Record`]s: typed columns by the description's field types, and
//! the custom JSONB column back into a map of values.

use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::{EntityDesc, FieldType, Record, RecordId, StoreError, Value};
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::collections::BTreeMap;

use super::sql::ident;

/// The columns every record query selects, in the order [`decode`] reads them.
pub(crate) fn select_list(desc: &EntityDesc) -> String {
    qualified_select_list(desc, "")
}

/// [`select_list`] with every column prefixed by `qualifier` (such as `t.`).
pub(crate) fn qualified_select_list(desc: &EntityDesc, qualifier: &str) -> String {
    let mut columns = vec![format!("{qualifier}id"), format!("{qualifier}version")];
    columns.extend(desc.fields.iter().map(|f| format!("{qualifier}{}", ident(&f.name))));
    columns.push(format!("{qualifier}custom"));
    columns.join(", ")
}

/// How many columns [`select_list`] names.
pub(crate) fn column_count(desc: &EntityDesc) -> usize {
    desc.fields.len() + 3
}

fn corrupt(desc: &EntityDesc, what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::corrupt(format!("postgres: {} {what}: {error}", desc.kind))
}

fn get<'r, T>(desc: &EntityDesc, row: &'r PgRow, at: usize, what: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get::<T, usize>(at).map_err(|e| corrupt(desc, what, e))
}

/// Builds the record from the [`select_list`] columns starting at column `first`.
pub(crate) fn decode(desc: &EntityDesc, row: &PgRow, first: usize) -> Result<Record, StoreError> {
    let id: i64 = get(desc, row, first, "id")?;
    let id = u64::try_from(id).map_err(|e| corrupt(desc, "id", e))?;
    let version: i64 = get(desc, row, first + 1, "version")?;
    let version = u64::try_from(version).map_err(|e| corrupt(desc, "version", e))?;

    let mut fields = BTreeMap::new();
    for (i, field) in desc.fields.iter().enumerate() {
        let at = first + 2 + i;
        let name = field.name.as_str();
        let value = match field.ty {
            FieldType::Text => get::<Option<String>>(desc, row, at, name)?.map(Value::Text),
            FieldType::Integer => get::<Option<i64>>(desc, row, at, name)?.map(Value::Integer),
            FieldType::Decimal => get::<Option<Decimal>>(desc, row, at, name)?.map(Value::Decimal),
            FieldType::Bool => get::<Option<bool>>(desc, row, at, name)?.map(Value::Bool),
            FieldType::Date => get::<Option<NaiveDate>>(desc, row, at, name)?.map(Value::Date),
            FieldType::Timestamp => {
                get::<Option<DateTime<Utc>>>(desc, row, at, name)?.map(Value::Timestamp)
            }
            FieldType::Ref => match get::<Option<i64>>(desc, row, at, name)? {
                Some(id) => Some(Value::Ref(RecordId(
                    u64::try_from(id).map_err(|e| corrupt(desc, name, e))?,
                ))),
                None => None,
            },
            FieldType::Bytes => get::<Option<Vec<u8>>>(desc, row, at, name)?.map(Value::Bytes),
            FieldType::Json => {
                get::<Option<serde_json::Value>>(desc, row, at, name)?.map(Value::Json)
            }
        };
        if let Some(value) = value {
            fields.insert(field.name.clone().into(), value);
        }
    }

    let custom: serde_json::Value = get(desc, row, first + 2 + desc.fields.len(), "custom")?;
    let custom: BTreeMap<String, Value> =
        serde_json::from_value(custom).map_err(|e| corrupt(desc, "custom", e))?;
    Ok(Record { id: RecordId(id), version, fields, custom })
}
