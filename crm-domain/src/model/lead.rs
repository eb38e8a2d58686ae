//! Leads (潜在客户), their contact records (联系记录) and attachments.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::{email, required, text};
use crate::entity::{Entity, EntityDesc, FieldDesc, FieldType as T};
use crate::error::DomainError;
use crate::ids::RecordId;
use crate::text::search_text;
use crate::value::Value;

/// Where a lead stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Not yet contacted.
    #[default]
    New,
    /// Contacted at least once.
    Contacted,
    /// Worth pursuing.
    Qualified,
    /// Turned into a customer; read-only from then on.
    Converted,
    /// Dropped.
    Lost,
}

impl LeadStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Converted => "converted",
            LeadStatus::Lost => "lost",
        }
    }
}

/// A prospective customer: a person and the company they work for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// Person's name.
    pub name: String,
    /// Person's job title.
    #[serde(default)]
    pub title: String,
    /// Company name.
    #[serde(default)]
    pub company: String,
    /// Mobile phone.
    #[serde(default)]
    pub mobile: String,
    /// Office phone.
    #[serde(default)]
    pub phone: String,
    /// Email.
    #[serde(default)]
    pub email: String,
    /// Address.
    #[serde(default)]
    pub address: String,
    /// City.
    #[serde(default)]
    pub city: String,
    /// Country or region.
    #[serde(default)]
    pub country: String,
    /// Web site.
    #[serde(default)]
    pub website: String,
    /// Source code from the customer-source settings list.
    #[serde(default)]
    pub source: String,
    /// Status.
    #[serde(default)]
    pub status: LeadStatus,
    /// Owning user.
    #[serde(default)]
    pub owner: Option<RecordId>,
    /// Free remarks.
    #[serde(default)]
    pub remarks: String,
    /// The customer this lead became, once converted.
    #[serde(default)]
    pub customer: Option<RecordId>,
    /// Folded search text; kept by the service.
    #[serde(default)]
    pub search: String,
    /// Created at (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed at (UTC).
    pub updated_at: DateTime<Utc>,
    /// Custom fields.
    #[serde(default)]
    pub custom: BTreeMap<String, Value>,
}

static LEAD: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "lead",
        vec![
            FieldDesc::new("name", T::Text, "Name", "姓名").indexed().sortable(),
            FieldDesc::new("title", T::Text, "Title", "职务"),
            FieldDesc::new("company", T::Text, "Company", "公司").indexed().sortable(),
            FieldDesc::new("mobile", T::Text, "Mobile", "手机"),
            FieldDesc::new("phone", T::Text, "Phone", "电话"),
            FieldDesc::new("email", T::Text, "Email", "邮箱"),
            FieldDesc::new("address", T::Text, "Address", "地址"),
            FieldDesc::new("city", T::Text, "City", "城市").indexed().sortable(),
            FieldDesc::new("country", T::Text, "Country", "国家/地区").indexed().sortable(),
            FieldDesc::new("website", T::Text, "Website", "网址"),
            FieldDesc::new("source", T::Text, "Source", "来源").indexed().sortable(),
            FieldDesc::new("status", T::Text, "Status", "状态").indexed().sortable(),
            FieldDesc::new("owner", T::Ref, "Owner", "负责人").indexed(),
            FieldDesc::new("remarks", T::Text, "Remarks", "备注"),
            FieldDesc::new("customer", T::Ref, "Customer", "转化客户").indexed(),
            FieldDesc::new("search", T::Text, "Search text", "检索文本").searchable(),
            FieldDesc::new("created_at", T::Timestamp, "Created", "创建时间").indexed().sortable(),
            FieldDesc::new("updated_at", T::Timestamp, "Updated", "更新时间").sortable(),
        ],
    )
    .expect("lead description is valid")
});

impl Entity for Lead {
    fn desc() -> &'static EntityDesc {
        &LEAD
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl Lead {
    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.name.trim().is_empty() && self.company.trim().is_empty() {
            return Err(DomainError::Required { field: "name".into() });
        }
        for (field, value, max) in [
            ("name", &self.name, 100),
            ("title", &self.title, 100),
            ("company", &self.company, 200),
            ("mobile", &self.mobile, 60),
            ("phone", &self.phone, 60),
            ("email", &self.email, 200),
            ("address", &self.address, 500),
            ("city", &self.city, 100),
            ("country", &self.country, 100),
            ("website", &self.website, 500),
            ("source", &self.source, 40),
            ("remarks", &self.remarks, 4000),
        ] {
            text(field, value, max)?;
        }
        email("email", &self.email)
    }

    /// Recomputes the folded search text.
    pub fn refresh_search(&mut self) {
        self.search = search_text([
            self.name.as_str(),
            &self.company,
            &self.mobile,
            &self.phone,
            &self.email,
        ]);
    }
}

/// A contact record (联系记录): one call, visit or message with a lead or customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// The lead it was made with, if any.
    #[serde(default)]
    pub lead: Option<RecordId>,
    /// The customer it belongs to (set on conversion or when made with a customer).
    #[serde(default)]
    pub customer: Option<RecordId>,
    /// Subject.
    pub subject: String,
    /// What was said.
    #[serde(default)]
    pub content: String,
    /// When the contact took place (UTC).
    pub contact_at: DateTime<Utc>,
    /// Effect score, 1 (none) to 5 (excellent).
    pub effect: i64,
    /// Who recorded it.
    pub created_by: RecordId,
}

