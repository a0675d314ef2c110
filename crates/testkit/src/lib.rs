//! Dev-only helpers for Writ's tests: throwaway real servers.
//!
//! Each server lives in its own temp dir on its own free port on 127.0.0.1, so
//! tests (and parallel test processes) never share state. It is stopped and its
//! dir deleted when the handle is dropped, also when the test panics.
//!
//! If the test process itself is killed (SIGKILL, nextest timeout), `Drop` cannot
//! run: a small watchdog shell process, which waits for the test process's end of
//! a pipe to close, then stops the server and deletes its dir (within ~10 s).
//!
//! Binaries come from Debian packages (the SCIM server from PyPI, in a venv);
//! `scripts/install-test-deps.sh` installs them.
//!
//! Servers: [`PgServer`] (PostgreSQL), [`LdapServer`] (OpenLDAP `slapd`),
//! [`RedisServer`] and [`ScimServer`] (`scim2-server`), [`HttpsReceiver`]
//! (POSTs over HTTPS), and [`OidcProvider`] (npm `oidc-provider`, run by Node). Each can speak TLS only (`start_tls`), with a
//! certificate signed by a [`TestCa`] made at run time. The last three can be
//! stopped and started again on the same port, for "target down, then back"
//! tests; only the LDAP server keeps its data across that (see each type).
//!
//! [`RequestTracker`] is Request Tracker 5 (Debian's `request-tracker5`), the
//! real service desk: REST 2.0 with a token, a `Writ Access` queue with a
//! `Writ request` custom field, and a webhook scrip; plain HTTP only. It too
//! can be stopped and started again, and keeps its tickets across that.
//!
//! A [`Browser`] is a real headless Chromium driven through `chromedriver`
//! (WebDriver), for tests of pages: [`OidcProvider::sign_in`] signs a person
//! in at the provider's own pages with it.
//!
//! Adding a server: a new `src/NAME.rs` using the helpers in [`process`].

use std::fmt;
use std::io;

pub mod browser;
pub mod https;
pub mod ldap;
pub mod oidc;
pub mod pg;
pub mod process;
pub mod redis;
pub mod request_tracker;
pub mod scim;
pub mod tls;

pub use browser::{Browser, BrowserError};
pub use https::HttpsReceiver;
pub use ldap::{ldap_binary, LdapServer, LdapTls};
pub use oidc::OidcProvider;
pub use pg::{pg_binary, PgServer};
pub use process::{find_binary, free_port, http_get, http_request, HttpResponse};
pub use redis::{redis_binary, RedisServer};
pub use request_tracker::{rt_binary, RequestTracker};
pub use scim::{scim_server_binary, ScimServer};
pub use tls::TestCa;

/// The PyPI requirement of the API contract checker that
/// `scripts/install-test-deps.sh` installs in `schemathesis-venv`.
pub const SCHEMATHESIS_PACKAGE: &str = "schemathesis==4.32.5";

/// Where `scripts/install-test-deps.sh` keeps the Python tools' venvs:
/// `$WRIT_TEST_TOOLS`, by default `~/.cache/writ-test-tools`.
pub fn test_tools_dir() -> std::path::PathBuf {
    std::env::var_os("WRIT_TEST_TOOLS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default().join(".cache/writ-test-tools"))
}

/// A Python tool's `binary`, looked up in `venv/bin` then `PATH`. The error
/// names the PyPI `package` and the install script.
pub fn python_tool(binary: &str, package: &str, venv: &std::path::Path) -> Result<std::path::PathBuf, TestkitError> {
    let bin = venv.join("bin");
    find_binary(binary, "", &[&bin.to_string_lossy()]).map_err(|_| TestkitError::MissingPythonTool {
        binary: binary.into(),
        package: package.into(),
        venv: venv.display().to_string(),
    })
}

/// `schemathesis`, from `schemathesis-venv` (see [`python_tool`]).
pub fn schemathesis_binary() -> Result<std::path::PathBuf, TestkitError> {
    python_tool("schemathesis", SCHEMATHESIS_PACKAGE, &test_tools_dir().join("schemathesis-venv"))
}

/// The PyPI requirement of the SCIM compliance checker that
/// `scripts/install-test-deps.sh` installs in `scim2-tester-venv` (with its
/// HTTP client).
pub const SCIM2_TESTER_PACKAGE: &str = "scim2-tester[httpx2]==0.5.2";

/// The Python of `scim2-tester-venv`, where scim2-tester is importable
/// (it is a library: the test runs a small script with it).
pub fn scim2_tester_python() -> Result<std::path::PathBuf, TestkitError> {
    let venv = test_tools_dir().join("scim2-tester-venv");
    let python = venv.join("bin/python");
    let imports = std::process::Command::new(&python).args(["-c", "import scim2_tester, httpx2"]).output().is_ok_and(|o| o.status.success());
    if imports {
        Ok(python)
    } else {
        Err(TestkitError::MissingPythonTool {
            binary: "python (with scim2_tester)".into(),
            package: SCIM2_TESTER_PACKAGE.into(),
            venv: venv.display().to_string(),
        })
    }
}

/// Errors from starting or driving a test server.
#[derive(Debug)]
#[non_exhaustive]
pub enum TestkitError {
    /// A needed binary is not installed.
    MissingBinary {
        binary: String,
        package: String,
    },
    /// A needed Python tool is not installed in its venv (nor on `PATH`).
    MissingPythonTool {
        binary: String,
        /// The PyPI requirement, e.g. `scim2-server==0.8.3`.
        package: String,
        /// The venv that was searched.
        venv: String,
    },
    /// A server did not come up; `log_tail` is the end of its log.
    Startup {
        what: String,
        log_tail: String,
    },
    /// A helper command (e.g. `createdb`) failed; `output` is its stderr/stdout.
    Command {
        what: String,
        output: String,
    },
    Io(io::Error),
}

impl fmt::Display for TestkitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestkitError::MissingBinary { binary, package } => write!(
                f,
                "{binary} not found: install the Debian package `{package}` \
                 (run scripts/install-test-deps.sh)"
            ),
            TestkitError::MissingPythonTool { binary, package, venv } => write!(
                f,
                "{binary} not found in {venv}/bin nor on PATH: install the PyPI package \
                 `{package}` in that venv (run ./scripts/install-test-deps.sh)"
            ),
            TestkitError::Startup { what, log_tail } => {
                write!(f, "{what} did not start; end of its log:\n{log_tail}")
            }
            TestkitError::Command { what, output } => write!(f, "{what} failed:\n{output}"),
            TestkitError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for TestkitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TestkitError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TestkitError {
    fn from(e: io::Error) -> Self {
        TestkitError::Io(e)
    }
}
