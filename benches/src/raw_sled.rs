//! The raw sled baseline: the same rows written straight into a `sled::Db`, and a search that
//! scans them.
//!
//! This is what a careful programmer writes without the engine: one keyspace, customers under
//! `c` and contacts under `k`, each keyed by its id in big-endian bytes and encoded with
//! postcard, a chunk of customers with their contacts in one `apply_batch`. No secondary
//! index, no audit entry, no version check: the floor the engine's figures are held against.

use std::cmp::Ordering;

use crm_domain::text::fold;

use crate::data::{RawCustomer, RawRow};
use crate::{BenchError, Result};

/// Key prefix of customers.
const CUSTOMER_PREFIX: u8 = b'c';
/// Key prefix of contacts.
const CONTACT_PREFIX: u8 = b'k';

fn key(prefix: u8, id: i64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = prefix;
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// Writes `rows` in one atomic batch: every customer and contact of the chunk.
pub fn insert_chunk(db: &sled::Db, rows: &[RawRow]) -> Result<()> {
    let mut batch = sled::Batch::default();
    for row in rows {
        batch.insert(&key(CUSTOMER_PREFIX, row.customer.id), postcard::to_stdvec(&row.customer)?);
        for contact in &row.contacts {
            batch.insert(&key(CONTACT_PREFIX, contact.id), postcard::to_stdvec(contact)?);
        }
    }
    db.apply_batch(batch)?;
    Ok(())
}

/// Writes every row in chunks of `chunk` customers, then flushes to disk.
pub fn insert_all(db: &sled::Db, rows: &[RawRow], chunk: usize) -> Result<()> {
    for rows in rows.chunks(chunk.max(1)) {
        insert_chunk(db, rows)?;
    }
    db.flush()?;
    Ok(())
}

/// How many customers and contacts the database holds.
pub fn count(db: &sled::Db) -> (usize, usize) {
    let customers = db.scan_prefix([CUSTOMER_PREFIX]).count();
    let contacts = db.scan_prefix([CONTACT_PREFIX]).count();
    (customers, contacts)
}

/// What a sled database holds over all its trees: keys, and bytes of keys plus values.
/// Works on any sled database, the engine's included, so both sides can be compared.
pub fn footprint(db: &sled::Db) -> Result<(u64, u64)> {
    let mut keys = 0u64;
    let mut bytes = 0u64;
    for name in db.tree_names() {
        for entry in db.open_tree(&name)?.iter() {
            let (key, value) = entry?;
            keys += 1;
            bytes += (key.len() + value.len()) as u64;
        }
    }
    Ok((keys, bytes))
}

/// The customer with `id`, decoded.
pub fn get_customer(db: &sled::Db, id: i64) -> Result<Option<RawCustomer>> {
    match db.get(key(CUSTOMER_PREFIX, id))? {
        Some(bytes) => Ok(Some(postcard::from_bytes(&bytes)?)),
        None => Ok(None),
    }
}

/// A fuzzy search by full scan: folds `term`, decodes every customer, keeps those whose
/// search text contains the folded term, sorts them by name then id and returns the first
/// `limit` with the number of matches.
pub fn search(db: &sled::Db, term: &str, limit: usize) -> Result<(Vec<RawCustomer>, u64)> {
    let term = fold(term.trim());
    let mut matching = Vec::new();
    for entry in db.scan_prefix([CUSTOMER_PREFIX]) {
        let (_, bytes) = entry?;
        let customer: RawCustomer = postcard::from_bytes(&bytes)?;
        if customer.search.contains(&term) {
            matching.push(customer);
        }
    }
    let total = matching.len() as u64;
    matching.sort_by(by_name_then_id);
    matching.truncate(limit);
    Ok((matching, total))
}

/// The order of search results: name by bytes (as the engine sorts text), then id.
pub fn by_name_then_id(a: &RawCustomer, b: &RawCustomer) -> Ordering {
    a.name.cmp(&b.name).then(a.id.cmp(&b.id))
}

/// Checks that the record stored under `id` is `expected`: the paired read after a write.
pub fn verify(db: &sled::Db, expected: &RawCustomer) -> Result<()> {
    match get_customer(db, expected.id)? {
        Some(found) if &found == expected => Ok(()),
        Some(_) => Err(BenchError::Corrupt(format!("customer {} differs", expected.id))),
        None => Err(BenchError::Corrupt(format!("customer {} is missing", expected.id))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{generate, raw_rows, SEED};
    use chrono::DateTime;

    fn database() -> (sled::Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new().path(dir.path()).open().expect("sled opens in a temp dir");
        (db, dir)
    }

    #[test]
    fn inserts_and_searches() {
        let rows = raw_rows(
            &generate(300, SEED),
            DateTime::from_timestamp(1_700_000_000, 0).expect("valid instant"),
        );
        let (db, _dir) = database();
        insert_all(&db, &rows, 64).expect("insert");
        assert_eq!(count(&db), (300, 600));
        let (keys, bytes) = footprint(&db).expect("footprint");
        assert_eq!(keys, 900);
        assert!(bytes > 900 * 9, "{bytes} bytes");
        verify(&db, &rows[17].customer).expect("row 17 reads back");

        let name = rows[42].customer.name.clone();
        let (page, total) = search(&db, &name.to_uppercase(), 50).expect("search");
        let expected =
            rows.iter().filter(|r| r.customer.search.contains(&fold(&name))).count() as u64;
        assert_eq!(total, expected);
        assert!(page.iter().any(|c| c.id == 43));
        assert!(page.windows(2).all(|w| by_name_then_id(&w[0], &w[1]) == Ordering::Less));

        let (page, total) = search(&db, "zzqx", 50).expect("search");
        assert_eq!((page.len(), total), (0, 0));
    }
}
