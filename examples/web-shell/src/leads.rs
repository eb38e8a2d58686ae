//! Lead pages: the list, the lead page with its contact records and attachments, the
//! create/edit/delete forms, the contact-record upload form, conversion into a customer and
//! attachment downloads.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use chrono::{NaiveDateTime, Utc};
use crm::{
    Attachment, AuditEntry, Crm, Interaction, Lead, LeadSearch, LeadStatus, Principal, RecordId,
    SettingList, SettingValue,
};
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth::{Ctx, NoFields, Posted};
use crate::customers::{history_table, interaction_table, user_names};
use crate::error::{parse_id, AppError, Hint, Reply};
use crate::html::{
    csrf, flash, layout, notice, pager, respond, see_other, setting_name, setting_select, when,
    Nav, Notice,
};
use crate::i18n::{field_label, lead_status, t, Lang};

/// Leads per list page.
const PAGE_SIZE: u64 = 20;

/// The statuses a person may pick; conversion has its own button.
const EDITABLE_STATUSES: [LeadStatus; 4] =
    [LeadStatus::New, LeadStatus::Contacted, LeadStatus::Qualified, LeadStatus::Lost];

/// The labels of the effect scores 1 to 5.
const EFFECT_KEYS: [&str; 5] = ["effect_1", "effect_2", "effect_3", "effect_4", "effect_5"];

const STATUSES: [LeadStatus; 5] = [
    LeadStatus::New,
    LeadStatus::Contacted,
    LeadStatus::Qualified,
    LeadStatus::Converted,
    LeadStatus::Lost,
];

fn label(lang: Lang, field: &str) -> String {
    field_label::<Lead>(lang, field)
}

fn ilabel(lang: Lang, field: &str) -> String {
    field_label::<Interaction>(lang, field)
}

fn parse_status(text: &str) -> Option<LeadStatus> {
    STATUSES.into_iter().find(|s| s.as_str() == text)
}

fn status_badge(lang: Lang, status: LeadStatus) -> Markup {
    html! {
        span.badge.converted[status == LeadStatus::Converted].lost[status == LeadStatus::Lost] {
            (lead_status(lang, status))
        }
    }
}

fn sources(crm: &Crm, who: &Principal) -> crm::Result<Vec<SettingValue>> {
    crm.settings(who).list(SettingList::CustomerSource)
}

// ---------------------------------------------------------------------------------------
// List

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    ok: Option<String>,
}

/// GET /leads: search, status filter and pages, newest first.
pub(crate) async fn list(ctx: Ctx, Query(params): Query<ListParams>) -> Reply {
    let lang = ctx.lang;
    let page = params.page.parse::<u64>().ok().filter(|&n| n >= 1).unwrap_or(1);
    let search = LeadSearch {
        text: Some(params.q.clone()).filter(|q| !q.trim().is_empty()),
        status: parse_status(&params.status),
        source: None,
        offset: (page - 1).saturating_mul(PAGE_SIZE),
        limit: PAGE_SIZE,
    };
    let (found, sources) =
        ctx.run(move |crm, who| Ok((crm.leads(who).search(&search)?, sources(crm, who)?))).await?;
    let pairs = [("q", params.q.as_str()), ("status", params.status.as_str())];
    let body = html! {
        div.title-row {
            h1 { (t(lang, "leads")) }
            span.spacer {}
            a.btn.primary href="/leads/new" id="new-lead" { (t(lang, "new_lead")) }
        }
        (notice(flash(lang, params.ok.as_deref()).as_ref()))
        form.toolbar method="get" action="/leads" role="search" {
            input type="search" name="q" id="q" value=(params.q) size="32"
                placeholder=(t(lang, "lead_search_placeholder")) aria-label=(t(lang, "search"));
            select name="status" aria-label=(label(lang, "status")) {
                option value="" { (label(lang, "status")) ": " (t(lang, "all")) }
                @for status in STATUSES {
                    option value=(status.as_str()) selected[params.status == status.as_str()] {
                        (lead_status(lang, status))
                    }
                }
            }
            button.btn.primary type="submit" { (t(lang, "search")) }
            a.btn href="/leads" { (t(lang, "reset")) }
        }
        @if found.items.is_empty() {
            div.card { p.muted { (t(lang, "no_results")) } }
        } @else {
            table.data #lead-list {
                thead {
                    tr {
                        th { (label(lang, "name")) }
                        th { (label(lang, "company")) }
                        th { (label(lang, "title")) }
                        th { (label(lang, "phone")) }
                        th { (label(lang, "email")) }
                        th { (label(lang, "city")) }
                        th { (label(lang, "country")) }
                        th { (label(lang, "source")) }
                        th { (label(lang, "status")) }
                        th { (label(lang, "created_at")) }
                    }
                }
                tbody {
                    @for lead in &found.items {
                        tr {
                            td { a href={ "/leads/" (lead.id) } { (display_name(lead)) } }
                            td { (lead.company) }
                            td { (lead.title) }
                            td { (if lead.mobile.is_empty() { &lead.phone } else { &lead.mobile }) }
                            td { (lead.email) }
                            td { (lead.city) }
                            td { (lead.country) }
                            td { (setting_name(&sources, &lead.source)) }
                            td { (status_badge(lang, lead.status)) }
                            td.muted { (when(&lead.created_at)) }
                        }
                    }
                }
            }
        }
        (pager(lang, "/leads", &pairs, page, PAGE_SIZE, found.total))
    };
    Ok(respond(StatusCode::OK, layout(&ctx, t(lang, "leads"), Nav::Leads, body)))
}

