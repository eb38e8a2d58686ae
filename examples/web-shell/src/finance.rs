//! Finance request pages (财务申请): expense, reimbursement and loan requests. The list with
//! its form and status filters, the request page, the create and edit forms, and the submit
//! and delete buttons. Approval itself happens on the existing task pages
//! (`/workflow/instances/{id}`); a request's status follows its approval.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use chrono::NaiveDate;
use crm::{
    ApprovalStatus, Crm, DomainError, FinanceRequest, Principal, RecordId, RequestDraft,
    RequestFilter, RequestForm,
};
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth::{Ctx, Posted};
use crate::customers::user_names;
use crate::error::{parse_id, AppError, Hint, Reply};
use crate::html::{csrf, flash, layout, notice, pager, respond, see_other, when, Nav, Notice};
use crate::i18n::{field_label, t, Lang};

/// Requests per list page.
const PAGE_SIZE: u64 = 20;

/// Every status, in the order a request goes through them.
const STATUSES: [ApprovalStatus; 5] = [
    ApprovalStatus::Draft,
    ApprovalStatus::Pending,
    ApprovalStatus::Approved,
    ApprovalStatus::Rejected,
    ApprovalStatus::Withdrawn,
];

fn label(lang: Lang, field: &str) -> String {
    field_label::<FinanceRequest>(lang, field)
}

/// The name of a form in `lang` (费用申请 / Expense request).
fn form_label(lang: Lang, form: RequestForm) -> &'static str {
    match lang {
        Lang::Zh => form.label_zh(),
        Lang::En => form.label_en(),
    }
}

/// The label of the "new request" button of a form.
fn new_label(lang: Lang, form: RequestForm) -> &'static str {
    match form {
        RequestForm::Expense => t(lang, "fin_new_expense"),
        RequestForm::Reimbursement => t(lang, "fin_new_reimbursement"),
        RequestForm::Loan => t(lang, "fin_new_loan"),
    }
}

pub(crate) fn status_label(lang: Lang, status: ApprovalStatus) -> &'static str {
    let key = match status {
        ApprovalStatus::Draft => "fin_status_draft",
        ApprovalStatus::Pending => "wf_status_pending",
        ApprovalStatus::Approved => "wf_status_approved",
        ApprovalStatus::Rejected => "wf_status_rejected",
        ApprovalStatus::Withdrawn => "wf_status_withdrawn",
    };
    t(lang, key)
}

/// A link to a document's approval, or "not submitted" before it has one.
pub(crate) fn approval_link(lang: Lang, instance: Option<RecordId>) -> Markup {
    html! {
        @match instance {
            Some(instance) => {
                a href={ "/workflow/instances/" (instance) } id="approval-link" {
                    (t(lang, "fin_view_approval")) " #" (instance)
                }
            }
            None => span.muted { (t(lang, "fin_not_submitted")) },
        }
    }
}

/// What the title row of a document under approval shows: for a page whose element ids are
/// `{noun}-title`, `edit-{noun}` and so on.
pub(crate) struct TitleRow<'a> {
    /// The id stem of the page's elements (`request`, `document`, `entry`).
    pub(crate) noun: &'a str,
    /// The document's address (`/requests/7`).
    pub(crate) base: &'a str,
    pub(crate) title: &'a str,
    pub(crate) code: &'a str,
    pub(crate) status: ApprovalStatus,
    pub(crate) version: u64,
    /// Whether it was submitted before (it then resubmits and is kept).
    pub(crate) submitted: bool,
    /// Whether the viewer may change it now.
    pub(crate) editable: bool,
}

