//! Signing in and out, sessions, CSRF tokens and the language choice.
//!
//! A session is a random 32-byte token in an `HttpOnly; SameSite=Lax` cookie, mapped in
//! memory to the user, the session's CSRF token and its language. Every page handler takes a
//! [`Ctx`] (which sends people without a session to the login page) and every POST handler
//! takes a [`Posted`] form or checks the token of its multipart body, so a request without
//! the session's token is refused with 403. The login form, which has no session yet, uses
//! a double-submit token: a pre-session cookie that the hidden field must repeat.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use crm::{Crm, Principal, RecordId};
use maud::html;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{AppError, Reply};
use crate::html::{self, respond, see_other};
use crate::i18n::{t, Lang};
use crate::AppState;

/// The cookie that holds the session token.
pub(crate) const SESSION_COOKIE: &str = "crm_session";
/// The cookie that holds the login form's pre-session token.
pub(crate) const PRE_COOKIE: &str = "crm_pre";
/// The cookie that remembers the language before sign-in.
pub(crate) const LANG_COOKIE: &str = "crm_lang";

/// A session unused this long is forgotten.
const IDLE_LIMIT: Duration = Duration::from_secs(8 * 60 * 60);
/// At most this many sessions are kept; the least recently used go first.
const MAX_SESSIONS: usize = 10_000;
/// The largest urlencoded form accepted.
const FORM_LIMIT_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone)]
struct Session {
    user: RecordId,
    csrf: String,
    lang: Lang,
    last_seen: Instant,
}

/// The sessions of signed-in people, in memory.
// FIXME: sessions live in process memory, so a restart signs everybody out and several
// processes cannot share them; a shared deployment needs sessions kept in the store.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session and returns its token.
    fn create(&self, user: RecordId, lang: Lang) -> String {
        let token = random_token();
        let session = Session { user, csrf: random_token(), lang, last_seen: Instant::now() };
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, s| s.last_seen.elapsed() < IDLE_LIMIT);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) =
                map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(token.clone(), session);
        token
    }

    /// The live session of `token`, marked as used now.
    fn lookup(&self, token: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let session = map.get_mut(token)?;
        if session.last_seen.elapsed() >= IDLE_LIMIT {
            map.remove(token);
            return None;
        }
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    fn set_lang(&self, token: &str, lang: Lang) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(session) = map.get_mut(token) {
            session.lang = lang;
        }
    }

    fn remove(&self, token: &str) {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).remove(token);
    }
}

/// 32 random bytes from the operating system, as 64 hex digits.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random password of 20 letters and digits, without look-alikes (0/O, 1/l/I).
pub(crate) fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20).map(|_| char::from(ALPHABET[OsRng.gen_range(0..ALPHABET.len())])).collect()
}

/// Hashes a password with argon2id and default parameters, as a PHC string.
pub(crate) fn hash_password(password: &str) -> anyhow::Result<String> {
    Ok(crm::org::hash_password(password)?)
}

/// Whether `password` matches the PHC string `hash`; `false` for a malformed hash.
pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    crm::org::verify_password(password, hash)
}

/// Compares two tokens in time that depends only on their lengths.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`, if the request carries it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
}

