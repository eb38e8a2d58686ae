//! The CRM engine a host embeds: open a [`Crm`] on a store and call its services.
//!
//! Every service call names a [`Principal`] (tenant and acting user). The services check
//! the business rules of `crm-domain`, apply the principal's visibility [`scope`] the same
//! way to single records and lists, write an audit entry for every change, and commit each
//! change to the store as one atomic batch.
//!
//! ```no_run
//! use crm::{Crm, Principal, TenantId};
//!
//! # fn main() -> crm::Result<()> {
//! let crm = Crm::open_location("sled:./crm-data")?;
//! let tenant = TenantId::new("acme")?;
//! let admin = crm.bootstrap_tenant(&tenant, "admin", "Administrator")?;
//! let page = crm.customers(&admin).search(&crm::CustomerSearch::text("北京"))?;
//! println!("{} customers match", page.total);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod approvable;
pub mod assignments;
mod changes;
pub mod customers;
pub mod demo;
mod error;
pub mod finance;
pub mod forms;
pub mod imports;
pub mod leads;
pub mod org;
pub mod sales;
pub mod scope;
pub mod settings;
pub mod workflow;

use std::sync::Arc;

pub use assignments::{Assignments, Requested};
pub use crm_domain::audit::{AuditAction, AuditEntry, FieldChange};
pub use crm_domain::model::lead::MAX_ATTACHMENT_BYTES;
pub use crm_domain::model::RequestForm;
pub use crm_domain::model::{
    ApprovalStatus, AssignmentRequest, AssignmentStatus, Attachment, Contact, Contract, Customer,
    CustomerStatus, FinanceRequest, FormDef, FormEntry, FormFieldDef, FormFieldKind, Interaction,
    Lead, LeadStatus, Membership, Position, Quote, QuoteLine, Relative, SettingList, SettingValue,
    Unit, UnitKind, User,
};
pub use crm_domain::{
    Batch, DomainError, Entity, EntityDesc, FieldDesc, FieldType, Filter, Principal, Query, Record,
    RecordId, Role, Sort, Store, StoreError, StoreErrorKind, TenantId, Value,
};
pub use crm_io::{Format, Lang};
pub use customers::{CustomerSearch, CustomerSort, Customers};
pub use error::{Error, Result, RowError};
pub use finance::{RequestDraft, RequestFilter, Requests};
pub use forms::{EntryDraft, EntryFilter, FormDraft, FormEntries, Forms};
pub use imports::ImportReport;
pub use leads::{LeadSearch, Leads, NewAttachment};
pub use org::Org;
pub use rust_decimal::Decimal;
pub use sales::{ContractDraft, Contracts, QuoteDraft, Quotes, SalesFilter};
pub use settings::Settings;
pub use workflow::{OrgDirectory, Workflows};

use crm_domain::model;

/// The README's Rust examples, compiled as doctests so they stay true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// A page of typed results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of the page.
    pub items: Vec<T>,
    /// How many items match over all pages.
    pub total: u64,
}

/// The handle a host holds: a store and the services over it. Cheap to clone.
#[derive(Clone)]
pub struct Crm {
    store: Arc<dyn Store>,
    /// Validated workflow definition versions, read once per process.
    definitions: Arc<crm_workflow::DefinitionCache>,
    /// The host's approval hooks, run after the facade's own follow-up of every change.
    hooks: Arc<Vec<workflow::HostHook>>,
}

impl std::fmt::Debug for Crm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crm")
            .field("backend", &self.store.backend())
            .field("approval_hooks", &self.hooks.len())
            .finish()
    }
}

/// Every entity description the engine keeps; registered with the store on open.
fn descriptions() -> Vec<&'static crm_domain::EntityDesc> {
    let mut all = vec![
        model::Unit::desc(),
        model::User::desc(),
        model::Position::desc(),
        model::Membership::desc(),
        model::SettingValue::desc(),
        model::Customer::desc(),
        model::Contact::desc(),
        model::Relative::desc(),
        model::Lead::desc(),
        model::Interaction::desc(),
        model::Attachment::desc(),
        AuditEntry::desc(),
        model::AssignmentRequest::desc(),
        model::FinanceRequest::desc(),
        model::Quote::desc(),
        model::Contract::desc(),
        model::FormDef::desc(),
        model::FormEntry::desc(),
    ];
    all.extend(crm_workflow::store::descriptions());
    all
}

