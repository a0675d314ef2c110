//! Jira and ServiceNow webhooks through the real router, with the captured
//! payloads in `tests/data/webhooks`: each new issue or record becomes one
//! ticket with its reference, subject and requester; the same delivery again
//! is a 409, another delivery of the same ticket changes nothing about it;
//! every refusal (signature, payload, requester, age, size) writes nothing.

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeDelta;
use serde_json::{json, Value};
use tower::ServiceExt;
use writ_app::ports::Clock;
use writ_server::intake_hooks::hmac_hex;

use common::{harness_with, Harness, ManualClock};

const JIRA_SECRET: &str = "jira-webhook-secret-NOT-REAL-0123";
const SN_SECRET: &str = "servicenow-secret-NOT-REAL-4567";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/webhooks").join(name)).unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

const HOOKS: &str = r#"
[hooks.jira]
secret_file = "jira-secret"
actor = "svc-service-desk"
fallback_attribute = "jira_username"
request_type_field = "customfield_10010"
request_types = { "Request access" = "application_access" }

[hooks.servicenow]
secret_file = "servicenow-secret"
actor = "svc-service-desk"
"#;

/// The demo install with both hooks configured, on `clock`, where alice and
/// bob carry the Jira and ServiceNow ids of the captures' people.
async fn harness(clock: Arc<ManualClock>) -> Harness {
    let h = harness_with(
        |policies| {
            let data = policies.parent().unwrap();
            std::fs::write(data.join("jira-secret"), format!("{JIRA_SECRET}\n")).unwrap();
            std::fs::write(data.join("servicenow-secret"), SN_SECRET).unwrap();
            let mut config = std::fs::read_to_string(data.join("writ.toml")).unwrap();
            config.push_str(HOOKS);
            std::fs::write(data.join("writ.toml"), config).unwrap();
        },
        Some(clock),
    )
    .await;
    let mut people = writ_server::catalog_file::parse_identities("identities.toml", include_str!("../demo/identities.toml")).unwrap();
    for p in &mut people {
        let attributes: &[(&str, &str)] = match p.id.as_str() {
            "alice" => &[("jira_account_id", "000000000000000000000001"), ("jira_username", "admin"), ("servicenow_sys_id", "admin")],
            "bob" => &[("jira_account_id", "000000000000000000000002"), ("servicenow_sys_id", "test")],
            _ => &[],
        };
        p.attributes.extend(attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    }
    let records: Vec<_> = people.iter().map(writ_server::views::identity_record).collect();
    let (status, v) = h.post("sam", "/v1/identities/apply", json!({ "identities": records, "dry_run": false })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    h
}

/// Sets `clock` to `millis` since 1970 (a capture's own time).
fn sit_at(clock: &ManualClock, millis: i64) {
    clock.advance(TimeDelta::milliseconds(millis - clock.now().timestamp_millis()));
}

async fn audit_size(h: &Harness) -> u64 {
    h.app.writ.store().audit_head().await.unwrap().0
}

/// The tickets from `source`.
async fn tickets(h: &Harness, source: &str) -> Vec<Value> {
    let (_, all) = h.get("sam", "/v1/tickets").await;
    all.as_array().unwrap().iter().filter(|t| t["source"] == source).cloned().collect()
}

async fn post(h: &Harness, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> (StatusCode, Value) {
    let mut req = Request::builder().method("POST").uri(path).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = h.router.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
}

/// A Jira delivery signed with `secret`.
async fn jira_as(h: &Harness, secret: &str, delivery: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let mut headers = vec![("x-hub-signature", format!("sha256={}", hmac_hex(secret, &[&body])))];
    headers.extend(delivery.map(|d| ("x-atlassian-webhook-identifier", d.to_owned())));
    post(h, "/hooks/jira", &headers, body).await
}

async fn jira(h: &Harness, delivery: &str, body: Vec<u8>) -> (StatusCode, Value) {
    jira_as(h, JIRA_SECRET, Some(delivery), body).await
}

/// A ServiceNow delivery as the README's business rule sends it, at the clock's time.
async fn servicenow(h: &Harness, delivery: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let ts = h.app.writ.clock().now().timestamp().to_string();
    let mut headers = vec![("x-writ-timestamp", ts.clone()), ("x-writ-signature", format!("sha256={}", hmac_hex(SN_SECRET, &[ts.as_bytes(), b".", &body])))];
    headers.extend(delivery.map(|d| ("x-writ-delivery", d.to_owned())));
    post(h, "/hooks/servicenow", &headers, body).await
}

const CREATED: &str = "jira/cloud_issue_created.json";
const CREATED_MS: i64 = 1_550_286_113_023;

#[tokio::test]
async fn a_jira_issue_becomes_one_ticket_and_its_delivery_is_taken_once() {
    let clock = ManualClock::new();
    let h = harness(clock.clone()).await;
    sit_at(&clock, CREATED_MS);
    let before = audit_size(&h).await;
    let (status, t) = jira(&h, "delivery-1", fixture(CREATED)).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(
        (t["source"].as_str(), t["external_ref"].as_str(), t["subject"].as_str(), t["requester"].as_str()),
        (Some("jira"), Some("TES-41"), Some("Unit test summary"), Some("alice")),
        "{t}"
    );
    assert_eq!(t["body"], "Unit test description, not that long");
    assert_eq!(audit_size(&h).await, before + 2, "the delivery and the ticket");
    let id = t["id"].as_str().unwrap().to_owned();

    let head = audit_size(&h).await;
    let (status, v) = jira(&h, "delivery-1", fixture(CREATED)).await;
    assert_eq!(status, StatusCode::CONFLICT, "the same delivery again: {v}");
    assert_eq!(audit_size(&h).await, head, "a replay writes nothing");

    let (status, again) = jira(&h, "delivery-2", fixture(CREATED)).await;
    assert_eq!((status, again["id"].as_str(), again["already_taken"].as_bool()), (StatusCode::OK, Some(id.as_str()), Some(true)), "{again}");
    assert_eq!(audit_size(&h).await, head + 1, "only the new delivery is recorded; the ticket is unchanged");
    assert_eq!(tickets(&h, "jira").await.len(), 1);

    // A second capture, from another site and person, with many custom fields.
    let custom = fixture("jira/cloud_issue_created_custom_fields.json");
    sit_at(&clock, serde_json::from_slice::<Value>(&custom).unwrap()["timestamp"].as_i64().unwrap());
    let (status, t) = jira(&h, "delivery-3", custom).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!((t["external_ref"].as_str(), t["subject"].as_str(), t["requester"].as_str()), (Some("KT-22"), Some("Lots of fields selected"), Some("bob")));
    assert_eq!(tickets(&h, "jira").await.len(), 2);
}

#[tokio::test]
async fn a_jsm_request_type_is_declared_and_a_server_reporter_is_matched_by_name() {
    let clock = ManualClock::new();
    let h = harness(clock.clone()).await;
    sit_at(&clock, CREATED_MS);
    let mut jsm = fixture_json(CREATED);
    jsm["issue"]["key"] = json!("ITSM-7");
    jsm["issue"]["fields"]["customfield_10010"] = json!({ "_links": {}, "requestType": { "id": "12", "name": "Request access" }, "currentStatus": {} });
    let (status, t) = jira(&h, "jsm-1", jsm.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!((t["request_type"].as_str(), t["route"].as_str(), t["predicted"].as_str()), (Some("application_access"), Some("governed"), None), "{t}");

    // Jira Server/Data Center users have no accountId: `fallback_attribute` matches their name.
    let mut server = fixture_json(CREATED);
    server["issue"]["key"] = json!("TES-42");
    server["issue"]["fields"]["reporter"].as_object_mut().unwrap().remove("accountId");
    let (status, t) = jira(&h, "server-1", server.to_string().into_bytes()).await;
    assert_eq!((status, t["requester"].as_str()), (StatusCode::CREATED, Some("alice")), "{t}");
}

#[tokio::test]
async fn other_jira_events_are_acknowledged_and_change_nothing() {
    let clock = ManualClock::new();
    let h = harness(clock.clone()).await;
    let head = audit_size(&h).await;
    for (name, event) in [
        ("jira/cloud_comment_created.json", "comment_created"),
        ("jira/cloud_issue_updated_status_todo_to_in_progress.json", "jira:issue_updated"),
        ("jira/server_issue_updated_work_started.json", "jira:issue_updated"),
    ] {
        let (status, v) = jira(&h, &format!("other-{name}"), fixture(name)).await;
        assert_eq!((status, v["ignored"].as_str()), (StatusCode::ACCEPTED, Some(event)), "{name}: {v}");
        assert!(v["message"].as_str().unwrap().contains("nothing was done"), "{v}");
    }
    let (status, _) = jira_as(&h, "not-the-secret-at-all-000", Some("other-x"), fixture("jira/cloud_comment_created.json")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "ignored events are signed too");
    assert_eq!(audit_size(&h).await, head);
    assert!(tickets(&h, "jira").await.is_empty());
}

#[tokio::test]
async fn every_refused_jira_delivery_says_why_and_writes_nothing() {
    let clock = ManualClock::new();
    let h = harness(clock.clone()).await;
    sit_at(&clock, CREATED_MS);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut v = fixture_json(CREATED);
        edit(&mut v);
        v.to_string().into_bytes()
    };
    let head = audit_size(&h).await;
    let unsigned = post(&h, "/hooks/jira", &[("x-atlassian-webhook-identifier", "r-0".into())], fixture(CREATED)).await;
    let cases: Vec<(&str, (StatusCode, Value), StatusCode, &str)> = vec![
        ("unsigned", unsigned, StatusCode::UNAUTHORIZED, "X-Hub-Signature missing"),
        ("another secret", jira_as(&h, "some-other-secret-0000000", Some("r-1"), fixture(CREATED)).await, StatusCode::UNAUTHORIZED, "does not match"),
        ("no delivery id", jira_as(&h, JIRA_SECRET, None, fixture(CREATED)).await, StatusCode::BAD_REQUEST, "X-Atlassian-Webhook-Identifier"),
        ("not JSON", jira(&h, "r-2", b"{\"webhookEvent\": ".to_vec()).await, StatusCode::BAD_REQUEST, "is not JSON"),
        (
            "no reporter",
            jira(&h, "r-3", with(&|v| v["issue"]["fields"]["reporter"] = Value::Null)).await,
            StatusCode::BAD_REQUEST,
            "`issue.fields.reporter` missing",
        ),
        ("a number for a key", jira(&h, "r-4", with(&|v| v["issue"]["key"] = json!(41))).await, StatusCode::BAD_REQUEST, "`issue.key` must be a string"),
        (
            "unknown reporter",
            jira(&h, "r-5", with(&|v| v["issue"]["fields"]["reporter"]["accountId"] = json!("999999999999999999999999"))).await,
            StatusCode::FORBIDDEN,
            "999999999999999999999999",
        ),
        (
            "unknown server user",
            jira(
                &h,
                "r-6",
                with(&|v| {
                    let r = v["issue"]["fields"]["reporter"].as_object_mut().unwrap();
                    r.remove("accountId");
                    r.insert("name".into(), json!("mallory"));
                }),
            )
            .await,
            StatusCode::FORBIDDEN,
            "mallory",
        ),
        ("too large", jira(&h, "r-7", vec![b' '; 70 * 1024]).await, StatusCode::PAYLOAD_TOO_LARGE, ""),
    ];
    for (what, (status, v), expect, says) in cases {
        assert_eq!(status, expect, "{what}: {v}");
        assert!(v.to_string().contains(says), "{what}: `{says}` in {v}");
        assert!(!v.to_string().contains(JIRA_SECRET), "{what}: the secret never shows");
    }
    clock.advance(TimeDelta::hours(2));
    let (status, v) = jira(&h, "r-8", fixture(CREATED)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("[hooks.jira] max_age"), "{v}");
    assert_eq!(audit_size(&h).await, head, "nothing written");
    assert!(tickets(&h, "jira").await.is_empty());
}

#[tokio::test]
async fn servicenow_records_become_tickets_once() {
    let h = harness(ManualClock::new()).await;
    let before = audit_size(&h).await;
    let (status, t) = servicenow(&h, None, fixture("servicenow/sc_req_item_table_api_record.json")).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(
        (t["source"].as_str(), t["external_ref"].as_str(), t["subject"].as_str(), t["requester"].as_str()),
        (Some("servicenow"), Some("RITM0010028"), Some("Microsoft Access"), Some("alice")),
        "{t}"
    );
    assert_eq!(audit_size(&h).await, before + 2);
    let head = audit_size(&h).await;
    let (status, v) = servicenow(&h, None, fixture("servicenow/sc_req_item_table_api_record.json")).await;
    assert_eq!(status, StatusCode::CONFLICT, "the same sys_id and sys_mod_count again: {v}");
    assert_eq!(audit_size(&h).await, head);
    let (status, again) = servicenow(&h, Some("br-delivery-9"), fixture("servicenow/sc_req_item_table_api_record.json")).await;
    assert_eq!((status, again["id"].as_str(), again["already_taken"].as_bool()), (StatusCode::OK, t["id"].as_str(), Some(true)), "{again}");
    let (status, v) = servicenow(&h, Some("br-delivery-9"), fixture("servicenow/sc_req_item_table_api_record.json")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");

    let (status, i) = servicenow(&h, Some("br-delivery-10"), fixture("servicenow/incident_table_api_create_response.json")).await;
    assert_eq!(status, StatusCode::CREATED, "{i}");
    assert_eq!(
        (i["external_ref"].as_str(), i["subject"].as_str(), i["body"].as_str(), i["requester"].as_str()),
        (Some("INC0010007"), Some(""), Some("creating a test ticket"), Some("bob")),
        "{i}"
    );
    assert_eq!(tickets(&h, "servicenow").await.len(), 2);
}

#[tokio::test]
async fn every_refused_servicenow_delivery_says_why_and_writes_nothing() {
    let clock = ManualClock::new();
    let h = harness(clock.clone()).await;
    let ritm = || fixture("servicenow/sc_req_item_table_api_record.json");
    let record = |edit: &dyn Fn(&mut Value)| {
        let mut v = fixture_json("servicenow/sc_req_item_table_api_record.json");
        edit(&mut v["result"]);
        v.to_string().into_bytes()
    };
    let head = audit_size(&h).await;
    let ts = clock.now().timestamp().to_string();
    let signed_by = |secret: &str, ts: &str, body: &[u8]| format!("sha256={}", hmac_hex(secret, &[ts.as_bytes(), b".", body]));
    let old = (clock.now() - TimeDelta::minutes(6)).timestamp().to_string();
    let cases: Vec<(&str, (StatusCode, Value), StatusCode, &str)> = vec![
        ("unsigned", post(&h, "/hooks/servicenow", &[("x-writ-timestamp", ts.clone())], ritm()).await, StatusCode::UNAUTHORIZED, "X-Writ-Signature missing"),
        (
            "another secret",
            post(&h, "/hooks/servicenow", &[("x-writ-timestamp", ts.clone()), ("x-writ-signature", signed_by("another-secret-000000", &ts, &ritm()))], ritm())
                .await,
            StatusCode::UNAUTHORIZED,
            "does not match",
        ),
        (
            "too old",
            post(&h, "/hooks/servicenow", &[("x-writ-timestamp", old.clone()), ("x-writ-signature", signed_by(SN_SECRET, &old, &ritm()))], ritm()).await,
            StatusCode::UNAUTHORIZED,
            "[hooks.servicenow] max_skew",
        ),
        ("a list", servicenow(&h, None, fixture("servicenow/sc_request_table_api_list.json")).await, StatusCode::BAD_REQUEST, "`result` is a list"),
        ("no number", servicenow(&h, None, record(&|r| r["number"] = Value::Null)).await, StatusCode::BAD_REQUEST, "`result.number` missing"),
        ("not a string", servicenow(&h, None, record(&|r| r["short_description"] = json!(42))).await, StatusCode::BAD_REQUEST, "`result.short_description`"),
        (
            "no requester",
            servicenow(&h, None, record(&|r| r["opened_by"] = json!(""))).await,
            StatusCode::BAD_REQUEST,
            "none of `result.requested_for`, `result.opened_by`",
        ),
        (
            "unknown requester",
            servicenow(&h, None, record(&|r| r["requested_for"] = json!({ "link": "x", "value": "6816f79cc0a8016401c5a33be04be441" }))).await,
            StatusCode::FORBIDDEN,
            "6816f79cc0a8016401c5a33be04be441",
        ),
        ("no delivery id", servicenow(&h, None, record(&|r| r["sys_id"] = json!(""))).await, StatusCode::BAD_REQUEST, "X-Writ-Delivery missing"),
        ("too large", servicenow(&h, None, vec![b' '; 70 * 1024]).await, StatusCode::PAYLOAD_TOO_LARGE, ""),
    ];
    for (what, (status, v), expect, says) in cases {
        assert_eq!(status, expect, "{what}: {v}");
        assert!(v.to_string().contains(says), "{what}: `{says}` in {v}");
        assert!(!v.to_string().contains(SN_SECRET), "{what}: the secret never shows");
    }
    assert_eq!(audit_size(&h).await, head, "nothing written");
    assert!(tickets(&h, "servicenow").await.is_empty());
}

/// A disabled requester is refused like an unknown one; a disabled
/// integration identity is the server's fault (503: the sender retries once
/// it is fixed); neither writes anything.
#[tokio::test]
async fn disabled_people_and_a_disabled_integration_are_refused() {
    let clock = ManualClock::new();
    let h = harness(clock.clone()).await;
    let (status, v) = h.post("sam", "/v1/identities/bob/status", json!({ "status": "disabled" })).await;
    assert!(status.is_success(), "{v}");
    let (status, v) = h.post("sam", "/v1/identities/svc-service-desk/status", json!({ "status": "disabled" })).await;
    assert!(status.is_success(), "{v}");
    let head = audit_size(&h).await;
    let (status, v) = servicenow(&h, Some("d-1"), fixture("servicenow/incident_table_api_create_response.json")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "bob is disabled: {v}");
    sit_at(&clock, CREATED_MS);
    let (status, v) = jira(&h, "d-2", fixture(CREATED)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(v["message"].as_str().unwrap().contains("[hooks.jira] actor"), "{v}");
    assert_eq!(audit_size(&h).await, head, "nothing written");
}

#[tokio::test]
async fn an_unconfigured_hook_is_not_found() {
    let h = common::harness().await;
    for path in ["/hooks/jira", "/hooks/servicenow"] {
        let (status, v) = post(&h, path, &[], b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {v}");
        assert!(v["message"].as_str().unwrap().contains("[hooks."), "{v}");
    }
}

#[tokio::test]
async fn bad_hook_settings_stop_the_server_naming_the_key() {
    for (extra, expect) in [
        ("[hooks.jira]\nsecret_file = \"jira-secret\"\nactor = \"nobody\"\n", "hooks.jira"),
        ("[hooks.jira]\nsecret_file = \"jira-secret\"\nactor = \"alice\"\n", "take tickets in"),
        ("[hooks.jira]\nsecret_file = \"missing-secret\"\nactor = \"svc-service-desk\"\n", "secret_file"),
        ("[hooks.servicenow]\nsecret_file = \"jira-secret\"\nactor = \"svc-service-desk\"\nmax_skew = \"a while\"\n", "max_skew"),
        ("[hooks.jira]\nsecret_file = \"jira-secret\"\nactor = \"svc-service-desk\"\nrequest_type_field = \"customfield_10010\"\nrequest_types = { \"Get help\" = \"teleport\" }\n", "teleport"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let report = writ_server::init::init(dir.path(), false).await.unwrap();
        std::fs::write(dir.path().join("jira-secret"), JIRA_SECRET).unwrap();
        let mut text = std::fs::read_to_string(&report.config).unwrap();
        text.push_str(&format!("\n{extra}"));
        std::fs::write(&report.config, text).unwrap();
        let cfg = writ_server::Config::load_from(&report.config, std::iter::empty()).unwrap();
        let e = writ_server::build(&cfg).await.err().unwrap().to_string();
        assert!(e.contains(expect), "{expect} in {e}");
        assert!(!e.contains(JIRA_SECRET), "{e}");
    }
}
