//! The LDAP connector against a real OpenLDAP `slapd` (writ-testkit).

mod contract;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use contract::{order, scan_all, Fixture};
use writ_app::ports::{Account, Applied, Connector, ConnectorError};
use writ_connectors::ldap::{LdapConfig, LdapConnector};
use writ_core::identity::IdentityKind;
use writ_core::ids::TargetId;
use writ_testkit::ldap::BASE_DN;
use writ_testkit::LdapServer;

const TARGET: &str = "corp-ldap";
const PERSON: &str = "writ-person";

/// LDIF's base64 (`attr:: value`), so every name is written byte for byte.
fn b64(s: &str) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn group_dn(name: &str) -> String {
    format!("cn={},ou=groups,{BASE_DN}", ldap3::dn_escape(name))
}

fn person_dn(name: &str) -> String {
    format!("uid={},ou=people,{BASE_DN}", ldap3::dn_escape(name))
}

/// LDIF of a group holding `members` (its own DN, the placeholder, if none).
fn group_ldif(name: &str, members: &[String]) -> String {
    let dn = group_dn(name);
    let mut ldif = format!("dn:: {}\nobjectClass: groupOfNames\ncn:: {}\n", b64(&dn), b64(name));
    if members.is_empty() {
        ldif.push_str(&format!("member:: {}\n", b64(&dn)));
    }
    for m in members {
        ldif.push_str(&format!("member:: {}\n", b64(m)));
    }
    ldif.push('\n');
    ldif
}

fn person_ldif(name: &str) -> String {
    let dn = person_dn(name);
    format!("dn:: {}\nobjectClass: inetOrgPerson\nuid:: {}\ncn:: {}\nsn:: {}\n\n", b64(&dn), b64(name), b64(name), b64(name))
}

/// Adds the entries; true if they are there (added now or before).
fn add(ldap: &LdapServer, ldif: &str) -> bool {
    match ldap.ldapmodify(ldif) {
        Ok(()) => true,
        Err(e) => e.to_string().contains("Already exists"),
    }
}

fn config(ldap: &LdapServer, pw_file: &std::path::Path, extra: serde_json::Value) -> LdapConfig {
    let mut c = serde_json::json!({
        "url": ldap.url(),
        "bind_dn": ldap.admin_dn(),
        "password_file": pw_file,
        "people_dn": ldap.people_dn(),
        "groups_dn": ldap.groups_dn(),
        "services_dn": ldap.services_dn(),
    });
    if let serde_json::Value::Object(extra) = extra {
        c.as_object_mut().unwrap().extend(extra);
    }
    serde_json::from_value(c).unwrap()
}

struct Setup {
    ldap: LdapServer,
    _dir: tempfile::TempDir,
    pw_file: std::path::PathBuf,
}

fn setup(seed: &str) -> Setup {
    let ldap = LdapServer::start_with_ldif(seed).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("ldap-password");
    std::fs::write(&pw_file, format!("{}\n", ldap.admin_password())).unwrap();
    Setup { ldap, _dir: dir, pw_file }
}

fn connector(s: &Setup, extra: serde_json::Value) -> Arc<LdapConnector> {
    Arc::new(LdapConnector::new(&TargetId::parse(TARGET).unwrap(), &config(&s.ldap, &s.pw_file, extra)).unwrap())
}

#[tokio::test]
async fn the_ldap_connector_keeps_the_contract() {
    let s = setup("");
    let l = &s.ldap;
    assert!(add(l, &person_ldif(PERSON)));
    assert!(add(l, &group_ldif("readers", &[])));
    assert!(add(l, &group_ldif("writers", &[])));
    let c = connector(&s, serde_json::Value::Null);
    let Setup { ldap, _dir, pw_file: _ } = s;
    // `stop`/`start` need the server mutably, the others share it.
    let server = RefCell::new(ldap);
    contract::run(Fixture {
        connector: c,
        person: PERSON.into(),
        resource: "readers".into(),
        other_resource: "writers".into(),
        service_account: Some("svc-writ-bot".into()),
        make_resource: Box::new(|name| {
            let l = server.borrow();
            add(&l, &group_ldif(name, &[]))
        }),
        make_person: Box::new(|name| {
            let l = server.borrow();
            add(&l, &person_ldif(name))
        }),
        stop: Box::new(|| server.borrow_mut().stop()),
        start: Box::new(|| server.borrow_mut().start_again().unwrap()),
    })
    .await;
}

