//! Approval service levels (`stage_sla.rs`): an open stage is reminded once
//! at its reminder point and escalated once at its SLA, each an audit event;
//! nothing before, nothing once decided; the sweep is idempotent and reads
//! every due request; the escalation may approve, never past separation of
//! duties.
//!
//! On [`catalog_with_slas`]: `ledger/read`'s owner stage is reminded at 2h
//! and escalated at 4h to the owners' managers; `ledger/approve`'s manager
//! stage at 12h and 1d, to group `ledger-leads`.

use chrono::TimeDelta;
use serde_json::Value;
use writ_app::stage_sla::Chased;
use writ_app::AppError;
use writ_core::ids::RequestId;
use writ_core::DomainError;

use crate::harness::*;

/// The SLA events about request `r`: their kinds and payloads.
async fn chases(w: &World, r: RequestId) -> Vec<(String, Value)> {
    let events = w.store.request_events(r).await.unwrap();
    events.into_iter().filter(|e| e.kind.starts_with("request.stage_")).map(|e| (e.kind, serde_json::from_str(&e.payload).unwrap())).collect()
}

async fn inbox(w: &World, who: &str) -> Vec<RequestId> {
    w.writ.review_queue(&w.who(who).await, 100, None).await.unwrap().items.iter().map(|r| r.id()).collect()
}

async fn sweep(w: &World) -> Chased {
    w.writ.chase_overdue_stages().await.unwrap()
}

/// `who` joins `groups` (and keeps its others), or gets `manager`.
async fn amend(w: &World, who: &str, groups: &[&str], manager: Option<&str>) {
    let mut i = w.who(who).await;
    i.groups.extend(groups.iter().map(|g| group(g)));
    if let Some(m) = manager {
        i.manager = Some(id(m));
    }
    w.writ.upsert_identities(None, vec![i]).await.unwrap();
}

#[tokio::test]
async fn nothing_is_chased_before_the_reminder_point() {
    let w = World::with_slas().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    w.clock.advance(TimeDelta::hours(2) - TimeDelta::seconds(1));
    let head = w.head().await;
    assert_eq!(sweep(&w).await, Chased::default());
    assert_eq!(w.head().await, head, "nothing written");
    assert!(chases(&w, req.id()).await.is_empty());
}

#[tokio::test]
async fn the_approvers_are_reminded_once_at_the_reminder_point_and_a_second_sweep_writes_nothing() {
    let w = World::with_slas().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    w.clock.advance(TimeDelta::hours(2));
    assert_eq!(sweep(&w).await, Chased { reminded: 1, escalated: 0 });
    let seen = chases(&w, req.id()).await;
    assert_eq!(seen.len(), 1);
    let (kind, p) = &seen[0];
    assert_eq!(kind, "request.stage_reminded");
    assert_eq!((p["entitlement"].as_str(), p["stage"].as_str(), p["to"].as_str()), (Some(READ), Some("owner"), Some("the entitlement owners")));
    assert_eq!(p["due_at"], serde_json::to_value(t0() + TimeDelta::hours(4)).unwrap());
    let head = w.head().await;
    assert_eq!(sweep(&w).await, Chased::default());
    w.clock.advance(TimeDelta::hours(1));
    assert_eq!(sweep(&w).await, Chased::default(), "reminded once");
    assert_eq!(w.head().await, head, "nothing written");
    assert!(w.request(req.id()).await.tracks()[0].stages[0].reminded_at.is_some());
}

