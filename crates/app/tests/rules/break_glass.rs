//! Break-glass (`break_glass.rs`, with `PostReview` in the core): access at
//! once, a review owed afterwards by someone not involved, never back to back,
//! never around separation of duties.

use chrono::TimeDelta;
use writ_app::ports::Clock;
use writ_app::AppError;
use writ_core::break_glass::{Origin, ReviewStatus, UseVerdict};
use writ_core::grant::GrantState;
use writ_core::request::RequestState;
use writ_core::task::{TaskPurpose, TaskState};
use writ_core::DomainError;

use crate::harness::*;

async fn break_glass(w: &World, who: &str, subject: &str, entitlement: &str) -> Result<writ_core::request::Request, AppError> {
    let actor = w.who(who).await;
    w.writ.break_glass(&actor, draft(who, subject, &[entitlement], "2h")).await
}

#[tokio::test]
async fn break_glass_is_granted_at_once_and_owes_a_review_by_the_owners() {
    let w = World::new().await;

    let req = break_glass(&w, "alice", "alice", READ).await.unwrap();

    assert_eq!((req.state(), req.origin()), (RequestState::Approved, &Origin::BreakGlass));
    let stored = w.request(req.id()).await;
    assert!(stored.reviews().is_empty(), "nobody approved it");
    let review = stored.post_review().unwrap();
    assert_eq!(review.reviewers, vec![id("olivia"), id("oscar")]);
    assert_eq!(review.due_at, t0() + w.writ.settings().break_glass_review_within);
    assert_eq!(review.status(t0()), ReviewStatus::Awaiting);
    w.open_task(req.id()).await;
    assert!(w.events(req.id()).await.contains(&"break_glass.used".to_owned()));
}

#[tokio::test]
async fn break_glass_is_refused_while_an_earlier_use_is_unreviewed() {
    let w = World::new().await;
    let first = break_glass(&w, "alice", "alice", READ).await.unwrap();
    let head = w.head().await;

    let e = break_glass(&w, "alice", "alice", READ).await.unwrap_err();

    assert!(matches!(&e, AppError::Forbidden { reason, .. } if reason.contains(&first.id().to_string())), "{e:?}");
    assert_eq!(w.head().await, head, "a use policy allows, but not yet, records nothing");
    // Once the first use is reviewed, the glass can be broken again.
    w.writ.review_break_glass(&w.who("olivia").await, first.id(), UseVerdict::Accept, "INC-7 was real").await.unwrap();
    assert_eq!(break_glass(&w, "alice", "alice", READ).await.unwrap().state(), RequestState::Approved);
}

#[tokio::test]
async fn break_glass_is_only_for_oneself() {
    let w = World::new().await;

    let req = break_glass(&w, "alice", "bob", READ).await.unwrap();

    assert_eq!(req.state(), RequestState::Denied, "an attempt is evidence too");
    let stored = w.request(req.id()).await;
    assert_eq!(stored.state(), RequestState::Denied);
    assert!(stored.decisions().iter().any(|d| d.action == "break_glass" && !d.allowed));
    assert!(stored.post_review().is_none());
    assert!(w.tasks(req.id()).await.is_empty());
}

#[tokio::test]
async fn break_glass_never_completes_a_toxic_pair() {
    let w = World::new().await;
    let pending = w.submit("alice", "alice", &[WRITE], "4h").await.unwrap();

    let req = break_glass(&w, "alice", "alice", APPROVE).await.unwrap();

    assert_eq!(req.state(), RequestState::Denied);
    let reason = w.request(req.id()).await.outcome_reason().unwrap().to_owned();
    assert!(reason.contains(TOXIC) && reason.contains(&pending.id().to_string()), "{reason}");
    assert!(w.tasks(req.id()).await.is_empty());
}

#[tokio::test]
async fn the_people_involved_never_review_their_break_glass_use() {
    let w = World::new().await;
    // Olivia owns `ledger/read` and breaks the glass for herself.
    let req = break_glass(&w, "olivia", "olivia", READ).await.unwrap();
    assert_eq!(w.request(req.id()).await.post_review().unwrap().reviewers, vec![id("oscar")]);

    let e = w.writ.review_break_glass(&w.who("olivia").await, req.id(), UseVerdict::Accept, "it was fine").await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Forbidden { who, .. }) if who == "olivia"), "{e:?}");
    assert!(w.request(req.id()).await.post_review().unwrap().verdict.is_none());
}

#[tokio::test]
async fn a_use_nobody_could_review_is_refused() {
    let w = World::new().await;
    let head = w.head().await;

    // Olivia is the only owner of `ledger/low`.
    let e = break_glass(&w, "olivia", "olivia", LOW).await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Invalid { field, .. }) if field == "break-glass"), "{e:?}");
    assert_eq!(w.head().await, head);
}

