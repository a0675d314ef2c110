//! Approvals from Slack, through the real in-process server: a request's
//! approval message is posted to the approvals channel; a click on its
//! Approve button (the captured `block_actions` shape of
//! `tests/data/webhooks/slack/block_actions_message_button.json`, with
//! Writ's action id, the request id and a mapped Slack user put in, then
//! signed like Slack signs) approves it through the same review as the API,
//! and it is then fulfilled like any other; Deny opens the reason dialog,
//! whose submission denies with the typed reason. Every refusal (signature,
//! timestamp, headers, replay, unknown or disabled user, the requester, a
//! non-approver) is a clear 4xx that writes nothing.
//!
//! Slack itself cannot run here: its Web API (`chat.postMessage`,
//! `views.open`, `chat.update`) is a local listener that records each call
//! and answers `{"ok":true}` (`common::slack::FakeSlack`), and
//! `[slack] api_url` points at it.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{json, Value};

use common::slack::{self, click, form, link, sign, FakeSlack, Headers, BOT_TOKEN, CHANNEL, SIGNING_SECRET};
use common::{harness_with, Harness, ManualClock};

struct Slack {
    h: Harness,
    fake: FakeSlack,
    clock: Arc<ManualClock>,
}

/// The demo install with `[slack]` pointing at a fake Slack, and Slack user
/// ids given to alice, bob, mona and sam.
async fn setup() -> Slack {
    let (fake, api_url) = FakeSlack::start().await;
    let clock = ManualClock::new();
    let h = harness_with(
        move |policies| {
            let data = policies.parent().unwrap();
            let config = data.join("writ.toml");
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&FakeSlack::config(&api_url, data));
            std::fs::write(&config, text).unwrap();
        },
        Some(clock.clone()),
    )
    .await;
    link(&h, &[("alice", "U0ALICE"), ("bob", "U0BOB"), ("mona", "U0MONA"), ("sam", "U0SAM")]).await;
    Slack { h, fake, clock }
}

/// The reason dialog (as `views.open` opened it) submitted by `user`.
fn submission(view: &Value, user: &str, reason: &str) -> Value {
    let mut view = view.clone();
    view["id"] = json!("V0DENY");
    view["state"] = json!({ "values": { "reason": { "reason_input": { "type": "plain_text_input", "value": reason } } } });
    json!({ "type": "view_submission", "team": { "id": "T0G9PQBBK" }, "user": { "id": user }, "api_app_id": "A111", "trigger_id": "4916855695381.xxx.zzz", "view": view })
}

impl Slack {
    fn now(&self) -> i64 {
        writ_app::ports::Clock::now(&*self.clock).timestamp()
    }

    async fn audit_size(&self) -> u64 {
        self.h.app.writ.store().audit_head().await.unwrap().0
    }

    async fn raw(&self, body: &str, headers: &[(&str, String)]) -> (StatusCode, Value) {
        slack::raw(&self.h, body, headers).await
    }

    async fn send(&self, payload: &Value) -> (StatusCode, Value, Headers) {
        slack::send(&self.h, payload).await
    }

