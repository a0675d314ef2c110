//! Throwaway Redis servers.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{self, Launch, Supervised};
use crate::tls::{TestCa, TlsFiles};
use crate::TestkitError;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Readiness probes give up after this (a port held by a process that never
/// answers must not hang the start).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `redis-server` (package `redis-server`) or `redis-cli` (package `redis-tools`).
pub fn redis_binary(name: &str) -> Result<PathBuf, TestkitError> {
    let package = if name == "redis-cli" { "redis-tools" } else { "redis-server" };
    process::find_binary(name, package, &[])
}

/// How clients authenticate to a [`RedisServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Auth {
    /// The `default` user, no password.
    None,
    /// `requirepass`: the `default` user with this password.
    Password(String),
    /// A named ACL user with every right (`on >PW ~* &* +@all`); the `default`
    /// user is off.
    User { name: String, password: String },
}

/// A throwaway Redis 7 server on 127.0.0.1 and a free port, in a temp dir;
/// stopped and deleted on drop.
///
/// Started in the foreground from a generated `redis.conf` with `save ""`,
/// `appendonly no` (nothing is ever written to disk), `bind 127.0.0.1`, and the
/// chosen authentication: none ([`RedisServer::start`]), `requirepass`
/// ([`RedisServer::start_with_password`]) or a named ACL user with every right
/// and the `default` user off ([`RedisServer::start_with_user`]).
///
/// [`RedisServer::stop`] and [`RedisServer::start_again`] take it down and
/// bring it back on the same port, **empty**: keys and the ACL users created at
/// run time (`ACL SETUSER`) are lost, as on a real Redis without persistence;
/// the configured authentication is back.
///
/// The temp dir holds `redis.conf` and `redis-server.log` (every start appends).
pub struct RedisServer {
    spec: Spec,
    proc: Supervised,
}

struct Spec {
    server: PathBuf,
    cli: PathBuf,
    conf: PathBuf,
    auth: Auth,
    /// The CA file clients trust (a copy in the server's dir), for a TLS server.
    tls_ca: Option<PathBuf>,
}

impl Spec {
    fn command(&self, port: u16) -> Command {
        let mut cmd = Command::new(&self.server);
        cmd.arg(&self.conf);
        if self.tls_ca.is_some() {
            // `port 0`: no plaintext listener at all, only TLS.
            cmd.args(["--port", "0", "--tls-port", &port.to_string()]);
        } else {
            cmd.args(["--port", &port.to_string()]);
        }
        cmd
    }

    /// `redis-cli` on `port`, authenticated (the password through
    /// `REDISCLI_AUTH`, so it is not on a command line), `-e` so that an error
    /// answer fails the command.
    fn cli(&self, port: u16) -> Command {
        let mut cmd = Command::new(&self.cli);
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-e"]).env_remove("REDISCLI_AUTH").stdin(Stdio::null());
        if let Some(ca) = &self.tls_ca {
            cmd.arg("--tls").arg("--cacert").arg(ca);
        }
        match &self.auth {
            Auth::None => {}
            Auth::Password(password) => {
                cmd.env("REDISCLI_AUTH", password);
            }
            Auth::User { name, password } => {
                cmd.args(["--user", name]).env("REDISCLI_AUTH", password);
            }
        }
        cmd
    }

    /// Our server logged that it listens, and `INFO server` answers with our
    /// process's pid: the server on the port is ours.
    fn ready(&self, launch: &Launch) -> bool {
        launch.log_since_start().contains("Ready to accept connections")
            && process::output_within(self.cli(launch.port).args(["INFO", "server"]), PROBE_TIMEOUT).is_some_and(|(status, stdout)| {
                status.success() && String::from_utf8_lossy(&stdout).lines().any(|l| l.trim_end() == format!("process_id:{}", launch.pid))
            })
    }
}

impl RedisServer {
    /// Starts a server without authentication and waits until it answers
    /// (a few tens of milliseconds).
    pub fn start() -> Result<RedisServer, TestkitError> {
        Self::start_auth(Auth::None)
    }

    /// Starts a server with `requirepass PASSWORD` (`[A-Za-z0-9_.-]+`).
    pub fn start_with_password(password: &str) -> Result<RedisServer, TestkitError> {
        check_token("password", password)?;
        Self::start_auth(Auth::Password(password.to_string()))
    }

    /// Starts a server whose only enabled user is `user` (with every right),
    /// authenticated by `password`; the `default` user is off. Both
    /// `[A-Za-z0-9_.-]+`.
    pub fn start_with_user(user: &str, password: &str) -> Result<RedisServer, TestkitError> {
        check_token("user", user)?;
        check_token("password", password)?;
        if user == "default" {
            return Err(invalid("use start_with_password for the default user".into()));
        }
        Self::start_auth(Auth::User { name: user.to_string(), password: password.to_string() })
    }

    /// Like [`RedisServer::start_with_user`], speaking only TLS (`port 0`,
    /// `tls-port`) with a certificate `ca` signed for 127.0.0.1/localhost;
    /// clients need no certificate of their own. [`RedisServer::url`] is
    /// `rediss://…`; [`RedisServer::cli`] speaks TLS too. Debian's
    /// `redis-server` 7 is built with TLS.
    pub fn start_tls(ca: &TestCa, user: &str, password: &str) -> Result<RedisServer, TestkitError> {
        check_token("user", user)?;
        check_token("password", password)?;
        Self::start_inner(Auth::User { name: user.to_string(), password: password.to_string() }, Some(ca))
    }

