//! `crm forms …` and `crm entries …`: user-defined forms (自定义表单) an administrator
//! describes in a TOML file, and the entries people fill in and submit for approval through
//! the flow bound to `form = { custom = ID }`.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;
use crm::{Crm, EntryDraft, EntryFilter, FormDef, FormDraft, Principal, RecordId};

/// Subcommands of `crm forms`.
#[derive(Debug, Subcommand)]
pub(crate) enum FormCommand {
    /// Define a form from a TOML file, or change the form with the file's key.
    Define {
        /// The TOML file: `key`, `name_zh`, `name_en` and `[[fields]]` tables with `name`,
        /// `label_zh`, `label_en`, `kind`, `required` and `choices`.
        file: std::path::PathBuf,
    },
    /// List the forms (with --all, retired ones too).
    List {
        /// Retired forms as well.
        #[arg(long)]
        all: bool,
    },
    /// Show a form's fields.
    Show {
        /// The form's key or id.
        form: String,
    },
    /// Retire a form: it takes no new entries; its entries stay.
    Retire {
        /// The form's key or id.
        form: String,
        /// Bring a retired form back instead.
        #[arg(long)]
        undo: bool,
    },
}

/// Subcommands of `crm entries`.
#[derive(Debug, Subcommand)]
pub(crate) enum EntryCommand {
    /// Fill in a new entry of a form as a draft.
    New {
        /// The form's key or id.
        form: String,
        /// A one-line subject.
        #[arg(long)]
        title: String,
        /// A value as FIELD=VALUE (e.g. --set days=2.5 --set kind=年假); repeat for more.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        values: Vec<String>,
    },
    /// Change your draft (or rejected / withdrawn entry): a new title or values.
    Edit {
        /// The entry id.
        id: RecordId,
        /// A new one-line subject.
        #[arg(long)]
        title: Option<String>,
        /// A value as FIELD=VALUE; an empty VALUE clears the field.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        values: Vec<String>,
    },
    /// List your entries (an administrator: everyone's), newest first.
    List {
        /// Only entries of this form (key or id).
        #[arg(long)]
        form: Option<String>,
        /// Only this status: draft, pending, approved, rejected or withdrawn.
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one entry with its values.
    Show {
        /// The entry id.
        id: RecordId,
    },
    /// Submit your draft (or rejected / withdrawn entry) for approval.
    Submit {
        /// The entry id.
        id: RecordId,
        /// Make it for this one of your units instead of your home unit.
        #[arg(long)]
        unit: Option<RecordId>,
    },
    /// Delete your draft that was never submitted.
    Delete {
        /// The entry id.
        id: RecordId,
    },
}

/// Runs `crm forms …`.
pub(crate) fn forms(
    crm: &Crm,
    who: &Principal,
    command: FormCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let service = crm.forms(who);
    match command {
        FormCommand::Define { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let draft = FormDraft::from_toml(&text)
                .with_context(|| format!("{} is not a form definition", file.display()))?;
            let existing = service.list(true)?.into_iter().find(|f| f.key == draft.key.trim());
            let form = match existing {
                Some(old) => service.update(old.id, old.version, draft)?,
                None => service.define(draft)?,
            };
            writeln!(
                out,
                "form {} (id {}) version {} with {} field(s); bind a workflow with form = {{ custom = {:?} }}",
                form.key,
                form.id,
                form.version,
                form.fields.len(),
                form.key
            )?;
            if form.retired {
                writeln!(
                    out,
                    "form {} is retired: it takes no new entries (forms retire {} --undo)",
                    form.key, form.key
                )?;
            }
        }
        FormCommand::List { all } => {
            let forms = service.list(all)?;
            for form in &forms {
                let retired = if form.retired { "  (retired)" } else { "" };
                writeln!(
                    out,
                    "{:>6}  {:<16} {:>3} field(s)  {}{retired}",
                    form.id.0,
                    form.key,
                    form.fields.len(),
                    form.name(true)
                )?;
            }
            writeln!(out, "{} form(s)", forms.len())?;
        }
        FormCommand::Show { form } => print_form(out, &service.by_key(&form)?)?,
        FormCommand::Retire { form, undo } => {
            let found = service.by_key(&form)?;
            let form = service.retire(found.id, found.version, !undo)?;
            let state = if form.retired { "retired" } else { "in use again" };
            writeln!(out, "form {} is {state}", form.key)?;
        }
    }
    Ok(())
}

fn print_form(out: &mut impl Write, form: &FormDef) -> anyhow::Result<()> {
    writeln!(out, "{} {} / {} (form)", form.key, form.name(true), form.name(false))?;
    writeln!(out, "  id:       {}", form.id)?;
    writeln!(out, "  version:  {}", form.version)?;
    if form.retired {
        writeln!(out, "  retired:  yes")?;
    }
    for field in &form.fields {
        let required = if field.required { " required" } else { "" };
        let choices = if field.choices.is_empty() {
            String::new()
        } else {
            format!(" [{}]", field.choices.join(" | "))
        };
        writeln!(
            out,
            "  {:<16} {:<9} {} / {}{required}{choices}",
            field.name,
            field.kind.as_str(),
            field.label(true),
            field.label(false)
        )?;
    }
    Ok(())
}

/// Splits `FIELD=VALUE` arguments.
pub(crate) fn pairs(items: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| {
            let (name, value) =
                item.split_once('=').filter(|(name, _)| !name.trim().is_empty()).with_context(
                    || format!("--set {item:?}: write FIELD=VALUE, e.g. --set amount=4500"),
                )?;
            Ok((name.trim().to_owned(), value.to_owned()))
        })
        .collect()
}