fn display_name(lead: &Lead) -> &str {
    if lead.name.trim().is_empty() {
        &lead.company
    } else {
        &lead.name
    }
}

// ---------------------------------------------------------------------------------------
// The lead page

struct LeadView {
    lead: Lead,
    interactions: Vec<(Interaction, Vec<Attachment>)>,
    history: Vec<AuditEntry>,
    users: HashMap<RecordId, String>,
    sources: Vec<SettingValue>,
    customer_name: Option<String>,
}

impl LeadView {
    fn load(crm: &Crm, who: &Principal, id: RecordId) -> crm::Result<Self> {
        let leads = crm.leads(who);
        let lead = leads.get(id)?;
        let interactions = leads
            .interactions(id)?
            .into_iter()
            .map(|interaction| {
                let files = leads.attachments(interaction.id)?;
                Ok((interaction, files))
            })
            .collect::<crm::Result<Vec<_>>>()?;
        let customer_name = match lead.customer {
            Some(customer) => match crm.customers(who).get(customer) {
                Ok(c) => Some(c.name),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        Ok(Self {
            history: leads.history(id)?,
            users: user_names(crm, who)?,
            sources: sources(crm, who)?,
            lead,
            interactions,
            customer_name,
        })
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct Flash {
    #[serde(default)]
    ok: Option<String>,
}

/// The contact-record form as typed, kept when the form is refused.
#[derive(Debug, Clone, Default)]
struct InteractionDraft {
    subject: String,
    content: String,
    contact_at: String,
    effect: String,
}

/// GET /leads/{id}
pub(crate) async fn show(ctx: Ctx, Path(id): Path<String>, Query(f): Query<Flash>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let notice = flash(ctx.lang, f.ok.as_deref());
    render_lead(&ctx, id, notice, StatusCode::OK, None).await
}

async fn render_lead(
    ctx: &Ctx,
    id: RecordId,
    notice_now: Option<Notice>,
    status: StatusCode,
    draft: Option<InteractionDraft>,
) -> Reply {
    let view = ctx.run(move |crm, who| LeadView::load(crm, who, id)).await?;
    let lang = ctx.lang;
    let lead = &view.lead;
    let converted = lead.status == LeadStatus::Converted;
    let row = |field: &str, value: &str| html! { dt { (label(lang, field)) } dd { (value) } };
    let owner = lead
        .owner
        .and_then(|o| view.users.get(&o).cloned())
        .unwrap_or_else(|| t(lang, "none").to_owned());
    let draft_open = draft.is_some();
    let draft =
        draft.unwrap_or_else(|| InteractionDraft { effect: "3".into(), ..Default::default() });
    let body = html! {
        div.title-row {
            h1 #lead-name { (display_name(lead)) }
            (status_badge(lang, lead.status))
            span.spacer {}
            @if !converted {
                form.inline method="post" action={ "/leads/" (lead.id) "/convert" } {
                    (csrf(ctx))
                    button.btn.primary type="submit" id="convert" { (t(lang, "convert")) }
                }
                a.btn href={ "/leads/" (lead.id) "/edit" } { (t(lang, "edit")) }
                a.btn href={ "/leads/" (lead.id) "/delete" } { (t(lang, "delete")) }
            }
        }
        (notice(notice_now.as_ref()))
        @if converted {
            div.notice.ok {
                (t(lang, "converted_readonly")) " "
                @if let (Some(customer), Some(name)) = (lead.customer, &view.customer_name) {
                    (t(lang, "converted_to")) " "
                    a href={ "/customers/" (customer) } id="converted-customer" { (name) }
                }
            }
        }
        div.card #profile {
            h2 { (t(lang, "profile")) }
            dl.profile {
                (row("name", &lead.name))
                (row("company", &lead.company))
                (row("title", &lead.title))
                (row("mobile", &lead.mobile))
                (row("phone", &lead.phone))
                (row("email", &lead.email))
                (row("website", &lead.website))
                (row("address", &lead.address))
                (row("city", &lead.city))
                (row("country", &lead.country))
                (row("source", &setting_name(&view.sources, &lead.source)))
                (row("status", lead_status(lang, lead.status)))
                (row("owner", &owner))
                (row("created_at", &when(&lead.created_at)))
            }
            @if !lead.remarks.is_empty() {
                h3 { (label(lang, "remarks")) }
                pre.content { (lead.remarks) }
            }
        }
        div.card #interactions {
            h2 { (t(lang, "interactions")) }
            (interaction_table(lang, &view.interactions, &view.users))
            @if !converted {
                details open[draft_open] {
                    summary { (t(lang, "add_interaction")) }
                    form method="post" action={ "/leads/" (lead.id) "/interactions" }
                        enctype="multipart/form-data" {
                        (csrf(ctx))
                        div.form-grid {
                            label {
                                (ilabel(lang, "subject")) " *"
                                input type="text" name="subject" id="subject" value=(draft.subject)
                                    required maxlength="200";
                            }
                            label {
                                (ilabel(lang, "contact_at"))
                                input type="datetime-local" name="contact_at"
                                    value=(draft.contact_at);
                                span.hint { (t(lang, "time_hint")) }
                            }
                            label {
                                (ilabel(lang, "effect"))
                                select name="effect" {
                                    @for n in 1..=5 {
                                        @let key = EFFECT_KEYS[n - 1];
                                        option value=(n) selected[draft.effect == n.to_string()] {
                                            (t(lang, key))
                                        }
                                    }
                                }
                            }
                            label {
                                (t(lang, "files"))
                                input type="file" name="file" id="file" multiple;
                                span.hint { (t(lang, "files_hint")) }
                            }
                            label.wide {
                                (ilabel(lang, "content"))
                                textarea name="content" { (draft.content) }
                            }
                        }
                        button.btn.primary type="submit" id="add-interaction" {
                            (t(lang, "add_interaction"))
                        }
                    }
                }
            }
        }
        div.card #history {
            h2 { (t(lang, "history")) }
            (history_table(lang, &view.history, &view.users, |f| label(lang, f)))
        }
    };
    Ok(respond(status, layout(ctx, display_name(lead), Nav::Leads, body)))
}

// ---------------------------------------------------------------------------------------
// Create, edit, delete, convert

/// The lead form as posted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LeadForm {
    name: String,
    title: String,
    company: String,
    mobile: String,
    phone: String,
    email: String,
    address: String,
    city: String,
    country: String,
    website: String,
    source: String,
    status: String,
    remarks: String,
    version: String,
}

