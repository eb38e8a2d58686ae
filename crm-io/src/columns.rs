//! Matching a file's header row to the declared fields of one or more entities.
//!
//! A header matches a field when, trimmed and folded ([`crm_domain::text::fold`]), it equals
//! the field's name, its English label or its Chinese label. When two entities share a table
//! (a customer and its contact), the first part wins a shared name, and the later part's
//! fields can always be named `<prefix>.<field>` (`contact.name`). Headers
//! `custom.<name>` and `自定义.<name>` name custom fields.

use crm_domain::entity::{EntityDesc, FieldDesc, Label};
use crm_domain::text::fold;
use crm_domain::FieldType;

use crate::error::{ColumnWarning, IoError};
use crate::table::Table;

/// The prefixes that name a custom field in a header, English and Chinese.
pub(crate) const CUSTOM_PREFIXES: [&str; 2] = ["custom.", "自定义."];

/// One entity whose fields a table may hold.
pub(crate) struct Part<'a> {
    /// The entity's description.
    pub desc: &'a EntityDesc,
    /// The prefix that names this part's fields unambiguously (`contact`), if any.
    pub prefix: Option<&'static str>,
    /// Fields the system sets, which an import recognises and ignores.
    pub system: &'a [&'a str],
    /// Fields that hold ids of other records, which an import recognises and ignores: ids
    /// of the store a file was exported from mean nothing (or another record) in the store
    /// it is imported into.
    pub not_portable: &'a [&'a str],
}

impl Part<'_> {
    /// The field name as reported in errors: `prefix.name` or `name`.
    pub fn qualified(&self, field: &FieldDesc) -> String {
        match self.prefix {
            Some(prefix) => format!("{prefix}.{}", field.name),
            None => field.name.clone(),
        }
    }
}

/// Where a column's values go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A declared field: the index of the part and of the field in its description.
    Field { part: usize, field: usize },
    /// A custom field of the first part, by name as written.
    Custom(String),
}

/// The columns of a table matched to fields.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    /// (column index, target) for every column an import reads, in column order.
    pub columns: Vec<(usize, Target)>,
    /// Columns that are ignored, and why.
    pub warnings: Vec<ColumnWarning>,
    /// More headers matched a Chinese label than an English one; messages about columns the
    /// file lacks then name them in Chinese.
    pub chinese: bool,
}

impl Mapping {
    /// The column that holds field `field` of part `part`, if the file has one.
    pub fn column_of(&self, part: usize, field: usize) -> Option<usize> {
        self.columns.iter().find_map(|(column, target)| {
            (*target == Target::Field { part, field }).then_some(*column)
        })
    }

    /// The label to name a field by when the file has no column for it.
    pub fn label<'a>(&self, label: &'a Label) -> &'a str {
        if self.chinese {
            &label.zh
        } else {
            &label.en
        }
    }
}

