//! Shared helpers for spawning throwaway servers: ports, binaries, temp dirs,
//! readiness polling, shutdown, log tails, and the orphan watchdog.
//!
//! No libc: uids come from `/proc/self/status` and `id`, signals are sent with the
//! shell's `kill` builtin.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::TestkitError;

/// A port that was free on 127.0.0.1 a moment ago (bind to port 0, read it back).
/// Another process may take it before the server binds it: spawners retry.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("cannot bind 127.0.0.1:0")
}

/// Finds `name` in `extra_dirs` (first) or on `PATH`. The error names the
/// Debian package that ships it and points at `scripts/install-test-deps.sh`.
pub fn find_binary(name: &str, debian_package: &str, extra_dirs: &[&str]) -> Result<PathBuf, TestkitError> {
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    extra_dirs
        .iter()
        .map(PathBuf::from)
        .chain(path_dirs)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| TestkitError::MissingBinary { binary: name.to_string(), package: debian_package.to_string() })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// True if something accepts TCP connections on 127.0.0.1:`port`.
pub fn tcp_accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Whether process `pid` itself holds the socket that listens on
/// 127.0.0.1:`port` (from `/proc/net/tcp` and `/proc/PID/fd`): a readiness
/// check can tell its own server from another process that took the port
/// first, when both would answer alike.
pub fn holds_listening_socket(pid: u32, port: u16) -> bool {
    let Ok(table) = fs::read_to_string("/proc/net/tcp") else { return false };
    // "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode";
    // the address is in the kernel's byte order, the port in hex; 0A is LISTEN.
    let locals = [format!("0100007F:{port:04X}"), format!("7F000001:{port:04X}")];
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let listening = fields.get(1).is_some_and(|a| locals.iter().any(|l| l == a)) && fields.get(3) == Some(&"0A");
            listening.then(|| fields.get(9).map(|inode| format!("socket:[{inode}]"))).flatten()
        })
        .collect();
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten().any(|fd| fs::read_link(fd.path()).is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str())))
}

/// The last `lines` lines of a log file (or a note that it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => tail_lines(&String::from_utf8_lossy(&bytes), lines),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

pub(crate) fn tail_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Polls `ready` every 25 ms until it returns true. Fails early (with the log
/// tail) if `child` exits, and after `timeout`. The caller stops the child on error.
pub fn wait_until(child: &mut Child, what: &str, log: &Path, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<(), TestkitError> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        let problem = if let Some(status) = child.try_wait()? {
            format!("{what} (exited: {status})")
        } else if Instant::now() >= deadline {
            format!("{what} (not ready after {timeout:?})")
        } else {
            sleep(Duration::from_millis(25));
            continue;
        };
        return Err(TestkitError::Startup { what: problem, log_tail: log_tail(log, 30) });
    }
}

/// Whether this process runs with effective uid 0 (from `/proc/self/status`).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?.to_string();
            // Uid: real effective saved fs
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// Uid and gid to run a server as: `Some(ids of user)` when we are root (servers
/// such as PostgreSQL refuse root), `None` otherwise (run as ourselves).
pub fn server_user(user: &str) -> Result<Option<(u32, u32)>, TestkitError> {
    if !is_root() {
        return Ok(None);
    }
    let id = |flag: &str| -> Result<u32, TestkitError> {
        let out = Command::new("id").args([flag, user]).output()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| TestkitError::Command {
            what: format!("id {flag} {user} (does the user `{user}` exist?)"),
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

/// A `Command` that runs as `user` (uid, gid; supplementary groups dropped) if given.
pub fn command_as(program: &Path, user: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// A fresh temp dir for one server: mode 0755, owned by `owner` if given. Under
/// /tmp when root (so a dropped-privilege server can traverse its parents),
/// else under the usual temp dir. Deleted when the `TempDir` is dropped.
pub fn server_dir(prefix: &str, owner: Option<(u32, u32)>) -> io::Result<TempDir> {
    let parent = if is_root() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    chown_to(dir.path(), owner)?;
    Ok(dir)
}

/// `chown` to `owner` if given (no-op otherwise).
pub fn chown_to(path: &Path, owner: Option<(u32, u32)>) -> io::Result<()> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)),
        None => Ok(()),
    }
}

