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
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0")
}

/// Finds `name` in `extra_dirs` (first) or on `PATH`. The error names the
/// Debian package that ships it and points at `scripts/install-test-deps.sh`.
pub fn find_binary(
    name: &str,
    debian_package: &str,
    extra_dirs: &[&str],
) -> Result<PathBuf, TestkitError> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    extra_dirs
        .iter()
        .map(PathBuf::from)
        .chain(path_dirs)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| TestkitError::MissingBinary {
            binary: name.to_string(),
            package: debian_package.to_string(),
        })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// True if something accepts TCP connections on 127.0.0.1:`port`.
pub fn tcp_accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
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
pub fn wait_until(
    child: &mut Child,
    what: &str,
    log: &Path,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), TestkitError> {
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
        return Err(TestkitError::Startup {
            what: problem,
            log_tail: log_tail(log, 30),
        });
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
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| TestkitError::Command {
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
    let parent = if is_root() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
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
        const SCRIPT: &str = r#"read _
kill -s "$1" "$2" 2>/dev/null
i=0
while kill -0 "$2" 2>/dev/null && ! grep -qs '^State:.*zombie' "/proc/$2/status" &&
    [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -s KILL "$2" 2>/dev/null
rm -rf "$3""#;
        let child = Command::new("sh")
            .args(["-c", SCRIPT, "writ-testkit-watchdog", signal])
            .arg(pid.to_string())
            .arg(dir)
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
