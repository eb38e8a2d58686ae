//! Quote and contract pages (报价单 / 合同): lists with a status filter, the document page,
//! the create and edit forms, and the submit and delete buttons. Approval happens on the
//! task pages (`/workflow/instances/{id}`); a document's status follows its approval.
//!
//! A quote form has one row per line (product, quantity, unit price, discount) plus three
//! empty rows; rows left empty are ignored, so no script is needed to add lines.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use chrono::NaiveDate;
use crm::{
    ApprovalStatus, Contract, ContractDraft, Quote, QuoteDraft, QuoteLine, RecordId, SalesFilter,
};
use maud::{html, Markup};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::auth::{Ctx, Posted};
use crate::customers::user_names;
use crate::error::{parse_id, AppError, Reply};
use crate::finance::{
    approval_link, date, parse_status, status_badge, status_label, title_row, user_name,
    FieldError, Labels, TitleRow,
};
use crate::html::{csrf, flash, layout, notice, pager, respond, see_other, when, Nav, Notice};
use crate::i18n::{field_label, t, Lang};

/// Documents per list page.
const PAGE_SIZE: u64 = 20;

/// Empty line rows a quote form offers beyond the quote's lines.
const BLANK_LINES: usize = 3;

/// Which of the two documents a page is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    Quote,
    Contract,
}

impl Doc {
    fn base(self) -> &'static str {
        match self {
            Doc::Quote => "/quotes",
            Doc::Contract => "/contracts",
        }
    }

    fn title(self, lang: Lang) -> &'static str {
        match self {
            Doc::Quote => t(lang, "quotes"),
            Doc::Contract => t(lang, "contracts"),
        }
    }

    fn new_label(self, lang: Lang) -> &'static str {
        match self {
            Doc::Quote => t(lang, "new_quote"),
            Doc::Contract => t(lang, "new_contract"),
        }
    }

    fn labels(self) -> Labels {
        match self {
            Doc::Quote => quote_label,
            Doc::Contract => |lang, field| field_label::<Contract>(lang, field),
        }
    }
}

/// A quote field's label; a line's field reads as "line 2 · product".
fn quote_label(lang: Lang, field: &str) -> String {
    let line = field.strip_prefix("lines[").and_then(|rest| rest.split_once("]."));
    match line {
        Some((at, name)) => {
            let name = match name {
                "product" => t(lang, "quote_product"),
                "quantity" => t(lang, "quote_quantity"),
                "unit_price" => t(lang, "quote_unit_price"),
                "discount" => t(lang, "quote_discount"),
                other => other,
            };
            match lang {
                Lang::Zh => format!("第 {at} 行 · {name}"),
                Lang::En => format!("Line {at} · {name}"),
            }
        }
        None => field_label::<Quote>(lang, field),
    }
}

fn money(amount: Decimal, currency: &str) -> String {
    format!("{amount:.2} {currency}")
}

