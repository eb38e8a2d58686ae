//! In-process HTTP tests of the approval pages: an administrator defines a flow, a
//! salesperson asks for a pool customer, their unit manager approves from the to-do list, and
//! the customer changes hands; files are attached and downloaded, tasks are reassigned;
//! refusals get their statuses and every new form needs its token.

mod support;

use axum::http::{header, StatusCode};
use crm::{Customer, CustomerStatus};
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

    let decide = format!("/workflow/instances/{instance}/decide");
    let approve = |comment| {
        [
            Part::Text("csrf", &manager_csrf),
            Part::Text("task", &task),
            Part::Text("decision", "approve"),
            Part::Text("comment", comment),
        ]
    };
    let approved = manager.post_multipart(&decide, &approve("同意，交给你了")).await;
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
    let again = manager.post_multipart(&decide, &approve("again")).await;
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
        "/workflow/instances/1/withdraw".to_owned(),
        "/workflow/instances/1/resubmit".to_owned(),
        "/workflow/instances/1/comment".to_owned(),
        "/workflow/instances/1/reassign".to_owned(),
    ] {
        let refused = seller.post(&path, &[("comment", "x"), ("reason", "x")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        let forged = seller.post(&path, &[("csrf", "00"), ("comment", "x")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{path}");
    }
    for path in ["/workflow/instances/1/decide", "/workflow/instances/1/attachments"] {
        let parts = [Part::Text("decision", "approve"), Part::Text("comment", "x")];
        let refused = seller.post_multipart(path, &parts).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        let forged = seller.post_multipart(path, &[Part::Text("csrf", "00"), parts[0]]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{path}");
    }
    let refused = admin.post_multipart("/workflow/definitions", &[Part::Text("text", FLOW)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let listed = admin.get("/workflow/definitions").await.text();
    assert!(listed.contains("还没有定义审批流程"), "nothing was defined: {listed}");
}

#[tokio::test]
async fn a_salesperson_finds_a_pool_customer_and_asks_for_it() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;
    let customer = org.customer;
    let state = shell.state.clone();
    let manager = org.manager;
    let private = tokio::task::spawn_blocking(move || {
        let crm = state.crm();
        let who = crm.org(state.tenant_admin()).principal(manager).unwrap().unwrap();
        let owned = Customer { name: "经理的客户 Private Co".into(), ..Customer::default() };
        crm.customers(&who).create(owned, vec![]).unwrap().id
    })
    .await
    .unwrap();
    let (mut seller, seller_csrf) = signed_in(&shell, "seller").await;

    // The list, a search and the pool filter show the pool customer, never the manager's.
    let list = seller.get("/customers").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.ids("customers"), vec![customer.0], "{}", list.text());
    let searched = seller.get(&format!("/customers?q={}", support::encode("pool ltd"))).await;
    assert_eq!(searched.ids("customers"), vec![customer.0], "{}", searched.text());
    let searched = seller.get(&format!("/customers?q={}", support::encode("Private Co"))).await;
    assert!(searched.ids("customers").is_empty(), "{}", searched.text());
    assert!(!searched.text().contains("经理的客户"), "{}", searched.text());
    let pool = seller.get("/customers?status=pool").await;
    assert_eq!(pool.ids("customers"), vec![customer.0], "{}", pool.text());
    assert_eq!(seller.get(&format!("/customers/{private}")).await.status, StatusCode::NOT_FOUND);

    // The pool customer's page offers the request instead of the editing controls.
    let page = seller.get(&format!("/customers/{customer}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(text.contains("公海客户 Pool Ltd"), "{text}");
    assert!(
        text.contains(&format!(
            "href=\"/customers/{customer}/assignment\" id=\"request-assignment-link\""
        )),
        "{text}"
    );
    assert!(text.contains("id=\"request-assignment\""), "the request form: {text}");
    for control in ["id=\"edit-customer\"", "id=\"set-parent\"", "/delete\"", "/contacts\""] {
        assert!(!text.contains(control), "{control} on a pool customer: {text}");
    }
    for path in [format!("/customers/{customer}/edit"), format!("/customers/{customer}/delete")] {
        assert_eq!(seller.get(&path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let refused =
        seller.post(&format!("/customers/{customer}/delete"), &[("csrf", &seller_csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert!(refused.text().contains("没有权限"), "{}", refused.text());

    // The administrator still edits it; once a flow exists the salesperson's request goes in.
    let mut admin = shell.client();
    let admin_csrf = admin.admin().await;
    let admin_view = admin.get(&format!("/customers/{customer}")).await.text();
    assert!(admin_view.contains("id=\"edit-customer\""), "{admin_view}");
    let defined = define(&mut admin, &admin_csrf, FLOW).await;
    assert_eq!(defined.status, StatusCode::SEE_OTHER, "{}", defined.text());
    let requested = seller
        .post(
            &format!("/customers/{customer}/assignment"),
            &[("csrf", &seller_csrf), ("reason", "在公海里找到的")],
        )
        .await;
    assert_eq!(requested.status, StatusCode::SEE_OTHER, "{}", requested.text());
    let instance = instance_id(&requested.location());
    let page = seller.follow(requested).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("在公海里找到的"), "{}", page.text());
    assert!(instance > 0);
}

/// Signs in the administrator, defines the flow, and has the salesperson request the pool
/// customer; returns the instance.
async fn requested_instance(shell: &Shell, customer: crm::RecordId) -> u64 {
    let mut admin = shell.client();
    let admin_csrf = admin.admin().await;
    let defined = define(&mut admin, &admin_csrf, FLOW).await;
    assert_eq!(defined.status, StatusCode::SEE_OTHER, "{}", defined.text());
    let (mut seller, seller_csrf) = signed_in(shell, "seller").await;
    let requested =
        seller.post(&format!("/customers/{customer}/assignment"), &[("csrf", &seller_csrf)]).await;
    assert_eq!(requested.status, StatusCode::SEE_OTHER, "{}", requested.text());
    instance_id(&requested.location())
}

/// A file part of an upload form.
fn file_part<'a>(file_name: &'a str, content_type: &'a str, bytes: &'a [u8]) -> Part<'a> {
    Part::File { name: "file", file_name, content_type, bytes }
}

#[tokio::test]
async fn files_are_uploaded_with_the_token_and_downloaded_by_participants_only() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;
    let instance = requested_instance(&shell, org.customer).await;
    let (mut seller, seller_csrf) = signed_in(&shell, "seller").await;
    let upload = format!("/workflow/instances/{instance}/attachments");
    let pdf: &[u8] = b"%PDF-1.4 quote <v2>\n%%EOF";
    let name = "报价 <v2> & co.pdf";

    // The task page offers the upload form with the session's token.
    let page = seller.get(&format!("/workflow/instances/{instance}")).await;
    let text = page.text();
    assert!(text.contains("enctype=\"multipart/form-data\""), "{text}");
    assert!(text.contains(&format!("action=\"{upload}\"")), "{text}");
    assert!(text.contains("还没有附件。"), "{text}");

    // Without the token, or with a forged one, nothing is stored.
    let refused = seller.post_multipart(&upload, &[file_part(name, "application/pdf", pdf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let forged = seller
        .post_multipart(
            &upload,
            &[Part::Text("csrf", "00"), file_part(name, "application/pdf", pdf)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let page = seller.get(&format!("/workflow/instances/{instance}")).await.text();
    assert!(page.contains("还没有附件。"), "{page}");

    // With it, the file is listed with an escaped name and a download link.
    let uploaded = seller
        .post_multipart(
            &upload,
            &[Part::Text("csrf", &seller_csrf), file_part(name, "application/pdf", pdf)],
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.text());
    assert_eq!(uploaded.location(), format!("/workflow/instances/{instance}?ok=attached#files"));
    let page = seller.follow(uploaded).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(text.contains("附件已上传。"), "{text}");
    assert!(text.contains("报价 &lt;v2&gt; &amp; co.pdf"), "{text}");
    assert!(!text.contains("<v2>"), "{text}");
    assert!(text.contains("添加附件"), "the history names the upload: {text}");
    let links = page.ids(&format!("workflow/instances/{instance}/attachments"));
    assert_eq!(links.len(), 1, "{text}");
    let download = format!("{upload}/{}", links[0]);

    // A participant downloads the exact bytes, always as an attachment.
    let (mut manager, _) = signed_in(&shell, "manager").await;
    let file = manager.get(&download).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, pdf);
    assert_eq!(file.headers[header::CONTENT_TYPE], "application/pdf");
    let disposition = file.headers[header::CONTENT_DISPOSITION].to_str().unwrap().to_owned();
    assert_eq!(
        disposition,
        "attachment; filename=\"____v2____co.pdf\"; \
         filename*=UTF-8''%E6%8A%A5%E4%BB%B7%20%3Cv2%3E%20%26%20co.pdf"
    );
    assert_eq!(file.headers[header::CACHE_CONTROL], "private, no-store");

    // Someone who takes no part neither downloads nor uploads, and the lead download route
    // does not serve approval files.
    let (mut outsider, outsider_csrf) = signed_in(&shell, "outsider").await;
    assert_eq!(outsider.get(&download).await.status, StatusCode::NOT_FOUND);
    let sneaked = outsider
        .post_multipart(
            &upload,
            &[Part::Text("csrf", &outsider_csrf), file_part("x.txt", "text/plain", b"x")],
        )
        .await;
    assert_eq!(sneaked.status, StatusCode::NOT_FOUND);
    let mut admin = shell.client();
    admin.admin().await;
    assert_eq!(
        admin.get(&format!("/attachments/{}", links[0])).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(admin.get(&download).await.body, pdf);
    let elsewhere = format!("/workflow/instances/{}/attachments/{}", instance + 1, links[0]);
    assert_eq!(admin.get(&elsewhere).await.status, StatusCode::NOT_FOUND);

    // A name that is only blanks is refused naming the field; no file chosen is a 400 too.
    let blank = seller
        .post_multipart(
            &upload,
            &[Part::Text("csrf", &seller_csrf), file_part("   ", "text/plain", b"x")],
        )
        .await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert!(blank.text().contains("文件名"), "{}", blank.text());
    let empty = seller
        .post_multipart(&upload, &[Part::Text("csrf", &seller_csrf), file_part("", "", b"")])
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.text().contains("请选择要上传的文件。"), "{}", empty.text());
    let page = seller.get(&format!("/workflow/instances/{instance}")).await;
    assert_eq!(page.ids(&format!("workflow/instances/{instance}/attachments")), links);
}

#[tokio::test]
async fn administrators_reassign_open_tasks_and_plain_users_cannot() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;
    let instance = requested_instance(&shell, org.customer).await;
    let page_path = format!("/workflow/instances/{instance}");
    let reassign = format!("{page_path}/reassign");

    // Only administrators are offered the form, listing the open task and active users.
    let (mut seller, seller_csrf) = signed_in(&shell, "seller").await;
    let text = seller.get(&page_path).await.text();
    assert!(!text.contains("reassign-form"), "{text}");
    let mut admin = shell.client();
    let admin_csrf = admin.admin().await;
    let text = admin.get(&page_path).await.text();
    assert!(text.contains("转交任务"), "{text}");
    assert!(text.contains("option value=\"1\">Unit manager &lt;审批&gt; &amp; co · Manager Wang"));
    assert!(text.contains(&format!("option value=\"{}\">Outsider Zhao (outsider)", org.outsider)));

    // A plain user who does not hold the task is refused, and nothing changes.
    let outsider = org.outsider.to_string();
    let refused =
        seller.post(&reassign, &[("csrf", &seller_csrf), ("task", "1"), ("to", &outsider)]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    assert!(refused.text().contains("这个任务不由您处理。"), "{}", refused.text());
    let (mut manager, _) = signed_in(&shell, "manager").await;
    assert_eq!(manager.get("/todo").await.ids("workflow/instances"), vec![instance]);

    // An unknown user cannot take the task.
    let unknown =
        admin.post(&reassign, &[("csrf", &admin_csrf), ("task", "1"), ("to", "999999")]).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.text());
    assert!(unknown.text().contains("没有这个用户: #999999"), "{}", unknown.text());

    // The administrator hands the manager's task to the outsider.
    let handed = admin
        .post(
            &reassign,
            &[("csrf", &admin_csrf), ("task", "1"), ("to", &outsider), ("comment", "王经理休假")],
        )
        .await;
    assert_eq!(handed.status, StatusCode::SEE_OTHER, "{}", handed.text());
    assert_eq!(handed.location(), format!("{page_path}?ok=reassigned"));
    let text = admin.follow(handed).await.text();
    assert!(text.contains("任务已转交。"), "{text}");
    assert!(text.contains("转交给 Outsider Zhao"), "{text}");
    assert!(text.contains("王经理休假"), "{text}");
    assert!(manager.get("/todo").await.ids("workflow/instances").is_empty());
    let (mut outsider_client, _) = signed_in(&shell, "outsider").await;
    let todo = outsider_client.get("/todo").await;
    assert_eq!(todo.ids("workflow/instances"), vec![instance]);
    let page = outsider_client.get(&page_path).await;
    assert!(page.text().contains("id=\"approve\""), "{}", page.text());

    // In English the same forms read in English.
    let switched =
        admin.post("/lang", &[("csrf", &admin_csrf), ("lang", "en"), ("back", &page_path)]).await;
    let text = admin.follow(switched).await.text();
    assert!(text.contains("Reassign a task") && text.contains("Attached files"), "{text}");
    assert!(text.contains("Attach a file"), "{text}");
}
