//! Writ's own store on a PostgreSQL that takes only TLS on TCP (`hostssl`
//! only): with `sslmode=verify-full` and the harness's CA a change commits
//! and reads back; with another CA the store refuses to open, saying what to
//! set.

use chrono::{TimeZone, Utc};
use writ_app::ports::{Change, Job, Store};
use writ_core::ids::{EntitlementId, RequestId};
use writ_store::SqlStore;
use writ_testkit::{PgServer, TestCa};

#[tokio::test]
async fn the_store_round_trips_over_verified_tls_and_refuses_another_ca() {
    let ca = TestCa::new("store").unwrap();
    let other = TestCa::new("other").unwrap();
    let pg = PgServer::start_tls(&ca).expect("PostgreSQL with TLS (run scripts/install-test-deps.sh)");
    let url = pg.create_database("writ").unwrap();
    let tls_url = |ca_file: &std::path::Path| format!("{url}?sslmode=verify-full&sslrootcert={}", ca_file.display());

    let store = SqlStore::open(&tls_url(ca.ca_file())).await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let job = Job::provision(RequestId::parse("req-00000000000000000000000000000007").unwrap(), EntitlementId::parse("pg-prod/readonly").unwrap(), now);
    store.commit(Change { jobs: vec![job.clone()], ..Default::default() }).await.unwrap();
    assert_eq!(store.claim_jobs(now, chrono::TimeDelta::minutes(2), 10, "node-a").await.unwrap(), vec![job]);
    let over_tls = pg.psql("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'writ' AND s.ssl").unwrap();
    assert_ne!(over_tls, "0", "the store's connections use TLS");

    let e = SqlStore::open(&tls_url(other.ca_file())).await.err().expect("a server signed by another CA must be refused").to_string();
    assert!(e.contains("certificate") && e.contains("sslrootcert"), "{e}");
}
