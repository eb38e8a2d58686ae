//! Customers (客户), their contacts (联系人) and the contacts' relatives and friends (亲友).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::{custom_name, email, plausible_date, required, text};
use crate::entity::check_json_depth;
use crate::entity::{Entity, EntityDesc, FieldDesc, FieldName, FieldType as T, Record};
use crate::error::DomainError;
use crate::ids::RecordId;
use crate::text::search_text;
use crate::value::Value;

/// Whether a customer belongs to a salesperson or waits in the shared pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerStatus {
    /// Owned by a salesperson (私有).
    #[default]
    Private,
    /// In the shared pool, free to claim (公海).
    Pool,
}

impl CustomerStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerStatus::Private => "private",
            CustomerStatus::Pool => "pool",
        }
    }
}

/// A customer company or person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Record id.
    pub id: RecordId,
    /// Stored version, for optimistic locking.
    #[serde(default)]
    pub version: u64,
    /// Customer number (客户编号), unique in the tenant.
    pub code: String,
    /// Full name.
    pub name: String,
    /// Short name.
    #[serde(default)]
    pub short_name: String,
    /// Category code from the settings list.
    #[serde(default)]
    pub category: String,
    /// Source code from the settings list.
    #[serde(default)]
    pub source: String,
    /// Industry.
    #[serde(default)]
    pub industry: String,
    /// Grade (A, B, C…).
    #[serde(default)]
    pub grade: String,
    /// Postal address.
    #[serde(default)]
    pub address: String,
    /// City.
    #[serde(default)]
    pub city: String,
    /// Country or region.
    #[serde(default)]
    pub country: String,
    /// Main phone, kept as typed (leading zeros and all).
    #[serde(default)]
    pub phone: String,
    /// Main email.
    #[serde(default)]
    pub email: String,
    /// Web site.
    #[serde(default)]
    pub website: String,
    /// Owning user; `None` while in the pool.
    #[serde(default)]
    pub owner: Option<RecordId>,
    /// Private or pool.
    #[serde(default)]
    pub status: CustomerStatus,
    /// Parent customer, if any.
    #[serde(default)]
    pub parent: Option<RecordId>,
    /// Free remarks.
    #[serde(default)]
    pub remarks: String,
    /// Folded search text over names, number, city, phones, emails and contacts; kept by the
    /// service.
    #[serde(default)]
    pub search: String,
    /// Created at (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed at (UTC).
    pub updated_at: DateTime<Utc>,
    /// Custom fields an administrator added.
    #[serde(default)]
    pub custom: BTreeMap<String, Value>,
}

static CUSTOMER: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "customer",
        vec![
            FieldDesc::new("code", T::Text, "Code", "客户编号").unique().sortable(),
            FieldDesc::new("name", T::Text, "Name", "客户名称").sortable(),
            FieldDesc::new("short_name", T::Text, "Short name", "简称").sortable(),
            // Category and source hold a handful of values each, so a lookup index would cost
            // every write and rarely beat a scan; as sortable fields they are in the sled
            // store's memory projection, where filters on them are answered without records.
            FieldDesc::new("category", T::Text, "Category", "客户类别").sortable(),
            FieldDesc::new("source", T::Text, "Source", "客户来源").sortable(),
            FieldDesc::new("industry", T::Text, "Industry", "行业").sortable(),
            FieldDesc::new("grade", T::Text, "Grade", "等级").sortable(),
            FieldDesc::new("address", T::Text, "Address", "地址"),
            FieldDesc::new("city", T::Text, "City", "城市").sortable(),
            FieldDesc::new("country", T::Text, "Country", "国家/地区").sortable(),
            FieldDesc::new("phone", T::Text, "Phone", "电话"),
            FieldDesc::new("email", T::Text, "Email", "邮箱"),
            FieldDesc::new("website", T::Text, "Website", "网址"),
            FieldDesc::new("owner", T::Ref, "Owner", "负责人").indexed(),
            FieldDesc::new("status", T::Text, "Status", "状态").indexed(),
            FieldDesc::new("parent", T::Ref, "Parent", "上级客户").indexed(),
            FieldDesc::new("remarks", T::Text, "Remarks", "备注"),
            FieldDesc::new("search", T::Text, "Search text", "检索文本").searchable(),
            FieldDesc::new("created_at", T::Timestamp, "Created", "创建时间").indexed().sortable(),
            FieldDesc::new("updated_at", T::Timestamp, "Updated", "更新时间").sortable(),
        ],
    )
    .expect("customer description is valid")
});

