//! Entity descriptions and the generic record every store keeps.
//!
//! A store never knows a `Customer`; it knows an [`EntityDesc`] (kind name and declared
//! fields with their types and uses) and [`Record`]s of it. Domain types map onto records
//! through serde, so adding an entity means declaring it once, not writing adapter code.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::DomainError;
use crate::ids::RecordId;
pub use crate::value::FieldType;
use crate::value::Value;

/// The prefix that names a custom field in queries: `custom.<name>`.
pub const CUSTOM_PREFIX: &str = "custom.";

/// A field label in both languages the product speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// English label.
    pub en: String,
    /// Simplified Chinese label.
    pub zh: String,
}

/// One declared field of an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDesc {
    /// Column name: lowercase ASCII letters, digits and `_`, starting with a letter.
    pub name: String,
    /// The value type; stores keep it in a native column of that type.
    pub ty: FieldType,
    /// Stores keep a lookup index on it (equality, `in`, prefix and range filters).
    pub indexed: bool,
    /// No two records of a tenant hold the same value (records without one aside); a batch
    /// that would leave two fails as a constraint error and writes nothing. Implies
    /// `indexed`.
    pub unique: bool,
    /// Lists may be sorted by it.
    pub sortable: bool,
    /// Holds folded search text that fuzzy filters match by substring.
    pub searchable: bool,
    /// Label shown by forms and matched by imports.
    pub label: Label,
}

impl FieldDesc {
    /// A plain field of `ty` with English and Chinese labels.
    pub fn new(name: &str, ty: FieldType, en: &str, zh: &str) -> Self {
        Self {
            name: name.to_owned(),
            ty,
            indexed: false,
            unique: false,
            sortable: false,
            searchable: false,
            label: Label { en: en.to_owned(), zh: zh.to_owned() },
        }
    }

    /// Marks the field as indexed.
    pub fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }

    /// Marks the field as unique within a tenant (and indexed).
    pub fn unique(mut self) -> Self {
        self.indexed = true;
        self.unique = true;
        self
    }

    /// Marks the field as sortable.
    pub fn sortable(mut self) -> Self {
        self.sortable = true;
        self
    }

    /// Marks the field as fuzzy-searchable folded text.
    pub fn searchable(mut self) -> Self {
        self.searchable = true;
        self
    }
}

/// What a store needs to know of an entity kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityDesc {
    /// Kind name, used as table and key prefix: lowercase ASCII letters, digits and `_`.
    pub kind: String,
    /// Declared fields in column order. `id` and `version` are implicit.
    pub fields: Vec<FieldDesc>,
}

impl EntityDesc {
    /// Builds a description, checking that every name is a safe identifier and unique.
    pub fn new(kind: &str, fields: Vec<FieldDesc>) -> Result<Self, DomainError> {
        check_identifier("kind", kind)?;
        let mut seen = std::collections::BTreeSet::new();
        for field in &fields {
            check_identifier("field", &field.name)?;
            if matches!(field.name.as_str(), "id" | "version" | "custom" | "tenant_id") {
                return Err(DomainError::invalid("field", format!("{} is reserved", field.name)));
            }
            if !seen.insert(field.name.as_str()) {
                return Err(DomainError::invalid(
                    "field",
                    format!("{} is declared twice", field.name),
                ));
            }
            if field.unique && (!field.indexed || matches!(field.ty, FieldType::Json)) {
                return Err(DomainError::invalid(
                    "field",
                    format!("{} is unique, so it must be indexed and not JSON", field.name),
                ));
            }
            if field.searchable && field.ty != FieldType::Text {
                return Err(DomainError::invalid(
                    "field",
                    format!("{} is searchable but not text", field.name),
                ));
            }
        }
        Ok(Self { kind: kind.to_owned(), fields })
    }

    /// The declared field called `name`.
    pub fn field(&self, name: &str) -> Option<&FieldDesc> {
        self.fields.iter().find(|f| f.name == name)
    }
}

fn check_identifier(what: &str, name: &str) -> Result<(), DomainError> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if first_ok && rest_ok && name.len() <= 48 {
        Ok(())
    } else {
        Err(DomainError::invalid(what, format!("{name:?} is not a lowercase identifier")))
    }
}

/// A stored record: id, optimistic version, declared fields and custom fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The id, unique within tenant and kind.
    pub id: RecordId,
    /// Incremented by every committed update; `0` for a record not yet stored.
    pub version: u64,
    /// Declared fields by name. A missing field reads as `Null`.
    pub fields: BTreeMap<FieldName, Value>,
    /// Custom fields an administrator added at run time, by name.
    pub custom: BTreeMap<String, Value>,
}

