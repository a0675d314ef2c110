//! Fills a SQLite database with a large, realistic audit log, signs a checkpoint
//! of it, and writes the same log as a JSON Lines export, for timing
//! `writ audit verify` on both.
//!
//!     cargo run --release -p writ-store --example audit_fill -- /tmp/writ-bench/audit.db
//!     target/release/writ audit verify --database sqlite:///tmp/writ-bench/audit.db
//!     target/release/writ audit verify --file /tmp/writ-bench/audit.jsonl
//!
//! Options after the path: `--events N` (1000000), `--batch N` (events per
//! commit, 5000), `--export FILE` (default: the path with extension `.jsonl`).
//! The database must not exist yet.
//!
//! Events go through the `Store` port (`Store::commit` of `Change`s holding only
//! events), so they are sealed and stored exactly as the server stores them. They
//! follow request lifecycles (submitted, policy decisions, review, approval,
//! task, grant) with about 200 bytes of canonical JSON payload, a request id on
//! all but the occasional identity event, and times 250 ms apart. The export has
//! the format `writ audit export` writes: one `{"type":"event", ...}` line per
//! event in seq order, then one `{"type":"checkpoint", ...}` line per checkpoint.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use writ_app::ports::{Change, Store};
use writ_core::audit::{sign_checkpoint, NewEvent};
use writ_store::SqlStore;

struct Args {
    db: PathBuf,
    export: PathBuf,
    events: u64,
    batch: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let usage = "usage: audit_fill DB_PATH [--events N] [--batch N] [--export FILE]";
    let mut db = None;
    let mut export = None;
    let (mut events, mut batch) = (1_000_000u64, 5_000usize);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--events" => events = it.next().context(usage)?.parse().context("--events needs a number")?,
            "--batch" => batch = it.next().context(usage)?.parse().context("--batch needs a number")?,
            "--export" => export = Some(PathBuf::from(it.next().context(usage)?)),
            s if s.starts_with("--") => bail!("unknown option `{s}`; {usage}"),
            s => db = Some(PathBuf::from(s)),
        }
    }
    let db = db.context(usage)?;
    let db = if db.is_absolute() { db } else { std::env::current_dir()?.join(db) };
    let export = export.unwrap_or_else(|| db.with_extension("jsonl"));
    if batch == 0 {
        bail!("--batch must be at least 1");
    }
    Ok(Args { db, export, events, batch })
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n
    }
}

const ENTITLEMENTS: [&str; 8] = [
    "pg-prod/payments_readonly",
    "pg-prod/analytics_read",
    "ldap-corp/vpn-users",
    "pg-prod/payments_write",
    "aws-prod/billing_admin",
    "github/org-maintainer",
    "k8s-prod/namespace-payments-edit",
    "snowflake/finance_reader",
];
const JUSTIFICATIONS: [&str; 4] = [
    "investigate INC-4821: settlement batch failed for EU merchants",
    "quarterly revenue report for the finance review",
    "on-call this week, need VPN for incident response",
    "migrate the payments schema (change CHG-1193)",
];

/// Generates the events of request lifecycles, one after another.
struct Gen {
    rng: Rng,
    at: DateTime<Utc>,
    /// Events still to emit for the current request, in order.
    pending: Vec<NewEvent>,
    requests: u64,
}

impl Gen {
    fn new() -> Self {
        let at = DateTime::from_timestamp_millis(1_767_225_600_000).expect("valid time"); // 2026-01-01
        Gen { rng: Rng(0x9E37_79B9_7F4A_7C15), at, pending: Vec::new(), requests: 0 }
    }

    fn tick(&mut self) -> DateTime<Utc> {
        self.at += Duration::milliseconds(250);
        self.at
    }

    fn next(&mut self) -> NewEvent {
        // Now and then an event that belongs to no request.
        if self.rng.below(25) == 0 {
            let who = format!("user{:04}", self.rng.below(5_000));
            let at = self.tick();
            return NewEvent {
                at,
                actor: "scim-sync".into(),
                kind: "identity.upserted".into(),
                request_id: None,
                payload: json!({
                    "id": who,
                    "kind": "person",
                    "status": "active",
                    "display_name": format!("User {who}"),
                    "manager": format!("user{:04}", self.rng.below(200)),
                    "groups": ["engineering", "oncall"],
                }),
            };
        }
        if self.pending.is_empty() {
            self.refill();
        }
        self.pending.pop().expect("refill adds events")
    }

