//! Byte encodings of the sled store: keys, order-preserving values and records.
//!
//! The sled store keeps everything in one ordered keyspace, so the meaning of a key is its
//! bytes and the order of keys is the order range scans see. This module is the one place
//! that decides those bytes; the store and its integrity check both build keys through it.
//!
//! The key layout is documented on the `sled_store` module.
//!
//! An encoded value starts with a type tag ordered like [`Value::sort_cmp`] orders types,
//! and within a type its bytes order like the values do; the sled store's in-memory indexes
//! are ordered by these bytes. Encodings are self-delimiting (variable-length ones end in a
//! terminator), so no encoding is the start of another and bytes appended after one never
//! change the order, and equal values (`1.0` and `1.00` included) encode to equal bytes.

use chrono::Datelike;
use crm_domain::entity::Label;
use crm_domain::{EntityDesc, FieldDesc, FieldType, Record, RecordId, StoreError, TenantId, Value};
use serde::{Deserialize, Serialize};

/// Separates the parts of a key; no tenant, kind or field name can contain it.
pub(crate) const SEP: u8 = b'/';

/// Key space of registered entity descriptions.
const SPACE_DESC: u8 = b'd';
/// Key space of records.
const SPACE_RECORD: u8 = b'r';
/// Key space of the secondary index entries earlier versions stored.
const SPACE_INDEX: u8 = b'i';
/// Key space of sequences.
const SPACE_SEQUENCE: u8 = b's';

/// Type tags, in the order [`Value::sort_cmp`] ranks types.
const TAG_NULL: u8 = 0;
const TAG_BOOL: u8 = 1;
const TAG_INTEGER: u8 = 2;
const TAG_DECIMAL: u8 = 3;
const TAG_REF: u8 = 4;
const TAG_DATE: u8 = 5;
const TAG_TIMESTAMP: u8 = 6;
/// The tag of text values; prefix scans start with it.
pub(crate) const TAG_TEXT: u8 = 7;
const TAG_BYTES: u8 = 8;
const TAG_JSON: u8 = 9;

/// The first tag after `Null`: range scans with an open lower bound start here.
pub(crate) const FIRST_NON_NULL_TAG: u8 = TAG_BOOL;

/// The key of the registered description of `kind`.
pub(crate) fn desc_key(kind: &str) -> Vec<u8> {
    key(SPACE_DESC, &[kind.as_bytes()])
}

/// The key of the store's format number. It sits among the description keys under a name no
/// kind can have (kinds are lowercase identifiers), and its value is no description, so a
/// release from before in-memory indexes refuses to open the store instead of reading it
/// with indexes it would expect to find stored.
pub(crate) fn format_key() -> Vec<u8> {
    key(SPACE_DESC, &[b"~format"])
}

/// The format this release writes: 3, records and sequences only, indexes in memory, and
/// descriptions whose fields say whether they are unique. Format 2 stored descriptions
/// without that; format 1 also stored an entry per indexed value. A store without a format
/// key is of format 1, and format 1 written under the key marks an upgrade under way.
pub(crate) const FORMAT: u8 = 3;

/// The value of the format key for `format`: a marker no description decodes from, then
/// the number.
pub(crate) fn encode_format(format: u8) -> [u8; 6] {
    [0xff, 0xff, 0xff, 0xff, 0xff, format]
}

/// The format number in a stored format value.
pub(crate) fn decode_format(bytes: &[u8]) -> Result<u8, StoreError> {
    match bytes {
        [0xff, 0xff, 0xff, 0xff, 0xff, format] => Ok(*format),
        _ => Err(StoreError::corrupt("the stored format number cannot be read")),
    }
}

/// The prefix of every description key.
pub(crate) fn desc_space() -> Vec<u8> {
    vec![SPACE_DESC, SEP]
}

/// The prefix of every record key.
pub(crate) fn record_space() -> Vec<u8> {
    vec![SPACE_RECORD, SEP]
}

/// The prefix of every index entry earlier versions stored; the store removes them on open.
pub(crate) fn index_space() -> Vec<u8> {
    vec![SPACE_INDEX, SEP]
}

/// The prefix of every sequence key.
pub(crate) fn sequence_space() -> Vec<u8> {
    vec![SPACE_SEQUENCE, SEP]
}

/// The prefix of every record of `kind` in `tenant`.
pub(crate) fn record_prefix(tenant: &TenantId, kind: &str) -> Vec<u8> {
    key(SPACE_RECORD, &[tenant.as_str().as_bytes(), kind.as_bytes(), b""])
}

