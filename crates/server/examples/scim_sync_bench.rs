//! A SCIM initial sync, end to end over HTTP: an identity provider pushes
//! N users and M groups into a fresh Writ.
//!
//!     cargo run --release -p writ-server --example scim_sync_bench
//!
//! Options: `--users N` (10000), `--groups N` (1000), `--members N` (users
//! per group, 10), `--clients N` (concurrent connections, 8: providers push
//! with modest concurrency), `--runs N` (3; the median is reported), and
//! `--no-lookup` (POST only; by default each user is first looked up with
//! `GET /Users?filter=userName eq "…"`, as Okta does before it creates).
//!
//! Each run: `writ init` in a temp dir with `[scim]` configured, the server
//! started as `writ serve` starts it (`writ_server::start`: hardened router,
//! background workers) on durable SQLite (`synchronous=FULL`), then N users
//! (with name, emails, externalId, a manager for nine in ten) and M groups
//! (each with its members), every response's status checked, and the
//! totals read back through SCIM at the end; then (outside the total) every
//! user is read back 100 a page, as a provider's import walks them. No
//! timing is asserted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

const TOKEN: &str = "scim-bench-token-0123456789abcdef0123456789";

struct Args {
    users: usize,
    groups: usize,
    members: usize,
    clients: usize,
    runs: usize,
    lookup: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args { users: 10_000, groups: 1_000, members: 10, clients: 8, runs: 3, lookup: true };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |what: &str| -> anyhow::Result<usize> {
            it.next().with_context(|| format!("{what} needs a number"))?.parse().with_context(|| format!("{what} needs a number"))
        };
        match arg.as_str() {
            "--users" => a.users = num("--users")?,
            "--groups" => a.groups = num("--groups")?,
            "--members" => a.members = num("--members")?,
            "--clients" => a.clients = num("--clients")?.max(1),
            "--runs" => a.runs = num("--runs")?.max(1),
            "--no-lookup" => a.lookup = false,
            other => bail!("unknown argument `{other}`: see the header of scim_sync_bench.rs"),
        }
    }
    Ok(a)
}

fn user_name(n: usize) -> String {
    format!("user{n:05}@example.com")
}

fn user(n: usize) -> Value {
    let mut u = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": user_name(n), "externalId": format!("00u{n:08}"), "active": true,
        "name": { "givenName": format!("Given{n}"), "familyName": format!("Family{n}") },
        "emails": [{ "value": user_name(n), "type": "work", "primary": true }],
    });
    // Nine in ten have a manager: one of the first users.
    if !n.is_multiple_of(10) {
        u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
            json!({ "manager": { "value": user_name(n / 10 * 10) }, "department": format!("dept{}", n % 37) });
    }
    u
}

