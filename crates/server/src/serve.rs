//! Building the application from configuration, and serving it.

use std::any::Any;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ed25519_dalek::SigningKey;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use writ_app::{Settings, Writ};
use writ_core::identity::Identity;
use writ_policy::PolicyEngine;
use writ_store::{SqlStore, StoreOptions};

use crate::config::{Config, Resolved};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::{catalog_file, routes, signing, workers};

/// Shared state of the HTTP handlers and workers.
#[derive(Clone)]
pub struct App {
    pub writ: Arc<Writ>,
    pub metrics: Arc<Metrics>,
    pub signing_key: Arc<SigningKey>,
    /// Where each signed checkpoint is also published.
    pub witness: Arc<crate::witness::Witness>,
    /// Sign-in with the organisation's OpenID provider (`[oidc]`), if configured.
    pub oidc: Option<Arc<crate::oidc::Oidc>>,
    /// Inbound SCIM, when `[scim]` is configured.
    pub scim: Option<Arc<crate::scim::ScimService>>,
    /// The service desks whose queues are read (`[request_tracker]`).
    pub desk_polls: Arc<Vec<crate::desk::DeskPoll>>,
}

impl App {
    /// Signs a checkpoint of the log if it grew, and publishes it to the
    /// witnesses. A witness that fails is logged: the checkpoint is stored,
    /// and the next one (which covers it) is published again.
    pub async fn sign_checkpoint(&self) -> Result<Option<writ_core::audit::Checkpoint>, writ_app::AppError> {
        let cp = self.writ.checkpoint(&self.signing_key).await?;
        if let Some(cp) = &cp {
            if let Err(e) = self.witness.publish(cp).await {
                tracing::error!(size = cp.size, error = %e, "a signed checkpoint could not be published to its witness");
            }
        }
        Ok(cp)
    }
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
    // Said before anything connects, on stderr with the other logs.
    for warning in cfg.plaintext_warnings() {
        tracing::warn!("{warning}");
    }
    let catalog = catalog_file::load_catalog(&r.catalog)?;
    let policy = PolicyEngine::load_dir(&r.policies)?;
    let store = SqlStore::open_with(&r.database_url, StoreOptions { sqlite_synchronous: r.sqlite_synchronous }).await?;
    let identities: Vec<Identity> = writ_app::ports::Store::identities(&store).await?;
    catalog.check_owners(|id| identities.iter().find(|i| &i.id == id)).map_err(|e| anyhow::anyhow!("`{}`: {e}", r.catalog.display()))?;
    let signing_key = signing::load(&r.data_dir, r.audit_signing_key_file.as_deref())?;
    let witness = crate::witness::Witness::new(r.audit_witness_dir.clone(), r.audit_witness_url.clone(), r.audit_witness_ca_file.as_deref())?;
    let metrics = Arc::new(Metrics::default());
    let scim = crate::scim::service(cfg.scim.as_ref(), None)?;
    let settings = Settings {
        lapse_after: r.lapse_after.as_delta(),
        removal_overdue_after: r.removal_overdue_after.as_delta(),
        job_lease: r.job_lease.as_delta(),
        break_glass_review_within: r.break_glass_review_within.as_delta(),
        break_glass_max_unreviewed: r.break_glass_max_unreviewed,
        node: r.node_id.clone(),
        tokens: r.tokens,
        on_move: r.on_move,
        owner_left_within: r.owner_left_within.as_delta(),
        ..Settings::default()
    };
    let mut connectors = writ_connectors::for_catalog(&catalog, &cfg.targets).map_err(|e| anyhow::anyhow!("`{}`: {e}", r.catalog.display()))?;
    adapt(&mut connectors);
    let readable: Vec<_> = connectors.iter().filter(|(_, c)| c.info().reads_live_state).map(|(t, _)| t.clone()).collect();
    let (reconcile, reconcile_every) = cfg.reconcile.resolve(&readable)?;
    let settings = Settings { reconcile, reconcile_every, reconcile_max_actions: cfg.reconcile.max_actions.unwrap_or(1000), ..settings };
    let classifier = crate::intake::classifier(&cfg.intake, &catalog)?;
    let mut writ = Writ::new(Arc::new(store), Arc::new(policy), Arc::new(catalog), clock, settings).with_observer(metrics.clone()).with_connectors(connectors);
    if let Some(c) = classifier {
        writ = writ.with_classifier(Arc::new(c));
    }
    let mut desk_polls = Vec::new();
    if let Some((desk, poll)) = crate::desk::request_tracker(cfg.request_tracker.as_ref(), &identities)? {
        tracing::info!(desk = %writ_app::ports::ServiceDesk::describe(&desk), every = ?poll.every, "tickets are taken from a service desk");
        writ = writ.with_desk(Arc::new(desk));
        desk_polls.push(poll);
    }
    if let Some(webhook) = &cfg.notifications {
        let notifier = writ_connectors::webhook::WebhookNotifier::new(webhook)?;
        tracing::info!(receiver = %writ_app::ports::Notifier::describe(&notifier), "notifications go to a webhook");
        writ = writ.with_notifier(Arc::new(notifier));
    }
    let oidc = cfg.oidc.as_ref().map(|o| o.resolve().map(|o| Arc::new(o.with_listen(r.listen)))).transpose()?;
    if let Some(o) = &oidc {
        // Said at start-up, not as a refusal of every sign-in.
        let (session, cap) = (o.session_lifetime(), r.tokens.person);
        if session.secs() > cap.secs() {
            anyhow::bail!(
                "config: `[oidc] session_lifetime` ({session}) is longer than `[tokens] max_lifetime_person` ({cap}): no sign-in could get its token; shorten the first or lengthen the second"
            );
        }
    }
    Ok((App { writ: Arc::new(writ), metrics, signing_key: Arc::new(signing_key), witness: Arc::new(witness), oidc, scim, desk_polls: Arc::new(desk_polls) }, r))
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
    routes::router()
        .merge(crate::scim::router(&app))
        .merge(crate::portal::router())
        .route_layer(middleware::from_fn_with_state(app.clone(), observe))
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .with_state(app)
}

