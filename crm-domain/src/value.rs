//! Typed field values, the currency every store keeps and every query compares.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

use crate::ids::RecordId;

/// The type of a declared field; stores map each onto a native column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FieldType {
    /// UTF-8 text.
    Text,
    /// A signed 64-bit integer.
    Integer,
    /// An exact decimal (money, quantities).
    Decimal,
    /// True or false.
    Bool,
    /// A calendar date a person picked (birthday, due date).
    Date,
    /// An instant, kept in UTC.
    Timestamp,
    /// The id of another record.
    Ref,
    /// Raw bytes (attachments).
    Bytes,
    /// Structured data kept as JSON.
    Json,
}

/// One field value. `Null` stands for "not set" in every type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// Not set.
    Null,
    /// Text.
    Text(String),
    /// An integer.
    Integer(i64),
    /// An exact decimal.
    Decimal(Decimal),
    /// A boolean.
    Bool(bool),
    /// A calendar date.
    Date(NaiveDate),
    /// An instant in UTC.
    Timestamp(DateTime<Utc>),
    /// The id of another record.
    Ref(RecordId),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// Structured data; kept as JSON text so compact binary encodings can carry it.
    Json(#[serde(with = "json_as_text")] serde_json::Value),
}

mod json_as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &serde_json::Value, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }
}

impl Value {
    /// Whether the value is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The field type this value belongs to, or `None` for `Null`.
    pub fn field_type(&self) -> Option<FieldType> {
        Some(match self {
            Value::Null => return None,
            Value::Text(_) => FieldType::Text,
            Value::Integer(_) => FieldType::Integer,
            Value::Decimal(_) => FieldType::Decimal,
            Value::Bool(_) => FieldType::Bool,
            Value::Date(_) => FieldType::Date,
            Value::Timestamp(_) => FieldType::Timestamp,
            Value::Ref(_) => FieldType::Ref,
            Value::Bytes(_) => FieldType::Bytes,
            Value::Json(_) => FieldType::Json,
        })
    }

    /// The text, if this is a text value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The record id, if this is a reference.
    pub fn as_ref_id(&self) -> Option<RecordId> {
        match self {
            Value::Ref(id) => Some(*id),
            _ => None,
        }
    }

