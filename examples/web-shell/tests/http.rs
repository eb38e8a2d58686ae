//! In-process HTTP tests of the web shell: the router runs on a temporary sled store with the
//! Northwind demo data and is driven request by request, with cookies kept like a browser.

mod support;

use axum::http::{header, StatusCode};
use support::{encode, Part, Shell, PASSWORD};

#[tokio::test]
async fn every_page_needs_a_session() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    for path in [
        "/customers",
        "/customers/1",
        "/leads",
        "/import",
        "/settings",
        "/attachments/1",
        "/export/customers.xlsx",
    ] {
        let page = client.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.location().starts_with("/login"), "{path} -> {}", page.location());
    }
    let page = client.get("/customers?q=x").await;
    assert_eq!(page.location(), "/login?next=%2Fcustomers%3Fq%3Dx");
    let page = client.post("/customers", &[("name", "Sneaky")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login");

    let login = client.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.text().contains("登录名"));
}

#[tokio::test]
async fn wrong_passwords_are_refused_without_telling_whether_the_login_exists() {
    let shell = Shell::start().await;
    let mut client = shell.client();

    let wrong = client.sign_in("admin", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text().contains("登录名或密码不正确"));
    let unknown = client.sign_in("nobody", "not the password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.text().contains("登录名或密码不正确"));
    assert!(!client.cookies.contains_key("crm_session"));
    assert_eq!(client.get("/customers").await.status, StatusCode::SEE_OTHER);

    // The login form's double-submit token must match the pre-session cookie.
    client.get("/login").await;
    let forged =
        client.post("/login", &[("pre", "00"), ("login", "admin"), ("password", PASSWORD)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!client.cookies.contains_key("crm_session"));

    let right = client.sign_in("admin", PASSWORD).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(right.location(), "/customers");
    let cookie = right.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("crm_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    let list = client.get("/customers").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text().contains("Administrator"));
}

#[tokio::test]
async fn posts_without_the_session_token_are_forbidden() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;
    let customer = client.create_customer(&csrf, "Token Test", "TOK1").await;
    let lead = client.get("/leads").await.ids("leads")[0];

    let form_posts = [
        "/customers".to_owned(),
        format!("/customers/{customer}"),
        format!("/customers/{customer}/delete"),
        format!("/customers/{customer}/parent"),
        format!("/customers/{customer}/contacts"),
        "/contacts/1".to_owned(),
        "/contacts/1/delete".to_owned(),
        "/contacts/1/relatives".to_owned(),
        "/contacts/1/relatives/1/delete".to_owned(),
        "/leads".to_owned(),
        format!("/leads/{lead}"),
        format!("/leads/{lead}/delete"),
        format!("/leads/{lead}/convert"),
        "/settings".to_owned(),
        "/settings/1".to_owned(),
        "/settings/1/delete".to_owned(),
        "/lang".to_owned(),
        "/logout".to_owned(),
    ];
    for path in &form_posts {
        let missing = client.post(path, &[("name", "Forged"), ("lang", "en")]).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{path} without a token");
        let wrong = client.post(path, &[("csrf", "deadbeef"), ("name", "Forged")]).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{path} with a wrong token");
    }
    for path in [format!("/leads/{lead}/interactions"), "/import".to_owned()] {
        let parts = [Part::Text("subject", "Forged"), Part::Text("csrf", "deadbeef")];
        let wrong = client.post_multipart(&path, &parts).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{path}");
    }

    // Nothing was changed: the customer is still there, nothing called Forged exists, and the
    // session still works.
    let page = client.get(&format!("/customers/{customer}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Token Test"));
    let search = client.get("/customers?q=forged").await;
    assert!(search.text().contains("没有找到匹配的记录"));
}

#[tokio::test]
async fn search_ignores_case_and_width() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    client.admin().await;

    let lower = client.get("/customers?q=alfreds").await;
    assert_eq!(lower.status, StatusCode::OK);
    assert!(lower.text().contains("Alfreds Futterkiste"), "{}", lower.text());
    assert!(!lower.text().contains("Ana Trujillo"));

    let wide = client.get(&format!("/customers?q={}", encode("ＡＬＦＲＥＤＳ"))).await;
    assert_eq!(wide.status, StatusCode::OK);
    assert!(wide.text().contains("Alfreds Futterkiste"));

    let all = client.get("/customers").await.text();
    assert!(all.contains("<strong id=\"total\">"), "{all}");
    let by_code = client.get("/customers?sort=code").await.text();
    let alfreds = by_code.find("ALFKI").expect("ALFKI on the first page sorted by code");
    let ana = by_code.find("ANATR").expect("ANATR on the first page sorted by code");
    assert!(alfreds < ana);
    let second = client.get("/customers?sort=code&page=2").await.text();
    assert!(!second.contains("ALFKI"));
    assert!(second.contains("aria-current=\"page\">2<"), "{second}");
}

#[tokio::test]
async fn script_in_a_name_is_shown_escaped() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;
    let id = client.create_customer(&csrf, "<script>alert(1)</script>", "").await;

    for page in
        [client.get(&format!("/customers/{id}")).await, client.get("/customers?q=alert").await]
    {
        let text = page.text();
        assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{text}");
        assert!(!text.contains("<script>alert(1)"), "{text}");
    }
}