/// The customer's name for the lists and pages, or its id when the viewer cannot see it.
fn customer_names(crm: &crm::Crm, who: &crm::Principal, ids: &[RecordId]) -> Vec<String> {
    ids.iter()
        .map(|id| match crm.customers(who).get(*id) {
            Ok(customer) => customer.name,
            Err(_) => format!("#{id}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Lists

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    ok: Option<String>,
}

/// One list row, whichever the document.
struct Row {
    id: RecordId,
    code: String,
    title: String,
    customer: String,
    amount: String,
    owner: String,
    status: ApprovalStatus,
    created: String,
}

async fn list(ctx: Ctx, doc: Doc, params: ListParams) -> Reply {
    let lang = ctx.lang;
    let page = params.page.parse::<u64>().ok().filter(|&n| n >= 1).unwrap_or(1);
    let filter = SalesFilter {
        status: parse_status(&params.status),
        offset: (page - 1).saturating_mul(PAGE_SIZE),
        limit: PAGE_SIZE,
        ..SalesFilter::default()
    };
    let (rows, total) = ctx
        .run(move |crm, who| {
            let users = user_names(crm, who)?;
            let (mut rows, total) = match doc {
                Doc::Quote => {
                    let found = crm.quotes(who).list(&filter)?;
                    let rows = found.items.iter().map(|q| Row {
                        id: q.id,
                        code: q.code.clone(),
                        title: q.title.clone(),
                        customer: q.customer.to_string(),
                        amount: money(q.total, &q.currency),
                        owner: user_name(&users, q.owner),
                        status: q.status,
                        created: when(&q.created_at),
                    });
                    (rows.collect::<Vec<_>>(), found.total)
                }
                Doc::Contract => {
                    let found = crm.contracts(who).list(&filter)?;
                    let rows = found.items.iter().map(|c| Row {
                        id: c.id,
                        code: c.code.clone(),
                        title: c.title.clone(),
                        customer: c.customer.to_string(),
                        amount: money(c.amount, &c.currency),
                        owner: user_name(&users, c.owner),
                        status: c.status,
                        created: when(&c.created_at),
                    });
                    (rows.collect::<Vec<_>>(), found.total)
                }
            };
            let ids: Vec<RecordId> =
                rows.iter().filter_map(|r| r.customer.parse().ok().map(RecordId)).collect();
            for (row, name) in rows.iter_mut().zip(customer_names(crm, who, &ids)) {
                row.customer = name;
            }
            Ok((rows, total))
        })
        .await?;
    let base = doc.base();
    let labels = doc.labels();
    let amount_field = if doc == Doc::Quote { "total" } else { "amount" };
    let body = html! {
        div.title-row {
            h1 { (doc.title(lang)) }
            nav.tabs {
                @for other in [Doc::Quote, Doc::Contract] {
                    a.btn.active[other == doc] href=(other.base()) id={ "tab" (other.base().replace('/', "-")) } {
                        (other.title(lang))
                    }
                }
            }
            span.spacer {}
            a.btn.primary href={ (base) "/new" } id="new-document" { (doc.new_label(lang)) }
        }
        (notice(flash(lang, params.ok.as_deref()).as_ref()))
        form.toolbar method="get" action=(base) role="search" {
            select name="status" aria-label=(labels(lang, "status")) {
                option value="" { (labels(lang, "status")) ": " (t(lang, "all")) }
                @for status in ApprovalStatus::ALL {
                    option value=(status.as_str()) selected[params.status == status.as_str()] {
                        (status_label(lang, status))
                    }
                }
            }
            button.btn.primary type="submit" { (t(lang, "search")) }
            a.btn href=(base) { (t(lang, "reset")) }
        }
        @if rows.is_empty() {
            div.card { p.muted { (t(lang, "no_results")) } }
        } @else {
            table.data #document-list {
                thead {
                    tr {
                        th { (labels(lang, "code")) }
                        th { (labels(lang, "title")) }
                        th { (labels(lang, "customer")) }
                        th { (labels(lang, amount_field)) }
                        th { (labels(lang, "owner")) }
                        th { (labels(lang, "status")) }
                        th { (labels(lang, "created_at")) }
                    }
                }
                tbody {
                    @for row in &rows {
                        tr {
                            td { a href={ (base) "/" (row.id) } { (row.code) } }
                            td { a href={ (base) "/" (row.id) } { (row.title) } }
                            td { (row.customer) }
                            td { (row.amount) }
                            td { (row.owner) }
                            td { (status_badge(lang, row.status)) }
                            td.muted { (row.created) }
                        }
                    }
                }
            }
        }
        (pager(lang, base, &[("status", params.status.as_str())], page, PAGE_SIZE, total))
    };
    Ok(respond(StatusCode::OK, layout(&ctx, doc.title(lang), Nav::Sales, body)))
}

/// GET /quotes
pub(crate) async fn quotes(ctx: Ctx, Query(params): Query<ListParams>) -> Reply {
    list(ctx, Doc::Quote, params).await
}

/// GET /contracts
pub(crate) async fn contracts(ctx: Ctx, Query(params): Query<ListParams>) -> Reply {
    list(ctx, Doc::Contract, params).await
}

// ---------------------------------------------------------------------------------------
// The document page

/// The parts of a document page both kinds share, around the kind's own fields.
struct Shown {
    id: RecordId,
    version: u64,
    code: String,
    title: String,
    status: ApprovalStatus,
    instance: Option<RecordId>,
    mine: bool,
    customer: (RecordId, String),
    owner: String,
    fields: Markup,
}

async fn show(
    ctx: &Ctx,
    doc: Doc,
    id: RecordId,
    notice_now: Option<Notice>,
    status: StatusCode,
) -> Reply {
    let lang = ctx.lang;
    let labels = doc.labels();
    let shown = ctx
        .run(move |crm, who| {
            let users = user_names(crm, who)?;
            let row = |label: &str, value: String| html! { dt { (labels(lang, label)) } dd { (value) } };
            let shown = match doc {
                Doc::Quote => {
                    let q = crm.quotes(who).get(id)?;
                    let fields = html! {
                        dt { (labels(lang, "total")) } dd #document-amount { (money(q.total, &q.currency)) }
                        (row("valid_until", date(q.valid_until)))
                        (row("remarks", q.remarks.clone()))
                        dt { (labels(lang, "lines")) }
                        dd { (lines_table(lang, &q.lines)) }
                    };
                    Shown {
                        id: q.id,
                        version: q.version,
                        code: q.code,
                        title: q.title,
                        status: q.status,
                        instance: q.instance,
                        mine: q.owner == who.user,
                        customer: (q.customer, String::new()),
                        owner: user_name(&users, q.owner),
                        fields,
                    }
                }
                Doc::Contract => {
                    let c = crm.contracts(who).get(id)?;
                    let fields = html! {
                        dt { (labels(lang, "amount")) } dd #document-amount { (money(c.amount, &c.currency)) }
                        dt { (labels(lang, "quote")) }
                        dd {
                            @if let Some(quote) = c.quote {
                                a href={ "/quotes/" (quote) } { "#" (quote) }
                            }
                        }
                        (row("signed_on", date(c.signed_on)))
                        (row("starts_on", date(c.starts_on)))
                        (row("ends_on", date(c.ends_on)))
                        (row("payment_terms", c.payment_terms.clone()))
                        (row("remarks", c.remarks.clone()))
                    };
                    Shown {
                        id: c.id,
                        version: c.version,
                        code: c.code,
                        title: c.title,
                        status: c.status,
                        instance: c.instance,
                        mine: c.owner == who.user,
                        customer: (c.customer, String::new()),
                        owner: user_name(&users, c.owner),
                        fields,
                    }
                }
            };
            let name = customer_names(crm, who, &[shown.customer.0]).remove(0);
            Ok(Shown { customer: (shown.customer.0, name), ..shown })
        })
        .await?;
    let base = format!("{}/{}", doc.base(), shown.id);
    let editable = shown.mine && shown.status.is_editable();
    let body = html! {
        nav.crumbs { a href=(doc.base()) { (doc.title(lang)) } " › " (shown.code) }
        (title_row(ctx, &TitleRow {
            noun: "document",
            base: &base,
            title: &shown.title,
            code: &shown.code,
            status: shown.status,
            version: shown.version,
            submitted: shown.instance.is_some(),
            editable,
        }, html! {}))
        (notice(notice_now.as_ref()))
        div.card #document {
            dl.profile {
                dt { (labels(lang, "customer")) }
                dd { a href={ "/customers/" (shown.customer.0) } { (shown.customer.1) } }
                dt { (labels(lang, "owner")) } dd { (shown.owner) }
                dt { (labels(lang, "status")) } dd { (status_label(lang, shown.status)) }
                (shown.fields)
                dt { (labels(lang, "instance")) }
                dd { (approval_link(lang, shown.instance)) }
            }
        }
    };
    Ok(respond(status, layout(ctx, &shown.title, Nav::Sales, body)))
}

/// A quote's lines as a table.
pub(crate) fn lines_table(lang: Lang, lines: &[QuoteLine]) -> Markup {
    html! {
        table.data #quote-lines {
            thead {
                tr {
                    th { (t(lang, "quote_product")) }
                    th { (t(lang, "quote_quantity")) }
                    th { (t(lang, "quote_unit_price")) }
                    th { (t(lang, "quote_discount")) }
                    th { (t(lang, "quote_line_amount")) }
                }
            }
            tbody {
                @for line in lines {
                    tr {
                        td { (line.product) }
                        td { (line.quantity) }
                        td { (line.unit_price) }
                        td { (line.discount) "%" }
                        td { (line.amount()) }
                    }
                }
            }
        }
    }
}

