//! Time-bound access that is always removed (`expiry.rs`, with `Grant` in the
//! core): expiry, revocation, covering grants, overdue removals.

use chrono::TimeDelta;
use writ_app::AppError;
use writ_core::grant::{Ending, GrantState};
use writ_core::task::TaskPurpose;
use writ_core::DomainError;

use crate::harness::*;

#[tokio::test]
async fn a_grant_past_its_expiry_starts_its_removal_and_ends_only_with_evidence() {
    let w = World::new().await;
    let (req, grant) = w.holding_read("alice", "4h").await;
    w.clock.advance(TimeDelta::hours(4) - TimeDelta::seconds(1));
    assert_eq!(w.writ.expire_due(10).await.unwrap(), 0, "not before its time");

    w.clock.advance(TimeDelta::seconds(1));
    assert_eq!(w.writ.expire_due(10).await.unwrap(), 1);

    let ending = w.grant(req.id()).await;
    assert!(matches!(ending.state(), GrantState::Revoking { ending: Ending::Expiry, .. }), "{ending:?}");
    assert!(ending.state().holds_access(), "until the removal is proved");
    let removal = w.open_task(req.id()).await;
    assert_eq!(removal.purpose(), &TaskPurpose::Revoke { grant: grant.id() });
    assert!(w.events(req.id()).await.contains(&"grant.expiring".to_owned()));

    w.writ.complete_task(&w.who("dora").await, removal.id(), "REVOKE done in the console").await.unwrap();
    assert!(matches!(w.grant(req.id()).await.state(), GrantState::Expired { .. }));
    assert!(w.events(req.id()).await.contains(&"grant.removal_attested".to_owned()));
}

#[tokio::test]
async fn a_grant_covered_by_a_later_one_ends_without_removal() {
    let w = World::new().await;
    let (first, grant) = w.holding_read("alice", "4h").await;
    w.clock.advance(TimeDelta::hours(2));
    let ext = w.writ.request_extension(&w.who("alice").await, grant.id(), hours("4h"), "the close runs late".into(), None).await.unwrap();
    w.approve("olivia", ext.id()).await.unwrap();
    w.fulfil("dan", ext.id()).await.unwrap();
    let later = w.grant(ext.id()).await;
    assert!(later.expires_at() > grant.expires_at());
    w.clock.advance(TimeDelta::hours(2));

    assert_eq!(w.writ.expire_due(10).await.unwrap(), 1);

    let ended = w.grant(first.id()).await;
    assert!(matches!(ended.state(), GrantState::Expired { .. }), "ends at once, in Writ only: {ended:?}");
    assert!(w.tasks(first.id()).await.iter().all(|t| t.purpose() == &TaskPurpose::Grant), "no removal task");
    let events = w.store.request_events(first.id()).await.unwrap();
    let covered = events.iter().find(|e| e.kind == "grant.ended_covered").expect("the cover is recorded");
    assert!(covered.payload.contains(&later.id().to_string()), "{}", covered.payload);
    assert_eq!(w.grant(ext.id()).await.state(), &GrantState::Active, "the later grant keeps the access");
}

#[tokio::test]
async fn only_those_policy_allows_revoke_a_grant() {
    let w = World::new().await;
    let (req, grant) = w.holding_read("alice", "4h").await;
    let head = w.head().await;

    let e = w.writ.revoke_grant(&w.who("bob").await, grant.id(), "I think she is done").await.unwrap_err();

    assert!(matches!(&e, AppError::Forbidden { who, .. } if who == "bob"), "{e:?}");
    assert_eq!(w.grant(req.id()).await, grant);
    assert_eq!(w.head().await, head);
    // The holder may give it up.
    let revoking = w.writ.revoke_grant(&w.who("alice").await, grant.id(), "finished early").await.unwrap();
    assert!(matches!(revoking.state(), GrantState::Revoking { ending: Ending::Early { by, .. }, .. } if by == &id("alice")), "{revoking:?}");
    assert_eq!(w.open_task(req.id()).await.purpose(), &TaskPurpose::Revoke { grant: grant.id() });
}

