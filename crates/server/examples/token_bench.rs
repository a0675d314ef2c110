//! What authenticating a bearer token costs each API call, in process.
//!
//!     cargo run --release -p writ-server --example token_bench -- sqlite
//!     cargo run --release -p writ-server --example token_bench -- postgres
//!
//! Options (after the backend): `--tokens N` (10000: tokens in the table),
//! `--calls N` (20000 per run), `--runs N` (5).
//!
//! One check is what the `Caller` extractor does before any handler:
//! `Writ::authenticate` (SHA-256 of the secret, the one indexed lookup of the
//! token joined to its identity, the expiry and revocation checks) and the
//! scope check of the route (`auth::check_scope`, here for `GET /v1/requests`).
//! Half the tokens have the `read` scope.
//!
//! Seeds 1,000 people with 10 tokens each (issued through `Writ`, so each
//! with its `token.issued` event), uses every token once (recording its last
//! use, which is written at most once a minute per token), then times
//! `--calls` checks of tokens picked at random, one after another from one
//! task, `--runs` times: each run's p50, p99 and max, and the medians over
//! runs. Last, the first use of 1,000 fresh tokens: the check plus the write
//! of the last use, which a token in constant use pays once a minute.
//!
//! Backends: `sqlite` (the default store in a temp dir: WAL,
//! `synchronous=FULL`) and `postgres` (writ-testkit's throwaway server on
//! 127.0.0.1, `fsync=off`: reads are what is measured, and the last-use
//! write is the only write). No timing is asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::http::Method;
use writ_app::{Settings, Writ};
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::IdentityId;
use writ_core::token::{TokenDraft, TokenScope};

struct Args {
    postgres: bool,
    tokens: usize,
    calls: usize,
    runs: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args { postgres: false, tokens: 10_000, calls: 20_000, runs: 5 };
    let mut it = std::env::args().skip(1);
    let num = |it: &mut std::iter::Skip<std::env::Args>, name: &str| -> anyhow::Result<usize> {
        it.next().with_context(|| format!("{name} needs a value"))?.parse().with_context(|| format!("{name} needs a number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "sqlite" => a.postgres = false,
            "postgres" => a.postgres = true,
            "--tokens" => a.tokens = num(&mut it, "--tokens")?,
            "--calls" => a.calls = num(&mut it, "--calls")?,
            "--runs" => a.runs = num(&mut it, "--runs")?,
            other => anyhow::bail!("unknown argument `{other}`: give sqlite|postgres, --tokens N, --calls N, --runs N"),
        }
    }
    Ok(a)
}

fn person(n: usize) -> Identity {
    Identity {
        id: IdentityId::parse(&format!("p{n:05}")).expect("a valid id"),
        kind: IdentityKind::Person,
        status: IdentityStatus::Active,
        display_name: String::new(),
        owner: None,
        manager: None,
        groups: Default::default(),
        attributes: Default::default(),
        owner_left: None,
    }
}

/// Issues `n` tokens spread over `people`, 64 at a time; every second one read-only.
async fn issue(writ: &Arc<Writ>, people: usize, n: usize, from: usize) -> anyhow::Result<Vec<String>> {
    let mut secrets = Vec::with_capacity(n);
    for chunk in (from..from + n).collect::<Vec<_>>().chunks(64) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let writ = writ.clone();
            set.spawn(async move {
                let scope = (i % 2 == 1).then_some(TokenScope::Read);
                let draft = TokenDraft { name: format!("bench {i}"), lifetime: None, scope };
                writ.issue_token_as_operator(&person(i % people).id, draft).await.map(|(_, s)| s)
            });
        }
        while let Some(done) = set.join_next().await {
            secrets.push(done??);
        }
    }
    Ok(secrets)
}

/// One check, as the `Caller` extractor makes it; its time.
async fn check(writ: &Writ, secret: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let auth = writ.authenticate(secret).await?.map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(auth.identity.is_active(), "active");
    writ_server::auth::check_scope(auth.token.scope, &Method::GET, "/v1/requests").map_err(|e| anyhow::anyhow!(e.message))?;
    Ok(t.elapsed())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// p50, p99 and max of `times`, in µs.
fn summary(mut times: Vec<f64>) -> (f64, f64, f64) {
    times.sort_by(f64::total_cmp);
    (percentile(&times, 0.50), percentile(&times, 0.99), *times.last().expect("some calls"))
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (_pg, url) = if args.postgres {
        let pg = writ_testkit::PgServer::start().context("PostgreSQL (run scripts/install-test-deps.sh)")?;
        let url = pg.create_database("writ")?;
        (Some(pg), url)
    } else {
        (None, format!("sqlite://{}", dir.path().join("writ.db").display()))
    };
    let store = Arc::new(writ_store::SqlStore::open(&url).await?);
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies)?;
    std::fs::write(policies.join("writ.cedarschema"), writ_policy::demo::SCHEMA)?;
    for (name, text) in writ_policy::demo::POLICIES {
        std::fs::write(policies.join(name), text)?;
    }
    let policy = Arc::new(writ_policy::PolicyEngine::load_dir(&policies)?);
    let catalog = Arc::new(writ_core::catalog::Catalog::new(vec![], vec![], vec![])?);
    let writ = Arc::new(Writ::new(store.clone(), policy, catalog, Arc::new(writ_server::clock::SystemClock), Settings::default()));

    let people = 1_000;
    writ.upsert_identities(None, (0..people).map(person).collect()).await?;
    let t = Instant::now();
    let secrets = issue(&writ, people, args.tokens, 0).await?;
    println!(
        "backend {}: {} tokens for {people} people issued in {:.1} s",
        if args.postgres { "postgres" } else { "sqlite" },
        secrets.len(),
        t.elapsed().as_secs_f64()
    );

    // Every token used once: its last use recorded, as for tokens in use.
    for s in &secrets {
        check(&writ, s).await?;
    }
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    for run in 1..=args.runs {
        let mut times = Vec::with_capacity(args.calls);
        for _ in 0..args.calls {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            times.push(micros(check(&writ, &secrets[(rng % secrets.len() as u64) as usize]).await?));
        }
        let (p50, p99, max) = summary(times);
        println!("run {run}: {} checks: p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs", args.calls);
        p50s.push(p50);
        p99s.push(p99);
    }
    println!("median over {} runs: p50 {:.1} µs, p99 {:.1} µs", args.runs, median(p50s), median(p99s));

    // A token's first use in a minute also writes its last use.
    let fresh = issue(&writ, people, 1_000, args.tokens).await?;
    let mut times = Vec::with_capacity(fresh.len());
    for s in &fresh {
        times.push(micros(check(&writ, s).await?));
    }
    let (p50, p99, max) = summary(times);
    println!("first use (with the last-use write), {} tokens: p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs", fresh.len());
    store.close().await;
    Ok(())
}