fn members(ldap: &LdapServer, group: &str) -> BTreeSet<String> {
    let out = ldap.ldapsearch(&group_dn(group), "(objectClass=*)", &["member"]).unwrap();
    out.lines().filter_map(|l| l.strip_prefix("member: ")).map(str::to_lowercase).collect()
}

fn person(name: &str) -> Account {
    Account { name: name.into(), kind: IdentityKind::Person }
}

#[tokio::test]
async fn scan_pages_over_more_groups_than_one_page() {
    let mut seed = String::new();
    let people: Vec<String> = (0..4).map(|i| format!("p{i}")).collect();
    for p in &people {
        seed.push_str(&person_ldif(p));
    }
    let mut want = BTreeSet::new();
    for g in 0..25 {
        let name = format!("g{g:02}");
        // Every fifth group holds its placeholder beside the people.
        let mut ms: Vec<String> = people.iter().take(1 + g % 4).map(|p| person_dn(p)).collect();
        for p in people.iter().take(1 + g % 4) {
            want.insert((p.clone(), name.clone()));
        }
        if g % 5 == 0 {
            ms.push(group_dn(&name));
        }
        seed.push_str(&group_ldif(&name, &ms));
    }
    let s = setup(&seed);
    for page_size in [1, 4, 1000] {
        let c = connector(&s, serde_json::json!({ "page_size": page_size }));
        let all = scan_all(&*c).await;
        let got: BTreeSet<(String, String)> = all.iter().map(|e| (e.account.clone(), e.resource.clone())).collect();
        assert_eq!(got, want, "page size {page_size}");
        assert!(all.iter().all(|e| e.detail.is_empty()));
        let p0 = c.read_account(&person("p0")).await.unwrap();
        assert_eq!(p0.entitlements.len(), 25, "page size {page_size}: {p0:?}");
        assert!(p0.entitlements.windows(2).all(|w| w[0] < w[1]), "sorted");
    }
}

#[tokio::test]
async fn the_placeholder_member_is_never_reported() {
    let s = setup("");
    let l = &s.ldap;
    for p in ["p0", "p1"] {
        assert!(add(l, &person_ldif(p)));
    }
    // Created by someone else with one real member and no placeholder.
    assert!(add(l, &group_ldif("solo", &[person_dn("p0")])));
    assert!(add(l, &group_ldif("empty", &[])));
    let c = connector(&s, serde_json::Value::Null);
    let o = order(TARGET, "p0", IdentityKind::Person, "solo");
    assert_eq!(c.revoke(&o).await.unwrap(), Applied::Changed, "the last real member goes");
    assert_eq!(members(l, "solo"), BTreeSet::from([group_dn("solo").to_lowercase()]), "the placeholder took its place");
    assert!(scan_all(&*c).await.is_empty(), "placeholders are not live state");
    assert!(c.read_account(&person("p0")).await.unwrap().entitlements.is_empty());
    assert_eq!(c.grant(&o).await.unwrap(), Applied::Changed);
    assert_eq!(c.grant(&order(TARGET, "p1", IdentityKind::Person, "empty")).await.unwrap(), Applied::Changed);
    let all: Vec<(String, String)> = scan_all(&*c).await.into_iter().map(|e| (e.account, e.resource)).collect();
    assert_eq!(all, vec![("p0".into(), "solo".into()), ("p1".into(), "empty".into())]);
    assert_eq!(c.revoke(&o).await.unwrap(), Applied::Changed);
    assert_eq!(c.revoke(&o).await.unwrap(), Applied::AlreadyAbsent);

    // A configured placeholder is used instead, and not reported either.
    let nobody = "cn=nobody,dc=writ,dc=test";
    assert!(add(l, &group_ldif("solo2", &[person_dn("p0")])));
    let c2 = connector(&s, serde_json::json!({ "empty_member": nobody }));
    assert_eq!(c2.revoke(&order(TARGET, "p0", IdentityKind::Person, "solo2")).await.unwrap(), Applied::Changed);
    assert_eq!(members(l, "solo2"), BTreeSet::from([nobody.to_owned()]));
    let all: Vec<(String, String)> = scan_all(&*c2).await.into_iter().map(|e| (e.account, e.resource)).collect();
    assert_eq!(all, vec![("p1".into(), "empty".into())], "neither the group's own DN nor empty_member is reported");
}

