//! A whole customer assignment approval from the terminal on a sled store: the administrator
//! sets up the organisation and the flow, a salesperson requests a pool customer, the unit
//! manager and a reviewer approve, and the customer becomes the salesperson's. Files are
//! attached and saved back, and tasks handed to other people.

use std::process::{Command, Output};

fn crm(store: &str, user: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crm"))
        .arg("--store")
        .arg(store)
        .arg("--user")
        .arg(user)
        .args(args)
        .env_remove("CRM_STORE")
        .env_remove("CRM_TENANT")
        .env_remove("CRM_USER")
        .output()
        .expect("run the crm binary")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "crm failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

/// The word after `marker` in `text`.
fn after(text: &str, marker: &str) -> String {
    let rest =
        &text[text.find(marker).unwrap_or_else(|| panic!("{marker:?} in {text}")) + marker.len()..];
    rest.split_whitespace().next().expect("a word follows").to_owned()
}

/// The first column of the line that mentions `name`.
fn id_of(listing: &str, name: &str) -> String {
    let line = listing.lines().find(|l| l.contains(name)).expect("name listed");
    line.split_whitespace().next().expect("id column").to_owned()
}

#[test]
fn assignment_approved_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sled:{}", dir.path().join("data").display());
    let admin = |args: &[&str]| stdout(&crm(&store, "admin", args));

    let root = id_of(&admin(&["units", "list"]), "Head office");
    let sales = after(&admin(&["units", "add", "Sales", "--parent", &root]), "added unit ");
    admin(&["users", "add", "mgr", "Manager", "--unit", &sales]);
    admin(&["users", "add", "seller", "Seller", "--unit", &sales]);
    admin(&["users", "add", "rev", "Reviewer", "--role", "user"]);
    admin(&["units", "set-manager", &sales, "mgr"]);
    admin(&["positions", "add", "reviewer", "Reviewer"]);
    admin(&["users", "place", "rev", &root, "--position", "reviewer"]);
    let users = admin(&["users", "list"]);
    let admin_id = id_of(&users, " admin ");

    // The JSON form of a definition: the same structure as the TOML one.
    let flow = dir.path().join("flow.json");
    std::fs::write(
        &flow,
        format!(
            r#"{{
  "name": "customer_request",
  "form": "customer_assignment",
  "fallback_approver": {admin_id},
  "nodes": [
    {{ "id": "start", "type": "start" }},
    {{ "id": "manager", "type": "approval", "approvers": [{{ "unit_manager": 0 }}] }},
    {{ "id": "review", "type": "approval", "mode": "all",
       "approvers": [{{ "position": {{ "name": "reviewer" }} }}] }},
    {{ "id": "end", "type": "end" }}
  ],
  "edges": [
    {{ "from": "start", "to": "manager" }},
    {{ "from": "manager", "to": "review" }},
    {{ "from": "review", "to": "end" }}
  ]
}}
"#
        ),
    )
    .unwrap();
    let defined = admin(&["workflow", "define", flow.to_str().unwrap()]);
    assert!(defined.contains("defined customer_request version 1"), "{defined}");
    let refused = crm(&store, "seller", &["workflow", "define", flow.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(admin(&["workflow", "list"]).contains("customer_assignment"));
    let svg = dir.path().join("flow.svg");
    let shown = admin(&["workflow", "show", "customer_request", "--out", svg.to_str().unwrap()]);
    assert_eq!(shown.trim(), format!("wrote {}", svg.display()));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));

    let csv = dir.path().join("pool.csv");
    std::fs::write(&csv, "Name,Status\nPool Trading Ltd,pool\n").unwrap();
    admin(&["import", "customers", csv.to_str().unwrap()]);
    let customer = id_of(&admin(&["customers", "search", "Pool Trading"]), "Pool Trading");

    let requested = stdout(&crm(
        &store,
        "seller",
        &["assign", "request", &customer, "--reason", "I know them"],
    ));
    assert!(requested.contains("is pending"), "{requested}");
    let instance = after(&requested, "as instance ");

    let todo = stdout(&crm(&store, "mgr", &["todo"]));
    assert!(todo.contains("manager"), "{todo}");
    assert!(todo.contains("1 of 1 open tasks"), "{todo}");
    assert!(stdout(&crm(&store, "rev", &["todo"])).contains("0 of 0 open tasks"));
    let outsider = crm(&store, "rev", &["approve", &instance]);
    assert!(!outsider.status.success());

    let approved = stdout(&crm(&store, "mgr", &["approve", &instance, "--comment", "ok"]));
    assert!(approved.contains("is pending"), "{approved}");
    assert!(approved.contains("at review"), "{approved}");
    let again = crm(&store, "mgr", &["approve", &instance, "--task", "1"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already decided"));

    let returned = stdout(&crm(
        &store,
        "rev",
        &["return", &instance, "--to", "manager", "--comment", "again"],
    ));
    assert!(returned.contains("is pending"), "{returned}");
    stdout(&crm(&store, "mgr", &["approve", &instance]));
    let done = stdout(&crm(&store, "rev", &["approve", &instance]));
    assert!(done.contains("is approved"), "{done}");

    let mine = stdout(&crm(&store, "seller", &["customers", "list"]));
    assert!(mine.contains("Pool Trading Ltd"), "{mine}");
    assert!(mine.contains("1 of 1 customers"), "{mine}");
    let shown = stdout(&crm(&store, "seller", &["instance", &instance]));
    assert!(shown.contains("approved"), "{shown}");
}

#[test]
fn files_and_reassignment_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sled:{}", dir.path().join("data").display());
    let admin = |args: &[&str]| stdout(&crm(&store, "admin", args));

    let root = id_of(&admin(&["units", "list"]), "Head office");
    let sales = after(&admin(&["units", "add", "Sales", "--parent", &root]), "added unit ");
    admin(&["users", "add", "mgr", "Manager", "--unit", &sales]);
    admin(&["users", "add", "seller", "Seller", "--unit", &sales]);
    admin(&["users", "add", "deputy", "Deputy", "--unit", &sales]);
    admin(&["users", "add", "outsider", "Outsider"]);
    admin(&["units", "set-manager", &sales, "mgr"]);
    let users = admin(&["users", "list"]);
    let deputy = id_of(&users, " deputy ");
    let seller = id_of(&users, " seller ");
    let flow = dir.path().join("flow.toml");
    std::fs::write(
        &flow,
        r#"
name = "customer_request"
form = "customer_assignment"
nodes = [
  { id = "start", type = "start" },
  { id = "manager", type = "approval", approvers = [{ unit_manager = 0 }] },
  { id = "end", type = "end" },
]
edges = [{ from = "start", to = "manager" }, { from = "manager", to = "end" }]
"#,
    )
    .unwrap();
    admin(&["workflow", "define", flow.to_str().unwrap()]);
    let csv = dir.path().join("pool.csv");
    std::fs::write(&csv, "Name,Status\nPool Trading Ltd,pool\n").unwrap();
    admin(&["import", "customers", csv.to_str().unwrap()]);
    let customer = id_of(&admin(&["customers", "search", "Pool Trading"]), "Pool Trading");
    let requested = stdout(&crm(&store, "seller", &["assign", "request", &customer]));
    let instance = after(&requested, "as instance ");

    // The salesperson attaches a file; the manager lists it and saves the same bytes.
    let quote = dir.path().join("报价单.pdf");
    std::fs::write(&quote, b"%PDF-1.4 quote").unwrap();
    let attached = stdout(&crm(&store, "seller", &["attach", &instance, quote.to_str().unwrap()]));
    assert!(attached.starts_with(&format!("attached 报价单.pdf to instance {instance}")));
    let attachment = after(&attached, "as attachment ");
    let shown = stdout(&crm(&store, "mgr", &["instance", &instance]));
    assert!(
        shown.contains(&format!("attachment {attachment} 报价单.pdf by user {seller}")),
        "{shown}"
    );
    let copy = dir.path().join("copy.pdf");
    let saved = stdout(&crm(
        &store,
        "mgr",
        &["attachment", &instance, &attachment, "--out", copy.to_str().unwrap()],
    ));
    assert!(saved.contains("saved 报价单.pdf (application/pdf, 14 bytes)"), "{saved}");
    assert_eq!(std::fs::read(&copy).unwrap(), b"%PDF-1.4 quote");
    let hidden = crm(
        &store,
        "outsider",
        &["attachment", &instance, &attachment, "--out", copy.to_str().unwrap()],
    );
    assert!(!hidden.status.success());
    assert!(String::from_utf8_lossy(&hidden.stderr).contains("not found"));
    let missing = crm(&store, "seller", &["attach", &instance, "no-such-file.txt"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read no-such-file.txt"));

    // The salesperson may not hand the manager's task on; the administrator may.
    let refused = crm(&store, "seller", &["reassign", &instance, "deputy", "--task", "1"]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(why.contains("assigned to someone else"), "{why}");
    let handed = admin(&["reassign", &instance, "deputy", "--task", "1", "--comment", "away"]);
    assert!(handed.contains("is pending"), "{handed}");
    assert!(handed.contains(&format!("task 2 at manager for user {deputy}")), "{handed}");
    assert!(stdout(&crm(&store, "mgr", &["todo"])).contains("0 of 0 open tasks"));

    // The deputy approves with a file: both go in together.
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "checked").unwrap();
    let approved =
        stdout(&crm(&store, "deputy", &["approve", &instance, "--file", notes.to_str().unwrap()]));
    assert!(approved.contains("is approved"), "{approved}");
    let shown = stdout(&crm(&store, "seller", &["instance", &instance]));
    assert!(shown.contains("notes.txt by user"), "{shown}");
    assert!(shown.contains("task 1 at manager for user"), "{shown}");
    assert!(shown.contains("reassigned away"), "{shown}");
}

#[test]
fn expense_request_approved_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sled:{}", dir.path().join("data").display());
    let admin = |args: &[&str]| stdout(&crm(&store, "admin", args));
    let seller = |args: &[&str]| crm(&store, "seller", args);

    let root = id_of(&admin(&["units", "list"]), "Head office");
    let sales = after(&admin(&["units", "add", "Sales", "--parent", &root]), "added unit ");
    admin(&["users", "add", "mgr", "Manager", "--unit", &sales]);
    admin(&["users", "add", "seller", "Seller", "--unit", &sales]);
    admin(&["units", "set-manager", &sales, "mgr"]);
    let admin_id = id_of(&admin(&["users", "list"]), " admin ");
    let flow = dir.path().join("expense.toml");
    std::fs::write(
        &flow,
        format!(
            "name = \"expense_approval\"\nform = \"expense\"\nfallback_approver = {admin_id}\n\
             nodes = [{{ id = \"start\", type = \"start\" }},\n\
             {{ id = \"manager\", type = \"approval\", approvers = [{{ unit_manager = 0 }}] }},\n\
             {{ id = \"end\", type = \"end\" }}]\n\
             edges = [{{ from = \"start\", to = \"manager\" }}, {{ from = \"manager\", to = \"end\" }}]\n"
        ),
    )
    .unwrap();
    admin(&["workflow", "define", flow.to_str().unwrap()]);

    // A bad amount is refused with the field named, and nothing is written.
    let bad =
        seller(&["requests", "new", "--form", "expense", "--title", "招待", "--amount", "12,5x"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("amount"), "{bad:?}");
    let loan = seller(&["requests", "new", "--form", "loan", "--title", "借款", "--amount", "10"]);
    assert!(String::from_utf8_lossy(&loan.stderr).contains("repay_by"), "{loan:?}");
    assert!(stdout(&seller(&["requests", "list"])).contains("0 request(s)"));

    let written = stdout(&seller(&[
        "requests",
        "new",
        "--form",
        "expense",
        "--title",
        "客户招待",
        "--amount",
        "1280.50",
        "--category",
        "招待",
        "--date",
        "2026-11-30",
    ]));
    assert!(written.starts_with("request EX000001 (id "), "{written}");
    let id = after(&written, "(id ").trim_end_matches(')').to_owned();
    let submitted = stdout(&seller(&["requests", "submit", &id]));
    assert!(submitted.contains("EX000001 is pending as instance "), "{submitted}");
    let instance = after(&submitted, "as instance ");

    assert!(stdout(&crm(&store, "mgr", &["todo"])).contains(&instance));
    stdout(&crm(&store, "mgr", &["approve", &instance, "--comment", "同意"]));
    let shown = stdout(&seller(&["requests", "show", &id]));
    assert!(shown.contains("1280.50 CNY"), "{shown}");
    assert!(shown.contains("status:    approved"), "{shown}");
    // Approved requests are kept.
    let delete = seller(&["requests", "delete", &id]);
    assert!(!delete.status.success());
    assert!(String::from_utf8_lossy(&delete.stderr).contains("approved"), "{delete:?}");
    // Another user does not see it; the administrator does.
    assert!(!crm(&store, "mgr", &["requests", "show", "999"]).status.success());
    assert!(admin(&["requests", "list", "--form", "expense"]).contains("客户招待"));
}

#[test]
fn quote_and_contract_approved_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sled:{}", dir.path().join("data").display());
    let admin = |args: &[&str]| stdout(&crm(&store, "admin", args));
    let seller = |args: &[&str]| stdout(&crm(&store, "seller", args));

    let root = id_of(&admin(&["units", "list"]), "Head office");
    let sales = after(&admin(&["units", "add", "Sales", "--parent", &root]), "added unit ");
    admin(&["users", "add", "mgr", "Manager", "--unit", &sales]);
    admin(&["users", "add", "seller", "Seller", "--unit", &sales]);
    admin(&["units", "set-manager", &sales, "mgr"]);
    let flow = |form: &str, editable: &str| {
        let path = dir.path().join(format!("{form}.toml"));
        let text = format!(
            "name = \"{form}_flow\"\nform = \"{form}\"\n\n\
             [[nodes]]\nid = \"start\"\ntype = \"start\"\n\n\
             [[nodes]]\nid = \"manager\"\ntype = \"approval\"\n\
             approvers = [{{ unit_manager = 0 }}]\neditable_fields = [\"{editable}\"]\n\n\
             [[nodes]]\nid = \"end\"\ntype = \"end\"\n\n\
             [[edges]]\nfrom = \"start\"\nto = \"manager\"\n\n\
             [[edges]]\nfrom = \"manager\"\nto = \"end\"\n"
        );
        std::fs::write(&path, text).unwrap();
        admin(&["workflow", "define", path.to_str().unwrap()]);
    };
    flow("quote", "valid_until");
    flow("contract", "amount");

    // The seller imports their customer and quotes it two lines, one discounted.
    let sheet = dir.path().join("customers.csv");
    std::fs::write(&sheet, "客户名称,电话\n华东机电,021-5555\n").unwrap();
    seller(&["import", "customers", sheet.to_str().unwrap()]);
    let customer = id_of(&seller(&["customers", "search", "华东机电"]), "华东机电");
    let written = seller(&[
        "quotes",
        "new",
        "--customer",
        &customer,
        "--title",
        "年度维保",
        "--line",
        "数控机床保养;10;1,200;5",
        "--line",
        "滤芯 ； 2 ; 99.50",
    ]);
    assert!(written.contains("quote QT000001") && written.contains("11599.00 CNY"), "{written}");
    let quote = after(&written, "(id ");
    let quote = quote.trim_end_matches(')');

    // A line that is not three or four values is refused naming the line; nothing stored.
    let refused = crm(
        &store,
        "seller",
        &["quotes", "new", "--customer", &customer, "--title", "x", "--line", "滤芯;2"],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--line 1"), "{refused:?}");
    assert!(seller(&["quotes", "list"]).contains("1 quote(s)"));

    let sent = seller(&["quotes", "submit", quote]);
    assert!(sent.contains("is pending as instance"), "{sent}");
    let instance = after(&sent, "as instance ");
    let approved =
        stdout(&crm(&store, "mgr", &["approve", &instance, "--set", "valid_until=2027-03-31"]));
    assert!(approved.contains("approved"), "{approved}");
    let shown = seller(&["quotes", "show", quote]);
    assert!(shown.contains("status:      approved") && shown.contains("2027-03-31"), "{shown}");
    assert!(shown.contains("数控机床保养 × 10 @ 1200.00 less 5% = 11400.00"), "{shown}");

    // A contract following the quote; the manager lowers the amount on approving.
    let written = seller(&[
        "contracts",
        "new",
        "--customer",
        &customer,
        "--title",
        "维保合同",
        "--amount",
        "11,599",
        "--quote",
        quote,
        "--starts-on",
        "2027-01-01",
        "--ends-on",
        "2027-12-31",
    ]);
    assert!(written.contains("contract CT000001"), "{written}");
    let contract = after(&written, "(id ").trim_end_matches(')').to_owned();
    let instance = after(&seller(&["contracts", "submit", &contract]), "as instance ");
    stdout(&crm(&store, "mgr", &["approve", &instance, "--set", "amount=11000"]));
    let shown = seller(&["contracts", "show", &contract]);
    assert!(shown.contains("11000.00 CNY") && shown.contains("status:    approved"), "{shown}");
    assert!(admin(&["contracts", "list", "--status", "approved"]).contains("维保合同"));
    // Others do not see it.
    let hidden = crm(&store, "mgr", &["contracts", "show", &contract]);
    assert!(!hidden.status.success());
}
