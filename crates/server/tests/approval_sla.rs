//! Approval service levels end to end: in the demo catalog,
//! `pg-prod/payments_readonly`'s owner stage has an SLA of 4h (reminded at
//! 2h) and escalates to the owners' manager (mona). The sweep the worker runs
//! records each step once as an audit event, each reaches the webhook
//! receiver as a notification, and `/metrics` counts the pending requests
//! past their SLA.

mod common;

use chrono::TimeDelta;
use serde_json::{json, Value};

use common::webhook::Receiver;
use common::{harness_with, Harness, ManualClock};
use writ_app::stage_sla::Chased;

async fn metric(h: &Harness, name: &str) -> u64 {
    let (status, body) = h.call(Some("audrey"), "GET", "/metrics", None).await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let text = body.as_str().unwrap();
    let line = text.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| panic!("no `{name}` in /metrics"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn sla_events(h: &Harness, id: &str) -> Vec<(String, Value)> {
    let (_, v) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("request.stage_"))
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), serde_json::from_str(e["payload"].as_str().unwrap()).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_stage_is_reminded_then_escalated_once_notified_and_counted() {
    let hooks = Receiver::start().await;
    let clock = ManualClock::new();
    let h = harness_with(
        |policies| {
            let data = policies.parent().unwrap();
            let mut config = std::fs::read_to_string(data.join("writ.toml")).unwrap();
            config.push_str(&hooks.config(data));
            std::fs::write(data.join("writ.toml"), config).unwrap();
        },
        Some(clock.clone()),
    )
    .await;
    let writ = h.app.writ.clone();
    let (status, v) = h
        .post("alice", "/v1/requests", json!({ "entitlements": ["pg-prod/payments_readonly"], "justification": "month-end reconciliation", "duration": "4h" }))
        .await;
    assert_eq!(status.as_u16(), 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    writ.run_due_jobs(10).await.unwrap();
    assert_eq!(hooks.accepted("approval_needed").len(), 1);

    // Nothing before the reminder point.
    clock.advance(TimeDelta::hours(2) - TimeDelta::seconds(1));
    assert_eq!(writ.chase_overdue_stages().await.unwrap(), Chased::default());
    assert!(sla_events(&h, &id).await.is_empty());

    // At 2h the owners are reminded, once.
    clock.advance(TimeDelta::seconds(1));
    assert_eq!(writ.chase_overdue_stages().await.unwrap(), Chased { reminded: 1, escalated: 0 });
    let head = writ.store().audit_head().await.unwrap();
    assert_eq!(writ.chase_overdue_stages().await.unwrap(), Chased::default());
    assert_eq!(writ.store().audit_head().await.unwrap(), head, "a second sweep writes nothing");
    writ.run_due_jobs(10).await.unwrap();
    let reminders = hooks.accepted("approval_reminder");
    assert_eq!(reminders.len(), 1);
    let body = reminders[0].json();
    assert_eq!((body["event"].as_str(), body["request"].as_str()), (Some("request.stage_reminded"), Some(id.as_str())));
    let summary = body["summary"].as_str().unwrap();
    assert!(summary.contains("`pg-prod/payments_readonly`") && summary.contains("stage `owner`") && summary.contains("the entitlement owners"), "{summary}");
    assert_eq!(metric(&h, "writ_requests_pending_past_sla").await, 0);

    // At 4h the stage is past its SLA: counted, and escalated to mona, once.
    clock.advance(TimeDelta::hours(2));
    assert_eq!(metric(&h, "writ_requests_pending_past_sla").await, 1);
    assert_eq!(writ.chase_overdue_stages().await.unwrap(), Chased { reminded: 0, escalated: 1 });
    assert_eq!(writ.chase_overdue_stages().await.unwrap(), Chased::default());
    writ.run_due_jobs(10).await.unwrap();
    let escalations = hooks.accepted("approval_escalated");
    assert_eq!(escalations.len(), 1);
    let body = escalations[0].json();
    assert_eq!((body["payload"]["stage"].as_str(), body["payload"]["to"].as_str()), (Some("owner"), Some("`mona`")));
    assert!(body["summary"].as_str().unwrap().starts_with("ESCALATED"), "{body}");
    assert_eq!(hooks.accepted("approval_reminder").len(), 1, "no second reminder");

    // The evidence holds both steps, in order, with the deadline.
    let steps = sla_events(&h, &id).await;
    assert_eq!(steps.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["request.stage_reminded", "request.stage_escalated"]);
    assert_eq!(steps[1].1["entitlement"], "pg-prod/payments_readonly");
    assert!(steps[1].1["due_at"].is_string());
    let (_, ev) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    let owner_stage = &ev["request"]["stages"][0];
    assert_eq!((owner_stage["sla"].as_str(), owner_stage["escalated_to"].as_str()), (Some("4h"), Some("`mona`")), "{owner_stage}");
    assert!(owner_stage["reminded_at"].is_string());
    assert_eq!(metric(&h, "writ_approval_reminders_total").await, 1);
    assert_eq!(metric(&h, "writ_approval_escalations_total").await, 1);

    // mona (not an owner) may now approve the owner stage; the security stage opens.
    let (status, v) = h.post("mona", &format!("/v1/requests/{id}/approve"), json!({ "reason": "olivia and oscar are away" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(metric(&h, "writ_requests_pending_past_sla").await, 0, "the security stage has no SLA");
    // The requester, whatever the escalation, never.
    let (status, v) = h.post("alice", &format!("/v1/requests/{id}/approve"), json!({ "reason": "mine" })).await;
    assert_eq!(status.as_u16(), 403, "{v}");
}