#[tokio::test]
async fn names_the_directory_matches_as_equal_are_refused() {
    let s = setup("");
    let l = &s.ldap;
    assert!(add(l, &person_ldif("alice")));
    assert!(add(l, &group_ldif("readers", &[])));
    let svc = format!("dn: uid=bot,{}\nobjectClass: account\nuid: bot\n\n", l.services_dn());
    assert!(add(l, &svc));
    let c = connector(&s, serde_json::Value::Null);
    let before = members(l, "readers");
    for (account, kind, resource) in [
        ("Alice", IdentityKind::Person, "readers"),
        ("alice ", IdentityKind::Person, "readers"),
        ("alice", IdentityKind::Person, "READERS"),
        ("BOT", IdentityKind::ServiceAccount, "readers"),
    ] {
        let o = order(TARGET, account, kind, resource);
        match c.grant(&o).await {
            Err(ConnectorError::Permanent { detail, .. }) => assert!(detail.contains("same name"), "{detail}"),
            other => panic!("{account:?}/{resource:?}: {other:?}"),
        }
        assert!(matches!(c.revoke(&o).await, Err(ConnectorError::Permanent { .. })), "{account:?}/{resource:?}");
        assert_eq!(members(l, "readers"), before, "nothing changed");
    }
    assert!(matches!(c.read_account(&person("ALICE")).await, Err(ConnectorError::Permanent { .. })));
    assert!(c.read_account(&person("alice")).await.unwrap().exists);
    let o = order(TARGET, "nul\0byte", IdentityKind::Person, "readers");
    assert!(matches!(c.grant(&o).await, Err(ConnectorError::Permanent { .. })));
}

