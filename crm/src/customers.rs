//! The customer service: customers, their hierarchy, contacts and contacts' relatives.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use crm_domain::hierarchy::check_new_parent;
use crm_domain::model::{Contact, Customer, CustomerStatus, Relative, SettingList};
use crm_domain::{
    DomainError, Entity, Filter, Principal, Query, Record, RecordId, Sort, StoreErrorKind, Value,
};

use crate::changes::Changes;
use crate::scope::Scope;
use crate::{AuditEntry, Crm, Page, Result};

/// Hierarchies deeper than this are treated as corrupt rather than walked forever.
pub const MAX_HIERARCHY_DEPTH: usize = 1_000_000;

/// How a customer list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CustomerSort {
    /// By name, A to Z.
    #[default]
    NameAsc,
    /// By name, Z to A.
    NameDesc,
    /// Newest first.
    NewestFirst,
    /// Oldest first.
    OldestFirst,
    /// Most recently changed first.
    RecentlyUpdated,
    /// By customer number.
    Code,
}

impl CustomerSort {
    /// Parses the names the shells use (`name`, `-name`, `newest`, `oldest`, `updated`, `code`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "name" => CustomerSort::NameAsc,
            "-name" => CustomerSort::NameDesc,
            "newest" => CustomerSort::NewestFirst,
            "oldest" => CustomerSort::OldestFirst,
            "updated" => CustomerSort::RecentlyUpdated,
            "code" => CustomerSort::Code,
            _ => return None,
        })
    }

    fn sort(self) -> Sort {
        match self {
            CustomerSort::NameAsc => Sort::asc("name"),
            CustomerSort::NameDesc => Sort::desc("name"),
            CustomerSort::NewestFirst => Sort::desc("created_at"),
            CustomerSort::OldestFirst => Sort::asc("created_at"),
            CustomerSort::RecentlyUpdated => Sort::desc("updated_at"),
            CustomerSort::Code => Sort::asc("code"),
        }
    }
}

/// A customer search: fuzzy text plus compound filters, a sort and a page.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerSearch {
    /// Fuzzy text over names, number, phones, emails and contact names.
    pub text: Option<String>,
    /// Category code.
    pub category: Option<String>,
    /// Source code.
    pub source: Option<String>,
    /// Owning user.
    pub owner: Option<RecordId>,
    /// Pool or private.
    pub status: Option<CustomerStatus>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created at or before.
    pub created_to: Option<DateTime<Utc>>,
    /// Custom field equals value.
    pub custom: Vec<(String, Value)>,
    /// Order.
    pub sort: CustomerSort,
    /// Items to skip.
    pub offset: u64,
    /// Page size.
    pub limit: u64,
}

impl Default for CustomerSearch {
    fn default() -> Self {
        Self {
            text: None,
            category: None,
            source: None,
            owner: None,
            status: None,
            created_from: None,
            created_to: None,
            custom: Vec::new(),
            sort: CustomerSort::default(),
            offset: 0,
            limit: 50,
        }
    }
}

impl CustomerSearch {
    /// A fuzzy text search with default sort and page.
    pub fn text(text: &str) -> Self {
        Self { text: Some(text.to_owned()), ..Self::default() }
    }

    fn query(&self, scope: &Scope) -> Query {
        let mut query = Query::all().sort(self.sort.sort());
        query.offset = self.offset;
        query.limit = Some(self.limit.clamp(1, 10_000));
        if let Some(filter) = scope.filter() {
            query = query.filter(filter);
        }
        if let Some(text) = self.text.as_deref().map(searchable).filter(|t| !t.is_empty()) {
            query = query.filter(Filter::Fuzzy("search".into(), text));
        }
        for (field, value) in [("category", &self.category), ("source", &self.source)] {
            if let Some(value) = value.as_deref().map(searchable).filter(|v| !v.is_empty()) {
                query = query.filter(Filter::Eq(field.into(), Value::Text(value)));
            }
        }
        if let Some(owner) = self.owner {
            query = query.filter(Filter::Eq("owner".into(), Value::Ref(owner)));
        }
        if let Some(status) = self.status {
            query = query.filter(Filter::Eq("status".into(), status.as_str().into()));
        }
        if self.created_from.is_some() || self.created_to.is_some() {
            query = query.filter(Filter::Range {
                field: "created_at".into(),
                min: self.created_from.map(Value::Timestamp),
                max: self.created_to.map(Value::Timestamp),
            });
        }
        for (name, value) in &self.custom {
            query = query.filter(Filter::Eq(format!("custom.{name}"), value.clone()));
        }
        query
    }
}

/// Customers as seen by one principal.
pub struct Customers<'a> {
    crm: &'a Crm,
    who: &'a Principal,
    scope: Scope,
}

