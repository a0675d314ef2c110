//! A leaver with many grants on a real PostgreSQL target: time from disabling
//! the person to the last grant's removal verified by read-back.
//!
//!     cargo run --release -p writ-server --example leaver_bench -- [GRANTS=100] [RUNS=5]
//!
//! Starts writ-testkit's PostgreSQL as the *target*, durable (`fsync`,
//! `synchronous_commit`, `full_page_writes` on), with GRANTS roles. Writ runs
//! on SQLite with its default `synchronous=FULL` (the demo install plus a
//! connector target `pg-live` with one entitlement per role) and the server's
//! own job worker (`writ_server::workers::run_jobs`, as `writ serve` runs it:
//! it polls every 250 ms while idle). Each run registers a person holding
//! every role (a login role on the target that is a member of each, and a
//! grant in Writ for each), then disables the person the way SCIM or
//! `writ identity disable` does (`upsert_identities`): one commit withdraws
//! everything and queues a removal per grant; each removal reads the account,
//! `REVOKE`s, reads it back and commits its evidence. The time of a run is
//! from the disabling call to the last `grant.removal_verified` event; the
//! target is checked to hold no membership of the person after. Then the
//! plain client's floor: GRANTS `REVOKE` + read-back round trips by `psql`.
//!
//! No timing is asserted.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::DateTime;
use uuid::Uuid;
use writ_app::ports::{Change, Clock, Versioned};
use writ_core::duration::AccessDuration;
use writ_core::grant::Grant;
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::{EntitlementId, GrantId, IdentityId, RequestId};
use writ_testkit::PgServer;

#[path = "common/bench.rs"]
mod bench;
use bench::{psql_file, BenchClock};

fn person(id: &str, status: IdentityStatus) -> Identity {
    Identity {
        id: IdentityId::parse(id).unwrap(),
        kind: IdentityKind::Person,
        status,
        display_name: format!("Leaver {id}"),
        owner: None,
        manager: Some(IdentityId::parse("mona").unwrap()),
        groups: Default::default(),
        attributes: Default::default(),
        owner_left: None,
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let grants: usize = args.next().map_or(Ok(100), |a| a.parse()).context("GRANTS must be a number")?;
    let runs: usize = args.next().map_or(Ok(5), |a| a.parse()).context("RUNS must be a number")?;
    let pg = PgServer::start_durable().context("PostgreSQL (run scripts/install-test-deps.sh)")?;
    let mut shown = Vec::new();
    for s in ["fsync", "synchronous_commit", "full_page_writes"] {
        shown.push(format!("{s}={}", pg.psql(&format!("SHOW {s}"))?));
    }
    println!("target postgresql: {}", shown.join(" "));
    let scripts = tempfile::tempdir()?;
    let roles: Vec<String> = (0..grants).map(|i| format!("r{i:04}")).collect();
    let mut sql: String = roles.iter().map(|r| format!("CREATE ROLE {r} NOLOGIN;")).collect();
    for run in 1..=runs {
        sql.push_str(&format!("CREATE ROLE leaver{run} LOGIN;"));
        for r in &roles {
            sql.push_str(&format!("GRANT {r} TO leaver{run};"));
        }
    }
    psql_file(&pg, scripts.path(), &format!("BEGIN;{sql}COMMIT;")).context("loading the target")?;

    let dir = tempfile::tempdir()?;
    writ_server::init::init(dir.path(), false).await?;
    let mut catalog = std::fs::read_to_string(dir.path().join("catalog.toml"))?;
    catalog.push_str("\n[[targets]]\nid = \"pg-live\"\nowners = [\"olivia\"]\nfulfilment = { kind = \"connector\" }\n");
    for r in &roles {
        catalog.push_str(&format!("\n[[entitlements]]\nid = \"pg-live/{r}\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n"));
    }
    std::fs::write(dir.path().join("catalog.toml"), catalog)?;
    let mut config = std::fs::read_to_string(dir.path().join("writ.toml"))?;
    config.push_str(&format!("\n[targets.pg-live]\nkind = \"postgres\"\nurl = \"{}\"\n", pg.url()));
    std::fs::write(dir.path().join("writ.toml"), config)?;
    let cfg = writ_server::Config::load(&dir.path().join("writ.toml"))?;
    let start = DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
    let clock = Arc::new(BenchClock::held(start));
    let (app, resolved) = writ_server::build_with_clock(&cfg, clock.clone()).await?;
    let writ = app.writ.clone();
    println!(
        "writ: sqlite_synchronous={}, {grants} grants per leaver, the server's job worker; connector max_connections default",
        resolved.sqlite_synchronous.pragma_value()
    );
    clock.run_from(start);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(writ_server::workers::run_jobs(app.clone(), stopped));

    let mut totals = Vec::new();
    for run in 1..=runs {
        let id = format!("leaver{run}");
        writ.upsert_identities(None, vec![person(&id, IdentityStatus::Active)]).await?;
        let now = clock.now();
        let batch = roles
            .iter()
            .map(|r| {
                let g = Grant::start(
                    GrantId::from_uuid(Uuid::new_v4()),
                    RequestId::from_uuid(Uuid::new_v4()),
                    IdentityId::parse(&id).unwrap(),
                    EntitlementId::parse(&format!("pg-live/{r}")).unwrap(),
                    AccessDuration::parse("8h").unwrap(),
                    now,
                );
                Versioned::new(g)
            })
            .collect();
        writ.store().commit(Change { grants: batch, ..Change::default() }).await?;
        let (head, _) = writ.store().audit_head().await?;

        let disabled_at = clock.now();
        let t = Instant::now();
        writ.upsert_identities(None, vec![person(&id, IdentityStatus::Disabled)]).await?;
        let committed = t.elapsed().as_secs_f64();
        while writ.removal_counts().await?.0 > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let events = writ.store().audit_events(head, 100_000).await?;
        let verified: Vec<f64> = events.iter().filter(|e| e.kind == "grant.removal_verified").map(|e| (e.at - disabled_at).as_seconds_f64()).collect();
        anyhow::ensure!(verified.len() == grants, "{} of {grants} removals verified", verified.len());
        let last = verified.iter().copied().fold(0.0, f64::max);
        let first = verified.iter().copied().fold(f64::MAX, f64::min);
        let left = pg.psql(&format!("SELECT count(*) FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = '{id}'"))?;
        anyhow::ensure!(left == "0", "{left} memberships of {id} left on the target");
        println!(
            "run {run}: {grants} grants removed and verified {last:.3} s after the disabling call (its commit {:.1} ms; first removal verified at {first:.3} s); memberships left: {left}",
            committed * 1e3
        );
        totals.push(last);
    }
    let _ = stop.send(true);
    worker.await?;
    println!(
        "RESULT grants={grants} runs={runs} median_s={:.3} runs_s={:?}",
        median(totals.clone()),
        totals.iter().map(|t| (t * 1000.0).round() / 1000.0).collect::<Vec<_>>()
    );

    // The plain client's floor: the same revokes and read-backs, one round trip each.
    let mut again = String::new();
    for r in &roles {
        again.push_str(&format!("GRANT {r} TO leaver1;"));
    }
    psql_file(&pg, scripts.path(), &again)?;
    let mut script = String::new();
    for r in &roles {
        script.push_str(&format!(
            "REVOKE {r} FROM leaver1; SELECT count(*) FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'leaver1';"
        ));
    }
    let t = Instant::now();
    psql_file(&pg, scripts.path(), &script)?;
    println!("psql: {grants} REVOKE + read-back round trips in {:.3} s", t.elapsed().as_secs_f64());
    Ok(())
}