/// The name of a declared field in a [`Record`]: borrowed from a description that lives as
/// long as the program (every built-in entity's), so mapping an entity onto a record does
/// not copy its field names, or owned.
pub type FieldName = std::borrow::Cow<'static, str>;

static NULL: Value = Value::Null;

impl Record {
    /// An empty record with `id`, not yet stored.
    pub fn new(id: RecordId) -> Self {
        Self { id, version: 0, fields: BTreeMap::new(), custom: BTreeMap::new() }
    }

    /// The value of a declared field, or of a custom field named `custom.<name>`.
    pub fn get(&self, field: &str) -> &Value {
        if let Some(name) = field.strip_prefix(CUSTOM_PREFIX) {
            return self.custom.get(name).unwrap_or(&NULL);
        }
        self.fields.get(field).unwrap_or(&NULL)
    }

    /// The declared fields, each name an owned string (for maps that outlive descriptions).
    pub fn into_named_fields(self) -> BTreeMap<String, Value> {
        self.fields.into_iter().map(|(name, value)| (name.into_owned(), value)).collect()
    }

    /// A record not yet stored with `id` and `fields`. Fields given in name order are taken
    /// in one pass (the map is built from sorted input); in any other order they are sorted
    /// first. Of two values under one name the later stays.
    pub fn with_fields(id: RecordId, fields: Vec<(FieldName, Value)>) -> Self {
        Self { id, version: 0, fields: fields.into_iter().collect(), custom: BTreeMap::new() }
    }

    /// Sets a declared field.
    pub fn set(&mut self, field: impl Into<FieldName>, value: impl Into<Value>) {
        self.fields.insert(field.into(), value.into());
    }

    /// Checks that every value fits its declared type and no undeclared field is present.
    /// To check many records against one description, see [`FieldOrder::check`].
    pub fn check(&self, desc: &EntityDesc) -> Result<(), DomainError> {
        FieldOrder::new(desc).check(self)
    }
}

/// The fields of a description in name order, the order of a [`Record`]'s fields: a record
/// is read beside them in one pass, where looking each field up would search the
/// description once per field. Made once for many records of one description.
pub struct FieldOrder<'d> {
    desc: &'d EntityDesc,
    fields: Vec<&'d FieldDesc>,
}

impl<'d> FieldOrder<'d> {
    /// The fields of `desc` in name order.
    pub fn new(desc: &'d EntityDesc) -> Self {
        let mut fields: Vec<&FieldDesc> = desc.fields.iter().collect();
        fields.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Self { desc, fields }
    }

    /// The description.
    pub fn desc(&self) -> &'d EntityDesc {
        self.desc
    }

    /// The declared fields, in name order.
    pub fn fields(&self) -> &[&'d FieldDesc] {
        &self.fields
    }

    /// [`Record::check`] of `record`: the first field, in name order, that is not declared
    /// or holds a value of another type or JSON nested too deeply, then custom JSON.
    pub fn check(&self, record: &Record) -> Result<(), DomainError> {
        let mut declared = self.fields.iter().peekable();
        for (name, value) in &record.fields {
            while declared.next_if(|f| f.name.as_str() < name.as_ref()).is_some() {}
            let Some(field) = declared.next_if(|f| f.name.as_str() == name.as_ref()) else {
                return Err(DomainError::invalid(
                    name.as_ref(),
                    format!("not a field of {}", self.desc.kind),
                ));
            };
            if let Some(ty) = value.field_type() {
                if ty != field.ty {
                    return Err(DomainError::invalid(
                        name.as_ref(),
                        format!("expected {:?}, got {:?}", field.ty, ty),
                    ));
                }
            }
            check_json_depth(name, value)?;
        }
        for (name, value) in &record.custom {
            check_json_depth(name, value)?;
        }
        Ok(())
    }
}

/// How deeply JSON values may nest: JSON readers refuse deeper text (serde_json at 128), so a
/// record holding more could be written but never read back.
pub const MAX_JSON_DEPTH: usize = 64;

