//! Who sees what (`authz.rs`, `query.rs`): the people involved and oversight
//! see a request; the registry, the audit log and others' grants take
//! `read_audit`; the review queue offers only what the caller may review.

use writ_app::ports::GrantFilter;
use writ_app::AppError;

use crate::harness::*;

#[tokio::test]
async fn a_request_is_visible_only_to_those_involved_and_to_oversight() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();

    // Not involved: the same answer as for a request that does not exist.
    let e = w.writ.evidence(&w.who("bob").await, req.id()).await.unwrap_err();
    assert!(matches!(&e, AppError::NotFound { what: "request", .. }), "{e:?}");

    // The requester, an owner, a fulfiller, and security (oversight) see it.
    for who in ["alice", "olivia", "dan", "sam"] {
        let seen = w.writ.evidence(&w.who(who).await, req.id()).await.unwrap_or_else(|e| panic!("{who}: {e}"));
        assert_eq!(seen.request.id(), req.id());
        assert!(!seen.events.is_empty());
    }
}

#[tokio::test]
async fn the_review_queue_offers_only_what_the_caller_may_review() {
    let w = World::new().await;
    let req = w.submit("alice", "alice", &[READ], "4h").await.unwrap();
    let queue = |who: &'static str| {
        let w = &w;
        async move { w.writ.review_queue(&w.who(who).await, 100, None).await.unwrap().iter().map(|r| r.id()).collect::<Vec<_>>() }
    };

    assert_eq!(queue("olivia").await, vec![req.id()], "an owner at the owner stage");
    assert!(queue("alice").await.is_empty(), "not one's own");
    assert!(queue("sam").await.is_empty(), "the open stage does not admit security");
    w.approve("olivia", req.id()).await.unwrap();
    assert!(queue("oscar").await.is_empty(), "settled");
}

#[tokio::test]
async fn listing_another_identitys_grants_takes_read_audit() {
    let w = World::new().await;
    let (_, grant) = w.holding_read("alice", "4h").await;
    let of_alice = || GrantFilter { subject: Some(id("alice")), limit: 10, ..Default::default() };

    let e = w.writ.list_grants(&w.who("bob").await, of_alice()).await.unwrap_err();
    assert!(matches!(&e, AppError::Forbidden { who, .. } if who == "bob"), "{e:?}");

    // Without a subject, bob gets his own: none.
    assert!(w.writ.list_grants(&w.who("bob").await, GrantFilter { limit: 10, ..Default::default() }).await.unwrap().is_empty());
    let own = w.writ.list_grants(&w.who("alice").await, of_alice()).await.unwrap();
    assert_eq!(own.iter().map(|g| g.id()).collect::<Vec<_>>(), vec![grant.id()]);
    let audited = w.writ.list_grants(&w.who("sam").await, of_alice()).await.unwrap();
    assert_eq!(audited.iter().map(|g| g.id()).collect::<Vec<_>>(), vec![grant.id()]);
}

#[tokio::test]
async fn reading_the_audit_log_and_the_registry_takes_read_audit() {
    let w = World::new().await;
    let bob = w.who("bob").await;

    let e = w.writ.audit_page(&bob, 0, 10).await.unwrap_err();
    assert!(matches!(&e, AppError::Forbidden { who, .. } if who == "bob"), "{e:?}");
    let e = w.writ.list_identities(&bob, None, 100).await.unwrap_err();
    assert!(matches!(&e, AppError::Forbidden { who, .. } if who == "bob"), "{e:?}");

    let sam = w.who("sam").await;
    assert!(!w.writ.audit_page(&sam, 0, 10).await.unwrap().is_empty());
    assert_eq!(w.writ.list_identities(&sam, None, 100).await.unwrap().len(), registry().len());
}

#[tokio::test]
async fn the_registry_pages_by_id_and_says_when_there_is_more() {
    let w = World::new().await;
    let sam = w.who("sam").await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = w.writ.list_identities(&sam, after, 3).await.unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|(i, _)| i.id.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut all: Vec<String> = registry().into_iter().map(|i| i.id.to_string()).collect();
    all.sort();
    assert_eq!(seen, all, "every identity once, by id");
}

/// The catalog shows what the `request` policy lets each one ask for itself:
/// an AI agent never sees critical access (the demo forbids it), and an
/// entitlement kept for a team is hidden from those outside it.
#[tokio::test]
async fn the_catalog_shows_each_one_what_policy_lets_it_ask_for() {
    let team_only = r#"
@id("ledger-read-for-on-call")
forbid (principal, action == Writ::Action::"request", resource == Writ::Entitlement::"ledger/read")
unless { context.subject in Writ::Group::"oncall" };
"#;
    let w = World::with_extra_policy(team_only, writ_app::Settings::default()).await;
    let shown = |who: writ_core::identity::Identity| {
        let names: Vec<String> = w.writ.requestable(&who).iter().map(|e| e.id.to_string()).collect();
        names
    };
    let alice = shown(w.who("alice").await);
    assert!(alice.contains(&READ.to_owned()) && alice.contains(&ADMIN.to_owned()), "alice is on call: {alice:?}");
    let bob = shown(w.who("bob").await);
    assert!(!bob.contains(&READ.to_owned()) && bob.contains(&OPEN.to_owned()), "bob is not: {bob:?}");
    let agent = shown(w.who("agent").await);
    assert!(!agent.contains(&ADMIN.to_owned()), "an AI agent never sees critical access: {agent:?}");
    let mut sam = w.who("sam").await;
    sam.status = writ_core::identity::IdentityStatus::Disabled;
    assert!(shown(sam).is_empty(), "a disabled identity may ask for nothing");
}
