//! The page frame and the small pieces every page shares: top bar, notices, pager, pick
//! lists, hidden CSRF fields, redirects and URL encoding. Everything is maud markup, so
//! every value is escaped where it is written.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use crm::SettingValue;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::auth::Ctx;
use crate::i18n::{t, Lang};

/// Which top-bar entry is the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Customers,
    Leads,
    Requests,
    Sales,
    Forms,
    Import,
    Settings,
    Todo,
    Workflows,
    None,
}

/// A message at the top of a page.
#[derive(Debug, Clone)]
pub(crate) enum Notice {
    Ok(String),
    Error(String),
}

impl Notice {
    fn markup(&self) -> Markup {
        match self {
            Notice::Ok(text) => html! { div.notice.ok role="status" { (text) } },
            Notice::Error(text) => html! { div.notice.error role="alert" { (text) } },
        }
    }
}

/// The notice for a `?ok=` key of a redirect after a change; unknown keys show nothing.
pub(crate) fn flash(lang: Lang, ok: Option<&str>) -> Option<Notice> {
    let key = match ok? {
        "saved" => "ok_saved",
        "created" => "ok_created",
        "deleted" => "ok_deleted",
        "converted" => "ok_converted",
        "recorded" => "ok_recorded",
        "approved" => "ok_approved",
        "rejected" => "ok_rejected",
        "returned" => "ok_returned",
        "withdrawn" => "ok_withdrawn",
        "resubmitted" => "ok_resubmitted",
        "commented" => "ok_commented",
        "requested" => "ok_requested",
        "defined" => "ok_defined",
        "attached" => "ok_attached",
        "reassigned" => "ok_reassigned",
        _ => return None,
    };
    Some(Notice::Ok(t(lang, key).to_owned()))
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;
  font:14px/1.55 -apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",
  "Noto Sans CJK SC",Roboto,sans-serif;
  color:#1f2933;background:#f3f5f8}
a{color:#1d63c4;text-decoration:none}a:hover{text-decoration:underline}
header.top{background:#1f3a5f;color:#fff;display:flex;align-items:center;gap:20px;padding:0 24px;
  height:52px;box-shadow:0 1px 3px rgba(0,0,0,.2)}
header.top .brand{font-weight:600;font-size:16px;color:#fff;margin-right:12px}
header.top nav{display:flex;gap:4px;height:100%}
header.top nav a{color:#c9d6e8;padding:0 12px;display:flex;align-items:center;
  border-bottom:3px solid transparent}
header.top nav a:hover{color:#fff;text-decoration:none;background:rgba(255,255,255,.06)}
header.top nav a.active{color:#fff;border-bottom-color:#63a4ff}
header.top .spacer{flex:1}
header.top .user{color:#c9d6e8;font-size:13px}
header.top form{margin:0}
header.top button{background:transparent;border:1px solid #58779f;color:#fff;border-radius:4px;
  padding:3px 10px;cursor:pointer;font:inherit;font-size:13px}
header.top button:hover{background:rgba(255,255,255,.1)}
main{max-width:1240px;margin:24px auto;padding:0 24px}
h1{font-size:22px;font-weight:600;margin:0 0 16px}
h2{font-size:16px;font-weight:600;margin:0 0 12px}
h3{font-size:14px;font-weight:600;margin:12px 0 6px}
.card{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:16px 20px;
  margin-bottom:20px}
.card>table{margin:0 -20px;width:calc(100% + 40px)}
.card>table th:first-child,.card>table td:first-child{padding-left:20px}
table{width:100%;border-collapse:collapse;background:#fff}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #e8edf2;vertical-align:top}
th{background:#f5f7fa;font-weight:600;color:#52606d;font-size:13px;white-space:nowrap}
tbody tr:hover td{background:#f8fbff}
table.data{border:1px solid #dde3ea;border-radius:6px}
.btn{display:inline-block;padding:6px 14px;border-radius:4px;border:1px solid #c5cfdb;
  background:#fff;color:#1f2933;cursor:pointer;font:inherit;line-height:1.4}
.btn:hover{background:#f2f5f9;text-decoration:none}
.btn.primary{background:#1d63c4;border-color:#1d63c4;
  color:#fff}.btn.primary:hover{background:#1753a6}
.btn.danger{background:#c62828;border-color:#c62828;color:#fff}.btn.danger:hover{background:#a61f1f}
.btn.small{padding:2px 8px;font-size:12px}
.btn.link{border:none;background:none;color:#c62828;padding:0;font-size:13px}
.toolbar{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin-bottom:16px}
.toolbar .spacer{flex:1}
.card>form.toolbar{margin:12px 0 0}td .toolbar{margin:0}
.title-row{display:flex;align-items:center;gap:12px;margin-bottom:16px;flex-wrap:wrap}
.title-row h1{margin:0}
.title-row .spacer{flex:1}
input[type=text],input[type=email],input[type=date],input[type=datetime-local],
input[type=password],input[type=number],input[type=search],select,textarea{padding:6px 8px;
  border:1px solid #c5cfdb;border-radius:4px;font:inherit;background:#fff;color:inherit}
input:focus,select:focus,textarea:focus{outline:2px solid #9cc3ff;border-color:#1d63c4}
textarea{width:100%;min-height:72px}
.form-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px 20px;
  margin-bottom:12px}
.form-grid.single{grid-template-columns:1fr}
.form-grid label{display:flex;flex-direction:column;gap:4px;font-size:13px;color:#52606d}
.form-grid .wide{grid-column:1/-1}
.hint{font-size:12px;color:#7b8794}
.notice{padding:10px 14px;border-radius:4px;margin-bottom:16px}
.notice.ok{background:#e8f6ec;border:1px solid #a9d8b4;color:#1e5b2b}
.notice.error{background:#fdecea;border:1px solid #f3b3ab;color:#8a1c12}
dl.profile{display:grid;grid-template-columns:130px 1fr 130px 1fr;gap:8px 16px;margin:0}
dl.profile dt{color:#7b8794}dl.profile dd{margin:0;word-break:break-word}
.muted{color:#7b8794}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e4ebf5;
  color:#233b5c;white-space:nowrap}
.badge.count{background:#e5483a;color:#fff;margin-left:4px}
.badge.pending{background:#fff1d6;color:#7a4b00}.badge.approved{background:#e3f4e6;
  color:#1e5b2b}.badge.rejected{background:#fdecea;color:#8a1c12}
img.diagram{max-width:100%;background:#fff;border:1px solid #dde3ea;border-radius:6px}
ol.events{margin:0;padding-left:22px}ol.events li{margin-bottom:8px}
.badge.pool{background:#fff1d6;color:#7a4b00}.badge.converted{background:#e3f4e6;
  color:#1e5b2b}.badge.lost{background:#f1f1f1;color:#666}
.pager{display:flex;gap:4px;align-items:center;margin-top:12px;flex-wrap:wrap}
.pager a,.pager span{padding:4px 10px;border:1px solid #dde3ea;border-radius:4px;background:#fff}
.pager .current{background:#1d63c4;color:#fff;border-color:#1d63c4}
.pager .count{border:none;background:none;color:#52606d;margin-right:8px}
.crumbs{font-size:13px;margin-bottom:6px;color:#7b8794}
.inline{display:inline}
ul.relatives{margin:6px 0 0;padding-left:18px;font-size:13px}
ul.files{margin:0 0 12px;padding-left:18px}ul.files li{margin-bottom:6px;overflow-wrap:anywhere}
.stars{color:#e0a100;letter-spacing:1px}
.login-box{max-width:380px;margin:90px auto}
details{margin-top:12px}details summary{cursor:pointer;color:#1d63c4;margin-bottom:8px}
.two-col{display:grid;grid-template-columns:2fr 1fr;gap:20px}
@media(max-width:900px){.two-col{grid-template-columns:1fr}
  dl.profile{grid-template-columns:110px 1fr}}
.change-old{color:#8a1c12;text-decoration:line-through}.change-new{color:#1e5b2b}
pre.content{white-space:pre-wrap;font:inherit;margin:4px 0}
"#;

fn document(lang: Lang, title: &str, top: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t(lang, "app_name")) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (top)
                main { (body) }
            }
        }
    }
}

/// A page of a signed-in person: top bar with navigation, user, language switch and sign-out.
pub(crate) fn layout(ctx: &Ctx, title: &str, nav: Nav, body: Markup) -> Markup {
    let lang = ctx.lang;
    let item = |target: Nav, href: &'static str, key: &'static str| {
        html! { a.active[nav == target] href=(href) { (t(lang, key)) } }
    };
    let top = html! {
        header.top {
            a.brand href="/customers" { (t(lang, "app_name")) }
            nav {
                (item(Nav::Customers, "/customers", "customers"))
                (item(Nav::Leads, "/leads", "leads"))
                (item(Nav::Sales, "/quotes", "sales"))
                (item(Nav::Requests, "/requests", "requests"))
                (item(Nav::Forms, "/forms", "forms"))
                (item(Nav::Import, "/import", "import_export"))
                (item(Nav::Settings, "/settings", "settings"))
                a.active[nav == Nav::Todo] href="/todo" id="nav-todo" {
                    (t(lang, "todo"))
                    @if ctx.open_tasks > 0 {
                        " " span.badge.count #todo-count { (ctx.open_tasks) }
                    }
                }
                (item(Nav::Workflows, "/workflow/definitions", "workflows"))
            }
            span.spacer {}
            span.user { (t(lang, "signed_in_as")) ": " strong #current-user { (ctx.user_name) } }
            form method="post" action="/lang" {
                (csrf(ctx))
                input type="hidden" name="lang" value=(lang.other().code());
                input type="hidden" name="back" value=(ctx.path);
                button type="submit" id="switch-lang" { (t(lang, "switch_to")) }
            }
            form method="post" action="/logout" {
                (csrf(ctx))
                button type="submit" id="logout" { (t(lang, "logout")) }
            }
        }
    };
    document(lang, title, top, body)
}

/// A page without a session (sign-in, errors before sign-in).
pub(crate) fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    let top = html! {
        header.top { span.brand { (t(lang, "app_name")) } }
    };
    document(lang, title, top, body)
}

/// The notice, if any, as markup.
pub(crate) fn notice(notice: Option<&Notice>) -> Markup {
    html! { @if let Some(n) = notice { (n.markup()) } }
}

/// The hidden field with the session's CSRF token, first in every form.
pub(crate) fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// A button that posts a form with nothing but the CSRF token.
pub(crate) fn post_button(ctx: &Ctx, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(ctx))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// An HTML response with `status`.
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

/// A 303 redirect, the answer to every successful POST.
pub(crate) fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// Percent-encodes everything but unreserved characters, for query values.
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A query string from pairs, leaving out empty values; starts with `?` unless empty.
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", url_encode(value)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Page links: previous, a window of numbers around the current page, next, and the total.
pub(crate) fn pager(
    lang: Lang,
    base: &str,
    pairs: &[(&str, &str)],
    page: u64,
    page_size: u64,
    total: u64,
) -> Markup {
    let pages = total.div_ceil(page_size).max(1);
    let href = |n: u64| {
        let number = n.to_string();
        let mut all: Vec<(&str, &str)> = pairs.to_vec();
        if n > 1 {
            all.push(("page", &number));
        }
        format!("{base}{}", query_string(&all))
    };
    let first = page.saturating_sub(3).max(1);
    let last = page.saturating_add(3).min(pages);
    html! {
        nav.pager aria-label="pages" {
            span.count { (t(lang, "total")) " " strong #total { (total) } " " (t(lang, "records")) }
            @if page > 1 {
                a rel="prev" href=(href(page - 1)) { (t(lang, "prev")) }
            }
            @if first > 1 {
                a href=(href(1)) { "1" }
                @if first > 2 { span.muted { "…" } }
            }
            @for n in first..=last {
                @if n == page {
                    span.current aria-current="page" { (n) }
                } @else {
                    a href=(href(n)) { (n) }
                }
            }
            @if last < pages {
                @if last + 1 < pages { span.muted { "…" } }
                a href=(href(pages)) { (pages) }
            }
            @if page < pages {
                a rel="next" href=(href(page + 1)) { (t(lang, "next")) }
            }
        }
    }
}

/// A pick list of a settings list; the empty option reads `empty_label`.
pub(crate) fn setting_select(
    name: &str,
    values: &[SettingValue],
    selected: &str,
    empty_label: &str,
) -> Markup {
    let known = selected.is_empty() || values.iter().any(|v| v.code == selected);
    html! {
        select name=(name) id=(name) {
            option value="" selected[selected.is_empty()] { (empty_label) }
            @for value in values {
                option value=(value.code) selected[value.code == selected] { (value.name) }
            }
            @if !known {
                option value=(selected) selected { (selected) }
            }
        }
    }
}

/// The display name of a settings code; the code itself when the list lacks it.
pub(crate) fn setting_name(values: &[SettingValue], code: &str) -> String {
    values.iter().find(|v| v.code == code).map_or_else(|| code.to_owned(), |v| v.name.clone())
}

/// A timestamp as people read it.
// FIXME: times are shown in UTC; they should be shown in the tenant's time zone once the
// facade exposes one.
pub(crate) fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An effect score as stars, `★★★☆☆`.
pub(crate) fn stars(score: i64) -> String {
    let filled = usize::try_from(score.clamp(0, 5)).unwrap_or(0);
    format!("{}{}", "★".repeat(filled), "☆".repeat(5 - filled))
}

/// A byte count as people read it.
pub(crate) fn size(bytes: i64) -> String {
    let bytes = u64::try_from(bytes).unwrap_or(0);
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{} KiB", bytes.div_ceil(1024))
    } else {
        format!("{}.{} MiB", bytes / (1024 * 1024), (bytes % (1024 * 1024)) * 10 / (1024 * 1024))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_encoded() {
        assert_eq!(url_encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
        assert_eq!(query_string(&[("q", "x y"), ("sort", "")]), "?q=x%20y");
        assert_eq!(query_string(&[("q", "")]), "");
    }

    #[test]
    fn pager_links_keep_the_filters() {
        let markup = pager(Lang::En, "/customers", &[("q", "a&b")], 2, 20, 95).into_string();
        assert!(markup.contains("href=\"/customers?q=a%26b&amp;page=3\""), "{markup}");
        assert!(markup.contains("href=\"/customers?q=a%26b\""), "{markup}");
        assert!(markup.contains(">95<"), "{markup}");
    }

    #[test]
    fn sizes_and_stars_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(2048), "2 KiB");
        assert_eq!(size(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
        assert_eq!(stars(3), "★★★☆☆");
    }
}
