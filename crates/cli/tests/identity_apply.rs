//! End to end: `writ identity apply` through the real `writ` binary and a real
//! `writ serve` on SQLite with the demo. The demo's identities file, with one
//! person added, one changed and one left out: a dry run shows it and changes
//! nothing, the apply changes it, applying it again prints "no changes"; a
//! file with a mistake is refused with its line before anything is sent, and
//! someone without `manage_identities` is refused by the server.

use std::path::{Path, PathBuf};

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::{text, Server};

const CAROL: &str = "[[identities]]\nid = \"carol\"\nkind = \"person\"\nstatus = \"active\"\ndisplay_name = \"Carol New\"\nmanager = \"mona\"\n";

/// The demo's identities file (as `writ init` wrote it), without alice, with
/// bob renamed and carol added, written next to the data.
fn edited_file(s: &Server) -> PathBuf {
    let demo = std::fs::read_to_string(s.dir.path().join("writ-data/identities.toml")).unwrap();
    let kept: Vec<&str> = demo.split("[[identities]]").filter(|block| !block.contains("id = \"alice\"")).collect();
    let text = kept.join("[[identities]]").replace("Bob Engineer", "Robert Engineer") + "\n" + CAROL;
    write(s.dir.path(), "org.toml", &text)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_file_is_shown_applied_and_applied_again_as_no_changes() {
    let s = Server::start(None);
    let file = edited_file(&s);
    let file = file.to_str().unwrap();

    let dry = s.ok("sam", &["identity", "apply", file, "--dry-run"]);
    assert!(dry.contains("+ carol created (person, active)"), "{dry}");
    assert!(dry.contains("~ bob display_name: Bob Engineer → Robert Engineer"), "{dry}");
    assert!(dry.contains("- alice disabled"), "{dry}");
    assert!(dry.contains("dry run, nothing changed: 1 created, 1 changed, 1 disabled"), "{dry}");
    assert_eq!(s.json("alice", &["whoami"])["status"], "active", "the dry run changed nothing");

    let applied = s.ok("sam", &["identity", "apply", file]);
    assert!(applied.contains("applied: 1 created, 1 changed, 1 disabled"), "{applied}");
    let listed = s.json("sam", &["identity", "list"]);
    let status = |id: &str| listed.as_array().unwrap().iter().find(|i| i["id"] == id).map(|i| i["status"].clone());
    assert_eq!((status("alice"), status("carol")), (Some("disabled".into()), Some("active".into())));
    s.refused("alice", &["whoami"], "revoked");

    let again = s.ok("sam", &["identity", "apply", file]);
    assert!(again.starts_with("no changes"), "{again}");
    let raw = s.json("sam", &["identity", "apply", file]);
    assert_eq!((raw["created"].as_array().map(Vec::len), raw["dry_run"].as_bool()), (Some(0), Some(false)), "{raw}");
}

#[test]
fn a_bad_file_is_refused_with_its_line_and_a_caller_without_the_right_by_the_server() {
    let s = Server::start(None);
    let typo = write(s.dir.path(), "typo.toml", &format!("{CAROL}groop = [\"eng\"]\n"));
    let out = s.as_("sam", &["identity", "apply", typo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("typo.toml") && err.contains("line 7") && err.contains("groop"), "{err}");
    let twice = write(s.dir.path(), "twice.toml", &format!("{CAROL}{CAROL}"));
    s.refused("sam", &["identity", "apply", twice.to_str().unwrap()], "`carol`");
    let missing = s.dir.path().join("missing.toml");
    s.refused("sam", &["identity", "apply", missing.to_str().unwrap(), "--dry-run"], "missing.toml");

    let file = edited_file(&s);
    s.refused("alice", &["identity", "apply", file.to_str().unwrap(), "--dry-run"], "may not manage identities");
    s.refused("sam", &["identity", "apply", write(s.dir.path(), "alone.toml", CAROL).to_str().unwrap()], "who is applying it");
    let unchanged = s.json("sam", &["identity", "list"]);
    assert!(unchanged.as_array().unwrap().iter().all(|i| i["status"] == "active" && i["id"] != "carol"), "{unchanged}");
}
