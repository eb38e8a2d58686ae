//! Test support shared by the HTTP and browser tests: a prepared shell on a temporary sled
//! store, and a small in-process client that keeps cookies like a browser.

#![allow(dead_code, reason = "each test binary uses a part of the support module")]

use std::collections::HashMap;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use crm::{Customer, CustomerStatus, RecordId, Role, UnitKind};
use crm_web_shell::{app, prepare, AppState, Options};
use tower::ServiceExt;

/// The administrator's password in every test.
pub const PASSWORD: &str = "correct horse battery staple";

/// The password of every user the approval set-up adds.
pub const USER_PASSWORD: &str = "approval flows need passwords too";

/// A definition whose only approval node is the requester's unit manager; its label carries
/// markup that every page and the diagram must escape.
pub const FLOW: &str = r#"
name = "customer_request"
title = "Customer request / 客户申请"
form = "customer_assignment"

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "manager"
type = "approval"
label = "Unit manager <审批> & co"
approvers = [{ unit_manager = 0 }]

[[nodes]]
id = "end"
type = "end"

[[edges]]
from = "start"
to = "manager"

[[edges]]
from = "manager"
to = "end"
"#;

/// The people and the pool customer the tests use.
pub struct Org {
    pub manager: RecordId,
    pub seller: RecordId,
    pub outsider: RecordId,
    pub customer: RecordId,
}

/// Adds a sales unit with a manager and a salesperson, an outsider in the same unit, and a
/// pool customer, all through the facade.
pub async fn set_up_approvals(shell: &Shell) -> Org {
    let state = shell.state.clone();
    tokio::task::spawn_blocking(move || {
        let crm = state.crm();
        let admin = state.tenant_admin();
        let org = crm.org(admin);
        let root = org.units().expect("units")[0].id;
        let unit = org.add_unit("销售一部", UnitKind::Department, root).expect("add a unit");
        let salt = SaltString::encode_b64(b"fixed test salt!").expect("salt");
        let hash = Argon2::default()
            .hash_password(USER_PASSWORD.as_bytes(), &salt)
            .expect("hash")
            .to_string();
        let add = |login: &str, name: &str| {
            let user = org.add_user(login, name, unit.id, Role::User).expect("add a user");
            org.set_password_hash(user.id, &hash).expect("set a password");
            user.id
        };
        let manager = add("manager", "Manager Wang");
        let seller = add("seller", "Seller Li");
        let outsider = add("outsider", "Outsider Zhao");
        org.set_manager(unit.id, Some(manager)).expect("set the manager");
        let pool = Customer {
            name: "公海客户 Pool Ltd".into(),
            status: CustomerStatus::Pool,
            ..Customer::default()
        };
        let customer = crm.customers(admin).create(pool, vec![]).expect("create the customer").id;
        Org { manager, seller, outsider, customer }
    })
    .await
    .expect("set-up task")
}

/// A shell prepared on a fresh sled store (with the Northwind demo data), and the directory
/// that holds the store, removed on drop.
pub struct Shell {
    pub state: AppState,
    pub dir: tempfile::TempDir,
}

impl Shell {
    pub async fn start() -> Shell {
        let dir = tempfile::tempdir().expect("temporary directory");
        let location = format!("sled:{}", dir.path().join("store").display());
        let setup = tokio::task::spawn_blocking(move || {
            let crm = crm::Crm::open_location(&location).expect("open the store");
            let options = Options {
                tenant: "test".into(),
                admin_password: Some(PASSWORD.into()),
                ..Options::default()
            };
            prepare(crm, &options).expect("prepare the shell")
        })
        .await
        .expect("prepare task");
        assert!(setup.generated_password.is_none());
        assert!(setup.demo_customers > 50, "demo customers: {}", setup.demo_customers);
        Shell { state: setup.state, dir }
    }

    pub fn client(&self) -> Client {
        Client { router: app(self.state.clone()), cookies: HashMap::new() }
    }
}

