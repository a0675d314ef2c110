//! Two nodes, one PostgreSQL: two `writ serve` processes share one database
//! while a few hundred short-lived grants on a real PostgreSQL target are
//! provisioned and expire. One node is SIGKILLed mid-run and not restarted; the
//! other takes up its claimed jobs once their lease ends. At the end every
//! grant was provisioned once and removed and verified exactly once, by
//! whichever node claimed it (named in the evidence), and the log verifies.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use writ_testkit::PgServer;

#[path = "common/demo.rs"]
mod demo;
#[path = "common/expiring.rs"]
mod expiring;
#[path = "common/server.rs"]
mod server;

use expiring::{add_target, create_requests, create_roles, endings, memberships, provisionings, Rng};
use server::{text, writ_cmd, Server};

#[test]
fn two_nodes_share_the_work_and_a_dead_nodes_jobs_are_finished_once_by_the_other() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let db = pg.create_database("writ").unwrap();
    create_roles(&pg);
    let s = Server::start_with(Some(&db), |data| {
        add_target(data, &pg);
        // Name the first node too: every job's evidence says who ran it.
        let config = std::fs::read_to_string(data.join("writ.toml")).unwrap();
        assert!(config.contains("node_id = \"\""), "the demo config has the key");
        std::fs::write(data.join("writ.toml"), config.replace("node_id = \"\"", "node_id = \"node-a\"")).unwrap();
    });
    let mut b = s.start_node("node-b");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);

    let ids = create_requests(&s, &mut rng);

    // Let both nodes provision and start removing, then kill node A mid-run.
    std::thread::sleep(Duration::from_secs(8));
    let mut a = s;
    a.kill();

    // Node B finishes everything, A's claimed jobs included (after the lease).
    let as_b = |args: &[&str]| {
        let out = writ_cmd().args(["--server", &b.url, "--token", &a.tokens["audrey"], "--json"]).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}\nnode-b log:\n{}", text(&out.stderr), b.log());
        text(&out.stdout)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let grants = loop {
        let grants: Vec<serde_json::Value> = serde_json::from_str(&as_b(&["grant", "list", "--all"])).unwrap();
        let open = grants.iter().filter(|g| g["state"] == "active" || g["state"] == "revoking").count();
        if grants.len() == ids.len() && open == 0 {
            break grants;
        }
        assert!(Instant::now() < deadline, "{open} of {} grants still open ({} requests)\nnode-b log:\n{}", grants.len(), ids.len(), b.log());
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(grants.iter().all(|g| g["state"] == "expired"), "{grants:?}");
    assert_eq!(memberships(&pg), 0, "the target still holds access");

    // Exactly once each, by whichever node claimed it.
    let export = a.dir.path().join("audit.jsonl");
    as_b(&["audit", "export", "--output", export.to_str().unwrap()]);
    let ended = endings(&export);
    let all: BTreeSet<String> = grants.iter().map(|g| g["id"].as_str().unwrap().to_owned()).collect();
    let missing: Vec<&String> = all.iter().filter(|g| !ended.contains_key(*g)).collect();
    assert!(missing.is_empty(), "grants without removal evidence: {missing:?}");
    assert!(ended.values().all(|(k, _)| *k == "removed"), "no grant overlaps another here");
    let provisioned = provisionings(&export);
    assert_eq!(provisioned.len(), ids.len(), "every request's entitlement was put in place");
    assert!(provisioned.values().all(|n| *n == 1), "an entitlement was verified in place twice: {provisioned:?}");
    let mut by_node: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, node) in ended.values() {
        *by_node.entry(node.as_str()).or_insert(0) += 1;
    }
    assert!(by_node.keys().all(|n| ["node-a", "node-b"].contains(n)), "only the two nodes ran removals: {by_node:?}");
    assert!(by_node.contains_key("node-a") && by_node.contains_key("node-b"), "both nodes took removals before the kill: {by_node:?}");
    let out = writ_cmd().args(["audit", "verify", "--database", &db]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    b.kill();
    println!("node-a killed mid-run; {} grants removed and verified exactly once: {by_node:?}", all.len());
}
