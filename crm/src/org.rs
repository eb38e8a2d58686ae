//! The minimal organisation: a root unit, units below it and users in them.

use crm_domain::model::{Unit, User};
use crm_domain::{
    DomainError, Entity, Filter, Principal, Query, RecordId, Role, Sort, TenantId, Value,
};

use crate::changes::Changes;
use crate::{Crm, Result};

/// Organisation units and users as seen by one principal.
pub struct Org<'a> {
    crm: &'a Crm,
    who: &'a Principal,
}

pub(crate) fn bootstrap(
    crm: &Crm,
    tenant: &TenantId,
    login: &str,
    display_name: &str,
) -> Result<Principal> {
    if let Some(user) = find_user(crm, tenant, login)? {
        return Ok(principal_of(tenant, &user));
    }
    // The bootstrap acts as the user it creates; its id is reserved first.
    let user_id = RecordId(crm.allocate::<User>(tenant, 1)?);
    let acting = Principal::admin(tenant.clone(), user_id);
    let roots = crm.find::<Unit>(
        tenant,
        &Query::all().filter(Filter::Eq("parent".into(), Value::Null)).sort(Sort::asc("name")),
    )?;
    let mut changes = Changes::new();
    let root = match roots.items.into_iter().next() {
        Some(root) => root,
        None => {
            let root = Unit {
                id: RecordId(crm.allocate::<Unit>(tenant, 1)?),
                version: 0,
                name: "总部 Head office".into(),
                parent: None,
            };
            changes.create(&root)?;
            root
        }
    };
    let user = User {
        id: user_id,
        version: 0,
        login: login.trim().to_owned(),
        display_name: display_name.trim().to_owned(),
        unit: root.id,
        role: Role::Admin,
        active: true,
        password_hash: String::new(),
    };
    user.validate()?;
    changes.none_match(
        User::desc(),
        vec![Filter::Eq("login".into(), Value::Text(user.login.clone()))],
    );
    changes.create(&user)?;
    changes.commit(crm, &acting)?;
    Ok(acting)
}

fn find_user(crm: &Crm, tenant: &TenantId, login: &str) -> Result<Option<User>> {
    let query = Query::all().filter(Filter::Eq("login".into(), Value::Text(login.trim().into())));
    Ok(crm.find::<User>(tenant, &query)?.items.into_iter().next())
}

fn principal_of(tenant: &TenantId, user: &User) -> Principal {
    Principal { tenant: tenant.clone(), user: user.id, role: user.role }
}

impl<'a> Org<'a> {
    pub(crate) fn new(crm: &'a Crm, who: &'a Principal) -> Self {
        Self { crm, who }
    }

    /// The user with `login`, if any. Hosts use it to sign people in.
    pub fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        find_user(self.crm, &self.who.tenant, login)
    }

    /// The principal a signed-in user acts as; `None` for unknown or inactive users.
    pub fn principal(&self, user: RecordId) -> Result<Option<Principal>> {
        let user = self.crm.load::<User>(&self.who.tenant, user)?;
        Ok(user.filter(|u| u.active).map(|u| principal_of(&self.who.tenant, &u)))
    }

    /// One user.
    pub fn user(&self, id: RecordId) -> Result<User> {
        self.crm
            .load::<User>(&self.who.tenant, id)?
            .ok_or_else(|| DomainError::NotFound { kind: "user".into(), id }.into())
    }

    /// Every user, by login.
    pub fn users(&self) -> Result<Vec<User>> {
        Ok(self.crm.find::<User>(&self.who.tenant, &Query::all().sort(Sort::asc("login")))?.items)
    }

    /// Every unit, by name.
    pub fn units(&self) -> Result<Vec<Unit>> {
        Ok(self.crm.find::<Unit>(&self.who.tenant, &Query::all().sort(Sort::asc("name")))?.items)
    }

    /// Adds a user to a unit. Administrators only.
    pub fn add_user(
        &self,
        login: &str,
        display_name: &str,
        unit: RecordId,
        role: Role,
    ) -> Result<User> {
        self.admin_only()?;
        self.crm
            .load::<Unit>(&self.who.tenant, unit)?
            .ok_or(DomainError::NotFound { kind: "unit".into(), id: unit })?;
        let mut user = User {
            id: RecordId(self.crm.allocate::<User>(&self.who.tenant, 1)?),
            version: 0,
            login: login.trim().to_owned(),
            display_name: display_name.trim().to_owned(),
            unit,
            role,
            active: true,
            password_hash: String::new(),
        };
        user.validate()?;
        let mut changes = Changes::new();
        changes.none_match(
            User::desc(),
            vec![Filter::Eq("login".into(), Value::Text(user.login.clone()))],
        );
        changes.create(&user)?;
        changes.commit(self.crm, self.who).map_err(|e| match e {
            crate::Error::Store(e) if e.kind() == crm_domain::StoreErrorKind::Constraint => {
                DomainError::invalid("login", format!("{} is taken", user.login)).into()
            }
            other => other,
        })?;
        user.version = 1;
        Ok(user)
    }

    /// Stores a password hash (PHC string) for a user. Administrators, or the user themself.
    pub fn set_password_hash(&self, id: RecordId, hash: &str) -> Result<()> {
        if !self.who.is_admin() && self.who.user != id {
            return Err(
                DomainError::Forbidden("only administrators set others' passwords".into()).into()
            );
        }
        let old = self.user(id)?;
        let mut new = old.clone();
        new.password_hash = hash.to_owned();
        let mut changes = Changes::new();
        changes.update(&old, &new)?;
        changes.commit(self.crm, self.who)
    }

    fn admin_only(&self) -> Result<()> {
        if self.who.is_admin() {
            Ok(())
        } else {
            Err(DomainError::Forbidden("only administrators manage users".into()).into())
        }
    }
}
