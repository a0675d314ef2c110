//! Time from expiry to verified removal, for many grants expiring at once on a
//! real PostgreSQL target.
//!
//!     cargo run --release -p writ-server --example expiry_bench -- [GRANTS=10000] [--fsync-off] [--loop [BATCH=128]]
//!
//! Starts writ-testkit's PostgreSQL as the *target*, durable (`fsync`,
//! `synchronous_commit` and `full_page_writes` on, as a production server runs;
//! `--fsync-off` for the testkit's fast settings), creates a `reporting` role
//! and one login role per grant, each already a member (the access in place).
//! Writ itself runs on SQLite with its default `synchronous=FULL` in a temp dir
//! (the demo install plus a connector target `pg-live`), on a clock the bench
//! holds still while it commits the grants, then moves past their common
//! expiry and lets run with real time.
//!
//! By default the server's own job worker (`writ_server::workers::run_jobs`,
//! what `writ serve` runs: expiry scan, claims, up to 128 jobs in flight) does
//! the work; `--loop` instead drives `expire_due` + `run_due_jobs` in batches
//! of BATCH, the way this bench did before 2026-12. Each job reads the account,
//! `REVOKE`s under an advisory lock with a membership check, reads it back, and
//! commits the evidence. The bench waits until no grant is due or being
//! revoked, takes each grant's time from its `grant.removal_verified` event
//! (stamped by the moving clock at its commit), reports the wall time until
//! the last removal was verified with p50/p99 over the grants, checks on the
//! target that no membership is left, and runs the plain-client reference: the
//! same number of `REVOKE` + read-back round trips through `psql`.
//!
//! `expiry_bench restart [GRANTS=100000]` instead measures a restart with that
//! many grants pending expiry: it commits them, then times building the server
//! again on the same data (open the store, migrations, catalog, policies:
//! everything `writ serve` does before it listens) and reports the resident
//! memory before and after. Expiries are rows, not timers: nothing loads them.
//!
//! No timing is asserted.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, TimeDelta};
use uuid::Uuid;
use writ_app::ports::{Change, Clock, GrantFilter, Versioned};
use writ_core::duration::AccessDuration;
use writ_core::grant::Grant;
use writ_core::ids::{EntitlementId, GrantId, IdentityId, RequestId};
use writ_testkit::PgServer;

#[path = "common/bench.rs"]
mod bench;
use bench::{percentile, psql_file, BenchClock};

/// Resident memory of this process, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0.0);
    kb / 1024.0
}