impl LeadForm {
    fn of(lead: &Lead) -> Self {
        Self {
            name: lead.name.clone(),
            title: lead.title.clone(),
            company: lead.company.clone(),
            mobile: lead.mobile.clone(),
            phone: lead.phone.clone(),
            email: lead.email.clone(),
            address: lead.address.clone(),
            city: lead.city.clone(),
            country: lead.country.clone(),
            website: lead.website.clone(),
            source: lead.source.clone(),
            status: lead.status.as_str().to_owned(),
            remarks: lead.remarks.clone(),
            version: lead.version.to_string(),
        }
    }

    fn apply(self, lead: &mut Lead) {
        lead.name = self.name.trim().to_owned();
        lead.title = self.title.trim().to_owned();
        lead.company = self.company.trim().to_owned();
        lead.mobile = self.mobile.trim().to_owned();
        lead.phone = self.phone.trim().to_owned();
        lead.email = self.email.trim().to_owned();
        lead.address = self.address.trim().to_owned();
        lead.city = self.city.trim().to_owned();
        lead.country = self.country.trim().to_owned();
        lead.website = self.website.trim().to_owned();
        lead.source = self.source;
        lead.status = parse_status(&self.status).unwrap_or_default();
        lead.remarks = self.remarks;
    }
}

fn lead_form(
    ctx: &Ctx,
    title: &str,
    action: &str,
    cancel: &str,
    form: &LeadForm,
    sources: &[SettingValue],
    error: Option<Notice>,
) -> Markup {
    let lang = ctx.lang;
    let text = |field: &'static str, value: &str| {
        html! {
            label { (label(lang, field)) input type="text" name=(field) id=(field) value=(value); }
        }
    };
    let body = html! {
        h1 { (title) }
        (notice(error.as_ref()))
        form.card method="post" action=(action) {
            (csrf(ctx))
            input type="hidden" name="version" value=(form.version);
            div.form-grid {
                (text("name", &form.name))
                (text("company", &form.company))
                (text("title", &form.title))
                (text("mobile", &form.mobile))
                (text("phone", &form.phone))
                label {
                    (label(lang, "email"))
                    input type="email" name="email" id="email" value=(form.email);
                }
                (text("website", &form.website))
                (text("city", &form.city))
                (text("country", &form.country))
                label {
                    (label(lang, "source"))
                    (setting_select("source", sources, &form.source, "—"))
                }
                label {
                    (label(lang, "status"))
                    select name="status" id="status" {
                        @for status in EDITABLE_STATUSES {
                            @let chosen = form.status == status.as_str();
                            option value=(status.as_str()) selected[chosen] {
                                (lead_status(lang, status))
                            }
                        }
                    }
                }
                label.wide {
                    (label(lang, "address"))
                    input type="text" name="address" id="address" value=(form.address);
                }
                label.wide {
                    (label(lang, "remarks"))
                    textarea name="remarks" { (form.remarks) }
                }
            }
            div.toolbar {
                button.btn.primary type="submit" id="save" { (t(lang, "save")) }
                a.btn href=(cancel) { (t(lang, "cancel")) }
            }
        }
    };
    layout(ctx, title, Nav::Leads, body)
}

