//! Reconciliation end to end: the real `writ serve` and `writ reconcile`
//! against real PostgreSQL, OpenLDAP and Redis servers. One scenario per
//! situation, each with its configured reaction: access granted by hand
//! (unapproved, revoked), a membership removed behind Writ's back (missing,
//! re-provisioned), a revocation that failed on one of two targets (expired
//! but live, there only), a Redis user's ACL rules changed (scope mismatch,
//! sent for review), an LDAP account that maps to nobody (unknown identity)
//! and access from before Writ (adopted). Each leaves evidence.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use writ_testkit::{LdapServer, PgServer, RedisServer};

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::{text, Server};

const REDIS_ADMIN: (&str, &str) = ("writ-admin", "redis-admin-secret");

/// Adds catalog targets (each with low-risk entitlements, auto-approved for
/// oneself) and `config` to what `writ init` wrote.
fn setup(data: &Path, entitlements: &[&str], config: &str) {
    let mut catalog = std::fs::read_to_string(data.join("catalog.toml")).unwrap();
    let mut targets: Vec<&str> = entitlements.iter().map(|e| e.split('/').next().unwrap()).collect();
    targets.dedup();
    for t in targets {
        catalog.push_str(&format!("\n[[targets]]\nid = \"{t}\"\nowners = [\"olivia\"]\nfulfilment = {{ kind = \"connector\" }}\n"));
    }
    for e in entitlements {
        catalog.push_str(&format!(
            "\n[[entitlements]]\nid = \"{e}\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n\
             stages = [{{ name = \"owner\", approvers = \"entitlement_owners\", required = 1 }}]\n"
        ));
    }
    std::fs::write(data.join("catalog.toml"), catalog).unwrap();
    let mut c = std::fs::read_to_string(data.join("writ.toml")).unwrap();
    c = c.replace("removal_overdue_after = \"15m\"", "removal_overdue_after = \"1s\"");
    c.push_str(config);
    std::fs::write(data.join("writ.toml"), c).unwrap();
}

fn secret(data: &Path, name: &str, value: &str) -> String {
    let p = data.join(name);
    std::fs::write(&p, format!("{value}\n")).unwrap();
    p.display().to_string()
}

fn pg_config(pg: &PgServer) -> String {
    format!("\n[targets.pg-live]\nkind = \"postgres\"\nurl = \"{}\"\n", pg.url())
}

fn ldap_config(data: &Path, ldap: &LdapServer) -> String {
    format!(
        "\n[targets.dir]\nkind = \"ldap\"\nurl = \"{}\"\nbind_dn = \"{}\"\npassword_file = \"{}\"\npeople_dn = \"{}\"\ngroups_dn = \"{}\"\nservices_dn = \"{}\"\n",
        ldap.url(),
        ldap.admin_dn(),
        secret(data, "ldap.password", ldap.admin_password()),
        ldap.people_dn(),
        ldap.groups_dn(),
        ldap.services_dn()
    )
}

fn ldap_person(ldap: &LdapServer, uid: &str) {
    ldap.ldapmodify(&format!("dn: uid={uid},{}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n", ldap.people_dn())).unwrap();
}

fn ldap_group(ldap: &LdapServer, cn: &str) {
    let dn = format!("cn={cn},{}", ldap.groups_dn());
    ldap.ldapmodify(&format!("dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}\nmember: {dn}\n")).unwrap();
}

fn ldap_add_member(ldap: &LdapServer, cn: &str, uid: &str) {
    ldap.ldapmodify(&format!("dn: cn={cn},{}\nchangetype: modify\nadd: member\nmember: uid={uid},{}\n", ldap.groups_dn(), ldap.people_dn())).unwrap();
}

fn ldap_members(ldap: &LdapServer, cn: &str) -> String {
    ldap.ldapsearch(&format!("cn={cn},{}", ldap.groups_dn()), "(objectClass=*)", &["member"]).unwrap().to_lowercase()
}

fn pg_holds(pg: &PgServer, who: &str, role: &str) -> bool {
    pg.psql(&format!(
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
         WHERE r.rolname = '{role}' AND u.rolname = '{who}'"
    ))
    .unwrap()
        == "1"
}

