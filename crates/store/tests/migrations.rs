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