/// The key of one record.
pub(crate) fn record_key(tenant: &TenantId, kind: &str, id: RecordId) -> Vec<u8> {
    let mut key = record_prefix(tenant, kind);
    key.extend_from_slice(&id.0.to_be_bytes());
    key
}

/// The key of a sequence.
pub(crate) fn sequence_key(tenant: &TenantId, name: &str) -> Vec<u8> {
    key(SPACE_SEQUENCE, &[tenant.as_str().as_bytes(), name.as_bytes()])
}

fn key(space: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    key.push(space);
    for part in parts {
        key.push(SEP);
        key.extend_from_slice(part);
    }
    key
}

/// The record id in the last eight bytes of a record key.
pub(crate) fn id_suffix(key: &[u8]) -> Option<RecordId> {
    let start = key.len().checked_sub(8)?;
    let bytes: [u8; 8] = key.get(start..)?.try_into().ok()?;
    Some(RecordId(u64::from_be_bytes(bytes)))
}

/// A record key taken apart: tenant, kind and id.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RecordKey<'a> {
    /// The tenant name.
    pub tenant: &'a str,
    /// The entity kind.
    pub kind: &'a str,
    /// The record id.
    pub id: RecordId,
}

/// Takes a record key apart; `None` when it is not one.
pub(crate) fn parse_record_key(key: &[u8]) -> Option<RecordKey<'_>> {
    let rest = key.strip_prefix(&[SPACE_RECORD, SEP])?;
    let id = id_suffix(rest)?;
    let names = rest.get(..rest.len() - 8)?.strip_suffix(&[SEP])?;
    let (tenant, kind) = split_once(names)?;
    Some(RecordKey { tenant: utf8(tenant)?, kind: utf8(kind)?, id })
}

fn split_once(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|b| *b == SEP)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

fn utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// Appends the order-preserving encoding of `value`.
pub(crate) fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(b) => {
            out.push(TAG_BOOL);
            out.push(u8::from(*b));
        }
        Value::Integer(i) => {
            out.push(TAG_INTEGER);
            out.extend_from_slice(&flip_i64(*i).to_be_bytes());
        }
        Value::Decimal(d) => {
            out.push(TAG_DECIMAL);
            encode_decimal(*d, out);
        }
        Value::Ref(id) => {
            out.push(TAG_REF);
            out.extend_from_slice(&id.0.to_be_bytes());
        }
        Value::Date(date) => {
            out.push(TAG_DATE);
            let days = date.num_days_from_ce();
            out.extend_from_slice(&(days as u32 ^ (1 << 31)).to_be_bytes());
        }
        Value::Timestamp(at) => {
            out.push(TAG_TIMESTAMP);
            out.extend_from_slice(&flip_i64(at.timestamp()).to_be_bytes());
            out.extend_from_slice(&at.timestamp_subsec_nanos().to_be_bytes());
        }
        Value::Text(text) => {
            out.push(TAG_TEXT);
            escape_into(text.as_bytes(), out);
            out.extend_from_slice(&[0, 0]);
        }
        Value::Bytes(bytes) => {
            out.push(TAG_BYTES);
            escape_into(bytes, out);
            out.extend_from_slice(&[0, 0]);
        }
        Value::Json(json) => {
            out.push(TAG_JSON);
            escape_into(json.to_string().as_bytes(), out);
            out.extend_from_slice(&[0, 0]);
        }
    }
}

/// The bytes every encoded text value starting with `prefix` starts with.
pub(crate) fn text_prefix(prefix: &str, out: &mut Vec<u8>) {
    out.push(TAG_TEXT);
    escape_into(prefix.as_bytes(), out);
}

/// Maps signed order onto unsigned byte order.
fn flip_i64(i: i64) -> u64 {
    (i as u64) ^ (1 << 63)
}

/// Writes bytes so that a terminator `00 00` sorts below any continuation: `00` becomes
/// `00 ff`, every other byte stays.
fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
}

/// Decimal as sign, exponent and digits: `0.d1d2… × 10^e` with no trailing zero digit.
/// Negative numbers complement exponent and digits so larger magnitudes sort first.
fn encode_decimal(d: rust_decimal::Decimal, out: &mut Vec<u8>) {
    if d.is_zero() {
        out.push(1);
        return;
    }
    let negative = d.is_sign_negative();
    let digits = d.mantissa().unsigned_abs().to_string();
    let exponent = i64::try_from(digits.len()).unwrap_or(i64::MAX) - i64::from(d.scale());
    let digits = digits.trim_end_matches('0');
    // The exponent lies in -28..=29, so the offset keeps it inside one byte.
    let exponent = u8::try_from(exponent + 64).unwrap_or(u8::MAX);
    let complement = |b: u8| if negative { 0xff - b } else { b };
    out.push(if negative { 0 } else { 2 });
    out.push(complement(exponent));
    for digit in digits.bytes() {
        out.push(complement(digit - b'0' + 1));
    }
    out.push(complement(0));
}

