//! The example web shell: a server-rendered CRM in the browser, over the `crm` facade.
//!
//! [`prepare`] opens what the shell needs on a [`Crm`] (tenant, administrator, demo data,
//! first password), [`app`] builds the router and [`serve`] runs it on a listener. The
//! binary `crm-web` is a thin command line over these three, and the tests start the same
//! router on port 0.
//!
//! Pages are rendered with maud, which escapes every interpolated value; no page builds
//! HTML from user text by hand. Every form carries a per-session CSRF token, every response
//! carries a restrictive Content-Security-Policy, and the facade's blocking calls run on
//! tokio's blocking pool.

#![forbid(unsafe_code)]

mod auth;
mod customers;
mod error;
mod finance;
mod forms;
mod html;
mod i18n;
mod imports;
mod leads;
mod sales;
mod settings;
mod upload;
mod workflow;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use crm::{Crm, Principal, TenantId};

/// The largest request body accepted: a 20 MiB attachment plus the multipart framing.
pub const MAX_BODY_BYTES: usize = 20 * 1024 * 1024 + 256 * 1024;

/// How the shell is prepared on a store.
#[derive(Debug, Clone)]
pub struct Options {
    /// The tenant served.
    pub tenant: String,
    /// The administrator's login.
    pub admin_login: String,
    /// The administrator's password, set on every start when given (which also resets a
    /// forgotten one); when `None`, an administrator without a password gets a generated one.
    pub admin_password: Option<String>,
    /// Whether cookies carry the `Secure` flag (set it when served behind HTTPS).
    pub secure_cookies: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tenant: "default".into(),
            admin_login: "admin".into(),
            admin_password: None,
            secure_cookies: false,
        }
    }
}

/// What [`prepare`] did, for the binary to tell the operator.
#[derive(Debug)]
pub struct Setup {
    /// The state to build the router with.
    pub state: AppState,
    /// The administrator's login.
    pub admin_login: String,
    /// The password that was generated for the administrator, to show once; `None` when
    /// the administrator already had one or it was given.
    pub generated_password: Option<String>,
    /// Demo customers loaded (0 when the tenant already had customers).
    pub demo_customers: usize,
}

/// The shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    crm: Crm,
    /// The administrator principal; the shell uses it only for lookups by tenant (sign-in,
    /// the principal of a session), never to act for a signed-in user.
    tenant_admin: Principal,
    sessions: auth::Sessions,
    /// A hash verified when the login is unknown, so both failures take as long.
    dummy_hash: String,
    secure_cookies: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("tenant", &self.inner.tenant_admin.tenant).finish()
    }
}

impl AppState {
    /// The facade the shell serves (tests and hosts set up data through it).
    pub fn crm(&self) -> &Crm {
        &self.inner.crm
    }

    /// The tenant's administrator principal.
    pub fn tenant_admin(&self) -> &Principal {
        &self.inner.tenant_admin
    }

    pub(crate) fn sessions(&self) -> &auth::Sessions {
        &self.inner.sessions
    }

    pub(crate) fn dummy_hash(&self) -> &str {
        &self.inner.dummy_hash
    }

    pub(crate) fn secure_cookies(&self) -> bool {
        self.inner.secure_cookies
    }
}

/// Prepares the shell on `crm`: makes sure the tenant and its administrator exist, loads
/// the Northwind demo data into a tenant without customers, and sets the administrator's
/// password from the options (or generates one when they have none). Blocking; call it
/// before serving or from a blocking task.
pub fn prepare(crm: Crm, options: &Options) -> anyhow::Result<Setup> {
    let tenant = TenantId::new(options.tenant.as_str()).context("tenant name")?;
    let admin = crm
        .bootstrap_tenant(&tenant, &options.admin_login, "Administrator")
        .context("bootstrap the tenant")?;
    let demo = crm.load_demo(&admin).context("load the demo data")?;

    let org = crm.org(&admin);
    let user = org.user(admin.user).context("read the administrator")?;
    // A password given in the environment is the administrator's password on every start
    // (so it also resets a forgotten one); without it, an administrator who has none gets a
    // generated one, shown once.
    let mut generated_password = None;
    let password = match &options.admin_password {
        Some(given) if !given.is_empty() => {
            (!auth::verify_password(given, &user.password_hash)).then(|| given.clone())
        }
        _ if user.password_hash.is_empty() => {
            let fresh = auth::generate_password();
            generated_password = Some(fresh.clone());
            Some(fresh)
        }
        _ => None,
    };
    if let Some(password) = password {
        org.set_password(admin.user, &password).context("CRM_ADMIN_PASSWORD")?;
    }

    let dummy_hash = auth::hash_password(&auth::generate_password())?;
    let state = AppState {
        inner: Arc::new(Inner {
            crm,
            tenant_admin: admin,
            sessions: auth::Sessions::default(),
            dummy_hash,
            secure_cookies: options.secure_cookies,
        }),
    };
    Ok(Setup { state, admin_login: user.login, generated_password, demo_customers: demo.customers })
}

