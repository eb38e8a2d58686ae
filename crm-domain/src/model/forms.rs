//! User-defined forms (自定义表单): an administrator describes a form's fields at run time —
//! names, labels in both languages, types, whether they are required, the choices of a
//! pick list — and people fill it in as entries that go through approval like any other
//! request (draft → pending → approved / rejected / withdrawn).
//!
//! A form is a [`FormDef`]; what someone fills in is a [`FormEntry`], whose values are kept
//! as the record's custom fields under the form's field names, so one entry kind serves
//! every form and a field added later needs no migration.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;

use super::approval::approval_fields;
use super::finance::MAX_AMOUNT;
use super::ApprovalStatus;
use super::{known, one_line_title, plausible_date, text, trim_all};
use crate::entity::{Entity, EntityDesc, FieldDesc, FieldType};
use crate::error::DomainError;
use crate::ids::RecordId;
use crate::value::Value;

/// The most fields a form holds.
pub const MAX_FORM_FIELDS: usize = 60;
/// The most choices a pick-list field offers.
pub const MAX_CHOICES: usize = 100;
/// The longest one-line text value, in characters.
pub const MAX_LINE_CHARS: usize = 200;
/// The longest multi-line text value, in characters.
pub const MAX_TEXTAREA_CHARS: usize = 4000;

/// What kind of value a form field holds, and how a form shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormFieldKind {
    /// One line of text.
    #[default]
    Text,
    /// Several lines of text.
    Textarea,
    /// A whole number.
    Integer,
    /// An exact number with at most four decimals (money, quantities, days).
    Decimal,
    /// A calendar date.
    Date,
    /// Yes or no.
    Bool,
    /// One of a list of choices the form names.
    Choice,
}

impl FormFieldKind {
    /// Every kind, in the order a form editor offers them.
    pub const ALL: [FormFieldKind; 7] = [
        FormFieldKind::Text,
        FormFieldKind::Textarea,
        FormFieldKind::Integer,
        FormFieldKind::Decimal,
        FormFieldKind::Date,
        FormFieldKind::Bool,
        FormFieldKind::Choice,
    ];

    /// The stored name (`text`, `textarea`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FormFieldKind::Text => "text",
            FormFieldKind::Textarea => "textarea",
            FormFieldKind::Integer => "integer",
            FormFieldKind::Decimal => "decimal",
            FormFieldKind::Date => "date",
            FormFieldKind::Bool => "bool",
            FormFieldKind::Choice => "choice",
        }
    }

    /// Reads a stored name back.
    pub fn parse(name: &str) -> Option<Self> {
        FormFieldKind::ALL.into_iter().find(|k| k.as_str() == name.trim())
    }

    /// The value type entries keep for it.
    pub fn field_type(self) -> FieldType {
        match self {
            FormFieldKind::Text | FormFieldKind::Textarea | FormFieldKind::Choice => {
                FieldType::Text
            }
            FormFieldKind::Integer => FieldType::Integer,
            FormFieldKind::Decimal => FieldType::Decimal,
            FormFieldKind::Date => FieldType::Date,
            FormFieldKind::Bool => FieldType::Bool,
        }
    }
}

impl std::fmt::Display for FormFieldKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field of a user-defined form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormFieldDef {
    /// The name entries, workflow conditions and imports use: a lowercase identifier.
    pub name: String,
    /// English label.
    #[serde(default)]
    pub label_en: String,
    /// Chinese label.
    #[serde(default)]
    pub label_zh: String,
    /// What it holds.
    #[serde(default)]
    pub kind: FormFieldKind,
    /// Whether an entry must give it.
    #[serde(default)]
    pub required: bool,
    /// The values a [`FormFieldKind::Choice`] field offers, in order.
    #[serde(default)]
    pub choices: Vec<String>,
}

impl FormFieldDef {
    /// The label in Chinese (`zh = true`) or English, falling back to the other and then to
    /// the name.
    pub fn label(&self, zh: bool) -> &str {
        let (first, second) =
            if zh { (&self.label_zh, &self.label_en) } else { (&self.label_en, &self.label_zh) };
        [first, second]
            .into_iter()
            .find(|l| !l.is_empty())
            .map_or(self.name.as_str(), |l| l.as_str())
    }

