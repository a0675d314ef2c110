//! Writ, not the target, proves a change: the read-back decides. A target
//! that acknowledges a change and does not make it (modelled by putting an
//! acknowledging front in front of a real PostgreSQL: the writes it drops
//! never reach the server, while every read goes to the server itself) never
//! gets a grant recorded as verified, nor a removal recorded as done.
//! Also: the expiry of one entitlement is never held back by a grant of
//! another.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::TimeDelta;
use serde_json::{json, Value};
use writ_app::ports::{Account, AccountState, Applied, Connector, ConnectorError, ConnectorInfo, LiveEntitlement, Order};
use writ_core::ids::TargetId;
use writ_testkit::PgServer;

use common::{harness_with_pg_adapted, Harness, ManualClock};

/// Which writes the front acknowledges without passing them on.
#[derive(Clone, Copy)]
enum Drops {
    Grants,
    Revokes,
}

/// A target that answers "changed" to the writes it drops; reads and the
/// other writes go to the real target behind it.
struct Acknowledging {
    real: Arc<dyn Connector>,
    drops: Drops,
}

#[async_trait]
impl Connector for Acknowledging {
    fn info(&self) -> ConnectorInfo {
        self.real.info()
    }
    async fn read_account(&self, account: &Account) -> Result<AccountState, ConnectorError> {
        self.real.read_account(account).await
    }
    async fn scan(&self, sink: &mut (dyn FnMut(LiveEntitlement) + Send)) -> Result<u64, ConnectorError> {
        self.real.scan(sink).await
    }
    async fn grant(&self, order: &Order) -> Result<Applied, ConnectorError> {
        match self.drops {
            Drops::Grants => Ok(Applied::Changed),
            Drops::Revokes => self.real.grant(order).await,
        }
    }
    async fn revoke(&self, order: &Order) -> Result<Applied, ConnectorError> {
        match self.drops {
            Drops::Revokes => Ok(Applied::Changed),
            Drops::Grants => self.real.revoke(order).await,
        }
    }
}

/// The demo with `pg-live` (a real PostgreSQL) offering `reporting` and
/// `payments_admin`, both low risk and auto-approved for oneself; `drops`
/// puts the acknowledging front before it.
async fn setup(drops: Option<Drops>) -> (PgServer, Arc<ManualClock>, Harness) {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE payments_admin NOLOGIN; CREATE ROLE alice LOGIN").unwrap();
    let clock = ManualClock::new();
    let extra = |data: &std::path::Path| {
        let mut catalog = std::fs::read_to_string(data.join("catalog.toml")).unwrap();
        catalog.push_str(
            "\n[[entitlements]]\nid = \"pg-live/payments_admin\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n\
             stages = [{ name = \"manager\", approvers = \"subject_manager\", required = 1 }]\n",
        );
        std::fs::write(data.join("catalog.toml"), catalog).unwrap();
        String::new()
    };
    let h = harness_with_pg_adapted(pg.url(), clock.clone(), extra, |connectors| {
        if let Some(drops) = drops {
            let target = TargetId::parse("pg-live").unwrap();
            let real = connectors.remove(&target).expect("pg-live is configured");
            connectors.insert(target, Arc::new(Acknowledging { real, drops }));
        }
    })
    .await;
    (pg, clock, h)
}

fn holds(pg: &PgServer, role: &str) -> bool {
    pg.psql(&format!(
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
         WHERE r.rolname = '{role}' AND u.rolname = 'alice'"
    ))
    .unwrap()
        == "1"
}

