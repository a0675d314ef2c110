//! Shared by the crash and two-node tests: a live PostgreSQL target
//! `pg-live` with one entitlement per round, a few hundred short-lived
//! self-service grants on it, and the audit log's account of their removals.

#![allow(dead_code)] // each test binary uses what it needs

use std::collections::BTreeMap;

use serde_json::Value;
use writ_testkit::PgServer;

use super::server::Server;

pub const PEOPLE: [&str; 11] = ["alice", "bob", "olivia", "oscar", "mona", "sam", "sue", "sid", "dana", "ivan", "audrey"];
pub const REQUESTS_EACH: usize = 20;

/// xorshift: the same "random" moments every run, so a failure can be replayed.
pub struct Rng(pub u64);
impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Creates the target's roles and a login role per demo person.
pub fn create_roles(pg: &PgServer) {
    let logins: String = PEOPLE.iter().map(|p| format!("CREATE ROLE {p} LOGIN;")).collect();
    let roles: String = (0..REQUESTS_EACH).map(|r| format!("CREATE ROLE reporting_{r:02} NOLOGIN;")).collect();
    pg.psql(&format!("{roles}{logins}")).unwrap();
}

/// Adds `pg-live` to the catalog and config in `data`, with a short job lease
/// so that a dead node's claims are taken up within seconds.
pub fn add_target(data: &std::path::Path, pg: &PgServer) {
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
    assert!(config.contains("job_lease = \"2m\""), "the demo config sets the lease");
    config = config.replace("job_lease = \"2m\"", "job_lease = \"3s\"");
    config.push_str(&format!("\n[targets.pg-live]\nkind = \"postgres\"\nurl = \"{}\"\n", pg.url()));
    std::fs::write(data.join("writ.toml"), config).unwrap();
}

/// Memberships of the `reporting_*` roles left on the target.
pub fn memberships(pg: &PgServer) -> u64 {
    pg.psql("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname LIKE 'reporting%'").unwrap().parse().unwrap()
}

/// Every person asks for every round's entitlement (auto-approved), lasting
/// 4 to 24 s. Returns the request ids.
pub fn create_requests(s: &Server, rng: &mut Rng) -> Vec<String> {
    let mut ids = Vec::new();
    for round in 0..REQUESTS_EACH {
        for who in PEOPLE {
            let secs = 4 + rng.below(21);
            let entitlement = format!("pg-live/reporting_{round:02}");
            let v = s.json(who, &["request", "create", "-e", &entitlement, "-d", &format!("{secs}s"), "-j", &format!("expiry test {round}")]);
            ids.push(v["id"].as_str().or(v["request"]["id"].as_str()).unwrap().to_owned());
        }
    }
    ids
}

/// How each grant ended, per an audit export: `(removed | covered, node)`.
/// Panics if a grant ended twice.
pub fn endings(export: &std::path::Path) -> BTreeMap<String, (&'static str, String)> {
    let mut ended = BTreeMap::new();
    for line in std::fs::read_to_string(export).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let kind = match v["kind"].as_str() {
            Some("grant.removal_verified") => "removed",
            Some("grant.ended_covered") => "covered",
            _ => continue,
        };
        let payload: Value = serde_json::from_str(v["payload"].as_str().unwrap()).unwrap();
        let grant = payload["grant"].as_str().unwrap().to_owned();
        let node = payload["node"].as_str().unwrap_or("").to_owned();
        assert!(ended.insert(grant.clone(), (kind, node)).is_none(), "grant {grant} was ended twice in the log");
    }
    ended
}

/// How many times each (request, entitlement) was verified in place, per an export.
pub fn provisionings(export: &std::path::Path) -> BTreeMap<(String, String), u32> {
    let mut seen = BTreeMap::new();
    for line in std::fs::read_to_string(export).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["kind"] != "entitlement.verified" {
            continue;
        }
        let payload: Value = serde_json::from_str(v["payload"].as_str().unwrap()).unwrap();
        let key = (v["request_id"].as_str().unwrap_or("").to_owned(), payload["entitlement"].as_str().unwrap().to_owned());
        *seen.entry(key).or_insert(0) += 1;
    }
    seen
}