    /// alice asks for privileged access to the analytics replica: pending
    /// on her manager mona's stage.
    async fn pending_request(&self) -> String {
        let body = json!({
            "entitlements": ["pg-prod/analytics_read"], "justification": "quarterly churn analysis", "duration": "2h",
            "request_type": "privileged_access", "ticket": "CHG-1042",
        });
        let (status, v) = self.h.post("alice", "/v1/requests", body).await;
        assert!(status.is_success() && v["state"] == "pending", "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    async fn state(&self, id: &str) -> Value {
        let (_, v) = self.h.get("sam", &format!("/v1/requests/{id}")).await;
        v["request"]["state"].clone()
    }
}

#[tokio::test]
async fn an_approve_click_on_the_posted_message_approves_and_the_request_is_then_fulfilled() {
    let s = setup().await;
    let id = s.pending_request().await;
    // The approval message reaches the approvals channel, with the buttons.
    s.h.app.writ.run_due_jobs(10).await.unwrap();
    let posted = s.fake.calls("chat.postMessage");
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].authorization, format!("Bearer {BOT_TOKEN}"));
    let message = &posted[0].body;
    assert_eq!(message["channel"], CHANNEL);
    let text = message["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(text.contains("*alice* asks for `pg-prod/analytics_read`") && text.contains("*2h*") && text.contains("quarterly churn analysis"), "{text}");
    let buttons = message["blocks"][1]["elements"].as_array().unwrap();
    assert_eq!(buttons[0]["action_id"], "writ_approve");
    assert_eq!(buttons[0]["value"], id.as_str());

    // mona clicks Approve on it.
    let (status, v, _) = s.send(&click("writ_approve", buttons[0]["value"].as_str().unwrap(), "U0MONA")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["text"].as_str().unwrap().contains(&format!("mona approved request {id}")), "{v}");
    assert_eq!(s.state(&id).await, "approved");
    let (_, evidence) = s.h.get("sam", &format!("/v1/requests/{id}")).await;
    let events = evidence["events"].as_array().unwrap();
    let review = events.iter().find(|e| e["kind"] == "review.recorded").unwrap();
    assert_eq!(review["actor"], "mona");
    assert!(review["payload"].as_str().unwrap().contains("approved in Slack"), "{review}");
    let (_, log) = s.h.get("sam", "/v1/audit/events?limit=1000").await;
    let accepted: Vec<&Value> = log.as_array().unwrap_or_else(|| panic!("{log}")).iter().filter(|e| e["kind"] == "webhook.accepted").collect();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0]["actor"], "mona");
    let what = accepted[0]["payload"].as_str().unwrap();
    assert!(what.contains("\"source\":\"slack\"") && what.contains(&format!("block_actions writ_approve {id}")), "{what}");
    // The message's buttons are replaced by what happened.
    let updated = s.fake.eventually("chat.update").await;
    assert_eq!((updated[0].body["channel"].as_str(), updated[0].body["ts"].as_str()), (Some("C111"), Some("1678252213.679169")));

    // Fulfilled like any other: the DBA group's task, then the grant.
    let (_, tasks) = s.h.get("dana", "/v1/tasks").await;
    let task = tasks.as_array().unwrap().iter().find(|t| t["request_id"] == id.as_str()).expect("a fulfilment task")["id"].as_str().unwrap().to_owned();
    let (status, v) = s.h.post("dana", &format!("/v1/tasks/{task}/complete"), json!({ "evidence": "GRANT analytics_read TO alice" })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(s.state(&id).await, "active", "access is in place");
    let (_, grants) = s.h.get("alice", "/v1/grants").await;
    assert!(grants.as_array().unwrap().iter().any(|g| g["request_id"] == id.as_str()), "{grants}");
}

#[tokio::test]
async fn deny_opens_the_reason_dialog_and_its_submission_denies_with_the_reason() {
    let s = setup().await;
    let id = s.pending_request().await;
    let (status, v, _) = s.send(&click("writ_deny", &id, "U0MONA")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(s.state(&id).await, "pending", "a Deny click only asks why");
    let opened = s.fake.calls("views.open");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].body["trigger_id"], "4916855695380.xxx.yyy", "the click's trigger");
    let view = opened[0].body["view"].clone();
    assert_eq!(view["callback_id"], "writ_deny_reason");
    let metadata: Value = serde_json::from_str(view["private_metadata"].as_str().unwrap()).unwrap();
    assert_eq!(metadata, json!({ "request": id, "channel": "C111", "ts": "1678252213.679169" }), "the request, and the message to update");

    // A blank reason is the dialog's own error, and writes nothing.
    let before = s.audit_size().await;
    let (status, v, _) = s.send(&submission(&view, "U0MONA", "   ")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["response_action"], "errors", "{v}");
    assert!(v["errors"]["reason"].as_str().unwrap().contains("Say why"), "{v}");
    assert_eq!(s.audit_size().await, before);

    let (status, v, _) = s.send(&submission(&view, "U0MONA", "use the anonymised replica instead")).await;
    assert_eq!((status, v["response_action"].as_str()), (StatusCode::OK, Some("clear")), "{v}");
    assert_eq!(s.state(&id).await, "denied");
    let (_, evidence) = s.h.get("sam", &format!("/v1/requests/{id}")).await;
    let denied = evidence["events"].as_array().unwrap().iter().find(|e| e["kind"] == "request.denied").unwrap().clone();
    assert_eq!(denied["actor"], "mona");
    assert!(denied["payload"].as_str().unwrap().contains("use the anonymised replica instead"), "{denied}");
    let updated = s.fake.eventually("chat.update").await;
    let text = updated[0].body["text"].as_str().unwrap();
    assert!(text.contains(&format!("mona denied request {id}")) && text.contains("use the anonymised replica instead"), "{text}");
}

