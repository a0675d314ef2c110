//! The Redis ACL connector against a real Redis 7 (writ-testkit): the
//! connector contract, then what is particular to Redis.
//!
//! Writ authenticates as the ACL user `writ` (the testkit's all-rights user;
//! `default` is off). Fixtures are made with `redis-cli` as that user.

mod contract;

use std::cell::RefCell;
use std::sync::Arc;

use writ_app::ports::{Account, Applied, Connector, ConnectorError};
use writ_connectors::redis::{RedisConfig, RedisConnector};
use writ_connectors::secret::SecretSource;
use writ_core::identity::IdentityKind;
use writ_core::ids::TargetId;
use writ_testkit::RedisServer;

const ADMIN: &str = "writ";
const ADMIN_PASSWORD: &str = "adm1n-Pa55word-for-tests";

fn start() -> RedisServer {
    RedisServer::start_with_user(ADMIN, ADMIN_PASSWORD).expect("start redis")
}

fn config(server: &RedisServer, profiles: &[(String, String)]) -> RedisConfig {
    let password_file = server.dir().join("writ.password");
    std::fs::write(&password_file, ADMIN_PASSWORD).unwrap();
    let mut c = RedisConfig::new(format!("redis://127.0.0.1:{}/", server.port()));
    c.username = Some(ADMIN.into());
    c.password = SecretSource { env: None, file: Some(password_file) };
    c.profiles = profiles.iter().cloned().collect();
    c.connect_timeout_secs = 2;
    c.response_timeout_secs = 5;
    c
}

fn connector(server: &RedisServer, profiles: &[(&str, &str)]) -> Arc<RedisConnector> {
    let profiles: Vec<(String, String)> = profiles.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Arc::new(RedisConnector::new(&TargetId::parse("cache-test").unwrap(), &config(server, &profiles)).unwrap())
}

/// Creates ACL user `name` (`on`, no password) unless it exists; false if
/// Redis (or `redis-cli`'s argv) cannot hold that name.
fn make_user(server: &RedisServer, name: &str) -> bool {
    if name.contains('\0') {
        return false;
    }
    let exists = server.cli(&["ACL", "GETUSER", name]).is_ok_and(|out| !out.trim().is_empty());
    exists || server.cli(&["ACL", "SETUSER", name, "on"]).is_ok()
}

fn person(name: &str) -> Account {
    Account { name: name.into(), kind: IdentityKind::Person }
}

fn order(account: &str, kind: IdentityKind, profile: &str) -> writ_app::ports::Order {
    contract::order("cache-test", account, kind, profile)
}

