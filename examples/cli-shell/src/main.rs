//! `crm`: the command-line shell over the CRM engine.
//!
//! Every command opens the store named by `--store`, acts in `--tenant` as `--user` (the
//! tenant's administrator `admin` by default, created on first use) and prints plain text.
//! Errors go to stderr with a non-zero exit status.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use crm::{
    Crm, CustomerSearch, CustomerSort, Format, Lang, LeadSearch, Principal, RecordId, SettingList,
    TenantId,
};

/// Command-line shell over the embeddable CRM engine.
#[derive(Debug, Parser)]
#[command(name = "crm", version, about)]
struct Cli {
    /// Where the data lives: `sled:PATH`, `memory:` or a `postgres://` URL.
    #[arg(long, env = "CRM_STORE", default_value = "sled:./crm-data", global = true)]
    store: String,
    /// The tenant (company) to act in.
    #[arg(long, env = "CRM_TENANT", default_value = "default", global = true)]
    tenant: String,
    /// The login to act as; `admin` is created on first use.
    #[arg(long, env = "CRM_USER", default_value = "admin", global = true)]
    user: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import a spreadsheet (.xlsx or .csv).
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Export to a spreadsheet (.xlsx or .csv, by extension).
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Customers (客户).
    Customers {
        #[command(subcommand)]
        command: CustomerCommand,
    },
    /// Leads (潜在客户).
    Leads {
        #[command(subcommand)]
        command: LeadCommand,
    },
    /// Settings lists: customer sources and categories.
    Settings {
        #[command(subcommand)]
        command: SettingsCommand,
    },
    /// Load the Northwind demo data into the tenant (once).
    Demo,
}

#[derive(Debug, Subcommand)]
enum SettingsCommand {
    /// Show a list: `customer_source` or `customer_category`.
    List {
        /// The list.
        list: String,
    },
    /// Add a value to a list.
    Add {
        /// The list: `customer_source` or `customer_category`.
        list: String,
        /// Stable code records refer to.
        code: String,
        /// Display name.
        name: String,
        /// Position in pick lists.
        #[arg(long, default_value_t = 0)]
        order: i64,
    },
    /// Delete a value no customer uses.
    Delete {
        /// The value's id.
        id: RecordId,
    },
}

