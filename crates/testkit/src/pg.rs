//! Throwaway PostgreSQL servers.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{self, Watchdog};
use crate::tls::TestCa;
use crate::TestkitError;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Attempts with a fresh port when another process grabbed ours first.
const PORT_ATTEMPTS: usize = 5;

/// Directories holding PostgreSQL binaries, best first: `$WRIT_PG_BIN_DIR` if
/// set, then `/usr/lib/postgresql/<version>/bin`, highest version first.
pub fn pg_bin_dirs() -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    std::env::var_os("WRIT_PG_BIN_DIR").map(PathBuf::from).into_iter().chain(versions.into_iter().map(|(_, dir)| dir)).collect()
}

/// A PostgreSQL binary (`postgres`, `initdb`, `psql`, `createdb`, ...), looked up
/// in [`pg_bin_dirs`] then `PATH`.
pub fn pg_binary(name: &str) -> Result<PathBuf, TestkitError> {
    let package = match name {
        "postgres" | "initdb" | "pg_ctl" => "postgresql-15",
        _ => "postgresql-client-15",
    };
    let dirs: Vec<String> = pg_bin_dirs().iter().map(|d| d.to_string_lossy().into_owned()).collect();
    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    process::find_binary(name, package, &dirs)
}

/// A throwaway PostgreSQL server on 127.0.0.1 and a free port, in a temp dir;
/// stopped and deleted on drop.
///
/// Superuser `postgres`, trust auth, `fsync=off` (unless started with
/// [`PgServer::start_durable`]), locale `C.UTF-8`. When run as
/// root, the server runs as the `postgres` user. The temp dir holds `data/`,
/// `sock/` (unix socket), `initdb.log` and `postgres.log`.
///
/// If the test process is killed, `Drop` does not run; a watchdog process then
/// stops the server and deletes the dir (see [`Watchdog`]).
pub struct PgServer {
    port: u16,
    /// The CA file clients trust, when started with [`PgServer::start_tls`].
    ca: Option<PathBuf>,
    path: PathBuf,
    child: Option<Child>,
    watchdog: Option<Watchdog>,
    dir: Option<TempDir>,
}

impl PgServer {
    /// Starts a server and waits until it accepts connections (about 1-2 s).
    pub fn start() -> Result<PgServer, TestkitError> {
        Self::start_with(&[])
    }

