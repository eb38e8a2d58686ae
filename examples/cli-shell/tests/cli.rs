//! Runs the `crm` binary as a user would: against a sled directory and a PostgreSQL URL.

use std::path::Path;
use std::process::{Command, Output};

fn crm(store: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crm"))
        .arg("--store")
        .arg(store)
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

fn sled_store(dir: &Path) -> String {
    format!("sled:{}", dir.join("data").display())
}

/// The first id printed on the line that mentions `name`.
fn id_of(listing: &str, name: &str) -> String {
    let line = listing.lines().find(|l| l.contains(name)).expect("name listed");
    line.split_whitespace().next().expect("id column").to_owned()
}

#[test]
fn demo_search_show_and_parent_on_sled() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    let loaded = stdout(&crm(&store, &["demo"]));
    assert!(loaded.contains("91 customers, 91 contacts, 29 leads"), "{loaded}");

    let found = stdout(&crm(&store, &["customers", "search", "FUTTERKISTE"]));
    assert!(found.contains("Alfreds Futterkiste"), "{found}");
    assert!(found.contains("1 of 1 customers"), "{found}");
    let alfreds = id_of(&found, "Alfreds");

    let shown = stdout(&crm(&store, &["customers", "show", &alfreds]));
    assert!(shown.contains("contact: Maria Anders"), "{shown}");
    assert!(shown.contains("history:"), "{shown}");

    let other = id_of(&stdout(&crm(&store, &["customers", "search", "Around the Horn"])), "Around");
    stdout(&crm(&store, &["customers", "set-parent", &other, &alfreds]));
    let refused = crm(&store, &["customers", "set-parent", &alfreds, &other]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cycle"));

    let listed = stdout(&crm(&store, &["customers", "list", "--sort=-name", "--limit", "3"]));
    assert!(listed.contains("3 of 91 customers"), "{listed}");
    // The descending sort reads as written in the help, as its own word too.
    let spaced = stdout(&crm(&store, &["customers", "list", "--sort", "-name", "--limit", "3"]));
    assert_eq!(spaced, listed);
    let leads = stdout(&crm(&store, &["leads", "list"]));
    assert!(leads.contains("Exotic Liquids"), "{leads}");
}

#[test]
fn bad_import_reports_row_and_column_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, "Name,Birthday,Contact name\nGood,,甲\nBad,2023-02-30,乙\n").unwrap();
    let output = crm(&store, &["import", "customers", file.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("row 3, column \"Birthday\""), "{stderr}");
    let listed = stdout(&crm(&store, &["customers", "list"]));
    assert!(listed.contains("0 of 0 customers"), "{listed}");

    let good = dir.path().join("good.csv");
    std::fs::write(&good, "\u{feff}Name,Phone\n\"100% Pure_Foods\",0755-1234\n").unwrap();
    let dry = stdout(&crm(&store, &["import", "customers", good.to_str().unwrap(), "--dry-run"]));
    assert!(dry.contains("would import 1 customers"), "{dry}");
    assert!(stdout(&crm(&store, &["customers", "list"])).contains("0 of 0"));
    stdout(&crm(&store, &["import", "customers", good.to_str().unwrap()]));
    let found = stdout(&crm(&store, &["customers", "search", "%"]));
    assert!(found.contains("100% Pure_Foods") && found.contains("0755-1234"), "{found}");
}

#[test]
fn the_readme_sample_sheet_imports() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/sample-import.csv");
    let sample = sample.to_str().unwrap();
    let dry = stdout(&crm(&store, &["import", "customers", sample, "--dry-run"]));
    assert!(dry.contains("would import 3 customers and 4 contacts"), "{dry}");
    stdout(&crm(&store, &["import", "customers", sample]));
    let found = stdout(&crm(&store, &["customers", "search", "黄磊"]));
    assert!(found.contains("深圳前海星河贸易有限公司") && found.contains("SZ0001"), "{found}");
    let found = stdout(&crm(&store, &["customers", "search", "100%"]));
    assert!(found.contains("北京100%纯净_食品有限公司"), "{found}");
    let shown = stdout(&crm(&store, &["customers", "show", &id_of(&found, "BJ0002")]));
    assert!(shown.contains("刘洋"), "{shown}");
    let found = stdout(&crm(&store, &["customers", "search", "星河"]));
    let shown = stdout(&crm(&store, &["customers", "show", &id_of(&found, "SZ0001")]));
    assert!(shown.contains("contact: 陈静 采购经理 013800138000"), "{shown}");
    assert!(shown.lines().all(|line| line == line.trim_end()), "no trailing blanks: {shown}");
}