#[tokio::test]
async fn a_revocation_needs_a_reason() {
    let w = World::new().await;
    let (req, grant) = w.holding_read("alice", "4h").await;

    let e = w.writ.revoke_grant(&w.who("olivia").await, grant.id(), "  ").await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Invalid { field, .. }) if field == "reason"), "{e:?}");
    assert_eq!(w.grant(req.id()).await.state(), &GrantState::Active);
}

#[tokio::test]
async fn only_an_overdue_removal_can_be_closed_by_hand() {
    let w = World::new().await;
    let (req, grant) = w.holding_read("alice", "4h").await;
    w.writ.revoke_grant(&w.who("olivia").await, grant.id(), "left the team").await.unwrap();
    w.clock.advance(w.writ.settings().removal_overdue_after - TimeDelta::seconds(1));

    let e = w.writ.close_removal_by_hand(&w.who("sam").await, grant.id(), "checked the console").await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Invalid { field, .. }) if field == "grant"), "{e:?}");
    assert!(matches!(w.grant(req.id()).await.state(), GrantState::Revoking { .. }));
}

#[tokio::test]
async fn the_holder_cannot_close_their_own_overdue_removal() {
    let w = World::new().await;
    let (req, grant) = w.holding_read("alice", "4h").await;
    w.writ.revoke_grant(&w.who("olivia").await, grant.id(), "left the team").await.unwrap();
    w.clock.advance(w.writ.settings().removal_overdue_after);
    let head = w.head().await;

    let e = w.writ.close_removal_by_hand(&w.who("alice").await, grant.id(), "I removed it myself").await.unwrap_err();

    assert!(matches!(&e, AppError::Forbidden { who, .. } if who == "alice"), "{e:?}");
    assert!(matches!(w.grant(req.id()).await.state(), GrantState::Revoking { .. }));
    assert_eq!(w.head().await, head);
    // Someone policy lets revoke it may.
    let closed = w.writ.close_removal_by_hand(&w.who("sam").await, grant.id(), "checked the console: gone").await.unwrap();
    assert!(matches!(closed.state(), GrantState::Revoked { .. }), "{closed:?}");
    assert!(w.events(req.id()).await.contains(&"grant.removal_closed_by_hand".to_owned()));
}

#[tokio::test]
async fn closing_a_removal_by_hand_leaves_no_removal_task_open() {
    let w = World::new().await;
    let (req, grant) = w.holding_read("alice", "4h").await;
    w.writ.revoke_grant(&w.who("olivia").await, grant.id(), "left the team").await.unwrap();
    let removal = w.open_task(req.id()).await;
    w.clock.advance(w.writ.settings().removal_overdue_after);

    w.writ.close_removal_by_hand(&w.who("sam").await, grant.id(), "checked the console: gone").await.unwrap();

    let left = w.store.task(removal.id()).await.unwrap().unwrap();
    assert!(!left.is_open(), "the removal task is still open: {left:?}");
}

#[tokio::test]
async fn an_overdue_removal_is_noted_once() {
    let w = World::new().await;
    let (req, grant) = w.holding_read("alice", "4h").await;
    w.writ.revoke_grant(&w.who("olivia").await, grant.id(), "left the team").await.unwrap();
    w.clock.advance(w.writ.settings().removal_overdue_after - TimeDelta::seconds(1));
    assert_eq!(w.writ.note_overdue_removals().await.unwrap(), 0, "not yet");
    assert!(!w.writ.is_overdue(&w.grant(req.id()).await));

    w.clock.advance(TimeDelta::seconds(1));
    assert_eq!(w.writ.note_overdue_removals().await.unwrap(), 1);
    assert_eq!(w.writ.note_overdue_removals().await.unwrap(), 0, "noted once");

    assert!(w.writ.is_overdue(&w.grant(req.id()).await));
    assert_eq!(w.events(req.id()).await.iter().filter(|k| *k == "grant.removal_overdue").count(), 1);
    assert_eq!(w.writ.removal_counts().await.unwrap(), (1, 1));
}
