//! A real `writ serve` for the tests of this binary: `writ init --dir` into a temp
//! dir (SQLite, the demo catalog, policies and people), then `writ serve` on a port
//! the system picks. One server is started lazily per test process and shared by
//! its tests; each test makes its own requests, so tests do not depend on one
//! another (they only read data they created, or check properties that hold
//! whatever the others did).
//!
//! A `static` is never dropped, so the server is not a direct child of the test
//! process: a small `sh` watchdog starts it and then blocks reading its stdin, a
//! pipe whose only writer is this process. When the process ends, however it
//! ends (normal exit, panic, `SIGKILL`), the pipe closes, the read returns, and the
//! watchdog stops the server and removes the temp dir. Nothing is left behind.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `writ` binary under test, with no `WRIT_*` settings from the environment
/// (a developer's own, which would otherwise change what the tests see).
pub fn writ_cmd() -> Command {
    without_writ_env(Command::new(env!("CARGO_BIN_EXE_writ")))
}

/// Removes every `WRIT_*` variable from the command's environment.
fn without_writ_env(mut c: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WRIT_") {
            c.env_remove(name);
        }
    }
    c
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Starts the watchdog and server, waits until it listens, and stops them when
/// the process ends. `$0` is the `writ` binary, `$1` the config, `$2` the server's
/// log file, `$3` the temp dir to remove afterwards.
const WATCHDOG: &str = r#"
"$0" serve --config "$1" </dev/null 2>"$2" &
pid=$!
exec >/dev/null
read _ || true
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rm -rf "$3"
"#;

pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The data directory `writ init` made: config, `writ.db`, `audit-signing.pub`.
    pub data: PathBuf,
    tokens: HashMap<String, String>,
    log: PathBuf,
    /// Holds the write end of the watchdog's stdin open until the process ends.
    _watchdog: Child,
    /// The server's stdout, kept open so that a late line cannot fail on a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

static SERVER: LazyLock<Server> = LazyLock::new(Server::start);

/// The server shared by this test process, started on first use.
pub fn server() -> &'static Server {
    &SERVER
}

impl Server {
    fn start() -> Server {
        let began = Instant::now();
        // Removed on drop if starting fails before the watchdog owns it.
        let tmp = tempfile::Builder::new().prefix("writ-cli-test-").tempdir().unwrap();
        let root = tmp.path().to_owned();
        let data = root.join("writ-data");
        let tokens = crate::demo::init_demo(writ_cmd(), &data);
        let log = root.join("serve.log");
        let mut watchdog = without_writ_env(Command::new("sh"))
            .arg("-c")
            .arg(WATCHDOG)
            .arg(env!("CARGO_BIN_EXE_writ"))
            .arg(data.join("writ.toml"))
            .arg(&log)
            .arg(&root)
            // Port 0: the server binds a free port and prints it, so no other
            // process can take the port between choosing and binding it.
            .env("WRIT_LISTEN", "127.0.0.1:0")
            // Checkpoints are signed only when asked (by `audit export`) or at shutdown.
            .env("WRIT_CHECKPOINT_EVERY", "1h")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Not the test's own stderr: a test runner waits for those to close.
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _ = tmp.keep(); // the watchdog removes it
        let stdout = watchdog.stdout.take().unwrap();
        // The first line is `writ is serving on http://ADDR`, printed once it listens.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let read = stdout.read_line(&mut line);
            let _ = tx.send((read.map(|_| line), stdout));
        });
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        let (line, stdout) = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("writ serve did not start within 60 s:\n{}", log_text()));
        let line = line.unwrap();
        let url = line
            .trim()
            .strip_prefix("writ is serving on ")
            .unwrap_or_else(|| panic!("writ serve did not start (it printed `{line}`):\n{}", log_text()))
            .to_owned();
        if std::env::var_os("CLI_TEST_TIMING").is_some() {
            eprintln!("writ init + serve ready in {:?}", began.elapsed());
        }
        Server { url, data, tokens, log, _watchdog: watchdog, _stdout: stdout }
    }

    pub fn token(&self, who: &str) -> &str {
        self.tokens.get(who).unwrap_or_else(|| panic!("no demo token for `{who}`"))
    }

    /// What the server logged so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `--trusted-key @…/audit-signing.pub`'s value: the server's public key file.
    pub fn trusted_key(&self) -> String {
        format!("@{}", self.data.join("audit-signing.pub").display())
    }

    /// `writ --server URL --token <who's> ARGS…`.
    pub fn writ(&self, who: &str, args: &[&str]) -> Output {
        writ_cmd().args(["--server", &self.url, "--token", self.token(who)]).args(args).output().unwrap()
    }

    /// Like [`Server::writ`], asserting success and no leaked token; returns stdout.
    pub fn ok(&self, who: &str, args: &[&str]) -> String {
        let out = self.writ(who, args);
        assert!(out.status.success(), "{who}: writ {args:?} failed: {}\nserver log:\n{}", text(&out.stderr), self.log());
        self.assert_no_token(&out);
        text(&out.stdout)
    }

    /// `writ --json ARGS…` as `who`, parsed.
    pub fn json(&self, who: &str, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(who, &all)).unwrap()
    }

    /// Asserts that no demo token appears in the command's stdout or stderr.
    pub fn assert_no_token(&self, out: &Output) {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        for (who, token) in &self.tokens {
            assert!(!stdout.contains(token.as_str()) && !stderr.contains(token.as_str()), "{who}'s token leaked");
        }
    }

    /// The HTTP API itself, without the CLI: `(status, JSON body)` of
    /// `METHOD URL/PATH` with `who`'s token (and an empty JSON body for POST).
    pub fn api(&self, who: &str, method: &str, path: &str) -> (u16, Value) {
        let client = reqwest::blocking::Client::new();
        let url = format!("{}{path}", self.url);
        let req = match method {
            "GET" => client.get(url),
            "POST" => client.post(url).json(&serde_json::json!({})),
            _ => panic!("unsupported method {method}"),
        };
        let resp = req.bearer_auth(self.token(who)).send().unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().unwrap();
        (status, if body.is_empty() { Value::Null } else { serde_json::from_str(&body).unwrap() })
    }

    /// The message of the error the API answers `who` with for `METHOD PATH`.
    pub fn api_error(&self, who: &str, method: &str, path: &str) -> (u16, String) {
        let (status, body) = self.api(who, method, path);
        assert!(status >= 400, "{method} {path} as {who} should fail, answered {status} {body}");
        (status, body["message"].as_str().unwrap_or_else(|| panic!("no error message in {body}")).to_owned())
    }
}

/// Writes `token` to `dir/token`, as a token file.
pub fn token_file(dir: &Path, token: &str) -> PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path
}
