//! The SCIM connector against a real SCIM 2.0 server (PyPI `scim2-server`, writ-testkit).

mod contract;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use contract::{order, scan_all, Fixture};
use serde_json::{json, Value};
use writ_app::ports::{Account, Applied, Connector, ConnectorError};
use writ_connectors::scim::{ScimConfig, ScimConnector};
use writ_core::identity::IdentityKind;
use writ_core::ids::TargetId;
use writ_testkit::ScimServer;

const TARGET: &str = "okta";
const PERSON: &str = "writ-person";

/// Percent-encodes a query value for [`ScimServer::get`].
fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn post(scim: &ScimServer, path: &str, body: Value) -> Option<String> {
    let r = scim.request("POST", path, Some(&body.to_string())).unwrap();
    (r.status == 201).then(|| serde_json::from_str::<Value>(&r.body).unwrap()["id"].as_str().unwrap().to_owned())
}

fn make_user(scim: &ScimServer, name: &str) -> Option<String> {
    post(scim, "/Users", json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name }))
}

fn make_group(scim: &ScimServer, name: &str) -> Option<String> {
    post(scim, "/Groups", json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name }))
}

fn add_member(scim: &ScimServer, group: &str, member: &str) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "add", "path": "members", "value": [{ "value": member }] }],
    });
    let r = scim.request("PATCH", &format!("/Groups/{group}"), Some(&body.to_string())).unwrap();
    assert!(r.status < 300, "{r:?}");
}

/// The userNames the server holds exactly equal to `name` (by the plain client).
fn users_named(scim: &ScimServer, name: &str) -> usize {
    let filter = format!("userName eq {}", Value::String(name.into()));
    let r = scim.get(&format!("/Users?filter={}&attributes=userName", enc(&filter))).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let v: Value = serde_json::from_str(&r.body).unwrap();
    v["Resources"].as_array().unwrap().iter().filter(|u| u["userName"] == name).count()
}

struct Setup {
    scim: ScimServer,
    _dir: tempfile::TempDir,
    token_file: std::path::PathBuf,
}

fn setup() -> Setup {
    let scim = ScimServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("scim-token");
    std::fs::write(&token_file, format!("{}\n", scim.token())).unwrap();
    Setup { scim, _dir: dir, token_file }
}

fn connector_with(base_url: &str, token_file: &std::path::Path, extra: Value) -> Arc<ScimConnector> {
    let mut c = json!({ "base_url": base_url, "token_file": token_file });
    if let Value::Object(extra) = extra {
        c.as_object_mut().unwrap().extend(extra);
    }
    let config: ScimConfig = serde_json::from_value(c).unwrap();
    Arc::new(ScimConnector::new(&TargetId::parse(TARGET).unwrap(), &config).unwrap())
}

fn connector(s: &Setup, extra: Value) -> Arc<ScimConnector> {
    connector_with(&s.scim.base_url(), &s.token_file, extra)
}

fn person(name: &str) -> Account {
    Account { name: name.into(), kind: IdentityKind::Person }
}

/// The fixtures of the contract: lost whenever the server restarts.
fn seed(scim: &ScimServer) {
    assert!(make_user(scim, PERSON).is_some());
    assert!(make_group(scim, "readers").is_some());
    assert!(make_group(scim, "writers").is_some());
}

#[tokio::test]
async fn the_scim_connector_keeps_the_contract() {
    let s = setup();
    seed(&s.scim);
    let c = connector(&s, Value::Null);
    let Setup { scim, _dir, token_file: _ } = s;
    // `stop`/`start` need the server mutably, the others share it.
    let server = RefCell::new(scim);
    contract::run(Fixture {
        connector: c,
        person: PERSON.into(),
        resource: "readers".into(),
        other_resource: "writers".into(),
        service_account: Some("svc-writ-bot".into()),
        make_resource: Box::new(|name| make_group(&server.borrow(), name).is_some()),
        make_person: Box::new(|name| make_user(&server.borrow(), name).is_some()),
        stop: Box::new(|| server.borrow_mut().stop()),
        start: Box::new(|| {
            server.borrow_mut().start_again().unwrap();
            seed(&server.borrow());
        }),
    })
    .await;
}