#[tokio::test]
async fn a_parent_that_makes_a_cycle_is_refused_with_a_message() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;
    let group = client.create_customer(&csrf, "Group Holding", "GRP1").await;
    let branch = client.create_customer(&csrf, "Branch Office", "BR1").await;

    let moved = client
        .post(&format!("/customers/{branch}/parent"), &[("csrf", &csrf), ("parent", "grp1")])
        .await;
    let page = client.follow(moved).await;
    assert!(page.text().contains("Group Holding"));
    let group_page = client.get(&format!("/customers/{group}")).await.text();
    assert!(group_page.contains(&format!("href=\"/customers/{branch}\"")), "child link");

    let cycle = client
        .post(
            &format!("/customers/{group}/parent"),
            &[("csrf", &csrf), ("parent", &branch.to_string())],
        )
        .await;
    assert_eq!(cycle.status, StatusCode::CONFLICT);
    assert!(cycle.text().contains("会形成循环"), "{}", cycle.text());

    let unknown = client
        .post(&format!("/customers/{group}/parent"), &[("csrf", &csrf), ("parent", "NO-SUCH-CODE")])
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.text().contains("NO-SUCH-CODE"));

    let cleared = client
        .post(&format!("/customers/{branch}/parent"), &[("csrf", &csrf), ("clear", "1")])
        .await;
    assert_eq!(cleared.status, StatusCode::SEE_OTHER);
    let group_page = client.get(&format!("/customers/{group}")).await.text();
    assert!(!group_page.contains(&format!("href=\"/customers/{branch}\"")));
}

