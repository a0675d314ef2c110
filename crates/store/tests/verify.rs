//! Whole-log verification through `SqlStore::verify_into`: SQLite is read natively
//! in batches on two threads, PostgreSQL in pages. Both must give the same
//! answers, also for events beyond the first batch.

use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::json;
use writ_app::ports::{Change, Store};
use writ_core::audit::{ChainVerifier, NewEvent, Tamper};
use writ_store::SqlStore;
use writ_testkit::PgServer;

/// More than two of the SQLite reader's batches (4,096 events each).
const EVENTS: u64 = 10_000;

async fn filled(url: &str) -> SqlStore {
    let store = SqlStore::open(url).await.unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    for chunk in 0..EVENTS / 1000 {
        let events = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                NewEvent {
                    at: t0 + TimeDelta::milliseconds(n as i64),
                    actor: format!("idn_{}", n % 7),
                    kind: "request.submitted".into(),
                    request_id: (n % 5 != 0).then(|| format!("req_{n}")),
                    payload: json!({"n": n, "why": "quarterly \"audit\" — é"}),
                }
            })
            .collect();
        store.commit(Change { events, ..Change::default() }).await.unwrap();
    }
    store
}

async fn verify(store: &SqlStore) -> Result<u64, Tamper> {
    let mut verifier = ChainVerifier::new();
    store.verify_into(&mut verifier).await.unwrap()?;
    Ok(verifier.finish(&[], &[])?.events)
}

async fn tamper(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let done = sqlx::query(sql).execute(&pool).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
    pool.close().await;
}

/// Each case gets a fresh database: `url_for(name)` makes one.
async fn cases<F, Fut>(url_for: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let url = url_for("intact").await;
    assert_eq!(verify(&filled(&url).await).await, Ok(EVENTS));

    let url = url_for("edited").await;
    let store = filled(&url).await;
    tamper(&url, "UPDATE audit_events SET payload = replace(payload, 'audit', 'leave') WHERE seq = 9000").await;
    assert_eq!(verify(&store).await, Err(Tamper::Edited { seq: 9000 }));

    let url = url_for("deleted").await;
    let store = filled(&url).await;
    tamper(&url, "DELETE FROM audit_events WHERE seq = 4097").await;
    assert_eq!(verify(&store).await, Err(Tamper::Deleted { missing_seq: 4097, next_seq: 4098 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_on_sqlite_reads_every_batch_and_names_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_owned();
    cases(|name| {
        let url = format!("sqlite://{}", base.join(format!("{name}.db")).display());
        async move { url }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_on_postgres_gives_the_same_answers() {
    let pg = PgServer::start().expect("PostgreSQL for the verify test (run scripts/install-test-deps.sh)");
    let pg = &pg;
    cases(|name| async move { pg.create_database(name).unwrap() }).await;
}