/// Wraps `router` so that no request can take the server down or hold it
/// indefinitely: a handler that panics is answered `500 internal` (the panic
/// is logged, never sent), and one still working after `request_timeout` is
/// answered `503 timeout`. Both answers have the API's error shape.
///
/// The timeout drops the handler's future, but a change already handed to the
/// store may still commit, so the answer tells the caller to check first.
pub fn harden(router: Router, request_timeout: Duration) -> Router {
    // tower-http's timeout answers with the inner response type's `Default`
    // body. Wrapping every body in `Some` beneath it makes its answer the only
    // `None`, so exactly that answer, and no handler's own 503, becomes the
    // JSON timeout error.
    let timeout = ServiceBuilder::new()
        .map_response(move |res: Response<Option<Body>>| {
            let (parts, body) = res.into_parts();
            match body {
                Some(body) => Response::from_parts(parts, body),
                None => timed_out(request_timeout),
            }
        })
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, request_timeout))
        .map_response(|res: Response| res.map(Some));
    // Outermost, so a panic in any layer beneath is caught too.
    router.layer(timeout).layer(CatchPanicLayer::custom(panicked))
}

fn timed_out(request_timeout: Duration) -> Response {
    tracing::warn!(timeout_secs = request_timeout.as_secs(), "a request ran past the request timeout and was answered 503");
    let message = format!(
        "the server did not finish this request within {}s (config key `request_timeout`); a change it started may still complete, so check before you retry",
        request_timeout.as_secs()
    );
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", message).into_response()
}

fn panicked(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied()).unwrap_or("(no message)");
    // The panic's text may hold anything the handler had in hand: the log
    // gets it, the caller does not.
    tracing::error!(panic = detail, "a request handler panicked; the request was answered 500");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server could not complete the request; see its log").into_response()
}

