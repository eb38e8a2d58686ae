//! Record visibility: one rule per principal that compiles to a query filter for lists and a
//! predicate for single records, so both always agree.

use crm_domain::{Filter, Principal, Record, Value};

/// What part of an owned entity kind a principal sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// Every record of the tenant.
    All,
    /// Records whose owner field is the principal's user.
    Own {
        /// The field holding the owner.
        owner_field: &'static str,
        /// The user.
        user: crm_domain::RecordId,
    },
}

impl Scope {
    /// The scope of `who` over records owned through `owner_field`.
    pub fn of(who: &Principal, owner_field: &'static str) -> Self {
        if who.is_admin() {
            Scope::All
        } else {
            Scope::Own { owner_field, user: who.user }
        }
    }

    /// The filter a list query adds; `None` when the scope is everything.
    pub fn filter(&self) -> Option<Filter> {
        match self {
            Scope::All => None,
            Scope::Own { owner_field, user } => {
                Some(Filter::Eq((*owner_field).to_owned(), Value::Ref(*user)))
            }
        }
    }

    /// Whether a single record is visible; the same rule as [`Scope::filter`].
    pub fn allows(&self, record: &Record) -> bool {
        self.filter().is_none_or(|f| f.matches(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::{RecordId, TenantId};

    #[test]
    fn filter_and_predicate_agree() {
        let tenant = TenantId::new("t").unwrap();
        let user = Principal::user(tenant.clone(), RecordId(7));
        let admin = Principal::admin(tenant, RecordId(1));
        let mut mine = Record::new(RecordId(1));
        mine.set("owner", RecordId(7));
        let mut theirs = Record::new(RecordId(2));
        theirs.set("owner", RecordId(8));
        let unowned = Record::new(RecordId(3));
        let scope = Scope::of(&user, "owner");
        assert!(scope.allows(&mine));
        assert!(!scope.allows(&theirs));
        assert!(!scope.allows(&unowned));
        let all = Scope::of(&admin, "owner");
        assert!(all.allows(&theirs) && all.allows(&unowned));
        assert_eq!(all.filter(), None);
    }
}
