//! In-process HTTP tests of the finance request pages (财务申请): a salesperson writes an
//! expense draft, edits and submits it, their unit manager approves it on the task page and
//! the request reads approved; posts need the session's token, other people do not see the
//! request, and bad input is explained naming its field while nothing is stored.

mod support;

use axum::http::StatusCode;
use crm::RequestFilter;
use support::{set_up_approvals, Client, Page, Part, Shell, USER_PASSWORD};

/// The unit manager approves every expense request and may change its amount.
const EXPENSE_FLOW: &str = r#"
name = "expense_approval"
title = "Expense approval / 费用审批"
form = "expense"

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "manager"
type = "approval"
label = "Unit manager"
approvers = [{ unit_manager = 0 }]
editable_fields = ["amount"]

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

/// A client signed in as `login`, with the session's CSRF token.
async fn signed_in(shell: &Shell, login: &str) -> (Client, String) {
    let mut client = shell.client();
    let signed = client.sign_in(login, USER_PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{login}: {}", signed.text());
    let page = client.get("/requests").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let csrf = page.hidden("csrf");
    (client, csrf)
}

/// The administrator, signed in, defines the expense flow.
async fn define_expense_flow(shell: &Shell) {
    let mut admin = shell.client();
    let csrf = admin.admin().await;
    let defined = admin
        .post_multipart(
            "/workflow/definitions",
            &[Part::Text("csrf", &csrf), Part::Text("text", EXPENSE_FLOW)],
        )
        .await;
    assert_eq!(defined.status, StatusCode::SEE_OTHER, "{}", defined.text());
}

/// The number after `prefix` in a location such as `/requests/7?ok=created`.
fn id_in(location: &str, prefix: &str) -> u64 {
    location
        .strip_prefix(prefix)
        .and_then(|rest| rest.split(['?', '/', '#']).next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no id after {prefix} in {location:?}"))
}

/// How many finance requests the store holds, whoever wrote them.
async fn stored_requests(shell: &Shell) -> u64 {
    let state = shell.state.clone();
    tokio::task::spawn_blocking(move || {
        let requests = state.crm().requests(state.tenant_admin());
        requests.list(&RequestFilter::default()).expect("list the requests").total
    })
    .await
    .expect("count task")
}

/// Posts a new request of `form` with `title` and `amount`, and the other fields filled.
async fn post_request(
    client: &mut Client,
    csrf: &str,
    form: &str,
    title: &str,
    amount: &str,
) -> Page {
    client
        .post(
            "/requests",
            &[
                ("csrf", csrf),
                ("form", form),
                ("title", title),
                ("amount", amount),
                ("currency", ""),
                ("category", "招待"),
                ("purpose", "拜访客户 <b>重要</b>"),
                ("spent_on", "2026-11-20"),
                ("customer", ""),
            ],
        )
        .await
}

#[tokio::test]
async fn an_expense_draft_is_edited_submitted_and_approved() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;
    define_expense_flow(&shell).await;
    let (mut seller, csrf) = signed_in(&shell, "seller").await;

    // The list starts empty, with a "new" entry per form and the top-bar link.
    let list = seller.get("/requests").await.text();
    assert!(list.contains("没有找到匹配的记录。"), "{list}");
    assert!(list.contains("class=\"active\" href=\"/requests\">财务申请<"), "{list}");
    for (form, label) in
        [("expense", "新建费用申请"), ("reimbursement", "新建报销申请"), ("loan", "新建借款申请")]
    {
        assert!(list.contains(&format!("href=\"/requests/new?form={form}\"")), "{list}");
        assert!(list.contains(label), "{list}");
    }
    let form = seller.get("/requests/new?form=expense").await;
    assert_eq!(form.status, StatusCode::OK);
    let text = form.text();
    assert!(text.contains("name=\"amount\"") && text.contains("name=\"csrf\""), "{text}");
    assert!(!text.contains("name=\"repay_by\""), "only loans have a repayment date: {text}");
    let loan_form = seller.get("/requests/new?form=loan").await.text();
    assert!(loan_form.contains("name=\"repay_by\""), "{loan_form}");

    // A draft with markup in its title and purpose is stored and shown escaped.
    let title = "客户招待 <script>alert(1)</script>";
    let created = post_request(&mut seller, &csrf, "expense", title, "1,200.50").await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let id = id_in(&created.location(), "/requests/");
    assert_eq!(created.location(), format!("/requests/{id}?ok=created"));
    let page = seller.follow(created).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(text.contains("已创建。"), "{text}");
    assert!(text.contains("客户招待 &lt;script&gt;alert(1)&lt;/script&gt;"), "{text}");
    assert!(!text.contains("<script>"), "{text}");
    assert!(text.contains("拜访客户 &lt;b&gt;重要&lt;/b&gt;"), "{text}");
    assert!(text.contains("id=\"request-code\">EX000001<"), "{text}");
    assert!(text.contains("id=\"amount\">1200.50 CNY<"), "{text}");
    assert!(text.contains("id=\"applicant\">Seller Li<"), "{text}");
    assert!(text.contains("id=\"request-status\">草稿<"), "{text}");
    assert!(text.contains("尚未提交"), "{text}");
    for control in ["id=\"edit-request\"", "id=\"submit-request\"", "id=\"delete-request\""] {
        assert!(text.contains(control), "{control}: {text}");
    }
    let list = seller.get("/requests").await;
    assert_eq!(list.ids("requests"), vec![id]);
    assert!(!list.text().contains("<script>"), "{}", list.text());

    // The edit form carries the version; a save moves it on, a stale form is a conflict.
    let edit = seller.get(&format!("/requests/{id}/edit")).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert_eq!(edit.hidden("version"), "1");
    assert!(edit.text().contains("value=\"1200.50\""), "{}", edit.text());
    let edited = |version: &'static str, amount: &'static str| {
        vec![
            ("form", "expense"),
            ("version", version),
            ("title", "客户招待"),
            ("amount", amount),
            ("currency", "cny"),
            ("category", "招待"),
            ("purpose", "两位客户"),
            ("spent_on", "2026-11-21"),
        ]
    };
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend(edited("1", "980"));
    let saved = seller.post(&format!("/requests/{id}"), &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    assert_eq!(saved.location(), format!("/requests/{id}?ok=saved"));
    let text = seller.follow(saved).await.text();
    assert!(text.contains("已保存。") && text.contains("id=\"amount\">980.00 CNY<"), "{text}");
    assert!(text.contains("id=\"request-title\">客户招待<"), "{text}");
    let mut stale = vec![("csrf", csrf.as_str())];
    stale.extend(edited("1", "1"));
    let refused = seller.post(&format!("/requests/{id}"), &stale).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    assert!(refused.text().contains("这条记录已被其他人修改"), "{}", refused.text());
    assert!(refused.text().contains("id=\"reload\""), "{}", refused.text());

    // Submitted, it waits for the manager and links to its approval; nothing is editable.
    let page = seller.get(&format!("/requests/{id}")).await;
    let version = page.hidden("version");
    assert_eq!(version, "2");
    let submitted = seller
        .post(&format!("/requests/{id}/submit"), &[("csrf", &csrf), ("version", &version)])
        .await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER, "{}", submitted.text());
    assert_eq!(submitted.location(), format!("/requests/{id}?ok=requested"));
    let page = seller.follow(submitted).await;
    let text = page.text();
    assert!(text.contains("申请已提交，等待审批。"), "{text}");
    assert!(text.contains("id=\"request-status\">审批中<"), "{text}");
    let instances = page.ids("workflow/instances");
    assert_eq!(instances.len(), 1, "{text}");
    let instance = instances[0];
    for control in ["id=\"edit-request\"", "id=\"submit-request\"", "id=\"delete-request\""] {
        assert!(!text.contains(control), "{control} on a pending request: {text}");
    }
    let locked = seller.get(&format!("/requests/{id}/edit")).await;
    assert_eq!(locked.status, StatusCode::CONFLICT, "{}", locked.text());

    // Someone who takes no part does not see it, cannot act on it, and lists nothing.
    let (mut outsider, outsider_csrf) = signed_in(&shell, "outsider").await;
    assert_eq!(outsider.get(&format!("/requests/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(outsider.get(&format!("/requests/{id}/edit")).await.status, StatusCode::NOT_FOUND);
    let sneaked = outsider
        .post(&format!("/requests/{id}/delete"), &[("csrf", &outsider_csrf), ("version", "3")])
        .await;
    assert_eq!(sneaked.status, StatusCode::NOT_FOUND, "{}", sneaked.text());
    assert!(outsider.get("/requests").await.ids("requests").is_empty());

    // The manager approves on the existing task page, which shows the request's fields as
    // the node allows; the request page itself is the applicant's.
    let (mut manager, manager_csrf) = signed_in(&shell, "manager").await;
    assert_eq!(manager.get("/todo").await.ids("workflow/instances"), vec![instance]);
    let task_page = manager.get(&format!("/workflow/instances/{instance}")).await;
    assert_eq!(task_page.status, StatusCode::OK, "{}", task_page.text());
    assert!(task_page.text().contains("980.00"), "{}", task_page.text());
    let task = task_page.hidden("task");
    let read = manager.get(&format!("/requests/{id}")).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.text());
    // The node lets the manager change the amount: the form offers it, filled in.
    assert!(task_page.text().contains("name=\"edit.amount\" id=\"edit-amount\" value=\"980.00\""));
    let decide = format!("/workflow/instances/{instance}/decide");
    let receipt = Part::File {
        name: "file",
        file_name: "发票.pdf",
        content_type: "application/pdf",
        bytes: b"%PDF-1.4 receipt",
    };

    // An amount that is not a number is refused naming the field; nothing is decided, the
    // file is not stored and the request keeps its amount.
    let refused = manager
        .post_multipart(
            &decide,
            &[
                Part::Text("csrf", &manager_csrf),
                Part::Text("task", &task),
                Part::Text("decision", "approve"),
                Part::Text("edit.amount", "9,80"),
                receipt,
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    assert!(refused.text().contains("金额"), "{}", refused.text());
    let still = manager.get(&format!("/workflow/instances/{instance}")).await.text();
    assert!(still.contains("id=\"approve\"") && !still.contains("发票.pdf"), "{still}");

    // Approving with a lower amount and the receipt stores all three together.
    let approved = manager
        .post_multipart(
            &decide,
            &[
                Part::Text("csrf", &manager_csrf),
                Part::Text("task", &task),
                Part::Text("decision", "approve"),
                Part::Text("comment", "同意,按发票金额"),
                Part::Text("edit.amount", "950"),
                receipt,
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.text());
    let done = manager.follow(approved).await.text();
    assert!(done.contains("发票.pdf") && done.contains("同意,按发票金额"), "{done}");

    // The request reads approved, and the status filter finds it there only.
    let text = seller.get(&format!("/requests/{id}")).await.text();
    assert!(text.contains("id=\"request-status\">已通过<"), "{text}");
    assert!(text.contains("id=\"amount\">950.00"), "{text}");
    assert!(text.contains(&format!("href=\"/workflow/instances/{instance}\"")), "{text}");
    assert_eq!(seller.get("/requests?status=approved").await.ids("requests"), vec![id]);
    assert!(seller.get("/requests?status=draft").await.ids("requests").is_empty());
    assert!(seller.get("/requests?form=loan").await.ids("requests").is_empty());
    assert_eq!(seller.get("/requests?form=expense").await.ids("requests"), vec![id]);

    // The administrator lists everyone's requests.
    let mut admin = shell.client();
    admin.admin().await;
    let all = admin.get("/requests").await;
    assert_eq!(all.ids("requests"), vec![id]);
    assert!(all.text().contains("Seller Li"), "{}", all.text());
    assert_ne!(org.seller, org.manager);
}

#[tokio::test]
async fn posts_need_the_token_and_bad_input_stores_nothing() {
    let shell = Shell::start().await;
    set_up_approvals(&shell).await;
    let (mut seller, csrf) = signed_in(&shell, "seller").await;
    let created = post_request(&mut seller, &csrf, "expense", "打车", "120").await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let id = id_in(&created.location(), "/requests/");
    assert_eq!(stored_requests(&shell).await, 1);

    // Every post without the session's token, or with a forged one, is refused.
    for path in [
        "/requests".to_owned(),
        format!("/requests/{id}"),
        format!("/requests/{id}/submit"),
        format!("/requests/{id}/delete"),
    ] {
        let fields = [("form", "expense"), ("title", "x"), ("amount", "1"), ("version", "1")];
        let refused = seller.post(&path, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        let mut forged = vec![("csrf", "00")];
        forged.extend(fields);
        assert_eq!(seller.post(&path, &forged).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(stored_requests(&shell).await, 1);
    let text = seller.get(&format!("/requests/{id}")).await.text();
    assert!(text.contains("id=\"request-title\">打车<"), "still as written: {text}");

    // A bad amount shows the form again, naming the field and keeping what was typed.
    let bad = post_request(&mut seller, &csrf, "expense", "午餐 <i>", "12,5x").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    let text = bad.text();
    assert!(text.contains("字段填写有误： 金额 — 金额应为数字"), "{text}");
    assert!(text.contains("value=\"12,5x\""), "{text}");
    assert!(text.contains("value=\"午餐 &lt;i&gt;\""), "{text}");
    assert!(text.contains("name=\"amount\" id=\"amount\" value=\"12,5x\" required"), "{text}");
    assert!(text.contains("inputmode=\"decimal\" aria-invalid=\"true\""), "{text}");
    assert!(text.contains("name=\"csrf\""), "the form keeps its token: {text}");
    assert_eq!(stored_requests(&shell).await, 1);

    // The rules of the request name their fields too.
    let zero = post_request(&mut seller, &csrf, "expense", "零元", "0").await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST, "{}", zero.text());
    assert!(zero.text().contains("字段填写有误： 金额"), "{}", zero.text());
    let loan = post_request(&mut seller, &csrf, "loan", "借款", "500").await;
    assert_eq!(loan.status, StatusCode::BAD_REQUEST, "{}", loan.text());
    assert!(loan.text().contains("必填字段为空： 还款日期"), "{}", loan.text());
    let stranger = seller
        .post(
            "/requests",
            &[
                ("csrf", &csrf),
                ("form", "expense"),
                ("title", "x"),
                ("amount", "1"),
                ("customer", "999999"),
            ],
        )
        .await;
    assert_eq!(stranger.status, StatusCode::BAD_REQUEST, "{}", stranger.text());
    assert!(stranger.text().contains("字段填写有误： 客户"), "{}", stranger.text());
    let unknown = seller.get("/requests/new?form=quote").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(stored_requests(&shell).await, 1);

    // Without a flow bound to the form, submitting says so and the draft stays a draft.
    let refused =
        seller.post(&format!("/requests/{id}/submit"), &[("csrf", &csrf), ("version", "1")]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());
    let text = refused.text();
    assert!(text.contains("还没有用于这类申请的审批流程"), "{text}");
    assert!(text.contains("id=\"request-status\">草稿<"), "{text}");

    // A draft never submitted is deleted.
    let deleted =
        seller.post(&format!("/requests/{id}/delete"), &[("csrf", &csrf), ("version", "1")]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.text());
    assert_eq!(deleted.location(), "/requests?ok=deleted");
    assert!(seller.follow(deleted).await.text().contains("已删除。"));
    assert_eq!(seller.get(&format!("/requests/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(stored_requests(&shell).await, 0);

    // In English the pages read in English.
    let switched =
        seller.post("/lang", &[("csrf", &csrf), ("lang", "en"), ("back", "/requests")]).await;
    let text = seller.follow(switched).await.text();
    assert!(text.contains(">Requests<") && text.contains("New loan request"), "{text}");
    let bad = post_request(&mut seller, &csrf, "expense", "Lunch", "12,5x").await;
    assert!(bad.text().contains("A field is not valid: Amount"), "{}", bad.text());
}

#[tokio::test]
async fn a_request_for_a_second_unit_goes_to_that_units_manager() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;
    define_expense_flow(&shell).await;
    // The seller also works for a branch office, which the outsider manages.
    let state = shell.state.clone();
    let (seller, outsider) = (org.seller, org.outsider);
    let (root, branch) = tokio::task::spawn_blocking(move || {
        let crm = state.crm();
        let org = crm.org(state.tenant_admin());
        let root = org.units().expect("units")[0].id;
        let branch =
            org.add_unit("华东办事处", crm::UnitKind::Department, root).expect("add the branch");
        org.set_manager(branch.id, Some(outsider)).expect("set its manager");
        org.add_membership(seller, branch.id, "").expect("place the seller");
        (root, branch.id)
    })
    .await
    .expect("set-up task");

    let (mut seller, csrf) = signed_in(&shell, "seller").await;
    let created = post_request(&mut seller, &csrf, "expense", "出差", "300").await;
    let id = id_in(&created.location(), "/requests/");
    let page = seller.get(&format!("/requests/{id}")).await.text();
    assert!(page.contains("id=\"submit-unit\""), "{page}");
    let home = page.find("销售一部").expect("the home unit is offered");
    let second = page.find("华东办事处").expect("the branch is offered");
    assert!(home < second, "the home unit comes first: {page}");

    // A unit the seller does not belong to is refused and leaves a draft.
    let root = root.to_string();
    let refused = seller
        .post(
            &format!("/requests/{id}/submit"),
            &[("csrf", &csrf), ("version", "1"), ("unit", &root)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    assert!(refused.text().contains(&format!("您不属于部门 #{root}")), "{}", refused.text());

    let branch = branch.to_string();
    let submitted = seller
        .post(
            &format!("/requests/{id}/submit"),
            &[("csrf", &csrf), ("version", "1"), ("unit", &branch)],
        )
        .await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER, "{}", submitted.text());
    let (mut outsider, _) = signed_in(&shell, "outsider").await;
    assert_eq!(outsider.get("/todo").await.ids("workflow/instances").len(), 1);
    let (mut manager, _) = signed_in(&shell, "manager").await;
    assert!(manager.get("/todo").await.ids("workflow/instances").is_empty());
    // Once submitted, the choice is no longer offered.
    assert!(!seller.get(&format!("/requests/{id}")).await.text().contains("submit-unit"));
}

/// The unit manager approves quotes and may move their validity date.
const QUOTE_FLOW: &str = r#"
name = "quote_approval"
form = "quote"

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "manager"
type = "approval"
label = "Unit manager"
approvers = [{ unit_manager = 0 }]
editable_fields = ["valid_until", "remarks"]

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

#[tokio::test]
async fn a_quote_is_approved_on_the_task_page() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;
    let mut admin = shell.client();
    let csrf = admin.admin().await;
    let parts = [Part::Text("csrf", &csrf), Part::Text("text", QUOTE_FLOW)];
    let defined = admin.post_multipart("/workflow/definitions", &parts).await;
    assert_eq!(defined.status, StatusCode::SEE_OTHER, "{}", defined.text());

    // The seller writes and submits a quote through the library (its pages come with the
    // sales module); the manager decides on the task page.
    let state = shell.state.clone();
    let seller = org.seller;
    let (quote, instance) = tokio::task::spawn_blocking(move || {
        let crm = state.crm();
        let who = crm.org(state.tenant_admin()).principal(seller).unwrap().unwrap();
        let customer = crm::Customer { name: "华东机电".into(), ..crm::Customer::default() };
        let customer = crm.customers(&who).create(customer, vec![]).unwrap().id;
        let line = crm::QuoteLine {
            product: "<b>滤芯</b>".into(),
            quantity: 3.into(),
            unit_price: rust_decimal::Decimal::new(9950, 2),
            discount: 0.into(),
        };
        let draft = crm::QuoteDraft {
            customer,
            title: "年度维保".into(),
            valid_until: chrono::NaiveDate::from_ymd_opt(2027, 1, 31),
            lines: vec![line],
            ..crm::QuoteDraft::default()
        };
        let quote = crm.quotes(&who).create(draft).unwrap();
        let quote = crm.quotes(&who).submit(quote.id, 1, None).unwrap();
        (quote.id, quote.instance.unwrap())
    })
    .await
    .unwrap();

    let (mut manager, manager_csrf) = signed_in(&shell, "manager").await;
    let shown = manager.get(&format!("/workflow/instances/{instance}")).await;
    let task = shown.hidden("task");
    let page = shown.text();
    assert!(
        page.contains("id=\"quote-lines\"") && page.contains("&lt;b&gt;滤芯&lt;/b&gt;"),
        "{page}"
    );
    assert!(page.contains("<td>298.50</td>"), "{page}");
    assert!(page.contains("name=\"edit.valid_until\""), "{page}");
    // Remarks may hold several lines, so they are edited in a text area that keeps them.
    assert!(page.contains("<textarea name=\"edit.remarks\""), "{page}");
    let decide = format!("/workflow/instances/{instance}/decide");
    let decision = |date| {
        [
            Part::Text("csrf", &manager_csrf),
            Part::Text("task", &task),
            Part::Text("decision", "approve"),
            Part::Text("edit.valid_until", date),
            // Left empty as the page shows it: no change, not a refusal.
            Part::Text("edit.remarks", ""),
        ]
    };
    let refused = manager.post_multipart(&decide, &decision("明天")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    assert!(refused.text().contains("有效期至"), "{}", refused.text());
    let approved = manager.post_multipart(&decide, &decision("2027-02-28")).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.text());

    let state = shell.state.clone();
    let stored = tokio::task::spawn_blocking(move || {
        state.crm().quotes(state.tenant_admin()).get(quote).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(stored.status, crm::ApprovalStatus::Approved);
    assert_eq!(stored.valid_until, chrono::NaiveDate::from_ymd_opt(2027, 2, 28));
}