/// Runs `crm entries …`.
pub(crate) fn entries(
    crm: &Crm,
    who: &Principal,
    command: EntryCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let service = crm.form_entries(who);
    let forms = crm.forms(who);
    match command {
        EntryCommand::New { form, title, values } => {
            let form = forms.by_key(&form)?;
            let values = service.parse_values(&form, &pairs(&values)?)?;
            let entry = service.create(form.id, EntryDraft { title, values })?;
            writeln!(out, "{} {} (id {}) written as a draft", form.key, entry.code, entry.id)?;
        }
        EntryCommand::Edit { id, title, values } => {
            let old = service.get(id)?;
            let form = forms.get(old.form)?;
            let mut draft = EntryDraft {
                title: title.unwrap_or(old.title.clone()),
                values: old.values.clone(),
            };
            draft.values.extend(service.parse_values(&form, &pairs(&values)?)?);
            let entry = service.update(id, old.version, draft)?;
            writeln!(out, "{} {} saved (version {})", form.key, entry.code, entry.version)?;
        }
        EntryCommand::List { form, status: wanted } => {
            let form = form.map(|f| forms.by_key(&f)).transpose()?;
            let filter = EntryFilter {
                form: form.map(|f| f.id),
                status: crate::sales::status(wanted.as_deref())?,
                offset: 0,
                limit: 500,
            };
            let page = service.list(&filter)?;
            for e in &page.items {
                writeln!(
                    out,
                    "{:>6}  {:<9} form {:<5} {:<10} {}",
                    e.id.0,
                    e.code,
                    e.form.0,
                    e.status.as_str(),
                    e.title
                )?;
            }
            writeln!(out, "{} entr{}", page.total, if page.total == 1 { "y" } else { "ies" })?;
        }
        EntryCommand::Show { id } => {
            let entry = service.get(id)?;
            let form = forms.get(entry.form)?;
            writeln!(out, "{} {} ({})", entry.code, entry.title, form.name(true))?;
            writeln!(out, "  id:        {}", entry.id)?;
            writeln!(out, "  status:    {}", entry.status)?;
            writeln!(out, "  owner:     {}", crate::user_label(crm, who, entry.owner))?;
            for field in &form.fields {
                if let Some(value) = entry.values.get(&field.name) {
                    writeln!(out, "  {}: {}", field.label(true), value.display())?;
                }
            }
            if let Some(instance) = entry.instance {
                writeln!(out, "  approval:  instance {instance} (crm instance {instance})")?;
            }
        }
        EntryCommand::Submit { id, unit } => {
            let entry = service.get(id)?;
            let entry = service.submit(id, entry.version, unit)?;
            let code = format!("entry {}", entry.code);
            crate::sales::submitted(out, &code, entry.status, entry.instance)?;
        }
        EntryCommand::Delete { id } => {
            let entry = service.get(id)?;
            service.delete(id, entry.version)?;
            writeln!(out, "deleted entry {}", entry.code)?;
        }
    }
    Ok(())
}
