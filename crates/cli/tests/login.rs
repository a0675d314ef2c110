//! End to end: `writ login` against a real OpenID provider (npm
//! `oidc-provider`, started by writ-testkit) and a real `writ serve`. The
//! person at the browser is a real headless Chromium (writ-testkit's
//! `Browser`) in one test; the others drive the provider's own login pages
//! over HTTP, which is quicker. The `writ` binary does everything else.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use writ_testkit::{Browser, OidcProvider};

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::{text, writ_cmd, Server};

fn server_for(op: &OidcProvider) -> Server {
    Server::start_with_oidc(&op.issuer())
}

/// `writ --server … args…` with its config directory in `home`, no token given.
fn writ(s: &Server, home: &Path, args: &[&str]) -> Command {
    let mut c = writ_cmd();
    c.env("XDG_CONFIG_HOME", home).args(["--server", &s.url]).args(args);
    c
}

fn run(s: &Server, home: &Path, args: &[&str]) -> Output {
    writ(s, home, args).output().unwrap()
}

/// Starts `writ login args…`, waits for the stderr line starting with
/// `prefix` that holds a URL and returns the URL, with the child.
fn login_until_url(s: &Server, home: &Path, args: &[&str], prefix: &str) -> (std::process::Child, String) {
    let mut all = vec!["login"];
    all.extend_from_slice(args);
    let mut child = writ(s, home, &all).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("writ login ended before printing a URL").unwrap();
        match line.find("http") {
            Some(i) if line.starts_with(prefix) => break line[i..].trim().to_owned(),
            _ => {}
        }
    };
    // Keep draining stderr so that the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}

fn check_private(home: &Path) -> String {
    let dir = home.join("writ");
    let file = dir.join("session.json");
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let session: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    session["secret"].as_str().unwrap().to_owned()
}

#[test]
fn login_with_the_device_flow_then_work_then_logout() {
    let op = OidcProvider::start().unwrap();
    let s = server_for(&op);
    let home = tempfile::tempdir().unwrap();

    let (child, url) = login_until_url(&s, home.path(), &["--device"], "or open ");
    op.approve_device(&url, "alice").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("Signed in to") && text(&out.stdout).contains("as alice"), "{}", text(&out.stdout));
    let secret = check_private(home.path());

    // The stored token is used when none is given.
    let me = run(&s, home.path(), &["--json", "whoami"]);
    assert!(me.status.success(), "{}", text(&me.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&me.stdout).unwrap()["id"], "alice");
    let created =
        run(&s, home.path(), &["request", "create", "--entitlement", "pg-prod/payments_readonly", "--duration", "4h", "--justification", "INC-1 via sso"]);
    assert!(created.status.success(), "{}", text(&created.stderr));

    // Logout revokes it at the server and deletes it.
    let out = run(&s, home.path(), &["logout"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("revoked"), "{}", text(&out.stdout));
    assert!(!home.path().join("writ/session.json").exists());
    let after = writ_cmd().args(["--server", &s.url, "--token", &secret, "whoami"]).output().unwrap();
    assert!(!after.status.success());
    assert!(text(&after.stderr).contains("revoked"), "{}", text(&after.stderr));
    let none = run(&s, home.path(), &["whoami"]);
    assert!(text(&none.stderr).contains("writ login"), "{}", text(&none.stderr));

    // Neither the ID token (a JWT: `eyJ…`) nor the Writ token reached the server's log.
    let log = s.log();
    assert!(log.contains("token issued"), "the log is the server's: {log}");
    assert!(!log.contains("eyJ") && !log.contains(&secret), "{log}");
}

/// The browser flow with the provider's pages driven over HTTP (no Chromium
/// needed), and the session it leaves bound to the server it is for.
#[test]
fn login_through_the_browser_with_a_loopback_redirect() {
    let op = OidcProvider::start().unwrap();
    let s = server_for(&op);
    let home = tempfile::tempdir().unwrap();

    let (child, url) = login_until_url(&s, home.path(), &["--no-browser"], "");
    assert!(url.starts_with(&op.issuer()), "{url}");
    // The person signs in at the provider; the browser is sent back to writ.
    let back = op.approve(&url, "olivia").unwrap();
    let callback = back.strip_prefix("http://127.0.0.1:").unwrap();
    let (port, path) = callback.split_once('/').unwrap();
    let page = writ_testkit::http_get(port.parse().unwrap(), &format!("/{path}"), &[]).unwrap();
    assert!(page.body.contains("Signed in to Writ"), "{}", page.body);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stdout));
    check_private(home.path());
    let me = run(&s, home.path(), &["--json", "whoami"]);
    assert_eq!(serde_json::from_slice::<Value>(&me.stdout).unwrap()["id"], "olivia", "{}", text(&me.stderr));

    // A sign-in is only ever sent to the server it is for.
    let other = writ_cmd().env("XDG_CONFIG_HOME", home.path()).args(["--server", "http://127.0.0.1:9", "whoami"]).output().unwrap();
    assert!(text(&other.stderr).contains("no API token"), "{}", text(&other.stderr));
}

/// The whole browser flow with a real browser: headless Chromium signs alice
/// in on the provider's own pages, the provider sends it to `writ login`'s
/// loopback listener, and Chromium shows that listener's page.
#[test]
fn login_through_a_real_browser_with_a_loopback_redirect() {
    let op = OidcProvider::start().unwrap();
    let s = server_for(&op);
    let home = tempfile::tempdir().unwrap();
    let browser = Browser::start().unwrap();

    // `--no-browser`: writ only prints the URL, and the test's Chromium opens it.
    let (mut child, url) = login_until_url(&s, home.path(), &["--no-browser"], "");
    let signed_in = op.sign_in(&browser, &url, "alice");
    if signed_in.is_err() {
        // writ would wait minutes for a browser that will not come.
        let _ = child.kill();
    }
    let back = signed_in.unwrap();
    let listener = back.split_once("/callback?").map(|(origin, _)| origin).unwrap_or_else(|| panic!("not writ's callback: {back}"));
    assert!(listener.starts_with("http://127.0.0.1:") && listener != op.issuer(), "{back}");
    assert_eq!(browser.text("p").unwrap(), "Signed in to Writ: you can close this tab.", "at {back}");
    browser.screenshot("loopback-signed-in").unwrap();

    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("Signed in to") && text(&out.stdout).contains("as alice"), "{}", text(&out.stdout));
    check_private(home.path());
    let me = run(&s, home.path(), &["--json", "whoami"]);
    assert!(me.status.success(), "{}", text(&me.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&me.stdout).unwrap()["id"], "alice");
    for shot in ["provider-login", "provider-consent", "loopback-signed-in"] {
        let png = std::fs::read(browser.screenshot_dir().join(format!("{shot}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{shot} is no PNG");
    }
}

#[test]
fn login_to_a_server_without_single_sign_on_says_so() {
    let s = Server::start(None);
    let home = tempfile::tempdir().unwrap();
    let out = run(&s, home.path(), &["login", "--device"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("[oidc]"), "{}", text(&out.stderr));
}
