//! `writ audit export`: the whole audit log as JSON Lines, for offline
//! verification (`writ audit verify --file`) and for auditors.
//!
//! Format, one JSON object per line:
//! first every event, in `seq` order, as `{"type":"event", …AuditEventView}`,
//! then every checkpoint, by size, as `{"type":"checkpoint", …CheckpointView}`.
//! A checkpoint is signed just before the export so that it ends with a signed head.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use writ_api::{AuditEventView, CheckpointView};

use crate::client::{decode, ApiError, Client};
use crate::output::emit_json;

/// Events asked for per page; the server's maximum.
pub const PAGE: u32 = 10_000;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// One line of an export: the item's fields after a `type` tag.
#[derive(Debug, Serialize)]
pub struct Line<'a, T> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub item: &'a T,
}

/// The JSON Lines text of one event.
pub fn event_line(e: &AuditEventView) -> anyhow::Result<String> {
    Ok(serde_json::to_string(&Line { kind: "event", item: e })?)
}

/// The JSON Lines text of one checkpoint.
pub fn checkpoint_line(c: &CheckpointView) -> anyhow::Result<String> {
    Ok(serde_json::to_string(&Line { kind: "checkpoint", item: c })?)
}

/// How many lines of each kind were written.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub events: u64,
    pub checkpoints: u64,
}

pub async fn run(api: &Client, args: &ExportArgs, json: bool) -> anyhow::Result<()> {
    sign_head(api).await?;
    let counts = match &args.output {
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write_export(api, &mut out).await?
        }
        Some(path) => write_file(api, path).await?,
    };
    if let Some(path) = &args.output {
        if json {
            emit_json(&serde_json::json!({
                "events": counts.events,
                "checkpoints": counts.checkpoints,
                "output": path.display().to_string(),
            }))?;
        } else {
            eprintln!("{}", summary(counts, path));
        }
    }
    if counts.checkpoints == 0 && counts.events > 0 {
        eprintln!("warning: the export has no signed checkpoint, so it cannot be checked against a trusted key");
    }
    Ok(())
}

/// The line printed to stderr after writing a file.
pub fn summary(counts: Counts, path: &Path) -> String {
    format!("exported {} events and {} checkpoints to {}", counts.events, counts.checkpoints, path.display())
}

/// Asks the server to sign its current head. `204` means nothing is new since the
/// last checkpoint. A refusal only costs the export its freshest head, so it is a
/// warning; the reads that follow say whether the caller may export at all.
async fn sign_head(api: &Client) -> anyhow::Result<()> {
    match api.post_optional(&["v1", "audit", "checkpoints"], &serde_json::json!({})).await {
        Ok(_) => Ok(()),
        Err(e) => match e.downcast_ref::<ApiError>() {
            Some(api_err) if api_err.status == 403 => {
                eprintln!("warning: no new checkpoint was signed ({api_err}); the export ends at the last checkpoint");
                Ok(())
            }
            _ => Err(e),
        },
    }
}

/// Writes the export next to `path` and renames it into place once complete, so
/// a failed export never leaves a truncated file that looks like a whole one.
async fn write_file(api: &Client, path: &Path) -> anyhow::Result<Counts> {
    let name = path.file_name().with_context(|| format!("`{}` is not a file name", path.display()))?;
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(name);
    partial_name.push(".partial");
    let partial = path.with_file_name(partial_name);
    let file = std::fs::File::create(&partial).with_context(|| format!("cannot create `{}`", partial.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let result = async {
        let counts = write_export(api, &mut out).await?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, path).with_context(|| format!("cannot write `{}`", path.display()))?;
        Ok(counts)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Pages through the events, then the checkpoints, writing one line each.
pub async fn write_export(api: &Client, out: &mut impl Write) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    let mut after = 0u64;
    loop {
        let query = [("after", after.to_string()), ("limit", PAGE.to_string())];
        let page: Vec<AuditEventView> = decode("audit events", api.get(&["v1", "audit", "events"], &query).await?)?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            if e.seq <= after {
                bail!("the server returned audit event {} after event {after}: the log must be in `seq` order; export aborted", e.seq);
            }
            after = e.seq;
            writeln!(out, "{}", event_line(e)?)?;
            counts.events += 1;
        }
    }
    let mut checkpoints: Vec<CheckpointView> = decode("audit checkpoints", api.get(&["v1", "audit", "checkpoints"], &[]).await?)?;
    checkpoints.sort_by_key(|c| c.size);
    for c in &checkpoints {
        writeln!(out, "{}", checkpoint_line(c)?)?;
        counts.checkpoints += 1;
    }
    out.flush()?;
    Ok(counts)
}
