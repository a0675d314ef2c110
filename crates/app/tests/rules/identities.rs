//! The identity registry (`identities.rs`, with `Identity::validate` in the
//! core): who may change it, which identities are valid, and what disabling
//! one withdraws.

use writ_app::ports::RequestFilter;
use writ_app::AppError;
use writ_core::grant::{Ending, GrantState};
use writ_core::identity::{IdentityKind, IdentityStatus};
use writ_core::request::RequestState;
use writ_core::task::{TaskPurpose, TaskState};
use writ_core::DomainError;

use crate::harness::*;

#[tokio::test]
async fn disabling_an_identity_withdraws_its_requests_and_starts_removing_its_grants() {
    let w = World::new().await;
    let (held, grant) = w.holding_read("alice", "4h").await;
    let pending = w.submit("alice", "alice", &[WRITE], "4h").await.unwrap();
    let approved = w.submit("alice", "alice", &[OPEN], "4h").await.unwrap();
    let open_task = w.open_task(approved.id()).await;
    let by_her = w.submit("alice", "bob", &[LOW], "4h").await.unwrap();
    let for_her = w.submit("bob", "alice", &[ADMIN], "4h").await.unwrap();
    let unrelated = w.submit("bob", "bob", &[READ], "4h").await.unwrap();
    let mut alice = w.who("alice").await;
    alice.status = IdentityStatus::Disabled;

    w.writ.upsert_identities(Some(&w.who("sam").await), vec![alice]).await.unwrap();

    assert_eq!(w.who("alice").await.status, IdentityStatus::Disabled);
    for r in [pending.id(), approved.id(), by_her.id(), for_her.id()] {
        let stored = w.request(r).await;
        assert_eq!(stored.state(), RequestState::Cancelled, "{r}");
        assert!(stored.outcome_reason().unwrap().contains("`alice` was disabled by `sam`"), "{:?}", stored.outcome_reason());
    }
    assert!(matches!(w.store.task(open_task.id()).await.unwrap().unwrap().state(), TaskState::Cancelled { .. }), "its open tasks too");
    let removing = w.grant(held.id()).await;
    assert!(matches!(removing.state(), GrantState::Revoking { ending: Ending::Early { by, .. }, .. } if by == &id("sam")), "{removing:?}");
    assert_eq!(w.open_task(held.id()).await.purpose(), &TaskPurpose::Revoke { grant: grant.id() }, "removed through the normal path");
    assert_eq!(w.request(unrelated.id()).await.state(), RequestState::Pending, "others' requests are untouched");
}

#[tokio::test]
async fn re_enabling_an_identity_restores_nothing() {
    let w = World::new().await;
    let (held, _) = w.holding_read("alice", "4h").await;
    let pending = w.submit("alice", "alice", &[WRITE], "4h").await.unwrap();
    let mut alice = w.who("alice").await;
    alice.status = IdentityStatus::Disabled;
    w.writ.upsert_identities(None, vec![alice.clone()]).await.unwrap();

    alice.status = IdentityStatus::Active;
    w.writ.upsert_identities(None, vec![alice]).await.unwrap();

    assert_eq!(w.request(pending.id()).await.state(), RequestState::Cancelled);
    assert!(matches!(w.grant(held.id()).await.state(), GrantState::Revoking { .. }), "access is requested anew");
}

#[tokio::test]
async fn an_identity_cannot_take_a_reserved_name() {
    let w = World::new().await;
    let head = w.head().await;

    for name in ["system", "Policy", "operator", "manual", "writ-reconciler"] {
        let e = w.writ.upsert_identities(None, vec![person(name, &[], None)]).await.unwrap_err();

        assert!(matches!(&e, AppError::Domain(DomainError::Invalid { field, reason }) if field.contains(name) && reason.contains("reserved")), "{name}: {e:?}");
        assert!(w.store.identity(&id(name)).await.unwrap().is_none(), "{name} was stored");
    }
    assert_eq!(w.head().await, head);
}