impl<'a> Customers<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who, scope: Scope::customers(who) }
    }

    /// Searches visible customers: an administrator's are all of the tenant's, a plain
    /// user's are their own and the pool's.
    pub fn search(&self, search: &CustomerSearch) -> Result<Page<Customer>> {
        self.crm.find(&self.who.tenant, &search.query(&self.scope))
    }

    /// One visible customer.
    pub fn get(&self, id: RecordId) -> Result<Customer> {
        Ok(Customer::from_record(&self.visible_record(id)?)?)
    }

    /// Whether the principal may change `customer` (and its contacts and relatives):
    /// administrators any, plain users their own. A pool customer is visible to everyone but
    /// changed only after an assignment request makes it someone's.
    pub fn can_change(&self, customer: &Customer) -> bool {
        customer.to_record().is_ok_and(|record| self.scope.may_change(&record))
    }

    /// The stored record of a visible customer; "not found" for one outside the scope.
    fn visible_record(&self, id: RecordId) -> Result<crm_domain::Record> {
        let not_found = || DomainError::NotFound { kind: "customer".into(), id };
        let record =
            self.crm.store.get(&self.who.tenant, Customer::desc(), id)?.ok_or_else(not_found)?;
        if !self.scope.allows(&record) {
            return Err(not_found().into());
        }
        Ok(record)
    }

    /// One visible customer the principal may change (see [`Customers::can_change`]); a
    /// visible one they may not change, such as a pool customer for a plain user, is
    /// [`DomainError::Forbidden`].
    pub fn get_for_change(&self, id: RecordId) -> Result<Customer> {
        let record = self.visible_record(id)?;
        if !self.scope.may_change(&record) {
            return Err(DomainError::Forbidden(format!(
                "customer {id} is not yours to change; request its assignment first"
            ))
            .into());
        }
        Ok(Customer::from_record(&record)?)
    }

    /// A visible contact whose customer the principal may change.
    fn contact_to_change(&self, id: RecordId) -> Result<Contact> {
        let contact = self.contact(id)?;
        self.get_for_change(contact.customer)?;
        Ok(contact)
    }

    /// Creates a customer with optional contacts. Fills id, number (when empty), owner (the
    /// acting user for private customers), timestamps and search text.
    pub fn create(&self, customer: Customer, contacts: Vec<Contact>) -> Result<Customer> {
        let mut created = self.create_many(vec![(customer, contacts)])?;
        created.pop().ok_or_else(|| DomainError::State("nothing created".into()).into())
    }

    /// Creates many customers with their contacts in one atomic batch (imports, demo data).
    ///
    /// The rows are checked and mapped onto records on every core; for a large batch that
    /// runs while the store reserves their ids and reads the setting codes, with ids
    /// relative to the batch that are moved into the reserved range after. A small batch is
    /// checked first, so a refused row takes no ids (unless a number it gives is found taken
    /// when the batch commits).
    pub fn create_many(&self, rows: Vec<(Customer, Vec<Contact>)>) -> Result<Vec<Customer>> {
        let prepared = self.prepare_many(rows).map_err(|refusal| refusal.error)?;
        self.commit_prepared(prepared)
    }

    /// Creates customers with their contacts chunk after chunk, each chunk in an atomic
    /// batch of its own as [`Customers::create_many`] creates it: a bulk load from a host
    /// system, where the next chunk is checked and mapped, and its ids reserved, while the
    /// store commits the one before, when the store commits on a server (see
    /// [`crm_domain::Store::commits_elsewhere`]); an embedded store takes them one after the
    /// other, as the cores are its own. Returns how many customers were created.
    ///
    /// A chunk that names a parent, or leaves a number to be drawn, waits until the chunk
    /// before it has committed: its parents may be in that chunk, and its automatic numbers
    /// must skip the numbers that chunk gives.
    ///
    /// Stops at the first chunk refused; the chunks before it stay created, and the error
    /// says which chunk (and which row of it, where one row was the reason) and how many
    /// customers the chunks before it hold, so a host can resume after them.
    /// A chunk prepared ahead of a refused one has still taken its ids.
    pub fn create_chunks<I>(&self, chunks: I) -> std::result::Result<usize, ChunkRefused>
    where
        I: IntoIterator<Item = Vec<(Customer, Vec<Contact>)>>,
    {
        let mut chunks = chunks.into_iter();
        let mut created = 0;
        let mut chunk = 0;
        let ahead = self.crm.store.commits_elsewhere();
        let Some(first) = chunks.next() else { return Ok(0) };
        let mut prepared = self.prepare_many(first);
        loop {
            let ready = prepared.map_err(|Refusal { row, error }| ChunkRefused {
                chunk,
                row,
                created,
                error,
            })?;
            let (committed, next) = match chunks.next() {
                Some(rows) if ahead && may_prepare_ahead(&rows) => {
                    let (committed, next) = crate::parallel::both(
                        || self.commit_prepared(ready),
                        || self.prepare_many(rows),
                    );
                    (committed, Some(next))
                }
                Some(rows) => {
                    let committed = self.commit_prepared(ready);
                    let next = committed.is_ok().then(|| self.prepare_many(rows));
                    (committed, next)
                }
                None => (self.commit_prepared(ready), None),
            };
            let committed =
                committed.map_err(|error| ChunkRefused { chunk, row: None, created, error })?;
            created += committed.len();
            chunk += 1;
            match next {
                Some(next) => prepared = next,
                None => return Ok(created),
            }
        }
    }

    /// Commits a chunk [`Customers::prepare_many`] prepared, naming a customer number found
    /// taken.
    fn commit_prepared(&self, prepared: PreparedRows) -> Result<Vec<Customer>> {
        let PreparedRows { changes, created } = prepared;
        if let Err(error) = changes.commit(self.crm, self.who) {
            let claimed: Vec<&str> = created.iter().map(|c| c.code.as_str()).collect();
            return Err(self.name_taken_number(error, &claimed));
        }
        Ok(created)
    }

    /// The rows of [`Customers::create_many`] checked, numbered and mapped onto the changes
    /// that create them, with their ids reserved.
    fn prepare_many(
        &self,
        rows: Vec<(Customer, Vec<Contact>)>,
    ) -> std::result::Result<PreparedRows, Refusal> {
        if rows.is_empty() {
            return Ok(PreparedRows { changes: Changes::new(), created: Vec::new() });
        }
        let tenant = &self.who.tenant;
        let now = crate::now();
        let mut rows = rows;
        for (customer, _) in &mut rows {
            customer.code = customer.code.trim().to_owned();
        }
        // Numbers must be new: unique within the batch (checked here, to name the row's
        // number) and not yet stored (the store refuses a taken one: the field is unique).
        // Automatic numbers skip the batch's own.
        let mut given: Vec<&str> =
            rows.iter().map(|(c, _)| c.code.as_str()).filter(|c| !c.is_empty()).collect();
        given.sort_unstable();
        if let Some(pair) = given.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(DomainError::invalid(
                "code",
                format!("customer number {:?} appears twice", pair[0]),
            )
            .into());
        }
        // Ids of both kinds, the automatic numbers and the two audit entries (one per run of
        // new ids of each kind), reserved together.
        let count = rows.len() as u64;
        let contact_count: u64 = rows.iter().map(|(_, c)| c.len() as u64).sum();
        let needs_code = count - given.len() as u64;
        let given: HashSet<String> = match needs_code {
            0 => HashSet::new(),
            _ => given.into_iter().map(str::to_owned).collect(),
        };
        let sequences = [
            crate::id_sequence(Customer::desc()),
            crate::id_sequence(Contact::desc()),
            crate::id_sequence(AuditEntry::desc()),
        ];
        let audits = 1 + u64::from(contact_count > 0);
        let wanted = [
            (sequences[0].as_str(), count),
            (sequences[1].as_str(), contact_count),
            (NUMBERS, needs_code),
            (sequences[2].as_str(), audits),
        ];
        let wanted: Vec<(&str, u64)> = wanted.into_iter().filter(|(_, n)| *n > 0).collect();
        let reserve = || self.crm.store.next_in_sequences(tenant, &wanted);
        let settings = || crate::settings::codes(self.crm, tenant);

        // Each row's offset in the batch and that of its first contact: its ids relative to
        // the batch.
        let mut contact_offset = 0;
        let mut numbered = Vec::with_capacity(rows.len());
        for (offset, (customer, contacts)) in rows.into_iter().enumerate() {
            let first_contact = contact_offset;
            contact_offset += contacts.len() as u64;
            numbered.push(((offset as u64, first_contact), customer, contacts));
        }
        let check = |rows| {
            crate::parallel::map(rows, |(offsets, customer, contacts)| {
                self.prepare_new(offsets, customer, contacts, now)
            })
        };
        // FIXME: a large batch refused for a bad row has still taken its ids and automatic
        // numbers (reserved while its rows were checked), so numbering resumes past them.
        let (checked, settings, firsts) = if numbered.len() >= crate::parallel::MIN_ITEMS {
            let ((settings, firsts), checked) =
                crate::parallel::both(|| (settings(), reserve()), || check(numbered));
            (checked, settings?, Some(firsts?))
        } else {
            (check(numbered), settings()?, None)
        };
        // The first bad row is the one reported, whatever the split. A parent must be one the
        // principal may change, and still be stored when the batch commits (edits to it
        // meanwhile do not matter).
        let mut ready = Vec::with_capacity(checked.len());
        // In id order, so two batches lock shared parents in the same order on PostgreSQL.
        let mut parents: BTreeSet<RecordId> = BTreeSet::new();
        for (n, row) in checked.into_iter().enumerate() {
            let at = |error: crate::Error| Refusal { row: Some(n), error };
            let row = row.map_err(at)?;
            let customer = row.customer();
            let settings_hold =
                |list, code: &str| settings.check(list, code).map_err(|e| at(e.into()));
            settings_hold(SettingList::CustomerCategory, &customer.category)?;
            settings_hold(SettingList::CustomerSource, &customer.source)?;
            if let Some(parent) = customer.parent.filter(|p| !parents.contains(p)) {
                self.get_for_change(parent).map_err(at)?;
                parents.insert(parent);
            }
            ready.push(row);
        }
        let firsts = match firsts {
            Some(firsts) => firsts,
            None => {
                // A small batch claims nothing before it is known to be good: a number it
                // gives that a customer holds would otherwise be found at commit, after
                // automatic numbers were drawn for its other rows.
                if needs_code > 0 {
                    let given: Vec<&str> = given.iter().map(String::as_str).collect();
                    if let Some(taken) = self.first_taken(&given) {
                        return Err(taken.into());
                    }
                }
                reserve()?
            }
        };
        let first_of = |name: &str| {
            wanted.iter().zip(&firsts).find(|((n, _), _)| *n == name).map_or(0, |(_, first)| *first)
        };
        let (first_id, first_contact) = (first_of(&sequences[0]), first_of(&sequences[1]));
        let mut codes = Vec::new();
        if needs_code > 0 {
            let given: HashSet<&str> = given.iter().map(String::as_str).collect();
            codes = free_numbers(self.crm, tenant, first_of(NUMBERS), needs_code, &given)?;
        }
        let mut codes = codes.into_iter();
        let placed: Vec<(NewRow, Option<String>)> = ready
            .into_iter()
            .map(|row| {
                let code = matches!(row, NewRow::Unnumbered { .. }).then(|| codes.next());
                (row, code.flatten())
            })
            .collect();
        let place = |(row, code): (NewRow, Option<String>)| {
            row.place(first_id, first_contact, code.unwrap_or_default())
        };
        // Only unnumbered rows still have their mapping to do.
        let placed: Vec<_> = match needs_code {
            0 => placed.into_iter().map(place).collect(),
            _ => crate::parallel::map(placed, place),
        };

        let mut changes = Changes::new();
        changes.use_audit_ids(first_of(&sequences[2]), audits);
        for parent in parents {
            changes.exists(Customer::desc(), parent);
        }
        let mut created = Vec::with_capacity(placed.len());
        for row in placed {
            let (customer, record, contact_records) = row?;
            changes.create_record(Customer::desc(), record);
            for record in contact_records {
                changes.create_record(Contact::desc(), record);
            }
            created.push(customer);
        }
        Ok(PreparedRows { changes, created })
    }

    /// The error of a create or update whose commit failed: when one of the customer
    /// numbers it claimed is held by another customer now (their check passed before the
    /// batch, or another writer won the race), which one; otherwise the error as it came.
    fn name_taken_number(&self, error: crate::Error, claimed: &[&str]) -> crate::Error {
        if !matches!(&error, crate::Error::Store(e) if e.kind() == StoreErrorKind::Constraint) {
            return error;
        }
        self.first_taken(claimed).unwrap_or(error)
    }

    /// The error naming a number of `claimed` that a stored customer holds; `None` when no
    /// customer holds one, or the lookup failed (the caller's own outcome then stands).
    fn first_taken(&self, claimed: &[&str]) -> Option<crate::Error> {
        for chunk in claimed.chunks(1000) {
            let codes = chunk.iter().map(|c| Value::Text((*c).to_owned())).collect();
            // Numbers are unique in the whole tenant, so the lookup ignores the scope.
            let query = Query::all().filter(Filter::In("code".into(), codes)).page(0, 1);
            if let Ok(page) = self.crm.store.query(&self.who.tenant, Customer::desc(), &query) {
                if let Some(taken) = page.records.first() {
                    let code = taken.get("code").display();
                    let reason = format!("customer number {code:?} is already taken");
                    return Some(DomainError::invalid("code", reason).into());
                }
            }
        }
        None
    }

    /// A new row checked on its own: fields, owner and contacts. Its ids are relative to the
    /// batch; setting codes and automatic numbers are not known yet.
    fn prepare_new(
        &self,
        (offset, contact_offset): (u64, u64),
        mut customer: Customer,
        contacts: Vec<Contact>,
        now: DateTime<Utc>,
    ) -> Result<NewRow> {
        // A new customer has no id yet, so it cannot be its own parent; the relative id is
        // given once the fields are checked.
        customer.id = RecordId::default();
        customer.version = 0;
        self.check_fields(&mut customer)?;
        customer.id = RecordId(offset);
        customer.created_at = now;
        customer.updated_at = now;
        let mut ready = Vec::with_capacity(contacts.len());
        for (n, mut contact) in (contact_offset..).zip(contacts) {
            contact.id = RecordId(n);
            contact.version = 0;
            contact.customer = customer.id;
            contact.validate()?;
            ready.push(contact);
        }
        if customer.code.is_empty() {
            // The number is part of the search text: mapping waits for it.
            return Ok(NewRow::Unnumbered { customer, contacts: ready });
        }
        let (customer, record, contacts) = NewRow::map(customer, ready)?;
        Ok(NewRow::Mapped(customer, record, contacts))
    }

    /// Checks the fields and the setting codes, and fills the owner.
    fn prepare(&self, customer: &mut Customer, settings: &crate::settings::Codes) -> Result<()> {
        self.check_fields(customer)?;
        settings.check(SettingList::CustomerCategory, &customer.category)?;
        settings.check(SettingList::CustomerSource, &customer.source)?;
        Ok(())
    }

    /// Checks the fields and fills the owner.
    fn check_fields(&self, customer: &mut Customer) -> Result<()> {
        customer.validate()?;
        match customer.status {
            CustomerStatus::Pool => customer.owner = None,
            CustomerStatus::Private if customer.owner.is_none() => {
                customer.owner = Some(self.who.user)
            }
            CustomerStatus::Private => {}
        }
        if !self.who.is_admin() && customer.owner.is_some_and(|o| o != self.who.user) {
            return Err(
                DomainError::Forbidden("only administrators assign other owners".into()).into()
            );
        }
        Ok(())
    }

    /// Saves changed fields of a customer, guarded by its version. The parent is changed
    /// through [`Customers::set_parent`] only.
    pub fn update(&self, mut customer: Customer) -> Result<Customer> {
        let old = self.get_for_change(customer.id)?;
        if customer.parent != old.parent {
            return Err(DomainError::invalid("parent", "use set_parent to move a customer").into());
        }
        crate::changes::ensure_current("customer", customer.id, customer.version, old.version)?;
        let settings = crate::settings::codes(self.crm, &self.who.tenant)?;
        customer.code = customer.code.trim().to_owned();
        if customer.code.is_empty() {
            customer.code = old.code.clone();
        }
        self.prepare(&mut customer, &settings)?;
        customer.created_at = old.created_at;
        customer.updated_at = crate::now();
        customer.refresh_search(&self.contacts(customer.id)?);
        // A number another customer holds is refused by the store: the field is unique.
        let mut changes = Changes::new();
        if changes.update(&old, &customer)? {
            if let Err(error) = changes.commit(self.crm, self.who) {
                let claimed: &[&str] =
                    if customer.code == old.code { &[] } else { &[customer.code.as_str()] };
                return Err(self.name_taken_number(error, claimed));
            }
            customer.version = old.version + 1;
            Ok(customer)
        } else {
            Ok(old)
        }
    }

    /// Deletes a customer with its contacts and their relatives. Refused while it has
    /// children.
    pub fn delete(&self, id: RecordId) -> Result<()> {
        let customer = self.get_for_change(id)?;
        let children = self.crm.store.query(
            &self.who.tenant,
            Customer::desc(),
            &Query::all().filter(Filter::Eq("parent".into(), Value::Ref(id))).page(0, 1),
        )?;
        if children.total > 0 {
            return Err(DomainError::InUse {
                what: format!("customer {}", customer.name),
                count: children.total,
            }
            .into());
        }
        let mut changes = Changes::new();
        changes.none_match(Customer::desc(), vec![Filter::Eq("parent".into(), Value::Ref(id))]);
        for contact in self.contacts(id)? {
            for relative in self.relatives(contact.id)? {
                changes.delete(&relative)?;
            }
            changes.delete(&contact)?;
        }
        changes.delete(&customer)?;
        changes.commit(self.crm, self.who)
    }

    /// Moves a customer (and with it its whole subtree) under `parent`, or makes it a root.
    /// Refused with [`DomainError::Cycle`] when `parent` is the customer or below it.
    pub fn set_parent(&self, id: RecordId, parent: Option<RecordId>) -> Result<Customer> {
        let old = self.get_for_change(id)?;
        if old.parent == parent {
            return Ok(old);
        }
        let mut changes = Changes::new();
        if let Some(parent_id) = parent {
            let parent_customer = self.get_for_change(parent_id)?;
            let ancestors = self.crm.store.ancestors(
                &self.who.tenant,
                Customer::desc(),
                "parent",
                parent_id,
                MAX_HIERARCHY_DEPTH,
            )?;
            check_new_parent("customer", id, parent_id, ancestors.iter().map(|r| r.id))?;
            // The walk above is only valid while no ancestor moves; the checks make the commit
            // fail with a conflict if one did.
            changes.check(Customer::desc(), parent_id, parent_customer.version);
            for ancestor in &ancestors {
                changes.check(Customer::desc(), ancestor.id, ancestor.version);
            }
        }
        let mut moved = old.clone();
        moved.parent = parent;
        moved.updated_at = crate::now();
        changes.update(&old, &moved)?;
        changes.commit(self.crm, self.who)?;
        moved.version = old.version + 1;
        Ok(moved)
    }

    /// The customer's ancestors, nearest first.
    pub fn ancestors(&self, id: RecordId) -> Result<Vec<Customer>> {
        self.get(id)?;
        let records = self.crm.store.ancestors(
            &self.who.tenant,
            Customer::desc(),
            "parent",
            id,
            MAX_HIERARCHY_DEPTH,
        )?;
        self.visible(records)
    }

    /// Every customer below this one, breadth first.
    pub fn descendants(&self, id: RecordId) -> Result<Vec<Customer>> {
        self.get(id)?;
        let records = self.crm.store.descendants(
            &self.who.tenant,
            Customer::desc(),
            "parent",
            id,
            MAX_HIERARCHY_DEPTH,
        )?;
        self.visible(records)
    }

    /// The direct children the principal sees.
    pub fn children(&self, id: RecordId) -> Result<Vec<Customer>> {
        let mut query = Query::all()
            .filter(Filter::Eq("parent".into(), Value::Ref(id)))
            .sort(Sort::asc("name"));
        if let Some(filter) = self.scope.filter() {
            query = query.filter(filter);
        }
        Ok(self.crm.find::<Customer>(&self.who.tenant, &query)?.items)
    }

    /// The visible customer with this number, if any.
    pub fn by_code(&self, code: &str) -> Result<Option<Customer>> {
        let mut query =
            Query::all().filter(Filter::Eq("code".into(), Value::Text(code.trim().into())));
        if let Some(filter) = self.scope.filter() {
            query = query.filter(filter);
        }
        Ok(self.crm.find::<Customer>(&self.who.tenant, &query)?.items.into_iter().next())
    }

    fn visible(&self, records: Vec<crm_domain::Record>) -> Result<Vec<Customer>> {
        records
            .iter()
            .filter(|r| self.scope.allows(r))
            .map(|r| Customer::from_record(r).map_err(Into::into))
            .collect()
    }

    /// The audit trail of a visible customer, oldest first.
    pub fn history(&self, id: RecordId) -> Result<Vec<AuditEntry>> {
        self.get(id)?;
        self.crm.history(self.who, "customer", id)
    }

    /// The contacts of a visible customer, by name.
    pub fn contacts(&self, customer: RecordId) -> Result<Vec<Contact>> {
        let query = Query::all()
            .filter(Filter::Eq("customer".into(), Value::Ref(customer)))
            .sort(Sort::asc("name"));
        Ok(self.crm.find::<Contact>(&self.who.tenant, &query)?.items)
    }

    /// One contact of a visible customer.
    pub fn contact(&self, id: RecordId) -> Result<Contact> {
        let contact = self
            .crm
            .load::<Contact>(&self.who.tenant, id)?
            .ok_or(DomainError::NotFound { kind: "contact".into(), id })?;
        self.get(contact.customer)
            .map_err(|_| DomainError::NotFound { kind: "contact".into(), id })?;
        Ok(contact)
    }

    /// Adds a contact to a visible customer.
    pub fn add_contact(&self, mut contact: Contact) -> Result<Contact> {
        let old_customer = self.get_for_change(contact.customer)?;
        contact.validate()?;
        contact.id = RecordId(self.crm.allocate::<Contact>(&self.who.tenant, 1)?);
        contact.version = 0;
        let mut contacts = self.contacts(contact.customer)?;
        contacts.push(contact.clone());
        let mut changes = Changes::new();
        changes.create(&contact)?;
        self.touch_search(&mut changes, &old_customer, &contacts)?;
        changes.commit(self.crm, self.who)?;
        contact.version = 1;
        Ok(contact)
    }

    /// Saves a changed contact, guarded by its version.
    pub fn update_contact(&self, mut contact: Contact) -> Result<Contact> {
        let old = self.contact(contact.id)?;
        let customer = self.get_for_change(old.customer)?;
        crate::changes::ensure_current("contact", contact.id, contact.version, old.version)?;
        contact.customer = old.customer;
        contact.validate()?;
        let contacts: Vec<Contact> = self
            .contacts(old.customer)?
            .into_iter()
            .map(|c| if c.id == contact.id { contact.clone() } else { c })
            .collect();
        let mut changes = Changes::new();
        if !changes.update(&old, &contact)? {
            return Ok(old);
        }
        self.touch_search(&mut changes, &customer, &contacts)?;
        changes.commit(self.crm, self.who)?;
        contact.version = old.version + 1;
        Ok(contact)
    }

    /// Deletes a contact and its relatives.
    pub fn delete_contact(&self, id: RecordId) -> Result<()> {
        let contact = self.contact(id)?;
        let customer = self.get_for_change(contact.customer)?;
        let contacts: Vec<Contact> =
            self.contacts(contact.customer)?.into_iter().filter(|c| c.id != id).collect();
        let mut changes = Changes::new();
        for relative in self.relatives(id)? {
            changes.delete(&relative)?;
        }
        changes.delete(&contact)?;
        self.touch_search(&mut changes, &customer, &contacts)?;
        changes.commit(self.crm, self.who)
    }

    fn touch_search(
        &self,
        changes: &mut Changes,
        customer: &Customer,
        contacts: &[Contact],
    ) -> Result<()> {
        let mut refreshed = customer.clone();
        refreshed.refresh_search(contacts);
        if refreshed.search != customer.search {
            refreshed.updated_at = crate::now();
            changes.update(customer, &refreshed)?;
        } else {
            changes.check(Customer::desc(), customer.id, customer.version);
        }
        Ok(())
    }

    /// The relatives and friends of a contact.
    pub fn relatives(&self, contact: RecordId) -> Result<Vec<Relative>> {
        let query = Query::all()
            .filter(Filter::Eq("contact".into(), Value::Ref(contact)))
            .sort(Sort::asc("name"));
        Ok(self.crm.find::<Relative>(&self.who.tenant, &query)?.items)
    }

    /// Adds a relative or friend to a visible contact.
    pub fn add_relative(&self, mut relative: Relative) -> Result<Relative> {
        self.contact_to_change(relative.contact)?;
        relative.validate()?;
        relative.id = RecordId(self.crm.allocate::<Relative>(&self.who.tenant, 1)?);
        relative.version = 0;
        let mut changes = Changes::new();
        changes.create(&relative)?;
        changes.commit(self.crm, self.who)?;
        relative.version = 1;
        Ok(relative)
    }

    /// One relative of a visible contact.
    pub fn relative(&self, id: RecordId) -> Result<Relative> {
        let relative = self
            .crm
            .load::<Relative>(&self.who.tenant, id)?
            .ok_or(DomainError::NotFound { kind: "relative".into(), id })?;
        self.contact(relative.contact)
            .map_err(|_| DomainError::NotFound { kind: "relative".into(), id })?;
        Ok(relative)
    }

    /// Saves a changed relative, guarded by its version.
    pub fn update_relative(&self, mut relative: Relative) -> Result<Relative> {
        let old = self.relative(relative.id)?;
        self.contact_to_change(old.contact)?;
        crate::changes::ensure_current("relative", relative.id, relative.version, old.version)?;
        relative.contact = old.contact;
        relative.validate()?;
        let mut changes = Changes::new();
        if !changes.update(&old, &relative)? {
            return Ok(old);
        }
        changes.commit(self.crm, self.who)?;
        relative.version = old.version + 1;
        Ok(relative)
    }

    /// Deletes a relative.
    pub fn delete_relative(&self, id: RecordId) -> Result<()> {
        let relative = self.relative(id)?;
        self.contact_to_change(relative.contact)?;
        let mut changes = Changes::new();
        changes.delete(&relative)?;
        changes.commit(self.crm, self.who)
    }

    /// Every visible customer and their contacts, for exports. Sorted by number.
    pub fn export_rows(&self) -> Result<(Vec<Customer>, Vec<Contact>)> {
        let mut query = Query::all().sort(Sort::asc("code"));
        if let Some(filter) = self.scope.filter() {
            query = query.filter(filter);
        }
        let customers = self.crm.find::<Customer>(&self.who.tenant, &query)?.items;
        let mut contacts = Vec::new();
        for chunk in customers.chunks(1000) {
            let ids = chunk.iter().map(|c| Value::Ref(c.id)).collect();
            let query = Query::all().filter(Filter::In("customer".into(), ids));
            contacts.extend(self.crm.find::<Contact>(&self.who.tenant, &query)?.items);
        }
        Ok((customers, contacts))
    }
}