/// The title row of a document under approval (request, quote, contract, form entry): its
/// title, number and status and, while its author may change it, edit, submit (with `extra`
/// inside the submit form, such as a unit choice) and, before its first submission, delete.
pub(crate) fn title_row(ctx: &Ctx, row: &TitleRow<'_>, extra: Markup) -> Markup {
    let (lang, noun, base) = (ctx.lang, row.noun, row.base);
    html! {
        div.title-row {
            h1 id={ (noun) "-title" } { (row.title) }
            span.badge id={ (noun) "-code" } { (row.code) }
            (status_badge(lang, row.status))
            span.spacer {}
            @if row.editable {
                a.btn href={ (base) "/edit" } id={ "edit-" (noun) } { (t(lang, "edit")) }
                form.inline method="post" action={ (base) "/submit" } {
                    (csrf(ctx))
                    input type="hidden" name="version" value=(row.version);
                    (extra)
                    button.btn.primary type="submit" id={ "submit-" (noun) } {
                        @if row.submitted { (t(lang, "resubmit")) }
                        @else { (t(lang, "fin_submit")) }
                    }
                }
                @if !row.submitted {
                    form.inline method="post" action={ (base) "/delete" } {
                        (csrf(ctx))
                        input type="hidden" name="version" value=(row.version);
                        button.btn.danger type="submit" id={ "delete-" (noun) } { (t(lang, "delete")) }
                    }
                }
            }
        }
    }
}

pub(crate) fn status_badge(lang: Lang, status: ApprovalStatus) -> Markup {
    html! {
        span.badge.pending[status == ApprovalStatus::Pending]
            .approved[status == ApprovalStatus::Approved]
            .rejected[status == ApprovalStatus::Rejected] #request-status {
            (status_label(lang, status))
        }
    }
}

pub(crate) fn parse_status(text: &str) -> Option<ApprovalStatus> {
    STATUSES.into_iter().find(|s| s.as_str() == text)
}

/// An amount as shown: two decimals and the currency.
fn money(request: &FinanceRequest) -> String {
    format!("{:.2} {}", request.amount, request.currency)
}

pub(crate) fn date(value: Option<NaiveDate>) -> String {
    value.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Refusals that name a field

/// How a form labels a field name (`amount` → 金额).
pub(crate) type Labels = fn(Lang, &str) -> String;

/// Why a form was refused: the message, and the field it names (marked in the form).
#[derive(Debug, Clone)]
pub(crate) struct FieldError {
    pub(crate) field: Option<String>,
    pub(crate) message: String,
}

impl FieldError {
    pub(crate) fn invalid(lang: Lang, labels: Labels, field: &str, why: &str) -> Self {
        let why = crate::error::reason_text(lang, why);
        let message = format!("{} {} — {why}", t(lang, "invalid_field"), labels(lang, field));
        Self { field: Some(field.to_owned()), message }
    }

    pub(crate) fn required(lang: Lang, labels: Labels, field: &str) -> Self {
        let message = format!("{} {}", t(lang, "required_field"), labels(lang, field));
        Self { field: Some(field.to_owned()), message }
    }

    /// A refusal of the facade, naming the field the way the form labels it.
    pub(crate) fn of(lang: Lang, labels: Labels, error: &AppError) -> Self {
        match error {
            AppError::Crm(crm::Error::Domain(DomainError::Invalid { field, reason })) => {
                Self::invalid(lang, labels, field, reason)
            }
            AppError::Crm(crm::Error::Domain(DomainError::Required { field })) => {
                Self::required(lang, labels, field)
            }
            other => Self { field: None, message: other.message(lang, Hint::Customer) },
        }
    }
}

// ---------------------------------------------------------------------------------------
// List

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListParams {
    #[serde(default)]
    form: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    ok: Option<String>,
}

/// GET /requests: the principal's requests (an administrator's: everyone's), newest first,
/// with form and status filters and pages.
pub(crate) async fn list(ctx: Ctx, Query(params): Query<ListParams>) -> Reply {
    let lang = ctx.lang;
    let page = params.page.parse::<u64>().ok().filter(|&n| n >= 1).unwrap_or(1);
    let filter = RequestFilter {
        form: RequestForm::parse(&params.form),
        status: parse_status(&params.status),
        offset: (page - 1).saturating_mul(PAGE_SIZE),
        limit: PAGE_SIZE,
    };
    let (found, users) = ctx
        .run(move |crm, who| Ok((crm.requests(who).list(&filter)?, user_names(crm, who)?)))
        .await?;
    let pairs = [("form", params.form.as_str()), ("status", params.status.as_str())];
    let body = html! {
        div.title-row {
            h1 { (t(lang, "requests")) }
            span.spacer {}
            @for form in RequestForm::ALL {
                a.btn.primary href={ "/requests/new?form=" (form.as_str()) }
                    id={ "new-" (form.as_str()) } { (new_label(lang, form)) }
            }
        }
        (notice(flash(lang, params.ok.as_deref()).as_ref()))
        form.toolbar method="get" action="/requests" role="search" {
            select name="form" aria-label=(label(lang, "form")) {
                option value="" { (label(lang, "form")) ": " (t(lang, "all")) }
                @for form in RequestForm::ALL {
                    option value=(form.as_str()) selected[params.form == form.as_str()] {
                        (form_label(lang, form))
                    }
                }
            }
            select name="status" aria-label=(label(lang, "status")) {
                option value="" { (label(lang, "status")) ": " (t(lang, "all")) }
                @for status in STATUSES {
                    option value=(status.as_str()) selected[params.status == status.as_str()] {
                        (status_label(lang, status))
                    }
                }
            }
            button.btn.primary type="submit" { (t(lang, "search")) }
            a.btn href="/requests" { (t(lang, "reset")) }
        }
        @if found.items.is_empty() {
            div.card { p.muted { (t(lang, "no_results")) } }
        } @else {
            table.data #request-list {
                thead {
                    tr {
                        th { (label(lang, "code")) }
                        th { (label(lang, "form")) }
                        th { (label(lang, "title")) }
                        th { (label(lang, "amount")) }
                        th { (label(lang, "applicant")) }
                        th { (label(lang, "status")) }
                        th { (label(lang, "spent_on")) }
                        th { (label(lang, "created_at")) }
                    }
                }
                tbody {
                    @for request in &found.items {
                        tr {
                            td { a href={ "/requests/" (request.id) } { (request.code) } }
                            td { (form_label(lang, request.form)) }
                            td { a href={ "/requests/" (request.id) } { (request.title) } }
                            td { (money(request)) }
                            td { (user_name(&users, request.applicant)) }
                            td { (status_badge(lang, request.status)) }
                            td { (date(request.spent_on)) }
                            td.muted { (when(&request.created_at)) }
                        }
                    }
                }
            }
        }
        (pager(lang, "/requests", &pairs, page, PAGE_SIZE, found.total))
    };
    Ok(respond(StatusCode::OK, layout(&ctx, t(lang, "requests"), Nav::Requests, body)))
}

