//! The store contract: the same behaviours, run against SQLite and against a real
//! PostgreSQL started from Debian's packages.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use uuid::Uuid;
use writ_app::ports::{
    ActionTaken, Change, Claimed, Cursor, DeskUpdate, GrantFilter, HoldingsGuard, Job, JobClaim, LedgerRow, ReconcileRun, RequestFilter, RunFilter,
    RunObservation, RunRecord, RunState, Store, StoreError, TaskFilter, TicketFilter, TokenFilter, TokenWrite, Versioned,
};
use writ_core::audit::{sign_checkpoint, ChainVerifier, NewEvent};
use writ_core::catalog::{Catalog, Entitlement, Fulfilment, RiskTier, Target};
use writ_core::duration::AccessDuration;
use writ_core::grant::Grant;
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::{EntitlementId, GrantId, GroupId, IdentityId, RequestId, RunId, TargetId, TaskId, TokenId};
use writ_core::reconcile::{Counts, Observation, Reaction, Situation};
use writ_core::request::{Request, RequestDraft, RequestState};
use writ_core::task::FulfilmentTask;
use writ_core::token::{Token, TokenScope};
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
        owner_left: None,
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
            request_type: None,
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
    tokens_issue_revoke_list_and_use(&*store).await;
    requests_insert_update_and_conflict(&*store).await;
    concurrent_updates_are_never_lost(store.clone()).await;
    a_group_keeps_what_stands_and_drops_only_the_losers(store.clone()).await;
    tasks_grants_and_filters(&*store).await;
    a_failed_change_writes_nothing(&*store).await;
    many_events_in_one_change(&*store).await;
    jobs_are_claimed_once_per_lease_and_finished_by_a_change(&*store).await;
    claims_are_renewed_by_their_holder_only(&*store).await;
    jobs_of_one_queue_run_one_at_a_time_in_order(&*store).await;
    one_of_many_nodes_claiming_a_job_by_id_gets_it(store.clone()).await;
    audit_chain_and_checkpoints(&*store).await;
    reconciliation_ledger_and_runs(&*store).await;
    lists_page_by_cursor(&*store).await;
    holdings_guards_let_one_of_two_racers_commit(store.clone()).await;
    tickets_by_id_by_ref_by_state_and_triage(&*store).await;
    identities_by_attribute_and_deliveries(&*store).await;
    approval_slas_are_found_by_index(&*store).await;
}

/// Approval service levels are read by index: a pending request is due for
/// a chase from its stage's reminder point, then again from its SLA, and
/// counted past its SLA from then; nothing is due once its steps are taken,
/// and nothing is counted once it is decided.
async fn approval_slas_are_found_by_index(store: &dyn Store) {
    use writ_core::catalog::{ApproverRule, EscalateTo, StageSpec};
    use writ_core::review::Escalated;
    let readonly = EntitlementId::parse("pg-prod/readonly").unwrap();
    let base = catalog();
    let mut ent = base.entitlement(&readonly).unwrap().clone();
    ent.stages = vec![StageSpec {
        sla: Some(AccessDuration::parse("4h").unwrap()),
        escalate_to: Some(EscalateTo::Manager),
        ..StageSpec::new("owner", ApproverRule::EntitlementOwners, 1)
    }];
    let cat = Catalog::new(base.targets().cloned().collect(), vec![ent], vec![]).unwrap();
    let draft = RequestDraft {
        requester: IdentityId::parse("alice").unwrap(),
        subject: IdentityId::parse("alice").unwrap(),
        entitlements: vec![readonly.clone()],
        justification: "month-end".into(),
        duration: AccessDuration::parse("1h").unwrap(),
        ticket: None,
        request_type: None,
    };
    let r = Request::open(RequestId::from_uuid(Uuid::from_u128(0x51a)), draft, &cat, t0(), TimeDelta::days(1)).unwrap();
    store.commit(Change { requests: vec![Versioned::new(r.clone())], ..Default::default() }).await.unwrap();
    let h = |n: i64| t0() + TimeDelta::hours(n);
    let due = |at| async move { store.due_chases(at, None, 10).await.unwrap().iter().map(Request::id).collect::<Vec<_>>() };
    assert!(due(h(2) - TimeDelta::seconds(1)).await.is_empty());
    assert_eq!(due(h(2)).await, [r.id()]);
    assert!(store.due_chases(h(2), Some(r.id()), 10).await.unwrap().is_empty(), "after the cursor");
    assert_eq!(store.past_sla_count(h(4) - TimeDelta::seconds(1)).await.unwrap(), 0);
    assert_eq!(store.past_sla_count(h(4)).await.unwrap(), 1);
    let mut reminded = r.clone();
    reminded.remind_stage(&readonly, "owner", h(2)).unwrap();
    store.commit(Change { requests: vec![Versioned::update(reminded.clone(), r.version())], ..Default::default() }).await.unwrap();
    assert!(due(h(4) - TimeDelta::seconds(1)).await.is_empty(), "reminded: next due at the SLA");
    assert_eq!(due(h(4)).await, [r.id()]);
    let mut escalated = reminded.clone();
    escalated.escalate_stage(&readonly, "owner", Escalated::Managers { people: vec![] }, h(4)).unwrap();
    store.commit(Change { requests: vec![Versioned::update(escalated.clone(), reminded.version())], ..Default::default() }).await.unwrap();
    assert!(due(h(20)).await.is_empty(), "both steps taken");
    assert_eq!(store.past_sla_count(h(5)).await.unwrap(), 1, "still waiting past its SLA");
    let mut cancelled = escalated.clone();
    cancelled.cancel(r.requester(), String::new(), h(5)).unwrap();
    store.commit(Change { requests: vec![Versioned::update(cancelled, escalated.version())], ..Default::default() }).await.unwrap();
    assert_eq!(store.past_sla_count(h(5)).await.unwrap(), 0);
}