/// The contract accepts a refusal for any hostile name; this server holds
/// every one of them exactly, so the connector must grant them all.
#[tokio::test]
async fn every_hostile_name_is_held_exactly() {
    let s = setup();
    seed(&s.scim);
    assert!(make_group(&s.scim, "bots").is_some());
    let c = connector(&s, Value::Null);
    for name in contract::hostile_names() {
        let shown: String = name.chars().take(12).collect();
        assert!(make_group(&s.scim, &name).is_some() && make_user(&s.scim, &name).is_some(), "{shown:?}");
        assert_eq!(c.grant(&order(TARGET, PERSON, IdentityKind::Person, &name)).await.unwrap(), Applied::Changed, "group {shown:?}");
        assert_eq!(c.grant(&order(TARGET, &name, IdentityKind::Person, "readers")).await.unwrap(), Applied::Changed, "user {shown:?}");
    }
    // Service accounts, created by the connector: a hostile name with a prefix
    // (the plain userNames above would collide).
    for name in contract::hostile_names() {
        let name = format!("svc {name}");
        assert_eq!(c.grant(&order(TARGET, &name, IdentityKind::ServiceAccount, "bots")).await.unwrap(), Applied::Changed);
        assert_eq!(users_named(&s.scim, &name), 1);
    }
    let all = scan_all(&*c).await;
    let holders = |group: &str| -> BTreeSet<&str> { all.iter().filter(|e| e.resource == group).map(|e| e.account.as_str()).collect() };
    let groups: BTreeSet<&str> = all.iter().filter(|e| e.account == PERSON).map(|e| e.resource.as_str()).collect();
    for name in contract::hostile_names() {
        assert!(holders("readers").contains(name.as_str()), "user {name:?} is not read back exactly");
        assert!(holders("bots").contains(format!("svc {name}").as_str()), "service account {name:?} is not read back exactly");
        assert!(groups.contains(name.as_str()), "group {name:?} is not read back exactly");
        let state = c.read_account(&person(&name)).await.unwrap();
        assert_eq!(state.entitlements.iter().map(|e| e.resource.as_str()).collect::<Vec<_>>(), ["readers"], "{state:?}");
    }
}

#[tokio::test]
async fn scan_and_read_back_page_across_several_pages() {
    let s = setup();
    let users: Vec<(String, String)> = (0..11).map(|i| format!("user-{i:02}")).map(|n| (make_user(&s.scim, &n).unwrap(), n)).collect();
    let mut want = BTreeSet::new();
    for g in 0..8 {
        let name = format!("group-{g}");
        let id = make_group(&s.scim, &name).unwrap();
        for (uid, uname) in users.iter().filter(|(_, n)| n.ends_with('0') || n.len() % 8 == g % 2 || g == 7) {
            add_member(&s.scim, &id, uid);
            want.insert((uname.clone(), name.clone()));
        }
    }
    // A member that is no user (a dangling id) is not live state.
    let dangling = make_group(&s.scim, "dangling").unwrap();
    add_member(&s.scim, &dangling, "no-such-user-id");
    for page_size in [1, 3, 1000] {
        let c = connector(&s, json!({ "page_size": page_size }));
        let got: BTreeSet<(String, String)> = scan_all(&*c).await.into_iter().map(|e| (e.account, e.resource)).collect();
        assert_eq!(got, want, "page size {page_size}");
        let u0 = c.read_account(&person("user-00")).await.unwrap();
        assert_eq!(u0.entitlements.len(), 8, "page size {page_size}: {u0:?}");
        assert!(u0.entitlements.windows(2).all(|w| w[0] < w[1]), "sorted");
    }
}