/// The sequence automatic customer numbers come from.
pub(crate) const NUMBERS: &str = "code.customer";

/// The automatic customer number `n`: `C` and at least six digits.
pub(crate) fn automatic_code(n: u64) -> String {
    format!("C{n:06}")
}

/// A chunk of new customers ready to commit: the changes that create them and the customers
/// as created.
struct PreparedRows {
    changes: Changes,
    created: Vec<Customer>,
}

/// Whether a chunk of [`Customers::create_chunks`] may be prepared while the chunk before it
/// commits: it names no parent and gives every number.
fn may_prepare_ahead(rows: &[(Customer, Vec<Contact>)]) -> bool {
    rows.iter().all(|(c, _)| c.parent.is_none() && !c.code.trim().is_empty())
}

/// Why a chunk of new customers was refused while it was prepared, and which row, counted
/// from 0, when one row was the reason.
struct Refusal {
    row: Option<usize>,
    error: crate::Error,
}

impl<E: Into<crate::Error>> From<E> for Refusal {
    fn from(error: E) -> Self {
        Self { row: None, error: error.into() }
    }
}

/// Why [`Customers::create_chunks`] stopped.
#[derive(Debug, thiserror::Error)]
#[error(
    "chunk {} of the load{} was refused after {created} customer(s) were created: {error}",
    chunk + 1,
    row.map(|row| format!(" (its row {})", row + 1)).unwrap_or_default()
)]
pub struct ChunkRefused {
    /// The chunk refused, counted from 0 (the message counts from 1); the chunks before it
    /// are created, nothing of it or after it.
    pub chunk: usize,
    /// The row of the chunk refused, counted from 0, when one row was the reason (a field,
    /// a setting code, a parent); `None` when the whole chunk was (a store failure, a number
    /// found taken when it committed).
    pub row: Option<usize>,
    /// How many customers the chunks before it created.
    pub created: usize,
    /// Why it was refused.
    pub error: crate::Error,
}