    /// Queues the events of one new request (reversed, so `pop` yields them in order).
    fn refill(&mut self) {
        self.requests += 1;
        let rid = format!("req_{:032x}", u128::from(self.requests).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835));
        let requester = format!("user{:04}", self.rng.below(5_000));
        let manager = format!("user{:04}", self.rng.below(200));
        let ent = ENTITLEMENTS[self.rng.below(ENTITLEMENTS.len() as u64) as usize];
        let why = JUSTIFICATIONS[self.rng.below(JUSTIFICATIONS.len() as u64) as usize];
        let hours = 1 + self.rng.below(8);
        let task = format!("tsk_{:032x}", (u128::from(self.requests) << 7) | 0x5A);
        let grant = format!("grt_{:032x}", (u128::from(self.requests) << 9) | 0xA5);
        let ev = |kind: &str, actor: &str, payload: Value, at: DateTime<Utc>| NewEvent {
            at,
            actor: actor.to_owned(),
            kind: kind.to_owned(),
            request_id: Some(rid.clone()),
            payload,
        };
        let t0 = self.tick();
        let mut out = vec![
            ev(
                "request.submitted",
                &requester,
                json!({
                    "requester": requester, "subject": requester, "entitlements": [ent],
                    "justification": why, "duration": format!("{hours}h"), "ticket": "INC-4821",
                    "lapses_at": t0 + Duration::days(7),
                }),
                t0,
            ),
            ev(
                "policy.decided",
                "policy",
                json!({
                    "action": "request", "entitlement": ent, "allowed": true, "principal": requester, "risk": "medium",
                    "policy_ids": ["request-requires-justification", "request-max-duration"], "at": t0,
                }),
                t0,
            ),
            ev(
                "policy.decided",
                "policy",
                json!({
                    "action": "auto_approve", "entitlement": ent, "allowed": false, "principal": requester, "risk": "medium",
                    "policy_ids": [], "reason": "no policy permits it", "at": t0,
                }),
                t0,
            ),
        ];
        let t1 = self.tick();
        out.push(ev(
            "review.recorded",
            &manager,
            json!({
                "reviewer": manager, "verdict": "approve", "stage": "manager", "entitlement": ent,
                "reason": "ok, matches the on-call rota", "at": t1,
            }),
            t1,
        ));
        out.push(ev(
            "request.approved",
            "policy",
            json!({
                "reason": "every approval stage passed", "stages": ["manager"], "approvers": [manager], "entitlements": [ent], "at": t1,
            }),
            t1,
        ));
        out.push(ev(
            "task.opened",
            "system",
            json!({ "task": task, "entitlement": ent, "fulfiller_group": "dba", "subject": requester, "connector": "manual", "at": t1 }),
            t1,
        ));
        let t2 = self.tick();
        out.push(ev(
            "task.completed",
            "dana",
            json!({
                "task": task, "entitlement": ent, "completed_by": "dana", "at": t2,
                "evidence": format!("GRANT {} TO {requester}; verified with \\du", ent.rsplit('/').next().unwrap_or(ent)),
            }),
            t2,
        ));
        out.push(ev(
            "grant.started",
            "system",
            json!({
                "grant": grant, "entitlement": ent, "subject": requester, "task": task, "starts_at": t2,
                "expires_at": t2 + Duration::hours(hours as i64),
            }),
            t2,
        ));
        out.reverse();
        self.pending = out;
    }
}

/// One export line: the item's fields after a `type` tag, as `writ audit export` writes.
#[derive(Serialize)]
struct Line<'a, T> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    item: &'a T,
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", args.db.display()));
        if p.exists() {
            bail!("`{}` already exists: give a new path (this tool only fills new databases)", p.display());
        }
    }
    if let Some(parent) = args.db.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let url = format!("sqlite://{}", args.db.display());
    let store = SqlStore::open(&url).await?;

    // Fill.
    let started = Instant::now();
    let mut gen = Gen::new();
    let (mut written, mut payload_bytes, mut with_request) = (0u64, 0u64, 0u64);
    while written < args.events {
        let n = (args.events - written).min(args.batch as u64) as usize;
        let events: Vec<NewEvent> = (0..n).map(|_| gen.next()).collect();
        let sealed = store.commit(Change { events, ..Default::default() }).await?;
        for e in &sealed {
            payload_bytes += e.payload.len() as u64;
            with_request += u64::from(e.request_id.is_some());
        }
        written += n as u64;
        if written % 100_000 < args.batch as u64 || written == args.events {
            eprintln!("  {written} events, {:.1}s", started.elapsed().as_secs_f64());
        }
    }
    let fill = started.elapsed();

    // Sign the head with a fixed demo key (its fingerprint is printed by verify).
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let (size, head) = store.audit_head().await?;
    let cp = sign_checkpoint(&key, size, head, gen.tick());
    store.add_checkpoint(&cp).await?;

    // Export, read back through the Store port.
    let started = Instant::now();
    let file = std::fs::File::create(&args.export).with_context(|| format!("cannot create `{}`", args.export.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut after = 0;
    loop {
        let page = store.audit_events(after, 20_000).await?;
        for e in &page {
            serde_json::to_writer(&mut out, &Line { kind: "event", item: e })?;
            out.write_all(b"\n")?;
        }
        match page.last() {
            Some(last) => after = last.seq,
            None => break,
        }
    }
    for c in store.checkpoints().await? {
        serde_json::to_writer(&mut out, &Line { kind: "checkpoint", item: &c })?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let export = started.elapsed();
    store.close().await;

    let db_size: u64 = ["", "-wal"].iter().filter_map(|s| std::fs::metadata(format!("{}{s}", args.db.display())).ok()).map(|m| m.len()).sum();
    let export_size = std::fs::metadata(&args.export)?.len();
    println!("database: {url} ({:.0} MB)", db_size as f64 / 1e6);
    println!("export:   {} ({:.0} MB)", args.export.display(), export_size as f64 / 1e6);
    println!(
        "events:   {written} ({} requests; {:.1}% with a request id; payload mean {:.0} bytes of canonical JSON)",
        gen.requests,
        with_request as f64 * 100.0 / written.max(1) as f64,
        payload_bytes as f64 / written.max(1) as f64
    );
    println!("checkpoint: size {} head {} signed by {}", cp.size, cp.head, cp.key_fingerprint());
    println!("fill:     {:.1}s ({:.0} events/s, batches of {})", fill.as_secs_f64(), written as f64 / fill.as_secs_f64(), args.batch);
    println!(
        "export:   {:.1}s ({:.0} events/s read back through Store::audit_events and written as JSON Lines)",
        export.as_secs_f64(),
        written as f64 / export.as_secs_f64()
    );
    Ok(())
}