pub(crate) fn user_name(users: &HashMap<RecordId, String>, id: RecordId) -> String {
    users.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))
}

// ---------------------------------------------------------------------------------------
// The request page

/// Everything the request page shows, loaded in one blocking call.
struct RequestView {
    request: FinanceRequest,
    applicant: String,
    /// The customer's name, when the viewer may see the customer.
    customer_name: Option<String>,
    /// The units the applicant may make a first submission for, home unit first; filled
    /// only for an applicant who belongs to more than one.
    units: Vec<(RecordId, String)>,
}

impl RequestView {
    fn load(crm: &Crm, who: &Principal, id: RecordId) -> crm::Result<Self> {
        let request = crm.requests(who).get(id)?;
        let applicant = user_name(&user_names(crm, who)?, request.applicant);
        // An approver may see a request about a customer they cannot open; the page then
        // shows the customer's id only.
        let customer_name = match request.customer {
            Some(customer) => match crm.customers(who).get(customer) {
                Ok(found) => Some(found.name),
                Err(e)
                    if e.is_not_found()
                        || matches!(e, crm::Error::Domain(DomainError::Forbidden(_))) =>
                {
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let units = if request.applicant == who.user && request.instance.is_none() {
            crm.org(who).units_of(who.user)?.into_iter().map(|u| (u.id, u.name)).collect()
        } else {
            Vec::new()
        };
        let units = if units.len() > 1 { units } else { Vec::new() };
        Ok(Self { request, applicant, customer_name, units })
    }
}

/// GET /requests/{id}
pub(crate) async fn show(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(f): Query<crate::customers::Flash>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let notice = flash(ctx.lang, f.ok.as_deref());
    render_request(&ctx, id, notice, StatusCode::OK).await
}

async fn render_request(
    ctx: &Ctx,
    id: RecordId,
    notice_now: Option<Notice>,
    status: StatusCode,
) -> Reply {
    let view = ctx.run(move |crm, who| RequestView::load(crm, who, id)).await?;
    let lang = ctx.lang;
    let r = &view.request;
    let mine = r.applicant == ctx.who.user;
    let editable = mine && r.is_editable();
    let row = |field: &str, value: &str| html! { dt { (label(lang, field)) } dd { (value) } };
    let base = format!("/requests/{}", r.id);
    let body = html! {
        nav.crumbs { a href="/requests" { (t(lang, "requests")) } " › " (r.code) }
        (title_row(ctx, &TitleRow {
            noun: "request",
            base: &base,
            title: &r.title,
            code: &r.code,
            status: r.status,
            version: r.version,
            submitted: r.instance.is_some(),
            editable,
        }, html! {
            @if !view.units.is_empty() {
                select name="unit" id="submit-unit" aria-label=(t(lang, "fin_unit")) {
                    @for (unit, name) in &view.units {
                        option value=(unit) { (t(lang, "fin_for_unit")) " " (name) }
                    }
                }
            }
        }))
        (notice(notice_now.as_ref()))
        div.card #request {
            h2 { (form_label(lang, r.form)) }
            dl.profile {
                (row("code", &r.code))
                (row("form", form_label(lang, r.form)))
                dt { (label(lang, "applicant")) } dd #applicant { (view.applicant) }
                (row("status", status_label(lang, r.status)))
                dt { (label(lang, "amount")) } dd #amount { (money(r)) }
                (row("category", &r.category))
                (row("spent_on", &date(r.spent_on)))
                @if r.form == RequestForm::Loan {
                    (row("repay_by", &date(r.repay_by)))
                }
                dt { (label(lang, "customer")) }
                dd {
                    @match (r.customer, &view.customer_name) {
                        (Some(customer), Some(name)) => {
                            a href={ "/customers/" (customer) } { (name) }
                        }
                        (Some(customer), None) => { "#" (customer) }
                        (None, _) => span.muted { (t(lang, "none")) },
                    }
                }
                dt { (label(lang, "instance")) }
                dd { (approval_link(lang, r.instance)) }
                (row("created_at", &when(&r.created_at)))
                (row("updated_at", &when(&r.updated_at)))
            }
            @if !r.purpose.is_empty() {
                h3 { (label(lang, "purpose")) }
                pre.content #purpose { (r.purpose) }
            }
        }
    };
    Ok(respond(status, layout(ctx, &r.title, Nav::Requests, body)))
}

// ---------------------------------------------------------------------------------------
// Create and edit

/// The request form as posted (and as shown again when refused).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DraftForm {
    form: String,
    title: String,
    amount: String,
    currency: String,
    category: String,
    purpose: String,
    spent_on: String,
    repay_by: String,
    customer: String,
    version: String,
}

impl DraftForm {
    fn of(r: &FinanceRequest) -> Self {
        Self {
            form: r.form.as_str().to_owned(),
            title: r.title.clone(),
            amount: r.amount.to_string(),
            currency: r.currency.clone(),
            category: r.category.clone(),
            purpose: r.purpose.clone(),
            spent_on: date(r.spent_on),
            repay_by: date(r.repay_by),
            customer: r.customer.map(|c| c.to_string()).unwrap_or_default(),
            version: r.version.to_string(),
        }
    }