/// Matches the headers of `table` against `parts`. Columns that match nothing, system fields
/// and fields of types no spreadsheet holds become warnings; two columns for one field are an
/// error naming both.
pub(crate) fn map_columns(
    table: &Table,
    parts: &[Part<'_>],
    custom: bool,
) -> Result<Mapping, IoError> {
    let mut mapping = Mapping { columns: Vec::new(), warnings: Vec::new(), chinese: false };
    let (mut english, mut chinese) = (0usize, 0usize);

    for (column, header) in table.headers.iter().enumerate() {
        let trimmed = header.trim();
        if trimmed.is_empty() {
            if table.rows.iter().any(|row| !row.cell(column).is_blank()) {
                mapping.warnings.push(ColumnWarning {
                    column: format!("#{}", column + 1),
                    reason: "the column has no header; it is ignored".to_owned(),
                });
            }
            continue;
        }
        let folded = fold(trimmed);

        if let Some(name) = custom_name(trimmed) {
            if custom && !name.is_empty() {
                let target = Target::Custom(name.to_owned());
                claim(&mut mapping, table, column, target, || format!("custom.{name}"))?;
            } else {
                mapping.warnings.push(ColumnWarning {
                    column: header.clone(),
                    reason: if custom {
                        "a custom field needs a name after the prefix; the column is ignored"
                    } else {
                        "this import has no custom fields; the column is ignored"
                    }
                    .to_owned(),
                });
            }
            continue;
        }

        let Some((part, field, by_label)) = find_field(parts, &folded) else {
            mapping.warnings.push(ColumnWarning {
                column: header.clone(),
                reason: "no field has this name; the column is ignored".to_owned(),
            });
            continue;
        };
        match by_label {
            Some(Lang::En) => english += 1,
            Some(Lang::Zh) => chinese += 1,
            None => {}
        }
        let desc = &parts[part].desc.fields[field];
        if parts[part].system.contains(&desc.name.as_str()) {
            mapping.warnings.push(ColumnWarning {
                column: header.clone(),
                reason: format!("{} is set by the system; the column is ignored", desc.name),
            });
            continue;
        }
        if parts[part].not_portable.contains(&desc.name.as_str()) {
            mapping.warnings.push(ColumnWarning {
                column: header.clone(),
                reason: format!(
                    "{name} holds record ids of another store, which are not portable; set the \
                     {name} after import; the column is ignored",
                    name = desc.name
                ),
            });
            continue;
        }
        if matches!(desc.ty, FieldType::Bytes | FieldType::Json) {
            mapping.warnings.push(ColumnWarning {
                column: header.clone(),
                reason: format!("{} cannot be imported from a spreadsheet", desc.name),
            });
            continue;
        }
        let name = parts[part].qualified(desc);
        claim(&mut mapping, table, column, Target::Field { part, field }, || name)?;
    }

    mapping.chinese = chinese > english;
    Ok(mapping)
}

/// Which label matched.
enum Lang {
    En,
    Zh,
}

/// The first field of the first part that `folded` names: by field name, qualified name or
/// either label.
fn find_field(parts: &[Part<'_>], folded: &str) -> Option<(usize, usize, Option<Lang>)> {
    for (part_index, part) in parts.iter().enumerate() {
        for (field_index, field) in part.desc.fields.iter().enumerate() {
            // Labels first, so that "Name" counts as English even though it is also a name.
            if folded == fold(field.label.en.trim()) {
                return Some((part_index, field_index, Some(Lang::En)));
            }
            if folded == fold(field.label.zh.trim()) {
                return Some((part_index, field_index, Some(Lang::Zh)));
            }
            let by_name = folded == field.name
                || part.prefix.is_some_and(|prefix| {
                    folded.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('.'))
                        == Some(field.name.as_str())
                });
            if by_name {
                return Some((part_index, field_index, None));
            }
        }
    }
    None
}

/// The header, as the file writes it, of the column an import reads `field` of `desc` from:
/// for messages about a field's values found after the rows were read (a number already
/// taken, a setting that does not exist), which should name the column as the user does.
pub fn header_of<'t>(table: &'t Table, desc: &EntityDesc, field: &str) -> Option<&'t str> {
    let index = desc.fields.iter().position(|f| f.name == field)?;
    let parts = [Part { desc, prefix: None, system: &[], not_portable: &[] }];
    table.headers.iter().map(String::as_str).find(|header| {
        let trimmed = header.trim();
        !trimmed.is_empty()
            && find_field(&parts, &fold(trimmed)).is_some_and(|(_, found, _)| found == index)
    })
}

/// The custom field name in a `custom.<name>` or `自定义.<name>` header, trimmed; the prefix
/// is matched without regard to case.
fn custom_name(header: &str) -> Option<&str> {
    CUSTOM_PREFIXES.iter().find_map(|prefix| {
        let head = header.get(..prefix.len())?;
        (fold(head) == *prefix).then(|| header[prefix.len()..].trim())
    })
}