#[tokio::test]
async fn a_stage_is_escalated_once_at_its_sla_to_the_owners_managers() {
    let w = World::with_slas().await;
    // olivia (an owner of ledger/read) answers to mona; oscar to nobody.
    amend(&w, "olivia", &[], Some("mona")).await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    w.clock.advance(TimeDelta::hours(2));
    sweep(&w).await;
    w.clock.advance(TimeDelta::hours(2) - TimeDelta::seconds(1));
    assert_eq!(sweep(&w).await, Chased::default(), "not before the SLA");
    assert_eq!(w.writ.pending_past_sla().await.unwrap(), 0);
    w.clock.advance(TimeDelta::seconds(1));
    assert_eq!(w.writ.pending_past_sla().await.unwrap(), 1);
    assert_eq!(sweep(&w).await, Chased { reminded: 0, escalated: 1 });
    let seen = chases(&w, req.id()).await;
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["request.stage_reminded", "request.stage_escalated"]);
    let p = &seen[1].1;
    assert_eq!((p["stage"].as_str(), p["escalate_to"].as_str(), p["to"].as_str()), (Some("owner"), Some("manager"), Some("`mona`")));
    let head = w.head().await;
    w.clock.advance(TimeDelta::hours(10));
    assert_eq!(sweep(&w).await, Chased::default(), "escalated once");
    assert_eq!(w.head().await, head);
    // The escalation approves; the request leaves the SLA count.
    w.approve("mona", req.id()).await.unwrap();
    assert_eq!(w.writ.pending_past_sla().await.unwrap(), 0);
}

#[tokio::test]
async fn a_first_look_past_the_sla_reminds_then_escalates_in_one_commit() {
    let w = World::with_slas().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    w.clock.advance(TimeDelta::hours(5));
    assert_eq!(sweep(&w).await, Chased { reminded: 1, escalated: 1 });
    let seen = chases(&w, req.id()).await;
    assert_eq!(seen.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["request.stage_reminded", "request.stage_escalated"]);
    assert_eq!(seen[1].1["to"], "nobody (no manager found)", "no owner has a manager: recorded and notified all the same");
}

#[tokio::test]
async fn nothing_is_chased_once_the_stage_is_decided() {
    let w = World::with_slas().await;
    let denied = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    let approved = w.submit("bob", "bob", &[READ], "4h").await.unwrap();
    w.clock.advance(TimeDelta::hours(1));
    w.deny("olivia", denied.id(), "not needed").await.unwrap();
    w.approve("olivia", approved.id()).await.unwrap();
    w.clock.advance(TimeDelta::hours(10));
    let head = w.head().await;
    assert_eq!(sweep(&w).await, Chased::default());
    assert_eq!(w.head().await, head, "nothing written");
    assert_eq!(w.writ.pending_past_sla().await.unwrap(), 0);
}

#[tokio::test]
async fn the_escalation_group_may_approve_but_never_the_requester() {
    let w = World::with_slas().await;
    w.writ.upsert_identities(None, vec![person("lee", &["ledger-leads"], None)]).await.unwrap();
    amend(&w, "bob", &["ledger-leads"], None).await;
    let req = w.submit("bob", "bob", &[APPROVE], "4h").await.unwrap();
    let e = w.approve("lee", req.id()).await.unwrap_err();
    assert!(matches!(e, AppError::Domain(DomainError::NoAuthority { .. })), "not before the escalation: {e}");
    assert!(inbox(&w, "lee").await.is_empty());
    w.clock.advance(TimeDelta::days(1));
    assert_eq!(sweep(&w).await, Chased { reminded: 1, escalated: 1 });
    assert_eq!(inbox(&w, "lee").await, [req.id()], "the escalation sees it in its review queue");
    assert!(inbox(&w, "bob").await.is_empty(), "never the requester's");
    let head = w.head().await;
    let e = w.approve("bob", req.id()).await.unwrap_err();
    assert!(matches!(e, AppError::Domain(DomainError::SelfReview { .. })), "in the escalation group, still the requester: {e}");
    assert_eq!(w.head().await, head, "a refused review writes nothing");
    let approved = w.approve("lee", req.id()).await.unwrap();
    assert_eq!(approved.state(), writ_core::request::RequestState::Approved);
}

#[tokio::test]
async fn the_sweep_reads_every_due_request_page_by_page() {
    let w = World::with_slas().await;
    // One more than a page of the store's reads (500).
    let mut ids = Vec::new();
    for _ in 0..501 {
        ids.push(w.submit("alice", "alice", &[READ], "4h").await.unwrap().id());
    }
    w.clock.advance(TimeDelta::hours(2));
    assert_eq!(sweep(&w).await, Chased { reminded: 501, escalated: 0 });
    for r in [ids[0], ids[250], ids[500]] {
        assert_eq!(chases(&w, r).await.len(), 1);
    }
    assert_eq!(sweep(&w).await, Chased::default());
}
