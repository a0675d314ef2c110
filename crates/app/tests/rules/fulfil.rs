//! Manual fulfilment (`fulfil.rs`, with `FulfilmentTask::complete` in the
//! core): who may put access in place, with what, and what it starts.

use chrono::TimeDelta;
use writ_app::AppError;
use writ_core::fulfilment::TargetFulfilment;
use writ_core::grant::GrantState;
use writ_core::identity::IdentityStatus;
use writ_core::request::RequestState;
use writ_core::task::TaskState;
use writ_core::DomainError;

use crate::harness::*;

/// The task is still open and nothing was granted.
async fn nothing_happened(w: &World, r: writ_core::ids::RequestId) {
    assert_eq!(w.open_task(r).await.state(), &TaskState::Open);
    assert!(w.grants(r).await.is_empty(), "no grant");
    assert_eq!(w.request(r).await.state(), RequestState::Approved);
}

#[tokio::test]
async fn an_approver_cannot_fulfil() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    // Oscar owns `ledger/read` and is in `ledger-ops`.
    w.approve("oscar", req.id()).await.unwrap();

    let e = w.fulfil("oscar", req.id()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::FulfillerIsApprover { fulfiller }) if fulfiller == "oscar"), "{e:?}");
    nothing_happened(&w, req.id()).await;
}

#[tokio::test]
async fn a_fulfilment_needs_evidence() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[OPEN], "4h").await.unwrap();
    let task = w.open_task(req.id()).await;
    let dan = w.who("dan").await;

    let e = w.writ.complete_task(&dan, task.id(), " \n ").await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Invalid { field, .. }) if field == "evidence"), "{e:?}");
    nothing_happened(&w, req.id()).await;
}

#[tokio::test]
async fn only_the_fulfiller_group_fulfils() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[OPEN], "4h").await.unwrap();

    let e = w.fulfil("sam", req.id()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::NotAFulfiller { fulfiller, group }) if fulfiller == "sam" && group == "ledger-ops"), "{e:?}");
    nothing_happened(&w, req.id()).await;
}

#[tokio::test]
async fn nobody_fulfils_their_own_access() {
    let w = World::new().await;
    // Dora is in `ledger-ops`.
    let req = w.submit("alice", "dora", &[OPEN], "4h").await.unwrap();

    let e = w.fulfil("dora", req.id()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Forbidden { who, .. }) if who == "dora"), "{e:?}");
    nothing_happened(&w, req.id()).await;
}

#[tokio::test]
async fn the_grant_starts_when_the_access_is_in_place() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    w.approve("olivia", req.id()).await.unwrap();
    w.clock.advance(TimeDelta::hours(3));
    let put_in_place_at = t0() + TimeDelta::hours(3);

    let task = w.fulfil("dan", req.id()).await.unwrap();

    assert!(matches!(task.state(), TaskState::Done { by, .. } if by == &id("dan")), "{task:?}");
    let grant = w.grant(req.id()).await;
    assert_eq!(grant.state(), &GrantState::Active);
    assert_eq!((grant.subject(), grant.entitlement()), (&id("alice"), &ent(READ)));
    assert_eq!((grant.starts_at(), grant.expires_at()), (put_in_place_at, put_in_place_at + TimeDelta::hours(4)), "not from the approval");
    let stored = w.request(req.id()).await;
    assert_eq!(stored.state(), RequestState::Active);
    assert_eq!(stored.fulfilment().get(&ent(READ)), Some(&TargetFulfilment::Done { at: put_in_place_at, read_back: false }));
    let events = w.events(req.id()).await;
    for kind in ["task.completed", "grant.started", "request.activated"] {
        assert!(events.contains(&kind.to_owned()), "{kind} missing from {events:?}");
    }
}