impl From<ChunkRefused> for crate::Error {
    /// The error alone, for a host that only passes errors on (`?` in a function returning
    /// [`crate::Result`]); which chunk and what was created are lost.
    fn from(refused: ChunkRefused) -> Self {
        refused.error
    }
}

/// A row of a bulk create, checked on its own, with ids relative to the batch.
enum NewRow {
    /// Mapped onto its records.
    Mapped(Customer, Record, Vec<Record>),
    /// Waiting for an automatic number, which its search text holds.
    Unnumbered { customer: Customer, contacts: Vec<Contact> },
}

impl NewRow {
    /// The customer with its search text, mapped onto records at version 1 with the records
    /// of its contacts.
    fn map(
        mut customer: Customer,
        contacts: Vec<Contact>,
    ) -> Result<(Customer, Record, Vec<Record>)> {
        customer.refresh_search(&contacts);
        let mut record = customer.to_record()?;
        record.version = 1;
        let mut contact_records = Vec::with_capacity(contacts.len());
        for contact in contacts {
            let mut record = contact.into_record()?;
            record.version = 1;
            contact_records.push(record);
        }
        customer.version = 1;
        Ok((customer, record, contact_records))
    }

    fn customer(&self) -> &Customer {
        match self {
            Self::Mapped(customer, ..) | Self::Unnumbered { customer, .. } => customer,
        }
    }