/// An account elsewhere maps to the identities holding it as an attribute
/// (a key that is not a plain name is refused, never spliced into a path);
/// a delivery is accepted once: its replay is a `Duplicate` that writes
/// nothing, and deliveries older than the memory window are forgotten.
async fn identities_by_attribute_and_deliveries(store: &dyn Store) {
    use writ_app::ports::{Delivery, DELIVERY_MEMORY};
    let mut carol = person("carol");
    carol.attributes.insert("slack_user_id".into(), "U111".into());
    let mut dave = person("dave");
    dave.attributes.insert("slack_user_id".into(), "U222".into());
    dave.attributes.insert("jira:account".into(), "U111".into());
    store.commit(Change { identities: vec![Versioned::new(carol.clone()), Versioned::new(dave.clone())], ..Default::default() }).await.unwrap();
    let ids = |found: Vec<Identity>| found.into_iter().map(|i| i.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(store.identities_with_attribute("slack_user_id", "U111").await.unwrap()), ["carol"]);
    assert_eq!(ids(store.identities_with_attribute("jira:account", "U111").await.unwrap()), ["dave"]);
    assert!(store.identities_with_attribute("slack_user_id", "U333").await.unwrap().is_empty());
    assert!(store.identities_with_attribute("slack_user_id", "u111").await.unwrap().is_empty(), "values match exactly");
    for bad in ["", "a.b", r#"x"] ") OR 1=1 --"#, "$.groups", &"k".repeat(65)] {
        let e = store.identities_with_attribute(bad, "U111").await.unwrap_err();
        assert!(e.to_string().contains("not a plain name"), "{bad}: {e}");
    }

    let delivery = |id: &str, at| Delivery { source: "slack".into(), id: id.into(), at };
    let (before, _) = store.audit_head().await.unwrap();
    store.commit(Change { deliveries: vec![delivery("d1", t0())], events: vec![event("webhook.accepted", None)], ..Default::default() }).await.unwrap();
    let replay = store.commit(Change { deliveries: vec![delivery("d1", t0())], events: vec![event("webhook.accepted", None)], ..Default::default() }).await;
    assert!(matches!(replay, Err(StoreError::Duplicate { what: "delivery", .. })), "{replay:?}");
    assert_eq!(store.audit_head().await.unwrap().0, before + 1, "the replay wrote nothing");
    let other_source = Delivery { source: "jira".into(), ..delivery("d1", t0()) };
    store.commit(Change { deliveries: vec![other_source], ..Default::default() }).await.unwrap();
    // Past the memory window d1 is forgotten as a later delivery arrives.
    let later = t0() + DELIVERY_MEMORY + TimeDelta::seconds(1);
    store.commit(Change { deliveries: vec![delivery("d2", later)], ..Default::default() }).await.unwrap();
    store.commit(Change { deliveries: vec![delivery("d1", later)], ..Default::default() }).await.unwrap();
}