impl Entity for Customer {
    fn desc() -> &'static EntityDesc {
        &CUSTOMER
    }
    fn id(&self) -> RecordId {
        self.id
    }

    /// Maps the fields directly: bulk creates and imports pay for this once per row, and the
    /// serde round trip through JSON cost more than the rest of the mapping.
    fn to_record(&self) -> Result<Record, DomainError> {
        let text = |name: &'static str, text: &String| (name.into(), Value::Text(text.clone()));
        let reference = |name: &'static str, id: Option<RecordId>| {
            id.map(|id| (FieldName::from(name), Value::Ref(id)))
        };
        // In name order, so the record's map is built in one pass.
        let mut fields: Vec<(FieldName, Value)> = Vec::with_capacity(22);
        fields.extend([
            text("address", &self.address),
            text("category", &self.category),
            text("city", &self.city),
            text("code", &self.code),
            text("country", &self.country),
            ("created_at".into(), Value::Timestamp(self.created_at)),
            text("email", &self.email),
            text("grade", &self.grade),
            text("industry", &self.industry),
            text("name", &self.name),
        ]);
        fields.extend(reference("owner", self.owner));
        fields.extend(reference("parent", self.parent));
        fields.extend([
            text("phone", &self.phone),
            text("remarks", &self.remarks),
            text("search", &self.search),
            text("short_name", &self.short_name),
            text("source", &self.source),
            ("status".into(), Value::Text(self.status.as_str().to_owned())),
            ("updated_at".into(), Value::Timestamp(self.updated_at)),
            text("website", &self.website),
        ]);
        let mut record = Record::with_fields(self.id, fields);
        record.version = self.version;
        record.custom.clone_from(&self.custom);
        Ok(record)
    }
}

impl Customer {
    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        required("name", &self.name)?;
        for (field, value, max) in [
            ("code", &self.code, 40),
            ("name", &self.name, 200),
            ("short_name", &self.short_name, 100),
            ("category", &self.category, 40),
            ("source", &self.source, 40),
            ("industry", &self.industry, 100),
            ("grade", &self.grade, 40),
            ("address", &self.address, 500),
            ("city", &self.city, 100),
            ("country", &self.country, 100),
            ("phone", &self.phone, 60),
            ("email", &self.email, 200),
            ("website", &self.website, 500),
            ("remarks", &self.remarks, 4000),
        ] {
            text(field, value, max)?;
        }
        for (name, value) in &self.custom {
            custom_name(name)?;
            let field = format!("custom.{name}");
            if let Value::Text(value) = value {
                text(&field, value, 4000)?;
            }
            check_json_depth(&field, value)?;
        }
        email("email", &self.email)?;
        if self.parent == Some(self.id) && self.id != RecordId(0) {
            return Err(DomainError::Cycle {
                kind: "customer".into(),
                child: self.id,
                parent: self.id,
            });
        }
        Ok(())
    }

    /// Recomputes the folded search text from the customer and its contacts.
    pub fn refresh_search(&mut self, contacts: &[Contact]) {
        let mut parts: Vec<&str> =
            vec![&self.name, &self.short_name, &self.code, &self.city, &self.phone, &self.email];
        for contact in contacts {
            parts.extend([
                contact.name.as_str(),
                contact.mobile.as_str(),
                contact.phone.as_str(),
                contact.email.as_str(),
            ]);
        }
        self.search = search_text(parts.iter().copied());
    }
}

/// A person at a customer (联系人).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// The customer the contact works for.
    pub customer: RecordId,
    /// Name.
    pub name: String,
    /// Job title.
    #[serde(default)]
    pub title: String,
    /// Department.
    #[serde(default)]
    pub department: String,
    /// Mobile phone.
    #[serde(default)]
    pub mobile: String,
    /// Office phone.
    #[serde(default)]
    pub phone: String,
    /// Email.
    #[serde(default)]
    pub email: String,
    /// Birthday.
    #[serde(default)]
    pub birthday: Option<NaiveDate>,
    /// Free remarks.
    #[serde(default)]
    pub remarks: String,
}

static CONTACT: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "contact",
        vec![
            FieldDesc::new("customer", T::Ref, "Customer", "客户").indexed(),
            FieldDesc::new("name", T::Text, "Contact name", "联系人").sortable(),
            FieldDesc::new("title", T::Text, "Title", "职务"),
            FieldDesc::new("department", T::Text, "Department", "部门"),
            FieldDesc::new("mobile", T::Text, "Mobile", "手机"),
            FieldDesc::new("phone", T::Text, "Contact phone", "联系人电话"),
            FieldDesc::new("email", T::Text, "Contact email", "联系人邮箱"),
            // Not indexed: nothing filters contacts by birthday, sorting needs no index, and
            // every index costs each contact created another entry to keep.
            FieldDesc::new("birthday", T::Date, "Birthday", "生日").sortable(),
            FieldDesc::new("remarks", T::Text, "Contact remarks", "联系人备注"),
        ],
    )
    .expect("contact description is valid")
});

