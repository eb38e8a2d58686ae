//! Record visibility: one rule per principal that compiles to a query filter for lists and a
//! predicate for single records, so both always agree.
//!
//! Seeing and changing differ for a kind with a shared pool (customers in the 公海): a plain
//! user sees the records they own and the pool, but changes only the records they own. A
//! pool record changes hands through an assignment request before its new owner edits it.

use crm_domain::model::CustomerStatus;
use crm_domain::{Filter, Principal, Record, RecordId, Value};

/// The records of a kind every user sees besides their own: those whose `field` holds the
/// text `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// The field that marks pool records.
    pub field: &'static str,
    /// The text value that marks them.
    pub value: &'static str,
}

/// What part of an owned entity kind a principal sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// Every record of the tenant.
    All,
    /// Records whose owner field is the principal's user, and the pool if the kind has one.
    Own {
        /// The field holding the owner.
        owner_field: &'static str,
        /// The user.
        user: RecordId,
        /// The shared pool, for kinds that have one.
        pool: Option<Pool>,
    },
}

impl Scope {
    /// The scope of `who` over records owned through `owner_field`, without a shared pool.
    pub fn of(who: &Principal, owner_field: &'static str) -> Self {
        if who.is_admin() {
            Scope::All
        } else {
            Scope::Own { owner_field, user: who.user, pool: None }
        }
    }

    /// The scope of `who` over records owned through `owner_field` with a shared `pool`
    /// every user sees.
    pub fn with_pool(who: &Principal, owner_field: &'static str, pool: Pool) -> Self {
        match Self::of(who, owner_field) {
            Scope::Own { owner_field, user, .. } => {
                Scope::Own { owner_field, user, pool: Some(pool) }
            }
            all => all,
        }
    }

    /// The scope of `who` over customers: their own and those in the pool
    /// (`status = "pool"`).
    pub fn customers(who: &Principal) -> Self {
        Self::with_pool(
            who,
            "owner",
            Pool { field: "status", value: CustomerStatus::Pool.as_str() },
        )
    }

    /// The filter a list query adds; `None` when the scope is everything. With a pool it is
    /// one [`Filter::Any`]: owned by the user, or in the pool.
    pub fn filter(&self) -> Option<Filter> {
        match self {
            Scope::All => None,
            Scope::Own { owner_field, user, pool } => {
                let own = Filter::Eq((*owner_field).to_owned(), Value::Ref(*user));
                Some(match pool {
                    None => own,
                    Some(pool) => Filter::Any(vec![
                        own,
                        Filter::Eq(pool.field.to_owned(), Value::Text(pool.value.to_owned())),
                    ]),
                })
            }
        }
    }

    /// Whether a single record is visible; the same rule as [`Scope::filter`].
    pub fn allows(&self, record: &Record) -> bool {
        self.filter().is_none_or(|f| f.matches(record))
    }

    /// Whether the principal may change a record (or what hangs below it): administrators
    /// any, others only the records they own. The pool is visible but not theirs to change.
    pub fn may_change(&self, record: &Record) -> bool {
        match self {
            Scope::All => true,
            Scope::Own { owner_field, user, .. } => record.get(owner_field) == &Value::Ref(*user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::TenantId;

    fn record(id: u64, owner: Option<u64>, status: &str) -> Record {
        let mut record = Record::new(RecordId(id));
        if let Some(owner) = owner {
            record.set("owner", RecordId(owner));
        }
        record.set("status", status);
        record
    }

    #[test]
    fn filter_and_predicate_agree() {
        let tenant = TenantId::new("t").unwrap();
        let user = Principal::user(tenant.clone(), RecordId(7));
        let admin = Principal::admin(tenant, RecordId(1));
        let mine = record(1, Some(7), "private");
        let theirs = record(2, Some(8), "private");
        let unowned = record(3, None, "private");
        let scope = Scope::of(&user, "owner");
        assert!(scope.allows(&mine));
        assert!(!scope.allows(&theirs));
        assert!(!scope.allows(&unowned));
        let all = Scope::of(&admin, "owner");
        assert!(all.allows(&theirs) && all.allows(&unowned));
        assert_eq!(all.filter(), None);
    }

    #[test]
    fn users_see_the_pool_but_change_only_their_own() {
        let tenant = TenantId::new("t").unwrap();
        let user = Principal::user(tenant.clone(), RecordId(7));
        let admin = Principal::admin(tenant, RecordId(1));
        let mine = record(1, Some(7), "private");
        let theirs = record(2, Some(8), "private");
        let pooled = record(3, None, "pool");
        let scope = Scope::customers(&user);
        let filter = scope.filter().expect("a plain user's scope filters");
        for (record, visible) in [(&mine, true), (&theirs, false), (&pooled, true)] {
            assert_eq!(scope.allows(record), visible, "{record:?}");
            assert_eq!(filter.matches(record), visible, "{record:?}");
        }
        assert!(scope.may_change(&mine));
        assert!(!scope.may_change(&pooled));
        assert!(!scope.may_change(&theirs));
        let all = Scope::customers(&admin);
        assert_eq!(all, Scope::All);
        assert!(all.may_change(&pooled) && all.may_change(&theirs));
    }
}