/// Sends `signal` ("INT", "TERM", "KILL", ...) to `pid`; errors are ignored.
pub fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("sh")
        .args(["-c", "kill -s \"$0\" \"$1\" 2>/dev/null", signal])
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Sends `signal` and waits up to `grace` for the child to exit, then SIGKILLs it.
pub fn shutdown(child: &mut Child, signal: &str, grace: Duration) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    send_signal(child.id(), signal);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Like [`shutdown`], for a child started in its own process group
/// (`process_group(0)`): `signal` goes to the whole group, and once the child
/// has exited (or after `grace`) the group is SIGKILLed, which reaches what
/// the child started and did not stop itself (chromedriver leaves Chromium
/// running when it is signalled). The child is reaped only after that
/// SIGKILL: while it is an unreaped zombie its pid, which names the group,
/// cannot be given to another process.
pub fn shutdown_group(child: &mut Child, signal: &str, grace: Duration) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let group = format!("-{}", child.id());
    send_signal_to(&group, signal);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !is_zombie_or_gone(child.id()) {
        sleep(Duration::from_millis(10));
    }
    send_signal_to(&group, "KILL");
    let _ = child.wait();
}

/// Whether `pid` has exited (a zombie not yet reaped, or no process at all).
fn is_zombie_or_gone(pid: u32) -> bool {
    // /proc/PID/stat: "PID (comm) STATE …"; comm may hold spaces and parentheses.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_none_or(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// Whether a process of the group `pgid` is still running (zombies, which
/// have exited and wait to be reaped, do not count). Reads `/proc`.
pub fn process_group_alive(pgid: u32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else { return false };
    entries.flatten().any(|entry| {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { return false };
        // "PID (comm) STATE PPID PGRP …"; comm may hold spaces and parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        fields.first().is_some_and(|state| *state != "Z" && *state != "X") && fields.get(2) == Some(&pgid.to_string().as_str())
    })
}

/// `kill -s signal -- target`, where target is a pid or `-pgid`; errors ignored.
fn send_signal_to(target: &str, signal: &str) {
    let _ = Command::new("sh")
        .args(["-c", "kill -s \"$0\" -- \"$1\" 2>/dev/null", signal, target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Cleans up after a server if this (test) process dies without running `Drop`.
///
/// A `sh` in its own process group blocks reading a pipe whose write end only
/// this process holds. When the process exits, however it exits, the read
/// returns: the shell sends `signal` to the server, waits up to 10 s for it to
/// exit (or turn zombie: an orphan whose reaper is slow), SIGKILLs it, and
/// deletes `dir`. [`Watchdog::disarm`] (also on drop) kills the shell
/// first, for a normal stop.
pub struct Watchdog(Option<Child>);

impl Watchdog {
    pub fn spawn(pid: u32, signal: &str, dir: &Path) -> io::Result<Watchdog> {
        Watchdog::spawn_for(&pid.to_string(), pid, signal, dir)
    }

    /// Like [`Watchdog::spawn`] for a server that leads its own process
    /// group (see [`shutdown_group`]): the signals go to the whole group.
    pub fn spawn_group(pid: u32, signal: &str, dir: &Path) -> io::Result<Watchdog> {
        Watchdog::spawn_for(&format!("-{pid}"), pid, signal, dir)
    }

    /// `target` is what `kill` is given: `pid`, or `-pid` for its group.
    fn spawn_for(target: &str, pid: u32, signal: &str, dir: &Path) -> io::Result<Watchdog> {
        const SCRIPT: &str = r#"read _
kill -s "$1" -- "$2" 2>/dev/null
i=0
while kill -s 0 -- "$2" 2>/dev/null && ! grep -qs '^State:.*zombie' "/proc/$4/status" &&
    [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -s KILL -- "$2" 2>/dev/null
rm -rf "$3""#;
        let child = Command::new("sh")
            .args(["-c", SCRIPT, "writ-testkit-watchdog", signal, target])
            .arg(dir)
            .arg(pid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(Watchdog(Some(child)))
    }

    /// Kills the watchdog without letting it act.
    pub fn disarm(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// Runs `cmd` with stdin and stderr null and returns its exit status and
/// stdout, or `None` if it cannot start or takes longer than `timeout` (it is
/// then killed). For readiness probes, which must not hang on a port held by a
/// process that accepts connections but never answers.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> Option<(std::process::ExitStatus, Vec<u8>)> {
    use std::io::Read;
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some((status, reader.join().unwrap_or_default())),
            Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                // Not joined: a grandchild may still hold the pipe open; the
                // reader thread ends when it closes.
                return None;
            }
        }
    }
}

/// An answer from [`http_get`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names as sent (compare case-insensitively, see [`HttpResponse::header`]).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A plain `GET path` on `http://127.0.0.1:port`, see [`http_request`].
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> io::Result<HttpResponse> {
    http_request("GET", port, path, headers, None)
}

/// A minimal HTTP request on `http://127.0.0.1:port` (HTTP/1.0, so the server
/// closes the connection and sends no chunked body), with extra `headers` and
/// an optional body (`Content-Length` is added). Enough for readiness checks and
/// test assertions without an HTTP crate.
pub fn http_request(method: &str, port: u16, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> io::Result<HttpResponse> {
    use std::io::{Read, Write};
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("Connection: close\r\n\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| bad("no end of headers in HTTP answer"))?;
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status in HTTP answer"))?;
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_string(), v.trim().to_string())).collect();
    Ok(HttpResponse { status, headers, body: body.to_string() })
}

/// Attempts with a fresh port when another process grabbed ours first.
const PORT_ATTEMPTS: usize = 5;
/// How long a restart waits for its old port to be free again.
const RESTART_PORT_WAIT: Duration = Duration::from_secs(5);

/// One server process in its temp dir that can be stopped and started again on
/// the same port: the lifecycle shared by the LDAP, Redis and SCIM servers.
///
/// Each launch appends to one log file in the dir; a watchdog is armed for each
/// launch. `stop` keeps the dir; `close` (also on drop) stops and deletes it.
pub(crate) struct Supervised {
    what: &'static str,
    signal: &'static str,
    grace: Duration,
    timeout: Duration,
    port: u16,
    path: PathBuf,
    log: PathBuf,
    dir: Option<TempDir>,
    child: Option<Child>,
    watchdog: Option<Watchdog>,
    /// The server leads its own process group, and stops signal the group.
    group: bool,
    /// What the server logs when another process holds its port.
    port_taken: &'static str,
}

impl Supervised {
    /// `what` names the server in errors; `signal` stops it gracefully.
    pub(crate) fn new(dir: TempDir, what: &'static str, signal: &'static str, timeout: Duration) -> Supervised {
        let path = dir.path().to_path_buf();
        Supervised {
            what,
            signal,
            grace: Duration::from_secs(10),
            timeout,
            port: 0,
            log: path.join(format!("{what}.log")),
            path,
            dir: Some(dir),
            child: None,
            watchdog: None,
            group: false,
            port_taken: "Address already in use",
        }
    }

    /// The server says `marker` in its log (instead of "Address already in
    /// use") when another process holds its port: a start then retries on a
    /// fresh one.
    pub(crate) fn with_port_taken_marker(mut self, marker: &'static str) -> Supervised {
        self.port_taken = marker;
        self
    }

    /// Starts the server in its own process group and stops the whole group
    /// (see [`shutdown_group`]): for a server that starts processes of its own
    /// which outlive it when it alone is signalled.
    pub(crate) fn with_process_group(mut self) -> Supervised {
        self.group = true;
        self
    }

    fn shut(&self, child: &mut Child) {
        if self.group {
            shutdown_group(child, self.signal, self.grace);
        } else {
            shutdown(child, self.signal, self.grace);
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// First start: on a free port, again on a fresh one (up to 5 times) when
    /// the log says another process took it first. `command(port)` builds the
    /// server's command; `ready(launch)` says whether it answers (and is ours:
    /// another server may hold the port while ours is failing to bind it).
    pub(crate) fn start_on_free_port(&mut self, mut command: impl FnMut(u16) -> Command, mut ready: impl FnMut(&Launch) -> bool) -> Result<(), TestkitError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            match self.launch(port, &mut command, &mut ready) {
                Err(LaunchError::PortTaken(e)) if attempt >= PORT_ATTEMPTS => return Err(e),
                Err(LaunchError::PortTaken(_)) => continue,
                Err(LaunchError::Other(e)) => return Err(e),
                Ok(()) => {
                    self.port = port;
                    return Ok(());
                }
            }
        }
    }

    /// Starts again on the same port after [`Supervised::stop`] (no-op if
    /// running). If the port is busy (another process took it meanwhile),
    /// retries for up to 5 s, then fails.
    pub(crate) fn restart(&mut self, mut command: impl FnMut(u16) -> Command, mut ready: impl FnMut(&Launch) -> bool) -> Result<(), TestkitError> {
        // (A process found dead is cleaned up by is_running.)
        if self.is_running() {
            return Ok(());
        }
        if self.dir.is_none() {
            return Err(TestkitError::Io(io::Error::new(io::ErrorKind::NotFound, format!("{} was closed; its dir is gone", self.what))));
        }
        let deadline = Instant::now() + RESTART_PORT_WAIT;
        loop {
            match self.launch(self.port, &mut command, &mut ready) {
                Err(LaunchError::PortTaken(e)) if Instant::now() >= deadline => return Err(e),
                Err(LaunchError::PortTaken(_)) => sleep(Duration::from_millis(100)),
                Err(LaunchError::Other(e)) => return Err(e),
                Ok(()) => return Ok(()),
            }
        }
    }

    fn launch(&mut self, port: u16, command: &mut impl FnMut(u16) -> Command, ready: &mut impl FnMut(&Launch) -> bool) -> Result<(), LaunchError> {
        let log_start = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let log = fs::OpenOptions::new().create(true).append(true).open(&self.log).map_err(|e| LaunchError::Other(e.into()))?;
        let spawned = (|| {
            let mut cmd = command(port);
            if self.group {
                cmd.process_group(0);
            }
            let child = cmd.current_dir(&self.path).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).spawn()?;
            Ok::<_, io::Error>(child)
        })();
        let mut child = spawned.map_err(|e| LaunchError::Other(e.into()))?;
        let watchdog =
            if self.group { Watchdog::spawn_group(child.id(), self.signal, &self.path) } else { Watchdog::spawn(child.id(), self.signal, &self.path) };
        let mut watchdog = match watchdog {
            Ok(w) => w,
            Err(e) => {
                self.shut(&mut child);
                return Err(LaunchError::Other(e.into()));
            }
        };
        let launch = Launch { port, pid: child.id(), log: &self.log, log_start };
        let what = format!("{} on 127.0.0.1:{port}", self.what);
        match wait_until(&mut child, &what, &self.log, self.timeout, || ready(&launch)) {
            Ok(()) => {
                self.child = Some(child);
                self.watchdog = Some(watchdog);
                Ok(())
            }
            Err(e) => {
                watchdog.disarm();
                self.shut(&mut child);
                let taken = launch.log_since_start().contains(self.port_taken);
                Err(if taken { LaunchError::PortTaken(e) } else { LaunchError::Other(e) })
            }
        }
    }

    /// Whether the process is alive (it may have been stopped or have died).
    /// A process found dead is reaped and its watchdog disarmed first (its pid
    /// may be reused from then on).
    pub(crate) fn is_running(&mut self) -> bool {
        let alive = self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        if !alive {
            self.stop();
        }
        alive
    }

    /// The pid of the running process, if any.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Graceful stop (`signal`, SIGKILL after 10 s); keeps port, dir and log.
    pub(crate) fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.disarm();
        }
        if let Some(mut child) = self.child.take() {
            self.shut(&mut child);
        }
    }

    /// Stops and deletes the dir. Idempotent.
    pub(crate) fn close(&mut self) {
        self.stop();
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.close();
    }
}

/// One launch of a [`Supervised`] server, as its readiness check sees it.
pub(crate) struct Launch<'a> {
    pub(crate) port: u16,
    pub(crate) pid: u32,
    log: &'a Path,
    log_start: u64,
}

impl Launch<'_> {
    /// What this launch wrote to the log so far.
    pub(crate) fn log_since_start(&self) -> String {
        fs::read(self.log)
            .map(|l| {
                let new = l.get(self.log_start as usize..).unwrap_or_default();
                String::from_utf8_lossy(new).into_owned()
            })
            .unwrap_or_default()
    }
}

enum LaunchError {
    PortTaken(TestkitError),
    Other(TestkitError),
}
