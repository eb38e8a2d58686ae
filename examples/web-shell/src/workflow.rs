//! Approval pages (审批): the to-do list, the task page of one request with its history, its
//! attached files and the decision, upload and (for administrators) reassign forms, the flow
//! definitions with their diagrams, and the customer assignment request form.
//!
//! Who may see and do what is decided by the facade (`crm.workflows`, `crm.assignments`); these
//! pages only offer the forms that fit the viewer and show the facade's refusals readably.
//! Diagrams are SVG documents served from their own URL with a policy that allows no scripts
//! and no external loads, and shown through `<img>`, never inlined into a page.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use crm::workflow::{
    Decision, Event, EventKind, FormField, Instance, InstanceState, Status, StoredDefinition, Task,
    TaskId, TaskStatus, TodoCounts, TodoItem, TodoPage,
};
use crm::{
    AssignmentRequest, Attachment, Crm, DomainError, FieldType, FormDef, FormFieldDef,
    FormFieldKind, Principal, QuoteLine, RecordId, Value,
};
use crm_workflow::access::{field_access, FieldSet};
use crm_workflow::{ActionError, FormBinding, WorkflowError};
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth::{Ctx, NoFields, Posted};
use crate::customers::user_names;
use crate::error::{parse_id, reason_text, AppError, Hint, Reply};
use crate::finance::FieldError;
use crate::html::{csrf, flash, layout, notice, pager, respond, see_other, when, Nav, Notice};
use crate::i18n::{field_label, t, Lang};

/// Open tasks per page of the to-do list.
const PAGE_SIZE: u64 = 20;

/// Decided tasks shown on the to-do page, most recent first.
const DONE_LIMIT: u64 = 20;

/// The policy of a served diagram: inline styles only, nothing loaded, nothing run.
pub const SVG_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// How long a task may stay open before the to-do page counts it as overdue.
pub(crate) fn reminder_age() -> Duration {
    Duration::days(3)
}

/// The label of an instance status.
fn status_label(lang: Lang, status: Status) -> &'static str {
    match status {
        Status::Pending => t(lang, "wf_status_pending"),
        Status::Approved => t(lang, "wf_status_approved"),
        Status::Rejected => t(lang, "wf_status_rejected"),
        Status::Withdrawn => t(lang, "wf_status_withdrawn"),
    }
}

fn status_badge(lang: Lang, status: Status) -> Markup {
    let class = format!("badge {}", status.as_str());
    html! { span class=(class) #wf-status { (status_label(lang, status)) } }
}

/// The label of a task status.
fn task_status_label(lang: Lang, status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Open | TaskStatus::Queued => t(lang, "wf_status_pending"),
        TaskStatus::Approved => t(lang, "ev_approved"),
        TaskStatus::Rejected => t(lang, "ev_rejected"),
        TaskStatus::Returned => t(lang, "return_button"),
        TaskStatus::Reassigned { .. } => t(lang, "ev_reassigned"),
        TaskStatus::Cancelled => "—",
    }
}

/// How long ago `since` was, coarsely: days and hours, or minutes under an hour.
fn age(lang: Lang, since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - since).num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match lang {
        Lang::Zh if days > 0 => format!("{days} 天 {hours} 小时"),
        Lang::Zh if hours > 0 => format!("{hours} 小时 {minutes} 分钟"),
        Lang::Zh => format!("{minutes} 分钟"),
        Lang::En if days > 0 => format!("{days} d {hours} h"),
        Lang::En if hours > 0 => format!("{hours} h {minutes} min"),
        Lang::En => format!("{minutes} min"),
    }
}

/// A user's display name, or `#id` for one the tenant no longer lists.
fn user_name(users: &HashMap<RecordId, String>, id: RecordId) -> String {
    users.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))
}