/// GET /quotes/{id}
pub(crate) async fn quote(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(f): Query<crate::customers::Flash>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let notice = flash(ctx.lang, f.ok.as_deref());
    show(&ctx, Doc::Quote, id, notice, StatusCode::OK).await
}

/// GET /contracts/{id}
pub(crate) async fn contract(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(f): Query<crate::customers::Flash>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let notice = flash(ctx.lang, f.ok.as_deref());
    show(&ctx, Doc::Contract, id, notice, StatusCode::OK).await
}

// ---------------------------------------------------------------------------------------
// Create and edit

/// A document form as posted (and as shown again when refused): every field as typed, in
/// the order sent, so a quote's repeated line fields stay in their rows.
#[derive(Debug, Clone, Default)]
struct Typed(Vec<(String, String)>);

impl Typed {
    fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }

    /// Every value posted under `name`, in order.
    fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    fn of_quote(q: &Quote) -> Self {
        let mut typed = vec![
            ("customer".to_owned(), q.customer.to_string()),
            ("title".to_owned(), q.title.clone()),
            ("currency".to_owned(), q.currency.clone()),
            ("valid_until".to_owned(), date(q.valid_until)),
            ("remarks".to_owned(), q.remarks.clone()),
            ("version".to_owned(), q.version.to_string()),
        ];
        for line in &q.lines {
            typed.push(("product".into(), line.product.clone()));
            typed.push(("quantity".into(), line.quantity.to_string()));
            typed.push(("unit_price".into(), line.unit_price.to_string()));
            typed.push(("discount".into(), line.discount.to_string()));
        }
        Self(typed)
    }

    fn of_contract(c: &Contract) -> Self {
        Self(vec![
            ("customer".to_owned(), c.customer.to_string()),
            ("title".to_owned(), c.title.clone()),
            ("amount".to_owned(), c.amount.to_string()),
            ("currency".to_owned(), c.currency.clone()),
            ("quote".to_owned(), c.quote.map(|q| q.to_string()).unwrap_or_default()),
            ("signed_on".to_owned(), date(c.signed_on)),
            ("starts_on".to_owned(), date(c.starts_on)),
            ("ends_on".to_owned(), date(c.ends_on)),
            ("payment_terms".to_owned(), c.payment_terms.clone()),
            ("remarks".to_owned(), c.remarks.clone()),
            ("version".to_owned(), c.version.to_string()),
        ])
    }

    /// The quote's lines as typed, one per row that is not empty.
    fn line_rows(&self) -> Vec<[&str; 4]> {
        let (products, quantities, prices, discounts) = (
            self.all("product"),
            self.all("quantity"),
            self.all("unit_price"),
            self.all("discount"),
        );
        fn at<'t>(list: &[&'t str], i: usize) -> &'t str {
            list.get(i).copied().unwrap_or("")
        }
        (0..products.len().max(quantities.len()).max(prices.len()))
            .map(|i| [at(&products, i), at(&quantities, i), at(&prices, i), at(&discounts, i)])
            .filter(|row| row.iter().any(|cell| !cell.trim().is_empty()))
            .collect()
    }
}