#[tokio::test]
async fn a_non_human_identity_needs_a_person_as_owner() {
    let w = World::new().await;
    let head = w.head().await;

    let orphan = writ_core::identity::Identity { owner: None, ..machine("bot2", IdentityKind::ApiKey, "alice", &[]) };
    let cases = [
        (orphan, "must name an `owner`"),
        (machine("bot2", IdentityKind::ServiceAccount, "agent", &[]), "not a person"),
        (machine("bot2", IdentityKind::AiAgent, "nobody", &[]), "not a known identity"),
    ];
    for (bot, why) in cases {
        let e = w.writ.upsert_identities(None, vec![bot]).await.unwrap_err();
        assert!(matches!(&e, AppError::Domain(DomainError::Invalid { reason, .. }) if reason.contains(why)), "{why}: {e:?}");
    }
    assert!(w.store.identity(&id("bot2")).await.unwrap().is_none());
    assert_eq!(w.head().await, head);
}

#[tokio::test]
async fn a_batch_of_identities_is_stored_whole_or_not_at_all() {
    let w = World::new().await;
    let head = w.head().await;

    let e = w.writ.upsert_identities(None, vec![person("carol", &[], None), person("system", &[], None)]).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Invalid { .. })), "{e:?}");
    assert!(w.store.identity(&id("carol")).await.unwrap().is_none());
    assert_eq!(w.head().await, head);
}

#[tokio::test]
async fn only_those_policy_allows_manage_identities() {
    let w = World::new().await;
    let head = w.head().await;
    let bob = w.who("bob").await;
    let promoted = person("bob", &["security"], Some("mona"));

    let e = w.writ.upsert_identities(Some(&bob), vec![promoted]).await.unwrap_err();

    assert!(matches!(&e, AppError::Forbidden { who, .. } if who == "bob"), "{e:?}");
    assert_eq!(w.who("bob").await, bob);
    assert_eq!(w.head().await, head);
    // Security may.
    w.writ.upsert_identities(Some(&w.who("sam").await), vec![person("carol", &[], None)]).await.unwrap();
    assert!(w.store.identity(&id("carol")).await.unwrap().is_some());
}

#[tokio::test]
async fn an_owner_cannot_stop_being_a_person_while_it_owns_identities() {
    let w = World::new().await;
    let head = w.head().await;
    // Oscar owns the service account `svc`.
    let oscar_as_a_machine = machine("oscar", IdentityKind::ServiceAccount, "olivia", &["ledger-ops"]);

    let e = w.writ.upsert_identities(None, vec![oscar_as_a_machine]).await;

    assert!(matches!(&e, Err(AppError::Domain(DomainError::Invalid { .. }))), "accepted: {e:?}");
    assert_eq!(w.who("oscar").await.kind, IdentityKind::Person);
    assert_eq!(w.head().await, head);
}

#[tokio::test]
async fn requests_survive_an_update_that_does_not_disable() {
    let w = World::new().await;
    let pending = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    let mut alice = w.who("alice").await;
    alice.display_name = "Alice Liddell".into();

    w.writ.upsert_identities(None, vec![alice]).await.unwrap();

    assert_eq!(w.request(pending.id()).await.state(), RequestState::Pending);
    let all = w.store.requests(&RequestFilter { involving: Some(id("alice")), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn disabling_an_identity_cancels_the_open_tasks_of_its_partly_fulfilled_requests() {
    let w = World::new().await;
    // Alice asks for bob; one of the two entitlements is in place.
    let req = w.submit("alice", "bob", &[OPEN, LOW], "4h").await.unwrap();
    w.approve("olivia", req.id()).await.unwrap();
    let tasks = w.tasks(req.id()).await;
    let dan = w.who("dan").await;
    w.writ.complete_task(&dan, tasks[0].id(), "done, see INC-7").await.unwrap();
    let mut alice = w.who("alice").await;
    alice.status = IdentityStatus::Disabled;

    w.writ.upsert_identities(Some(&w.who("sam").await), vec![alice]).await.unwrap();

    let left = w.store.task(tasks[1].id()).await.unwrap().unwrap();
    assert!(!left.is_open(), "still open after its requester was disabled: {left:?}");
    let fulfilled = w.writ.complete_task(&dan, tasks[1].id(), "done, see INC-7").await;
    assert!(
        matches!(&fulfilled, Err(AppError::Domain(DomainError::IllegalTransition { entity: "task", .. }) | AppError::Forbidden { .. })),
        "the withdrawn access came into being: {fulfilled:?}"
    );
    assert_eq!(w.grants(req.id()).await.len(), 1);
}
