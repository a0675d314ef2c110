//! Movers (`mover.rs`): when an identity's groups or manager change, every
//! grant it holds is decided again; what policy no longer allows goes to its
//! owners for review (or is removed, by configuration), never silently kept.
//!
//! The policy of these tests adds one rule to the demo's: `ledger/read` only
//! for the members of `oncall` or `ledger-ops`. alice (in `oncall`) holds it,
//! and `ledger/open` (which stays allowed); moving her out of `oncall` takes
//! the first away.

use chrono::TimeDelta;
use serde_json::Value;
use writ_app::mover::OnMove;
use writ_app::Settings;
use writ_core::break_glass::Origin;
use writ_core::grant::{Ending, GrantState};
use writ_core::request::RequestState;

use crate::harness::*;

const READ_FOR_TEAMS: &str = r#"
@id("ledger-read-for-its-teams")
forbid (principal, action == Writ::Action::"request", resource == Writ::Entitlement::"ledger/read")
unless { context.subject in Writ::Group::"oncall" || context.subject in Writ::Group::"ledger-ops" };
"#;

async fn world(on_move: OnMove) -> World {
    World::with_extra_policy(READ_FOR_TEAMS, Settings { on_move, ..Settings::default() }).await
}

/// alice's grants of `ledger/read` and `ledger/open`, both in force.
async fn alice_holding_two(w: &World) -> (writ_core::grant::Grant, writ_core::grant::Grant) {
    let (_, read) = w.holding_read("alice", "4h").await;
    let open = w.submit("alice", "alice", &[OPEN], "4h").await.unwrap();
    w.fulfil("dan", open.id()).await.unwrap();
    (read, w.grant(open.id()).await)
}

/// `who` moves alice out of every group (a new team), from `source`.
async fn move_alice_out(w: &World) {
    let mut alice = w.who("alice").await;
    alice.groups.clear();
    w.writ.upsert_identities(Some(&w.who("sam").await), vec![alice]).await.unwrap();
}

/// The payloads of every audit event of `kind`.
async fn payloads(w: &World, kind: &str) -> Vec<Value> {
    let events = w.store.audit_events(0, 10_000).await.unwrap();
    events.into_iter().filter(|e| e.kind == kind).map(|e| serde_json::from_str(&e.payload).unwrap()).collect()
}

/// The one pending `moved` review, which must be about `grant`.
async fn the_review_of(w: &World, grant: writ_core::ids::GrantId) -> writ_core::request::Request {
    let filter = writ_app::ports::RequestFilter { state: Some(RequestState::Pending), limit: 1000, ..Default::default() };
    let open: Vec<_> = w.store.requests(&filter).await.unwrap().into_iter().filter(|r| matches!(r.origin(), Origin::Moved { .. })).collect();
    assert_eq!(open.len(), 1, "one review: {open:?}");
    assert_eq!(open[0].origin(), &Origin::Moved { grant });
    open.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_mover_keeps_what_policy_still_allows_and_its_owners_review_the_rest() {
    let w = world(OnMove::Review).await;
    let (read, open) = alice_holding_two(&w).await;

    move_alice_out(&w).await;

    let review = the_review_of(&w, read.id()).await;
    assert_eq!(review.subject(), &id("alice"));
    assert_eq!(review.entitlements(), [ent(READ)]);
    assert!(review.duration().secs() <= 4 * 3600, "never longer than what was left: {}", review.duration());
    let stages: Vec<String> = review.open_stages().iter().map(|(_, s)| s.name.clone()).collect();
    assert_eq!(stages, ["owner"], "its owners decide");
    assert!(review.justification().contains("ledger-read-for-its-teams"), "the refusal names the policy: {}", review.justification());
    assert_eq!(w.grant(read.request_id()).await.state(), &GrantState::Active, "kept until the owners decide");
    assert_eq!(w.grant(open.request_id()).await.state(), &GrantState::Active);

    let moved = payloads(&w, "identity.moved").await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["identity"], "alice");
    assert_eq!(moved[0]["groups"]["from"], serde_json::json!(["oncall"]));
    assert_eq!(moved[0]["groups"]["to"], serde_json::json!([]));
    let outcomes: Vec<(String, String)> = moved[0]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["entitlement"].as_str().unwrap().to_owned(), g["outcome"].as_str().unwrap().to_owned()))
        .collect();
    assert!(outcomes.contains(&(READ.to_owned(), "review".to_owned())) && outcomes.contains(&(OPEN.to_owned(), "kept".to_owned())), "{outcomes:?}");
    assert!(w.events(read.request_id()).await.contains(&"grant.redecided".to_owned()), "on the grant's own chain");
    assert!(w.events(open.request_id()).await.contains(&"grant.redecided".to_owned()));
}

