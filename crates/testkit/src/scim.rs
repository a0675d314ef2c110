//! Throwaway SCIM 2.0 servers: the PyPI `scim2-server`, from its venv.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{self, HttpResponse, Launch, Supervised};
use crate::tls::{TestCa, TlsFiles};
use crate::TestkitError;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The PyPI requirement `scripts/install-test-deps.sh` installs.
pub const SCIM_PACKAGE: &str = "scim2-server==0.8.3";
/// The bearer token of [`ScimServer::start`].
pub const DEFAULT_TOKEN: &str = "writ-scim-test-token";

/// The venv holding `scim2-server` (see [`crate::python_tool`]).
pub fn scim_venv() -> PathBuf {
    crate::test_tools_dir().join("scim-venv")
}

/// `scim2-server`, looked up in [`scim_venv`]`/bin` then `PATH`. The error
/// names the PyPI package and the install script.
pub fn scim_server_binary() -> Result<PathBuf, TestkitError> {
    crate::python_tool("scim2-server", SCIM_PACKAGE, &scim_venv())
}

/// A throwaway SCIM 2.0 server (`scim2-server` 0.8.3, Python) on 127.0.0.1 and
/// a free port; stopped and its temp dir deleted on drop.
///
/// Serves `Users` and `Groups` (RFC 7643 schemas; filters, PATCH, paging) under
/// [`ScimServer::base_url`] (`http://127.0.0.1:PORT/v2`), and accepts only
/// requests with `Authorization: Bearer TOKEN` (401 otherwise; the discovery
/// endpoints such as `/ServiceProviderConfig` are open).
///
/// **Its state is in memory only**: [`ScimServer::stop`] then
/// [`ScimServer::start_again`] brings it back on the same port and token but
/// **empty** (every user and group is lost, ids included).
///
/// The temp dir holds `scim2-server.log` (its request log; every start appends).
pub struct ScimServer {
    spec: Spec,
    proc: Supervised,
}

struct Spec {
    binary: PathBuf,
    token: String,
    /// For a server over HTTPS: the venv's Python, the wrapper script and
    /// the installed TLS files.
    tls: Option<ScimTls>,
}

struct ScimTls {
    python: PathBuf,
    script: PathBuf,
    files: TlsFiles,
}

/// Runs scim2-server's own command line (`scim2_server.testserver.cli.main`:
/// same argument parsing, same WSGI application, same threading server), with
/// its listening socket wrapped by Python's `ssl` module: scim2-server has no
/// TLS option of its own, and putting a proxy in front would test the proxy.
const SCIM_TLS_WRAPPER: &str = r#"import ssl, sys
from scim2_server.testserver import cli

cert, key = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
sys.argv[0] = "scim2-server"
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
plain_make_server = cli.make_server

def make_server(*args, **kwargs):
    server = plain_make_server(*args, **kwargs)
    # The handshake runs in accept(); a client that gives up on it (wrong CA)
    # raises ssl.SSLError there, an OSError the server loop already ignores.
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server

cli.make_server = make_server
cli.main()
"#;

impl Spec {
    fn command(&self, port: u16) -> Command {
        let mut cmd = match &self.tls {
            None => Command::new(&self.binary),
            Some(tls) => {
                let mut cmd = Command::new(&tls.python);
                cmd.arg(&tls.script).arg(&tls.files.cert).arg(&tls.files.key);
                cmd
            }
        };
        cmd.args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .args(["--bearer-token", &self.token])
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        cmd
    }

    /// Our process says it serves on this port (it prints that after binding,
    /// so the HTTP probe cannot reach a process that took the port first), and
    /// an authenticated `GET /v2/Users` answers 200.
    /// Over HTTPS the harness has no client of its own: the line (printed by
    /// our process after it bound the port, so the port is ours) and a TCP
    /// accept must do.
    fn ready(&self, launch: &Launch) -> bool {
        let port = launch.port;
        // scim2-server prints `http://` whatever the socket speaks.
        let serving = format!("Serving SCIM on http://127.0.0.1:{port}/v2");
        launch.log_since_start().contains(&serving)
            && if self.tls.is_some() { process::tcp_accepts(port) } else { request(port, &self.token, "GET", "/Users", None).is_ok_and(|r| r.status == 200) }
    }
}

