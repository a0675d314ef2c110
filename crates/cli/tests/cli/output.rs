//! Tables, times and terminal-safe text.

use writ_cli::cmd::catalog::{catalog_table, render_whoami};
use writ_cli::cmd::grant::grant_table;
use writ_cli::cmd::identity::{identity_table, render_diff};
use writ_cli::cmd::request::request_table;
use writ_cli::cmd::task::{completed, task_table};
use writ_cli::output::{fields, list, multi_line, one_line, opt, short_time, table_or, time, Table};

use crate::fixtures::{self, at};

#[test]
fn times_are_utc_and_unambiguous() {
    assert_eq!(time(&at(9, 5)), "2025-03-14 09:05:00 UTC");
    assert_eq!(short_time(&at(9, 5)), "2025-03-14 09:05");
}

#[test]
fn a_table_pads_columns_to_the_widest_cell_and_not_the_last() {
    let mut t = Table::new(&["id", "state", "note"]);
    t.row(["r1", "pending", "x"]).row(["request-2", "ok", "longer note"]);
    assert_eq!(
        t.render(),
        "ID         STATE    NOTE\n\
         r1         pending  x\n\
         request-2  ok       longer note\n"
    );
}

#[test]
fn a_table_counts_characters_not_bytes() {
    let mut t = Table::new(&["a", "b"]);
    t.row(["ééé", "x"]).row(["e", "y"]);
    assert_eq!(t.render(), "A    B\nééé  x\ne    y\n");
}

#[test]
fn a_short_row_is_padded_with_blank_cells() {
    let mut t = Table::new(&["a", "b", "c"]);
    t.row(["1"]);
    assert_eq!(t.render(), "A  B  C\n1\n");
}

#[test]
fn an_empty_table_says_so() {
    let t = Table::new(&["id"]);
    assert_eq!(table_or(&t, "no requests match"), "no requests match\n");
}

#[test]
fn text_from_the_server_cannot_break_a_line_or_drive_the_terminal() {
    assert_eq!(one_line("a\nb\tc"), "a b c");
    assert_eq!(one_line("red \u{1b}[31m"), "red \u{fffd}[31m");
    let mut t = Table::new(&["x", "y"]);
    t.row(["multi\nline", "\u{1b}]0;title\u{7}"]);
    assert_eq!(t.render().lines().count(), 2);
    assert!(!t.render().contains('\u{1b}'));
    assert_eq!(multi_line("one\r\ntwo\n\u{1b}three\n", "    "), "one\n    two\n    \u{fffd}three");
}

#[test]
fn absent_values_show_as_a_dash() {
    assert_eq!(opt(None), "-");
    assert_eq!(opt(Some("  ")), "-");
    assert_eq!(opt(Some("INC-1")), "INC-1");
    assert_eq!(list(&[]), "-");
    assert_eq!(list(&["a".into(), "b".into()]), "a, b");
}

#[test]
fn fields_align_values_and_indent_continuation_lines() {
    let text = fields("  ", &[("for", "alice".into()), ("justification", "line one\nline two".into())]);
    assert_eq!(text, "  for            alice\n  justification  line one\n                 line two\n");
}

#[test]
fn the_request_list_has_the_documented_columns() {
    let mut other = fixtures::approved();
    other.id = "r-2".into();
    other.subject = "svc-report".into();
    other.entitlements.push("ldap/ops".into());
    let text = request_table(&[fixtures::pending(), other]).render();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["ID", "STATE", "REQUESTER", "SUBJECT", "ENTITLEMENTS", "CREATED"]);
    assert!(lines[1].starts_with(fixtures::REQ), "{text}");
    assert!(lines[1].contains("pending") && lines[1].ends_with("2025-03-14 09:00"), "{text}");
    assert!(lines[2].contains("svc-report") && lines[2].contains("pg/readonly, ldap/ops"), "{text}");
    // Columns line up: STATE starts at the same offset in every line.
    let col = lines[0].find("STATE").unwrap();
    assert_eq!(&lines[1][col..col + 7], "pending");
    assert_eq!(&lines[2][col..col + 8], "approved");
}

