//! Crash test: a few hundred short-lived grants on a real PostgreSQL target,
//! while the server is killed with SIGKILL at pseudo-random moments (during
//! provisioning and mid-revocation) and restarted each time. At the end every
//! grant has expired, the target holds none of the access, every grant has its
//! removal evidence, and the audit log verifies. Prints how many kills it took.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use writ_testkit::PgServer;

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::Server;

const PEOPLE: [&str; 11] = ["alice", "bob", "olivia", "oscar", "mona", "sam", "sue", "sid", "dana", "ivan", "audrey"];
const REQUESTS_EACH: usize = 20;

/// xorshift: the same "random" moments every run, so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn add_target(data: &std::path::Path, pg: &PgServer) {
    let mut catalog = std::fs::read_to_string(data.join("catalog.toml")).unwrap();
    catalog.push_str("\n[[targets]]\nid = \"pg-live\"\nowners = [\"olivia\"]\nfulfilment = { kind = \"connector\" }\n");
    // One entitlement per round, so that no two grants owe the same access.
    for round in 0..REQUESTS_EACH {
        catalog.push_str(&format!(
            "\n[[entitlements]]\nid = \"pg-live/reporting_{round:02}\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n\
             stages = [{{ name = \"manager\", approvers = \"subject_manager\", required = 1 }}]\n"
        ));
    }
    std::fs::write(data.join("catalog.toml"), catalog).unwrap();
    let mut config = std::fs::read_to_string(data.join("writ.toml")).unwrap();
    // A dead server's claimed jobs are taken up again after the lease.
    assert!(config.contains("job_lease = \"2m\""), "the demo config sets the lease");
    config = config.replace("job_lease = \"2m\"", "job_lease = \"3s\"");
    config.push_str(&format!("\n[targets.pg-live]\nkind = \"postgres\"\nurl = \"{}\"\n", pg.url()));
    std::fs::write(data.join("writ.toml"), config).unwrap();
}

fn memberships(pg: &PgServer) -> u64 {
    pg.psql("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname LIKE 'reporting%'")
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn every_expired_grant_is_removed_and_proved_whatever_the_crashes() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let logins: String = PEOPLE.iter().map(|p| format!("CREATE ROLE {p} LOGIN;")).collect();
    let roles: String = (0..REQUESTS_EACH).map(|r| format!("CREATE ROLE reporting_{r:02} NOLOGIN;")).collect();
    pg.psql(&format!("{roles}{logins}")).unwrap();
    let mut s = Server::start_with(None, |data| add_target(data, &pg));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // A few hundred self-service requests (auto-approved), lasting 4 to 24 s.
    let mut ids = Vec::new();
    for round in 0..REQUESTS_EACH {
        for who in PEOPLE {
            let secs = 4 + rng.below(21);
            let entitlement = format!("pg-live/reporting_{round:02}");
            let v = s.json(who, &["request", "create", "-e", &entitlement, "-d", &format!("{secs}s"), "-j", &format!("crash test {round}")]);
            ids.push(v["id"].as_str().or(v["request"]["id"].as_str()).unwrap().to_owned());
        }
    }

    // Kill and restart at pseudo-random moments while they are provisioned and expire.
    let mut kills = 0;
    let chaos_until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < chaos_until {
        std::thread::sleep(Duration::from_millis(200 + rng.below(1300)));
        s.kill();
        kills += 1;
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        s.restart();
    }

    // Then let it finish: every grant ended, and nothing left on the target.
    let deadline = Instant::now() + Duration::from_secs(120);
    let grants = loop {
        let v = s.json("audrey", &["grant", "list", "--all"]);
        let grants = v.as_array().unwrap().clone();
        let open = grants.iter().filter(|g| g["state"] == "active" || g["state"] == "revoking").count();
        if grants.len() == ids.len() && open == 0 {
            break grants;
        }
        assert!(Instant::now() < deadline, "{open} of {} grants still open after the crashes ({} requests)\n{}", grants.len(), ids.len(), s.log());
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(grants.iter().all(|g| g["state"] == "expired"), "{grants:?}");
    assert_eq!(memberships(&pg), 0, "the target still holds access");

    // Every grant has its removal evidence, and the log verifies.
    let export = s.dir.path().join("audit.jsonl");
    s.ok("audrey", &["audit", "export", "--output", export.to_str().unwrap()]);
    let mut ended: BTreeMap<String, &'static str> = BTreeMap::new();
    for line in std::fs::read_to_string(&export).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let kind = match v["kind"].as_str() {
            Some("grant.removal_verified") => "removed",
            Some("grant.ended_covered") => "covered",
            _ => continue,
        };
        let payload: Value = serde_json::from_str(v["payload"].as_str().unwrap()).unwrap();
        let grant = payload["grant"].as_str().unwrap().to_owned();
        assert!(ended.insert(grant.clone(), kind).is_none(), "grant {grant} was ended twice in the log");
    }
    let all: BTreeSet<String> = grants.iter().map(|g| g["id"].as_str().unwrap().to_owned()).collect();
    let missing: Vec<&String> = all.iter().filter(|g| !ended.contains_key(*g)).collect();
    assert!(missing.is_empty(), "grants without removal evidence: {missing:?}");
    let db = s.db();
    let out = server::writ_cmd().args(["audit", "verify", "--database", &format!("sqlite://{}", db.display())]).output().unwrap();
    assert!(out.status.success(), "{}", server::text(&out.stderr));
    let removed = ended.values().filter(|k| **k == "removed").count();
    assert_eq!(removed, all.len(), "no grant overlaps another here: each removal must be proved on the target");
    println!("survived {kills} kills: {} grants expired, each removed from the target and verified by read-back", all.len());
}