#[tokio::test]
async fn a_request_is_active_once_every_entitlement_is_in_place() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[OPEN, LOW], "4h").await.unwrap();
    assert_eq!(w.approve("olivia", req.id()).await.unwrap().state(), RequestState::Approved);
    let tasks = w.tasks(req.id()).await;
    assert_eq!(tasks.len(), 2, "one task per entitlement");
    let dan = w.who("dan").await;

    w.writ.complete_task(&dan, tasks[0].id(), "done, see INC-7").await.unwrap();
    assert_eq!(w.request(req.id()).await.state(), RequestState::Approved, "one of two");
    w.writ.complete_task(&dan, tasks[1].id(), "done, see INC-7").await.unwrap();

    assert_eq!(w.request(req.id()).await.state(), RequestState::Active);
    assert_eq!(w.grants(req.id()).await.len(), 2);
}

#[tokio::test]
async fn a_task_is_completed_once() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[OPEN], "4h").await.unwrap();
    let task = w.open_task(req.id()).await;
    w.fulfil("dan", req.id()).await.unwrap();
    let head = w.head().await;

    let e = w.writ.complete_task(&w.who("dora").await, task.id(), "me too").await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::IllegalTransition { entity: "task", .. })), "{e:?}");
    assert_eq!(w.grants(req.id()).await.len(), 1, "one grant");
    assert_eq!(w.head().await, head);
}

#[tokio::test]
async fn a_fulfilment_refuses_a_toxic_pair_completed_meanwhile() {
    let w = World::new().await;
    // Both halves were approved before the combination was declared toxic.
    let before = w.node_with(catalog_with(false));
    let alice = w.who("alice").await;
    let write = before.submit(&alice, draft("alice", "alice", &[WRITE], "4h")).await.unwrap();
    let approve = before.submit(&alice, draft("alice", "alice", &[APPROVE], "4h")).await.unwrap();
    for reviewer in ["sam", "sue"] {
        before.review(&w.who(reviewer).await, write.id(), writ_core::review::Verdict::Approve, "ok".into()).await.unwrap();
    }
    before.review(&w.who("mona").await, approve.id(), writ_core::review::Verdict::Approve, "ok".into()).await.unwrap();
    // Of two approved halves, the one filed first (then by id) goes through,
    // whichever is fulfilled first: the other is refused, naming it.
    let (first, second) = if (write.created_at(), write.id()) < (approve.created_at(), approve.id()) { (&write, &approve) } else { (&approve, &write) };
    let head = w.head().await;

    let e = w.fulfil("dan", second.id()).await.unwrap_err();

    assert!(
        matches!(&e, AppError::Forbidden { who, reason, .. } if who == "alice" && reason.contains(TOXIC) && reason.contains(&first.id().to_string())),
        "{e:?}"
    );
    nothing_happened(&w, second.id()).await;
    assert_eq!(w.head().await, head);
    w.fulfil("dan", first.id()).await.unwrap();
    let e = w.fulfil("dan", second.id()).await.unwrap_err();
    assert!(matches!(&e, AppError::Forbidden { reason, .. } if reason.contains("grant")), "now through its grant: {e:?}");
}

#[tokio::test]
async fn a_disabled_subject_receives_nothing_at_fulfilment() {
    let w = World::new().await;
    // Two entitlements, one already in place: disabling alice cannot withdraw
    // the request, so the other's task may still be open.
    let req = w.submit("alice", "alice", &[OPEN, LOW], "4h").await.unwrap();
    w.approve("olivia", req.id()).await.unwrap();
    let tasks = w.tasks(req.id()).await;
    let dan = w.who("dan").await;
    w.writ.complete_task(&dan, tasks[0].id(), "done, see INC-7").await.unwrap();
    let mut alice = w.who("alice").await;
    alice.status = IdentityStatus::Disabled;
    w.writ.upsert_identities(None, vec![alice]).await.unwrap();

    let e = w.writ.complete_task(&dan, tasks[1].id(), "done, see INC-7").await.unwrap_err();

    // Refused at completion; or, once disabling cancels such tasks, already cancelled.
    assert!(
        matches!(&e, AppError::Forbidden { who, reason, .. } if who == "alice" && reason.contains("disabled"))
            || matches!(&e, AppError::Domain(DomainError::IllegalTransition { entity: "task", .. })),
        "{e:?}"
    );
    let in_place: Vec<_> = w.grants(req.id()).await.into_iter().filter(|g| g.entitlement() == tasks[1].entitlement()).collect();
    assert!(in_place.is_empty(), "{in_place:?}");
}
