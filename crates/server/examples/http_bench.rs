//! Requests submitted and decided per second through the HTTP API.
//!
//!     cargo run --release -p writ-server --example http_bench -- sqlite
//!     cargo run --release -p writ-server --example http_bench -- postgres
//!     cargo run --release -p writ-server --example http_bench -- postgres-durable
//!
//! Options (after the backend): `--clients N` (32), `--ops N` (operations per
//! flow, 10000), `--warmup N` (500), `--direct` (call `Writ` in process instead of
//! going through HTTP: shows what HTTP, JSON and auth cost on top),
//! `--store-only` (diagnostic: N tasks commit a bare `Change` of 5 audit events
//! through the `Store` port, the write path's floor without policy or HTTP),
//! `--sqlite-synchronous normal|full|extra` (default: the config's default,
//! `full`), `--no-workers` (serve the router alone, without the background
//! workers: the setting of the figures before 2026-12).
//!
//! Runs `writ init` in a temp dir (demo config, catalog, policies, identities,
//! tokens), starts the server the way `writ serve` does (`writ_server::start`:
//! the hardened router with its connection limit on 127.0.0.1:0, and the
//! background workers: job worker with expiries, lapses, overdue checks,
//! checkpoint signing, scheduled reconciliation), and drives it over real
//! HTTP/1.1 (keep-alive) with N concurrent clients, for a fixed number of
//! operations per flow:
//!
//! - `auto`: POST /v1/requests as alice for `pg-prod/analytics_read`, 2h. The
//!   demo policy auto-approves it: one call yields the policy decisions, the
//!   approval and a fulfilment task, in one transaction.
//! - `two-step`: POST /v1/requests as alice for `ldap-corp/vpn-users` (pending,
//!   stage "manager"), then POST /v1/requests/{id}/approve as mona, her manager.
//!   One operation = one completed request+decision pair.
//!
//! Backends: `sqlite` (the default store: WAL, `synchronous=FULL` unless told
//! otherwise, one writer thread with group commit), `postgres` (writ-testkit's throwaway server: `fsync=off`,
//! `synchronous_commit=off`, `full_page_writes=off`, which flatters it), and
//! `postgres-durable` (the same server with `fsync=on`, `synchronous_commit=on`,
//! `full_page_writes=on`).
//!
//! Server and clients share the machine: they run in two tokio runtimes (threads
//! `srv*` and `cli*`), and the CPU time each side used is read from
//! /proc/self/task, so the report says how much of the box the clients took.
//! No timing is asserted; every response's state is checked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Deserialize;
use writ_core::duration::AccessDuration;
use writ_core::identity::Identity;
use writ_core::ids::{EntitlementId, RequestId};
use writ_core::request::RequestDraft;
use writ_core::review::Verdict;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
    PostgresDurable,
}

