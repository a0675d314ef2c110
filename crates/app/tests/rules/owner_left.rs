//! Leavers' non-human identities (`owner_left.rs`): when a person is
//! disabled, each active non-human identity they own is flagged to their
//! manager with a deadline; only Writ sets or clears the flag; past the
//! deadline it is recorded overdue once, and stays listed and counted until
//! it has a new active owner or is disabled.
//!
//! In the registry: the AI agent `agent` is owned by alice, whose manager is mona.

use chrono::TimeDelta;
use writ_core::identity::IdentityStatus;

use crate::harness::*;

async fn disable(w: &World, who: &str) {
    let mut i = w.who(who).await;
    i.status = IdentityStatus::Disabled;
    w.writ.upsert_identities(Some(&w.who("sam").await), vec![i]).await.unwrap();
}

async fn kinds(w: &World) -> Vec<String> {
    w.store.audit_events(0, 10_000).await.unwrap().into_iter().map(|e| e.kind).filter(|k| k.starts_with("identity.owner_left")).collect()
}

async fn listed(w: &World, overdue_only: bool) -> Vec<String> {
    let page = w.writ.owner_left_identities(&w.who("sam").await, overdue_only, None, 100).await.unwrap();
    page.items.iter().map(|(i, _)| i.id.to_string()).collect()
}

#[tokio::test]
async fn a_leavers_non_human_identities_are_flagged_to_their_manager_with_a_deadline() {
    let w = World::new().await;
    disable(&w, "alice").await;

    let agent = w.who("agent").await;
    let flag = agent.owner_left.clone().expect("flagged");
    assert_eq!((flag.owner.as_str(), flag.flagged_to.as_ref().map(|m| m.as_str())), ("alice", Some("mona")));
    assert_eq!(flag.due_at, t0() + w.writ.settings().owner_left_within);
    assert_eq!(agent.status, IdentityStatus::Active, "flagged, not disabled: its manager decides");
    assert_eq!(kinds(&w).await, ["identity.owner_left"]);
    assert_eq!(listed(&w, false).await, ["agent"]);
    assert!(listed(&w, true).await.is_empty(), "not overdue yet");
    assert_eq!(w.writ.owner_left_counts().await.unwrap(), (1, 0));
    assert!(w.who("svc").await.owner_left.is_none(), "oscar's service account is untouched");
}

#[tokio::test]
async fn a_writer_can_neither_clear_nor_set_the_flag() {
    let w = World::new().await;
    disable(&w, "alice").await;
    // A provider rewrites the agent as it knows it (without the flag).
    let mut agent = w.who("agent").await;
    agent.owner_left = None;
    agent.display_name = "Nightly agent".into();
    w.writ.upsert_identities(None, vec![agent]).await.unwrap();
    assert!(w.who("agent").await.owner_left.is_some(), "still flagged");
    // Nor can it flag one Writ did not.
    let mut svc = w.who("svc").await;
    svc.owner_left = w.who("agent").await.owner_left;
    w.writ.upsert_identities(None, vec![svc]).await.unwrap();
    assert!(w.who("svc").await.owner_left.is_none());
}

#[tokio::test]
async fn a_new_active_owner_or_disabling_it_settles_the_flag() {
    let w = World::new().await;
    disable(&w, "alice").await;
    let mut agent = w.who("agent").await;
    agent.owner = Some(id("bob"));
    w.writ.upsert_identities(None, vec![agent]).await.unwrap();
    assert!(w.who("agent").await.owner_left.is_none());
    assert_eq!(kinds(&w).await, ["identity.owner_left", "identity.owner_left_settled"]);
    assert_eq!(w.writ.owner_left_counts().await.unwrap(), (0, 0));

    // bob leaves too; this time the agent is disabled instead.
    disable(&w, "bob").await;
    assert!(w.who("agent").await.owner_left.is_some());
    disable(&w, "agent").await;
    assert!(w.who("agent").await.owner_left.is_none());
    assert!(listed(&w, false).await.is_empty());
}

#[tokio::test]
async fn past_its_deadline_a_flag_is_recorded_overdue_once_and_stays_listed_and_counted() {
    let w = World::new().await;
    disable(&w, "alice").await;
    assert_eq!(w.writ.note_overdue_owner_left().await.unwrap(), 0, "not due yet");

    w.clock.advance(w.writ.settings().owner_left_within + TimeDelta::minutes(1));
    assert_eq!(w.writ.note_overdue_owner_left().await.unwrap(), 1);
    assert_eq!(w.writ.note_overdue_owner_left().await.unwrap(), 0, "once");
    assert_eq!(kinds(&w).await, ["identity.owner_left", "identity.owner_left_overdue"]);
    assert_eq!(listed(&w, true).await, ["agent"]);
    assert_eq!(w.writ.owner_left_counts().await.unwrap(), (1, 1));
}

#[tokio::test]
async fn the_list_pages_by_deadline_and_says_when_there_is_more() {
    let w = World::new().await;
    disable(&w, "alice").await;
    w.clock.advance(TimeDelta::hours(1));
    disable(&w, "oscar").await;
    let sam = w.who("sam").await;
    let first = w.writ.owner_left_identities(&sam, false, None, 1).await.unwrap();
    assert_eq!(first.items.iter().map(|(i, _)| i.id.to_string()).collect::<Vec<_>>(), ["agent"], "soonest deadline first");
    let second = w.writ.owner_left_identities(&sam, false, first.next.clone(), 1).await.unwrap();
    assert_eq!(second.items.iter().map(|(i, _)| i.id.to_string()).collect::<Vec<_>>(), ["svc"]);
    assert!(second.next.is_none(), "the last page says so");
    let e = w.writ.owner_left_identities(&w.who("bob").await, false, None, 10).await.unwrap_err();
    assert!(matches!(e, writ_app::AppError::Forbidden { .. }), "policy decides who lists them: {e:?}");
}