    /// The draft the form describes; a value that is not of its field's type is refused
    /// naming the field. The rules of the request itself are the facade's.
    fn to_draft(&self, lang: Lang, form: RequestForm) -> Result<RequestDraft, FieldError> {
        let amount = if self.amount.trim().is_empty() {
            return Err(FieldError::required(lang, label, "amount"));
        } else {
            crm::finance::parse_amount(&self.amount)
                .ok_or_else(|| FieldError::invalid(lang, label, "amount", t(lang, "bad_amount")))?
        };
        let day = |field: &str, text: &str| {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| FieldError::invalid(lang, label, field, t(lang, "bad_date")))
        };
        let spent_on = day("spent_on", &self.spent_on)?;
        // Only loans show the repayment date; anything posted for other forms is ignored.
        let repay_by =
            if form == RequestForm::Loan { day("repay_by", &self.repay_by)? } else { None };
        let customer = match self.customer.trim().trim_start_matches('#') {
            "" => None,
            text => Some(RecordId(text.parse::<u64>().map_err(|_| {
                FieldError::invalid(lang, label, "customer", t(lang, "bad_customer_id"))
            })?)),
        };
        Ok(RequestDraft {
            form,
            title: self.title.clone(),
            amount,
            currency: self.currency.clone(),
            category: self.category.clone(),
            purpose: self.purpose.clone(),
            spent_on,
            repay_by,
            customer,
        })
    }
}

