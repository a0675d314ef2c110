//! Time from expiry to verified removal, for many grants expiring at once on a
//! real PostgreSQL target.
//!
//!     cargo run --release -p writ-server --example expiry_bench -- [GRANTS=10000]
//!
//! Starts writ-testkit's PostgreSQL as the *target*, creates a `reporting` role
//! and one login role per grant, each already a member (the access in place).
//! Writ itself runs on SQLite in a temp dir (the demo install plus a connector
//! target `pg-live`), on a clock the bench moves. The bench commits the grants
//! through the store, moves the clock past their common expiry, and then drives
//! exactly what the server's job worker runs (`expire_due` and `run_due_jobs`
//! in batches of 32) until every grant is expired. It reports the wall time
//! until the first and the last removal was verified, and the p50/p99 over the
//! grants (each grant's removal counted when the batch that verified it
//! returned), then checks on the target that no membership is left, and runs
//! the plain-client reference: the same number of `REVOKE` + read-back round
//! trips over one connection.
//!
//! No timing is asserted.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;
use writ_app::ports::{Change, Clock, GrantFilter, Versioned};
use writ_core::duration::AccessDuration;
use writ_core::grant::Grant;
use writ_core::ids::{EntitlementId, GrantId, IdentityId, RequestId};
use writ_testkit::PgServer;

struct BenchClock(Mutex<DateTime<Utc>>);

impl Clock for BenchClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

const BATCH: u32 = 32;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let grants: usize = std::env::args().nth(1).map_or(Ok(10_000), |a| a.parse()).context("GRANTS must be a number")?;
    let pg = PgServer::start().context("PostgreSQL (run scripts/install-test-deps.sh)")?;
    let t = Instant::now();
    let mut sql = String::from("CREATE ROLE reporting NOLOGIN;");
    for i in 0..grants {
        sql.push_str(&format!("CREATE ROLE u{i:05} LOGIN; GRANT reporting TO u{i:05};"));
    }
    pg.psql(&sql).context("loading the target")?;
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
    let clock = Arc::new(BenchClock(Mutex::new(start)));
    let (app, _) = writ_server::build_with_clock(&cfg, clock.clone()).await?;
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

    // All of them expire now; drive the worker's loop and time the removals.
    *clock.0.lock().unwrap() = start + TimeDelta::hours(1) + TimeDelta::seconds(1);
    let t = Instant::now();
    let mut done_at: Vec<f64> = Vec::with_capacity(grants);
    let mut remaining = grants;
    while remaining > 0 {
        writ.expire_due(BATCH).await?;
        writ.run_due_jobs(BATCH).await?;
        let active = writ.store().grants(&GrantFilter { active_only: true, limit: 100_000, ..Default::default() }).await?.len();
        let finished = remaining - active;
        let now = t.elapsed().as_secs_f64();
        done_at.extend(std::iter::repeat_n(now, finished));
        remaining = active;
    }
    let total = t.elapsed().as_secs_f64();
    done_at.sort_by(f64::total_cmp);
    let left = pg.psql("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = 'reporting'")?;
    println!(
        "writ: {grants} grants expired at once: all removed and verified in {total:.2} s; \
         per grant p50 {:.2} s, p99 {:.2} s, first {:.2} s; memberships left on the target: {left}",
        percentile(&done_at, 50.0),
        percentile(&done_at, 99.0),
        done_at[0],
    );

    // The plain client's floor: REVOKE + read-back round trips on one connection.
    let mut again = String::new();
    for i in 0..grants {
        again.push_str(&format!("GRANT reporting TO u{i:05};"));
    }
    pg.psql(&again)?;
    let mut script = String::new();
    for i in 0..grants {
        script.push_str(&format!(
            "REVOKE reporting FROM u{i:05}; SELECT count(*) FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'u{i:05}';"
        ));
    }
    // From a file, so that psql sends each statement on its own: a round trip each.
    let file = dir.path().join("revoke.sql");
    std::fs::write(&file, script.replace(';', ";\n"))?;
    let t = Instant::now();
    let out = std::process::Command::new(writ_testkit::pg_binary("psql")?)
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", &pg.url(), "-f"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(out.success(), "psql failed");
    println!("psql: {grants} REVOKE + read-back round trips in {:.2} s", t.elapsed().as_secs_f64());
    Ok(())
}