/// `who` asks for `entitlement`; oscar (its owner) approves; waits until active.
fn granted(s: &Server, who: &str, entitlement: &str, duration: &str) -> String {
    let v = s.json(who, &["request", "create", "-e", entitlement, "-d", duration, "-j", "reconcile test"]);
    let id = v["id"].as_str().unwrap().to_owned();
    if v["state"] == "pending" {
        s.ok("oscar", &["request", "approve", &id]);
    }
    wait_for(s, &id, |v| v["request"]["state"] == "active", "active");
    id
}

/// Polls `writ request show --json` (as an auditor) until `done` holds.
fn wait_for(s: &Server, id: &str, done: impl Fn(&Value) -> bool, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = s.json("audrey", &["request", "show", id]);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "request {id} never became {what}: {v:#}\nserver log:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn kinds(evidence: &Value) -> Vec<String> {
    evidence["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

/// `writ reconcile --target T --json` as sam (security may read the audit log).
fn reconcile(s: &Server, target: &str) -> Value {
    let reports = s.json("sam", &["reconcile", "--target", target]);
    let report = reports.as_array().unwrap()[0].clone();
    assert_eq!(report["run"]["state"], "done", "{report:#}\n{}", s.log());
    report
}

fn observations<'a>(report: &'a Value, situation: &str) -> Vec<&'a Value> {
    report["observations"].as_array().unwrap().iter().filter(|o| o["situation"] == situation).collect()
}

#[test]
fn a_role_granted_by_hand_is_unapproved_and_revoked_with_evidence() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE analytics NOLOGIN; CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN").unwrap();
    let s = Server::start_with(None, |data| {
        let config = pg_config(&pg) + "\n[reconcile.targets.pg-live]\nunapproved = \"revoke\"\n";
        setup(data, &["pg-live/reporting", "pg-live/analytics"], &config);
    });
    granted(&s, "alice", "pg-live/reporting", "8h");
    pg.psql("GRANT analytics TO bob").unwrap();

    let report = reconcile(&s, "pg-live");
    assert_eq!(report["run"]["counts"]["matched"], 1, "{report:#}");
    let found = observations(&report, "unapproved");
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!((found[0]["account"].as_str(), found[0]["resource"].as_str()), (Some("bob"), Some("analytics")));
    let action = &found[0]["action"];
    assert_eq!(action["reaction"], "revoke", "{action}");
    assert_eq!(action["outcome"], "removal queued");
    let request = action["request"].as_str().unwrap().to_owned();

    // Removed through the normal path: a removal job that reads back.
    let ev = wait_for(&s, &request, |v| v["grants"][0]["state"] == "revoked", "revoked");
    assert!(!pg_holds(&pg, "bob", "analytics"), "the access is gone from the target");
    assert!(pg_holds(&pg, "alice", "reporting"), "approved access is untouched");
    let k = kinds(&ev);
    for expected in ["reconcile.found", "grant.revocation_requested", "grant.removal_verified"] {
        assert!(k.iter().any(|x| x == expected), "{expected} missing: {k:?}");
    }
    assert_eq!(ev["request"]["origin"], "reconciliation");

    // The next run finds nothing wrong, and the log records both runs.
    let report = reconcile(&s, "pg-live");
    assert_eq!(report["run"]["counts"]["unapproved"], 0, "{report:#}");
    assert_eq!(report["run"]["match_rate"], 1.0);
    let runs = s.json("sam", &["reconcile", "list", "--target", "pg-live"]);
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs:#}");
}