#[test]
fn export_writes_a_spreadsheet_that_imports_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    stdout(&crm(&store, &["demo"]));
    let file = dir.path().join("out.xlsx");
    stdout(&crm(&store, &["export", "customers", file.to_str().unwrap()]));
    let other = format!("sled:{}", dir.path().join("other").display());
    let partial = crm(&other, &["import", "customers", file.to_str().unwrap(), "--dry-run"]);
    let stderr = String::from_utf8_lossy(&partial.stderr);
    let reason = "\"europe\" is not a customer category in the settings: the list is empty";
    assert!(stderr.contains(reason), "{stderr}");
    for (list, code) in [
        ("customer_category", "europe"),
        ("customer_category", "north_america"),
        ("customer_category", "latin_america"),
        ("customer_source", "northwind"),
    ] {
        stdout(&crm(&other, &["settings", "add", list, code, code]));
    }
    let listed = stdout(&crm(&other, &["settings", "list", "customer_category"]));
    assert!(listed.contains("latin_america"), "{listed}");
    let imported =
        stdout(&crm(&other, &["import", "customers", file.to_str().unwrap(), "--dry-run"]));
    assert!(imported.contains("would import 91 customers and 91 contacts"), "{imported}");
    // An unknown value is refused with the codes the list holds.
    let asia = dir.path().join("asia.csv");
    std::fs::write(&asia, "客户名称,客户类别\nAsia Trading,asia\n").unwrap();
    let refused = crm(&other, &["import", "customers", asia.to_str().unwrap(), "--dry-run"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let reason = "\"asia\" is not a customer category in the settings \
                  (codes: europe, latin_america, north_america)";
    assert!(stderr.contains(reason), "{stderr}");
}

#[test]
fn errors_go_to_stderr_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    let missing = crm(&store, &["customers", "show", "999999"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
    let bad_store = crm("mysql://nope", &["customers", "list"]);
    assert!(!bad_store.status.success());
    assert!(String::from_utf8_lossy(&bad_store.stderr).contains("unknown or incomplete store"));
    for incomplete in ["postgres://", "postgres:///crm", "sled:"] {
        let refused = crm(incomplete, &["customers", "list"]);
        assert!(!refused.status.success(), "{incomplete} was accepted");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("incomplete store"));
    }
    let endless = dir.path().join("endless.csv");
    std::os::unix::fs::symlink("/dev/zero", &endless).unwrap();
    let refused = crm(&store, &["import", "customers", endless.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("larger than 64 MiB"));
    let held = crm::Crm::open_location(&store).unwrap();
    let locked = crm(&store, &["customers", "list"]);
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert!(stderr.contains("is in use by another process"), "{stderr}");
    drop(held);
    let bad_sort = crm(&store, &["customers", "list", "--sort", "salary"]);
    assert!(String::from_utf8_lossy(&bad_sort.stderr).contains("unknown sort"));
}

#[test]
fn works_against_a_postgres_url() {
    let cluster = crm_test_support::PgCluster::start().expect("start PostgreSQL");
    let url = cluster.create_database("crm_cli").expect("create database");
    let loaded = stdout(&crm(&url, &["demo"]));
    assert!(loaded.contains("91 customers"), "{loaded}");
    let found = stdout(&crm(&url, &["customers", "search", "ａｌｆｒｅｄｓ"]));
    assert!(found.contains("Alfreds Futterkiste"), "{found}");
    let leads = stdout(&crm(&url, &["leads", "list", "--text", "liquids"]));
    let lead = id_of(&leads, "Exotic Liquids");
    let converted = stdout(&crm(&url, &["leads", "convert", &lead]));
    assert!(converted.contains("Exotic Liquids"), "{converted}");
    let found = stdout(&crm(&url, &["customers", "search", "Charlotte Cooper"]));
    assert!(found.contains("Exotic Liquids"), "{found}");
}

#[test]
fn the_readme_flow_walkthrough_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/assignment-flow.toml");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/sample-import.csv");
    stdout(&crm(&store, &["import", "customers", sample.to_str().unwrap()]));
    let pool = id_of(&stdout(&crm(&store, &["customers", "search", "浦江"])), "SH0003");
    stdout(&crm(&store, &["units", "add", "销售部", "--parent", "1", "--kind", "department"]));
    stdout(&crm(&store, &["users", "add", "chen", "陈销售", "--unit", "2"]));
    stdout(&crm(&store, &["users", "add", "zhao", "赵总监", "--unit", "1"]));
    stdout(&crm(&store, &["positions", "add", "sales_director", "销售总监"]));
    stdout(&crm(&store, &["users", "place", "zhao", "1", "--position", "sales_director"]));
    stdout(&crm(&store, &["units", "set-manager", "2", "admin"]));
    let defined = stdout(&crm(&store, &["workflow", "define", flow.to_str().unwrap()]));
    assert!(defined.contains("defined customer_assignment version 1"), "{defined}");
    let svg = dir.path().join("flow.svg");
    stdout(&crm(
        &store,
        &["workflow", "show", "customer_assignment", "--out", svg.to_str().unwrap()],
    ));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("部门经理审批"));
    let requested = stdout(&crm(
        &store,
        &["--user", "chen", "assign", "request", &pool, "--reason", "老客户介绍"],
    ));
    assert!(requested.contains("is pending"), "{requested}");
    let todo = stdout(&crm(&store, &["todo"]));
    assert!(todo.contains("manager"), "{todo}");
    stdout(&crm(&store, &["approve", "1", "--comment", "同意"]));
    let director = stdout(&crm(&store, &["--user", "zhao", "todo"]));
    assert!(director.contains("director"), "{director}");
    stdout(&crm(&store, &["--user", "zhao", "approve", "1"]));
    let mine = stdout(&crm(&store, &["--user", "chen", "customers", "list"]));
    assert!(mine.contains("上海 \"浦江\" 机电设备厂") && mine.contains("1 of 1"), "{mine}");
    let shown = stdout(&crm(&store, &["customers", "show", &pool]));
    assert!(shown.contains("owner:") && shown.contains("chen"), "{shown}");

    // The finance request part of the walk-through.
    let expense = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/expense-flow.toml");
    let defined = stdout(&crm(&store, &["workflow", "define", expense.to_str().unwrap()]));
    assert!(defined.contains("defined expense_approval version 1"), "{defined}");
    let written = stdout(&crm(
        &store,
        &[
            "--user",
            "chen",
            "requests",
            "new",
            "--form",
            "expense",
            "--title",
            "客户招待",
            "--amount",
            "1280.50",
            "--date",
            "2026-11-30",
        ],
    ));
    assert!(written.contains("request EX000001 (id 1)"), "{written}");
    let submitted = stdout(&crm(&store, &["--user", "chen", "requests", "submit", "1"]));
    assert!(submitted.contains("is pending as instance 2"), "{submitted}");
    assert!(stdout(&crm(&store, &["todo"])).contains("manager"));
    // The manager's node lets them change the amount; a field it does not open is refused
    // by name and leaves the task open.
    let refused = crm(&store, &["approve", "2", "--set", "title=改标题"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("title"), "{refused:?}");
    stdout(&crm(&store, &["approve", "2", "--set", "amount=1,200", "--comment", "按发票金额"]));
    let shown = stdout(&crm(&store, &["--user", "chen", "requests", "show", "1"]));
    assert!(shown.contains("status:    approved"), "{shown}");
    assert!(shown.contains("1200.00"), "{shown}");
    assert!(stdout(&crm(&store, &["requests", "list"])).contains("客户招待"));

    // The quote and contract part of the walk-through, for the customer chen now owns.
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo");
    for flow in ["quote-flow.toml", "contract-flow.toml"] {
        stdout(&crm(&store, &["workflow", "define", demo.join(flow).to_str().unwrap()]));
    }
    let chen = |args: &[&str]| {
        let mut all = vec!["--user", "chen"];
        all.extend_from_slice(args);
        stdout(&crm(&store, &all))
    };
    let written = chen(&[
        "quotes",
        "new",
        "--customer",
        &pool,
        "--title",
        "年度维保",
        "--line",
        "数控机床保养;10;1,200;5",
        "--line",
        "滤芯;2;99.50",
    ]);
    assert!(written.contains("QT000001 (id 1)") && written.contains("11599.00"), "{written}");
    assert!(chen(&["quotes", "submit", "1"]).contains("pending as instance 3"));
    stdout(&crm(&store, &["approve", "3"]));
    stdout(&crm(&store, &["--user", "zhao", "approve", "3"]));
    assert!(chen(&["quotes", "show", "1"]).contains("status:      approved"));
    let written = chen(&[
        "contracts",
        "new",
        "--customer",
        &pool,
        "--title",
        "维保合同",
        "--amount",
        "11599",
        "--quote",
        "1",
        "--starts-on",
        "2027-01-01",
        "--ends-on",
        "2027-12-31",
    ]);
    assert!(written.contains("CT000001 (id 1)"), "{written}");
    assert!(chen(&["contracts", "submit", "1"]).contains("pending as instance 4"));
    stdout(&crm(&store, &["approve", "4", "--set", "amount=11000"]));
    let shown = chen(&["contracts", "show", "1"]);
    assert!(shown.contains("11000.00 CNY") && shown.contains("status:    approved"), "{shown}");

    // The user-defined form part of the walk-through: a leave form and its flow.
    let defined =
        stdout(&crm(&store, &["forms", "define", demo.join("leave-form.toml").to_str().unwrap()]));
    assert!(defined.contains("form leave (id 1) version 1 with 4 field(s)"), "{defined}");
    let defined = stdout(&crm(
        &store,
        &["workflow", "define", demo.join("leave-flow.toml").to_str().unwrap()],
    ));
    assert!(defined.contains("defined leave_approval version 1"), "{defined}");
    assert!(stdout(&crm(&store, &["forms", "show", "leave"]))
        .contains("days             decimal   天数 / Days required"));
    // A value the form refuses is named; nothing is stored.
    let refused = crm(
        &store,
        &[
            "--user",
            "chen",
            "entries",
            "new",
            "leave",
            "--title",
            "春节年假",
            "--set",
            "kind=婚假",
            "--set",
            "days=5",
            "--set",
            "first_day=2027-02-08",
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("kind"), "{refused:?}");
    let written = chen(&[
        "entries",
        "new",
        "leave",
        "--title",
        "春节年假",
        "--set",
        "kind=年假",
        "--set",
        "days=5",
        "--set",
        "first_day=2027-02-08",
    ]);
    assert!(written.contains("leave FM000001 (id 1) written as a draft"), "{written}");
    assert!(chen(&["entries", "submit", "1"]).contains("pending as instance 5"));
    stdout(&crm(&store, &["approve", "5", "--set", "days=3"]));
    let shown = chen(&["entries", "show", "1"]);
    assert!(shown.contains("status:    approved") && shown.contains("天数: 3"), "{shown}");
    assert!(stdout(&crm(&store, &["--user", "zhao", "todo"])).contains("0 of 0 open tasks"));
    // The instance's log replays event by event to the state the engine derives.
    let log = stdout(&crm(&store, &["instance", "5", "--log"]));
    assert!(log.contains("approved         task 1 changing days"), "{log}");
    assert!(log.contains("replayed state agrees with the instance: approved"), "{log}");
    assert!(log.contains("  days: 3\n"), "{log}");

    // Beyond the README: the submitter takes a request back before anyone decided.
    chen(&[
        "entries",
        "new",
        "leave",
        "--title",
        "调休",
        "--set",
        "kind=调休",
        "--set",
        "days=1",
        "--set",
        "first_day=2027-03-01",
    ]);
    assert!(chen(&["entries", "submit", "2"]).contains("pending as instance 6"));
    assert!(chen(&["withdraw", "6"]).contains("instance 6 is withdrawn"));
    assert!(chen(&["entries", "show", "2"]).contains("status:    withdrawn"));
    let refused =
        crm(&store, &["--user", "chen", "entries", "new", "leave", "--title", "x", "--set", "=1"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("write FIELD=VALUE"), "{refused:?}");
}

#[test]
fn passwords_are_set_from_the_environment_or_standard_input_and_hashed() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    stdout(&crm(&store, &["users", "add", "chen", "陈销售"]));
    let set = |env: Option<&str>, stdin: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
        command.args(["--store", &store, "users", "password", "chen"]);
        command.env_remove("CRM_PASSWORD").env_remove("CRM_USER").env_remove("CRM_TENANT");
        if let Some(password) = env {
            command.env("CRM_PASSWORD", password);
        }
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(stdout(&set(Some("geheim-2027"), "")).contains("password set for user 2"));
    let short = set(None, "short\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"), "{short:?}");
    assert!(stdout(&set(None, "从标准输入读取的密码\n")).contains("password set"));

    // The store keeps an argon2id hash that the password matches, never the password.
    let crm_lib = crm::Crm::open_location(&store).unwrap();
    let tenant = crm::TenantId::new("default").unwrap();
    let admin = crm_lib.bootstrap_tenant(&tenant, "admin", "Administrator").unwrap();
    let chen = crm_lib.org(&admin).user_by_login("chen").unwrap().unwrap();
    assert!(chen.password_hash.starts_with("$argon2id$"), "{}", chen.password_hash);
    assert!(crm::org::verify_password("从标准输入读取的密码", &chen.password_hash));
    assert!(!crm::org::verify_password("geheim-2027", &chen.password_hash));
}

#[test]
fn errors_to_a_closed_pipe_end_with_exit_code_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    // 2,000 bad dates: far more error text than a pipe holds, so writing meets a closed pipe.
    let mut csv = String::from("客户名称,联系人,生日\n");
    for i in 0..2000 {
        csv.push_str(&format!("客户{i},联系人{i},2023-02-30\n"));
    }
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, csv).unwrap();
    let script = format!(
        "set -o pipefail; {:?} --store {:?} import customers {:?} 2>&1 >/dev/null | head -c 1 \
         >/dev/null; echo \"status ${{PIPESTATUS[0]}}\"",
        env!("CARGO_BIN_EXE_crm"),
        store,
        file.to_str().unwrap()
    );
    let output = Command::new("bash").args(["-c", &script]).output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(said.trim(), "status 1", "{said} {}", String::from_utf8_lossy(&output.stderr));
}
