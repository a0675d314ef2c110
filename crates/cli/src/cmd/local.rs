//! Commands that work on local files and databases rather than through the API:
//! `init`, `serve`, `audit verify` (offline) and `policy check`.

use std::borrow::Cow;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Deserialize;
use writ_core::audit::{decode_hex_array, ChainVerifier, Checkpoint, EventHash, EventRef, VerifyReport};

/// `writ init`: create a data directory with a config, a catalog and policies.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The data directory to create.
    #[arg(long, value_name = "PATH", default_value = "./writ-data")]
    pub dir: PathBuf,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// `writ serve`: run the server.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The server's config file.
    #[arg(long, value_name = "PATH", env = "WRIT_CONFIG", default_value = "./writ-data/writ.toml")]
    pub config: PathBuf,
    /// If the config does not exist yet, create the demo (as `writ init` does) in
    /// its directory first, and print what to try.
    #[arg(long)]
    pub demo: bool,
    /// Log format on stderr: `text` for people, `json` for log collectors. The
    /// level is set by `WRIT_LOG` (e.g. `info`, `writ_server=debug`).
    #[arg(long, value_name = "FORMAT", env = "WRIT_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// `writ audit verify`: check the audit chain and its signed checkpoints offline.
/// One of `--database` / `--file` is required. Both may be present, because
/// `WRIT_DATABASE_URL` is often set for the server: then `--file` is verified.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["database", "file"])))]
pub struct VerifyArgs {
    /// Verify the log in this database, e.g. `sqlite://writ-data/writ.db`.
    #[arg(long, value_name = "URL", env = "WRIT_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Verify an export written by `writ audit export`.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// An Ed25519 public key checkpoints may be signed with: hex, or `@FILE`
    /// (e.g. `@writ-data/audit-signing.pub`, written by the server; a file may
    /// list several keys, one per line, `#` comments allowed). Repeat it for
    /// several nodes that each sign with their own key.
    #[arg(long, value_name = "HEX|@FILE")]
    pub trusted_key: Vec<String>,
    /// A directory of checkpoints the server published outside its database
    /// (`audit_witness_dir`): the log must reach and agree with every one, so
    /// deleting its newest events together with their checkpoints is caught.
    #[arg(long, value_name = "DIR")]
    pub witness: Option<PathBuf>,
}

/// `writ policy check`: validate the policies in a directory.
#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// The policy directory.
    #[arg(value_name = "DIR", default_value = "./writ-data/policies")]
    pub dir: PathBuf,
}

pub async fn init(args: &InitArgs) -> anyhow::Result<()> {
    let report = writ_server::init::init(&args.dir, args.force).await?;
    println!("{}", writ_server::init::next_steps(&report, "not running yet: start it with `writ serve --config <dir>/writ.toml`"));
    Ok(())
}

pub async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WRIT_LOG").unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if args.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    if args.demo {
        let dir = args.config.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        if !args.config.exists() {
            let report = writ_server::init::init(&dir, false).await?;
            let cfg = writ_server::Config::load(&args.config)?;
            println!("{}", writ_server::init::next_steps(&report, &format!("starting on http://{}", cfg.listen)));
        } else {
            println!("Writ demo in {}: the demo people's tokens are in {}", dir.display(), dir.join(writ_server::init::TOKENS_FILE).display());
        }
    }
    let cfg = writ_server::Config::load(&args.config)?;
    writ_server::run(cfg).await
}

/// An event line of an export, borrowed from the line where it can be: strings
/// without escapes are not copied. Parsed directly rather than through a
/// `type`-tagged enum, which made serde buffer every line twice.
#[derive(Deserialize)]
struct EventLine<'a> {
    seq: u64,
    at: DateTime<Utc>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payload: Cow<'a, str>,
    prev_hash: EventHash,
    hash: EventHash,
}

/// Reads an export file, naming the line of anything unreadable. Lines are
/// parsed on a second thread while this one verifies (`verify_pipelined`).
fn read_export(path: &PathBuf, verifier: &mut ChainVerifier) -> anyhow::Result<Vec<Checkpoint>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let mut checkpoints = Vec::new();
    let verdict = writ_store::verify_pipeline::verify_pipelined(verifier, |sink| {
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut line = String::with_capacity(4096);
        for number in 1.. {
            line.clear();
            if reader.read_line(&mut line).with_context(|| format!("`{}` line {number}", path.display()))? == 0 {
                break;
            }
            let unreadable = || format!("`{}` line {number}: not an audit export line", path.display());
            match parse_line(line.trim()).with_context(unreadable)? {
                Parsed::Blank => {}
                Parsed::Checkpoint(c) => checkpoints.push(c),
                Parsed::Event(e) => {
                    let event = EventRef {
                        seq: e.seq,
                        at_millis: e.at.timestamp_millis(),
                        actor: &e.actor,
                        kind: &e.kind,
                        request_id: e.request_id.as_deref(),
                        payload: &e.payload,
                        prev_hash: e.prev_hash,
                        hash: e.hash,
                    };
                    if !sink.push(&event, e.at.timestamp_subsec_nanos() % 1_000_000 != 0) {
                        break;
                    }
                }
            }
        }
        anyhow::Ok(())
    })?;
    verdict.map_err(|t| anyhow::anyhow!("audit log failed verification: {t}"))?;
    Ok(checkpoints)
}