/// Encodes a record for storage.
pub(crate) fn encode_record(record: &Record) -> Result<Vec<u8>, StoreError> {
    // Most records fit in this, so the buffer rarely grows while fields are written.
    postcard::to_extend(record, Vec::with_capacity(512))
        .map_err(|e| StoreError::corrupt(format!("record {} cannot be encoded: {e}", record.id)))
}

/// Decodes a stored record.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<Record, StoreError> {
    postcard::from_bytes(bytes)
        .map_err(|e| StoreError::corrupt(format!("stored record cannot be decoded: {e}")))
}

/// Encodes an entity description for storage.
pub(crate) fn encode_desc(desc: &EntityDesc) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(desc)
        .map_err(|e| StoreError::corrupt(format!("{} cannot be encoded: {e}", desc.kind)))
}

/// Decodes an entity description stored by a store of `format`.
pub(crate) fn decode_desc(bytes: &[u8], format: u8) -> Result<EntityDesc, StoreError> {
    let corrupt = |e: postcard::Error| {
        StoreError::corrupt(format!("stored entity description cannot be decoded: {e}"))
    };
    if format >= 3 {
        return postcard::from_bytes(bytes).map_err(corrupt);
    }
    let old: EntityDescV2 = postcard::from_bytes(bytes).map_err(corrupt)?;
    let fields = old
        .fields
        .into_iter()
        .map(|f| FieldDesc {
            name: f.name,
            ty: f.ty,
            indexed: f.indexed,
            unique: false,
            sortable: f.sortable,
            searchable: f.searchable,
            label: f.label,
        })
        .collect();
    Ok(EntityDesc { kind: old.kind, fields })
}

/// An entity description as formats 1 and 2 stored it (postcard keeps fields by position).
#[derive(Serialize, Deserialize)]
struct EntityDescV2 {
    kind: String,
    fields: Vec<FieldDescV2>,
}

/// A field as formats 1 and 2 stored it: without `unique`.
#[derive(Serialize, Deserialize)]
struct FieldDescV2 {
    name: String,
    ty: FieldType,
    indexed: bool,
    sortable: bool,
    searchable: bool,
    label: Label,
}

/// Encodes `desc` as formats 1 and 2 stored it, to build stores of those formats in tests.
#[cfg(test)]
pub(crate) fn encode_desc_v2(desc: &EntityDesc) -> Vec<u8> {
    let old = EntityDescV2 {
        kind: desc.kind.clone(),
        fields: desc
            .fields
            .iter()
            .map(|f| FieldDescV2 {
                name: f.name.clone(),
                ty: f.ty,
                indexed: f.indexed,
                sortable: f.sortable,
                searchable: f.searchable,
                label: f.label.clone(),
            })
            .collect(),
    };
    postcard::to_stdvec(&old).expect("a description encodes")
}

/// Encodes a sequence counter.
pub(crate) fn encode_counter(value: u64) -> [u8; 8] {
    value.to_be_bytes()
}

