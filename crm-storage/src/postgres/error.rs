//! How PostgreSQL and sqlx failures map onto the backend-neutral [`StoreErrorKind`].
//!
//! The mapping goes by SQLSTATE class, so it holds for any server version: integrity
//! violations are the caller's business (a taken key is a conflict, the rest constraints),
//! serialisation failures and deadlocks are conflicts a retry resolves, and anything about
//! reaching the server is "unavailable".

use crm_domain::{StoreError, StoreErrorKind};

/// The kind a SQLSTATE code maps onto.
pub(crate) fn kind_for_sqlstate(code: &str) -> StoreErrorKind {
    match code {
        // unique_violation: the key is taken.
        "23505" => StoreErrorKind::Conflict,
        // serialization_failure, deadlock_detected: another transaction won; retry.
        "40001" | "40P01" => StoreErrorKind::Conflict,
        // undefined_table: the kind was never registered with this database.
        "42P01" => StoreErrorKind::NotFound,
        _ => match code.get(..2) {
            // Integrity constraint violations and data exceptions (a value the column
            // refuses, such as text holding a NUL character or a number out of range).
            Some("23") | Some("22") => StoreErrorKind::Constraint,
            // Syntax errors and access rule violations: the statement cannot run as written.
            Some("42") => StoreErrorKind::InvalidQuery,
            // Connection exceptions, insufficient resources, operator intervention, system
            // errors: a retry later may succeed.
            Some("08") | Some("53") | Some("57") | Some("58") => StoreErrorKind::Unavailable,
            // Data corrupted (XX001, XX002) on the server side.
            Some("XX") if code != "XX000" => StoreErrorKind::Corrupt,
            _ => StoreErrorKind::Unavailable,
        },
    }
}

/// Maps a sqlx error raised while doing `what` onto a [`StoreError`].
pub(crate) fn map_error(what: &str, error: sqlx::Error) -> StoreError {
    let kind = match &error {
        sqlx::Error::Database(db) => {
            db.code().map_or(StoreErrorKind::Unavailable, |code| kind_for_sqlstate(&code))
        }
        sqlx::Error::RowNotFound => StoreErrorKind::NotFound,
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreErrorKind::Corrupt,
        sqlx::Error::Encode(_) | sqlx::Error::InvalidArgument(_) => StoreErrorKind::InvalidQuery,
        // Io, Tls, Protocol, PoolTimedOut, PoolClosed, WorkerCrashed, Configuration and
        // whatever later sqlx versions add: the server could not be used.
        _ => StoreErrorKind::Unavailable,
    };
    // The detail names the offending key or value ("Key (tenant_id, id)=(acme, 7) already
    // exists."), which the message alone does not.
    let detail = match &error {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg| pg.detail())
            .map(|detail| format!(" ({detail})")),
        _ => None,
    };
    StoreError::new(kind, format!("postgres: {what}: {error}{}", detail.unwrap_or_default()))
}

/// The id in a unique violation's detail (`Key (tenant_id, id)=(acme, 7) already exists.`).
pub(crate) fn conflicting_id(error: &sqlx::Error) -> Option<u64> {
    let sqlx::Error::Database(db) = error else { return None };
    let detail = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?.detail()?;
    let values = detail.split_once(")=(")?.1;
    let values = values.split_once(')')?.0;
    values.rsplit(", ").next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_onto_neutral_kinds() {
        assert_eq!(kind_for_sqlstate("23505"), StoreErrorKind::Conflict);
        assert_eq!(kind_for_sqlstate("23503"), StoreErrorKind::Constraint);
        assert_eq!(kind_for_sqlstate("23502"), StoreErrorKind::Constraint);
        assert_eq!(kind_for_sqlstate("23514"), StoreErrorKind::Constraint);
        assert_eq!(kind_for_sqlstate("22021"), StoreErrorKind::Constraint);
        assert_eq!(kind_for_sqlstate("40001"), StoreErrorKind::Conflict);
        assert_eq!(kind_for_sqlstate("40P01"), StoreErrorKind::Conflict);
        assert_eq!(kind_for_sqlstate("42P01"), StoreErrorKind::NotFound);
        assert_eq!(kind_for_sqlstate("42601"), StoreErrorKind::InvalidQuery);
        assert_eq!(kind_for_sqlstate("08006"), StoreErrorKind::Unavailable);
        assert_eq!(kind_for_sqlstate("57P01"), StoreErrorKind::Unavailable);
        assert_eq!(kind_for_sqlstate("53300"), StoreErrorKind::Unavailable);
        assert_eq!(kind_for_sqlstate("XX001"), StoreErrorKind::Corrupt);
    }

    #[test]
    fn client_errors_map_onto_neutral_kinds() {
        assert_eq!(map_error("x", sqlx::Error::PoolTimedOut).kind(), StoreErrorKind::Unavailable);
        assert_eq!(map_error("x", sqlx::Error::PoolClosed).kind(), StoreErrorKind::Unavailable);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(map_error("x", sqlx::Error::Io(io)).kind(), StoreErrorKind::Unavailable);
        let decode = sqlx::Error::Decode("bad bytes".into());
        assert_eq!(map_error("x", decode).kind(), StoreErrorKind::Corrupt);
        assert_eq!(map_error("x", sqlx::Error::RowNotFound).kind(), StoreErrorKind::NotFound);
        let message = map_error("get customer", sqlx::Error::PoolTimedOut).to_string();
        assert!(message.starts_with("postgres: get customer: "), "{message}");
    }
}
