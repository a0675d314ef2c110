//! Reviewing and cancelling (`review.rs`, with `Request::review` and
//! `Request::cancel` in the core): who may review, what counts, what every
//! approval re-checks, a version race, lapse, and who cancels.

use chrono::TimeDelta;
use writ_app::AppError;
use writ_core::identity::IdentityStatus;
use writ_core::request::RequestState;
use writ_core::review::Verdict;
use writ_core::task::TaskState;
use writ_core::DomainError;

use crate::harness::*;

#[tokio::test]
async fn a_requester_cannot_review_their_own_request() {
    let w = World::new().await;
    // Olivia owns `ledger/read`, so the owner stage would admit her.
    let req = w.submit("olivia", "bob", &[READ], "4h").await.unwrap();

    let e = w.approve("olivia", req.id()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::SelfReview { reviewer }) if reviewer == "olivia"), "{e:?}");
    let stored = w.request(req.id()).await;
    assert_eq!((stored.state(), stored.reviews().len()), (RequestState::Pending, 0));
}

#[tokio::test]
async fn the_subject_cannot_review_a_request_for_them() {
    let w = World::new().await;
    let req = w.submit("alice", "oscar", &[READ], "4h").await.unwrap();

    let e = w.approve("oscar", req.id()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::SubjectReview { reviewer }) if reviewer == "oscar"), "{e:?}");
    assert_eq!(w.request(req.id()).await.state(), RequestState::Pending);
}

#[tokio::test]
async fn one_person_counts_once_per_request() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[WRITE], "4h").await.unwrap();
    w.approve("sam", req.id()).await.unwrap();

    let e = w.approve("sam", req.id()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::DuplicateReview { reviewer }) if reviewer == "sam"), "{e:?}");
    let stored = w.request(req.id()).await;
    assert_eq!(stored.state(), RequestState::Pending, "the security stage still needs a second person");
    assert_eq!(stored.tracks()[0].stages[0].approvals, vec![id("sam")]);
}

#[tokio::test]
async fn a_reviewer_the_open_stage_does_not_admit_is_refused() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();

    let e = w.approve("sam", req.id()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::NoAuthority { reviewer, stages }) if reviewer == "sam" && stages.contains("owner")), "{e:?}");
    assert!(w.request(req.id()).await.reviews().is_empty());
}

#[tokio::test]
async fn the_owner_of_a_non_human_subject_cannot_approve_its_access() {
    let w = World::new().await;
    // Oscar owns `ledger/read` (the stage admits him) and the service account
    // `svc`: the demo policy vetoes approving access for what one answers for.
    let req = w.submit("alice", "svc", &[READ], "4h").await.unwrap();

    let e = w.approve("oscar", req.id()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::NoAuthority { reviewer, .. }) if reviewer == "oscar"), "{e:?}");
    let stored = w.request(req.id()).await;
    assert_eq!((stored.state(), stored.reviews().len()), (RequestState::Pending, 0));
    // Olivia, the other owner, may.
    assert_eq!(w.approve("olivia", req.id()).await.unwrap().state(), RequestState::Approved);
}

#[tokio::test]
async fn a_non_human_identity_never_reviews_or_fulfils() {
    let w = World::new().await;
    // The agent is in `security` (the stage admits it) and in `ledger-ops`.
    let review = w.submit("bob", "bob", &[WRITE], "4h").await.unwrap();
    let fulfil = w.submit("bob", "bob", &[OPEN], "4h").await.unwrap();
    let task = w.open_task(fulfil.id()).await;
    let agent = w.who("agent").await;

    let e = w.approve("agent", review.id()).await.unwrap_err();
    assert!(matches!(&e, AppError::Domain(DomainError::NotAPerson { identity, .. }) if identity == "agent"), "{e:?}");
    assert!(w.request(review.id()).await.reviews().is_empty());

    let e = w.writ.complete_task(&agent, task.id(), "done by the agent").await.unwrap_err();
    assert!(matches!(&e, AppError::Domain(DomainError::NotAPerson { identity, .. }) if identity == "agent"), "{e:?}");
    assert_eq!(w.store.task(task.id()).await.unwrap().unwrap().state(), &TaskState::Open);
    assert!(w.grants(fulfil.id()).await.is_empty());
}