/// A TCP listener that serves at most `max_connections` connections at once,
/// and closes a connection that moves no byte either way for `idle_timeout`.
///
/// It takes a slot before it accepts, so while every slot is taken further
/// connections wait in the operating system's accept queue instead of being
/// accepted and left unanswered; a slot frees when its connection closes. The
/// idle timeout is what frees a slot a client opened and left silent (a
/// keep-alive connection it forgot, or one that sends nothing on purpose to
/// use the slots up): without it such a connection held its slot forever.
pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    idle_timeout: Duration,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, max_connections: usize, idle_timeout: Duration) -> Self {
        Self { inner, slots: Arc::new(Semaphore::new(max_connections)), idle_timeout }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        if self.slots.available_permits() == 0 {
            tracing::debug!("every connection slot is taken (config key `max_connections`); new connections wait until one closes");
        }
        // Nothing closes the semaphore, so acquiring cannot fail.
        let slot = self.slots.clone().acquire_owned().await.expect("the connection semaphore is never closed");
        // axum's own accept retries, and backs off when out of file descriptors.
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let idle = Box::pin(tokio::time::sleep(self.idle_timeout));
        (LimitedStream { stream, _slot: slot, idle, idle_timeout: self.idle_timeout }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection holding its slot of the [`LimitedListener`] until
/// dropped. Every byte read or written pushes its idle deadline back; a read
/// or write still waiting at the deadline fails with `TimedOut`, which makes
/// the HTTP server drop the connection.
pub struct LimitedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    idle: Pin<Box<tokio::time::Sleep>>,
    idle_timeout: Duration,
}

impl LimitedStream {
    /// What a read or write that moved `moved` bytes (or is still waiting,
    /// `None`) means for the connection.
    fn after_io<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>, moved: impl Fn(&T) -> bool) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(Ok(v)) => {
                if moved(&v) {
                    let deadline = tokio::time::Instant::now() + self.idle_timeout;
                    self.idle.as_mut().reset(deadline);
                }
                Poll::Ready(Ok(v))
            }
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    tracing::debug!(idle_secs = self.idle_timeout.as_secs(), "closing a connection idle past `idle_timeout`");
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle past `idle_timeout`")))
                }
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        let moved = buf.filled().len() > before;
        this.after_io(cx, polled, |_| moved)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after_io(cx, polled, |n| *n > 0)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after_io(cx, polled, |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves until SIGINT or SIGTERM, then signs a last checkpoint.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let (app, r) = build(&cfg).await?;
    let listener = TcpListener::bind(r.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on `{}` (config key `listen`): {e}", r.listen))?;
    let serving = start(app, &cfg, &r, listener).await?;
    tracing::info!(addr = %serving.addr, database = %writ_store::redact(&r.database_url), "writ is serving");
    println!("writ is serving on http://{}", serving.addr);
    serving.stop(wait_for_signal()).await
}

/// A server [`start`]ed: the hardened router on its listener, and the
/// background workers `writ serve` runs beside it.
pub struct Serving {
    /// The address it listens on.
    pub addr: SocketAddr,
    app: App,
    http: tokio::task::JoinHandle<io::Result<()>>,
    stop_http: tokio::sync::oneshot::Sender<()>,
    worker: tokio::task::JoinHandle<()>,
    stop_worker: tokio::sync::watch::Sender<bool>,
}

/// Everything `writ serve` runs once the app is built: the scheduled
/// reconciliation, the background workers (jobs, expiries, lapses, overdue
/// checks, checkpoint signing) and the hardened router on `listener`, at most
/// `max_connections` connections at once. Benchmarks start the server this
/// way too, so they measure what a user runs.
pub async fn start(app: App, cfg: &Config, r: &Resolved, listener: TcpListener) -> anyhow::Result<Serving> {
    let addr = listener.local_addr()?;
    let listener = LimitedListener::new(listener, r.max_connections, r.idle_timeout);
    let (stop_worker, stopped) = tokio::sync::watch::channel(false);
    if let Err(e) = app.writ.schedule_reconciliation().await {
        tracing::error!(error = %e, "could not schedule reconciliation");
    }
    let worker = tokio::spawn(workers::run(app.clone(), r.checkpoint_every.as_delta().to_std()?, stopped));
    let router = harden(router(app.clone(), cfg.max_body_bytes), r.request_timeout);
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = http_stopped.await;
            })
            .await
    });
    Ok(Serving { addr, app, http, stop_http, worker, stop_worker })
}

impl Serving {
    /// Once `signal` completes (or the HTTP server fails): stops accepting and
    /// lets the requests under way finish, stops the workers (jobs under way get a grace period to record
    /// their outcome), signs a last checkpoint and closes the store.
    pub async fn stop(self, signal: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let Serving { app, mut http, stop_http, worker, stop_worker, .. } = self;
        // The server ending on its own (it failed) stops the rest too.
        let served = tokio::select! {
            () = signal => {
                let _ = stop_http.send(());
                http.await
            }
            served = &mut http => served,
        };
        let _ = stop_worker.send(true);
        let _ = worker.await;
        if let Err(e) = app.sign_checkpoint().await {
            tracing::error!(error = %e, "could not sign the final checkpoint");
        }
        app.writ.store().close().await;
        tracing::info!("writ stopped");
        served.map_err(|e| anyhow::anyhow!("the HTTP server task failed: {e}"))??;
        Ok(())
    }
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
