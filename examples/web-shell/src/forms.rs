//! User-defined form pages (自定义表单): the list of forms, the form editor for
//! administrators, and the entries of each form — a list with status tabs, the entry page,
//! and the create and edit forms generated from the form's definition, with the submit and
//! delete buttons. Approval happens on the task pages (`/workflow/instances/{id}`), through
//! the flow bound to `form = { custom = ID }`; an entry's status follows its approval.
//!
//! The editor shows one row per field (name, labels, kind, required, choices) plus three
//! empty rows, like a quote's lines: a row left without a name is dropped, so no script is
//! needed to add fields. Row inputs are numbered (`fields[2].kind`) because an unticked
//! checkbox sends nothing and repeated names could not be matched up.

use std::collections::BTreeMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use crm::{
    ApprovalStatus, DomainError, EntryDraft, EntryFilter, FormDef, FormDraft, FormEntry,
    FormFieldDef, FormFieldKind, RecordId, Value,
};
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth::{Ctx, Posted};
use crate::customers::user_names;
use crate::error::{parse_id, reason_text, AppError, Hint, Reply};
use crate::finance::{
    approval_link, parse_status, status_badge, status_label, title_row, user_name, FieldError,
    TitleRow,
};
use crate::html::{csrf, flash, layout, notice, pager, respond, see_other, when, Nav, Notice};
use crate::i18n::{field_label, t, Lang};
use crate::sales::Fields;

/// Entries per list page.
const PAGE_SIZE: u64 = 20;

/// Empty field rows the editor offers beyond the form's fields.
const BLANK_ROWS: usize = 3;

/// The prefix of an entry form's inputs for the form's fields (`v.days`), so a field name
/// never meets the page's own inputs (`title`, `version`, `csrf`).
const VALUE_PREFIX: &str = "v.";

/// The longest one-line value and multi-line value the library keeps, in characters.
const LINE_CHARS: usize = 200;
const TEXTAREA_CHARS: usize = 4000;

fn zh(lang: Lang) -> bool {
    lang == Lang::Zh
}

/// The label of a field kind in `lang`.
fn kind_label(lang: Lang, kind: FormFieldKind) -> &'static str {
    let key = match kind {
        FormFieldKind::Text => "fm_kind_text",
        FormFieldKind::Textarea => "fm_kind_textarea",
        FormFieldKind::Integer => "fm_kind_integer",
        FormFieldKind::Decimal => "fm_kind_decimal",
        FormFieldKind::Date => "fm_kind_date",
        FormFieldKind::Bool => "fm_kind_bool",
        FormFieldKind::Choice => "fm_kind_choice",
    };
    t(lang, key)
}

/// Refuses anyone but an administrator with the shell's 403 page.
#[expect(clippy::result_large_err, reason = "the error is the page a handler returns at once")]
fn admin_only(ctx: &Ctx) -> Result<(), Response> {
    if ctx.who.is_admin() {
        return Ok(());
    }
    let why = t(ctx.lang, "fm_admin_only").to_owned();
    Err(ctx.fail(AppError::Crm(DomainError::Forbidden(why).into())))
}

/// The version a form posted, or the 400 page.
#[expect(clippy::result_large_err, reason = "the error is the page a handler returns at once")]
fn posted_version(ctx: &Ctx, text: &str) -> Result<u64, Response> {
    text.trim().parse::<u64>().map_err(|_| ctx.fail(AppError::BadRequest("version".into())))
}

/// The message shown next to a field: the refusal, when it names `field`.
fn said_at(error: Option<&FieldError>, field: &str) -> Markup {
    html! {
        @if let Some(error) = error.filter(|e| e.field.as_deref() == Some(field)) {
            span.notice.error.field-error { (error.message) }
        }
    }
}

/// `aria-invalid` for an input whose field the refusal names.
fn invalid(error: Option<&FieldError>, field: &str) -> Option<&'static str> {
    error.and_then(|e| e.field.as_deref()).filter(|f| *f == field).map(|_| "true")
}

// ---------------------------------------------------------------------------------------
// The list of forms

