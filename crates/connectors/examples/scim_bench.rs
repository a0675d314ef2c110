//! SCIM connector benchmark against a real SCIM server (PyPI `scim2-server`,
//! writ-testkit), beside a plain HTTP client (Python `urllib`) on the same
//! server in the same run.
//!
//! ```sh
//! cargo run --release -p writ-connectors --example scim_bench [-- GROUPS MEMBERS_PER_GROUP OPS RUNS]
//! ```
//!
//! Loads `GROUPS` × `MEMBERS_PER_GROUP` memberships over HTTP (default 100 ×
//! 1,000 = 100,000; 10,000 users by `/Bulk`, 1,000 a request, each user in 10
//! groups; one PATCH per group) and prints how long that took. Then, `RUNS`
//! times (default 3):
//! - (a) a full `scan` (pages `/Users` for names, then `/Groups`) against a
//!   plain loop of `GET /Groups?startIndex&count&attributes=displayName,members`
//!   that parses each page, both with `count` 1,000, and against the same loop
//!   in process (reqwest + serde_json on one keep-alive connection: the
//!   in-process client's floor);
//! - (b) `OPS` (default 30: a read-back costs seconds here) grants each followed
//!   by `read_account`, against the plain client's PATCH (add the member) + the
//!   same read-back query (`GET /Groups?filter=members.value eq "<id>"`), and
//!   against PATCH + `GET /Groups/<id>` (the cheapest check of one group).
//!   Every grant is revoked untimed.
//!
//! Prints one table of medians over the runs.

#[path = "common/stats.rs"]
mod stats;
use stats::{median, percentile};

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use writ_app::ports::{Account, Connector, Order};
use writ_connectors::scim::{ScimConfig, ScimConnector};
use writ_core::identity::IdentityKind;
use writ_core::ids::{EntitlementId, IdentityId, RequestId, TargetId};
use writ_testkit::ScimServer;

const PAGE: u32 = 1000;

/// The plain client: Python's standard library only.
const PLAIN: &str = r#"
import json, sys, time, urllib.parse, urllib.request
base, token, mode = sys.argv[1], sys.argv[2], sys.argv[3]
H = {"Authorization": "Bearer " + token, "Accept": "application/scim+json", "Content-Type": "application/scim+json"}
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, headers=H, data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()
def patch(gid, op):
    call("PATCH", "/Groups/" + gid, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]})
if mode == "scan":
    start, n = 1, 0
    while True:
        q = urllib.parse.urlencode({"startIndex": start, "count": sys.argv[4], "attributes": "displayName,members"})
        page = json.loads(call("GET", "/Groups?" + q))
        got = page.get("Resources", [])
        n += sum(len(g.get("members", [])) for g in got)
        if not got or start - 1 + len(got) >= page["totalResults"]:
            break
        start += len(got)
    print(json.dumps(n))
else:
    out = []
    for uid, gid in json.load(sys.stdin):
        t = time.perf_counter()
        patch(gid, {"op": "add", "path": "members", "value": [{"value": uid}]})
        if mode == "filter":
            f = 'members.value eq "%s"' % uid
            page = json.loads(call("GET", "/Groups?" + urllib.parse.urlencode({"filter": f, "attributes": "displayName"})))
            assert any(g["id"] == gid for g in page["Resources"])
        else:
            assert uid in call("GET", "/Groups/" + gid + "?attributes=members").decode()
        out.append(time.perf_counter() - t)
        patch(gid, {"op": "remove", "path": 'members[value eq "%s"]' % uid})
    print(json.dumps(out))
"#;

fn arg(n: usize, default: usize) -> usize {
    std::env::args().nth(n).map(|a| a.parse().expect("a number")).unwrap_or(default)
}

fn order(account: &str, resource: &str) -> Order {
    Order {
        request: RequestId::parse("req-00000000000000000000000000000001").unwrap(),
        subject: IdentityId::parse("bench").unwrap(),
        account: Account { name: account.to_owned(), kind: IdentityKind::Person },
        entitlement: EntitlementId::parse("okta/bench").unwrap(),
        resource: resource.to_owned(),
        expires_at: None,
    }
}

