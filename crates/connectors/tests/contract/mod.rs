//! The connector contract suite: the same behaviours, run against every
//! connector on its real server. Each connector's test file sets up its server
//! (an existing person account and the resources to grant) and calls [`run`].

#![allow(dead_code)] // each test binary uses what its connector needs

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use writ_app::ports::{Account, Applied, Connector, ConnectorError, LiveEntitlement, Order};
use writ_core::identity::IdentityKind;
use writ_core::ids::{EntitlementId, IdentityId, RequestId};

pub type Step<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// What a connector's test provides.
pub struct Fixture<'a> {
    pub connector: Arc<dyn Connector>,
    /// A person whose account exists on the target and holds nothing managed.
    pub person: String,
    /// Resources that exist on the target (roles, groups, ACL profiles, SCIM groups).
    pub resource: String,
    pub other_resource: String,
    /// A non-human identity with no account yet; `None` if the connector
    /// manages no accounts.
    pub service_account: Option<String>,
    /// Makes `name` exist on the target as a resource, by the plain client, for
    /// hostile-name tests; returns false if the target cannot hold that name at all.
    pub make_resource: Box<dyn Fn(&str) -> bool + 'a>,
    /// Makes a person account `name` exist, as above.
    pub make_person: Box<dyn Fn(&str) -> bool + 'a>,
    /// Stops the target's server / starts it again on the same port.
    pub stop: Box<dyn FnMut() + 'a>,
    pub start: Box<dyn FnMut() + 'a>,
}

pub fn order(target: &str, account: &str, kind: IdentityKind, resource: &str) -> Order {
    Order {
        request: RequestId::parse("req-00000000000000000000000000000001").unwrap(),
        subject: IdentityId::parse("contract-subject").unwrap(),
        account: Account { name: account.to_owned(), kind },
        entitlement: EntitlementId::parse(&format!("{target}/contract")).unwrap(),
        resource: resource.to_owned(),
        expires_at: Some(chrono::DateTime::from_timestamp(4_102_444_800, 0).unwrap()), // 2100-01-01
    }
}

pub async fn scan_all(c: &dyn Connector) -> BTreeSet<LiveEntitlement> {
    let mut all = BTreeSet::new();
    let n = c
        .scan(&mut |e| {
            all.insert(e);
        })
        .await
        .expect("scan");
    assert_eq!(n as usize, all.len(), "scan counts what it hands over, once each");
    all
}

fn live(account: &str, resource: &str, all: &BTreeSet<LiveEntitlement>) -> bool {
    all.iter().any(|e| e.account == account && e.resource == resource)
}

/// Runs every behaviour of the contract.
pub async fn run(mut f: Fixture<'_>) {
    let c = f.connector.clone();
    let target = c.info().target.clone();
    grant_verify_revoke_idempotently(&*c, &target, &f.person, &f.resource, &f.other_resource).await;
    if let Some(sa) = &f.service_account {
        service_account_lifecycle(&*c, &target, sa, &f.resource).await;
    }
    hostile_names_are_exact_or_refused(&f, &target).await;
    target_down_is_transient(&mut f, &target).await;
}

async fn grant_verify_revoke_idempotently(c: &dyn Connector, target: &str, person: &str, resource: &str, other: &str) {
    let account = Account { name: person.to_owned(), kind: IdentityKind::Person };
    let o = order(target, person, IdentityKind::Person, resource);
    let before = c.read_account(&account).await.expect("read before");
    assert!(before.exists, "the person's account exists");
    assert!(!before.holds(resource), "starts without {resource}: {before:?}");

    assert_eq!(c.grant(&o).await.expect("grant"), Applied::Changed);
    let after = c.read_account(&account).await.expect("read after");
    assert!(after.holds(resource), "read-back shows the grant: {after:?}");
    assert!(!after.holds(other), "and nothing else: {after:?}");
    assert_eq!(c.grant(&o).await.expect("re-grant"), Applied::AlreadyPresent);
    assert_eq!(c.read_account(&account).await.unwrap(), after, "a re-grant changes nothing");
    assert!(live(person, resource, &scan_all(c).await), "the scan shows it");

    assert_eq!(c.revoke(&o).await.expect("revoke"), Applied::Changed);
    let gone = c.read_account(&account).await.expect("read after revoke");
    assert!(!gone.holds(resource), "read-back shows the revoke: {gone:?}");
    assert!(gone.exists, "a person's account is never removed by Writ");
    assert_eq!(c.revoke(&o).await.expect("re-revoke"), Applied::AlreadyAbsent);
    assert!(!live(person, resource, &scan_all(c).await), "the scan no longer shows it");

    let never = order(target, person, IdentityKind::Person, "writ-no-such-resource");
    match c.grant(&never).await {
        Err(ConnectorError::Permanent { detail, .. }) => assert!(!detail.is_empty()),
        other => panic!("granting an unknown resource must be a permanent error, got {other:?}"),
    }
}

