//! Joiner, mover, leaver, end to end on real servers: the real `writ serve`
//! with inbound SCIM and sign-in through a real OpenID provider (npm
//! `oidc-provider`), a real PostgreSQL and a real OpenLDAP as targets.
//!
//! The organisation's provider creates carol through SCIM (manager mona, in
//! group `platform`); carol signs in from the CLI (`writ login --device`) and
//! asks for a PostgreSQL role and an LDAP group, which policy gives the
//! `platform` team only (auto-approved for oneself, provisioned and read
//! back). The provider moves her to `sales`: both grants are decided again
//! and their owners asked to review them. Then it deactivates her: the
//! reviews are withdrawn, both grants are removed from the targets and read
//! back, and her service account is flagged to mona.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use writ_testkit::oidc::CLIENT_ID;
use writ_testkit::{LdapServer, OidcProvider, PgServer};

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::{text, writ_cmd, Server};

const SCIM_TOKEN: &str = "scim-provider-token-0123456789abcdef012345";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The team rule: both entitlements are for the `platform` group only.
const TEAM_POLICY: &str = r#"
@id("platform-access-for-platform")
forbid (principal, action == Writ::Action::"request", resource)
when { resource in Writ::Target::"pg-live" || resource in Writ::Target::"dir" }
unless { context.subject in Writ::Group::"platform" };
"#;

fn configure(data: &Path, pg: &PgServer, ldap: &LdapServer, op: &OidcProvider) {
    let mut catalog = std::fs::read_to_string(data.join("catalog.toml")).unwrap();
    for target in ["pg-live", "dir"] {
        catalog.push_str(&format!("\n[[targets]]\nid = \"{target}\"\nowners = [\"olivia\"]\nfulfilment = {{ kind = \"connector\" }}\n"));
    }
    for e in ["pg-live/platform_read", "dir/platform-vpn"] {
        catalog.push_str(&format!(
            "\n[[entitlements]]\nid = \"{e}\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n\
             stages = [{{ name = \"owner\", approvers = \"entitlement_owners\", required = 1 }}]\n"
        ));
    }
    std::fs::write(data.join("catalog.toml"), catalog).unwrap();
    std::fs::write(data.join("policies/platform.cedar"), TEAM_POLICY).unwrap();
    std::fs::write(data.join("scim-token"), SCIM_TOKEN).unwrap();
    std::fs::write(data.join("ldap.password"), format!("{}\n", ldap.admin_password())).unwrap();
    let mut config = std::fs::read_to_string(data.join("writ.toml")).unwrap();
    config.push_str(&format!(
        r#"
[scim]
token_file = "scim-token"

[oidc]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"

[targets.pg-live]
kind = "postgres"
url = "{pg_url}"

[targets.dir]
kind = "ldap"
url = "{ldap_url}"
bind_dn = "{ldap_admin}"
password_file = "{ldap_pw}"
people_dn = "{people}"
groups_dn = "{groups}"
services_dn = "{services}"
"#,
        issuer = op.issuer(),
        pg_url = pg.url(),
        ldap_url = ldap.url(),
        ldap_admin = ldap.admin_dn(),
        ldap_pw = data.join("ldap.password").display(),
        people = ldap.people_dn(),
        groups = ldap.groups_dn(),
        services = ldap.services_dn(),
    ));
    std::fs::write(data.join("writ.toml"), config).unwrap();
}

/// The organisation's provider calling Writ's SCIM service.
fn scim(s: &Server, method: &str, path: &str, body: Value) -> Value {
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/scim/v2{path}", s.url);
    let r = client
        .request(method.parse().unwrap(), url)
        .bearer_auth(SCIM_TOKEN)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = r.status();
    let body = r.text().unwrap();
    assert!(status.is_success(), "SCIM {method} {path}: {status} {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

fn patch(ops: Value) -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops })
}

