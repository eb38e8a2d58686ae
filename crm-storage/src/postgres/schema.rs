//! The schema the store keeps: migrations that run on open, and the table and indexes that
//! `register` creates or extends for each entity kind.
//!
//! Every kind gets its own table `crm_<kind>` with one typed column per declared field, so an
//! ERP can join it in plain SQL, and a JSONB column for custom fields. Every tenant-data
//! primary key leads with `tenant_id`, so the schema can be distributed by tenant (Citus)
//! unchanged. DDL runs under a transaction-scoped advisory lock, so processes and threads
//! that open or register at the same time never race on it.

use crm_domain::{EntityDesc, FieldDesc, FieldType, StoreError, StoreErrorKind};
use sqlx::{Connection, PgConnection, PgPool};

use super::error::map_error;
use super::sql::{column_type, ident, table};

/// First key of the advisory locks this store takes (`crm ` in ASCII). The second key tells
/// the purposes apart; batch locks use the one-bigint form, a separate key space.
const LOCK_CLASS: i32 = 0x6372_6d20;
/// Second key: the lock serialising migrations and registrations.
const LOCK_SCHEMA: i32 = 1;

/// Base migrations, applied once each, in order, and recorded in `crm_migrations`.
const MIGRATIONS: &[(&str, &str)] = &[(
    "0001_sequences",
    "CREATE TABLE IF NOT EXISTS crm_sequences (\
         tenant_id text NOT NULL, \
         name text NOT NULL, \
         value bigint NOT NULL, \
         PRIMARY KEY (tenant_id, name))",
)];

/// Takes the schema lock for the rest of `tx`.
async fn lock_schema(tx: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(LOCK_SCHEMA)
        .execute(tx)
        .await
        .map_err(|e| map_error("lock the schema", e))?;
    Ok(())
}

/// Runs the base migrations and tries to enable `pg_trgm`. Returns whether `pg_trgm` is
/// available (fuzzy filters then use trigram indexes; without it they scan).
pub(crate) async fn migrate(connection: &mut PgConnection) -> Result<bool, StoreError> {
    let mut tx = connection.begin().await.map_err(|e| map_error("begin migrations", e))?;
    lock_schema(&mut tx).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS crm_migrations (\
             name text PRIMARY KEY, \
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| map_error("create crm_migrations", e))?;

    let applied: Vec<String> = sqlx::query_scalar("SELECT name FROM crm_migrations")
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| map_error("read crm_migrations", e))?;
    for (name, ddl) in MIGRATIONS {
        if applied.iter().any(|done| done == name) {
            continue;
        }
        sqlx::query(ddl).execute(&mut *tx).await.map_err(|e| map_error(name, e))?;
        sqlx::query("INSERT INTO crm_migrations (name) VALUES ($1)")
            .bind(*name)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_error("record a migration", e))?;
        tracing::info!(migration = name, "postgres store applied a migration");
    }

    let mut trigram = has_trigram(&mut tx).await?;
    if !trigram {
        // Creating the extension needs rights the store's role may lack; a failure only
        // costs the trigram indexes, so it is undone by a savepoint and logged.
        let savepoint = |sql: &'static str| sqlx::query(sql);
        savepoint("SAVEPOINT crm_trgm")
            .execute(&mut *tx)
            .await
            .map_err(|e| map_error("set a savepoint", e))?;
        match sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute(&mut *tx).await {
            Ok(_) => {
                savepoint("RELEASE SAVEPOINT crm_trgm")
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_error("release a savepoint", e))?;
                trigram = has_trigram(&mut tx).await?;
            }
            Err(error) => {
                tracing::info!(%error, "pg_trgm is not available; fuzzy search will scan");
                savepoint("ROLLBACK TO SAVEPOINT crm_trgm")
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_error("roll back to a savepoint", e))?;
            }
        }
    }
    tx.commit().await.map_err(|e| map_error("commit migrations", e))?;
    Ok(trigram)
}

async fn has_trigram(tx: &mut PgConnection) -> Result<bool, StoreError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")
        .fetch_one(tx)
        .await
        .map_err(|e| map_error("look for pg_trgm", e))
}

/// The column definition of a declared field. Text compares in byte order (`COLLATE "C"`),
/// which is Rust's `str` order and the order every store sorts by.
fn column_definition(name: &str, ty: FieldType) -> String {
    match ty {
        FieldType::Text => format!("{} text COLLATE \"C\"", ident(name)),
        other => format!("{} {}", ident(name), column_type(other)),
    }
}

