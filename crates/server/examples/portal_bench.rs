//! Server time of the portal's heaviest pages with many requests in the
//! store, and the weight of every page.
//!
//!     cargo run --release -p writ-server --example portal_bench -- [REQUESTS=10000] [CALLS=200]
//!
//! `writ init`'s demo on SQLite (`synchronous=FULL`, the default) in a temp
//! dir; REQUESTS requests filed through the use-case (alice asks for
//! `pg-prod/payments_readonly`, which waits at its owners' stage: every one
//! is in olivia's inbox). Then, in process through the server's router (the
//! same middleware as `writ serve`: the timing is the server's, no socket),
//! CALLS times each: olivia's inbox (`/portal/inbox`, the newest 50 she may
//! review, each with the subject's holdings and any refusal), a request's
//! page (`/portal/requests/{id}`, its evidence chain), alice's requests
//! (`/portal/requests`), the catalog, and security's dashboard (its flow
//! times read every audit event of the 8 weeks: REQUESTS/5 more requests,
//! auto-approved `pg-prod/analytics_read`, give it approvals to measure);
//! p50, p95, max. Page weight: each page's HTML plus the stylesheet and the
//! one script, uncompressed.
//!
//! No timing is asserted.

use std::time::Instant;

use anyhow::Context;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;
use writ_core::duration::AccessDuration;
use writ_core::ids::{EntitlementId, IdentityId};
use writ_core::request::RequestDraft;
use writ_core::token::TokenDraft;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().map_or(Ok(10_000), |a| a.parse()).context("REQUESTS must be a number")?;
    let calls: usize = args.next().map_or(Ok(200), |a| a.parse()).context("CALLS must be a number")?;
    let dir = tempfile::tempdir()?;
    writ_server::init::init(dir.path(), false).await?;
    let cfg = writ_server::Config::load(&dir.path().join("writ.toml"))?;
    let (app, resolved) = writ_server::build(&cfg).await?;
    let writ = app.writ.clone();
    let alice = writ.store().identity(&IdentityId::parse("alice")?).await?.context("alice")?;
    let t = Instant::now();
    let mut last = None;
    for i in 0..requests {
        let draft = RequestDraft {
            requester: alice.id.clone(),
            subject: alice.id.clone(),
            entitlements: vec![EntitlementId::parse("pg-prod/payments_readonly")?],
            justification: format!("quarter close, batch {i}"),
            duration: AccessDuration::parse("4h")?,
            ticket: None,
            request_type: None,
        };
        last = Some(writ.submit(&alice, draft).await?.id());
    }
    for i in 0..requests / 5 {
        let draft = RequestDraft {
            requester: alice.id.clone(),
            subject: alice.id.clone(),
            entitlements: vec![EntitlementId::parse("pg-prod/analytics_read")?],
            justification: format!("weekly report {i}"),
            duration: AccessDuration::parse("2h")?,
            ticket: None,
            request_type: None,
        };
        writ.submit(&alice, draft).await?;
    }
    println!(
        "store: SQLite synchronous={}; {requests} pending and {} approved requests filed in {:.1} s",
        resolved.sqlite_synchronous.pragma_value(),
        requests / 5,
        t.elapsed().as_secs_f64()
    );
    let session = |who: &str| {
        let writ = writ.clone();
        let who = IdentityId::parse(who).unwrap();
        async move {
            let draft = TokenDraft { name: "portal".into(), lifetime: Some(AccessDuration::parse("8h").unwrap()), scope: None };
            let (_, secret) = writ.issue_token_as_operator(&who, draft).await.unwrap();
            format!("{}={secret}", writ_server::portal::SESSION_COOKIE)
        }
    };
    let (olivia, alice_cookie, sam) = (session("olivia").await, session("alice").await, session("sam").await);
    let router = writ_server::serve::router(app.clone(), cfg.max_body_bytes);
    let last = last.context("no request filed")?;
    let pages = [
        ("olivia's inbox", "/portal/inbox".to_owned(), olivia.clone()),
        ("a request's page", format!("/portal/requests/{last}"), olivia.clone()),
        ("alice's requests", "/portal/requests".to_owned(), alice_cookie.clone()),
        ("the catalog", "/portal/catalog".to_owned(), alice_cookie.clone()),
        ("the dashboard", "/portal/dashboard".to_owned(), sam.clone()),
    ];
    let mut css = 0;
    for asset in ["/portal/assets/portal.css", "/portal/assets/portal.js"] {
        let resp = router.clone().oneshot(Request::get(asset).body(Body::empty())?).await?;
        css += axum::body::to_bytes(resp.into_body(), 1 << 20).await?.len();
    }
    for (name, path, cookie) in pages {
        let mut times = Vec::with_capacity(calls);
        let mut bytes = 0;
        for _ in 0..calls {
            let req = Request::get(path.as_str()).header(header::COOKIE, cookie.as_str()).body(Body::empty())?;
            let t = Instant::now();
            let resp = router.clone().oneshot(req).await?;
            anyhow::ensure!(resp.status() == StatusCode::OK, "{path}: {}", resp.status());
            let body = axum::body::to_bytes(resp.into_body(), 16 << 20).await?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            bytes = body.len();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{name:18} {path}: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms over {calls} calls; weight {:.1} kB (HTML {bytes} B + CSS and script {css} B)",
            percentile(&times, 0.50),
            percentile(&times, 0.95),
            times[times.len() - 1],
            (bytes + css) as f64 / 1000.0
        );
    }
    app.writ.store().close().await;
    Ok(())
}
