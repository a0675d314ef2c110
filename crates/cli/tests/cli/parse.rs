//! The command tree: it is consistent, and each command parses as documented.

use clap::{CommandFactory, Parser};
use writ_cli::cmd::request::RequestCommand;
use writ_cli::cmd::task::TaskCommand;
use writ_cli::{AuditCommand, Cli, Command, PolicyCommand, DEFAULT_SERVER};

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("writ").chain(args.iter().copied()))
}

#[test]
fn the_command_tree_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn every_documented_command_exists() {
    let cmd = Cli::command();
    let paths = [
        vec!["whoami"],
        vec!["catalog", "list"],
        vec!["request", "create"],
        vec!["request", "list"],
        vec!["request", "show"],
        vec!["request", "approve"],
        vec!["request", "deny"],
        vec!["request", "cancel"],
        vec!["task", "list"],
        vec!["task", "complete"],
        vec!["grant", "list"],
        vec!["identity", "list"],
        vec!["identity", "disable"],
        vec!["identity", "enable"],
        vec!["audit", "export"],
        vec!["audit", "verify"],
        vec!["policy", "check"],
        vec!["init"],
        vec!["serve"],
    ];
    for path in paths {
        let mut c = &cmd;
        for name in &path {
            c = c.find_subcommand(name).unwrap_or_else(|| panic!("no `writ {}`", path.join(" ")));
        }
    }
}

#[test]
fn request_create_takes_repeated_entitlements_and_global_flags_anywhere() {
    let cli = parse(&[
        "request",
        "create",
        "-e",
        "pg/readonly",
        "--entitlement",
        "ldap/ops",
        "--justification",
        "why",
        "--duration",
        "8h",
        "--ticket",
        "INC-1",
        "--json",
        "--server",
        "http://h:1",
    ])
    .unwrap();
    assert!(cli.global.json);
    assert_eq!(cli.global.server, "http://h:1");
    let Command::Request(RequestCommand::Create(a)) = cli.command else { panic!("not request create") };
    assert_eq!(a.entitlements, ["pg/readonly", "ldap/ops"]);
    assert_eq!(a.duration, "8h");
    assert_eq!(a.ticket.as_deref(), Some("INC-1"));
    assert_eq!(a.subject, None);
}

#[test]
fn request_create_requires_entitlement_justification_and_duration() {
    for missing in [
        vec!["request", "create", "--justification", "j", "--duration", "8h"],
        vec!["request", "create", "-e", "a/b", "--duration", "8h"],
        vec!["request", "create", "-e", "a/b", "--justification", "j"],
    ] {
        let err = parse(&missing).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument, "{missing:?}");
    }
}

#[test]
fn deny_requires_a_reason_but_approve_and_cancel_do_not() {
    assert!(parse(&["request", "deny", "r1"]).is_err());
    assert!(parse(&["request", "deny", "r1", "--reason", "no"]).is_ok());
    let cli = parse(&["request", "approve", "r1"]).unwrap();
    let Command::Request(RequestCommand::Approve(a)) = cli.command else { panic!() };
    assert_eq!((a.id.as_str(), a.reason.as_str()), ("r1", ""));
    assert!(parse(&["request", "cancel", "r1", "-r", "not needed"]).is_ok());
}

#[test]
fn queue_cannot_be_combined_with_a_state_filter() {
    assert!(parse(&["request", "list", "--queue"]).is_ok());
    assert!(parse(&["request", "list", "--state", "pending", "--limit", "5"]).is_ok());
    assert!(parse(&["request", "list", "--queue", "--state", "pending"]).is_err());
}

#[test]
fn task_complete_needs_evidence_from_exactly_one_place() {
    assert!(parse(&["task", "complete", "t1"]).is_err());
    assert!(parse(&["task", "complete", "t1", "--evidence", "done", "--evidence-file", "f"]).is_err());
    let cli = parse(&["task", "complete", "t1", "--evidence-file", "-"]).unwrap();
    let Command::Task(TaskCommand::Complete(a)) = cli.command else { panic!() };
    assert_eq!(a.evidence_file.as_deref(), Some(std::path::Path::new("-")));
}

#[test]
fn local_commands_have_their_defaults() {
    let Command::Init(a) = parse(&["init"]).unwrap().command else { panic!() };
    assert_eq!(a.dir, std::path::Path::new("./writ-data"));
    assert!(!a.force);
    let Command::Policy(PolicyCommand::Check(a)) = parse(&["policy", "check"]).unwrap().command else { panic!() };
    assert_eq!(a.dir, std::path::Path::new("./writ-data/policies"));
    let Command::Audit(AuditCommand::Verify(a)) =
        parse(&["audit", "verify", "--file", "log.jsonl", "--trusted-key", "ab", "--trusted-key", "@keys", "--witness", "w"]).unwrap().command
    else {
        panic!()
    };
    assert_eq!(a.file.as_deref(), Some(std::path::Path::new("log.jsonl")));
    assert_eq!(a.trusted_key, ["ab", "@keys"]);
    assert_eq!(a.witness.as_deref(), Some(std::path::Path::new("w")));
}

#[test]
fn audit_verify_needs_a_database_or_a_file() {
    // Only when WRIT_DATABASE_URL is unset does the bare command fail; the test
    // cannot unset it safely, so it checks the group instead.
    let cmd = Cli::command();
    let verify = cmd.find_subcommand("audit").unwrap().find_subcommand("verify").unwrap();
    let group = verify.get_groups().find(|g| g.get_id() == "source").expect("a source group");
    assert!(group.is_required_set());
    let args: Vec<&str> = group.get_args().map(|a| a.as_str()).collect();
    assert_eq!(args, ["database", "file"]);
}

#[test]
fn secrets_from_the_environment_are_never_shown_in_help() {
    let cmd = Cli::command();
    let token = cmd.get_arguments().find(|a| a.get_id() == "token").unwrap();
    assert!(token.is_hide_env_values_set());
    let verify = cmd.find_subcommand("audit").unwrap().find_subcommand("verify").unwrap();
    let db = verify.get_arguments().find(|a| a.get_id() == "database").unwrap();
    assert!(db.is_hide_env_values_set());
}

#[test]
fn the_token_is_redacted_in_debug_output() {
    let cli = parse(&["--token", "writ_supersecret", "whoami"]).unwrap();
    let debug = format!("{cli:?}");
    assert!(!debug.contains("supersecret"), "{debug}");
    assert!(debug.contains("<redacted>"));
}

#[test]
fn the_default_server_is_local() {
    assert_eq!(DEFAULT_SERVER, "http://127.0.0.1:7878");
    let server = Cli::command().get_arguments().find(|a| a.get_id() == "server").unwrap().clone();
    assert_eq!(server.get_default_values(), [DEFAULT_SERVER]);
    assert_eq!(server.get_env(), Some(std::ffi::OsStr::new("WRIT_SERVER")));
}