#[tokio::test]
async fn a_disabled_reviewer_is_refused() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    let mut olivia = w.who("olivia").await;
    olivia.status = IdentityStatus::Disabled;
    w.writ.upsert_identities(None, vec![olivia.clone()]).await.unwrap();

    let e = w.writ.review(&olivia, req.id(), Verdict::Approve, "ok".into()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::IdentityDisabled { identity, .. }) if identity == "olivia"), "{e:?}");
    assert_eq!(w.request(req.id()).await.state(), RequestState::Pending);
}

#[tokio::test]
async fn a_denial_needs_a_reason() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();

    let e = w.deny("olivia", req.id(), "   ").await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Invalid { field, .. }) if field == "reason"), "{e:?}");
    assert_eq!(w.request(req.id()).await.state(), RequestState::Pending);
}

#[tokio::test]
async fn a_deny_is_final() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[WRITE], "4h").await.unwrap();
    w.approve("sam", req.id()).await.unwrap();

    let denied = w.deny("sue", req.id(), "no change window").await.unwrap();
    assert_eq!(denied.state(), RequestState::Denied);
    let e = w.approve("olivia", req.id()).await.unwrap_err();
    assert!(matches!(&e, AppError::Domain(DomainError::IllegalTransition { entity: "request", .. })), "{e:?}");

    let stored = w.request(req.id()).await;
    assert_eq!(stored.state(), RequestState::Denied);
    assert!(stored.outcome_reason().unwrap().contains("no change window"));
    assert!(w.tasks(req.id()).await.is_empty(), "nothing to fulfil");
}

#[tokio::test]
async fn stages_run_in_order_and_approval_needs_every_one() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[WRITE], "4h").await.unwrap();

    assert_eq!(w.approve("sam", req.id()).await.unwrap().state(), RequestState::Pending, "one of two");
    assert!(w.tasks(req.id()).await.is_empty());
    assert_eq!(w.approve("sue", req.id()).await.unwrap().state(), RequestState::Approved);

    let stored = w.request(req.id()).await;
    assert_eq!(stored.approvers().cloned().collect::<Vec<_>>(), vec![id("sam"), id("sue")]);
    w.open_task(req.id()).await;
}

#[tokio::test]
async fn every_approval_refuses_a_toxic_pair_completed_meanwhile() {
    let w = World::new().await;
    // Both halves were asked for before the combination was declared toxic.
    let before = w.node_with(catalog_with(false));
    let alice = w.who("alice").await;
    let write = before.submit(&alice, draft("alice", "alice", &[WRITE], "4h")).await.unwrap();
    let approve = before.submit(&alice, draft("alice", "alice", &[APPROVE], "4h")).await.unwrap();
    assert_eq!((write.state(), approve.state()), (RequestState::Pending, RequestState::Pending));
    // Now it is toxic. The first approval to complete a request is fine: the
    // other half is only pending.
    assert_eq!(w.approve("mona", approve.id()).await.unwrap().state(), RequestState::Approved);
    let head = w.head().await;

    // Not only the last approval: the first of the two the stage needs.
    let e = w.approve("sam", write.id()).await.unwrap_err();

    assert!(
        matches!(&e, AppError::Forbidden { who, reason, .. } if who == "alice" && reason.contains(TOXIC) && reason.contains(&approve.id().to_string())),
        "{e:?}"
    );
    let stored = w.request(write.id()).await;
    assert_eq!((stored.state(), stored.reviews().len()), (RequestState::Pending, 0));
    assert_eq!(w.head().await, head, "a refused approval records nothing");
    // A denial is still possible.
    assert_eq!(w.deny("sam", write.id(), "toxic with the approved request").await.unwrap().state(), RequestState::Denied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_race_reapplies_so_two_concurrent_reviews_both_count() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[WRITE], "4h").await.unwrap();
    let (sam, sue) = (w.who("sam").await, w.who("sue").await);
    // Both reviews load the request before either commits: one loses the race.
    w.clock.meet(2);

    let (a, b) = {
        let (w1, w2) = (w.writ.clone(), w.writ.clone());
        let id = req.id();
        let a = tokio::spawn(async move { w1.review(&sam, id, Verdict::Approve, "ok".into()).await });
        let b = tokio::spawn(async move { w2.review(&sue, id, Verdict::Approve, "ok".into()).await });
        (a.await.unwrap(), b.await.unwrap())
    };

    assert!(w.clock.met(), "the two reviews did not race");
    a.unwrap();
    b.unwrap();
    let stored = w.request(req.id()).await;
    assert_eq!(stored.state(), RequestState::Approved, "both approvals counted");
    let mut approvals = stored.tracks()[0].stages[0].approvals.clone();
    approvals.sort();
    assert_eq!(approvals, vec![id("sam"), id("sue")]);
    let recorded = w.events(req.id()).await.iter().filter(|k| *k == "review.recorded").count();
    assert_eq!(recorded, 2, "each review recorded once");
    assert_eq!(w.tasks(req.id()).await.len(), 1, "fulfilment started once");
}

