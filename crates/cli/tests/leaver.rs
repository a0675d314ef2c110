//! End to end: a leaver's service account, through the real `writ` binary and
//! a real `writ serve` on SQLite with the demo. alice owns `svc-billing`;
//! disabling alice flags it to her manager mona, `writ identity owner-left`
//! lists it (and `/metrics` counts it) until it gets a new owner.

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::Server;

#[test]
fn a_leavers_service_account_is_flagged_to_their_manager_listed_and_settled_by_a_new_owner() {
    let s = Server::start(None);
    assert!(s.ok("sam", &["identity", "owner-left"]).contains("no identities whose owner left"));

    s.ok("sam", &["identity", "disable", "alice"]);

    let table = s.ok("sam", &["identity", "owner-left"]);
    let row = table.lines().find(|l| l.contains("svc-billing")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("alice") && row.contains("mona") && row.contains("no"), "owner who left, asked of, not overdue: {row}");
    let listed = s.json("sam", &["identity", "owner-left"]);
    let flag = &listed[0]["owner_left"];
    assert_eq!((flag["owner"].as_str(), flag["flagged_to"].as_str(), flag["overdue"].as_bool()), (Some("alice"), Some("mona"), Some(false)), "{listed}");
    assert!(s.ok("sam", &["identity", "owner-left", "--overdue"]).contains("no identities whose owner left"), "not due for 14 days");
    let metrics = s.get_text("sam", "/metrics");
    assert!(metrics.contains("writ_identities_owner_left 1\n") && metrics.contains("writ_identities_owner_left_overdue 0\n"), "{metrics}");
    s.refused("bob", &["identity", "owner-left"], "may not");

    // Its new owner, by the declarative file: the flag is settled.
    let demo = std::fs::read_to_string(s.dir.path().join("writ-data/identities.toml")).unwrap();
    let file = s.dir.path().join("org.toml");
    let text = demo.replace("display_name = \"Billing batch job\"\nowner = \"alice\"", "display_name = \"Billing batch job\"\nowner = \"bob\"");
    let text = text.replace("id = \"alice\"\nkind = \"person\"\nstatus = \"active\"", "id = \"alice\"\nkind = \"person\"\nstatus = \"disabled\"");
    std::fs::write(&file, text).unwrap();
    s.ok("sam", &["identity", "apply", file.to_str().unwrap()]);
    assert!(s.ok("sam", &["identity", "owner-left"]).contains("no identities whose owner left"));
    assert!(s.get_text("sam", "/metrics").contains("writ_identities_owner_left 0\n"));
}