/// GET /leads/new
pub(crate) async fn new_form(ctx: Ctx) -> Reply {
    let sources = ctx.run(sources).await?;
    let form = LeadForm { status: "new".into(), ..LeadForm::default() };
    let title = t(ctx.lang, "new_lead");
    Ok(respond(StatusCode::OK, lead_form(&ctx, title, "/leads", "/leads", &form, &sources, None)))
}

/// POST /leads
pub(crate) async fn create(Posted(ctx, form): Posted<LeadForm>) -> Reply {
    let mut lead = Lead::default();
    form.clone().apply(&mut lead);
    match ctx.call(move |crm, who| crm.leads(who).create(lead)).await {
        Ok(created) => Ok(see_other(&format!("/leads/{}?ok=created", created.id))),
        Err(error) => {
            let sources = ctx.run(sources).await?;
            let message = Notice::Error(error.message(ctx.lang, Hint::Lead));
            let title = t(ctx.lang, "new_lead");
            let markup = lead_form(&ctx, title, "/leads", "/leads", &form, &sources, Some(message));
            Ok(respond(error.status(), markup))
        }
    }
}

/// GET /leads/{id}/edit
pub(crate) async fn edit_form(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let (lead, sources) =
        ctx.run(move |crm, who| Ok((crm.leads(who).get(id)?, sources(crm, who)?))).await?;
    let form = LeadForm::of(&lead);
    let (action, cancel) = (format!("/leads/{id}"), format!("/leads/{id}"));
    let title = t(ctx.lang, "edit_lead");
    Ok(respond(StatusCode::OK, lead_form(&ctx, title, &action, &cancel, &form, &sources, None)))
}

/// POST /leads/{id}
pub(crate) async fn update(Path(id): Path<String>, Posted(ctx, form): Posted<LeadForm>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let Ok(version) = form.version.trim().parse::<u64>() else {
        return Err(ctx.fail(AppError::BadRequest("version".into())));
    };
    let posted = form.clone();
    let saved = ctx
        .call(move |crm, who| {
            let leads = crm.leads(who);
            let mut lead = leads.get(id)?;
            posted.apply(&mut lead);
            lead.version = version;
            leads.update(lead)
        })
        .await;
    match saved {
        Ok(_) => Ok(see_other(&format!("/leads/{id}?ok=saved"))),
        Err(AppError::Crm(e)) if e.is_not_found() => Err(ctx.fail(AppError::NotFound)),
        Err(error) => {
            let sources = ctx.run(sources).await?;
            let message = Notice::Error(error.message(ctx.lang, Hint::Lead));
            let (action, cancel) = (format!("/leads/{id}"), format!("/leads/{id}"));
            let title = t(ctx.lang, "edit_lead");
            let markup = lead_form(&ctx, title, &action, &cancel, &form, &sources, Some(message));
            Ok(respond(error.status(), markup))
        }
    }
}

