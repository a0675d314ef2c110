//! `writ reconcile`: compare every target's live state with the grants, and
//! read the reports. A run shows its progress on a terminal (nothing extra on
//! a pipe); reports come out as tables, `--json` or `--csv`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use writ_api::{ObservationView, RunReport, RunStarted, RunView, StartReconcile};

use crate::client::{decode, Client};
use crate::cmd::page::{self, PageArgs};
use crate::output::{emit, emit_json, one_line, opt, short_time, table_or, Table};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReconcileArgs {
    #[command(subcommand)]
    pub cmd: Option<ReconcileCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Run reconciliation now and print its report.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only this target (default: every target Writ can read).
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Print the exceptions as CSV (one row per observation).
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

#[derive(Debug, Subcommand)]
pub enum ReconcileCommand {
    /// Show a past run and its exceptions.
    Show(ShowArgs),
    /// List past runs, newest first.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run's id (`rec-…`).
    pub run: String,
    /// Print the exceptions as CSV.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs of this target.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    // Newest first, a page at a time (`--limit`, `--cursor`, `--all-pages`).
    #[command(flatten)]
    pub page: PageArgs,
}

pub async fn run(api: &Client, args: &ReconcileArgs, json: bool) -> anyhow::Result<()> {
    match &args.cmd {
        Some(ReconcileCommand::Show(a)) => {
            let value = api.get(&["v1", "reconcile", "runs", &a.run], &[]).await?;
            if json {
                return emit_json(&value);
            }
            let report: RunReport = decode("reconciliation run", value)?;
            print_reports(&[report], false, a.csv)
        }
        Some(ReconcileCommand::List(a)) => {
            let mut query = Vec::new();
            let mut command = vec!["reconcile".to_owned(), "list".to_owned()];
            if let Some(t) = &a.target {
                query.push(("target", t.clone()));
                command.extend(["--target".into(), t.clone()]);
            }
            let listing = page::read(api, &["v1", "reconcile", "runs"], query, &a.page).await?;
            if json {
                return page::emit_json(&listing, &command, &a.page);
            }
            let runs: Vec<RunView> = decode("reconciliation runs", serde_json::Value::Array(listing.items.clone()))?;
            emit(&page::with_more(table_or(&run_table(&runs), "no reconciliation runs yet: run `writ reconcile`"), &listing, &command, &a.page))
        }
        None => {
            let value = api.post(&["v1", "reconcile"], &StartReconcile { target: args.run.target.clone() }).await?;
            let started: Vec<RunStarted> = decode("started runs", value)?;
            if started.is_empty() {
                anyhow::bail!("no target to reconcile: only targets with a connector can be read (see `writ catalog targets`)");
            }
            let mut reports = Vec::new();
            for s in &started {
                reports.push(follow(api, s).await?);
            }
            print_reports(&reports, json, args.run.csv)?;
            let failed: Vec<&str> = reports.iter().filter(|r| r.run.state == "failed").map(|r| r.run.target.as_str()).collect();
            if !failed.is_empty() {
                anyhow::bail!("could not read {}: see the error above; nothing was concluded for them", failed.join(", "));
            }
            Ok(())
        }
    }
}

/// Polls a run until it ends, with a progress line on a terminal.
async fn follow(api: &Client, s: &RunStarted) -> anyhow::Result<RunReport> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("a valid template"));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let started = Instant::now();
    loop {
        match api.get(&["v1", "reconcile", "runs", &s.run], &[]).await {
            Ok(value) => {
                let report: RunReport = decode("reconciliation run", value)?;
                if report.run.state != "running" {
                    if let Some(bar) = &bar {
                        bar.finish_and_clear();
                    }
                    return Ok(report);
                }
                if let Some(bar) = &bar {
                    bar.set_message(format!("reconciling {}: {} live entitlements read", s.target, report.run.live_rows));
                }
            }
            // Between its start and its first row a run may not be listed yet.
            Err(e) if started.elapsed() < Duration::from_secs(10) && e.to_string().contains("not found") => {}
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_reports(reports: &[RunReport], json: bool, csv: bool) -> anyhow::Result<()> {
    if json {
        return emit_json(reports);
    }
    if csv {
        return emit(&to_csv(reports));
    }
    let mut out = String::new();
    for r in reports {
        out += &summary(&r.run);
        if r.run.state != "done" {
            out.push('\n');
            continue;
        }
        let t = observation_table(&r.observations);
        out += &table_or(&t, "  no exceptions: every live entitlement traces to an approved grant");
        out.push('\n');
    }
    emit(&out)
}

fn summary(r: &RunView) -> String {
    let mut out = format!("run {} of {}: {}", one_line(&r.id), one_line(&r.target), r.state);
    if let Some(e) = &r.error {
        out += &format!(": {}\n", one_line(e));
        return out;
    }
    let rate = r.match_rate.map_or("-".to_owned(), |m| format!("{:.2}%", m * 100.0));
    out += &format!(", {} live entitlements, match rate {rate}\n", r.live_rows);
    let counts: Vec<String> = r.counts.iter().filter(|(_, n)| **n > 0).map(|(s, n)| format!("{s} {n}")).collect();
    out += &format!("  {}\n", if counts.is_empty() { "nothing on the target, nothing in the ledger".to_owned() } else { counts.join(", ") });
    if !r.actions.is_empty() {
        let actions: Vec<String> = r.actions.iter().map(|(a, n)| format!("{a} {n}")).collect();
        out += &format!("  actions: {}\n", actions.join(", "));
    }
    out
}

fn run_table(runs: &[RunView]) -> Table {
    let mut t = Table::new(&["id", "target", "state", "started", "live", "match rate", "exceptions", "by"]);
    for r in runs {
        let exceptions: u64 = r.counts.iter().filter(|(s, _)| s.as_str() != "matched").map(|(_, n)| n).sum();
        t.row([
            r.id.clone(),
            r.target.clone(),
            r.state.clone(),
            r.started_at.as_ref().map_or("-".into(), short_time),
            r.live_rows.to_string(),
            r.match_rate.map_or("-".to_owned(), |m| format!("{:.2}%", m * 100.0)),
            exceptions.to_string(),
            opt(r.by.as_deref()),
        ]);
    }
    t
}

fn action_text(o: &ObservationView) -> String {
    match &o.action {
        None => "reported".into(),
        Some(a) => match &a.request {
            Some(req) => format!("{}: {} ({req})", a.reaction, a.outcome),
            None => format!("{}: {}", a.reaction, a.outcome),
        },
    }
}

fn observation_table(obs: &[ObservationView]) -> Table {
    let mut t = Table::new(&["situation", "account", "resource", "grant", "action", "why"]);
    for o in obs {
        t.row([o.situation.clone(), o.account.clone(), o.resource.clone(), opt(o.grant.as_deref()), action_text(o), o.note.clone()]);
    }
    t
}

/// RFC 4180 CSV of every run's exceptions. A cell a spreadsheet would run as
/// a formula (`=`, `+`, `-`, `@` first) is prefixed with `'`: account names
/// come from the targets, not from Writ.
pub fn to_csv(reports: &[RunReport]) -> String {
    let mut out = String::from("run,target,situation,account,resource,identity,grant,reaction,outcome,request,note\n");
    for r in reports {
        for o in &r.observations {
            let a = o.action.as_ref();
            let cells = [
                r.run.id.as_str(),
                r.run.target.as_str(),
                o.situation.as_str(),
                o.account.as_str(),
                o.resource.as_str(),
                o.identity.as_deref().unwrap_or(""),
                o.grant.as_deref().unwrap_or(""),
                a.map_or("report", |a| a.reaction.as_str()),
                a.map_or("", |a| a.outcome.as_str()),
                a.and_then(|a| a.request.as_deref()).unwrap_or(""),
                o.note.as_str(),
            ];
            let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out += &line.join(",");
            out.push('\n');
        }
    }
    out
}

fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_cell("alice"), "alice");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
    }
}
