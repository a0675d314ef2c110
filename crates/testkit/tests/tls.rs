//! Each server started with TLS speaks it with the test CA's certificate, and
//! refuses a plaintext client: a test that passes against it used TLS.

use std::process::{Command, Stdio};

use writ_testkit::{ldap_binary, pg::pg_binary, redis_binary, HttpsReceiver, LdapServer, LdapTls, PgServer, RedisServer, ScimServer, TestCa};

fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&[&out.stdout[..], &out.stderr[..]].concat()).into_owned())
}

#[test]
fn postgres_takes_only_tls_on_tcp() {
    let ca = TestCa::new("pg").unwrap();
    let pg = PgServer::start_tls(&ca).unwrap();
    let psql = pg_binary("psql").unwrap();
    let (ok, out) = output(Command::new(&psql).arg(pg.tls_url(ca.ca_file())).args(["-XAtc", "SHOW ssl"]));
    assert!(ok && out.trim() == "on", "{out}");
    let plain = format!("{}?sslmode=disable", pg.url());
    let (ok, out) = output(Command::new(&psql).arg(plain).args(["-XAtc", "SELECT 1"]));
    assert!(!ok && out.contains("no encryption"), "{out}");
    let other = TestCa::new("other").unwrap();
    let (ok, out) = output(Command::new(&psql).arg(pg.tls_url(other.ca_file())).args(["-XAtc", "SELECT 1"]));
    assert!(!ok && out.contains("certificate verify failed"), "{out}");
}

#[test]
fn slapd_over_ldaps_has_no_plaintext_listener() {
    let ca = TestCa::new("ldaps").unwrap();
    let ldap = LdapServer::start_tls(&ca, LdapTls::Ldaps).unwrap();
    assert!(ldap.url().starts_with("ldaps://"));
    assert!(ldap.ldapsearch(ldap.base_dn(), "(objectClass=*)", &["1.1"]).unwrap().contains("dn: dc=writ,dc=test"));
    let plain = format!("ldap://127.0.0.1:{}/", ldap.port());
    let (ok, out) =
        output(Command::new(ldap_binary("ldapsearch").unwrap()).args(["-x", "-o", "nettimeout=2", "-H", &plain, "-b", ldap.base_dn(), "-s", "base"]));
    assert!(!ok, "{out}");
}

#[test]
fn slapd_with_starttls_refuses_operations_before_tls() {
    let ca = TestCa::new("starttls").unwrap();
    let ldap = LdapServer::start_tls(&ca, LdapTls::StartTls).unwrap();
    assert!(ldap.url().starts_with("ldap://"));
    assert!(ldap.ldapsearch(ldap.base_dn(), "(objectClass=*)", &["1.1"]).unwrap().contains("dn: dc=writ,dc=test"));
    let (ok, out) = output(Command::new(ldap_binary("ldapsearch").unwrap()).args([
        "-x",
        "-H",
        &ldap.url(),
        "-D",
        ldap.admin_dn(),
        "-w",
        ldap.admin_password(),
        "-b",
        ldap.base_dn(),
        "-s",
        "base",
    ]));
    assert!(!ok && out.contains("Confidentiality required"), "{out}");
}

#[test]
fn redis_has_only_a_tls_port() {
    let ca = TestCa::new("redis").unwrap();
    let redis = RedisServer::start_tls(&ca, "writ", "pw").unwrap();
    assert!(redis.url().starts_with("rediss://"));
    assert_eq!(redis.cli(&["PING"]).unwrap().trim(), "PONG");
    let (ok, out) = output(Command::new(redis_binary("redis-cli").unwrap()).args([
        "-h",
        "127.0.0.1",
        "-p",
        &redis.port().to_string(),
        "--user",
        "writ",
        "--pass",
        "pw",
        "-e",
        "PING",
    ]));
    assert!(!ok || !out.contains("PONG"), "{out}");
}

#[test]
fn scim_and_the_receiver_speak_https_only() {
    let ca = TestCa::new("https").unwrap();
    let scim = ScimServer::start_tls(&ca).unwrap();
    assert!(scim.base_url().starts_with("https://"));
    let receiver = HttpsReceiver::start(&ca).unwrap();
    for port in [scim.port(), receiver.port()] {
        let plain = writ_testkit::http_get(port, "/v2/Users", &[]);
        assert!(plain.is_err() || plain.as_ref().is_ok_and(|r| r.status >= 400), "{plain:?}");
    }
}