/// Reads the typed texts into a draft's values, naming the field of the first bad one.
struct Reader {
    lang: Lang,
    labels: Labels,
}

impl Reader {
    fn id(&self, field: &str, text: &str) -> Result<Option<RecordId>, FieldError> {
        match text.trim().trim_start_matches('#') {
            "" => Ok(None),
            text => text.parse::<u64>().map(|id| Some(RecordId(id))).map_err(|_| {
                FieldError::invalid(self.lang, self.labels, field, t(self.lang, "bad_record_id"))
            }),
        }
    }

    fn required_id(&self, field: &str, text: &str) -> Result<RecordId, FieldError> {
        self.id(field, text)?.ok_or_else(|| FieldError::required(self.lang, self.labels, field))
    }

    fn number(
        &self,
        field: &str,
        text: &str,
        empty: Option<Decimal>,
    ) -> Result<Decimal, FieldError> {
        if text.trim().is_empty() {
            return empty.ok_or_else(|| FieldError::required(self.lang, self.labels, field));
        }
        let why = if field == "amount" { "bad_amount" } else { "bad_number" };
        crm::finance::parse_amount(text)
            .ok_or_else(|| FieldError::invalid(self.lang, self.labels, field, t(self.lang, why)))
    }

    fn day(&self, field: &str, text: &str) -> Result<Option<NaiveDate>, FieldError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map(Some).map_err(|_| {
            FieldError::invalid(self.lang, self.labels, field, t(self.lang, "bad_date"))
        })
    }

    fn quote(&self, typed: &Typed) -> Result<QuoteDraft, FieldError> {
        // A form sends the four fields of every row; other counts cannot be matched up.
        let counts = ["product", "quantity", "unit_price", "discount"].map(|f| typed.all(f).len());
        if counts.iter().any(|n| *n != counts[0]) {
            let why = t(self.lang, "quote_lines_mismatch");
            return Err(FieldError::invalid(self.lang, self.labels, "lines", why));
        }
        let mut lines = Vec::new();
        for (at, [product, quantity, price, discount]) in typed.line_rows().into_iter().enumerate()
        {
            let field = |name: &str| format!("lines[{}].{name}", at + 1);
            lines.push(QuoteLine {
                product: product.to_owned(),
                quantity: self.number(&field("quantity"), quantity, None)?,
                unit_price: self.number(&field("unit_price"), price, None)?,
                discount: self.number(&field("discount"), discount, Some(Decimal::ZERO))?,
            });
        }
        Ok(QuoteDraft {
            customer: self.required_id("customer", typed.get("customer"))?,
            title: typed.get("title").to_owned(),
            currency: typed.get("currency").to_owned(),
            valid_until: self.day("valid_until", typed.get("valid_until"))?,
            lines,
            remarks: typed.get("remarks").to_owned(),
        })
    }

    fn contract(&self, typed: &Typed) -> Result<ContractDraft, FieldError> {
        Ok(ContractDraft {
            customer: self.required_id("customer", typed.get("customer"))?,
            title: typed.get("title").to_owned(),
            amount: self.number("amount", typed.get("amount"), None)?,
            currency: typed.get("currency").to_owned(),
            quote: self.id("quote", typed.get("quote"))?,
            signed_on: self.day("signed_on", typed.get("signed_on"))?,
            starts_on: self.day("starts_on", typed.get("starts_on"))?,
            ends_on: self.day("ends_on", typed.get("ends_on"))?,
            payment_terms: typed.get("payment_terms").to_owned(),
            remarks: typed.get("remarks").to_owned(),
        })
    }
}

