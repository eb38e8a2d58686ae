//! Hierarchy walks in one round trip each: `WITH RECURSIVE` over a declared reference field.
//!
//! Both walks return exactly what the port's default methods return (the conformance suite
//! compares them), including the error when a walk runs past its limit, which is how a
//! corrupt cycle shows. The recursion is bounded by the limit: by depth for ancestors, by
//! depth and row count for descendants, so a cycle can never make the server loop.

use crm_domain::{EntityDesc, Record, RecordId, StoreError, TenantId};
use sqlx::{PgPool, Row};

use super::decode::{decode, qualified_select_list, select_list};
use super::error::map_error;
use super::sql::{id_param, ident, table};

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The ancestors of `id` through the reference column `parent`, nearest first.
pub(crate) async fn ancestors(
    pool: &PgPool,
    tenant: &TenantId,
    desc: &EntityDesc,
    parent: &str,
    id: RecordId,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let table = table(desc);
    let parent_column = ident(parent);
    let sql = format!(
        "WITH RECURSIVE chain AS (\
             SELECT 0::bigint AS crm_depth, {columns} FROM {table} \
             WHERE tenant_id = $1 AND id = $2 \
           UNION ALL \
             SELECT chain.crm_depth + 1, {t_columns} FROM chain \
             JOIN {table} t ON t.tenant_id = $1 AND t.id = chain.{parent_column} \
             WHERE chain.crm_depth < $3) \
         SELECT crm_depth, {columns} FROM chain ORDER BY crm_depth",
        columns = select_list(desc),
        t_columns = qualified_select_list(desc, "t."),
    );
    let rows = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(id_param(id)?)
        .bind(limit_param(limit))
        .fetch_all(pool)
        .await
        .map_err(|e| map_error(&format!("ancestors of {} {id}", desc.kind), e))?;

    let mut chain = Vec::with_capacity(rows.len());
    for row in &rows {
        chain.push(decode(desc, row, 1)?);
    }
    // The last record reached sits at the limit and still names a parent: the default walk
    // would need one more step than allowed.
    if let (Some(last_row), Some(last)) = (rows.last(), chain.last()) {
        let depth: i64 = last_row.try_get(0).map_err(|e| map_error("read a depth", e))?;
        if depth >= limit_param(limit) && last.get(parent).as_ref_id().is_some() {
            return Err(StoreError::corrupt(format!(
                "{} {id}: more than {limit} ancestors; the hierarchy may hold a cycle",
                desc.kind
            )));
        }
    }
    // The first record is `id` itself.
    Ok(chain.into_iter().skip(1).collect())
}

/// Every record below `id` through the reference column `parent`, level by level with each
/// level in id order.
pub(crate) async fn descendants(
    pool: &PgPool,
    tenant: &TenantId,
    desc: &EntityDesc,
    parent: &str,
    id: RecordId,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let table = table(desc);
    let parent_column = ident(parent);
    // No ORDER BY on the outer query: PostgreSQL then computes the recursive part only as
    // far as the LIMIT reads, level by level.
    let sql = format!(
        "WITH RECURSIVE tree AS (\
             SELECT 1::bigint AS crm_depth, {columns} FROM {table} \
             WHERE tenant_id = $1 AND {parent_column} = $2 \
           UNION ALL \
             SELECT tree.crm_depth + 1, {t_columns} FROM tree \
             JOIN {table} t ON t.tenant_id = $1 AND t.{parent_column} = tree.id \
             WHERE tree.crm_depth <= $3) \
         SELECT crm_depth, {columns} FROM tree LIMIT $4",
        columns = select_list(desc),
        t_columns = qualified_select_list(desc, "t."),
    );
    let rows = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(id_param(id)?)
        .bind(limit_param(limit))
        .bind(limit_param(limit).saturating_add(1))
        .fetch_all(pool)
        .await
        .map_err(|e| map_error(&format!("descendants of {} {id}", desc.kind), e))?;
    if rows.len() > limit {
        return Err(StoreError::corrupt(format!(
            "{} {id}: more than {limit} descendants; the hierarchy may hold a cycle",
            desc.kind
        )));
    }

    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let depth: i64 = row.try_get(0).map_err(|e| map_error("read a depth", e))?;
        found.push((depth, decode(desc, row, 1)?));
    }
    found.sort_by_key(|(depth, record)| (*depth, record.id));
    Ok(found.into_iter().map(|(_, record)| record).collect())
}
