//! Redis ACL connector benchmark against a real Redis 7 (writ-testkit):
//!
//! ```text
//! cargo run --release -p writ-connectors --example redis_bench [RUNS] [OPS]
//! ```
//!
//! Each run starts a fresh server (Writ authenticates as the ACL user `writ`)
//! and loads 100,000 memberships: 100,000 users, each holding one of 10
//! profiles as a selector (pipelined `ACL SETUSER`). Then:
//!
//! - **scan**: the connector's `scan` against `redis-cli ACL LIST > /dev/null`
//!   and against the in-process floor: `ACL LIST` through the `redis` crate on
//!   an open connection, every line of the reply counted.
//!   Redis computes each user's `ACL LIST` description the first time it is
//!   asked and caches it, so the first call after loading is "cold" and pays
//!   for all of them. Both clients are timed cold: `redis-cli` on the first
//!   load, the connector (a new one: connection and profile probe included)
//!   after the server was restarted and loaded again. "Warm" is the median of
//!   four further rounds of each.
//! - **grant + read-back**: OPS (default 1,000) grants of a second profile to
//!   an existing user, each followed by `read_account`, against the raw round
//!   trips on one open connection (`ACL SETUSER u (…)` then `ACL GETUSER u`),
//!   and against `redis-cli` (one process per op, both commands on its stdin;
//!   100 ops). Each op is undone (untimed) before the next.
//!
//! RUNS (default 3) runs; the table shows each run and the median. The
//! server's own time per command (`INFO commandstats`) of the last run follows.

#[path = "common/stats.rs"]
mod stats;
use stats::{median, ms, percentile};

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::Value;
use writ_app::ports::{Account, Connector, Order};
use writ_connectors::redis::{RedisConfig, RedisConnector};
use writ_connectors::secret::SecretSource;
use writ_core::identity::IdentityKind;
use writ_core::ids::{EntitlementId, IdentityId, RequestId, TargetId};
use writ_testkit::{redis_binary, RedisServer};

const USERS: usize = 100_000;
const PROFILES: usize = 10;
const PASSWORD: &str = "bench-admin-password";

fn user(i: usize) -> String {
    format!("u{i:06}")
}

fn rules(profile: usize) -> String {
    format!("+@read ~p{profile}:*")
}

/// The selector the connector sends for a profile.
fn selector(profile: usize) -> String {
    format!("(resetchannels {})", rules(profile))
}

fn order(account: &str, profile: usize) -> Order {
    Order {
        request: RequestId::parse("req-00000000000000000000000000000001").unwrap(),
        subject: IdentityId::parse("bench").unwrap(),
        account: Account { name: account.to_owned(), kind: IdentityKind::Person },
        entitlement: EntitlementId::parse(&format!("redis-bench/p{profile}")).unwrap(),
        resource: format!("p{profile}"),
        expires_at: None,
    }
}

fn cli(server: &RedisServer) -> Command {
    let mut c = Command::new(redis_binary("redis-cli").unwrap());
    c.args(["-h", "127.0.0.1", "-p", &server.port().to_string(), "--user", "writ", "-e"]).env("REDISCLI_AUTH", PASSWORD);
    c
}

async fn raw(server: &RedisServer) -> MultiplexedConnection {
    let client = redis::Client::open(server.url()).unwrap();
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(120)));
    client.get_multiplexed_async_connection_with_config(&config).await.unwrap()
}

async fn load(server: &RedisServer) -> f64 {
    let mut con = raw(server).await;
    let t = Instant::now();
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(10_000) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            pipe.cmd("ACL").arg("SETUSER").arg(user(i)).arg("on").arg(selector(i % PROFILES)).ignore();
        }
        let () = pipe.query_async(&mut con).await.unwrap();
    }
    ms(t.elapsed())
}