#[tokio::test]
async fn an_attachment_downloads_with_the_same_bytes() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;
    let lead = client.get("/leads?q=exotic").await.ids("leads")[0];

    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let posted = client
        .post_multipart(
            &format!("/leads/{lead}/interactions"),
            &[
                Part::Text("csrf", &csrf),
                Part::Text("subject", "First call"),
                Part::Text("content", "Asked for a price list"),
                Part::Text("contact_at", "2024-03-01T09:30"),
                Part::Text("effect", "4"),
                Part::File {
                    name: "file",
                    file_name: "通话录音 1.mp3",
                    content_type: "audio/mpeg",
                    bytes: &bytes,
                },
                Part::File {
                    name: "file",
                    file_name: "page.html",
                    content_type: "text/html",
                    bytes: b"<h1>x</h1>",
                },
            ],
        )
        .await;
    let page = client.follow(posted).await;
    let text = page.text();
    assert!(text.contains("First call") && text.contains("2024-03-01 09:30 UTC"), "{text}");
    assert!(text.contains("通话录音 1.mp3") && text.contains("★★★★☆"));
    assert!(text.contains("已联系"), "a new lead becomes contacted");
    let files = page.ids("attachments");
    assert_eq!(files.len(), 2);

    let mut seen = Vec::new();
    for file in files {
        let download = client.get(&format!("/attachments/{file}")).await;
        assert_eq!(download.status, StatusCode::OK);
        let disposition =
            download.headers[header::CONTENT_DISPOSITION].to_str().unwrap().to_owned();
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        let content_type = download.headers[header::CONTENT_TYPE].to_str().unwrap().to_owned();
        seen.push((disposition, content_type, download.body));
    }
    let html = seen.iter().position(|(d, _, _)| d.contains("page.html")).expect("html file");
    let (html_disposition, html_type, html_bytes) = &seen[html];
    assert_eq!(html_disposition, "attachment; filename=\"page.html\"; filename*=UTF-8''page.html");
    assert_eq!(html_type, "application/octet-stream");
    assert_eq!(html_bytes, b"<h1>x</h1>");
    let (mp3_disposition, mp3_type, mp3_bytes) = &seen[1 - html];
    assert!(
        mp3_disposition.contains("filename*=UTF-8''%E9%80%9A%E8%AF%9D%E5%BD%95%E9%9F%B3%201.mp3")
    );
    assert_eq!(mp3_type, "audio/mpeg");
    assert_eq!(mp3_bytes, &bytes);
}

#[tokio::test]
async fn the_language_switch_shows_english_labels() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;

    let chinese = client.get("/customers").await.text();
    assert!(chinese.contains("lang=\"zh-CN\"") && chinese.contains("客户名称"));

    let switched = client
        .post("/lang", &[("csrf", &csrf), ("lang", "en"), ("back", "/customers?q=alfreds")])
        .await;
    assert_eq!(switched.location(), "/customers?q=alfreds");
    let english = client.follow(switched).await.text();
    assert!(english.contains("lang=\"en\""));
    for label in
        ["Customers", "Leads", "Search", "Name", "Category", "Sign out", "Alfreds Futterkiste"]
    {
        assert!(english.contains(label), "{label} missing");
    }
    assert!(!english.contains("客户名称"));

    let lead = client.get("/leads").await.text();
    assert!(lead.contains("New lead") && lead.contains("Company"));

    let outside = client
        .post("/lang", &[("csrf", &csrf), ("lang", "en"), ("back", "https://example.org/")])
        .await;
    assert_eq!(outside.location(), "/customers");
}

#[tokio::test]
async fn unknown_ids_get_a_404_page() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    client.admin().await;
    for path in [
        "/customers/999999",
        "/customers/abc",
        "/customers/999999/edit",
        "/leads/999999",
        "/attachments/999999",
        "/contacts/999999/edit",
        "/no/such/page",
    ] {
        let page = client.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.text().contains("找不到"), "{path}");
    }
}

#[tokio::test]
async fn bad_input_and_stale_edits_are_explained() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;

    let invalid = client
        .post("/customers", &[("csrf", &csrf), ("name", "Mail Co"), ("email", "not-an-email")])
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let text = invalid.text();
    assert!(text.contains("邮箱") && text.contains("not-an-email"), "{text}");
    let empty = client.post("/customers", &[("csrf", &csrf), ("name", " ")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.text().contains("必填字段为空"));

    let id = client.create_customer(&csrf, "Versioned Ltd", "VER1").await;
    let form = client.get(&format!("/customers/{id}/edit")).await;
    let version = form.hidden("version");
    let first = client
        .post(
            &format!("/customers/{id}"),
            &[("csrf", &csrf), ("version", &version), ("name", "Versioned One")],
        )
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.text());
    let second = client
        .post(
            &format!("/customers/{id}"),
            &[("csrf", &csrf), ("version", &version), ("name", "Versioned Two")],
        )
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert!(second.text().contains("请重新加载"), "{}", second.text());
    let page = client.get(&format!("/customers/{id}")).await.text();
    assert!(page.contains("Versioned One") && !page.contains("Versioned Two"));
    assert!(page.contains("Versioned Ltd") && page.contains("→"), "history shows old → new");

    let duplicate =
        client.post("/customers", &[("csrf", &csrf), ("name", "Copy"), ("code", "VER1")]).await;
    assert_eq!(duplicate.status, StatusCode::BAD_REQUEST);
    assert!(duplicate.text().contains("客户编号"));
}

