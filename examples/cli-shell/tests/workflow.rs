//! A whole customer assignment approval from the terminal on a sled store: the administrator
//! sets up the organisation and the flow, a salesperson requests a pool customer, the unit
//! manager and a reviewer approve, and the customer becomes the salesperson's.

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
    assert_eq!(shown.trim(), svg.to_str().unwrap());
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