async fn request(h: &Harness, entitlement: &str, duration: &str) -> String {
    let (status, v) =
        h.post("alice", "/v1/requests", json!({ "entitlements": [entitlement], "justification": "month-end numbers", "duration": duration })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(v["state"], "approved", "{v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn shown(h: &Harness, id: &str) -> Value {
    h.get("audrey", &format!("/v1/requests/{id}")).await.1
}

fn kinds(ev: &Value) -> Vec<String> {
    ev["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

/// A grant the target acknowledges and does not show is retried, then its
/// entitlement ends failed with the read-back as evidence: never verified,
/// never a grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_that_does_not_show_on_read_back_is_retried_then_failed_never_verified() {
    let (pg, clock, h) = setup(Some(Drops::Grants)).await;
    let writ = h.app.writ.clone();
    let id = request(&h, "pg-live/reporting", "2h").await;
    for attempt in 1..=writ_app::ports::READ_BACK_ATTEMPTS {
        assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1, "attempt {attempt} runs");
        let ev = shown(&h, &id).await;
        let expected = if attempt < writ_app::ports::READ_BACK_ATTEMPTS { "approved" } else { "failed" };
        assert_eq!(ev["request"]["state"], expected, "after attempt {attempt}: {ev}");
        clock.advance(TimeDelta::minutes(10));
    }
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 0, "no further attempt once failed");
    let ev = shown(&h, &id).await;
    assert!(!holds(&pg, "reporting"));
    assert!(ev["grants"].as_array().unwrap().is_empty(), "no grant for access never shown: {ev}");
    let kinds = kinds(&ev);
    assert!(!kinds.iter().any(|k| k == "entitlement.verified" || k == "grant.started"), "{kinds:?}");
    let failures: Vec<&Value> = ev["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "entitlement.failed").collect();
    assert_eq!(failures.len() as u32, writ_app::ports::READ_BACK_ATTEMPTS, "{kinds:?}");
    let last: Value = serde_json::from_str(failures.last().unwrap()["payload"].as_str().unwrap()).unwrap();
    assert!(last["error"].as_str().unwrap().contains("does not show"), "{last}");
    assert_eq!(last["retryable"], false, "{last}");
    assert!(last["after"]["entitlements"].as_array().unwrap().iter().all(|e| e["resource"] != "reporting"), "the read-back is the evidence: {last}");
}

/// A removal the target acknowledges while the access stays is retried and
/// becomes overdue: the grant never ends as expired while the access is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_that_leaves_the_access_is_retried_and_overdue_never_expired() {
    let (pg, clock, h) = setup(Some(Drops::Revokes)).await;
    let writ = h.app.writ.clone();
    let id = request(&h, "pg-live/reporting", "1h").await;
    writ.run_due_jobs(10).await.unwrap();
    assert!(holds(&pg, "reporting"), "granted for real");
    clock.advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    assert_eq!(writ.expire_due(10).await.unwrap(), 1);
    for _ in 0..4 {
        assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1);
        clock.advance(TimeDelta::minutes(6));
    }
    let ev = shown(&h, &id).await;
    let g = &ev["grants"][0];
    assert_eq!(g["state"], "revoking", "{g}");
    assert_eq!(g["removal"]["overdue"], true, "{g}");
    assert!(g["removal"]["last_error"].as_str().unwrap().contains("still shows"), "{g}");
    assert!(holds(&pg, "reporting"), "the access is still there, and Writ says so");
    assert!(!kinds(&ev).iter().any(|k| k == "grant.removal_verified"), "{:?}", kinds(&ev));
    let (_, overdue) = h.get("audrey", "/v1/grants?overdue=true").await;
    assert_eq!(overdue.as_array().unwrap().len(), 1, "{overdue}");
}

/// Expiry of one entitlement while the subject holds another on the same
/// target: the other is no cover, the access is removed and proved gone, and
/// the other stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_entitlement_expires_while_the_subject_holds_another_and_is_removed() {
    let (pg, clock, h) = setup(None).await;
    let writ = h.app.writ.clone();
    let short = request(&h, "pg-live/reporting", "1h").await;
    let long = request(&h, "pg-live/payments_admin", "4h").await;
    writ.run_due_jobs(10).await.unwrap();
    assert!(holds(&pg, "reporting") && holds(&pg, "payments_admin"));
    clock.advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    assert_eq!(writ.expire_due(10).await.unwrap(), 1);
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1, "a removal job: another entitlement is no cover");
    assert!(!holds(&pg, "reporting"), "removed from the target");
    assert!(holds(&pg, "payments_admin"), "the other entitlement stays");
    let ev = shown(&h, &short).await;
    assert_eq!(ev["grants"][0]["state"], "expired", "{ev}");
    assert!(!kinds(&ev).iter().any(|k| k == "grant.ended_covered"), "{:?}", kinds(&ev));
    assert_eq!(shown(&h, &long).await["grants"][0]["state"], "active");
}
