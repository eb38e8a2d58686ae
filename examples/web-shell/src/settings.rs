//! The settings page: customer sources and categories, which administrators add, rename,
//! reorder and delete at run time, and everyone else reads.

use axum::extract::Path;
use axum::http::StatusCode;
use crm::{SettingList, SettingValue};
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth::{Ctx, NoFields, Posted};
use crate::customers::Lists;
use crate::error::{parse_id, AppError, Hint, Reply};
use crate::html::{csrf, layout, notice, post_button, respond, see_other, Nav, Notice};
use crate::i18n::t;

fn list_card(ctx: &Ctx, list: SettingList, values: &[SettingValue]) -> Markup {
    let lang = ctx.lang;
    let admin = ctx.who.is_admin();
    let title = match list {
        SettingList::CustomerSource => t(lang, "customer_sources"),
        SettingList::CustomerCategory => t(lang, "customer_categories"),
    };
    html! {
        div.card id=(list.as_str()) {
            h2 { (title) }
            table {
                thead {
                    tr {
                        th { (t(lang, "code")) }
                        th { (t(lang, "name")) " / " (t(lang, "order")) }
                        th {}
                    }
                }
                tbody {
                    @for value in values {
                        tr {
                            td { code { (value.code) } }
                            td {
                                @if admin {
                                    form.toolbar method="post" action={ "/settings/" (value.id) } {
                                        (csrf(ctx))
                                        input type="text" name="name" value=(value.name) required
                                            aria-label=(t(lang, "name"));
                                        input type="number" name="sort_order"
                                            value=(value.sort_order)
                                            style="width:6em" aria-label=(t(lang, "order"));
                                        button.btn.small type="submit" { (t(lang, "save")) }
                                    }
                                } @else {
                                    (value.name) " · " (value.sort_order)
                                }
                            }
                            td {
                                @if admin {
                                    (post_button(ctx, &format!("/settings/{}/delete", value.id),
                                        t(lang, "delete"), "btn small"))
                                }
                            }
                        }
                    }
                }
            }
            @if admin {
                form.toolbar method="post" action="/settings" {
                    (csrf(ctx))
                    input type="hidden" name="list" value=(list.as_str());
                    input type="text" name="code" required placeholder=(t(lang, "code"))
                        aria-label=(t(lang, "code"));
                    input type="text" name="name" required placeholder=(t(lang, "name"))
                        aria-label=(t(lang, "name"));
                    input type="number" name="sort_order" value=(values.len()) style="width:6em"
                        aria-label=(t(lang, "order"));
                    button.btn type="submit" { (t(lang, "add")) }
                }
            }
        }
    }
}

async fn render(ctx: &Ctx, message: Option<Notice>, status: StatusCode) -> Reply {
    let lists = ctx.run(Lists::load).await?;
    let lang = ctx.lang;
    let body = html! {
        h1 { (t(lang, "settings")) }
        (notice(message.as_ref()))
        @if !ctx.who.is_admin() {
            p.muted { (t(lang, "admin_only")) }
        }
        (list_card(ctx, SettingList::CustomerCategory, &lists.categories))
        (list_card(ctx, SettingList::CustomerSource, &lists.sources))
    };
    Ok(respond(status, layout(ctx, t(lang, "settings"), Nav::Settings, body)))
}

/// GET /settings
pub(crate) async fn page(ctx: Ctx) -> Reply {
    render(&ctx, None, StatusCode::OK).await
}

/// A settings value as posted.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(crate) struct ValueForm {
    list: String,
    code: String,
    name: String,
    sort_order: String,
}

fn order(ctx: &Ctx, text: &str) -> Result<i64, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    text.parse().map_err(|_| AppError::BadRequest(format!("{}: {text}", t(ctx.lang, "order"))))
}

async fn after(ctx: &Ctx, result: Result<(), AppError>) -> Reply {
    match result {
        Ok(()) => Ok(see_other("/settings")),
        Err(error) => {
            let message = Notice::Error(error.message(ctx.lang, Hint::Customer));
            render(ctx, Some(message), error.status()).await
        }
    }
}

/// POST /settings: adds a value to a list.
pub(crate) async fn add(Posted(ctx, form): Posted<ValueForm>) -> Reply {
    let Some(list) = SettingList::parse(&form.list) else {
        return Err(ctx.fail(AppError::BadRequest(form.list)));
    };
    let result = match order(&ctx, &form.sort_order) {
        Ok(sort_order) => ctx
            .call(move |crm, who| crm.settings(who).add(list, &form.code, &form.name, sort_order))
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    after(&ctx, result).await
}

/// POST /settings/{id}: renames or reorders a value.
pub(crate) async fn update(Path(id): Path<String>, Posted(ctx, form): Posted<ValueForm>) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let result = match order(&ctx, &form.sort_order) {
        Ok(sort_order) => ctx
            .call(move |crm, who| crm.settings(who).update(id, &form.name, sort_order))
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    after(&ctx, result).await
}

/// POST /settings/{id}/delete: deletes a value no customer uses.
pub(crate) async fn delete(
    Path(id): Path<String>,
    Posted(ctx, NoFields {}): Posted<NoFields>,
) -> Reply {
    let id = parse_id(&ctx, &id)?;
    let result = ctx.call(move |crm, who| crm.settings(who).delete(id)).await;
    after(&ctx, result).await
}
