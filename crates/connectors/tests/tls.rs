//! Every connector over TLS against its real server, which speaks only TLS
//! (PostgreSQL `hostssl` only, slapd ldaps-only or `security tls=1`, Redis
//! `port 0`, scim2-server and the webhook receiver HTTPS only): so a grant
//! that reads back used TLS. Each server's certificate is signed by a test
//! CA made by the harness; a connector given another CA's file must refuse
//! the server (verification is on) with an error that names the target and
//! says to set `ca_file`.

mod contract;

use std::path::Path;

use writ_app::ports::{Connector, Notification, Notifier, Order};
use writ_connectors::ldap::{LdapConfig, LdapConnector};
use writ_connectors::postgres::{PostgresConfig, PostgresConnector};
use writ_connectors::redis::{RedisConfig, RedisConnector};
use writ_connectors::scim::{ScimConfig, ScimConnector};
use writ_connectors::secret::SecretSource;
use writ_connectors::webhook::{WebhookConfig, WebhookNotifier};
use writ_core::identity::IdentityKind;
use writ_core::ids::TargetId;
use writ_testkit::{HttpsReceiver, LdapServer, LdapTls, PgServer, RedisServer, ScimServer, TestCa};

const ACCOUNT: &str = "svc-tls";

fn order(target: &str, resource: &str) -> Order {
    contract::order(target, ACCOUNT, IdentityKind::ServiceAccount, resource)
}

/// The CA that signs the server's certificate, and another one.
fn two_cas(name: &str) -> (TestCa, TestCa) {
    (TestCa::new(name).unwrap(), TestCa::new(&format!("not {name}")).unwrap())
}

/// A grant succeeds and the account read back (over the same TLS) holds it.
async fn grant_reads_back(c: &dyn Connector, target: &str, resource: &str) {
    let o = order(target, resource);
    c.grant(&o).await.unwrap_or_else(|e| panic!("grant on {target}: {e}"));
    let state = c.read_account(&o.account).await.unwrap_or_else(|e| panic!("read-back on {target}: {e}"));
    assert!(state.entitlements.iter().any(|e| e.resource == resource), "{target}: {state:?}");
}

/// With the wrong CA, the first contact fails naming the target and `ca_file`.
async fn wrong_ca_is_refused(c: &dyn Connector, target: &str, resource: &str) {
    let e = c.grant(&order(target, resource)).await.expect_err("a server signed by another CA must be refused").to_string();
    eprintln!("{e}");
    assert!(e.contains(&format!("`{target}`")) && e.contains("`ca_file`") && e.contains("certificate"), "{e}");
}

fn secret_file(dir: &Path, value: &str) -> SecretSource {
    let path = dir.join(format!("secret-{}", value.len()));
    std::fs::write(&path, value).unwrap();
    SecretSource { env: None, file: Some(path) }
}

#[tokio::test]
async fn postgres_over_verified_tls() {
    let (ca, other) = two_cas("pg");
    let pg = PgServer::start_tls(&ca).unwrap();
    pg.psql("CREATE ROLE payments_readonly NOLOGIN").unwrap();
    let connector = |ca_file: &Path| {
        let mut c = PostgresConfig::new(pg.url());
        // `ca_file` alone: the mode becomes verify-full.
        c.ca_file = Some(ca_file.to_owned());
        c.connect_timeout_secs = 5;
        PostgresConnector::new(&TargetId::parse("pg-tls").unwrap(), &c).unwrap()
    };
    grant_reads_back(&connector(ca.ca_file()), "pg-tls", "payments_readonly").await;
    assert_eq!(pg.psql("SELECT ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'writ' LIMIT 1").unwrap(), "t");
    wrong_ca_is_refused(&connector(other.ca_file()), "pg-tls", "payments_readonly").await;

    // The libpq way, in the URL, works the same.
    let c = PostgresConnector::new(&TargetId::parse("pg-url").unwrap(), &PostgresConfig::new(pg.tls_url(ca.ca_file()))).unwrap();
    grant_reads_back(&c, "pg-url", "payments_readonly").await;
}