    fn start_auth(auth: Auth) -> Result<RedisServer, TestkitError> {
        Self::start_inner(auth, None)
    }

    fn start_inner(auth: Auth, tls: Option<&TestCa>) -> Result<RedisServer, TestkitError> {
        let server = redis_binary("redis-server")?;
        let cli = redis_binary("redis-cli")?;
        let dir = process::server_dir("writ-redis-", None)?;
        let conf = dir.path().join("redis.conf");
        let tls = tls.map(|ca| ca.files().install(dir.path(), None)).transpose()?;
        fs::write(&conf, redis_conf(dir.path(), &auth, tls.as_ref()))?;
        let tls_ca = tls.map(|f| f.ca);
        let mut redis = RedisServer { spec: Spec { server, cli, conf, auth, tls_ca }, proc: Supervised::new(dir, "redis-server", "TERM", STARTUP_TIMEOUT) };
        let spec = &redis.spec;
        redis.proc.start_on_free_port(|port| spec.command(port), |l| spec.ready(l))?;
        Ok(redis)
    }

    /// `redis://127.0.0.1:PORT/`, `redis://:PASSWORD@127.0.0.1:PORT/` or
    /// `redis://USER:PASSWORD@127.0.0.1:PORT/` (no escaping needed: names and
    /// passwords are `[A-Za-z0-9_.-]+`).
    pub fn url(&self) -> String {
        let port = self.port();
        let scheme = if self.spec.tls_ca.is_some() { "rediss" } else { "redis" };
        match &self.spec.auth {
            Auth::None => format!("{scheme}://127.0.0.1:{port}/"),
            Auth::Password(pw) => format!("{scheme}://:{pw}@127.0.0.1:{port}/"),
            Auth::User { name, password } => {
                format!("{scheme}://{name}:{password}@127.0.0.1:{port}/")
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.proc.port()
    }

    /// The user clients authenticate as, if a named ACL user was configured.
    pub fn username(&self) -> Option<&str> {
        match &self.spec.auth {
            Auth::User { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The password clients authenticate with, if any.
    pub fn password(&self) -> Option<&str> {
        match &self.spec.auth {
            Auth::None => None,
            Auth::Password(pw) | Auth::User { password: pw, .. } => Some(pw),
        }
    }

    /// The temp dir (`redis.conf`, `redis-server.log`); gone after drop.
    pub fn dir(&self) -> &Path {
        self.proc.path()
    }

    pub fn log_path(&self) -> &Path {
        self.proc.log()
    }

    /// Runs `redis-cli` with these arguments against the server, authenticated
    /// as configured; returns its stdout. An error answer (or no server) is an
    /// `Err` with redis-cli's message.
    pub fn cli(&self, args: &[&str]) -> Result<String, TestkitError> {
        let out = self.spec.cli(self.port()).args(args).output()?;
        if !out.status.success() {
            return Err(TestkitError::Command {
                what: format!("redis-cli {} ({})", args.join(" "), out.status),
                output: String::from_utf8_lossy(&[&out.stderr[..], &out.stdout[..]].concat()).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether the server is running (false after [`RedisServer::stop`] or if it died).
    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }

    /// Stops the server (SIGTERM, SIGKILL after 10 s); keeps its port and dir
    /// for [`RedisServer::start_again`]. Idempotent.
    pub fn stop(&mut self) {
        self.proc.stop();
    }

    /// Starts the server again on the same port after [`RedisServer::stop`]
    /// (no-op while it runs); it comes back empty (see the type's doc). Fails if
    /// another process holds the port for more than 5 s.
    pub fn start_again(&mut self) -> Result<(), TestkitError> {
        let spec = &self.spec;
        self.proc.restart(|port| spec.command(port), |l| spec.ready(l))
    }
}

fn redis_conf(dir: &Path, auth: &Auth, tls: Option<&TlsFiles>) -> String {
    let tls = match tls {
        None => String::new(),
        Some(f) => format!(
            "tls-cert-file \"{}\"\ntls-key-file \"{}\"\ntls-ca-cert-file \"{}\"\ntls-auth-clients no\n",
            f.cert.display(),
            f.key.display(),
            f.ca.display()
        ),
    };
    let auth = match auth {
        Auth::None => String::new(),
        Auth::Password(pw) => format!("requirepass {pw}\n"),
        Auth::User { name, password } => {
            format!("user {name} on >{password} ~* &* +@all\nuser default off\n")
        }
    };
    format!(
        "# Generated by writ-testkit: a throwaway test server. The port is on the command line.
bind 127.0.0.1
protected-mode yes
daemonize no
logfile \"\"
dir \"{dir}\"
save \"\"
appendonly no
{tls}{auth}",
        dir = dir.display(),
    )
}

fn check_token(what: &str, value: &str) -> Result<(), TestkitError> {
    let ok = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("redis {what} {value:?} is not [A-Za-z0-9_.-]+")))
    }
}

fn invalid(message: String) -> TestkitError {
    TestkitError::Io(io::Error::new(io::ErrorKind::InvalidInput, message))
}