/// How `information_schema.columns.data_type` names a field type's column type.
fn information_schema_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Timestamp => "timestamp with time zone",
        other => column_type(other),
    }
}

/// An index name of at most 63 bytes (PostgreSQL's limit): `crm_<kind>_<field>_<suffix>`,
/// shortened with a stable hash when longer.
pub(crate) fn index_name(kind: &str, field: &str, suffix: &str) -> String {
    let name = format!("crm_{kind}_{field}_{suffix}");
    if name.len() <= 63 {
        return name;
    }
    // FNV-1a: stable across Rust releases, unlike the std hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    // Names are ASCII, so any byte index is a character boundary.
    format!("{}_{:012x}", &name[..50], hash & 0xffff_ffff_ffff)
}

/// Suffix of the B-tree index over every row of a tenant.
const FULL_INDEX: &str = "idx";
/// Suffix of the B-tree index over the rows where the field is set.
const NON_NULL_INDEX: &str = "nn";
/// Suffix of the unique B-tree index of a unique field.
pub(crate) const UNIQUE_INDEX: &str = "uq";

/// Which lookup index an indexed field gets, by suffix. A reference that lists do not sort
/// by (a parent, an owner) is often empty — most customers have no parent, pool customers
/// no owner — and every lookup asks for a value, so its index leaves out the rows without
/// one and costs their inserts nothing; PostgreSQL uses such a partial index for `=`,
/// `IN`, range and prefix filters, which all imply `IS NOT NULL`. A unique field's index
/// refuses a second row with a value (rows without one aside). Other fields get a full index,
/// which also serves sorting.
fn lookup_index(field: &FieldDesc) -> Option<&'static str> {
    match field {
        FieldDesc { indexed: false, .. } => None,
        FieldDesc { unique: true, .. } => Some(UNIQUE_INDEX),
        FieldDesc { ty: FieldType::Ref, sortable: false, .. } => Some(NON_NULL_INDEX),
        _ => Some(FULL_INDEX),
    }
}

/// Refuses to make `field` unique while some tenant holds one of its values more than once
/// (rows written before the field became unique), naming the first of them and the way out.
async fn refuse_repeated_values(
    tx: &mut PgConnection,
    desc: &EntityDesc,
    field: &FieldDesc,
) -> Result<(), StoreError> {
    let column = ident(&field.name);
    let repeated: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        "SELECT tenant_id, {column}::text, count(*) FROM {} WHERE {column} IS NOT NULL \
         GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 10",
        table(desc)
    ))
    .fetch_all(tx)
    .await
    .map_err(|e| map_error(&format!("register {}: look for repeated values", desc.kind), e))?;
    if repeated.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = repeated
        .iter()
        .map(|(tenant, value, count)| format!("tenant {tenant:?}: {value:?} ({count} records)"))
        .collect();
    Err(StoreError::new(
        StoreErrorKind::Constraint,
        format!(
            "{kind}.{field} must be unique, but these values are held by more than one {kind} \
             (at most ten shown): {}. Give each of those records its own {field} (in SQL, an \
             UPDATE of crm_{kind}.{field} by tenant_id and id), then open the store again",
            listed.join("; "),
            kind = desc.kind,
            field = field.name,
        ),
    ))
}