fn delete_markup(ctx: &Ctx, lead: &Lead, error: Option<Notice>) -> Markup {
    let lang = ctx.lang;
    let body = html! {
        h1 { (t(lang, "delete_lead")) ": " (display_name(lead)) }
        (notice(error.as_ref()))
        div.card {
            p { (t(lang, "confirm_delete_lead")) }
            form.toolbar method="post" action={ "/leads/" (lead.id) "/delete" } {
                (csrf(ctx))
                button.btn.danger type="submit" id="confirm-delete" { (t(lang, "yes_delete")) }
                a.btn href={ "/leads/" (lead.id) } { (t(lang, "cancel")) }
            }
        }
    };
    layout(ctx, t(lang, "delete_lead"), Nav::Leads, body)
}

/// GET /leads/{id}/delete
pub(crate) async fn delete_form(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let lead = ctx.run(move |crm, who| crm.leads(who).get(id)).await?;
    Ok(respond(StatusCode::OK, delete_markup(&ctx, &lead, None)))
}

/// POST /leads/{id}/delete
pub(crate) async fn delete(
    Path(id): Path<String>,
    Posted(ctx, NoFields {}): Posted<NoFields>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    match ctx.call(move |crm, who| crm.leads(who).delete(id)).await {
        Ok(()) => Ok(see_other("/leads?ok=deleted")),
        Err(AppError::Crm(e)) if e.is_not_found() => Err(ctx.fail(AppError::NotFound)),
        Err(error) => {
            let lead = ctx.run(move |crm, who| crm.leads(who).get(id)).await?;
            let message = Notice::Error(error.message(ctx.lang, Hint::Lead));
            Ok(respond(error.status(), delete_markup(&ctx, &lead, Some(message))))
        }
    }
}

/// POST /leads/{id}/convert: turns the lead into a customer and opens the customer.
pub(crate) async fn convert(
    Path(id): Path<String>,
    Posted(ctx, NoFields {}): Posted<NoFields>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    match ctx.call(move |crm, who| crm.leads(who).convert(id)).await {
        Ok((customer, _contact)) => {
            Ok(see_other(&format!("/customers/{}?ok=converted", customer.id)))
        }
        Err(AppError::Crm(e)) if e.is_not_found() => Err(ctx.fail(AppError::NotFound)),
        Err(error) => {
            let message = Notice::Error(error.message(ctx.lang, Hint::Lead));
            render_lead(&ctx, id, Some(message), error.status(), None).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Contact records and attachments

/// Parses `YYYY-MM-DDTHH:MM` (as a `datetime-local` input sends it) or with a space, as UTC.
fn parse_contact_time(text: &str) -> Option<chrono::DateTime<Utc>> {
    let text = text.trim().replace(' ', "T");
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(&text, format).ok())
        .map(|naive| naive.and_utc())
}

/// POST /leads/{id}/interactions: a multipart form with the record and its files.
pub(crate) async fn add_interaction(
    ctx: Ctx,
    Path(id): Path<String>,
    multipart: crate::upload::Body,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let lang = ctx.lang;
    let mut upload = crate::upload::read(&ctx, multipart).await?;
    let files = upload.take_files("file");
    let draft = InteractionDraft {
        subject: upload.text("subject").to_owned(),
        content: upload.text("content").to_owned(),
        contact_at: upload.text("contact_at").to_owned(),
        effect: upload.text("effect").to_owned(),
    };

    let refuse = |message: String| Notice::Error(message);
    let contact_at = if draft.contact_at.trim().is_empty() {
        Some(Utc::now())
    } else {
        parse_contact_time(&draft.contact_at)
    };
    let Some(contact_at) = contact_at else {
        let message = format!(
            "{} {} — {}",
            t(lang, "invalid_field"),
            ilabel(lang, "contact_at"),
            t(lang, "bad_time")
        );
        return render_lead(&ctx, id, Some(refuse(message)), StatusCode::BAD_REQUEST, Some(draft))
            .await;
    };
    let Some(effect) = draft.effect.trim().parse::<i64>().ok().filter(|e| (1..=5).contains(e))
    else {
        let message = format!(
            "{} {} — {}",
            t(lang, "invalid_field"),
            ilabel(lang, "effect"),
            t(lang, "bad_effect")
        );
        return render_lead(&ctx, id, Some(refuse(message)), StatusCode::BAD_REQUEST, Some(draft))
            .await;
    };
    let interaction = Interaction {
        lead: Some(id),
        subject: draft.subject.trim().to_owned(),
        content: draft.content.clone(),
        contact_at,
        effect,
        ..Interaction::default()
    };
    match ctx.call(move |crm, who| crm.leads(who).add_interaction(interaction, files)).await {
        Ok(added) => Ok(see_other(&format!("/leads/{id}?ok=recorded#interaction-{}", added.id))),
        Err(AppError::Crm(e)) if e.is_not_found() => Err(ctx.fail(AppError::NotFound)),
        Err(error) => {
            let message = refuse(error.message(lang, Hint::Interaction));
            render_lead(&ctx, id, Some(message), error.status(), Some(draft)).await
        }
    }
}

/// Media types served as stored; anything else is served as `application/octet-stream`.
const SAFE_CONTENT_TYPES: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/wav",
    "audio/x-wav",
    "audio/webm",
    "video/mp4",
    "text/plain",
    "text/csv",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/msword",
    "application/vnd.ms-excel",
];

/// The content type to serve a stored attachment with.
pub(crate) fn served_content_type(stored: &str) -> &'static str {
    let essence = stored.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    SAFE_CONTENT_TYPES
        .iter()
        .find(|safe| **safe == essence)
        .copied()
        .unwrap_or("application/octet-stream")
}

