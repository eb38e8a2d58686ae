//! User-defined forms (自定义表单): administrators describe forms at run time
//! ([`Forms`]), and people fill them in as entries ([`FormEntries`]) that go through the
//! approval flow bound to `form = { custom = ID }`, exactly like quotes and finance
//! requests: draft → pending → approved / rejected / withdrawn, approvers' edits written
//! back, a rejected or withdrawn entry changed and submitted again.
//!
//! Every user of the tenant sees the forms that are not retired; an entry is seen by the
//! person who wrote it and administrators, and by approvers through its approval instance,
//! field by field as their node allows.

use std::collections::BTreeMap;

use crm_domain::model::{ApprovalStatus, FormDef, FormEntry, FormFieldDef};
use crm_domain::{DomainError, Entity, Filter, Principal, Query, RecordId, Sort, Value};
use crm_workflow::{FormBinding, FormField};
use serde::Deserialize;

use crate::approvable::Documents;
use crate::changes::{ensure_current, Changes};
use crate::{Crm, Page, Result};

/// What an administrator writes to define or change a form.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormDraft {
    /// A short name unique in the tenant (`leave`); a form keeps it once defined.
    pub key: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// Chinese name.
    #[serde(default)]
    pub name_zh: String,
    /// The fields, in the order forms show them.
    #[serde(default)]
    pub fields: Vec<FormFieldDef>,
}

impl FormDraft {
    /// Reads a draft from TOML:
    ///
    /// ```toml
    /// key = "leave"
    /// name_zh = "请假单"
    /// name_en = "Leave request"
    ///
    /// [[fields]]
    /// name = "days"
    /// label_zh = "天数"
    /// kind = "decimal"      # text, textarea, integer, decimal, date, bool, choice
    /// required = true
    ///
    /// [[fields]]
    /// name = "kind"
    /// label_zh = "假别"
    /// kind = "choice"
    /// choices = ["年假", "病假", "事假"]
    /// ```
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            let reason = e.message().to_owned();
            let at = e.span().map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            });
            DomainError::invalid("form", format!("{reason}{}", at.unwrap_or_default())).into()
        })
    }
}

/// The form fields a workflow bound to form `id` may name: every entry's own fields and the
/// form's fields, with their value types.
pub(crate) fn bindable_fields(form: &FormDef) -> Vec<FormField> {
    let mut fields = FormField::of(FormEntry::desc());
    fields.extend(form.fields.iter().map(|f| FormField::new(&f.name, f.kind.field_type())));
    fields
}

/// User-defined form definitions as one principal sees them.
pub struct Forms<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