#[test]
fn a_membership_removed_behind_writs_back_is_missing_and_reprovisioned() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE analytics NOLOGIN; CREATE ROLE alice LOGIN").unwrap();
    let s = Server::start_with(None, |data| {
        let config = pg_config(&pg) + "\n[reconcile.targets.pg-live]\nmissing = \"reprovision\"\n";
        setup(data, &["pg-live/reporting", "pg-live/analytics"], &config);
    });
    let request = granted(&s, "alice", "pg-live/analytics", "8h");
    granted(&s, "alice", "pg-live/reporting", "8h");
    pg.psql("REVOKE analytics FROM alice").unwrap();
    // And a membership widened by hand: it can now pass the role on.
    pg.psql("GRANT reporting TO alice WITH ADMIN OPTION").unwrap();

    let report = reconcile(&s, "pg-live");
    let missing = observations(&report, "missing");
    assert_eq!(missing.len(), 1, "{report:#}");
    assert_eq!(missing[0]["resource"], "analytics");
    assert_eq!(missing[0]["action"]["reaction"], "reprovision");
    let scope = observations(&report, "scope_mismatch");
    assert_eq!(scope.len(), 1, "{report:#}");
    assert_eq!(scope[0]["live_detail"]["admin_option"], "true");
    assert_eq!(scope[0]["expected"]["admin_option"], "false");
    assert!(scope[0]["action"].is_null(), "scope mismatches are only reported here");

    // Put back, read back, and the request's chain tells the whole story,
    // though the request itself closed long ago.
    let ev = wait_for(&s, &request, |v| kinds(v).iter().any(|k| k == "grant.reprovisioned"), "re-provisioned");
    assert!(pg_holds(&pg, "alice", "analytics"));
    let k = kinds(&ev);
    let order: Vec<usize> = ["entitlement.verified", "grant.access_disappeared", "grant.reprovision_queued", "grant.reprovisioned", "grant.access_restored"]
        .iter()
        .map(|e| k.iter().position(|x| x == e).unwrap_or_else(|| panic!("{e} missing: {k:?}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order: {k:?}");
    let report = reconcile(&s, "pg-live");
    assert_eq!(report["run"]["counts"]["missing"], 0, "{report:#}");
}

#[test]
fn a_grant_whose_revocation_failed_on_one_of_two_targets_is_expired_but_live_there_only() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let mut ldap = LdapServer::start().expect("slapd (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE bob LOGIN").unwrap();
    ldap_person(&ldap, "bob");
    ldap_group(&ldap, "vpn");
    let s = Server::start_with(None, |data| {
        let config = pg_config(&pg) + &ldap_config(data, &ldap);
        setup(data, &["pg-live/reporting", "dir/vpn"], &config);
    });
    let v = s.json("bob", &["request", "create", "-e", "pg-live/reporting", "-e", "dir/vpn", "-d", "3s", "-j", "short"]);
    let id = v["id"].as_str().unwrap().to_owned();
    wait_for(&s, &id, |v| v["request"]["state"] == "active", "active");
    assert!(ldap_members(&ldap, "vpn").contains("uid=bob"));

    // The directory is down when the grants expire: PostgreSQL's removal is
    // proved, the directory's keeps failing, and is closed by hand (wrongly).
    ldap.stop();
    let ev = wait_for(
        &s,
        &id,
        |v| {
            v["grants"].as_array().unwrap().iter().any(|g| g["entitlement"] == "pg-live/reporting" && g["state"] == "expired")
                && v["grants"].as_array().unwrap().iter().any(|g| g["entitlement"] == "dir/vpn" && g["removal"]["overdue"] == true)
        },
        "removed from PostgreSQL and overdue on the directory",
    );
    let dir_grant = ev["grants"].as_array().unwrap().iter().find(|g| g["entitlement"] == "dir/vpn").unwrap()["id"].as_str().unwrap().to_owned();
    s.ok("sam", &["grant", "close", &dir_grant, "--evidence", "removed bob from vpn in the directory console"]);
    ldap.start_again().unwrap();

    // The next reconciliation checks it: still there, on that target only.
    let dir = reconcile(&s, "dir");
    let live = observations(&dir, "expired_but_live");
    assert_eq!(live.len(), 1, "{dir:#}");
    assert_eq!((live[0]["account"].as_str(), live[0]["resource"].as_str(), live[0]["grant"].as_str()), (Some("bob"), Some("vpn"), Some(dir_grant.as_str())));
    let pg_report = reconcile(&s, "pg-live");
    assert_eq!(pg_report["observations"].as_array().unwrap().len(), 0, "PostgreSQL is clean: {pg_report:#}");
    assert_eq!(pg_report["run"]["live_rows"], 0);
    let ev = s.json("audrey", &["request", "show", &id]);
    assert!(kinds(&ev).iter().any(|k| k == "grant.access_reappeared"), "the closed request's chain says the access is back: {:?}", kinds(&ev));
}

