//! In-process HTTP tests of the approval pages: an administrator defines a flow, a
//! salesperson asks for a pool customer, their unit manager approves from the to-do list, and
//! the customer changes hands; refusals get their statuses and every new form needs its token.

mod support;

use axum::http::{header, StatusCode};
use crm::CustomerStatus;
use support::{set_up_approvals, Client, Part, Shell, FLOW, USER_PASSWORD};

/// An approval node without approvers: refused, naming the node.
const BROKEN_FLOW: &str = r#"
name = "broken"
form = "customer_assignment"

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "boss_check"
type = "approval"
approvers = []

[[nodes]]
id = "end"
type = "end"

[[edges]]
from = "start"
to = "boss_check"

[[edges]]
from = "boss_check"
to = "end"
"#;

/// A client signed in as `login`, with the session's CSRF token.
async fn signed_in(shell: &Shell, login: &str) -> (Client, String) {
    let mut client = shell.client();
    let signed = client.sign_in(login, USER_PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{login}: {}", signed.text());
    let page = client.get("/todo").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let csrf = page.hidden("csrf");
    (client, csrf)
}

/// Posts a definition through the multipart form.
async fn define(client: &mut Client, csrf: &str, text: &str) -> support::Page {
    client
        .post_multipart(
            "/workflow/definitions",
            &[Part::Text("csrf", csrf), Part::Text("text", text)],
        )
        .await
}

/// The number in the `/workflow/instances/{id}` a location or link names.
fn instance_id(location: &str) -> u64 {
    location
        .trim_start_matches("/workflow/instances/")
        .split(['?', '/'])
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("instance location {location}"))
}

