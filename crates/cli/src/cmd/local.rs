//! Commands that work on local files and databases rather than through the API:
//! `init`, `serve`, `audit verify` (offline) and `policy check`.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use writ_core::audit::{decode_hex_array, AuditEvent, ChainVerifier, Checkpoint, VerifyReport};

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
    /// The Ed25519 public key checkpoints must be signed with: hex, or `@FILE`
    /// (e.g. `@writ-data/audit-signing.pub`, written by the server).
    #[arg(long, value_name = "HEX")]
    pub trusted_key: Option<String>,
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
            println!(
                "Writ demo in {}: the demo people's tokens are in {}",
                dir.display(),
                dir.join(writ_server::init::TOKENS_FILE).display()
            );
        }
    }
    let cfg = writ_server::Config::load(&args.config)?;
    writ_server::run(cfg).await
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ExportLine {
    Event(AuditEvent),
    Checkpoint(Checkpoint),
}

/// Reads an export file, naming the line of anything unreadable.
fn read_export(path: &PathBuf, verifier: &mut ChainVerifier) -> anyhow::Result<Vec<Checkpoint>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let mut checkpoints = Vec::new();
    for (i, line) in std::io::BufReader::with_capacity(1 << 20, file).lines().enumerate() {
        let line = line.with_context(|| format!("`{}` line {}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: ExportLine = serde_json::from_str(&line)
            .with_context(|| format!("`{}` line {}: not an audit export line", path.display(), i + 1))?;
        match parsed {
            ExportLine::Event(e) => verifier.push(&e).map_err(|t| anyhow::anyhow!("audit log failed verification: {t}"))?,
            ExportLine::Checkpoint(c) => checkpoints.push(c),
        }
    }
    Ok(checkpoints)
}

pub async fn audit_verify(args: &VerifyArgs, json: bool) -> anyhow::Result<()> {
    let trusted = match args.trusted_key.as_deref() {
        None => None,
        Some(k) => {
            let text = match k.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path).with_context(|| format!("--trusted-key: cannot read `{path}`"))?,
                None => k.to_owned(),
            };
            Some(decode_hex_array::<32>(text.trim()).map_err(|e| anyhow::anyhow!("--trusted-key: {e}"))?)
        }
    };
    let mut verifier = ChainVerifier::new();
    let (source, checkpoints) = if let Some(file) = &args.file {
        (file.display().to_string(), read_export(file, &mut verifier)?)
    } else {
        let url = args.database.as_deref().expect("clap requires --database or --file");
        let store = writ_store::SqlStore::open_read_only(url).await?;
        let checkpoints = store
            .verify_into(&mut verifier)
            .await?
            .map_err(|t| anyhow::anyhow!("audit log failed verification: {t}"))?;
        (writ_store::redact(url), checkpoints)
    };
    let report = verifier
        .finish(&checkpoints, trusted)
        .map_err(|t| anyhow::anyhow!("audit log failed verification: {t}"))?;
    print_report(&source, &report, trusted.is_some(), json);
    Ok(())
}

fn print_report(source: &str, r: &VerifyReport, trusted: bool, json: bool) {
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
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    println!("audit log verified: {} events in {source}", r.events);
    println!("  head:        {}", r.head);
    println!("  checkpoints: {} checked, signed by {}", r.checkpoints_checked, if r.key_fingerprints.is_empty() { "nobody".into() } else { r.key_fingerprints.join(", ") });
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
