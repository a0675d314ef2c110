//! Submitting a request (`submit.rs`): who may ask, what policy and the
//! toxic combinations refuse, what is approved at once, lapse, extension.

use chrono::TimeDelta;
use writ_app::AppError;
use writ_core::break_glass::Origin;
use writ_core::fulfilment::TargetFulfilment;
use writ_core::identity::IdentityStatus;
use writ_core::request::RequestState;
use writ_core::DomainError;

use crate::harness::*;

#[tokio::test]
async fn a_disabled_subject_receives_nothing_at_submission() {
    let w = World::new().await;
    let mut bob = w.who("bob").await;
    bob.status = IdentityStatus::Disabled;
    w.writ.upsert_identities(None, vec![bob]).await.unwrap();
    let head = w.head().await;

    let e = w.submit("alice", "bob", &[READ], "4h").await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::SubjectDisabled { identity }) if identity == "bob"), "{e:?}");
    assert_eq!(w.head().await, head, "nothing is recorded");
}

#[tokio::test]
async fn a_disabled_requester_cannot_submit() {
    let w = World::new().await;
    let mut alice = w.who("alice").await;
    alice.status = IdentityStatus::Disabled;
    w.writ.upsert_identities(None, vec![alice.clone()]).await.unwrap();
    let head = w.head().await;

    let e = w.writ.submit(&alice, draft("alice", "alice", &[READ], "4h")).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::IdentityDisabled { identity, .. }) if identity == "alice"), "{e:?}");
    assert_eq!(w.head().await, head);
}

#[tokio::test]
async fn the_requester_must_be_the_caller() {
    let w = World::new().await;
    let head = w.head().await;
    let bob = w.who("bob").await;

    let e = w.writ.submit(&bob, draft("alice", "alice", &[READ], "4h")).await.unwrap_err();

    assert!(matches!(&e, AppError::Forbidden { who, reason, .. } if who == "bob" && reason.contains("requester must be the caller")), "{e:?}");
    assert_eq!(w.head().await, head);
}

#[tokio::test]
async fn a_duration_beyond_the_entitlements_maximum_is_refused() {
    let w = World::new().await;
    let head = w.head().await;

    let e = w.submit("alice", "alice", &[READ], "9h").await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Invalid { field, .. }) if field == "duration"), "{e:?}");
    assert_eq!(w.head().await, head);
}

#[tokio::test]
async fn a_request_waits_for_review_and_names_its_approvers() {
    let w = World::new().await;

    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();

    assert_eq!(req.state(), RequestState::Pending);
    let stored = w.request(req.id()).await;
    assert_eq!(stored, req, "the store holds what was returned");
    let events = w.events(req.id()).await;
    assert_eq!(events.first().map(String::as_str), Some("request.submitted"));
    assert!(events.contains(&"policy.decided".to_owned()) && events.contains(&"request.awaiting_review".to_owned()), "{events:?}");
    assert!(w.tasks(req.id()).await.is_empty(), "nothing is fulfilled before approval");
}

#[tokio::test]
async fn a_policy_refusal_is_recorded_as_a_denied_request_with_its_decision() {
    let w = World::new().await;
    let agent = w.who("agent").await;

    // Demo policy: an AI agent never asks for critical access.
    let req = w.writ.submit(&agent, draft("agent", "agent", &[ADMIN], "1h")).await.unwrap();

    assert_eq!(req.state(), RequestState::Denied);
    assert!(req.outcome_reason().unwrap().contains("request-forbid-ai-agent-critical"), "{:?}", req.outcome_reason());
    let stored = w.request(req.id()).await;
    assert_eq!(stored.state(), RequestState::Denied);
    let refusal = stored.decisions().iter().find(|d| d.action == "request").unwrap();
    assert!(!refusal.allowed && refusal.policy_ids.contains(&"request-forbid-ai-agent-critical".to_owned()), "{refusal:?}");
    assert!(w.events(req.id()).await.contains(&"request.denied".to_owned()));
    assert!(w.tasks(req.id()).await.is_empty());
}

#[tokio::test]
async fn a_toxic_pair_is_refused_at_submission_while_the_other_half_is_pending() {
    let w = World::new().await;
    let first = w.submit("alice", "alice", &[WRITE], "4h").await.unwrap();
    assert_eq!(first.state(), RequestState::Pending);

    let second = w.submit("alice", "alice", &[APPROVE], "4h").await.unwrap();

    assert_eq!(second.state(), RequestState::Denied, "policy allowed it, the toxic pair did not");
    let reason = w.request(second.id()).await.outcome_reason().unwrap().to_owned();
    assert!(reason.contains(TOXIC) && reason.contains(&first.id().to_string()), "{reason}");
    assert_eq!(w.request(first.id()).await.state(), RequestState::Pending, "the first half is untouched");
}

#[tokio::test]
async fn a_toxic_pair_in_one_request_is_refused() {
    let w = World::new().await;

    let req = w.submit("alice", "alice", &[WRITE, APPROVE], "4h").await.unwrap();

    assert_eq!(req.state(), RequestState::Denied);
    assert!(w.request(req.id()).await.outcome_reason().unwrap().contains("both are in this request"), "{:?}", req.outcome_reason());
}

#[tokio::test]
async fn a_toxic_pair_is_refused_at_submission_while_the_other_half_is_held() {
    let w = World::new().await;
    let held = w.submit("alice", "alice", &[APPROVE], "4h").await.unwrap();
    w.approve("mona", held.id()).await.unwrap();
    w.fulfil("dan", held.id()).await.unwrap();
    let grant = w.grant(held.id()).await;

    let req = w.submit("alice", "alice", &[WRITE], "4h").await.unwrap();

    assert_eq!(req.state(), RequestState::Denied);
    let reason = w.request(req.id()).await.outcome_reason().unwrap().to_owned();
    assert!(reason.contains(TOXIC) && reason.contains(&grant.id().to_string()), "{reason}");
}

