//! Jobs and their claims, on nodes sharing one real PostgreSQL, against a
//! real PostgreSQL target: a long job (a scheduled reconciliation whose scan
//! is held back, modelled by a front before the real connector that makes
//! `scan` wait until the test opens a gate) holds up no other job, its claim
//! is renewed while it runs, and a reconciliation asked for while another
//! run of the same target is under way, on this node or another, is refused.
//!
//! Waits are bounded and only for liveness: nothing here is timed.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::TimeDelta;
use serde_json::{json, Value};
use tokio::sync::watch;
use tower::ServiceExt;
use writ_app::ports::{Account, AccountState, Applied, Connector, ConnectorError, ConnectorInfo, JobClaim, LiveEntitlement, Order};
use writ_core::ids::{IdentityId, TargetId};
use writ_server::config::Config;
use writ_server::App;
use writ_testkit::PgServer;

use common::ManualClock;

/// Holds back every scan of the target behind it until opened.
struct Gate {
    /// Scans that started (and wait, while the gate is shut).
    entered: AtomicUsize,
    open: watch::Sender<bool>,
}

impl Gate {
    fn shut() -> Arc<Gate> {
        Arc::new(Gate { entered: AtomicUsize::new(0), open: watch::channel(false).0 })
    }

    fn open(&self) {
        self.open.send_replace(true);
    }

    /// Waits until `n` scans have started.
    async fn entered(&self, n: usize) {
        wait_for(&format!("{n} scan(s) to start"), || async { self.entered.load(Ordering::SeqCst) >= n }).await;
    }
}

/// The real connector, with its scan held back by the gate.
struct HeldScan {
    real: Arc<dyn Connector>,
    gate: Arc<Gate>,
}

#[async_trait]
impl Connector for HeldScan {
    fn info(&self) -> ConnectorInfo {
        self.real.info()
    }
    async fn read_account(&self, account: &Account) -> Result<AccountState, ConnectorError> {
        self.real.read_account(account).await
    }
    async fn scan(&self, sink: &mut (dyn FnMut(LiveEntitlement) + Send)) -> Result<u64, ConnectorError> {
        let mut open = self.gate.open.subscribe();
        self.gate.entered.fetch_add(1, Ordering::SeqCst);
        open.wait_for(|o| *o).await.expect("the gate outlives the scan");
        self.real.scan(sink).await
    }
    async fn grant(&self, order: &Order) -> Result<Applied, ConnectorError> {
        self.real.grant(order).await
    }
    async fn revoke(&self, order: &Order) -> Result<Applied, ConnectorError> {
        self.real.revoke(order).await
    }
}

/// Polls `done` until it holds, for at most a minute.
async fn wait_for<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "still waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The real PostgreSQL: the target `pg-live` (its `postgres` database) and
/// Writ's own database `writ`, shared by every node.
struct Setup {
    pg: PgServer,
    db: String,
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
    tokens: std::collections::HashMap<String, String>,
    clock: Arc<ManualClock>,
    gate: Arc<Gate>,
}

/// The demo install with `pg-live/reporting` (low risk, auto-approved for
/// oneself) on the real PostgreSQL, every target reconciled every hour,
/// Writ's database on that PostgreSQL too, seeded with the demo's
/// identities and tokens.
async fn setup() -> Setup {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE alice LOGIN").unwrap();
    let db = pg.create_database("writ").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = writ_server::init::init(dir.path(), false).await.unwrap();
    let data = dir.path();
    let mut catalog = std::fs::read_to_string(data.join("catalog.toml")).unwrap();
    catalog.push_str(
        "\n[[targets]]\nid = \"pg-live\"\nowners = [\"olivia\"]\nfulfilment = { kind = \"connector\" }\n\n\
         [[entitlements]]\nid = \"pg-live/reporting\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n\
         stages = [{ name = \"manager\", approvers = \"subject_manager\", required = 1 }]\n",
    );
    std::fs::write(data.join("catalog.toml"), catalog).unwrap();
    let mut config = std::fs::read_to_string(&report.config).unwrap();
    config.push_str(&format!("\n[targets.pg-live]\nkind = \"postgres\"\nurl = \"{}\"\n\n[reconcile]\nevery = \"1h\"\n", pg.url()));
    std::fs::write(&report.config, config).unwrap();
    seed(&db, data).await;
    let store = writ_store::SqlStore::open(&db).await.unwrap();
    for (who, token) in &report.tokens {
        let id = IdentityId::parse(who).unwrap();
        let record = writ_core::token::Token {
            id: writ_core::ids::TokenId::from_uuid(uuid::Uuid::new_v4()),
            identity: id.clone(),
            owner: id,
            created_by: "operator".into(),
            name: "test".into(),
            scope: None,
            created_at: chrono::Utc::now(),
            expires_at: None,
            revoked: None,
            last_used_at: None,
            version: 1,
        };
        let issue = writ_app::ports::TokenWrite::Issue { token: record, hash: writ_app::tokens::token_hash(token), proof: None };
        writ_app::ports::Store::commit(&store, writ_app::ports::Change { tokens: vec![issue], ..Default::default() }).await.unwrap();
    }
    store.close().await;
    Setup { pg, db, _dir: dir, config: report.config, tokens: report.tokens.into_iter().collect(), clock: ManualClock::new(), gate: Gate::shut() }
}