/// Creates the kind's table, adds columns for fields declared since, and creates the
/// indexes of indexed fields and, with `trigram`, the trigram indexes of searchable fields
/// (dropping trigram indexes `trigram` no longer wants).
pub(crate) async fn register(
    pool: &PgPool,
    desc: &EntityDesc,
    trigram: bool,
) -> Result<(), StoreError> {
    let table_name = format!("crm_{}", desc.kind);
    let table = table(desc);
    let what = |step: &str| format!("register {}: {step}", desc.kind);
    let mut tx = pool.begin().await.map_err(|e| map_error(&what("begin"), e))?;
    lock_schema(&mut tx).await?;

    let existing: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(&table_name)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| map_error(&what("read columns"), e))?;

    if existing.is_empty() {
        let mut columns = vec![
            "tenant_id text NOT NULL".to_owned(),
            "id bigint NOT NULL".to_owned(),
            "version bigint NOT NULL".to_owned(),
        ];
        columns.extend(desc.fields.iter().map(|f| column_definition(&f.name, f.ty)));
        columns.push("custom jsonb NOT NULL DEFAULT '{}'".to_owned());
        columns.push("PRIMARY KEY (tenant_id, id)".to_owned());
        let ddl = format!("CREATE TABLE IF NOT EXISTS {table} ({})", columns.join(", "));
        sqlx::query(&ddl).execute(&mut *tx).await.map_err(|e| map_error(&what("create"), e))?;
        tracing::info!(kind = desc.kind, "postgres store created a table");
    } else {
        let mut added = Vec::new();
        for field in &desc.fields {
            match existing.iter().find(|(name, _)| *name == field.name) {
                None => added.push(format!(
                    "ADD COLUMN IF NOT EXISTS {}",
                    column_definition(&field.name, field.ty)
                )),
                Some((_, stored)) if stored != information_schema_type(field.ty) => {
                    // FIXME: changing the type of a declared field needs a data migration
                    // this store does not write; the register call refuses instead.
                    return Err(StoreError::new(
                        StoreErrorKind::Constraint,
                        format!(
                            "{table_name}.{} is {stored} but {} declares {:?}; \
                             changing a field's type needs a manual migration",
                            field.name, desc.kind, field.ty
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if !added.is_empty() {
            let ddl = format!("ALTER TABLE {table} {}", added.join(", "));
            sqlx::query(&ddl)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_error(&what("add columns"), e))?;
            tracing::info!(kind = desc.kind, columns = added.len(), "postgres store added columns");
        }
    }

    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes \
         WHERE schemaname = current_schema() AND tablename = $1",
    )
    .bind(&table_name)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| map_error(&what("read indexes"), e))?;
    for field in &desc.fields {
        let column = ident(&field.name);
        let mut statements = Vec::new();
        let wanted = lookup_index(field);
        for suffix in [FULL_INDEX, NON_NULL_INDEX, UNIQUE_INDEX] {
            let name = index_name(&desc.kind, &field.name, suffix);
            if wanted == Some(suffix) {
                let predicate = if suffix == NON_NULL_INDEX {
                    format!(" WHERE {column} IS NOT NULL")
                } else {
                    String::new()
                };
                if suffix == UNIQUE_INDEX {
                    // Checked when the batch commits, so a batch is judged by the state it
                    // leaves (two records may swap values), as every store judges it. Rows
                    // that already repeat a value make this fail, and the register call.
                    if !indexes.contains(&name) {
                        refuse_repeated_values(&mut tx, desc, field).await?;
                        statements.push(format!(
                            "ALTER TABLE {table} ADD CONSTRAINT {} UNIQUE (tenant_id, {column}) \
                             DEFERRABLE INITIALLY DEFERRED",
                            ident(&name)
                        ));
                    }
                } else if !indexes.contains(&name) {
                    // Only a missing index is created: even `IF NOT EXISTS` takes a lock that
                    // waits for every write in progress on the table, and opening a store
                    // during a long import would stall, with every writer behind it.
                    statements.push(format!(
                        "CREATE INDEX IF NOT EXISTS {} ON {table} (tenant_id, {column}){predicate}",
                        ident(&name)
                    ));
                }
            } else if indexes.contains(&name) && suffix == UNIQUE_INDEX {
                statements.push(format!("ALTER TABLE {table} DROP CONSTRAINT {}", ident(&name)));
            } else if indexes.contains(&name) {
                // Left from an earlier description or release: it would cost every insert.
                statements.push(format!("DROP INDEX {}", ident(&name)));
            }
        }
        let trigram_name = index_name(&desc.kind, &field.name, "trgm");
        let trigram_index = ident(&trigram_name);
        if field.searchable && trigram {
            if !indexes.contains(&trigram_name) {
                statements.push(format!(
                    "CREATE INDEX IF NOT EXISTS {trigram_index} ON {table} \
                     USING gin ({column} gin_trgm_ops)"
                ));
            }
        } else if indexes.contains(&trigram_name) {
            // Opened without trigram indexes (or the field is no longer searchable): an index
            // left from an earlier setting would slow every insert and serve no query.
            statements.push(format!("DROP INDEX {trigram_index}"));
        }
        for ddl in statements {
            sqlx::query(&ddl).execute(&mut *tx).await.map_err(|e| map_error(&what("index"), e))?;
        }
    }

    tx.commit().await.map_err(|e| map_error(&what("commit"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_index_names_are_shortened_stably() {
        assert_eq!(index_name("customer", "code", "idx"), "crm_customer_code_idx");
        let kind = "k".repeat(48);
        let field = "f".repeat(48);
        let name = index_name(&kind, &field, "idx");
        assert_eq!(name.len(), 63);
        assert_eq!(name, index_name(&kind, &field, "idx"));
        assert_ne!(name, index_name(&kind, &field, "trgm"));
    }
}
