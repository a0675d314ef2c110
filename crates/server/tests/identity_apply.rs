//! `POST /v1/identities/apply` through the real router on the demo install:
//! a dry run changes nothing, an apply creates, updates and disables (the
//! disabled identity's grant starts its removal and its tokens stop working),
//! every change is an audit event with source `file`, the same file again
//! writes nothing, and a bad body or a caller without `manage_identities`
//! changes nothing.

mod common;

use axum::http::StatusCode;
use serde_json::{json, Value};
use writ_core::identity::Identity;
use writ_server::catalog_file::parse_identities;
use writ_server::views::identity_record;

use common::{harness, Harness};

const APPLY: &str = "/v1/identities/apply";

/// The demo's identities file, without `left_out`.
fn demo_without(left_out: &[&str]) -> Vec<Identity> {
    let all = parse_identities("identities.toml", include_str!("../demo/identities.toml")).unwrap();
    all.into_iter().filter(|i| !left_out.contains(&i.id.as_str())).collect()
}

fn body(file: &[Identity], dry_run: bool) -> Value {
    json!({ "identities": file.iter().map(identity_record).collect::<Vec<_>>(), "dry_run": dry_run })
}

impl Harness {
    async fn audit_size(&self) -> u64 {
        self.app.writ.store().audit_head().await.unwrap().0
    }

    /// The registry as `GET /v1/identities` shows it.
    async fn registry(&self) -> Value {
        let (status, v) = self.get("sam", "/v1/identities").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }

    /// Alice holds `pg-prod/analytics_read` (auto-approved, put in place by
    /// dana); the request's id.
    async fn alice_holding_analytics(&self) -> String {
        let ask = json!({ "entitlements": ["pg-prod/analytics_read"], "justification": "quarterly numbers", "duration": "2h" });
        let (status, v) = self.post("alice", "/v1/requests", ask).await;
        assert_eq!((status, &v["state"]), (StatusCode::CREATED, &json!("approved")), "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let (_, tasks) = self.get("dana", "/v1/tasks").await;
        let task = tasks.as_array().unwrap().iter().find(|t| t["request_id"] == id.as_str()).unwrap()["id"].as_str().unwrap().to_owned();
        let (status, v) = self.post("dana", &format!("/v1/tasks/{task}/complete"), json!({ "evidence": "GRANT analytics_read TO alice" })).await;
        assert!(status.is_success(), "{v}");
        assert_eq!(self.grant_state(&id).await, "active");
        id
    }

    async fn grant_state(&self, request: &str) -> String {
        let (_, v) = self.get("audrey", &format!("/v1/requests/{request}")).await;
        v["grants"][0]["state"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_file_is_shown_by_a_dry_run_then_applied_once() {
    let h = harness().await;
    let held = h.alice_holding_analytics().await;
    let mut file = demo_without(&["alice"]);
    file.push(Identity { id: "carol".parse().unwrap(), display_name: "Carol New".into(), ..file[0].clone() });
    file.iter_mut().filter(|i| i.id.as_str() == "bob").for_each(|i| i.display_name = "Robert Engineer".into());
    let before = h.audit_size().await;
    let registry = h.registry().await;

    let (status, dry) = h.post("sam", APPLY, body(&file, true)).await;

    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["created"][0]["id"], "carol", "{dry}");
    assert_eq!(dry["changed"], json!([{ "id": "bob", "changes": [{ "field": "display_name", "from": "Bob Engineer", "to": "Robert Engineer" }] }]));
    assert_eq!(dry["disabled"], json!(["alice"]));
    assert_eq!(dry["unchanged"], file.len() - 2);
    assert_eq!(h.audit_size().await, before, "a dry run writes nothing");
    assert_eq!(h.registry().await, registry);
    assert_eq!(h.get("alice", "/v1/whoami").await.0, StatusCode::OK);

    let (status, applied) = h.post("sam", APPLY, body(&file, false)).await;

    assert_eq!(status, StatusCode::OK, "{applied}");
    for key in ["created", "changed", "disabled", "unchanged"] {
        assert_eq!(applied[key], dry[key], "the dry run showed what the apply did: {key}");
    }
    let (_, events) = h.get("audrey", &format!("/v1/audit/events?after={before}")).await;
    let upserts: Vec<&Value> = events.as_array().unwrap().iter().filter(|e| e["kind"] == "identity.upserted").collect();
    assert_eq!(upserts.len(), 3, "carol, bob and alice: {events}");
    for e in &upserts {
        let payload: Value = serde_json::from_str(e["payload"].as_str().unwrap()).unwrap();
        assert_eq!((&e["actor"], &payload["source"]), (&json!("sam"), &json!("file")), "{e}");
    }
    assert_eq!(h.grant_state(&held).await, "revoking", "alice's access is being removed");
    let (status, v) = h.get("alice", "/v1/whoami").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "alice's token was revoked: {v}");
    let (_, carol) = h.get("sam", "/v1/identities").await;
    assert!(carol.as_array().unwrap().iter().any(|i| i["id"] == "carol" && i["status"] == "active"), "{carol}");

    // The same file again: nothing to do, nothing written.
    let after = h.audit_size().await;
    let (status, again) = h.post("sam", APPLY, body(&file, false)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!((&again["created"], &again["changed"], &again["disabled"]), (&json!([]), &json!([]), &json!([])), "{again}");
    assert_eq!(again["unchanged"], file.len());
    assert_eq!(h.audit_size().await, after, "no event the second time");
}

#[tokio::test]
async fn a_bad_body_or_a_caller_without_manage_identities_changes_nothing() {
    let h = harness().await;
    let before = h.audit_size().await;
    let registry = h.registry().await;
    let record = |id: &str, extra: Value| {
        let mut r = json!({ "id": id, "kind": "person", "status": "active" });
        r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        r
    };
    let with = |extra: Value| {
        let mut b = body(&demo_without(&["bob"]), false);
        b["identities"].as_array_mut().unwrap().push(extra);
        b
    };
    let cases = [
        (Some("alice"), body(&demo_without(&["bob"]), false), StatusCode::FORBIDDEN, "manage identities"),
        (None, body(&demo_without(&["bob"]), false), StatusCode::UNAUTHORIZED, "Authorization"),
        (Some("sam"), json!({ "identities": [], "dry_run": false, "force": true }), StatusCode::BAD_REQUEST, "force"),
        (Some("sam"), with(record("carol", json!({ "groop": ["eng"] }))), StatusCode::BAD_REQUEST, "groop"),
        (Some("sam"), with(record("bad id", json!({}))), StatusCode::BAD_REQUEST, "invalid identity id"),
        (Some("sam"), with(record("carol", json!({ "kind": "robot" }))), StatusCode::BAD_REQUEST, "unknown kind `robot`"),
        (Some("sam"), with(record("carol", json!({ "groups": ["no spaces"] }))), StatusCode::BAD_REQUEST, "invalid group id"),
        (Some("sam"), with(record("alice", json!({}))), StatusCode::UNPROCESSABLE_ENTITY, "twice"),
        (Some("sam"), with(record("bot", json!({ "kind": "api_key", "owner": "nobody" }))), StatusCode::UNPROCESSABLE_ENTITY, "not a known identity"),
        (Some("sam"), with(record("system", json!({}))), StatusCode::UNPROCESSABLE_ENTITY, "reserved"),
        (Some("sam"), body(&demo_without(&["sam"]), false), StatusCode::UNPROCESSABLE_ENTITY, "who is applying it"),
    ];
    for (who, body, want, needle) in cases {
        let (status, v) = h.call(who, "POST", APPLY, Some(body.to_string())).await;
        assert_eq!(status, want, "{who:?} {needle}: {v}");
        assert!(v["message"].as_str().unwrap_or_default().contains(needle), "{who:?}: `{v}` should contain `{needle}`");
    }
    assert_eq!(h.audit_size().await, before);
    assert_eq!(h.registry().await, registry);
}
