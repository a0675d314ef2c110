//! `sqlite_synchronous` reaches every SQLite connection the store opens: the
//! native writer that commits every change, and the sqlx pools beside it.

use writ_app::ports::{Change, Store};
use writ_core::audit::NewEvent;
use writ_store::{SqlStore, SqliteSynchronous, StoreOptions};

async fn open(dir: &tempfile::TempDir, synchronous: SqliteSynchronous) -> SqlStore {
    let url = format!("sqlite://{}/writ.db", dir.path().display());
    SqlStore::open_with(&url, StoreOptions { sqlite_synchronous: synchronous }).await.unwrap()
}

fn one_event() -> Change {
    let event = NewEvent {
        at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        actor: "alice".into(),
        kind: "request.submitted".into(),
        request_id: None,
        payload: serde_json::json!({}),
    };
    Change { events: vec![event], ..Change::default() }
}

#[tokio::test]
async fn each_setting_is_in_force_on_the_writer_and_the_readers() {
    for setting in [SqliteSynchronous::Normal, SqliteSynchronous::Full, SqliteSynchronous::Extra] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, setting).await;
        let in_force = store.sqlite_synchronous_in_force().await.unwrap().expect("a SQLite store reports its setting");
        assert_eq!(in_force.native_writer, setting.level(), "{setting:?} on the native writer");
        assert_eq!(in_force.sqlx_writer, setting.level(), "{setting:?} on the sqlx writer");
        assert_eq!(in_force.reader, setting.level(), "{setting:?} on a reader");
        store.commit(one_event()).await.unwrap();
        store.close().await;
    }
}

#[tokio::test]
async fn the_same_file_reopened_takes_the_new_setting() {
    // The setting belongs to the connection, not the file: reopening an existing
    // database with another value must not keep the old one.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, SqliteSynchronous::Normal).await;
    store.commit(one_event()).await.unwrap();
    store.close().await;
    let store = open(&dir, SqliteSynchronous::Full).await;
    let in_force = store.sqlite_synchronous_in_force().await.unwrap().unwrap();
    assert_eq!((in_force.native_writer, in_force.sqlx_writer, in_force.reader), (2, 2, 2));
    store.close().await;
}

#[tokio::test]
async fn open_without_options_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/writ.db", dir.path().display());
    let store = SqlStore::open(&url).await.unwrap();
    let in_force = store.sqlite_synchronous_in_force().await.unwrap().unwrap();
    assert_eq!(in_force.native_writer, SqliteSynchronous::Full.level());
    assert_eq!(SqliteSynchronous::default(), SqliteSynchronous::Full);
    store.close().await;
}

#[test]
fn settings_parse_and_anything_else_is_refused_with_the_allowed_values() {
    assert_eq!("full".parse::<SqliteSynchronous>().unwrap(), SqliteSynchronous::Full);
    assert_eq!("NORMAL".parse::<SqliteSynchronous>().unwrap(), SqliteSynchronous::Normal);
    assert_eq!(" extra ".parse::<SqliteSynchronous>().unwrap(), SqliteSynchronous::Extra);
    for bad in ["off", "", "2", "fast"] {
        let e = bad.parse::<SqliteSynchronous>().unwrap_err().to_string();
        assert!(e.contains("`full`") && e.contains("`normal`") && e.contains("`extra`"), "{e}");
    }
}

#[tokio::test]
async fn postgres_opens_with_the_options_and_reports_no_sqlite_setting() {
    let pg = writ_testkit::PgServer::start().expect("PostgreSQL for the store tests (run scripts/install-test-deps.sh)");
    let url = pg.create_database("writ").unwrap();
    let store = SqlStore::open_with(&url, StoreOptions { sqlite_synchronous: SqliteSynchronous::Normal }).await.unwrap();
    assert_eq!(store.sqlite_synchronous_in_force().await.unwrap(), None);
    store.commit(one_event()).await.unwrap();
    store.close().await;
}
