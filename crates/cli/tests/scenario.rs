//! End to end: the real `writ` binary, a real `writ serve` on SQLite, the demo
//! catalog and policies. A request needing two stages (owner, then 2 of 3
//! security) is refused a self-review and a double review, approved, fulfilled by
//! hand with evidence, shown, exported and verified; then the SQLite file is
//! tampered with four ways and `writ audit verify` must name the right event.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::{text, writ_cmd, Server};

fn verify(args: &[&str]) -> Output {
    writ_cmd().args(["audit", "verify"]).args(args).output().unwrap()
}

/// Copies the database, applies `sql` to the copy, and returns the copy's URL.
fn tampered(src: &Path, dir: &Path, name: &str, sql: &[String]) -> String {
    let dst = dir.join(format!("{name}.db"));
    std::fs::copy(src, &dst).unwrap();
    // An attacker edits the database as SQLite sees it, write-ahead log included.
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", src.display()));
        if side.exists() {
            std::fs::copy(&side, format!("{}{suffix}", dst.display())).unwrap();
        }
    }
    let url = format!("sqlite://{}", dst.display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for s in sql {
            sqlx::query(s).execute(&mut c).await.unwrap();
        }
        c.close().await.unwrap();
    });
    url
}

/// Submits a two-stage request and takes it to active, checking the refusals on
/// the way; returns its id.
fn two_stage_flow(s: &Server) -> String {
    let created = s.json(
        "alice",
        &[
            "request",
            "create",
            "--entitlement",
            "pg-prod/payments_readonly",
            "--duration",
            "4h",
            "--justification",
            "investigate INC-1234",
            "--ticket",
            "INC-1234",
        ],
    );
    assert_eq!(created["state"], "pending");
    let id = created["id"].as_str().unwrap().to_owned();
    let approve = |who: &str| s.json(who, &["request", "approve", &id, "--reason", &format!("ok from {who}")]);

    s.refused("alice", &["request", "approve", &id], "requested this access and cannot review it");
    s.refused("sam", &["request", "approve", &id], "no authority");
    assert_eq!(approve("olivia")["state"], "pending");
    s.refused("olivia", &["request", "approve", &id], "one person counts once per request");
    s.refused("oscar", &["request", "approve", &id], "no authority"); // owner stage already passed
    assert_eq!(approve("sam")["state"], "pending");
    s.refused("sam", &["request", "approve", &id], "one person counts once per request");
    let approved = approve("sue");
    assert_eq!(approved["state"], "approved");
    s.refused("sid", &["request", "approve", &id], "cannot review request in state `approved`");

    let tasks = s.json("dana", &["task", "list"]);
    let task = tasks.as_array().unwrap().iter().find(|t| t["request_id"] == id.as_str()).expect("a task for dba").clone();
    let task_id = task["id"].as_str().unwrap();
    s.refused("sam", &["task", "complete", task_id, "--evidence", "done"], "not in the fulfiller group");
    s.refused("dana", &["task", "complete", task_id, "--evidence", "  "], "evidence");
    s.ok("dana", &["task", "complete", task_id, "--evidence", "GRANT payments_readonly TO alice; \\du shows it"]);

    let grants = s.json("alice", &["grant", "list"]);
    assert_eq!(grants.as_array().unwrap().len(), 1, "{grants}");
    let shown = s.ok("alice", &["request", "show", &id]);
    for needle in [
        "investigate INC-1234",
        "INC-1234",
        "request-permit-active",
        "review-permit-active",
        "auto_approve",
        "olivia",
        "sam",
        "sue",
        "2 of 2",
        "dana",
        "GRANT payments_readonly TO alice",
        "request.activated",
        "grant.started",
        "(active)",
    ] {
        assert!(shown.contains(needle), "`request show` lacks `{needle}`:\n{shown}");
    }
    s.refused("bob", &["request", "show", &id], "not found");
    id
}

#[test]
fn two_stage_request_on_postgresql() {
    let pg = writ_testkit::PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let url = pg.create_database("writ_scenario").unwrap();
    let mut s = Server::start(Some(&url));
    let id = two_stage_flow(&s);
    let export = s.dir.path().join("audit.jsonl");
    s.ok("audrey", &["audit", "export", "--output", export.to_str().unwrap()]);
    s.stop();
    let key = format!("@{}", s.dir.path().join("writ-data/audit-signing.pub").display());
    for source in [["--database", url.as_str()], ["--file", export.to_str().unwrap()]] {
        let out = verify(&[source[0], source[1], "--trusted-key", &key]);
        assert!(out.status.success(), "{source:?}: {}", text(&out.stderr));
    }
    assert!(std::fs::read_to_string(&export).unwrap().contains(&id));
}

