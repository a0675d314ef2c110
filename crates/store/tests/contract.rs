//! The store contract: the same behaviours, run against SQLite and against a real
//! PostgreSQL started from Debian's packages.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use uuid::Uuid;
use writ_app::ports::{Change, GrantFilter, Job, RequestFilter, Store, StoreError, TaskFilter, Versioned};
use writ_core::audit::{sign_checkpoint, ChainVerifier, NewEvent};
use writ_core::catalog::{Catalog, Entitlement, Fulfilment, RiskTier, Target};
use writ_core::duration::AccessDuration;
use writ_core::grant::Grant;
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::{EntitlementId, GrantId, GroupId, IdentityId, RequestId, TargetId, TaskId};
use writ_core::request::{Request, RequestDraft, RequestState};
use writ_core::task::FulfilmentTask;
use writ_store::SqlStore;
use writ_testkit::PgServer;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn catalog() -> Catalog {
    Catalog::new(
        vec![Target {
            id: TargetId::parse("pg-prod").unwrap(),
            description: String::new(),
            owners: vec![],
            fulfilment: Fulfilment::Manual { fulfiller_group: GroupId::parse("dba").unwrap() },
        }],
        vec![Entitlement {
            id: EntitlementId::parse("pg-prod/readonly").unwrap(),
            description: String::new(),
            owners: vec![IdentityId::parse("olivia").unwrap()],
            risk: RiskTier::Low,
            stages: vec![],
            max_duration: AccessDuration::parse("8h").unwrap(),
        }],
        vec![],
    )
    .unwrap()
}

fn person(id: &str) -> Identity {
    Identity {
        id: IdentityId::parse(id).unwrap(),
        kind: IdentityKind::Person,
        status: IdentityStatus::Active,
        display_name: id.to_uppercase(),
        owner: None,
        manager: None,
        groups: BTreeSet::new(),
        attributes: BTreeMap::new(),
    }
}

fn request(n: u128, requester: &str, at: DateTime<Utc>) -> Request {
    Request::open(
        RequestId::from_uuid(Uuid::from_u128(n)),
        RequestDraft {
            requester: IdentityId::parse(requester).unwrap(),
            subject: IdentityId::parse(requester).unwrap(),
            entitlements: vec![EntitlementId::parse("pg-prod/readonly").unwrap()],
            justification: format!("request {n}"),
            duration: AccessDuration::parse("1h").unwrap(),
            ticket: None,
        },
        &catalog(),
        at,
        TimeDelta::hours(1),
    )
    .unwrap()
}

fn event(kind: &str, req: Option<&Request>) -> NewEvent {
    NewEvent {
        at: t0(),
        actor: "alice".into(),
        kind: kind.into(),
        request_id: req.map(|r| r.id().to_string()),
        payload: serde_json::json!({ "b": 1, "a": [true, null, "é"] }),
    }
}

async fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/writ.db", dir.path().display());
    (dir, Arc::new(SqlStore::open(&url).await.unwrap()))
}

async fn postgres() -> (PgServer, Arc<dyn Store>) {
    let pg = PgServer::start().expect("PostgreSQL for the store contract (run scripts/install-test-deps.sh)");
    let url = pg.create_database("writ").unwrap();
    (pg, Arc::new(SqlStore::open(&url).await.unwrap()))
}

/// Every behaviour of the contract, in order, against one store.
async fn contract(store: Arc<dyn Store>) {
    identities_round_trip(&*store).await;
    requests_insert_update_and_conflict(&*store).await;
    concurrent_updates_are_never_lost(store.clone()).await;
    tasks_grants_and_filters(&*store).await;
    a_failed_change_writes_nothing(&*store).await;
    many_events_in_one_change(&*store).await;
    jobs_are_claimed_once_per_lease_and_finished_by_a_change(&*store).await;
    audit_chain_and_checkpoints(&*store).await;
}

