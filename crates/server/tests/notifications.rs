//! Notifications reach a real webhook receiver, signed with HMAC-SHA256; a
//! failing receiver is retried from the store with backoff (the same delivery
//! id each time) and never holds up the workflow; approval needed, access
//! granted and revocation overdue each notify once.

mod common;

use chrono::TimeDelta;
use serde_json::{json, Value};
use writ_testkit::PgServer;

use common::webhook::Receiver;
use common::{harness_with_pg, ManualClock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_signed_retried_from_the_store_and_never_block() {
    let mut pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE alice LOGIN").unwrap();
    let hooks = Receiver::start().await;
    let clock = ManualClock::new();
    let h = harness_with_pg(pg.url(), clock.clone(), |data| hooks.config(data)).await;
    let writ = h.app.writ.clone();

    // The receiver is down for two attempts; the request is pending at once anyway.
    hooks.fail_first.store(2, std::sync::atomic::Ordering::SeqCst);
    let (status, v) = h
        .post("alice", "/v1/requests", json!({ "entitlements": ["pg-prod/payments_readonly"], "justification": "month-end reconciliation", "duration": "4h" }))
        .await;
    assert_eq!(status.as_u16(), 201, "{v}");
    assert_eq!(v["state"], "pending", "the workflow does not wait for the receiver");
    let id = v["id"].as_str().unwrap().to_owned();

    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1, "first attempt");
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 0, "the retry waits for its backoff");
    clock.advance(TimeDelta::seconds(2));
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1, "second attempt");
    clock.advance(TimeDelta::seconds(4));
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1, "third attempt");
    let all = hooks.all();
    assert_eq!(all.iter().map(|d| d.status).collect::<Vec<_>>(), [503, 503, 204]);
    assert!(all.iter().all(|d| d.delivery_id == all[0].delivery_id && !d.delivery_id.is_empty()), "one notification, redelivered under one id");
    let needed = hooks.accepted("approval_needed");
    let body = needed[0].json();
    assert_eq!(body["request"], id.as_str());
    assert_eq!(body["event"], "request.awaiting_review");
    assert!(body["summary"].as_str().unwrap().contains("stage `owner` (the entitlement owners)"), "{body}");

    // Its delivery is evidence too, and the body carries nothing secret.
    let (_, ev) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    let delivered = ev["events"].as_array().unwrap().iter().find(|e| e["kind"] == "notification.delivered").expect("delivery recorded");
    let payload: Value = serde_json::from_str(delivered["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["attempt"], 3, "{payload}");
    assert!(!payload.to_string().contains("/hooks/writ"), "the receiver's path may hold a token: {payload}");
    assert!(all.iter().all(|d| !String::from_utf8_lossy(&d.body).contains(common::webhook::SECRET)));

    // The owner approves; the security stage opens: its approvers are told.
    let (status, v) = h.post("olivia", &format!("/v1/requests/{id}/approve"), json!({ "reason": "ok" })).await;
    assert!(status.is_success(), "{v}");
    writ.run_due_jobs(10).await.unwrap();
    let needed = hooks.accepted("approval_needed");
    assert_eq!(needed.len(), 2);
    assert!(needed[1].json()["summary"].as_str().unwrap().contains("stage `security`"), "{}", needed[1].json());

    // Access granted, then a removal that cannot be proved: revocation overdue, once.
    let (status, v) = h.post("alice", "/v1/requests", json!({ "entitlements": ["pg-live/reporting"], "justification": "reports", "duration": "1h" })).await;
    assert_eq!(v["state"], "approved", "{status} {v}");
    writ.run_due_jobs(10).await.unwrap();
    writ.run_due_jobs(10).await.unwrap();
    let granted = hooks.accepted("access_granted");
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0].json()["payload"]["entitlement"], "pg-live/reporting");
    pg.stop();
    clock.advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    assert_eq!(writ.expire_due(10).await.unwrap(), 1);
    writ.run_due_jobs(10).await.unwrap();
    assert_eq!(writ.note_overdue_removals().await.unwrap(), 0, "not overdue yet");
    clock.advance(TimeDelta::minutes(15));
    assert_eq!(writ.note_overdue_removals().await.unwrap(), 1);
    assert_eq!(writ.note_overdue_removals().await.unwrap(), 0, "noted once");
    writ.run_due_jobs(10).await.unwrap();
    let overdue = hooks.accepted("revocation_overdue");
    assert_eq!(overdue.len(), 1, "{:?}", hooks.all().iter().map(|d| &d.event).collect::<Vec<_>>());
    let body = overdue[0].json();
    assert!(body["summary"].as_str().unwrap().contains("`alice` still holds `pg-live/reporting`"), "{body}");
    assert!(body["payload"]["last_error"].as_str().unwrap().contains("pg-live"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_refuses_is_given_up_at_once_and_the_log_says_so() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let hooks = Receiver::start().await;
    hooks.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    let clock = ManualClock::new();
    let h = harness_with_pg(pg.url(), clock.clone(), |data| hooks.config(data)).await;
    let (status, v) =
        h.post("alice", "/v1/requests", json!({ "entitlements": ["pg-prod/payments_readonly"], "justification": "month-end", "duration": "4h" })).await;
    assert_eq!(status.as_u16(), 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(h.app.writ.run_due_jobs(10).await.unwrap(), 1);
    clock.advance(TimeDelta::minutes(10));
    assert_eq!(h.app.writ.run_due_jobs(10).await.unwrap(), 0, "a 4xx is not retried");
    assert_eq!(hooks.all().len(), 1);
    let (_, ev) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    let abandoned = ev["events"].as_array().unwrap().iter().find(|e| e["kind"] == "notification.abandoned").expect("giving up is evidence");
    let payload: Value = serde_json::from_str(abandoned["payload"].as_str().unwrap()).unwrap();
    assert!(payload["error"].as_str().unwrap().contains("410"), "{payload}");
    assert_eq!(ev["request"]["state"], "pending", "the workflow went on");
}