/// Decodes a sequence counter.
pub(crate) fn decode_counter(bytes: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::corrupt("stored sequence counter is not eight bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate, Utc};
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use std::cmp::Ordering;

    fn enc(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(value, &mut out);
        out
    }

    /// Checks that byte order of encodings equals `sort_cmp` over every pair, and that a
    /// trailing id never changes that order.
    fn assert_order_preserved(values: &[Value]) {
        for a in values {
            for b in values {
                let expected = a.sort_cmp(b);
                assert_eq!(enc(a).cmp(&enc(b)), expected, "{a:?} vs {b:?}");
                if expected != Ordering::Equal {
                    let mut ka = enc(a);
                    ka.extend_from_slice(&u64::MAX.to_be_bytes());
                    let mut kb = enc(b);
                    kb.extend_from_slice(&0u64.to_be_bytes());
                    assert_eq!(ka.cmp(&kb), expected, "{a:?} vs {b:?} with ids");
                }
            }
        }
    }

    fn dec(text: &str) -> Value {
        Value::Decimal(text.parse().unwrap())
    }

    #[test]
    fn integers_keep_their_order_including_negatives() {
        let values: Vec<Value> = [i64::MIN, -1_000_000, -256, -255, -1, 0, 1, 255, 256, i64::MAX]
            .into_iter()
            .map(Value::Integer)
            .collect();
        assert_order_preserved(&values);
        assert!(enc(&Value::Integer(-1)) < enc(&Value::Integer(0)));
    }

    #[test]
    fn decimals_keep_their_order_and_equal_scales_encode_alike() {
        let values: Vec<Value> = [
            "-79228162514264337593543950335",
            "-1000",
            "-999.99",
            "-10",
            "-9.5",
            "-1",
            "-0.123",
            "-0.12",
            "-0.0000000000000000000000000001",
            "0",
            "0.0000000000000000000000000001",
            "0.12",
            "0.123",
            "1",
            "1.5",
            "9.99",
            "10",
            "100",
            "100.01",
            "79228162514264337593543950335",
        ]
        .into_iter()
        .map(dec)
        .collect();
        assert_order_preserved(&values);
        assert_eq!(enc(&dec("1.0")), enc(&dec("1.000")));
        assert_eq!(enc(&dec("100")), enc(&dec("100.00")));
        assert_eq!(enc(&dec("-0.00")), enc(&dec("0")));
        assert_eq!(enc(&dec("12.5")), vec![TAG_DECIMAL, 2, 66, 2, 3, 6, 0]);
    }

    #[test]
    fn dates_and_timestamps_keep_their_order() {
        let dates: Vec<Value> =
            ["0001-01-01", "1969-12-31", "1970-01-01", "2024-02-29", "9999-12-31"]
                .into_iter()
                .map(|d| Value::Date(d.parse::<NaiveDate>().unwrap()))
                .collect();
        assert_order_preserved(&dates);
        let stamps: Vec<Value> = [
            "1900-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999Z",
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:00.000001Z",
            "2024-05-01T08:30:00.5Z",
            "2024-05-01T08:30:01Z",
        ]
        .into_iter()
        .map(|t| Value::Timestamp(t.parse::<DateTime<Utc>>().unwrap()))
        .collect();
        assert_order_preserved(&stamps);
    }

    #[test]
    fn text_keeps_byte_order_including_nul_and_prefixes() {
        let values: Vec<Value> =
            ["", "\0", "\0\0", "\0a", "B", "a", "a\0", "a\0b", "ab", "abc", "b", "é", "北京"]
                .into_iter()
                .map(Value::from)
                .collect();
        assert_order_preserved(&values);
    }

    #[test]
    fn types_order_like_sort_cmp() {
        let values = vec![
            Value::Null,
            Value::Bool(false),
            Value::Bool(true),
            Value::Integer(-5),
            dec("-5"),
            Value::Ref(RecordId(3)),
            Value::Date("2024-01-01".parse().unwrap()),
            Value::Timestamp("2024-01-01T00:00:00Z".parse().unwrap()),
            Value::from("x"),
            Value::Bytes(vec![0, 1]),
            Value::Json(serde_json::json!({"a": 1})),
        ];
        assert_order_preserved(&values);
    }

    #[test]
    fn text_prefix_bytes_start_exactly_the_matching_encodings() {
        let cases =
            [("ab", "abc", true), ("ab", "ab", true), ("ab", "a", false), ("a\0", "a", false)];
        for (prefix, text, expected) in cases {
            let mut bytes = Vec::new();
            text_prefix(prefix, &mut bytes);
            assert_eq!(
                enc(&Value::from(text)).starts_with(&bytes),
                expected,
                "{prefix:?} {text:?}"
            );
        }
    }

    #[test]
    fn keys_parse_back() {
        let tenant = TenantId::new("acme-1").unwrap();
        let key = record_key(&tenant, "customer", RecordId(258));
        assert_eq!(key, b"r/acme-1/customer/\0\0\0\0\0\0\x01\x02".to_vec());
        assert_eq!(
            parse_record_key(&key),
            Some(RecordKey { tenant: "acme-1", kind: "customer", id: RecordId(258) })
        );
        assert_eq!(parse_record_key(&sequence_key(&tenant, "x")), None);
    }

    proptest! {
        #[test]
        fn random_integers_and_texts_keep_their_order(
            a in any::<i64>(), b in any::<i64>(), s in ".*", t in ".*",
            m in any::<i64>(), n in any::<i64>(), sa in 0u32..=28, sb in 0u32..=28,
        ) {
            let (a, b) = (Value::Integer(a), Value::Integer(b));
            prop_assert_eq!(enc(&a).cmp(&enc(&b)), a.sort_cmp(&b));
            let (s, t) = (Value::from(s), Value::from(t));
            prop_assert_eq!(enc(&s).cmp(&enc(&t)), s.sort_cmp(&t));
            let da = Value::Decimal(Decimal::new(m, sa));
            let db = Value::Decimal(Decimal::new(n, sb));
            prop_assert_eq!(enc(&da).cmp(&enc(&db)), da.sort_cmp(&db));
        }
    }
}