impl Crm {
    /// The approval engine over this store for `tenant`, with the definition cache.
    pub(crate) fn engine<'a>(&'a self, tenant: &'a TenantId) -> crm_workflow::WorkflowStore<'a> {
        crm_workflow::WorkflowStore::new(self.store.as_ref(), tenant).with_cache(&self.definitions)
    }

    /// Opens the engine on a store, creating or migrating what the store needs.
    pub fn open(store: Arc<dyn Store>) -> Result<Self> {
        for desc in descriptions() {
            store.register(desc)?;
        }
        tracing::info!(backend = store.backend(), "crm opened");
        Ok(Self { store, definitions: Arc::default(), hooks: Arc::default() })
    }

    /// Registers host code that runs on every approval status change — submitted, approved,
    /// rejected, withdrawn, resubmitted, and approvers' edits — after the bound record
    /// followed it, with its operations in the action's batch: they commit together with the
    /// decision or not at all, and an error from the hook refuses the action. This is where a
    /// host generates, say, a receivable when a contract is approved (`change.form`,
    /// `change.to`, `change.record` and `change.state.fields` say what happened). A host's
    /// own records need their descriptions registered with the store first
    /// ([`Store::register`]). Clones made before the call do not run the hook.
    pub fn with_approval_hook(mut self, hook: workflow::HostHook) -> Self {
        Arc::make_mut(&mut self.hooks).push(hook);
        self
    }

