//! End to end against live targets: the real `writ serve` provisions one
//! request to PostgreSQL, Redis, OpenLDAP and a SCIM server (each a real server
//! from the test harness), reads every change back, and `writ request show`
//! displays each before/after diff and its verification. Then a request over two
//! targets whose second is down ends partially fulfilled, never active, and the
//! retry completes it once the target is back.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use writ_testkit::{LdapServer, PgServer, RedisServer, ScimServer};

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::Server;

const REDIS_ADMIN: (&str, &str) = ("writ-admin", "redis-admin-secret");

fn psql(pg: &PgServer, sql: &str) -> String {
    pg.psql(sql).unwrap_or_else(|e| panic!("{e}"))
}

fn scim(s: &ScimServer, method: &str, path: &str, body: Value) -> Value {
    let r = s.request(method, path, Some(&body.to_string())).unwrap();
    assert!(r.status < 300, "SCIM {method} {path}: {} {}", r.status, r.body);
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

fn scim_user(s: &ScimServer, name: &str) {
    scim(s, "POST", "/Users", serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}));
}

/// Adds four live targets to the catalog and the config written by `writ init`.
fn add_targets(data: &Path, pg: &PgServer, redis: &RedisServer, ldap: &LdapServer, scim_server: &ScimServer) {
    let secret = |name: &str, value: &str| {
        let p = data.join(name);
        std::fs::write(&p, format!("{value}\n")).unwrap();
        p.display().to_string()
    };
    let mut catalog = std::fs::read_to_string(data.join("catalog.toml")).unwrap();
    for target in ["pg-live", "cache", "dir", "saas"] {
        catalog.push_str(&format!("\n[[targets]]\nid = \"{target}\"\nowners = [\"olivia\"]\nfulfilment = {{ kind = \"connector\" }}\n"));
    }
    // `no_such_role` does not exist on the PostgreSQL target: its grant fails for good.
    for e in ["pg-live/reporting", "cache/cache_read", "dir/vpn", "saas/engineering", "pg-live/no_such_role"] {
        catalog.push_str(&format!(
            "\n[[entitlements]]\nid = \"{e}\"\nowners = [\"oscar\"]\nrisk = \"medium\"\nmax_duration = \"8h\"\n\
             stages = [{{ name = \"manager\", approvers = \"subject_manager\", required = 1 }}]\n"
        ));
    }
    std::fs::write(data.join("catalog.toml"), catalog).unwrap();
    let mut config = std::fs::read_to_string(data.join("writ.toml")).unwrap();
    config.push_str(&format!(
        r#"
[targets.pg-live]
kind = "postgres"
url = "{pg_url}"

[targets.cache]
kind = "redis"
url = "redis://127.0.0.1:{redis_port}/"
username = "{redis_user}"
password_file = "{redis_pw}"
profiles = {{ cache_read = "+@read ~cache:*" }}

[targets.dir]
kind = "ldap"
url = "{ldap_url}"
bind_dn = "{ldap_admin}"
password_file = "{ldap_pw}"
people_dn = "{people}"
groups_dn = "{groups}"
services_dn = "{services}"

[targets.saas]
kind = "scim"
base_url = "{scim_url}"
token_file = "{scim_token}"
"#,
        pg_url = pg.url(),
        redis_port = redis.port(),
        redis_user = REDIS_ADMIN.0,
        redis_pw = secret("redis.password", REDIS_ADMIN.1),
        ldap_url = ldap.url(),
        ldap_admin = ldap.admin_dn(),
        ldap_pw = secret("ldap.password", ldap.admin_password()),
        people = ldap.people_dn(),
        groups = ldap.groups_dn(),
        services = ldap.services_dn(),
        scim_url = scim_server.base_url(),
        scim_token = secret("scim.token", scim_server.token()),
    ));
    std::fs::write(data.join("writ.toml"), config).unwrap();
}