/// Where a request form posts to and what its page is called.
struct FormPage {
    title: String,
    action: String,
    cancel: String,
    submit: &'static str,
}

impl FormPage {
    fn new(lang: Lang, form: RequestForm) -> Self {
        Self {
            title: new_label(lang, form).to_owned(),
            action: "/requests".into(),
            cancel: "/requests".into(),
            submit: "create",
        }
    }

    fn edit(lang: Lang, form: RequestForm, id: RecordId) -> Self {
        Self {
            title: format!("{} · {}", t(lang, "fin_edit"), form_label(lang, form)),
            action: format!("/requests/{id}"),
            cancel: format!("/requests/{id}"),
            submit: "save",
        }
    }
}

fn request_form(
    ctx: &Ctx,
    page: &FormPage,
    kind: RequestForm,
    form: &DraftForm,
    error: Option<&FieldError>,
    reload: Option<&str>,
) -> Markup {
    let lang = ctx.lang;
    let wrong = |field: &str| -> Option<&'static str> {
        error.and_then(|e| e.field.as_deref()).filter(|f| *f == field).map(|_| "true")
    };
    let body = html! {
        h1 { (page.title) }
        @if let Some(error) = error {
            div.notice.error role="alert" id="form-error" { (error.message) }
        }
        @if let Some(href) = reload {
            p { a.btn href=(href) id="reload" { (t(lang, "reload")) } }
        }
        form.card method="post" action=(page.action) {
            (csrf(ctx))
            input type="hidden" name="form" value=(kind.as_str());
            input type="hidden" name="version" value=(form.version);
            div.form-grid {
                label.wide {
                    (label(lang, "title")) " *"
                    input type="text" name="title" id="title" value=(form.title) required
                        maxlength="200" aria-invalid=[wrong("title")];
                }
                label {
                    (label(lang, "amount")) " *"
                    input type="text" name="amount" id="amount" value=(form.amount) required
                        inputmode="decimal" aria-invalid=[wrong("amount")];
                    span.hint { (t(lang, "fin_amount_hint")) }
                }
                label {
                    (label(lang, "currency"))
                    input type="text" name="currency" id="currency" value=(form.currency)
                        maxlength="3" placeholder="CNY" aria-invalid=[wrong("currency")];
                    span.hint { (t(lang, "fin_currency_hint")) }
                }
                label {
                    (label(lang, "category"))
                    input type="text" name="category" id="category" value=(form.category)
                        maxlength="100" aria-invalid=[wrong("category")];
                }
                label {
                    (label(lang, "spent_on"))
                    input type="date" name="spent_on" id="spent_on" value=(form.spent_on)
                        aria-invalid=[wrong("spent_on")];
                }
                @if kind == RequestForm::Loan {
                    label {
                        (label(lang, "repay_by")) " *"
                        input type="date" name="repay_by" id="repay_by" value=(form.repay_by)
                            required aria-invalid=[wrong("repay_by")];
                    }
                }
                label {
                    (label(lang, "customer"))
                    input type="text" name="customer" id="customer" value=(form.customer)
                        inputmode="numeric" aria-invalid=[wrong("customer")];
                    span.hint { (t(lang, "fin_customer_hint")) }
                }
                label.wide {
                    (label(lang, "purpose"))
                    textarea name="purpose" id="purpose" maxlength="2000"
                        aria-invalid=[wrong("purpose")] { (form.purpose) }
                }
            }
            div.toolbar {
                button.btn.primary type="submit" id="save" { (t(lang, page.submit)) }
                a.btn href=(page.cancel) { (t(lang, "cancel")) }
            }
        }
    };
    layout(ctx, &page.title, Nav::Requests, body)
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct NewParams {
    #[serde(default)]
    form: String,
}

