//! The crate walls of ARCHITECTURE.md, checked with `cargo metadata`: inner crates
//! never depend on outer ones.

use std::collections::BTreeMap;
use std::process::Command;

#[test]
fn dependencies_point_inward() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut deps: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_owned();
        let ours = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["name"].as_str().unwrap().starts_with("writ-"))
            .map(|d| (d["name"].as_str().unwrap().to_owned(), d["kind"].as_str().unwrap_or("normal").to_owned()))
            .collect();
        deps.insert(name, ours);
    }
    // What each crate may depend on (normal dependencies).
    let allowed: &[(&str, &[&str])] = &[
        ("writ-core", &[]),
        ("writ-policy", &[]),
        ("writ-api", &[]),
        // Pure: the ticket classifier and its routing rule (no I/O, no async).
        ("writ-intake", &["writ-core"]),
        ("writ-testkit", &[]),
        ("writ-app", &["writ-core", "writ-policy"]),
        ("writ-store", &["writ-core", "writ-app"]),
        ("writ-connectors", &["writ-core", "writ-app"]),
        ("writ-server", &["writ-core", "writ-policy", "writ-app", "writ-store", "writ-connectors", "writ-api", "writ-intake"]),
        ("writ-cli", &["writ-core", "writ-policy", "writ-app", "writ-store", "writ-api", "writ-server", "writ-intake"]),
    ];
    for (krate, ok) in allowed {
        let actual = deps.get(*krate).unwrap_or_else(|| panic!("crate {krate} is missing"));
        for (d, kind) in actual {
            if kind == "normal" {
                assert!(ok.contains(&d.as_str()), "{krate} must not depend on {d} (see ARCHITECTURE.md)");
            }
        }
    }
    assert_eq!(deps.len(), allowed.len(), "a new crate needs its walls written down here and in ARCHITECTURE.md");
}

#[test]
fn the_core_cannot_read_the_clock() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../core/Cargo.toml")).unwrap();
    let root = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml")).unwrap();
    let chrono = root.lines().find(|l| l.starts_with("chrono")).unwrap();
    assert!(!chrono.contains("clock") && chrono.contains("default-features = false"), "{chrono}");
    let core_chrono = manifest.lines().find(|l| l.starts_with("chrono")).unwrap();
    assert!(!core_chrono.contains("clock"), "writ-core must not enable chrono's clock: {core_chrono}");
}