#[tokio::test]
async fn an_approved_move_review_replaces_the_grant_with_one_put_in_place_anew() {
    let w = world(OnMove::Review).await;
    let (read, _) = alice_holding_two(&w).await;
    move_alice_out(&w).await;
    let review = the_review_of(&w, read.id()).await;

    w.approve("olivia", review.id()).await.unwrap();
    w.fulfil("dan", review.id()).await.unwrap();

    let replacement = w.grant(review.id()).await;
    assert_eq!(replacement.state(), &GrantState::Active);
    assert!(replacement.expires_at() <= read.expires_at() + TimeDelta::minutes(1), "no longer than the grant it replaces");
    let old = w.grant(read.request_id()).await;
    assert!(
        matches!(old.state(), GrantState::Revoked { reason, .. } if reason.contains(&replacement.id().to_string())),
        "ended in Writ, the access held by the new grant: {old:?}"
    );
    assert!(w.events(read.request_id()).await.contains(&"grant.ended_covered".to_owned()));
}

#[tokio::test]
async fn a_denied_move_review_removes_the_grant() {
    let w = world(OnMove::Review).await;
    let (read, _) = alice_holding_two(&w).await;
    move_alice_out(&w).await;
    let review = the_review_of(&w, read.id()).await;

    w.deny("oscar", review.id(), "she left the on-call team").await.unwrap();

    let g = w.grant(read.request_id()).await;
    assert!(matches!(g.state(), GrantState::Revoking { ending: Ending::Early { by, .. }, .. } if by == &id("oscar")), "{g:?}");
}

#[tokio::test]
async fn a_move_review_nobody_settles_lapses_and_the_grant_is_removed() {
    let w = world(OnMove::Review).await;
    let (read, _) = alice_holding_two(&w).await;
    move_alice_out(&w).await;
    let review = the_review_of(&w, read.id()).await;

    w.clock.advance(w.writ.settings().lapse_after + TimeDelta::minutes(1));
    assert_eq!(w.writ.lapse_due().await.unwrap(), 1);

    assert_eq!(w.request(review.id()).await.state(), RequestState::Lapsed);
    assert!(matches!(w.grant(read.request_id()).await.state(), GrantState::Revoking { .. }), "never silently kept");
}

#[tokio::test]
async fn with_on_move_remove_what_policy_no_longer_allows_is_revoked_at_once() {
    let w = world(OnMove::Remove).await;
    let (read, open) = alice_holding_two(&w).await;

    move_alice_out(&w).await;

    assert!(matches!(w.grant(read.request_id()).await.state(), GrantState::Revoking { .. }));
    assert_eq!(w.grant(open.request_id()).await.state(), &GrantState::Active, "what policy still allows stays");
    assert_eq!(w.open_task(read.request_id()).await.purpose(), &writ_core::task::TaskPurpose::Revoke { grant: read.id() }, "through the normal removal path");
}

#[tokio::test]
async fn moving_again_opens_no_second_review_of_the_same_grant() {
    let w = world(OnMove::Review).await;
    let (read, _) = alice_holding_two(&w).await;
    move_alice_out(&w).await;
    let mut alice = w.who("alice").await;
    alice.manager = Some(id("sam"));
    w.writ.upsert_identities(None, vec![alice]).await.unwrap();

    the_review_of(&w, read.id()).await;
    let moved = payloads(&w, "identity.moved").await;
    assert_eq!(moved.len(), 2, "the manager change is a move too");
    assert_eq!(moved[1]["manager"]["to"], "sam");
    assert!(moved[1]["grants"].as_array().unwrap().iter().any(|g| g["outcome"] == "review already open"), "{}", moved[1]);
}

#[tokio::test]
async fn a_change_that_is_no_move_decides_nothing_again() {
    let w = world(OnMove::Review).await;
    alice_holding_two(&w).await;
    let mut alice = w.who("alice").await;
    alice.display_name = "Alice A. Engineer".into();
    w.writ.upsert_identities(None, vec![alice]).await.unwrap();

    assert!(payloads(&w, "identity.moved").await.is_empty());
    assert!(payloads(&w, "grant.redecided").await.is_empty());
}