/// `ACL DRYRUN`: whether Redis itself would let `user` run `command`.
fn allowed(server: &RedisServer, user: &str, command: &[&str]) -> bool {
    let mut args = vec!["ACL", "DRYRUN", user];
    args.extend_from_slice(command);
    server.cli(&args).unwrap().trim() == "OK"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_contract_holds_on_a_real_redis() {
    let server = RefCell::new(start());
    // Every hostile name is also a configured profile, so the contract checks
    // profile names reach the ACL exactly (each with rules of its own).
    let mut profiles = vec![("contract_read".to_owned(), "+@read ~contract:*".to_owned()), ("contract_write".to_owned(), "+@write ~contract:*".to_owned())];
    for (i, name) in contract::hostile_names().into_iter().enumerate() {
        profiles.push((name, format!("+get ~hostile{i}:*")));
    }
    let names: Vec<String> = profiles.iter().map(|p| p.0.clone()).collect();
    let c = Arc::new(RedisConnector::new(&TargetId::parse("cache-test").unwrap(), &config(&server.borrow(), &profiles)).unwrap());
    assert!(make_user(&server.borrow(), "contract_person"));
    contract::run(contract::Fixture {
        connector: c.clone(),
        person: "contract_person".into(),
        resource: "contract_read".into(),
        other_resource: "contract_write".into(),
        service_account: Some("contract-svc".into()),
        make_resource: Box::new(|name| names.iter().any(|n| n == name)),
        make_person: Box::new(|name| make_user(&server.borrow(), name)),
        stop: Box::new(|| server.borrow_mut().stop()),
        start: Box::new(|| {
            server.borrow_mut().start_again().expect("restart redis");
            // Redis comes back empty: the person's account again.
            assert!(make_user(&server.borrow(), "contract_person"));
        }),
    })
    .await;
    // Back after the restart: the dead connection is replaced, profiles relearnt.
    let o = order("contract_person", IdentityKind::Person, "contract_read");
    assert_eq!(c.grant(&o).await.expect("grants again once the server is back"), Applied::Changed);
    assert!(c.read_account(&o.account).await.unwrap().holds("contract_read"));
    assert_eq!(c.revoke(&o).await.unwrap(), Applied::Changed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_combine_and_a_revoke_removes_only_its_own() {
    let server = start();
    let c = connector(&server, &[("cache_read", "+@read ~cache:*"), ("cache_write", "+set +del ~cache:*"), ("queue", "+lpush ~queue:* &events")]);
    assert!(make_user(&server, "alice"));
    for p in ["cache_read", "cache_write", "queue"] {
        assert_eq!(c.grant(&order("alice", IdentityKind::Person, p)).await.unwrap(), Applied::Changed);
    }
    let state = c.read_account(&person("alice")).await.unwrap();
    let held: Vec<&str> = state.entitlements.iter().map(|e| e.resource.as_str()).collect();
    assert_eq!(held, ["cache_read", "cache_write", "queue"]);
    assert_eq!(state.entitlements[0].detail["rules"], "~cache:* resetchannels -@all +@read");
    assert_eq!(state.entitlements[2].detail["rules"], "~queue:* resetchannels &events -@all +lpush");
    assert!(allowed(&server, "alice", &["GET", "cache:1"]) && allowed(&server, "alice", &["SET", "cache:1", "v"]));
    assert!(!allowed(&server, "alice", &["GET", "other:1"]));

    assert_eq!(c.revoke(&order("alice", IdentityKind::Person, "cache_write")).await.unwrap(), Applied::Changed);
    let state = c.read_account(&person("alice")).await.unwrap();
    let held: Vec<&str> = state.entitlements.iter().map(|e| e.resource.as_str()).collect();
    assert_eq!(held, ["cache_read", "queue"]);
    assert!(allowed(&server, "alice", &["GET", "cache:1"]), "the other profiles still work");
    assert!(!allowed(&server, "alice", &["SET", "cache:1", "v"]), "the revoked one does not");
    assert!(allowed(&server, "alice", &["LPUSH", "queue:1", "v"]));
    let acl = server.cli(&["ACL", "LIST"]).unwrap();
    assert!(acl.contains("user alice on resetchannels -@all (~cache:* resetchannels -@all +@read) (~queue:* resetchannels &events -@all +lpush)"), "{acl}");
    assert_eq!(c.revoke(&order("alice", IdentityKind::Person, "cache_write")).await.unwrap(), Applied::AlreadyAbsent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_no_profile_matches_is_reported_and_survives_revokes() {
    let server = start();
    let c = connector(&server, &[("cache_read", "+@read ~cache:*")]);
    server.cli(&["ACL", "SETUSER", "bob", "on", "(+ping +get ~other:* %R~a(b)*)"]).unwrap();
    // Redis orders single commands by its hash seed, which changes with each
    // server start: take the selector as Redis writes it, after checking it.
    let state = c.read_account(&person("bob")).await.unwrap();
    assert_eq!(state.entitlements.len(), 1, "{state:?}");
    let unknown = state.entitlements[0].clone();
    let tokens = |r: &str| -> std::collections::BTreeSet<String> { r.split(' ').map(str::to_owned).collect() };
    assert_eq!((unknown.account.as_str(), unknown.resource.as_str()), ("bob", ""), "{unknown:?}");
    assert_eq!(tokens(&unknown.detail["rules"]), tokens("~other:* %R~a(b)* resetchannels -@all +get +ping"), "{unknown:?}");
    assert!(contract::scan_all(&*c).await.contains(&unknown));

    let o = order("bob", IdentityKind::Person, "cache_read");
    assert_eq!(c.grant(&o).await.unwrap(), Applied::Changed);
    assert_eq!(c.read_account(&person("bob")).await.unwrap().entitlements.len(), 2);
    assert_eq!(c.revoke(&o).await.unwrap(), Applied::Changed);
    assert_eq!(c.read_account(&person("bob")).await.unwrap().entitlements, [unknown], "rebuilt exactly");
    assert!(allowed(&server, "bob", &["PING"]) && allowed(&server, "bob", &["GET", "a(b)c"]));

    // The scan reads ACL LIST and re-reads ambiguous lines (like bob's) with
    // ACL GETUSER: it agrees with read_account user by user.
    server.cli(&["ACL", "SETUSER", "carol", "on", "(resetchannels +@read ~cache:*)", "(&* +get ~x)", "(~y) +get)"]).unwrap();
    server.cli(&["ACL", "SETUSER", "(dave)", "on", "~root(pattern", "(resetchannels +@read ~cache:*)"]).unwrap();
    let mut by_account = std::collections::BTreeSet::new();
    for user in ["bob", "carol", "(dave)", "writ", "default"] {
        by_account.extend(c.read_account(&person(user)).await.unwrap().entitlements);
    }
    assert_eq!(contract::scan_all(&*c).await, by_account);
    assert_eq!(by_account.iter().filter(|e| e.resource == "cache_read").count(), 2, "{by_account:?}");
    assert!(!allowed(&server, "bob", &["SET", "a(b)c", "v"]), "%R~ stays read-only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_is_created_without_a_password_and_switched_off_after_its_last_profile() {
    let server = start();
    let c = connector(&server, &[("cache_read", "+@read ~cache:*"), ("cache_write", "+set ~cache:*")]);
    let svc = Account { name: "billing-bot".into(), kind: IdentityKind::ServiceAccount };
    assert!(!c.read_account(&svc).await.unwrap().exists);
    let read = order("billing-bot", IdentityKind::ServiceAccount, "cache_read");
    let write = order("billing-bot", IdentityKind::ServiceAccount, "cache_write");
    assert_eq!(c.grant(&read).await.unwrap(), Applied::Changed);
    let state = c.read_account(&svc).await.unwrap();
    assert_eq!(state.attributes["enabled"], "true");
    assert_eq!(state.attributes["passwords"], "0");
    assert!(!state.attributes["flags"].contains("nopass"), "{state:?}");
    // Nobody can authenticate as it until an operator sets a password.
    let auth = server.cli(&["AUTH", "billing-bot", ""]);
    assert!(auth.is_err(), "{auth:?}");

    assert_eq!(c.grant(&write).await.unwrap(), Applied::Changed);
    assert_eq!(c.revoke(&read).await.unwrap(), Applied::Changed);
    assert_eq!(c.read_account(&svc).await.unwrap().attributes["enabled"], "true", "still holds a profile");
    // An operator gives it a password meanwhile; Writ keeps it.
    server.cli(&["ACL", "SETUSER", "billing-bot", ">operator-set-pw"]).unwrap();
    assert_eq!(c.revoke(&write).await.unwrap(), Applied::Changed);
    let off = c.read_account(&svc).await.unwrap();
    assert!(off.exists && off.entitlements.is_empty(), "{off:?}");
    assert_eq!((off.attributes["enabled"].as_str(), off.attributes["passwords"].as_str()), ("false", "1"));
    assert_eq!(c.revoke(&write).await.unwrap(), Applied::AlreadyAbsent);
    // The next grant switches it on again.
    assert_eq!(c.grant(&read).await.unwrap(), Applied::Changed);
    assert_eq!(c.read_account(&svc).await.unwrap().attributes["enabled"], "true");
    assert_eq!(c.grant(&read).await.unwrap(), Applied::AlreadyPresent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_writ_must_not_touch_and_unknown_profiles_are_refused() {
    let server = start();
    let c = connector(&server, &[("cache_read", "+@read ~cache:*")]);
    let refused = |r: Result<Applied, ConnectorError>, needle: &str| match r {
        Err(ConnectorError::Permanent { detail, .. }) => assert!(detail.contains(needle), "{detail} should say {needle:?}"),
        other => panic!("expected a permanent refusal mentioning {needle:?}, got {other:?}"),
    };
    refused(c.grant(&order("nobody", IdentityKind::Person, "cache_read")).await, "no ACL user `nobody` on target `cache-test`");
    refused(c.grant(&order("default", IdentityKind::Person, "cache_read")).await, "`default` user");
    refused(c.grant(&order(ADMIN, IdentityKind::ServiceAccount, "cache_read")).await, "Writ connects as");
    refused(c.revoke(&order(ADMIN, IdentityKind::ServiceAccount, "cache_read")).await, "Writ connects as");
    refused(c.grant(&order("nobody", IdentityKind::Person, "cache_admin")).await, "no profile `cache_admin`");
    refused(c.grant(&order("a b", IdentityKind::ServiceAccount, "cache_read")).await, "cannot contain spaces");
    assert_eq!(server.cli(&["ACL", "USERS"]).unwrap().split_whitespace().collect::<Vec<_>>(), ["default", "writ"], "nothing created");
    assert_eq!(c.revoke(&order("nobody", IdentityKind::Person, "cache_read")).await.unwrap(), Applied::AlreadyAbsent);

    // Rules Redis itself refuses are named when the profile is first used.
    let bad = connector(&server, &[("typo", "+@raed ~cache:*")]);
    assert!(make_user(&server, "carol"));
    let e = bad.read_account(&person("carol")).await.unwrap_err();
    assert!(!e.is_transient() && e.to_string().contains("profile `typo`") && e.to_string().contains("@raed"), "{e}");
    assert_eq!(server.cli(&["ACL", "USERS"]).unwrap().split_whitespace().count(), 3, "no probe user left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_errors_debug_or_info() {
    let mut server = start();
    assert!(make_user(&server, "someone"));
    let wrong = "Wr0ng-pa55word-that-must-not-leak";
    let mut cfg = config(&server, &[("cache_read".into(), "+@read ~cache:*".into())]);
    let file = server.dir().join("wrong.password");
    std::fs::write(&file, wrong).unwrap();
    cfg.password.file = Some(file);
    let c = RedisConnector::new(&TargetId::parse("cache-test").unwrap(), &cfg).unwrap();
    let o = order("someone", IdentityKind::Person, "cache_read");
    let e = c.grant(&o).await.unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(!e.is_transient() && text.contains("authenticate as `writ`"), "{text}");
    for shown in [text, format!("{c:?}"), format!("{:?}", c.info())] {
        assert!(!shown.contains(wrong) && !shown.contains(ADMIN_PASSWORD), "{shown}");
    }

    let good = connector(&server, &[("cache_read", "+@read ~cache:*")]);
    assert_eq!(good.grant(&o).await.unwrap(), Applied::Changed);
    server.stop();
    let e = good.read_account(&o.account).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(!format!("{e} {e:?} {good:?}").contains(ADMIN_PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_name_redis_can_hold_is_granted_exactly() {
    let server = start();
    let names = contract::hostile_names();
    let profiles: Vec<(String, String)> = names.iter().enumerate().map(|(i, n)| (n.clone(), format!("+get ~hostile{i}:*"))).collect();
    let mut profiles_ref: Vec<(&str, &str)> = profiles.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    profiles_ref.push(("plain", "+get ~plain:*"));
    let c = connector(&server, &profiles_ref);
    assert!(make_user(&server, "plain_person"));
    let mut exact = 0;
    for (i, name) in names.iter().enumerate() {
        // As a profile name: any string.
        let o = order("plain_person", IdentityKind::Person, name);
        assert_eq!(c.grant(&o).await.unwrap_or_else(|e| panic!("{name:?}: {e}")), Applied::Changed);
        assert!(allowed(&server, "plain_person", &["GET", &format!("hostile{i}:k")]), "{name:?}");
        assert_eq!(c.revoke(&o).await.unwrap(), Applied::Changed);
        // As an account: Redis holds names without whitespace or NUL.
        let holds = !name.is_empty() && !name.bytes().any(|b| b" \t\n\x0b\x0c\r\0".contains(&b));
        let made = make_user(&server, name);
        assert_eq!(made, holds, "{name:?}: redis-cli holds exactly the names the connector accepts");
        let o = order(name, IdentityKind::Person, "plain");
        let result = c.grant(&o).await;
        if !holds || name == "default" {
            assert!(matches!(result, Err(ConnectorError::Permanent { .. })), "{name:?}: {result:?}");
            continue;
        }
        assert_eq!(result.unwrap_or_else(|e| panic!("{name:?}: {e}")), Applied::Changed, "{name:?}");
        assert!(allowed(&server, name, &["GET", "plain:k"]), "{name:?}: Redis sees exactly that user");
        assert!(c.read_account(&o.account).await.unwrap().holds("plain"));
        assert_eq!(c.revoke(&o).await.unwrap(), Applied::Changed);
        exact += 1;
    }
    // Not held: the six names with a space, line break or NUL; `default` is refused.
    assert_eq!(exact, names.len() - 7);
    assert!(contract::scan_all(&*c).await.is_empty());
}
