//! In-process HTTP tests of the user-defined form pages (自定义表单): an administrator
//! defines a leave form through the editor, a plain user cannot open the editor, a user
//! fills in an entry (a bad value is named and everything typed kept, nothing stored),
//! submits it into the flow bound to the form, the manager approves it on the task page, and
//! the entry shows the outcome. Text people type is escaped on every page.

mod support;

use axum::http::StatusCode;
use crm::{ApprovalStatus, EntryFilter, FormFieldKind, RecordId, Value};
use rust_decimal::Decimal;
use support::{set_up_approvals, Client, Page, Part, Shell, USER_PASSWORD};

/// A choice and a title carry markup that no page may let through.
const BAD_CHOICE: &str = "<script>alert(1)</script>";
const TITLE: &str = "年假申请 <script>alert(2)</script>";

/// The unit manager approves entries of form `form` and may change the days.
fn flow(form: u64) -> String {
    format!(
        r#"
name = "leave_approval"
title = "请假审批"
form = {{ custom = {form} }}

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "manager"
type = "approval"
approvers = [{{ unit_manager = 0 }}]
editable_fields = ["days"]

[[nodes]]
id = "end"
type = "end"

[[edges]]
from = "start"
to = "manager"

[[edges]]
from = "manager"
to = "end"
"#
    )
}