    /// Opens the engine on a store named by location: `sled:PATH` (the embedded default),
    /// `memory:` (nothing kept), or a `postgres://` URL. A URL parameter `crm_trigram=on`
    /// gives PostgreSQL trigram indexes for fuzzy search (see
    /// `crm_storage::PgOptions::trigram_indexes`); `crm_trigram=off`, the default, drops them.
    pub fn open_location(location: &str) -> Result<Self> {
        let incomplete = || Error::StoreLocation(redact_location(location));
        if location.strip_prefix("sled:").is_some_and(|path| path.trim().is_empty()) {
            return Err(incomplete());
        }
        if let Some(rest) =
            location.strip_prefix("postgres://").or_else(|| location.strip_prefix("postgresql://"))
        {
            // A URL without a host would silently reach whatever server the environment
            // points at; require one.
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let host = authority.rsplit('@').next().unwrap_or_default();
            if host.is_empty() || host.starts_with(':') {
                return Err(incomplete());
            }
        }
        let store: Arc<dyn Store> = if let Some(path) = location.strip_prefix("sled:") {
            #[cfg(feature = "sled")]
            {
                Arc::new(crm_storage::SledStore::open(path)?)
            }
            #[cfg(not(feature = "sled"))]
            {
                let _ = path;
                return Err(Error::StoreLocation(location.to_owned()));
            }
        } else if location == "memory:" {
            Arc::new(crm_storage::MemoryStore::new())
        } else if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            {
                let (url, options) = pg_options(location)?;
                Arc::new(crm_storage::PgStore::connect_with(&url, options)?)
            }
            #[cfg(not(feature = "postgres"))]
            {
                return Err(Error::StoreLocation(location.to_owned()));
            }
        } else {
            return Err(Error::StoreLocation(location.to_owned()));
        };
        Self::open(store)
    }

    /// The store underneath, for hosts that need raw access (benchmarks, integrity checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Makes sure `tenant` has a root unit and an administrator with `login`, creating what
    /// is missing, and returns the administrator as a principal.
    pub fn bootstrap_tenant(
        &self,
        tenant: &TenantId,
        login: &str,
        display_name: &str,
    ) -> Result<Principal> {
        org::bootstrap(self, tenant, login, display_name)
    }

    /// Customers, contacts and relatives, as seen by `who`.
    pub fn customers<'a>(&'a self, who: &'a Principal) -> Customers<'a> {
        Customers::new(self, who)
    }

    /// Leads and their contact records, as seen by `who`.
    pub fn leads<'a>(&'a self, who: &'a Principal) -> Leads<'a> {
        Leads::new(self, who)
    }

    /// Settings lists (customer sources and categories).
    pub fn settings<'a>(&'a self, who: &'a Principal) -> Settings<'a> {
        Settings::new(self, who)
    }

    /// Organisation units and users.
    pub fn org<'a>(&'a self, who: &'a Principal) -> Org<'a> {
        Org::new(self, who)
    }

    /// Approval workflows: definitions, to-do lists and actions on instances.
    pub fn workflows<'a>(&'a self, who: &'a Principal) -> Workflows<'a> {
        Workflows::new(self, who)
    }

    /// Customer assignment requests (资源分配) that go through approval.
    pub fn assignments<'a>(&'a self, who: &'a Principal) -> Assignments<'a> {
        Assignments::new(self, who)
    }

    /// Expense, reimbursement and loan requests as `who` sees them.
    pub fn requests<'a>(&'a self, who: &'a Principal) -> Requests<'a> {
        Requests::new(self, who)
    }

    /// Quotes (报价单) as `who` sees them: their own, or everyone's for an administrator.
    pub fn quotes<'a>(&'a self, who: &'a Principal) -> Quotes<'a> {
        Quotes::new(self, who)
    }

    /// Contracts (合同) as `who` sees them: their own, or everyone's for an administrator.
    pub fn contracts<'a>(&'a self, who: &'a Principal) -> Contracts<'a> {
        Contracts::new(self, who)
    }

    /// User-defined forms (自定义表单): definitions, for administrators to change.
    pub fn forms<'a>(&'a self, who: &'a Principal) -> Forms<'a> {
        Forms::new(self, who)
    }

    /// Entries of user-defined forms as `who` sees them: their own, or everyone's for an
    /// administrator.
    pub fn form_entries<'a>(&'a self, who: &'a Principal) -> FormEntries<'a> {
        FormEntries::new(self, who)
    }

    /// Spreadsheet import and export.
    pub fn imports<'a>(&'a self, who: &'a Principal) -> imports::Imports<'a> {
        imports::Imports::new(self, who)
    }

    /// The audit trail of one record, oldest first. Only administrators and those who see the
    /// record may read it; the caller service checks visibility.
    pub(crate) fn history(
        &self,
        who: &Principal,
        entity: &str,
        id: RecordId,
    ) -> Result<Vec<AuditEntry>> {
        use crm_domain::Filter;
        let of_entity = Filter::Eq("entity".into(), Value::Text(entity.into()));
        let own = Query::all()
            .filter(Filter::Eq("record_id".into(), Value::Ref(id)))
            .filter(of_entity.clone());
        // Entries for runs of records created together, whose run holds `id`.
        let runs = Query::all()
            .filter(Filter::Range {
                field: "record_last".into(),
                min: Some(Value::Ref(id)),
                max: None,
            })
            .filter(Filter::Range {
                field: "record_id".into(),
                min: None,
                max: Some(Value::Ref(id)),
            })
            .filter(of_entity);
        let mut entries = Vec::new();
        for query in [own, runs] {
            let page = self.store.query(&who.tenant, AuditEntry::desc(), &query)?;
            for record in &page.records {
                entries.push(AuditEntry::from_record(record)?);
            }
        }
        entries.retain(|e| e.covers(id));
        entries.sort_by_key(|e| (e.at, e.id));
        // A run that starts at `id` answers both queries.
        entries.dedup_by_key(|e| e.id);
        Ok(entries)
    }

    /// Loads one entity by id without any visibility check.
    pub(crate) fn load<E: Entity>(&self, tenant: &TenantId, id: RecordId) -> Result<Option<E>> {
        match self.store.get(tenant, E::desc(), id)? {
            Some(record) => Ok(Some(E::from_record(&record)?)),
            None => Ok(None),
        }
    }

    /// Runs a query and maps the records onto `E`.
    pub(crate) fn find<E: Entity>(&self, tenant: &TenantId, query: &Query) -> Result<Page<E>> {
        let page = self.store.query(tenant, E::desc(), query)?;
        let items =
            page.records.iter().map(E::from_record).collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Page { items, total: page.total })
    }

    /// Reserves `count` ids for `E` and returns the first.
    pub(crate) fn allocate<E: Entity>(&self, tenant: &TenantId, count: u64) -> Result<u64> {
        let first =
            self.store.next_in_sequence(tenant, &format!("id.{}", E::desc().kind), count)?;
        Ok(first)
    }
}