/// One answer of the shell.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Page {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of the first hidden input called `name`.
    pub fn hidden(&self, name: &str) -> String {
        let text = self.text();
        let marker = format!("name=\"{name}\" value=\"");
        let start = text.find(&marker).unwrap_or_else(|| panic!("no {name} field in {text}"))
            + marker.len();
        let end = text[start..].find('"').expect("closing quote") + start;
        text[start..end].to_owned()
    }

    /// The ids in links `/{prefix}/{id}` in page order, without repeats.
    pub fn ids(&self, prefix: &str) -> Vec<u64> {
        let text = self.text();
        let marker = format!("href=\"/{prefix}/");
        let mut ids = Vec::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(&marker) {
            rest = &rest[at + marker.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(id) = digits.parse::<u64>() {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }
}

/// A part of a multipart body.
#[derive(Clone, Copy)]
pub enum Part<'a> {
    Text(&'a str, &'a str),
    File { name: &'a str, file_name: &'a str, content_type: &'a str, bytes: &'a [u8] },
}

/// An in-process client with a cookie jar.
pub struct Client {
    router: Router,
    pub cookies: HashMap<String, String>,
}

/// Percent-encodes a form value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Client {
    pub async fn send(
        &mut self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Page {
        let mut request = Request::builder().method(method).uri(uri);
        if !self.cookies.is_empty() {
            let cookie: Vec<String> =
                self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(header::COOKIE, cookie.join("; "));
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Body::from(body)).expect("request");
        let response = self.router.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        for value in headers.get_all(header::SET_COOKIE) {
            let value = value.to_str().expect("ascii cookie");
            let pair = value.split(';').next().unwrap_or_default();
            let (name, content) = pair.split_once('=').expect("name=value");
            if value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), content.to_owned());
            }
        }
        let body =
            axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec();
        Page { status, headers, body }
    }

    pub async fn get(&mut self, uri: &str) -> Page {
        self.send(Method::GET, uri, None, Vec::new()).await
    }

    pub async fn post(&mut self, uri: &str, fields: &[(&str, &str)]) -> Page {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        self.send(
            Method::POST,
            uri,
            Some("application/x-www-form-urlencoded"),
            body.join("&").into_bytes(),
        )
        .await
    }

    pub async fn post_multipart(&mut self, uri: &str, parts: &[Part<'_>]) -> Page {
        let boundary = "----crm-test-boundary-7d9f";
        let mut body = Vec::new();
        for part in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match part {
                Part::Text(name, value) => {
                    body.extend_from_slice(
                        format!(
                            "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                        )
                        .as_bytes(),
                    );
                }
                Part::File { name, file_name, content_type, bytes } => {
                    body.extend_from_slice(
                        format!(
                            "Content-Disposition: form-data; name=\"{name}\"; \
                             filename=\"{file_name}\"\r\n\
                             Content-Type: {content_type}\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    body.extend_from_slice(bytes);
                    body.extend_from_slice(b"\r\n");
                }
            }
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        self.send(Method::POST, uri, Some(&content_type), body).await
    }

    /// Follows a 303 with a GET.
    pub async fn follow(&mut self, page: Page) -> Page {
        assert_eq!(page.status, StatusCode::SEE_OTHER, "expected a redirect: {}", page.text());
        let location = page.location();
        self.get(&location).await
    }

    /// Signs in with `login` and `password` through the login form.
    pub async fn sign_in(&mut self, login: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let pre = form.hidden("pre");
        self.post(
            "/login",
            &[("pre", &pre), ("next", ""), ("login", login), ("password", password)],
        )
        .await
    }

    /// Signs in as the administrator and returns the session's CSRF token.
    pub async fn admin(&mut self) -> String {
        let signed_in = self.sign_in("admin", PASSWORD).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.text());
        let page = self.get("/customers").await;
        assert_eq!(page.status, StatusCode::OK);
        page.hidden("csrf")
    }

    /// Creates a customer through the form and returns its id.
    pub async fn create_customer(&mut self, csrf: &str, name: &str, code: &str) -> u64 {
        let created = self
            .post(
                "/customers",
                &[("csrf", csrf), ("name", name), ("code", code), ("status", "private")],
            )
            .await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
        let location = created.location();
        let id = location
            .trim_start_matches("/customers/")
            .split('?')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("customer location {location}"));
        id
    }
}