/// A `Set-Cookie` value; `max_age_secs` 0 removes the cookie, `None` keeps it for the
/// browser session. Values are tokens and language codes, never user text.
fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: Option<u64>) -> HeaderValue {
    let mut cookie = format!("{name}={value}; HttpOnly; SameSite=Lax; Path=/");
    if let Some(age) = max_age_secs {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if state.secure_cookies() {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

fn is_token(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A local path to go back to after a redirect; anything else becomes `/customers`.
pub(crate) fn local_path(next: &str) -> String {
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if safe {
        next.to_owned()
    } else {
        "/customers".to_owned()
    }
}

/// The language of a request without a session.
fn guest_lang(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).and_then(|code| Lang::parse(&code)).unwrap_or_default()
}

/// A signed-in request: who acts, in which language, with which CSRF token.
pub(crate) struct Ctx {
    pub(crate) state: AppState,
    pub(crate) who: Principal,
    pub(crate) user_name: String,
    pub(crate) lang: Lang,
    pub(crate) csrf: String,
    /// The path and query of the request, where the language switch returns to.
    pub(crate) path: String,
    /// How many approval tasks wait for this person, for the badge in the top bar.
    pub(crate) open_tasks: u64,
    token: String,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let to_login = || {
            let next = if parts.method == axum::http::Method::GET { path.as_str() } else { "" };
            if next.is_empty() || next == "/" {
                see_other("/login")
            } else {
                see_other(&format!("/login?next={}", html::url_encode(next)))
            }
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let Some(session) = state.sessions().lookup(&token) else {
            return Err(to_login());
        };

        let crm = state.crm().clone();
        let tenant = state.tenant_admin().clone();
        let user = session.user;
        let found = tokio::task::spawn_blocking(
            move || -> crm::Result<Option<(Principal, String, u64)>> {
                let org = crm.org(&tenant);
                let Some(who) = org.principal(user)? else {
                    return Ok(None);
                };
                let name = org.user(user)?.display_name;
                // The badge is a convenience: a failure to count must not take every page
                // down with it, so it is logged and the badge left out.
                let open = match crm.workflows(&who).todo_counts(crate::workflow::reminder_age()) {
                    Ok(counts) => counts.open,
                    Err(e) => {
                        tracing::warn!(error = %e, "count open approval tasks");
                        0
                    }
                };
                Ok(Some((who, name, open)))
            },
        )
        .await;
        match found {
            Ok(Ok(Some((who, user_name, open_tasks)))) => Ok(Ctx {
                state: state.clone(),
                who,
                user_name,
                lang: session.lang,
                csrf: session.csrf,
                path,
                open_tasks,
                token,
            }),
            Ok(Ok(None)) => {
                state.sessions().remove(&token);
                Err(to_login())
            }
            Ok(Err(e)) => Err(error_page(session.lang, AppError::from(e))),
            Err(e) => Err(error_page(session.lang, AppError::Internal(e.to_string()))),
        }
    }
}

fn error_page(lang: Lang, error: AppError) -> Response {
    let message = error.message(lang, crate::error::Hint::Customer);
    let body = html! {
        div.notice.error { (message) }
        p { a href="/customers" { (t(lang, "home")) } }
    };
    respond(error.status(), html::bare(lang, t(lang, "error"), body))
}

impl Ctx {
    /// Refuses the request with 403 unless `token` is this session's CSRF token.
    #[expect(clippy::result_large_err, reason = "the error is the page a handler returns at once")]
    pub(crate) fn check_csrf(&self, token: &str) -> Result<(), Response> {
        if same_token(token, &self.csrf) {
            Ok(())
        } else {
            Err(self.fail(AppError::Forbidden))
        }
    }

    /// Runs a blocking facade call as the signed-in principal.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Crm, &Principal) -> crm::Result<T> + Send + 'static,
    {
        let crm = self.state.crm().clone();
        let who = self.who.clone();
        match tokio::task::spawn_blocking(move || f(&crm, &who)).await {
            Ok(result) => result.map_err(AppError::from),
            Err(e) => Err(AppError::Internal(e.to_string())),
        }
    }

    /// Like [`Ctx::call`], with a failure turned into an error page.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, Response>
    where
        T: Send + 'static,
        F: FnOnce(&Crm, &Principal) -> crm::Result<T> + Send + 'static,
    {
        self.call(f).await.map_err(|e| self.fail(e))
    }
}

/// A urlencoded POST form of a signed-in person whose CSRF token was checked.
pub(crate) struct Posted<T>(pub(crate) Ctx, pub(crate) T);

#[derive(Deserialize)]
struct TokenOnly {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT_BYTES)
            .await
            .map_err(|_| ctx.fail(AppError::TooLarge))?;
        let token =
            serde_urlencoded::from_bytes::<TokenOnly>(&bytes).map(|t| t.csrf).unwrap_or_default();
        ctx.check_csrf(&token)?;
        let form = serde_urlencoded::from_bytes::<T>(&bytes)
            .map_err(|e| ctx.fail(AppError::BadRequest(e.to_string())))?;
        Ok(Posted(ctx, form))
    }
}

/// A form with nothing but the CSRF token (buttons such as delete or convert).
#[derive(Deserialize)]
pub(crate) struct NoFields {}

#[derive(Deserialize, Default)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    lang: String,
}

/// GET /login: the sign-in form, with a fresh pre-session token when needed.
pub(crate) async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if state.sessions().lookup(&token).is_some() {
            return see_other(&local_path(&query.next));
        }
    }
    let chosen = Lang::parse(&query.lang);
    let lang = chosen.unwrap_or_else(|| guest_lang(&headers));
    let pre = cookie(&headers, PRE_COOKIE).filter(|v| is_token(v)).unwrap_or_else(random_token);
    let mut response = respond(StatusCode::OK, login_markup(lang, &pre, &query.next, "", None));
    set_pre_cookies(&state, &mut response, &pre, chosen);
    response
}

fn set_pre_cookies(state: &AppState, response: &mut Response, pre: &str, lang: Option<Lang>) {
    let headers = response.headers_mut();
    headers.append(SET_COOKIE, set_cookie(state, PRE_COOKIE, pre, None));
    if let Some(lang) = lang {
        headers.append(SET_COOKIE, set_cookie(state, LANG_COOKIE, lang.code(), Some(31_536_000)));
    }
}