#[tokio::test]
async fn a_pool_customer_is_requested_approved_and_reassigned() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;
    let customer = org.customer;
    let (mut seller, seller_csrf) = signed_in(&shell, "seller").await;

    // Without a flow the request is refused readably.
    let form = seller.get(&format!("/customers/{customer}/assignment")).await;
    assert_eq!(form.status, StatusCode::OK);
    let refused = seller
        .post(
            &format!("/customers/{customer}/assignment"),
            &[("csrf", &seller_csrf), ("reason", "我跟进过")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.text().contains("还没有用于客户分配的审批流程"), "{}", refused.text());

    // The administrator defines the flow; a broken one is refused naming its node.
    let mut admin = shell.client();
    let admin_csrf = admin.admin().await;
    let broken = define(&mut admin, &admin_csrf, BROKEN_FLOW).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert!(broken.text().contains("流程定义有误"), "{}", broken.text());
    assert!(broken.text().contains("boss_check"), "{}", broken.text());
    let defined = define(&mut admin, &admin_csrf, FLOW).await;
    assert_eq!(defined.status, StatusCode::SEE_OTHER, "{}", defined.text());
    assert_eq!(defined.location(), "/workflow/definitions/customer_request?version=1&ok=defined");
    let page = admin.follow(defined).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(
        text.contains("src=\"/workflow/definitions/customer_request.svg?version=1\""),
        "{text}"
    );
    assert!(!text.contains("<svg"), "the diagram is never inlined: {text}");
    let listed = admin.get("/workflow/definitions").await.text();
    assert!(listed.contains("Customer request / 客户申请"), "{listed}");

    // The administrator's view of the pool customer offers the request form.
    let customer_page = admin.get(&format!("/customers/{customer}")).await.text();
    assert!(customer_page.contains("request-assignment"), "{customer_page}");

    // The salesperson asks for the pool customer.
    let requested = seller
        .post(
            &format!("/customers/{customer}/assignment"),
            &[("csrf", &seller_csrf), ("reason", "我跟进过 <三次>")],
        )
        .await;
    assert_eq!(requested.status, StatusCode::SEE_OTHER, "{}", requested.text());
    let instance = instance_id(&requested.location());
    let page = seller.follow(requested).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(text.contains("申请已提交"), "{text}");
    assert!(text.contains("我跟进过 &lt;三次&gt;"), "{text}");
    assert!(text.contains("id=\"withdraw\""), "the submitter may withdraw: {text}");
    assert!(!text.contains("id=\"approve\""), "{text}");

    // The manager finds it in the to-do list, with a badge in the top bar.
    let (mut manager, manager_csrf) = signed_in(&shell, "manager").await;
    let todo = manager.get("/todo").await;
    let text = todo.text();
    assert!(text.contains("id=\"todo-count\">1<"), "{text}");
    assert!(text.contains("Unit manager &lt;审批&gt; &amp; co"), "{text}");
    assert!(text.contains("Seller Li"), "{text}");
    assert!(text.contains(&format!("href=\"/customers/{customer}\"")), "{text}");
    assert_eq!(todo.ids("workflow/instances"), vec![instance]);

    // The task page shows the request and the decision forms.
    let page = manager.get(&format!("/workflow/instances/{instance}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(text.contains("我跟进过 &lt;三次&gt;"), "{text}");
    assert!(text.contains("id=\"approve\"") && text.contains("id=\"reject\""), "{text}");
    assert!(!text.contains("id=\"withdraw\""), "{text}");
    let task = page.hidden("task");

    let approve = format!("/workflow/instances/{instance}/approve");
    let approved = manager
        .post(&approve, &[("csrf", &manager_csrf), ("task", &task), ("comment", "同意，交给你了")])
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.text());
    let page = manager.follow(approved).await;
    let text = page.text();
    assert!(text.contains("已同意"), "{text}");
    assert!(text.contains("同意，交给你了"), "{text}");
    assert!(text.contains("已通过"), "{text}");
    assert!(!text.contains("id=\"todo-count\""), "no task is left: {text}");

    // The customer now belongs to the salesperson.
    let state = shell.state.clone();
    let owned = tokio::task::spawn_blocking(move || {
        state.crm().customers(state.tenant_admin()).get(customer).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(owned.owner, Some(org.seller));
    assert_eq!(owned.status, CustomerStatus::Private);
    let done = manager.get("/todo").await.text();
    assert!(done.contains("公海客户 Pool Ltd") || done.contains(&format!("#{customer}")), "{done}");

    // A second decision is a conflict that says why.
    let again = manager
        .post(&approve, &[("csrf", &manager_csrf), ("task", &task), ("comment", "again")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert!(again.text().contains("该任务已经处理过了"), "{}", again.text());

    // The history names who did what.
    let history = seller.get(&format!("/workflow/instances/{instance}")).await.text();
    assert!(history.contains("Manager Wang") && history.contains("Seller Li"), "{history}");
    assert!(history.contains("提交了申请"), "{history}");

    // Someone who took no part does not see the request at all.
    let (mut outsider, _) = signed_in(&shell, "outsider").await;
    let hidden = outsider.get(&format!("/workflow/instances/{instance}")).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let missing = manager.get("/workflow/instances/999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_ne!(org.manager, org.seller);
}

#[tokio::test]
async fn the_diagram_is_an_escaped_svg_with_its_own_policy() {
    let shell = Shell::start().await;
    let mut admin = shell.client();
    let csrf = admin.admin().await;
    let defined = define(&mut admin, &csrf, FLOW).await;
    assert_eq!(defined.status, StatusCode::SEE_OTHER, "{}", defined.text());

    let svg = admin.get("/workflow/definitions/customer_request.svg").await;
    assert_eq!(svg.status, StatusCode::OK);
    assert_eq!(svg.headers[header::CONTENT_TYPE], "image/svg+xml");
    assert_eq!(
        svg.headers[header::CONTENT_SECURITY_POLICY],
        "default-src 'none'; style-src 'unsafe-inline'"
    );
    let text = svg.text();
    assert!(text.contains("<svg"), "{text}");
    assert!(text.contains("&lt;审批&gt; &amp; co"), "{text}");
    assert!(!text.contains("<审批>"), "{text}");

    let unknown = admin.get("/workflow/definitions/nothing_here.svg").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let unknown = admin.get("/workflow/definitions/nothing_here").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_approval_post_needs_the_session_token() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;
    let (mut seller, _) = signed_in(&shell, "seller").await;
    let mut admin = shell.client();
    admin.admin().await;

    let customer = org.customer;
    for path in [
        format!("/customers/{customer}/assignment"),
        "/workflow/instances/1/approve".to_owned(),
        "/workflow/instances/1/reject".to_owned(),
        "/workflow/instances/1/return".to_owned(),
        "/workflow/instances/1/withdraw".to_owned(),
        "/workflow/instances/1/resubmit".to_owned(),
        "/workflow/instances/1/comment".to_owned(),
    ] {
        let refused = seller.post(&path, &[("comment", "x"), ("reason", "x")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        let forged = seller.post(&path, &[("csrf", "00"), ("comment", "x")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{path}");
    }
    let refused = admin.post_multipart("/workflow/definitions", &[Part::Text("text", FLOW)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let listed = admin.get("/workflow/definitions").await.text();
    assert!(listed.contains("还没有定义审批流程"), "nothing was defined: {listed}");
}