#[tokio::test]
async fn a_review_after_the_lapse_time_records_the_lapse_and_is_refused() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    w.clock.advance(w.writ.settings().lapse_after);

    let e = w.approve("olivia", req.id()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Lapsed { .. })), "{e:?}");
    let stored = w.request(req.id()).await;
    assert_eq!((stored.state(), stored.reviews().len()), (RequestState::Lapsed, 0));
    assert!(w.events(req.id()).await.contains(&"request.lapsed".to_owned()));
}

#[tokio::test]
async fn a_refusal_changes_nothing() {
    let w = World::new().await;
    let req = w.submit("olivia", "bob", &[READ], "4h").await.unwrap();
    let approved = w.submit("alice", "alice", &[OPEN], "4h").await.unwrap();
    let task = w.open_task(approved.id()).await;
    let (head, before, task_before) = (w.head().await, w.request(req.id()).await, task.clone());
    let (olivia, bob, dan) = (w.who("olivia").await, w.who("bob").await, w.who("dan").await);

    let refusals = [
        w.writ.review(&olivia, req.id(), Verdict::Approve, "mine".into()).await.unwrap_err(),
        w.writ.review(&bob, req.id(), Verdict::Approve, "for me".into()).await.unwrap_err(),
        w.writ.cancel(&bob, req.id(), "not mine".into()).await.unwrap_err(),
        w.writ.complete_task(&dan, task.id(), " ").await.unwrap_err(),
        w.writ.submit(&bob, draft("bob", "bob", &[READ], "12h")).await.unwrap_err(),
    ];

    assert!(matches!(refusals[0], AppError::Domain(DomainError::SelfReview { .. })), "{:?}", refusals[0]);
    assert!(matches!(refusals[1], AppError::Domain(DomainError::SubjectReview { .. })), "{:?}", refusals[1]);
    assert!(matches!(refusals[2], AppError::Domain(DomainError::Forbidden { .. })), "{:?}", refusals[2]);
    assert!(matches!(&refusals[3], AppError::Domain(DomainError::Invalid { field, .. }) if field == "evidence"), "{:?}", refusals[3]);
    assert!(matches!(&refusals[4], AppError::Domain(DomainError::Invalid { field, .. }) if field == "duration"), "{:?}", refusals[4]);
    assert_eq!(w.head().await, head, "the audit log did not move");
    assert_eq!(w.request(req.id()).await, before);
    assert_eq!(w.store.task(task.id()).await.unwrap().unwrap(), task_before);
    assert!(w.grants(approved.id()).await.is_empty());
}

