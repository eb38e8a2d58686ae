//! Test support shared by the workspace's integration tests: throwaway PostgreSQL clusters.
//!
//! Tests that need a real PostgreSQL call [`PgCluster::start`]. Where `CRM_TEST_PG_URL` is set
//! they get a fresh database on that server; otherwise a private cluster is created from the
//! local PostgreSQL binaries (`initdb` + `pg_ctl`) in a temporary directory, listening on a
//! free port of 127.0.0.1, and removed again when the [`PgCluster`] is dropped. The server on
//! the standard port is never touched.
//!
//! `initdb` refuses to run as root, so when the tests run as root the binaries run as the
//! `postgres` system user through `runuser` and the directory is handed to that user.
//!
//! Everything here is blocking std code: it runs before and after the tests, never inside
//! them, and pulls no async runtime into the crates that use it.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable that points the tests at an existing server instead of a throwaway cluster.
pub const URL_VARIABLE: &str = "CRM_TEST_PG_URL";

/// The system user that runs the cluster when the tests run as root.
const SERVICE_USER: &str = "postgres";

/// Makes names unique within this process; the process id makes them unique across processes.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Why a cluster or database could not be set up.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Neither `pg_config` nor `/usr/lib/postgresql/*/bin` led to the server binaries.
    #[error("no postgresql server binaries found: {0}")]
    NoBinaries(String),
    /// A file system or process call failed.
    #[error("cannot {action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A PostgreSQL program exited with an error.
    #[error("{command} failed ({status}): {output}")]
    Command {
        /// The program and its first arguments.
        command: String,
        /// The exit status.
        status: String,
        /// What it printed (the tail of the server log for a failed start).
        output: String,
    },
    /// A database name that is not a short lowercase identifier.
    #[error("invalid database name {0:?}: use up to 32 lowercase letters, digits and '_'")]
    InvalidName(String),
}

/// A cluster this process created and must stop and remove.
#[derive(Debug)]
struct OwnedCluster {
    /// The temporary directory holding the data directory, the socket and the log.
    dir: PathBuf,
    /// Where `initdb`, `pg_ctl` and `psql` live.
    bindir: PathBuf,
    /// Whether the binaries run as the `postgres` user (the tests run as root).
    as_service_user: bool,
}

/// A PostgreSQL server for tests: a private throwaway cluster, or a fresh database on the
/// server named by `CRM_TEST_PG_URL`. Dropping it stops and removes the cluster, or drops the
/// databases it created on the external server.
#[derive(Debug)]
pub struct PgCluster {
    /// URL of the database the tests use first.
    url: String,
    /// URL of the maintenance database new databases are created from.
    admin_url: String,
    /// The `psql` binary.
    psql: PathBuf,
    /// Set for a cluster this process created.
    owned: Option<OwnedCluster>,
    /// Databases created on an external server, dropped on drop.
    created: Mutex<Vec<String>>,
}

impl PgCluster {
    /// Starts a throwaway cluster, or connects to `CRM_TEST_PG_URL` and creates a fresh
    /// database there. Fails loudly rather than letting a test skip.
    pub fn start() -> Result<PgCluster, ClusterError> {
        match std::env::var(URL_VARIABLE) {
            Ok(url) if !url.trim().is_empty() => Self::external(url.trim()),
            _ => Self::throwaway(),
        }
    }

    /// A `postgres://` URL of a superuser on 127.0.0.1 (or of the fresh database on the
    /// external server).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The temporary directory of a throwaway cluster; `None` on an external server.
    pub fn directory(&self) -> Option<&Path> {
        self.owned.as_ref().map(|owned| owned.dir.as_path())
    }

