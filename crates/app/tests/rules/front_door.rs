//! What every front door relies on (`front_door.rs`): the Writ identity
//! behind an account elsewhere is found by attribute, never guessed; and a
//! delivery is acted on once, its replay refused with nothing written.

use writ_app::AppError;
use writ_core::identity::IdentityStatus;

use crate::harness::*;

async fn link(w: &World, who: &str, key: &str, value: &str) {
    let mut i = w.who(who).await;
    i.attributes.insert(key.into(), value.into());
    w.writ.upsert_identities(Some(&w.who("sam").await), vec![i]).await.unwrap();
}

fn refusal(e: AppError) -> String {
    match e {
        AppError::Forbidden { reason, .. } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_account_maps_to_the_one_active_identity_that_holds_it() {
    let w = World::new().await;
    link(&w, "alice", "slack_user_id", "U111").await;
    assert_eq!(w.writ.identity_by_attribute("slack_user_id", "U111").await.unwrap().id, id("alice"));
    assert_eq!(w.writ.identity_by_attribute("slack_user_id", " U111 ").await.unwrap().id, id("alice"), "surrounding blanks are not part of an id");

    let unknown = refusal(w.writ.identity_by_attribute("slack_user_id", "U999").await.unwrap_err());
    assert!(unknown.contains("no Writ identity has the attribute `slack_user_id`"), "{unknown}");
    let blank = refusal(w.writ.identity_by_attribute("slack_user_id", "  ").await.unwrap_err());
    assert!(blank.contains("blank"), "{blank}");

    link(&w, "bob", "slack_user_id", "U111").await;
    let ambiguous = refusal(w.writ.identity_by_attribute("slack_user_id", "U111").await.unwrap_err());
    assert!(ambiguous.contains("alice, bob"), "{ambiguous}");
}

#[tokio::test]
async fn a_disabled_identity_never_acts_through_a_front_door() {
    let w = World::new().await;
    link(&w, "alice", "jira_account_id", "acc-1").await;
    let mut alice = w.who("alice").await;
    alice.status = IdentityStatus::Disabled;
    w.writ.upsert_identities(Some(&w.who("sam").await), vec![alice]).await.unwrap();
    let disabled = refusal(w.writ.identity_by_attribute("jira_account_id", "acc-1").await.unwrap_err());
    assert!(disabled.contains("`alice`, which is disabled"), "{disabled}");
}

#[tokio::test]
async fn a_delivery_is_accepted_once_and_its_replay_writes_nothing() {
    let w = World::new().await;
    let alice = w.who("alice").await;
    let (before, _) = w.head().await;
    w.writ.accept_delivery(&alice, "slack", "sig-1", "block_actions").await.unwrap();
    let (after, _) = w.head().await;
    assert_eq!(after, before + 1, "one webhook.accepted event");
    let events = w.store.audit_events(before, 10).await.unwrap();
    assert_eq!(events[0].kind, "webhook.accepted");
    assert_eq!(events[0].actor, "alice");

    let replay = w.writ.accept_delivery(&alice, "slack", "sig-1", "block_actions").await.unwrap_err();
    assert!(matches!(&replay, AppError::Replayed { sender, id } if sender == "slack" && id == "sig-1"), "{replay:?}");
    assert_eq!(w.head().await.0, after, "the replay wrote nothing");
    w.writ.accept_delivery(&alice, "jira", "sig-1", "jira:issue_created").await.unwrap();

    let blank = w.writ.accept_delivery(&alice, "slack", " ", "block_actions").await.unwrap_err();
    assert!(matches!(blank, AppError::Domain(_)), "{blank:?}");
}
