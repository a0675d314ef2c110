//! End to end: tokens through the real `writ` binary and a real `writ serve`
//! on SQLite with the demo. A person creates a token and uses it, lists and
//! revokes it (refused at once); a scoped token is held to its scope; a
//! service account's token needs an expiry; another person cannot revoke it;
//! `writ init --force` revokes the demo tokens it replaces.

use std::collections::HashMap;
use std::process::Output;

use serde_json::Value;

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::{text, writ_cmd, Server};

/// `writ --server … --token <secret> args…`.
fn with_token(s: &Server, secret: &str, args: &[&str]) -> Output {
    writ_cmd().args(["--server", &s.url, "--token", secret]).args(args).output().unwrap()
}

fn refused_with(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "should fail: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains(needle), "`{err}` should contain `{needle}`");
}

fn create(s: &Server, who: &str, args: &[&str]) -> (String, String) {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let v = s.json(who, &all);
    (v["token"]["id"].as_str().unwrap().to_owned(), v["secret"].as_str().unwrap().to_owned())
}

#[test]
fn tokens_are_created_used_listed_scoped_and_revoked() {
    let s = Server::start(None);

    // Created, shown once, used.
    let human = s.ok("alice", &["token", "create", "--name", "laptop", "--expires", "30d"]);
    assert!(human.contains("shown this once") && human.contains("writ_"), "{human}");
    let (id, secret) = create(&s, "alice", &["--name", "ci"]);
    let me = with_token(&s, &secret, &["--json", "whoami"]);
    assert!(me.status.success(), "{}", text(&me.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&me.stdout).unwrap()["id"], "alice");

    // Listed without secrets; the use shows.
    let list = s.ok("alice", &["token", "list"]);
    assert!(list.contains(&id) && list.contains("laptop") && list.contains("active"), "{list}");
    assert!(!list.contains(&secret), "a list never shows a secret");
    let listed = s.json("alice", &["token", "list"]);
    let row = listed.as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap().clone();
    assert!(row["last_used_at"].is_string(), "{row}");
    assert!(row.get("secret").is_none() && !listed.to_string().contains(&secret));

    // A read-only token reads, and is refused any change, naming its scope.
    let (_, reader) = create(&s, "alice", &["--name", "dashboard", "--scope", "read"]);
    assert!(with_token(&s, &reader, &["request", "list"]).status.success());
    let submit = ["request", "create", "-e", "pg-prod/payments_readonly", "-d", "1h", "-j", "investigate INC-1"];
    refused_with(&with_token(&s, &reader, &submit), "scope `read`");
    refused_with(&with_token(&s, &reader, &["token", "create", "--name", "escape"]), "scope `read`");

    // A service account's token: its owner mints it, with an expiry; a
    // request-scoped one asks for access and reads only its own.
    refused_with(&s.as_("alice", &["token", "create", "--name", "billing", "--for", "svc-billing"]), "must expire");
    let (bot_id, bot) = create(&s, "alice", &["--name", "billing", "--for", "svc-billing", "--expires", "7d", "--scope", "request"]);
    refused_with(&s.as_("bob", &["token", "create", "--name", "x", "--for", "svc-billing", "--expires", "1d"]), "may not");
    refused_with(&with_token(&s, &bot, &["audit", "export"]), "scope `request`");
    assert!(with_token(&s, &bot, &["request", "list"]).status.success());
    refused_with(&with_token(&s, &bot, &["grant", "list", "--subject", "alice"]), "only `svc-billing`'s own");

    // Revoked: refused at once, by whom it may be.
    refused_with(&s.as_("bob", &["token", "revoke", &id]), "not found");
    let revoked = s.ok("alice", &["token", "revoke", &id, "--reason", "rotated"]);
    assert!(revoked.contains("revoked"), "{revoked}");
    refused_with(&with_token(&s, &secret, &["whoami"]), "revoked");
    refused_with(&s.as_("alice", &["token", "revoke", &id]), "revoked");
    // The owner's administrator may revoke the bot's token too.
    s.ok("sam", &["token", "revoke", &bot_id]);
    refused_with(&with_token(&s, &bot, &["whoami"]), "revoked");

    // The audit log names the tokens, never a secret.
    let export = s.dir.path().join("export.jsonl");
    s.ok("sam", &["audit", "export", "--output", export.to_str().unwrap()]);
    let log = std::fs::read_to_string(&export).unwrap();
    assert!(log.contains("token.issued") && log.contains("token.revoked") && log.contains(&id), "the log names them");
    for secret in [&secret, &bot, &reader] {
        assert!(!log.contains(secret.as_str()), "never a secret in the log");
    }
}

#[test]
fn init_force_revokes_the_demo_tokens_it_replaces() {
    let s = Server::start(None);
    let old: HashMap<String, String> = s.tokens.clone();
    assert!(with_token(&s, &old["alice"], &["whoami"]).status.success());
    let (_, kept) = create(&s, "alice", &["--name", "laptop"]);

    let data = s.dir.path().join("writ-data");
    let out = writ_cmd().args(["init", "--force", "--dir", data.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "writ init --force failed: {}", text(&out.stderr));
    let fresh: HashMap<String, String> = std::fs::read_to_string(data.join("demo-tokens.env"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("WRIT_TOKEN_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_lowercase(), v.to_owned()))
        .collect();
    assert_ne!(fresh["alice"], old["alice"]);

    refused_with(&with_token(&s, &old["alice"], &["whoami"]), "revoked");
    refused_with(&with_token(&s, &old["sam"], &["whoami"]), "revoked");
    assert!(with_token(&s, &fresh["alice"], &["whoami"]).status.success(), "the new demo tokens work");
    assert!(with_token(&s, &kept, &["whoami"]).status.success(), "tokens the demo did not write are kept");
}
