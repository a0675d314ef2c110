//! Time-bound access is removed from the target: a grant past its expiry is
//! revoked on a real PostgreSQL through the job queue and ends only once the
//! read-back shows the access gone; a grant covered by a later one for the same
//! entitlement ends without cutting the access short; on a manual target the
//! removal is a task completed with evidence. The clock is moved by hand.

mod common;

use chrono::TimeDelta;
use serde_json::{json, Value};
use writ_testkit::PgServer;

use common::{harness_with, Harness, ManualClock};

fn psql(pg: &PgServer, sql: &str) -> String {
    pg.psql(sql).unwrap_or_else(|e| panic!("{e}"))
}

fn holds_reporting(pg: &PgServer, who: &str) -> bool {
    psql(
        pg,
        &format!(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
         WHERE r.rolname = 'reporting' AND u.rolname = '{who}'"
        ),
    ) == "1"
}

async fn harness_with_target(pg: &PgServer, clock: std::sync::Arc<ManualClock>) -> Harness {
    common::harness_with_pg(pg.url(), clock, |_| String::new()).await
}

async fn request(h: &Harness, who: &str, entitlement: &str, duration: &str) -> String {
    let (status, v) = h.post(who, "/v1/requests", json!({ "entitlements": [entitlement], "justification": "quarterly numbers", "duration": duration })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(v["state"], "approved", "auto-approved: {v}");
    v["id"].as_str().unwrap().to_owned()
}

/// As audrey (an auditor: policy lets her see every request).
async fn grants_of(h: &Harness, request: &str) -> Vec<Value> {
    let (_, v) = h.get("audrey", &format!("/v1/requests/{request}")).await;
    v["grants"].as_array().unwrap().clone()
}

async fn events_of(h: &Harness, request: &str) -> Vec<Value> {
    let (_, v) = h.get("audrey", &format!("/v1/requests/{request}")).await;
    v["events"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_access_is_removed_from_the_target_and_overlaps_never_cut_it_short() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    psql(&pg, "CREATE ROLE reporting NOLOGIN; CREATE ROLE alice LOGIN");
    let clock = ManualClock::new();
    let h = harness_with_target(&pg, clock.clone()).await;
    let writ = h.app.writ.clone();

    // Two overlapping grants of the same entitlement: 1h, then 3h.
    let short = request(&h, "alice", "pg-live/reporting", "1h").await;
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1);
    assert!(holds_reporting(&pg, "alice"));
    let long = request(&h, "alice", "pg-live/reporting", "3h").await;
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1);
    assert_eq!(grants_of(&h, &long).await[0]["state"], "active");

    // Nothing is due before its time.
    assert_eq!(writ.expire_due(10).await.unwrap(), 0);

    // The short one ends, covered by the long one: the access stays.
    clock.advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    assert_eq!(writ.expire_due(10).await.unwrap(), 1);
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 0, "no removal job: the access is still owed");
    assert_eq!(grants_of(&h, &short).await[0]["state"], "expired");
    assert!(holds_reporting(&pg, "alice"), "an overlapping grant must not cut the access short");
    assert!(events_of(&h, &short).await.iter().any(|e| e["kind"] == "grant.ended_covered"));

    // The long one ends: revoking until the read-back shows the role gone.
    clock.advance(TimeDelta::hours(2));
    assert_eq!(writ.expire_due(10).await.unwrap(), 1);
    let g = &grants_of(&h, &long).await[0];
    assert_eq!(g["state"], "revoking", "{g}");
    assert_eq!(g["removal"]["ending"], "expiry", "{g}");
    assert!(holds_reporting(&pg, "alice"), "not removed before its job ran");
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1);
    assert!(!holds_reporting(&pg, "alice"), "the target no longer holds it");
    assert_eq!(grants_of(&h, &long).await[0]["state"], "expired");
    let events = events_of(&h, &long).await;
    let removal = events.iter().find(|e| e["kind"] == "grant.removal_verified").expect("the removal's evidence");
    let payload: Value = serde_json::from_str(removal["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["applied"], "changed", "{payload}");
    assert!(payload["before"]["entitlements"].as_array().unwrap().iter().any(|e| e["resource"] == "reporting"), "{payload}");
    assert!(payload["after"]["entitlements"].as_array().unwrap().iter().all(|e| e["resource"] != "reporting"), "{payload}");
    assert_eq!(writ.expire_due(10).await.unwrap(), 0, "nothing left to expire");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_manual_target_the_removal_is_a_task_completed_with_evidence() {
    let clock = ManualClock::new();
    let h = harness_with(|_| {}, Some(clock.clone())).await;
    let writ = h.app.writ.clone();
    // pg-prod is fulfilled by hand by the DBAs (dana); analytics_read is auto-approved.
    let id = request(&h, "alice", "pg-prod/analytics_read", "2h").await;
    let (_, tasks) = h.get("dana", "/v1/tasks").await;
    let task = tasks.as_array().unwrap().iter().find(|t| t["request_id"] == id.as_str()).unwrap()["id"].as_str().unwrap().to_owned();
    let (status, v) = h.post("dana", &format!("/v1/tasks/{task}/complete"), json!({ "evidence": "GRANT analytics_read TO alice; checked \\du" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(grants_of(&h, &id).await[0]["state"], "active");

    clock.advance(TimeDelta::hours(2) + TimeDelta::seconds(1));
    assert_eq!(writ.expire_due(10).await.unwrap(), 1);
    assert_eq!(grants_of(&h, &id).await[0]["state"], "revoking");
    let (_, tasks) = h.get("dana", "/v1/tasks").await;
    let removal = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["request_id"] == id.as_str() && t["state"] == "open" && t["purpose"] == "revoke")
        .expect("a removal task for the DBAs")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, v) =
        h.post("dana", &format!("/v1/tasks/{removal}/complete"), json!({ "evidence": "REVOKE analytics_read FROM alice; \\du shows it gone" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(grants_of(&h, &id).await[0]["state"], "expired");
    assert!(events_of(&h, &id).await.iter().any(|e| e["kind"] == "grant.removal_attested"));
}

/// The target is down when the grant expires: the grant stays *revoking* with
/// its failed attempts and the target's error visible, becomes *overdue* past
/// the window (listed, and counted in the metrics), and once the target is back
/// the retry removes the access and proves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_down_at_expiry_leaves_the_grant_revoking_then_overdue_until_it_returns() {
    let (mut ldap, is_member, clock, h) = ldap_setup().await;
    let writ = h.app.writ.clone();
    let id = request(&h, "alice", "dir/vpn", "1h").await;
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1);
    assert!(is_member(&ldap));

    // Down at expiry: revoking, with the failure and the target's error visible.
    ldap.stop();
    clock.advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    assert_eq!(writ.expire_due(10).await.unwrap(), 1);
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1);
    let g = grants_of(&h, &id).await[0].clone();
    assert_eq!(g["state"], "revoking", "{g}");
    assert_eq!(g["removal"]["attempts"], 1, "{g}");
    assert!(g["removal"]["last_error"].as_str().unwrap().contains("unavailable"), "{g}");
    assert_eq!(g["removal"]["overdue"], false, "{g}");
    let (_, overdue) = h.get("alice", "/v1/grants?overdue=true").await;
    assert!(overdue.as_array().unwrap().is_empty(), "not overdue yet: {overdue}");

    // Past the window (15 minutes by default): overdue, listed and counted; retries go on.
    clock.advance(TimeDelta::minutes(20));
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1);
    let (_, overdue) = h.get("alice", "/v1/grants?overdue=true").await;
    let listed = overdue.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{overdue}");
    assert_eq!((listed[0]["removal"]["overdue"].as_bool(), listed[0]["removal"]["attempts"].as_u64()), (Some(true), Some(2)), "{overdue}");
    let (_, metrics) = h.get("audrey", "/metrics").await;
    assert!(metrics.as_str().unwrap().contains("writ_grants_revocation_overdue 1"), "{metrics}");

    // The target is back: the next retry removes the access and proves it.
    ldap.start_again().unwrap();
    clock.advance(TimeDelta::minutes(5));
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1);
    assert_eq!(grants_of(&h, &id).await[0]["state"], "expired");
    assert!(!is_member(&ldap), "removed from the target");
    let (_, overdue) = h.get("alice", "/v1/grants?overdue=true").await;
    assert!(overdue.as_array().unwrap().is_empty(), "{overdue}");
    let events = events_of(&h, &id).await;
    assert_eq!(events.iter().filter(|e| e["kind"] == "grant.removal_failed").count(), 2);
    assert_eq!(events.iter().filter(|e| e["kind"] == "grant.removal_verified").count(), 1);
}

/// Ending access early: policy decides who may (the holder, owners, security);
/// a reason is required; the access is removed from the target and the grant
/// is *revoked* once the read-back shows it gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_is_revoked_early_by_its_holder_or_security_and_removed_from_the_target() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    psql(&pg, "CREATE ROLE reporting NOLOGIN; CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN");
    let clock = ManualClock::new();
    let h = harness_with_target(&pg, clock.clone()).await;
    let writ = h.app.writ.clone();
    let id = request(&h, "alice", "pg-live/reporting", "4h").await;
    writ.run_due_jobs(10).await.unwrap();
    let grant = grants_of(&h, &id).await[0]["id"].as_str().unwrap().to_owned();
    let uri = format!("/v1/grants/{grant}/revoke");

    // bob has nothing to do with it; a reason is required; neither changes anything.
    let (status, v) = h.post("bob", &uri, json!({ "reason": "tidy up" })).await;
    assert_eq!(status.as_u16(), 403, "{v}");
    let (status, v) = h.post("alice", &uri, json!({ "reason": "  " })).await;
    assert_eq!(status.as_u16(), 422, "{v}");
    assert!(v.to_string().contains("reason"), "{v}");
    assert_eq!(grants_of(&h, &id).await[0]["state"], "active");
    assert!(holds_reporting(&pg, "alice"));

    // The holder gives it up.
    let (status, v) = h.post("alice", &uri, json!({ "reason": "report delivered early" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(v["state"], "revoking", "{v}");
    assert!(v["removal"]["ending"].as_str().unwrap().contains("report delivered early"), "{v}");
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1);
    assert!(!holds_reporting(&pg, "alice"));
    let g = grants_of(&h, &id).await[0].clone();
    assert_eq!(g["state"], "revoked", "{g}");
    assert!(g["ended_reason"].as_str().unwrap().contains("alice"), "{g}");
    let events = events_of(&h, &id).await;
    let asked = events.iter().find(|e| e["kind"] == "grant.revocation_requested").expect("who ended it and why");
    assert!(asked["payload"].as_str().unwrap().contains("revoke-permit-holder"), "{asked}");
    assert!(events.iter().any(|e| e["kind"] == "grant.removal_verified"));
    let (status, _) = h.post("alice", &uri, json!({ "reason": "again" })).await;
    assert_eq!(status.as_u16(), 409, "an ended grant cannot be revoked again");

    // Security may take anyone's access away.
    let id2 = request(&h, "bob", "pg-live/reporting", "4h").await;
    writ.run_due_jobs(10).await.unwrap();
    assert!(holds_reporting(&pg, "bob"));
    let grant2 = grants_of(&h, &id2).await[0]["id"].as_str().unwrap().to_owned();
    let (status, v) = h.post("sam", &format!("/v1/grants/{grant2}/revoke"), json!({ "reason": "suspicious use" })).await;
    assert!(status.is_success(), "{v}");
    writ.run_due_jobs(10).await.unwrap();
    assert!(!holds_reporting(&pg, "bob"));
}

/// A live slapd target `dir` with alice in `ou=people` and the group `vpn`
/// (auto-approved for oneself as `dir/vpn`), on a clock the test moves.
async fn ldap_setup() -> (writ_testkit::LdapServer, impl Fn(&writ_testkit::LdapServer) -> bool, std::sync::Arc<ManualClock>, Harness) {
    use writ_testkit::LdapServer;
    let ldap = LdapServer::start().expect("slapd (run scripts/install-test-deps.sh)");
    let people = ldap.people_dn();
    let vpn = format!("cn=vpn,{}", ldap.groups_dn());
    ldap.ldapmodify(&format!("dn: uid=alice,{people}\nobjectClass: inetOrgPerson\nuid: alice\ncn: alice\nsn: alice\n")).unwrap();
    ldap.ldapmodify(&format!("dn: {vpn}\nobjectClass: groupOfNames\ncn: vpn\nmember: {vpn}\n")).unwrap();
    let (vpn_dn, alice_dn) = (vpn.clone(), format!("uid=alice,{people}").to_lowercase());
    let is_member = move |ldap: &LdapServer| {
        let out = ldap.ldapsearch(&vpn_dn, "(objectClass=*)", &["member"]).unwrap().to_lowercase();
        out.contains(&alice_dn)
    };
    let config = format!(
        "\n[targets.dir]\nkind = \"ldap\"\nurl = \"{}\"\nbind_dn = \"{}\"\npassword_file = \"ldap.password\"\npeople_dn = \"{people}\"\ngroups_dn = \"{}\"\nservices_dn = \"{}\"\n",
        ldap.url(),
        ldap.admin_dn(),
        ldap.groups_dn(),
        ldap.services_dn()
    );
    let password = ldap.admin_password().to_owned();
    let clock = ManualClock::new();
    let h = harness_with(
        move |policies| {
            let data = policies.parent().unwrap();
            let mut catalog = std::fs::read_to_string(data.join("catalog.toml")).unwrap();
            catalog.push_str(
                "\n[[targets]]\nid = \"dir\"\nowners = [\"olivia\"]\nfulfilment = { kind = \"connector\" }\n\n\
                 [[entitlements]]\nid = \"dir/vpn\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n\
                 stages = [{ name = \"manager\", approvers = \"subject_manager\", required = 1 }]\n",
            );
            std::fs::write(data.join("catalog.toml"), catalog).unwrap();
            // Secret files are read from the path as given: name it absolutely.
            let secret = data.join("ldap.password");
            std::fs::write(&secret, format!("{password}\n")).unwrap();
            let mut text = std::fs::read_to_string(data.join("writ.toml")).unwrap();
            text.push_str(&config.replace("\"ldap.password\"", &format!("\"{}\"", secret.display())));
            std::fs::write(data.join("writ.toml"), text).unwrap();
        },
        Some(clock.clone()),
    )
    .await;
    (ldap, is_member, clock, h)
}

/// An overdue removal may be closed by hand, with evidence, by someone policy
/// lets revoke the grant, but not by its holder and not before it is overdue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_removal_is_closed_by_hand_with_evidence_but_not_by_the_holder() {
    let (mut ldap, _is_member, clock, h) = ldap_setup().await;
    let writ = h.app.writ.clone();
    let id = request(&h, "alice", "dir/vpn", "1h").await;
    writ.run_due_jobs(10).await.unwrap();
    let grant = grants_of(&h, &id).await[0]["id"].as_str().unwrap().to_owned();
    let uri = format!("/v1/grants/{grant}/close");
    ldap.stop();
    clock.advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    writ.expire_due(10).await.unwrap();
    writ.run_due_jobs(10).await.unwrap();
    let evidence = json!({ "evidence": "removed alice from cn=vpn by hand on the directory's console; checked with ldapsearch" });
    let (status, v) = h.post("sam", &uri, evidence.clone()).await;
    assert_eq!(status.as_u16(), 422, "not overdue yet: {v}");

    clock.advance(TimeDelta::minutes(20));
    writ.run_due_jobs(10).await.unwrap();
    let (status, v) = h.post("alice", &uri, evidence.clone()).await;
    assert_eq!(status.as_u16(), 403, "the holder cannot attest her own access away: {v}");
    let (status, v) = h.post("sam", &uri, json!({ "evidence": " " })).await;
    assert_eq!(status.as_u16(), 422, "evidence is required: {v}");
    let (status, v) = h.post("sam", &uri, evidence).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(v["state"], "expired", "{v}");
    let events = events_of(&h, &id).await;
    let closed = events.iter().find(|e| e["kind"] == "grant.removal_closed_by_hand").expect("the evidence");
    assert_eq!(closed["actor"], "sam");
    assert!(closed["payload"].as_str().unwrap().contains("by hand on the directory"), "{closed}");
    // The retries stopped: no job is left for it.
    ldap.start_again().unwrap();
    clock.advance(TimeDelta::hours(1));
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 0);
}

