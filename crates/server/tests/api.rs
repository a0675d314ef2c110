//! Router tests without sockets: the demo configuration on a temp SQLite file,
//! driven through the real router and middleware.

mod common;

use axum::http::StatusCode;
use common::{harness, harness_with, Harness, ManualClock};
use serde_json::{json, Value};

impl Harness {
    async fn audit_size(&self) -> u64 {
        self.app.writ.store().audit_head().await.unwrap().0
    }
}

/// (caller, method, uri, body, expected status, text the message must contain)
type Case<'a> = (Option<&'a str>, &'a str, &'a str, Option<String>, StatusCode, &'a str);

fn new_request(entitlement: &str, duration: &str) -> Value {
    json!({ "entitlements": [entitlement], "justification": "investigate INC-1", "duration": duration })
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_writes_nothing() {
    let h = harness().await;
    let before = h.audit_size().await;
    let cases: Vec<Case> = vec![
        (None, "POST", "/v1/requests", Some(new_request("pg-prod/payments_readonly", "1h").to_string()), StatusCode::UNAUTHORIZED, "Authorization"),
        (Some("alice"), "POST", "/v1/requests", Some("{not json".into()), StatusCode::BAD_REQUEST, "not valid"),
        (Some("alice"), "POST", "/v1/requests", Some(json!({ "entitlements": [] }).to_string()), StatusCode::BAD_REQUEST, "justification"),
        (Some("alice"), "POST", "/v1/requests", Some(new_request("pg-prod/nope", "1h").to_string()), StatusCode::UNPROCESSABLE_ENTITY, "not in the catalog"),
        (Some("alice"), "POST", "/v1/requests", Some(new_request("nowhere", "1h").to_string()), StatusCode::BAD_REQUEST, "target/name"),
        (
            Some("alice"),
            "POST",
            "/v1/requests",
            Some(new_request("pg-prod/payments_readonly", "9h").to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "maximum `8h`",
        ),
        (Some("alice"), "POST", "/v1/requests", Some(new_request("pg-prod/payments_readonly", "soon").to_string()), StatusCode::BAD_REQUEST, "duration"),
        (
            Some("alice"),
            "POST",
            "/v1/requests",
            Some(json!({ "entitlements": ["pg-prod/payments_readonly"], "justification": "  ", "duration": "1h" }).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "justification",
        ),
        (
            Some("alice"),
            "POST",
            "/v1/requests",
            Some(json!({ "subject": "ghost", "entitlements": ["pg-prod/payments_readonly"], "justification": "x", "duration": "1h" }).to_string()),
            StatusCode::NOT_FOUND,
            "identity `ghost`",
        ),
        (
            Some("alice"),
            "POST",
            "/v1/requests",
            Some(json!({ "justification": "x".repeat(70_000), "entitlements": [], "duration": "1h" }).to_string()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
        ),
        (
            Some("alice"),
            "POST",
            "/v1/requests",
            Some(json!({ "entitlements": ["pg-prod/payments_readonly"], "justification": "x", "duration": "1h", "justfication": "typo" }).to_string()),
            StatusCode::BAD_REQUEST,
            "unknown field `justfication`",
        ),
        (
            Some("alice"),
            "POST",
            "/v1/requests",
            Some(json!({ "entitlements": ["pg-prod/payments_readonly"], "justification": "ok\u{1b}[2Jspoofed", "duration": "1h" }).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "control character U+001B",
        ),
        (
            Some("alice"),
            "POST",
            "/v1/requests",
            Some(json!({ "entitlements": ["pg-prod/payments_readonly"], "justification": "x", "duration": "1h", "ticket": "INC-1\nINC-2" }).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "one line",
        ),
        (Some("alice"), "POST", "/v1/requests/req-00000000000000000000000000000001/deny", Some("{}".into()), StatusCode::BAD_REQUEST, "missing field `reason`"),
        (Some("alice"), "GET", "/v1/requests/req-123", None, StatusCode::BAD_REQUEST, "request id"),
        (Some("alice"), "POST", "/v1/requests/req-00000000000000000000000000000001/approve", Some("{}".into()), StatusCode::NOT_FOUND, "not found"),
        (Some("alice"), "GET", "/v1/requests?state=bogus", None, StatusCode::BAD_REQUEST, "unknown state"),
        (Some("alice"), "GET", "/v1/audit/events", None, StatusCode::FORBIDDEN, "oversight"),
    ];
    for (who, method, uri, body, want, needle) in cases {
        let (status, v) = h.call(who, method, uri, body).await;
        assert_eq!(status, want, "{method} {uri}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{method} {uri}: `{msg}` should mention `{needle}`");
    }
    assert_eq!(h.audit_size().await, before, "bad input must not write to the audit log");
    let (_, list) = h.get("sam", "/v1/requests").await;
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn reviews_without_authority_are_refused_and_change_nothing() {
    let h = harness().await;
    let (status, req) = h.post("alice", "/v1/requests", new_request("pg-prod/payments_readonly", "4h")).await;
    assert_eq!(status, StatusCode::CREATED, "{req}");
    assert_eq!(req["state"], "pending");
    let id = req["id"].as_str().unwrap();
    let before = h.audit_size().await;
    for (who, code, needle) in [
        ("alice", StatusCode::FORBIDDEN, "requested this access"),
        ("sam", StatusCode::FORBIDDEN, "no authority"),
        ("bob", StatusCode::FORBIDDEN, "no authority"),
    ] {
        let (status, v) = h.post(who, &format!("/v1/requests/{id}/approve"), json!({})).await;
        assert_eq!(status, code, "{who}: {v}");
        assert!(v["message"].as_str().unwrap().contains(needle), "{who}: {v}");
    }
    assert_eq!(h.audit_size().await, before);
    let (status, v) = h.post("olivia", &format!("/v1/requests/{id}/approve"), json!({ "reason": "ok" })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = h.post("olivia", &format!("/v1/requests/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(v["message"].as_str().unwrap().contains("once per request"), "{v}");
}

#[tokio::test]
async fn low_risk_self_requests_are_auto_approved_and_toxic_pairs_denied() {
    let h = harness().await;
    // analytics_read is low risk: the demo policy approves it without review.
    let (_, v) = h.post("alice", "/v1/requests", new_request("pg-prod/analytics_read", "2h")).await;
    assert_eq!(v["state"], "approved", "{v}");
    assert!(
        v["decisions"].as_array().unwrap().iter().any(|d| d["action"] == "auto_approve"
            && d["allowed"] == true
            && d["policy_ids"].as_array().unwrap().iter().any(|p| p == "auto-approve-low-risk-short-self")),
        "{v}"
    );
    // Both halves of the maker-checker pair in one request: recorded as denied.
    let both = json!({ "entitlements": ["pg-prod/payments_write", "pg-prod/payments_approve"], "justification": "x", "duration": "1h" });
    let (status, v) = h.post("bob", "/v1/requests", both).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(v["state"], "denied");
    assert!(v["outcome_reason"].as_str().unwrap().contains("payments maker-checker"), "{v}");
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let h = harness().await;
    let (status, v) = h.call(None, "GET", "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "ok");
    let (status, _) = h.call(None, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The figures are oversight's: any token is not enough.
    let (status, v) = h.get("alice", "/metrics").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    h.post("alice", "/v1/requests", new_request("pg-prod/payments_readonly", "1h")).await;
    let (status, v) = h.get("audrey", "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = v.as_str().unwrap();
    for needle in [
        "writ_requests{state=\"pending\"} 1",
        "writ_policy_decisions_total{action=\"request\",outcome=\"allow\"} 1",
        "writ_policy_decision_seconds_bucket",
        "writ_http_request_seconds_bucket{method=\"POST\",route=\"/v1/requests\"",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    let (status, doc) = h.call(None, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/v1/requests/{id}/approve"]["post"].is_object(), "{doc}");
    assert!(doc["components"]["schemas"]["EvidenceView"].is_object());
}

/// Targets describe their connectors; the endpoint is shown only to oversight.
#[tokio::test]
async fn targets_describe_their_connectors_and_hide_endpoints_from_most() {
    let h = harness().await;
    let (status, v) = h.get("alice", "/v1/catalog/targets").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let by_id = |v: &Value, id: &str| v.as_array().unwrap().iter().find(|t| t["id"] == id).cloned().unwrap();
    let pg_demo = by_id(&v, "pg-demo");
    assert_eq!((pg_demo["kind"].as_str(), pg_demo["reads_live_state"].as_bool()), (Some("postgres"), Some(true)), "{pg_demo}");
    assert!(pg_demo["endpoint"].is_null(), "alice may not see infrastructure: {pg_demo}");
    let manual = by_id(&v, "pg-prod");
    assert_eq!((manual["kind"].as_str(), manual["reads_live_state"].as_bool()), (Some("manual"), Some(false)), "{manual}");
    let (_, v) = h.get("audrey", "/v1/catalog/targets").await;
    let endpoint = by_id(&v, "pg-demo")["endpoint"].as_str().unwrap().to_owned();
    assert!(endpoint.contains("127.0.0.1:5432"), "{endpoint}");
    let (status, _) = h.call(None, "GET", "/v1/catalog/targets", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn harness_with_clock() -> (Harness, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::new();
    (harness_with(|_| {}, Some(clock.clone())).await, clock)
}

#[tokio::test]
async fn pending_requests_lapse_after_the_configured_time() {
    let (h, clock) = harness_with_clock().await;
    let (_, req) = h.post("alice", "/v1/requests", new_request("pg-prod/payments_readonly", "1h")).await;
    let id = req["id"].as_str().unwrap().to_owned();
    clock.advance(chrono::TimeDelta::days(6));
    assert_eq!(h.app.writ.lapse_due().await.unwrap(), 0, "not due yet");
    clock.advance(chrono::TimeDelta::days(1));
    assert_eq!(h.app.writ.lapse_due().await.unwrap(), 1);
    let (status, v) = h.post("olivia", &format!("/v1/requests/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (_, shown) = h.get("alice", &format!("/v1/requests/{id}")).await;
    assert_eq!(shown["request"]["state"], "lapsed");
    assert!(shown["events"].as_array().unwrap().iter().any(|e| e["kind"] == "request.lapsed"));
}

#[tokio::test]
async fn a_disabled_identity_can_neither_request_nor_approve_and_decisions_use_current_state() {
    let h = harness().await;
    let (_, req) = h.post("alice", "/v1/requests", new_request("pg-prod/payments_readonly", "1h")).await;
    let id = req["id"].as_str().unwrap().to_owned();
    // Only oversight may change identities.
    let (status, _) = h.post("alice", "/v1/identities/olivia/status", json!({ "status": "disabled" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v) = h.post("sam", "/v1/identities/olivia/status", json!({ "status": "disabled" })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Disabling revoked her tokens: refused before anything else.
    let (status, v) = h.post("olivia", &format!("/v1/requests/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["message"].as_str().unwrap().contains("revoked"), "{v}");
    let (status, _) = h.post("olivia", "/v1/requests", new_request("pg-prod/analytics_read", "1h")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The owner stage can still pass through the other owner.
    let (status, _) = h.post("oscar", &format!("/v1/requests/{id}/approve"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // A disabled subject: alice asks for her service account, which policy refuses
    // once the account is disabled, naming the policy.
    h.post("sam", "/v1/identities/svc-billing/status", json!({ "status": "disabled" })).await;
    let body = json!({ "subject": "svc-billing", "entitlements": ["pg-prod/analytics_read"], "justification": "nightly job", "duration": "1h" });
    let (status, v) = h.post("alice", "/v1/requests", body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a disabled subject receives nothing by any path: {v}");
    assert!(v["message"].as_str().unwrap().contains("identity `svc-billing` is disabled"), "{v}");
}

#[tokio::test]
async fn an_approver_may_not_fulfil_and_fulfilment_needs_evidence() {
    let h = harness().await;
    // Make sam (security) also a DBA, so only the approver ≠ fulfiller rule stops him.
    let mut sam = h.app.writ.identity(&"sam".parse().unwrap()).await.unwrap();
    sam.groups.insert("dba".parse().unwrap());
    h.app.writ.upsert_identities(None, vec![sam]).await.unwrap();
    let (_, req) = h.post("alice", "/v1/requests", new_request("pg-prod/payments_readonly", "1h")).await;
    let id = req["id"].as_str().unwrap().to_owned();
    for who in ["olivia", "sam", "sue"] {
        let (status, v) = h.post(who, &format!("/v1/requests/{id}/approve"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{who}: {v}");
    }
    let (_, tasks) = h.get("dana", "/v1/tasks").await;
    let task = tasks.as_array().unwrap().iter().find(|t| t["request_id"] == id.as_str()).unwrap()["id"].as_str().unwrap().to_owned();
    let (status, v) = h.post("sam", &format!("/v1/tasks/{task}/complete"), json!({ "evidence": "done" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(v["message"].as_str().unwrap().contains("approver ≠ fulfiller"), "{v}");
    let (status, v) = h.post("dana", &format!("/v1/tasks/{task}/complete"), json!({ "evidence": "" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (status, _) = h.post("dana", &format!("/v1/tasks/{task}/complete"), json!({ "evidence": "granted" })).await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = h.post("dana", &format!("/v1/tasks/{task}/complete"), json!({ "evidence": "again" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    // Toxic combination against a grant already held: alice gets payments_write...
    let (_, w) = h.post("alice", "/v1/requests", new_request("pg-prod/payments_write", "1h")).await;
    let wid = w["id"].as_str().unwrap().to_owned();
    for who in ["olivia", "sue", "sid"] {
        h.post(who, &format!("/v1/requests/{wid}/approve"), json!({})).await;
    }
    // The other half, asked for while the first is approved and not yet in
    // place: denied, naming the approved request.
    let (_, early) = h.post("alice", "/v1/requests", new_request("pg-prod/payments_approve", "1h")).await;
    assert_eq!(early["state"], "denied", "{early}");
    assert!(early["outcome_reason"].as_str().unwrap().contains(&format!("approved request `{wid}`")), "{early}");
    let (_, tasks) = h.get("dana", "/v1/tasks").await;
    let wt = tasks.as_array().unwrap().iter().find(|t| t["request_id"] == wid.as_str()).unwrap()["id"].as_str().unwrap().to_owned();
    let (status, _) = h.post("dana", &format!("/v1/tasks/{wt}/complete"), json!({ "evidence": "granted write" })).await;
    assert_eq!(status, StatusCode::OK);
    let (_, grants) = h.get("alice", "/v1/grants").await;
    let write_grant = grants.as_array().unwrap().iter().find(|g| g["entitlement"] == "pg-prod/payments_write").unwrap()["id"].as_str().unwrap().to_owned();
    // ...so asking for payments_approve is denied, naming the conflict and the grant held.
    let (_, v) = h.post("alice", "/v1/requests", new_request("pg-prod/payments_approve", "1h")).await;
    assert_eq!(v["state"], "denied");
    let reason = v["outcome_reason"].as_str().unwrap();
    assert!(reason.contains("payments maker-checker") && reason.contains(&write_grant), "{reason}");
    // (Requests that raced past submission are checked at every approval and
    // at fulfilment: tests/governed_path.rs.)
}
