//! The store's part of inbound SCIM, on SQLite and on a real PostgreSQL:
//! identities read by id and by owner (an identity write reads no more),
//! the group membership index kept by every identity write, people with
//! their SCIM records, and SCIM groups with their unique names and ids.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::json;
use writ_app::ports::{Change, ScimGroupKey, ScimGroupRecord, ScimUserKey, ScimUserRecord, Store, StoreError, Versioned};
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::{GroupId, IdentityId};
use writ_store::SqlStore;
use writ_testkit::PgServer;

fn id(s: &str) -> IdentityId {
    IdentityId::parse(s).unwrap()
}

fn group(s: &str) -> GroupId {
    GroupId::parse(s).unwrap()
}

fn identity(name: &str, kind: IdentityKind, owner: Option<&str>, groups: &[&str]) -> Identity {
    Identity {
        id: id(name),
        kind,
        status: IdentityStatus::Active,
        display_name: name.to_uppercase(),
        owner: owner.map(id),
        manager: None,
        groups: groups.iter().map(|g| group(g)).collect(),
        attributes: BTreeMap::new(),
        owner_left: None,
    }
}

fn user_record(name: &str, external: Option<&str>, deleted: bool) -> ScimUserRecord {
    let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    ScimUserRecord { id: id(name), external_id: external.map(str::to_owned), deleted, created_at: t, updated_at: t, attributes: json!({ "title": "x" }) }
}

fn group_record(scim_id: &str, g: &str, name: &str) -> ScimGroupRecord {
    let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    ScimGroupRecord {
        id: scim_id.into(),
        group: group(g),
        display_name: name.into(),
        external_id: Some(format!("ext-{scim_id}")),
        created_at: t,
        updated_at: t,
        attributes: json!({}),
    }
}

async fn write(store: &dyn Store, identities: Vec<Versioned<Identity>>) -> Result<(), StoreError> {
    store.commit(Change { identities, ..Default::default() }).await.map(|_| ())
}