    /// Checks one value an entry gives for the field and returns it as entries keep it
    /// (text trimmed, decimals without trailing zeros); `None` for no value. The error names
    /// the field.
    pub fn check_value(&self, value: &Value) -> Result<Option<Value>, DomainError> {
        let name = self.name.as_str();
        let empty = match value {
            Value::Null => true,
            Value::Text(text) => text.trim().is_empty(),
            _ => false,
        };
        if empty {
            if self.required {
                return Err(DomainError::Required { field: name.to_owned() });
            }
            return Ok(None);
        }
        let ty = self.kind.field_type();
        if value.field_type() != Some(ty) {
            return Err(DomainError::invalid(name, format!("must be of kind {}", self.kind)));
        }
        let value = match (self.kind, value) {
            (FormFieldKind::Text, Value::Text(t)) => {
                let t = t.trim();
                text(name, t, MAX_LINE_CHARS)?;
                if t.contains(['\n', '\r']) {
                    return Err(DomainError::invalid(name, "must be one line"));
                }
                Value::Text(t.to_owned())
            }
            (FormFieldKind::Textarea, Value::Text(t)) => {
                let t = crate::text::unix_line_breaks(t);
                let t = t.trim();
                text(name, t, MAX_TEXTAREA_CHARS)?;
                Value::Text(t.to_owned())
            }
            (FormFieldKind::Choice, Value::Text(t)) => {
                let t = t.trim();
                if !self.choices.iter().any(|c| c == t) {
                    let choices: Vec<String> =
                        self.choices.iter().map(|c| format!("{c:?}")).collect();
                    return Err(DomainError::invalid(
                        name,
                        format!("{t:?} is not one of {}", choices.join(", ")),
                    ));
                }
                Value::Text(t.to_owned())
            }
            (FormFieldKind::Decimal, Value::Decimal(d)) => {
                if d.abs() > MAX_AMOUNT {
                    return Err(DomainError::invalid(
                        name,
                        format!("must be between -{MAX_AMOUNT} and {MAX_AMOUNT}"),
                    ));
                }
                let d = d.normalize();
                if d.scale() > 4 {
                    return Err(DomainError::invalid(name, "has more than four decimals"));
                }
                Value::Decimal(d)
            }
            (FormFieldKind::Date, Value::Date(date)) => {
                plausible_date(name, Some(*date))?;
                value.clone()
            }
            _ => value.clone(),
        };
        Ok(Some(value))
    }