/// Runs `work(i)` for i in 0..n on `clients` concurrent tasks.
async fn drive<F, Fut>(n: usize, clients: usize, work: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, work) = (next.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                work(i).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn send(client: &reqwest::Client, method: reqwest::Method, url: String, body: Option<&Value>, want: u16) -> anyhow::Result<Value> {
    let mut req = client.request(method, &url).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.header("content-type", "application/scim+json").body(b.to_string());
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    if status != want {
        bail!("{url}: {status} (wanted {want}): {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

struct Timing {
    users: Duration,
    groups: Duration,
    total: Duration,
    /// Reading every user back, 100 a page (not part of the sync's total).
    walk: Duration,
}

fn one_run(a: &Args) -> anyhow::Result<Timing> {
    let dir = tempfile::tempdir()?;
    std::env::remove_var("WRIT_DATABASE_URL");
    let server_rt = tokio::runtime::Builder::new_multi_thread().thread_name("srv").enable_all().build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread().thread_name("cli").enable_all().build()?;
    let report = server_rt.block_on(writ_server::init::init(dir.path(), false))?;
    let data = report.config.parent().context("the config's directory")?.to_owned();
    std::fs::write(data.join("scim-token"), TOKEN)?;
    let mut config = std::fs::read_to_string(&report.config)?;
    config.push_str("\n[scim]\ntoken_file = \"scim-token\"\n");
    std::fs::write(&report.config, config)?;
    let cfg = writ_server::Config::load_from(&report.config, std::iter::empty())?;
    let (app, resolved) = server_rt.block_on(writ_server::build(&cfg))?;
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let serving = server_rt.block_on(writ_server::start(app, &cfg, &resolved, listener))?;
    println!("  database: {} (synchronous={})", writ_store::redact(&resolved.database_url), resolved.sqlite_synchronous.pragma_value());

    let base = format!("http://{addr}/scim/v2");
    let client = reqwest::Client::builder().pool_max_idle_per_host(a.clients).build()?;
    let (users, groups, members, clients, lookup) = (a.users, a.groups, a.members, a.clients, a.lookup);
    let timing = client_rt.block_on(async {
        let started = Instant::now();
        let (c, b) = (client.clone(), base.clone());
        drive(users, clients, move |n| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                if lookup {
                    let found = send(&c, reqwest::Method::GET, format!("{b}/Users?filter=userName%20eq%20%22{}%22", user_name(n)), None, 200).await?;
                    if found["totalResults"] != 0 {
                        bail!("{} exists already", user_name(n));
                    }
                }
                send(&c, reqwest::Method::POST, format!("{b}/Users"), Some(&user(n)), 201).await.map(|_| ())
            }
        })
        .await?;
        let users_done = started.elapsed();
        let (c, b) = (client.clone(), base.clone());
        drive(groups, clients, move |g| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                let ids: Vec<Value> = (0..members).map(|k| json!({ "value": user_name((g * members + k) % users) })).collect();
                let body = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Team {g:04}"), "externalId": format!("00g{g:06}"), "members": ids });
                send(&c, reqwest::Method::POST, format!("{b}/Groups"), Some(&body), 201).await.map(|_| ())
            }
        })
        .await?;
        let total = started.elapsed();
        // Everything is there.
        let u = send(&client, reqwest::Method::GET, format!("{base}/Users?count=0"), None, 200).await?;
        let g = send(&client, reqwest::Method::GET, format!("{base}/Groups?count=1&filter=displayName%20eq%20%22Team%200000%22"), None, 200).await?;
        let n_users = u["totalResults"].as_u64().unwrap_or(0) as usize;
        if n_users < users {
            bail!("only {n_users} users listed");
        }
        if g["Resources"][0]["members"].as_array().map_or(0, Vec::len) != members.min(users) {
            bail!("the first group does not have its members: {g}");
        }
        // An import: every user read back, 100 a page, as a provider walks them.
        let walk_started = Instant::now();
        let mut seen = 0;
        let mut start = 1;
        while start <= n_users {
            let page = send(&client, reqwest::Method::GET, format!("{base}/Users?startIndex={start}&count=100"), None, 200).await?;
            seen += page["Resources"].as_array().map_or(0, Vec::len);
            start += 100;
        }
        if seen != n_users {
            bail!("the pages held {seen} users of {n_users}");
        }
        anyhow::Ok(Timing { users: users_done, groups: total - users_done, total, walk: walk_started.elapsed() })
    })?;
    server_rt.block_on(serving.stop(async {}))?;
    Ok(timing)
}

fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    println!(
        "SCIM initial sync: {} users ({}), then {} groups of {} members; {} concurrent clients; HTTP/1.1 keep-alive",
        a.users,
        if a.lookup { "each looked up by userName, then POSTed" } else { "POSTed" },
        a.groups,
        a.members,
        a.clients
    );
    let mut totals = Vec::new();
    for run in 1..=a.runs {
        println!("run {run}:");
        let t = one_run(&a)?;
        println!(
            "  users {:.2} s ({:.0}/s), groups {:.2} s ({:.0}/s), total {:.2} s; then every user read back, 100 a page: {:.2} s",
            t.users.as_secs_f64(),
            a.users as f64 / t.users.as_secs_f64(),
            t.groups.as_secs_f64(),
            a.groups as f64 / t.groups.as_secs_f64().max(1e-9),
            t.total.as_secs_f64(),
            t.walk.as_secs_f64()
        );
        totals.push(t.total.as_secs_f64());
    }
    let mut sorted = totals.clone();
    sorted.sort_by(f64::total_cmp);
    let runs: Vec<String> = totals.iter().map(|t| format!("{t:.2}")).collect();
    println!("median total: {:.2} s (runs: {} s)", sorted[sorted.len() / 2], runs.join(", "));
    Ok(())
}