/// The create or edit form of `doc`, filled with `typed`, with the refusal if there is one.
fn document_form(
    ctx: &Ctx,
    doc: Doc,
    edit: Option<RecordId>,
    typed: &Typed,
    error: Option<&FieldError>,
) -> Markup {
    let lang = ctx.lang;
    let labels = doc.labels();
    let wrong = |field: &str| -> Option<&'static str> {
        error.and_then(|e| e.field.as_deref()).filter(|f| *f == field).map(|_| "true")
    };
    let (title, action) = match edit {
        Some(id) => {
            (format!("{} · {}", t(lang, "edit"), doc.title(lang)), format!("{}/{id}", doc.base()))
        }
        None => (doc.new_label(lang).to_owned(), doc.base().to_owned()),
    };
    let input = |field: &'static str, kind: &'static str, required: bool| {
        html! {
            label {
                (labels(lang, field)) @if required { " *" }
                input type=(kind) name=(field) id=(field) value=(typed.get(field))
                    required[required] aria-invalid=[wrong(field)];
            }
        }
    };
    let body = html! {
        h1 { (title) }
        @if let Some(error) = error {
            div.notice.error role="alert" id="form-error" { (error.message) }
        }
        form.card method="post" action=(action) {
            (csrf(ctx))
            input type="hidden" name="version" value=(typed.get("version"));
            div.form-grid {
                label.wide {
                    (labels(lang, "title")) " *"
                    input type="text" name="title" id="title" value=(typed.get("title")) required
                        maxlength="200" aria-invalid=[wrong("title")];
                }
                label {
                    (labels(lang, "customer")) " *"
                    input type="text" name="customer" id="customer" value=(typed.get("customer"))
                        required inputmode="numeric" aria-invalid=[wrong("customer")];
                    span.hint { (t(lang, "sales_customer_hint")) }
                }
                (input("currency", "text", false))
                @match doc {
                    Doc::Quote => {
                        (input("valid_until", "date", false))
                    }
                    Doc::Contract => {
                        (input("amount", "text", true))
                        (input("quote", "text", false))
                        (input("signed_on", "date", false))
                        (input("starts_on", "date", false))
                        (input("ends_on", "date", false))
                        label.wide {
                            (labels(lang, "payment_terms"))
                            textarea name="payment_terms" id="payment_terms" maxlength="2000"
                                aria-invalid=[wrong("payment_terms")] { (typed.get("payment_terms")) }
                        }
                    }
                }
                label.wide {
                    (labels(lang, "remarks"))
                    textarea name="remarks" id="remarks" maxlength="2000"
                        aria-invalid=[wrong("remarks")] { (typed.get("remarks")) }
                }
            }
            @if doc == Doc::Quote {
                (line_rows(lang, typed, error))
            }
            div.toolbar {
                button.btn.primary type="submit" id="save" {
                    (t(lang, if edit.is_some() { "save" } else { "create" }))
                }
                a.btn href=(doc.base()) { (t(lang, "cancel")) }
            }
        }
    };
    layout(ctx, &title, Nav::Sales, body)
}