#[tokio::test]
async fn unsigned_stale_or_malformed_deliveries_are_refused_and_write_nothing() {
    let s = setup().await;
    let id = s.pending_request().await;
    let payload = click("writ_approve", &id, "U0MONA");
    let body = form(&payload);
    let now = s.now();
    let before = s.audit_size().await;
    let ts = ("x-slack-request-timestamp", now.to_string());
    let good = ("x-slack-signature", sign(now, &body));
    // Each a 401 naming what is wrong.
    let cases: Vec<(&str, Headers, &str)> = vec![
        ("no headers", vec![], "missing `X-Slack-Request-Timestamp`"),
        ("no signature", vec![ts.clone()], "missing `X-Slack-Signature`"),
        ("no timestamp", vec![good.clone()], "missing `X-Slack-Request-Timestamp`"),
        ("malformed signature", vec![ts.clone(), ("x-slack-signature", "v0=xyz".into())], "64 hex digits"),
        ("malformed timestamp", vec![("x-slack-request-timestamp", "yesterday".into()), good.clone()], "not a number"),
        (
            "another secret",
            vec![ts.clone(), ("x-slack-signature", writ_server::slack::signature::sign("not-the-secret", &now.to_string(), body.as_bytes()))],
            "does not match",
        ),
        ("signed for another body", vec![ts.clone(), ("x-slack-signature", sign(now, &body.replace("U0MONA", "U0SAM")))], "does not match"),
        ("stale", vec![("x-slack-request-timestamp", (now - 301).to_string()), ("x-slack-signature", sign(now - 301, &body))], "301s older"),
        ("from the future", vec![("x-slack-request-timestamp", (now + 301).to_string()), ("x-slack-signature", sign(now + 301, &body))], "301s ahead"),
    ];
    for (what, headers, says) in cases {
        let (status, v) = s.raw(&body, &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{what}: {v}");
        assert!(!v.to_string().contains(SIGNING_SECRET), "{what}");
    }
    // Signed, but not an interaction Writ acts on.
    let foreign = [
        (json!({ "type": "shortcut", "user": { "id": "U0MONA" }, "callback_id": "x", "trigger_id": "t" }), "`shortcut`"),
        (click("button", &id, "U0MONA"), "action `button` is not Writ's"),
        (click("writ_approve", "not-a-request", "U0MONA"), "is not a request id"),
    ];
    for (payload, says) in foreign {
        let (status, v, _) = s.send(&payload).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{says}: {v}");
    }
    let body = "text=approve";
    let (status, v) = s.raw(body, &[("x-slack-request-timestamp", now.to_string()), ("x-slack-signature", sign(now, body))]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(s.audit_size().await, before, "nothing written");
    assert_eq!(s.state(&id).await, "pending");
    assert!(s.fake.calls("views.open").is_empty() && s.fake.calls("chat.update").is_empty());
}

#[tokio::test]
async fn a_replay_inside_the_window_is_refused_and_writes_nothing() {
    let s = setup().await;
    let id = s.pending_request().await;
    let payload = click("writ_deny", &id, "U0MONA");
    let (status, v, headers) = s.send(&payload).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let before = s.audit_size().await;
    // The same bytes, a minute later: still inside the signature's window.
    s.clock.advance(chrono::TimeDelta::seconds(60));
    let (status, v) = s.raw(&form(&payload), &headers).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(v["message"].as_str().unwrap().contains("slack"), "{v}");
    assert_eq!(s.audit_size().await, before);
    assert_eq!(s.fake.calls("views.open").len(), 1, "the dialog opened once");
}

#[tokio::test]
async fn only_a_mapped_active_approver_who_is_not_the_requester_may_click() {
    let s = setup().await;
    let id = s.pending_request().await;
    let before = s.audit_size().await;
    let refusals = [
        ("U0NOBODY", "no Writ identity has the attribute `slack_user_id`"),
        ("U0ALICE", "`alice` may not review request"),
        ("U0BOB", "`bob` may not review request"),
    ];
    for (user, says) in refusals {
        for action in ["writ_approve", "writ_deny"] {
            let (status, v, _) = s.send(&click(action, &id, user)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{user} {action}: {v}");
            assert!(v["message"].as_str().unwrap().contains(says), "{user} {action}: {v}");
        }
    }
    // The requester's own dialog submission is refused in the dialog too.
    let view = writ_connectors::slack::deny_reason_view(&id, None);
    let (status, v, _) = s.send(&submission(&view, "U0ALICE", "never mind")).await;
    assert_eq!((status, v["response_action"].as_str()), (StatusCode::OK, Some("errors")), "{v}");
    assert!(v["errors"]["reason"].as_str().unwrap().contains("`alice` may not review"), "{v}");
    assert_eq!(s.audit_size().await, before, "nothing written");
    assert!(s.fake.calls("views.open").is_empty());

    // mona, disabled, is refused too (disabling her is written; her click is not).
    let (status, v) = s.h.post("sam", "/v1/identities/mona/status", json!({ "status": "disabled" })).await;
    assert!(status.is_success(), "{v}");
    let before = s.audit_size().await;
    let (status, v, _) = s.send(&click("writ_approve", &id, "U0MONA")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert!(v["message"].as_str().unwrap().contains("disabled"), "{v}");
    assert_eq!(s.audit_size().await, before);
    assert_eq!(s.state(&id).await, "pending");
}

#[tokio::test]
async fn without_a_slack_section_the_endpoint_is_not_there() {
    let h = common::harness().await;
    let (status, v) = slack::raw(&h, "payload=%7B%7D", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(v["message"].as_str().unwrap().contains("[slack]"), "{v}");
}
