//! A test process killed outright (no `Drop`) leaves no server behind: the
//! watchdogs stop the servers and delete their dirs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use writ_testkit::process::{process_group_alive, tcp_accepts};
use writ_testkit::{Browser, LdapServer, RedisServer, ScimServer};

/// Run in a child process by the test below: starts one server of each kind,
/// stops and restarts them (so the watchdog of a second launch is the one
/// armed), and a browser (whose watchdog stops a process group), prints their
/// pids, ports and dirs, then waits to be killed.
#[test]
#[ignore = "helper: run by a_killed_test_process_leaves_no_server_running"]
fn helper_start_servers_and_hang() {
    if std::env::var_os("WRIT_TESTKIT_HELPER").is_none() {
        return;
    }
    let mut ldap = LdapServer::start().unwrap();
    let mut redis = RedisServer::start_with_password("pw").unwrap();
    let mut scim = ScimServer::start().unwrap();
    ldap.stop();
    ldap.start_again().unwrap();
    redis.stop();
    redis.start_again().unwrap();
    scim.stop();
    scim.start_again().unwrap();
    let browser = Browser::start().unwrap();
    browser.goto("data:text/html,<p>about to be killed</p>").unwrap();
    for (pid, port, dir) in [
        (ldap.pid(), ldap.port(), ldap.dir()),
        (redis.pid(), redis.port(), redis.dir()),
        (scim.pid(), scim.port(), scim.dir()),
        (browser.chromedriver_pid(), browser.chromedriver_port(), browser.dir()),
    ] {
        println!("SERVER {} {port} {}", pid.unwrap(), dir.display());
    }
    println!("READY");
    std::thread::sleep(Duration::from_secs(120));
    panic!("not killed");
}

fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Err(_) => true,
        // Killed but not yet reaped by its new parent.
        Ok(status) => status.lines().any(|l| l.starts_with("State:") && l.contains("zombie")),
    }
}

#[test]
fn a_killed_test_process_leaves_no_server_running() {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_start_servers_and_hang", "--ignored", "--nocapture"])
        .env("WRIT_TESTKIT_HELPER", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut servers = Vec::new();
    for line in BufReader::new(helper.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "READY" {
            break;
        }
        if let Some(rest) = line.strip_prefix("SERVER ") {
            let mut parts = rest.splitn(3, ' ');
            let pid: u32 = parts.next().unwrap().parse().unwrap();
            let port: u16 = parts.next().unwrap().parse().unwrap();
            let dir = parts.next().unwrap().to_string();
            servers.push((pid, port, dir));
        }
    }
    assert_eq!(servers.len(), 4, "the helper did not start its servers");
    for (pid, port, dir) in &servers {
        assert!(!gone(*pid) && tcp_accepts(*port) && Path::new(dir).is_dir());
    }

    helper.kill().unwrap(); // SIGKILL: no Drop runs
    helper.wait().unwrap();
    let t = Instant::now();
    let deadline = t + Duration::from_secs(20);
    for (pid, port, dir) in &servers {
        // chromedriver leads a process group, with Chromium in it (no group
        // bears the pid of one of the other servers).
        while !(gone(*pid) && !process_group_alive(*pid) && !tcp_accepts(*port) && !Path::new(dir).exists()) {
            assert!(Instant::now() < deadline, "server {pid} on port {port} ({dir}) still there 20 s after its test process died");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    eprintln!("watchdogs cleaned up 3 servers and a browser in {:?}", t.elapsed());
}