/// The demo identities, in the shared database (`writ init` wrote them to
/// its own SQLite file).
async fn seed(db: &str, data: &Path) {
    let store = Arc::new(writ_store::SqlStore::open(db).await.unwrap());
    let writ = writ_app::Writ::new(
        store.clone(),
        Arc::new(writ_policy::PolicyEngine::load_dir(&data.join("policies")).unwrap()),
        Arc::new(writ_server::catalog_file::load_catalog(&data.join("catalog.toml")).unwrap()),
        Arc::new(writ_server::clock::SystemClock),
        writ_app::Settings::default(),
    );
    let identities = writ_server::catalog_file::load_identities(&data.join("identities.toml")).unwrap();
    writ.upsert_identities(None, identities).await.unwrap();
    store.close().await;
}

/// One node of the install: its own app (and connectors, with pg-live's
/// scans behind the gate) on the shared database, named `node`, holding
/// claims for `lease`.
struct Node {
    app: App,
    router: Router,
    tokens: std::collections::HashMap<String, String>,
    clock: Arc<ManualClock>,
}

impl Setup {
    async fn node(&self, node: &str, lease: &str) -> Node {
        let vars = [("WRIT_DATABASE_URL", self.db.as_str()), ("WRIT_NODE_ID", node), ("WRIT_JOB_LEASE", lease)];
        let cfg = Config::load_from(&self.config, vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        let gate = self.gate.clone();
        let (app, _) = writ_server::build_with_connectors(&cfg, self.clock.clone(), move |connectors| {
            let target = TargetId::parse("pg-live").unwrap();
            let real = connectors.remove(&target).expect("pg-live is configured");
            connectors.insert(target, Arc::new(HeldScan { real, gate }));
        })
        .await
        .unwrap();
        let router = writ_server::serve::router(app.clone(), cfg.max_body_bytes);
        Node { app, router, tokens: self.tokens.clone(), clock: self.clock.clone() }
    }

    fn holds_reporting(&self) -> bool {
        self.pg
            .psql(
                "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
                 WHERE r.rolname = 'reporting' AND u.rolname = 'alice'",
            )
            .unwrap()
            == "1"
    }
}

impl Node {
    async fn call(&self, who: &str, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let req = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {}", self.tokens[who]));
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
    }

    /// `POST /v1/reconcile` as sam (security may reconcile).
    async fn reconcile(&self, target: Option<&str>) -> (StatusCode, Value) {
        self.call("sam", "POST", "/v1/reconcile", Some(json!({ "target": target }))).await
    }

    /// The claim on `target`'s reconciliation, as the store holds it now.
    async fn reconcile_claim(&self, target: &str) -> Option<JobClaim> {
        let now = writ_app::ports::Clock::now(&*self.clock);
        self.app.writ.store().job_claim(&format!("reconcile:{target}"), now).await.unwrap()
    }

    /// The runs of `target` recorded so far (finished), newest first.
    async fn runs_of(&self, target: &str) -> Vec<Value> {
        let (status, v) = self.call("sam", "GET", &format!("/v1/reconcile/runs?target={target}"), None).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v.as_array().unwrap().clone()
    }

    /// Starts this node's job worker; stopped when the sender is dropped or sent to.
    fn start_worker(&self) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let (stop, stopped) = watch::channel(false);
        (stop, tokio::spawn(writ_server::workers::run_jobs(self.app.clone(), stopped)))
    }
}

