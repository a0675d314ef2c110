//! Reconciliation classification: time and peak memory.
//!
//!     cargo run --release -p writ-core --example reconcile_bench            # 1,000,000
//!     cargo run --release -p writ-core --example reconcile_bench -- 100000
//!
//! Builds COUNT grants on 200 resources for COUNT/4 accounts and a target
//! showing COUNT live rows, mixed like a drifting PostgreSQL target (every row
//! carries `admin_option`, one grant in ten approves `admin_option = false`):
//! ~97% matched, 1% unapproved (with as many grants missing), 0.6% held after
//! their grant ended or while it is being removed, 0.4% held with admin option
//! against the approval, 0.4% unknown identities, 0.4% ignored, 0.1% Redis-like
//! selectors matching no profile.
//!
//! Times only classification (index the ledger, observe every row, finish),
//! 5 runs, median. The rows are made 4,096 at a time outside the timed
//! region and handed over one by one in an order unlike the ledger's, as a
//! scan would, so they are never all in memory; the ledger and the registry
//! are built in full before each run and count in the peak RSS (VmHWM).
//! Beside wall time it shows the thread's on-CPU time (from
//! `/proc/thread-self/schedstat`), which other work on the machine does not
//! inflate.

use std::collections::{BTreeMap, HashMap};
use std::ops::AddAssign;
use std::time::{Duration, Instant};

use uuid::Uuid;
use writ_core::ids::{GrantId, IdentityId};
use writ_core::reconcile::{AccountHolder, Classifier, Counts, IgnoreRule, LedgerGrant, LiveEntitlement, Observation, Situation, Standing};

const RESOURCES: usize = 200;
const GRANTS_PER_ACCOUNT: usize = 4;
const CHUNK: usize = 4096;
const RUNS: usize = 5;

/// What grant `i` and live row `i` are, by `i % 1000`.
#[derive(Clone, Copy, PartialEq)]
enum Case {
    /// The grant is not shown; the row is an access nobody approved.
    MissingAndUnapproved,
    EndedButLive,
    RevokingButLive,
    AdminOptionAgainstApproval,
    /// The grant ended and is gone; the row is an account nobody registered.
    Ghost,
    /// The grant ended and is gone; the row is a monitoring role.
    Ignored,
    /// The grant is not shown; the row is a selector matching no profile.
    UnknownSelector,
    Matched,
}

fn case(i: usize) -> Case {
    match i % 1000 {
        0..10 => Case::MissingAndUnapproved,
        10..14 => Case::EndedButLive,
        14..16 => Case::RevokingButLive,
        16..20 => Case::AdminOptionAgainstApproval,
        20..23 => Case::Ghost,
        23..27 => Case::Ignored,
        27 => Case::UnknownSelector,
        _ => Case::Matched,
    }
}

fn account(a: usize) -> String {
    format!("u{a:07}")
}

/// The account's grants are on 4 resources 50 apart; +25 is never granted.
fn resource(names: &[String], i: usize) -> &str {
    let a = i / GRANTS_PER_ACCOUNT;
    &names[(a + (i % GRANTS_PER_ACCOUNT) * 50) % RESOURCES]
}

/// splitmix64: grant ids as scattered as v4 UUIDs, but reproducible.
fn scatter(i: usize) -> u128 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) as u128) << 64 | i as u128
}

fn admin(value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("admin_option".to_owned(), value.to_owned())])
}

fn ledger(n: usize, names: &[String]) -> Vec<LedgerGrant> {
    (0..n)
        .map(|i| {
            let c = case(i);
            let standing = match c {
                Case::EndedButLive | Case::Ghost | Case::Ignored => Standing::Ended,
                Case::RevokingButLive => Standing::Revoking,
                _ => Standing::Active,
            };
            let name = account(i / GRANTS_PER_ACCOUNT);
            LedgerGrant {
                grant: GrantId::from_uuid(Uuid::from_u128(scatter(i))),
                subject: IdentityId::parse(&name).unwrap(),
                account: name,
                resource: resource(names, i).to_owned(),
                standing,
                expected: if i % 10 == 0 || c == Case::AdminOptionAgainstApproval { admin("false") } else { BTreeMap::new() },
            }
        })
        .collect()
}

/// People, some owned service accounts, and one account in 1000 a service
/// account whose owner left.
fn registry(n: usize) -> HashMap<String, AccountHolder> {
    (0..n.div_ceil(GRANTS_PER_ACCOUNT))
        .map(|a| {
            let name = account(a);
            let holder =
                AccountHolder { identity: IdentityId::parse(&name).unwrap(), human: a % 100 != 7 && a % 1000 != 999, has_active_owner: a % 1000 != 999 };
            (name, holder)
        })
        .collect()
}

