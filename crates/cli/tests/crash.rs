//! Crash test: a few hundred short-lived grants on a real PostgreSQL target,
//! while the server is killed with SIGKILL at pseudo-random moments (during
//! provisioning and mid-revocation) and restarted each time. At the end every
//! grant has expired, the target holds none of the access, every grant has its
//! removal evidence, and the audit log verifies. Prints how many kills it took.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use writ_testkit::PgServer;

#[path = "common/demo.rs"]
mod demo;
#[path = "common/expiring.rs"]
mod expiring;
#[path = "common/server.rs"]
mod server;

use expiring::{add_target, create_requests, create_roles, endings, memberships, Rng};
use server::Server;

#[test]
fn every_expired_grant_is_removed_and_proved_whatever_the_crashes() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    create_roles(&pg);
    let mut s = Server::start_with(None, |data| add_target(data, &pg));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // A few hundred self-service requests (auto-approved), lasting 4 to 24 s.
    let ids = create_requests(&s, &mut rng);

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
    let ended = endings(&export);
    let all: BTreeSet<String> = grants.iter().map(|g| g["id"].as_str().unwrap().to_owned()).collect();
    let missing: Vec<&String> = all.iter().filter(|g| !ended.contains_key(*g)).collect();
    assert!(missing.is_empty(), "grants without removal evidence: {missing:?}");
    let db = s.db();
    let out = server::writ_cmd().args(["audit", "verify", "--database", &format!("sqlite://{}", db.display())]).output().unwrap();
    assert!(out.status.success(), "{}", server::text(&out.stderr));
    let removed = ended.values().filter(|(k, _)| *k == "removed").count();
    assert_eq!(removed, all.len(), "no grant overlaps another here: each removal must be proved on the target");
    println!("survived {kills} kills: {} grants expired, each removed from the target and verified by read-back", all.len());
}
