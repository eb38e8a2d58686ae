//! The import page (an `.xlsx` or `.csv` upload into customers or leads, with a dry run and
//! a table of row errors) and the customer exports.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use crm::{Format, ImportReport, RowError};
use maud::{html, Markup};

use crate::auth::Ctx;
use crate::error::{AppError, Hint, Reply};
use crate::html::{csrf, layout, notice, respond, Nav, Notice};
use crate::i18n::t;

/// What the import was asked to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Customers,
    Leads,
}

/// What an upload came to.
enum Outcome {
    Done(ImportReport),
    RowErrors(Vec<RowError>),
    Refused(Notice, StatusCode),
}

fn page_markup(ctx: &Ctx, target: Target, dry_run: bool, outcome: Option<&Outcome>) -> Markup {
    let lang = ctx.lang;
    let body = html! {
        h1 { (t(lang, "import_export")) }
        @match outcome {
            Some(Outcome::Done(report)) => {
                div.notice.ok role="status" #import-result {
                    @if report.dry_run {
                        (t(lang, "import_dry_ok"))
                    } @else {
                        (t(lang, "import_ok"))
                    }
                    " " (t(lang, "records_created")) ": " strong #created { (report.created) }
                    @if target == Target::Customers {
                        ", " (t(lang, "contacts_created")) ": " strong { (report.contacts) }
                    }
                }
                @if !report.warnings.is_empty() {
                    div.card {
                        h2 { (t(lang, "warnings")) }
                        ul { @for w in &report.warnings { li { (w) } } }
                    }
                }
            }
            Some(Outcome::RowErrors(rows)) => {
                div.notice.error role="alert" { (t(lang, "import_failed")) }
                table.data #row-errors {
                    thead {
                        tr {
                            th { (t(lang, "row")) }
                            th { (t(lang, "column")) }
                            th { (t(lang, "field")) }
                            th { (t(lang, "reason")) }
                        }
                    }
                    tbody {
                        @for row in rows {
                            tr {
                                td { (row.row) }
                                td { (row.column) }
                                td { (row.field) }
                                td { (row.reason) }
                            }
                        }
                    }
                }
                p {}
            }
            Some(Outcome::Refused(message, _)) => (notice(Some(message))),
            None => {}
        }
        div.card {
            h2 { (t(lang, "import_title")) }
            p.hint { (t(lang, "import_hint")) }
            form method="post" action="/import" enctype="multipart/form-data" {
                (csrf(ctx))
                div.form-grid {
                    label {
                        (t(lang, "import_into"))
                        select name="target" id="target" {
                            option value="customers" selected[target == Target::Customers] {
                                (t(lang, "customers"))
                            }
                            option value="leads" selected[target == Target::Leads] {
                                (t(lang, "leads"))
                            }
                        }
                    }
                    label {
                        (t(lang, "file"))
                        input type="file" name="file" id="import-file" accept=".xlsx,.csv" required;
                    }
                }
                p {
                    label {
                        input type="checkbox" name="dry_run" value="1" checked[dry_run];
                        " " (t(lang, "dry_run"))
                    }
                }
                button.btn.primary type="submit" id="upload" { (t(lang, "upload")) }
            }
        }
        div.card #export {
            h2 { (t(lang, "export_title")) }
            div.toolbar {
                a.btn href="/export/customers.xlsx" id="export-xlsx" { (t(lang, "export_xlsx")) }
                a.btn href="/export/customers.csv" id="export-csv" { (t(lang, "export_csv")) }
            }
        }
    };
    layout(ctx, t(lang, "import_export"), Nav::Import, body)
}

/// GET /import
pub(crate) async fn page(ctx: Ctx) -> Reply {
    Ok(respond(StatusCode::OK, page_markup(&ctx, Target::Customers, true, None)))
}

/// POST /import: a multipart upload with `target`, `file` and `dry_run`.
pub(crate) async fn upload(ctx: Ctx, multipart: crate::upload::Body) -> Reply {
    let lang = ctx.lang;
    let mut upload = crate::upload::read(&ctx, multipart).await?;
    let target = if upload.text("target") == "leads" { Target::Leads } else { Target::Customers };
    let dry_run = !upload.text("dry_run").is_empty();
    let file = upload.take_file("file").map(|file| (file.file_name, file.bytes));

    let outcome = match file {
        None => Outcome::Refused(Notice::Error(t(lang, "no_file").into()), StatusCode::BAD_REQUEST),
        Some((file_name, bytes)) => match Format::from_path(std::path::Path::new(&file_name)) {
            Err(_) => Outcome::Refused(
                Notice::Error(t(lang, "bad_format").into()),
                StatusCode::BAD_REQUEST,
            ),
            Ok(format) => {
                let result = ctx
                    .call(move |crm, who| {
                        let imports = crm.imports(who);
                        match target {
                            Target::Customers => imports.customers(&bytes, format, dry_run),
                            Target::Leads => imports.leads(&bytes, format, dry_run),
                        }
                    })
                    .await;
                match result {
                    Ok(report) => Outcome::Done(report),
                    Err(AppError::Crm(crm::Error::Import(rows))) => Outcome::RowErrors(rows),
                    Err(error) => {
                        let hint =
                            if target == Target::Leads { Hint::Lead } else { Hint::Customer };
                        Outcome::Refused(Notice::Error(error.message(lang, hint)), error.status())
                    }
                }
            }
        },
    };
    let status = match &outcome {
        Outcome::Done(_) => StatusCode::OK,
        Outcome::RowErrors(_) => StatusCode::BAD_REQUEST,
        Outcome::Refused(_, status) => *status,
    };
    Ok(respond(status, page_markup(&ctx, target, dry_run, Some(&outcome))))
}

async fn export(ctx: Ctx, format: Format) -> Reply {
    let lang = ctx.lang.io();
    let bytes = ctx.run(move |crm, who| crm.imports(who).export_customers(format, lang)).await?;
    let (content_type, name) = match format {
        Format::Xlsx => {
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "customers.xlsx")
        }
        Format::Csv => ("text/csv; charset=utf-8", "customers.csv"),
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"{name}\"");
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition)
            .map_err(|e| ctx.fail(AppError::Internal(e.to_string())))?,
    );
    Ok(response)
}

/// GET /export/customers.xlsx
pub(crate) async fn export_xlsx(ctx: Ctx) -> Reply {
    export(ctx, Format::Xlsx).await
}

/// GET /export/customers.csv
pub(crate) async fn export_csv(ctx: Ctx) -> Reply {
    export(ctx, Format::Csv).await
}
