#![allow(dead_code)] // each test binary uses what it needs

//! The router-test harness shared by this crate's test binaries: the demo install
//! (`writ init`) on a temp SQLite file, driven through the real router and
//! middleware without a socket.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;
use writ_app::ports::Clock;
use writ_server::config::Config;

pub mod slack;
pub mod webhook;

pub struct Harness {
    _dir: tempfile::TempDir,
    pub router: Router,
    pub app: writ_server::App,
    pub tokens: HashMap<String, String>,
}

/// The demo install, with `edit` applied to its policy directory before the app
/// is built, on `clock` (the system clock if `None`).
pub async fn harness_with(edit: impl FnOnce(&Path), clock: Option<Arc<dyn Clock>>) -> Harness {
    harness_adapted(edit, clock, |_| {}).await
}

/// [`harness_with`], with `adapt` wrapping the configured connectors (to put
/// a misbehaving target in front of a real one).
pub async fn harness_adapted(edit: impl FnOnce(&Path), clock: Option<Arc<dyn Clock>>, adapt: impl FnOnce(&mut writ_server::Connectors)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let report = writ_server::init::init(dir.path(), false).await.unwrap();
    edit(&dir.path().join("policies"));
    let cfg = Config::load_from(&report.config, std::iter::empty()).unwrap();
    let clock = clock.unwrap_or_else(|| Arc::new(writ_server::clock::SystemClock));
    let (app, _) = writ_server::build_with_connectors(&cfg, clock, adapt).await.unwrap();
    let router = writ_server::serve::router(app.clone(), cfg.max_body_bytes);
    Harness { _dir: dir, router, app, tokens: report.tokens.into_iter().collect() }
}

/// A clock the test moves by hand.
pub struct ManualClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock(std::sync::Mutex::new(chrono::DateTime::from_timestamp_millis(1_800_000_000_000).unwrap())))
    }

    pub fn advance(&self, by: chrono::TimeDelta) {
        *self.0.lock().unwrap() += by;
    }
}

/// The demo install plus a live PostgreSQL target `pg-live` with the low-risk
/// entitlement `pg-live/reporting` (owner oscar; auto-approved for oneself, up
/// to 8h), with `extra_config` appended to writ.toml (given the data dir).
pub async fn harness_with_pg(pg_url: String, clock: Arc<ManualClock>, extra_config: impl FnOnce(&Path) -> String) -> Harness {
    harness_with_pg_adapted(pg_url, clock, extra_config, |_| {}).await
}

/// [`harness_with_pg`], with `adapt` wrapping the configured connectors.
pub async fn harness_with_pg_adapted(
    pg_url: String,
    clock: Arc<ManualClock>,
    extra_config: impl FnOnce(&Path) -> String,
    adapt: impl FnOnce(&mut writ_server::Connectors),
) -> Harness {
    harness_adapted(
        move |policies| {
            let data = policies.parent().unwrap();
            let mut catalog = std::fs::read_to_string(data.join("catalog.toml")).unwrap();
            catalog.push_str(
                "\n[[targets]]\nid = \"pg-live\"\nowners = [\"olivia\"]\nfulfilment = { kind = \"connector\" }\n\n\
                 [[entitlements]]\nid = \"pg-live/reporting\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n\
                 stages = [{ name = \"manager\", approvers = \"subject_manager\", required = 1 }]\n",
            );
            std::fs::write(data.join("catalog.toml"), catalog).unwrap();
            let mut config = std::fs::read_to_string(data.join("writ.toml")).unwrap();
            config.push_str(&format!("\n[targets.pg-live]\nkind = \"postgres\"\nurl = \"{pg_url}\"\n"));
            config.push_str(&extra_config(data));
            std::fs::write(data.join("writ.toml"), config).unwrap();
        },
        Some(clock),
        adapt,
    )
    .await
}

pub async fn harness() -> Harness {
    harness_with(|_| {}, None).await
}

impl Harness {
    /// One HTTP call as `who` (`None`: no token); the body parsed as JSON, or as a
    /// JSON string when it is not JSON.
    pub async fn call(&self, who: Option<&str>, method: &str, uri: &str, body: Option<String>) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(w) = who {
            req = req.header("authorization", format!("Bearer {}", self.tokens[w]));
        }
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b)).unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    pub async fn get(&self, who: &str, uri: &str) -> (StatusCode, Value) {
        self.call(Some(who), "GET", uri, None).await
    }

    /// `GET` a list as `who`: the status, the target of its `Link: <…>;
    /// rel="next"` header if it has one, and the body.
    pub async fn get_page(&self, who: &str, uri: &str) -> (StatusCode, Option<String>, Value) {
        let req = Request::builder().method("GET").uri(uri).header("authorization", format!("Bearer {}", self.tokens[who])).body(Body::empty()).unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let links: Vec<String> = resp.headers().get_all("link").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        assert!(links.len() <= 1, "one Link header at most: {links:?}");
        let next = links.first().map(|l| {
            let target = l.strip_prefix('<').and_then(|l| l.strip_suffix(">; rel=\"next\"")).unwrap_or_else(|| panic!("not a rel=next link: {l}"));
            target.to_owned()
        });
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, next, value)
    }

    pub async fn post(&self, who: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(Some(who), "POST", uri, Some(body.to_string())).await
    }
}
