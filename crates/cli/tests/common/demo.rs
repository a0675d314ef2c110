//! `writ init` for tests: shared by the `cli` and `scenario` test binaries.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// Runs `writ init --dir data` with `writ` (a prepared command, e.g. with its
/// environment cleared) and returns the demo people's tokens by lower-case name.
pub fn init_demo(mut writ: Command, data: &Path) -> HashMap<String, String> {
    let out = writ.args(["init", "--dir", data.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "writ init failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Try a first request"), "init printed no next steps");
    std::fs::read_to_string(data.join("demo-tokens.env"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("WRIT_TOKEN_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_lowercase(), v.to_owned()))
        .collect()
}