/// Records that `column` feeds `target`, refusing a second column for the same target.
fn claim(
    mapping: &mut Mapping,
    table: &Table,
    column: usize,
    target: Target,
    field: impl FnOnce() -> String,
) -> Result<(), IoError> {
    if let Some((first, _)) = mapping.columns.iter().find(|(_, taken)| *taken == target) {
        return Err(IoError::DuplicateColumn {
            field: field(),
            first: table.headers[*first].trim().to_owned(),
            second: table.headers[column].trim().to_owned(),
        });
    }
    mapping.columns.push((column, target));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::Cell;
    use crate::table::Row;
    use crm_domain::model::{Contact, Customer};
    use crm_domain::Entity;

    fn table(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            header_row: 1,
            rows: vec![Row { number: 2, cells: vec![Cell::Text("x".into()); headers.len()] }],
        }
    }

    fn parts() -> [Part<'static>; 2] {
        [
            Part {
                desc: Customer::desc(),
                prefix: None,
                system: &["search", "created_at"],
                not_portable: &["owner", "parent"],
            },
            Part {
                desc: Contact::desc(),
                prefix: Some("contact"),
                system: &["customer"],
                not_portable: &[],
            },
        ]
    }

    fn targets(mapping: &Mapping) -> Vec<String> {
        let parts = parts();
        mapping
            .columns
            .iter()
            .map(|(_, target)| match target {
                Target::Field { part, field } => {
                    parts[*part].qualified(&parts[*part].desc.fields[*field])
                }
                Target::Custom(name) => format!("custom:{name}"),
            })
            .collect()
    }

    #[test]
    fn headers_match_names_and_labels_in_any_case() {
        let t = table(&[" NAME ", "客户编号", "contact.NAME", "Contact Phone", "生日", "phone"]);
        let mapping = map_columns(&t, &parts(), true).unwrap();
        assert_eq!(
            targets(&mapping),
            ["name", "code", "contact.name", "contact.phone", "contact.birthday", "phone"]
        );
        assert!(mapping.warnings.is_empty());
    }

    #[test]
    fn chinese_files_are_detected() {
        let mapping = map_columns(&table(&["客户名称", "联系人", "Code"]), &parts(), true).unwrap();
        assert!(mapping.chinese);
        let mapping = map_columns(&table(&["Name", "联系人", "Code"]), &parts(), true).unwrap();
        assert!(!mapping.chinese);
    }

    #[test]
    fn unknown_system_and_empty_headers_warn() {
        let t = table(&["Name", "Shoe size", "created_at", "", "Customer", "上级客户"]);
        let mapping = map_columns(&t, &parts(), true).unwrap();
        assert_eq!(targets(&mapping), ["name"]);
        let warned: Vec<&str> = mapping.warnings.iter().map(|w| w.column.as_str()).collect();
        assert_eq!(warned, ["Shoe size", "created_at", "#4", "Customer", "上级客户"]);
        assert_eq!(
            mapping.warnings[4].reason,
            "parent holds record ids of another store, which are not portable; set the parent \
             after import; the column is ignored"
        );
        assert_eq!(
            mapping.warnings[0].to_string(),
            "column \"Shoe size\": no field has this name; the column is ignored"
        );
    }

    #[test]
    fn custom_headers_in_both_languages() {
        let t = table(&["Name", "Custom.Shoe Size", "自定义.鞋码", "custom."]);
        let mapping = map_columns(&t, &parts(), true).unwrap();
        assert_eq!(targets(&mapping), ["name", "custom:Shoe Size", "custom:鞋码"]);
        assert_eq!(mapping.warnings.len(), 1);

        let mapping = map_columns(&t, &parts(), false).unwrap();
        assert_eq!(targets(&mapping), ["name"]);
        assert_eq!(mapping.warnings.len(), 3);
    }

    #[test]
    fn two_columns_for_one_field_name_both() {
        let error = map_columns(&table(&["Name", "Phone", "客户名称 "]), &parts(), true);
        assert_eq!(
            error.unwrap_err(),
            IoError::DuplicateColumn {
                field: "name".into(),
                first: "Name".into(),
                second: "客户名称".into()
            }
        );
        let error = map_columns(&table(&["custom.a", "CUSTOM.a"]), &parts(), true).unwrap_err();
        assert_eq!(
            error.to_string(),
            "columns \"custom.a\" and \"CUSTOM.a\" both map to field custom.a"
        );
    }

    #[test]
    fn a_field_s_header_is_named_as_the_file_writes_it() {
        let file = table(&["  客户编号 ", "NAME", "Ｃａｔｅｇｏｒｙ", "contact.email"]);
        let desc = Customer::desc();
        assert_eq!(header_of(&file, desc, "code"), Some("  客户编号 "));
        assert_eq!(header_of(&file, desc, "name"), Some("NAME"));
        assert_eq!(header_of(&file, desc, "category"), Some("Ｃａｔｅｇｏｒｙ"));
        assert_eq!(header_of(&file, desc, "source"), None);
        assert_eq!(header_of(&file, desc, "email"), None, "a contact column is not the customer's");
        assert_eq!(header_of(&file, desc, "no_such_field"), None);
    }
}