enum Parsed<'a> {
    Blank,
    Event(EventLine<'a>),
    Checkpoint(Checkpoint),
}

fn parse_line(text: &str) -> anyhow::Result<Parsed<'_>> {
    if text.is_empty() {
        return Ok(Parsed::Blank);
    }
    // What `writ audit export` writes; other writers may order keys otherwise.
    if text.starts_with(r#"{"type":"event","#) {
        return Ok(Parsed::Event(serde_json::from_str(text)?));
    }
    #[derive(Deserialize)]
    struct Tagged {
        r#type: String,
    }
    match serde_json::from_str::<Tagged>(text)?.r#type.as_str() {
        "event" => Ok(Parsed::Event(serde_json::from_str(text)?)),
        "checkpoint" => Ok(Parsed::Checkpoint(serde_json::from_str(text)?)),
        other => anyhow::bail!("unknown line type `{other}` (expected `event` or `checkpoint`)"),
    }
}

/// The keys of every `--trusted-key`: hex, or `@FILE` with one key per line.
fn trusted_keys(args: &[String]) -> anyhow::Result<Vec<[u8; 32]>> {
    let mut keys = Vec::new();
    for k in args {
        let (text, from) = match k.strip_prefix('@') {
            Some(path) => (std::fs::read_to_string(path).with_context(|| format!("--trusted-key: cannot read `{path}`"))?, format!("`{path}`")),
            None => (k.clone(), "the command line".to_owned()),
        };
        let lines: Vec<(usize, &str)> =
            text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())).filter(|(_, l)| !l.is_empty() && !l.starts_with('#')).collect();
        if lines.is_empty() {
            anyhow::bail!("--trusted-key: {from} holds no key");
        }
        for (n, line) in lines {
            keys.push(decode_hex_array::<32>(line).map_err(|e| anyhow::anyhow!("--trusted-key: {from}, line {n}: {e}"))?);
        }
    }
    Ok(keys)
}

/// Every checkpoint published in a witness directory (`*.json`, one each),
/// naming the file of anything unreadable.
fn witnessed_checkpoints(dir: &Path) -> anyhow::Result<Vec<Checkpoint>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("--witness: cannot read the directory `{}`", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).with_context(|| format!("--witness: cannot read `{}`", path.display()))?;
            found.push(serde_json::from_str(&text).with_context(|| format!("--witness: `{}` is not a checkpoint", path.display()))?);
        }
    }
    if found.is_empty() {
        anyhow::bail!("--witness: `{}` holds no checkpoint (`*.json`): is it the server's `audit_witness_dir`?", dir.display());
    }
    Ok(found)
}

pub async fn audit_verify(args: &VerifyArgs, json: bool) -> anyhow::Result<()> {
    let trusted = trusted_keys(&args.trusted_key)?;
    let witnessed = args.witness.as_deref().map(witnessed_checkpoints).transpose()?.unwrap_or_default();
    let mut verifier = ChainVerifier::new();
    let (source, checkpoints) = if let Some(file) = &args.file {
        (file.display().to_string(), read_export(file, &mut verifier)?)
    } else {
        let url = args.database.as_deref().expect("clap requires --database or --file");
        let store = writ_store::SqlStore::open_read_only(url).await?;
        let checkpoints = store.verify_into(&mut verifier).await?.map_err(|t| anyhow::anyhow!("audit log failed verification: {t}"))?;
        (writ_store::redact(url), checkpoints)
    };
    // Witnessed checkpoints are checked like the stored ones: a log shorter
    // than one, or different at its size, fails.
    let latest_witnessed = witnessed.iter().map(|c| c.size).max();
    let all: Vec<Checkpoint> = checkpoints.into_iter().chain(witnessed.iter().cloned()).collect();
    let report = verifier.finish(&all, &trusted).map_err(|t| anyhow::anyhow!("audit log failed verification: {t}"))?;
    print_report(&source, &report, !trusted.is_empty(), (witnessed.len(), latest_witnessed), json);
    Ok(())
}