/// An extension is a new request through policy, linked to the grant and its
/// request, never an edit of the expiry: the original grant still ends on
/// time, covered by the new one, and the access stays until the last ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_is_a_new_linked_request_and_the_access_lasts_until_the_last_grant_ends() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    psql(&pg, "CREATE ROLE reporting NOLOGIN; CREATE ROLE alice LOGIN");
    let clock = ManualClock::new();
    let h = harness_with_target(&pg, clock.clone()).await;
    let writ = h.app.writ.clone();
    let original = request(&h, "alice", "pg-live/reporting", "1h").await;
    writ.run_due_jobs(10).await.unwrap();
    let g = grants_of(&h, &original).await[0].clone();
    let grant = g["id"].as_str().unwrap().to_owned();
    let uri = format!("/v1/grants/{grant}/extend");
    let body = json!({ "duration": "3h", "justification": "the quarter close slipped a day" });

    // Only the holder (or whoever asked for it) may ask; bad input changes nothing.
    let (status, v) = h.post("bob", &uri, body.clone()).await;
    assert_eq!(status.as_u16(), 403, "{v}");
    let (status, v) = h.post("alice", &uri, json!({ "duration": "3 hours", "justification": "x" })).await;
    assert_eq!(status.as_u16(), 400, "not a duration: {v}");
    let (status, v) = h.post("alice", &uri, json!({ "duration": "9h", "justification": "longer than allowed" })).await;
    assert_eq!(status.as_u16(), 422, "over the entitlement's maximum: {v}");
    assert_eq!(events_of(&h, &original).await.iter().filter(|e| e["kind"] == "grant.extension_requested").count(), 0);

    // A new request, decided by policy (auto-approved here), linked both ways.
    let (status, ext) = h.post("alice", &uri, body).await;
    assert_eq!(status.as_u16(), 201, "{ext}");
    let ext_id = ext["id"].as_str().unwrap().to_owned();
    assert_ne!(ext_id, original);
    assert_eq!(ext["origin"], "extension");
    assert_eq!(ext["extends_grant"], grant.as_str());
    assert_eq!(ext["extends_request"], original.as_str());
    assert_eq!(ext["state"], "approved", "{ext}");
    let actions: Vec<&str> = ext["decisions"].as_array().unwrap().iter().map(|d| d["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["request", "auto_approve"], "through policy like any request");
    let asked = events_of(&h, &original).await.into_iter().find(|e| e["kind"] == "grant.extension_requested").expect("the original's evidence names the ask");
    assert!(asked["payload"].as_str().unwrap().contains(&ext_id), "{asked}");
    assert_eq!(grants_of(&h, &original).await[0]["expires_at"], g["expires_at"], "the original expiry is not edited");
    writ.run_due_jobs(10).await.unwrap();
    let new_grant = grants_of(&h, &ext_id).await[0].clone();
    assert_eq!(new_grant["state"], "active", "{new_grant}");

    // The original ends on time, covered: the access stays.
    clock.advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    assert_eq!(writ.expire_due(10).await.unwrap(), 1);
    writ.run_due_jobs(10).await.unwrap();
    assert_eq!(grants_of(&h, &original).await[0]["state"], "expired");
    assert!(holds_reporting(&pg, "alice"), "the extension keeps the access");
    let (status, v) = h.post("alice", &uri, json!({ "duration": "1h", "justification": "again" })).await;
    assert_eq!(status.as_u16(), 422, "an ended grant cannot be extended: {v}");
    assert!(v.to_string().contains("request the access anew"), "{v}");

    // Then the extension ends, and the access is removed and proved gone.
    clock.advance(TimeDelta::hours(3));
    assert_eq!(writ.expire_due(10).await.unwrap(), 1);
    writ.run_due_jobs(10).await.unwrap();
    assert!(!holds_reporting(&pg, "alice"));
    assert_eq!(grants_of(&h, &ext_id).await[0]["state"], "expired");
}
