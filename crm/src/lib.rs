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
mod parallel;
pub mod process;
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
    Batch, DomainError, Entity, EntityDesc, FieldDesc, FieldName, FieldType, Filter, Principal,
    Query, Record, RecordId, Role, Sort, Store, StoreError, StoreErrorKind, TenantId, Value,
};
pub use crm_io::{Format, Lang};
pub use customers::{ChunkRefused, CustomerSearch, CustomerSort, Customers};
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
                return Err(Error::StoreLocation(redact_location(location)));
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
                return Err(Error::StoreLocation(redact_location(location)));
            }
        } else {
            return Err(Error::StoreLocation(redact_location(location)));
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
        let first = self.store.next_in_sequence(tenant, &id_sequence(E::desc()), count)?;
        Ok(first)
    }
}

/// The name of the sequence the ids of `desc`'s records come from.
pub(crate) fn id_sequence(desc: &EntityDesc) -> String {
    format!("id.{}", desc.kind)
}

/// The current time, truncated to microseconds so every store keeps it exactly.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// Takes the store's own parameter `crm_trigram=on|off` (any case) out of a PostgreSQL URL.
/// Any other parameter that reads as a store option (`crm_…` or `crm-…` in any case, also
/// percent-encoded or padded), the parameter without a value or given twice, is refused: a
/// mistyped option must not silently open the store without trigram indexes, which drops
/// them.
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
        let read = percent_decoded(key).trim().to_ascii_lowercase().replace('-', "_");
        if !read.starts_with("crm_") {
            kept.push(pair);
            continue;
        }
        if key != "crm_trigram" && read == "crm_trigram" {
            return Err(Error::StoreOption(
                "write the option exactly as crm_trigram (lowercase, with an underscore)".into(),
            ));
        }
        if key != "crm_trigram" {
            let named = if read.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                format!("{read:?}")
            } else {
                "a parameter starting with crm_".to_owned()
            };
            return Err(Error::StoreOption(format!(
                "{named} is not an option of the store; write crm_trigram=on or crm_trigram=off"
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

/// `text` with `%XX` escapes decoded where they make ASCII; anything else is kept as written.
#[cfg(feature = "postgres")]
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(u8::is_ascii);
        match escaped {
            Some(byte) => {
                out.push(char::from(byte));
                i += 3;
            }
            None => {
                let c = text[i..].chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    out
}

/// `location` with any password masked by `***`, for messages and logs. It masks rather too
/// much than too little: everything between the first `:` after the scheme and the last `@`
/// (a password typed raw may hold `/`, `?`, `#` or `@`), what follows a `:` that is no port
/// when there is no `@`, and the value of a `password` parameter.
pub fn redact_location(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_owned();
    };
    let mut masked = match (rest.find(':'), rest.rfind('@')) {
        (Some(colon), Some(at)) if colon < at => {
            format!("{}:***{}", &rest[..colon], &rest[at..])
        }
        (Some(colon), None) => {
            let end = rest[colon + 1..].find(['/', '?', '#']).map_or(rest.len(), |i| colon + 1 + i);
            let after = &rest[colon + 1..end];
            if after.bytes().all(|b| b.is_ascii_digit()) {
                rest.to_owned()
            } else {
                format!("{}:***{}", &rest[..colon], &rest[end..])
            }
        }
        _ => rest.to_owned(),
    };
    if let Some(at) = masked.to_ascii_lowercase().find("password=") {
        let start = at + "password=".len();
        let end = masked[start..].find(['&', '#']).map_or(masked.len(), |i| start + i);
        masked.replace_range(start..end, "***");
    }
    format!("{scheme}://{masked}")
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
            ("postgres://u@h/db?CRM_TRIGRAM=on", "exactly as crm_trigram"),
            ("postgres://u@h/db?crm_trigrm=on", "\"crm_trigrm\" is not an option"),
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
        assert_eq!(redact_location("postgres://h:5432/db"), "postgres://h:5432/db");
        assert_eq!(redact_location("sled:./crm-data"), "sled:./crm-data");
        for (location, secret) in [
            ("postgres://crm:WRONG/SECRET@127.0.0.1:5/crm", "SECRET"),
            ("postgres://crm:p@ss:w/rd?#x@h:5/crm", "rd?#x"),
            ("postgres://crm:WRONG?crm_SECRET@h/crm", "SECRET"),
            ("postgres://crm:WRONGSECRET", "SECRET"),
            ("postgres://crm@h/crm?sslmode=disable&password=SECRET&x=1", "SECRET"),
            ("postgress://crm:SECRET@h/db", "SECRET"),
        ] {
            let masked = redact_location(location);
            assert!(!masked.contains(secret), "{location} -> {masked}");
            if let Err(error) = crate::Crm::open_location(location) {
                assert!(!error.to_string().contains(secret), "{location}: {error}");
            }
        }
    }

    #[test]
    fn options_that_look_like_the_store_s_are_read_as_such() {
        for url in [
            "postgres://u@h/db?crm%5Ftrigram=on",
            "postgres://u@h/db?crm-trigram=on",
            "postgres://u@h/db?%20crm_trigram=on",
        ] {
            assert!(matches!(pg_options(url), Err(Error::StoreOption(_))), "{url}");
        }
        assert!(pg_options("postgres://u@h/db?application_name=crm-web").is_ok());
    }
}