#[test]
fn two_stage_request_from_submission_to_verified_evidence_and_tamper_detection() {
    let mut s = Server::start(None);
    let id = two_stage_flow(&s);

    // Export and verify offline, with the server's key pinned.
    let export = s.dir.path().join("audit.jsonl");
    s.ok("audrey", &["audit", "export", "--output", export.to_str().unwrap()]);
    let key = format!("@{}", s.dir.path().join("writ-data/audit-signing.pub").display());
    let out = verify(&["--file", export.to_str().unwrap(), "--trusted-key", &key]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("audit log verified"));

    s.stop();
    let db = s.db();
    let url = format!("sqlite://{}", db.display());
    let out = verify(&["--database", &url, "--trusted-key", &key, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = report["events"].as_u64().unwrap();
    assert_eq!(report["last_checkpoint_size"].as_u64(), Some(n), "the shutdown checkpoint covers the whole log");

    // Find the event that recorded the submission: its seq is what must be named.
    let events: Vec<Value> = std::fs::read_to_string(&export).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seq_of = |kind: &str| events.iter().find(|e| e["kind"] == kind && e["request_id"] == id.as_str()).unwrap()["seq"].as_u64().unwrap();
    let submitted = seq_of("request.submitted");
    let reviewed = seq_of("review.recorded");
    let granted = seq_of("grant.started");
    let cols = "at, actor, kind, request_id, payload, prev_hash, hash";
    let tmp = s.dir.path();
    let cases: Vec<(&str, Vec<String>, String)> = vec![
        (
            "edit",
            vec![format!("UPDATE audit_events SET payload = replace(payload, 'investigate', 'vacation') WHERE seq = {submitted}")],
            format!("event {submitted} was edited"),
        ),
        ("delete", vec![format!("DELETE FROM audit_events WHERE seq = {reviewed}")], format!("event {reviewed} is missing")),
        (
            "swap",
            vec![
                format!("CREATE TABLE t AS SELECT seq, {cols} FROM audit_events WHERE seq IN ({reviewed}, {granted})"),
                format!("UPDATE audit_events SET ({cols}) = (SELECT {cols} FROM t WHERE t.seq = {granted}) WHERE seq = {reviewed}"),
                format!("UPDATE audit_events SET ({cols}) = (SELECT {cols} FROM t WHERE t.seq = {reviewed}) WHERE seq = {granted}"),
            ],
            format!("event {reviewed}"),
        ),
        ("truncate", vec![format!("DELETE FROM audit_events WHERE seq > {}", n - 3)], format!("covers {n} events but the log ends at {}", n - 3)),
    ];
    for (name, sql, needle) in cases {
        let url = tampered(&db, tmp, name, &sql);
        let out = verify(&["--database", &url, "--trusted-key", &key]);
        assert_eq!(out.status.code(), Some(1), "{name}: verify should fail, printed {}", text(&out.stdout));
        let err = text(&out.stderr);
        assert!(err.contains(&needle), "{name}: `{err}` should contain `{needle}`");
        if name == "swap" {
            assert!(err.contains("reordered") || err.contains("sealed as"), "{name}: {err}");
        }
    }
}

#[test]
fn policy_check_config_errors_and_init_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = writ_cmd().args(["init", "--dir", data.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = writ_cmd().args(["init", "--dir", data.to_str().unwrap()]).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists") && text(&again.stderr).contains("--force"));

    let policies = data.join("policies");
    let ok = writ_cmd().args(["policy", "check", policies.to_str().unwrap()]).output().unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("request-permit-active"));
    // A typo in an attribute name: the error names the file and line.
    std::fs::write(
        policies.join("zz_broken.cedar"),
        "// a broken policy\npermit (principal, action == Writ::Action::\"request\", resource)\nwhen { principal.statuz == \"active\" };\n",
    )
    .unwrap();
    let bad = writ_cmd().args(["policy", "check", policies.to_str().unwrap()]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(err.contains("zz_broken.cedar:3:"), "{err}");
    assert!(err.contains("statuz"), "{err}");
    // The server refuses to start on it too, and on a bad config key.
    let serve = writ_cmd().args(["serve", "--config", data.join("writ.toml").to_str().unwrap()]).env("WRIT_LISTEN", "127.0.0.1:0").output().unwrap();
    assert_eq!(serve.status.code(), Some(1));
    assert!(text(&serve.stderr).contains("zz_broken.cedar:3:"), "{}", text(&serve.stderr));
    std::fs::remove_file(policies.join("zz_broken.cedar")).unwrap();
    let serve = writ_cmd().args(["serve", "--config", data.join("writ.toml").to_str().unwrap()]).env("WRIT_LAPSE_AFTER", "forever").output().unwrap();
    assert_eq!(serve.status.code(), Some(1));
    assert!(text(&serve.stderr).contains("config key `lapse_after`"), "{}", text(&serve.stderr));
}

/// Deleting the newest events together with the checkpoints that cover them
/// passes a verification of the database alone (the checkpoints live in it);
/// the checkpoints the server published to its witness directory catch it.
/// Several nodes' keys may be trusted at once, from one file.
#[test]
fn a_log_cut_with_its_checkpoints_is_caught_by_the_published_witness() {
    // The demo configuration publishes to `writ-data/witness`.
    let mut s = Server::start(None);
    let witness = s.dir.path().join("writ-data/witness");
    two_stage_flow(&s);
    // An export signs a checkpoint first (POST /v1/audit/checkpoints).
    s.ok("audrey", &["audit", "export", "--output", s.dir.path().join("first.jsonl").to_str().unwrap()]);
    let early = std::fs::read_dir(&witness).unwrap().count();
    assert!(early >= 1, "the signed checkpoint was published");
    for why in ["month-end close", "quarterly audit"] {
        s.ok("bob", &["request", "create", "--entitlement", "pg-prod/payments_readonly", "--duration", "1h", "--justification", why]);
    }
    s.stop(); // the shutdown checkpoint covers the whole log, and is published too
    let published = std::fs::read_dir(&witness).unwrap().count();
    assert!(published > early, "{published} files");

    let db = s.db();
    let url = format!("sqlite://{}", db.display());
    let key = std::fs::read_to_string(s.dir.path().join("writ-data/audit-signing.pub")).unwrap();
    let keys = s.dir.path().join("node-keys.pub");
    std::fs::write(&keys, format!("# node a\n{}\n# node b\n{}\n", key.trim(), "ab".repeat(32))).unwrap();
    let trusted = format!("@{}", keys.display());
    let out = verify(&["--database", &url, "--trusted-key", &trusted, "--witness", witness.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = report["events"].as_u64().unwrap();
    assert_eq!(report["latest_witnessed_size"].as_u64(), Some(n), "{report}");

    // Cut the newest events and every checkpoint past what remains.
    let keep = n - 3;
    let cut = tampered(
        &db,
        s.dir.path(),
        "cut",
        &[
            format!("DELETE FROM audit_events WHERE seq > {keep}"),
            format!("DELETE FROM audit_checkpoints WHERE size > {keep}"),
            format!("UPDATE audit_head SET seq = {keep}, hash = (SELECT hash FROM audit_events WHERE seq = {keep})"),
        ],
    );
    let out = verify(&["--database", &cut, "--trusted-key", &trusted]);
    assert!(out.status.success(), "the database alone cannot tell: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no --witness given"), "{}", text(&out.stdout));
    let out = verify(&["--database", &cut, "--trusted-key", &trusted, "--witness", witness.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("covers {n} events but the log ends at {keep}")), "{err}");

    // A witnessed checkpoint by a key nobody trusts is refused, naming the set.
    let out = verify(&["--database", &url, "--trusted-key", &"cd".repeat(32), "--witness", witness.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not by a trusted key"), "{}", text(&out.stderr));
}

/// `writ serve` says on stderr, at start-up, which connections would cross the
/// network without verified TLS, and is quiet about the ones on this machine
/// (the demo's PostgreSQL target is on 127.0.0.1).
#[test]
fn serve_warns_about_plaintext_connections_to_other_machines() {
    let server = Server::start_with(None, |data| {
        let config = data.join("writ.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        // The witness is never reached before the test ends: a checkpoint is
        // signed every hour here.
        std::fs::write(&config, text.replace("audit_witness_url = \"\"", "audit_witness_url = \"http://witness.example.com/checkpoints\"")).unwrap();
    });
    let log = server.log();
    let warning = log.lines().find(|l| l.contains("WARN") && l.contains("audit_witness_url")).unwrap_or_else(|| panic!("no warning in:\n{log}"));
    assert!(warning.contains("witness.example.com") && warning.contains("without verified TLS") && warning.contains("https://"), "{warning}");
    assert!(!log.contains("target `pg-demo` is reached"), "127.0.0.1 is this machine:\n{log}");
}