    /// Creates a fresh database whose name starts with `name` (made unique with the process id
    /// and a counter) and returns its URL. On an external server it is dropped again when the
    /// cluster is dropped.
    pub fn create_database(&self, name: &str) -> Result<String, ClusterError> {
        let valid = name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(ClusterError::InvalidName(name.to_owned()));
        }
        let unique = unique_name(name);
        self.psql(&self.admin_url, &format!("CREATE DATABASE \"{unique}\""))?;
        if self.owned.is_none() {
            self.created.lock().unwrap_or_else(|e| e.into_inner()).push(unique.clone());
        }
        Ok(with_database(&self.admin_url, &unique))
    }

    /// Runs a SQL file against `db_url` with `psql`, stopping at the first error.
    pub fn load_sql_file(&self, db_url: &str, path: &Path) -> Result<(), ClusterError> {
        let mut command = Command::new(&self.psql);
        command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db_url, "-f"]).arg(path);
        run(command, "psql -f").map(|_| ())
    }

    /// Runs SQL against `db_url` with `psql` and returns what it printed, unaligned and
    /// without headers (one row a line, columns separated by `|`).
    pub fn psql(&self, db_url: &str, sql: &str) -> Result<String, ClusterError> {
        let mut command = Command::new(&self.psql);
        command.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db_url, "-c", sql]);
        let output = run(command, "psql -c")?;
        Ok(String::from_utf8_lossy(&output.stdout).trim_end().to_owned())
    }

    fn external(url: &str) -> Result<PgCluster, ClusterError> {
        let psql =
            find_bindir().map(|bindir| bindir.join("psql")).unwrap_or_else(|_| "psql".into());
        let mut cluster = PgCluster {
            url: String::new(),
            admin_url: url.to_owned(),
            psql,
            owned: None,
            created: Mutex::new(Vec::new()),
        };
        cluster.url = cluster.create_database("crm_test")?;
        Ok(cluster)
    }

    fn throwaway() -> Result<PgCluster, ClusterError> {
        let bindir = find_bindir()?;
        let as_service_user = running_as_root();
        let dir = make_private_dir(as_service_user)?;
        // From here on the directory is removed by Drop, also when a later step fails.
        let mut cluster = PgCluster {
            url: String::new(),
            admin_url: String::new(),
            psql: bindir.join("psql"),
            owned: Some(OwnedCluster { dir: dir.clone(), bindir, as_service_user }),
            created: Mutex::new(Vec::new()),
        };
        let data = dir.join("data");
        cluster.run_server_tool(
            "initdb",
            &[
                "-D".into(),
                data.clone().into(),
                "-U".into(),
                "postgres".into(),
                "-A".into(),
                "trust".into(),
                "-E".into(),
                "UTF8".into(),
                "--locale=C".into(),
                "--no-sync".into(),
            ],
        )?;

        let mut attempt = 0;
        let port = loop {
            attempt += 1;
            let port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='{}' \
                 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                dir.display()
            );
            let log = dir.join("postgres.log");
            let started = cluster.run_server_tool(
                "pg_ctl",
                &[
                    "-D".into(),
                    data.clone().into(),
                    "-l".into(),
                    log.clone().into(),
                    "-w".into(),
                    "-t".into(),
                    "60".into(),
                    "-o".into(),
                    options.into(),
                    "start".into(),
                ],
            );
            match started {
                Ok(_) => break port,
                Err(ClusterError::Command { command, status, output }) => {
                    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
                    // Another process may have taken the port between probe and start.
                    if attempt < 5 && log_text.contains("already in use") {
                        continue;
                    }
                    let tail: Vec<&str> = log_text.lines().rev().take(20).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(ClusterError::Command {
                        command,
                        status,
                        output: format!("{output}\nserver log:\n{}", tail.join("\n")),
                    });
                }
                Err(other) => return Err(other),
            }
        };

        cluster.admin_url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        cluster.url = cluster.admin_url.clone();
        Ok(cluster)
    }

    /// Runs `initdb` or `pg_ctl` of the owned cluster, as the service user when root.
    fn run_server_tool(&self, tool: &str, args: &[OsString]) -> Result<Output, ClusterError> {
        let Some(owned) = &self.owned else {
            return Err(ClusterError::NoBinaries("no cluster of this process to manage".into()));
        };
        let program = owned.bindir.join(tool);
        let mut command = if owned.as_service_user {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVICE_USER, "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command.args(args).current_dir(&owned.dir);
        run(command, tool)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(owned) = &self.owned {
            let data = owned.dir.join("data");
            if data.join("postmaster.pid").exists() {
                let stopped = self.run_server_tool(
                    "pg_ctl",
                    &[
                        "-D".into(),
                        data.into(),
                        "-m".into(),
                        "immediate".into(),
                        "-w".into(),
                        "stop".into(),
                    ],
                );
                if let Err(error) = stopped {
                    eprintln!("crm-test-support: stopping the throwaway cluster: {error}");
                }
            }
            if let Err(error) = std::fs::remove_dir_all(&owned.dir) {
                eprintln!("crm-test-support: removing {}: {error}", owned.dir.display());
            }
            return;
        }
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        for name in created {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(error) = self.psql(&self.admin_url, &sql) {
                eprintln!("crm-test-support: dropping database {name}: {error}");
            }
        }
    }
}