fn login_markup(
    lang: Lang,
    pre: &str,
    next: &str,
    login: &str,
    error: Option<&str>,
) -> maud::Markup {
    let next_query =
        if next.is_empty() { String::new() } else { format!("&next={}", html::url_encode(next)) };
    let body = html! {
        div.login-box {
            div.card {
                h1 { (t(lang, "login_title")) }
                @if let Some(error) = error {
                    div.notice.error role="alert" { (error) }
                }
                form method="post" action="/login" {
                    input type="hidden" name="pre" value=(pre);
                    input type="hidden" name="next" value=(next);
                    div.form-grid.single {
                        label {
                            (t(lang, "login_name"))
                            input type="text" name="login" value=(login) autocomplete="username"
                                required autofocus;
                        }
                        label {
                            (t(lang, "password"))
                            input type="password" name="password" autocomplete="current-password"
                                required;
                        }
                    }
                    p { button.btn.primary type="submit" id="login-submit" { (t(lang, "login")) } }
                }
                p.muted {
                    a href={ "/login?lang=" (lang.other().code()) (next_query) } {
                        (t(lang, "switch_to"))
                    }
                }
            }
        }
    };
    html::bare(lang, t(lang, "login"), body)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    pre: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

/// POST /login: checks the pre-session token and the password, then starts a session.
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let lang = guest_lang(&headers);
    let form = serde_urlencoded::from_bytes::<LoginForm>(&body).ok();
    let pre = cookie(&headers, PRE_COOKIE).unwrap_or_default();
    let Some(form) = form.filter(|f| same_token(&f.pre, &pre)) else {
        return error_page(lang, AppError::Forbidden);
    };

    let crm = state.crm().clone();
    let tenant = state.tenant_admin().clone();
    let dummy = state.dummy_hash().to_owned();
    let login = form.login.trim().to_owned();
    let password = form.password.clone();
    let checked = tokio::task::spawn_blocking(move || -> crm::Result<Option<RecordId>> {
        let user = crm.org(&tenant).user_by_login(&login)?;
        // An unknown login is checked against a dummy hash so both failures take as long.
        let (hash, user) = match user {
            Some(user) if user.active && !user.password_hash.is_empty() => {
                (user.password_hash.clone(), Some(user.id))
            }
            _ => (dummy, None),
        };
        let matches = verify_password(&password, &hash);
        Ok(user.filter(|_| matches))
    })
    .await;

    match checked {
        Ok(Ok(Some(user))) => {
            let token = state.sessions().create(user, lang);
            tracing::info!(user = %user, "signed in");
            let mut response = see_other(&local_path(&form.next));
            response
                .headers_mut()
                .append(SET_COOKIE, set_cookie(&state, SESSION_COOKIE, &token, None));
            response
        }
        Ok(Ok(None)) => {
            tracing::info!("sign-in refused");
            let message = t(lang, "login_failed");
            let markup = login_markup(lang, &pre, &form.next, form.login.trim(), Some(message));
            respond(StatusCode::UNAUTHORIZED, markup)
        }
        Ok(Err(e)) => error_page(lang, AppError::from(e)),
        Err(e) => error_page(lang, AppError::Internal(e.to_string())),
    }
}

/// POST /logout: ends the session.
pub(crate) async fn logout(Posted(ctx, NoFields {}): Posted<NoFields>) -> Response {
    ctx.state.sessions().remove(&ctx.token);
    let mut response = see_other("/login");
    response.headers_mut().append(SET_COOKIE, set_cookie(&ctx.state, SESSION_COOKIE, "", Some(0)));
    response
}

#[derive(Deserialize)]
pub(crate) struct LangForm {
    #[serde(default)]
    lang: String,
    #[serde(default)]
    back: String,
}

/// POST /lang: switches the session's language and returns to the page it came from.
pub(crate) async fn switch_lang(Posted(ctx, form): Posted<LangForm>) -> Reply {
    let lang =
        Lang::parse(&form.lang).ok_or_else(|| ctx.fail(AppError::BadRequest(form.lang.clone())))?;
    ctx.state.sessions().set_lang(&ctx.token, lang);
    let mut response = see_other(&local_path(&form.back));
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(&ctx.state, LANG_COOKIE, lang.code(), Some(31_536_000)));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex() {
        let a = random_token();
        assert!(is_token(&a));
        assert_ne!(a, random_token());
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &random_token()));
        assert!(!same_token("", ""));
    }

    #[test]
    fn passwords_hash_and_verify() {
        let password = generate_password();
        assert_eq!(password.chars().count(), 20);
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&password, &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password(&password, "not a hash"));
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/leads?q=a"), "/leads?q=a");
        assert_eq!(local_path("//evil.example"), "/customers");
        assert_eq!(local_path("https://evil.example"), "/customers");
        assert_eq!(local_path("/\\evil"), "/customers");
        assert_eq!(local_path(""), "/customers");
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=1; crm_session=abc ; b=2"));
        assert_eq!(cookie(&headers, "crm_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