fn request(port: u16, token: &str, method: &str, path: &str, body: Option<&str>) -> io::Result<HttpResponse> {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str()), ("Accept", "application/scim+json")];
    if body.is_some() {
        headers.push(("Content-Type", "application/scim+json"));
    }
    process::http_request(method, port, &format!("/v2{path}"), &headers, body)
}

impl ScimServer {
    /// Starts a server accepting [`DEFAULT_TOKEN`] and waits until it answers
    /// (about half a second: Python starting).
    pub fn start() -> Result<ScimServer, TestkitError> {
        Self::start_with_token(DEFAULT_TOKEN)
    }

    /// Starts a server accepting the bearer token `token`
    /// (`[A-Za-z0-9._~+/=-]+`).
    pub fn start_with_token(token: &str) -> Result<ScimServer, TestkitError> {
        let ok = !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~+/=-".contains(&b));
        if !ok {
            return Err(TestkitError::Io(io::Error::new(io::ErrorKind::InvalidInput, format!("bearer token {token:?} is not [A-Za-z0-9._~+/=-]+"))));
        }
        Self::start_inner(token, None)
    }

    /// Like [`ScimServer::start`], over HTTPS only, with a certificate `ca`
    /// signed for 127.0.0.1/localhost (scim2-server's own command and
    /// application, its socket wrapped by Python's `ssl`).
    /// [`ScimServer::base_url`] is `https://…`; the plain-HTTP helpers
    /// ([`ScimServer::get`], [`ScimServer::request`]) answer an error.
    pub fn start_tls(ca: &TestCa) -> Result<ScimServer, TestkitError> {
        Self::start_inner(DEFAULT_TOKEN, Some(ca))
    }

    fn start_inner(token: &str, tls: Option<&TestCa>) -> Result<ScimServer, TestkitError> {
        let binary = scim_server_binary()?;
        let dir = process::server_dir("writ-scim-", None)?;
        let tls = match tls {
            None => None,
            Some(ca) => {
                let files = ca.files().install(dir.path(), None)?;
                let script = dir.path().join("scim2_server_tls.py");
                std::fs::write(&script, SCIM_TLS_WRAPPER)?;
                // The venv's interpreter, next to the scim2-server script.
                let python = binary.with_file_name("python3");
                Some(ScimTls { python, script, files })
            }
        };
        let mut server =
            ScimServer { spec: Spec { binary, token: token.to_string(), tls }, proc: Supervised::new(dir, "scim2-server", "TERM", STARTUP_TIMEOUT) };
        let spec = &server.spec;
        server.proc.start_on_free_port(|port| spec.command(port), |l| spec.ready(l))?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT/v2` (no trailing slash): append `/Users`, `/Groups`, ...
    pub fn base_url(&self) -> String {
        let scheme = if self.spec.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/v2", self.proc.port())
    }

    pub fn port(&self) -> u16 {
        self.proc.port()
    }

    /// The bearer token the server accepts.
    pub fn token(&self) -> &str {
        &self.spec.token
    }

    /// The temp dir (`scim2-server.log`); gone after drop.
    pub fn dir(&self) -> &Path {
        self.proc.path()
    }

    pub fn log_path(&self) -> &Path {
        self.proc.log()
    }

    /// An authenticated `GET` of `path` under the base URL (`"/Users"`,
    /// `"/Groups?filter=..."`: the caller URL-encodes the query).
    pub fn get(&self, path: &str) -> io::Result<HttpResponse> {
        self.request("GET", path, None)
    }

    /// An authenticated request (`POST`, `PATCH`, `PUT`, `DELETE`, ...) of
    /// `path` under the base URL, with an optional SCIM JSON body.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> io::Result<HttpResponse> {
        if self.spec.tls.is_some() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "this SCIM server speaks HTTPS; the harness's helpers speak plain HTTP"));
        }
        request(self.port(), &self.spec.token, method, path, body)
    }

    /// Whether the server is running (false after [`ScimServer::stop`] or if it died).
    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }

    /// Stops the server (SIGTERM, SIGKILL after 10 s); keeps its port and dir
    /// for [`ScimServer::start_again`]. Its data is gone. Idempotent.
    pub fn stop(&mut self) {
        self.proc.stop();
    }

    /// Starts the server again on the same port and token after
    /// [`ScimServer::stop`] (no-op while it runs), **empty**. Fails if another
    /// process holds the port for more than 5 s.
    pub fn start_again(&mut self) -> Result<(), TestkitError> {
        let spec = &self.spec;
        self.proc.restart(|port| spec.command(port), |l| spec.ready(l))
    }
}