impl<'a> Forms<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    fn admin_only(&self, what: &str) -> Result<()> {
        if self.who.is_admin() {
            return Ok(());
        }
        Err(DomainError::Forbidden(format!("only administrators {what}")).into())
    }

    /// Defines a new form. Administrators only; the key must be new in the tenant.
    pub fn define(&self, draft: FormDraft) -> Result<FormDef> {
        self.admin_only("define forms")?;
        let now = crate::now();
        let mut form = FormDef { created_at: now, updated_at: now, ..FormDef::default() };
        apply(&mut form, draft);
        normalize(&mut form)?;
        if self.find_key(&form.key)?.is_some() {
            return Err(DomainError::invalid(
                "key",
                format!("there is already a form {:?}", form.key),
            )
            .into());
        }
        form.id = RecordId(self.crm.allocate::<FormDef>(&self.who.tenant, 1)?);
        let mut changes = Changes::new();
        changes.create(&form)?;
        changes.commit(self.crm, self.who)?;
        form.version = 1;
        tracing::info!(tenant = %self.who.tenant, form = %form.id, key = %form.key, "form defined");
        Ok(form)
    }

    /// Changes form `id` written at `version`: names, labels, order, required flags, fields
    /// added or removed, choices added. A field keeps its kind and its choices once entries
    /// may hold them, and a field a workflow bound to the form names cannot be removed.
    pub fn update(&self, id: RecordId, version: u64, draft: FormDraft) -> Result<FormDef> {
        self.admin_only("change forms")?;
        let old = self.get(id)?;
        ensure_current("form", id, version, old.version)?;
        let mut form = old.clone();
        apply(&mut form, draft);
        normalize(&mut form)?;
        old.check_change(&mut form)?;
        self.check_bound_workflows(&form)?;
        self.save(old, form)
    }

    /// Retires form `id` (it takes no new entries; its entries stay and may still go through
    /// approval) or, with `retired = false`, brings it back.
    pub fn retire(&self, id: RecordId, version: u64, retired: bool) -> Result<FormDef> {
        self.admin_only("retire forms")?;
        let old = self.get(id)?;
        ensure_current("form", id, version, old.version)?;
        let form = FormDef { retired, ..old.clone() };
        self.save(old, form)
    }

    fn save(&self, old: FormDef, mut form: FormDef) -> Result<FormDef> {
        if form == old {
            return Ok(old);
        }
        form.updated_at = crate::now();
        let mut changes = Changes::new();
        changes.update(&old, &form)?;
        changes.commit(self.crm, self.who)?;
        self.get(form.id)
    }

    /// Refuses a changed form that the latest version of a workflow bound to it no longer
    /// fits (a condition or a node's fields naming a removed field), naming the workflow.
    fn check_bound_workflows(&self, form: &FormDef) -> Result<()> {
        let engine = self.crm.engine(&self.who.tenant);
        let binding = FormBinding::Custom(form.id);
        let mut names: Vec<String> = engine
            .definitions()?
            .into_iter()
            .filter(|d| d.form == binding)
            .map(|d| d.name)
            .collect();
        names.dedup();
        let fields = bindable_fields(form);
        for name in names {
            let latest = engine.definition(&name, None)?;
            if let Err(e) = latest.definition().validate(&fields) {
                return Err(DomainError::invalid(
                    "fields",
                    format!("workflow {name:?} bound to this form would no longer fit: {e}"),
                )
                .into());
            }
        }
        Ok(())
    }

    /// One form, retired or not.
    pub fn get(&self, id: RecordId) -> Result<FormDef> {
        self.crm
            .load::<FormDef>(&self.who.tenant, id)?
            .ok_or_else(|| DomainError::NotFound { kind: "form".into(), id }.into())
    }

    fn find_key(&self, key: &str) -> Result<Option<FormDef>> {
        let query = Query::all().filter(Filter::Eq("key".into(), Value::Text(key.to_owned())));
        Ok(self.crm.find::<FormDef>(&self.who.tenant, &query)?.items.into_iter().next())
    }

    /// The form with `key`, or with the id `key` spells.
    pub fn by_key(&self, key: &str) -> Result<FormDef> {
        if let Some(found) = self.find_key(key.trim())? {
            return Ok(found);
        }
        if let Ok(id) = key.trim().parse::<u64>() {
            return self.get(RecordId(id));
        }
        Err(DomainError::invalid("form", format!("there is no form {:?}", key.trim())).into())
    }

    /// Every form by key; retired ones only when `with_retired`.
    pub fn list(&self, with_retired: bool) -> Result<Vec<FormDef>> {
        let query = Query::all().sort(Sort::asc("key"));
        let mut forms = self.crm.find::<FormDef>(&self.who.tenant, &query)?.items;
        forms.retain(|f| with_retired || !f.retired);
        Ok(forms)
    }
}

/// Checks a form's rules, and that no field is called like a word of the condition language
/// (`and`, `null`, …), which a flow's conditions could not name.
fn normalize(form: &mut FormDef) -> Result<()> {
    form.normalize()?;
    if let Some(field) = form.fields.iter().find(|f| crm_workflow::condition::is_keyword(&f.name)) {
        return Err(DomainError::invalid(
            "fields",
            format!("{:?} is a word of workflow conditions; choose another name", field.name),
        )
        .into());
    }
    Ok(())
}

fn apply(form: &mut FormDef, draft: FormDraft) {
    form.key = draft.key;
    form.name_en = draft.name_en;
    form.name_zh = draft.name_zh;
    form.fields = draft.fields;
}

/// What someone types into an entry of a form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryDraft {
    /// A one-line subject.
    pub title: String,
    /// The values by field name; see [`FormEntries::parse_values`] for typed text.
    pub values: BTreeMap<String, Value>,
}

/// Which entries a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Only entries of this form.
    pub form: Option<RecordId>,
    /// Only this status.
    pub status: Option<ApprovalStatus>,
    /// Skip this many.
    pub offset: u64,
    /// At most this many (0 = 50, at most 500).
    pub limit: u64,
}

/// Entries of user-defined forms as one principal sees them.
pub struct FormEntries<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

