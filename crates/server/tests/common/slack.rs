//! A stand-in for Slack in the tests: its Web API as a local listener that
//! records each call (`chat.postMessage`, `views.open`, `chat.update`) and
//! answers `{"ok":true}` (Slack itself cannot run here), `[slack]` pointing
//! at it, and interactions built from the captured `block_actions` payload
//! (`tests/data/webhooks/slack/`) and signed as Slack signs them.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::Harness;

pub const SIGNING_SECRET: &str = "writ-test-signing-secret-NOT-REAL";
pub const BOT_TOKEN: &str = "xoxb-test-bot-token-NOT-REAL";
pub const CHANNEL: &str = "C0APPROVALS";

/// Request headers, by name.
pub type Headers = Vec<(&'static str, String)>;

/// One call to the fake Slack Web API.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub authorization: String,
    pub body: Value,
}

/// A local stand-in for `https://slack.com/api`: records every call.
#[derive(Clone, Default)]
pub struct FakeSlack {
    calls: Arc<Mutex<Vec<Call>>>,
}

async fn record(State(s): State<FakeSlack>, Path(method): Path<String>, headers: HeaderMap, Json(body): Json<Value>) -> Json<Value> {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    s.calls.lock().unwrap().push(Call { method, authorization, body });
    Json(json!({ "ok": true }))
}

impl FakeSlack {
    pub async fn start() -> (FakeSlack, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let s = FakeSlack::default();
        let app = Router::new().route("/api/{method}", post(record)).with_state(s.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (s, url)
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.calls.lock().unwrap().iter().filter(|c| c.method == method).cloned().collect()
    }

    /// Waits (a bounded while) for a call made after the answer was sent.
    pub async fn eventually(&self, method: &str) -> Vec<Call> {
        for _ in 0..100 {
            let calls = self.calls(method);
            if !calls.is_empty() {
                return calls;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no `{method}` call reached the fake Slack");
    }

    /// The `[slack]` table for a harness whose data directory is `data`,
    /// its secrets written there.
    pub fn config(api_url: &str, data: &std::path::Path) -> String {
        std::fs::write(data.join("slack-signing-secret"), format!("{SIGNING_SECRET}\n")).unwrap();
        std::fs::write(data.join("slack-bot-token"), format!("{BOT_TOKEN}\n")).unwrap();
        format!(
            "\n[slack]\nsigning_secret_file = \"slack-signing-secret\"\nbot_token_file = \"slack-bot-token\"\napi_url = \"{api_url}\"\napprovals_channel = \"{CHANNEL}\"\n"
        )
    }
}

/// Gives each `(identity, Slack user id)` its `slack_user_id` attribute.
pub async fn link(h: &Harness, people: &[(&str, &str)]) {
    for (who, slack_id) in people {
        let mut identity = h.app.writ.identity(&who.parse().unwrap()).await.unwrap();
        identity.attributes.insert("slack_user_id".into(), (*slack_id).into());
        h.app.writ.upsert_identities(None, vec![identity]).await.unwrap();
    }
}

/// The captured block_actions payload, clicked by `user` on `action_id` of
/// request `id`.
pub fn click(action_id: &str, id: &str, user: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/webhooks/slack/block_actions_message_button.json");
    let mut p: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    p["actions"][0]["action_id"] = json!(action_id);
    p["actions"][0]["value"] = json!(id);
    p["user"]["id"] = json!(user);
    p
}

/// The body as Slack sends it: one form field, spaces as `%20`.
pub fn form(payload: &Value) -> String {
    format!("payload={}", form_urlencoded::byte_serialize(payload.to_string().as_bytes()).collect::<String>().replace('+', "%20"))
}

pub fn sign(timestamp: i64, body: &str) -> String {
    writ_server::slack::signature::sign(SIGNING_SECRET, &timestamp.to_string(), body.as_bytes())
}

/// POSTs `body` to the interaction endpoint with exactly these headers.
pub async fn raw(h: &Harness, body: &str, headers: &[(&str, String)]) -> (StatusCode, Value) {
    let mut req = axum::http::Request::builder().method("POST").uri("/slack/interactions").header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = h.router.clone().oneshot(req.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
}

/// POSTs `payload` signed at the app's clock, as Slack would; returns the
/// headers it was sent with too.
pub async fn send(h: &Harness, payload: &Value) -> (StatusCode, Value, Headers) {
    let now = h.app.writ.clock().now().timestamp();
    let body = form(payload);
    let headers = vec![("x-slack-request-timestamp", now.to_string()), ("x-slack-signature", sign(now, &body))];
    let (status, v) = raw(h, &body, &headers).await;
    (status, v, headers)
}
