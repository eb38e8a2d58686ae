//! The raw PostgreSQL baseline: plain tables with the engine's typed columns, filled with one
//! `INSERT … SELECT * FROM unnest(…)` per table and chunk, and searched with `ILIKE`.
//!
//! The tables copy the column types the PostgreSQL store gives its kind tables (text in
//! byte order, `bigint` ids, `timestamptz`, a JSONB column for custom fields, a primary key
//! leading with the tenant) but carry no secondary or trigram index: this is the floor a
//! hand-written bulk load reaches, and the scan a hand-written search does.

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, Row};

use crate::data::{RawContact, RawCustomer, RawRow};
use crate::{BenchError, Result};

/// The tenant the raw rows are stored under.
pub const TENANT: &str = "bench";

/// Creates `raw_customer` and `raw_contact`, dropping earlier ones.
pub async fn create_tables(conn: &mut PgConnection) -> Result<()> {
    for ddl in [
        "DROP TABLE IF EXISTS raw_contact",
        "DROP TABLE IF EXISTS raw_customer",
        r#"CREATE TABLE raw_customer (
            tenant_id text NOT NULL,
            id bigint NOT NULL,
            version bigint NOT NULL,
            code text COLLATE "C",
            name text COLLATE "C",
            short_name text COLLATE "C",
            category text COLLATE "C",
            source text COLLATE "C",
            industry text COLLATE "C",
            grade text COLLATE "C",
            address text COLLATE "C",
            city text COLLATE "C",
            country text COLLATE "C",
            phone text COLLATE "C",
            email text COLLATE "C",
            website text COLLATE "C",
            owner bigint,
            status text COLLATE "C",
            parent bigint,
            remarks text COLLATE "C",
            search text COLLATE "C",
            created_at timestamptz,
            updated_at timestamptz,
            custom jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (tenant_id, id))"#,
        r#"CREATE TABLE raw_contact (
            tenant_id text NOT NULL,
            id bigint NOT NULL,
            version bigint NOT NULL,
            customer bigint,
            name text COLLATE "C",
            title text COLLATE "C",
            department text COLLATE "C",
            mobile text COLLATE "C",
            phone text COLLATE "C",
            email text COLLATE "C",
            birthday date,
            remarks text COLLATE "C",
            custom jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (tenant_id, id))"#,
    ] {
        sqlx::query(ddl).execute(&mut *conn).await?;
    }
    Ok(())
}

const INSERT_CUSTOMERS: &str = "INSERT INTO raw_customer (tenant_id, version, id, code, name, \
    short_name, category, source, industry, grade, address, city, country, phone, email, \
    website, owner, status, parent, remarks, search, created_at, updated_at) \
    SELECT $1, 1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], \
    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], \
    $14::text[], $15::text[], $16::bigint[], $17::text[], $18::bigint[], $19::text[], \
    $20::text[], $21::timestamptz[], $22::timestamptz[])";

const INSERT_CONTACTS: &str = "INSERT INTO raw_contact (tenant_id, version, id, customer, name, \
    title, department, mobile, phone, email, birthday, remarks) \
    SELECT $1, 1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
    $7::text[], $8::text[], $9::text[], $10::date[], $11::text[])";

fn instant(micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| BenchError::Corrupt(format!("timestamp {micros} is out of range")))
}

/// Column `pick` of every customer.
fn texts<'a>(rows: &'a [RawRow], pick: impl Fn(&'a RawCustomer) -> &'a str) -> Vec<&'a str> {
    rows.iter().map(|r| pick(&r.customer)).collect()
}

/// Column `pick` of every contact.
fn contact_texts<'a>(
    contacts: &[&'a RawContact],
    pick: impl Fn(&'a RawContact) -> &'a str,
) -> Vec<&'a str> {
    contacts.iter().map(|c| pick(c)).collect()
}