/// Refuses a JSON value nested deeper than [`MAX_JSON_DEPTH`], measured without recursion.
pub(crate) fn check_json_depth(name: &str, value: &Value) -> Result<(), DomainError> {
    let Value::Json(json) = value else { return Ok(()) };
    let mut pending = vec![(json, 1usize)];
    while let Some((json, depth)) = pending.pop() {
        if depth > MAX_JSON_DEPTH {
            return Err(DomainError::invalid(
                name,
                format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"),
            ));
        }
        match json {
            serde_json::Value::Array(items) => pending.extend(items.iter().map(|i| (i, depth + 1))),
            serde_json::Value::Object(map) => pending.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// A domain type that is kept as records of one entity kind.
///
/// The type serialises to a JSON object whose keys are `id`, `version`, optionally `custom`
/// (a map of [`Value`]s) and exactly the declared fields.
pub trait Entity: Serialize + DeserializeOwned {
    /// The description of the kind.
    fn desc() -> &'static EntityDesc;

    /// The record id.
    fn id(&self) -> RecordId;

    /// Maps the value onto a record. The default goes through serde; entities written in
    /// bulk map their fields directly, and a test holds them equal to [`record_via_serde`].
    fn to_record(&self) -> Result<Record, DomainError> {
        record_via_serde(self)
    }

    /// Maps the value onto a record, giving up the value: entities created in bulk move their
    /// text into the record instead of copying it. The same record as [`Entity::to_record`].
    fn into_record(self) -> Result<Record, DomainError>
    where
        Self: Sized,
    {
        self.to_record()
    }

    /// Maps a stored record back onto the type.
    fn from_record(record: &Record) -> Result<Self, DomainError> {
        let desc = Self::desc();
        let mut object = serde_json::Map::new();
        object.insert("id".into(), record.id.0.into());
        object.insert("version".into(), record.version.into());
        let custom = serde_json::to_value(&record.custom).map_err(|e| DomainError::Malformed {
            kind: desc.kind.clone(),
            id: record.id,
            reason: e.to_string(),
        })?;
        object.insert("custom".into(), custom);
        for field in &desc.fields {
            object.insert(field.name.clone(), record.get(&field.name).to_json());
        }
        serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| {
            DomainError::Malformed { kind: desc.kind.clone(), id: record.id, reason: e.to_string() }
        })
    }
}

/// Maps `entity` onto a record through its serde form: the JSON object's keys name the
/// declared fields, `id`, `version` and `custom`. Every value is checked against its declared
/// type, and `Null` values are left out.
pub fn record_via_serde<E: Entity>(entity: &E) -> Result<Record, DomainError> {
    let desc = E::desc();
    let json = serde_json::to_value(entity)
        .map_err(|e| DomainError::invalid(&desc.kind, e.to_string()))?;
    let serde_json::Value::Object(mut object) = json else {
        return Err(DomainError::invalid(&desc.kind, "does not serialise to an object"));
    };
    let id = object.remove("id").and_then(|v| v.as_u64()).map(RecordId).unwrap_or_default();
    let version = object.remove("version").and_then(|v| v.as_u64()).unwrap_or(0);
    let custom = match object.remove("custom") {
        None | Some(serde_json::Value::Null) => BTreeMap::new(),
        Some(custom) => serde_json::from_value(custom)
            .map_err(|e| DomainError::invalid("custom", e.to_string()))?,
    };
    let mut record = Record { id, version, fields: BTreeMap::new(), custom };
    for (name, json) in object {
        let Some(field) = desc.field(&name) else {
            return Err(DomainError::invalid(&name, format!("not a field of {}", desc.kind)));
        };
        let value = Value::from_json(field.ty, &json).ok_or_else(|| {
            DomainError::invalid(&name, format!("{json} is not a {:?}", field.ty))
        })?;
        if !value.is_null() {
            record.fields.insert(name.into(), value);
        }
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn desc() -> EntityDesc {
        let field = |name: &str, ty| FieldDesc::new(name, ty, name, name);
        EntityDesc::new(
            "thing",
            vec![
                field("name", FieldType::Text),
                field("amount", FieldType::Integer),
                field("owner", FieldType::Ref),
                field("data", FieldType::Json),
                field("zone", FieldType::Text),
            ],
        )
        .expect("a valid description")
    }

    /// What the check must find, by looking every field up: the first field in name order
    /// that is undeclared or of another type.
    fn looked_up(desc: &EntityDesc, record: &Record) -> Option<String> {
        record.fields.iter().find_map(|(name, value)| match desc.field(name) {
            None => Some(name.to_string()),
            Some(field) => {
                value.field_type().filter(|ty| *ty != field.ty).map(|_| name.to_string())
            }
        })
    }

    proptest! {
        #[test]
        fn the_one_pass_check_finds_what_lookups_find(
            fields in proptest::collection::btree_map(
                "(a|amount|b|data|name|nz|owner|zone|zz)",
                0u8..3,
                0..8,
            )
        ) {
            let desc = desc();
            let mut record = Record::new(RecordId(1));
            for (name, kind) in fields {
                let value = match kind {
                    0 => Value::Text("x".into()),
                    1 => Value::Integer(1),
                    _ => Value::Ref(RecordId(2)),
                };
                record.set(name, value);
            }
            let found = record.check(&desc).err().map(|e| match e {
                DomainError::Invalid { field, .. } => field,
                other => other.to_string(),
            });
            prop_assert_eq!(found, looked_up(&desc, &record));
        }
    }
}