#[test]
fn task_and_grant_tables_show_who_and_when() {
    let text = task_table(&[fixtures::task("open"), fixtures::task("done")]).render();
    assert!(text.starts_with("ID   REQUEST"), "{text}");
    assert!(text.contains("dba"), "{text}");
    assert!(text.lines().nth(2).unwrap().contains("erin"), "{text}");
    let mut ended = fixtures::grant();
    ended.state = "expired".into();
    ended.ended_at = Some(at(18, 0));
    ended.ended_reason = Some("expired".into());
    let text = grant_table(&[fixtures::grant(), ended]).render();
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["ID", "SUBJECT", "ENTITLEMENT", "STATE", "STARTS", "EXPIRES", "ENDED", "REQUEST"]);
    assert!(text.contains("2025-03-14 18:00 (expired)"), "{text}");
}

#[test]
fn task_complete_points_at_the_request() {
    assert_eq!(
        completed(&fixtures::task("done")),
        format!("task t-1 is done\nthe request becomes active when all its tasks are done: `writ request show {}`\n", fixtures::REQ)
    );
}

#[test]
fn identity_catalog_and_whoami_render() {
    let ident = writ_api::IdentityView {
        owner_left: None,
        id: "svc-report".into(),
        kind: "service".into(),
        status: "active".into(),
        display_name: "Reporting".into(),
        owner: Some("alice".into()),
        manager: None,
        groups: vec![],
        version: 1,
    };
    let text = identity_table(&[ident]).render();
    assert!(text.lines().nth(1).unwrap().split_whitespace().eq(["svc-report", "service", "active", "Reporting", "alice", "-", "-"]));
    let entry = writ_api::CatalogEntitlement {
        id: "pg/readonly".into(),
        description: "read the orders database".into(),
        risk: "medium".into(),
        owners: vec!["bob".into()],
        max_duration: "24h".into(),
        stages: vec!["owner".into(), "security".into()],
    };
    let text = catalog_table(&[entry]).render();
    assert!(text.contains("owner → security") && text.ends_with("read the orders database\n"), "{text}");
    let me = writ_api::WhoAmI { id: "alice".into(), kind: "human".into(), status: "active".into(), groups: vec!["eng".into()], oversight: false };
    let text = render_whoami(&me, "http://127.0.0.1:7878");
    assert!(text.starts_with("id         alice\n"), "{text}");
    assert!(text.contains("oversight  no\n"), "{text}");
}

#[test]
fn an_identity_diff_reads_as_plus_tilde_minus_and_a_summary() {
    use serde_json::json;
    use writ_api::{FieldChangeView, IdentityChangeView, IdentityDiffView, IdentityRecord};
    let carol = IdentityRecord {
        id: "carol".into(),
        kind: "person".into(),
        status: "active".into(),
        display_name: String::new(),
        owner: None,
        manager: None,
        groups: vec![],
        attributes: Default::default(),
    };
    let change = |field: &str, from, to| FieldChangeView { field: field.into(), from, to };
    let d = IdentityDiffView {
        dry_run: true,
        created: vec![carol],
        changed: vec![IdentityChangeView {
            id: "bob".into(),
            changes: vec![
                change("manager", json!(null), json!("mona")),
                change("groups", json!(["eng"]), json!(["eng", "oncall"])),
                change("attributes", json!({}), json!({ "team": "pay\u{1b}[2J" })),
            ],
        }],
        disabled: vec!["alice".into()],
        unchanged: 9,
    };
    assert_eq!(
        render_diff(&d),
        "+ carol created (person, active)\n\
         ~ bob manager: - → mona\n\
         ~ bob groups: eng → eng, oncall\n\
         ~ bob attributes: - → team=pay\u{fffd}[2J\n\
         - alice disabled\n\
         dry run, nothing changed: 1 created, 1 changed, 1 disabled, 9 unchanged (run without --dry-run to apply)\n"
    );
    let applied = IdentityDiffView { dry_run: false, ..d.clone() };
    assert!(render_diff(&applied).ends_with("applied: 1 created, 1 changed, 1 disabled, 9 unchanged\n"));
    let none = IdentityDiffView { created: vec![], changed: vec![], disabled: vec![], ..d };
    assert_eq!(render_diff(&none), "no changes: 9 identities already as the file says\n");
}
