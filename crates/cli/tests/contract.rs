//! The API keeps the contract its OpenAPI document states, checked from
//! outside: schemathesis (PyPI) reads `/openapi.json` from a real `writ serve`
//! (SQLite, the demo install) and sends it schema-valid and schema-violating
//! requests, stateful sequences following the document's links, with every
//! check on: undocumented status codes, responses that break their schema,
//! valid input refused, invalid input accepted, server errors.
//!
//! Single sign-on is configured (a real OpenID provider from writ-testkit).
//! It runs twice: as a requester (alice) and as a member of security (sam),
//! who may read the audit log, reconcile and manage identities. The seed is
//! fixed so a failure reproduces; set `WRIT_SCHEMATHESIS_SEED` to explore
//! others.

use std::path::Path;
use std::process::Command;

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::{text, Server};

/// Examples per operation and phase: enough to reach every branch of the
/// schema (about a minute per caller on a debug build).
const MAX_EXAMPLES: &str = "30";

fn schemathesis(server: &Server, token: &str, seed: &str, workdir: &Path) -> std::process::Output {
    let binary = writ_testkit::schemathesis_binary().unwrap_or_else(|e| panic!("{e}"));
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract/schemathesis.toml");
    Command::new(binary)
        .current_dir(workdir) // its example database and reports stay in the temp dir
        .env("NO_COLOR", "1")
        .args(["--no-color", "--config-file", config.to_str().unwrap(), "run", &format!("{}/openapi.json", server.url)])
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", seed, "--workers", "1"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .output()
        .unwrap()
}

/// How many operations `/openapi.json` lists.
fn operations(server: &Server) -> usize {
    let doc: serde_json::Value = reqwest::blocking::get(format!("{}/openapi.json", server.url)).unwrap().json().unwrap();
    doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().keys().filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str())).count())
        .sum()
}

#[test]
fn the_api_keeps_its_openapi_contract_for_every_kind_of_caller() {
    // Single sign-on on, against a real provider: its endpoints answer
    // their 200s and 401s, not only the 404 of a server without it.
    let op = writ_testkit::OidcProvider::start().unwrap();
    let issuer = op.issuer();
    let server = Server::start_with(None, move |data| {
        let config = data.join("writ.toml");
        let toml = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{toml}\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"writ\"\n")).unwrap();
    });
    let seed = std::env::var("WRIT_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261202".to_owned());
    for who in ["alice", "sam"] {
        let workdir = tempfile::tempdir().unwrap();
        let out = schemathesis(&server, &server.tokens[who], &seed, workdir.path());
        let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success(),
            "schemathesis found contract failures as {who} (seed {seed}; reproduce with the curl lines below):\n{report}\n--- server log ---\n{}",
            server.log()
        );
        // It really ran, on every operation of the document.
        let operations = operations(&server);
        assert!(operations >= 30, "the document lists {operations} operations");
        assert!(report.contains(&format!("Selected: {operations}/{operations}")), "schemathesis did not select every operation as {who}:\n{report}");
        assert!(report.contains(&format!("Tested: {operations}")), "schemathesis did not test every operation as {who}:\n{report}");
    }
}