#[derive(Debug, Subcommand)]
enum ImportWhat {
    /// Customers with contacts.
    Customers {
        /// The file to read.
        file: PathBuf,
        /// Check every row and report, but store nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Leads.
    Leads {
        /// The file to read.
        file: PathBuf,
        /// Check every row and report, but store nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ExportWhat {
    /// Customers with contacts.
    Customers {
        /// The file to write (.xlsx or .csv).
        file: PathBuf,
        /// Header language: `en` or `zh`.
        #[arg(long, default_value = "zh")]
        lang: String,
    },
}

#[derive(Debug, Subcommand)]
enum CustomerCommand {
    /// List customers.
    List {
        /// Sort: name, -name, newest, oldest, updated, code.
        #[arg(long, default_value = "name")]
        sort: String,
        /// Only this category code.
        #[arg(long)]
        category: Option<String>,
        /// Only this source code.
        #[arg(long)]
        source: Option<String>,
        /// Page number, from 1.
        #[arg(long, default_value_t = 1)]
        page: u64,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Fuzzy search over names, numbers, phones, emails and contacts.
    Search {
        /// The text to look for.
        text: String,
        /// Sort: name, -name, newest, oldest, updated, code.
        #[arg(long, default_value = "name")]
        sort: String,
    },
    /// Show one customer with contacts, hierarchy and history.
    Show {
        /// Customer id.
        id: RecordId,
    },
    /// Move a customer under a parent (`none` makes it a root).
    SetParent {
        /// Customer id.
        id: RecordId,
        /// Parent id or `none`.
        parent: String,
    },
}

#[derive(Debug, Subcommand)]
enum LeadCommand {
    /// List leads, newest first.
    List {
        /// Fuzzy text.
        #[arg(long)]
        text: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Convert a lead into a customer with a contact.
    Convert {
        /// Lead id.
        id: RecordId,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CRM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    if let Err(error) = run(cli, &mut out) {
        let _ = out.flush();
        eprintln!("error: {error:#}");
        if let Some(crm::Error::Import(rows)) = error.downcast_ref::<crm::Error>() {
            for row in rows {
                eprintln!("  {row}");
            }
        }
        std::process::exit(1);
    }
}

fn run(cli: Cli, out: &mut impl Write) -> anyhow::Result<()> {
    let crm =
        Crm::open_location(&cli.store).with_context(|| format!("cannot open {}", cli.store))?;
    let tenant = TenantId::new(cli.tenant.clone())?;
    let admin = crm.bootstrap_tenant(&tenant, "admin", "Administrator")?;
    let who = if cli.user == "admin" {
        admin
    } else {
        let user = crm
            .org(&admin)
            .user_by_login(&cli.user)?
            .with_context(|| format!("no user {:?} in tenant {}", cli.user, cli.tenant))?;
        crm.org(&admin)
            .principal(user.id)?
            .with_context(|| format!("user {:?} is inactive", cli.user))?
    };
    match cli.command {
        Command::Import { what } => import(&crm, &who, what, out),
        Command::Export { what: ExportWhat::Customers { file, lang } } => {
            let lang = match lang.as_str() {
                "en" => Lang::En,
                "zh" => Lang::Zh,
                other => bail!("unknown language {other:?}: use en or zh"),
            };
            let bytes = crm.imports(&who).export_customers(format_of(&file)?, lang)?;
            std::fs::write(&file, bytes)
                .with_context(|| format!("cannot write {}", file.display()))?;
            writeln!(out, "exported customers to {}", file.display())?;
            Ok(())
        }
        Command::Customers { command } => customers(&crm, &who, command, out),
        Command::Leads { command } => leads(&crm, &who, command, out),
        Command::Settings { command } => settings(&crm, &who, command, out),
        Command::Demo => {
            let report = crm.load_demo(&who)?;
            writeln!(
                out,
                "demo data: {} customers, {} contacts, {} leads loaded",
                report.customers, report.contacts, report.leads
            )?;
            Ok(())
        }
    }
}

fn format_of(path: &Path) -> anyhow::Result<Format> {
    Format::from_path(path).with_context(|| format!("{}: use a .xlsx or .csv file", path.display()))
}

fn import(
    crm: &Crm,
    who: &Principal,
    what: ImportWhat,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (file, dry_run, leads) = match what {
        ImportWhat::Customers { file, dry_run } => (file, dry_run, false),
        ImportWhat::Leads { file, dry_run } => (file, dry_run, true),
    };
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let format = format_of(&file)?;
    let imports = crm.imports(who);
    let report = if leads {
        imports.leads(&bytes, format, dry_run)?
    } else {
        imports.customers(&bytes, format, dry_run)?
    };
    for warning in &report.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    let verb = if report.dry_run { "would import" } else { "imported" };
    let what = if leads { "leads" } else { "customers" };
    writeln!(out, "{verb} {} {what} and {} contacts", report.created, report.contacts)?;
    Ok(())
}

fn parse_sort(sort: &str) -> anyhow::Result<CustomerSort> {
    CustomerSort::parse(sort).with_context(|| {
        format!("unknown sort {sort:?}: use name, -name, newest, oldest, updated or code")
    })
}

fn customers(
    crm: &Crm,
    who: &Principal,
    command: CustomerCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let service = crm.customers(who);
    match command {
        CustomerCommand::List { sort, category, source, page, limit } => {
            if page == 0 {
                bail!("pages are numbered from 1");
            }
            let search = CustomerSearch {
                category,
                source,
                sort: parse_sort(&sort)?,
                offset: (page - 1).saturating_mul(limit),
                limit,
                ..CustomerSearch::default()
            };
            print_customers(out, &service.search(&search)?)
        }
        CustomerCommand::Search { text, sort } => {
            let search = CustomerSearch { sort: parse_sort(&sort)?, ..CustomerSearch::text(&text) };
            print_customers(out, &service.search(&search)?)
        }
        CustomerCommand::Show { id } => {
            let customer = service.get(id)?;
            writeln!(out, "{} {} ({})", customer.id, customer.name, customer.code)?;
            for (label, value) in [
                ("short name", &customer.short_name),
                ("category", &customer.category),
                ("source", &customer.source),
                ("industry", &customer.industry),
                ("address", &customer.address),
                ("city", &customer.city),
                ("country", &customer.country),
                ("phone", &customer.phone),
                ("email", &customer.email),
                ("website", &customer.website),
                ("remarks", &customer.remarks),
            ] {
                if !value.is_empty() {
                    writeln!(out, "  {label}: {value}")?;
                }
            }
            writeln!(out, "  status: {}", customer.status.as_str())?;
            if let Some(parent) = customer.parent {
                writeln!(
                    out,
                    "  parent: {} {}",
                    parent,
                    service.get(parent).map(|p| p.name).unwrap_or_default()
                )?;
            }
            for child in service.children(id)? {
                writeln!(out, "  child: {} {}", child.id, child.name)?;
            }
            for contact in service.contacts(id)? {
                writeln!(
                    out,
                    "  contact: {} {} {} {}",
                    contact.name, contact.title, contact.phone, contact.email
                )?;
                for relative in service.relatives(contact.id)? {
                    writeln!(
                        out,
                        "    relative: {} ({}) {}",
                        relative.name, relative.relation, relative.phone
                    )?;
                }
            }
            for entry in service.history(id)? {
                let fields: Vec<String> = entry
                    .changes
                    .iter()
                    .map(|c| format!("{}: {:?} -> {:?}", c.field, c.old, c.new))
                    .collect();
                writeln!(
                    out,
                    "  history: {} {:?} by {} {}",
                    entry.at.format("%Y-%m-%d %H:%M"),
                    entry.action,
                    entry.actor,
                    fields.join("; ")
                )?;
            }
            Ok(())
        }
        CustomerCommand::SetParent { id, parent } => {
            let parent = if parent == "none" { None } else { Some(parent.parse::<RecordId>()?) };
            let moved = service.set_parent(id, parent)?;
            match moved.parent {
                Some(parent) => writeln!(out, "customer {} now under {}", moved.id, parent)?,
                None => writeln!(out, "customer {} is now a root", moved.id)?,
            }
            Ok(())
        }
    }
}

fn parse_list(list: &str) -> anyhow::Result<SettingList> {
    SettingList::parse(list)
        .with_context(|| format!("unknown list {list:?}: use customer_source or customer_category"))
}

fn settings(
    crm: &Crm,
    who: &Principal,
    command: SettingsCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let service = crm.settings(who);
    match command {
        SettingsCommand::List { list } => {
            for value in service.list(parse_list(&list)?)? {
                writeln!(
                    out,
                    "{:>6}  {:<16}  {}  ({})",
                    value.id, value.code, value.name, value.sort_order
                )?;
            }
        }
        SettingsCommand::Add { list, code, name, order } => {
            let value = service.add(parse_list(&list)?, &code, &name, order)?;
            writeln!(out, "added {} {} ({})", value.id, value.code, value.name)?;
        }
        SettingsCommand::Delete { id } => {
            service.delete(id)?;
            writeln!(out, "deleted {id}")?;
        }
    }
    Ok(())
}

fn print_customers(out: &mut impl Write, page: &crm::Page<crm::Customer>) -> anyhow::Result<()> {
    for customer in &page.items {
        writeln!(
            out,
            "{:>6}  {:<8}  {}  [{}] {} {}",
            customer.id,
            customer.code,
            customer.name,
            customer.category,
            customer.city,
            customer.phone
        )?;
    }
    writeln!(out, "{} of {} customers", page.items.len(), page.total)?;
    Ok(())
}

fn leads(
    crm: &Crm,
    who: &Principal,
    command: LeadCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let service = crm.leads(who);
    match command {
        LeadCommand::List { text, limit } => {
            let page = service.search(&LeadSearch { text, limit, ..LeadSearch::default() })?;
            for lead in &page.items {
                writeln!(
                    out,
                    "{:>6}  {}  {}  [{}] {}",
                    lead.id,
                    lead.name,
                    lead.company,
                    lead.status.as_str(),
                    lead.phone
                )?;
            }
            writeln!(out, "{} of {} leads", page.items.len(), page.total)?;
        }
        LeadCommand::Convert { id } => {
            let (customer, contact) = service.convert(id)?;
            writeln!(
                out,
                "lead {id} is now customer {} {} with contact {}",
                customer.id, customer.name, contact.name
            )?;
        }
    }
    Ok(())
}