/// The form a page or post names; anything else is a bad request.
#[expect(clippy::result_large_err, reason = "the error is the page a handler returns at once")]
fn known_form(ctx: &Ctx, name: &str) -> Result<RequestForm, axum::response::Response> {
    RequestForm::parse(name).ok_or_else(|| ctx.fail(AppError::BadRequest(format!("form={name}"))))
}

/// GET /requests/new?form=expense|reimbursement|loan
pub(crate) async fn new_form(ctx: Ctx, Query(params): Query<NewParams>) -> Reply {
    let kind = known_form(&ctx, &params.form)?;
    let form = DraftForm { currency: "CNY".into(), ..DraftForm::default() };
    let page = FormPage::new(ctx.lang, kind);
    Ok(respond(StatusCode::OK, request_form(&ctx, &page, kind, &form, None, None)))
}

/// POST /requests: writes a draft and opens it.
pub(crate) async fn create(Posted(ctx, form): Posted<DraftForm>) -> Reply {
    let lang = ctx.lang;
    let kind = known_form(&ctx, &form.form)?;
    let page = FormPage::new(lang, kind);
    let draft = match form.to_draft(lang, kind) {
        Ok(draft) => draft,
        Err(error) => {
            let markup = request_form(&ctx, &page, kind, &form, Some(&error), None);
            return Ok(respond(StatusCode::BAD_REQUEST, markup));
        }
    };
    match ctx.call(move |crm, who| crm.requests(who).create(draft)).await {
        Ok(created) => Ok(see_other(&format!("/requests/{}?ok=created", created.id))),
        Err(error) => {
            let refusal = FieldError::of(lang, label, &error);
            let markup = request_form(&ctx, &page, kind, &form, Some(&refusal), None);
            Ok(respond(error.status(), markup))
        }
    }
}

/// The request `id` if the principal may change it now: 403 for someone else's, 409 for one
/// in approval or approved.
fn changeable(who: &Principal, request: FinanceRequest) -> crm::Result<FinanceRequest> {
    if request.applicant != who.user {
        return Err(DomainError::Forbidden(format!(
            "only the applicant changes finance request {}",
            request.code
        ))
        .into());
    }
    if !request.is_editable() {
        return Err(DomainError::State(format!(
            "finance request {} is {} and cannot be changed",
            request.code, request.status
        ))
        .into());
    }
    Ok(request)
}

/// GET /requests/{id}/edit
pub(crate) async fn edit_form(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let request = ctx.run(move |crm, who| changeable(who, crm.requests(who).get(id)?)).await?;
    let form = DraftForm::of(&request);
    let page = FormPage::edit(ctx.lang, request.form, id);
    Ok(respond(StatusCode::OK, request_form(&ctx, &page, request.form, &form, None, None)))
}