#[tokio::test]
async fn names_the_server_matches_as_equal_are_handled_exactly() {
    let s = setup();
    let alice = make_user(&s.scim, "alice").unwrap();
    assert!(make_user(&s.scim, "Alice").is_none(), "the server holds userNames case-insensitively");
    make_user(&s.scim, "bot").unwrap();
    let readers = make_group(&s.scim, "readers").unwrap();
    let upper = make_group(&s.scim, "Readers").unwrap();
    make_group(&s.scim, "dup").unwrap();
    make_group(&s.scim, "dup").unwrap();
    let c = connector(&s, Value::Null);
    for (account, kind) in [("Alice", IdentityKind::Person), ("ALICE", IdentityKind::ServiceAccount), ("BOT", IdentityKind::ServiceAccount)] {
        match c.grant(&order(TARGET, account, kind, "readers")).await {
            Err(ConnectorError::Permanent { detail, .. }) => assert!(detail.contains("same userName"), "{detail}"),
            other => panic!("{account}: {other:?}"),
        }
        assert!(matches!(c.revoke(&order(TARGET, account, kind, "readers")).await, Err(ConnectorError::Permanent { .. })));
    }
    assert!(matches!(c.read_account(&person("Alice")).await, Err(ConnectorError::Permanent { .. })));
    assert_eq!(users_named(&s.scim, "bot"), 1);
    // Groups: displayName is not unique; the exact one is chosen.
    assert_eq!(c.grant(&order(TARGET, "alice", IdentityKind::Person, "Readers")).await.unwrap(), Applied::Changed);
    let state = c.read_account(&person("alice")).await.unwrap();
    assert_eq!(state.entitlements.iter().map(|e| e.resource.as_str()).collect::<Vec<_>>(), ["Readers"]);
    assert_eq!(state.attributes.get("id"), Some(&alice));
    let members = |g: &str| s.scim.get(&format!("/Groups/{g}")).unwrap().body;
    assert!(members(&upper).contains(&alice) && !members(&readers).contains(&alice));
    match c.grant(&order(TARGET, "alice", IdentityKind::Person, "dup")).await {
        Err(ConnectorError::Permanent { detail, .. }) => assert!(detail.contains("several groups"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn service_account_users_come_and_go_with_their_groups() {
    let s = setup();
    make_group(&s.scim, "readers").unwrap();
    make_group(&s.scim, "writers").unwrap();
    let c = connector(&s, Value::Null);
    let name = "ci \"bot\" #1";
    let (r, w) = (order(TARGET, name, IdentityKind::ApiKey, "readers"), order(TARGET, name, IdentityKind::ServiceAccount, "writers"));
    assert_eq!(c.grant(&r).await.unwrap(), Applied::Changed);
    assert_eq!(c.grant(&w).await.unwrap(), Applied::Changed);
    assert_eq!(users_named(&s.scim, name), 1);
    let state = c.read_account(&Account { name: name.into(), kind: IdentityKind::ApiKey }).await.unwrap();
    assert_eq!(state.attributes.get("enabled").map(String::as_str), Some("true"));
    assert_eq!(c.revoke(&r).await.unwrap(), Applied::Changed);
    assert_eq!(users_named(&s.scim, name), 1, "kept while it holds a group");
    assert_eq!(c.revoke(&w).await.unwrap(), Applied::Changed);
    assert_eq!(users_named(&s.scim, name), 0, "deleted with its last group");
    assert_eq!(c.revoke(&w).await.unwrap(), Applied::AlreadyAbsent);
    match c.grant(&order(TARGET, "nobody", IdentityKind::Person, "readers")).await {
        Err(ConnectorError::Permanent { detail, .. }) => assert!(detail.contains("no user"), "{detail}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(users_named(&s.scim, "nobody"), 0, "a person is never created");
}

#[tokio::test]
async fn a_target_down_at_start_is_reached_later() {
    let mut s = setup();
    s.scim.stop();
    let c = connector(&s, json!({ "connect_timeout_secs": 2 }));
    let e = c.read_account(&person(PERSON)).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    s.scim.start_again().unwrap();
    seed(&s.scim);
    assert!(c.read_account(&person(PERSON)).await.unwrap().exists);
}

#[tokio::test]
async fn the_token_never_shows() {
    let mut s = setup();
    seed(&s.scim);
    let token = s.scim.token().to_owned();
    let good = connector(&s, Value::Null);
    let wrong_token = "wrong-Zq81-token";
    let dir = tempfile::tempdir().unwrap();
    let wrong_file = dir.path().join("token");
    std::fs::write(&wrong_file, wrong_token).unwrap();
    let wrong = connector_with(&s.scim.base_url(), &wrong_file, Value::Null);
    let mut texts = vec![format!("{good:?}"), format!("{wrong:?}"), format!("{:?}", good.info()), format!("{:?}", wrong.info())];
    let e = wrong.read_account(&person(PERSON)).await.unwrap_err();
    assert!(!e.is_transient() && e.to_string().contains("401"), "{e}");
    texts.push(format!("{e} {e:?}"));
    let e = good.grant(&order(TARGET, PERSON, IdentityKind::Person, "no-such-group")).await.unwrap_err();
    texts.push(format!("{e} {e:?}"));
    s.scim.stop();
    for c in [&good, &wrong] {
        let e = c.grant(&order(TARGET, PERSON, IdentityKind::Person, "readers")).await.unwrap_err();
        assert!(e.is_transient(), "{e}");
        texts.push(format!("{e} {e:?}"));
    }
    for t in texts {
        assert!(!t.contains(&token) && !t.contains(wrong_token), "a token shows in: {t}");
    }
}

#[test]
fn config_is_read_from_the_target_table_and_refuses_typos() {
    use writ_connectors::TargetConfig;
    let ok = json!({ "kind": "scim", "base_url": "http://127.0.0.1:1/v2", "token_env": "SCIM_TOKEN", "page_size": 50 });
    let c: TargetConfig = serde_json::from_value(ok.clone()).unwrap();
    assert_eq!(c.kind(), "scim");
    let mut typo = ok;
    typo.as_object_mut().unwrap().insert("token_fiel".into(), "/x".into());
    let e = serde_json::from_value::<TargetConfig>(typo).unwrap_err().to_string();
    assert!(e.contains("token_fiel"), "{e}");
}