#[test]
fn redis_acl_rules_changed_are_a_scope_mismatch_sent_to_the_owners_for_review() {
    let redis = RedisServer::start_with_user(REDIS_ADMIN.0, REDIS_ADMIN.1).expect("redis-server");
    redis.cli(&["ACL", "SETUSER", "alice", "on"]).unwrap();
    // An operator's user with a selector of the profile, listed as not Writ's to touch.
    redis.cli(&["ACL", "SETUSER", "ops", "on", "(+@read ~cache:*)"]).unwrap();
    let s = Server::start_with(None, |data| {
        let config = format!(
            "\n[targets.cache]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:{}/\"\nusername = \"{}\"\npassword_file = \"{}\"\nprofiles = {{ cache_read = \"+@read ~cache:*\" }}\n\
             \n[reconcile.targets.cache]\nscope_mismatch = \"review\"\nignore = [{{ account = \"ops\" }}]\n",
            redis.port(),
            REDIS_ADMIN.0,
            secret(data, "redis.password", REDIS_ADMIN.1),
        );
        setup(data, &["cache/cache_read"], &config);
    });
    granted(&s, "alice", "cache/cache_read", "8h");
    let before = reconcile(&s, "cache");
    assert_eq!(before["run"]["counts"]["matched"], 1, "{before:#}");
    let ignored = observations(&before, "ignored");
    assert_eq!(ignored.len(), 1, "reported, never silently skipped: {before:#}");
    assert_eq!(ignored[0]["account"], "ops");

    // Someone widens alice's rules by hand.
    redis.cli(&["ACL", "SETUSER", "alice", "clearselectors", "(+@all ~*)"]).unwrap();
    let report = reconcile(&s, "cache");
    let found = observations(&report, "scope_mismatch");
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["resource"], "cache_read");
    assert!(found[0]["live_detail"]["rules"].as_str().unwrap().contains("+@all"), "{report:#}");
    assert_eq!(found[0]["action"]["reaction"], "review");
    let review = found[0]["action"]["request"].as_str().unwrap().to_owned();
    let ev = s.json("oscar", &["request", "show", &review]);
    assert_eq!(ev["request"]["state"], "pending", "waiting for the entitlement's owner");
    assert_eq!(ev["request"]["origin"], "reconciliation");
    assert!(ev["request"]["justification"].as_str().unwrap().contains("scope_mismatch"), "{ev:#}");
    assert!(kinds(&ev).iter().any(|k| k == "reconcile.found"));
    let queue = s.ok("oscar", &["request", "list", "--queue"]);
    assert!(queue.contains(&review), "in the owner's review queue: {queue}");

    // A second run does not open a second review.
    let again = reconcile(&s, "cache");
    assert_eq!(observations(&again, "scope_mismatch")[0]["action"]["outcome"], "a review is already open");
}

