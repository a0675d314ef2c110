//! Break-glass on a real PostgreSQL target, with the clock moved by hand and a
//! real webhook receiver: access at once for whom policy allows, never longer
//! than policy's maximum; a loud trail (audit event, signed notification); a
//! review by a named owner with a deadline; an overdue or rejected review
//! listed as an exception until settled; and expiry as for any grant.

mod common;

use chrono::TimeDelta;
use serde_json::{json, Value};
use writ_testkit::PgServer;

use common::webhook::Receiver;
use common::{harness_with_pg, Harness, ManualClock};

fn holds_reporting(pg: &PgServer, who: &str) -> bool {
    pg.psql(&format!(
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
         WHERE r.rolname = 'reporting' AND u.rolname = '{who}'"
    ))
    .unwrap()
        == "1"
}

async fn break_glass(h: &Harness, who: &str, duration: &str) -> Value {
    let (status, v) = h
        .post(who, "/v1/break-glass", json!({ "entitlements": ["pg-live/reporting"], "justification": "INC-42: payments reports stuck, need to read the queue", "duration": duration, "ticket": "INC-42" }))
        .await;
    assert_eq!(status.as_u16(), 201, "{v}");
    v
}

async fn exceptions(h: &Harness, who: &str) -> Vec<Value> {
    let (status, v) = h.get(who, "/v1/break-glass?exceptions=true").await;
    assert!(status.is_success(), "{v}");
    v.as_array().unwrap().clone()
}

