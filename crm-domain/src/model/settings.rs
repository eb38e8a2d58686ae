//! Settings lists an administrator edits at run time: customer sources and categories.

use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

use super::{required, text};
use crate::entity::{Entity, EntityDesc, FieldDesc, FieldType as T};
use crate::error::DomainError;
use crate::ids::RecordId;

/// Which list a setting value belongs to, and which customer field refers to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingList {
    /// Customer sources (客户来源).
    CustomerSource,
    /// Customer categories (客户类别).
    CustomerCategory,
}

impl SettingList {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingList::CustomerSource => "customer_source",
            SettingList::CustomerCategory => "customer_category",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "customer_source" => Some(SettingList::CustomerSource),
            "customer_category" => Some(SettingList::CustomerCategory),
            _ => None,
        }
    }

    /// The customer field that holds codes of this list.
    pub fn customer_field(self) -> &'static str {
        match self {
            SettingList::CustomerSource => "source",
            SettingList::CustomerCategory => "category",
        }
    }
}

/// One value of a settings list: a display name, a stable code and a sort order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingValue {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// The list.
    pub list: SettingList,
    /// Stable code records refer to.
    pub code: String,
    /// Display name; may be renamed freely.
    pub name: String,
    /// Position in pick lists, smallest first.
    pub sort_order: i64,
}

static SETTING: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "setting_value",
        vec![
            FieldDesc::new("list", T::Text, "List", "列表").indexed(),
            FieldDesc::new("code", T::Text, "Code", "编码").indexed().sortable(),
            FieldDesc::new("name", T::Text, "Name", "名称").indexed().sortable(),
            FieldDesc::new("sort_order", T::Integer, "Order", "排序").sortable(),
        ],
    )
    .expect("setting description is valid")
});

impl Entity for SettingValue {
    fn desc() -> &'static EntityDesc {
        &SETTING
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl SettingValue {
    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        required("code", &self.code)?;
        required("name", &self.name)?;
        text("code", &self.code, 40)?;
        text("name", &self.name, 100)
    }
}
