//! A real `writ serve` for scenario tests: `writ init` into a temp dir, then the
//! server on a free port, stopped on drop; and the CLI run as a demo person.

#![allow(dead_code)] // each test binary uses what it needs

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::demo;

pub struct Server {
    child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub tokens: HashMap<String, String>,
    database_url: Option<String>,
    port: u16,
}

/// `writ serve` on the data in `dir`, appending its log to `serve.log`.
fn spawn(dir: &tempfile::TempDir, database_url: Option<&str>, port: u16) -> Child {
    spawn_node(dir.path(), database_url, port, "serve.log", None)
}

/// `writ serve` on the data in `dir` as node `node_id`, logging to `dir/log`.
fn spawn_node(dir: &Path, database_url: Option<&str>, port: u16, log: &str, node_id: Option<&str>) -> Child {
    let data = dir.join("writ-data");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(log)).unwrap();
    let mut cmd = writ_cmd();
    if let Some(url) = database_url {
        cmd.env("WRIT_DATABASE_URL", url);
    }
    if let Some(id) = node_id {
        cmd.env("WRIT_NODE_ID", id);
    }
    cmd.args(["serve", "--config", data.join("writ.toml").to_str().unwrap()])
        .env("WRIT_LISTEN", format!("127.0.0.1:{port}"))
        .env("WRIT_CHECKPOINT_EVERY", "1h")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Another `writ serve` on the same config and database: a second node.
pub struct Node {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl Node {
    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn writ_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_writ"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("WRIT_")) {
        c.env_remove(k);
    }
    // No sign-in of `writ login` from the machine's user: a test gives its own.
    c.env("XDG_CONFIG_HOME", std::env::temp_dir().join("writ-tests-no-sign-in"));
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Server {
    /// `writ init` into a temp dir, then `writ serve` on a free port, on SQLite or
    /// on the PostgreSQL database `database_url`.
    pub fn start(database_url: Option<&str>) -> Server {
        Self::start_with(database_url, |_| {})
    }

    /// [`Server::start`] on SQLite with `[oidc]` trusting `issuer` for
    /// writ-testkit's client id (sign-in by `writ login` and the portal).
    pub fn start_with_oidc(issuer: &str) -> Server {
        let issuer = issuer.to_owned();
        Self::start_with(None, move |data| {
            let config = data.join("writ.toml");
            let mut toml = std::fs::read_to_string(&config).unwrap();
            toml.push_str(&format!("\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"{}\"\n", writ_testkit::oidc::CLIENT_ID));
            std::fs::write(&config, toml).unwrap();
        })
    }

    /// [`Server::start`], with `setup` run on the data dir between `writ init`
    /// and `writ serve` (to add targets to the catalog and config).
    pub fn start_with(database_url: Option<&str>, setup: impl FnOnce(&Path)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("writ-data");
        let mut init = writ_cmd();
        if let Some(url) = database_url {
            init.env("WRIT_DATABASE_URL", url);
        }
        let tokens = demo::init_demo(init, &data);
        setup(&data);
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let child = spawn(&dir, database_url, port);
        let mut server = Server { child, url, dir, tokens, database_url: database_url.map(str::to_owned), port };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("server exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "server did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would: no shutdown work runs.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts `writ serve` again on the same data, port and settings.
    pub fn restart(&mut self) {
        self.child = spawn(&self.dir, self.database_url.as_deref(), self.port);
        self.wait_until_listening();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Starts another node, `node_id`, on this server's config and database
    /// (which must be PostgreSQL: SQLite serves one node), on its own port.
    pub fn start_node(&self, node_id: &str) -> Node {
        let port = free_port();
        let log = format!("serve-{node_id}.log");
        let mut child = spawn_node(self.dir.path(), self.database_url.as_deref(), port, &log, Some(node_id));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("node {node_id} exited with {status}: {}", std::fs::read_to_string(self.dir.path().join(&log)).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "node {node_id} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Node { child, url: format!("http://127.0.0.1:{port}"), log: self.dir.path().join(log) }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("writ-data/writ.db")
    }

    /// Runs `writ --server … --token <who's> args…`.
    pub fn as_(&self, who: &str, args: &[&str]) -> Output {
        writ_cmd().args(["--server", &self.url, "--token", &self.tokens[who]]).args(args).output().unwrap()
    }

    pub fn ok(&self, who: &str, args: &[&str]) -> String {
        let out = self.as_(who, args);
        assert!(out.status.success(), "{who} {args:?} failed: {}\nserver log:\n{}", text(&out.stderr), self.log());
        text(&out.stdout)
    }

    pub fn json(&self, who: &str, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(who, &all)).unwrap()
    }

    /// `GET path` as `who`, by plain HTTP (for what the CLI does not show,
    /// such as `/metrics`); panics unless it answers 200.
    pub fn get_text(&self, who: &str, path: &str) -> String {
        let response = reqwest::blocking::Client::new().get(format!("{}{path}", self.url)).bearer_auth(&self.tokens[who]).send().unwrap();
        assert!(response.status().is_success(), "GET {path} as {who}: {}", response.status());
        response.text().unwrap()
    }

    pub fn refused(&self, who: &str, args: &[&str], needle: &str) {
        let out = self.as_(who, args);
        assert_eq!(out.status.code(), Some(1), "{who} {args:?} should fail");
        let err = text(&out.stderr);
        assert!(err.contains(needle), "{who} {args:?}: `{err}` should contain `{needle}`");
    }

    /// SIGTERM, as an operator would stop it; the server signs a last checkpoint.
    pub fn stop(&mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                assert!(s.success(), "server exited with {s}: {}", self.log());
                return;
            }
            assert!(Instant::now() < deadline, "server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
