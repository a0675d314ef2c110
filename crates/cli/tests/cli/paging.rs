//! `list` commands page: a page ends with the command for the next one,
//! `--json` keeps stdout a JSON array (the next command on stderr), and
//! `--all-pages` follows the server's links to the end. Against the shared
//! `writ serve`: ivan's own requests, which no other test makes, are
//! checked; others' may appear, but only before the first cursor.

use std::collections::BTreeSet;

use clap::Parser;
use serde_json::Value;
use writ_cli::Cli;

use crate::server::{server, text, Server};

/// Ivan asks for payments read access three times; the request ids.
fn three_requests(s: &Server) -> BTreeSet<String> {
    (0..3)
        .map(|i| {
            let v = s.json("ivan", &["request", "create", "-e", "pg-prod/payments_readonly", "-d", "1h", "-j", &format!("paging: {i}")]);
            v["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The command a page's last line gives for the next page, as arguments
/// after `writ`, if there is one; and the ids of the page's table.
fn page(stdout: &str) -> (Vec<String>, Option<Vec<String>>) {
    let mut lines: Vec<&str> = stdout.lines().collect();
    let next = match lines.last() {
        Some(l) if l.starts_with("more: ") => {
            let command = l.split('`').nth(1).unwrap_or_else(|| panic!("no command in `{l}`"));
            let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
            assert_eq!(words[0], "writ", "{l}");
            lines.pop();
            Some(words[1..].to_vec())
        }
        _ => None,
    };
    assert!(lines[0].starts_with("ID "), "a table: {stdout}");
    (lines[1..].iter().map(|l| l.split_whitespace().next().unwrap().to_owned()).collect(), next)
}

#[test]
fn a_list_page_ends_with_the_command_for_the_next_page() {
    let s = server();
    let mine = three_requests(s);
    let mut args: Vec<String> = ["request", "list", "--state", "pending", "--limit", "2"].map(str::to_owned).to_vec();
    let (mut seen, mut pages) = (Vec::new(), 0);
    loop {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ids, next) = page(&s.ok("ivan", &argv));
        assert!(ids.len() <= 2, "{ids:?}");
        seen.extend(ids);
        pages += 1;
        assert!(pages < 500, "the pages end");
        match next {
            Some(n) => {
                assert_eq!(n[..6], args[..6], "the same command, with a cursor: {n:?}");
                assert_eq!(n[6], "--cursor", "{n:?}");
                args = n;
            }
            None => break,
        }
    }
    assert!(pages >= 2, "three requests do not fit on a page of two");
    let distinct: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "no request twice: {seen:?}");
    assert!(mine.is_subset(&distinct), "every one of ivan's: {mine:?} in {seen:?}");
}

#[test]
fn json_prints_only_the_array_and_all_pages_reads_to_the_end() {
    let s = server();
    let mine = three_requests(s);
    let out = s.writ("ivan", &["--json", "request", "list", "--state", "pending", "--limit", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first.len(), 1);
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("more: the next page is `writ request list --state pending --json --limit 1 --cursor "), "{stderr}");

    let out = s.writ("ivan", &["--json", "request", "list", "--state", "pending", "--limit", "1", "--all-pages"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "nothing more to say");
    let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<String> = all.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    let distinct: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(distinct.len(), ids.len(), "no request twice: {ids:?}");
    assert!(mine.is_subset(&distinct), "{mine:?} in {ids:?}");

    // A cursor the server did not give out is the server's 400, said as such.
    let out = s.writ("ivan", &["request", "list", "--cursor", "nonsense"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`cursor`"), "{}", text(&out.stderr));
    let out = s.writ("ivan", &["task", "list", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`limit` must be from 1 to 1000"), "{}", text(&out.stderr));
}

#[test]
fn every_list_command_takes_the_paging_flags() {
    let parse = |args: &[&str]| Cli::try_parse_from(std::iter::once("writ").chain(args.iter().copied()));
    for list in
        [&["request", "list"][..], &["request", "list", "--queue"], &["task", "list"], &["grant", "list"], &["break-glass", "list"], &["reconcile", "list"]]
    {
        for flags in [&["--limit", "5"][..], &["--cursor", "1.req-a"], &["--all-pages"], &["--limit", "5", "--all-pages"]] {
            let args: Vec<&str> = list.iter().chain(flags).copied().collect();
            assert!(parse(&args).is_ok(), "{args:?}");
        }
        let args: Vec<&str> = list.iter().chain(&["--cursor", "1.req-a", "--all-pages"]).copied().collect();
        assert!(parse(&args).is_err(), "a cursor starts one page: {args:?}");
    }
}
