//! The minimal organisation: units in a tree and the users who belong to them.

use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

use super::{required, text};
use crate::entity::{Entity, EntityDesc, FieldDesc, FieldType as T};
use crate::error::DomainError;
use crate::ids::{RecordId, Role};

/// What an organisation unit is; units of any kind nest to any depth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A group of companies (集团).
    Group,
    /// A company: the head company or a subsidiary (公司).
    #[default]
    Company,
    /// A branch office (分公司).
    Branch,
    /// A department (部门).
    Department,
    /// A workgroup (工作组).
    Workgroup,
}

impl UnitKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Group => "group",
            UnitKind::Company => "company",
            UnitKind::Branch => "branch",
            UnitKind::Department => "department",
            UnitKind::Workgroup => "workgroup",
        }
    }
}

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
    /// What the unit is.
    #[serde(default)]
    pub kind: UnitKind,
    /// Parent unit; `None` for the root.
    #[serde(default)]
    pub parent: Option<RecordId>,
    /// The user who manages the unit, if any.
    #[serde(default)]
    pub manager: Option<RecordId>,
}

static UNIT: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "org_unit",
        vec![
            FieldDesc::new("name", T::Text, "Name", "名称").indexed().sortable(),
            FieldDesc::new("kind", T::Text, "Kind", "类型"),
            FieldDesc::new("parent", T::Ref, "Parent", "上级").indexed(),
            FieldDesc::new("manager", T::Ref, "Manager", "负责人").indexed(),
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

impl Unit {
    /// Checks the name a person typed: required, one line of at most 100 characters.
    pub fn validate(&self) -> Result<(), DomainError> {
        required("name", &self.name)?;
        text("name", &self.name, 100)?;
        if self.name.contains(['\n', '\r']) {
            return Err(DomainError::invalid("name", "must be one line"));
        }
        Ok(())
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
    /// The user's direct supervisor, if any.
    #[serde(default)]
    pub supervisor: Option<RecordId>,
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
            FieldDesc::new("supervisor", T::Ref, "Supervisor", "直属上级").indexed(),
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
        required("display_name", &self.display_name)?;
        text("login", &self.login, 60)?;
        text("display_name", &self.display_name, 100)
    }
}

/// A position (职位) such as sales manager or finance officer, held by users in units.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// Stable code workflows and permissions refer to.
    pub code: String,
    /// Display name.
    pub name: String,
}

static POSITION: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "position",
        vec![
            FieldDesc::new("code", T::Text, "Code", "编码").indexed().sortable(),
            FieldDesc::new("name", T::Text, "Name", "名称").sortable(),
        ],
    )
    .expect("position description is valid")
});

impl Entity for Position {
    fn desc() -> &'static EntityDesc {
        &POSITION
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl Position {
    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        required("code", &self.code)?;
        required("name", &self.name)?;
        text("code", &self.code, 40)?;
        text("name", &self.name, 100)
    }
}

/// A user's place in a unit, optionally in a position. A user may belong to several units.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// The user.
    pub user: RecordId,
    /// The unit.
    pub unit: RecordId,
    /// The position code held there; empty for a plain member.
    #[serde(default)]
    pub position: String,
}

static MEMBERSHIP: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "membership",
        vec![
            FieldDesc::new("user", T::Ref, "User", "用户").indexed(),
            FieldDesc::new("unit", T::Ref, "Unit", "部门").indexed(),
            FieldDesc::new("position", T::Text, "Position", "职位").indexed(),
        ],
    )
    .expect("membership description is valid")
});

impl Entity for Membership {
    fn desc() -> &'static EntityDesc {
        &MEMBERSHIP
    }
    fn id(&self) -> RecordId {
        self.id
    }
}
