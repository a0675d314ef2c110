//! Migrations over data written by an earlier schema: a database migrated up
//! to a given version, filled the way that version's code wrote it, then opened
//! by the current store.

use std::path::Path;

use chrono::{TimeZone, Utc};
use uuid::Uuid;
use writ_app::ports::{LedgerRow, Store};
use writ_core::duration::AccessDuration;
use writ_core::grant::Grant;
use writ_core::ids::{EntitlementId, GrantId, IdentityId, RequestId, TargetId};
use writ_store::SqlStore;
use writ_testkit::PgServer;

/// Applies the backend's migrations numbered below `before` only, by copying
/// them to a folder of their own (same files, so the same checksums the full
/// set later finds recorded).
async fn migrate_until(url: &str, backend: &str, before: u32, dir: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let version: u32 = name.split('_').next().unwrap().parse().unwrap();
        if version < before {
            std::fs::copy(&path, dir.join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    migrator.run(&pool).await.unwrap();
    pool.close().await;
}

/// Two grants as any earlier version wrote them, and one with drift (which no
/// earlier version wrote) to check that the backfill reads it too.
fn grants() -> Vec<Grant> {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let grant = |n: u128, ent: &str| {
        Grant::start(
            GrantId::from_uuid(Uuid::from_u128(n)),
            RequestId::from_uuid(Uuid::from_u128(n + 100)),
            IdentityId::parse("alice").unwrap(),
            EntitlementId::parse(ent).unwrap(),
            AccessDuration::parse("1h").unwrap(),
            t0,
        )
    };
    let mut drifted = grant(3, "pg-prod/payments.rw");
    drifted.observe_on_target(false, t0).unwrap();
    vec![grant(1, "pg-prod/readonly"), grant(2, "ldap-corp/admins"), drifted]
}

/// Grants as the code before 0005 wrote them: no target, entitlement or drift column.
async fn write_grants_before_0005(url: &str, grants: &[Grant]) {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    for g in grants {
        sqlx::query("INSERT INTO grants (id, request_id, subject, is_active, expires_at, version, doc, state) VALUES ($1, $2, $3, 1, 0, 0, $4, 'active')")
            .bind(g.id().to_string())
            .bind(g.request_id().to_string())
            .bind(g.subject().to_string())
            .bind(serde_json::to_string(g).unwrap())
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

async fn grants_are_backfilled_by_0005(url: &str, backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    migrate_until(url, backend, 5, dir.path()).await;
    let grants = grants();
    write_grants_before_0005(url, &grants).await;
    let store = SqlStore::open(url).await.unwrap();
    let ledger = |t: &str| {
        let store = &store;
        let target = TargetId::parse(t).unwrap();
        async move {
            let mut rows = store.ledger(&target).await.unwrap();
            rows.sort_by_key(|r| r.grant);
            rows
        }
    };
    let row = |g: &Grant, drift: &str| LedgerRow {
        grant: g.id(),
        request: g.request_id(),
        subject: g.subject().clone(),
        entitlement: g.entitlement().clone(),
        state: "active".into(),
        drift: drift.into(),
    };
    assert_eq!(ledger("pg-prod").await, vec![row(&grants[0], ""), row(&grants[2], "missing")]);
    assert_eq!(ledger("ldap-corp").await, vec![row(&grants[1], "")]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_written_before_0005_get_target_and_entitlement_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/writ.db?mode=rwc", dir.path().display());
    grants_are_backfilled_by_0005(&url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_written_before_0005_get_target_and_entitlement_on_postgres() {
    let pg = PgServer::start().expect("PostgreSQL for the migration test (run scripts/install-test-deps.sh)");
    let url = pg.create_database("writ").unwrap();
    grants_are_backfilled_by_0005(&url, "postgres").await;
}

/// A grant being removed since `t0 + 5 min`, an active one, an awaiting
/// break-glass use due at `t0 + 1 h` and a rejected one, written as the code
/// before 0006 wrote them (no `removal_since`, no `review_exception_at`).
async fn exceptions_are_backfilled_by_0006(url: &str, backend: &str) {
    use chrono::TimeDelta;
    use writ_core::break_glass::{Origin, PostReview, UseVerdict};
    use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
    use writ_core::request::{Request, RequestDraft};

    let dir = tempfile::tempdir().unwrap();
    migrate_until(url, backend, 6, dir.path()).await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let mut all = grants();
    all[0].begin_revocation(IdentityId::parse("sam").unwrap(), "left the team", t0 + TimeDelta::minutes(5)).unwrap();
    write_grants_before_0005(url, &all[..2]).await;
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query("UPDATE grants SET state = $1, doc = $2 WHERE id = $3")
        .bind(all[0].state().as_str())
        .bind(serde_json::to_string(&all[0]).unwrap())
        .bind(all[0].id().to_string())
        .execute(&pool)
        .await
        .unwrap();
    let oscar = Identity {
        id: IdentityId::parse("oscar").unwrap(),
        kind: IdentityKind::Person,
        status: IdentityStatus::Active,
        display_name: String::new(),
        owner: None,
        manager: None,
        groups: Default::default(),
        attributes: Default::default(),
        owner_left: None,
    };
    let catalog = writ_core::catalog::Catalog::new(
        vec![writ_core::catalog::Target {
            id: TargetId::parse("pg-prod").unwrap(),
            description: String::new(),
            owners: vec![],
            fulfilment: writ_core::catalog::Fulfilment::Connector,
        }],
        vec![writ_core::catalog::Entitlement {
            id: EntitlementId::parse("pg-prod/readonly").unwrap(),
            description: String::new(),
            owners: vec![oscar.id.clone()],
            risk: writ_core::catalog::RiskTier::Low,
            stages: vec![],
            max_duration: AccessDuration::parse("8h").unwrap(),
        }],
        vec![],
    )
    .unwrap();
    let used = |n: u128| {
        let draft = RequestDraft {
            requester: IdentityId::parse("bob").unwrap(),
            subject: IdentityId::parse("bob").unwrap(),
            entitlements: vec![EntitlementId::parse("pg-prod/readonly").unwrap()],
            justification: "INC-1".into(),
            duration: AccessDuration::parse("1h").unwrap(),
            ticket: None,
            request_type: None,
        };
        let mut r = Request::open(RequestId::from_uuid(Uuid::from_u128(n)), draft, &catalog, t0, TimeDelta::days(7)).unwrap().with_origin(Origin::BreakGlass);
        r.approve_break_glass(PostReview::open(vec![oscar.id.clone()], t0 + TimeDelta::hours(1)).unwrap(), t0).unwrap();
        r
    };
    let awaiting = used(1);
    let mut rejected = used(2);
    rejected.review_break_glass(&oscar, UseVerdict::Reject, "no incident", t0).unwrap();
    for r in [&awaiting, &rejected] {
        sqlx::query(
            "INSERT INTO requests (id, state, requester, subject, created_at, lapses_at, version, doc, break_glass_open) \
             VALUES ($1, $2, 'bob', 'bob', 0, 0, 1, $3, 1)",
        )
        .bind(r.id().to_string())
        .bind(r.state().as_str())
        .bind(serde_json::to_string(r).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = SqlStore::open(url).await.unwrap();
    // The removal started at t0 + 5 min: overdue for a cutoff at or after it only.
    assert_eq!(store.removal_counts(t0 + TimeDelta::minutes(4)).await.unwrap(), (1, 0));
    assert_eq!(store.removal_counts(t0 + TimeDelta::minutes(5)).await.unwrap(), (1, 1));
    let overdue = store.overdue_removals(t0 + TimeDelta::minutes(5), None, 10).await.unwrap();
    assert_eq!(overdue.iter().map(Grant::id).collect::<Vec<_>>(), vec![all[0].id()]);
    // The rejected use is an exception at once, the awaiting one from its deadline.
    assert_eq!(store.break_glass_exception_count(t0).await.unwrap(), 1);
    assert_eq!(store.break_glass_exception_count(t0 + TimeDelta::hours(1)).await.unwrap(), 2);
    let page = store.break_glass_exceptions(t0 + TimeDelta::hours(1), None, 1).await.unwrap();
    let rest = store.break_glass_exceptions(t0 + TimeDelta::hours(1), Some(page[0].id()), 1).await.unwrap();
    assert_eq!([page[0].id(), rest[0].id()], [awaiting.id(), rejected.id()], "paged by id with a cursor");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_written_before_0006_are_counted_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/writ.db?mode=rwc", dir.path().display());
    exceptions_are_backfilled_by_0006(&url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_written_before_0006_are_counted_on_postgres() {
    let pg = PgServer::start().expect("PostgreSQL for the migration test (run scripts/install-test-deps.sh)");
    let url = pg.create_database("writ").unwrap();
    exceptions_are_backfilled_by_0006(&url, "postgres").await;
}

/// The query behind `Store::standing` (read by every separation-of-duties
/// check and every expiry's overlap check) finds a subject's grants through
/// the subject index, never by walking every active grant: SQLite's planner,
/// without statistics, once picked the expiry index for its ORDER BY, and
/// 10,000 expiries cost 10,000 × 10,000 row visits.
#[tokio::test]
async fn a_subjects_grants_are_found_through_the_subject_index() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("writ.db");
    drop(SqlStore::open(&format!("sqlite://{}", file.display())).await.unwrap());
    let db = rusqlite::Connection::open(&file).unwrap();
    // The same statement as `standing` in src/read.rs.
    let sql = "EXPLAIN QUERY PLAN SELECT doc FROM grants WHERE subject = ?1 AND is_active = 1 ORDER BY expires_at, id";
    let mut plan = db.prepare(sql).unwrap();
    let steps: Vec<String> = plan.query_map(["alice"], |row| row.get::<_, String>(3)).unwrap().map(Result::unwrap).collect();
    assert!(steps.iter().any(|s| s.contains("USING INDEX grants_by_subject_in_order (subject=? AND is_active=?)")), "{steps:?}");
    assert!(!steps.iter().any(|s| s.contains("TEMP B-TREE")), "the index gives the order too: {steps:?}");
}

/// Identities as the code before 0013 wrote them (no kind or owner column,
/// no membership index) are backfilled by it.
async fn identities_are_backfilled_by_0013(url: &str, backend: &str) {
    use writ_app::ports::ScimUserKey;
    use writ_core::ids::GroupId;
    let dir = tempfile::tempdir().unwrap();
    migrate_until(url, backend, 13, dir.path()).await;
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let docs = [
        ("ann", r#"{"id":"ann","kind":"person","status":"active","groups":["ops","eng"]}"#),
        ("bot", r#"{"id":"bot","kind":"ai_agent","status":"active","owner":"ann","groups":["ops"]}"#),
        ("bob", r#"{"id":"bob","kind":"person","status":"active"}"#),
    ];
    for (id, doc) in docs {
        sqlx::query("INSERT INTO identities (id, doc, updated_at, version) VALUES ($1, $2, 0, 1)").bind(id).bind(doc).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let store = SqlStore::open(url).await.unwrap();
    let people: Vec<String> = store.scim_users(&ScimUserKey::All).await.unwrap().into_iter().map(|r| r.identity.id.to_string()).collect();
    assert_eq!(people, ["ann", "bob"]);
    let owned = store.identities_owned_by(&[IdentityId::parse("ann").unwrap()]).await.unwrap();
    assert_eq!(owned.len(), 1);
    let members = store.group_members(&[GroupId::parse("ops").unwrap(), GroupId::parse("eng").unwrap()]).await.unwrap();
    assert_eq!(members.iter().map(|(g, i)| format!("{g}:{i}")).collect::<Vec<_>>(), ["eng:ann", "ops:ann"]);
    store.close().await;
}

/// Tokens as the code before 0012 wrote them (`api_tokens`: hash, identity,
/// label, time) keep authenticating after it: same hash, a new id, their
/// identity as owner, their label as name, no expiry, not revoked.
async fn tokens_keep_working_after_0012(url: &str, backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    migrate_until(url, backend, 12, dir.path()).await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let alice = writ_core::identity::Identity {
        id: IdentityId::parse("alice").unwrap(),
        kind: writ_core::identity::IdentityKind::Person,
        status: writ_core::identity::IdentityStatus::Active,
        display_name: String::new(),
        owner: None,
        manager: None,
        groups: Default::default(),
        attributes: Default::default(),
        owner_left: None,
    };
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query("INSERT INTO identities (id, version, doc, updated_at) VALUES ('alice', 1, $1, 0)")
        .bind(serde_json::to_string(&alice).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    for (hash, label) in [("h1", "writ init demo"), ("h2", "cli")] {
        sqlx::query("INSERT INTO api_tokens (hash, identity_id, label, created_at) VALUES ($1, 'alice', $2, $3)")
            .bind(hash)
            .bind(label)
            .bind(t0.timestamp_millis())
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let store = SqlStore::open(url).await.unwrap();
    let (t1, who) = store.token_by_hash("h1").await.unwrap().expect("the old token is found by its hash");
    assert_eq!(who, alice);
    assert_eq!((t1.identity.as_str(), t1.owner.as_str(), t1.created_by.as_str(), t1.name.as_str()), ("alice", "alice", "operator", "writ init demo"));
    assert_eq!((t1.created_at, t1.expires_at, t1.revoked.clone(), t1.scope, t1.version), (t0, None, None, None, 1));
    assert!(t1.usable(t0 + chrono::TimeDelta::days(10_000)).is_ok());
    let (t2, _) = store.token_by_hash("h2").await.unwrap().unwrap();
    assert_ne!(t1.id, t2.id, "each gets an id of its own");
    assert_eq!(store.token(t2.id).await.unwrap().map(|t| t.name), Some("cli".to_owned()));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_written_before_0013_get_kind_owner_and_membership_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/writ.db?mode=rwc", dir.path().display());
    identities_are_backfilled_by_0013(&url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_written_before_0013_get_kind_owner_and_membership_on_postgres() {
    let pg = PgServer::start().expect("PostgreSQL for the migration test (run scripts/install-test-deps.sh)");
    let url = pg.create_database("writ").unwrap();
    identities_are_backfilled_by_0013(&url, "postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_written_before_0012_keep_working_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/writ.db?mode=rwc", dir.path().display());
    tokens_keep_working_after_0012(&url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_written_before_0012_keep_working_on_postgres() {
    let pg = PgServer::start().expect("PostgreSQL for the migration test (run scripts/install-test-deps.sh)");
    let url = pg.create_database("writ").unwrap();
    tokens_keep_working_after_0012(&url, "postgres").await;
}