impl<'a> FormEntries<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    fn documents(&self) -> Documents<'a, FormEntry> {
        Documents::new(self.crm, self.who)
    }

    fn form(&self, id: RecordId) -> Result<FormDef> {
        Forms::new(self.crm, self.who).get(id)
    }

    /// Reads the text typed for each field (`name`, text) the way a spreadsheet cell of the
    /// field's type is read (`1,234.5`, `2026-03-01`, `是`/`yes`); an empty text leaves the
    /// field empty. An unknown name or a text its field cannot hold is a [`DomainError`]
    /// naming the field.
    pub fn parse_values(
        &self,
        form: &FormDef,
        typed: &[(String, String)],
    ) -> Result<BTreeMap<String, Value>> {
        let mut values = BTreeMap::new();
        for (name, text) in typed {
            let field = form.field(name).ok_or_else(|| {
                DomainError::invalid(name, format!("is not a field of form {}", form.key))
            })?;
            let value = crate::workflow::typed_value(name, text, field.kind.field_type())?;
            values.insert(name.clone(), value);
        }
        Ok(values)
    }

    /// Writes a new draft entry of form `form`, owned by the principal, numbered `FM…`.
    pub fn create(&self, form: RecordId, draft: EntryDraft) -> Result<FormEntry> {
        let def = self.form(form)?;
        if def.retired {
            return Err(DomainError::State(format!(
                "form {} is retired and takes no new entries",
                def.key
            ))
            .into());
        }
        let now = crate::now();
        let mut entry = FormEntry {
            form,
            owner: self.who.user,
            title: draft.title,
            values: draft.values,
            created_at: now,
            updated_at: now,
            ..FormEntry::default()
        };
        entry.normalize_for(&def, &FormEntry::default())?;
        self.documents().insert(&mut entry, "code.form_entry", "FM")?;
        Ok(entry)
    }

    /// One entry, for its owner and administrators.
    pub fn get(&self, id: RecordId) -> Result<FormEntry> {
        self.documents().get(id)
    }

    /// Changes the owner's draft (or rejected / withdrawn entry) written at `version`.
    /// Values kept for fields the form has since removed stay as they are.
    pub fn update(&self, id: RecordId, version: u64, draft: EntryDraft) -> Result<FormEntry> {
        let documents = self.documents();
        let old = documents.own_editable(id, version)?;
        let def = self.form(old.form)?;
        let mut entry = old.clone();
        entry.title = draft.title;
        let removed = old.values.iter().filter(|(name, _)| def.field(name).is_none());
        entry.values = removed.map(|(k, v)| (k.clone(), v.clone())).collect();
        entry.values.extend(draft.values);
        entry.normalize_for(&def, &old)?;
        if entry == old {
            return Ok(old);
        }
        entry.updated_at = crate::now();
        documents.save(old, entry)
    }

    /// Deletes a draft that was never submitted.
    pub fn delete(&self, id: RecordId, version: u64) -> Result<()> {
        self.documents().delete(id, version)
    }

    /// Submits the owner's entry at `version` for approval, made for `unit` (one of the
    /// owner's units; `None`: their home unit), through the workflow most recently bound to
    /// its form.
    /// The values go in as the form stands now: a field it has made required since the entry
    /// was written must be filled in first, and a retired form's drafts are not submitted.
    pub fn submit(&self, id: RecordId, version: u64, unit: Option<RecordId>) -> Result<FormEntry> {
        let entry = self.documents().own_editable(id, version)?;
        let form = self.form(entry.form)?;
        if form.retired && entry.instance.is_none() {
            return Err(DomainError::State(format!(
                "form {} is retired and takes no new entries",
                form.key
            ))
            .into());
        }
        let mut checked = entry.clone();
        checked.normalize_for(&form, &entry)?;
        if checked != entry {
            // Kept the way the form keeps them now; saved before the submission reads them.
            checked.updated_at = crate::now();
            let saved = self.documents().save(entry, checked)?;
            return self.documents().submit_for(id, saved.version, unit);
        }
        self.documents().submit_for(id, version, unit)
    }

    /// Entries, newest first: a plain user's own, or everyone's for an administrator.
    pub fn list(&self, filter: &EntryFilter) -> Result<Page<FormEntry>> {
        let mut filters = Vec::new();
        if let Some(form) = filter.form {
            filters.push(Filter::Eq("form".into(), Value::Ref(form)));
        }
        if let Some(status) = filter.status {
            filters.push(Filter::Eq("status".into(), status.as_str().into()));
        }
        self.documents().list(filters, filter.offset, filter.limit)
    }
}
