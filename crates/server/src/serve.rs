//! Building the application from configuration, and serving it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use writ_app::{Settings, Writ};
use writ_core::identity::Identity;
use writ_policy::PolicyEngine;
use writ_store::SqlStore;

use crate::config::{Config, Resolved};
use crate::metrics::Metrics;
use crate::{catalog_file, routes, signing, workers};

/// Shared state of the HTTP handlers and workers.
#[derive(Clone)]
pub struct App {
    pub writ: Arc<Writ>,
    pub metrics: Arc<Metrics>,
    pub signing_key: Arc<SigningKey>,
}

/// Opens the store and loads catalog and policies: everything but the socket.
pub async fn build(cfg: &Config) -> anyhow::Result<(App, Resolved)> {
    build_with_clock(cfg, Arc::new(crate::clock::SystemClock)).await
}

/// [`build`] with an injected clock, so tests can move time.
pub async fn build_with_clock(cfg: &Config, clock: Arc<dyn writ_app::ports::Clock>) -> anyhow::Result<(App, Resolved)> {
    build_with_connectors(cfg, clock, |_| {}).await
}

/// The connector of each catalog target, by target id.
pub type Connectors = std::collections::BTreeMap<writ_core::ids::TargetId, Arc<dyn writ_app::ports::Connector>>;

/// [`build_with_clock`], letting `adapt` wrap the configured connectors
/// before the app takes them: fault-injection tests put a target that
/// misbehaves in a given way in front of a real one.
pub async fn build_with_connectors(
    cfg: &Config,
    clock: Arc<dyn writ_app::ports::Clock>,
    adapt: impl FnOnce(&mut Connectors),
) -> anyhow::Result<(App, Resolved)> {
    let r = cfg.resolve()?;
    let catalog = catalog_file::load_catalog(&r.catalog)?;
    let policy = PolicyEngine::load_dir(&r.policies)?;
    let store = SqlStore::open(&r.database_url).await?;
    let identities: Vec<Identity> = writ_app::ports::Store::identities(&store).await?;
    catalog.check_owners(|id| identities.iter().find(|i| &i.id == id)).map_err(|e| anyhow::anyhow!("`{}`: {e}", r.catalog.display()))?;
    let signing_key = signing::load_or_create(&r.data_dir)?;
    let metrics = Arc::new(Metrics::default());
    let settings = Settings {
        lapse_after: r.lapse_after.as_delta(),
        removal_overdue_after: r.removal_overdue_after.as_delta(),
        job_lease: r.job_lease.as_delta(),
        break_glass_review_within: r.break_glass_review_within.as_delta(),
        break_glass_max_unreviewed: r.break_glass_max_unreviewed,
        node: r.node_id.clone(),
        ..Settings::default()
    };
    let mut connectors = writ_connectors::for_catalog(&catalog, &cfg.targets).map_err(|e| anyhow::anyhow!("`{}`: {e}", r.catalog.display()))?;
    adapt(&mut connectors);
    let readable: Vec<_> = connectors.iter().filter(|(_, c)| c.info().reads_live_state).map(|(t, _)| t.clone()).collect();
    let (reconcile, reconcile_every) = cfg.reconcile.resolve(&readable)?;
    let settings = Settings { reconcile, reconcile_every, reconcile_max_actions: cfg.reconcile.max_actions.unwrap_or(1000), ..settings };
    let mut writ = Writ::new(Arc::new(store), Arc::new(policy), Arc::new(catalog), clock, settings).with_observer(metrics.clone()).with_connectors(connectors);
    if let Some(webhook) = &cfg.notifications {
        let notifier = writ_connectors::webhook::WebhookNotifier::new(webhook)?;
        tracing::info!(receiver = %writ_app::ports::Notifier::describe(&notifier), "notifications go to a webhook");
        writ = writ.with_notifier(Arc::new(notifier));
    }
    Ok((App { writ: Arc::new(writ), metrics, signing_key: Arc::new(signing_key) }, r))
}

async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched".to_owned(), |m| m.as_str().to_owned());
    let started = Instant::now();
    let resp = next.run(req).await;
    app.metrics.observe_http(&method, &route, started.elapsed());
    tracing::debug!(%method, %route, status = resp.status().as_u16(), "http");
    resp
}

/// The router with its middleware; tests call it without a socket.
pub fn router(app: App, max_body_bytes: usize) -> Router {
    routes::router().route_layer(middleware::from_fn_with_state(app.clone(), observe)).layer(RequestBodyLimitLayer::new(max_body_bytes)).with_state(app)
}

/// Serves until SIGINT or SIGTERM, then signs a last checkpoint.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let (app, r) = build(&cfg).await?;
    let listener = TcpListener::bind(r.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on `{}` (config key `listen`): {e}", r.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    if let Err(e) = app.writ.schedule_reconciliation().await {
        tracing::error!(error = %e, "could not schedule reconciliation");
    }
    let worker = tokio::spawn(workers::run(app.clone(), r.checkpoint_every.as_delta().to_std()?, stopped));
    tracing::info!(%addr, database = %writ_store::redact(&r.database_url), "writ is serving");
    println!("writ is serving on http://{addr}");
    axum::serve(listener, router(app.clone(), cfg.max_body_bytes)).with_graceful_shutdown(wait_for_signal()).await?;
    let _ = stop.send(true);
    let _ = worker.await;
    if let Err(e) = app.writ.checkpoint(&app.signing_key).await {
        tracing::error!(error = %e, "could not sign the final checkpoint");
    }
    app.writ.store().close().await;
    tracing::info!("writ stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