/// The router of the whole shell.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(customers::home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/lang", post(auth::switch_lang))
        .route("/customers", get(customers::list).post(customers::create))
        .route("/customers/new", get(customers::new_form))
        .route("/customers/{id}", get(customers::show).post(customers::update))
        .route("/customers/{id}/edit", get(customers::edit_form))
        .route("/customers/{id}/delete", get(customers::delete_form).post(customers::delete))
        .route("/customers/{id}/parent", post(customers::set_parent))
        .route("/customers/{id}/contacts", post(customers::add_contact))
        .route("/contacts/{id}", post(customers::update_contact))
        .route("/contacts/{id}/edit", get(customers::edit_contact_form))
        .route("/contacts/{id}/delete", post(customers::delete_contact))
        .route("/contacts/{id}/relatives", post(customers::add_relative))
        .route("/contacts/{id}/relatives/{relative}/delete", post(customers::delete_relative))
        .route("/leads", get(leads::list).post(leads::create))
        .route("/leads/new", get(leads::new_form))
        .route("/leads/{id}", get(leads::show).post(leads::update))
        .route("/leads/{id}/edit", get(leads::edit_form))
        .route("/leads/{id}/delete", get(leads::delete_form).post(leads::delete))
        .route("/leads/{id}/convert", post(leads::convert))
        .route("/leads/{id}/interactions", post(leads::add_interaction))
        .route("/attachments/{id}", get(leads::download))
        .route("/quotes", get(sales::quotes).post(sales::create_quote))
        .route("/quotes/new", get(sales::new_quote))
        .route("/quotes/{id}", get(sales::quote).post(sales::update_quote))
        .route("/quotes/{id}/edit", get(sales::edit_quote))
        .route("/quotes/{id}/submit", post(sales::submit_quote))
        .route("/quotes/{id}/delete", post(sales::delete_quote))
        .route("/contracts", get(sales::contracts).post(sales::create_contract))
        .route("/contracts/new", get(sales::new_contract))
        .route("/contracts/{id}", get(sales::contract).post(sales::update_contract))
        .route("/contracts/{id}/edit", get(sales::edit_contract))
        .route("/contracts/{id}/submit", post(sales::submit_contract))
        .route("/contracts/{id}/delete", post(sales::delete_contract))
        .route("/requests", get(finance::list).post(finance::create))
        .route("/requests/new", get(finance::new_form))
        .route("/requests/{id}", get(finance::show).post(finance::update))
        .route("/requests/{id}/edit", get(finance::edit_form))
        .route("/requests/{id}/submit", post(finance::submit))
        .route("/requests/{id}/delete", post(finance::delete))
        .route("/forms", get(forms::list).post(forms::create))
        .route("/forms/new", get(forms::new_form))
        .route("/forms/{id}", get(forms::form).post(forms::update))
        .route("/forms/{id}/edit", get(forms::edit_form))
        .route("/forms/{id}/retire", post(forms::retire))
        .route("/forms/{id}/entries", get(forms::entries).post(forms::create_entry))
        .route("/forms/{id}/entries/new", get(forms::new_entry))
        .route("/form-entries/{id}", get(forms::entry).post(forms::update_entry))
        .route("/form-entries/{id}/edit", get(forms::edit_entry))
        .route("/form-entries/{id}/submit", post(forms::submit_entry))
        .route("/form-entries/{id}/delete", post(forms::delete_entry))
        .route("/import", get(imports::page).post(imports::upload))
        .route("/export/customers.xlsx", get(imports::export_xlsx))
        .route("/export/customers.csv", get(imports::export_csv))
        .route("/settings", get(settings::page).post(settings::add))
        .route("/settings/{id}", post(settings::update))
        .route("/settings/{id}/delete", post(settings::delete))
        .route("/customers/{id}/assignment", get(workflow::request_form).post(workflow::request))
        .route("/todo", get(workflow::todo))
        .route("/workflow/instances/{id}", get(workflow::instance))
        .route("/workflow/instances/{id}/decide", post(workflow::decide))
        .route("/workflow/instances/{id}/withdraw", post(workflow::withdraw))
        .route("/workflow/instances/{id}/resubmit", post(workflow::resubmit))
        .route("/workflow/instances/{id}/comment", post(workflow::comment))
        .route("/workflow/instances/{id}/reassign", post(workflow::reassign))
        .route("/workflow/instances/{id}/attachments", post(workflow::attach))
        .route("/workflow/instances/{id}/attachments/{attachment}", get(workflow::download))
        .route("/workflow/definitions", get(workflow::definitions).post(workflow::define))
        .route("/workflow/definitions/{name}", get(workflow::definition))
        .fallback(error::fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// Serves the shell on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}

/// The policy every response carries: nothing but this origin, no scripts at all, no
/// framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";

async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A handler may set a stricter policy of its own (the workflow diagrams do).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
