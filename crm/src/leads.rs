//! The lead service: leads, their contact records with attachments, and conversion into a
//! customer.

use crm_domain::model::{
    Attachment, Contact, Customer, CustomerStatus, Interaction, Lead, LeadStatus,
};
use crm_domain::{DomainError, Entity, Filter, Principal, Query, RecordId, Sort, Value};

use crate::changes::Changes;
use crate::scope::Scope;
use crate::{AuditEntry, Crm, Page, Result};

/// A lead search: fuzzy text, status and source filters, a page. Newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadSearch {
    /// Fuzzy text over name, company, phones and email.
    pub text: Option<String>,
    /// Status.
    pub status: Option<LeadStatus>,
    /// Source code.
    pub source: Option<String>,
    /// Items to skip.
    pub offset: u64,
    /// Page size.
    pub limit: u64,
}

impl Default for LeadSearch {
    fn default() -> Self {
        Self { text: None, status: None, source: None, offset: 0, limit: 50 }
    }
}

/// A file to attach, as uploaded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttachment {
    /// File name.
    pub file_name: String,
    /// Media type.
    pub content_type: String,
    /// Content.
    pub bytes: Vec<u8>,
}

/// Leads as seen by one principal.
pub struct Leads<'a> {
    crm: &'a Crm,
    who: &'a Principal,
    scope: Scope,
}

