//! PostgreSQL connector benchmark against a real PostgreSQL (writ-testkit):
//!
//! ```text
//! cargo run --release -p writ-connectors --example postgres_bench [RUNS] [OPS]
//! ```
//!
//! Each run starts a fresh server and loads 100,000 memberships in one SQL
//! batch: 1,000 group roles, 10,000 login roles, each login in 10 groups. Then:
//!
//! - **scan**: the connector's `scan` of every membership against `psql`
//!   running the same query to /dev/null (a new process and connection each
//!   time, as an operator would), and against the in-process floor: the same
//!   query through sqlx (`fetch_all`) on an open connection, every row's
//!   names decoded and counted. The first round is "cold", the median of the next
//!   four "warm".
//! - **grant + read-back**: OPS (default 1,000) grants of a new membership to
//!   an existing login, each followed by a read of that login, against the raw
//!   round trips on one open sqlx connection (`GRANT` by the simple protocol,
//!   then `SELECT` the login's roles), and against `psql -c 'GRANT …; SELECT …'`
//!   (100 ops: a process per op). Each op is undone (untimed) before the next.
//!
//! RUNS (default 3) runs; the table shows each run and the median.

#[path = "common/stats.rs"]
mod stats;
use stats::{median, ms, percentile};

use std::process::{Command, Stdio};
use std::time::Instant;

use sqlx::{Connection, Row};
use writ_app::ports::{Account, Connector, Order};
use writ_connectors::postgres::{PostgresConfig, PostgresConnector};
use writ_core::identity::IdentityKind;
use writ_core::ids::{EntitlementId, IdentityId, RequestId, TargetId};
use writ_testkit::{pg_binary, PgServer};

const GROUPS: usize = 1_000;
const LOGINS: usize = 10_000;
const PER_LOGIN: usize = 10;
const MEMBERSHIPS: u64 = (LOGINS * PER_LOGIN) as u64;

/// The connector's scan query on PostgreSQL 15, without its cursor.
const SCAN_QUERY: &str = "SELECT m.rolname::text AS member, r.rolname::text AS role, am.admin_option \
   FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member \
   WHERE NOT starts_with(r.rolname::text, 'pg_') AND NOT starts_with(m.rolname::text, 'pg_') \
     AND m.rolname::text <> current_user::text";

const LOAD: &str = "
CREATE ROLE writ_admin LOGIN CREATEROLE;
DO $$
BEGIN
  FOR g IN 0..999 LOOP
    EXECUTE format('CREATE ROLE %I', 'g' || lpad(g::text, 4, '0'));
  END LOOP;
  -- login i is in groups (7i + 100k) mod 1000, k = 0..9: ten distinct groups
  FOR i IN 0..9999 LOOP
    EXECUTE format('CREATE ROLE %I LOGIN IN ROLE %s', 'u' || lpad(i::text, 5, '0'),
      (SELECT string_agg(quote_ident('g' || lpad(((7 * i + 100 * k) % 1000)::text, 4, '0')), ', ')
         FROM generate_series(0, 9) AS k));
  END LOOP;
END $$;
";

fn login(i: usize) -> String {
    format!("u{i:05}")
}

fn group(i: usize) -> String {
    format!("g{i:04}")
}

/// A membership login `i` does not hold: offset 50 is never 100k mod 1000.
fn new_pair(op: usize) -> (String, String) {
    let i = (op * 10) % LOGINS;
    (login(i), group((7 * i + 50) % GROUPS))
}

fn order(account: &str, role: &str) -> Order {
    Order {
        request: RequestId::parse("req-00000000000000000000000000000001").unwrap(),
        subject: IdentityId::parse("bench").unwrap(),
        account: Account { name: account.to_owned(), kind: IdentityKind::Person },
        entitlement: EntitlementId::parse(&format!("pg-bench/{role}")).unwrap(),
        resource: role.to_owned(),
        expires_at: None,
    }
}