/// The quote form's line rows: the lines as typed, then empty rows to add more.
fn line_rows(lang: Lang, typed: &Typed, error: Option<&FieldError>) -> Markup {
    let rows = typed.line_rows();
    // The row and field a refusal names (`lines[2].quantity`), marked in the table.
    let wrong = error.and_then(|e| e.field.as_deref()).and_then(|f| {
        let (at, name) = f.strip_prefix("lines[")?.split_once("].")?;
        Some((at.parse::<usize>().ok()?, name.to_owned()))
    });
    let mark = |at: usize, name: &str| {
        wrong.as_ref().filter(|(row, field)| *row == at && field == name).map(|_| "true")
    };
    let blank = ["", "", "", ""];
    html! {
        h2 { (t(lang, "quote_lines")) }
        p.hint { (t(lang, "quote_lines_hint")) }
        table.data #line-rows {
            thead {
                tr {
                    th { "#" }
                    th { (t(lang, "quote_product")) }
                    th { (t(lang, "quote_quantity")) }
                    th { (t(lang, "quote_unit_price")) }
                    th { (t(lang, "quote_discount")) " %" }
                }
            }
            tbody {
                @for (at, row) in rows.iter().chain(std::iter::repeat_n(&blank, BLANK_LINES)).enumerate() {
                    tr {
                        td { (at + 1) }
                        td { input type="text" name="product" value=(row[0]) maxlength="200"
                            aria-label=(t(lang, "quote_product"))
                            aria-invalid=[mark(at + 1, "product")]; }
                        td { input type="text" name="quantity" value=(row[1]) inputmode="decimal"
                            aria-label=(t(lang, "quote_quantity"))
                            aria-invalid=[mark(at + 1, "quantity")]; }
                        td { input type="text" name="unit_price" value=(row[2]) inputmode="decimal"
                            aria-label=(t(lang, "quote_unit_price"))
                            aria-invalid=[mark(at + 1, "unit_price")]; }
                        td { input type="text" name="discount" value=(row[3]) inputmode="decimal"
                            aria-label=(t(lang, "quote_discount"))
                            aria-invalid=[mark(at + 1, "discount")]; }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct NewParams {
    #[serde(default)]
    customer: String,
}

async fn new_form(ctx: Ctx, doc: Doc, params: NewParams) -> Reply {
    let typed = Typed(vec![
        ("customer".into(), params.customer.trim().to_owned()),
        ("currency".into(), "CNY".into()),
    ]);
    Ok(respond(StatusCode::OK, document_form(&ctx, doc, None, &typed, None)))
}

/// GET /quotes/new?customer=ID
pub(crate) async fn new_quote(ctx: Ctx, Query(params): Query<NewParams>) -> Reply {
    new_form(ctx, Doc::Quote, params).await
}

/// GET /contracts/new?customer=ID
pub(crate) async fn new_contract(ctx: Ctx, Query(params): Query<NewParams>) -> Reply {
    new_form(ctx, Doc::Contract, params).await
}

/// Writes (`edit` = `None`) or saves the document the form describes; a refusal shows the
/// form again naming the field.
async fn save(ctx: Ctx, doc: Doc, edit: Option<RecordId>, typed: Typed) -> Reply {
    let lang = ctx.lang;
    let reader = Reader { lang, labels: doc.labels() };
    let refuse = |error: &FieldError, status: StatusCode| {
        respond(status, document_form(&ctx, doc, edit, &typed, Some(error)))
    };
    let version = match edit {
        Some(_) => match typed.get("version").trim().parse::<u64>() {
            Ok(version) => version,
            Err(_) => return Err(ctx.fail(AppError::BadRequest("version".into()))),
        },
        None => 0,
    };
    let saved = match doc {
        Doc::Quote => {
            let draft = match reader.quote(&typed) {
                Ok(draft) => draft,
                Err(error) => return Ok(refuse(&error, StatusCode::BAD_REQUEST)),
            };
            ctx.call(move |crm, who| {
                let quotes = crm.quotes(who);
                Ok(match edit {
                    Some(id) => quotes.update(id, version, draft)?.id,
                    None => quotes.create(draft)?.id,
                })
            })
            .await
        }
        Doc::Contract => {
            let draft = match reader.contract(&typed) {
                Ok(draft) => draft,
                Err(error) => return Ok(refuse(&error, StatusCode::BAD_REQUEST)),
            };
            ctx.call(move |crm, who| {
                let contracts = crm.contracts(who);
                Ok(match edit {
                    Some(id) => contracts.update(id, version, draft)?.id,
                    None => contracts.create(draft)?.id,
                })
            })
            .await
        }
    };
    match saved {
        Ok(id) => {
            let done = if edit.is_some() { "saved" } else { "created" };
            Ok(see_other(&format!("{}/{id}?ok={done}", doc.base())))
        }
        Err(AppError::Crm(e)) if e.is_not_found() && edit.is_some() => {
            Err(ctx.fail(AppError::NotFound))
        }
        Err(error) => Ok(refuse(&FieldError::of(lang, doc.labels(), &error), error.status())),
    }
}

/// A urlencoded form read as its fields in order.
pub(crate) type Fields = Vec<(String, String)>;

/// POST /quotes
pub(crate) async fn create_quote(Posted(ctx, fields): Posted<Fields>) -> Reply {
    save(ctx, Doc::Quote, None, Typed(fields)).await
}

/// POST /contracts
pub(crate) async fn create_contract(Posted(ctx, fields): Posted<Fields>) -> Reply {
    save(ctx, Doc::Contract, None, Typed(fields)).await
}

/// POST /quotes/{id}
pub(crate) async fn update_quote(
    Path(id): Path<String>,
    Posted(ctx, fields): Posted<Fields>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    save(ctx, Doc::Quote, Some(id), Typed(fields)).await
}

/// POST /contracts/{id}
pub(crate) async fn update_contract(
    Path(id): Path<String>,
    Posted(ctx, fields): Posted<Fields>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    save(ctx, Doc::Contract, Some(id), Typed(fields)).await
}

async fn edit_form(ctx: Ctx, doc: Doc, id: RecordId) -> Reply {
    let typed = ctx
        .run(move |crm, who| {
            let (typed, owner, status) = match doc {
                Doc::Quote => {
                    let q = crm.quotes(who).get(id)?;
                    (Typed::of_quote(&q), q.owner, q.status)
                }
                Doc::Contract => {
                    let c = crm.contracts(who).get(id)?;
                    (Typed::of_contract(&c), c.owner, c.status)
                }
            };
            if owner != who.user {
                return Err(crm::DomainError::Forbidden("only the owner changes it".into()).into());
            }
            if !status.is_editable() {
                return Err(crm::DomainError::State(format!("it is {status}")).into());
            }
            Ok(typed)
        })
        .await?;
    Ok(respond(StatusCode::OK, document_form(&ctx, doc, Some(id), &typed, None)))
}

/// GET /quotes/{id}/edit
pub(crate) async fn edit_quote(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    edit_form(ctx, Doc::Quote, id).await
}

/// GET /contracts/{id}/edit
pub(crate) async fn edit_contract(ctx: Ctx, Path(id): Path<String>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    edit_form(ctx, Doc::Contract, id).await
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

async fn step(ctx: Ctx, doc: Doc, id: String, form: VersionForm, step: Step) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let Ok(version) = form.version.trim().parse::<u64>() else {
        return Err(ctx.fail(AppError::BadRequest("version".into())));
    };
    let done = ctx
        .call(move |crm, who| match (doc, step) {
            (Doc::Quote, Step::Submit) => crm.quotes(who).submit(id, version, None).map(drop),
            (Doc::Quote, Step::Delete) => crm.quotes(who).delete(id, version),
            (Doc::Contract, Step::Submit) => crm.contracts(who).submit(id, version, None).map(drop),
            (Doc::Contract, Step::Delete) => crm.contracts(who).delete(id, version),
        })
        .await;
    match (done, step) {
        (Ok(()), Step::Submit) => Ok(see_other(&format!("{}/{id}?ok=requested", doc.base()))),
        (Ok(()), Step::Delete) => Ok(see_other(&format!("{}?ok=deleted", doc.base()))),
        (Err(AppError::Crm(e)), _) if e.is_not_found() => Err(ctx.fail(AppError::NotFound)),
        (Err(error), _) => {
            let message = FieldError::of(ctx.lang, doc.labels(), &error).message;
            show(&ctx, doc, id, Some(Notice::Error(message)), error.status()).await
        }
    }
}

/// POST /quotes/{id}/submit
pub(crate) async fn submit_quote(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<VersionForm>,
) -> Reply {
    step(ctx, Doc::Quote, id, form, Step::Submit).await
}

/// POST /quotes/{id}/delete
pub(crate) async fn delete_quote(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<VersionForm>,
) -> Reply {
    step(ctx, Doc::Quote, id, form, Step::Delete).await
}

/// POST /contracts/{id}/submit
pub(crate) async fn submit_contract(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<VersionForm>,
) -> Reply {
    step(ctx, Doc::Contract, id, form, Step::Submit).await
}

/// POST /contracts/{id}/delete
pub(crate) async fn delete_contract(
    Path(id): Path<String>,
    Posted(ctx, form): Posted<VersionForm>,
) -> Reply {
    step(ctx, Doc::Contract, id, form, Step::Delete).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_fields_read_as_their_row() {
        assert_eq!(quote_label(Lang::Zh, "lines[2].unit_price"), "第 2 行 · 单价");
        assert_eq!(quote_label(Lang::En, "lines[1].product"), "Line 1 · Product");
        assert_eq!(quote_label(Lang::Zh, "valid_until"), "有效期至");
    }

    #[test]
    fn empty_line_rows_are_ignored() {
        let typed = Typed(
            [("product", "滤芯"), ("quantity", "2"), ("unit_price", "99.5"), ("discount", "")]
                .into_iter()
                .chain([("product", " "), ("quantity", ""), ("unit_price", ""), ("discount", "")])
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        );
        assert_eq!(typed.line_rows(), vec![["滤芯", "2", "99.5", ""]]);
    }
}