async fn signed_in(shell: &Shell, login: &str) -> (Client, String) {
    let mut client = shell.client();
    let signed = client.sign_in(login, USER_PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{login}: {}", signed.text());
    let csrf = client.get("/forms").await.hidden("csrf");
    (client, csrf)
}

/// Asserts that the page shows the markup people typed as text, never as markup.
fn escaped(page: &Page) -> String {
    let text = page.text();
    assert!(!text.contains("<script"), "unescaped markup: {text}");
    text
}

/// A form's fields as the client posts them.
fn as_pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// The editor's post: the form's names and one row per field (name, Chinese label, English
/// label, kind, required, choices), plus an empty row and a row without a name.
fn definition(csrf: &str, version: &str, rows: &[[&str; 6]]) -> Vec<(String, String)> {
    let mut posted: Vec<(String, String)> = [
        ("csrf", csrf),
        ("version", version),
        ("key", "leave"),
        ("name_zh", "请假单"),
        ("name_en", "Leave request"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let blank = ["", "", "", "text", "", ""];
    let unnamed = ["", "忽略", "", "text", "", ""];
    for (at, row) in rows.iter().chain([&blank, &unnamed]).enumerate() {
        for (attr, value) in
            ["name", "label_zh", "label_en", "kind", "required", "choices"].into_iter().zip(row)
        {
            // An unticked checkbox sends nothing.
            if attr != "required" || !value.is_empty() {
                posted.push((format!("fields[{at}].{attr}"), (*value).to_owned()));
            }
        }
    }
    posted
}

fn leave_rows(days_kind: &'static str, days_label: &'static str) -> Vec<[&'static str; 6]> {
    vec![
        ["days", days_label, "Days", days_kind, "1", ""],
        ["kind", "假别", "", "choice", "1", "年假、病假\n<script>alert(1)</script>"],
        ["first_day", "开始日期", "First day", "date", "", ""],
        ["paid", "带薪", "Paid", "bool", "", ""],
        ["reason", "事由", "Reason", "textarea", "", ""],
    ]
}

/// An entry as the entry form posts it.
fn entry(csrf: &str, days: &str, kind: &str) -> Vec<(String, String)> {
    [
        ("csrf", csrf),
        ("version", ""),
        ("title", TITLE),
        ("v.days", days),
        ("v.kind", kind),
        ("v.first_day", "2027-01-04"),
        ("v.paid", "yes"),
        ("v.reason", "回老家\n探亲"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

#[tokio::test]
async fn a_form_is_defined_filled_in_submitted_and_approved() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;
    let mut admin = shell.client();
    let admin_csrf = admin.admin().await;

    // The administrator defines the form through the editor: three empty rows to start
    // with; the empty row and the row without a name are dropped.
    let list = admin.get("/forms").await.text();
    assert!(list.contains("href=\"/forms/new\"") && list.contains("还没有表单"), "{list}");
    let editor = admin.get("/forms/new").await.text();
    assert_eq!(editor.matches("].name\"").count(), 3, "three empty rows: {editor}");
    assert!(editor.contains("下拉选择 · choice") && editor.contains("是 / 否 · bool"), "{editor}");
    let posted = definition(&admin_csrf, "", &leave_rows("decimal", "天数"));
    let created = admin.post("/forms", &as_pairs(&posted)).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let list = admin.follow(created).await;
    let text = escaped(&list);
    assert!(text.contains("已创建") && text.contains("请假单"), "{text}");
    let form = list.ids("forms")[0];
    assert!(text.contains(&format!("href=\"/forms/{form}/edit\"")), "{text}");

    let state = shell.state.clone();
    let stored = tokio::task::spawn_blocking(move || {
        state.crm().forms(state.tenant_admin()).get(RecordId(form)).unwrap()
    })
    .await
    .unwrap();
    let shape: Vec<(&str, FormFieldKind, bool)> =
        stored.fields.iter().map(|f| (f.name.as_str(), f.kind, f.required)).collect();
    assert_eq!(
        shape,
        [
            ("days", FormFieldKind::Decimal, true),
            ("kind", FormFieldKind::Choice, true),
            ("first_day", FormFieldKind::Date, false),
            ("paid", FormFieldKind::Bool, false),
            ("reason", FormFieldKind::Textarea, false),
        ]
    );
    assert_eq!(stored.fields[1].choices, ["年假", "病假", BAD_CHOICE]);
    assert_eq!(
        (stored.name_en.as_str(), stored.fields[0].label_en.as_str()),
        ("Leave request", "Days")
    );

    // The editor shows the fields, the key read-only, and the choices one per line.
    let editor = escaped(&admin.get(&format!("/forms/{form}/edit")).await);
    assert!(editor.contains("value=\"leave\" required maxlength=\"40\" readonly"), "{editor}");
    assert_eq!(editor.matches("].name\"").count(), 8, "five fields and three empty rows");
    assert!(editor.contains("年假\n病假\n&lt;script&gt;alert(1)&lt;/script&gt;"), "{editor}");
    assert!(editor.contains("id=\"retire-form\""), "{editor}");

    // A plain user gets the forbidden page for the editor and cannot post to it.
    let (mut seller, csrf) = signed_in(&shell, "seller").await;
    for path in ["/forms/new".to_owned(), format!("/forms/{form}/edit")] {
        let refused = seller.get(&path).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.text().contains("只有管理员可以定义和修改表单"), "{}", refused.text());
    }
    let forged = definition(&csrf, "", &leave_rows("decimal", "天数"));
    assert_eq!(seller.post("/forms", &as_pairs(&forged)).await.status, StatusCode::FORBIDDEN);
    let list = seller.get("/forms").await.text();
    assert!(list.contains(&format!("href=\"/forms/{form}/entries/new\"")), "{list}");
    assert!(!list.contains("href=\"/forms/new\"") && !list.contains("/edit\""), "{list}");

    // A field keeps its kind: the refusal names the field's kind and the page keeps what was
    // typed (a new label); nothing changes.
    let retyped = definition(&admin_csrf, "1", &leave_rows("integer", "请假天数"));
    let refused = admin.post(&format!("/forms/{form}"), &as_pairs(&retyped)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    let text = escaped(&refused);
    assert!(text.contains("字段 days · 类型"), "{text}");
    assert!(text.contains("value=\"请假天数\""), "the typed label is kept: {text}");
    assert!(text.contains("<option value=\"integer\" selected>"), "the typed kind is kept");
    assert!(text.contains("aria-invalid=\"true\""), "the kind is marked: {text}");

    // The flow bound to the form reads the days, so they cannot be removed.
    let state = shell.state.clone();
    tokio::task::spawn_blocking(move || {
        state.crm().workflows(state.tenant_admin()).define(&flow(form)).unwrap();
    })
    .await
    .unwrap();
    let without_days = definition(&admin_csrf, "1", &leave_rows("decimal", "天数")[1..]);
    let refused = admin.post(&format!("/forms/{form}"), &as_pairs(&without_days)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    assert!(refused.text().contains("leave_approval"), "{}", refused.text());

    // The entry form is generated from the definition.
    let new = seller.get(&format!("/forms/{form}/entries/new")).await;
    assert_eq!(new.status, StatusCode::OK);
    let text = escaped(&new);
    assert!(
        text.contains("name=\"v.days\" id=\"v-days\" value=\"\" inputmode=\"decimal\" required")
    );
    assert!(text.contains("type=\"date\" name=\"v.first_day\""), "{text}");
    assert!(text.contains("<option value=\"yes\">是</option>"), "{text}");
    assert!(text.contains("<textarea name=\"v.reason\""), "{text}");
    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;</option>"), "{text}");
    assert!(text.contains("天数 *"), "required fields are marked: {text}");

    // A value that is not a number is named, everything typed stays, nothing is stored.
    let bad = entry(&csrf, "两天", "病假");
    let refused = seller.post(&format!("/forms/{form}/entries"), &as_pairs(&bad)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    let text = escaped(&refused);
    assert!(text.contains("字段填写有误： 天数 — &quot;两天&quot; 不是数字"), "{text}");
    assert!(text.contains("value=\"两天\""), "{text}");
    assert!(text.contains("value=\"年假申请 &lt;script&gt;alert(2)&lt;/script&gt;\""), "{text}");
    assert!(text.contains("<option value=\"病假\" selected>"), "{text}");
    assert!(text.contains("<option value=\"yes\" selected>"), "{text}");
    assert!(text.contains(">回老家\n探亲</textarea>"), "{text}");
    assert!(text.contains("class=\"notice error field-error\""), "said next to the field");
    // A choice the form does not offer (a hand-made post) is named too.
    let odd = entry(&csrf, "2", "婚假");
    let refused = seller.post(&format!("/forms/{form}/entries"), &as_pairs(&odd)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    assert!(refused.text().contains("假别"), "{}", refused.text());
    let list = seller.get(&format!("/forms/{form}/entries")).await.text();
    assert!(!list.contains("id=\"entry-list\""), "nothing stored: {list}");

    // A good one is written.
    let good = entry(&csrf, "2.50", BAD_CHOICE);
    let created = seller.post(&format!("/forms/{form}/entries"), &as_pairs(&good)).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let location = created.location();
    let page = seller.follow(created).await;
    let text = escaped(&page);
    let entry_id = location
        .strip_prefix("/form-entries/")
        .and_then(|rest| rest.split('?').next())
        .expect("the entry's page")
        .to_owned();
    assert!(text.contains("FM000001") && text.contains("id=\"edit-entry\""), "{text}");
    assert!(text.contains("<dd id=\"value-days\">2.5</dd>"), "{text}");
    assert!(text.contains("<dd id=\"value-paid\">是</dd>"), "{text}");
    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;</dd>"), "{text}");
    assert!(text.contains("尚未提交"), "{text}");
    let edit = escaped(&seller.get(&format!("/form-entries/{entry_id}/edit")).await);
    assert!(edit.contains("value=\"2.5\"") && edit.contains("value=\"2027-01-04\""), "{edit}");
    let list = escaped(&seller.get(&format!("/forms/{form}/entries")).await);
    assert!(list.contains("id=\"entry-list\"") && list.contains("FM000001"), "{list}");

    let state = shell.state.clone();
    let seller_id = org.seller;
    let stored = tokio::task::spawn_blocking(move || {
        let crm = state.crm();
        let seller = crm.org(state.tenant_admin()).principal(seller_id).unwrap().unwrap();
        let found = crm.form_entries(&seller).list(&EntryFilter::default()).unwrap();
        found.items.into_iter().next().expect("the entry")
    })
    .await
    .unwrap();
    assert_eq!(stored.values.get("days"), Some(&Value::Decimal(Decimal::new(25, 1))));
    assert_eq!(stored.values.get("paid"), Some(&Value::Bool(true)));
    assert_eq!(stored.values.get("reason"), Some(&Value::Text("回老家\n探亲".into())));

    // Without the token nothing is posted; other people do not see the entry.
    let submit = format!("/form-entries/{entry_id}/submit");
    assert_eq!(seller.post(&submit, &[("version", "1")]).await.status, StatusCode::FORBIDDEN);
    let (mut outsider, _) = signed_in(&shell, "outsider").await;
    let hidden = outsider.get(&format!("/form-entries/{entry_id}")).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    let submitted = seller.post(&submit, &[("csrf", &csrf), ("version", "1")]).await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER, "{}", submitted.text());
    let text = escaped(&seller.follow(submitted).await);
    assert!(text.contains("审批中") && !text.contains("id=\"edit-entry\""), "{text}");
    assert!(text.contains("id=\"approval-link\""), "{text}");

    // The manager finds it in the to-do list, named by form, number and title, and approves
    // it on the task page, which labels the fields from the form.
    let (mut manager, manager_csrf) = signed_in(&shell, "manager").await;
    let todo = manager.get("/todo").await;
    let text = escaped(&todo);
    assert!(text.contains("请假单: <a href=\"/workflow/instances/"), "{text}");
    assert!(text.contains("FM000001 年假申请 &lt;script&gt;alert(2)&lt;/script&gt;"), "{text}");
    let instance = todo.ids("workflow/instances")[0];
    let task_page = manager.get(&format!("/workflow/instances/{instance}")).await;
    let text = escaped(&task_page);
    assert!(text.contains("<dt>天数</dt><dd>2.5</dd>"), "{text}");
    assert!(text.contains("<dt>假别</dt><dd>&lt;script&gt;alert(1)&lt;/script&gt;</dd>"), "{text}");
    assert!(text.contains("name=\"edit.days\""), "the manager may change the days: {text}");
    let task = task_page.hidden("task");
    let parts = [
        Part::Text("csrf", &manager_csrf),
        Part::Text("task", &task),
        Part::Text("decision", "approve"),
    ];
    let decide = format!("/workflow/instances/{instance}/decide");
    let approved = manager.post_multipart(&decide, &parts).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.text());

    let text = escaped(&seller.get(&format!("/form-entries/{entry_id}")).await);
    assert!(text.contains("<dd id=\"entry-status\">已通过</dd>"), "{text}");
    let approved = seller.get(&format!("/forms/{form}/entries?status=approved")).await.text();
    assert!(approved.contains("FM000001"), "{approved}");
    let drafts = seller.get(&format!("/forms/{form}/entries?status=draft")).await.text();
    assert!(!drafts.contains("FM000001"), "{drafts}");

    // In English the form and its fields read in English.
    let switched = seller
        .post(
            "/lang",
            &[("csrf", &csrf), ("lang", "en"), ("back", &format!("/form-entries/{entry_id}"))],
        )
        .await;
    let text = escaped(&seller.follow(switched).await);
    assert!(text.contains("<dd id=\"entry-status\">Approved</dd>"), "{text}");
    assert!(text.contains("<dt>Days</dt>") && text.contains(">Leave request</a>"), "{text}");
    assert!(text.contains("<dt>假别</dt>"), "a label given in Chinese only is used: {text}");

    // Retired, the form leaves the list of people who may fill it in; its entries stay.
    let state = shell.state.clone();
    let entries_left = tokio::task::spawn_blocking(move || {
        let crm = state.crm();
        let filter =
            EntryFilter { status: Some(ApprovalStatus::Approved), ..EntryFilter::default() };
        crm.form_entries(state.tenant_admin()).list(&filter).unwrap().total
    })
    .await
    .unwrap();
    assert_eq!(entries_left, 1);
    let version = admin.get(&format!("/forms/{form}/edit")).await.hidden("version");
    let retired = admin
        .post(
            &format!("/forms/{form}/retire"),
            &[("csrf", &admin_csrf), ("version", &version), ("retired", "1")],
        )
        .await;
    assert_eq!(retired.status, StatusCode::SEE_OTHER, "{}", retired.text());
    let list = admin.follow(retired).await.text();
    assert!(list.contains("已停用"), "{list}");
    let list = seller.get("/forms").await.text();
    assert!(!list.contains(&format!("/forms/{form}/entries")), "{list}");
    let closed = seller.get(&format!("/forms/{form}/entries/new")).await;
    assert_eq!(closed.status, StatusCode::CONFLICT, "{}", closed.text());
    let kept = seller.get(&format!("/forms/{form}/entries")).await.text();
    assert!(kept.contains("FM000001") && !kept.contains("id=\"new-entry\""), "{kept}");
}

/// The manager may change every field but the note; a second approver (the outsider) sees
/// the title and the days only, and may return the request to the manager.
fn two_step_flow(form: u64, checker: u64) -> String {
    format!(
        r#"
name = "leave_two_steps"
title = "请假审批"
form = {{ custom = {form} }}

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "manager"
type = "approval"
label = "部门经理"
approvers = [{{ unit_manager = 0 }}]
editable_fields = ["days", "kind", "first_day", "paid", "reason"]

[[nodes]]
id = "check"
type = "approval"
label = "复核"
approvers = [{{ users = [{checker}] }}]
visible_fields = ["title", "days"]

[[nodes]]
id = "end"
type = "end"

[[edges]]
from = "start"
to = "manager"

[[edges]]
from = "manager"
to = "check"

[[edges]]
from = "check"
to = "end"
"#
    )
}

/// Where `needle` first occurs in `text`, failing the test when it does not.
fn position(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap_or_else(|| panic!("no {needle} in {text}"))
}

#[tokio::test]
async fn the_task_page_of_an_entry_reads_like_its_form() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;

    // The form (its fields deliberately out of name order, with a note removed after the
    // entry was submitted), the flow bound to it, and a submitted entry, through the library.
    let state = shell.state.clone();
    let (outsider, seller) = (org.outsider, org.seller);
    let (form, entry) = tokio::task::spawn_blocking(move || {
        let crm = state.crm();
        let admin = state.tenant_admin();
        let field = |name: &str, zh: &str, en: &str, kind, required| crm::FormFieldDef {
            name: name.into(),
            label_zh: zh.into(),
            label_en: en.into(),
            kind,
            required,
            choices: if kind == FormFieldKind::Choice {
                vec!["年假".into(), "病假".into()]
            } else {
                Vec::new()
            },
        };
        let fields = vec![
            field("days", "天数", "Days", FormFieldKind::Decimal, true),
            field("kind", "假别", "Kind", FormFieldKind::Choice, true),
            field("first_day", "开始日期", "First day", FormFieldKind::Date, false),
            field("paid", "带薪", "Paid", FormFieldKind::Bool, false),
            field("reason", "事由", "Reason", FormFieldKind::Textarea, false),
            field("note", "备注", "Note", FormFieldKind::Text, false),
        ];
        let draft = crm::FormDraft {
            key: "leave".into(),
            name_zh: "请假单".into(),
            name_en: "Leave request".into(),
            fields,
        };
        let form = crm.forms(admin).define(draft.clone()).unwrap();
        crm.workflows(admin).define(&two_step_flow(form.id.0, outsider.0)).unwrap();
        let who = crm.org(admin).principal(seller).unwrap().unwrap();
        let typed: Vec<(String, String)> = [
            ("days", "2.5"),
            ("kind", "年假"),
            ("first_day", "2027-01-04"),
            ("paid", "是"),
            ("reason", "回老家\n探亲"),
            ("note", "旧备注"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        let entries = crm.form_entries(&who);
        let values = entries.parse_values(&form, &typed).unwrap();
        let entry =
            entries.create(form.id, crm::EntryDraft { title: "年假申请".into(), values }).unwrap();
        let entry = entries.submit(entry.id, entry.version, None).unwrap();
        let without_note = crm::FormDraft { fields: draft.fields[..5].to_vec(), ..draft.clone() };
        crm.forms(admin).update(form.id, form.version, without_note).unwrap();
        (form.id.0, entry.id.0)
    })
    .await
    .unwrap();

    let (mut manager, manager_csrf) = signed_in(&shell, "manager").await;
    let instance = manager.get("/todo").await.ids("workflow/instances")[0];
    let path = format!("/workflow/instances/{instance}");
    let page = manager.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let text = escaped(&page);
    let task = page.hidden("task");

    // The fields read by the form's labels, in the form's order after the entry's own; the
    // form reads by its name, yes by 是; a removed field and bookkeeping stay out.
    let order = ["<dt>标题</dt>", "<dt>天数</dt>", "<dt>假别</dt>", "<dt>开始日期</dt>"];
    let at: Vec<usize> = order.iter().map(|dt| position(&text, dt)).collect();
    assert!(at.windows(2).all(|pair| pair[0] < pair[1]), "form order: {at:?} in {text}");
    assert!(position(&text, "<dt>开始日期</dt>") < position(&text, "<dt>带薪</dt>"), "{text}");
    assert!(position(&text, "<dt>带薪</dt>") < position(&text, "<dt>事由</dt>"), "{text}");
    assert!(text.contains("<dt>表单</dt><dd>请假单</dd>"), "{text}");
    assert!(!text.contains(&format!("#{form}</dd>")), "{text}");
    assert!(text.contains("<dt>带薪</dt><dd>是</dd>"), "{text}");
    assert!(!text.contains(">true<"), "{text}");
    assert!(text.contains("<dt>事由</dt><dd><pre class=\"content\">回老家\n探亲</pre></dd>"));
    assert!(!text.contains("旧备注") && !text.contains("<dt>备注</dt>"), "removed: {text}");
    for hidden in ["<dt>创建时间</dt>", "<dt>更新时间</dt>", "<dt>审批</dt>", "<dt>状态</dt>"]
    {
        assert!(!text.contains(hidden), "{hidden} is bookkeeping: {text}");
    }

    // The decision form follows the fields' kinds: a required pick list without an empty
    // choice, yes or no with one, a date, a text area, a decimal keyboard.
    assert!(
        text.contains(
            "<select name=\"edit.kind\" id=\"edit-kind\"><option value=\"年假\" selected>年假\
             </option><option value=\"病假\">病假</option></select>"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "<select name=\"edit.paid\" id=\"edit-paid\"><option value=\"\">—</option>\
             <option value=\"yes\" selected>是</option><option value=\"no\">否</option></select>"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "<input type=\"date\" name=\"edit.first_day\" id=\"edit-first_day\" \
             value=\"2027-01-04\">"
        ),
        "{text}"
    );
    assert!(
        text.contains("name=\"edit.days\" id=\"edit-days\" value=\"2.5\" inputmode=\"decimal\""),
        "{text}"
    );
    assert!(text.contains("<textarea name=\"edit.reason\" id=\"edit-reason\">回老家\n探亲<"));
    assert!(position(&text, "id=\"edit-days\"") < position(&text, "id=\"edit-kind\""));
    assert!(position(&text, "id=\"edit-kind\"") < position(&text, "id=\"edit-first_day\""));
    assert!(text.contains("天数 *"), "required fields are marked: {text}");
    // The entry itself opens for its owner and administrators, not for the approver.
    assert!(!text.contains("href=\"/form-entries/"), "{text}");

    // A refused decision shows the page again: the refusal next to the field, by its label,
    // with the comment and every value typed kept; nothing is decided.
    let decide = format!("{path}/decide");
    let decision = |days: &'static str| {
        vec![
            Part::Text("csrf", &manager_csrf),
            Part::Text("task", &task),
            Part::Text("edit.days", days),
            Part::Text("edit.kind", "病假"),
            Part::Text("edit.first_day", "2027-01-05"),
            Part::Text("edit.paid", "no"),
            Part::Text("edit.reason", "回老家"),
            Part::Text("comment", "天数请按 <实际> 填写"),
            Part::Text("decision", "approve"),
        ]
    };
    let refused = manager.post_multipart(&decide, &decision("abc")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    let text = escaped(&refused);
    assert!(text.contains("id=\"decision-error\""), "{text}");
    let back = format!("name=\"back\" value=\"{path}\"");
    assert!(text.contains(&back), "the language switch returns to the page: {text}");
    assert!(text.contains("字段填写有误： 天数 — &quot;abc&quot; 不是数字"), "{text}");
    assert!(!text.contains("字段填写有误： days"), "{text}");
    assert!(
        text.contains(
            "value=\"abc\" inputmode=\"decimal\" aria-invalid=\"true\" autofocus>\
             <span class=\"notice error field-error\">字段填写有误： 天数"
        ),
        "said next to the field: {text}"
    );
    assert!(text.contains(">天数请按 &lt;实际&gt; 填写</textarea>"), "{text}");
    assert!(text.contains("<option value=\"病假\" selected>"), "{text}");
    assert!(text.contains("<option value=\"no\" selected>否</option>"), "{text}");
    assert!(text.contains("value=\"2027-01-05\""), "{text}");
    assert!(text.contains("id=\"edit-reason\">回老家</textarea>"), "{text}");
    assert!(text.contains("id=\"approve\""), "the task is still open: {text}");
    // Emptying a required field is named the same way.
    let refused = manager.post_multipart(&decide, &decision("")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    let text = escaped(&refused);
    assert!(text.contains("必填字段为空： 天数"), "{text}");
    assert!(text.contains(">天数请按 &lt;实际&gt; 填写</textarea>"), "{text}");

    // Approved with changes: the history names each changed field by label, with its value.
    let approved = manager.post_multipart(&decide, &decision("4")).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.text());
    let text = escaped(&manager.follow(approved).await);
    assert!(
        text.contains(
            "<span class=\"changes\">修改了 天数: 4; 假别: 病假; 开始日期: 2027-01-05; 带薪: 否; \
             事由: 回老家</span>"
        ),
        "{text}"
    );

    // The second approver sees the days only, in the record and in the history. A refused
    // return (the file is too large) keeps the decision, the node and the comment.
    let (mut checker, checker_csrf) = signed_in(&shell, "outsider").await;
    let page = checker.get(&path).await;
    let text = escaped(&page);
    assert!(text.contains("修改了 天数: 4</span>"), "{text}");
    assert!(!text.contains("带薪") && !text.contains("病假"), "{text}");
    let task = page.hidden("task");
    let big = vec![0u8; crm::MAX_ATTACHMENT_BYTES + 1];
    let returned = [
        Part::Text("csrf", &checker_csrf),
        Part::Text("task", &task),
        Part::Text("comment", "请补充证明"),
        Part::File {
            name: "file",
            file_name: "证明.pdf",
            content_type: "application/pdf",
            bytes: &big,
        },
        Part::Text("decision", "return"),
        Part::Text("node", "manager"),
    ];
    let refused = checker.post_multipart(&decide, &returned).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    let text = escaped(&refused);
    assert!(
        text.contains(
            "id=\"decision-file\" aria-invalid=\"true\">\
             <span class=\"notice error field-error\">字段填写有误： 文件"
        ),
        "{text}"
    );
    assert!(text.contains(">请补充证明</textarea>"), "{text}");
    assert!(text.contains("<option value=\"manager\" selected>部门经理</option>"), "{text}");
    assert!(text.contains("id=\"return\" autofocus"), "the decision chosen: {text}");
    assert!(!text.contains("证明.pdf"), "no file is stored: {text}");

    // The owner and the administrator are led to the entry; booleans read Yes or No in
    // English too.
    let (mut owner, owner_csrf) = signed_in(&shell, "seller").await;
    let text = escaped(&owner.get(&path).await);
    let link = format!("href=\"/form-entries/{entry}\" id=\"entry-link\"");
    assert!(text.contains(&link), "{text}");
    assert_eq!(owner.get(&format!("/form-entries/{entry}")).await.status, StatusCode::OK);
    let mut admin = shell.client();
    admin.admin().await;
    assert!(admin.get(&path).await.text().contains(&link));
    let switched =
        owner.post("/lang", &[("csrf", &owner_csrf), ("lang", "en"), ("back", &path)]).await;
    let text = escaped(&owner.follow(switched).await);
    assert!(text.contains("<dt>Paid</dt><dd>No</dd>"), "{text}");
    assert!(text.contains("<dt>Form</dt><dd>Leave request</dd>"), "{text}");
    assert!(text.contains("changed Days: 4; Kind: 病假"), "{text}");
}
