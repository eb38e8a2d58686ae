//! The minimal organisation: units in a tree and the users who belong to them.

use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

use super::required;
use crate::entity::{Entity, EntityDesc, FieldDesc, FieldType as T};
use crate::error::DomainError;
use crate::ids::{RecordId, Role};

/// An organisation unit: group, company, branch, department or workgroup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// Name.
    pub name: String,
    /// Parent unit; `None` for the root.
    #[serde(default)]
    pub parent: Option<RecordId>,
}

static UNIT: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "org_unit",
        vec![
            FieldDesc::new("name", T::Text, "Name", "名称").indexed().sortable(),
            FieldDesc::new("parent", T::Ref, "Parent", "上级").indexed(),
        ],
    )
    .expect("unit description is valid")
});

impl Entity for Unit {
    fn desc() -> &'static EntityDesc {
        &UNIT
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

/// A person who signs in and acts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// Sign-in name, unique in the tenant.
    pub login: String,
    /// Name shown to others.
    pub display_name: String,
    /// The unit the user belongs to.
    pub unit: RecordId,
    /// What the user may see.
    pub role: Role,
    /// Whether the user may sign in and be assigned work.
    pub active: bool,
    /// A password hash in PHC string format, set by the host that authenticates.
    #[serde(default)]
    pub password_hash: String,
}

static USER: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "app_user",
        vec![
            FieldDesc::new("login", T::Text, "Login", "登录名").indexed().sortable(),
            FieldDesc::new("display_name", T::Text, "Name", "姓名").sortable(),
            FieldDesc::new("unit", T::Ref, "Unit", "部门").indexed(),
            FieldDesc::new("role", T::Text, "Role", "角色").indexed(),
            FieldDesc::new("active", T::Bool, "Active", "启用").indexed(),
            FieldDesc::new("password_hash", T::Text, "Password hash", "密码摘要"),
        ],
    )
    .expect("user description is valid")
});

impl Entity for User {
    fn desc() -> &'static EntityDesc {
        &USER
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl User {
    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        required("login", &self.login)?;
        if !self.login.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')) {
            return Err(DomainError::invalid("login", "use letters, digits, '.', '_', '-' or '@'"));
        }
        required("display_name", &self.display_name)
    }
}