    /// The row's records with ids moved into the ranges reserved from `first_id` (customers)
    /// and `first_contact` (contacts) on; an unnumbered row takes `code` first.
    fn place(
        self,
        first_id: u64,
        first_contact: u64,
        code: String,
    ) -> Result<(Customer, Record, Vec<Record>)> {
        let (mut customer, mut record, mut contacts) = match self {
            Self::Mapped(customer, record, contacts) => (customer, record, contacts),
            Self::Unnumbered { mut customer, contacts } => {
                customer.code = code;
                Self::map(customer, contacts)?
            }
        };
        customer.id = RecordId(first_id + customer.id.0);
        record.id = customer.id;
        for contact in &mut contacts {
            contact.id = RecordId(first_contact + contact.id.0);
            // The one field of a contact that holds an id of the batch.
            contact.set("customer", Value::Ref(customer.id));
        }
        Ok((customer, record, contacts))
    }
}

/// `count` automatic numbers, from the block of the sequence that starts at `first` and on:
/// numbers a stored customer holds (typed by hand in the automatic form) or `given` holds
/// (the batch's own) are skipped, and more are reserved in their place.
pub(crate) fn free_numbers(
    crm: &Crm,
    tenant: &crm_domain::TenantId,
    first: u64,
    count: u64,
    given: &HashSet<&str>,
) -> Result<Vec<String>> {
    const ATTEMPTS: usize = 20;
    let mut free = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut block = (first, count);
    for _ in 0..ATTEMPTS {
        let candidates: Vec<String> = (block.0..block.0.saturating_add(block.1))
            .map(automatic_code)
            .filter(|code| !given.contains(code.as_str()))
            .collect();
        let mut taken = HashSet::new();
        for chunk in candidates.chunks(1000) {
            let values = chunk.iter().map(|c| Value::Text(c.clone())).collect();
            let query =
                Query::all().filter(Filter::In("code".into(), values)).page(0, chunk.len() as u64);
            let holders = crm.store.query(tenant, Customer::desc(), &query)?;
            taken.extend(holders.records.iter().map(|r| r.get("code").display()));
        }
        free.extend(candidates.into_iter().filter(|code| !taken.contains(code)));
        let missing = count - free.len() as u64;
        if missing == 0 {
            return Ok(free);
        }
        block = (crm.store.next_in_sequence(tenant, NUMBERS, missing)?, missing);
    }
    Err(DomainError::State(format!(
        "no free customer numbers after {ATTEMPTS} tries; give the customers numbers by hand"
    ))
    .into())
}

/// What a person typed into a search box, trimmed and without control characters (stored
/// text never holds them, and some stores refuse them in parameters).
pub(crate) fn searchable(input: &str) -> String {
    input.trim().chars().filter(|c| !c.is_control()).collect()
}