/// Runs a command to completion and turns a non-zero exit into an error with its output.
fn run(mut command: Command, label: &str) -> Result<Output, ClusterError> {
    command.env("PGCONNECT_TIMEOUT", "10");
    let output = command
        .output()
        .map_err(|source| ClusterError::Io { action: format!("run {label}"), source })?;
    if output.status.success() {
        return Ok(output);
    }
    let mut printed = String::from_utf8_lossy(&output.stderr).into_owned();
    printed.push_str(&String::from_utf8_lossy(&output.stdout));
    Err(ClusterError::Command {
        command: label.to_owned(),
        status: output.status.to_string(),
        output: printed.trim().to_owned(),
    })
}

/// The directory of `initdb` and `pg_ctl`: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn find_bindir() -> Result<PathBuf, ClusterError> {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }
    let root = Path::new("/usr/lib/postgresql");
    let entries = std::fs::read_dir(root)
        .map_err(|e| ClusterError::NoBinaries(format!("pg_config failed and {root:?}: {e}")))?;
    let newest = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: f64 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    newest.map(|(_, bin)| bin).ok_or_else(|| {
        ClusterError::NoBinaries(format!("pg_config failed and {root:?} holds no bin/initdb"))
    })
}

/// Whether this process runs as root, asked of `id -u` so no unsafe call is needed.
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Creates a new directory with a unique name, owned by the service user when root.
fn make_private_dir(as_service_user: bool) -> Result<PathBuf, ClusterError> {
    // The service user cannot enter root's private temporary directories, so use /tmp.
    let base = if as_service_user { PathBuf::from("/tmp") } else { std::env::temp_dir() };
    let dir = base.join(format!("crm-pg-{}", unique_suffix()));
    std::fs::create_dir(&dir).map_err(|source| ClusterError::Io {
        action: format!("create {}", dir.display()),
        source,
    })?;
    if as_service_user {
        let mut command = Command::new("chown");
        command.args(["-R", SERVICE_USER]).arg(&dir);
        if let Err(error) = run(command, "chown") {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(error);
        }
    }
    Ok(dir)
}

/// A free TCP port on 127.0.0.1, found by binding port 0; never the standard 5432.
fn free_port() -> Result<u16, ClusterError> {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|source| ClusterError::Io { action: "bind 127.0.0.1:0".into(), source })?;
        let port = listener
            .local_addr()
            .map_err(|source| ClusterError::Io { action: "read the bound port".into(), source })?
            .port();
        if port != 5432 {
            return Ok(port);
        }
    }
}

/// `<process id>_<counter>_<time>`, unique across the processes of this machine.
fn unique_suffix() -> String {
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}_{count}_{nanos:x}", std::process::id())
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", unique_suffix())
}

/// `url` with its database path replaced by `database`, keeping any query parameters.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| i + authority_start);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5/old?sslmode=disable", "new"),
            "postgres://u:p@127.0.0.1:5/new?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@127.0.0.1:5", "db"), "postgres://u@127.0.0.1:5/db");
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("a"), unique_name("a"));
        assert!(unique_name("abc").starts_with("abc_"));
    }
}