    fn validate(&self) -> Result<(), DomainError> {
        let name = &self.name;
        let field = |what: &str| format!("fields.{name}.{what}");
        if !is_identifier(name) {
            return Err(DomainError::invalid(
                "fields",
                format!(
                    "{name:?} is not a field name: use lowercase letters, digits and _, \
                     starting with a letter, at most 40 characters"
                ),
            ));
        }
        if FormEntry::desc().field(name).is_some() || matches!(name.as_str(), "id" | "version") {
            return Err(DomainError::invalid(
                "fields",
                format!("{name:?} is a name every entry already has; choose another"),
            ));
        }
        for (what, label) in [("label_en", &self.label_en), ("label_zh", &self.label_zh)] {
            plain_line(&field(what), label, 100)?;
        }
        match self.kind {
            FormFieldKind::Choice if self.choices.is_empty() => {
                return Err(DomainError::invalid(field("choices"), "a pick list needs choices"));
            }
            FormFieldKind::Choice => {}
            _ if !self.choices.is_empty() => {
                return Err(DomainError::invalid(
                    field("choices"),
                    format!("only pick lists have choices, and this field is {}", self.kind),
                ));
            }
            _ => {}
        }
        if self.choices.len() > MAX_CHOICES {
            return Err(DomainError::invalid(
                field("choices"),
                format!("at most {MAX_CHOICES} choices"),
            ));
        }
        let mut seen = BTreeSet::new();
        for choice in &self.choices {
            if choice.is_empty() {
                return Err(DomainError::invalid(field("choices"), "a choice is empty"));
            }
            plain_line(&field("choices"), choice, 100)?;
            // Choices that look the same (`é` composed or not) are the same choice.
            if !seen.insert(choice.nfc().collect::<String>()) {
                return Err(DomainError::invalid(
                    field("choices"),
                    format!("{choice:?} is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Checks a name, label or choice of a form: at most `max` characters on one line, without
/// control characters or invisible ones that make two texts look alike (zero-width spaces,
/// direction overrides).
fn plain_line(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    text(field, value, max)?;
    if value.contains(['\n', '\r', '\t', '\u{85}', '\u{2028}', '\u{2029}']) {
        return Err(DomainError::invalid(field, "must be one line"));
    }
    // Zero-width and joining marks, fillers that draw nothing, variation selectors, tags.
    let invisible = |c: &char| {
        matches!(
            u32::from(*c),
            0x00AD
                | 0x034F
                | 0x115F
                | 0x1160
                | 0x17B4
                | 0x17B5
                | 0x180E
                | 0x200B..=0x200F
                | 0x202A..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x2069
                | 0x2800
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xE0000..=0xE007F
        )
    };
    if let Some(c) = value.chars().find(invisible) {
        return Err(DomainError::invalid(
            field,
            format!("contains the invisible character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(())
}

/// Lowercase ASCII letters, digits and `_`, starting with a letter, at most 40 bytes.
fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 40
}

/// A user-defined form (自定义表单).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FormDef {
    /// Record id; workflows bind to it as `form = { custom = ID }`.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// A short name unique in the tenant (`leave`), a lowercase identifier.
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
    /// A retired form takes no new entries; its entries stay.
    #[serde(default)]
    pub retired: bool,
    /// Fields removed from the form, as they last were: entries may still hold their values,
    /// so a field added again under one of these names keeps its kind and choices.
    #[serde(default)]
    pub removed_fields: Vec<FormFieldDef>,
    /// Created at (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed at (UTC).
    pub updated_at: DateTime<Utc>,
}

static FORM_DEF: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "form_def",
        vec![
            FieldDesc::new("key", FieldType::Text, "Key", "标识").indexed().sortable(),
            FieldDesc::new("name_en", FieldType::Text, "English name", "英文名称"),
            FieldDesc::new("name_zh", FieldType::Text, "Chinese name", "中文名称"),
            FieldDesc::new("fields", FieldType::Json, "Fields", "字段"),
            FieldDesc::new("retired", FieldType::Bool, "Retired", "已停用"),
            FieldDesc::new("removed_fields", FieldType::Json, "Removed fields", "已删除字段"),
            FieldDesc::new("created_at", FieldType::Timestamp, "Created", "创建时间").sortable(),
            FieldDesc::new("updated_at", FieldType::Timestamp, "Updated", "更新时间"),
        ],
    )
    .expect("form description is valid")
});

impl Entity for FormDef {
    fn desc() -> &'static EntityDesc {
        &FORM_DEF
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl FormDef {
    /// The name in Chinese (`zh = true`) or English, falling back to the other and the key.
    pub fn name(&self, zh: bool) -> &str {
        let (first, second) =
            if zh { (&self.name_zh, &self.name_en) } else { (&self.name_en, &self.name_zh) };
        [first, second]
            .into_iter()
            .find(|n| !n.is_empty())
            .map_or(self.key.as_str(), |n| n.as_str())
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&FormFieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Trims what an administrator typed and checks every rule.
    pub fn normalize(&mut self) -> Result<(), DomainError> {
        trim_all([&mut self.key, &mut self.name_en, &mut self.name_zh]);
        for field in &mut self.fields {
            trim_all([&mut field.name, &mut field.label_en, &mut field.label_zh]);
            for choice in &mut field.choices {
                trim_all([choice]);
            }
        }
        self.validate()
    }

    /// Checks the definition.
    pub fn validate(&self) -> Result<(), DomainError> {
        if !is_identifier(&self.key) {
            return Err(DomainError::invalid(
                "key",
                format!(
                    "{:?} is not a form key: use lowercase letters, digits and _, starting \
                     with a letter, at most 40 characters",
                    self.key
                ),
            ));
        }
        if self.name_en.is_empty() && self.name_zh.is_empty() {
            return Err(DomainError::Required { field: "name".into() });
        }
        for (field, name) in [("name_en", &self.name_en), ("name_zh", &self.name_zh)] {
            plain_line(field, name, 100)?;
        }
        if self.fields.is_empty() {
            return Err(DomainError::Required { field: "fields".into() });
        }
        if self.fields.len() > MAX_FORM_FIELDS {
            return Err(DomainError::invalid(
                "fields",
                format!("a form holds at most {MAX_FORM_FIELDS} fields"),
            ));
        }
        let mut seen = BTreeSet::new();
        for field in &self.fields {
            field.validate()?;
            if !seen.insert(field.name.as_str()) {
                return Err(DomainError::invalid(
                    "fields",
                    format!("{:?} is declared twice", field.name),
                ));
            }
        }
        Ok(())
    }

    /// Refuses a change from `self` to `changed` that would misread the values entries
    /// already keep: a field whose kind changes, or a pick list that drops a choice — also
    /// for a field removed earlier and added again. Labels, order, required flags, new
    /// fields, new choices and removed fields are fine (a removed field's values stay in the
    /// entries that have them, unshown). On success `changed` remembers the fields removed
    /// so far.
    pub fn check_change(&self, changed: &mut FormDef) -> Result<(), DomainError> {
        if changed.key != self.key {
            return Err(DomainError::invalid("key", "a form keeps its key"));
        }
        let known = self.fields.iter().chain(&self.removed_fields);
        for old in known {
            let Some(new) = changed.field(&old.name) else { continue };
            if new.kind != old.kind {
                return Err(DomainError::invalid(
                    format!("fields.{}.kind", old.name),
                    format!(
                        "entries keep {} values here; add a new field instead of changing it \
                         to {}",
                        old.kind, new.kind
                    ),
                ));
            }
            if let Some(dropped) = old.choices.iter().find(|c| !new.choices.contains(c)) {
                return Err(DomainError::invalid(
                    format!("fields.{}.choices", old.name),
                    format!("entries may hold {dropped:?}, so the choice stays"),
                ));
            }
        }
        let mut removed: Vec<FormFieldDef> = Vec::new();
        for field in self.removed_fields.iter().chain(&self.fields) {
            if changed.field(&field.name).is_some() {
                continue;
            }
            removed.retain(|r| r.name != field.name);
            removed.push(field.clone());
        }
        changed.removed_fields = removed;
        Ok(())
    }

    /// Checks the values approvers changed in an entry whose stored values are `before`:
    /// each value that differs is checked by its field as [`check_values`](Self::check_values)
    /// does, and the others are kept as they are, so an entry submitted before the form
    /// gained a required field still goes through its approval.
    pub fn check_changed_values(
        &self,
        values: &BTreeMap<String, Value>,
        before: &BTreeMap<String, Value>,
    ) -> Result<BTreeMap<String, Value>, DomainError> {
        let mut checked = BTreeMap::new();
        let names: BTreeSet<&String> = values.keys().chain(before.keys()).collect();
        for name in names {
            let value = values.get(name).unwrap_or(&Value::Null);
            if before.get(name) == Some(value) {
                checked.insert(name.clone(), value.clone());
                continue;
            }
            let field = self.field(name).ok_or_else(|| {
                DomainError::invalid(name, format!("is not a field of form {}", self.key))
            })?;
            if let Some(value) = field.check_value(value)? {
                checked.insert(name.clone(), value);
            }
        }
        Ok(checked)
    }

    /// Checks an entry's `values` against the form and returns them as entries keep them:
    /// each checked by its field (the error names the field), empty ones left out. A value
    /// for a field the form does not have is refused, except one the entry already kept for
    /// a field since removed (`kept`), which stays as it was.
    pub fn check_values(
        &self,
        values: &BTreeMap<String, Value>,
        kept: &BTreeMap<String, Value>,
    ) -> Result<BTreeMap<String, Value>, DomainError> {
        let mut checked = BTreeMap::new();
        for (name, value) in values {
            if self.field(name).is_none() {
                if kept.get(name) == Some(value) {
                    checked.insert(name.clone(), value.clone());
                    continue;
                }
                return Err(DomainError::invalid(
                    name,
                    format!("is not a field of form {}", self.key),
                ));
            }
        }
        for field in &self.fields {
            let value = values.get(&field.name).unwrap_or(&Value::Null);
            if let Some(value) = field.check_value(value)? {
                checked.insert(field.name.clone(), value);
            }
        }
        Ok(checked)
    }
}

/// One filled-in user-defined form (表单记录).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FormEntry {
    /// Record id.
    pub id: RecordId,
    /// Stored version.
    #[serde(default)]
    pub version: u64,
    /// Document number, given on creation (`FM000001`).
    #[serde(default)]
    pub code: String,
    /// The form it fills in.
    pub form: RecordId,
    /// The person who wrote it and submits it.
    pub owner: RecordId,
    /// A one-line subject.
    pub title: String,
    /// The values by the form's field names; empty ones are left out.
    #[serde(default, rename = "custom")]
    pub values: BTreeMap<String, Value>,
    /// Where it stands; follows its approval.
    #[serde(default)]
    pub status: ApprovalStatus,
    /// The approval instance, once submitted.
    #[serde(default)]
    pub instance: Option<RecordId>,
    /// Created at (UTC).
    pub created_at: DateTime<Utc>,
    /// Last changed at (UTC).
    pub updated_at: DateTime<Utc>,
}

static FORM_ENTRY: LazyLock<EntityDesc> = LazyLock::new(|| {
    EntityDesc::new(
        "form_entry",
        vec![
            FieldDesc::new("code", FieldType::Text, "Number", "单号").indexed().sortable(),
            FieldDesc::new("form", FieldType::Ref, "Form", "表单").indexed(),
            FieldDesc::new("owner", FieldType::Ref, "Owner", "填写人").indexed(),
            FieldDesc::new("title", FieldType::Text, "Title", "标题").sortable(),
        ]
        .into_iter()
        .chain(approval_fields())
        .collect(),
    )
    .expect("form entry description is valid")
});

impl Entity for FormEntry {
    fn desc() -> &'static EntityDesc {
        &FORM_ENTRY
    }
    fn id(&self) -> RecordId {
        self.id
    }
}

impl FormEntry {
    /// Trims the title and checks the fields every entry has; the values are the form's
    /// business ([`FormDef::check_values`]).
    pub fn normalize(&mut self) -> Result<(), DomainError> {
        trim_all([&mut self.title]);
        one_line_title(&self.title)?;
        known("form", self.form)?;
        known("owner", self.owner)?;
        Ok(())
    }

    /// Checks the title and the values against `form`, keeping values as the form keeps
    /// them.
    pub fn normalize_for(&mut self, form: &FormDef, kept: &FormEntry) -> Result<(), DomainError> {
        self.normalize()?;
        if self.form != form.id {
            return Err(DomainError::invalid("form", format!("is not form {}", form.key)));
        }
        self.values = form.check_values(&self.values, &kept.values)?;
        Ok(())
    }

    /// Checks the title and the values approvers changed from `before` against `form`.
    pub fn normalize_changes(
        &mut self,
        form: &FormDef,
        before: &FormEntry,
    ) -> Result<(), DomainError> {
        self.normalize()?;
        self.values = form.check_changed_values(&self.values, &before.values)?;
        Ok(())
    }

    /// The fields a workflow sees: the entry's own and its values by their bare names.
    pub fn workflow_fields(&self) -> Result<BTreeMap<String, Value>, DomainError> {
        let mut fields = self.to_record()?.into_named_fields();
        fields.extend(self.values.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    fn leave() -> FormDef {
        FormDef {
            id: RecordId(1),
            key: "leave".into(),
            name_zh: "请假单".into(),
            fields: vec![
                FormFieldDef {
                    name: "days".into(),
                    label_zh: "天数".into(),
                    kind: FormFieldKind::Decimal,
                    required: true,
                    ..FormFieldDef::default()
                },
                FormFieldDef {
                    name: "kind".into(),
                    label_en: "Kind".into(),
                    kind: FormFieldKind::Choice,
                    choices: vec!["年假".into(), "病假".into()],
                    ..FormFieldDef::default()
                },
                FormFieldDef {
                    name: "from".into(),
                    kind: FormFieldKind::Date,
                    ..FormFieldDef::default()
                },
                FormFieldDef {
                    name: "reason".into(),
                    kind: FormFieldKind::Textarea,
                    ..FormFieldDef::default()
                },
            ],
            ..FormDef::default()
        }
    }

    #[test]
    fn definitions_check_names_kinds_and_choices() {
        let mut form = leave();
        form.normalize().unwrap();
        assert_eq!(form.name(false), "请假单");
        assert_eq!(form.fields[0].label(false), "天数");
        assert_eq!(form.fields[2].label(true), "from");

        let refused = |change: &dyn Fn(&mut FormDef)| {
            let mut form = leave();
            change(&mut form);
            form.normalize().unwrap_err().to_string()
        };
        assert!(refused(&|f| f.key = "Leave".into()).contains("key"));
        assert!(refused(&|f| f.fields[0].name = "title".into()).contains("already has"));
        assert!(refused(&|f| f.fields[1].name = "days".into()).contains("twice"));
        assert!(refused(&|f| f.fields[1].choices.clear()).contains("fields.kind.choices"));
        assert!(refused(&|f| f.fields[0].choices = vec!["x".into()]).contains("only pick lists"));
        assert!(refused(&|f| f.fields[1].choices.push("年假".into())).contains("twice"));
        assert!(refused(&|f| f.fields.clear()).contains("fields"));
        assert!(refused(&|f| {
            f.name_zh.clear();
        })
        .contains("name"));
        assert!(refused(&|f| f.fields[0].name = "1st".into()).contains("not a field name"));
        assert!(refused(&|f| f.fields[1].choices.push(String::new())).contains("a choice is empty"));
        assert!(refused(&|f| f.fields[1].choices[0] = "年\u{200B}假".into()).contains("U+200B"));
        assert!(refused(&|f| f.fields[0].label_zh = "天\u{2028}数".into()).contains("one line"));
        assert!(refused(&|f| f.fields[1].choices[0] = "\u{3164}".into()).contains("U+3164"));
        assert!(refused(&|f| f.fields[1].choices[0] = "a\u{AD}b".into()).contains("U+00AD"));
        let accents = |f: &mut FormDef| f.fields[1].choices = vec!["e\u{301}".into(), "é".into()];
        assert!(refused(&accents).contains("twice"));
        let typo = r#"{"name": "a", "requried": true}"#;
        assert!(serde_json::from_str::<FormFieldDef>(typo).is_err());
    }

    #[test]
    fn values_are_checked_by_their_fields() {
        let form = leave();
        let values = |pairs: &[(&str, Value)]| -> BTreeMap<String, Value> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
        };
        let none = BTreeMap::new();
        let kept = form
            .check_values(
                &values(&[
                    ("days", Value::Decimal(Decimal::new(2500, 3))),
                    ("kind", Value::Text(" 年假 ".into())),
                    ("reason", Value::Text("  ".into())),
                ]),
                &none,
            )
            .unwrap();
        assert_eq!(kept.get("days"), Some(&Value::Decimal(Decimal::new(25, 1))));
        assert_eq!(kept.get("kind"), Some(&Value::Text("年假".into())));
        let typed = values(&[
            ("days", Value::Decimal(Decimal::ONE)),
            ("reason", Value::Text("第一行\r\n第二行\r\n".into())),
        ]);
        let kept_reason = form.check_values(&typed, &none).unwrap().remove("reason");
        assert_eq!(kept_reason, Some(Value::Text("第一行\n第二行".into())));
        assert!(!kept.contains_key("reason"));

        let error = |pairs: &[(&str, Value)]| form.check_values(&values(pairs), &none).unwrap_err();
        assert!(matches!(error(&[]), DomainError::Required { field } if field == "days"));
        let wrong = error(&[("days", Value::Text("two".into()))]);
        assert!(wrong.to_string().contains("days"), "{wrong}");
        let choice = error(&[("days", Value::Decimal(Decimal::ONE)), ("kind", "事假".into())]);
        assert!(choice.to_string().contains("kind"), "{choice}");
        let unknown = error(&[("days", Value::Decimal(Decimal::ONE)), ("colour", "red".into())]);
        assert!(unknown.to_string().contains("colour"), "{unknown}");
        let old = error(&[
            ("days", Value::Decimal(Decimal::ONE)),
            ("from", Value::Date(NaiveDate::from_ymd_opt(1800, 1, 1).unwrap())),
        ]);
        assert!(old.to_string().contains("from"), "{old}");
        let fine = error(&[("days", Value::Decimal(Decimal::new(12345, 5)))]);
        assert!(fine.to_string().contains("four decimals"), "{fine}");

        // Approvers' changes are checked; what they left alone is kept as it was, even a
        // required value the form gained later and the entry lacks.
        let mut stricter = form.clone();
        stricter.fields[2].required = true;
        let before = values(&[("days", Value::Decimal(Decimal::ONE))]);
        let changed = values(&[("days", Value::Decimal(Decimal::TWO))]);
        let kept = stricter.check_changed_values(&changed, &before).unwrap();
        assert_eq!(kept, changed);
        let emptied = stricter.check_changed_values(&BTreeMap::new(), &before).unwrap_err();
        assert!(matches!(emptied, DomainError::Required { field } if field == "days"));

        // A value kept for a field since removed stays; a new one is refused.
        let stale = values(&[("colour", "red".into())]);
        let mut with_stale = values(&[("days", Value::Decimal(Decimal::ONE))]);
        with_stale.extend(stale.clone());
        assert_eq!(
            form.check_values(&with_stale, &stale).unwrap().get("colour"),
            stale.get("colour")
        );
    }

    #[test]
    fn changes_keep_what_entries_hold() {
        let form = leave();
        let mut relabelled = leave();
        relabelled.fields[0].label_en = "Days".into();
        relabelled.fields[1].choices.push("事假".into());
        relabelled.fields.remove(3);
        assert!(form.check_change(&mut relabelled).is_ok());
        assert_eq!(relabelled.removed_fields, vec![leave().fields[3].clone()]);

        // A removed field added again keeps its kind and choices.
        let mut back = relabelled.clone();
        back.fields.push(FormFieldDef {
            name: "reason".into(),
            kind: FormFieldKind::Integer,
            ..FormFieldDef::default()
        });
        let refused = relabelled.check_change(&mut back).unwrap_err();
        assert!(refused.to_string().contains("fields.reason.kind"), "{refused}");
        back.fields.last_mut().unwrap().kind = FormFieldKind::Textarea;
        relabelled.check_change(&mut back).unwrap();
        assert!(back.removed_fields.is_empty());

        let mut retyped = leave();
        retyped.fields[0].kind = FormFieldKind::Integer;
        let refused = form.check_change(&mut retyped).unwrap_err();
        assert!(refused.to_string().contains("fields.days.kind"));
        let mut dropped = leave();
        dropped.fields[1].choices.remove(0);
        assert!(form.check_change(&mut dropped).unwrap_err().to_string().contains("年假"));
    }

    #[test]
    fn entries_map_values_to_custom_fields() {
        let mut entry = FormEntry {
            id: RecordId(7),
            form: RecordId(1),
            owner: RecordId(2),
            title: " 年假 ".into(),
            ..FormEntry::default()
        };
        entry.values.insert("days".into(), Value::Decimal(Decimal::TWO));
        entry.normalize().unwrap();
        let record = entry.to_record().unwrap();
        assert_eq!(record.custom.get("days"), Some(&Value::Decimal(Decimal::TWO)));
        assert_eq!(record.get("title"), &Value::Text("年假".into()));
        assert_eq!(FormEntry::from_record(&record).unwrap(), entry);
        let fields = entry.workflow_fields().unwrap();
        assert_eq!(fields.get("days"), Some(&Value::Decimal(Decimal::TWO)));
        assert_eq!(fields.get("title"), Some(&Value::Text("年假".into())));
    }
}
