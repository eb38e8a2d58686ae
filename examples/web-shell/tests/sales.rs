//! In-process HTTP tests of the quote and contract pages (报价单 / 合同): a salesperson opens
//! a quote from their customer's page, writes its lines, is told which line and field is
//! wrong, submits it; the manager approves on the task page; a contract follows the quote.
//! Posts need the session's token and other people do not see the documents.

mod support;

use axum::http::StatusCode;
use support::{set_up_approvals, Client, Part, Shell, USER_PASSWORD};

/// The unit manager approves quotes and contracts.
fn flow(form: &str) -> String {
    format!(
        r#"
name = "{form}_approval"
form = "{form}"

[[nodes]]
id = "start"
type = "start"

[[nodes]]
id = "manager"
type = "approval"
approvers = [{{ unit_manager = 0 }}]

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
    let csrf = client.get("/quotes").await.hidden("csrf");
    (client, csrf)
}

/// A form's fields as the client posts them.
fn as_pairs<'f>(fields: &'f [(&'static str, String)]) -> Vec<(&'static str, &'f str)> {
    fields.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

/// The number after `prefix` in a location such as `/quotes/7?ok=created`.
fn id_in(location: &str, prefix: &str) -> String {
    let rest = location.strip_prefix(prefix).unwrap_or_else(|| panic!("{location}"));
    rest.split(['?', '/']).next().expect("an id").to_owned()
}

#[tokio::test]
async fn a_quote_and_its_contract_are_written_submitted_and_approved() {
    let shell = Shell::start().await;
    let org = set_up_approvals(&shell).await;
    let mut admin = shell.client();
    let admin_csrf = admin.admin().await;
    for form in ["quote", "contract"] {
        let text = flow(form);
        let parts = [Part::Text("csrf", &admin_csrf), Part::Text("text", &text)];
        let defined = admin.post_multipart("/workflow/definitions", &parts).await;
        assert_eq!(defined.status, StatusCode::SEE_OTHER, "{}", defined.text());
    }

    // The seller owns a customer (the pool customer, given to them) and opens a quote from it.
    let state = shell.state.clone();
    let (customer, seller) = (org.customer, org.seller);
    tokio::task::spawn_blocking(move || {
        let crm = state.crm();
        let admin = state.tenant_admin();
        let mut owned = crm.customers(admin).get(customer).unwrap();
        owned.owner = Some(seller);
        owned.status = crm::CustomerStatus::Private;
        crm.customers(admin).update(owned).unwrap();
    })
    .await
    .unwrap();
    let (mut seller, csrf) = signed_in(&shell, "seller").await;
    let page = seller.get(&format!("/customers/{customer}")).await.text();
    assert!(page.contains(&format!("href=\"/quotes/new?customer={customer}\"")), "{page}");
    let form = seller.get(&format!("/quotes/new?customer={customer}")).await.text();
    assert!(form.contains(&format!("name=\"customer\" id=\"customer\" value=\"{customer}\"")));
    assert_eq!(form.matches("name=\"product\"").count(), 3, "three empty rows");

    // A line with a price that is not a number is refused naming its row; nothing is stored.
    let customer = customer.to_string();
    let quote = |price: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("customer", customer.clone()),
            ("title", "年度维保 <i>".to_owned()),
            ("currency", String::new()),
            ("valid_until", "2027-01-31".to_owned()),
            ("remarks", String::new()),
            ("product", "数控机床保养".to_owned()),
            ("quantity", "10".to_owned()),
            ("unit_price", price.to_owned()),
            ("discount", "5".to_owned()),
            ("product", "滤芯".to_owned()),
            ("quantity", "2".to_owned()),
            ("unit_price", "99.50".to_owned()),
            ("discount", String::new()),
            ("product", String::new()),
            ("quantity", String::new()),
            ("unit_price", String::new()),
            ("discount", String::new()),
        ]
    };
    let bad = quote("一千");
    let refused = seller.post("/quotes", &as_pairs(&bad)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    assert!(refused.text().contains("第 1 行 · 单价"), "{}", refused.text());
    assert!(refused.text().contains("value=\"一千\""), "the form keeps what was typed");
    assert!(!seller.get("/quotes").await.text().contains("id=\"document-list\""));

    // Line columns that do not match up (a hand-made post) are refused rather than guessed.
    let mut uneven = quote("1,200");
    uneven.push(("discount", "10".to_owned()));
    let refused = seller.post("/quotes", &as_pairs(&uneven)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    assert!(refused.text().contains("报价明细"), "{}", refused.text());

    let good = quote("1,200");
    let created = seller.post("/quotes", &as_pairs(&good)).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let quote_id = id_in(&created.location(), "/quotes/");
    let page = seller.follow(created).await.text();
    assert!(page.contains("11599.00 CNY") && page.contains("年度维保 &lt;i&gt;"), "{page}");
    assert!(page.contains("QT000001") && page.contains("id=\"quote-lines\""), "{page}");

    // Without the token nothing is posted; other people do not see the quote.
    let forged = seller.post(&format!("/quotes/{quote_id}/submit"), &[("version", "1")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let (mut outsider, _) = signed_in(&shell, "outsider").await;
    let hidden = outsider.get(&format!("/quotes/{quote_id}")).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    let submitted = seller
        .post(&format!("/quotes/{quote_id}/submit"), &[("csrf", &csrf), ("version", "1")])
        .await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER, "{}", submitted.text());
    let page = seller.follow(submitted).await.text();
    assert!(page.contains("审批中") && !page.contains("id=\"edit-document\""), "{page}");

    // The manager approves on the task page.
    let (mut manager, manager_csrf) = signed_in(&shell, "manager").await;
    let todo = manager.get("/todo").await;
    let instance = todo.ids("workflow/instances")[0];
    // The line names the quote by number and title and leads to the task page, not to the
    // quote's own page (which opens for its owner only).
    let text = todo.text();
    assert!(text.contains("报价单: <a href=\"/workflow/instances/"), "{text}");
    assert!(text.contains("QT000001 年度维保 &lt;i&gt;"), "{text}");
    assert!(!text.contains("href=\"/quotes/"), "{text}");
    let task = manager.get(&format!("/workflow/instances/{instance}")).await.hidden("task");
    let parts = [
        Part::Text("csrf", &manager_csrf),
        Part::Text("task", &task),
        Part::Text("decision", "approve"),
    ];
    let decide = format!("/workflow/instances/{instance}/decide");
    let approved = manager.post_multipart(&decide, &parts).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.text());
    let page = seller.get(&format!("/quotes/{quote_id}")).await.text();
    assert!(page.contains("已通过"), "{page}");

    // A contract following the quote: a bad date is named, then it is written and listed.
    let contract = |ends: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("customer", customer.clone()),
            ("title", "维保合同".to_owned()),
            ("amount", "11,599".to_owned()),
            ("quote", quote_id.clone()),
            ("starts_on", "2027-01-01".to_owned()),
            ("ends_on", ends.to_owned()),
        ]
    };
    let refused = seller.post("/contracts", &as_pairs(&contract("2026-01-01"))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    assert!(refused.text().contains("结束日期"), "{}", refused.text());
    let created = seller.post("/contracts", &as_pairs(&contract("2027-12-31"))).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    assert!(seller.get("/quotes").await.text().contains("href=\"/contracts\""), "a tab leads on");
    let list = seller.get("/contracts").await.text();
    assert!(list.contains("CT000001") && list.contains("11599.00 CNY"), "{list}");
    assert!(list.contains("公海客户 Pool Ltd"), "the customer is named: {list}");
}