static INTERACTION: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "interaction",
        vec![
            FieldDesc::new("lead", T::Ref, "Lead", "潜在客户").indexed(),
            FieldDesc::new("customer", T::Ref, "Customer", "客户").indexed(),
            FieldDesc::new("subject", T::Text, "Subject", "主题").sortable(),
            FieldDesc::new("content", T::Text, "Content", "内容"),
            FieldDesc::new("contact_at", T::Timestamp, "Contact time", "联系时间")
                .indexed()
                .sortable(),
            FieldDesc::new("effect", T::Integer, "Effect", "效果").indexed().sortable(),
            FieldDesc::new("created_by", T::Ref, "Recorded by", "记录人").indexed(),
        ],
    )
    .expect("interaction description is valid")
});

impl Entity for Interaction {
    fn desc() -> &'static EntityDesc {
        &INTERACTION
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl Interaction {
    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        required("subject", &self.subject)?;
        text("subject", &self.subject, 200)?;
        text("content", &self.content, 20_000)?;
        if !(1..=5).contains(&self.effect) {
            return Err(DomainError::invalid("effect", "must be between 1 and 5"));
        }
        Ok(())
    }
}

/// A file attached to a record (a call recording, a scanned document).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// Kind of the record it belongs to.
    pub owner_kind: String,
    /// Id of the record it belongs to.
    pub owner_id: RecordId,
    /// File name as uploaded.
    pub file_name: String,
    /// Media type.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// The stored bytes.
    pub bytes: Vec<u8>,
    /// Uploaded at (UTC).
    pub created_at: DateTime<Utc>,
}

/// The largest attachment accepted, in bytes.
pub const MAX_ATTACHMENT_BYTES: usize = 20 * 1024 * 1024;

static ATTACHMENT: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "attachment",
        vec![
            FieldDesc::new("owner_kind", T::Text, "Owner kind", "所属对象").indexed(),
            FieldDesc::new("owner_id", T::Ref, "Owner", "所属记录").indexed(),
            FieldDesc::new("file_name", T::Text, "File name", "文件名").sortable(),
            FieldDesc::new("content_type", T::Text, "Type", "类型"),
            FieldDesc::new("size_bytes", T::Integer, "Size", "大小").sortable(),
            FieldDesc::new("bytes", T::Bytes, "Content", "内容"),
            FieldDesc::new("created_at", T::Timestamp, "Uploaded", "上传时间").sortable(),
        ],
    )
    .expect("attachment description is valid")
});

impl Entity for Attachment {
    fn desc() -> &'static EntityDesc {
        &ATTACHMENT
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl Attachment {
    /// Checks name, type and size. A file name or type holds no control character at all, not
    /// even a tab or line break: both end up in response headers and on one line of a page. A
    /// file name is a name, not a path: it holds no `/` or `\\`, and is not `.` or `..`.
    pub fn validate(&self) -> Result<(), DomainError> {
        required("file_name", &self.file_name)?;
        if self.file_name.contains(['/', '\\']) || matches!(self.file_name.trim(), "." | "..") {
            return Err(DomainError::invalid("file_name", "is a path, not a file name"));
        }
        for (field, value) in [("file_name", &self.file_name), ("content_type", &self.content_type)]
        {
            text(field, value, 255)?;
            if let Some(c) = value.chars().find(|c| c.is_control()) {
                return Err(DomainError::invalid(
                    field,
                    format!("contains the control character U+{:04X}", u32::from(c)),
                ));
            }
        }
        if self.bytes.len() > MAX_ATTACHMENT_BYTES {
            return Err(DomainError::invalid(
                "file",
                format!("larger than {} MiB", MAX_ATTACHMENT_BYTES / 1024 / 1024),
            ));
        }
        if usize::try_from(self.size_bytes).ok() != Some(self.bytes.len()) {
            return Err(DomainError::invalid("size_bytes", "does not match the content"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, bytes: usize) -> Attachment {
        Attachment {
            file_name: name.to_owned(),
            content_type: "text/plain".to_owned(),
            size_bytes: bytes as i64,
            bytes: vec![b'x'; bytes],
            ..Attachment::default()
        }
    }

    #[test]
    fn attachments_need_a_clean_name_and_a_bounded_size() {
        assert_eq!(file("报价单 v2.pdf", 3).validate(), Ok(()));
        assert_eq!(
            file("  ", 3).validate(),
            Err(DomainError::Required { field: "file_name".into() })
        );
        for name in ["a\nb.txt", "tab\there.txt", "bell\u{7}.txt", "../../etc/passwd", "a\\b", ".."]
        {
            let refused = file(name, 3).validate().unwrap_err();
            assert!(
                matches!(&refused, DomainError::Invalid { field, .. } if field == "file_name"),
                "{name:?}: {refused}"
            );
        }
        let mut typed = file("a.txt", 3);
        typed.content_type = "text/plain\r\nX-Evil: 1".into();
        let refused = typed.validate().unwrap_err();
        assert!(matches!(&refused, DomainError::Invalid { field, .. } if field == "content_type"));
        let refused = file("big.bin", MAX_ATTACHMENT_BYTES + 1).validate().unwrap_err();
        assert!(matches!(&refused, DomainError::Invalid { field, .. } if field == "file"));
        let mut lying = file("a.txt", 3);
        lying.size_bytes = 4;
        assert!(lying.validate().is_err());
    }
}