/// `writ` as carol, signed in: her session lives in `home`.
fn as_carol(s: &Server, home: &Path, args: &[&str]) -> std::process::Output {
    writ_cmd().env("XDG_CONFIG_HOME", home).args(["--server", &s.url]).args(args).output().unwrap()
}

/// carol signs in with the device flow; the test plays her at the provider's pages.
fn sign_in(s: &Server, home: &Path, op: &OidcProvider) {
    use std::io::{BufRead, BufReader};
    let mut child =
        writ_cmd().env("XDG_CONFIG_HOME", home).args(["--server", &s.url, "login", "--device"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("writ login ended before printing a URL").unwrap();
        match line.find("http") {
            Some(i) if line.starts_with("or open ") => break line[i..].trim().to_owned(),
            _ => {}
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    op.approve_device(&url, "carol").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success() && text(&out.stdout).contains("as carol"), "{}", text(&out.stdout));
}

/// Polls `check` every 100 ms for up to a minute.
fn eventually(what: &str, s: &Server, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}\nserver log:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pg_member(pg: &PgServer) -> String {
    pg.psql("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = 'platform_read' AND u.rolname = 'carol'").unwrap()
}

fn ldap_member(ldap: &LdapServer) -> bool {
    let members = ldap.ldapsearch(&format!("cn=platform-vpn,{}", ldap.groups_dn()), "(objectClass=*)", &["member"]).unwrap();
    members.to_lowercase().contains(&format!("uid=carol,{}", ldap.people_dn()).to_lowercase())
}

/// The registry as an identities file, plus `more` (TOML records).
fn registry_file(s: &Server, more: &str) -> String {
    let listed = s.json("sam", &["identity", "list"]);
    let mut file = String::new();
    for i in listed.as_array().unwrap() {
        file.push_str(&format!("[[identities]]\nid = {}\nkind = {}\nstatus = {}\ndisplay_name = {}\n", i["id"], i["kind"], i["status"], i["display_name"]));
        for key in ["owner", "manager"] {
            if let Some(v) = i[key].as_str() {
                file.push_str(&format!("{key} = \"{v}\"\n"));
            }
        }
        file.push_str(&format!("groups = {}\n\n", i["groups"]));
    }
    file + more
}

#[test]
fn a_person_joins_through_scim_signs_in_requests_moves_and_leaves() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let ldap = LdapServer::start().expect("slapd");
    let op = OidcProvider::start().expect("the OpenID provider (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE platform_read NOLOGIN; CREATE ROLE carol LOGIN").unwrap();
    ldap.ldapmodify(&format!("dn: uid=carol,{}\nobjectClass: inetOrgPerson\nuid: carol\ncn: Carol\nsn: Jones\n", ldap.people_dn())).unwrap();
    let vpn = format!("cn=platform-vpn,{}", ldap.groups_dn());
    ldap.ldapmodify(&format!("dn: {vpn}\nobjectClass: groupOfNames\ncn: platform-vpn\nmember: {vpn}\n")).unwrap();
    let s = Server::start_with(None, |data| configure(data, &pg, &ldap, &op));

    // Joiner: the provider creates carol, then the teams.
    scim(
        &s,
        "POST",
        "/Users",
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": "carol", "active": true, "name": { "givenName": "Carol", "familyName": "Jones" },
            ENTERPRISE: { "manager": { "value": "mona" } }
        }),
    );
    let platform = scim(&s, "POST", "/Groups", json!({ "displayName": "platform", "members": [{ "value": "carol" }] }));
    let sales = scim(&s, "POST", "/Groups", json!({ "displayName": "sales" }));
    // Her service account, declared by the organisation's file.
    let bot = "[[identities]]\nid = \"carol-bot\"\nkind = \"service_account\"\nstatus = \"active\"\ndisplay_name = \"Carol's deploy bot\"\nowner = \"carol\"\n";
    let file = s.dir.path().join("org.toml");
    std::fs::write(&file, registry_file(&s, bot)).unwrap();
    let applied = s.ok("sam", &["identity", "apply", file.to_str().unwrap()]);
    assert!(applied.contains("+ carol-bot created"), "{applied}");

    // carol signs in through the provider and asks for both; policy approves.
    let home = tempfile::tempdir().unwrap();
    sign_in(&s, home.path(), &op);
    let out = as_carol(
        &s,
        home.path(),
        &["--json", "request", "create", "-e", "pg-live/platform_read", "-e", "dir/platform-vpn", "-d", "4h", "-j", "platform on-call"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["id"].as_str().or(created["request"]["id"].as_str()).unwrap().to_owned();
    eventually("carol's access in place", &s, || s.json("sam", &["request", "show", &id])["request"]["state"] == "active");
    assert_eq!(pg_member(&pg), "1");
    assert!(ldap_member(&ldap));

    // Mover: out of platform, into sales. Both grants are decided again,
    // refused by the team rule, and their owners asked to review them.
    let platform_id = platform["id"].as_str().unwrap();
    let sales_id = sales["id"].as_str().unwrap();
    scim(&s, "PATCH", &format!("/Groups/{sales_id}"), patch(json!([{ "op": "add", "path": "members", "value": [{ "value": "carol" }] }])));
    scim(&s, "PATCH", &format!("/Groups/{platform_id}"), patch(json!([{ "op": "remove", "path": "members[value eq \"carol\"]" }])));
    let pending = s.json("oscar", &["request", "list", "--state", "pending"]);
    let reviews: Vec<&Value> = pending.as_array().unwrap().iter().filter(|r| r["origin"] == "moved" && r["subject"] == "carol").collect();
    assert_eq!(reviews.len(), 2, "one review per grant: {pending:#}");
    assert!(reviews.iter().all(|r| r["reviews_grant"].is_string()), "{reviews:?}");
    assert!(reviews.iter().any(|r| r["justification"].as_str().unwrap().contains("platform-access-for-platform")), "{reviews:?}");
    assert_eq!(pg_member(&pg), "1", "kept while the owners decide");

    // Leaver: deactivated. Reviews withdrawn, access removed and read back
    // from both targets, the service account flagged to her manager.
    scim(&s, "PATCH", "/Users/carol", patch(json!([{ "op": "replace", "path": "active", "value": false }])));
    eventually("carol's access removed from PostgreSQL and LDAP", &s, || pg_member(&pg) == "0" && !ldap_member(&ldap));
    eventually("both removals verified in Writ", &s, || {
        let shown = s.json("sam", &["request", "show", &id]);
        shown["grants"].as_array().unwrap().iter().all(|g| g["state"] == "revoked")
    });
    let evidence = s.json("sam", &["request", "show", &id]);
    let verified: Vec<Value> = evidence["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "grant.removal_verified")
        .map(|e| serde_json::from_str(e["payload"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(verified.len(), 2, "each removal read back: {evidence:#}");
    assert!(verified.iter().all(|p| p["verified"] == true && p["account"] == "carol"), "{verified:?}");
    let after = s.json("oscar", &["request", "list", "--state", "pending"]);
    assert!(!after.as_array().unwrap().iter().any(|r| r["subject"] == "carol"), "her reviews are withdrawn: {after:#}");
    let flagged = s.json("sam", &["identity", "owner-left"]);
    let bot = flagged.as_array().unwrap().iter().find(|i| i["id"] == "carol-bot").unwrap_or_else(|| panic!("{flagged:#}"));
    assert_eq!((bot["owner_left"]["owner"].as_str(), bot["owner_left"]["flagged_to"].as_str()), (Some("carol"), Some("mona")), "{bot}");
    let refused = as_carol(&s, home.path(), &["whoami"]);
    assert!(!refused.status.success(), "her session died with her: {}", text(&refused.stdout));
}