fn psql(port: u16, user: &str) -> Command {
    let mut c = Command::new(pg_binary("psql").unwrap());
    c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-d", "postgres", "-U", user, "-p"]).arg(port.to_string());
    c
}

/// One run's figures, in milliseconds.
#[derive(Debug, Default, Clone)]
struct Run {
    load: f64,
    scan_cold: f64,
    scan_warm: f64,
    psql_cold: f64,
    psql_warm: f64,
    sqlx_cold: f64,
    sqlx_warm: f64,
    grant_p50: f64,
    grant_p99: f64,
    revoke_p50: f64,
    revoke_p99: f64,
    raw_p50: f64,
    raw_p99: f64,
    psql_op_p50: f64,
    psql_op_p99: f64,
}

async fn run(ops: usize) -> Run {
    let server = PgServer::start().expect("start postgres");
    let port = server.port();
    let mut r = Run::default();

    let t = Instant::now();
    let mut load = psql(port, "postgres").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    std::io::Write::write_all(&mut load.stdin.take().unwrap(), LOAD.as_bytes()).unwrap();
    assert!(load.wait().unwrap().success(), "load failed");
    r.load = ms(t.elapsed());

    let url = format!("postgres://writ_admin@127.0.0.1:{port}/postgres");
    let connector = PostgresConnector::new(&TargetId::parse("pg-bench").unwrap(), &PostgresConfig::new(&url)).unwrap();
    let mut raw = sqlx::PgConnection::connect(&url).await.unwrap();

    // Scan: round 0 cold, rounds 1..=4 warm.
    let (mut conn_t, mut psql_t, mut sqlx_t) = (vec![], vec![], vec![]);
    for _ in 0..5 {
        let t = Instant::now();
        let ok = psql(port, "writ_admin").args(["-c", SCAN_QUERY]).stdout(Stdio::null()).status().unwrap();
        psql_t.push(ms(t.elapsed()));
        assert!(ok.success());

        let t = Instant::now();
        let mut n = 0u64;
        let counted = connector.scan(&mut |_| n += 1).await.unwrap();
        conn_t.push(ms(t.elapsed()));
        assert_eq!((counted, n), (MEMBERSHIPS, MEMBERSHIPS));

        let t = Instant::now();
        let rows = sqlx::query(SCAN_QUERY).fetch_all(&mut raw).await.unwrap();
        let n = rows.iter().filter(|row| !row.get::<&str, _>(0).is_empty() && !row.get::<&str, _>(1).is_empty()).count() as u64;
        sqlx_t.push(ms(t.elapsed()));
        assert_eq!(n, MEMBERSHIPS);
    }
    (r.scan_cold, r.psql_cold, r.sqlx_cold) = (conn_t[0], psql_t[0], sqlx_t[0]);
    (r.scan_warm, r.psql_warm, r.sqlx_warm) = (median(&conn_t[1..]), median(&psql_t[1..]), median(&sqlx_t[1..]));

    // Grant + read-back, connector vs raw round trips, interleaved op by op.
    let (mut grant_t, mut revoke_t, mut raw_t) = (vec![], vec![], vec![]);
    for op in 0..ops {
        let (user, role) = new_pair(op);
        let (qu, qr) = (format!("\"{user}\""), format!("\"{role}\""));

        let t = Instant::now();
        sqlx::raw_sql(&format!("GRANT {qr} TO {qu}")).execute(&mut raw).await.unwrap();
        let held = sqlx::query(
            "SELECT r.rolname::text FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
             JOIN pg_roles a ON a.oid = m.member WHERE a.rolname = $1::text",
        )
        .bind(&user)
        .fetch_all(&mut raw)
        .await
        .unwrap();
        raw_t.push(ms(t.elapsed()));
        assert!(held.iter().any(|row| row.get::<String, _>(0) == role));
        sqlx::raw_sql(&format!("REVOKE {qr} FROM {qu}")).execute(&mut raw).await.unwrap();

        let o = order(&user, &role);
        let t = Instant::now();
        connector.grant(&o).await.unwrap();
        let state = connector.read_account(&o.account).await.unwrap();
        grant_t.push(ms(t.elapsed()));
        assert!(state.holds(&role));
        let t = Instant::now();
        connector.revoke(&o).await.unwrap();
        let state = connector.read_account(&o.account).await.unwrap();
        revoke_t.push(ms(t.elapsed()));
        assert!(!state.holds(&role));
    }
    (r.grant_p50, r.grant_p99) = (percentile(&grant_t, 50.0), percentile(&grant_t, 99.0));
    (r.revoke_p50, r.revoke_p99) = (percentile(&revoke_t, 50.0), percentile(&revoke_t, 99.0));
    (r.raw_p50, r.raw_p99) = (percentile(&raw_t, 50.0), percentile(&raw_t, 99.0));

    // psql, a process per op (100 ops).
    let mut psql_ops = vec![];
    for op in 0..100 {
        let (user, role) = new_pair(op);
        let sql = format!(
            "GRANT \"{role}\" TO \"{user}\"; SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid \
             JOIN pg_roles a ON a.oid = m.member WHERE a.rolname = '{user}';"
        );
        let t = Instant::now();
        let ok = psql(port, "writ_admin").args(["-c", &sql]).stdout(Stdio::null()).status().unwrap();
        psql_ops.push(ms(t.elapsed()));
        assert!(ok.success());
        let undo = format!("REVOKE \"{role}\" FROM \"{user}\"");
        assert!(psql(port, "writ_admin").args(["-c", &undo]).stdout(Stdio::null()).status().unwrap().success());
    }
    (r.psql_op_p50, r.psql_op_p99) = (percentile(&psql_ops, 50.0), percentile(&psql_ops, 99.0));
    r
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map_or(3, |a| a.parse().expect("RUNS"));
    let ops: usize = args.next().map_or(1_000, |a| a.parse().expect("OPS"));
    println!("PostgreSQL connector benchmark: {MEMBERSHIPS} memberships ({GROUPS} groups, {LOGINS} logins x {PER_LOGIN}), {ops} grant ops, {runs} runs");
    let mut all = vec![];
    for i in 1..=runs {
        let r = run(ops).await;
        eprintln!("run {i}: {r:?}");
        all.push(r);
    }
    let col = |f: fn(&Run) -> f64| -> Vec<f64> { all.iter().map(f).collect() };
    let table = stats::RunsTable::print_header("ms", runs, 46);
    table.row("load 100k memberships (one psql batch)", col(|r| r.load));
    table.row("scan, connector (cold: new pool)", col(|r| r.scan_cold));
    table.row("scan, connector (warm)", col(|r| r.scan_warm));
    table.row("scan, psql same query > /dev/null (cold)", col(|r| r.psql_cold));
    table.row("scan, psql same query > /dev/null (warm)", col(|r| r.psql_warm));
    table.row("scan, in-process sqlx fetch_all (cold)", col(|r| r.sqlx_cold));
    table.row("scan, in-process sqlx fetch_all (warm)", col(|r| r.sqlx_warm));
    table.row("scan warm: connector / psql", col(|r| r.scan_warm / r.psql_warm));
    table.row("scan warm: connector / in-process", col(|r| r.scan_warm / r.sqlx_warm));
    table.row("grant + read_account, connector p50", col(|r| r.grant_p50));
    table.row("grant + read_account, connector p99", col(|r| r.grant_p99));
    table.row("revoke + read_account, connector p50", col(|r| r.revoke_p50));
    table.row("revoke + read_account, connector p99", col(|r| r.revoke_p99));
    table.row("GRANT + SELECT, raw sqlx round trips p50", col(|r| r.raw_p50));
    table.row("GRANT + SELECT, raw sqlx round trips p99", col(|r| r.raw_p99));
    table.row("GRANT + SELECT, psql process per op p50", col(|r| r.psql_op_p50));
    table.row("GRANT + SELECT, psql process per op p99", col(|r| r.psql_op_p99));
    table.row("grant p50: connector / raw", col(|r| r.grant_p50 / r.raw_p50));
}