/// The current time, truncated to microseconds so every store keeps it exactly.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// Takes the store's own parameter `crm_trigram=on|off` (any case) out of a PostgreSQL URL.
/// Any other parameter starting `crm_`, the parameter without a value or given twice, is
/// refused: a mistyped option must not silently open the store without trigram indexes,
/// which drops them.
#[cfg(feature = "postgres")]
fn pg_options(location: &str) -> Result<(String, crm_storage::PgOptions)> {
    let mut options = crm_storage::PgOptions::default();
    let Some((base, query)) = location.split_once('?') else {
        return Ok((location.to_owned(), options));
    };
    let mut kept = Vec::new();
    let mut seen = false;
    for pair in query.split('&') {
        let (key, value) = match pair.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (pair, None),
        };
        if !key.to_ascii_lowercase().starts_with("crm_") {
            kept.push(pair);
            continue;
        }
        if key != "crm_trigram" {
            return Err(Error::StoreOption(format!(
                "{key:?} is not an option of the store; the PostgreSQL store knows crm_trigram"
            )));
        }
        if std::mem::replace(&mut seen, true) {
            return Err(Error::StoreOption("crm_trigram is given twice".into()));
        }
        options.trigram_indexes = match value.map(str::to_ascii_lowercase).as_deref() {
            Some("on") => true,
            Some("off") => false,
            _ => {
                return Err(Error::StoreOption(
                    "crm_trigram takes on or off (crm_trigram=on gives fuzzy search trigram \
                     indexes)"
                        .into(),
                ))
            }
        };
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, options))
}

/// `location` with the password of a URL replaced by `***`, for messages and logs.
pub fn redact_location(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return location.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
        None => location.to_owned(),
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::{pg_options, redact_location, Error};

    #[test]
    fn the_trigram_parameter_is_the_store_s_and_leaves_the_url() {
        let (url, options) = pg_options("postgres://u@h/db").unwrap();
        assert_eq!((url.as_str(), options.trigram_indexes), ("postgres://u@h/db", false));
        let (url, options) =
            pg_options("postgres://u@h/db?sslmode=disable&crm_trigram=on&application_name=x")
                .unwrap();
        assert_eq!(url, "postgres://u@h/db?sslmode=disable&application_name=x");
        assert!(options.trigram_indexes);
        let (url, options) = pg_options("postgres://u@h/db?crm_trigram=OFF").unwrap();
        assert_eq!((url.as_str(), options.trigram_indexes), ("postgres://u@h/db", false));
        assert!(pg_options("postgres://u@h/db?crm_trigram=On").unwrap().1.trigram_indexes);
    }

    #[test]
    fn mistyped_store_options_are_refused() {
        for (url, says) in [
            ("postgres://u@h/db?crm_trigram=yes", "takes on or off"),
            ("postgres://u@h/db?crm_trigram=", "takes on or off"),
            ("postgres://u@h/db?crm_trigram", "takes on or off"),
            ("postgres://u@h/db?crm_trigrams=on", "\"crm_trigrams\" is not an option"),
            ("postgres://u@h/db?CRM_TRIGRAM=on", "\"CRM_TRIGRAM\" is not an option"),
            ("postgres://u@h/db?crm_trigram=on&crm_trigram=off", "given twice"),
        ] {
            match pg_options(url) {
                Err(Error::StoreOption(message)) => assert!(message.contains(says), "{message}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn passwords_are_masked_in_locations() {
        assert_eq!(
            redact_location("postgres://crm:s3cr%3Ft@db.local:5432/crm?crm_trigram=on"),
            "postgres://crm:***@db.local:5432/crm?crm_trigram=on"
        );
        assert_eq!(redact_location("postgres://crm@h/db"), "postgres://crm@h/db");
        assert_eq!(redact_location("sled:./crm-data"), "sled:./crm-data");
        let error = crate::Crm::open_location("postgres://u:pw@/db").unwrap_err();
        assert!(!error.to_string().contains("pw"), "{error}");
    }
}