struct Args {
    backend: Backend,
    clients: usize,
    ops: usize,
    warmup: usize,
    direct: bool,
    store_only: bool,
    /// `--sqlite-synchronous`: `None` keeps the configuration's default.
    sqlite_synchronous: Option<String>,
    workers: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a =
        Args { backend: Backend::Sqlite, clients: 32, ops: 10_000, warmup: 500, direct: false, store_only: false, sqlite_synchronous: None, workers: true };
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, name: &str| -> anyhow::Result<usize> {
        v.with_context(|| format!("{name} needs a value"))?.parse().with_context(|| format!("{name} needs a number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "sqlite" => a.backend = Backend::Sqlite,
            "postgres" | "pg" => a.backend = Backend::Postgres,
            "postgres-durable" | "pg-durable" => a.backend = Backend::PostgresDurable,
            "--clients" => a.clients = num(it.next(), "--clients")?,
            "--ops" => a.ops = num(it.next(), "--ops")?,
            "--warmup" => a.warmup = num(it.next(), "--warmup")?,
            "--direct" => a.direct = true,
            "--store-only" => a.store_only = true,
            "--sqlite-synchronous" => a.sqlite_synchronous = Some(it.next().context("--sqlite-synchronous needs normal, full or extra")?),
            "--no-workers" => a.workers = false,
            other => bail!(
                "unknown argument `{other}`: use sqlite|postgres|postgres-durable [--clients N] [--ops N] [--warmup N] [--direct] [--store-only] [--sqlite-synchronous normal|full|extra] [--no-workers]"
            ),
        }
    }
    if a.clients == 0 || a.ops == 0 {
        bail!("--clients and --ops must be at least 1");
    }
    Ok(a)
}

/// CPU seconds used so far by this process's threads, split by thread name:
/// (client threads `cli*`, everything else). Threads that already exited are
/// only in the process total, so "everything else" is total minus clients.
fn cpu_split() -> (f64, f64) {
    let ticks = 100.0; // USER_HZ on Linux
    let fields = |stat: &str| -> Option<(u64, u64)> {
        // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
    };
    let total = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| fields(&s)).map_or(0, |(u, s)| u + s);
    let mut client = 0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if name.starts_with("cli") {
                if let Some((u, s)) = std::fs::read_to_string(t.path().join("stat")).ok().and_then(|s| fields(&s)) {
                    client += u + s;
                }
            }
        }
    }
    (client as f64 / ticks, (total.saturating_sub(client)) as f64 / ticks)
}

#[derive(Deserialize)]
struct View {
    id: String,
    state: String,
}

/// One measured call kind: latencies of every call.
#[derive(Default)]
struct Calls(Vec<Duration>);

impl Calls {
    fn pct(sorted: &[Duration], p: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i]
    }
    fn summary(&self) -> (Duration, Duration, Duration) {
        let mut v = self.0.clone();
        v.sort_unstable();
        (Self::pct(&v, 0.50), Self::pct(&v, 0.99), v.last().copied().unwrap_or_default())
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1e3)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Auto,
    TwoStep,
    /// `--store-only`: one `Store::commit` of 5 audit events.
    Commit5,
}

impl Flow {
    fn name(self) -> &'static str {
        match self {
            Flow::Auto => "auto",
            Flow::TwoStep => "two-step",
            Flow::Commit5 => "commit5",
        }
    }
}

/// How one operation is driven: over HTTP, or by calling `Writ` directly.
#[derive(Clone)]
// Built once per run; its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Driver {
    Http { client: reqwest::Client, base: String, alice: String, mona: String },
    Direct { app: writ_server::App, alice: Identity, mona: Identity },
    Store { app: writ_server::App },
}

const AUTO_ENT: &str = "pg-prod/analytics_read";
const TWO_STEP_ENT: &str = "ldap-corp/vpn-users";

impl Driver {
    async fn create(&self, ent: &str) -> anyhow::Result<View> {
        match self {
            Driver::Http { client, base, alice, .. } => {
                let body = serde_json::json!({
                    "entitlements": [ent],
                    "justification": "benchmark: quarterly report",
                    "duration": "2h",
                });
                let resp = client.post(format!("{base}/v1/requests")).bearer_auth(alice).json(&body).send().await?;
                let status = resp.status();
                if status != reqwest::StatusCode::CREATED {
                    bail!("POST /v1/requests: {status}: {}", resp.text().await.unwrap_or_default());
                }
                Ok(resp.json().await?)
            }
            Driver::Direct { app, alice, .. } => {
                let draft = RequestDraft {
                    requester: alice.id.clone(),
                    subject: alice.id.clone(),
                    entitlements: vec![EntitlementId::parse(ent)?],
                    justification: "benchmark: quarterly report".into(),
                    duration: AccessDuration::parse("2h")?,
                    ticket: None,
                    request_type: None,
                };
                let r = app.writ.submit(alice, draft).await?;
                Ok(View { id: r.id().to_string(), state: r.state().as_str().to_owned() })
            }
            Driver::Store { .. } => unreachable!("--store-only runs the commit5 flow only"),
        }
    }