async fn scim_store_behaviours(store: Arc<dyn Store>) {
    let s = &*store;
    write(
        s,
        vec![
            Versioned::new(identity("ann", IdentityKind::Person, None, &["ops", "eng"])),
            Versioned::new(identity("bob", IdentityKind::Person, None, &["ops"])),
            Versioned::new(identity("bot", IdentityKind::AiAgent, Some("ann"), &["ops"])),
        ],
    )
    .await
    .unwrap();

    // By id and by owner, with versions; absent ids are left out.
    let by_id = s.identities_by_id(&[id("bob"), id("nobody"), id("ann")]).await.unwrap();
    assert_eq!(by_id.iter().map(|(i, v)| (i.id.as_str(), *v)).collect::<Vec<_>>(), [("ann", 1), ("bob", 1)]);
    let owned = s.identities_owned_by(&[id("ann"), id("bob")]).await.unwrap();
    assert_eq!(owned.iter().map(|(i, _)| i.id.as_str()).collect::<Vec<_>>(), ["bot"]);
    assert!(s.identities_by_id(&[]).await.unwrap().is_empty());

    // Members are people only, by group then id; each write keeps the index.
    let members = s.group_members(&[group("ops"), group("eng")]).await.unwrap();
    let pairs: Vec<(&str, &str)> = members.iter().map(|(g, i)| (g.as_str(), i.as_str())).collect();
    assert_eq!(pairs, [("eng", "ann"), ("ops", "ann"), ("ops", "bob")]);
    let mut ann = identity("ann", IdentityKind::Person, None, &["eng"]);
    write(s, vec![Versioned::update(ann.clone(), 1)]).await.unwrap();
    let ops: Vec<String> = s.group_members(&[group("ops")]).await.unwrap().into_iter().map(|(_, i)| i.to_string()).collect();
    assert_eq!(ops, ["bob"]);
    // A failed write leaves the index as it was.
    ann.groups = BTreeSet::from([group("ops")]);
    let stale = write(s, vec![Versioned::update(ann.clone(), 1)]).await.unwrap_err();
    assert!(matches!(stale, StoreError::VersionConflict { .. }), "{stale:?}");
    assert_eq!(s.group_members(&[group("ops")]).await.unwrap().len(), 1);

    // People with their SCIM records: all, by id, by externalId.
    let rows = s.scim_users(&ScimUserKey::All).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.identity.id.as_str()).collect::<Vec<_>>(), ["ann", "bob"], "people only");
    assert!(rows.iter().all(|r| r.record.is_none()));
    let scim = |users: Vec<Versioned<ScimUserRecord>>| Change { scim: writ_app::ports::ScimChange { users, ..Default::default() }, ..Default::default() };
    s.commit(scim(vec![Versioned::new(user_record("bob", Some("00u-bob"), false))])).await.unwrap();
    let dup = s.commit(scim(vec![Versioned::new(user_record("bob", None, false))])).await.unwrap_err();
    assert!(matches!(dup, StoreError::Duplicate { .. }), "{dup:?}");
    let bob = s.scim_users(&ScimUserKey::ExternalId("00u-bob".into())).await.unwrap();
    assert_eq!(bob.len(), 1);
    let (rec, v) = bob[0].record.clone().unwrap();
    assert_eq!((rec.external_id.as_deref(), rec.attributes.clone(), v), (Some("00u-bob"), json!({ "title": "x" }), 1));
    assert!(s.scim_users(&ScimUserKey::ExternalId("00u-none".into())).await.unwrap().is_empty());
    // Deleting is a compare-and-swap of the record, and hides bob from members.
    let stale = s.commit(scim(vec![Versioned::update(user_record("bob", None, true), 7)])).await.unwrap_err();
    assert!(matches!(stale, StoreError::VersionConflict { .. }), "{stale:?}");
    s.commit(scim(vec![Versioned::update(user_record("bob", Some("00u-bob"), true), 1)])).await.unwrap();
    assert!(s.group_members(&[group("ops")]).await.unwrap().is_empty(), "a deleted user is no member");
    let rows = s.scim_users(&ScimUserKey::Ids(vec![id("bob"), id("ann")])).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| (r.identity.id.as_str(), r.record.as_ref().map(|(r, v)| (r.deleted, *v)))).collect::<Vec<_>>(),
        [("ann", None), ("bob", Some((true, 2)))]
    );
    let (total, live) = s.scim_user_page(0, 10).await.unwrap();
    assert_eq!((total, live), (1, vec![id("ann")]), "people SCIM has not deleted, by id");
    assert_eq!(s.scim_user_page(1, 10).await.unwrap(), (1, vec![]));

    // Groups: unique Writ group id and name, looked up without regard to case.
    let groups = |groups: Vec<Versioned<ScimGroupRecord>>, deleted_groups: Vec<Versioned<String>>| Change {
        scim: writ_app::ports::ScimChange { groups, deleted_groups, ..Default::default() },
        ..Default::default()
    };
    s.commit(groups(vec![Versioned::new(group_record("g1", "eng", "Eng"))], vec![])).await.unwrap();
    let same_group = s.commit(groups(vec![Versioned::new(group_record("g2", "eng", "Engineering"))], vec![])).await.unwrap_err();
    assert!(matches!(same_group, StoreError::Duplicate { .. }), "{same_group:?}");
    let same_name = s.commit(groups(vec![Versioned::new(group_record("g3", "eng2", "ENG"))], vec![])).await.unwrap_err();
    assert!(matches!(same_name, StoreError::Duplicate { .. }), "{same_name:?}");
    let found = s.scim_groups(&ScimGroupKey::DisplayName("eNg".into())).await.unwrap();
    assert_eq!(found.iter().map(|(g, v)| (g.id.as_str(), *v)).collect::<Vec<_>>(), [("g1", 1)]);
    assert_eq!(s.scim_groups(&ScimGroupKey::Groups(vec![group("eng")])).await.unwrap().len(), 1);
    assert_eq!(s.scim_groups(&ScimGroupKey::ExternalId("ext-g1".into())).await.unwrap().len(), 1);
    assert_eq!(s.scim_groups(&ScimGroupKey::Ids(vec!["g1".into(), "nope".into()])).await.unwrap().len(), 1);
    s.commit(groups(vec![Versioned::update(group_record("g1", "eng", "Engineering"), 1)], vec![])).await.unwrap();
    let stale = s.commit(groups(vec![], vec![Versioned::update("g1".to_owned(), 1)])).await.unwrap_err();
    assert!(matches!(stale, StoreError::VersionConflict { .. }), "{stale:?}");
    s.commit(groups(vec![], vec![Versioned::update("g1".to_owned(), 2)])).await.unwrap();
    assert!(s.scim_groups(&ScimGroupKey::All).await.unwrap().is_empty());

    // Many ids at once: the reads split them into chunks and keep the order.
    let many: Vec<Versioned<Identity>> = (0..1200).map(|n| Versioned::new(identity(&format!("p{n:04}"), IdentityKind::Person, None, &["big"]))).collect();
    write(s, many).await.unwrap();
    let ids: Vec<IdentityId> = (0..1200).rev().map(|n| id(&format!("p{n:04}"))).collect();
    let rows = s.scim_users(&ScimUserKey::Ids(ids.clone())).await.unwrap();
    assert_eq!(rows.len(), 1200);
    assert!(rows.windows(2).all(|w| w[0].identity.id < w[1].identity.id), "ordered by id");
    assert_eq!(s.identities_by_id(&ids).await.unwrap().len(), 1200);
    assert_eq!(s.group_members(&[group("big")]).await.unwrap().len(), 1200);
    let (total, page) = s.scim_user_page(600, 3).await.unwrap();
    assert_eq!((total, page), (1201, vec![id("p0599"), id("p0600"), id("p0601")]), "ann, then p0000…: position 600 is p0599");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_store_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/writ.db", dir.path().display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url).await.unwrap());
    scim_store_behaviours(store.clone()).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_store_on_postgres() {
    let pg = PgServer::start().expect("PostgreSQL for the store tests (run scripts/install-test-deps.sh)");
    let url = pg.create_database("writ").unwrap();
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url).await.unwrap());
    scim_store_behaviours(store.clone()).await;
    store.close().await;
}
