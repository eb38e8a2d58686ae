//! Settings lists an administrator edits at run time: customer sources and categories.

use std::collections::BTreeMap;

use crm_domain::model::{Customer, SettingList, SettingValue};
use crm_domain::{DomainError, Entity, Filter, Principal, Query, RecordId, Sort, TenantId, Value};

use crate::changes::Changes;
use crate::{Crm, Result};

/// Settings as seen by one principal. Reading is open to everyone; changes need an
/// administrator.
pub struct Settings<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

impl<'a> Settings<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    /// The values of a list in display order.
    pub fn list(&self, list: SettingList) -> Result<Vec<SettingValue>> {
        list_values(self.crm, &self.who.tenant, list)
    }

    /// Adds a value; its code must be new in the list.
    pub fn add(
        &self,
        list: SettingList,
        code: &str,
        name: &str,
        sort_order: i64,
    ) -> Result<SettingValue> {
        self.admin_only()?;
        let mut value = SettingValue {
            id: RecordId(self.crm.allocate::<SettingValue>(&self.who.tenant, 1)?),
            version: 0,
            list,
            code: code.trim().to_owned(),
            name: name.trim().to_owned(),
            sort_order,
        };
        value.validate()?;
        let mut changes = Changes::new();
        changes.none_match(
            SettingValue::desc(),
            vec![
                Filter::Eq("list".into(), list.as_str().into()),
                Filter::Eq("code".into(), Value::Text(value.code.clone())),
            ],
        );
        changes.create(&value)?;
        changes.commit(self.crm, self.who).map_err(|e| match e {
            crate::Error::Store(e) if e.kind() == crm_domain::StoreErrorKind::Constraint => {
                DomainError::invalid("code", format!("{} already exists", value.code)).into()
            }
            other => other,
        })?;
        value.version = 1;
        Ok(value)
    }

    /// Renames a value or changes its order; the code stays, so records keep pointing at it.
    pub fn update(&self, id: RecordId, name: &str, sort_order: i64) -> Result<SettingValue> {
        self.admin_only()?;
        let old = self
            .crm
            .load::<SettingValue>(&self.who.tenant, id)?
            .ok_or(DomainError::NotFound { kind: "setting".into(), id })?;
        let mut new = old.clone();
        new.name = name.trim().to_owned();
        new.sort_order = sort_order;
        new.validate()?;
        let mut changes = Changes::new();
        if changes.update(&old, &new)? {
            changes.commit(self.crm, self.who)?;
            new.version += 1;
        }
        Ok(new)
    }

    /// Deletes a value no customer uses; refused with [`DomainError::InUse`] otherwise.
    pub fn delete(&self, id: RecordId) -> Result<()> {
        self.admin_only()?;
        let value = self
            .crm
            .load::<SettingValue>(&self.who.tenant, id)?
            .ok_or(DomainError::NotFound { kind: "setting".into(), id })?;
        let in_use =
            vec![Filter::Eq(value.list.customer_field().into(), Value::Text(value.code.clone()))];
        let users = self.crm.store.query(
            &self.who.tenant,
            Customer::desc(),
            &Query { filters: in_use.clone(), limit: Some(1), ..Query::default() },
        )?;
        let in_use_error = |count| DomainError::InUse {
            what: format!("{} {}", value.list.as_str(), value.name),
            count,
        };
        if users.total > 0 {
            return Err(in_use_error(users.total).into());
        }
        let mut changes = Changes::new();
        changes.none_match(Customer::desc(), in_use);
        changes.delete(&value)?;
        changes.commit(self.crm, self.who).map_err(|e| match e {
            crate::Error::Store(e) if e.kind() == crm_domain::StoreErrorKind::Constraint => {
                in_use_error(1).into()
            }
            other => other,
        })
    }

    fn admin_only(&self) -> Result<()> {
        if self.who.is_admin() {
            Ok(())
        } else {
            Err(DomainError::Forbidden("only administrators edit settings".into()).into())
        }
    }
}

pub(crate) fn list_values(
    crm: &Crm,
    tenant: &TenantId,
    list: SettingList,
) -> Result<Vec<SettingValue>> {
    let query = Query::all()
        .filter(Filter::Eq("list".into(), list.as_str().into()))
        .sort(Sort::asc("sort_order"))
        .sort(Sort::asc("code"));
    Ok(crm.find::<SettingValue>(tenant, &query)?.items)
}

/// The codes of both customer lists, loaded once per call that checks many records.
pub(crate) struct Codes {
    lists: BTreeMap<&'static str, Vec<SettingValue>>,
}

pub(crate) fn codes(crm: &Crm, tenant: &TenantId) -> Result<Codes> {
    let wanted = [SettingList::CustomerCategory, SettingList::CustomerSource];
    // Both lists in one query, in each list's order.
    let query = Query::all()
        .filter(Filter::In("list".into(), wanted.iter().map(|l| l.as_str().into()).collect()))
        .sort(Sort::asc("sort_order"))
        .sort(Sort::asc("code"));
    let mut lists: BTreeMap<&'static str, Vec<SettingValue>> =
        wanted.iter().map(|list| (list.as_str(), Vec::new())).collect();
    for value in crm.find::<SettingValue>(tenant, &query)?.items {
        lists.entry(value.list.as_str()).or_default().push(value);
    }
    Ok(Codes { lists })
}

impl Codes {
    /// Accepts an empty value or a code of the list.
    pub(crate) fn check(&self, list: SettingList, code: &str) -> Result<(), DomainError> {
        if code.is_empty() || self.values(list).iter().any(|v| v.code == code) {
            return Ok(());
        }
        Err(DomainError::invalid(list.customer_field(), self.not_a_value(list, code)))
    }

    /// Why `text` names no value of `list`, with the codes it could name.
    pub(crate) fn not_a_value(&self, list: SettingList, text: &str) -> String {
        const SHOWN: usize = 12;
        let what = list.as_str().replace('_', " ");
        let values = self.values(list);
        if values.is_empty() {
            return format!("{text:?} is not a {what} in the settings: the list is empty");
        }
        let codes: Vec<&str> = values.iter().take(SHOWN).map(|v| v.code.as_str()).collect();
        let more = if values.len() > SHOWN { ", …" } else { "" };
        format!("{text:?} is not a {what} in the settings (codes: {}{more})", codes.join(", "))
    }

    /// Maps a code or display name to the code; `None` when neither matches.
    pub(crate) fn resolve(&self, list: SettingList, text: &str) -> Option<String> {
        let text = text.trim();
        let values = self.values(list);
        values
            .iter()
            .find(|v| v.code == text)
            .or_else(|| values.iter().find(|v| v.name == text))
            .or_else(|| {
                let folded = crm_domain::text::fold(text);
                values.iter().find(|v| {
                    crm_domain::text::fold(&v.code) == folded
                        || crm_domain::text::fold(&v.name) == folded
                })
            })
            .map(|v| v.code.clone())
    }

    fn values(&self, list: SettingList) -> &[SettingValue] {
        self.lists.get(list.as_str()).map(Vec::as_slice).unwrap_or_default()
    }
}
