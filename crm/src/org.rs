//! The minimal organisation: a root unit, units below it and users in them.

use crm_domain::hierarchy::check_new_parent;
use crm_domain::model::{Membership, Position, Unit, UnitKind, User};
use crm_domain::{
    DomainError, Entity, Filter, Principal, Query, RecordId, Role, Sort, StoreErrorKind, TenantId,
    Value,
};

use crate::changes::Changes;
use crate::{Crm, Error, Result};

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
                kind: UnitKind::Company,
                parent: None,
                manager: None,
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
        supervisor: None,
        active: true,
        password_hash: String::new(),
    };
    user.validate()?;
    changes.none_match(
        User::desc(),
        vec![Filter::Eq("login".into(), Value::Text(user.login.clone()))],
    );
    changes.create(&user)?;
    match changes.commit(crm, &acting) {
        Ok(()) => Ok(acting),
        // Another caller bootstrapped the same tenant first: its administrator is the one.
        Err(Error::Store(error)) if error.kind() == StoreErrorKind::Constraint => {
            match find_user(crm, tenant, login)? {
                Some(user) => Ok(principal_of(tenant, &user)),
                None => Err(Error::Store(error)),
            }
        }
        Err(error) => Err(error),
    }
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
            supervisor: None,
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

    /// Sets a user's password, kept as an argon2id hash: at least
    /// [`MIN_PASSWORD_CHARS`] characters, at most 200. Administrators, or the user themself.
    pub fn set_password(&self, id: RecordId, password: &str) -> Result<()> {
        check_password(password)?;
        self.set_password_hash(id, &hash_password(password)?)
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

    /// Adds a unit under `parent` (any depth). Administrators only.
    pub fn add_unit(&self, name: &str, kind: UnitKind, parent: RecordId) -> Result<Unit> {
        self.admin_only()?;
        self.unit(parent)?;
        let mut unit = Unit {
            id: RecordId(self.crm.allocate::<Unit>(&self.who.tenant, 1)?),
            version: 0,
            name: name.trim().to_owned(),
            kind,
            parent: Some(parent),
            manager: None,
        };
        unit.validate()?;
        let mut changes = Changes::new();
        changes.create(&unit)?;
        changes.commit(self.crm, self.who)?;
        unit.version = 1;
        Ok(unit)
    }

    /// One unit.
    pub fn unit(&self, id: RecordId) -> Result<Unit> {
        self.crm
            .load::<Unit>(&self.who.tenant, id)?
            .ok_or_else(|| DomainError::NotFound { kind: "unit".into(), id }.into())
    }

    /// Moves a unit with everything below it under a new parent; refuses cycles.
    pub fn move_unit(&self, id: RecordId, parent: RecordId) -> Result<Unit> {
        self.admin_only()?;
        let old = self.unit(id)?;
        let parent_unit = self.unit(parent)?;
        let ancestors = self.crm.store.ancestors(
            &self.who.tenant,
            Unit::desc(),
            "parent",
            parent,
            crate::customers::MAX_HIERARCHY_DEPTH,
        )?;
        check_new_parent("unit", id, parent, ancestors.iter().map(|r| r.id))?;
        let mut changes = Changes::new();
        changes.check(Unit::desc(), parent, parent_unit.version);
        for ancestor in &ancestors {
            changes.check(Unit::desc(), ancestor.id, ancestor.version);
        }
        let mut moved = old.clone();
        moved.parent = Some(parent);
        changes.update(&old, &moved)?;
        changes.commit(self.crm, self.who)?;
        moved.version = old.version + 1;
        Ok(moved)
    }

    /// Sets or clears the manager of a unit.
    pub fn set_manager(&self, unit: RecordId, manager: Option<RecordId>) -> Result<Unit> {
        self.admin_only()?;
        let old = self.unit(unit)?;
        if let Some(manager) = manager {
            self.user(manager)?;
        }
        let mut new = old.clone();
        new.manager = manager;
        let mut changes = Changes::new();
        if changes.update(&old, &new)? {
            changes.commit(self.crm, self.who)?;
            new.version += 1;
        }
        Ok(new)
    }

    /// Adds a position (职位) with a new code.
    pub fn add_position(&self, code: &str, name: &str) -> Result<Position> {
        self.admin_only()?;
        let mut position = Position {
            id: RecordId(self.crm.allocate::<Position>(&self.who.tenant, 1)?),
            version: 0,
            code: code.trim().to_owned(),
            name: name.trim().to_owned(),
        };
        position.validate()?;
        let mut changes = Changes::new();
        changes.none_match(
            Position::desc(),
            vec![Filter::Eq("code".into(), Value::Text(position.code.clone()))],
        );
        changes.create(&position)?;
        changes.commit(self.crm, self.who).map_err(|e| match e {
            crate::Error::Store(e) if e.kind() == crm_domain::StoreErrorKind::Constraint => {
                DomainError::invalid("code", format!("{} already exists", position.code)).into()
            }
            other => other,
        })?;
        position.version = 1;
        Ok(position)
    }

    /// Every position, by code.
    pub fn positions(&self) -> Result<Vec<Position>> {
        Ok(self
            .crm
            .find::<Position>(&self.who.tenant, &Query::all().sort(Sort::asc("code")))?
            .items)
    }

    /// Places a user in a unit, optionally in a position (a user may be in several units).
    pub fn add_membership(
        &self,
        user: RecordId,
        unit: RecordId,
        position: &str,
    ) -> Result<Membership> {
        self.admin_only()?;
        self.user(user)?;
        self.unit(unit)?;
        let position = position.trim().to_owned();
        if !position.is_empty() && !self.positions()?.iter().any(|p| p.code == position) {
            return Err(DomainError::invalid(
                "position",
                format!("{position:?} is not a position"),
            )
            .into());
        }
        let mut membership = Membership {
            id: RecordId(self.crm.allocate::<Membership>(&self.who.tenant, 1)?),
            version: 0,
            user,
            unit,
            position,
        };
        let mut changes = Changes::new();
        changes.create(&membership)?;
        changes.commit(self.crm, self.who)?;
        membership.version = 1;
        Ok(membership)
    }

    /// The units a user belongs to besides their home unit, with positions.
    pub fn memberships_of(&self, user: RecordId) -> Result<Vec<Membership>> {
        let query = Query::all().filter(Filter::Eq("user".into(), Value::Ref(user)));
        Ok(self.crm.find::<Membership>(&self.who.tenant, &query)?.items)
    }

    /// Every unit `user` belongs to: their home unit first, then the units of their
    /// memberships by name, each once. These are the units a request of theirs may be made
    /// for ([`Requests::submit_for`](crate::finance::Requests::submit_for)).
    pub fn units_of(&self, user: RecordId) -> Result<Vec<Unit>> {
        let home = self.user(user)?.unit;
        let mut units = vec![self.unit(home)?];
        let mut others = Vec::new();
        for membership in self.memberships_of(user)? {
            if membership.unit != home && !others.iter().any(|u: &Unit| u.id == membership.unit) {
                others.push(self.unit(membership.unit)?);
            }
        }
        others.sort_by(|a, b| a.name.cmp(&b.name));
        units.extend(others);
        Ok(units)
    }

    /// The active users holding `position` in `unit`.
    pub fn holders(&self, position: &str, unit: RecordId) -> Result<Vec<User>> {
        let query = Query::all()
            .filter(Filter::Eq("unit".into(), Value::Ref(unit)))
            .filter(Filter::Eq("position".into(), Value::Text(position.to_owned())));
        let mut users = Vec::new();
        for membership in self.crm.find::<Membership>(&self.who.tenant, &query)?.items {
            let user = self.user(membership.user)?;
            if user.active {
                users.push(user);
            }
        }
        users.sort_by_key(|u| u.id);
        users.dedup_by_key(|u| u.id);
        Ok(users)
    }

    /// Sets or clears a user's direct supervisor; refuses a chain that leads back to the user.
    pub fn set_supervisor(&self, user: RecordId, supervisor: Option<RecordId>) -> Result<User> {
        self.admin_only()?;
        let old = self.user(user)?;
        if let Some(boss) = supervisor {
            let mut seen = vec![user];
            let mut current = Some(boss);
            while let Some(id) = current {
                if seen.contains(&id) {
                    return Err(DomainError::Cycle {
                        kind: "supervisor".into(),
                        child: user,
                        parent: boss,
                    }
                    .into());
                }
                seen.push(id);
                current = self.user(id)?.supervisor;
            }
        }
        let mut new = old.clone();
        new.supervisor = supervisor;
        let mut changes = Changes::new();
        if changes.update(&old, &new)? {
            changes.commit(self.crm, self.who)?;
            new.version += 1;
        }
        Ok(new)
    }

    /// Activates or deactivates a user (a departed user keeps history but gets no new work).
    pub fn set_active(&self, user: RecordId, active: bool) -> Result<User> {
        self.admin_only()?;
        if user == self.who.user && !active {
            return Err(DomainError::State("you cannot deactivate yourself".into()).into());
        }
        let old = self.user(user)?;
        let mut new = old.clone();
        new.active = active;
        let mut changes = Changes::new();
        if changes.update(&old, &new)? {
            changes.commit(self.crm, self.who)?;
            new.version += 1;
        }
        Ok(new)
    }

    fn admin_only(&self) -> Result<()> {
        if self.who.is_admin() {
            Ok(())
        } else {
            Err(DomainError::Forbidden("only administrators manage users".into()).into())
        }
    }
}

/// The shortest password [`Org::set_password`] accepts, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Refuses a password shorter than [`MIN_PASSWORD_CHARS`] or longer than 200 characters, one
/// of spaces only, or one holding control characters (which no sign-in form can type).
pub fn check_password(password: &str) -> Result<()> {
    let chars = password.chars().count();
    let reason = if !(MIN_PASSWORD_CHARS..=200).contains(&chars) {
        format!("must be {MIN_PASSWORD_CHARS} to 200 characters")
    } else if password.trim().is_empty() {
        "must not be spaces only".to_owned()
    } else if password.chars().any(char::is_control) {
        "must not hold control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(DomainError::invalid("password", reason).into())
}

/// Hashes a password with argon2id and default parameters, as a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| DomainError::invalid("password", format!("cannot be hashed: {e}")).into())
}

/// Whether `password` matches the PHC string `hash`; `false` for a malformed hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_checked_and_hashed() {
        assert!(check_password("correct horse").is_ok());
        for weak in ["short", "        ", "abc\u{1}defgh", &"x".repeat(201)] {
            let refused = check_password(weak).unwrap_err();
            assert!(refused.to_string().contains("password"), "{weak:?}: {refused}");
        }
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