/// POST /requests/{id}: saves the form written at its hidden version; a stale form is
/// refused with 409 and a reload link.
pub(crate) async fn update(Path(id): Path<String>, Posted(ctx, form): Posted<DraftForm>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let lang = ctx.lang;
    let kind = known_form(&ctx, &form.form)?;
    let Ok(version) = form.version.trim().parse::<u64>() else {
        return Err(ctx.fail(AppError::BadRequest("version".into())));
    };
    let page = FormPage::edit(lang, kind, id);
    let draft = match form.to_draft(lang, kind) {
        Ok(draft) => draft,
        Err(error) => {
            let markup = request_form(&ctx, &page, kind, &form, Some(&error), None);
            return Ok(respond(StatusCode::BAD_REQUEST, markup));
        }
    };
    match ctx.call(move |crm, who| crm.requests(who).update(id, version, draft)).await {
        Ok(_) => Ok(see_other(&format!("/requests/{id}?ok=saved"))),
        Err(AppError::Crm(e)) if e.is_not_found() => Err(ctx.fail(AppError::NotFound)),
        Err(error) => {
            let refusal = FieldError::of(lang, label, &error);
            let reload = format!("/requests/{id}/edit");
            let reload = (error.status() == StatusCode::CONFLICT).then_some(reload.as_str());
            let markup = request_form(&ctx, &page, kind, &form, Some(&refusal), reload);
            Ok(respond(error.status(), markup))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Submit and delete

/// A button's form: the CSRF token and the version the page showed; on submitting, the
/// unit the request is made for (empty: the applicant's home unit).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct VersionForm {
    version: String,
    unit: String,
}

/// POST /requests/{id}/submit: sends the request into the approval flow bound to its form.
pub(crate) async fn submit(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<VersionForm>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let Ok(version) = form.version.trim().parse::<u64>() else {
        return Err(ctx.fail(AppError::BadRequest("version".into())));
    };
    let unit = match form.unit.trim() {
        "" => None,
        text => match text.parse::<u64>() {
            Ok(unit) => Some(RecordId(unit)),
            Err(_) => return Err(ctx.fail(AppError::BadRequest(text.to_owned()))),
        },
    };
    let submitted = ctx
        .call(move |crm, who| {
            let requests = crm.requests(who);
            let request = requests.get(id)?;
            // A first submission needs a flow bound to the form; without one the person is
            // told so in their language instead of the facade's English refusal.
            if request.instance.is_none() && request.applicant == who.user {
                let binding = crm::finance::binding_of(request.form);
                if !crm.workflows(who).definitions()?.iter().any(|d| d.form == binding) {
                    return Ok(None);
                }
            }
            Ok(Some(requests.submit_for(id, version, unit)?))
        })
        .await;
    match submitted {
        Ok(Some(_)) => Ok(see_other(&format!("/requests/{id}?ok=requested"))),
        Ok(None) => {
            let notice = Notice::Error(t(ctx.lang, "fin_no_flow").to_owned());
            render_request(&ctx, id, Some(notice), StatusCode::CONFLICT).await
        }
        Err(AppError::Crm(e)) if e.is_not_found() => Err(ctx.fail(AppError::NotFound)),
        Err(error) => {
            let notice = Notice::Error(error.message(ctx.lang, Hint::Customer));
            render_request(&ctx, id, Some(notice), error.status()).await
        }
    }
}

/// POST /requests/{id}/delete: deletes a draft that was never submitted.
pub(crate) async fn delete(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<VersionForm>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let Ok(version) = form.version.trim().parse::<u64>() else {
        return Err(ctx.fail(AppError::BadRequest("version".into())));
    };
    match ctx.call(move |crm, who| crm.requests(who).delete(id, version)).await {
        Ok(()) => Ok(see_other("/requests?ok=deleted")),
        Err(AppError::Crm(e)) if e.is_not_found() => Err(ctx.fail(AppError::NotFound)),
        Err(error) => {
            let notice = Notice::Error(error.message(ctx.lang, Hint::Customer));
            render_request(&ctx, id, Some(notice), error.status()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_name_the_field_they_refuse() {
        let form = DraftForm {
            title: "t".into(),
            amount: "12,5x".into(),
            spent_on: "2026-11-20".into(),
            ..DraftForm::default()
        };
        let error = form.to_draft(Lang::Zh, RequestForm::Expense).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("amount"));
        assert!(error.message.contains("金额"), "{}", error.message);
        let form = DraftForm { amount: "10".into(), repay_by: "31/12/2026".into(), ..form };
        let error = form.to_draft(Lang::En, RequestForm::Loan).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("repay_by"));
        assert!(error.message.contains("Repay by"), "{}", error.message);
        // Other forms have no repayment date, whatever was posted.
        let draft = form.to_draft(Lang::En, RequestForm::Expense).unwrap();
        assert_eq!((draft.repay_by, draft.amount), (None, rust_decimal::Decimal::new(10, 0)));
        let form = DraftForm { customer: "#x".into(), ..form };
        let error = form.to_draft(Lang::Zh, RequestForm::Expense).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("customer"));
    }
}