/// The customer a customer assignment instance is about, with its name when the viewer may
/// read the customer.
fn customer_of(
    crm: &Crm,
    who: &Principal,
    state: &InstanceState,
) -> crm::Result<Option<(RecordId, Option<String>)>> {
    let Some(customer) = state.fields.get("customer").and_then(Value::as_ref_id) else {
        return Ok(None);
    };
    let name = match crm.customers(who).get(customer) {
        Ok(found) => Some(found.name),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    Ok(Some((customer, name)))
}

fn customer_link(lang: Lang, customer: RecordId, name: Option<&str>) -> Markup {
    html! {
        a href={ "/customers/" (customer) } {
            @match name {
                Some(name) => (name),
                None => { (t(lang, "customers")) " #" (customer) },
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The to-do list

/// Everything the to-do page shows, loaded in one blocking call.
struct TodoView {
    open: TodoPage,
    done: TodoPage,
    counts: TodoCounts,
    /// The customer each customer assignment instance is about, by instance.
    customers: HashMap<RecordId, (RecordId, Option<String>)>,
    /// The number and title of each other request, by instance, as far as the viewer may
    /// see them.
    subjects: HashMap<RecordId, String>,
    /// The user-defined forms the lines' requests fill in, by id (for their names).
    forms: HashMap<RecordId, FormDef>,
    users: HashMap<RecordId, String>,
}

impl TodoView {
    fn load(crm: &Crm, who: &Principal, page: u64) -> crm::Result<Self> {
        let workflows = crm.workflows(who);
        let open = workflows.todo((page - 1).saturating_mul(PAGE_SIZE), PAGE_SIZE)?;
        let done = workflows.done(0, DONE_LIMIT)?;
        let counts = workflows.todo_counts(reminder_age())?;
        // FIXME: the to-do list replays one instance per line to find the customer it leads
        // to; the facade's to-do items should carry the bound record's subject instead.
        let mut customers = HashMap::new();
        let mut subjects = HashMap::new();
        for item in open.items.iter().chain(&done.items) {
            if customers.contains_key(&item.instance) || subjects.contains_key(&item.instance) {
                continue;
            }
            if item.form == FormBinding::CustomerAssignment {
                let instance = workflows.instance(item.instance)?;
                if let Some(found) = customer_of(crm, who, &instance.state)? {
                    customers.insert(item.instance, found);
                }
                continue;
            }
            if let Some(subject) = workflows.subject(item.instance)? {
                subjects.insert(item.instance, subject);
            }
        }
        let custom =
            open.items.iter().chain(&done.items).any(|item| custom_form(&item.form).is_some());
        let forms = if custom {
            crm.forms(who).list(true)?.into_iter().map(|form| (form.id, form)).collect()
        } else {
            HashMap::new()
        };
        Ok(Self { open, done, counts, customers, subjects, forms, users: user_names(crm, who)? })
    }

    /// The name of the form a line's request fills in.
    fn form_name(&self, lang: Lang, form: &FormBinding) -> String {
        match custom_form(form).and_then(|id| self.forms.get(&id)) {
            Some(found) => found.name(lang == Lang::Zh).to_owned(),
            None => form_label(lang, form),
        }
    }

    fn record(&self, lang: Lang, item: &TodoItem) -> Markup {
        match self.customers.get(&item.instance) {
            Some((customer, name)) => html! {
                (t(lang, "assignment_request")) ": "
                (customer_link(lang, *customer, name.as_deref()))
            },
            // The request itself opens for its author only; approvers read it on the task page.
            None => html! {
                (self.form_name(lang, &item.form)) ": "
                a href={ "/workflow/instances/" (item.instance) } {
                    @match self.subjects.get(&item.instance) {
                        Some(subject) => (subject),
                        None => { "#" (item.record) },
                    }
                }
            },
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct TodoParams {
    #[serde(default)]
    page: Option<u64>,
}

/// GET /todo: the signed-in person's open tasks, oldest first, and what they decided lately.
pub(crate) async fn todo(ctx: Ctx, Query(params): Query<TodoParams>) -> Reply {
    let page = params.page.unwrap_or(1).max(1);
    let view = ctx.run(move |crm, who| TodoView::load(crm, who, page)).await?;
    let lang = ctx.lang;
    let now = Utc::now();
    let body = html! {
        div.title-row {
            h1 { (t(lang, "todo")) }
            span.badge #open-count { (t(lang, "open_tasks")) ": " (view.counts.open) }
            @if view.counts.overdue > 0 {
                span.badge.rejected #overdue-count {
                    (t(lang, "overdue")) ": " (view.counts.overdue)
                }
            }
        }
        div.card #open-tasks {
            h2 { (t(lang, "open_tasks")) }
            @if view.open.items.is_empty() {
                p.muted { (t(lang, "no_open_tasks")) }
            } @else {
                table {
                    thead {
                        tr {
                            th { (t(lang, "node")) }
                            th { (t(lang, "record")) }
                            th { (t(lang, "submitter")) }
                            th { (t(lang, "age")) }
                            th {}
                        }
                    }
                    tbody {
                        @for item in &view.open.items {
                            tr {
                                td { (item.node_label) }
                                td { (view.record(lang, item)) }
                                td { (user_name(&view.users, item.submitter)) }
                                td { (age(lang, item.since, now)) }
                                td {
                                    a.btn.small.primary
                                        href={ "/workflow/instances/" (item.instance) } {
                                        (t(lang, "open"))
                                    }
                                }
                            }
                        }
                    }
                }
                (pager(lang, "/todo", &[], page, PAGE_SIZE, view.open.total))
            }
        }
        div.card #done-tasks {
            h2 { (t(lang, "done_tasks")) " (" (view.counts.done) ")" }
            @if view.done.items.is_empty() {
                p.muted { (t(lang, "no_done_tasks")) }
            } @else {
                table {
                    thead {
                        tr {
                            th { (t(lang, "node")) }
                            th { (t(lang, "record")) }
                            th { (t(lang, "submitter")) }
                            th { (t(lang, "result")) }
                            th { (t(lang, "decided_at")) }
                        }
                    }
                    tbody {
                        @for item in &view.done.items {
                            tr {
                                td {
                                    a href={ "/workflow/instances/" (item.instance) } {
                                        (item.node_label)
                                    }
                                }
                                td { (view.record(lang, item)) }
                                td { (user_name(&view.users, item.submitter)) }
                                td { (task_status_label(lang, item.status)) }
                                td { (item.closed_at.map(|at| when(&at)).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(StatusCode::OK, layout(&ctx, t(lang, "todo"), Nav::Todo, body)))
}

// ---------------------------------------------------------------------------------------
// The task page

/// The text fields of bound forms that may hold several lines; approvers edit them in a text
/// area, which keeps their line breaks (a one-line input would drop them).
const MULTILINE_FIELDS: [&str; 3] = ["purpose", "payment_terms", "remarks"];

/// The fields of bound forms that name a person (the rest of their references name records).
const USER_FIELDS: [&str; 3] = ["applicant", "owner", "requester"];

/// The bookkeeping a request carries, not shown among its fields: the status stored with the
/// request is the one it had when submitted (the page shows the instance's current one), and
/// the rest say nothing about what is asked for.
const BOOKKEEPING_FIELDS: [&str; 5] = ["status", "instance", "created_at", "updated_at", "version"];

/// The fields of an attachment, which the refusal of a file sent with a decision names.
const FILE_FIELDS: [&str; 4] = ["file", "file_name", "content_type", "size_bytes"];

/// Everything the task page shows, loaded in one blocking call.
struct InstanceView {
    instance: Instance,
    history: Vec<Event>,
    users: HashMap<RecordId, String>,
    /// The active users a task may be handed to, by display name: filled for administrators
    /// only, who are offered the reassign form.
    active_users: Vec<(RecordId, String)>,
    customer: Option<(RecordId, Option<String>)>,
    /// The fields of the request the viewer may see.
    visible: FieldSet,
    /// The fields the viewer may change on approving (empty without an open task).
    editable: Vec<FormField>,
    /// The user-defined form the request fills in, for its fields' labels and kinds.
    custom_form: Option<FormDef>,
    /// The names of the bound form's fields in the form's order (a user-defined form's: the
    /// entry's own fields first); empty when the form is no longer there.
    order: Vec<String>,
}

impl InstanceView {
    fn load(crm: &Crm, who: &Principal, id: RecordId) -> crm::Result<Self> {
        let workflows = crm.workflows(who);
        let instance = workflows.instance(id)?;
        let history = workflows.history(id)?;
        let customer = if instance.summary.form == FormBinding::CustomerAssignment {
            customer_of(crm, who, &instance.state)?
        } else {
            None
        };
        let visible = if who.is_admin() {
            FieldSet::All
        } else {
            field_access(&instance.definition, &instance.state, who.user).visible
        };
        let active_users = if who.is_admin() {
            let mut active: Vec<(RecordId, String)> = crm
                .org(who)
                .users()?
                .into_iter()
                .filter(|u| u.active)
                .map(|u| (u.id, format!("{} ({})", u.display_name, u.login)))
                .collect();
            active.sort_by(|a, b| a.1.cmp(&b.1));
            active
        } else {
            Vec::new()
        };
        let editable = if instance.state.open_tasks_of(who.user).next().is_some() {
            workflows.editable_fields(id)?
        } else {
            Vec::new()
        };
        let custom_form = match custom_form(&instance.summary.form) {
            Some(form) => match crm.forms(who).get(form) {
                Ok(found) => Some(found),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let order = match crm::workflow::form_fields(crm, &who.tenant, &instance.summary.form) {
            Ok(fields) => fields.into_iter().map(|f| f.name).collect(),
            // The form is gone: its fields show in name order.
            Err(crm::Error::Domain(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            instance,
            history,
            users: user_names(crm, who)?,
            active_users,
            customer,
            visible,
            editable,
            custom_form,
            order,
        })
    }

    fn node_label(&self, node: &str) -> String {
        self.instance
            .definition
            .node(node)
            .map_or_else(|| node.to_owned(), |n| n.display_label().to_owned())
    }

    fn field_label(&self, lang: Lang, field: &str) -> String {
        match self.instance.summary.form {
            FormBinding::CustomerAssignment => field_label::<AssignmentRequest>(lang, field),
            FormBinding::Expense | FormBinding::Reimbursement | FormBinding::Loan => {
                field_label::<crm::FinanceRequest>(lang, field)
            }
            FormBinding::Quote => field_label::<crm::Quote>(lang, field),
            FormBinding::Contract => field_label::<crm::Contract>(lang, field),
            FormBinding::Custom(_) => match self.custom_field(field) {
                Some(found) => found.label(lang == Lang::Zh).to_owned(),
                None => field_label::<crm::FormEntry>(lang, field),
            },
        }
    }

    /// The user-defined form's own field called `field`.
    fn custom_field(&self, field: &str) -> Option<&FormFieldDef> {
        self.custom_form.as_ref().and_then(|form| form.field(field))
    }

    /// Whether an approver edits `field` in a text area (it may hold several lines).
    fn multiline(&self, field: &str) -> bool {
        MULTILINE_FIELDS.contains(&field)
            || self.custom_field(field).is_some_and(|found| found.kind == FormFieldKind::Textarea)
    }

    /// The request's fields the page shows, in the bound form's order: those the viewer may
    /// see, without bookkeeping. A user-defined form shows its own fields only (a value of a
    /// field since removed from it stays in the request, unshown); any other fields of a
    /// built-in form follow its declared ones in name order.
    fn record_fields(&self) -> Vec<(&str, &Value)> {
        let fields = &self.instance.state.fields;
        let shown = |name: &str| !BOOKKEEPING_FIELDS.contains(&name) && self.visible.contains(name);
        let mut listed: Vec<(&str, &Value)> = self
            .order
            .iter()
            .filter_map(|name| fields.get_key_value(name))
            .map(|(name, value)| (name.as_str(), value))
            .filter(|(name, _)| shown(name))
            .collect();
        let own_only = custom_form(&self.instance.summary.form).is_some() && !self.order.is_empty();
        if !own_only {
            listed.extend(
                fields
                    .iter()
                    .filter(|(name, _)| !self.order.contains(name) && shown(name))
                    .map(|(name, value)| (name.as_str(), value)),
            );
        }
        listed
    }

    /// A stored value as the record section shows it.
    fn field_value(&self, lang: Lang, field: &str, value: &Value) -> Markup {
        match (field, value) {
            (_, Value::Text(text))
                if self.custom_field(field).is_some_and(|f| f.kind == FormFieldKind::Textarea) =>
            {
                html! { pre.content { (text) } }
            }
            ("lines", Value::Json(lines)) if self.instance.summary.form == FormBinding::Quote => {
                quote_lines(lang, lines)
            }
            _ => self.inline_value(lang, field, value),
        }
    }

    /// A stored value on one line: references by name where the page knows it, yes or no in
    /// words.
    fn inline_value(&self, lang: Lang, field: &str, value: &Value) -> Markup {
        let bound_form = self
            .custom_form
            .as_ref()
            .filter(|form| custom_form(&self.instance.summary.form) == Some(form.id));
        match (field, value) {
            ("customer", Value::Ref(id)) => {
                let name = self.customer.as_ref().and_then(|(_, name)| name.as_deref());
                customer_link(lang, *id, name)
            }
            ("form", Value::Ref(id)) if bound_form.is_some_and(|form| form.id == *id) => {
                html! { (bound_form.map(|form| form.name(lang == Lang::Zh)).unwrap_or_default()) }
            }
            (field, Value::Ref(id)) if USER_FIELDS.contains(&field) => {
                html! { (user_name(&self.users, *id)) }
            }
            (_, Value::Ref(id)) => html! { "#" (id) },
            (_, Value::Timestamp(at)) => html! { (when(at)) },
            (_, Value::Bool(yes)) => html! { (t(lang, if *yes { "fm_yes" } else { "fm_no" })) },
            (_, Value::Null) => html! { span.muted { "—" } },
            (_, other) => html! { (other.display()) },
        }
    }

    /// The changes an approval carried, each field by its label with its new value, in the
    /// form's order; fields the viewer may not see are left out.
    fn changes_text(&self, lang: Lang, changes: &BTreeMap<String, Value>) -> Markup {
        let mut shown: Vec<(&String, &Value)> =
            changes.iter().filter(|(name, _)| self.visible.contains(name)).collect();
        shown.sort_by_key(|(name, _)| {
            self.order.iter().position(|known| known == *name).unwrap_or(usize::MAX)
        });
        html! {
            @if !shown.is_empty() {
                " · "
                span.changes {
                    (t(lang, "wf_changed")) " "
                    @for (at, (name, value)) in shown.iter().enumerate() {
                        @if at > 0 { "; " }
                        (self.field_label(lang, name)) ": " (self.inline_value(lang, name, value))
                    }
                }
            }
        }
    }

    /// The input of a field the approver may change, filled with `typed`, as the field's kind
    /// asks: a pick list of the form's choices, yes or no, a date, a text area for several
    /// lines, a numeric keyboard for numbers.
    fn edit_input(
        &self,
        lang: Lang,
        field: &FormField,
        typed: &str,
        wrong: Option<&'static str>,
        focus: bool,
    ) -> Markup {
        let name = format!("edit.{}", field.name);
        let id = format!("edit-{}", field.name);
        if self.multiline(&field.name) {
            return html! {
                textarea name=(name) id=(id) aria-invalid=[wrong] autofocus[focus] { (typed) }
            };
        }
        let def = self.custom_field(&field.name);
        let chosen = typed.trim();
        // The empty choice stays for a field that may be left empty, and for one that is
        // empty now: a select without it would fill in its first choice unseen.
        let empty_choice = def.is_none_or(|f| !f.required) || chosen.is_empty();
        match (def.map(|f| f.kind), field.ty) {
            (Some(FormFieldKind::Choice), _) => {
                let choices = def.map_or(&[][..], |f| f.choices.as_slice());
                let known = chosen.is_empty() || choices.iter().any(|c| c == chosen);
                html! {
                    select name=(name) id=(id) aria-invalid=[wrong] autofocus[focus] {
                        @if empty_choice {
                            option value="" selected[chosen.is_empty()] { "—" }
                        }
                        @for choice in choices {
                            option value=(choice) selected[choice == chosen] { (choice) }
                        }
                        @if !known {
                            option value=(typed) selected { (typed) }
                        }
                    }
                }
            }
            (_, FieldType::Bool) => {
                // The words the field's reader takes for yes and no.
                let folded = chosen.to_lowercase();
                let yes = matches!(folded.as_str(), "yes" | "true" | "1" | "是");
                let no = matches!(folded.as_str(), "no" | "false" | "0" | "否");
                html! {
                    select name=(name) id=(id) aria-invalid=[wrong] autofocus[focus] {
                        @if empty_choice {
                            option value="" selected[chosen.is_empty()] { "—" }
                        }
                        option value="yes" selected[yes] { (t(lang, "fm_yes")) }
                        option value="no" selected[no] { (t(lang, "fm_no")) }
                        @if !(chosen.is_empty() || yes || no) {
                            option value=(typed) selected { (typed) }
                        }
                    }
                }
            }
            (_, FieldType::Integer) => html! {
                input type="text" name=(name) id=(id) value=(typed) inputmode="numeric"
                    aria-invalid=[wrong] autofocus[focus];
            },
            (_, FieldType::Decimal) => html! {
                input type="text" name=(name) id=(id) value=(typed) inputmode="decimal"
                    aria-invalid=[wrong] autofocus[focus];
            },
            (_, ty) => html! {
                input type=(input_type(ty)) name=(name) id=(id) value=(typed)
                    aria-invalid=[wrong] autofocus[focus];
            },
        }
    }

    /// The label of a field a refused decision names: an attachment's for the file sent with
    /// it (`had_file`), the form's for the request's fields.
    fn refused_label(&self, lang: Lang, field: &str, had_file: bool) -> String {
        match field {
            "file" if had_file => t(lang, "file").to_owned(),
            field if had_file && FILE_FIELDS.contains(&field) => {
                field_label::<Attachment>(lang, field)
            }
            field => self.field_label(lang, field),
        }
    }

    /// What one event says, after the actor's name.
    fn event_text(&self, lang: Lang, kind: &EventKind) -> Markup {
        let task_node = |task: &TaskId| {
            self.instance.state.task(*task).map(|t| self.node_label(&t.node)).unwrap_or_default()
        };
        let said = |comment: &str| {
            html! { @if !comment.is_empty() { pre.content.comment { (comment) } } }
        };
        let names = |ids: &[RecordId]| {
            ids.iter().map(|id| user_name(&self.users, *id)).collect::<Vec<_>>().join(", ")
        };
        match kind {
            EventKind::Submitted { .. } => html! { (t(lang, "ev_submitted")) },
            EventKind::Resubmitted { .. } => html! { (t(lang, "ev_resubmitted")) },
            EventKind::NodeActivated { node, assignees, .. } => html! {
                (t(lang, "ev_node_activated")) " " strong { (self.node_label(node)) }
                " → " (names(assignees))
            },
            EventKind::BranchTaken { gateway, to } => html! {
                (t(lang, "ev_branch_taken")) " " (self.node_label(gateway)) " → "
                (self.node_label(to))
            },
            EventKind::Notified { node, recipients } => html! {
                (t(lang, "ev_notified")) " " (self.node_label(node)) ": " (names(recipients))
            },
            EventKind::Approved { task, comment, changes } => html! {
                strong { (t(lang, "ev_approved")) } " · " (task_node(task))
                (self.changes_text(lang, changes)) (said(comment))
            },
            EventKind::Rejected { task, comment } => html! {
                strong { (t(lang, "ev_rejected")) } " · " (task_node(task)) (said(comment))
            },
            EventKind::Returned { to, comment, .. } => html! {
                strong { (t(lang, "ev_returned")) } " " (self.node_label(to)) (said(comment))
            },
            EventKind::Withdrawn { comment } => html! {
                (t(lang, "ev_withdrawn")) (said(comment))
            },
            EventKind::Reassigned { to, comment, .. } => html! {
                (t(lang, "ev_reassigned")) " " (user_name(&self.users, *to)) (said(comment))
            },
            EventKind::Commented { text } => html! {
                (t(lang, "ev_commented")) (said(text))
            },
            EventKind::AttachmentAdded { attachment, file_name } => html! {
                (t(lang, "ev_attachment_added")) " "
                a href={
                    "/workflow/instances/" (self.instance.summary.id) "/attachments/" (attachment)
                } download { (file_name) }
            },
        }
    }
}

/// A decision the facade refused: what the approver posted, shown again with the refusal.
struct Refused {
    /// `approve`, `reject` or `return`.
    decision: String,
    comment: String,
    /// The node a return was asked for.
    node: String,
    /// The text posted for each field of the request, by name.
    edits: Vec<(String, String)>,
    /// The refusal and the input it concerns: `edit.<field>`, `comment`, `file` or `node`.
    error: FieldError,
}

impl Refused {
    /// The text posted for field `name` of the request.
    fn edit(&self, name: &str) -> Option<&str> {
        self.edits.iter().find(|(n, _)| n == name).map(|(_, text)| text.as_str())
    }

    /// Whether the refusal concerns input `input`.
    fn names(&self, input: &str) -> bool {
        self.error.field.as_deref() == Some(input)
    }
}

/// The refusal next to input `input`, when it concerns that input.
fn said_at(refused: Option<&Refused>, input: &str) -> Markup {
    html! {
        @if let Some(refused) = refused.filter(|r| r.names(input)) {
            span.notice.error.field-error { (refused.error.message) }
        }
    }
}

/// `aria-invalid` for an input the refusal concerns.
fn invalid(refused: Option<&Refused>, input: &str) -> Option<&'static str> {
    refused.filter(|r| r.names(input)).map(|_| "true")
}

/// A refused decision as the task page says it: the message, naming a field by the form's
/// label, and the input it concerns. `had_file` tells whether a file came with the decision,
/// whose refusal names the attachment's fields.
fn refusal(lang: Lang, view: &InstanceView, error: &AppError, had_file: bool) -> FieldError {
    let input = |field: &str| {
        if had_file && FILE_FIELDS.contains(&field) {
            "file".to_owned()
        } else {
            format!("edit.{field}")
        }
    };
    match error {
        AppError::Crm(crm::Error::Domain(DomainError::Invalid { field, reason })) => {
            let message = format!(
                "{} {} — {}",
                t(lang, "invalid_field"),
                view.refused_label(lang, field, had_file),
                reason_text(lang, reason)
            );
            FieldError { field: Some(input(field)), message }
        }
        AppError::Crm(crm::Error::Domain(DomainError::Required { field })) => {
            let message = format!(
                "{} {}",
                t(lang, "required_field"),
                view.refused_label(lang, field, had_file)
            );
            FieldError { field: Some(input(field)), message }
        }
        other => {
            let field = match other {
                AppError::Crm(crm::Error::Workflow(WorkflowError::Action(action))) => {
                    match action {
                        ActionError::BadComment { .. } => Some("comment".to_owned()),
                        ActionError::CannotReturn { .. } => Some("node".to_owned()),
                        ActionError::FieldNotEditable { field, .. }
                        | ActionError::FieldType { field, .. } => Some(format!("edit.{field}")),
                        _ => None,
                    }
                }
                _ => None,
            };
            let hint = Hint::of_form(&view.instance.summary.form);
            FieldError { field, message: other.message(lang, hint) }
        }
    }
}

/// GET /workflow/instances/{id}: the request, its history and the forms that fit the viewer.
pub(crate) async fn instance(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(f): Query<crate::customers::Flash>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let view = ctx.run(move |crm, who| InstanceView::load(crm, who, id)).await?;
    let notice_now = flash(ctx.lang, f.ok.as_deref());
    Ok(instance_page(&ctx, &view, notice_now.as_ref(), StatusCode::OK, None))
}

/// The task page of `view` with a notice, or with a refused decision shown again.
fn instance_page(
    ctx: &Ctx,
    view: &InstanceView,
    notice_now: Option<&Notice>,
    status: StatusCode,
    refused: Option<&Refused>,
) -> Response {
    let lang = ctx.lang;
    let id = view.instance.summary.id;
    let state = &view.instance.state;
    let me = ctx.who.user;
    let my_task = state.open_tasks_of(me).next();
    let earlier: Vec<(&str, String)> = match my_task {
        Some(task) => view
            .instance
            .definition
            .definition()
            .nodes
            .iter()
            .filter(|n| n.approval().is_some() && n.id != task.node)
            .filter(|n| view.instance.definition.return_plan(&n.id, &task.node).is_some())
            .map(|n| (n.id.as_str(), n.display_label().to_owned()))
            .collect(),
        None => Vec::new(),
    };
    let current: Vec<&Task> = state.tasks.iter().filter(|t| t.status.is_current()).collect();
    let is_submitter = state.submitter == me;
    let takes_part = ctx.who.is_admin() || state.takes_part(me);
    let base = format!("/workflow/instances/{id}");
    let fields = view.record_fields();
    // The entry of a user-defined form opens for its owner and administrators.
    let owner = state.fields.get("owner").and_then(Value::as_ref_id) == Some(me);
    let entry = custom_form(&view.instance.summary.form)
        .filter(|_| ctx.who.is_admin() || is_submitter || owner)
        .map(|_| view.instance.summary.record);
    let title = view.instance.definition.definition().title.clone();
    let title = if title.is_empty() { view.instance.summary.definition.clone() } else { title };

    let body = html! {
        div.title-row {
            h1 #instance-title { (t(lang, "instance_title")) " #" (id) }
            (status_badge(lang, state.status))
            span.muted { (title) }
            span.spacer {}
            a.btn href="/todo" { (t(lang, "todo")) }
        }
        (notice(notice_now))
        @if let Some(refused) = refused {
            div.notice.error role="alert" id="decision-error" { (refused.error.message) }
        }
        div.two-col {
            div {
                div.card #request-fields {
                    h2 { (t(lang, "request_fields")) }
                    dl.profile {
                        dt { (t(lang, "submitter")) }
                        dd { (user_name(&view.users, state.submitter)) }
                        dt { (t(lang, "wf_status")) }
                        dd { (status_label(lang, state.status)) }
                        @for (name, value) in &fields {
                            dt { (view.field_label(lang, name)) }
                            dd { (view.field_value(lang, name, value)) }
                        }
                    }
                    @if fields.is_empty() {
                        p.muted { (t(lang, "no_visible_fields")) }
                    }
                    @if let Some(entry) = entry {
                        p {
                            a.btn.small href={ "/form-entries/" (entry) } id="entry-link" {
                                (t(lang, "wf_open_entry"))
                            }
                        }
                    }
                }
                @if let Some(task) = my_task {
                    (decision_card(ctx, view, &base, task, &earlier, refused))
                }
                @if is_submitter && state.status == Status::Pending {
                    form.toolbar method="post" action={ (base) "/withdraw" } {
                        (csrf(ctx))
                        button.btn type="submit" id="withdraw" { (t(lang, "withdraw")) }
                    }
                }
                @if is_submitter && matches!(state.status, Status::Rejected | Status::Withdrawn) {
                    form.toolbar method="post" action={ (base) "/resubmit" } {
                        (csrf(ctx))
                        button.btn.primary type="submit" id="resubmit" { (t(lang, "resubmit")) }
                    }
                }
                div.card #tasks {
                    h2 { (t(lang, "tasks")) }
                    table {
                        thead {
                            tr {
                                th { (t(lang, "node")) }
                                th { (t(lang, "assignee")) }
                                th { (t(lang, "task_status")) }
                                th { (t(lang, "decided_at")) }
                            }
                        }
                        tbody {
                            @for task in &state.tasks {
                                tr {
                                    td { (view.node_label(&task.node)) }
                                    td { (user_name(&view.users, task.assignee)) }
                                    td { (task_status_label(lang, task.status)) }
                                    td { (task.closed_at.map(|at| when(&at)).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
                @if ctx.who.is_admin() && !current.is_empty() {
                    (reassign_card(ctx, view, &base, &current))
                }
            }
            div {
                div.card #history {
                    h2 { (t(lang, "event_log")) }
                    ol.events {
                        @for event in &view.history {
                            li {
                                span.muted { (when(&event.at)) } " · "
                                strong { (user_name(&view.users, event.actor)) } " "
                                (view.event_text(lang, &event.kind))
                            }
                        }
                    }
                    @if takes_part {
                        form method="post" action={ (base) "/comment" } {
                            (csrf(ctx))
                            textarea name="comment" id="comment-text"
                                aria-label=(t(lang, "add_comment")) required {}
                            p {
                                button.btn type="submit" id="add-comment" {
                                    (t(lang, "add_comment"))
                                }
                            }
                        }
                    }
                }
                (files_card(ctx, view, &base, takes_part))
            }
        }
    };
    respond(status, layout(ctx, t(lang, "instance_title"), Nav::Todo, body))
}

/// The approver's form: the fields their step may change, a comment, an optional file, and
/// approve, reject or return to an earlier node. One multipart post to `/decide` carries
/// them all, so the decision, the changes and the file are stored together or not at all.
/// After a refusal it holds what was posted (a file has to be chosen again), says the refusal
/// next to the input it concerns and puts the cursor there, or else on the decision chosen.
fn decision_card(
    ctx: &Ctx,
    view: &InstanceView,
    base: &str,
    task: &Task,
    earlier: &[(&str, String)],
    refused: Option<&Refused>,
) -> Markup {
    let lang = ctx.lang;
    let fields = &view.instance.state.fields;
    let focus = refused.map(|refused| match refused.error.field.as_deref() {
        Some(input)
            if input == "comment"
                || (input == "node" && !earlier.is_empty())
                || input
                    .strip_prefix("edit.")
                    .is_some_and(|name| view.editable.iter().any(|f| f.name == name)) =>
        {
            input.to_owned()
        }
        _ => format!("decision.{}", refused.decision),
    });
    let focused = |input: &str| focus.as_deref() == Some(input);
    let returning_to = |node: &str| refused.is_some_and(|r| r.node == node);
    html! {
        div.card #decision {
            h2 { (t(lang, "your_decision")) " · " (view.node_label(&task.node)) }
            form method="post" action={ (base) "/decide" } enctype="multipart/form-data"
                id="decide-form" {
                (csrf(ctx))
                input type="hidden" name="task" value=(task.id.0);
                @if !view.editable.is_empty() {
                    fieldset #editable-fields {
                        legend { (t(lang, "wf_editable_fields")) }
                        div.form-grid {
                            @for field in &view.editable {
                                @let input = format!("edit.{}", field.name);
                                @let typed = match refused.and_then(|r| r.edit(&field.name)) {
                                    Some(text) => text.to_owned(),
                                    None => editable_text(
                                        fields.get(&field.name).unwrap_or(&Value::Null),
                                    ),
                                };
                                @let required =
                                    view.custom_field(&field.name).is_some_and(|f| f.required);
                                label id={ "field-" (field.name) } {
                                    (view.field_label(lang, &field.name))
                                    @if required { " *" }
                                    (view.edit_input(
                                        lang,
                                        field,
                                        &typed,
                                        invalid(refused, &input),
                                        focused(&input),
                                    ))
                                    (said_at(refused, &input))
                                }
                            }
                        }
                        p.hint { (t(lang, "wf_editable_hint")) }
                    }
                }
                div.form-grid.single {
                    label {
                        (t(lang, "comment"))
                        textarea name="comment" id="decision-comment"
                            aria-invalid=[invalid(refused, "comment")]
                            autofocus[focused("comment")] {
                            (refused.map_or("", |r| r.comment.as_str()))
                        }
                        (said_at(refused, "comment"))
                    }
                    label {
                        (t(lang, "wf_attach_file"))
                        input type="file" name="file" id="decision-file"
                            aria-invalid=[invalid(refused, "file")];
                        (said_at(refused, "file"))
                    }
                }
                div.toolbar {
                    button.btn.primary type="submit" name="decision" value="approve"
                        id="approve" autofocus[focused("decision.approve")] {
                        (t(lang, "approve"))
                    }
                    button.btn.danger type="submit" name="decision" value="reject"
                        id="reject" autofocus[focused("decision.reject")] {
                        (t(lang, "reject"))
                    }
                    @if !earlier.is_empty() {
                        span.spacer {}
                        select name="node" id="return-node" aria-label=(t(lang, "return_to"))
                            aria-invalid=[invalid(refused, "node")] autofocus[focused("node")] {
                            @for (node, label) in earlier {
                                option value=(node) selected[returning_to(node)] { (label) }
                            }
                        }
                        button.btn type="submit" name="decision" value="return" id="return"
                            autofocus[focused("decision.return")] {
                            (t(lang, "return_button"))
                        }
                    }
                }
                @if !earlier.is_empty() {
                    (said_at(refused, "node"))
                }
            }
        }
    }
}

/// The input type that suits a field of type `ty`.
fn input_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Date => "date",
        FieldType::Timestamp => "datetime-local",
        _ => "text",
    }
}

/// A stored value as an approver edits it: the text the field's parser reads back.
fn editable_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Timestamp(at) => at.format("%Y-%m-%dT%H:%M").to_string(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        other => other.display(),
    }
}

/// The files attached to the request, each a download link, and the upload form for those
/// who take part.
fn files_card(ctx: &Ctx, view: &InstanceView, base: &str, takes_part: bool) -> Markup {
    let lang = ctx.lang;
    let files = &view.instance.state.attachments;
    html! {
        div.card #files {
            h2 { (t(lang, "wf_files")) }
            @if files.is_empty() {
                p.muted { (t(lang, "wf_no_files")) }
            } @else {
                ul.files {
                    @for file in files {
                        li {
                            a href={ (base) "/attachments/" (file.attachment) } download {
                                (file.file_name)
                            }
                            span.muted {
                                " · " (user_name(&view.users, file.by)) " · " (when(&file.at))
                            }
                        }
                    }
                }
            }
            @if takes_part {
                form method="post" action={ (base) "/attachments" }
                    enctype="multipart/form-data" id="attach-form" {
                    (csrf(ctx))
                    div.form-grid.single {
                        label {
                            (t(lang, "wf_attach_file"))
                            input type="file" name="file" id="attach-file" required;
                        }
                    }
                    p.hint { (t(lang, "wf_attach_hint")) }
                    button.btn type="submit" id="attach" { (t(lang, "wf_attach_button")) }
                }
            }
        }
    }
}

/// The administrators' form to hand an undecided task to another active user.
fn reassign_card(ctx: &Ctx, view: &InstanceView, base: &str, current: &[&Task]) -> Markup {
    let lang = ctx.lang;
    html! {
        div.card #reassign {
            h2 { (t(lang, "wf_reassign")) }
            p.hint { (t(lang, "wf_reassign_hint")) }
            form method="post" action={ (base) "/reassign" } id="reassign-form" {
                (csrf(ctx))
                div.form-grid.single {
                    label {
                        (t(lang, "wf_task"))
                        select name="task" id="reassign-task" {
                            @for task in current {
                                option value=(task.id.0) {
                                    (view.node_label(&task.node)) " · "
                                    (user_name(&view.users, task.assignee))
                                }
                            }
                        }
                    }
                    label {
                        (t(lang, "wf_reassign_to"))
                        select name="to" id="reassign-to" {
                            @for (user, name) in &view.active_users {
                                option value=(user) { (name) }
                            }
                        }
                    }
                    label {
                        (t(lang, "comment"))
                        textarea name="comment" id="reassign-comment" {}
                    }
                }
                button.btn type="submit" id="reassign-submit" {
                    (t(lang, "wf_reassign_button"))
                }
            }
        }
    }
}

/// A task number typed into a form; `None` when left empty, so the facade picks the person's
/// one open task.
#[expect(clippy::result_large_err, reason = "the error is the page a handler returns at once")]
fn task_number(ctx: &Ctx, text: &str) -> Result<Option<TaskId>, Response> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u32>()
        .map(|n| Some(TaskId(n)))
        .map_err(|_| ctx.fail(AppError::BadRequest(text.to_owned())))
}

/// The comment form.
#[derive(Debug, Deserialize)]
pub(crate) struct CommentForm {
    #[serde(default)]
    comment: String,
}

/// Runs one action and returns to the task page with a notice.
async fn act<F>(ctx: &Ctx, id: RecordId, done: &str, f: F) -> Reply
where
    F: FnOnce(&Crm, &Principal) -> crm::Result<crm::workflow::Outcome> + Send + 'static,
{
    let outcome = ctx.run(f).await?;
    tracing::info!(instance = %id, status = outcome.status.as_str(), action = done, "acted");
    Ok(see_other(&format!("/workflow/instances/{id}?ok={done}")))
}

/// A quote's lines as a table; lines that do not read as quote lines are shown as stored.
fn quote_lines(lang: Lang, lines: &serde_json::Value) -> Markup {
    match serde_json::from_value::<Vec<QuoteLine>>(lines.clone()) {
        Ok(lines) => crate::sales::lines_table(lang, &lines),
        Err(_) => html! { (lines.to_string()) },
    }
}

/// POST /workflow/instances/{id}/decide: the task page's decision form (multipart) with
/// `task`, `decision` (`approve`, `reject` or `return`), `comment`, `node` for a return, an
/// optional `file`, and `edit.<field>` for each field the step may change (applied on
/// approving; unchanged values are left out). A refusal (a value its field cannot hold, a
/// required field emptied, a file too large, a decision come too late) shows the task page
/// again with its status, the refusal next to the input it concerns and everything posted
/// but the file.
pub(crate) async fn decide(
    ctx: Ctx,
    Path(id): Path<String>,
    multipart: crate::upload::Body,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let mut upload = crate::upload::read(&ctx, multipart).await?;
    let task = task_number(&ctx, upload.text("task"))?;
    let typed_comment = upload.text("comment").to_owned();
    let comment = typed_comment.trim().to_owned();
    let file = upload.take_file("file");
    let had_file = file.is_some();
    let edits = upload.texts_with_prefix("edit.");
    let typed_edits = edits.clone();
    let chosen = upload.text("decision").to_owned();
    let node = upload.text("node").trim().to_owned();
    let (decision, done) = match chosen.as_str() {
        "approve" => (None, "approved"),
        "reject" => (Some(Decision::Reject), "rejected"),
        "return" => (Some(Decision::ReturnTo(node.clone())), "returned"),
        other => return Err(ctx.fail(AppError::BadRequest(other.to_owned()))),
    };
    let decided = ctx
        .run(move |crm, who| {
            let workflows = crm.workflows(who);
            let decided = (|| {
                let decision = match decision {
                    Some(decision) => decision,
                    None => match workflows.parse_changes_for(id, task, &edits)? {
                        changes if changes.is_empty() => Decision::Approve,
                        changes => Decision::ApproveWithChanges(changes),
                    },
                };
                workflows.decide(id, task, decision, &comment, file)
            })();
            // A refusal shows the page again as the request now stands.
            Ok(decided.map_err(|error| (error, InstanceView::load(crm, who, id).ok())))
        })
        .await?;
    match decided {
        Ok(outcome) => {
            tracing::info!(instance = %id, status = outcome.status.as_str(), action = done, "acted");
            Ok(see_other(&format!("/workflow/instances/{id}?ok={done}")))
        }
        Err((error, view)) => {
            let error = AppError::Crm(error);
            let status = error.status();
            match view {
                Some(view) if status.is_client_error() && status != StatusCode::NOT_FOUND => {
                    let error = refusal(ctx.lang, &view, &error, had_file);
                    let refused = Refused {
                        decision: chosen,
                        comment: typed_comment,
                        node,
                        edits: typed_edits,
                        error,
                    };
                    // The language switch leads back to the task page, not to this post.
                    let mut ctx = ctx;
                    ctx.path = format!("/workflow/instances/{id}");
                    Ok(instance_page(&ctx, &view, None, status, Some(&refused)))
                }
                // A refusal names its fields with the labels of the instance's form.
                view => {
                    let hint =
                        view.map_or(Hint::Request, |v| Hint::of_form(&v.instance.summary.form));
                    Err(ctx.fail_as(error, hint))
                }
            }
        }
    }
}

/// POST /workflow/instances/{id}/withdraw
pub(crate) async fn withdraw(
    Path(id): Path<String>,
    Posted(ctx, NoFields {}): Posted<NoFields>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    act(&ctx, id, "withdrawn", move |crm, who| crm.workflows(who).withdraw(id)).await
}

/// POST /workflow/instances/{id}/resubmit
pub(crate) async fn resubmit(
    Path(id): Path<String>,
    Posted(ctx, NoFields {}): Posted<NoFields>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    act(&ctx, id, "resubmitted", move |crm, who| crm.workflows(who).resubmit(id)).await
}

/// POST /workflow/instances/{id}/comment
pub(crate) async fn comment(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<CommentForm>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    act(&ctx, id, "commented", move |crm, who| crm.workflows(who).comment(id, form.comment.trim()))
        .await
}

/// The reassign form.
#[derive(Debug, Deserialize)]
pub(crate) struct ReassignForm {
    #[serde(default)]
    task: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    comment: String,
}

/// POST /workflow/instances/{id}/reassign: hands task `task` to user `to`. The engine decides
/// who may (the task's assignee or an administrator) and refuses inactive users.
pub(crate) async fn reassign(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<ReassignForm>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let task = task_number(&ctx, &form.task)?;
    let to = form.to.trim();
    let to = to
        .parse::<u64>()
        .map(RecordId)
        .map_err(|_| ctx.fail(AppError::BadRequest(to.to_owned())))?;
    let reassigned =
        ctx.call(move |crm, who| crm.workflows(who).reassign(id, task, to, form.comment.trim()));
    match reassigned.await {
        Ok(_) => Ok(see_other(&format!("/workflow/instances/{id}?ok=reassigned"))),
        Err(AppError::Crm(crm::Error::Domain(crm::DomainError::Invalid { field, .. })))
            if field == "to" =>
        {
            let message = format!("{} #{to}", t(ctx.lang, "wf_unknown_user"));
            Err(ctx.fail(AppError::BadRequest(message)))
        }
        Err(error) => Err(ctx.fail(error)),
    }
}

/// POST /workflow/instances/{id}/attachments: a multipart form with `csrf` and one `file`
/// (a second file part is ignored). The facade checks the name and the size.
pub(crate) async fn attach(
    ctx: Ctx,
    Path(id): Path<String>,
    multipart: crate::upload::Body,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let mut upload = crate::upload::read(&ctx, multipart).await?;
    let file = upload.take_file("file");

    let Some(file) = file else {
        return Err(ctx.fail(AppError::BadRequest(t(ctx.lang, "wf_no_file").to_owned())));
    };
    match ctx.call(move |crm, who| crm.workflows(who).attach(id, file)).await {
        Ok(outcome) => {
            tracing::info!(instance = %id, status = outcome.status.as_str(), "file attached");
            Ok(see_other(&format!("/workflow/instances/{id}?ok=attached#files")))
        }
        Err(error) => Err(ctx.fail_as(error, Hint::Attachment)),
    }
}

/// GET /workflow/instances/{id}/attachments/{attachment}: a file of the request, always as a
/// download, for those who may view the request (404 for anyone else).
pub(crate) async fn download(ctx: Ctx, Path((id, attachment)): Path<(String, String)>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let attachment = parse_id(&ctx, &attachment)?;
    let file = ctx.run(move |crm, who| crm.workflows(who).attachment(id, attachment)).await?;
    crate::leads::file_response(&ctx, file)
}

// ---------------------------------------------------------------------------------------
// Definitions

/// The id of the user-defined form a binding names.
fn custom_form(form: &FormBinding) -> Option<RecordId> {
    match form {
        FormBinding::Custom(id) => Some(*id),
        _ => None,
    }
}

/// Whether `name` may be a definition name (lowercase letters, digits and `_`).
fn plausible_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn form_label(lang: Lang, form: &FormBinding) -> String {
    match form {
        FormBinding::CustomerAssignment => t(lang, "assignment_request").to_owned(),
        FormBinding::Quote => t(lang, "form_quote").to_owned(),
        FormBinding::Contract => t(lang, "form_contract").to_owned(),
        form => match crm::finance::form_of(form) {
            Some(form) => match lang {
                Lang::Zh => form.label_zh().to_owned(),
                Lang::En => form.label_en().to_owned(),
            },
            None => form.key(),
        },
    }
}

/// The definitions page, with a notice and, after a refused definition, the text typed.
async fn render_definitions(
    ctx: &Ctx,
    notice_now: Option<Notice>,
    status: StatusCode,
    draft: &str,
) -> Reply {
    let list = ctx.run(|crm, who| crm.workflows(who).definitions()).await?;
    let lang = ctx.lang;
    let body = html! {
        h1 { (t(lang, "definitions")) }
        (notice(notice_now.as_ref()))
        div.card #definitions {
            @if list.is_empty() {
                p.muted { (t(lang, "no_definitions")) }
            } @else {
                table {
                    thead {
                        tr {
                            th { (t(lang, "name")) }
                            th { (t(lang, "version")) }
                            th { (t(lang, "title")) }
                            th { (t(lang, "form")) }
                            th { (t(lang, "created")) }
                        }
                    }
                    tbody {
                        @for d in &list {
                            tr {
                                td {
                                    a href={
                                        "/workflow/definitions/" (d.name) "?version=" (d.version)
                                    } { (d.name) }
                                }
                                td { (d.version) }
                                td { (d.title) }
                                td { (form_label(lang, &d.form)) }
                                td { (when(&d.created_at)) }
                            }
                        }
                    }
                }
            }
        }
        div.card #define {
            h2 { (t(lang, "define")) }
            @if ctx.who.is_admin() {
                p.hint { (t(lang, "define_hint")) }
                form method="post" action="/workflow/definitions" enctype="multipart/form-data" {
                    (csrf(ctx))
                    div.form-grid.single {
                        label {
                            (t(lang, "definition_text"))
                            textarea name="text" id="definition-text" rows="14" { (draft) }
                        }
                        label {
                            (t(lang, "definition_file"))
                            input type="file" name="file" accept=".toml,.json";
                        }
                    }
                    button.btn.primary type="submit" id="define-submit" { (t(lang, "define")) }
                }
            } @else {
                p.muted { (t(lang, "admin_defines")) }
            }
        }
    };
    Ok(respond(status, layout(ctx, t(lang, "definitions"), Nav::Workflows, body)))
}

/// GET /workflow/definitions
pub(crate) async fn definitions(ctx: Ctx, Query(f): Query<crate::customers::Flash>) -> Reply {
    let notice = flash(ctx.lang, f.ok.as_deref());
    render_definitions(&ctx, notice, StatusCode::OK, "").await
}

/// POST /workflow/definitions: a multipart form with `csrf`, `text` and an optional `file`
/// (the file wins when both are given).
pub(crate) async fn define(ctx: Ctx, multipart: crate::upload::Body) -> Reply {
    let mut upload = crate::upload::read(&ctx, multipart).await?;
    let text = upload.text("text").to_owned();
    let file_text = match upload.take_file("file") {
        Some(file) => String::from_utf8(file.bytes)
            .map_err(|_| ctx.fail(AppError::BadRequest(t(ctx.lang, "wf_not_utf8").to_owned())))?,
        None => String::new(),
    };

    let source = if file_text.trim().is_empty() { text } else { file_text };
    let submitted = source.clone();
    match ctx.call(move |crm, who| crm.workflows(who).define(&submitted)).await {
        Ok(stored) => {
            tracing::info!(name = %stored.name, version = stored.version, "workflow defined");
            Ok(see_other(&format!(
                "/workflow/definitions/{}?version={}&ok=defined",
                stored.name, stored.version
            )))
        }
        Err(AppError::Crm(e)) if !matches!(e, crm::Error::Store(_)) => {
            let error = AppError::Crm(e);
            let status = error.status();
            let notice = Notice::Error(error.message(ctx.lang, crate::error::Hint::Customer));
            render_definitions(&ctx, Some(notice), status, &source).await
        }
        Err(other) => Err(ctx.fail(other)),
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct DefinitionParams {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    ok: Option<String>,
}

/// GET /workflow/definitions/{name}: the page with the diagram; `{name}.svg` is the diagram.
pub(crate) async fn definition(
    ctx: Ctx,
    Path(name): Path<String>,
    Query(params): Query<DefinitionParams>,
) -> Reply {
    if let Some(stem) = name.strip_suffix(".svg") {
        return diagram(&ctx, stem, params.version).await;
    }
    if !plausible_name(&name) {
        return Err(ctx.fail(AppError::NotFound));
    }
    let wanted = name.clone();
    let versions: Vec<StoredDefinition> = ctx
        .run(move |crm, who| {
            Ok(crm.workflows(who).definitions()?.into_iter().filter(|d| d.name == wanted).collect())
        })
        .await?;
    let Some(shown) = (match params.version {
        Some(v) => versions.iter().find(|d| d.version == v),
        None => versions.iter().max_by_key(|d| d.version),
    }) else {
        return Err(ctx.fail(AppError::NotFound));
    };
    let lang = ctx.lang;
    let svg = format!("/workflow/definitions/{name}.svg?version={}", shown.version);
    let body = html! {
        div.crumbs { a href="/workflow/definitions" { (t(lang, "definitions")) } " › " (name) }
        div.title-row {
            h1 #definition-name { (shown.title) " (" (name) ")" }
            span.badge { (t(lang, "version")) " " (shown.version) }
            span.badge { (form_label(lang, &shown.form)) }
        }
        (notice(flash(lang, params.ok.as_deref()).as_ref()))
        div.card #diagram {
            h2 { (t(lang, "diagram")) }
            img.diagram src=(svg) alt=(shown.title);
        }
        div.card #versions {
            h2 { (t(lang, "version")) }
            ul {
                @for d in &versions {
                    li {
                        a href={ "/workflow/definitions/" (d.name) "?version=" (d.version) } {
                            (t(lang, "version")) " " (d.version)
                        }
                        " · " (when(&d.created_at))
                    }
                }
            }
        }
    };
    Ok(respond(StatusCode::OK, layout(&ctx, &shown.title, Nav::Workflows, body)))
}

/// The diagram of a definition as an SVG document with its own restrictive policy, so the
/// labels it draws can never run or load anything even when opened directly.
async fn diagram(ctx: &Ctx, name: &str, version: Option<u32>) -> Reply {
    if !plausible_name(name) {
        return Err(ctx.fail(AppError::NotFound));
    }
    let name = name.to_owned();
    let svg = ctx.run(move |crm, who| crm.workflows(who).definition_svg(&name, version)).await?;
    let mut response = (StatusCode::OK, svg).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(SVG_POLICY));
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// Customer assignment requests

/// The request form, on the customer page and on its own page.
pub(crate) fn request_card(ctx: &Ctx, customer: RecordId, reason: &str) -> Markup {
    let lang = ctx.lang;
    html! {
        div.card #request-assignment {
            h2 { (t(lang, "request_assignment")) }
            p.hint { (t(lang, "request_assignment_hint")) }
            form method="post" action={ "/customers/" (customer) "/assignment" } {
                (csrf(ctx))
                div.form-grid.single {
                    label {
                        (t(lang, "request_reason"))
                        textarea name="reason" id="request-reason" required { (reason) }
                    }
                }
                button.btn.primary type="submit" id="request-submit" {
                    (t(lang, "request_assignment"))
                }
            }
        }
    }
}

async fn render_request(
    ctx: &Ctx,
    customer: RecordId,
    notice_now: Option<Notice>,
    status: StatusCode,
    reason: &str,
) -> Reply {
    let name = ctx
        .run(move |crm, who| match crm.customers(who).get(customer) {
            Ok(found) => Ok(Some(found.name)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        })
        .await?;
    let lang = ctx.lang;
    let body = html! {
        div.title-row {
            h1 { (t(lang, "request_assignment")) }
            span.muted { (customer_link(lang, customer, name.as_deref())) }
        }
        (notice(notice_now.as_ref()))
        (request_card(ctx, customer, reason))
    };
    Ok(respond(status, layout(ctx, t(lang, "request_assignment"), Nav::Customers, body)))
}

/// GET /customers/{id}/assignment: the request form on its own. Submitting it checks that
/// the customer is one the person may ask for (a pool customer they can see).
pub(crate) async fn request_form(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    render_request(&ctx, id, None, StatusCode::OK, "").await
}

#[derive(Debug, Deserialize)]
pub(crate) struct RequestForm {
    #[serde(default)]
    reason: String,
}

/// POST /customers/{id}/assignment: submits the request and opens its task page.
pub(crate) async fn request(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<RequestForm>,
) -> Reply {
    let customer = parse_id(&ctx, &id)?;
    let reason = form.reason.clone();
    let result = ctx
        .call(move |crm, who| {
            let bound = crm
                .workflows(who)
                .definitions()?
                .iter()
                .any(|d| d.form == FormBinding::CustomerAssignment);
            if !bound {
                return Ok(None);
            }
            Ok(Some(crm.assignments(who).request(customer, &reason)?))
        })
        .await;
    let lang = ctx.lang;
    match result {
        Ok(Some(requested)) => {
            Ok(see_other(&format!("/workflow/instances/{}?ok=requested", requested.instance)))
        }
        Ok(None) => {
            let notice = Notice::Error(t(lang, "no_assignment_flow").to_owned());
            render_request(&ctx, customer, Some(notice), StatusCode::CONFLICT, &form.reason).await
        }
        Err(error)
            if error.status().is_client_error() && error.status() != StatusCode::NOT_FOUND =>
        {
            let status = error.status();
            let notice = Notice::Error(error.message(lang, crate::error::Hint::Customer));
            render_request(&ctx, customer, Some(notice), status, &form.reason).await
        }
        Err(error) => Err(ctx.fail(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_coarsely() {
        let now = Utc::now();
        assert_eq!(age(Lang::En, now - Duration::minutes(5), now), "5 min");
        assert_eq!(age(Lang::En, now - Duration::minutes(130), now), "2 h 10 min");
        assert_eq!(age(Lang::Zh, now - Duration::hours(50), now), "2 天 2 小时");
        assert_eq!(age(Lang::En, now + Duration::minutes(5), now), "0 min");
    }

    #[test]
    fn only_identifiers_are_definition_names() {
        assert!(plausible_name("customer_request"));
        assert!(!plausible_name("../x"));
        assert!(!plausible_name("Bad"));
        assert!(!plausible_name(""));
    }
}