    async fn approve(&self, id: &str) -> anyhow::Result<View> {
        match self {
            Driver::Http { client, base, mona, .. } => {
                let resp =
                    client.post(format!("{base}/v1/requests/{id}/approve")).bearer_auth(mona).json(&serde_json::json!({ "reason": "ok" })).send().await?;
                let status = resp.status();
                if status != reqwest::StatusCode::OK {
                    bail!("POST /v1/requests/{id}/approve: {status}: {}", resp.text().await.unwrap_or_default());
                }
                Ok(resp.json().await?)
            }
            Driver::Direct { app, mona, .. } => {
                let r = app.writ.review(mona, RequestId::parse(id)?, Verdict::Approve, "ok".into()).await?;
                Ok(View { id: r.id().to_string(), state: r.state().as_str().to_owned() })
            }
            Driver::Store { .. } => unreachable!("--store-only runs the commit5 flow only"),
        }
    }

    /// One operation; returns the latency of each call (create, approve).
    async fn op(&self, flow: Flow) -> anyhow::Result<(Duration, Option<Duration>)> {
        let t = Instant::now();
        match flow {
            Flow::Auto => {
                let v = self.create(AUTO_ENT).await?;
                if v.state != "approved" {
                    bail!("{AUTO_ENT} should be auto-approved, got `{}`", v.state);
                }
                Ok((t.elapsed(), None))
            }
            Flow::TwoStep => {
                let v = self.create(TWO_STEP_ENT).await?;
                let created = t.elapsed();
                if v.state != "pending" {
                    bail!("{TWO_STEP_ENT} should wait for the manager, got `{}`", v.state);
                }
                let t2 = Instant::now();
                let a = self.approve(&v.id).await?;
                if a.state != "approved" {
                    bail!("after mona's approval {} should be approved, got `{}`", v.id, a.state);
                }
                Ok((created, Some(t2.elapsed())))
            }
            Flow::Commit5 => {
                let Driver::Store { app } = self else { bail!("commit5 needs --store-only") };
                let request = RequestId::from_uuid(uuid::Uuid::new_v4()).to_string();
                let now = app.writ.clock().now();
                let events = (0..5)
                    .map(|i| writ_core::audit::NewEvent {
                        at: now,
                        actor: "alice".into(),
                        kind: "bench.event".into(),
                        request_id: Some(request.clone()),
                        payload: serde_json::json!({ "n": i, "entitlements": [AUTO_ENT], "justification": "benchmark: quarterly report", "duration": "2h", "ticket": null }),
                    })
                    .collect();
                app.writ.store().commit(writ_app::ports::Change { events, ..Default::default() }).await?;
                Ok((t.elapsed(), None))
            }
        }
    }
}

struct Outcome {
    flow: Flow,
    ops: usize,
    wall: Duration,
    create: Calls,
    approve: Calls,
    cpu_client: f64,
    cpu_server: f64,
}

async fn run_flow(driver: &Driver, flow: Flow, clients: usize, ops: usize) -> anyhow::Result<Outcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let (c0, s0) = cpu_split();
    let started = Instant::now();
    let mut workers = Vec::with_capacity(clients);
    for _ in 0..clients {
        let driver = driver.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut create = Vec::new();
            let mut approve = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < ops {
                let (c, a) = driver.op(flow).await?;
                create.push(c);
                approve.extend(a);
            }
            anyhow::Ok((create, approve))
        }));
    }
    let mut out = Outcome { flow, ops, wall: Duration::ZERO, create: Calls::default(), approve: Calls::default(), cpu_client: 0.0, cpu_server: 0.0 };
    for w in workers {
        let (c, a) = w.await??;
        out.create.0.extend(c);
        out.approve.0.extend(a);
    }
    out.wall = started.elapsed();
    let (c1, s1) = cpu_split();
    (out.cpu_client, out.cpu_server) = (c1 - c0, s1 - s0);
    if out.create.0.len() != ops {
        bail!("{} operations completed, expected {ops}", out.create.0.len());
    }
    Ok(out)
}