fn row(names: &[String], i: usize) -> LiveEntitlement {
    let a = i / GRANTS_PER_ACCOUNT;
    let (account, resource, detail) = match case(i) {
        Case::MissingAndUnapproved => (account(a), names[(a + 25) % RESOURCES].clone(), admin("false")),
        Case::AdminOptionAgainstApproval => (account(a), resource(names, i).to_owned(), admin("true")),
        Case::Ghost => (format!("ghost{i}"), resource(names, i).to_owned(), admin("false")),
        Case::Ignored => (format!("monitoring_{}", i % 97), "pg_read_all_stats".to_owned(), admin("false")),
        Case::UnknownSelector => (account(a), String::new(), BTreeMap::from([("rules".to_owned(), "~cache:* resetchannels -@all +@read".to_owned())])),
        Case::EndedButLive | Case::RevokingButLive | Case::Matched => (account(a), resource(names, i).to_owned(), admin("false")),
    };
    LiveEntitlement { account, resource, detail }
}

/// A stride coprime with `n`: visits every row once, far from ledger order.
fn stride(n: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    (n / 3 + 1..).find(|s| gcd(*s, n) == 1).unwrap()
}

fn vm(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok()).unwrap_or(0)
}

/// Wall time and this thread's on-CPU time.
#[derive(Clone, Copy, Default)]
struct Spent {
    wall: Duration,
    cpu: Duration,
}

impl AddAssign for Spent {
    fn add_assign(&mut self, o: Spent) {
        self.wall += o.wall;
        self.cpu += o.cpu;
    }
}

impl std::fmt::Display for Spent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1} ms ({:.1} ms CPU)", ms(self.wall), ms(self.cpu))
    }
}

fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(stat.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// Runs `f`, measuring it.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Spent) {
    let (wall, cpu) = (Instant::now(), thread_cpu());
    let out = f();
    let cpu = thread_cpu().saturating_sub(cpu);
    (out, Spent { wall: wall.elapsed(), cpu })
}

struct Run {
    index: Spent,
    observe: Spent,
    finish: Spent,
    counts: Counts,
}

impl Run {
    fn total(&self) -> Spent {
        let mut t = self.index;
        t += self.observe;
        t += self.finish;
        t
    }
}

fn run(n: usize, names: &[String], rules: &[IgnoreRule]) -> (Run, u64) {
    let ledger = ledger(n, names);
    let accounts = registry(n);
    let inputs_rss = vm("VmRSS:");

    let mut seen = [0u64; 7];
    let mut sink = |o: Observation| seen[Situation::ALL.iter().position(|s| *s == o.situation).unwrap()] += 1;
    let (mut classifier, index) = timed(|| Classifier::new(ledger, accounts, rules.to_vec()));

    let (step, mut observe) = (stride(n), Spent::default());
    for start in (0..n).step_by(CHUNK) {
        let rows: Vec<LiveEntitlement> = (start..n.min(start + CHUNK)).map(|j| row(names, j * step % n)).collect();
        observe += timed(|| {
            for r in rows {
                classifier.observe(r, &mut sink);
            }
        })
        .1;
    }
    let (counts, finish) = timed(|| classifier.finish(&mut sink));
    for (s, got) in Situation::ALL.iter().zip(seen) {
        assert_eq!(counts.get(*s), got, "{s}");
    }
    assert_eq!(counts.total_live(), n as u64, "one observation per row");
    (Run { index, observe, finish, counts }, inputs_rss)
}

fn main() {
    let n: usize = std::env::args().nth(1).map(|a| a.replace(['_', ','], "").parse().expect("COUNT is a number")).unwrap_or(1_000_000);
    let names: Vec<String> = (0..RESOURCES).map(|r| format!("app{r:03}_read")).collect();
    let rules = vec![IgnoreRule::new(Some("monitoring_*"), Some("pg_*")).unwrap()];
    println!("{n} grants on {RESOURCES} resources for {} accounts, {n} live rows; {RUNS} runs", n.div_ceil(GRANTS_PER_ACCOUNT));

    let mut runs = Vec::new();
    let mut inputs_rss = 0;
    for k in 1..=RUNS {
        let (r, rss) = run(n, &names, &rules);
        inputs_rss = inputs_rss.max(rss);
        println!("run {k}: {}  index {}, observe {}, finish {}", r.total(), r.index, r.observe, r.finish);
        runs.push(r);
    }
    let c = runs[0].counts;
    println!("situations:");
    for s in Situation::ALL {
        println!("  {:<17} {:>9}  {:>6.2}%", s.as_str(), c.get(s), 100.0 * c.get(s) as f64 / c.total() as f64);
    }
    println!("  match rate {:.4}", c.match_rate());
    let mut cpu: Vec<Duration> = runs.iter().map(|r| r.total().cpu).collect();
    cpu.sort();
    runs.sort_by_key(|r| r.total().wall);
    let m = &runs[RUNS / 2];
    println!("median: {}  index {}, observe {}, finish {}", m.total(), m.index, m.observe, m.finish);
    println!("  {:.0} ns per row; median on-CPU time {:.1} ms", m.total().wall.as_nanos() as f64 / n as f64, ms(cpu[RUNS / 2]));
    println!(
        "peak RSS (VmHWM): {:.0} MB; RSS with the ledger and registry built, before indexing: {:.0} MB",
        vm("VmHWM:") as f64 / 1024.0,
        inputs_rss as f64 / 1024.0
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