#[tokio::test]
async fn only_the_requester_cancels() {
    let w = World::new().await;
    let req = w.submit("alice", "bob", &[READ], "4h").await.unwrap();
    let (bob, alice) = (w.who("bob").await, w.who("alice").await);

    // Not even the subject.
    let e = w.writ.cancel(&bob, req.id(), "I do not need it".into()).await.unwrap_err();
    assert!(matches!(&e, AppError::Domain(DomainError::Forbidden { who, .. }) if who == "bob"), "{e:?}");
    assert_eq!(w.request(req.id()).await.state(), RequestState::Pending);

    let cancelled = w.writ.cancel(&alice, req.id(), "wrong person".into()).await.unwrap();
    assert_eq!(cancelled.state(), RequestState::Cancelled);
    assert_eq!(w.request(req.id()).await.state(), RequestState::Cancelled);
}

#[tokio::test]
async fn cancelling_an_approved_request_cancels_its_open_tasks() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[OPEN], "4h").await.unwrap();
    let task = w.open_task(req.id()).await;
    let alice = w.who("alice").await;

    w.writ.cancel(&alice, req.id(), "done without it".into()).await.unwrap();

    assert_eq!(w.request(req.id()).await.state(), RequestState::Cancelled);
    let stored = w.store.task(task.id()).await.unwrap().unwrap();
    assert!(matches!(stored.state(), TaskState::Cancelled { .. }), "{stored:?}");
    let e = w.writ.complete_task(&w.who("dan").await, task.id(), "did it anyway").await.unwrap_err();
    assert!(matches!(&e, AppError::Domain(DomainError::IllegalTransition { entity: "task", .. })), "{e:?}");
    assert!(w.grants(req.id()).await.is_empty());
}

#[tokio::test]
async fn a_request_whose_access_is_in_place_cannot_be_cancelled() {
    let w = World::new().await;
    let (req, grant) = w.holding_read("alice", "4h").await;
    let alice = w.who("alice").await;

    let e = w.writ.cancel(&alice, req.id(), "too late".into()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::IllegalTransition { entity: "request", .. })), "{e:?}");
    assert_eq!(w.request(req.id()).await.state(), RequestState::Active);
    assert_eq!(w.grant(req.id()).await, grant, "revocation is the way to end it");
}

#[tokio::test]
async fn the_approvers_are_asked_again_when_the_open_stages_change() {
    let w = World::new().await;
    // Two tracks, waiting on different people.
    let req = w.submit("alice", "alice", &[READ, WRITE], "4h").await.unwrap();
    let awaiting = |events: &[String]| events.iter().filter(|k| *k == "request.awaiting_review").count();
    assert_eq!(awaiting(&w.events(req.id()).await), 1);

    // Olivia completes the `ledger/read` track: the open stages change.
    assert_eq!(w.approve("olivia", req.id()).await.unwrap().state(), RequestState::Pending);
    assert_eq!(awaiting(&w.events(req.id()).await), 2, "the remaining approvers are asked again");
    // Sam's approval leaves the open stages as they were: nobody new to ask.
    w.approve("sam", req.id()).await.unwrap();
    assert_eq!(awaiting(&w.events(req.id()).await), 2);
    w.clock.advance(TimeDelta::minutes(1));
    assert_eq!(w.approve("sue", req.id()).await.unwrap().state(), RequestState::Approved);
}

#[tokio::test]
async fn a_reviewer_without_authority_learns_nothing_of_what_the_subject_holds() {
    let w = World::new().await;
    let before = w.node_with(catalog_with(false));
    let alice = w.who("alice").await;
    let write = before.submit(&alice, draft("alice", "alice", &[WRITE], "4h")).await.unwrap();
    let approve = before.submit(&alice, draft("alice", "alice", &[APPROVE], "4h")).await.unwrap();
    w.approve("mona", approve.id()).await.unwrap();

    // Bob is no approver of `ledger/write`: he hears that, not about the toxic pair.
    let e = w.approve("bob", write.id()).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::NoAuthority { reviewer, .. }) if reviewer == "bob"), "{e:?}");
}

#[tokio::test]
async fn an_entitlement_gone_from_the_catalog_cannot_be_approved_but_can_be_denied() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    let after = w.node_with(catalog_without(READ));
    let olivia = w.who("olivia").await;

    let e = after.review(&olivia, req.id(), Verdict::Approve, "ok".into()).await.unwrap_err();

    assert!(
        matches!(&e, AppError::Domain(DomainError::Invalid { field, reason }) if field == "request" && reason.contains("no longer in the catalog")),
        "{e:?}"
    );
    assert_eq!(w.request(req.id()).await.state(), RequestState::Pending);
    let denied = after.review(&olivia, req.id(), Verdict::Deny, "taken out of the catalog".into()).await.unwrap();
    assert_eq!(denied.state(), RequestState::Denied);
    assert_eq!(w.request(req.id()).await.state(), RequestState::Denied);
}

