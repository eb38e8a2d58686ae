//! `crm`: the command-line shell over the CRM engine.
//!
//! Every command opens the store named by `--store`, acts in `--tenant` as `--user` (the
//! tenant's administrator `admin` by default, created on first use) and prints plain text.
//! Errors go to stderr with a non-zero exit status.

mod forms;
mod sales;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use crm::workflow::Decision as WorkflowDecision;
use crm::{
    Crm, CustomerSearch, CustomerSort, Format, Lang, LeadSearch, NewAttachment, Principal,
    RecordId, RequestForm, SettingList, TenantId,
};

/// Imports and bulk changes build many small records; mimalloc keeps that fast where the
/// system allocator slows down as its free lists fragment.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Approval workflow definitions (工作流).
    Workflow {
        #[command(subcommand)]
        command: WorkflowCommand,
    },
    /// The acting user's open approval tasks (待办事宜).
    Todo {
        /// Show the tasks already decided instead.
        #[arg(long)]
        done: bool,
    },
    /// Approve your task in an approval request.
    Approve(Decision),
    /// Reject an approval request back to its submitter.
    Reject(Decision),
    /// Send an approval request back to an earlier approval node.
    Return {
        #[command(flatten)]
        decision: Decision,
        /// The earlier node to return to.
        #[arg(long)]
        to: String,
    },
    /// Show one approval request with its tasks and attached files.
    Instance {
        /// The workflow instance id.
        instance: RecordId,
        /// Also print the event log, replaying it one event at a time: the status and open
        /// tasks after each event, ending with the state every action derives.
        #[arg(long)]
        log: bool,
    },
    /// Attach a file (at most 20 MiB) to an approval request you take part in.
    Attach {
        /// The workflow instance id.
        instance: RecordId,
        /// The file to attach; it keeps its name.
        file: PathBuf,
    },
    /// Save a file attached to an approval request.
    Attachment {
        /// The workflow instance id.
        instance: RecordId,
        /// The attachment id, as `crm instance` lists it.
        attachment: RecordId,
        /// Where to write the file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Take back your request before any approver decided on it.
    Withdraw {
        /// The workflow instance id.
        instance: RecordId,
    },
    /// Hand a task to another active user (the task's assignee, or an administrator).
    Reassign {
        /// The workflow instance id.
        instance: RecordId,
        /// The user to hand the task to, by login or id.
        #[arg(value_name = "USER")]
        to: String,
        /// The task number; by default your one open task in the instance.
        #[arg(long)]
        task: Option<u32>,
        /// Why, for the new assignee and the history.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Customer assignment (资源分配).
    Assign {
        #[command(subcommand)]
        command: AssignCommand,
    },
    /// Expense, reimbursement and loan requests (费用 / 报销 / 借款申请).
    Requests {
        #[command(subcommand)]
        command: RequestCommand,
    },
    /// Quotes (报价单) that go through the flow bound to `quote`.
    Quotes {
        #[command(subcommand)]
        command: sales::QuoteCommand,
    },
    /// Contracts (合同) that go through the flow bound to `contract`.
    Contracts {
        #[command(subcommand)]
        command: sales::ContractCommand,
    },
    /// User-defined forms (自定义表单): define them from TOML files, list, show, retire.
    Forms {
        #[command(subcommand)]
        command: forms::FormCommand,
    },
    /// Entries of user-defined forms, submitted through the flow bound to their form.
    Entries {
        #[command(subcommand)]
        command: forms::EntryCommand,
    },
    /// Users of the organisation.
    Users {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Organisation units.
    Units {
        #[command(subcommand)]
        command: UnitCommand,
    },
    /// Positions (职位).
    Positions {
        #[command(subcommand)]
        command: PositionCommand,
    },
}

/// The arguments every decision on a task takes.
#[derive(Debug, clap::Args)]
struct Decision {
    /// The workflow instance id.
    instance: RecordId,
    /// The task number; by default your one open task in the instance.
    #[arg(long)]
    task: Option<u32>,
    /// A comment for the submitter and the later approvers.
    #[arg(long, default_value = "")]
    comment: String,
    /// A file (at most 20 MiB) to attach together with the decision: both are stored or
    /// neither is.
    #[arg(long)]
    file: Option<PathBuf>,
    /// On approving, change a field of the request your step may edit, as FIELD=VALUE
    /// (e.g. `--set amount=4500`); repeat for several fields.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum WorkflowCommand {
    /// Store a definition (TOML or JSON) as the next version of its name. Administrators only.
    Define {
        /// The definition file.
        file: PathBuf,
    },
    /// List every stored definition version.
    List,
    /// Draw a definition as SVG and print the file's path.
    Show {
        /// The definition's name.
        name: String,
        /// The version; the latest by default.
        #[arg(long)]
        version: Option<u32>,
        /// Where to write the SVG; `NAME.svg` by default.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AssignCommand {
    /// Ask to be assigned a customer (from the pool); a manager approves.
    Request {
        /// The customer id.
        customer: RecordId,
        /// Why you ask.
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum RequestCommand {
    /// Write a new request as a draft.
    New {
        /// expense, reimbursement or loan.
        #[arg(long)]
        form: String,
        /// A one-line subject.
        #[arg(long)]
        title: String,
        /// The amount, e.g. 1280.50.
        #[arg(long)]
        amount: String,
        /// ISO currency code; CNY by default.
        #[arg(long)]
        currency: Option<String>,
        /// The kind of cost (travel, hospitality, …).
        #[arg(long, default_value = "")]
        category: String,
        /// What the money is for.
        #[arg(long, default_value = "")]
        purpose: String,
        /// When the cost arises or arose (YYYY-MM-DD).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// When a loan is repaid (YYYY-MM-DD); loans only.
        #[arg(long)]
        repay_by: Option<chrono::NaiveDate>,
        /// The customer the cost is for.
        #[arg(long)]
        customer: Option<RecordId>,
    },
    /// List your requests (an administrator: everyone's), newest first.
    List {
        /// Only this form: expense, reimbursement or loan.
        #[arg(long)]
        form: Option<String>,
    },
    /// Show one request.
    Show {
        /// The request id.
        id: RecordId,
    },
    /// Submit your draft (or rejected / withdrawn request) for approval.
    Submit {
        /// The request id.
        id: RecordId,
        /// Make the request for this one of your units instead of your home unit (its
        /// manager and positions decide).
        #[arg(long)]
        unit: Option<RecordId>,
    },
    /// Delete your draft that was never submitted.
    Delete {
        /// The request id.
        id: RecordId,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// List users.
    List,
    /// Add a user. Administrators only.
    Add {
        /// Sign-in name.
        login: String,
        /// Display name.
        name: String,
        /// Home unit id; the root unit by default.
        #[arg(long)]
        unit: Option<RecordId>,
        /// `user` or `admin`.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// Place a user in a unit, optionally in a position.
    Place {
        /// User login or id.
        #[arg(value_name = "USER")]
        member: String,
        /// Unit id.
        unit: RecordId,
        /// Position code.
        #[arg(long, default_value = "")]
        position: String,
    },
    /// Set a user's password for signing in to the web shell: taken from the environment
    /// variable CRM_PASSWORD, or else read as one line from standard input. Administrators,
    /// or the user themself.
    Password {
        /// User login or id.
        #[arg(value_name = "USER")]
        member: String,
    },
    /// Mark a user as departed (inactive) or back.
    SetActive {
        /// User login or id.
        #[arg(value_name = "USER")]
        member: String,
        /// `true` or `false`.
        #[arg(action = clap::ArgAction::Set)]
        active: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UnitCommand {
    /// List units.
    List,
    /// Add a unit under a parent.
    Add {
        /// Name.
        name: String,
        /// Parent unit id.
        #[arg(long)]
        parent: RecordId,
        /// group, company, branch, department or workgroup.
        #[arg(long, default_value = "department")]
        kind: String,
    },
    /// Set a unit's manager.
    SetManager {
        /// Unit id.
        unit: RecordId,
        /// User login or id.
        #[arg(value_name = "USER")]
        member: String,
    },
}

#[derive(Debug, Subcommand)]
enum PositionCommand {
    /// List positions.
    List,
    /// Add a position.
    Add {
        /// Stable code flows refer to.
        code: String,
        /// Display name.
        name: String,
    },
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
        #[arg(long, default_value = "name", allow_hyphen_values = true)]
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
        #[arg(long, default_value = "name", allow_hyphen_values = true)]
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

/// What is logged without `CRM_LOG`. PostgreSQL's notices are left out: the one a user would
/// see, after a commit the server refused, says a rollback found no transaction.
const DEFAULT_LOG: &str = "warn,sqlx::postgres::notice=error";

fn main() {
    crm::process::use_small_pages();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CRM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    if let Err(error) = run(cli, &mut out) {
        let _ = out.flush();
        // Written without `eprintln!`, which panics when stderr is a closed pipe
        // (`crm … 2>&1 | head -1`); the exit code still says it failed.
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {error:#}");
        if let Some(crm::Error::Import(rows)) = error.downcast_ref::<crm::Error>() {
            for row in rows {
                if writeln!(err, "  {row}").is_err() {
                    break;
                }
            }
        }
        std::process::exit(1);
    }
}

fn run(cli: Cli, out: &mut impl Write) -> anyhow::Result<()> {
    let crm = Crm::open_location(&cli.store)
        .with_context(|| format!("cannot open {}", crm::redact_location(&cli.store)))?;
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
            if report.customers == 0 {
                writeln!(out, "the tenant already has customers; demo data not loaded again")?;
                return Ok(());
            }
            writeln!(
                out,
                "demo data: {} customers, {} contacts, {} leads loaded",
                report.customers, report.contacts, report.leads
            )?;
            Ok(())
        }
        Command::Workflow { command } => workflow(&crm, &who, command, out),
        Command::Todo { done } => todo(&crm, &who, done, out),
        Command::Approve(d) => decide(&crm, &who, d, WorkflowDecision::Approve, out),
        Command::Reject(d) => decide(&crm, &who, d, WorkflowDecision::Reject, out),
        Command::Return { decision: d, to } => {
            decide(&crm, &who, d, WorkflowDecision::ReturnTo(to), out)
        }
        Command::Instance { instance, log } => {
            show_instance(&crm, &who, instance, out)?;
            if log {
                replay_log(&crm, &who, instance, out)?;
            }
            Ok(())
        }
        Command::Attach { instance, file } => {
            let outcome = crm.workflows(&who).attach(instance, read_attachment(&file)?)?;
            if let Some(attached) = outcome.state.attachments.last() {
                writeln!(
                    out,
                    "attached {} to instance {instance} as attachment {}",
                    attached.file_name, attached.attachment
                )?;
            }
            Ok(())
        }
        Command::Attachment { instance, attachment, out: file } => {
            let found = crm.workflows(&who).attachment(instance, attachment)?;
            std::fs::write(&file, &found.bytes)
                .with_context(|| format!("cannot write {}", file.display()))?;
            writeln!(
                out,
                "saved {} ({}, {} bytes) to {}",
                found.file_name,
                found.content_type,
                found.size_bytes,
                file.display()
            )?;
            Ok(())
        }
        Command::Withdraw { instance } => {
            print_outcome(out, &crm.workflows(&who).withdraw(instance)?)
        }
        Command::Reassign { instance, to, task: number, comment } => {
            let to = user_id(&crm, &who, &to)?;
            let outcome = crm.workflows(&who).reassign(instance, task(number), to, &comment)?;
            print_outcome(out, &outcome)
        }
        Command::Assign { command: AssignCommand::Request { customer, reason } } => {
            let requested = crm.assignments(&who).request(customer, &reason)?;
            writeln!(
                out,
                "request {} for customer {customer} is {} as instance {}",
                requested.request.id,
                requested.request.status.as_str(),
                requested.instance
            )?;
            Ok(())
        }
        Command::Requests { command } => requests(&crm, &who, command, out),
        Command::Quotes { command } => sales::quotes(&crm, &who, command, out),
        Command::Contracts { command } => sales::contracts(&crm, &who, command, out),
        Command::Forms { command } => forms::forms(&crm, &who, command, out),
        Command::Entries { command } => forms::entries(&crm, &who, command, out),
        Command::Users { command } => users(&crm, &who, command, out),
        Command::Units { command } => units(&crm, &who, command, out),
        Command::Positions { command } => positions(&crm, &who, command, out),
    }
}

fn parse_form(form: &str) -> anyhow::Result<RequestForm> {
    RequestForm::parse(form)
        .with_context(|| format!("unknown form {form:?}: use expense, reimbursement or loan"))
}

/// `login (display name)` of a user, or the bare id when it cannot be read.
fn user_label(crm: &Crm, who: &Principal, id: RecordId) -> String {
    match crm.org(who).user(id) {
        Ok(user) => format!("{} ({})", user.login, user.display_name),
        Err(_) => id.to_string(),
    }
}

fn print_request(
    crm: &Crm,
    who: &Principal,
    out: &mut impl Write,
    request: &crm::FinanceRequest,
) -> anyhow::Result<()> {
    writeln!(out, "{} {} ({})", request.code, request.title, request.form.label_en())?;
    writeln!(out, "  id:        {}", request.id)?;
    writeln!(out, "  amount:    {} {}", request.amount, request.currency)?;
    writeln!(out, "  status:    {}", request.status)?;
    writeln!(out, "  applicant: {}", user_label(crm, who, request.applicant))?;
    for (label, value) in [("category", &request.category), ("purpose", &request.purpose)] {
        if !value.is_empty() {
            writeln!(out, "  {label:<10} {value}")?;
        }
    }
    if let Some(date) = request.spent_on {
        writeln!(out, "  date:      {date}")?;
    }
    if let Some(date) = request.repay_by {
        writeln!(out, "  repay by:  {date}")?;
    }
    if let Some(customer) = request.customer {
        writeln!(out, "  customer:  {customer}")?;
    }
    if let Some(instance) = request.instance {
        writeln!(out, "  approval:  instance {instance} (crm instance {instance})")?;
    }
    Ok(())
}

fn requests(
    crm: &Crm,
    who: &Principal,
    command: RequestCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let service = crm.requests(who);
    match command {
        RequestCommand::New {
            form,
            title,
            amount,
            currency,
            category,
            purpose,
            date,
            repay_by,
            customer,
        } => {
            let amount = crm::finance::parse_amount(&amount).ok_or_else(|| {
                crm::DomainError::invalid("amount", format!("{amount:?} is not a number"))
            })?;
            let draft = crm::RequestDraft {
                form: parse_form(&form)?,
                title,
                amount,
                currency: currency.unwrap_or_default(),
                category,
                purpose,
                spent_on: date,
                repay_by,
                customer,
            };
            let request = service.create(draft)?;
            writeln!(out, "request {} (id {}) written as a draft", request.code, request.id)?;
        }
        RequestCommand::List { form } => {
            let filter = crm::RequestFilter {
                form: form.as_deref().map(parse_form).transpose()?,
                limit: 500,
                ..crm::RequestFilter::default()
            };
            let page = service.list(&filter)?;
            for r in &page.items {
                writeln!(
                    out,
                    "{:>6}  {:<9} {:<14} {:>14} {:<4} {:<10} {}",
                    r.id.0,
                    r.code,
                    r.form.as_str(),
                    r.amount,
                    r.currency,
                    r.status.as_str(),
                    r.title
                )?;
            }
            writeln!(out, "{} request(s)", page.total)?;
        }
        RequestCommand::Show { id } => print_request(crm, who, out, &service.get(id)?)?,
        RequestCommand::Submit { id, unit } => {
            let request = service.get(id)?;
            let request = service.submit_for(id, request.version, unit)?;
            writeln!(
                out,
                "request {} is {} as instance {}",
                request.code,
                request.status,
                request.instance.map(|i| i.to_string()).unwrap_or_default()
            )?;
        }
        RequestCommand::Delete { id } => {
            let request = service.get(id)?;
            service.delete(id, request.version)?;
            writeln!(out, "deleted request {}", request.code)?;
        }
    }
    Ok(())
}

fn task(number: Option<u32>) -> Option<crm::workflow::TaskId> {
    number.map(crm::workflow::TaskId)
}

/// Decides a task, with the decision's file when one is given.
fn decide(
    crm: &Crm,
    who: &Principal,
    d: Decision,
    decision: WorkflowDecision,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let workflows = crm.workflows(who);
    let decision = match (decision, d.set.is_empty()) {
        (decision, true) => decision,
        (WorkflowDecision::Approve, false) => {
            let typed = forms::pairs(&d.set)?;
            WorkflowDecision::ApproveWithChanges(workflows.parse_changes_for(
                d.instance,
                task(d.task),
                &typed,
            )?)
        }
        (_, false) => anyhow::bail!("--set changes fields only when approving"),
    };
    let file = d.file.as_deref().map(read_attachment).transpose()?;
    let outcome = workflows.decide(d.instance, task(d.task), decision, &d.comment, file)?;
    print_outcome(out, &outcome)
}

/// The media type of a file to attach, from its extension.
fn content_type_of(path: &Path) -> &'static str {
    let extension =
        path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Reads a file to attach, refusing one over the attachment limit without reading it whole.
fn read_attachment(path: &Path) -> anyhow::Result<NewAttachment> {
    let bytes = read_capped(path, crm::MAX_ATTACHMENT_BYTES as u64)?;
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .with_context(|| format!("{} names no file", path.display()))?;
    Ok(NewAttachment { file_name, content_type: content_type_of(path).to_owned(), bytes })
}

fn workflow(
    crm: &Crm,
    who: &Principal,
    command: WorkflowCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let service = crm.workflows(who);
    match command {
        WorkflowCommand::Define { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let stored = service.define(&text)?;
            writeln!(
                out,
                "defined {} version {} for form {}",
                stored.name, stored.version, stored.form
            )?;
        }
        WorkflowCommand::List => {
            for stored in service.definitions()? {
                writeln!(
                    out,
                    "{:<24}  v{:<3}  {:<20}  {}",
                    stored.name, stored.version, stored.form, stored.title
                )?;
            }
        }
        WorkflowCommand::Show { name, version, out: file } => {
            let svg = service.definition_svg(&name, version)?;
            let file = file.unwrap_or_else(|| PathBuf::from(format!("{name}.svg")));
            std::fs::write(&file, svg)
                .with_context(|| format!("cannot write {}", file.display()))?;
            writeln!(out, "wrote {}", file.display())?;
        }
    }
    Ok(())
}

/// How long ago `since` was, in the largest whole unit.
fn age(since: chrono::DateTime<chrono::Utc>) -> String {
    let age = chrono::Utc::now().signed_duration_since(since);
    if age.num_days() > 0 {
        format!("{}d", age.num_days())
    } else if age.num_hours() > 0 {
        format!("{}h", age.num_hours())
    } else {
        format!("{}m", age.num_minutes().max(0))
    }
}

fn todo(crm: &Crm, who: &Principal, done: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let service = crm.workflows(who);
    let page = if done { service.done(0, 100)? } else { service.todo(0, 100)? };
    writeln!(
        out,
        "{:>8}  {:>4}  {:<16}  {:<28}  {:>5}",
        "instance", "task", "node", "record", "age"
    )?;
    for item in &page.items {
        // FIXME: each line replays its instance to name the request; to-do items should
        // carry the bound record's subject instead.
        let subject = service.subject(item.instance)?;
        let record = subject.unwrap_or_else(|| format!("{} {}", item.form, item.record));
        writeln!(
            out,
            "{:>8}  {:>4}  {:<16}  {:<28}  {:>5}",
            item.instance,
            item.task.0,
            item.node,
            record,
            age(item.since)
        )?;
    }
    let what = if done { "decided" } else { "open" };
    writeln!(out, "{} of {} {what} tasks", page.items.len(), page.total)?;
    Ok(())
}

fn print_outcome(out: &mut impl Write, outcome: &crm::workflow::Outcome) -> anyhow::Result<()> {
    writeln!(out, "instance {} is {}", outcome.instance, outcome.status)?;
    let waiting: Vec<String> = outcome
        .state
        .open_tasks()
        .map(|t| format!("task {} at {} for user {}", t.id.0, t.node, t.assignee))
        .collect();
    for line in waiting {
        writeln!(out, "  waiting: {line}")?;
    }
    Ok(())
}

fn show_instance(
    crm: &Crm,
    who: &Principal,
    id: RecordId,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let instance = crm.workflows(who).instance(id)?;
    let summary = &instance.summary;
    let form = match &summary.form {
        crm::workflow::FormBinding::Custom(form) => crm
            .forms(who)
            .get(*form)
            .map_or_else(|_| summary.form.key(), |f| format!("form {}", f.key)),
        other => other.key(),
    };
    writeln!(
        out,
        "instance {} of {} v{}: {} {} by user {}, {}",
        summary.id,
        summary.definition,
        summary.version,
        form,
        summary.record,
        summary.submitter,
        instance.state.status
    )?;
    for (name, value) in crm.workflows(who).visible_fields(id)? {
        if !value.is_null() {
            writeln!(out, "  {name}: {}", value.display())?;
        }
    }
    for task in &instance.state.tasks {
        writeln!(
            out,
            "  task {} at {} for user {}: {} {}",
            task.id.0,
            task.node,
            task.assignee,
            task.status.as_str(),
            task.comment
        )?;
    }
    for file in &instance.state.attachments {
        writeln!(
            out,
            "  attachment {} {} by user {} at {}",
            file.attachment,
            file.file_name,
            file.by,
            file.at.format("%Y-%m-%d %H:%M")
        )?;
    }
    Ok(())
}

/// Prints instance `id`'s event log, replaying it event by event from the first: after each
/// event the status and the open tasks the log gives up to there. The last line is the state
/// the engine derives for every action, so the two must agree.
fn replay_log(
    crm: &Crm,
    who: &Principal,
    id: RecordId,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use crm::workflow::EventKind as K;
    let service = crm.workflows(who);
    let instance = service.instance(id)?;
    let events = service.history(id)?;
    let users = |ids: &[RecordId]| {
        let ids: Vec<String> = ids.iter().map(|id| format!("user {id}")).collect();
        ids.join(", ")
    };
    writeln!(out, "event log ({} events), replayed one at a time:", events.len())?;
    for upto in 1..=events.len() {
        let event = &events[upto - 1];
        let state = crm::workflow::replay(&instance.definition, &events[..upto])
            .map_err(|e| anyhow::anyhow!("event {} does not replay: {e}", event.seq))?;
        let what = match &event.kind {
            K::Submitted { fields, .. } | K::Resubmitted { fields } => {
                format!("{} fields", fields.len())
            }
            K::NodeActivated { node, assignees, fallback } => {
                let fallback = if *fallback { " (fallback)" } else { "" };
                format!("{node} for {}{fallback}", users(assignees))
            }
            K::BranchTaken { gateway, to } => format!("{gateway} -> {to}"),
            K::Notified { node, recipients } => format!("{node} to {}", users(recipients)),
            K::Approved { task, comment, changes } if changes.is_empty() => {
                format!("task {} {comment}", task.0)
            }
            K::Approved { task, comment, changes } => {
                let changed: Vec<&str> = changes.keys().map(String::as_str).collect();
                format!("task {} changing {} {comment}", task.0, changed.join(", "))
            }
            K::Rejected { task, comment } => format!("task {} {comment}", task.0),
            K::Returned { task, to, comment } => format!("task {} to {to} {comment}", task.0),
            K::Withdrawn { comment } => comment.clone(),
            K::Reassigned { task, to, comment } => {
                format!("task {} to user {to} {comment}", task.0)
            }
            K::Commented { text } => text.clone(),
            K::AttachmentAdded { attachment, file_name } => format!("{file_name} ({attachment})"),
        };
        let open: Vec<String> = state.open_tasks().map(|t| t.id.0.to_string()).collect();
        writeln!(
            out,
            "  {:>3}  {}  user {:<4} {:<16} {:<40}  -> {}, open tasks [{}]",
            event.seq,
            event.at.format("%Y-%m-%d %H:%M:%S"),
            event.actor,
            event.kind.name(),
            what.trim(),
            state.status,
            open.join(", ")
        )?;
    }
    let replayed = crm::workflow::replay(&instance.definition, &events)
        .map_err(|e| anyhow::anyhow!("the log does not replay: {e}"))?;
    let agrees = if replayed == instance.state { "agrees" } else { "DISAGREES" };
    writeln!(out, "replayed state {agrees} with the instance: {}", replayed.status)?;
    Ok(())
}

/// A user named by id or login.
fn user_id(crm: &Crm, who: &Principal, user: &str) -> anyhow::Result<RecordId> {
    if let Ok(id) = user.parse::<RecordId>() {
        return Ok(id);
    }
    Ok(crm.org(who).user_by_login(user)?.with_context(|| format!("no user {user:?}"))?.id)
}

fn users(
    crm: &Crm,
    who: &Principal,
    command: UserCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let org = crm.org(who);
    match command {
        UserCommand::List => {
            for user in org.users()? {
                let state = if user.active { "" } else { " (inactive)" };
                writeln!(
                    out,
                    "{:>6}  {:<16}  {}  unit {}{state}",
                    user.id, user.login, user.display_name, user.unit
                )?;
            }
        }
        UserCommand::Add { login, name, unit, role } => {
            let role = match role.as_str() {
                "user" => crm::Role::User,
                "admin" => crm::Role::Admin,
                other => bail!("unknown role {other:?}: use user or admin"),
            };
            let unit = match unit {
                Some(unit) => unit,
                None => root_unit(crm, who)?,
            };
            let user = org.add_user(&login, &name, unit, role)?;
            writeln!(out, "added user {} {} in unit {}", user.id, user.login, user.unit)?;
        }
        UserCommand::Place { member, unit, position } => {
            let user = user_id(crm, who, &member)?;
            org.add_membership(user, unit, &position)?;
            writeln!(out, "placed user {user} in unit {unit} {position}")?;
        }
        UserCommand::Password { member } => {
            let user = user_id(crm, who, &member)?;
            let password = match std::env::var("CRM_PASSWORD") {
                Ok(password) => password,
                Err(std::env::VarError::NotUnicode(_)) => {
                    anyhow::bail!("CRM_PASSWORD is not UTF-8 text")
                }
                Err(std::env::VarError::NotPresent) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("cannot read the password")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            org.set_password(user, &password)?;
            writeln!(out, "password set for user {user}")?;
        }
        UserCommand::SetActive { member, active } => {
            let user = org.set_active(user_id(crm, who, &member)?, active)?;
            writeln!(out, "user {} active: {}", user.login, user.active)?;
        }
    }
    Ok(())
}

fn root_unit(crm: &Crm, who: &Principal) -> anyhow::Result<RecordId> {
    let units = crm.org(who).units()?;
    units.iter().find(|u| u.parent.is_none()).map(|u| u.id).context("the tenant has no root unit")
}

fn units(
    crm: &Crm,
    who: &Principal,
    command: UnitCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let org = crm.org(who);
    match command {
        UnitCommand::List => {
            for unit in org.units()? {
                let parent = unit.parent.map(|p| format!("under {p}")).unwrap_or_default();
                let manager = unit.manager.map(|m| format!("manager {m}")).unwrap_or_default();
                writeln!(
                    out,
                    "{:>6}  {}  [{}] {parent} {manager}",
                    unit.id,
                    unit.name,
                    unit.kind.as_str()
                )?;
            }
        }
        UnitCommand::Add { name, parent, kind } => {
            let kind = match kind.as_str() {
                "group" => crm::UnitKind::Group,
                "company" => crm::UnitKind::Company,
                "branch" => crm::UnitKind::Branch,
                "department" => crm::UnitKind::Department,
                "workgroup" => crm::UnitKind::Workgroup,
                other => bail!(
                    "unknown unit kind {other:?}: \
                     use group, company, branch, department or workgroup"
                ),
            };
            let unit = org.add_unit(&name, kind, parent)?;
            writeln!(out, "added unit {} {} under {parent}", unit.id, unit.name)?;
        }
        UnitCommand::SetManager { unit, member } => {
            let user = user_id(crm, who, &member)?;
            let unit = org.set_manager(unit, Some(user))?;
            writeln!(out, "unit {} {} is managed by user {user}", unit.id, unit.name)?;
        }
    }
    Ok(())
}

fn positions(
    crm: &Crm,
    who: &Principal,
    command: PositionCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let org = crm.org(who);
    match command {
        PositionCommand::List => {
            for position in org.positions()? {
                writeln!(out, "{:>6}  {:<16}  {}", position.id, position.code, position.name)?;
            }
        }
        PositionCommand::Add { code, name } => {
            let position = org.add_position(&code, &name)?;
            writeln!(out, "added position {} {}", position.code, position.name)?;
        }
    }
    Ok(())
}

/// The largest spreadsheet the shell reads, in bytes.
const MAX_IMPORT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a file, refusing one larger than `max` bytes without reading past the limit.
fn read_capped(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{} is larger than {} MiB", path.display(), max / 1024 / 1024);
    }
    Ok(bytes)
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
    let format = format_of(&file)?;
    let bytes = read_capped(&file, MAX_IMPORT_BYTES)?;
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
            if let Some(owner) = customer.owner {
                writeln!(out, "  owner: {}", user_label(crm, who, owner))?;
            }
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
                let details: Vec<&str> =
                    [&contact.title, &contact.mobile, &contact.phone, &contact.email]
                        .into_iter()
                        .map(String::as_str)
                        .filter(|text| !text.is_empty())
                        .collect();
                writeln!(out, "  contact: {} {}", contact.name, details.join(" "))?;
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
                let line = format!(
                    "  history: {} {:?} by {} {}",
                    entry.at.format("%Y-%m-%d %H:%M"),
                    entry.action,
                    user_label(crm, who, entry.actor),
                    fields.join("; ")
                );
                writeln!(out, "{}", line.trim_end())?;
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