/// GET /forms: the forms not retired (administrators: every form, retired ones marked).
pub(crate) async fn list(ctx: Ctx, Query(f): Query<crate::customers::Flash>) -> Reply {
    let admin = ctx.who.is_admin();
    let forms = ctx.run(move |crm, who| crm.forms(who).list(admin)).await?;
    let lang = ctx.lang;
    let body = html! {
        div.title-row {
            h1 { (t(lang, "fm_title")) }
            span.spacer {}
            @if admin {
                a.btn.primary href="/forms/new" id="new-form" { (t(lang, "fm_new_form")) }
            }
        }
        (notice(flash(lang, f.ok.as_deref()).as_ref()))
        @if forms.is_empty() {
            div.card { p.muted { (t(lang, "fm_no_forms")) } }
        } @else {
            table.data #form-list {
                thead {
                    tr {
                        th { (t(lang, "fm_name")) }
                        th { (field_label::<FormDef>(lang, "key")) }
                        th { (t(lang, "fm_field_count")) }
                        th {}
                    }
                }
                tbody {
                    @for form in &forms {
                        tr id={ "form-" (form.id) } {
                            td {
                                a href={ "/forms/" (form.id) "/entries" } { (form.name(zh(lang))) }
                                @if form.retired {
                                    " " span.badge.rejected.retired { (t(lang, "fm_retired")) }
                                }
                            }
                            td.muted { (form.key) }
                            td { (form.fields.len()) }
                            td {
                                div.toolbar {
                                    a.btn.small href={ "/forms/" (form.id) "/entries" } {
                                        (t(lang, "fm_entries"))
                                    }
                                    @if !form.retired {
                                        a.btn.small.primary
                                            href={ "/forms/" (form.id) "/entries/new" } {
                                            (t(lang, "fm_new_entry"))
                                        }
                                    }
                                    @if admin {
                                        a.btn.small href={ "/forms/" (form.id) "/edit" } {
                                            (t(lang, "edit"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(StatusCode::OK, layout(&ctx, t(lang, "fm_title"), Nav::Forms, body)))
}

/// GET /forms/{id}: a form is read through its entries.
pub(crate) async fn form(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    Ok(see_other(&format!("/forms/{id}/entries")))
}

// ---------------------------------------------------------------------------------------
// The form editor

/// One field row of the editor, as typed.
#[derive(Debug, Clone, Default, PartialEq)]
struct FieldRow {
    name: String,
    label_zh: String,
    label_en: String,
    kind: String,
    required: bool,
    choices: String,
}

impl FieldRow {
    fn of(field: &FormFieldDef) -> Self {
        Self {
            name: field.name.clone(),
            label_zh: field.label_zh.clone(),
            label_en: field.label_en.clone(),
            kind: field.kind.as_str().to_owned(),
            required: field.required,
            choices: choices_text(&field.choices),
        }
    }

    /// Whether nothing was typed into the row (its kind and tick do not count).
    fn is_blank(&self) -> bool {
        [&self.name, &self.label_zh, &self.label_en, &self.choices]
            .iter()
            .all(|text| text.trim().is_empty())
    }
}

/// The editor as posted (and as shown again when refused).
#[derive(Debug, Clone, Default)]
struct DefTyped {
    key: String,
    name_zh: String,
    name_en: String,
    version: String,
    rows: Vec<FieldRow>,
}

/// The row number and attribute of a row input (`fields[2].kind` → 2, `kind`).
fn row_input(name: &str) -> Option<(usize, &str)> {
    let (at, attr) = name.strip_prefix("fields[")?.split_once("].")?;
    Some((at.parse().ok()?, attr))
}

impl DefTyped {
    fn of(form: &FormDef) -> Self {
        Self {
            key: form.key.clone(),
            name_zh: form.name_zh.clone(),
            name_en: form.name_en.clone(),
            version: form.version.to_string(),
            rows: form.fields.iter().map(FieldRow::of).collect(),
        }
    }

    /// Reads a posted editor; rows come in their number's order, and rows left blank are
    /// dropped.
    fn read(fields: Fields) -> Self {
        let mut typed = Self::default();
        let mut rows: BTreeMap<usize, FieldRow> = BTreeMap::new();
        for (name, value) in fields {
            match name.as_str() {
                "key" => typed.key = value,
                "name_zh" => typed.name_zh = value,
                "name_en" => typed.name_en = value,
                "version" => typed.version = value,
                other => {
                    let Some((at, attr)) = row_input(other) else { continue };
                    let row = rows.entry(at).or_default();
                    match attr {
                        "name" => row.name = value,
                        "label_zh" => row.label_zh = value,
                        "label_en" => row.label_en = value,
                        "kind" => row.kind = value,
                        "required" => row.required = !value.is_empty(),
                        "choices" => row.choices = value,
                        _ => {}
                    }
                }
            }
        }
        typed.rows = rows.into_values().filter(|row| !row.is_blank()).collect();
        typed
    }

    /// The draft the rows describe: rows without a name are left out. `stored` is the form
    /// as it is (for an edit), whose choices are read back whole.
    fn draft(&self, lang: Lang, stored: Option<&FormDef>) -> Result<FormDraft, FieldError> {
        let mut fields = Vec::new();
        for row in self.rows.iter().filter(|row| !row.name.trim().is_empty()) {
            let name = row.name.trim().to_owned();
            let kept = stored.and_then(|form| form.field(&name)).map_or(&[][..], |f| &f.choices);
            let kind = match row.kind.trim() {
                "" => FormFieldKind::default(),
                kind => FormFieldKind::parse(kind).ok_or_else(|| {
                    let field = format!("fields.{name}.kind");
                    FieldError::invalid(lang, definition_label, &field, t(lang, "fm_unknown_kind"))
                })?,
            };
            fields.push(FormFieldDef {
                name,
                label_zh: row.label_zh.clone(),
                label_en: row.label_en.clone(),
                kind,
                required: row.required,
                choices: split_choices(&row.choices, kept),
            });
        }
        Ok(FormDraft {
            key: self.key.clone(),
            name_en: self.name_en.clone(),
            name_zh: self.name_zh.clone(),
            fields,
        })
    }
}

/// The choices typed into one box, separated by line breaks, commas or 、; empty ones are
/// dropped. A line that is one of the choices the field already has (`kept`) stays whole, so
/// a choice holding a comma reads back as it was shown.
fn split_choices(text: &str, kept: &[String]) -> Vec<String> {
    let mut choices = Vec::new();
    for line in text.lines().map(str::trim) {
        if kept.iter().any(|choice| choice == line) {
            choices.push(line.to_owned());
            continue;
        }
        let parts = line.split([',', '，', '、']).map(str::trim);
        choices.extend(parts.filter(|part| !part.is_empty()).map(str::to_owned));
    }
    choices
}

/// The choices as the box shows them: one per line.
fn choices_text(choices: &[String]) -> String {
    choices.join("\n")
}

/// How the editor labels a field named in a refusal (`key`, `fields.days.kind`).
fn definition_label(lang: Lang, field: &str) -> String {
    if let Some((name, attr)) = field.strip_prefix("fields.").and_then(|f| f.rsplit_once('.')) {
        let attr = match attr {
            "name" => t(lang, "fm_field_name"),
            "label_zh" => t(lang, "fm_label_zh"),
            "label_en" => t(lang, "fm_label_en"),
            "kind" => t(lang, "fm_kind"),
            "required" => t(lang, "fm_required"),
            "choices" => t(lang, "fm_choices"),
            other => other,
        };
        return format!("{} {name} · {attr}", t(lang, "fm_field"));
    }
    match field {
        "name" => t(lang, "fm_name").to_owned(),
        "fields" => t(lang, "fm_fields").to_owned(),
        other => field_label::<FormDef>(lang, other),
    }
}

/// The editor of a new form (`stored` = `None`) or of `stored`, filled with `typed`, with
/// the refusal if there is one.
fn definition_form(
    ctx: &Ctx,
    stored: Option<&FormDef>,
    typed: &DefTyped,
    error: Option<&FieldError>,
) -> Markup {
    let lang = ctx.lang;
    let named = error.and_then(|e| e.field.as_deref()).unwrap_or_default();
    let (title, action) = match stored {
        Some(form) => (
            format!("{} · {}", t(lang, "fm_edit_form"), form.name(zh(lang))),
            format!("/forms/{}", form.id),
        ),
        None => (t(lang, "fm_new_form").to_owned(), "/forms".to_owned()),
    };
    // A refusal of the form's name marks both name boxes.
    let name_invalid = |field: &str| invalid(error, field).or(invalid(error, "name"));
    let row_invalid = |row: &FieldRow, attr: &str| {
        let name = row.name.trim();
        (!name.is_empty() && named == format!("fields.{name}.{attr}")).then_some("true")
    };
    let blank = FieldRow::default();
    let rows = typed.rows.iter().chain(std::iter::repeat_n(&blank, BLANK_ROWS));
    let body = html! {
        nav.crumbs { a href="/forms" { (t(lang, "fm_title")) } " › " (title) }
        div.title-row {
            h1 { (title) }
            @if stored.is_some_and(|form| form.retired) {
                span.badge.rejected.retired { (t(lang, "fm_retired")) }
            }
        }
        @if let Some(error) = error {
            div.notice.error role="alert" id="form-error" { (error.message) }
        }
        form.card method="post" action=(action) id="definition-form" {
            (csrf(ctx))
            input type="hidden" name="version" value=(typed.version);
            div.form-grid {
                label {
                    (field_label::<FormDef>(lang, "key")) " *"
                    input type="text" name="key" id="key" value=(typed.key) required
                        maxlength="40" readonly[stored.is_some()]
                        aria-invalid=[invalid(error, "key")];
                    span.hint { (t(lang, "fm_key_hint")) }
                    (said_at(error, "key"))
                }
                label {
                    (field_label::<FormDef>(lang, "name_zh"))
                    input type="text" name="name_zh" id="name_zh" value=(typed.name_zh)
                        maxlength="100" aria-invalid=[name_invalid("name_zh")];
                    (said_at(error, "name_zh"))
                    (said_at(error, "name"))
                }
                label {
                    (field_label::<FormDef>(lang, "name_en"))
                    input type="text" name="name_en" id="name_en" value=(typed.name_en)
                        maxlength="100" aria-invalid=[name_invalid("name_en")];
                    (said_at(error, "name_en"))
                }
            }
            h2 { (t(lang, "fm_fields")) }
            p.hint { (t(lang, "fm_fields_hint")) " " (t(lang, "fm_choices_hint")) }
            @if let Some(error) = error.filter(|_| named.split('.').next() == Some("fields")) {
                div.notice.error.field-error id="fields-error" { (error.message) }
            }
            table.data #field-rows {
                thead {
                    tr {
                        th { "#" }
                        th { (t(lang, "fm_field_name")) }
                        th { (t(lang, "fm_label_zh")) }
                        th { (t(lang, "fm_label_en")) }
                        th { (t(lang, "fm_kind")) }
                        th { (t(lang, "fm_required")) }
                        th { (t(lang, "fm_choices")) }
                    }
                }
                tbody {
                    @for (at, row) in rows.enumerate() {
                        @let input = |attr: &str| format!("fields[{at}].{attr}");
                        @let kind_typed = match row.kind.trim() {
                            "" => Some(FormFieldKind::default()),
                            kind => FormFieldKind::parse(kind),
                        };
                        tr {
                            td { (at + 1) }
                            td {
                                input type="text" name=(input("name")) value=(row.name)
                                    maxlength="40" aria-label=(t(lang, "fm_field_name"))
                                    aria-invalid=[row_invalid(row, "name")];
                            }
                            td {
                                input type="text" name=(input("label_zh")) value=(row.label_zh)
                                    maxlength="100" aria-label=(t(lang, "fm_label_zh"))
                                    aria-invalid=[row_invalid(row, "label_zh")];
                            }
                            td {
                                input type="text" name=(input("label_en")) value=(row.label_en)
                                    maxlength="100" aria-label=(t(lang, "fm_label_en"))
                                    aria-invalid=[row_invalid(row, "label_en")];
                            }
                            td {
                                select name=(input("kind")) aria-label=(t(lang, "fm_kind"))
                                    aria-invalid=[row_invalid(row, "kind")] {
                                    @for kind in FormFieldKind::ALL {
                                        option value=(kind.as_str())
                                            selected[kind_typed == Some(kind)] {
                                            (kind_label(lang, kind)) " · " (kind.as_str())
                                        }
                                    }
                                    @if kind_typed.is_none() {
                                        option value=(row.kind) selected { (row.kind) }
                                    }
                                }
                            }
                            td {
                                input type="checkbox" name=(input("required")) value="1"
                                    checked[row.required] aria-label=(t(lang, "fm_required"));
                            }
                            td {
                                textarea name=(input("choices")) rows="2"
                                    aria-label=(t(lang, "fm_choices"))
                                    aria-invalid=[row_invalid(row, "choices")] { (row.choices) }
                            }
                        }
                    }
                }
            }
            div.toolbar {
                button.btn.primary type="submit" id="save" {
                    (t(lang, if stored.is_some() { "save" } else { "create" }))
                }
                a.btn href="/forms" { (t(lang, "cancel")) }
            }
        }
        @if let Some(form) = stored {
            div.card #retire {
                h2 { (t(lang, if form.retired { "fm_bring_back" } else { "fm_retire" })) }
                p.hint { (t(lang, "fm_retire_hint")) }
                form.inline method="post" action={ "/forms/" (form.id) "/retire" } {
                    (csrf(ctx))
                    input type="hidden" name="version" value=(form.version);
                    input type="hidden" name="retired" value=(if form.retired { "0" } else { "1" });
                    @if form.retired {
                        button.btn.primary type="submit" id="retire-form" {
                            (t(lang, "fm_bring_back"))
                        }
                    } @else {
                        button.btn.danger type="submit" id="retire-form" { (t(lang, "fm_retire")) }
                    }
                }
            }
        }
    };
    layout(ctx, &title, Nav::Forms, body)
}

/// GET /forms/new
pub(crate) async fn new_form(ctx: Ctx) -> Reply {
    admin_only(&ctx)?;
    Ok(respond(StatusCode::OK, definition_form(&ctx, None, &DefTyped::default(), None)))
}

/// GET /forms/{id}/edit
pub(crate) async fn edit_form(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    admin_only(&ctx)?;
    let form = ctx.run(move |crm, who| crm.forms(who).get(id)).await?;
    Ok(respond(StatusCode::OK, definition_form(&ctx, Some(&form), &DefTyped::of(&form), None)))
}

/// Defines (`edit` = `None`) or changes the form the editor describes; a refusal shows the
/// editor again with what was typed, naming the field.
async fn save_definition(ctx: Ctx, edit: Option<RecordId>, fields: Fields) -> Reply {
    admin_only(&ctx)?;
    let lang = ctx.lang;
    let typed = DefTyped::read(fields);
    let version = match edit {
        Some(_) => posted_version(&ctx, &typed.version)?,
        None => 0,
    };
    let stored = match edit {
        Some(id) => Some(ctx.run(move |crm, who| crm.forms(who).get(id)).await?),
        None => None,
    };
    let refusal = match typed.draft(lang, stored.as_ref()) {
        Err(error) => (error, StatusCode::BAD_REQUEST),
        Ok(draft) => {
            let saved = ctx
                .call(move |crm, who| {
                    let forms = crm.forms(who);
                    match edit {
                        Some(id) => forms.update(id, version, draft),
                        None => forms.define(draft),
                    }
                })
                .await;
            match saved {
                Ok(form) => {
                    tracing::info!(form = %form.id, key = %form.key, "form saved");
                    let done = if edit.is_some() { "saved" } else { "created" };
                    return Ok(see_other(&format!("/forms?ok={done}")));
                }
                Err(AppError::Crm(e)) if e.is_not_found() && edit.is_some() => {
                    return Err(ctx.fail(AppError::NotFound));
                }
                Err(error) => (FieldError::of(lang, definition_label, &error), error.status()),
            }
        }
    };
    let (error, status) = refusal;
    Ok(respond(status, definition_form(&ctx, stored.as_ref(), &typed, Some(&error))))
}

/// POST /forms
pub(crate) async fn create(Posted(ctx, fields): Posted<Fields>) -> Reply {
    save_definition(ctx, None, fields).await
}

/// POST /forms/{id}
pub(crate) async fn update(Path(id): Path<String>, Posted(ctx, fields): Posted<Fields>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    save_definition(ctx, Some(id), fields).await
}

/// What the retire button posts.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct RetireForm {
    #[serde(default)]
    version: String,
    /// `1` retires the form, `0` brings it back.
    #[serde(default)]
    retired: String,
}

/// POST /forms/{id}/retire
pub(crate) async fn retire(Path(id): Path<String>, Posted(ctx, form): Posted<RetireForm>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    admin_only(&ctx)?;
    let version = posted_version(&ctx, &form.version)?;
    let retired = match form.retired.trim() {
        "1" => true,
        "0" => false,
        other => return Err(ctx.fail(AppError::BadRequest(format!("retired={other:?}")))),
    };
    match ctx.call(move |crm, who| crm.forms(who).retire(id, version, retired)).await {
        Ok(_) => Ok(see_other("/forms?ok=saved")),
        Err(AppError::Crm(e)) if e.is_not_found() => Err(ctx.fail(AppError::NotFound)),
        Err(error) => {
            let stored = ctx.run(move |crm, who| crm.forms(who).get(id)).await?;
            let refusal =
                FieldError { field: None, message: error.message(ctx.lang, Hint::Customer) };
            let page = definition_form(&ctx, Some(&stored), &DefTyped::of(&stored), Some(&refusal));
            Ok(respond(error.status(), page))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Entries of a form

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    ok: Option<String>,
}

/// GET /forms/{id}/entries: the principal's entries of the form (an administrator's:
/// everyone's), newest first, with status tabs and pages.
pub(crate) async fn entries(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let lang = ctx.lang;
    let page = params.page.parse::<u64>().ok().filter(|&n| n >= 1).unwrap_or(1);
    let status = parse_status(&params.status);
    let filter = EntryFilter {
        form: Some(id),
        status,
        offset: (page - 1).saturating_mul(PAGE_SIZE),
        limit: PAGE_SIZE,
    };
    let (form, found, users) = ctx
        .run(move |crm, who| {
            let form = crm.forms(who).get(id)?;
            Ok((form, crm.form_entries(who).list(&filter)?, user_names(crm, who)?))
        })
        .await?;
    let base = format!("/forms/{id}/entries");
    let label = |field: &str| field_label::<FormEntry>(lang, field);
    let name = form.name(zh(lang));
    let body = html! {
        nav.crumbs { a href="/forms" { (t(lang, "fm_title")) } " › " (name) }
        div.title-row {
            h1 #form-name { (name) }
            @if form.retired {
                span.badge.rejected.retired { (t(lang, "fm_retired")) }
            }
            span.spacer {}
            @if ctx.who.is_admin() {
                a.btn href={ "/forms/" (id) "/edit" } id="edit-form" { (t(lang, "fm_edit_form")) }
            }
            @if !form.retired {
                a.btn.primary href={ (base) "/new" } id="new-entry" { (t(lang, "fm_new_entry")) }
            }
        }
        (notice(flash(lang, params.ok.as_deref()).as_ref()))
        nav.toolbar.tabs #status-tabs aria-label=(label("status")) {
            a.btn.active[status.is_none()].primary[status.is_none()] href=(base)
                aria-current=[status.is_none().then_some("page")] { (t(lang, "all")) }
            @for each in ApprovalStatus::ALL {
                @let current = status == Some(each);
                a.btn.active[current].primary[current] href={ (base) "?status=" (each.as_str()) }
                    aria-current=[current.then_some("page")] { (status_label(lang, each)) }
            }
        }
        @if found.items.is_empty() {
            div.card { p.muted { (t(lang, "no_results")) } }
        } @else {
            table.data #entry-list {
                thead {
                    tr {
                        th { (label("code")) }
                        th { (label("title")) }
                        th { (label("owner")) }
                        th { (label("status")) }
                        th { (label("created_at")) }
                    }
                }
                tbody {
                    @for entry in &found.items {
                        tr {
                            td { a href={ "/form-entries/" (entry.id) } { (entry.code) } }
                            td { a href={ "/form-entries/" (entry.id) } { (entry.title) } }
                            td { (user_name(&users, entry.owner)) }
                            td { (status_badge(lang, entry.status)) }
                            td.muted { (when(&entry.created_at)) }
                        }
                    }
                }
            }
        }
        (pager(lang, &base, &[("status", params.status.as_str())], page, PAGE_SIZE, found.total))
    };
    Ok(respond(StatusCode::OK, layout(&ctx, name, Nav::Forms, body)))
}

// ---------------------------------------------------------------------------------------
// The entry page

/// A stored value as an entry form types it: the text `FormEntries::parse_values` reads back.
fn input_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Date(day) => day.format("%Y-%m-%d").to_string(),
        other => other.display(),
    }
}

/// A stored value as the entry page shows it.
fn shown_value(lang: Lang, field: &FormFieldDef, value: Option<&Value>) -> Markup {
    match value {
        None | Some(Value::Null) => html! { span.muted { "—" } },
        Some(Value::Bool(yes)) => html! { (t(lang, if *yes { "fm_yes" } else { "fm_no" })) },
        Some(value) if field.kind == FormFieldKind::Textarea => {
            html! { pre.content { (value.display()) } }
        }
        Some(value) => html! { (input_text(value)) },
    }
}

async fn show_entry(
    ctx: &Ctx,
    id: RecordId,
    notice_now: Option<Notice>,
    status: StatusCode,
) -> Reply {
    let lang = ctx.lang;
    let (entry, form, owner) = ctx
        .run(move |crm, who| {
            let entry = crm.form_entries(who).get(id)?;
            let form = crm.forms(who).get(entry.form)?;
            let owner = user_name(&user_names(crm, who)?, entry.owner);
            Ok((entry, form, owner))
        })
        .await?;
    let label = |field: &str| field_label::<FormEntry>(lang, field);
    let base = format!("/form-entries/{}", entry.id);
    let editable = entry.owner == ctx.who.user && entry.status.is_editable();
    let body = html! {
        nav.crumbs {
            a href="/forms" { (t(lang, "fm_title")) } " › "
            a href={ "/forms/" (form.id) "/entries" } { (form.name(zh(lang))) } " › "
            (entry.code)
        }
        (title_row(ctx, &TitleRow {
            noun: "entry",
            base: &base,
            title: &entry.title,
            code: &entry.code,
            status: entry.status,
            version: entry.version,
            submitted: entry.instance.is_some(),
            editable,
        }, html! {}))
        (notice(notice_now.as_ref()))
        div.card #entry {
            dl.profile {
                dt { (label("code")) } dd { (entry.code) }
                dt { (label("form")) }
                dd { a href={ "/forms/" (form.id) "/entries" } { (form.name(zh(lang))) } }
                dt { (label("owner")) } dd #entry-owner { (owner) }
                dt { (label("status")) } dd #entry-status { (status_label(lang, entry.status)) }
                @for field in &form.fields {
                    dt { (field.label(zh(lang))) }
                    dd id={ "value-" (field.name) } {
                        (shown_value(lang, field, entry.values.get(&field.name)))
                    }
                }
                dt { (label("instance")) }
                dd { (approval_link(lang, entry.instance)) }
            }
        }
    };
    Ok(respond(status, layout(ctx, &entry.title, Nav::Forms, body)))
}

/// GET /form-entries/{id}
pub(crate) async fn entry(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(f): Query<crate::customers::Flash>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let notice = flash(ctx.lang, f.ok.as_deref());
    show_entry(&ctx, id, notice, StatusCode::OK).await
}

// ---------------------------------------------------------------------------------------
// Create and edit entries

/// An entry form as posted (and as shown again when refused).
#[derive(Debug, Clone, Default)]
struct Typed(Vec<(String, String)>);

impl Typed {
    fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }

    /// The text typed for the form's field `name`.
    fn value(&self, name: &str) -> &str {
        self.get(&format!("{VALUE_PREFIX}{name}"))
    }

    fn of(entry: &FormEntry) -> Self {
        let mut typed = vec![
            ("title".to_owned(), entry.title.clone()),
            ("version".to_owned(), entry.version.to_string()),
        ];
        for (name, value) in &entry.values {
            typed.push((format!("{VALUE_PREFIX}{name}"), input_text(value)));
        }
        Self(typed)
    }

    /// The text typed for each of the form's fields, as `FormEntries::parse_values` takes it.
    fn values(&self, form: &FormDef) -> Vec<(String, String)> {
        form.fields.iter().map(|f| (f.name.clone(), self.value(&f.name).to_owned())).collect()
    }
}

/// How an entry form labels a field named in a refusal: the form's own label for its
/// fields, the entry's for the rest (`title`).
fn entry_label(lang: Lang, form: &FormDef, field: &str) -> String {
    match form.field(field) {
        Some(def) => def.label(zh(lang)).to_owned(),
        None => field_label::<FormEntry>(lang, field),
    }
}

/// A refusal of an entry, naming the field the way the form labels it.
fn entry_error(lang: Lang, form: &FormDef, error: &AppError) -> FieldError {
    match error {
        AppError::Crm(crm::Error::Domain(DomainError::Invalid { field, reason })) => {
            let message = format!(
                "{} {} — {}",
                t(lang, "invalid_field"),
                entry_label(lang, form, field),
                reason_text(lang, reason)
            );
            FieldError { field: Some(field.clone()), message }
        }
        AppError::Crm(crm::Error::Domain(DomainError::Required { field })) => {
            let message =
                format!("{} {}", t(lang, "required_field"), entry_label(lang, form, field));
            FieldError { field: Some(field.clone()), message }
        }
        other => FieldError { field: None, message: other.message(lang, Hint::FormEntry) },
    }
}

/// The input of one of the form's fields, filled with what was typed.
fn value_input(lang: Lang, field: &FormFieldDef, typed: &str, wrong: Option<&str>) -> Markup {
    let name = format!("{VALUE_PREFIX}{}", field.name);
    let id = format!("v-{}", field.name);
    let required = field.required;
    let folded = typed.trim().to_lowercase();
    match field.kind {
        FormFieldKind::Text => html! {
            input type="text" name=(name) id=(id) value=(typed) maxlength=(LINE_CHARS)
                required[required] aria-invalid=[wrong];
        },
        FormFieldKind::Textarea => html! {
            textarea name=(name) id=(id) rows="4" maxlength=(TEXTAREA_CHARS)
                required[required] aria-invalid=[wrong] { (typed) }
        },
        FormFieldKind::Integer => html! {
            input type="text" name=(name) id=(id) value=(typed) inputmode="numeric"
                required[required] aria-invalid=[wrong];
        },
        FormFieldKind::Decimal => html! {
            input type="text" name=(name) id=(id) value=(typed) inputmode="decimal"
                required[required] aria-invalid=[wrong];
        },
        FormFieldKind::Date => html! {
            input type="date" name=(name) id=(id) value=(typed)
                required[required] aria-invalid=[wrong];
        },
        FormFieldKind::Bool => {
            let yes = matches!(folded.as_str(), "yes" | "true" | "1" | "是");
            let no = matches!(folded.as_str(), "no" | "false" | "0" | "否");
            html! {
                select name=(name) id=(id) required[required] aria-invalid=[wrong] {
                    option value="" selected[folded.is_empty()] { "—" }
                    option value="yes" selected[yes] { (t(lang, "fm_yes")) }
                    option value="no" selected[no] { (t(lang, "fm_no")) }
                    @if !(folded.is_empty() || yes || no) {
                        option value=(typed) selected { (typed) }
                    }
                }
            }
        }
        FormFieldKind::Choice => {
            let chosen = typed.trim();
            let known = chosen.is_empty() || field.choices.iter().any(|c| c == chosen);
            html! {
                select name=(name) id=(id) required[required] aria-invalid=[wrong] {
                    option value="" selected[chosen.is_empty()] { "—" }
                    @for choice in &field.choices {
                        option value=(choice) selected[choice == chosen] { (choice) }
                    }
                    @if !known {
                        option value=(typed) selected { (typed) }
                    }
                }
            }
        }
    }
}

/// The create (`edit` = `None`) or edit form of an entry of `form`, filled with `typed`,
/// with the refusal if there is one.
fn entry_form(
    ctx: &Ctx,
    form: &FormDef,
    edit: Option<RecordId>,
    typed: &Typed,
    error: Option<&FieldError>,
) -> Markup {
    let lang = ctx.lang;
    let name = form.name(zh(lang));
    let (title, action) = match edit {
        Some(id) => {
            (format!("{} · {name}", t(lang, "fm_edit_entry")), format!("/form-entries/{id}"))
        }
        None => {
            (format!("{} · {name}", t(lang, "fm_new_entry")), format!("/forms/{}/entries", form.id))
        }
    };
    let body = html! {
        nav.crumbs {
            a href="/forms" { (t(lang, "fm_title")) } " › "
            a href={ "/forms/" (form.id) "/entries" } { (name) }
        }
        h1 { (title) }
        @if let Some(error) = error {
            div.notice.error role="alert" id="form-error" { (error.message) }
        }
        form.card method="post" action=(action) id="entry-form" {
            (csrf(ctx))
            input type="hidden" name="version" value=(typed.get("version"));
            p.hint { (t(lang, "fm_required_hint")) }
            div.form-grid {
                label.wide {
                    (field_label::<FormEntry>(lang, "title")) " *"
                    input type="text" name="title" id="title" value=(typed.get("title")) required
                        maxlength=(LINE_CHARS) aria-invalid=[invalid(error, "title")];
                    (said_at(error, "title"))
                }
                @for field in &form.fields {
                    @let wide = (field.kind == FormFieldKind::Textarea).then_some("wide");
                    label class=[wide] id={ "field-" (field.name) } {
                        (field.label(zh(lang)))
                        @if field.required { " *" }
                        @let wrong = invalid(error, &field.name);
                        (value_input(lang, field, typed.value(&field.name), wrong))
                        (said_at(error, &field.name))
                    }
                }
            }
            div.toolbar {
                button.btn.primary type="submit" id="save" {
                    (t(lang, if edit.is_some() { "save" } else { "create" }))
                }
                @match edit {
                    Some(id) => a.btn href={ "/form-entries/" (id) } { (t(lang, "cancel")) },
                    None => a.btn href={ "/forms/" (form.id) "/entries" } { (t(lang, "cancel")) },
                }
            }
        }
    };
    layout(ctx, &title, Nav::Forms, body)
}

/// GET /forms/{id}/entries/new
pub(crate) async fn new_entry(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let form = ctx.run(move |crm, who| crm.forms(who).get(id)).await?;
    if form.retired {
        let why = t(ctx.lang, "fm_retired_now").to_owned();
        return Err(ctx.fail(AppError::Crm(DomainError::State(why).into())));
    }
    Ok(respond(StatusCode::OK, entry_form(&ctx, &form, None, &Typed::default(), None)))
}

/// GET /form-entries/{id}/edit: the owner's entry while it may change.
pub(crate) async fn edit_entry(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let (form, typed) = ctx
        .run(move |crm, who| {
            let entry = crm.form_entries(who).get(id)?;
            if entry.owner != who.user {
                return Err(DomainError::Forbidden("only the owner changes it".into()).into());
            }
            if !entry.status.is_editable() {
                return Err(DomainError::State(format!("it is {}", entry.status)).into());
            }
            Ok((crm.forms(who).get(entry.form)?, Typed::of(&entry)))
        })
        .await?;
    Ok(respond(StatusCode::OK, entry_form(&ctx, &form, Some(id), &typed, None)))
}

/// What an entry form writes.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// A new entry of this form.
    New(RecordId),
    /// This entry.
    Edit(RecordId),
}

/// Writes a new entry or saves one; the values are read by `FormEntries::parse_values`, and
/// a refusal shows the form again with everything typed, naming the field.
async fn save_entry(ctx: Ctx, target: Target, typed: Typed) -> Reply {
    let lang = ctx.lang;
    let edit = match target {
        Target::New(_) => None,
        Target::Edit(id) => Some(id),
    };
    let version = match edit {
        Some(_) => posted_version(&ctx, typed.get("version"))?,
        None => 0,
    };
    let posted = typed.clone();
    let outcome = ctx
        .call(move |crm, who| {
            let entries = crm.form_entries(who);
            let form = match target {
                Target::New(form) => form,
                Target::Edit(id) => entries.get(id)?.form,
            };
            let def = crm.forms(who).get(form)?;
            let saved = entries.parse_values(&def, &posted.values(&def)).and_then(|values| {
                let draft = EntryDraft { title: posted.get("title").to_owned(), values };
                match edit {
                    Some(id) => entries.update(id, version, draft),
                    None => entries.create(form, draft),
                }
            });
            Ok((def, saved))
        })
        .await;
    match outcome {
        Ok((_, Ok(saved))) => {
            let done = if edit.is_some() { "saved" } else { "created" };
            Ok(see_other(&format!("/form-entries/{}?ok={done}", saved.id)))
        }
        Ok((def, Err(error))) => {
            let error = AppError::Crm(error);
            if edit.is_some() && matches!(&error, AppError::Crm(e) if e.is_not_found()) {
                return Err(ctx.fail(AppError::NotFound));
            }
            let refusal = entry_error(lang, &def, &error);
            Ok(respond(error.status(), entry_form(&ctx, &def, edit, &typed, Some(&refusal))))
        }
        Err(error) => Err(ctx.fail_as(error, Hint::FormEntry)),
    }
}

/// POST /forms/{id}/entries
pub(crate) async fn create_entry(
    Path(id): Path<String>,
    Posted(ctx, fields): Posted<Fields>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    save_entry(ctx, Target::New(id), Typed(fields)).await
}

/// POST /form-entries/{id}
pub(crate) async fn update_entry(
    Path(id): Path<String>,
    Posted(ctx, fields): Posted<Fields>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    save_entry(ctx, Target::Edit(id), Typed(fields)).await
}

// ---------------------------------------------------------------------------------------
// Submit and delete

/// What a submit or delete button posts: the version the page showed.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct VersionForm {
    #[serde(default)]
    version: String,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Submit,
    Delete,
}

async fn step(ctx: Ctx, id: String, form: VersionForm, step: Step) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let version = posted_version(&ctx, &form.version)?;
    let done = ctx
        .call(move |crm, who| {
            let entries = crm.form_entries(who);
            match step {
                Step::Submit => entries.submit(id, version, None).map(|entry| entry.form),
                Step::Delete => {
                    let form = entries.get(id)?.form;
                    entries.delete(id, version).map(|()| form)
                }
            }
        })
        .await;
    match (done, step) {
        (Ok(_), Step::Submit) => Ok(see_other(&format!("/form-entries/{id}?ok=requested"))),
        (Ok(form), Step::Delete) => Ok(see_other(&format!("/forms/{form}/entries?ok=deleted"))),
        (Err(AppError::Crm(e)), _) if e.is_not_found() => Err(ctx.fail(AppError::NotFound)),
        (Err(error), _) => {
            let message = error.message(ctx.lang, Hint::FormEntry);
            show_entry(&ctx, id, Some(Notice::Error(message)), error.status()).await
        }
    }
}

