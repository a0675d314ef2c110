//! The real `writ` binary: exit codes, stderr, the token never shown, `--json`,
//! the next-step hints and the audit export format. Against a real `writ serve`
//! (see `server.rs`), except where no server is the point.
//!
//! The server is shared by the tests of this process, so each test makes its own
//! requests and checks only those, or properties that hold whatever the other
//! tests did concurrently.

use std::process::Output;

use serde_json::Value;
use writ_api::{AuditEventView, CheckpointView, RequestView};

use crate::server::{server, text, token_file, writ_cmd, Server};

/// A token for the tests that never reach a server.
const TOKEN: &str = "writ_0123456789abcdef";

fn writ(args: &[&str]) -> Output {
    writ_cmd().args(args).output().unwrap()
}

/// `alice` asks for `entitlement` for herself; returns the request id.
fn create(s: &Server, entitlement: &str, duration: &str, justification: &str) -> String {
    let created = s.json("alice", &["request", "create", "-e", entitlement, "--duration", duration, "--justification", justification]);
    created["id"].as_str().unwrap().to_owned()
}

/// The request as the server holds it.
fn request(s: &Server, id: &str) -> Value {
    s.json("alice", &["request", "show", id])["request"].clone()
}

#[test]
fn without_a_token_it_says_how_to_set_one() {
    let out = writ(&["whoami"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: no API token: sign in with `writ login`, pass `--token TOKEN`, set `WRIT_TOKEN`"), "{err}");
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
    assert!(!text(&out.stdout).contains(TOKEN) && !err.contains(TOKEN), "the token leaked");
}

#[test]
fn an_api_error_prints_the_servers_message_and_exits_1() {
    let s = server();
    let id = create(s, "pg-prod/payments_readonly", "4h", "binary: an api error");
    // What the API itself answers bob; a refused review changes nothing.
    let (status, message) = s.api_error("bob", "POST", &format!("/v1/requests/{id}/approve"));
    assert_eq!(status, 403);
    assert!(message.contains("`bob` has no authority to review"), "{message}");

    let out = s.writ("bob", &["request", "approve", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), format!("error: {message}\n"));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    s.assert_no_token(&out);
    assert_eq!(request(s, &id)["state"], "pending");
    assert_eq!(request(s, &id)["reviews"], serde_json::json!([]));
}

#[test]
fn create_sends_the_request_and_prints_the_next_step() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    let token_file = token_file(dir.path(), s.token("alice"));
    let justification = "binary: create for svc-billing";
    let out = writ_cmd()
        .args(["--server", &s.url, "--token-file", token_file.to_str().unwrap()])
        .args(["request", "create", "-e", "pg-prod/payments_readonly", "-e", "ldap-corp/vpn-users"])
        .args(["--justification", justification, "--duration", "8h", "--subject", "svc-billing"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    s.assert_no_token(&out);
    let stdout = text(&out.stdout);
    let id = stdout.strip_prefix("request ").and_then(|rest| rest.split_once(" is pending\n")).unwrap_or_else(|| panic!("{stdout}")).0.to_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(
        lines[1],
        format!(
            "waiting for stage `owner` of `pg-prod/payments_readonly` (the entitlement owners): \
             ask them to run `writ request approve {id}`"
        )
    );
    assert_eq!(
        lines[2],
        format!(
            "waiting for stage `manager` of `ldap-corp/vpn-users` (the subject's manager): \
             ask them to run `writ request approve {id}`"
        )
    );
    assert!(lines[3].starts_with("it lapses if not decided by "), "{stdout}");

    // What was sent, as the server recorded it: alice's token (from the file)
    // made her the requester, and every field arrived as given.
    let req: RequestView = serde_json::from_value(request(s, &id)).unwrap();
    assert_eq!((req.requester.as_str(), req.subject.as_str()), ("alice", "svc-billing"));
    assert_eq!(req.entitlements, ["pg-prod/payments_readonly", "ldap-corp/vpn-users"]);
    assert_eq!((req.justification.as_str(), req.duration.as_str(), req.ticket), (justification, "8h", None));
}

/// The fulfilment hint for the request's one open task, as the server holds it.
fn fulfilment_hint(s: &Server, id: &str, entitlement: &str) -> String {
    let ev = s.json("alice", &["request", "show", id]);
    let tasks = ev["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{ev}");
    assert_eq!((tasks[0]["state"].as_str(), tasks[0]["fulfiller_group"].as_str()), (Some("open"), Some("dba")));
    format!(
        "a fulfilment task is open for group `dba` (`{entitlement}` for `alice`): \
         a member runs `writ task complete {} --evidence ...` once it is done",
        tasks[0]["id"].as_str().unwrap()
    )
}

#[test]
fn approving_into_fulfilment_names_the_fulfiller_group() {
    let s = server();
    let id = create(s, "pg-prod/payments_readonly", "4h", "binary: approve into fulfilment");
    let approve = |who: &str, reason: &str| s.ok(who, &["request", "approve", &id, "--reason", reason]);

    assert_eq!(
        approve("olivia", "owner ok"),
        format!(
            "request {id} is pending\nwaiting for stage `security` (members of group `security`, 0 of 2 approvals): \
             ask them to run `writ request approve {id}`\nit lapses if not decided by {}\n",
            lapses(s, &id)
        )
    );
    assert!(approve("sam", "").contains("(members of group `security`, 1 of 2 approvals)"));
    let out = approve("sue", "ok");
    assert_eq!(out, format!("request {id} is approved\n{}\n", fulfilment_hint(s, &id, "pg-prod/payments_readonly")));

    let reviews = request(s, &id)["reviews"].clone();
    let got: Vec<(&str, &str, &str)> =
        reviews.as_array().unwrap().iter().map(|r| (r["reviewer"].as_str().unwrap(), r["verdict"].as_str().unwrap(), r["reason"].as_str().unwrap())).collect();
    assert_eq!(got, [("olivia", "approve", "owner ok"), ("sam", "approve", ""), ("sue", "approve", "ok")]);
}

/// `it lapses if not decided by …`'s time, as `writ` prints it.
fn lapses(s: &Server, id: &str) -> String {
    let req: RequestView = serde_json::from_value(request(s, id)).unwrap();
    writ_cli::output::short_time(&req.lapses_at)
}

#[test]
fn an_auto_approved_request_names_the_fulfiller_group_at_once() {
    let s = server();
    let out = s.ok("alice", &["request", "create", "-e", "pg-prod/analytics_read", "--duration", "8h", "--justification", "binary: auto-approved"]);
    let id = out.strip_prefix("request ").and_then(|r| r.split_once(" is approved\n")).unwrap_or_else(|| panic!("{out}")).0;
    assert_eq!(out, format!("request {id} is approved\n{}\n", fulfilment_hint(s, id, "pg-prod/analytics_read")));
    let req = request(s, id);
    assert_eq!(req["reviews"], serde_json::json!([]), "no human reviewed it");
    let auto = req["decisions"].as_array().unwrap().iter().find(|d| d["action"] == "auto_approve").unwrap().clone();
    assert_eq!(auto["allowed"], true, "{auto}");
}

#[test]
fn json_prints_the_servers_json() {
    let s = server();
    let pending = create(s, "pg-prod/payments_readonly", "2h", "binary: json, pending");
    let approved = create(s, "pg-prod/analytics_read", "2h", "binary: json, approved");

    // One request's evidence: nobody else touches it, so it must be exactly what
    // the API answers, pretty-printed.
    let out = s.writ("alice", &["request", "show", &pending, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    s.assert_no_token(&out);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (status, answer) = s.api("alice", "GET", &format!("/v1/requests/{pending}"));
    assert_eq!(status, 200);
    assert_eq!(printed, answer);
    assert_eq!(text(&out.stdout), format!("{}\n", serde_json::to_string_pretty(&answer).unwrap()));

    // A list others add to concurrently: the filter reached the server.
    let out = s.writ("alice", &["request", "list", "--state", "pending", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\n  {\n"), "not pretty");
    let listed: Vec<RequestView> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listed.iter().all(|r| r.state == "pending"), "{listed:?}");
    assert!(listed.iter().any(|r| r.id == pending), "{pending} not listed");
    assert!(!listed.iter().any(|r| r.id == approved), "{approved} is approved, not pending");
}

/// Parses an export: its events, then its checkpoints, asserting the order.
fn parse_export(jsonl: &str) -> (Vec<AuditEventView>, Vec<CheckpointView>) {
    let (mut events, mut checkpoints) = (Vec::new(), Vec::new());
    for line in jsonl.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        let kind = v.as_object_mut().unwrap().remove("type").unwrap();
        match kind.as_str().unwrap() {
            "event" => {
                assert!(checkpoints.is_empty(), "an event after a checkpoint: {line}");
                events.push(serde_json::from_value::<AuditEventView>(v).unwrap());
            }
            "checkpoint" => checkpoints.push(serde_json::from_value::<CheckpointView>(v).unwrap()),
            other => panic!("unknown line type `{other}`: {line}"),
        }
    }
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "events are the whole log in seq order");
    assert!(checkpoints.windows(2).all(|w| w[0].size < w[1].size), "checkpoints by size");
    assert!(!events.is_empty() && !checkpoints.is_empty());
    (events, checkpoints)
}

/// The seq of the `request.submitted` event of request `id`.
fn submitted(events: &[AuditEventView], id: &str) -> u64 {
    let e = events.iter().find(|e| e.kind == "request.submitted" && e.request_id.as_deref() == Some(id));
    e.unwrap_or_else(|| panic!("no request.submitted event for {id}")).seq
}

#[test]
fn audit_export_writes_events_then_checkpoints_as_json_lines() {
    let s = server();
    let id = create(s, "pg-prod/payments_readonly", "1h", "binary: audit export to a file");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let out = s.writ("audrey", &["audit", "export", "--output", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    s.assert_no_token(&out);
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));

    let file = std::fs::read_to_string(&path).unwrap();
    assert!(file.starts_with("{\"type\":\"event\",\"seq\":1,"), "{file}");
    let (events, checkpoints) = parse_export(&file);
    assert_eq!(text(&out.stderr), format!("exported {} events and {} checkpoints to {}\n", events.len(), checkpoints.len(), path.display()));
    // The head was signed before the export, so a checkpoint covers this test's request.
    let seq = submitted(&events, &id);
    assert!(checkpoints.last().unwrap().size >= seq, "no checkpoint covers event {seq}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["audit.jsonl"]);

    // And it verifies offline, against the server's own key.
    let out = writ_cmd().args(["audit", "verify", "--file", path.to_str().unwrap(), "--trusted-key", &s.trusted_key()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("audit log verified: {} events in {}\n", events.len(), path.display())), "{stdout}");
}

#[test]
fn audit_export_to_stdout_prints_only_the_export() {
    let s = server();
    let id = create(s, "pg-prod/payments_readonly", "1h", "binary: audit export to stdout");
    let out = s.writ("audrey", &["audit", "export"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    s.assert_no_token(&out);
    assert_eq!(text(&out.stderr), "", "no summary, no warning");
    let stdout = text(&out.stdout);
    let (events, checkpoints) = parse_export(&stdout);
    assert_eq!(stdout.lines().count(), events.len() + checkpoints.len());
    assert!(checkpoints.last().unwrap().size >= submitted(&events, &id));
}

#[test]
fn a_failed_export_warns_then_fails_and_leaves_no_file() {
    let s = server();
    // alice is in no oversight group: the server refuses to sign, then to read.
    let (status, message) = s.api_error("alice", "GET", "/v1/audit/events?after=0&limit=10000");
    assert_eq!(status, 403);
    assert_eq!(s.api_error("alice", "POST", "/v1/audit/checkpoints"), (403, message.clone()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let out = s.writ("alice", &["audit", "export", "-o", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    s.assert_no_token(&out);
    assert_eq!(text(&out.stderr), format!("warning: no new checkpoint was signed ({message}); the export ends at the last checkpoint\nerror: {message}\n"));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file, not even a partial one");
}

#[test]
fn break_glass_through_the_cli_is_loud_and_names_its_reviewers() {
    let s = server();
    // bob is on call; analytics_read is low risk (fulfilled by the DBAs).
    let out = s.writ("bob", &["break-glass", "use", "-e", "pg-prod/analytics_read", "-d", "1h", "-r", "binary: INC-9 dashboards down", "--ticket", "INC-9"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let id = stdout.strip_prefix("request ").and_then(|r| r.split_once(" is approved\n")).unwrap_or_else(|| panic!("{stdout}")).0.to_owned();
    assert!(stdout.contains("BREAK-GLASS: granted without approval"), "{stdout}");
    assert!(stdout.contains(&format!("from one of oscar: `writ break-glass review {id} --accept|--reject --note ...`")), "{stdout}");

    // Too long for policy: refused, and said so.
    let out = s.writ("bob", &["break-glass", "use", "-e", "pg-prod/analytics_read", "-d", "6h", "-r", "binary: too long"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("is denied"), "{}", text(&out.stdout));

    // The reviewer sees it awaiting review; reviewing needs a verdict.
    let listed = s.ok("oscar", &["break-glass", "list"]);
    assert!(listed.lines().any(|l| l.starts_with(&id) && l.contains("awaiting")), "{listed}");
    let out = s.writ("oscar", &["break-glass", "review", &id, "--note", "x"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses a review without --accept or --reject");
    let out = s.writ("oscar", &["break-glass", "review", &id, "--accept", "--note", "binary: INC-9 was real"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("break-glass use accepted by oscar: binary: INC-9 was real"), "{}", text(&out.stdout));
    let shown = s.ok("oscar", &["request", "show", &id]);
    assert!(shown.contains("origin") && shown.contains("BREAK-GLASS") && shown.contains("break_glass.used"), "{shown}");
}