async fn metric(h: &Harness, name: &str) -> String {
    let (_, text) = h.get("audrey", "/metrics").await;
    let text = text.as_str().unwrap().to_owned();
    text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name} in {text}")).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_is_immediate_bounded_loud_reviewed_and_still_expires() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE bob LOGIN; CREATE ROLE alice LOGIN").unwrap();
    let hooks = Receiver::start().await;
    let clock = ManualClock::new();
    let h = harness_with_pg(pg.url(), clock.clone(), |data| hooks.config(data)).await;
    let writ = h.app.writ.clone();

    // Policy bounds it: the demo allows on-call engineers up to 4 hours. A
    // refused attempt is recorded as a denied request, and changes nothing.
    let too_long = break_glass(&h, "bob", "5h").await;
    assert_eq!(too_long["state"], "denied", "{too_long}");
    assert!(too_long["outcome_reason"].as_str().unwrap().contains("refused by policy"), "{too_long}");
    let not_oncall = break_glass(&h, "alice", "1h").await;
    assert_eq!(not_oncall["state"], "denied", "alice is not on call: {not_oncall}");
    writ.run_due_jobs(50).await.unwrap();
    assert!(!holds_reporting(&pg, "bob") && !holds_reporting(&pg, "alice"));

    // Bob, on call, gets it at once: no approval, the grant starts with the next job run.
    let used = break_glass(&h, "bob", "2h").await;
    let id = used["id"].as_str().unwrap().to_owned();
    assert_eq!(used["state"], "approved", "{used}");
    assert_eq!(used["origin"], "break_glass");
    let review = &used["post_review"];
    assert_eq!(review["status"], "awaiting", "{used}");
    assert_eq!(review["reviewers"], json!(["oscar"]), "the entitlement's owner reviews it");
    assert_eq!(review["exception"], false);
    writ.run_due_jobs(50).await.unwrap();
    assert!(holds_reporting(&pg, "bob"), "granted on the target at once");
    let (_, ev) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    assert_eq!(ev["request"]["state"], "active", "{ev}");
    assert_eq!(ev["grants"][0]["state"], "active");
    let kinds: Vec<&str> = ev["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"break_glass.used") && kinds.contains(&"entitlement.verified"), "{kinds:?}");

    // Loud: a signed notification names who, what, why and the reviewer.
    writ.run_due_jobs(50).await.unwrap();
    let loud = hooks.accepted("break_glass_used");
    assert_eq!(loud.len(), 1, "{:?}", hooks.all());
    let body = loud[0].json();
    assert_eq!(body["request"], id.as_str());
    let summary = body["summary"].as_str().unwrap();
    assert!(summary.contains("BREAK-GLASS") && summary.contains("`bob`") && summary.contains("INC-42") && summary.contains("oscar"), "{summary}");
    assert_eq!(hooks.accepted("access_granted").len(), 1);

    // Only a named reviewer who was not involved may review it.
    let note = json!({ "verdict": "accept", "note": "looked fine" });
    let (status, v) = h.post("bob", &format!("/v1/break-glass/{id}/review"), note.clone()).await;
    assert_eq!(status.as_u16(), 403, "{v}");
    let (status, v) = h.post("sam", &format!("/v1/break-glass/{id}/review"), note.clone()).await;
    assert_eq!(status.as_u16(), 403, "sam is not a named reviewer: {v}");
    let (status, v) = h.post("oscar", &format!("/v1/break-glass/{id}/review"), json!({ "verdict": "maybe", "note": "x" })).await;
    assert_eq!(status.as_u16(), 400, "{v}");
    assert!(exceptions(&h, "audrey").await.is_empty(), "not yet due");
    assert!(metric(&h, "writ_break_glass_exceptions").await.ends_with(" 0"));

    // The deadline (24h by default) passes: an exception, noted once and notified.
    clock.advance(TimeDelta::hours(24) + TimeDelta::seconds(1));
    assert_eq!(writ.note_overdue_reviews().await.unwrap(), 1);
    assert_eq!(writ.note_overdue_reviews().await.unwrap(), 0, "noted once");
    let listed = exceptions(&h, "audrey").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["post_review"]["status"], "overdue");
    assert!(metric(&h, "writ_break_glass_exceptions").await.ends_with(" 1"));
    writ.run_due_jobs(50).await.unwrap();
    assert_eq!(hooks.accepted("review_overdue").len(), 1);

    // Break-glass never bypasses expiry: the 2h grant is removed and proved gone.
    assert_eq!(writ.expire_due(50).await.unwrap(), 1);
    writ.run_due_jobs(50).await.unwrap();
    assert!(!holds_reporting(&pg, "bob"), "expired like any grant");
    let (_, ev) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    assert_eq!(ev["grants"][0]["state"], "expired", "{ev}");

    // A rejection keeps it an exception until a reviewer resolves it.
    let (status, v) = h.post("oscar", &format!("/v1/break-glass/{id}/review"), json!({ "verdict": "reject", "note": "no incident INC-42 was open" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(v["post_review"]["status"], "rejected");
    let listed = exceptions(&h, "audrey").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["post_review"]["status"], "rejected");
    let (status, v) = h.post("oscar", &format!("/v1/break-glass/{id}/resolve"), json!({ "note": "   " })).await;
    assert_eq!(status.as_u16(), 422, "a note is required: {v}");
    let (status, v) = h.post("oscar", &format!("/v1/break-glass/{id}/resolve"), json!({ "note": "spoke with bob; on-call runbook updated" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(v["post_review"]["status"], "resolved");
    assert!(exceptions(&h, "audrey").await.is_empty(), "settled");
    assert!(metric(&h, "writ_break_glass_exceptions").await.ends_with(" 0"));

    // The whole trail is in the audit log, in order.
    let (_, ev) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    let kinds: Vec<&str> = ev["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["break_glass.used", "break_glass.review_overdue", "grant.removal_verified", "break_glass.reviewed", "break_glass.resolved"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let reviewed = ev["events"].as_array().unwrap().iter().find(|e| e["kind"] == "break_glass.reviewed").unwrap();
    let payload: Value = serde_json::from_str(reviewed["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["late"], true, "{payload}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_break_glass_use_loses_its_access_and_stays_an_exception_until_resolved() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE bob LOGIN").unwrap();
    let clock = ManualClock::new();
    let h = harness_with_pg(pg.url(), clock.clone(), |_| String::new()).await;
    let writ = h.app.writ.clone();
    let used = break_glass(&h, "bob", "2h").await;
    let id = used["id"].as_str().unwrap().to_owned();
    writ.run_due_jobs(50).await.unwrap();
    assert!(holds_reporting(&pg, "bob"));

    let (status, v) = h.post("oscar", &format!("/v1/break-glass/{id}/review"), json!({ "verdict": "reject", "note": "no incident was open" })).await;
    assert!(status.is_success(), "{v}");
    let (_, ev) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    assert_eq!(ev["grants"][0]["state"], "revoking", "{ev}");
    assert!(ev["grants"][0]["removal"]["ending"].as_str().unwrap().contains("break-glass use rejected"), "{ev}");
    writ.run_due_jobs(50).await.unwrap();
    assert!(!holds_reporting(&pg, "bob"), "removed from the target at once, not at expiry");
    let (_, ev) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    assert_eq!(ev["grants"][0]["state"], "revoked", "{ev}");
    assert_eq!(exceptions(&h, "audrey").await.len(), 1, "still an exception until resolved");
}