/// A scheduled reconciliation whose scan does not end holds up nothing:
/// provisioning queued after it is claimed, put in place on the real target
/// and proved there while the reconciliation is still running; the
/// reconciliation then finishes and queues its next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_does_not_hold_up_the_short_jobs_queued_after_it() {
    let s = setup().await;
    let a = s.node("node-a", "2m").await;
    a.app.writ.schedule_reconciliation().await.unwrap();
    s.clock.advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    let (stop, worker) = a.start_worker();
    s.gate.entered(1).await;
    assert_eq!(a.reconcile_claim("pg-live").await.map(|c| c.node), Some("node-a".to_owned()), "the worker holds the reconciliation");

    let (status, v) =
        a.call("alice", "POST", "/v1/requests", Some(json!({ "entitlements": ["pg-live/reporting"], "justification": "numbers", "duration": "2h" }))).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(v["state"], "approved", "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    wait_for("the provisioning to complete", || async { a.call("audrey", "GET", &format!("/v1/requests/{id}"), None).await.1["request"]["state"] == "active" })
        .await;
    assert!(s.holds_reporting(), "granted on the real target");
    assert!(a.runs_of("pg-live").await.is_empty(), "the reconciliation is still under way");
    assert_eq!(s.gate.entered.load(Ordering::SeqCst), 1);

    s.gate.open();
    wait_for("the scheduled run to finish", || async { !a.runs_of("pg-live").await.is_empty() }).await;
    let runs = a.runs_of("pg-live").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!((&runs[0]["by"], &runs[0]["state"]), (&json!("schedule"), &json!("done")), "{}", runs[0]);
    wait_for("the claim to be given back", || async { a.reconcile_claim("pg-live").await.is_none() }).await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(60), worker).await.expect("the worker stops").unwrap();
}

/// One reconciliation run of a target at a time, across nodes: while a run
/// asked for on node A is under way (longer than a lease: its claim is
/// renewed), another asked for on node B, or on A again, is refused with 409
/// naming node A; asking for every target is refused as a whole and claims
/// nothing. Once the run ends, a run can be asked for again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconciliation_asked_for_while_one_is_under_way_is_refused() {
    let s = setup().await;
    let a = s.node("node-a", "3s").await;
    let b = s.node("node-b", "3s").await;

    let (status, v) = a.reconcile(Some("pg-live")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let first = v[0]["run"].as_str().unwrap().to_owned();
    s.gate.entered(1).await;

    let refused = |(status, v): (StatusCode, Value)| {
        assert_eq!(status, StatusCode::CONFLICT, "{v}");
        let message = v["message"].as_str().unwrap().to_owned();
        assert!(message.contains("`pg-live`") && message.contains("node `node-a`"), "names the target and the node: {message}");
        assert!(message.contains("wait") && message.contains("writ reconcile list"), "says what to do: {message}");
    };
    refused(b.reconcile(Some("pg-live")).await);
    refused(a.reconcile(Some("pg-live")).await);

    // Past the lease the run took its claim for: renewed, so still refused.
    s.clock.advance(TimeDelta::seconds(10));
    wait_for("the claim to be renewed", || async { b.reconcile_claim("pg-live").await.is_some_and(|c| c.node == "node-a") }).await;
    refused(b.reconcile(Some("pg-live")).await);

    // Every target: refused as a whole; the free ones are not kept claimed.
    refused(b.reconcile(None).await);
    assert_eq!(b.reconcile_claim("pg-demo").await, None, "nothing claimed by a refused request");
    assert_eq!(s.gate.entered.load(Ordering::SeqCst), 1, "no second scan of pg-live began");

    s.gate.open();
    wait_for("the first run to finish", || async { a.call("sam", "GET", &format!("/v1/reconcile/runs/{first}"), None).await.1["run"]["state"] == "done" })
        .await;
    wait_for("the claim to be given back", || async { a.reconcile_claim("pg-live").await.is_none() }).await;
    let (status, v) = b.reconcile(Some("pg-live")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "free again: {v}");
    let second = v[0]["run"].as_str().unwrap().to_owned();
    wait_for("the second run to finish", || async { b.call("sam", "GET", &format!("/v1/reconcile/runs/{second}"), None).await.1["run"]["state"] == "done" })
        .await;
    assert_eq!(a.runs_of("pg-live").await.len(), 2, "one run at a time, each to its end");
}