/// The last approvals of the two halves of a toxic pair, racing: both load
/// their request and read the subject's holdings before either commits, so
/// each sees the other still pending. The holdings guard lets one commit;
/// the other is retried, sees the first approved, and is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_of_a_toxic_pair_racing_cannot_both_pass() {
    let w = World::new().await;
    // Both halves were asked for before the combination was declared toxic.
    let before = w.node_with(catalog_with(false));
    let alice = w.who("alice").await;
    let write = before.submit(&alice, draft("alice", "alice", &[WRITE], "4h")).await.unwrap();
    let approve = before.submit(&alice, draft("alice", "alice", &[APPROVE], "4h")).await.unwrap();
    w.approve("sam", write.id()).await.unwrap();
    let guard_before = w.store.standing(&id("alice")).await.unwrap().guard.version;
    let (sue, mona) = (w.who("sue").await, w.who("mona").await);
    w.clock.meet(2);

    let (a, b) = {
        let (w1, w2) = (w.writ.clone(), w.writ.clone());
        let (x, y) = (write.id(), approve.id());
        let a = tokio::spawn(async move { w1.review(&sue, x, Verdict::Approve, "ok".into()).await });
        let b = tokio::spawn(async move { w2.review(&mona, y, Verdict::Approve, "ok".into()).await });
        (a.await.unwrap(), b.await.unwrap())
    };

    assert!(w.clock.met(), "the two approvals did not race");
    let (passed, refused): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(|r| r.is_ok());
    assert_eq!(passed.len(), 1, "exactly one half is approved: {passed:?} {refused:?}");
    let e = refused.into_iter().next().unwrap().unwrap_err();
    assert!(matches!(&e, AppError::Forbidden { reason, .. } if reason.contains(TOXIC)), "{e:?}");
    let states = [w.request(write.id()).await.state(), w.request(approve.id()).await.state()];
    assert_eq!(states.iter().filter(|s| **s == RequestState::Approved).count(), 1, "{states:?}");
    assert!(w.store.standing(&id("alice")).await.unwrap().guard.version > guard_before, "the approval relied on alice's holdings as read");
}

/// A reviewer who may act on a stage sees the subject's current access
/// before deciding; nobody else (not even the requester) gets it.
#[tokio::test]
async fn a_reviewer_sees_the_subjects_current_access_and_no_one_else_does() {
    let w = World::new().await;
    let (_, held) = w.holding_read("alice", "4h").await;
    let pending = w.submit("alice", "alice", &[WRITE], "2h").await.unwrap();
    let context = w.writ.review_context(&w.who("sam").await, pending.id()).await.unwrap();
    assert_eq!(context.holdings.iter().map(|g| g.id()).collect::<Vec<_>>(), [held.id()]);
    assert_eq!(context.warning, None);
    // The AI agent is in `security` too, but never reviews.
    for stranger in ["bob", "alice", "dan", "agent"] {
        let e = w.writ.review_context(&w.who(stranger).await, pending.id()).await.unwrap_err();
        assert!(matches!(e, writ_app::AppError::NotFound { .. }), "{stranger}: {e:?}");
    }
    // A disabled reviewer, or a request no longer waiting: nothing either.
    let mut sam = w.who("sam").await;
    sam.status = IdentityStatus::Disabled;
    assert!(matches!(w.writ.review_context(&sam, pending.id()).await, Err(writ_app::AppError::NotFound { .. })));
    w.writ.cancel(&w.who("alice").await, pending.id(), "not needed".into()).await.unwrap();
    assert!(matches!(w.writ.review_context(&w.who("sam").await, pending.id()).await, Err(writ_app::AppError::NotFound { .. })));
}
