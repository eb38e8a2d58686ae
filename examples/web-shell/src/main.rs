//! `crm-web`: serves the example web shell. Everything but argument parsing and logging
//! lives in the library, so the tests run the same code.

#![forbid(unsafe_code)]

use anyhow::Context as _;
use clap::Parser;
use crm_web_shell::{prepare, serve, Options};

/// Imports and bulk changes build many small records; mimalloc keeps that fast where the
/// system allocator slows down as its free lists fragment.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The example CRM web shell.
#[derive(Debug, Parser)]
#[command(name = "crm-web", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Store location: `sled:PATH`, `memory:` or a `postgres://` URL.
    #[arg(long, env = "CRM_STORE", default_value = "sled:./crm-data")]
    store: String,
    /// Tenant served.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Mark cookies `Secure` (when served behind HTTPS).
    #[arg(long)]
    secure_cookies: bool,
}

/// What is logged without `RUST_LOG`. PostgreSQL's notices are left out: the one a user would
/// see, after a commit the server refused, says a rollback found no transaction.
const DEFAULT_LOG: &str = "info,sqlx::postgres::notice=error";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crm::process::use_small_pages();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();

    let options = Options {
        tenant: args.tenant.clone(),
        admin_password: match std::env::var("CRM_ADMIN_PASSWORD") {
            Ok(password) => Some(password),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                anyhow::bail!("CRM_ADMIN_PASSWORD is not UTF-8 text")
            }
        },
        secure_cookies: args.secure_cookies,
        ..Options::default()
    };
    let store = args.store.clone();
    let setup = tokio::task::spawn_blocking(move || {
        let crm = crm::Crm::open_location(&store)
            .with_context(|| format!("open {}", crm::redact_location(&store)))?;
        prepare(crm, &options)
    })
    .await
    .context("start-up task")??;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let url = format!("http://{}/", listener.local_addr()?);
    println!("CRM web shell for tenant {:?} listening on {url}", args.tenant);
    if setup.demo_customers > 0 {
        println!("Loaded {} Northwind demo customers.", setup.demo_customers);
    }
    if let Some(password) = &setup.generated_password {
        println!(
            "Sign in at {url}login as {:?} with the generated password: {password}\n\
             (shown only this once; start with CRM_ADMIN_PASSWORD=... to choose or reset it)",
            setup.admin_login
        );
    }

    // On a stop signal the shell stops taking connections and lets open requests finish;
    // connections still open after `STOP_GRACE` (a client that never finishes its request)
    // are dropped, so a stop never hangs.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stop_signal().await;
        let _ = stopping.send(true);
    });
    let signalled = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let deadline = {
        let stop = stop.clone();
        async move {
            signalled(stop).await;
            tokio::time::sleep(STOP_GRACE).await;
        }
    };
    tokio::select! {
        served = serve(listener, setup.state, signalled(stop)) => served.context("serve")?,
        () = deadline => eprintln!("requests still open {STOP_GRACE:?} after the stop signal were dropped"),
    }
    // The store is closed with the last handle to the state, writing what was committed.
    println!("CRM web shell stopped");
    Ok(())
}

/// How long open requests may take to finish once the shell is told to stop.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Completes on Ctrl-C or, on Unix, on SIGTERM (what `kill` and service managers send), so
/// the shell stops gracefully and closes its store either way. A signal whose handler cannot
/// be installed never completes.
async fn stop_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
