use std::process::Command;
use std::time::Instant;

use writ_testkit::{find_binary, PgServer, TestkitError};

fn psql(url: &str, sql: &str) -> String {
    let psql = find_binary("psql", "postgresql-client-15", &[]).unwrap();
    let out = Command::new(psql).args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]).output().unwrap();
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn start_query_create_database_stop() {
    let t = Instant::now();
    let mut pg = PgServer::start().unwrap();
    eprintln!("postgres started in {:?} on port {}", t.elapsed(), pg.port());
    assert_eq!(pg.url(), format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port()));
    assert_eq!(psql(&pg.url(), "SELECT 1"), "1");

    let url = pg.create_database("writ_test_1").unwrap();
    assert!(url.ends_with("/writ_test_1"));
    assert_eq!(psql(&url, "SELECT current_database()"), "writ_test_1");
    assert!(pg.create_database("Bad-Name").is_err());
    assert!(pg.create_database("").is_err());

    let dir = pg.dir().to_path_buf();
    assert!(dir.join("data").is_dir());
    let t = Instant::now();
    pg.stop();
    eprintln!("postgres stopped in {:?}", t.elapsed());
    assert!(!dir.exists(), "{} still exists", dir.display());
    pg.stop(); // idempotent
}

#[test]
fn parallel_servers_are_independent_and_dropped() {
    let servers: Vec<PgServer> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| PgServer::start().unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = servers.iter().map(|s| s.port()).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 3);
    for s in &servers {
        assert_eq!(psql(&s.url(), "SELECT 1"), "1");
    }
    let dirs: Vec<_> = servers.iter().map(|s| s.dir().to_path_buf()).collect();
    drop(servers);
    for d in dirs {
        assert!(!d.exists());
    }
}

#[test]
fn missing_binary_error_names_package() {
    let err = find_binary("no-such-binary-writ", "some-pkg", &["/nonexistent"]).unwrap_err();
    assert!(matches!(err, TestkitError::MissingBinary { .. }));
    assert_eq!(
        err.to_string(),
        "no-such-binary-writ not found: install the Debian package `some-pkg` \
         (run scripts/install-test-deps.sh)"
    );
}