fn connector(server: &RedisServer) -> RedisConnector {
    let password_file = server.dir().join("bench.password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let mut c = RedisConfig::new(format!("redis://127.0.0.1:{}/", server.port()));
    c.username = Some("writ".into());
    c.password = SecretSource { env: None, file: Some(password_file) };
    c.profiles = (0..PROFILES).map(|k| (format!("p{k}"), rules(k))).collect();
    RedisConnector::new(&TargetId::parse("redis-bench").unwrap(), &c).unwrap()
}

async fn scan(c: &RedisConnector) -> f64 {
    let t = Instant::now();
    let mut n = 0u64;
    let counted = c.scan(&mut |_| n += 1).await.unwrap();
    let took = ms(t.elapsed());
    assert_eq!((counted, n), (USERS as u64, USERS as u64));
    took
}

/// The in-process floor: one `ACL LIST` on an open connection, its lines counted.
async fn raw_acl_list(con: &mut MultiplexedConnection) -> f64 {
    let t = Instant::now();
    let lines: Vec<String> = redis::cmd("ACL").arg("LIST").query_async(con).await.unwrap();
    let took = ms(t.elapsed());
    assert!(lines.len() > USERS, "{} lines", lines.len());
    took
}

fn acl_list(server: &RedisServer) -> f64 {
    let t = Instant::now();
    let ok = cli(server).args(["ACL", "LIST"]).stdout(Stdio::null()).status().unwrap();
    let took = ms(t.elapsed());
    assert!(ok.success());
    took
}

#[derive(Debug, Default, Clone)]
struct Run {
    load: f64,
    cli_cold: f64,
    cli_warm: f64,
    raw_warm: f64,
    scan_cold: f64,
    scan_warm: f64,
    grant_p50: f64,
    grant_p99: f64,
    revoke_p50: f64,
    revoke_p99: f64,
    raw_p50: f64,
    raw_p99: f64,
    cli_op_p50: f64,
    cli_op_p99: f64,
    commandstats: String,
}

async fn run(ops: usize) -> Run {
    let mut server = RedisServer::start_with_user("writ", PASSWORD).expect("start redis");
    let mut r = Run { load: load(&server).await, ..Run::default() };
    r.cli_cold = acl_list(&server);

    // Again from empty, for the connector's cold scan.
    server.stop();
    server.start_again().expect("restart redis");
    load(&server).await;
    let c = connector(&server);
    r.scan_cold = scan(&c).await;

    let mut con = raw(&server).await;
    let (mut cli_t, mut scan_t, mut raw_t) = (vec![], vec![], vec![]);
    for _ in 0..4 {
        cli_t.push(acl_list(&server));
        scan_t.push(scan(&c).await);
        raw_t.push(raw_acl_list(&mut con).await);
    }
    (r.cli_warm, r.scan_warm, r.raw_warm) = (median(&cli_t), median(&scan_t), median(&raw_t));

    let _: Value = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut con).await.unwrap();
    let (mut grant_t, mut revoke_t, mut raw_t) = (vec![], vec![], vec![]);
    for op in 0..ops {
        let i = (op * 100) % USERS;
        let (name, has, extra) = (user(i), i % PROFILES, (i + 1) % PROFILES);

        let t = Instant::now();
        let _: Value = redis::cmd("ACL").arg("SETUSER").arg(&name).arg(selector(extra)).query_async(&mut con).await.unwrap();
        let got: Value = redis::cmd("ACL").arg("GETUSER").arg(&name).query_async(&mut con).await.unwrap();
        raw_t.push(ms(t.elapsed()));
        assert_ne!(got, Value::Nil);
        let _: Value = redis::cmd("ACL").arg("SETUSER").arg(&name).arg("clearselectors").arg(selector(has)).query_async(&mut con).await.unwrap();

        let o = order(&name, extra);
        let t = Instant::now();
        c.grant(&o).await.unwrap();
        let state = c.read_account(&o.account).await.unwrap();
        grant_t.push(ms(t.elapsed()));
        assert!(state.holds(&o.resource) && state.entitlements.len() == 2, "{state:?}");
        let t = Instant::now();
        c.revoke(&o).await.unwrap();
        let state = c.read_account(&o.account).await.unwrap();
        revoke_t.push(ms(t.elapsed()));
        assert!(!state.holds(&o.resource) && state.entitlements.len() == 1);
    }
    (r.grant_p50, r.grant_p99) = (percentile(&grant_t, 50.0), percentile(&grant_t, 99.0));
    (r.revoke_p50, r.revoke_p99) = (percentile(&revoke_t, 50.0), percentile(&revoke_t, 99.0));
    (r.raw_p50, r.raw_p99) = (percentile(&raw_t, 50.0), percentile(&raw_t, 99.0));
    let stats: String = redis::cmd("INFO").arg("commandstats").query_async(&mut con).await.unwrap();
    r.commandstats = stats.lines().filter(|l| l.starts_with("cmdstat_acl")).map(|l| format!("  {l}\n")).collect();

    let mut cli_ops = vec![];
    for op in 0..100 {
        let i = (op * 100) % USERS;
        let (name, has, extra) = (user(i), i % PROFILES, (i + 1) % PROFILES);
        let script = format!("ACL SETUSER {name} \"{}\"\nACL GETUSER {name}\n", selector(extra));
        let t = Instant::now();
        let mut child = cli(&server).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        cli_ops.push(ms(t.elapsed()));
        let undo = selector(has);
        assert!(cli(&server).args(["ACL", "SETUSER", &name, "clearselectors", &undo]).stdout(Stdio::null()).status().unwrap().success());
    }
    (r.cli_op_p50, r.cli_op_p99) = (percentile(&cli_ops, 50.0), percentile(&cli_ops, 99.0));
    r
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map_or(3, |a| a.parse().expect("RUNS"));
    let ops: usize = args.next().map_or(1_000, |a| a.parse().expect("OPS"));
    println!("Redis ACL connector benchmark: {USERS} users x 1 of {PROFILES} profiles, {ops} grant ops, {runs} runs");
    let mut all = vec![];
    for i in 1..=runs {
        let r = run(ops).await;
        eprintln!("run {i}: {r:?}");
        all.push(r);
    }
    let col = |f: fn(&Run) -> f64| -> Vec<f64> { all.iter().map(f).collect() };
    let table = stats::RunsTable::print_header("ms", runs, 48);
    table.row("load 100k users (pipelined ACL SETUSER)", col(|r| r.load));
    table.row("scan, redis-cli ACL LIST > /dev/null (cold)", col(|r| r.cli_cold));
    table.row("scan, connector, new connector (cold)", col(|r| r.scan_cold));
    table.row("scan, redis-cli ACL LIST > /dev/null (warm)", col(|r| r.cli_warm));
    table.row("scan, connector (warm)", col(|r| r.scan_warm));
    table.row("scan, in-process ACL LIST, redis crate (warm)", col(|r| r.raw_warm));
    table.row("scan warm: connector / redis-cli", col(|r| r.scan_warm / r.cli_warm));
    table.row("scan warm: connector / in-process", col(|r| r.scan_warm / r.raw_warm));
    table.row("scan cold: connector / redis-cli", col(|r| r.scan_cold / r.cli_cold));
    table.row("grant + read_account, connector p50", col(|r| r.grant_p50));
    table.row("grant + read_account, connector p99", col(|r| r.grant_p99));
    table.row("revoke + read_account, connector p50", col(|r| r.revoke_p50));
    table.row("revoke + read_account, connector p99", col(|r| r.revoke_p99));
    table.row("ACL SETUSER + ACL GETUSER, raw RESP p50", col(|r| r.raw_p50));
    table.row("ACL SETUSER + ACL GETUSER, raw RESP p99", col(|r| r.raw_p99));
    table.row("ACL SETUSER + ACL GETUSER, redis-cli/op p50", col(|r| r.cli_op_p50));
    table.row("ACL SETUSER + ACL GETUSER, redis-cli/op p99", col(|r| r.cli_op_p99));
    table.row("grant p50: connector / raw", col(|r| r.grant_p50 / r.raw_p50));
    if let Some(last) = all.last() {
        println!("\nInside Redis during the grant ops of the last run (INFO commandstats):\n{}", last.commandstats);
    }
}