async fn ldap_over(mode: LdapTls) {
    let (ca, other) = two_cas("ldap");
    let ldap = LdapServer::start_tls(&ca, mode).unwrap();
    ldap.ldapmodify(&format!("dn: cn=admins,{groups}\nobjectClass: groupOfNames\ncn: admins\nmember: cn=admins,{groups}\n", groups = ldap.groups_dn()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pw = secret_file(dir.path(), ldap.admin_password());
    let connector = |ca_file: &Path| {
        let config: LdapConfig = serde_json::from_value(serde_json::json!({
            "url": ldap.url(),
            "starttls": mode == LdapTls::StartTls,
            "ca_file": ca_file,
            "bind_dn": ldap.admin_dn(),
            "password_file": pw.file.as_ref().unwrap(),
            "people_dn": ldap.people_dn(),
            "groups_dn": ldap.groups_dn(),
            "services_dn": ldap.services_dn(),
        }))
        .unwrap();
        LdapConnector::new(&TargetId::parse("ldap-tls").unwrap(), &config).unwrap()
    };
    grant_reads_back(&connector(ca.ca_file()), "ldap-tls", "admins").await;
    let members = ldap.ldapsearch(&ldap.groups_dn(), "(cn=admins)", &["member"]).unwrap();
    assert!(members.contains(ACCOUNT), "{members}");
    wrong_ca_is_refused(&connector(other.ca_file()), "ldap-tls", "admins").await;
}

#[tokio::test]
async fn ldaps_with_verified_tls() {
    ldap_over(LdapTls::Ldaps).await;
}

#[tokio::test]
async fn ldap_with_starttls_and_verified_tls() {
    ldap_over(LdapTls::StartTls).await;
}

#[tokio::test]
async fn rediss_with_verified_tls() {
    let (ca, other) = two_cas("redis");
    let redis = RedisServer::start_tls(&ca, "writ", "adm1n-Pa55word").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let connector = |ca_file: &Path| {
        let mut c = RedisConfig::new(format!("rediss://127.0.0.1:{}/", redis.port()));
        c.username = Some("writ".into());
        c.password = secret_file(dir.path(), "adm1n-Pa55word");
        c.profiles = [("cache_read".to_owned(), "+@read ~cache:*".to_owned())].into();
        c.ca_file = Some(ca_file.to_owned());
        c.connect_timeout_secs = 5;
        RedisConnector::new(&TargetId::parse("cache-tls").unwrap(), &c).unwrap()
    };
    grant_reads_back(&connector(ca.ca_file()), "cache-tls", "cache_read").await;
    assert!(redis.cli(&["ACL", "GETUSER", ACCOUNT]).unwrap().contains("cache:*"));
    wrong_ca_is_refused(&connector(other.ca_file()), "cache-tls", "cache_read").await;
}

#[tokio::test]
async fn scim_over_https_with_verified_tls() {
    let (ca, other) = two_cas("scim");
    let scim = ScimServer::start_tls(&ca).unwrap();
    // The group is made over the same HTTPS (the harness's helpers are plain HTTP).
    let pem = std::fs::read(ca.ca_file()).unwrap();
    let http = reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap()).build().unwrap();
    let made = http
        .post(format!("{}/Groups", scim.base_url()))
        .bearer_auth(scim.token())
        .header("Content-Type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"engineering"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 201);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, scim.token()).unwrap();
    let connector = |ca_file: &Path| {
        let config: ScimConfig = serde_json::from_value(serde_json::json!({ "base_url": scim.base_url(), "token_file": token, "ca_file": ca_file })).unwrap();
        ScimConnector::new(&TargetId::parse("scim-tls").unwrap(), &config).unwrap()
    };
    grant_reads_back(&connector(ca.ca_file()), "scim-tls", "engineering").await;
    wrong_ca_is_refused(&connector(other.ca_file()), "scim-tls", "engineering").await;
}

#[tokio::test]
async fn webhooks_over_https_with_verified_tls() {
    let (ca, other) = two_cas("hooks");
    let receiver = HttpsReceiver::start(&ca).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hook-secret");
    std::fs::write(&secret, "a-long-enough-webhook-secret").unwrap();
    let notifier = |ca_file: &Path| {
        WebhookNotifier::new(&WebhookConfig {
            webhook_url: format!("{}/hooks/writ", receiver.base_url()),
            secret_env: None,
            secret_file: Some(secret.clone()),
            timeout_secs: Some(5),
            ca_file: Some(ca_file.to_owned()),
        })
        .unwrap()
    };
    let n: Notification = serde_json::from_value(notification_json()).unwrap();
    notifier(ca.ca_file()).deliver(&n).await.unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let hit: serde_json::Value = serde_json::from_str(&received[0]).unwrap();
    assert_eq!(hit["path"], "/hooks/writ");
    let body = hit["body"].as_str().unwrap();
    let header = hit["headers"]["writ-signature"].as_str().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    writ_connectors::webhook::verify("a-long-enough-webhook-secret", header, body.as_bytes(), now, 300).unwrap();

    let e = notifier(other.ca_file()).deliver(&n).await.expect_err("a receiver signed by another CA must be refused").to_string();
    assert!(e.contains("webhook https://127.0.0.1") && e.contains("`ca_file`") && e.contains("certificate"), "{e}");
    assert_eq!(receiver.received().len(), 1, "nothing reached the receiver");
}

/// A notification as the app would queue it.
fn notification_json() -> serde_json::Value {
    serde_json::json!({
        "id": "ntf-00000000000000000000000000000001",
        "kind": "access_granted",
        "at": "2030-01-01T00:00:00Z",
        "request": "req-00000000000000000000000000000001",
        "event": "entitlement.verified",
        "payload": {},
        "summary": "granted over TLS",
    })
}