fn start_postgres(durable: bool) -> anyhow::Result<(writ_testkit::PgServer, String)> {
    let pg = if durable { writ_testkit::PgServer::start_durable() } else { writ_testkit::PgServer::start() };
    let pg = pg.map_err(|e| anyhow::anyhow!("cannot start PostgreSQL: {e}"))?;
    let url = pg.create_database("bench").map_err(|e| anyhow::anyhow!("createdb: {e}"))?;
    // Say what the server really runs with (later `-c` settings win).
    let mut shown = Vec::new();
    for s in ["fsync", "synchronous_commit", "full_page_writes", "server_version"] {
        shown.push(format!("{s}={}", pg.psql(&format!("SHOW {s}")).map_err(|e| anyhow::anyhow!("{e}"))?.trim()));
    }
    println!("postgresql: {}", shown.join(" "));
    Ok((pg, url))
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let dir = tempfile::tempdir()?;
    let pg = match args.backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(start_postgres(false)?),
        Backend::PostgresDurable => Some(start_postgres(true)?),
    };
    // `writ init` seeds identities into the database its config names, and it
    // reads `WRIT_*` from the environment: point it at PostgreSQL that way, before
    // any other thread exists.
    match &pg {
        Some((_, url)) => std::env::set_var("WRIT_DATABASE_URL", url),
        None => std::env::remove_var("WRIT_DATABASE_URL"),
    }

    let server_rt = tokio::runtime::Builder::new_multi_thread().thread_name("srv").enable_all().build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread().thread_name("cli").enable_all().build()?;

    let report = server_rt.block_on(writ_server::init::init(dir.path(), false))?;
    let mut vars: Vec<(String, String)> = pg.iter().map(|(_, url)| ("WRIT_DATABASE_URL".to_owned(), url.clone())).collect();
    vars.extend(args.sqlite_synchronous.iter().map(|s| ("WRIT_SQLITE_SYNCHRONOUS".to_owned(), s.clone())));
    let cfg = writ_server::Config::load_from(&report.config, vars.into_iter())?;
    let (app, resolved) = server_rt.block_on(writ_server::build(&cfg))?;
    let tokens: HashMap<String, String> = report.tokens.into_iter().collect();
    let token = |who: &str| tokens.get(who).cloned().with_context(|| format!("init issued no token for {who}"));
    let (alice_token, mona_token) = (token("alice")?, token("mona")?);

    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    // As `writ serve` runs it: hardened router, connection limit, background
    // workers. `--no-workers` serves the bare router (the old setting).
    let serving = if args.workers {
        Some(server_rt.block_on(writ_server::start(app.clone(), &cfg, &resolved, listener))?)
    } else {
        let router = writ_server::serve::router(app.clone(), cfg.max_body_bytes);
        server_rt.spawn(async move { axum::serve(listener, router).await });
        None
    };

    let driver = if args.store_only {
        Driver::Store { app: app.clone() }
    } else if args.direct {
        let (a, m) = server_rt.block_on(async {
            let a = app.writ.authenticate(&alice_token).await?;
            let m = app.writ.authenticate(&mona_token).await?;
            anyhow::Ok((a.context("alice")?.identity, m.context("mona")?.identity))
        })?;
        Driver::Direct { app: app.clone(), alice: a, mona: m }
    } else {
        let client = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?;
        Driver::Http { client, base: format!("http://{addr}"), alice: alice_token, mona: mona_token }
    };

    let backend = match args.backend {
        // The writer thread refuses to start unless SQLite reports this level in force.
        Backend::Sqlite => format!("sqlite (WAL, synchronous={}, one writer thread, group commit)", resolved.sqlite_synchronous.pragma_value()),
        Backend::Postgres => "postgres (testkit: fsync=off, synchronous_commit=off, full_page_writes=off)".to_owned(),
        Backend::PostgresDurable => "postgres (fsync=on, synchronous_commit=on, full_page_writes=on)".to_owned(),
    };
    println!("backend:  {backend}");
    println!(
        "server:   {}",
        if args.workers { "as `writ serve` runs it (writ_server::start): background workers on" } else { "router only, no background workers (--no-workers)" }
    );
    println!("database: {}", writ_store::redact(&resolved.database_url));
    println!(
        "driver:   {}, {} concurrent clients, {} ops per flow after {} warm-up ops",
        if args.store_only {
            "Store::commit of 5 audit events (no HTTP, no policy)"
        } else if args.direct {
            "in-process Writ calls (no HTTP)"
        } else {
            "HTTP/1.1 keep-alive (reqwest)"
        },
        args.clients,
        args.ops,
        args.warmup
    );

    // In the direct mode the "clients" are tasks on the server's runtime, as
    // handlers would be; over HTTP they are on their own runtime.
    let rt = if args.direct || args.store_only { &server_rt } else { &client_rt };
    let flows: &[Flow] = if args.store_only { &[Flow::Commit5] } else { &[Flow::Auto, Flow::TwoStep] };
    let outcomes = rt.block_on(async {
        let mut out = Vec::new();
        for &flow in flows {
            if args.warmup > 0 {
                run_flow(&driver, flow, args.clients, args.warmup).await?;
            }
            out.push(run_flow(&driver, flow, args.clients, args.ops).await?);
        }
        anyhow::Ok(out)
    })?;

    println!();
    println!(
        "{:<9} {:>7} {:>8} {:>9} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9} | {:>9} {:>9}",
        "flow", "ops", "wall", "ops/s", "create50", "create99", "createmax", "appr50", "appr99", "apprmax", "cpu cli", "cpu srv"
    );
    for o in &outcomes {
        let (c50, c99, cmax) = o.create.summary();
        let (a50, a99, amax) = o.approve.summary();
        let dash = |d: Duration| if o.approve.0.is_empty() { "-".to_owned() } else { ms(d) };
        println!(
            "{:<9} {:>7} {:>7.2}s {:>9.0} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9} | {:>8.2}s {:>8.2}s",
            o.flow.name(),
            o.ops,
            o.wall.as_secs_f64(),
            o.ops as f64 / o.wall.as_secs_f64(),
            ms(c50),
            ms(c99),
            ms(cmax),
            dash(a50),
            dash(a99),
            dash(amax),
            o.cpu_client,
            o.cpu_server,
        );
    }
    // One machine-readable line per flow, for collecting medians across runs.
    for o in &outcomes {
        let (c50, c99, _) = o.create.summary();
        let (a50, a99, _) = o.approve.summary();
        println!(
            "RESULT backend={:?} sync={} workers={} direct={} store_only={} flow={} ops_per_s={:.0} create_p50_ms={:.3} create_p99_ms={:.3} approve_p50_ms={:.3} approve_p99_ms={:.3} cpu_client_s={:.2} cpu_server_s={:.2}",
            args.backend,
            args.sqlite_synchronous.as_deref().unwrap_or("default"),
            args.workers,
            args.direct,
            args.store_only,
            o.flow.name(),
            o.ops as f64 / o.wall.as_secs_f64(),
            c50.as_secs_f64() * 1e3,
            c99.as_secs_f64() * 1e3,
            a50.as_secs_f64() * 1e3,
            a99.as_secs_f64() * 1e3,
            o.cpu_client,
            o.cpu_server,
        );
    }

    client_rt.shutdown_timeout(Duration::from_secs(1));
    match serving {
        Some(s) => server_rt.block_on(s.stop(std::future::ready(())))?,
        None => server_rt.block_on(app.writ.store().close()),
    }
    server_rt.shutdown_timeout(Duration::from_secs(1));
    drop(pg);
    Ok(())
}