/// A `Content-Disposition: attachment` value: an ASCII fallback name and the exact name
/// percent-encoded as UTF-8 (RFC 6266 / RFC 5987).
pub(crate) fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let fallback =
        if fallback.trim_matches('_').is_empty() { "download".to_owned() } else { fallback };
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        crate::html::url_encode(file_name)
    )
}

/// GET /attachments/{id}: the stored bytes, always as a download.
pub(crate) async fn download(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let attachment = ctx.run(move |crm, who| crm.leads(who).attachment(id)).await?;
    file_response(&ctx, attachment)
}

/// A stored attachment as a download: `Content-Disposition: attachment` with its name, its
/// stored type only when that is on the safe list, and never cached.
#[expect(clippy::result_large_err, reason = "the error is the page a handler returns at once")]
pub(crate) fn file_response(ctx: &Ctx, attachment: crm::Attachment) -> Reply {
    let disposition = HeaderValue::from_str(&content_disposition(&attachment.file_name))
        .map_err(|e| ctx.fail(AppError::Internal(e.to_string())))?;
    let mut response = attachment.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(served_content_type(&attachment.content_type)),
    );
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_types_are_served_as_stored() {
        assert_eq!(served_content_type("audio/mpeg"), "audio/mpeg");
        assert_eq!(served_content_type("Image/PNG"), "image/png");
        assert_eq!(served_content_type("text/html"), "application/octet-stream");
        assert_eq!(served_content_type("image/svg+xml"), "application/octet-stream");
        assert_eq!(served_content_type(""), "application/octet-stream");
    }

    #[test]
    fn file_names_are_encoded_for_the_header() {
        assert_eq!(
            content_disposition("录音 1.mp3"),
            "attachment; filename=\"___1.mp3\"; filename*=UTF-8''%E5%BD%95%E9%9F%B3%201.mp3"
        );
        let tricky = content_disposition("a\"b\r\n.txt");
        assert!(HeaderValue::from_str(&tricky).is_ok(), "{tricky}");
        assert!(tricky.starts_with("attachment; filename=\"a_b__.txt\""), "{tricky}");
        assert!(content_disposition("照片").contains("filename=\"download\""));
    }

    #[test]
    fn contact_times_are_read_as_utc() {
        let at = parse_contact_time("2024-05-06T07:08").unwrap();
        assert_eq!(at.to_rfc3339(), "2024-05-06T07:08:00+00:00");
        assert!(parse_contact_time("2024-05-06 07:08:09").is_some());
        assert!(parse_contact_time("yesterday").is_none());
    }
}