fn print_report(source: &str, r: &VerifyReport, trusted: bool, witnessed: (usize, Option<u64>), json: bool) {
    let unsigned_tail = r.events - r.last_checkpoint_size.unwrap_or(0);
    if json {
        let v = serde_json::json!({
            "verified": true,
            "source": source,
            "events": r.events,
            "head": r.head.to_string(),
            "checkpoints_checked": r.checkpoints_checked,
            "last_checkpoint_size": r.last_checkpoint_size,
            "events_after_last_checkpoint": unsigned_tail,
            "key_fingerprints": r.key_fingerprints,
            "trusted_key_given": trusted,
            "witnessed_checkpoints": witnessed.0,
            "latest_witnessed_size": witnessed.1,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    println!("audit log verified: {} events in {source}", r.events);
    println!("  head:        {}", r.head);
    println!(
        "  checkpoints: {} checked, signed by {}",
        r.checkpoints_checked,
        if r.key_fingerprints.is_empty() { "nobody".into() } else { r.key_fingerprints.join(", ") }
    );
    match witnessed {
        (0, _) => println!("  note: no --witness given; a log cut together with its newest checkpoints cannot be told from a shorter one"),
        (n, latest) => println!("  witnessed:   {n} published checkpoints agree, the latest at {} events", latest.unwrap_or(0)),
    }
    if unsigned_tail > 0 {
        println!("  warning: the last {unsigned_tail} events come after the newest checkpoint; only the hash chain protects them");
    }
    if !trusted {
        println!("  note: no --trusted-key given; the checkpoints' own keys were used (pin the server's key to detect a re-signed log)");
    }
}

pub fn policy_check(args: &PolicyCheckArgs, json: bool) -> anyhow::Result<()> {
    let engine = writ_policy::PolicyEngine::load_dir(&args.dir).map_err(|e| anyhow::anyhow!("policies in `{}` are invalid:\n{e}", args.dir.display()))?;
    let report = engine.check_report();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("policies in `{}` are valid", args.dir.display());
        print!("{report}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_core::audit::{seal_after, AuditEvent, NewEvent, Tamper};

    fn log(n: usize) -> Vec<AuditEvent> {
        let mut out: Vec<AuditEvent> = Vec::new();
        for i in 0..n {
            let ev = NewEvent {
                at: DateTime::from_timestamp_millis(1_700_000_000_000 + i as i64).unwrap(),
                actor: "alice".into(),
                kind: "request.submitted".into(),
                request_id: (i % 2 == 0).then(|| format!("req-{i}")),
                payload: serde_json::json!({"why": "quoted \"text\"", "i": i}),
            };
            out.push(seal_after(out.last(), ev));
        }
        out
    }

    /// `{"type":"event", …}` as the exporter writes it, or with `type` last.
    fn line(e: &AuditEvent, type_first: bool) -> String {
        let body = serde_json::to_string(e).unwrap();
        if type_first {
            format!(r#"{{"type":"event",{}"#, &body[1..])
        } else {
            format!(r#"{},"type":"event"}}"#, &body[..body.len() - 1])
        }
    }

    fn verify_text(text: &str) -> anyhow::Result<u64> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.jsonl");
        std::fs::write(&path, text).unwrap();
        let mut verifier = ChainVerifier::new();
        let checkpoints = read_export(&path, &mut verifier)?;
        Ok(verifier.finish(&checkpoints, &[]).map_err(|t| anyhow::anyhow!("{t}"))?.events)
    }

    #[test]
    fn export_lines_verify_in_either_key_order_across_batches() {
        let events = log(5000);
        let text: String = events.iter().enumerate().map(|(i, e)| line(e, i % 3 != 0) + "\n").collect();
        assert_eq!(verify_text(&text).unwrap(), 5000);
    }

    #[test]
    fn an_edit_after_the_first_batch_and_hidden_sub_millisecond_digits_are_named() {
        let mut events = log(5000);
        events[4500].payload = events[4500].payload.replace("quoted", "altered");
        let text: String = events.iter().map(|e| line(e, true) + "\n").collect();
        let e = verify_text(&text).unwrap_err().to_string();
        assert!(e.contains(&Tamper::Edited { seq: 4501 }.to_string()), "{e}");

        let events = log(3);
        let mut lines: Vec<String> = events.iter().map(|e| line(e, true)).collect();
        lines[1] = lines[1].replace(".001Z", ".001000001Z");
        assert!(lines[1].contains(".001000001Z"), "{}", lines[1]);
        let e = verify_text(&lines.join("\n")).unwrap_err().to_string();
        assert!(e.contains(&Tamper::Edited { seq: 2 }.to_string()), "{e}");
    }

    #[test]
    fn unreadable_lines_are_named_by_number() {
        let events = log(2);
        let text = format!("{}\n\n{{\"type\":\"receipt\"}}\n", line(&events[0], true));
        let e = format!("{:#}", verify_text(&text).unwrap_err());
        assert!(e.contains("line 3") && e.contains("unknown line type `receipt`"), "{e}");
        let e = format!("{:#}", verify_text("not json\n").unwrap_err());
        assert!(e.contains("line 1: not an audit export line"), "{e}");
    }
}
