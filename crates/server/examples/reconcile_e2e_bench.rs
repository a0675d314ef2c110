//! One full reconciliation run of a real PostgreSQL target holding many
//! memberships, end to end, beside `psql` reading the same rows.
//!
//!     cargo run --release -p writ-server --example reconcile_e2e_bench -- [MEMBERSHIPS=100000]
//!
//! Starts writ-testkit's PostgreSQL as the *target* and loads it in one psql
//! script: 100 group roles `r000..r099` (NOLOGIN) and MEMBERSHIPS / 100 login
//! roles `u0000…`, each user in every group (the last user in the remainder).
//! Writ itself runs on SQLite in a temp dir (the demo install plus a connector
//! target `pg-live` with the 100 entitlements `pg-live/r000..r099`), with every
//! user registered as a person and one active grant per membership committed
//! through the store, so the run finds every row matched. Loading is not timed.
//!
//! Then, 5 times, the wall time of `Writ::reconcile` on `pg-live`: load the
//! ledger and the identities, stream the target's scan through the classifier,
//! record the run with its observations and audit event. Each run's counts are
//! checked (at least 99% of the memberships matched, so the real path is what
//! is timed) and its peak RSS is read (VmHWM, reset before each run through
//! `/proc/self/clear_refs` where the kernel allows it). The reference is `psql`
//! reading the same rows to /dev/null (a new process and connection each
//! time), 5 times. Reports the medians and the ratio. Last, each part of a run
//! alone, 5 times: the ledger and identity loads from the store, the
//! connector's scan (rows kept in memory), and the classifier fed from memory;
//! what the run takes beyond their sum is mostly recording it. No timing is
//! asserted.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use uuid::Uuid;
use writ_app::ports::{Change, Connector, Versioned};
use writ_app::reconcile::Progress;
use writ_core::duration::AccessDuration;
use writ_core::grant::Grant;
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::{EntitlementId, GrantId, IdentityId, RequestId, RunId, TargetId};
use writ_core::reconcile::{AccountHolder, Classifier, LedgerGrant, Situation, Standing};
use writ_testkit::PgServer;

const ROLES: usize = 100;
const RUNS: usize = 5;

/// The reference read the issue names: every membership, as psql shows it.
const PSQL_QUERY: &str = "SELECT r.rolname, m.rolname, a.admin_option FROM pg_auth_members a \
   JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member";

fn role(r: usize) -> String {
    format!("r{r:03}")
}

fn user(u: usize) -> String {
    format!("u{u:04}")
}

