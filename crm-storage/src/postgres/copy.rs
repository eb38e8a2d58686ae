//! Rows in the binary format of `COPY … FROM STDIN (FORMAT binary)`, the way inserts reach
//! PostgreSQL.
//!
//! A `COPY` fills the table a page at a time, where an `INSERT … SELECT` writes (and logs)
//! row by row, and its rows arrive in the same send/receive encoding sqlx uses for bind
//! parameters: each value is encoded by sqlx's own `Encode` for its column's type, so a value
//! reaches the table exactly as a bound parameter would.
//!
//! The format: a signature, a flags word and an empty header extension; then per row the
//! number of values and each value as a 32-bit length (−1 for NULL) and its bytes; then −1.

use crm_domain::{FieldType, Value};
use sqlx::postgres::{PgArgumentBuffer, Postgres};
use sqlx::Encode;

/// The signature every binary `COPY` stream starts with.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// A value that cannot be written to its column: of another type than the column's, a
/// reference beyond a bigint, or larger than a `COPY` value can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unfit;

/// The rows of one `COPY`, encoded as they are added.
pub(crate) struct CopyRows {
    out: PgArgumentBuffer,
}

impl CopyRows {
    /// An empty stream, with room for about `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut out = PgArgumentBuffer::default();
        out.reserve(bytes);
        out.extend_from_slice(SIGNATURE);
        // No flags (no OIDs), no header extension.
        out.extend_from_slice(&0_i32.to_be_bytes());
        out.extend_from_slice(&0_i32.to_be_bytes());
        Self { out }
    }

    /// Starts a row of `values` values; exactly that many pushes must follow.
    pub fn start_row(&mut self, values: u16) {
        // The count is a signed 16-bit number; a table has at most 1,600 columns.
        self.out.extend_from_slice(&values.to_be_bytes());
    }

    /// Adds `value` for a column of type `ty`. A `Null` is NULL in every column.
    pub fn push(&mut self, ty: FieldType, value: &Value) -> Result<(), Unfit> {
        match (ty, value) {
            (_, Value::Null) => {
                self.out.extend_from_slice(&(-1_i32).to_be_bytes());
                Ok(())
            }
            (FieldType::Text, Value::Text(v)) => self.text(v),
            (FieldType::Integer, Value::Integer(v)) => self.integer(*v),
            (FieldType::Ref, Value::Ref(v)) => self.integer(i64::try_from(v.0).map_err(|_| Unfit)?),
            (FieldType::Decimal, Value::Decimal(v)) => self.encoded(v),
            (FieldType::Bool, Value::Bool(v)) => self.encoded(v),
            (FieldType::Date, Value::Date(v)) => self.encoded(v),
            (FieldType::Timestamp, Value::Timestamp(v)) => self.encoded(v),
            (FieldType::Bytes, Value::Bytes(v)) => self.value(|out| out.extend_from_slice(v)),
            (FieldType::Json, Value::Json(v)) => self.json(v),
            _ => Err(Unfit),
        }
    }

    /// Adds a text value.
    pub fn text(&mut self, text: &str) -> Result<(), Unfit> {
        self.value(|out| out.extend_from_slice(text.as_bytes()))
    }

    /// Adds a bigint value.
    pub fn integer(&mut self, value: i64) -> Result<(), Unfit> {
        self.value(|out| out.extend_from_slice(&value.to_be_bytes()))
    }

    /// Adds a JSONB value: the format's version byte, then the JSON text.
    pub fn json(&mut self, json: &serde_json::Value) -> Result<(), Unfit> {
        let mut written = Ok(());
        self.value(|out| {
            out.push(1);
            written = serde_json::to_writer(&mut **out, json);
        })?;
        written.map_err(|_| Unfit)
    }

    /// Adds a value sqlx encodes, in the encoding it uses for bind parameters.
    fn encoded<'q, T: Encode<'q, Postgres>>(&mut self, value: &T) -> Result<(), Unfit> {
        let mut encoded = Ok(());
        self.value(|out| encoded = value.encode_by_ref(out).map(drop))?;
        encoded.map_err(|_| Unfit)
    }

    /// Adds one value written by `write`, behind its length.
    fn value(&mut self, write: impl FnOnce(&mut PgArgumentBuffer)) -> Result<(), Unfit> {
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        write(&mut self.out);
        let Ok(length) = i32::try_from(self.out.len() - at - 4) else {
            self.out.truncate(at);
            return Err(Unfit);
        };
        self.out[at..at + 4].copy_from_slice(&length.to_be_bytes());
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// The bytes written so far, taken out to be sent; the stream goes on empty, with room
    /// for about `bytes` more.
    pub fn take(&mut self, bytes: usize) -> Vec<u8> {
        let taken = std::mem::take(&mut *self.out);
        self.out.reserve(bytes);
        taken
    }

    /// The stream, ended.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&(-1_i16).to_be_bytes());
        std::mem::take(&mut *self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::RecordId;

    #[test]
    fn rows_follow_the_binary_copy_format() {
        let mut rows = CopyRows::with_capacity(64);
        rows.start_row(3);
        rows.text("ab").unwrap();
        rows.push(FieldType::Ref, &Value::Ref(RecordId(7))).unwrap();
        rows.push(FieldType::Text, &Value::Null).unwrap();
        let bytes = rows.finish();

        let mut expected = b"PGCOPY\n\xff\r\n\0".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0, 3]);
        expected.extend_from_slice(&[0, 0, 0, 2, b'a', b'b']);
        expected.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7]);
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        expected.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn json_carries_the_jsonb_version_byte() {
        let mut rows = CopyRows::with_capacity(0);
        rows.start_row(1);
        rows.json(&serde_json::json!({"a": 1})).unwrap();
        let bytes = rows.finish();
        assert_eq!(&bytes[21..25], &8_i32.to_be_bytes());
        assert_eq!(&bytes[25..33], b"\x01{\"a\":1}");
    }

    #[test]
    fn values_of_another_type_or_range_are_unfit() {
        let mut rows = CopyRows::with_capacity(0);
        rows.start_row(1);
        assert_eq!(rows.push(FieldType::Integer, &Value::Text("1".into())), Err(Unfit));
        assert_eq!(rows.push(FieldType::Ref, &Value::Ref(RecordId(u64::MAX))), Err(Unfit));
        assert_eq!(rows.push(FieldType::Ref, &Value::Integer(1)), Err(Unfit));
        // Nothing of a refused value was written.
        assert_eq!(rows.finish().len(), 19 + 2 + 2);
    }
}