/// POST /form-entries/{id}/submit
pub(crate) async fn submit_entry(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<VersionForm>,
) -> Reply {
    step(ctx, id, form, Step::Submit).await
}

/// POST /form-entries/{id}/delete
pub(crate) async fn delete_entry(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<VersionForm>,
) -> Reply {
    step(ctx, id, form, Step::Delete).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_split_by_lines_commas_and_enumeration_commas() {
        let none: &[String] = &[];
        let typed = "年假、病假，事假, 调休\n婚假";
        assert_eq!(split_choices(typed, none), ["年假", "病假", "事假", "调休", "婚假"]);
        assert!(split_choices(" ,、 \n\n", none).is_empty());
        // What the box shows reads back the same, a kept choice holding a comma and all.
        let kept = ["A, Inc.".to_owned(), "B".to_owned()];
        assert_eq!(split_choices(&choices_text(&kept), &kept), kept);
        let grown = format!("{}\nC, D", choices_text(&kept));
        assert_eq!(split_choices(&grown, &kept), ["A, Inc.", "B", "C", "D"]);
    }

    #[test]
    fn rows_are_read_by_number_and_blank_rows_dropped() {
        let posted = |pairs: &[(&str, &str)]| -> Fields {
            pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
        };
        let typed = DefTyped::read(posted(&[
            ("key", "leave"),
            ("fields[1].name", "kind"),
            ("fields[1].kind", "choice"),
            ("fields[1].choices", "年假、病假"),
            ("fields[0].name", "days"),
            ("fields[0].kind", "decimal"),
            ("fields[0].required", "1"),
            ("fields[2].name", ""),
            ("fields[2].kind", "text"),
            ("fields[3].label_zh", "备注"),
        ]));
        assert_eq!(typed.rows.len(), 3, "the row with a label only stays on the page");
        let draft = typed.draft(Lang::En, None).unwrap();
        assert_eq!(draft.fields.len(), 2, "a row without a name is dropped");
        assert_eq!((draft.fields[0].name.as_str(), draft.fields[0].required), ("days", true));
        assert_eq!(draft.fields[1].choices, ["年假", "病假"]);

        let odd = DefTyped::read(posted(&[("fields[0].name", "x"), ("fields[0].kind", "colour")]));
        let error = odd.draft(Lang::Zh, None).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("fields.x.kind"));
        assert!(error.message.contains("字段 x · 类型"), "{}", error.message);
    }

    #[test]
    fn values_type_back_as_the_parser_reads_them() {
        assert_eq!(input_text(&Value::Bool(true)), "yes");
        assert_eq!(input_text(&Value::Null), "");
        let day = chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap();
        assert_eq!(input_text(&Value::Date(day)), "2027-01-04");
        assert_eq!(definition_label(Lang::En, "fields.days.kind"), "Field days · Kind");
        assert_eq!(definition_label(Lang::Zh, "key"), "标识");
    }
}