/// A job committed with a change is claimed by one worker until its lease ends,
/// can be rescheduled, and is gone once a change finishes it.
async fn jobs_are_claimed_once_per_lease_and_finished_by_a_change(store: &dyn Store) {
    let lease = TimeDelta::minutes(2);
    let r = RequestId::from_uuid(Uuid::from_u128(77));
    let e = EntitlementId::parse("pg-prod/readonly").unwrap();
    let job = Job::provision(r, e.clone(), t0());
    let later = Job::provision(r, EntitlementId::parse("pg-prod/other").unwrap(), t0() + TimeDelta::hours(1));
    store.commit(Change { jobs: vec![job.clone(), later.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(store.claim_jobs(t0(), lease, 10).await.unwrap(), vec![job.clone()], "only the due one");
    assert!(store.claim_jobs(t0(), lease, 10).await.unwrap().is_empty(), "held by the first claim");
    let after_lease = t0() + lease + TimeDelta::seconds(1);
    assert_eq!(store.claim_jobs(after_lease, lease, 10).await.unwrap(), vec![job.clone()], "a lapsed claim is taken again");
    let retry = Job { due_at: after_lease + TimeDelta::seconds(30), attempts: 1, ..job.clone() };
    store.commit(Change { jobs: vec![retry.clone()], ..Default::default() }).await.unwrap();
    assert!(store.claim_jobs(after_lease, lease, 10).await.unwrap().is_empty(), "rescheduled for later");
    let due = after_lease + TimeDelta::minutes(1);
    assert_eq!(store.claim_jobs(due, lease, 10).await.unwrap(), vec![retry.clone()], "the rescheduling released the claim");
    store.commit(Change { finished_jobs: vec![job.id.clone(), later.id.clone()], ..Default::default() }).await.unwrap();
    assert!(store.claim_jobs(t0() + TimeDelta::days(1), lease, 10).await.unwrap().is_empty(), "finished jobs are gone");
}

async fn identities_round_trip(store: &dyn Store) {
    let mut alice = person("alice");
    alice.groups.insert(GroupId::parse("security").unwrap());
    store.commit(Change { identities: vec![alice.clone(), person("bob")], events: vec![event("identity.upserted", None)], ..Default::default() }).await.unwrap();
    assert_eq!(store.identity(&alice.id).await.unwrap(), Some(alice.clone()));
    alice.status = IdentityStatus::Disabled;
    store.commit(Change { identities: vec![alice.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(store.identity(&alice.id).await.unwrap().unwrap().status, IdentityStatus::Disabled);
    assert_eq!(store.identities().await.unwrap().len(), 2);
    store.add_token("ab12", &alice.id, "cli", t0()).await.unwrap();
    assert_eq!(store.token_identity("ab12").await.unwrap().map(|i| i.id), Some(alice.id.clone()));
    assert_eq!(store.token_identity("nope").await.unwrap(), None);
}

async fn requests_insert_update_and_conflict(store: &dyn Store) {
    let r = request(1, "alice", t0());
    store.commit(Change { requests: vec![Versioned::new(r.clone())], events: vec![event("request.submitted", Some(&r))], ..Default::default() }).await.unwrap();
    assert_eq!(store.request(r.id()).await.unwrap(), Some(r.clone()));
    let dup = store.commit(Change { requests: vec![Versioned::new(r.clone())], ..Default::default() }).await.unwrap_err();
    assert!(matches!(dup, StoreError::Duplicate { .. }), "{dup}");

    let mut cancelled = r.clone();
    cancelled.cancel(r.requester(), "changed my mind".into(), t0()).unwrap();
    store.commit(Change { requests: vec![Versioned::update(cancelled.clone(), r.version())], ..Default::default() }).await.unwrap();
    // A writer that loaded the old version loses.
    let mut stale = r.clone();
    stale.approve_without_review(t0()).unwrap();
    let e = store.commit(Change { requests: vec![Versioned::update(stale, r.version())], ..Default::default() }).await.unwrap_err();
    assert!(matches!(e, StoreError::VersionConflict { .. }), "{e}");
    assert_eq!(store.request(r.id()).await.unwrap().unwrap().state(), RequestState::Cancelled);
}

/// Many tasks race to update one request from the same loaded version: exactly one
/// wins, and the losers leave nothing behind, not even their audit events (on
/// SQLite the racers usually share one group-commit transaction).
async fn concurrent_updates_are_never_lost(store: Arc<dyn Store>) {
    let r = request(2, "bob", t0());
    store.commit(Change { requests: vec![Versioned::new(r.clone())], ..Default::default() }).await.unwrap();
    let (size_before, _) = store.audit_head().await.unwrap();
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let mut mine = r.clone();
        handles.push(tokio::spawn(async move {
            if i % 2 == 0 {
                mine.approve_without_review(t0()).unwrap();
            } else {
                mine.cancel(&IdentityId::parse("bob").unwrap(), format!("racer {i}"), t0()).unwrap();
            }
            store.commit(Change { requests: vec![Versioned::update(mine, 0)], events: vec![event("race", None)], ..Default::default() }).await
        }));
    }
    let mut wins = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::VersionConflict { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one concurrent update may win");
    assert_eq!(store.request(r.id()).await.unwrap().unwrap().version(), 1);
    let (size_after, head) = store.audit_head().await.unwrap();
    assert_eq!(size_after, size_before + 1, "only the winner's event was appended");
    let last = store.audit_events(size_before, 10).await.unwrap();
    assert_eq!((last.len(), last[0].hash), (1, head), "the head is the winner's event");
}

async fn tasks_grants_and_filters(store: &dyn Store) {
    let r = request(3, "carol", t0() + TimeDelta::minutes(5));
    let task = FulfilmentTask::open(TaskId::from_uuid(Uuid::from_u128(30)), r.id(), r.subject().clone(), r.entitlements()[0].clone(), GroupId::parse("dba").unwrap(), t0());
    let grant = Grant::start(GrantId::from_uuid(Uuid::from_u128(31)), r.id(), r.subject().clone(), r.entitlements()[0].clone(), r.duration(), t0());
    store
        .commit(Change { requests: vec![Versioned::new(r.clone())], tasks: vec![Versioned::new(task.clone())], grants: vec![Versioned::new(grant.clone())], ..Default::default() })
        .await
        .unwrap();
    assert_eq!(store.task(task.id()).await.unwrap(), Some(task.clone()));
    assert_eq!(store.tasks(&TaskFilter { open_only: true, request: Some(r.id()), limit: 10 }).await.unwrap(), vec![task.clone()]);
    let carol = IdentityId::parse("carol").unwrap();
    assert_eq!(store.grants(&GrantFilter { subject: Some(carol.clone()), active_only: true, ..Default::default() }).await.unwrap(), vec![grant.clone()]);
    // Revoking: still holding access until the removal is proved, but no longer
    // due for expiry; then revoked, and history is kept.
    let far = grant.expires_at() + TimeDelta::days(1);
    assert!(store.due_expiries(grant.starts_at(), 10).await.unwrap().iter().all(|g| g.id() != grant.id()), "not due before its expiry");
    assert!(store.due_expiries(far, 10).await.unwrap().iter().any(|g| g.id() == grant.id()), "due after it");
    let mut revoked = grant.clone();
    revoked.begin_revocation(IdentityId::parse("alice").unwrap(), "left the team", t0()).unwrap();
    store.commit(Change { grants: vec![Versioned::update(revoked.clone(), 0)], ..Default::default() }).await.unwrap();
    let holding = store.grants(&GrantFilter { subject: Some(carol.clone()), active_only: true, ..Default::default() }).await.unwrap();
    assert_eq!(holding, vec![revoked.clone()], "a revoking grant may still hold access");
    assert!(store.due_expiries(far, 10).await.unwrap().iter().all(|g| g.id() != grant.id()), "not due again");
    revoked.finish_removal(t0()).unwrap();
    store.commit(Change { grants: vec![Versioned::update(revoked.clone(), 1)], ..Default::default() }).await.unwrap();
    assert!(store.grants(&GrantFilter { subject: Some(carol.clone()), active_only: true, ..Default::default() }).await.unwrap().is_empty());
    assert_eq!(store.grant(grant.id()).await.unwrap(), Some(revoked), "history is kept");

    let mine = store.requests(&RequestFilter { involving: Some(carol), ..Default::default() }).await.unwrap();
    assert_eq!(mine.iter().map(Request::id).collect::<Vec<_>>(), vec![r.id()]);
    let pending = store.requests(&RequestFilter { state: Some(RequestState::Pending), ..Default::default() }).await.unwrap();
    assert!(pending.iter().all(|p| p.state() == RequestState::Pending) && pending.iter().any(|p| p.id() == r.id()));
    let due = store.due_lapses(t0() + TimeDelta::hours(2), 100).await.unwrap();
    assert!(due.contains(&r.id()));
    assert!(store.due_lapses(t0(), 100).await.unwrap().is_empty());
}

async fn a_failed_change_writes_nothing(store: &dyn Store) {
    let (size, head) = store.audit_head().await.unwrap();
    let fresh = request(4, "dave", t0());
    let stale = request(1, "alice", t0());
    let e = store
        .commit(Change { requests: vec![Versioned::new(fresh.clone()), Versioned::update(stale, 0)], events: vec![event("x", None)], ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::VersionConflict { .. }));
    assert_eq!(store.request(fresh.id()).await.unwrap(), None, "the insert was rolled back");
    assert_eq!(store.audit_head().await.unwrap(), (size, head), "no audit event was appended");
}

/// More events than one INSERT statement carries: all sealed, in order.
async fn many_events_in_one_change(store: &dyn Store) {
    let (before, _) = store.audit_head().await.unwrap();
    let events = (0..450).map(|i| event(&format!("bulk.{i}"), None)).collect();
    let sealed = store.commit(Change { events, ..Default::default() }).await.unwrap();
    assert_eq!(sealed.len(), 450);
    assert_eq!(store.audit_head().await.unwrap(), (before + 450, sealed[449].hash));
    let stored = store.audit_events(before, 1000).await.unwrap();
    assert_eq!(stored, sealed, "stored exactly as sealed, in order");
}

async fn audit_chain_and_checkpoints(store: &dyn Store) {
    let (size, _) = store.audit_head().await.unwrap();
    assert!(size >= 3);
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let (_, head) = store.audit_head().await.unwrap();
    let cp = sign_checkpoint(&key, size, head, t0());
    store.add_checkpoint(&cp).await.unwrap();
    store.add_checkpoint(&cp).await.unwrap();
    assert_eq!(store.checkpoints().await.unwrap(), vec![cp.clone()]);

    let mut verifier = ChainVerifier::new();
    let mut after = 0;
    loop {
        let page = store.audit_events(after, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            verifier.push(e).unwrap();
        }
    }
    let report = verifier.finish(&[cp], Some(key.verifying_key().to_bytes())).unwrap();
    assert_eq!(report.events, size);
    let r1 = RequestId::from_uuid(Uuid::from_u128(1));
    let events = store.request_events(r1).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, r#"{"a":[true,null,"é"],"b":1}"#, "payload is stored as canonical JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_on_sqlite() {
    let (_dir, store) = sqlite().await;
    contract(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_on_postgres() {
    let (_pg, store) = postgres().await;
    contract(store).await;
}