/// The roles user `u` holds: all of them but for the last user, who holds the remainder.
fn roles_of(u: usize, memberships: usize) -> std::ops::Range<usize> {
    0..ROLES.min(memberships - u * ROLES)
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A `/proc/self/status` figure, in MiB.
fn status_mib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0.0);
    kb / 1024.0
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0); false where not allowed.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let memberships: usize = std::env::args().nth(1).map_or(Ok(100_000), |a| a.parse()).context("MEMBERSHIPS must be a number")?;
    anyhow::ensure!(memberships > 0, "MEMBERSHIPS must be at least 1");
    let users = memberships.div_ceil(ROLES);
    anyhow::ensure!(users <= 10_000, "at most {} memberships (user names have 4 digits)", 10_000 * ROLES);

    // The target: groups and users, one GRANT per user, in one transaction.
    let pg = PgServer::start().context("PostgreSQL (run scripts/install-test-deps.sh)")?;
    let t = Instant::now();
    let mut sql = String::from("BEGIN;\n");
    for r in 0..ROLES {
        sql.push_str(&format!("CREATE ROLE {} NOLOGIN;\n", role(r)));
    }
    for u in 0..users {
        let held: Vec<String> = roles_of(u, memberships).map(role).collect();
        sql.push_str(&format!("CREATE ROLE {} LOGIN;\nGRANT {} TO {};\n", user(u), held.join(", "), user(u)));
    }
    sql.push_str("COMMIT;\n");
    let scripts = tempfile::tempdir()?;
    let file = scripts.path().join("load.sql");
    std::fs::write(&file, sql)?;
    let ok = Command::new(writ_testkit::pg_binary("psql")?)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &pg.url(), "-f"])
        .arg(&file)
        .stdout(Stdio::null())
        .status()?
        .success();
    anyhow::ensure!(ok, "loading the target failed");
    let on_target: usize = pg.psql("SELECT count(*) FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid WHERE r.rolname ~ '^r[0-9]{3}$'")?.parse()?;
    anyhow::ensure!(on_target == memberships, "{on_target} memberships on the target, {memberships} wanted");
    println!("target: {ROLES} groups, {users} users, {memberships} memberships, loaded in {:.2} s", t.elapsed().as_secs_f64());

    // Writ: the demo install, plus the target and its entitlements.
    let dir = tempfile::tempdir()?;
    writ_server::init::init(dir.path(), false).await?;
    let mut catalog = std::fs::read_to_string(dir.path().join("catalog.toml"))?;
    catalog.push_str("\n[[targets]]\nid = \"pg-live\"\nowners = [\"olivia\"]\nfulfilment = { kind = \"connector\" }\n");
    for r in 0..ROLES {
        catalog.push_str(&format!(
            "\n[[entitlements]]\nid = \"pg-live/{}\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n\
             stages = [{{ name = \"manager\", approvers = \"subject_manager\", required = 1 }}]\n",
            role(r)
        ));
    }
    std::fs::write(dir.path().join("catalog.toml"), catalog)?;
    let mut config = std::fs::read_to_string(dir.path().join("writ.toml"))?;
    config.push_str(&format!("\n[targets.pg-live]\nkind = \"postgres\"\nurl = \"{}\"\n", pg.url()));
    std::fs::write(dir.path().join("writ.toml"), config)?;
    let cfg = writ_server::Config::load(&dir.path().join("writ.toml"))?;
    let (app, _) = writ_server::build(&cfg).await?;
    let writ = app.writ.clone();

    // The users as persons, and one active grant per membership.
    let t = Instant::now();
    for chunk in (0..users).collect::<Vec<_>>().chunks(1000) {
        let identities = chunk
            .iter()
            .map(|u| {
                writ_app::ports::Versioned::new(Identity {
                    id: IdentityId::parse(&user(*u)).unwrap(),
                    kind: IdentityKind::Person,
                    status: IdentityStatus::Active,
                    display_name: user(*u),
                    owner: None,
                    manager: None,
                    groups: Default::default(),
                    attributes: Default::default(),
                    owner_left: None,
                })
            })
            .collect();
        writ.store().commit(Change { identities, ..Change::default() }).await?;
    }
    let entitlements: Vec<EntitlementId> = (0..ROLES).map(|r| EntitlementId::parse(&format!("pg-live/{}", role(r)))).collect::<Result<_, _>>()?;
    let duration = AccessDuration::parse("8h")?;
    let now = Utc::now();
    let pairs: Vec<(usize, usize)> = (0..users).flat_map(|u| roles_of(u, memberships).map(move |r| (u, r))).collect();
    for chunk in pairs.chunks(2000) {
        let grants = chunk
            .iter()
            .map(|&(u, r)| {
                let g = Grant::start(
                    GrantId::from_uuid(Uuid::new_v4()),
                    RequestId::from_uuid(Uuid::new_v4()),
                    IdentityId::parse(&user(u)).unwrap(),
                    entitlements[r].clone(),
                    duration,
                    now,
                );
                Versioned::new(g)
            })
            .collect();
        writ.store().commit(Change { grants, ..Change::default() }).await?;
    }
    println!("writ: {users} persons and {memberships} active grants committed in {:.2} s", t.elapsed().as_secs_f64());

    // Full runs.
    let target = TargetId::parse("pg-live")?;
    let loading_peak = status_mib("VmHWM:");
    let resets = reset_peak_rss();
    let mut times = Vec::with_capacity(RUNS);
    let mut peaks = Vec::with_capacity(RUNS);
    for run in 1..=RUNS {
        let before = status_mib("VmRSS:");
        reset_peak_rss();
        let progress = Progress::default();
        let t = Instant::now();
        let done = writ.reconcile(RunId::from_uuid(Uuid::new_v4()), &target, "bench", &progress).await?;
        let secs = t.elapsed().as_secs_f64();
        let peak = status_mib("VmHWM:");
        let c = done.counts;
        anyhow::ensure!(done.error.is_none(), "run {run} failed: {:?}", done.error);
        anyhow::ensure!(c.matched as f64 >= 0.99 * memberships as f64, "run {run}: only {} of {memberships} memberships matched: {c:?}", c.matched);
        println!(
            "run {run}: {secs:.3} s; {} live rows; matched {}, unapproved {}, missing {}, expired_but_live {}, scope_mismatch {}, \
             unknown_identity {}, ignored {}; match rate {:.4}; RSS {before:.1} MiB before, peak {peak:.1} MiB",
            done.live_rows, c.matched, c.unapproved, c.missing, c.expired_but_live, c.scope_mismatch, c.unknown_identity, c.ignored, done.match_rate,
        );
        times.push(secs);
        peaks.push(peak);
    }

    // The reference: psql reading the same rows, a new process each time.
    let psql = writ_testkit::pg_binary("psql")?;
    let mut psql_times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let ok = Command::new(&psql).args(["-X", "-At", "-o", "/dev/null", &pg.url(), "-c", PSQL_QUERY]).stdout(Stdio::null()).status()?.success();
        psql_times.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(ok, "psql failed");
    }
    let rows: usize = pg.psql(&format!("SELECT count(*) FROM ({PSQL_QUERY}) AS q"))?.parse()?;
    let list = |xs: &[f64]| xs.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", ");
    let (writ_median, psql_median) = (median(&times), median(&psql_times));
    println!("writ: full run, median {writ_median:.3} s (runs {})", list(&times));
    println!("psql: {rows} rows to /dev/null, median {psql_median:.3} s (runs {})", list(&psql_times));
    println!("ratio writ / psql: {:.1}×", writ_median / psql_median);
    println!(
        "peak RSS per run{}: median {:.1} MiB (runs {}); peak while loading, before the runs: {loading_peak:.1} MiB",
        if resets { "" } else { " (VmHWM could not be reset: the process's peak so far)" },
        median(&peaks),
        peaks.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(", "),
    );

    // Where a run's time goes: its parts alone, each the median of 5.
    let connector = writ_connectors::postgres::PostgresConnector::new(&target, &writ_connectors::postgres::PostgresConfig::new(pg.url()))?;
    let (mut ledger_t, mut identities_t, mut scan_t, mut classify_t) = (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let t = Instant::now();
        let ledger = writ.store().ledger(&target).await?;
        ledger_t.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let identities = writ.store().identities().await?;
        identities_t.push(t.elapsed().as_secs_f64());
        let mut live = Vec::with_capacity(memberships);
        let t = Instant::now();
        let scanned = connector.scan(&mut |row| live.push(row)).await?;
        scan_t.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(scanned as usize == memberships, "the scan read {scanned} rows");
        // The classifier as `Writ::reconcile` builds and feeds it, from memory.
        let t = Instant::now();
        let grants = ledger.iter().map(|r| LedgerGrant {
            grant: r.grant,
            subject: r.subject.clone(),
            account: r.subject.to_string(),
            resource: r.entitlement.name().to_string(),
            standing: if r.state == "active" { Standing::Active } else { Standing::Ended },
            expected: connector.approved_scope(r.entitlement.name().as_str()),
        });
        let registry =
            identities.iter().map(|i| (i.id.to_string(), AccountHolder { identity: i.id.clone(), human: i.kind.is_human(), has_active_owner: false }));
        let mut classifier = Classifier::new(grants, registry, Vec::new());
        let mut exceptions = 0usize;
        for row in live {
            classifier.observe(row, &mut |o| exceptions += usize::from(o.situation != Situation::Matched));
        }
        let counts = classifier.finish(&mut |o| exceptions += usize::from(o.situation != Situation::Matched));
        classify_t.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(counts.matched as usize == memberships && exceptions == 0, "classified apart from a run: {counts:?}");
    }
    let (l, i, sc, cl) = (median(&ledger_t), median(&identities_t), median(&scan_t), median(&classify_t));
    println!(
        "parts alone, median: ledger load {:.0} ms, identities load {:.0} ms, connector scan {:.0} ms, classifier from memory {:.0} ms; \
         together {:.0} ms, beside the run's {:.0} ms (the rest is mostly recording the run)",
        l * 1e3,
        i * 1e3,
        sc * 1e3,
        cl * 1e3,
        (l + i + sc + cl) * 1e3,
        writ_median * 1e3,
    );
    Ok(())
}