impl Entity for Contact {
    fn desc() -> &'static EntityDesc {
        &CONTACT
    }
    fn id(&self) -> RecordId {
        self.id
    }

    /// Maps the fields directly, as [`Customer`] does and for the same reason.
    fn to_record(&self) -> Result<Record, DomainError> {
        self.clone().into_record()
    }

    fn into_record(self) -> Result<Record, DomainError> {
        let text = |name: &'static str, text: String| (FieldName::from(name), Value::Text(text));
        // In name order, so the record's map is built in one pass.
        let mut fields: Vec<(FieldName, Value)> = Vec::with_capacity(9);
        fields.extend(self.birthday.map(|day| ("birthday".into(), Value::Date(day))));
        fields.extend([
            ("customer".into(), Value::Ref(self.customer)),
            text("department", self.department),
            text("email", self.email),
            text("mobile", self.mobile),
            text("name", self.name),
            text("phone", self.phone),
            text("remarks", self.remarks),
            text("title", self.title),
        ]);
        let mut record = Record::with_fields(self.id, fields);
        record.version = self.version;
        Ok(record)
    }
}

impl Contact {
    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        required("contact.name", &self.name)?;
        for (field, value, max) in [
            ("contact.name", &self.name, 100),
            ("contact.title", &self.title, 100),
            ("contact.department", &self.department, 100),
            ("contact.mobile", &self.mobile, 60),
            ("contact.phone", &self.phone, 60),
            ("contact.email", &self.email, 200),
            ("contact.remarks", &self.remarks, 4000),
        ] {
            text(field, value, max)?;
        }
        plausible_date("contact.birthday", self.birthday)?;
        email("contact.email", &self.email)
    }
}

/// A relative or friend of a contact (亲友).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Relative {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// The contact this person relates to.
    pub contact: RecordId,
    /// Relation (spouse, child, friend…).
    pub relation: String,
    /// Name.
    pub name: String,
    /// Phone.
    #[serde(default)]
    pub phone: String,
    /// Birthday.
    #[serde(default)]
    pub birthday: Option<NaiveDate>,
}

static RELATIVE: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "relative",
        vec![
            FieldDesc::new("contact", T::Ref, "Contact", "联系人").indexed(),
            FieldDesc::new("relation", T::Text, "Relation", "关系"),
            FieldDesc::new("name", T::Text, "Name", "姓名").sortable(),
            FieldDesc::new("phone", T::Text, "Phone", "电话"),
            FieldDesc::new("birthday", T::Date, "Birthday", "生日").indexed().sortable(),
        ],
    )
    .expect("relative description is valid")
});

impl Entity for Relative {
    fn desc() -> &'static EntityDesc {
        &RELATIVE
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl Relative {
    /// Checks the fields a person typed.
    pub fn validate(&self) -> Result<(), DomainError> {
        required("relative.name", &self.name)?;
        required("relative.relation", &self.relation)?;
        for (field, value, max) in [
            ("relative.name", &self.name, 100),
            ("relative.relation", &self.relation, 40),
            ("relative.phone", &self.phone, 60),
        ] {
            text(field, value, max)?;
        }
        plausible_date("relative.birthday", self.birthday)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::record_via_serde;

    fn customers() -> Vec<Customer> {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default();
        let full = Customer {
            id: RecordId(7),
            version: 3,
            code: "C000007".into(),
            name: "北京华信科技有限公司".into(),
            city: "Zürich".into(),
            owner: Some(RecordId(2)),
            parent: Some(RecordId(5)),
            search: "北京华信\u{1f}c000007".into(),
            created_at: at,
            updated_at: at,
            custom: BTreeMap::from([
                ("shoe_size".to_owned(), Value::Integer(44)),
                ("note".to_owned(), Value::Text("vip".into())),
                ("gone".to_owned(), Value::Null),
            ]),
            ..Customer::default()
        };
        let pool = Customer { status: CustomerStatus::Pool, owner: None, ..full.clone() };
        vec![Customer::default(), full, pool]
    }

    #[test]
    fn direct_mappings_equal_the_serde_mapping() {
        for customer in customers() {
            let record = customer.to_record().unwrap();
            assert_eq!(record, record_via_serde(&customer).unwrap());
            record.check(Customer::desc()).unwrap();
            assert_eq!(Customer::from_record(&record).unwrap(), customer);
        }
        let contacts = [
            Contact::default(),
            Contact {
                id: RecordId(9),
                version: 1,
                customer: RecordId(7),
                name: "王伟".into(),
                mobile: "013800000000".into(),
                birthday: NaiveDate::from_ymd_opt(1980, 2, 29),
                ..Contact::default()
            },
        ];
        for contact in contacts {
            let record = contact.to_record().unwrap();
            assert_eq!(record, record_via_serde(&contact).unwrap());
            record.check(Contact::desc()).unwrap();
            assert_eq!(Contact::from_record(&record).unwrap(), contact);
        }
    }
}