#[tokio::test]
async fn only_a_named_reviewer_reviews_a_break_glass_use() {
    let w = World::new().await;
    let req = break_glass(&w, "alice", "alice", READ).await.unwrap();

    let e = w.writ.review_break_glass(&w.who("sam").await, req.id(), UseVerdict::Accept, "looks fine").await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Forbidden { who, reason, .. }) if who == "sam" && reason.contains("`olivia`, `oscar`")), "{e:?}");
    assert!(w.request(req.id()).await.post_review().unwrap().verdict.is_none());
}

#[tokio::test]
async fn a_break_glass_review_needs_a_note() {
    let w = World::new().await;
    let req = break_glass(&w, "alice", "alice", READ).await.unwrap();

    let e = w.writ.review_break_glass(&w.who("oscar").await, req.id(), UseVerdict::Accept, "  ").await.unwrap_err();

    assert!(matches!(&e, AppError::Domain(DomainError::Invalid { field, .. }) if field == "note"), "{e:?}");
    assert!(w.request(req.id()).await.post_review().unwrap().verdict.is_none());
}

#[tokio::test]
async fn a_rejected_use_ends_its_access_and_stays_an_exception_until_resolved() {
    let w = World::new().await;
    let req = break_glass(&w, "alice", "alice", READ).await.unwrap();
    w.fulfil("dan", req.id()).await.unwrap();
    let grant = w.grant(req.id()).await;
    let (oscar, sam) = (w.who("oscar").await, w.who("sam").await);

    w.writ.review_break_glass(&oscar, req.id(), UseVerdict::Reject, "no incident was open").await.unwrap();

    let ended = w.grant(req.id()).await;
    assert!(matches!(ended.state(), GrantState::Revoking { .. }), "{ended:?}");
    let removal = w.open_task(req.id()).await;
    assert_eq!(removal.purpose(), &TaskPurpose::Revoke { grant: grant.id() });
    let exceptions = w.writ.open_break_glass(&sam, true, 100, None).await.unwrap();
    assert_eq!(exceptions.iter().map(|r| r.id()).collect::<Vec<_>>(), vec![req.id()]);
    assert_eq!(w.request(req.id()).await.post_review().unwrap().status(w.clock.now()), ReviewStatus::Rejected);

    w.writ.resolve_break_glass(&oscar, req.id(), "talked to alice; access removed").await.unwrap();
    assert!(w.writ.open_break_glass(&sam, false, 100, None).await.unwrap().is_empty());
    assert_eq!(w.request(req.id()).await.post_review().unwrap().status(w.clock.now()), ReviewStatus::Resolved);
}

#[tokio::test]
async fn a_rejected_break_glass_use_gets_no_access_afterwards() {
    let w = World::new().await;
    let req = break_glass(&w, "alice", "alice", READ).await.unwrap();
    let task = w.open_task(req.id()).await;
    w.writ.review_break_glass(&w.who("oscar").await, req.id(), UseVerdict::Reject, "no incident was open").await.unwrap();

    let refused = w.writ.complete_task(&w.who("dan").await, task.id(), "granted as the task said").await;

    assert!(
        matches!(&refused, Err(AppError::Domain(DomainError::IllegalTransition { entity: "task", .. }) | AppError::Forbidden { .. })),
        "the rejected use was fulfilled: {refused:?}"
    );
    assert!(w.grants(req.id()).await.iter().all(|g| !g.state().holds_access()), "{:?}", w.grants(req.id()).await);
    assert_ne!(w.store.task(task.id()).await.unwrap().unwrap().state().as_str(), TaskState::Open.as_str());
}

#[tokio::test]
async fn an_overdue_break_glass_review_is_noted_once() {
    let w = World::new().await;
    let req = break_glass(&w, "alice", "alice", READ).await.unwrap();
    w.clock.advance(w.writ.settings().break_glass_review_within - TimeDelta::seconds(1));
    assert_eq!(w.writ.note_overdue_reviews().await.unwrap(), 0, "not yet due");

    w.clock.advance(TimeDelta::seconds(1));
    assert_eq!(w.writ.note_overdue_reviews().await.unwrap(), 1);
    assert_eq!(w.writ.note_overdue_reviews().await.unwrap(), 0, "noted once");

    let overdue = w.events(req.id()).await.iter().filter(|k| *k == "break_glass.review_overdue").count();
    assert_eq!(overdue, 1);
    assert!(w.request(req.id()).await.post_review().unwrap().overdue_noted);
    // A late review is still taken, and settles it.
    w.writ.review_break_glass(&w.who("olivia").await, req.id(), UseVerdict::Accept, "late, but INC-7 was real").await.unwrap();
    assert!(w.writ.open_break_glass(&w.who("sam").await, false, 100, None).await.unwrap().is_empty());
}
