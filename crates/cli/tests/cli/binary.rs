//! The real `writ` binary against a stub HTTP server: exit codes, stderr, what is
//! sent, and the audit export format.

use std::process::{Command, Output};

use writ_api::{AuditEventView, EvidenceView};

use crate::fixtures::{self, REQ};
use crate::stub::{error, json, Stub};

const TOKEN: &str = "writ_0123456789abcdef";

fn writ(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(args)
        .env_remove("WRIT_SERVER")
        .env_remove("WRIT_TOKEN")
        .env_remove("WRIT_TOKEN_FILE")
        .env_remove("WRIT_DATABASE_URL")
        .env_remove("WRIT_CONFIG")
        .output()
        .unwrap()
}

/// `writ --server <stub> --token TOKEN <args>`.
fn writ_at(stub: &Stub, args: &[&str]) -> Output {
    let mut all = vec!["--server", &stub.url, "--token", TOKEN];
    all.extend_from_slice(args);
    writ(&all)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn assert_no_token(out: &Output) {
    assert!(!text(&out.stdout).contains(TOKEN) && !text(&out.stderr).contains(TOKEN), "the token leaked");
}

#[test]
fn without_a_token_it_says_how_to_set_one() {
    let out = writ(&["whoami"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: no API token: pass `--token TOKEN`, set `WRIT_TOKEN`"), "{err}");
}

#[test]
fn an_unreachable_server_says_to_start_one() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let out = writ(&["--server", &url, "--token", TOKEN, "request", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with(&format!("error: cannot reach the Writ server at {url}: ")), "{err}");
    assert!(err.trim_end().ends_with("(is `writ serve` running? set --server or WRIT_SERVER)"), "{err}");
    assert_no_token(&out);
}

#[test]
fn an_api_error_prints_the_servers_message_and_exits_1() {
    let stub =
        Stub::start(|_| (403, error("forbidden", "bob may not approve this request: ask a member of `security`")));
    let out = writ_at(&stub, &["request", "approve", REQ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: bob may not approve this request: ask a member of `security`\n");
    assert!(out.stdout.is_empty());
    assert_no_token(&out);
}

#[test]
fn create_sends_the_request_and_prints_the_next_step() {
    let stub = Stub::start(|_| (201, json(&fixtures::pending())));
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let out = writ(&[
        "--server",
        &stub.url,
        "--token-file",
        token_file.to_str().unwrap(),
        "request",
        "create",
        "-e",
        "pg/readonly",
        "-e",
        "ldap/ops",
        "--justification",
        "incident",
        "--duration",
        "8h",
        "--subject",
        "svc-report",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("request {REQ} is pending\nwaiting for stage `owner`")), "{stdout}");
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!((reqs[0].method.as_str(), reqs[0].target.as_str()), ("POST", "/v1/requests"));
    assert_eq!(reqs[0].authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(
        reqs[0].json(),
        serde_json::json!({
            "subject": "svc-report", "entitlements": ["pg/readonly", "ldap/ops"],
            "justification": "incident", "duration": "8h", "ticket": null,
        })
    );
}

#[test]
fn approving_into_fulfilment_names_the_fulfiller_group() {
    let stub = Stub::start(|req| match req.method.as_str() {
        "POST" => (200, json(&fixtures::approved())),
        _ => {
            let ev = EvidenceView {
                request: fixtures::approved(),
                tasks: vec![fixtures::task("open")],
                grants: vec![],
                events: vec![],
            };
            (200, json(&ev))
        }
    });
    let out = writ_at(&stub, &["request", "approve", REQ, "--reason", "ok"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("a fulfilment task is open for group `dba`"), "{}", text(&out.stdout));
    let reqs = stub.requests();
    assert_eq!(reqs[0].target, format!("/v1/requests/{REQ}/approve"));
    assert_eq!(reqs[0].json(), serde_json::json!({"reason": "ok"}));
    assert_eq!(reqs[1].target, format!("/v1/requests/{REQ}"));
}

#[test]
fn json_prints_the_servers_json() {
    let answer = serde_json::json!([fixtures::pending()]);
    let body = answer.to_string();
    let stub = Stub::start(move |_| (200, body.clone()));
    let out = writ_at(&stub, &["request", "list", "--state", "pending", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, answer);
    assert!(text(&out.stdout).contains("\n  {\n"), "not pretty");
    assert_eq!(stub.requests()[0].target, "/v1/requests?state=pending");
}

fn audit_stub(checkpoint_status: u16) -> Stub {
    Stub::start(move |req| match (req.method.as_str(), req.target.as_str()) {
        ("POST", "/v1/audit/checkpoints") if checkpoint_status == 204 => (204, String::new()),
        ("POST", "/v1/audit/checkpoints") => (checkpoint_status, error("forbidden", "only operators can sign")),
        ("GET", "/v1/audit/events?after=0&limit=10000") => (
            200,
            json(&[fixtures::event(1, "request.submitted", "alice"), fixtures::event(2, "policy.decided", "system")]),
        ),
        ("GET", "/v1/audit/events?after=2&limit=10000") => (200, json(&[fixtures::event(3, "review.recorded", "bob")])),
        ("GET", "/v1/audit/events?after=3&limit=10000") => (200, "[]".into()),
        ("GET", "/v1/audit/checkpoints") => (200, json(&[fixtures::checkpoint(3), fixtures::checkpoint(1)])),
        _ => (404, error("not_found", "no such route")),
    })
}

#[test]
fn audit_export_writes_events_then_checkpoints_as_json_lines() {
    let stub = audit_stub(204);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let out = writ_at(&stub, &["audit", "export", "--output", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), format!("exported 3 events and 2 checkpoints to {}\n", path.display()));
    assert!(out.stdout.is_empty());
    let file = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = file.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["event", "event", "event", "checkpoint", "checkpoint"]);
    assert!(file.starts_with("{\"type\":\"event\",\"seq\":1,"), "{file}");
    let mut event = lines[2].clone();
    event.as_object_mut().unwrap().remove("type");
    let event: AuditEventView = serde_json::from_value(event).unwrap();
    assert_eq!(event.hash, fixtures::event(3, "review.recorded", "bob").hash);
    assert_eq!((lines[3]["size"].as_u64(), lines[4]["size"].as_u64()), (Some(1), Some(3)));
    let targets: Vec<String> = stub.requests().iter().map(|r| format!("{} {}", r.method, r.target)).collect();
    assert_eq!(targets[0], "POST /v1/audit/checkpoints", "the head is signed first");
    assert_eq!(targets.last().unwrap(), "GET /v1/audit/checkpoints");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["audit.jsonl"]);
}

#[test]
fn audit_export_to_stdout_goes_on_when_it_may_not_sign() {
    let stub = audit_stub(403);
    let out = writ_at(&stub, &["audit", "export"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with("warning: no new checkpoint was signed (only operators can sign)"));
    assert_eq!(text(&out.stdout).lines().count(), 5);
}

#[test]
fn a_failed_export_leaves_no_file() {
    let stub = Stub::start(|req| match req.method.as_str() {
        "POST" => (204, String::new()),
        _ => (500, error("internal", "the database is unavailable: try again")),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let out = writ_at(&stub, &["audit", "export", "-o", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: the database is unavailable: try again\n");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