#[tokio::test]
async fn contacts_and_relatives_are_kept_on_the_customer_page() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;
    let id = client.create_customer(&csrf, "Family Firm", "FAM1").await;

    let added = client
        .post(
            &format!("/customers/{id}/contacts"),
            &[
                ("csrf", &csrf),
                ("name", "Li Lei"),
                ("mobile", "13800000000"),
                ("birthday", "1980-02-29"),
            ],
        )
        .await;
    let page = client.follow(added).await;
    assert!(page.text().contains("Li Lei") && page.text().contains("1980-02-29"));
    let contact = page.ids("contacts")[0];

    let bad_date = client
        .post(
            &format!("/customers/{id}/contacts"),
            &[("csrf", &csrf), ("name", "Han Meimei"), ("birthday", "yesterday")],
        )
        .await;
    assert_eq!(bad_date.status, StatusCode::BAD_REQUEST);
    assert!(bad_date.text().contains("YYYY-MM-DD") && bad_date.text().contains("Han Meimei"));

    let relative = client
        .post(
            &format!("/contacts/{contact}/relatives"),
            &[("csrf", &csrf), ("relation", "spouse"), ("name", "Wang Fang")],
        )
        .await;
    let page = client.follow(relative).await;
    assert!(page.text().contains("spouse: Wang Fang"), "{}", page.text());

    let by_contact = client.get("/customers?q=13800000000").await.text();
    assert!(by_contact.contains("Family Firm"), "search finds customers by a contact's phone");

    let form = client.get(&format!("/contacts/{contact}/edit")).await;
    let version = form.hidden("version");
    let edited = client
        .post(
            &format!("/contacts/{contact}"),
            &[("csrf", &csrf), ("version", &version), ("name", "Li Lei"), ("title", "CEO")],
        )
        .await;
    let page = client.follow(edited).await;
    assert!(page.text().contains("CEO"));

    let deleted = client.post(&format!("/contacts/{contact}/delete"), &[("csrf", &csrf)]).await;
    let page = client.follow(deleted).await;
    assert!(!page.text().contains("Li Lei</strong>"));
    assert!(page.text().contains("还没有联系人"));
}