impl<'a> Leads<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who, scope: Scope::of(who, "owner") }
    }

    /// Searches visible leads, newest first.
    pub fn search(&self, search: &LeadSearch) -> Result<Page<Lead>> {
        let mut query = Query::all().sort(Sort::desc("created_at"));
        query.offset = search.offset;
        query.limit = Some(search.limit.clamp(1, 10_000));
        if let Some(filter) = self.scope.filter() {
            query = query.filter(filter);
        }
        let text = search.text.as_deref().map(crate::customers::searchable);
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            query = query.filter(Filter::Fuzzy("search".into(), text));
        }
        if let Some(status) = search.status {
            query = query.filter(Filter::Eq("status".into(), status.as_str().into()));
        }
        let source = search.source.as_deref().map(crate::customers::searchable);
        if let Some(source) = source.filter(|s| !s.is_empty()) {
            query = query.filter(Filter::Eq("source".into(), source.into()));
        }
        self.crm.find(&self.who.tenant, &query)
    }

    /// One visible lead.
    pub fn get(&self, id: RecordId) -> Result<Lead> {
        let not_found = || DomainError::NotFound { kind: "lead".into(), id };
        let record =
            self.crm.store.get(&self.who.tenant, Lead::desc(), id)?.ok_or_else(not_found)?;
        if !self.scope.allows(&record) {
            return Err(not_found().into());
        }
        Ok(Lead::from_record(&record)?)
    }

    /// Creates leads in one atomic batch; the owner defaults to the acting user.
    pub fn create_many(&self, leads: Vec<Lead>) -> Result<Vec<Lead>> {
        if leads.is_empty() {
            return Ok(Vec::new());
        }
        let first = self.crm.allocate::<Lead>(&self.who.tenant, leads.len() as u64)?;
        let now = crate::now();
        let mut changes = Changes::new();
        let mut created = Vec::with_capacity(leads.len());
        for (offset, mut lead) in leads.into_iter().enumerate() {
            lead.id = RecordId(first + offset as u64);
            lead.version = 0;
            lead.customer = None;
            if lead.status == LeadStatus::Converted {
                return Err(DomainError::invalid("status", "a new lead cannot be converted").into());
            }
            self.prepare(&mut lead)?;
            lead.created_at = now;
            lead.updated_at = now;
            changes.create(&lead)?;
            lead.version = 1;
            created.push(lead);
        }
        changes.commit(self.crm, self.who)?;
        Ok(created)
    }

    /// Creates one lead.
    pub fn create(&self, lead: Lead) -> Result<Lead> {
        let mut created = self.create_many(vec![lead])?;
        created.pop().ok_or_else(|| DomainError::State("nothing created".into()).into())
    }

    fn prepare(&self, lead: &mut Lead) -> Result<()> {
        lead.validate()?;
        let codes = crate::settings::codes(self.crm, &self.who.tenant)?;
        codes.check(crm_domain::model::SettingList::CustomerSource, &lead.source)?;
        if lead.owner.is_none() {
            lead.owner = Some(self.who.user);
        }
        if !self.who.is_admin() && lead.owner != Some(self.who.user) {
            return Err(
                DomainError::Forbidden("only administrators assign other owners".into()).into()
            );
        }
        lead.refresh_search();
        Ok(())
    }

    /// Saves a changed lead, guarded by its version. Converted leads are read-only.
    pub fn update(&self, mut lead: Lead) -> Result<Lead> {
        let old = self.get(lead.id)?;
        if old.status == LeadStatus::Converted {
            return Err(DomainError::State("a converted lead cannot be changed".into()).into());
        }
        if lead.status == LeadStatus::Converted {
            return Err(DomainError::invalid(
                "status",
                "use convert to turn a lead into a customer",
            )
            .into());
        }
        crate::changes::ensure_current("lead", lead.id, lead.version, old.version)?;
        lead.customer = old.customer;
        lead.created_at = old.created_at;
        self.prepare(&mut lead)?;
        lead.updated_at = crate::now();
        let mut changes = Changes::new();
        if changes.update(&old, &lead)? {
            changes.commit(self.crm, self.who)?;
            lead.version = old.version + 1;
            Ok(lead)
        } else {
            Ok(old)
        }
    }

    /// Deletes a lead that was not converted, with its contact records and attachments.
    pub fn delete(&self, id: RecordId) -> Result<()> {
        let lead = self.get(id)?;
        if lead.status == LeadStatus::Converted {
            return Err(DomainError::State("a converted lead is kept as history".into()).into());
        }
        let mut changes = Changes::new();
        for interaction in self.interactions(id)? {
            for attachment in self.attachment_records("interaction", interaction.id)? {
                changes.delete(&attachment)?;
            }
            changes.delete(&interaction)?;
        }
        changes.delete(&lead)?;
        changes.commit(self.crm, self.who)
    }

    /// The audit trail of a visible lead, oldest first.
    pub fn history(&self, id: RecordId) -> Result<Vec<AuditEntry>> {
        self.get(id)?;
        self.crm.history(self.who, "lead", id)
    }

    /// The contact records of a visible lead, newest first.
    pub fn interactions(&self, lead: RecordId) -> Result<Vec<Interaction>> {
        self.get(lead)?;
        let query = Query::all()
            .filter(Filter::Eq("lead".into(), Value::Ref(lead)))
            .sort(Sort::desc("contact_at"));
        Ok(self.crm.find::<Interaction>(&self.who.tenant, &query)?.items)
    }

    /// Records a contact with a lead, with attachments, in one batch. Moves a new lead to
    /// contacted.
    pub fn add_interaction(
        &self,
        mut interaction: Interaction,
        attachments: Vec<NewAttachment>,
    ) -> Result<Interaction> {
        let lead_id =
            interaction.lead.ok_or_else(|| DomainError::Required { field: "lead".into() })?;
        let lead = self.get(lead_id)?;
        if lead.status == LeadStatus::Converted {
            return Err(DomainError::State(
                "record contacts on the customer this lead became".into(),
            )
            .into());
        }
        interaction.id = RecordId(self.crm.allocate::<Interaction>(&self.who.tenant, 1)?);
        interaction.version = 0;
        interaction.customer = None;
        interaction.created_by = self.who.user;
        interaction.validate()?;
        let mut changes = Changes::new();
        changes.create(&interaction)?;
        self.attach(&mut changes, "interaction", interaction.id, attachments)?;
        if lead.status == LeadStatus::New {
            let mut contacted = lead.clone();
            contacted.status = LeadStatus::Contacted;
            contacted.updated_at = crate::now();
            changes.update(&lead, &contacted)?;
        } else {
            changes.check(Lead::desc(), lead.id, lead.version);
        }
        changes.commit(self.crm, self.who)?;
        interaction.version = 1;
        Ok(interaction)
    }

    fn attach(
        &self,
        changes: &mut Changes,
        owner_kind: &str,
        owner_id: RecordId,
        files: Vec<NewAttachment>,
    ) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let first = self.crm.allocate::<Attachment>(&self.who.tenant, files.len() as u64)?;
        for (offset, file) in files.into_iter().enumerate() {
            let attachment = Attachment {
                id: RecordId(first + offset as u64),
                version: 0,
                owner_kind: owner_kind.to_owned(),
                owner_id,
                file_name: file.file_name.trim().to_owned(),
                content_type: if file.content_type.trim().is_empty() {
                    "application/octet-stream".to_owned()
                } else {
                    file.content_type.trim().to_owned()
                },
                size_bytes: i64::try_from(file.bytes.len()).unwrap_or(i64::MAX),
                bytes: file.bytes,
                created_at: crate::now(),
            };
            attachment.validate()?;
            changes.create(&attachment)?;
        }
        Ok(())
    }

    fn attachment_records(&self, owner_kind: &str, owner_id: RecordId) -> Result<Vec<Attachment>> {
        let query = Query::all()
            .filter(Filter::Eq("owner_id".into(), Value::Ref(owner_id)))
            .filter(Filter::Eq("owner_kind".into(), owner_kind.into()))
            .sort(Sort::asc("file_name"));
        Ok(self.crm.find::<Attachment>(&self.who.tenant, &query)?.items)
    }

    /// The attachments of a contact record of a visible lead (content included).
    pub fn attachments(&self, interaction: RecordId) -> Result<Vec<Attachment>> {
        let record = self
            .crm
            .load::<Interaction>(&self.who.tenant, interaction)?
            .ok_or(DomainError::NotFound { kind: "interaction".into(), id: interaction })?;
        match (record.lead, record.customer) {
            (Some(lead), _) => {
                self.get(lead)?;
            }
            (None, Some(customer)) => {
                self.crm.customers(self.who).get(customer)?;
            }
            (None, None) => {
                return Err(
                    DomainError::NotFound { kind: "interaction".into(), id: interaction }.into()
                )
            }
        }
        self.attachment_records("interaction", interaction)
    }

    /// One attachment, checked through the lead or customer it belongs to.
    pub fn attachment(&self, id: RecordId) -> Result<Attachment> {
        let not_found = || DomainError::NotFound { kind: "attachment".into(), id };
        let attachment =
            self.crm.load::<Attachment>(&self.who.tenant, id)?.ok_or_else(not_found)?;
        if attachment.owner_kind != "interaction" {
            return Err(not_found().into());
        }
        self.attachments(attachment.owner_id).map_err(|_| not_found())?;
        Ok(attachment)
    }

    /// The next automatic customer number no customer holds.
    fn free_number(&self) -> Result<String> {
        let tenant = &self.who.tenant;
        let first = self.crm.store.next_in_sequence(tenant, crate::customers::NUMBERS, 1)?;
        let free = crate::customers::free_numbers(self.crm, tenant, first, 1, &Default::default())?;
        free.into_iter()
            .next()
            .ok_or_else(|| DomainError::State("no customer number".into()).into())
    }

    /// Converts a lead into a customer with the lead's person as its first contact. The
    /// lead's contact records move to the customer, the lead is marked converted and points
    /// at the customer. All in one atomic batch.
    pub fn convert(&self, id: RecordId) -> Result<(Customer, Contact)> {
        let lead = self.get(id)?;
        if lead.status == LeadStatus::Converted {
            return Err(DomainError::State(format!("lead {id} is already converted")).into());
        }
        let tenant = &self.who.tenant;
        let now = crate::now();
        let mut customer = Customer {
            id: RecordId(self.crm.allocate::<Customer>(tenant, 1)?),
            code: self.free_number()?,
            name: if lead.company.trim().is_empty() {
                lead.name.clone()
            } else {
                lead.company.clone()
            },
            source: lead.source.clone(),
            address: lead.address.clone(),
            city: lead.city.clone(),
            country: lead.country.clone(),
            phone: lead.phone.clone(),
            email: lead.email.clone(),
            website: lead.website.clone(),
            owner: lead.owner.or(Some(self.who.user)),
            status: CustomerStatus::Private,
            remarks: lead.remarks.clone(),
            created_at: now,
            updated_at: now,
            custom: lead.custom.clone(),
            ..Customer::default()
        };
        let contact = Contact {
            id: RecordId(self.crm.allocate::<Contact>(tenant, 1)?),
            customer: customer.id,
            name: if lead.name.trim().is_empty() {
                lead.company.clone()
            } else {
                lead.name.clone()
            },
            title: lead.title.clone(),
            mobile: lead.mobile.clone(),
            phone: lead.phone.clone(),
            email: lead.email.clone(),
            ..Contact::default()
        };
        customer.validate()?;
        contact.validate()?;
        customer.refresh_search(std::slice::from_ref(&contact));

        let mut changes = Changes::new();
        changes.create(&customer)?;
        changes.create(&contact)?;
        for interaction in self.interactions(id)? {
            let mut moved = interaction.clone();
            moved.customer = Some(customer.id);
            changes.update(&interaction, &moved)?;
        }
        let mut converted = lead.clone();
        converted.status = LeadStatus::Converted;
        converted.customer = Some(customer.id);
        converted.updated_at = now;
        changes.update(&lead, &converted)?;
        changes.commit(self.crm, self.who)?;
        customer.version = 1;
        let mut contact = contact;
        contact.version = 1;
        Ok((customer, contact))
    }

    /// The contact records that belong to a visible customer (from converted leads or made
    /// with the customer), newest first.
    pub fn customer_interactions(&self, customer: RecordId) -> Result<Vec<Interaction>> {
        self.crm.customers(self.who).get(customer)?;
        let query = Query::all()
            .filter(Filter::Eq("customer".into(), Value::Ref(customer)))
            .sort(Sort::desc("contact_at"));
        Ok(self.crm.find::<Interaction>(&self.who.tenant, &query)?.items)
    }
}