#[tokio::test]
async fn service_account_entries_come_and_go_with_their_groups() {
    let s = setup("");
    let l = &s.ldap;
    assert!(add(l, &group_ldif("readers", &[])));
    assert!(add(l, &group_ldif("writers", &[])));
    let c = connector(&s, serde_json::Value::Null);
    let name = "ci, bot #1";
    let entry = || l.ldapsearch(&l.services_dn(), "(objectClass=account)", &["uid"]).unwrap();
    let (r, w) = (order(TARGET, name, IdentityKind::ServiceAccount, "readers"), order(TARGET, name, IdentityKind::AiAgent, "writers"));
    assert_eq!(c.grant(&r).await.unwrap(), Applied::Changed);
    assert_eq!(c.grant(&w).await.unwrap(), Applied::Changed);
    assert!(entry().contains(&format!("uid: {name}")), "{}", entry());
    assert_eq!(c.revoke(&r).await.unwrap(), Applied::Changed);
    assert!(entry().contains(&format!("uid: {name}")), "kept while it holds a group");
    let state = c.read_account(&Account { name: name.into(), kind: IdentityKind::ServiceAccount }).await.unwrap();
    assert_eq!(state.entitlements.iter().map(|e| e.resource.as_str()).collect::<Vec<_>>(), ["writers"]);
    assert_eq!(c.revoke(&w).await.unwrap(), Applied::Changed);
    assert!(!entry().contains("uid:"), "deleted with its last group: {}", entry());
    assert_eq!(c.revoke(&w).await.unwrap(), Applied::AlreadyAbsent);
    // A person is never created.
    match c.grant(&order(TARGET, "nobody", IdentityKind::Person, "readers")).await {
        Err(ConnectorError::Permanent { detail, .. }) => assert!(detail.contains("no entry"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn members_outside_the_configured_subtrees_carry_their_dn() {
    let s = setup("");
    let l = &s.ldap;
    let other = "cn=Other One,ou=elsewhere,dc=writ,dc=test";
    assert!(add(l, &group_ldif("mixed", &[other.to_owned()])));
    let c = connector(&s, serde_json::Value::Null);
    let all: Vec<_> = scan_all(&*c).await.into_iter().collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!((all[0].account.as_str(), all[0].resource.as_str()), ("Other One", "mixed"));
    assert_eq!(all[0].detail.get("dn").map(String::as_str), Some(other));
}

#[tokio::test]
async fn a_target_down_at_start_is_reached_later() {
    let mut s = setup("");
    assert!(add(&s.ldap, &person_ldif(PERSON)));
    s.ldap.stop();
    let c = connector(&s, serde_json::json!({ "connect_timeout_secs": 2 }));
    let e = c.read_account(&person(PERSON)).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    s.ldap.start_again().unwrap();
    assert!(c.read_account(&person(PERSON)).await.unwrap().exists);
    // And after a restart under an open connection.
    s.ldap.stop();
    assert!(c.read_account(&person(PERSON)).await.unwrap_err().is_transient());
    s.ldap.start_again().unwrap();
    assert!(c.read_account(&person(PERSON)).await.unwrap().exists);
}

#[tokio::test]
async fn the_bind_password_never_shows() {
    let mut s = setup("");
    let l = &s.ldap;
    assert!(add(l, &group_ldif("readers", &[])));
    let secret = l.admin_password().to_owned();
    let good = connector(&s, serde_json::Value::Null);
    let wrong_pw = "wrong-Zq81-password";
    let dir = tempfile::tempdir().unwrap();
    let wrong_file = dir.path().join("pw");
    std::fs::write(&wrong_file, wrong_pw).unwrap();
    let wrong = Arc::new(LdapConnector::new(&TargetId::parse(TARGET).unwrap(), &config(&s.ldap, &wrong_file, serde_json::Value::Null)).unwrap());
    let mut texts = vec![format!("{good:?}"), format!("{wrong:?}"), format!("{:?}", good.info()), format!("{:?}", wrong.info())];
    let e = wrong.read_account(&person(PERSON)).await.unwrap_err();
    assert!(!e.is_transient() && e.to_string().contains("invalidCredentials"), "{e}");
    texts.push(format!("{e} {e:?}"));
    let e = good.grant(&order(TARGET, "nobody", IdentityKind::Person, "readers")).await.unwrap_err();
    texts.push(format!("{e} {e:?}"));
    s.ldap.stop();
    for c in [&good, &wrong] {
        let e = c.grant(&order(TARGET, PERSON, IdentityKind::Person, "readers")).await.unwrap_err();
        assert!(e.is_transient(), "{e}");
        texts.push(format!("{e} {e:?}"));
    }
    for t in texts {
        assert!(!t.contains(&secret) && !t.contains(wrong_pw), "a password shows in: {t}");
    }
}

#[test]
fn config_is_read_from_the_target_table_and_refuses_typos() {
    use writ_connectors::TargetConfig;
    let ok = serde_json::json!({
        "kind": "ldap", "url": "ldap://127.0.0.1:389/", "bind_dn": "cn=admin,dc=x", "password_env": "LDAP_PW",
        "people_dn": "ou=people,dc=x", "groups_dn": "ou=groups,dc=x", "services_dn": "ou=services,dc=x",
    });
    let c: TargetConfig = serde_json::from_value(ok.clone()).unwrap();
    assert_eq!(c.kind(), "ldap");
    let mut typo = ok;
    typo.as_object_mut().unwrap().insert("pasword_file".into(), "/x".into());
    let e = serde_json::from_value::<TargetConfig>(typo).unwrap_err().to_string();
    assert!(e.contains("pasword_file"), "{e}");
}

/// The contract accepts a refusal for any hostile name; the directory can hold
/// all but two of them exactly, so the connector must grant those.
#[tokio::test]
async fn hostile_names_are_held_exactly_but_nul_and_overlong_ones() {
    let s = setup("");
    let l = &s.ldap;
    assert!(add(l, &person_ldif(PERSON)));
    assert!(add(l, &group_ldif("readers", &[])));
    assert!(add(l, &group_ldif("bots", &[])));
    let c = connector(&s, serde_json::Value::Null);
    let mut refused = Vec::new();
    for name in contract::hostile_names() {
        let as_resource = add(l, &group_ldif(&name, &[])) && c.grant(&order(TARGET, PERSON, IdentityKind::Person, &name)).await.is_ok();
        let as_person = add(l, &person_ldif(&name)) && c.grant(&order(TARGET, &name, IdentityKind::Person, "readers")).await.is_ok();
        let as_service = c.grant(&order(TARGET, &name, IdentityKind::ServiceAccount, "bots")).await.is_ok();
        if !(as_resource && as_person && as_service) {
            refused.push((name.chars().take(12).collect::<String>(), as_resource, as_person, as_service));
        }
    }
    let want = vec![("nul\0byte".to_owned(), false, false, false), ("x".repeat(12), false, false, false)];
    assert_eq!(refused, want);
    let all = scan_all(&*c).await;
    let holders = |group: &str| -> BTreeSet<&str> { all.iter().filter(|e| e.resource == group).map(|e| e.account.as_str()).collect() };
    let groups: BTreeSet<&str> = all.iter().filter(|e| e.account == PERSON).map(|e| e.resource.as_str()).collect();
    for name in contract::hostile_names().iter().filter(|n| !n.contains('\0') && n.len() < 1000) {
        assert!(holders("readers").contains(name.as_str()), "person {name:?} is not read back exactly");
        assert!(holders("bots").contains(name.as_str()), "service account {name:?} is not read back exactly");
        assert!(groups.contains(name.as_str()), "group {name:?} is not read back exactly");
    }
}