async fn restart(grants: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    writ_server::init::init(dir.path(), false).await?;
    let cfg = writ_server::Config::load(&dir.path().join("writ.toml"))?;
    let start = DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
    let clock = Arc::new(BenchClock::held(start));
    {
        let (app, _) = writ_server::build_with_clock(&cfg, clock.clone()).await?;
        let entitlement = EntitlementId::parse("pg-prod/analytics_read")?;
        for chunk in (0..grants).collect::<Vec<_>>().chunks(1000) {
            let batch = chunk
                .iter()
                .map(|i| {
                    let subject = IdentityId::parse(&format!("u{i:06}")).unwrap();
                    let g = Grant::start(
                        GrantId::from_uuid(Uuid::new_v4()),
                        RequestId::from_uuid(Uuid::new_v4()),
                        subject,
                        entitlement.clone(),
                        AccessDuration::parse("1h").unwrap(),
                        start,
                    );
                    Versioned::new(g)
                })
                .collect();
            app.writ.store().commit(Change { grants: batch, ..Change::default() }).await?;
        }
        app.writ.store().close().await;
    }
    println!("{grants} grants pending expiry committed; restarting");
    for run in 1..=3 {
        let before = rss_mib();
        let t = Instant::now();
        let (app, _) = writ_server::build_with_clock(&cfg, clock.clone()).await?;
        let ready = t.elapsed().as_secs_f64() * 1e3;
        let after = rss_mib();
        let t = Instant::now();
        let scanned = app.writ.expire_due(128).await?;
        let first_scan = t.elapsed().as_secs_f64() * 1e3;
        let pending = app.writ.store().grants(&GrantFilter { active_only: true, limit: 1_000_000, ..Default::default() }).await?.len();
        println!(
            "restart {run}: ready to serve in {ready:.1} ms; RSS {before:.1} MiB before, {after:.1} MiB after; \
             first expiry scan {first_scan:.1} ms ({scanned} due); {pending} grants pending"
        );
        app.writ.store().close().await;
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("restart") {
        let n = std::env::args().nth(2).map_or(Ok(100_000), |a| a.parse()).context("GRANTS must be a number")?;
        return restart(n).await;
    }
    let mut grants: usize = 10_000;
    let (mut durable, mut batch) = (true, None::<u32>);
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--fsync-off" => durable = false,
            // The server's worker takes 128 at a time (workers.rs); other sizes are for experiments.
            "--loop" => batch = Some(args.next_if(|n| n.parse::<u32>().is_ok()).map_or(128, |n| n.parse().unwrap())),
            n => grants = n.parse().with_context(|| format!("`{n}`: give GRANTS, --fsync-off or --loop [BATCH]"))?,
        }
    }
    let pg = if durable { PgServer::start_durable() } else { PgServer::start() }.context("PostgreSQL (run scripts/install-test-deps.sh)")?;
    let mut shown = Vec::new();
    for s in ["fsync", "synchronous_commit", "full_page_writes"] {
        shown.push(format!("{s}={}", pg.psql(&format!("SHOW {s}"))?));
    }
    println!("target postgresql: {}", shown.join(" "));
    let scripts = tempfile::tempdir()?;
    let t = Instant::now();
    let mut sql = String::from("CREATE ROLE reporting NOLOGIN;");
    for i in 0..grants {
        sql.push_str(&format!("CREATE ROLE u{i:05} LOGIN; GRANT reporting TO u{i:05};"));
    }
    psql_file(&pg, scripts.path(), &format!("BEGIN;{sql}COMMIT;")).context("loading the target")?;
    println!("target: {grants} login roles holding `reporting`, loaded in {:.2} s", t.elapsed().as_secs_f64());

    let dir = tempfile::tempdir()?;
    writ_server::init::init(dir.path(), false).await?;
    let mut catalog = std::fs::read_to_string(dir.path().join("catalog.toml"))?;
    catalog.push_str(
        "\n[[targets]]\nid = \"pg-live\"\nowners = [\"olivia\"]\nfulfilment = { kind = \"connector\" }\n\n\
         [[entitlements]]\nid = \"pg-live/reporting\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n\
         stages = [{ name = \"manager\", approvers = \"subject_manager\", required = 1 }]\n",
    );
    std::fs::write(dir.path().join("catalog.toml"), catalog)?;
    let mut config = std::fs::read_to_string(dir.path().join("writ.toml"))?;
    config.push_str(&format!("\n[targets.pg-live]\nkind = \"postgres\"\nurl = \"{}\"\nmax_connections = 16\n", pg.url()));
    std::fs::write(dir.path().join("writ.toml"), config)?;
    let cfg = writ_server::Config::load(&dir.path().join("writ.toml"))?;
    let start = DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
    let clock = Arc::new(BenchClock::held(start));
    let (app, resolved) = writ_server::build_with_clock(&cfg, clock.clone()).await?;
    let writ = app.writ.clone();

    // The grants, as if each had been provisioned at `start` for one hour.
    let entitlement = EntitlementId::parse("pg-live/reporting")?;
    let t = Instant::now();
    for chunk in (0..grants).collect::<Vec<_>>().chunks(500) {
        let batch = chunk
            .iter()
            .map(|i| {
                let g = Grant::start(
                    GrantId::from_uuid(Uuid::new_v4()),
                    RequestId::from_uuid(Uuid::new_v4()),
                    IdentityId::parse(&format!("u{i:05}")).unwrap(),
                    entitlement.clone(),
                    AccessDuration::parse("1h").unwrap(),
                    start,
                );
                Versioned::new(g)
            })
            .collect();
        writ.store().commit(Change { grants: batch, ..Change::default() }).await?;
    }
    println!("writ: {grants} active grants committed in {:.2} s", t.elapsed().as_secs_f64());

    let (head, _) = writ.store().audit_head().await?;
    let workers =
        if batch.is_some() { "expire_due + run_due_jobs in a loop (--loop)".to_owned() } else { "the server's job worker (workers::run_jobs)".to_owned() };
    println!("writ: sqlite_synchronous={}; removals driven by {workers}", resolved.sqlite_synchronous.pragma_value());

    // All of them expire now, and the clock runs on from there.
    clock.run_from(start + TimeDelta::hours(1) + TimeDelta::seconds(1));
    let expired_at = clock.now();
    let t = Instant::now();
    match batch {
        Some(batch) => loop {
            let expired = writ.expire_due(batch).await?;
            let ran = writ.run_due_jobs(batch).await?;
            if expired == 0 && ran == 0 {
                break;
            }
        },
        None => {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let worker = tokio::spawn(writ_server::workers::run_jobs(app.clone(), stopped));
            // Done when nothing is due any more and no removal is under way.
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if writ.store().due_expiries(clock.now(), 1).await?.is_empty() && writ.removal_counts().await?.0 == 0 {
                    break;
                }
            }
            let _ = stop.send(true);
            worker.await?;
        }
    }
    let total = t.elapsed().as_secs_f64();
    let unfinished = writ.store().grants(&GrantFilter { active_only: true, limit: 100_000, ..Default::default() }).await?.len();
    // Each grant's removal, as its evidence dates it.
    let mut done_at: Vec<f64> = Vec::with_capacity(grants);
    let mut after = head;
    loop {
        let page = writ.store().audit_events(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        done_at.extend(page.iter().filter(|e| e.kind == "grant.removal_verified").map(|e| (e.at - expired_at).as_seconds_f64()));
    }
    anyhow::ensure!(unfinished == 0 && done_at.len() == grants, "{unfinished} grants not removed, {} removals verified", done_at.len());
    done_at.sort_by(f64::total_cmp);
    let left = pg.psql("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = 'reporting'")?;
    println!(
        "writ: {grants} grants expired at once: all removed and verified in {total:.2} s (last evidence at {:.2} s); \
         per grant p50 {:.2} s, p99 {:.2} s, first {:.2} s; memberships left on the target: {left}",
        done_at[done_at.len() - 1],
        percentile(&done_at, 50.0),
        percentile(&done_at, 99.0),
        done_at[0],
    );
    println!(
        "RESULT grants={grants} target_durable={durable} driver={} total_s={total:.3} p50_s={:.3} p99_s={:.3}",
        if batch.is_some() { "loop" } else { "worker" },
        percentile(&done_at, 50.0),
        percentile(&done_at, 99.0)
    );

    // The plain client's floor: REVOKE + read-back round trips on one connection.
    let mut again = String::new();
    for i in 0..grants {
        again.push_str(&format!("GRANT reporting TO u{i:05};"));
    }
    psql_file(&pg, scripts.path(), &again)?;
    let mut script = String::new();
    for i in 0..grants {
        script.push_str(&format!(
            "REVOKE reporting FROM u{i:05}; SELECT count(*) FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'u{i:05}';"
        ));
    }
    let t = Instant::now();
    psql_file(&pg, scripts.path(), &script)?;
    let psql_s = t.elapsed().as_secs_f64();
    println!("psql: {grants} REVOKE + read-back round trips in {psql_s:.2} s");
    println!("RESULT psql_s={psql_s:.3}");
    Ok(())
}