/// Two changes that relied on the same reading of a subject's holdings (each
/// carries the guard version it read): one commits, the other is a
/// `VersionConflict` and writes nothing; read again, the guard has moved on.
/// Many racers at once: exactly one wins.
async fn holdings_guards_let_one_of_two_racers_commit(store: Arc<dyn Store>) {
    let carol = IdentityId::parse("carol").unwrap();
    let read = store.standing(&carol).await.unwrap().guard;
    assert_eq!(read, HoldingsGuard { subject: carol.clone(), version: 0 }, "nobody relied on carol's holdings yet");
    let first = request(901, "carol", t0());
    let second = request(902, "carol", t0());
    let with_guard = |r: &Request, guard: &HoldingsGuard| Change {
        requests: vec![Versioned::new(r.clone())],
        events: vec![event("request.submitted", Some(r))],
        guards: vec![guard.clone()],
        ..Default::default()
    };
    store.commit(with_guard(&first, &read)).await.unwrap();
    let lost = store.commit(with_guard(&second, &read)).await.unwrap_err();
    assert!(matches!(&lost, StoreError::VersionConflict { what: "holdings of", id } if id == "carol"), "{lost}");
    assert_eq!(store.request(second.id()).await.unwrap(), None, "the loser wrote nothing");
    let again = store.standing(&carol).await.unwrap();
    assert_eq!(again.guard.version, 1);
    assert!(again.requests.iter().any(|r| r.id() == first.id()), "the holdings read again include the winner");
    store.commit(with_guard(&second, &again.guard)).await.unwrap();

    let read = store.standing(&carol).await.unwrap().guard;
    let racers = (0..8u128).map(|n| {
        let store = store.clone();
        let change = with_guard(&request(910 + n, "carol", t0()), &read);
        tokio::spawn(async move { store.commit(change).await })
    });
    let mut won = 0;
    for racer in racers.collect::<Vec<_>>() {
        match racer.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::VersionConflict { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1, "one racer commits, the others are told to read again");
    assert_eq!(store.standing(&carol).await.unwrap().guard.version, read.version + 1);
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
    assert_eq!(store.claim_jobs(t0(), lease, 10, "node-a").await.unwrap(), vec![job.clone()], "only the due one");
    assert!(store.claim_jobs(t0(), lease, 10, "node-a").await.unwrap().is_empty(), "held by the first claim");
    let after_lease = t0() + lease + TimeDelta::seconds(1);
    assert_eq!(store.claim_jobs(after_lease, lease, 10, "node-a").await.unwrap(), vec![job.clone()], "a lapsed claim is taken again");
    let retry = Job { due_at: after_lease + TimeDelta::seconds(30), attempts: 1, ..job.clone() };
    store.commit(Change { jobs: vec![retry.clone()], ..Default::default() }).await.unwrap();
    assert!(store.claim_jobs(after_lease, lease, 10, "node-a").await.unwrap().is_empty(), "rescheduled for later");
    let due = after_lease + TimeDelta::minutes(1);
    assert_eq!(store.claim_jobs(due, lease, 10, "node-a").await.unwrap(), vec![retry.clone()], "the rescheduling released the claim");
    store.commit(Change { finished_jobs: vec![job.id.clone(), later.id.clone()], ..Default::default() }).await.unwrap();
    assert!(store.claim_jobs(t0() + TimeDelta::days(1), lease, 10, "node-a").await.unwrap().is_empty(), "finished jobs are gone");
}

/// Jobs of one queue (the write-backs to one desk ticket) are claimed one
/// at a time in the order queued, a retrying one holding back those after
/// it; other queues and unqueued jobs are not held back.
async fn jobs_of_one_queue_run_one_at_a_time_in_order(store: &dyn Store) {
    let lease = TimeDelta::minutes(2);
    let update = |external_ref: &str, event: &str| DeskUpdate {
        source: "request-tracker".into(),
        external_ref: external_ref.into(),
        event: event.into(),
        request: None,
        note: event.into(),
        to_requester: true,
        status: None,
    };
    let received = Job::write_back(update("7", "ticket.received"), t0());
    let filed = Job::write_back(update("7", "ticket.filed"), t0());
    let other = Job::write_back(update("8", "ticket.received"), t0());
    store.commit(Change { jobs: vec![received.clone(), filed.clone(), other.clone()], ..Default::default() }).await.unwrap();
    let denied = Job::write_back(update("7", "request.denied"), t0());
    store.commit(Change { jobs: vec![denied.clone()], ..Default::default() }).await.unwrap();
    let ids = |jobs: Vec<Job>| jobs.into_iter().map(|j| j.id).collect::<BTreeSet<_>>();
    let expect = |jobs: &[&Job]| jobs.iter().map(|j| j.id.clone()).collect::<BTreeSet<_>>();

    assert_eq!(ids(store.claim_jobs(t0(), lease, 10, "node-a").await.unwrap()), expect(&[&received, &other]), "the head of each queue only");
    let after_lease = t0() + lease + TimeDelta::seconds(1);
    let retry = Job { due_at: after_lease + TimeDelta::minutes(5), attempts: 1, ..received.clone() };
    store.commit(Change { jobs: vec![retry.clone()], finished_jobs: vec![other.id.clone()], ..Default::default() }).await.unwrap();
    assert!(store.claim_jobs(after_lease, lease, 10, "node-b").await.unwrap().is_empty(), "a retrying head holds back the rest of its queue");
    let retry_due = after_lease + TimeDelta::minutes(5);
    assert_eq!(ids(store.claim_jobs(retry_due, lease, 10, "node-b").await.unwrap()), expect(&[&received]), "queued again, it keeps its place");
    store.commit(Change { finished_jobs: vec![received.id.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(ids(store.claim_jobs(retry_due, lease, 10, "node-b").await.unwrap()), expect(&[&filed]));
    store.commit(Change { finished_jobs: vec![filed.id.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(ids(store.claim_jobs(retry_due, lease, 10, "node-b").await.unwrap()), expect(&[&denied]), "a later change's job comes last");
    store.commit(Change { finished_jobs: vec![denied.id.clone()], ..Default::default() }).await.unwrap();
}

/// A node renews the claims it holds, and only those: a renewed claim keeps
/// the job from other nodes after the lease it was first taken for has
/// ended; one left to lapse goes to another node, and its old holder's
/// renewal then finds it gone.
async fn claims_are_renewed_by_their_holder_only(store: &dyn Store) {
    let lease = TimeDelta::minutes(2);
    let job = Job::provision(RequestId::from_uuid(Uuid::from_u128(78)), EntitlementId::parse("pg-prod/readonly").unwrap(), t0());
    store.commit(Change { jobs: vec![job.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(store.claim_jobs(t0(), lease, 10, "node-a").await.unwrap(), vec![job.clone()]);
    let held = |node: &str, until| Some(JobClaim { node: node.into(), until });
    assert_eq!(store.job_claim(&job.id, t0()).await.unwrap(), held("node-a", t0() + lease), "the claim names its node");

    assert!(!store.renew_claim(&job.id, t0() + TimeDelta::hours(1), "node-b").await.unwrap(), "a node renews only its own claims");
    assert_eq!(store.job_claim(&job.id, t0()).await.unwrap(), held("node-a", t0() + lease), "unchanged by node-b");

    let renewed_at = t0() + lease / 3;
    assert!(store.renew_claim(&job.id, renewed_at + lease, "node-a").await.unwrap(), "the holder renews");
    let after_first_lease = t0() + lease + TimeDelta::seconds(1);
    assert!(store.claim_jobs(after_first_lease, lease, 10, "node-b").await.unwrap().is_empty(), "renewed: not claimable after the first lease");
    assert_eq!(store.job_claim(&job.id, after_first_lease).await.unwrap(), held("node-a", renewed_at + lease));
    assert_eq!(
        store.claim_job(&job, after_first_lease, lease, "node-b").await.unwrap(),
        Claimed::HeldBy(JobClaim { node: "node-a".into(), until: renewed_at + lease }),
        "nor by id"
    );

    // node-a stops renewing: once its renewed claim ends, node-b takes the job.
    let lapsed = renewed_at + lease + TimeDelta::seconds(1);
    assert_eq!(store.job_claim(&job.id, lapsed).await.unwrap(), None, "a claim that ended holds nothing");
    assert_eq!(store.claim_jobs(lapsed, lease, 10, "node-b").await.unwrap(), vec![job.clone()]);
    assert!(!store.renew_claim(&job.id, lapsed + lease, "node-a").await.unwrap(), "node-a's claim is gone");
    assert_eq!(store.job_claim(&job.id, lapsed).await.unwrap(), held("node-b", lapsed + lease));

    // Queuing the job again (its outcome: a retry) releases the claim.
    let retry = Job { due_at: lapsed, attempts: 1, ..job.clone() };
    store.commit(Change { jobs: vec![retry.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(store.job_claim(&job.id, lapsed).await.unwrap(), None);
    assert!(!store.renew_claim(&job.id, lapsed + lease, "node-b").await.unwrap(), "nothing left to renew");

    // By id, a job is claimed whether due or not, and queued if absent.
    let reconcile = Job::reconcile(&TargetId::parse("pg-prod").unwrap(), lapsed + TimeDelta::days(30));
    assert_eq!(store.claim_job(&reconcile, lapsed, lease, "node-a").await.unwrap(), Claimed::Taken);
    assert_eq!(store.job_claim(&reconcile.id, lapsed).await.unwrap(), held("node-a", lapsed + lease));
    assert_eq!(store.claim_job(&reconcile, lapsed, lease, "node-b").await.unwrap(), Claimed::HeldBy(JobClaim { node: "node-a".into(), until: lapsed + lease }));
    assert!(store.renew_claim(&reconcile.id, lapsed, "node-a").await.unwrap(), "given back: a claim ending now");
    assert_eq!(store.claim_job(&reconcile, lapsed, lease, "node-b").await.unwrap(), Claimed::Taken);
    assert!(store.claim_jobs(lapsed + TimeDelta::days(1), lease, 10, "node-a").await.unwrap().iter().all(|j| j.id != reconcile.id), "not due");

    store.commit(Change { finished_jobs: vec![job.id.clone(), reconcile.id.clone()], ..Default::default() }).await.unwrap();
    assert!(store.claim_jobs(t0() + TimeDelta::days(365), lease, 10, "node-a").await.unwrap().is_empty(), "finished jobs are gone");
}

/// Nodes racing to claim one job by id: exactly one gets it.
async fn one_of_many_nodes_claiming_a_job_by_id_gets_it(store: Arc<dyn Store>) {
    let lease = TimeDelta::minutes(2);
    let job = Job::reconcile(&TargetId::parse("pg-race").unwrap(), t0());
    let mut racing = tokio::task::JoinSet::new();
    for n in 0..8 {
        let (store, job) = (store.clone(), job.clone());
        racing.spawn(async move { store.claim_job(&job, t0(), lease, &format!("node-{n}")).await.unwrap() });
    }
    let mut taken = 0;
    while let Some(claimed) = racing.join_next().await {
        if claimed.unwrap() == Claimed::Taken {
            taken += 1;
        }
    }
    assert_eq!(taken, 1, "one claim, the others refused");
    store.commit(Change { finished_jobs: vec![job.id.clone()], ..Default::default() }).await.unwrap();
}

async fn identities_round_trip(store: &dyn Store) {
    let mut alice = person("alice");
    alice.groups.insert(GroupId::parse("security").unwrap());
    store
        .commit(Change {
            identities: vec![Versioned::new(alice.clone()), Versioned::new(person("bob"))],
            events: vec![event("identity.upserted", None)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.identity(&alice.id).await.unwrap(), Some(alice.clone()));
    let version_of = |all: Vec<(Identity, u64)>, id: &IdentityId| all.into_iter().find(|(i, _)| &i.id == id).unwrap().1;
    assert_eq!(version_of(store.identities_versioned().await.unwrap(), &alice.id), 1);
    // A second insert of the same id is a duplicate, not an overwrite.
    let again = store.commit(Change { identities: vec![Versioned::new(alice.clone())], ..Default::default() }).await;
    assert!(matches!(again, Err(StoreError::Duplicate { what: "identity", .. })), "{again:?}");
    alice.status = IdentityStatus::Disabled;
    store.commit(Change { identities: vec![Versioned::update(alice.clone(), 1)], ..Default::default() }).await.unwrap();
    assert_eq!(store.identity(&alice.id).await.unwrap().unwrap().status, IdentityStatus::Disabled);
    // A stale write (made from version 1) cannot enable her again.
    let mut stale = alice.clone();
    stale.status = IdentityStatus::Active;
    let lost = store.commit(Change { identities: vec![Versioned::update(stale, 1)], ..Default::default() }).await;
    assert!(matches!(lost, Err(StoreError::VersionConflict { what: "identity", .. })), "{lost:?}");
    assert_eq!(store.identity(&alice.id).await.unwrap().unwrap().status, IdentityStatus::Disabled);
    assert_eq!(version_of(store.identities_versioned().await.unwrap(), &alice.id), 2);
    assert_eq!(store.identities().await.unwrap().len(), 2);
}

fn token(n: u128, identity: &str, owner: &str, at: DateTime<Utc>) -> Token {
    Token {
        id: TokenId::from_uuid(Uuid::from_u128(n)),
        identity: IdentityId::parse(identity).unwrap(),
        owner: IdentityId::parse(owner).unwrap(),
        created_by: "sam".into(),
        name: format!("token {n}"),
        scope: n.is_multiple_of(2).then_some(TokenScope::Read),
        created_at: at,
        expires_at: (!n.is_multiple_of(3)).then(|| at + TimeDelta::days(30)),
        revoked: None,
        last_used_at: None,
        version: 1,
    }
}

fn issue(t: &Token, hash: &str) -> Change {
    Change {
        tokens: vec![TokenWrite::Issue { token: t.clone(), hash: hash.into(), proof: None }],
        events: vec![event("token.issued", None)],
        ..Default::default()
    }
}

/// A token and its event commit together, or neither; it is found by its
/// hash in one read with its identity; a revocation is compared-and-swapped;
/// lists filter by identity, by involvement and by revocation, page by
/// cursor; a last use is recorded at most once a minute.
async fn tokens_issue_revoke_list_and_use(store: &dyn Store) {
    let (size, _) = store.audit_head().await.unwrap();
    let t1 = token(901, "alice", "alice", t0());
    store.commit(issue(&t1, "hash-901")).await.unwrap();
    assert_eq!(store.audit_head().await.unwrap().0, size + 1, "the token's event is in the same commit");
    let (found, who) = store.token_by_hash("hash-901").await.unwrap().expect("found by hash");
    assert_eq!((found.clone(), who.id.clone()), (t1.clone(), t1.identity.clone()));
    assert_eq!(store.token(t1.id).await.unwrap(), Some(t1.clone()));
    assert_eq!(store.token_by_hash("hash-nope").await.unwrap(), None);
    // The same id, or the same hash, again: a duplicate, and its event is not written.
    let dup = store.commit(issue(&t1, "hash-other")).await.unwrap_err();
    assert!(matches!(dup, StoreError::Duplicate { what: "token", .. }), "{dup}");
    let same_hash = store.commit(issue(&token(902, "alice", "alice", t0()), "hash-901")).await;
    assert!(same_hash.is_err(), "a hash belongs to one token");
    assert_eq!(store.audit_head().await.unwrap().0, size + 1, "nothing of a failed change is written");
    // Revocation, and a stale one loses.
    let revoked = t1.revoke("sam", "lost", t0() + TimeDelta::minutes(5)).unwrap();
    store.commit(Change { tokens: vec![TokenWrite::Update(Versioned::update(revoked.clone(), 1))], ..Default::default() }).await.unwrap();
    assert_eq!(store.token(t1.id).await.unwrap(), Some(revoked.clone()));
    let stale = t1.revoke("bob", "", t0() + TimeDelta::minutes(6)).unwrap();
    let lost = store.commit(Change { tokens: vec![TokenWrite::Update(Versioned::update(stale, 1))], ..Default::default() }).await;
    assert!(matches!(lost, Err(StoreError::VersionConflict { what: "token", .. })), "{lost:?}");
    assert_eq!(store.token_by_hash("hash-901").await.unwrap().unwrap().0.revoked, revoked.revoked, "found revoked: the caller says so");
    // Lists: a bot's token owned by alice, bob's own.
    let bot = token(903, "svc-bot", "alice", t0() + TimeDelta::minutes(1));
    let bobs = token(904, "bob", "bob", t0() + TimeDelta::minutes(2));
    for (t, h) in [(&bot, "hash-903"), (&bobs, "hash-904")] {
        store.commit(issue(t, h)).await.unwrap();
    }
    assert_eq!(store.token_by_hash("hash-903").await.unwrap(), None, "a token whose identity is unknown authenticates no one");
    let list = |f: TokenFilter| async move { store.tokens(&f).await.unwrap().into_iter().map(|t| t.id).collect::<Vec<_>>() };
    let alice = IdentityId::parse("alice").unwrap();
    assert_eq!(list(TokenFilter { involving: Some(alice.clone()), limit: 10, ..Default::default() }).await, vec![bot.id, t1.id], "newest first");
    assert_eq!(list(TokenFilter { identity: Some(alice.clone()), limit: 10, ..Default::default() }).await, vec![t1.id]);
    assert_eq!(list(TokenFilter { identity: Some(alice.clone()), unrevoked_only: true, limit: 10, ..Default::default() }).await, vec![]);
    assert_eq!(list(TokenFilter { limit: 10, ..Default::default() }).await, vec![bobs.id, bot.id, t1.id]);
    let page2 = TokenFilter { after: Some(Cursor::of_token(&bobs)), limit: 1, ..Default::default() };
    assert_eq!(list(page2).await, vec![bot.id]);
    assert!(store.tokens(&TokenFilter::default()).await.is_err(), "a page needs a limit");
    // Last use: recorded, then not again within the minute, then again.
    let at = t0() + TimeDelta::hours(1);
    store.record_token_use(bobs.id, at).await.unwrap();
    assert_eq!(store.token(bobs.id).await.unwrap().unwrap().last_used_at, Some(at));
    store.record_token_use(bobs.id, at + TimeDelta::seconds(30)).await.unwrap();
    assert_eq!(store.token(bobs.id).await.unwrap().unwrap().last_used_at, Some(at), "within the minute: unchanged");
    store.record_token_use(bobs.id, at + TimeDelta::seconds(60)).await.unwrap();
    assert_eq!(store.token(bobs.id).await.unwrap().unwrap().last_used_at, Some(at + TimeDelta::seconds(60)));
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

fn ticket(n: u128, external_ref: &str, disposition: writ_core::ticket::Disposition, at: DateTime<Utc>) -> writ_core::ticket::Ticket {
    use writ_core::request_type::RequestType;
    let arrival = writ_core::ticket::Arrival {
        source: "request-tracker".into(),
        external_ref: external_ref.into(),
        requester: IdentityId::parse("alice").unwrap(),
        subject: format!("ticket {n}"),
        body: "cannot sign in".into(),
    };
    let prediction =
        Some(writ_core::ticket::Prediction { request_type: writ_core::ids::RequestTypeId::parse("password_reset").unwrap(), confidence: 0.5, runner_up: None });
    let type_of = |id: &writ_core::ids::RequestTypeId| Ok(RequestType::standard().into_iter().find(|t| t.id == *id).unwrap());
    writ_core::ticket::Ticket::receive(writ_core::ids::TicketId::from_uuid(Uuid::from_u128(n)), arrival, prediction, disposition, type_of, at).unwrap()
}

/// Tickets: read back by id and by their source's reference (unique: a
/// second delivery is a `Duplicate`), updated on their version, listed by
/// state newest first, and triage choices counted with their agreement.
async fn tickets_by_id_by_ref_by_state_and_triage(store: &dyn Store) {
    use writ_core::ticket::Disposition;
    let triage = ticket(1, "RT-1", Disposition::Triage, t0());
    let help_desk = ticket(2, "RT-2", Disposition::Route(writ_core::ids::RequestTypeId::parse("account_unlock").unwrap()), t0() + TimeDelta::seconds(1));
    store.commit(Change { tickets: vec![Versioned::new(triage.clone()), Versioned::new(help_desk.clone())], ..Default::default() }).await.unwrap();
    assert_eq!(store.ticket(triage.id()).await.unwrap(), Some(triage.clone()));
    assert_eq!(store.ticket_by_ref("request-tracker", "RT-2").await.unwrap(), Some(help_desk.clone()));
    assert_eq!(store.ticket_by_ref("jira", "RT-2").await.unwrap(), None, "the reference is per source");
    let again = ticket(3, "RT-1", Disposition::Triage, t0());
    let dup = store.commit(Change { tickets: vec![Versioned::new(again)], ..Default::default() }).await.unwrap_err();
    assert!(matches!(dup, StoreError::Duplicate { .. }), "{dup}");

    assert_eq!(store.triage_counts().await.unwrap(), (0, 0));
    let mut chosen = triage.clone();
    let mut sam = person("sam");
    sam.groups = BTreeSet::new();
    chosen.triage(&sam, &writ_core::request_type::RequestType::standard()[7], t0()).unwrap();
    store.commit(Change { tickets: vec![Versioned::update(chosen.clone(), triage.version())], ..Default::default() }).await.unwrap();
    let stale = store.commit(Change { tickets: vec![Versioned::update(chosen.clone(), triage.version())], ..Default::default() }).await.unwrap_err();
    assert!(matches!(stale, StoreError::VersionConflict { .. }), "{stale}");
    assert_eq!(store.triage_counts().await.unwrap(), (1, 1), "password_reset chosen, as predicted");

    let in_help_desk = store.tickets(&TicketFilter { state: Some("help_desk".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(in_help_desk.iter().map(|t| t.id()).collect::<Vec<_>>(), vec![help_desk.id(), triage.id()], "newest first");
    let first = store.tickets(&TicketFilter { limit: 1, ..Default::default() }).await.unwrap();
    let next = store.tickets(&TicketFilter { after: Some(Cursor::new(first[0].created_at(), first[0].id())), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(next.iter().map(|t| t.id()).collect::<Vec<_>>(), vec![triage.id()]);
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

/// Independent changes committed side by side with racers on one request
/// (on PostgreSQL they usually share one group transaction, which must run
/// again with a savepoint per change once a racer fails): every independent
/// change and exactly one racer stand, each with its events, chained in order.
async fn a_group_keeps_what_stands_and_drops_only_the_losers(store: Arc<dyn Store>) {
    let raced = request(9_000, "erin", t0());
    store.commit(Change { requests: vec![Versioned::new(raced.clone())], ..Default::default() }).await.unwrap();
    let (size_before, _) = store.audit_head().await.unwrap();
    let mut handles = Vec::new();
    for i in 0..16u128 {
        let store = store.clone();
        let raced = raced.clone();
        handles.push(tokio::spawn(async move {
            let change = if i % 2 == 0 {
                let fresh = request(9_001 + i, "frank", t0());
                Change {
                    events: vec![event("fresh", Some(&fresh)), event("fresh.more", Some(&fresh))],
                    requests: vec![Versioned::new(fresh)],
                    ..Default::default()
                }
            } else {
                let mut mine = raced;
                mine.cancel(&IdentityId::parse("erin").unwrap(), format!("racer {i}"), t0()).unwrap();
                Change { events: vec![event("race", None)], requests: vec![Versioned::update(mine, 0)], ..Default::default() }
            };
            (i, store.commit(change).await)
        }));
    }
    let (mut fresh, mut raced_wins) = (0, 0);
    for h in handles {
        match h.await.unwrap() {
            (i, Ok(sealed)) if i % 2 == 0 => {
                assert_eq!(sealed.len(), 2);
                assert_eq!(store.request(request(9_001 + i, "frank", t0()).id()).await.unwrap().map(|r| r.version()), Some(0), "fresh request {i} stored");
                fresh += 1;
            }
            (_, Ok(sealed)) => {
                assert_eq!(sealed.len(), 1);
                raced_wins += 1;
            }
            (i, Err(StoreError::VersionConflict { .. })) if i % 2 == 1 => {}
            (i, Err(e)) => panic!("change {i}: unexpected error {e}"),
        }
    }
    assert_eq!((fresh, raced_wins), (8, 1), "every independent change and exactly one racer stand");
    let (size_after, head) = store.audit_head().await.unwrap();
    assert_eq!(size_after, size_before + 8 * 2 + 1, "the events of what stood, and nothing of the losers");
    let appended = store.audit_events(size_before, 100).await.unwrap();
    assert_eq!(appended.last().map(|e| e.hash), Some(head));
    for pair in appended.windows(2) {
        assert_eq!((pair[1].seq, pair[1].prev_hash), (pair[0].seq + 1, pair[0].hash), "chained in order");
    }
}

async fn tasks_grants_and_filters(store: &dyn Store) {
    let r = request(3, "carol", t0() + TimeDelta::minutes(5));
    let task = FulfilmentTask::open(
        TaskId::from_uuid(Uuid::from_u128(30)),
        r.id(),
        r.subject().clone(),
        r.entitlements()[0].clone(),
        GroupId::parse("dba").unwrap(),
        t0(),
    );
    let grant = Grant::start(GrantId::from_uuid(Uuid::from_u128(31)), r.id(), r.subject().clone(), r.entitlements()[0].clone(), r.duration(), t0());
    store
        .commit(Change {
            requests: vec![Versioned::new(r.clone())],
            tasks: vec![Versioned::new(task.clone())],
            grants: vec![Versioned::new(grant.clone())],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.task(task.id()).await.unwrap(), Some(task.clone()));
    assert_eq!(store.tasks(&TaskFilter { open_only: true, request: Some(r.id()), after: None, limit: 10 }).await.unwrap(), vec![task.clone()]);
    let carol = IdentityId::parse("carol").unwrap();
    assert_eq!(
        store.grants(&GrantFilter { subject: Some(carol.clone()), active_only: true, limit: 10, ..Default::default() }).await.unwrap(),
        vec![grant.clone()]
    );
    // Revoking: still holding access until the removal is proved, but no longer
    // due for expiry; then revoked, and history is kept.
    let far = grant.expires_at() + TimeDelta::days(1);
    assert!(store.due_expiries(grant.starts_at(), 10).await.unwrap().iter().all(|g| g.id() != grant.id()), "not due before its expiry");
    assert!(store.due_expiries(far, 10).await.unwrap().iter().any(|g| g.id() == grant.id()), "due after it");
    let mut revoked = grant.clone();
    revoked.begin_revocation(IdentityId::parse("alice").unwrap(), "left the team", t0()).unwrap();
    store.commit(Change { grants: vec![Versioned::update(revoked.clone(), 0)], ..Default::default() }).await.unwrap();
    let holding = store.grants(&GrantFilter { subject: Some(carol.clone()), active_only: true, limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(holding, vec![revoked.clone()], "a revoking grant may still hold access");
    assert!(store.due_expiries(far, 10).await.unwrap().iter().all(|g| g.id() != grant.id()), "not due again");
    revoked.finish_removal(t0()).unwrap();
    store.commit(Change { grants: vec![Versioned::update(revoked.clone(), 1)], ..Default::default() }).await.unwrap();
    assert!(store.grants(&GrantFilter { subject: Some(carol.clone()), active_only: true, limit: 10, ..Default::default() }).await.unwrap().is_empty());
    assert_eq!(store.grant(grant.id()).await.unwrap(), Some(revoked), "history is kept");

    let mine = store.requests(&RequestFilter { involving: Some(carol), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(mine.iter().map(Request::id).collect::<Vec<_>>(), vec![r.id()]);
    let pending = store.requests(&RequestFilter { state: Some(RequestState::Pending), limit: 100, ..Default::default() }).await.unwrap();
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
    let report = verifier.finish(&[cp], &[key.verifying_key().to_bytes()]).unwrap();
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

fn ledger_row(g: &Grant) -> LedgerRow {
    LedgerRow {
        grant: g.id(),
        request: g.request_id(),
        subject: g.subject().clone(),
        entitlement: g.entitlement().clone(),
        state: g.state().as_str().to_owned(),
        drift: g.drift().map_or("", |d| d.as_str()).to_owned(),
    }
}

async fn ledger_of(store: &dyn Store, target: &str) -> Vec<LedgerRow> {
    let mut rows = store.ledger(&TargetId::parse(target).unwrap()).await.unwrap();
    rows.sort_by_key(|r| r.grant);
    rows
}

fn reconcile_run(n: u128, target: &str, started_at: DateTime<Utc>) -> ReconcileRun {
    ReconcileRun {
        id: RunId::from_uuid(Uuid::from_u128(n)),
        target: TargetId::parse(target).unwrap(),
        by: "schedule".into(),
        started_at,
        finished_at: started_at + TimeDelta::seconds(42),
        state: RunState::Done,
        live_rows: 1_234,
        counts: Counts { matched: 1_000, unapproved: 3, missing: 2, ..Counts::default() },
        match_rate: 0.75,
        reactions: BTreeMap::from([("unapproved".to_owned(), Reaction::Revoke), ("missing".to_owned(), Reaction::Report)]),
        actions: BTreeMap::from([("revoke".to_owned(), 3)]),
        error: None,
    }
}

/// `n` observations, each different, some with the action they caused.
fn observations(n: usize) -> Vec<RunObservation> {
    (0..n)
        .map(|i| RunObservation {
            observation: Observation {
                situation: Situation::ALL[i % Situation::ALL.len()],
                account: format!("acct_{i}"),
                resource: format!("role_{}", i % 13),
                identity: (i % 3 != 0).then(|| IdentityId::parse(&format!("user{i}")).unwrap()),
                grant: (i % 4 == 0).then(|| GrantId::from_uuid(Uuid::from_u128(i as u128))),
                live_detail: BTreeMap::from([("valid_until".to_owned(), format!("2026-04-{:02}", i % 28 + 1))]),
                expected: if i % 5 == 0 { BTreeMap::from([("rules".to_owned(), "+get ~k:*".to_owned())]) } else { BTreeMap::new() },
                note: format!("observation {i} — \"quoted\""),
            },
            action: (i % 7 == 0).then(|| ActionTaken {
                reaction: Reaction::Revoke,
                request: Some(RequestId::from_uuid(Uuid::from_u128(10_000 + i as u128))),
                grant: None,
                outcome: "removal queued".into(),
            }),
        })
        .collect()
}

/// The ledger reads a target's grants from columns (state and drift kept up
/// to date by every update); runs and their observations round-trip, several
/// INSERT batches included; a change that fails leaves no run behind.
async fn reconciliation_ledger_and_runs(store: &dyn Store) {
    let subject = IdentityId::parse("erin").unwrap();
    let req = RequestId::from_uuid(Uuid::from_u128(900));
    let one_hour = AccessDuration::parse("1h").unwrap();
    let grant_on =
        |n: u128, ent: &str| Grant::start(GrantId::from_uuid(Uuid::from_u128(n)), req, subject.clone(), EntitlementId::parse(ent).unwrap(), one_hour, t0());
    let active = grant_on(901, "recon-a/readonly");
    let mut missing = grant_on(902, "recon-a/payments.rw");
    let mut ended = grant_on(903, "recon-a/readonly");
    let elsewhere = grant_on(904, "recon-b/readonly");
    store
        .commit(Change { grants: [&active, &missing, &ended, &elsewhere].into_iter().cloned().map(Versioned::new).collect(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(ledger_of(store, "recon-a").await, vec![ledger_row(&active), ledger_row(&missing), ledger_row(&ended)]);
    assert_eq!(ledger_of(store, "recon-b").await, vec![ledger_row(&elsewhere)]);
    assert!(ledger_of(store, "recon-c").await.is_empty());

    // Updates carry state and drift into the columns.
    assert!(missing.observe_on_target(false, t0()).is_some());
    ended.begin_revocation(IdentityId::parse("alice").unwrap(), "done", t0()).unwrap();
    ended.finish_removal(t0()).unwrap();
    assert!(ended.observe_on_target(true, t0()).is_some());
    store.commit(Change { grants: vec![Versioned::update(missing.clone(), 0), Versioned::update(ended.clone(), 0)], ..Default::default() }).await.unwrap();
    let ledger = ledger_of(store, "recon-a").await;
    assert_eq!(ledger, vec![ledger_row(&active), ledger_row(&missing), ledger_row(&ended)]);
    assert_eq!((ledger[1].state.as_str(), ledger[1].drift.as_str()), ("active", "missing"));
    assert_eq!((ledger[2].state.as_str(), ledger[2].drift.as_str()), ("revoked", "live_after_end"));
    assert_eq!(ledger[0].drift, "");

    // Runs: one with more observations than two INSERT batches carry, one
    // with none, one on another target.
    let (size, head) = store.audit_head().await.unwrap();
    let big = RunRecord { run: reconcile_run(950, "recon-a", t0()), observations: observations(1_200) };
    let empty = RunRecord { run: reconcile_run(951, "recon-a", t0() + TimeDelta::hours(1)), observations: vec![] };
    let other = RunRecord { run: reconcile_run(952, "recon-b", t0() + TimeDelta::minutes(30)), observations: observations(3) };
    store.commit(Change { runs: vec![big.clone(), empty.clone()], events: vec![event("reconcile.finished", None)], ..Default::default() }).await.unwrap();
    store.commit(Change { runs: vec![other.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(store.audit_head().await.unwrap().0, size + 1);
    assert_eq!(store.run(big.run.id).await.unwrap(), Some(big.run.clone()));
    assert_eq!(store.run(RunId::from_uuid(Uuid::from_u128(999))).await.unwrap(), None);
    assert_eq!(store.run_observations(big.run.id).await.unwrap(), big.observations, "all of them, in order");
    assert!(store.run_observations(empty.run.id).await.unwrap().is_empty());
    assert_eq!(store.run_observations(other.run.id).await.unwrap(), other.observations);

    let recon_a = Some(TargetId::parse("recon-a").unwrap());
    let ids = |runs: Vec<ReconcileRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let runs = |target: &Option<TargetId>, limit| RunFilter { target: target.clone(), after: None, limit };
    assert_eq!(ids(store.runs(&runs(&recon_a, 10)).await.unwrap()), vec![empty.run.id, big.run.id], "newest first");
    assert_eq!(ids(store.runs(&runs(&recon_a, 1)).await.unwrap()), vec![empty.run.id]);
    assert_eq!(store.runs(&runs(&recon_a, 1)).await.unwrap(), vec![empty.run.clone()]);
    assert_eq!(ids(store.runs(&runs(&None, 10)).await.unwrap()), vec![empty.run.id, other.run.id, big.run.id]);
    assert!(store.runs(&runs(&Some(TargetId::parse("recon-c").unwrap()), 10)).await.unwrap().is_empty());

    // A failing change writes no run and no observation: a new run whose
    // observations were already inserted, then a run that exists...
    let (size, head_now) = store.audit_head().await.unwrap();
    assert_ne!(head_now, head);
    let fresh = RunRecord { run: reconcile_run(953, "recon-a", t0() + TimeDelta::hours(2)), observations: observations(600) };
    let again = RunRecord { run: big.run.clone(), observations: observations(2) };
    let e = store.commit(Change { runs: vec![fresh.clone(), again], events: vec![event("reconcile.finished", None)], ..Default::default() }).await.unwrap_err();
    assert!(matches!(&e, StoreError::Duplicate { id, .. } if *id == big.run.id.to_string()), "{e}");
    assert_eq!(store.run(fresh.run.id).await.unwrap(), None);
    assert!(store.run_observations(fresh.run.id).await.unwrap().is_empty(), "its observations were rolled back");
    assert_eq!(store.run_observations(big.run.id).await.unwrap(), big.observations, "the existing run is untouched");
    // ...or a lost version check in the same change.
    let e = store.commit(Change { grants: vec![Versioned::update(active.clone(), 7)], runs: vec![fresh.clone()], ..Default::default() }).await.unwrap_err();
    assert!(matches!(e, StoreError::VersionConflict { .. }), "{e}");
    assert_eq!(store.run(fresh.run.id).await.unwrap(), None);
    assert!(store.run_observations(fresh.run.id).await.unwrap().is_empty());
    assert_eq!(ids(store.runs(&runs(&None, 10)).await.unwrap()).len(), 3);
    assert_eq!(store.audit_head().await.unwrap(), (size, head_now), "no audit event was appended");
}

/// Reads a whole list a page of `limit` at a time, each page after the
/// cursor of the last row of the one before, until a short page.
async fn walk<T, F, Fut>(limit: usize, mut page: F, key: impl Fn(&T) -> Cursor) -> Vec<T>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    let mut all: Vec<T> = Vec::new();
    let mut pages = 0;
    loop {
        let rows = page(all.last().map(&key)).await;
        assert!(rows.len() <= limit, "a page holds at most its limit");
        pages += 1;
        assert!(pages < 100, "the walk ends");
        let done = rows.len() < limit;
        all.extend(rows);
        if done {
            return all;
        }
    }
}

/// Every list pages by keyset: read a page at a time, each after the last
/// row of the one before, it yields every row exactly once, in its order
/// (rows with the same time ordered by id), and rows added between pages
/// before the cursor do not shift the pages after it. A page needs a limit.
async fn lists_page_by_cursor(store: &dyn Store) {
    // Several rows per time, so the id decides within a time.
    let minutes = [3, 0, 1, 0, 2, 1, 0, 3, 2];
    let at = |i: usize| t0() + TimeDelta::days(10) + TimeDelta::minutes(minutes[i]);
    let pat = IdentityId::parse("pat").unwrap();
    let entitlement = EntitlementId::parse("pg-prod/readonly").unwrap();
    let one_hour = AccessDuration::parse("1h").unwrap();
    let requests: Vec<Request> = (0..minutes.len()).map(|i| request(5_000 + i as u128, "pat", at(i))).collect();
    let holder = requests[0].id();
    let tasks: Vec<FulfilmentTask> = (0..minutes.len())
        .map(|i| {
            FulfilmentTask::open(
                TaskId::from_uuid(Uuid::from_u128(5_100 + i as u128)),
                holder,
                pat.clone(),
                entitlement.clone(),
                GroupId::parse("dba").unwrap(),
                at(i),
            )
        })
        .collect();
    let grants: Vec<Grant> = (0..minutes.len())
        .map(|i| Grant::start(GrantId::from_uuid(Uuid::from_u128(5_200 + i as u128)), holder, pat.clone(), entitlement.clone(), one_hour, at(i)))
        .collect();
    let runs: Vec<RunRecord> = (0..minutes.len()).map(|i| RunRecord { run: reconcile_run(5_300 + i as u128, "page-t", at(i)), observations: vec![] }).collect();
    store
        .commit(Change {
            requests: requests.iter().cloned().map(Versioned::new).collect(),
            tasks: tasks.iter().cloned().map(Versioned::new).collect(),
            grants: grants.iter().cloned().map(Versioned::new).collect(),
            runs: runs.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    // Requests and runs: newest first, then by id; tasks and grants: oldest first, then by id.
    let newest_first = |mut v: Vec<(i64, String)>| {
        v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        v.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    let oldest_first = |mut v: Vec<(i64, String)>| {
        v.sort();
        v.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    let key = |c: Cursor| (c.at_millis(), c.id().to_owned());

    let involving = |after, limit| RequestFilter { involving: Some(pat.clone()), after, limit, ..Default::default() };
    let read = walk(2, |after| async { store.requests(&involving(after, 2)).await.unwrap() }, Cursor::of_request).await;
    let expected = newest_first(requests.iter().map(|r| key(Cursor::of_request(r))).collect());
    assert_eq!(read.iter().map(|r| r.id().to_string()).collect::<Vec<_>>(), expected, "requests: each once, newest first");
    let pending = walk(
        4,
        |after| async { store.requests(&RequestFilter { state: Some(RequestState::Pending), ..involving(after, 4) }).await.unwrap() },
        Cursor::of_request,
    )
    .await;
    assert_eq!(pending.len(), requests.len(), "with the other filters");

    let read =
        walk(2, |after| async { store.tasks(&TaskFilter { request: Some(holder), open_only: false, after, limit: 2 }).await.unwrap() }, Cursor::of_task).await;
    let expected = oldest_first(tasks.iter().map(|t| key(Cursor::of_task(t))).collect());
    assert_eq!(read.iter().map(|t| t.id().to_string()).collect::<Vec<_>>(), expected, "tasks: each once, oldest first");

    let read = walk(
        3,
        |after| async { store.grants(&GrantFilter { subject: Some(pat.clone()), after, limit: 3, ..Default::default() }).await.unwrap() },
        Cursor::of_grant,
    )
    .await;
    let expected = oldest_first(grants.iter().map(|g| key(Cursor::of_grant(g))).collect());
    assert_eq!(read.iter().map(|g| g.id().to_string()).collect::<Vec<_>>(), expected, "grants: each once, soonest expiry first");

    let target = Some(TargetId::parse("page-t").unwrap());
    let read = walk(2, |after| async { store.runs(&RunFilter { target: target.clone(), after, limit: 2 }).await.unwrap() }, Cursor::of_run).await;
    let expected = newest_first(runs.iter().map(|r| key(Cursor::of_run(&r.run))).collect());
    assert_eq!(read.iter().map(|r| r.id.to_string()).collect::<Vec<_>>(), expected, "runs: each once, newest first");

    // A request added after the first page, newer than its cursor, is not
    // in the pages after it, and those pages are unchanged.
    let first = store.requests(&involving(None, 3)).await.unwrap();
    let later = request(5_099, "pat", at(0) + TimeDelta::days(1));
    store.commit(Change { requests: vec![Versioned::new(later.clone())], ..Default::default() }).await.unwrap();
    let cursor = Cursor::of_request(first.last().unwrap());
    let rest = walk(3, |after| async { store.requests(&involving(Some(after.unwrap_or_else(|| cursor.clone())), 3)).await.unwrap() }, Cursor::of_request).await;
    let seen: Vec<String> = first.iter().chain(&rest).map(|r| r.id().to_string()).collect();
    assert_eq!(seen, newest_first(requests.iter().map(|r| key(Cursor::of_request(r))).collect()));

    let e = store.requests(&involving(None, 0)).await.unwrap_err();
    assert!(e.to_string().contains("limit of 0"), "{e}");
    let e = store.tasks(&TaskFilter::default()).await.unwrap_err();
    assert!(e.to_string().contains("limit of 0"), "{e}");
}

/// On PostgreSQL each node keeps the token lookups it made (`pg_auth_cache`):
/// a lookup is served from memory, and a change of tokens or identities
/// committed by any node drops every node's lookups (a notification in the
/// committing transaction), so a revocation by one node holds on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_by_one_node_is_refused_by_the_others() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let node_a = SqlStore::open(&pg.url()).await.unwrap();
    let node_b = SqlStore::open(&pg.url()).await.unwrap();
    node_b.commit(Change { identities: vec![Versioned::new(person("alice"))], ..Default::default() }).await.unwrap();
    let t = token(905, "alice", "alice", t0());
    node_b.commit(issue(&t, "hash-905")).await.unwrap();

    // Node A serves it from memory once it listens: a name changed behind its
    // back (no notification) is not seen.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut round = 0;
    loop {
        round += 1;
        pg.psql(&format!("UPDATE tokens SET name = 'seen {round}' WHERE hash = 'hash-905'")).unwrap();
        node_a.token_by_hash("hash-905").await.unwrap().expect("found");
        pg.psql(&format!("UPDATE tokens SET name = 'behind {round}' WHERE hash = 'hash-905'")).unwrap();
        let (again, _) = node_a.token_by_hash("hash-905").await.unwrap().expect("found");
        if again.name == format!("seen {round}") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "node A never served a lookup from memory");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Node B revokes it: node A refuses it from then on.
    let stored = node_b.token(t.id).await.unwrap().unwrap();
    let revoked = stored.revoke("sam", "laptop lost", t0() + TimeDelta::minutes(1)).unwrap();
    let version = stored.version;
    node_b.commit(Change { tokens: vec![TokenWrite::Update(Versioned::update(revoked, version))], ..Default::default() }).await.unwrap();
    let seen_revoked = async {
        loop {
            if node_a.token_by_hash("hash-905").await.unwrap().unwrap().0.revoked.is_some() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), seen_revoked).await.expect("node A saw the revocation");
    assert!(node_b.token_by_hash("hash-905").await.unwrap().unwrap().0.revoked.is_some(), "at once on the node that revoked");

    // Disabling the identity is seen the same way.
    let mut alice = person("alice");
    alice.status = writ_core::identity::IdentityStatus::Disabled;
    node_b.commit(Change { identities: vec![Versioned { expected_version: Some(1), value: alice }], ..Default::default() }).await.unwrap();
    let seen_disabled = async {
        while node_a.token_by_hash("hash-905").await.unwrap().unwrap().1.is_active() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), seen_disabled).await.expect("node A saw the identity disabled");
    node_a.close().await;
    node_b.close().await;
}
