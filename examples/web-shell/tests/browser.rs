//! A real-browser test: the shell serves on a free port of 127.0.0.1, chromedriver drives
//! Debian's headless Chromium through it like a person would — sign in, search, open a
//! customer, switch the language, create a customer, sign out — and a unit manager approves a
//! customer assignment request from the to-do list.
//!
//! Chromium and chromedriver must be installed (`apt-get install -y chromium
//! chromium-driver`); the test fails, rather than skips, when they are missing.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crm::Principal;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use support::{set_up_approvals, Shell, FLOW, PASSWORD, USER_PASSWORD};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A chromedriver process, killed when dropped so a failing test leaves nothing running.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    fn start(log: &Path) -> ChromeDriver {
        let port = free_port();
        let log = std::fs::File::create(log).expect("chromedriver log file");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start chromedriver");
        let driver = ChromeDriver { child, port };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {address}");
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The process may have exited already; both calls then fail harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Waits for the element and returns its text.
async fn text_of(client: &Client, css: &str) -> Result<String, fantoccini::error::CmdError> {
    let element =
        client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await?;
    element.text().await
}

/// Waits until the address of the page contains `needle`, so that elements are looked up on
/// the new page and not on the one before the click.
async fn wait_for_url(client: &Client, needle: &str) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = client.current_url().await?;
        if url.as_str().contains(needle) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the browser stayed on {url}, expected {needle}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_searches_switches_language_creates_and_signs_out() {
    for binary in [CHROMEDRIVER, CHROMIUM] {
        assert!(
            Path::new(binary).exists(),
            "{binary} is missing: run `apt-get install -y chromium chromium-driver`"
        );
    }
    let shell = Shell::start().await;
    let instance = request_for_approval(&shell).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crm_web_shell::serve(listener, shell.state.clone(), async {
        let _ = stopped.await;
    }));

    let scratch = tempfile::tempdir().expect("scratch directory");
    let driver = ChromeDriver::start(&scratch.path().join("chromedriver.log"));
    let profile = scratch.path().join("profile");
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic",
                format!("--user-data-dir={}", profile.display()),
            ],
        }
    });
    let capabilities: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(capabilities).expect("capabilities are an object");
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("connect to chromedriver");

    let mut result = drive(&client, &base).await;
    if result.is_ok() {
        result = approve_from_the_todo_list(&client, &base, instance).await;
    }
    let closed = client.close().await;
    drop(driver);
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
    if let Err(error) = result {
        let log =
            std::fs::read_to_string(scratch.path().join("chromedriver.log")).unwrap_or_default();
        panic!("browser run failed: {error}\nchromedriver log:\n{log}");
    }
    closed.expect("close the browser session");
}

/// Defines the approval flow and has the salesperson ask for the pool customer, through the
/// facade; returns the instance to approve.
async fn request_for_approval(shell: &Shell) -> u64 {
    let org = set_up_approvals(shell).await;
    let state = shell.state.clone();
    tokio::task::spawn_blocking(move || {
        let crm = state.crm();
        let admin = state.tenant_admin();
        crm.workflows(admin).define(FLOW).expect("define the flow");
        let seller = Principal::user(admin.tenant.clone(), org.seller);
        let requested =
            crm.assignments(&seller).request(org.customer, "I know them").expect("request");
        requested.instance.0
    })
    .await
    .expect("request task")
}

/// The unit manager signs in, follows the badge to the to-do list, opens the task and
/// approves it with a comment.
async fn approve_from_the_todo_list(client: &Client, base: &str, instance: u64) -> TestResult {
    client.goto(&format!("{base}/login")).await?;
    client.find(Locator::Css("input[name=login]")).await?.send_keys("manager").await?;
    client.find(Locator::Css("input[name=password]")).await?.send_keys(USER_PASSWORD).await?;
    client.find(Locator::Id("login-submit")).await?.click().await?;
    assert_eq!(text_of(client, "#current-user").await?, "Manager Wang");
    assert_eq!(text_of(client, "#todo-count").await?, "1");

    client.find(Locator::Id("nav-todo")).await?.click().await?;
    wait_for_url(client, "/todo").await?;
    let task = format!("a[href='/workflow/instances/{instance}']");
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(&task)).await?;
    assert!(text_of(client, "#open-tasks").await?.contains("Seller Li"));
    client.find(Locator::Css(&task)).await?.click().await?;
    wait_for_url(client, &format!("/workflow/instances/{instance}")).await?;

    client.wait().for_element(Locator::Id("decision-comment")).await?.send_keys("Agreed").await?;
    client.find(Locator::Id("approve")).await?.click().await?;
    wait_for_url(client, "ok=approved").await?;
    assert_eq!(text_of(client, ".notice.ok").await?, "Approved.");
    assert_eq!(text_of(client, "#wf-status").await?, "Approved");
    assert!(text_of(client, "#history").await?.contains("Agreed"));
    assert!(client.find_all(Locator::Id("todo-count")).await?.is_empty(), "no task is left");
    Ok(())
}

async fn drive(client: &Client, base: &str) -> TestResult {
    // Any page sends a stranger to the login form.
    client.goto(&format!("{base}/customers")).await?;
    assert!(client.current_url().await?.path().starts_with("/login"));
    client.find(Locator::Css("input[name=login]")).await?.send_keys("admin").await?;
    client.find(Locator::Css("input[name=password]")).await?.send_keys(PASSWORD).await?;
    client.find(Locator::Id("login-submit")).await?.click().await?;
    assert_eq!(text_of(client, "#current-user").await?, "Administrator");

    // Search by part of a name, in lower case.
    client.wait().for_element(Locator::Id("customer-list")).await?;
    client.find(Locator::Id("q")).await?.send_keys("futterk").await?;
    client.find(Locator::Id("search-button")).await?.click().await?;
    wait_for_url(client, "q=futterk").await?;
    let link = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::LinkText("Alfreds Futterkiste"))
        .await?;
    assert_eq!(text_of(client, "#total").await?, "1");
    link.click().await?;
    assert_eq!(text_of(client, "#customer-name").await?, "Alfreds Futterkiste");
    assert_eq!(text_of(client, "#contacts .contact-name").await?, "Maria Anders");
    assert_eq!(text_of(client, "#contacts h2").await?, "联系人");

    // Switch to English and stay on the page.
    client.find(Locator::Id("switch-lang")).await?.click().await?;
    client.wait().for_element(Locator::XPath("//h2[text()='Contacts']")).await?;
    assert_eq!(text_of(client, "#customer-name").await?, "Alfreds Futterkiste");
    assert_eq!(text_of(client, "#profile h2").await?, "Profile");

    // Create a customer.
    client.goto(&format!("{base}/customers")).await?;
    client.wait().for_element(Locator::Id("new-customer")).await?.click().await?;
    client.wait().for_element(Locator::Id("name")).await?.send_keys("Browser Test Co").await?;
    client.find(Locator::Id("city")).await?.send_keys("Suzhou").await?;
    client.find(Locator::Id("save")).await?.click().await?;
    assert_eq!(text_of(client, "#customer-name").await?, "Browser Test Co");
    assert_eq!(text_of(client, ".notice.ok").await?, "Created.");

    // Sign out; the pages are closed again.
    client.find(Locator::Id("logout")).await?.click().await?;
    client.wait().for_element(Locator::Css("input[name=login]")).await?;
    assert!(client.current_url().await?.path().starts_with("/login"));
    client.goto(&format!("{base}/customers")).await?;
    assert!(client.current_url().await?.path().starts_with("/login"));
    Ok(())
}