#[tokio::test]
async fn a_low_risk_short_request_for_oneself_is_approved_by_policy_and_handed_to_the_fulfillers() {
    let w = World::new().await;

    let req = w.submit("alice", "alice", &[LOW], "2h").await.unwrap();

    assert_eq!(req.state(), RequestState::Approved);
    let stored = w.request(req.id()).await;
    assert!(stored.reviews().is_empty(), "no human reviewed it");
    let task = w.open_task(req.id()).await;
    assert_eq!((task.entitlement(), task.fulfiller_group()), (&ent(LOW), &group("ledger-ops")));
    assert_eq!(stored.fulfilment().get(&ent(LOW)), Some(&TargetFulfilment::WithPerson { task: task.id() }));
    assert!(w.events(req.id()).await.contains(&"request.approved".to_owned()));
}

#[tokio::test]
async fn asking_on_someone_elses_behalf_always_gets_a_human_look() {
    let w = World::new().await;

    let req = w.submit("bob", "alice", &[LOW], "2h").await.unwrap();

    assert_eq!(req.state(), RequestState::Pending);
    assert!(w.tasks(req.id()).await.is_empty());
}

#[tokio::test]
async fn an_entitlement_without_stages_is_approved_without_review() {
    let w = World::new().await;

    let req = w.submit("bob", "alice", &[OPEN], "2h").await.unwrap();

    assert_eq!(req.state(), RequestState::Approved);
    w.open_task(req.id()).await;
}

#[tokio::test]
async fn a_pending_request_lapses_after_its_review_window() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    w.clock.advance(w.writ.settings().lapse_after - TimeDelta::seconds(1));
    assert_eq!(w.writ.lapse_due().await.unwrap(), 0, "not yet");
    assert_eq!(w.request(req.id()).await.state(), RequestState::Pending);

    w.clock.advance(TimeDelta::seconds(1));
    assert_eq!(w.writ.lapse_due().await.unwrap(), 1);

    assert_eq!(w.request(req.id()).await.state(), RequestState::Lapsed);
    assert!(w.events(req.id()).await.contains(&"request.lapsed".to_owned()));
}

#[tokio::test]
async fn an_extension_is_a_new_request_linked_to_its_grant() {
    let w = World::new().await;
    let (original, grant) = w.holding_read("alice", "4h").await;
    let alice = w.who("alice").await;

    let ext = w.writ.request_extension(&alice, grant.id(), hours("4h"), "close still running".into(), None).await.unwrap();

    assert_ne!(ext.id(), original.id());
    assert_eq!(ext.origin(), &Origin::Extension { grant: grant.id(), request: original.id() });
    assert_eq!(ext.state(), RequestState::Pending, "through approval like any other");
    assert_eq!(w.grant(original.id()).await.expires_at(), grant.expires_at(), "never an edit of the expiry");
    assert!(w.events(original.id()).await.contains(&"grant.extension_requested".to_owned()));
}

#[tokio::test]
async fn only_the_holder_or_the_requester_asks_for_an_extension() {
    let w = World::new().await;
    let (_, grant) = w.holding_read("alice", "4h").await;
    let head = w.head().await;
    let bob = w.who("bob").await;

    let e = w.writ.request_extension(&bob, grant.id(), hours("4h"), "I want it too".into(), None).await.unwrap_err();

    assert!(matches!(&e, AppError::Forbidden { who, .. } if who == "bob"), "{e:?}");
    assert_eq!(w.head().await, head);
}

#[tokio::test]
async fn a_grant_no_longer_in_force_cannot_be_extended() {
    let w = World::new().await;
    let (_, grant) = w.holding_read("alice", "4h").await;
    w.clock.advance(TimeDelta::hours(4));
    let head = w.head().await;
    let alice = w.who("alice").await;

    let e = w.writ.request_extension(&alice, grant.id(), hours("4h"), "a bit more".into(), None).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Invalid { field, .. }) if field == "grant"), "{e:?}");
    assert_eq!(w.head().await, head);
}

/// The two halves of a toxic pair submitted at once for one subject: each
/// reads the holdings before the other commits. The holdings guard lets one
/// commit; the other is submitted again on the holdings that now include the
/// first, and is denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_of_a_toxic_pair_racing_cannot_both_stand() {
    let w = World::new().await;
    let alice = w.who("alice").await;
    w.clock.meet(2);

    let (a, b) = {
        let (w1, w2, alice2) = (w.writ.clone(), w.writ.clone(), alice.clone());
        let a = tokio::spawn(async move { w1.submit(&alice, draft("alice", "alice", &[WRITE], "4h")).await });
        let b = tokio::spawn(async move { w2.submit(&alice2, draft("alice", "alice", &[APPROVE], "4h")).await });
        (a.await.unwrap().unwrap(), b.await.unwrap().unwrap())
    };

    assert!(w.clock.met(), "the two submissions did not race");
    let mut states = [a.state(), b.state()];
    states.sort_by_key(|s| s.as_str());
    assert_eq!(states, [RequestState::Denied, RequestState::Pending], "one stands, the other is denied");
    let denied = if a.state() == RequestState::Denied { &a } else { &b };
    assert!(denied.outcome_reason().unwrap_or_default().contains(TOXIC), "{:?}", denied.outcome_reason());
}