/// The people's accounts and the resources to grant, made with each plain client.
fn seed(pg: &PgServer, redis: &RedisServer, ldap: &LdapServer, scim_server: &ScimServer, people: &[&str]) {
    psql(pg, "CREATE ROLE reporting NOLOGIN");
    for p in people {
        psql(pg, &format!("CREATE ROLE {p} LOGIN"));
        redis.cli(&["ACL", "SETUSER", p, "on"]).unwrap();
        ldap.ldapmodify(&format!("dn: uid={p},{}\nobjectClass: inetOrgPerson\nuid: {p}\ncn: {p}\nsn: {p}\n", ldap.people_dn())).unwrap();
        scim_user(scim_server, p);
    }
    let vpn = format!("cn=vpn,{}", ldap.groups_dn());
    ldap.ldapmodify(&format!("dn: {vpn}\nobjectClass: groupOfNames\ncn: vpn\nmember: {vpn}\n")).unwrap();
    scim(scim_server, "POST", "/Groups", serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "engineering"}));
}

/// Polls `writ request show --json` until the request is in `state`.
fn wait_for_state(s: &Server, who: &str, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = s.json(who, &["request", "show", id]);
        if v["request"]["state"] == state {
            return v;
        }
        assert!(Instant::now() < deadline, "request {id} never became {state}: {v:#}\nserver log:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn submit(s: &Server, who: &str, entitlements: &[&str]) -> String {
    let mut args = vec!["request", "create"];
    for e in entitlements {
        args.extend(["--entitlement", e]);
    }
    args.extend(["--duration", "2h", "--justification", "quarterly reporting"]);
    let v = s.json(who, &args);
    v["id"].as_str().or(v["request"]["id"].as_str()).expect("the new request's id").to_owned()
}

#[test]
fn provisioning_to_four_live_targets_shows_each_diff_and_a_down_target_is_retried() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let mut redis = RedisServer::start_with_user(REDIS_ADMIN.0, REDIS_ADMIN.1).expect("redis-server");
    let ldap = LdapServer::start().expect("slapd");
    let scim_server = ScimServer::start().expect("scim2-server");
    seed(&pg, &redis, &ldap, &scim_server, &["alice", "bob"]);
    let s = Server::start_with(None, |data| add_targets(data, &pg, &redis, &ldap, &scim_server));

    // Each target says what serves it; its endpoint only to oversight (audrey).
    let targets = s.ok("audrey", &["catalog", "targets"]);
    for (target, kind) in [("pg-live", "postgres"), ("cache", "redis"), ("dir", "ldap"), ("saas", "scim"), ("pg-prod", "manual")] {
        assert!(targets.lines().any(|l| l.starts_with(target) && l.contains(kind)), "{target} {kind}:\n{targets}");
    }
    assert!(targets.contains(&format!("127.0.0.1:{}", pg.port())), "{targets}");
    let seen_by_alice = s.ok("alice", &["catalog", "targets"]);
    assert!(!seen_by_alice.contains(&format!("127.0.0.1:{}", pg.port())), "{seen_by_alice}");

    // One request over the four targets: approved by alice's manager, then
    // provisioned by the server's worker and read back from each target.
    let all = ["pg-live/reporting", "cache/cache_read", "dir/vpn", "saas/engineering"];
    let id = submit(&s, "alice", &all);
    s.ok("mona", &["request", "approve", &id, "--reason", "ok for the quarter"]);
    let v = wait_for_state(&s, "alice", &id, "active");
    let statuses: Vec<(&str, &str)> =
        v["request"]["fulfilment"].as_array().unwrap().iter().map(|f| (f["entitlement"].as_str().unwrap(), f["status"].as_str().unwrap())).collect();
    assert_eq!(statuses.len(), 4, "{v:#}");
    assert!(statuses.iter().all(|(_, st)| *st == "done"), "{statuses:?}");
    assert_eq!(v["grants"].as_array().unwrap().len(), 4, "each entitlement's grant started");

    // The evidence chain shows each target's diff and verification.
    let shown = s.ok("alice", &["request", "show", &id]);
    for (e, resource) in [("pg-live/reporting", "reporting"), ("cache/cache_read", "cache_read"), ("dir/vpn", "vpn"), ("saas/engineering", "engineering")] {
        assert!(shown.contains(&format!("provisioned `{e}` for account `alice`")), "{e} missing:\n{shown}");
        assert!(shown.contains(&format!("+{resource}")), "diff of {e} missing:\n{shown}");
    }
    assert_eq!(shown.matches("verified by read-back from the target").count(), 4, "{shown}");

    // The targets themselves hold it: each plain client sees it.
    assert_eq!(psql(&pg, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = 'reporting' AND u.rolname = 'alice'"), "1");
    let acl = redis.cli(&["ACL", "GETUSER", "alice"]).unwrap();
    assert!(acl.contains("~cache:*"), "{acl}");
    let members = ldap.ldapsearch(&format!("cn=vpn,{}", ldap.groups_dn()), "(objectClass=*)", &["member"]).unwrap();
    assert!(members.to_lowercase().contains(&format!("uid=alice,{}", ldap.people_dn()).to_lowercase()), "{members}");
    let users: Value = serde_json::from_str(&scim_server.get("/Users").unwrap().body).unwrap();
    let alice_id = users["Resources"].as_array().unwrap().iter().find(|u| u["userName"] == "alice").unwrap()["id"].clone();
    let groups: Value = serde_json::from_str(&scim_server.get("/Groups").unwrap().body).unwrap();
    let engineering = groups["Resources"].as_array().unwrap().iter().find(|g| g["displayName"] == "engineering").unwrap();
    assert!(engineering["members"].as_array().unwrap().iter().any(|m| m["value"] == alice_id), "{engineering}");

    // Redis goes down; bob's request over PostgreSQL and Redis is put in place on
    // PostgreSQL only: partially fulfilled, never active, with Redis's error shown.
    redis.stop();
    let id2 = submit(&s, "bob", &["pg-live/reporting", "cache/cache_read"]);
    s.ok("mona", &["request", "approve", &id2, "--reason", "ok"]);
    let v = wait_for_state(&s, "bob", &id2, "partially_fulfilled");
    let shown = s.ok("bob", &["request", "show", &id2]);
    assert!(shown.contains("`cache/cache_read`: retrying"), "{shown}");
    assert!(shown.contains("Writ retries by itself"), "{shown}");
    assert!(!shown.contains(REDIS_ADMIN.1), "a secret reached the evidence:\n{shown}");
    assert_eq!(v["grants"].as_array().unwrap().len(), 1, "only PostgreSQL's grant started");

    // Redis is back (empty: its users are re-created); the retry completes it.
    redis.start_again().unwrap();
    redis.cli(&["ACL", "SETUSER", "bob", "on"]).unwrap();
    let v = wait_for_state(&s, "bob", &id2, "active");
    assert_eq!(v["grants"].as_array().unwrap().len(), 2);
    let acl = redis.cli(&["ACL", "GETUSER", "bob"]).unwrap();
    assert!(acl.contains("~cache:*"), "{acl}");

    // A role the target does not have: refused for good, the request failed,
    // with PostgreSQL's own words in the evidence.
    let id3 = submit(&s, "alice", &["pg-live/no_such_role"]);
    s.ok("mona", &["request", "approve", &id3, "--reason", "ok"]);
    wait_for_state(&s, "alice", &id3, "failed");
    let shown = s.ok("alice", &["request", "show", &id3]);
    assert!(shown.contains("`pg-live/no_such_role`: failed") && shown.contains("no_such_role"), "{shown}");
    assert!(shown.lines().any(|l| l.split_whitespace().eq(["retryable", "no"])), "{shown}");

    // Every step of it is in a chain that verifies.
    let db = s.db();
    let out = server::writ_cmd().args(["audit", "verify", "--database", &format!("sqlite://{}", db.display())]).output().unwrap();
    assert!(out.status.success(), "{}", server::text(&out.stderr));
}