    /// Orders two values the way every store sorts them: `Null` first, then by value within
    /// a type. Values of different types order by type so sorting never fails.
    pub fn sort_cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (Value::Integer(a), Value::Integer(b)) => a.cmp(b),
            (Value::Decimal(a), Value::Decimal(b)) => a.cmp(b),
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Date(a), Value::Date(b)) => a.cmp(b),
            (Value::Timestamp(a), Value::Timestamp(b)) => a.cmp(b),
            (Value::Ref(a), Value::Ref(b)) => a.cmp(b),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            (Value::Json(a), Value::Json(b)) => a.to_string().cmp(&b.to_string()),
            (a, b) => a.type_rank().cmp(&b.type_rank()),
        }
    }

    /// A number that orders like [`Value::sort_cmp`] wherever two numbers differ: the type
    /// rank in the top byte and, for text, its first seven bytes below it (zero-padded, so a
    /// shorter text whose bytes run out first stays first). Equal numbers say nothing, and
    /// the values themselves decide. Sorts that keep these beside their rows compare two
    /// integers for most pairs instead of following two pointers into two texts.
    pub fn sort_prefix(&self) -> u64 {
        let mut bytes = [0u8; 8];
        bytes[0] = self.type_rank();
        if let Value::Text(text) = self {
            for (to, from) in bytes[1..].iter_mut().zip(text.as_bytes()) {
                *to = *from;
            }
        }
        u64::from_be_bytes(bytes)
    }

    fn type_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Integer(_) => 2,
            Value::Decimal(_) => 3,
            Value::Ref(_) => 4,
            Value::Date(_) => 5,
            Value::Timestamp(_) => 6,
            Value::Text(_) => 7,
            Value::Bytes(_) => 8,
            Value::Json(_) => 9,
        }
    }

    /// Converts a JSON value into a value of `ty`, as the entity mapping does. `None` when
    /// the JSON does not fit the type.
    pub fn from_json(ty: FieldType, json: &serde_json::Value) -> Option<Value> {
        use serde_json::Value as J;
        if json.is_null() {
            return Some(Value::Null);
        }
        Some(match ty {
            FieldType::Text => Value::Text(json.as_str()?.to_owned()),
            FieldType::Integer => Value::Integer(json.as_i64()?),
            FieldType::Decimal => match json {
                J::String(s) => Value::Decimal(s.parse().ok()?),
                J::Number(n) => Value::Decimal(n.to_string().parse().ok()?),
                _ => return None,
            },
            FieldType::Bool => Value::Bool(json.as_bool()?),
            FieldType::Date => Value::Date(json.as_str()?.parse().ok()?),
            FieldType::Timestamp => Value::Timestamp(json.as_str()?.parse().ok()?),
            FieldType::Ref => Value::Ref(RecordId(json.as_u64()?)),
            FieldType::Bytes => Value::Bytes(
                json.as_array()?
                    .iter()
                    .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect::<Option<Vec<u8>>>()?,
            ),
            FieldType::Json => Value::Json(json.clone()),
        })
    }

    /// Converts the value into the JSON the entity mapping reads back with
    /// [`Value::from_json`].
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Text(s) => J::String(s.clone()),
            Value::Integer(i) => J::from(*i),
            Value::Decimal(d) => J::String(d.to_string()),
            Value::Bool(b) => J::Bool(*b),
            Value::Date(d) => J::String(d.to_string()),
            Value::Timestamp(t) => J::String(t.to_rfc3339()),
            Value::Ref(id) => J::from(id.0),
            Value::Bytes(b) => J::Array(b.iter().map(|b| J::from(*b)).collect()),
            Value::Json(j) => j.clone(),
        }
    }

    /// A short human-readable rendering, used by audit trails and exports.
    pub fn display(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Text(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Decimal(d) => d.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Date(d) => d.to_string(),
            Value::Timestamp(t) => t.to_rfc3339(),
            Value::Ref(id) => id.to_string(),
            Value::Bytes(b) => format!("{} bytes", b.len()),
            Value::Json(j) => j.to_string(),
        }
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(value)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Integer(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}

impl From<RecordId> for Value {
    fn from(value: RecordId) -> Self {
        Value::Ref(value)
    }
}

impl From<NaiveDate> for Value {
    fn from(value: NaiveDate) -> Self {
        Value::Date(value)
    }
}

impl From<DateTime<Utc>> for Value {
    fn from(value: DateTime<Utc>) -> Self {
        Value::Timestamp(value)
    }
}

impl From<Decimal> for Value {
    fn from(value: Decimal) -> Self {
        Value::Decimal(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Asserts what [`Value::sort_prefix`] promises: differing prefixes order as the values.
    fn prefixes_agree(a: &Value, b: &Value) -> Result<(), TestCaseError> {
        let (x, y) = (a.sort_prefix(), b.sort_prefix());
        if x != y {
            prop_assert_eq!(x.cmp(&y), a.sort_cmp(b), "{:?} vs {:?}", a, b);
        }
        Ok(())
    }

    #[test]
    fn sort_prefix_orders_types_and_short_texts() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Integer(-3),
            Value::Decimal(Decimal::new(15, 1)),
            Value::Ref(RecordId(9)),
            Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).expect("a leap day")),
            Value::Timestamp(DateTime::from_timestamp(0, 0).expect("the epoch")),
            Value::from(""),
            Value::from("\0"),
            Value::from("a"),
            Value::from("a\0"),
            Value::from("a\0b"),
            Value::from("abcdefg"),
            Value::from("abcdefgh"),
            Value::from("北京"),
            Value::Bytes(vec![1]),
        ];
        for a in &values {
            for b in &values {
                prefixes_agree(a, b).map_err(|e| e.to_string()).expect("prefixes agree");
            }
        }
        assert_eq!(Value::from("abcdefgh").sort_prefix(), Value::from("abcdefgz").sort_prefix());
    }

    proptest! {
        #[test]
        fn sort_prefix_agrees_with_sort_cmp(a in "[a\\x00\u{e9}北]{0,10}", b in "[a\\x00\u{e9}北]{0,10}") {
            prefixes_agree(&Value::from(a.as_str()), &Value::from(b.as_str()))?;
        }
    }
}