    /// The settings that make a commit durable, which [`PgServer::start`] turns
    /// off for speed: each COMMIT reaches the disk before it is answered.
    pub const DURABLE: [&'static str; 3] = ["fsync=on", "synchronous_commit=on", "full_page_writes=on"];

    /// Like [`PgServer::start`], but durable ([`PgServer::DURABLE`]), as a
    /// production server runs: for benchmarks whose figures must not be
    /// flattered by skipped syncs.
    pub fn start_durable() -> Result<PgServer, TestkitError> {
        Self::start_with(&Self::DURABLE)
    }

    /// Like [`PgServer::start`], with extra `name=value` settings passed as
    /// `postgres -c name=value` (e.g. `"max_connections=200"`).
    pub fn start_with(settings: &[&str]) -> Result<PgServer, TestkitError> {
        Self::start_inner(settings, None)
    }

    /// Like [`PgServer::start`], but TCP clients must use TLS: `ssl=on` with a
    /// certificate `ca` signed for 127.0.0.1/localhost, and a `pg_hba.conf`
    /// whose only TCP lines are `hostssl` (a plaintext TCP connection is
    /// refused with "no pg_hba.conf entry ... no encryption"). The unix socket
    /// stays open to the harness's own `pg_isready`.
    pub fn start_tls(ca: &TestCa) -> Result<PgServer, TestkitError> {
        Self::start_inner(&[], Some(ca))
    }

    fn start_inner(settings: &[&str], tls: Option<&TestCa>) -> Result<PgServer, TestkitError> {
        let postgres = pg_binary("postgres")?;
        let initdb = pg_binary("initdb")?;
        let pg_isready = pg_binary("pg_isready")?;
        let user = process::server_user("postgres")?;
        let dir = process::server_dir("writ-pg-", user)?;
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        fs::create_dir(&sock)?;
        process::chown_to(&sock, user)?;

        let out = process::command_as(&initdb, user)
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"])
            .args(["--no-sync", "--no-instructions"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()?;
        let initdb_log = dir.path().join("initdb.log");
        fs::write(&initdb_log, [&out.stdout[..], &out.stderr[..]].concat())?;
        if !out.status.success() {
            return Err(TestkitError::Startup { what: format!("initdb ({})", out.status), log_tail: process::log_tail(&initdb_log, 30) });
        }
        let mut settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        let ca = match tls {
            None => None,
            Some(ca) => {
                let files = ca.files().install(dir.path(), user)?;
                let hba = dir.path().join("pg_hba.conf");
                fs::write(&hba, "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n")?;
                process::chown_to(&hba, user)?;
                settings.extend([
                    "ssl=on".to_string(),
                    format!("ssl_cert_file={}", files.cert.display()),
                    format!("ssl_key_file={}", files.key.display()),
                    format!("hba_file={}", hba.display()),
                ]);
                Some(files.ca)
            }
        };

        let log_path = dir.path().join("postgres.log");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = process::free_port();
            let log = File::create(&log_path)?;
            let mut child = process::command_as(&postgres, user)
                .arg("-D")
                .arg(&data)
                .arg("-p")
                .arg(port.to_string())
                .arg("-k")
                .arg(&sock)
                .args(["-c", "listen_addresses=127.0.0.1"])
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off"])
                .args(settings.iter().flat_map(|s| ["-c", s.as_str()]))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?;
            let mut watchdog = match Watchdog::spawn(child.id(), "INT", dir.path()) {
                Ok(w) => w,
                Err(e) => {
                    process::shutdown(&mut child, "INT", SHUTDOWN_GRACE);
                    return Err(e.into());
                }
            };
            let ready = process::wait_until(
                &mut child,
                &format!("postgres on 127.0.0.1:{port}"),
                &log_path,
                STARTUP_TIMEOUT,
                // Through our own unix socket: postgres creates it only after
                // binding TCP, and another server on a stolen port can't answer.
                || {
                    Command::new(&pg_isready)
                        .arg("-h")
                        .arg(&sock)
                        .args(["-q", "-U", "postgres", "-d", "postgres", "-t", "1"])
                        .args(["-p", &port.to_string()])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                },
            );
            match ready {
                Ok(()) => return Ok(PgServer { port, ca, path: dir.path().to_path_buf(), child: Some(child), watchdog: Some(watchdog), dir: Some(dir) }),
                Err(e) => {
                    watchdog.disarm();
                    process::shutdown(&mut child, "INT", SHUTDOWN_GRACE);
                    let port_taken = fs::read_to_string(&log_path).is_ok_and(|l| l.contains("Address already in use"));
                    if !(port_taken && attempt < PORT_ATTEMPTS) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// For a server from [`PgServer::start_tls`]: its URL for a client that
    /// verifies the server against `ca_file` (`sslmode=verify-full`). Give
    /// another CA's file to see verification fail.
    pub fn tls_url(&self, ca_file: &Path) -> String {
        format!("{}?sslmode=verify-full&sslrootcert={}", self.url(), ca_file.display())
    }

    /// The CA file of a server from [`PgServer::start_tls`] (a copy in its dir).
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's temp dir (`data/`, `sock/`, `postgres.log`); gone after stop.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Runs `sql` with `psql` as the superuser on database `postgres`, stopping
    /// at the first error; returns the unaligned, tuples-only output, trimmed.
    pub fn psql(&self, sql: &str) -> Result<String, TestkitError> {
        let out = Command::new(pg_binary("psql")?)
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
            .arg(self.url())
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(TestkitError::Command { what: format!("psql -c {sql}"), output: String::from_utf8_lossy(&out.stderr).into_owned() });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Creates database `name` (`[a-z0-9_]+`) with `createdb`; returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, TestkitError> {
        let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(TestkitError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("database name {name:?} is not [a-z0-9_]+"))));
        }
        let out = Command::new(pg_binary("createdb")?)
            .args(["-w", "-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .arg(name)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(TestkitError::Command {
                what: format!("createdb {name}"),
                output: String::from_utf8_lossy(&[&out.stderr[..], &out.stdout[..]].concat()).into_owned(),
            });
        }
        Ok(self.url_for(name))
    }

    /// Fast shutdown (SIGINT, SIGKILL after 10 s), then deletes the temp dir.
    /// Idempotent; also called by `Drop`.
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.disarm();
        }
        if let Some(mut child) = self.child.take() {
            process::shutdown(&mut child, "INT", SHUTDOWN_GRACE);
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