/// Writes `rows` (customers and their contacts) in one transaction, one statement per table.
pub async fn insert_chunk(conn: &mut PgConnection, rows: &[RawRow]) -> Result<()> {
    let mut created = Vec::with_capacity(rows.len());
    let mut updated = Vec::with_capacity(rows.len());
    for row in rows {
        created.push(instant(row.customer.created_at_us)?);
        updated.push(instant(row.customer.updated_at_us)?);
    }
    let contacts: Vec<&RawContact> = rows.iter().flat_map(|r| &r.contacts).collect();

    let mut tx = conn.begin().await?;
    sqlx::query(INSERT_CUSTOMERS)
        .bind(TENANT)
        .bind(rows.iter().map(|r| r.customer.id).collect::<Vec<i64>>())
        .bind(texts(rows, |c| &c.code))
        .bind(texts(rows, |c| &c.name))
        .bind(texts(rows, |c| &c.short_name))
        .bind(texts(rows, |c| &c.category))
        .bind(texts(rows, |c| &c.source))
        .bind(texts(rows, |c| &c.industry))
        .bind(texts(rows, |c| &c.grade))
        .bind(texts(rows, |c| &c.address))
        .bind(texts(rows, |c| &c.city))
        .bind(texts(rows, |c| &c.country))
        .bind(texts(rows, |c| &c.phone))
        .bind(texts(rows, |c| &c.email))
        .bind(texts(rows, |c| &c.website))
        .bind(rows.iter().map(|r| r.customer.owner).collect::<Vec<Option<i64>>>())
        .bind(texts(rows, |c| &c.status))
        .bind(rows.iter().map(|r| r.customer.parent).collect::<Vec<Option<i64>>>())
        .bind(texts(rows, |c| &c.remarks))
        .bind(texts(rows, |c| &c.search))
        .bind(created)
        .bind(updated)
        .execute(&mut *tx)
        .await?;
    sqlx::query(INSERT_CONTACTS)
        .bind(TENANT)
        .bind(contacts.iter().map(|c| c.id).collect::<Vec<i64>>())
        .bind(contacts.iter().map(|c| c.customer).collect::<Vec<i64>>())
        .bind(contact_texts(&contacts, |c| &c.name))
        .bind(contact_texts(&contacts, |c| &c.title))
        .bind(contact_texts(&contacts, |c| &c.department))
        .bind(contact_texts(&contacts, |c| &c.mobile))
        .bind(contact_texts(&contacts, |c| &c.phone))
        .bind(contact_texts(&contacts, |c| &c.email))
        .bind(contacts.iter().map(|c| c.birthday()).collect::<Vec<_>>())
        .bind(contact_texts(&contacts, |c| &c.remarks))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Writes every row in chunks of `chunk` customers.
pub async fn insert_all(conn: &mut PgConnection, rows: &[RawRow], chunk: usize) -> Result<()> {
    for rows in rows.chunks(chunk.max(1)) {
        insert_chunk(conn, rows).await?;
    }
    Ok(())
}

/// Brings the server to rest after a timed load into the database of `conn`, so the next
/// load (of either side) does not pay for this one: its tables vacuumed and analysed (left
/// alone, autovacuum would do it during the next load), a checkpoint (writing out this load's
/// dirty pages), and no autovacuum worker running anywhere on the server (waiting up to a
/// minute). `CHECKPOINT` needs a superuser, as creating the bench's databases does.
pub async fn settle(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("VACUUM (ANALYZE)").execute(&mut *conn).await?;
    sqlx::query("CHECKPOINT").execute(&mut *conn).await?;
    const BUSY: &str =
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'";
    for _ in 0..600 {
        let busy: i64 = sqlx::query_scalar(BUSY).fetch_one(&mut *conn).await?;
        if busy == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}

/// How many customers and contacts the raw tables hold.
pub async fn count(conn: &mut PgConnection) -> Result<(i64, i64)> {
    let customers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM raw_customer").fetch_one(&mut *conn).await?;
    let contacts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM raw_contact").fetch_one(&mut *conn).await?;
    Ok((customers, contacts))
}

/// Escapes `\`, `%` and `_` so every character of `text` is literal in a `LIKE` pattern.
pub fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const SEARCH: &str = "SELECT id, code, name, short_name, category, source, industry, grade, \
    address, city, country, phone, email, website, owner, status, parent, remarks, search, \
    created_at, updated_at, count(*) OVER () AS total \
    FROM raw_customer WHERE tenant_id = $1 AND search ILIKE $2 ORDER BY name, id LIMIT $3";

/// A fuzzy search the plain SQL way: the folded term inside `%…%` with `ILIKE`, sorted by
/// name then id, the first `limit` rows and the number of matches from a window count.
pub async fn search(
    conn: &mut PgConnection,
    term: &str,
    limit: i64,
) -> Result<(Vec<RawCustomer>, u64)> {
    let pattern = format!("%{}%", like_literal(&crm_domain::text::fold(term.trim())));
    let rows =
        sqlx::query(SEARCH).bind(TENANT).bind(pattern).bind(limit).fetch_all(&mut *conn).await?;
    let mut total = 0u64;
    let mut customers = Vec::with_capacity(rows.len());
    for row in rows {
        let count: i64 = row.try_get("total")?;
        total = u64::try_from(count).unwrap_or(0);
        let created: DateTime<Utc> = row.try_get("created_at")?;
        let updated: DateTime<Utc> = row.try_get("updated_at")?;
        customers.push(RawCustomer {
            id: row.try_get("id")?,
            code: row.try_get("code")?,
            name: row.try_get("name")?,
            short_name: row.try_get("short_name")?,
            category: row.try_get("category")?,
            source: row.try_get("source")?,
            industry: row.try_get("industry")?,
            grade: row.try_get("grade")?,
            address: row.try_get("address")?,
            city: row.try_get("city")?,
            country: row.try_get("country")?,
            phone: row.try_get("phone")?,
            email: row.try_get("email")?,
            website: row.try_get("website")?,
            owner: row.try_get("owner")?,
            status: row.try_get("status")?,
            parent: row.try_get("parent")?,
            remarks: row.try_get("remarks")?,
            search: row.try_get("search")?,
            created_at_us: created.timestamp_micros(),
            updated_at_us: updated.timestamp_micros(),
        });
    }
    Ok((customers, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_wildcards() {
        assert_eq!(like_literal(r"5%_a\b"), r"5\%\_a\\b");
        assert_eq!(like_literal("北京"), "北京");
    }
}