#[tokio::test]
async fn a_converted_lead_opens_its_customer_with_the_contact_records() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;
    let lead = client.get("/leads?q=exotic").await.ids("leads")[0];
    let posted = client
        .post_multipart(
            &format!("/leads/{lead}/interactions"),
            &[Part::Text("csrf", &csrf), Part::Text("subject", "Visit"), Part::Text("effect", "5")],
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.text());

    let converted = client.post(&format!("/leads/{lead}/convert"), &[("csrf", &csrf)]).await;
    assert!(converted.location().starts_with("/customers/"), "{}", converted.location());
    let customer = client.follow(converted).await.text();
    assert!(customer.contains("Exotic Liquids") && customer.contains("Charlotte Cooper"));
    assert!(customer.contains("Visit") && customer.contains("★★★★★"));

    let lead_page = client.get(&format!("/leads/{lead}")).await.text();
    assert!(
        lead_page.contains("id=\"converted-customer\"") && !lead_page.contains("id=\"convert\"")
    );
    let again = client.post(&format!("/leads/{lead}/convert"), &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn imports_report_row_errors_and_dry_runs_store_nothing() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;

    let bad = "Name,Email\nGood Import Co,info@good.example\nBad Import Co,not-an-email\n";
    let refused = client
        .post_multipart(
            "/import",
            &[
                Part::Text("csrf", &csrf),
                Part::Text("target", "customers"),
                Part::File {
                    name: "file",
                    file_name: "bad.csv",
                    content_type: "text/csv",
                    bytes: bad.as_bytes(),
                },
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let text = refused.text();
    assert!(text.contains("id=\"row-errors\"") && text.contains("<td>3</td>"), "{text}");
    assert!(text.contains("not-an-email"));

    let good = "Name,City\nDry Run Co,Hangzhou\n";
    let dry = client
        .post_multipart(
            "/import",
            &[
                Part::Text("csrf", &csrf),
                Part::Text("target", "customers"),
                Part::Text("dry_run", "1"),
                Part::File {
                    name: "file",
                    file_name: "good.csv",
                    content_type: "text/csv",
                    bytes: good.as_bytes(),
                },
            ],
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.text());
    assert!(dry.text().contains("试运行通过"));
    assert!(client.get("/customers?q=dry%20run").await.text().contains("没有找到匹配的记录"));

    let stored = client
        .post_multipart(
            "/import",
            &[
                Part::Text("csrf", &csrf),
                Part::Text("target", "customers"),
                Part::File {
                    name: "file",
                    file_name: "good.csv",
                    content_type: "text/csv",
                    bytes: good.as_bytes(),
                },
            ],
        )
        .await;
    assert_eq!(stored.status, StatusCode::OK);
    assert!(client.get("/customers?q=dry%20run").await.text().contains("Dry Run Co"));

    let wrong_type = client
        .post_multipart(
            "/import",
            &[
                Part::Text("csrf", &csrf),
                Part::File {
                    name: "file",
                    file_name: "notes.txt",
                    content_type: "text/plain",
                    bytes: b"x",
                },
            ],
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert!(wrong_type.text().contains(".xlsx"));
}

#[tokio::test]
async fn customers_export_as_xlsx() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    client.admin().await;
    let export = client.get("/export/customers.xlsx").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.body.starts_with(b"PK"), "an xlsx file is a zip archive");
    let disposition = export.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert_eq!(disposition, "attachment; filename=\"customers.xlsx\"");
    let csv = client.get("/export/customers.csv").await;
    assert!(csv.text().contains("Alfreds Futterkiste"));
}

#[tokio::test]
async fn responses_carry_the_security_headers() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    for page in [client.get("/login").await, client.get("/nope").await] {
        assert_eq!(
            page.headers[header::CONTENT_SECURITY_POLICY],
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'"
        );
        assert_eq!(page.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;
    let session = client.cookies["crm_session"].clone();
    let out = client.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/login");
    assert!(!client.cookies.contains_key("crm_session"));
    client.cookies.insert("crm_session".into(), session);
    assert_eq!(
        client.get("/customers").await.status,
        StatusCode::SEE_OTHER,
        "the old token is dead"
    );
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused_with_413() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;
    let lead = client.get("/leads").await.ids("leads")[0];
    let big = vec![7u8; 21 * 1024 * 1024];
    let refused = client
        .post_multipart(
            &format!("/leads/{lead}/interactions"),
            &[
                Part::Text("csrf", &csrf),
                Part::Text("subject", "Too big"),
                Part::File {
                    name: "file",
                    file_name: "big.bin",
                    content_type: "audio/mpeg",
                    bytes: &big,
                },
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(refused.text().contains("提交的内容太大"), "{}", refused.text());
    let page = client.get(&format!("/leads/{lead}")).await.text();
    assert!(!page.contains("Too big"));
}

#[tokio::test]
async fn upload_forms_refuse_a_body_that_is_not_multipart_with_the_error_page() {
    let shell = Shell::start().await;
    let mut client = shell.client();
    let csrf = client.admin().await;
    let paths = ["/workflow/instances/1/decide", "/workflow/instances/1/attachments", "/import"];
    for path in paths.into_iter().chain(["/workflow/definitions", "/leads/1/interactions"]) {
        let page = client.post(path, &[("csrf", &csrf), ("decision", "approve")]).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        let text = page.text();
        assert!(text.starts_with("<!DOCTYPE html>"), "{path}: {text}");
        assert!(text.contains("multipart"), "{path}: {text}");
    }
}