#[test]
fn ldap_accounts_of_nobody_are_unknown_and_access_from_before_writ_is_adopted() {
    let ldap = LdapServer::start().expect("slapd (run scripts/install-test-deps.sh)");
    for p in ["alice", "bob", "mallory"] {
        ldap_person(&ldap, p);
    }
    ldap_group(&ldap, "wiki");
    ldap_add_member(&ldap, "wiki", "bob"); // from before Writ
    ldap_add_member(&ldap, "wiki", "mallory"); // no such identity
    let s = Server::start_with(None, |data| {
        let config = ldap_config(data, &ldap)
            + "\n[reconcile.targets.dir]\nunapproved = \"adopt\"\nunknown_identity = \"report\"\nadopt_approver = \"olivia\"\nadopt_reason = \"day-one import: wiki access predates Writ\"\n\
               ignore = [{ resource = \"wiki\", account = \"cn=wiki*\" }]\n";
        setup(data, &["dir/wiki"], &config);
    });

    let report = reconcile(&s, "dir");
    let unknown = observations(&report, "unknown_identity");
    assert_eq!(unknown.len(), 1, "{report:#}");
    assert_eq!(unknown[0]["account"], "mallory");
    assert!(unknown[0]["action"].is_null(), "only reported");
    let adopted = observations(&report, "unapproved");
    assert_eq!(adopted.len(), 1, "{report:#}");
    assert_eq!(adopted[0]["account"], "bob");
    let action = &adopted[0]["action"];
    assert_eq!(action["reaction"], "adopt", "{action}");
    assert_eq!(action["outcome"], "adopted, approved by `olivia`");

    // The adopted access is now a grant with its approver and reason on record.
    let request = action["request"].as_str().unwrap();
    let ev = s.json("audrey", &["request", "show", request]);
    assert_eq!(ev["request"]["state"], "active");
    assert_eq!(ev["grants"][0]["state"], "active");
    let adoption = ev["events"].as_array().unwrap().iter().find(|e| e["kind"] == "reconcile.adopted").expect("the adoption is evidence");
    assert_eq!(adoption["actor"], "olivia");
    assert!(adoption["payload"].as_str().unwrap().contains("day-one import"), "{adoption}");
    let report = reconcile(&s, "dir");
    assert_eq!(report["run"]["counts"]["matched"], 1, "bob's access now traces to a grant: {report:#}");
    assert_eq!(report["run"]["counts"]["unapproved"], 0);

    // The report also comes out as a table and as CSV.
    let table = s.ok("sam", &["reconcile", "--target", "dir"]);
    assert!(table.contains("unknown_identity") && table.contains("mallory") && table.contains("match rate"), "{table}");
    let run = report["run"]["id"].as_str().unwrap();
    let csv = s.ok("sam", &["reconcile", "show", run, "--csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("run,target,situation,account,resource,identity,grant,reaction,outcome,request,note"));
    assert!(lines.any(|l| l.starts_with(&format!("{run},dir,unknown_identity,mallory,wiki,"))), "{csv}");
    // Nothing but the report on a pipe: no progress line.
    let out = s.as_("sam", &["reconcile", "--target", "dir", "--csv"]);
    assert!(out.status.success() && text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    // Policy decides: security runs it (`reconcile`); auditors read the
    // reports (`read_audit`) but do not run it; others do neither.
    s.refused("alice", &["reconcile", "--target", "dir"], "may not run reconciliation");
    s.refused("audrey", &["reconcile", "--target", "dir"], "may not run reconciliation");
    assert_eq!(s.json("audrey", &["reconcile", "show", run])["run"]["id"], run);
    s.refused("alice", &["reconcile", "list"], "may not read reconciliation runs");
}

#[test]
fn reconciliation_runs_on_schedule_and_its_match_rate_is_a_metric() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; GRANT reporting TO bob").unwrap();
    let s = Server::start_with(None, |data| {
        let config = pg_config(&pg) + "\n[reconcile]\nevery = \"1s\"\n";
        setup(data, &["pg-live/reporting"], &config);
    });
    granted(&s, "alice", "pg-live/reporting", "8h");
    let deadline = Instant::now() + Duration::from_secs(30);
    let runs = loop {
        let runs = s.json("sam", &["reconcile", "list", "--target", "pg-live"]);
        let scheduled: Vec<Value> = runs.as_array().unwrap().iter().filter(|r| r["by"] == "schedule").cloned().collect();
        if scheduled.len() >= 2 && scheduled[0]["counts"]["matched"] == 1 {
            break scheduled;
        }
        assert!(Instant::now() < deadline, "no scheduled runs: {runs:#}\n{}", s.log());
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(runs[0]["counts"]["unapproved"], 1, "bob's hand-made membership: {:#}", runs[0]);
    assert_eq!(runs[0]["match_rate"], 0.5);
    let metrics = reqwest::blocking::Client::new().get(format!("{}/metrics", s.url)).bearer_auth(&s.tokens["sam"]).send().unwrap().text().unwrap();
    assert!(metrics.contains("writ_reconcile_match_rate{target=\"pg-live\"} 0.5"), "{metrics}");
    assert!(metrics.contains("writ_reconcile_observations{target=\"pg-live\",situation=\"unapproved\"} 1"), "{metrics}");
}

#[test]
fn a_target_that_cannot_be_read_gives_a_failed_run_that_concludes_nothing() {
    let mut pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE alice LOGIN").unwrap();
    let s = Server::start_with(None, |data| {
        let config = pg_config(&pg) + "\n[reconcile.targets.pg-live]\nmissing = \"reprovision\"\n";
        setup(data, &["pg-live/reporting"], &config);
    });
    let request = granted(&s, "alice", "pg-live/reporting", "8h");
    pg.stop();
    let out = s.as_("sam", &["reconcile", "--target", "pg-live"]);
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("failed: target `pg-live` is unavailable"), "{stdout}");
    assert!(stderr.contains("could not read pg-live"), "{stderr}");
    // Nothing was concluded: no grant was marked missing, nothing re-provisioned.
    let ev = s.json("audrey", &["request", "show", &request]);
    assert!(!kinds(&ev).iter().any(|k| k.starts_with("grant.access_") || k.starts_with("grant.reprovision")), "{:?}", kinds(&ev));
    let runs = s.json("sam", &["reconcile", "list"]);
    assert_eq!(runs[0]["state"], "failed", "{runs:#}");
    // A target that does not exist, or cannot be read, is named.
    s.refused("sam", &["reconcile", "--target", "nowhere"], "`nowhere`");
    s.refused("sam", &["reconcile", "show", "rec-nope"], "reconciliation run id");
}

#[test]
fn an_unknown_account_can_be_configured_away_through_the_normal_removal() {
    let ldap = LdapServer::start().expect("slapd (run scripts/install-test-deps.sh)");
    ldap_person(&ldap, "mallory");
    ldap_group(&ldap, "wiki");
    ldap_add_member(&ldap, "wiki", "mallory");
    let s = Server::start_with(None, |data| {
        let config = ldap_config(data, &ldap) + "\n[reconcile.targets.dir]\nunknown_identity = \"revoke\"\nignore = [{ account = \"cn=wiki*\" }]\n";
        setup(data, &["dir/wiki"], &config);
    });
    let report = reconcile(&s, "dir");
    let unknown = observations(&report, "unknown_identity");
    assert_eq!(unknown.len(), 1, "{report:#}");
    assert_eq!(unknown[0]["action"]["outcome"], "removal queued");
    let request = unknown[0]["action"]["request"].as_str().unwrap().to_owned();
    let ev = wait_for(&s, &request, |v| v["grants"][0]["state"] == "revoked", "revoked");
    assert!(!ldap_members(&ldap, "wiki").contains("uid=mallory"), "gone from the directory");
    assert!(kinds(&ev).iter().any(|k| k == "grant.removal_verified"), "{:?}", kinds(&ev));
}

#[test]
fn access_found_without_a_grant_that_its_owner_refuses_to_keep_is_removed() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE analytics NOLOGIN; CREATE ROLE bob LOGIN; GRANT analytics TO bob").unwrap();
    let s = Server::start_with(None, |data| {
        let config = pg_config(&pg) + "\n[reconcile.targets.pg-live]\nunapproved = \"review\"\n";
        setup(data, &["pg-live/analytics"], &config);
    });
    let report = reconcile(&s, "pg-live");
    let found = observations(&report, "unapproved");
    assert_eq!(found[0]["action"]["reaction"], "review", "{report:#}");
    let request = found[0]["action"]["request"].as_str().unwrap().to_owned();
    let ev = s.json("oscar", &["request", "show", &request]);
    assert_eq!(ev["request"]["stages"].as_array().unwrap().len(), 1, "the owners alone: {ev:#}");
    s.ok("oscar", &["request", "deny", &request, "--reason", "bob has no business in analytics"]);
    let ev = wait_for(&s, &request, |v| v["grants"][0]["state"] == "revoked", "removed");
    assert!(!pg_holds(&pg, "bob", "analytics"), "removed from the target");
    assert_eq!(ev["request"]["state"], "denied");
    let k = kinds(&ev);
    for e in ["reconcile.found", "request.denied", "grant.revocation_requested", "grant.removal_verified"] {
        assert!(k.iter().any(|x| x == e), "{e} missing: {k:?}");
    }
}