fn ok(scim: &ScimServer, method: &str, path: &str, body: &Value) -> Value {
    let r = scim.request(method, path, Some(&body.to_string())).unwrap();
    assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.body.chars().take(300).collect::<String>());
    if r.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&r.body).unwrap()
    }
}

/// The in-process floor of a scan: the plain client's paging loop through
/// reqwest on one keep-alive connection, each page parsed and its members
/// counted. Returns the memberships seen.
async fn in_process_scan(scim: &ScimServer, http: &reqwest::Client) -> u64 {
    let (mut start, mut n) = (1u64, 0u64);
    loop {
        let page: Value = http
            .get(format!("{}/Groups", scim.base_url()))
            .query(&[("startIndex", start.to_string()), ("count", PAGE.to_string()), ("attributes", "displayName,members".into())])
            .bearer_auth(scim.token())
            .header("Accept", "application/scim+json")
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        let got = page["Resources"].as_array().map_or(&[][..], Vec::as_slice);
        n += got.iter().map(|g| g["members"].as_array().map_or(0, Vec::len) as u64).sum::<u64>();
        if got.is_empty() || start - 1 + got.len() as u64 >= page["totalResults"].as_u64().unwrap() {
            return n;
        }
        start += got.len() as u64;
    }
}

fn plain(scim: &ScimServer, args: &[&str], stdin: &str) -> Value {
    let mut child = Command::new("python3")
        .args(["-c", PLAIN, &scim.base_url(), scim.token()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::main]
async fn main() {
    let (groups, per_group, ops, runs) = (arg(1, 100), arg(2, 1_000), arg(3, 30), arg(4, 3));
    let blocks = 10.min(groups);
    let users = blocks * per_group;
    let scim = ScimServer::start().unwrap();

    // Load over HTTP.
    let t = Instant::now();
    let mut user_ids = Vec::with_capacity(users);
    for chunk in (0..users).collect::<Vec<_>>().chunks(1000) {
        let ops: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({ "method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                "data": { "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("user-{i:06}") } })
            })
            .collect();
        let r = ok(&scim, "POST", "/Bulk", &json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops }));
        for op in r["Operations"].as_array().unwrap() {
            assert_eq!(op["status"].as_str().map(|s| s.starts_with('2')), Some(true), "{op}");
            user_ids.push(op["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned());
        }
    }
    let users_loaded = t.elapsed().as_secs_f64();
    let mut group_ids = Vec::with_capacity(groups);
    for g in 0..groups {
        let created =
            ok(&scim, "POST", "/Groups", &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("group-{g:04}") }));
        let gid = created["id"].as_str().unwrap().to_owned();
        let first = (g % blocks) * per_group;
        let members: Vec<Value> = user_ids[first..first + per_group].iter().map(|id| json!({ "value": id })).collect();
        for chunk in members.chunks(1000) {
            let op = json!({ "op": "add", "path": "members", "value": chunk });
            ok(&scim, "PATCH", &format!("/Groups/{gid}"), &json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op] }));
        }
        group_ids.push(gid);
    }
    let memberships = groups * per_group;
    println!(
        "loaded {memberships} memberships ({groups} groups x {per_group}, {users} users) over HTTP in {:.1} s ({users_loaded:.1} s for the users by /Bulk)",
        t.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, scim.token()).unwrap();
    let config: ScimConfig =
        serde_json::from_value(json!({ "base_url": scim.base_url(), "token_file": token, "page_size": PAGE, "timeout_secs": 600 })).unwrap();
    let c = Arc::new(ScimConnector::new(&TargetId::parse("okta").unwrap(), &config).unwrap());
    // Pairs (user, group) not held: a user of block b joins group g with g % blocks != b.
    let pairs = |run: usize| -> Vec<(usize, usize)> {
        (0..ops)
            .map(|k| {
                let i = (run * ops + k) * 7919 % users;
                let g = (0..groups).map(|x| (x + k) % groups).find(|g| g % blocks != i / per_group).unwrap();
                (i, g)
            })
            .collect()
    };

    let mut rows: Vec<(String, Vec<f64>)> = [
        "scan: connector (s)",
        "scan: plain paged GET /Groups (s)",
        "scan: ratio connector / plain",
        "scan: in-process paged GET /Groups, reqwest (s)",
        "scan: ratio connector / in-process",
        "grant+read-back: connector p50 (ms)",
        "grant+read-back: connector p99 (ms)",
        "grant+read-back: plain PATCH + GET filter members.value p50 (ms)",
        "grant+read-back: plain PATCH + GET filter members.value p99 (ms)",
        "grant+check: plain PATCH + GET /Groups/<id> p50 (ms)",
        "grant+check: plain PATCH + GET /Groups/<id> p99 (ms)",
    ]
    .into_iter()
    .map(|n| (n.to_owned(), Vec::new()))
    .collect();

    let http = reqwest::Client::new();
    for r in 0..runs {
        let t = Instant::now();
        let n = c.scan(&mut |_| {}).await.unwrap();
        let conn_scan = t.elapsed().as_secs_f64();
        assert_eq!(n as usize, memberships);
        let t = Instant::now();
        let plain_n = plain(&scim, &["scan", &PAGE.to_string()], "");
        let plain_scan = t.elapsed().as_secs_f64();
        assert_eq!(plain_n.as_u64(), Some(memberships as u64));
        let t = Instant::now();
        let raw_n = in_process_scan(&scim, &http).await;
        let raw_scan = t.elapsed().as_secs_f64();
        assert_eq!(raw_n, memberships as u64);

        let mut conn_lat = Vec::new();
        for (i, g) in pairs(r) {
            let o = order(&format!("user-{i:06}"), &format!("group-{g:04}"));
            let t = Instant::now();
            c.grant(&o).await.unwrap();
            let state = c.read_account(&o.account).await.unwrap();
            conn_lat.push(t.elapsed().as_secs_f64());
            assert!(state.holds(&o.resource));
            c.revoke(&o).await.unwrap();
        }
        let ids = Value::from(pairs(r).iter().map(|&(i, g)| json!([user_ids[i], group_ids[g]])).collect::<Vec<_>>()).to_string();
        let lat = |mode: &str| -> Vec<f64> { serde_json::from_value(plain(&scim, &[mode], &ids)).unwrap() };
        let (filter_lat, group_lat) = (lat("filter"), lat("group"));

        let values = [
            conn_scan,
            plain_scan,
            conn_scan / plain_scan,
            raw_scan,
            conn_scan / raw_scan,
            percentile(&conn_lat.iter().map(|s| s * 1e3).collect::<Vec<_>>(), 50.0),
            percentile(&conn_lat.iter().map(|s| s * 1e3).collect::<Vec<_>>(), 99.0),
            percentile(&filter_lat.iter().map(|s| s * 1e3).collect::<Vec<_>>(), 50.0),
            percentile(&filter_lat.iter().map(|s| s * 1e3).collect::<Vec<_>>(), 99.0),
            percentile(&group_lat.iter().map(|s| s * 1e3).collect::<Vec<_>>(), 50.0),
            percentile(&group_lat.iter().map(|s| s * 1e3).collect::<Vec<_>>(), 99.0),
        ];
        for (row, v) in rows.iter_mut().zip(values) {
            row.1.push(v);
        }
        eprintln!("run {}: {:?}", r + 1, values.map(|v| (v * 1000.0).round() / 1000.0));
    }

    println!("\n{memberships} memberships, {ops} grant ops per run, {runs} runs (medians)\n");
    println!("| measure | median | runs |");
    println!("|---|---:|---|");
    for (name, v) in rows {
        let all: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
        println!("| {name} | {:.3} | {} |", median(&v), all.join(", "));
    }
}