async fn service_account_lifecycle(c: &dyn Connector, target: &str, sa: &str, resource: &str) {
    let account = Account { name: sa.to_owned(), kind: IdentityKind::ServiceAccount };
    assert!(!c.read_account(&account).await.unwrap().exists, "the service account starts absent");
    let o = order(target, sa, IdentityKind::ServiceAccount, resource);
    assert_eq!(c.grant(&o).await.unwrap(), Applied::Changed);
    let after = c.read_account(&account).await.unwrap();
    assert!(after.exists && after.holds(resource), "created with the grant: {after:?}");
    assert_eq!(c.grant(&o).await.unwrap(), Applied::AlreadyPresent);
    assert_eq!(c.revoke(&o).await.unwrap(), Applied::Changed);
    let gone = c.read_account(&account).await.unwrap();
    assert!(!gone.holds(resource), "{gone:?}");
    assert!(
        !gone.exists || gone.attributes.get("enabled").map(String::as_str) == Some("false"),
        "a service account without entitlements is removed or disabled: {gone:?}"
    );
    assert_eq!(c.revoke(&o).await.unwrap(), Applied::AlreadyAbsent);
}

/// Names that must be handled exactly or refused, never misread.
pub fn hostile_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "o'brien",
        "quote\"d",
        "semi;colon",
        "a,b+c\"d\\e<f>g;h=i",
        "star*",
        "(paren)",
        "back\\slash",
        "new\nline",
        "nul\0byte",
        "dash-dash -- comment",
        "'; DROP TABLE x; --",
        "*)(uid=*))(|(uid=*",
        "ünïcödé-名前",
        "trailing ",
        " leading",
        "UPPER",
        "dot.name",
        "#hash",
        "a/b",
        "$1",
        "%s%n",
        "cn=admin,dc=writ,dc=test",
        "default",
        "public",
        "postgres",
        "all",
        "on",
        "nopass",
        ">password",
        "~*",
        "+@all",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    names.push("x".repeat(10 * 1024));
    names
}

async fn hostile_names_are_exact_or_refused(f: &Fixture<'_>, target: &str) {
    let c = &*f.connector;
    let baseline = scan_all(c).await;
    for name in hostile_names() {
        let shown: String = name.chars().take(40).collect();
        // As a resource, granted to the ordinary person.
        let exists = (f.make_resource)(&name);
        let o = order(target, &f.person, IdentityKind::Person, &name);
        check_hostile(c, &o, exists, &f.person, &name, &format!("resource {shown:?}")).await;
        // As a person's account, granted the ordinary resource.
        let exists = (f.make_person)(&name);
        let o = order(target, &name, IdentityKind::Person, &f.resource);
        check_hostile(c, &o, exists, &name, &f.resource, &format!("account {shown:?}")).await;
        // Nothing else moved: the managed state is what it was.
        let now = scan_all(c).await;
        assert_eq!(now, baseline, "after {shown:?} the target's managed state changed");
    }
}

/// Either the grant is exact (read back under that very name, and revoked
/// again), or it is refused as permanent with a message; never anything else.
async fn check_hostile(c: &dyn Connector, o: &Order, exists: bool, account: &str, resource: &str, what: &str) {
    match c.grant(o).await {
        Ok(Applied::Changed) => {
            assert!(exists, "{what}: granted something that does not exist on the target");
            let state = c.read_account(&o.account).await.unwrap_or_else(|e| panic!("{what}: read-back failed: {e}"));
            assert!(state.holds(resource), "{what}: read-back does not show exactly that name: {state:?}");
            let all = scan_all(c).await;
            assert!(live(account, resource, &all), "{what}: the scan does not show exactly that name");
            assert_eq!(c.revoke(o).await.unwrap_or_else(|e| panic!("{what}: revoke failed: {e}")), Applied::Changed, "{what}");
            assert!(!c.read_account(&o.account).await.unwrap().holds(resource), "{what}: still held after revoke");
        }
        Ok(other) => panic!("{what}: unexpected {other:?}"),
        Err(ConnectorError::Permanent { detail, .. }) => assert!(!detail.is_empty(), "{what}: a refusal says why"),
        Err(e) => panic!("{what}: a bad name must be refused as permanent, got {e}"),
    }
}

async fn target_down_is_transient(f: &mut Fixture<'_>, target: &str) {
    let c = f.connector.clone();
    let o = order(target, &f.person, IdentityKind::Person, &f.resource);
    (f.stop)();
    let e = c.grant(&o).await.expect_err("a stopped target cannot grant");
    assert!(e.is_transient(), "target down must be retryable: {e}");
    let e = c.read_account(&o.account).await.expect_err("nor read");
    assert!(e.is_transient(), "target down must be retryable: {e}");
    (f.start)();
}
