//! `writ intake …`: classify tickets into request types offline, and train a
//! custom model, with the `writ-intake` classifier (no server needed).
//!
//! A CSV is read and checked whole before anything is printed: a missing
//! column or a malformed row fails the command with the file and line named,
//! and no partial results are printed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use writ_intake::routing::{DEFAULT_GOVERNED_MASS_BELOW, DEFAULT_HELP_DESK_MIN, DEFAULT_TRIAGE_BELOW};
use writ_intake::{read_labelled_csv, read_tickets_csv, route, standard_model, standard_train_config, Classifier, Decision, RoutingThresholds, Ticket};

use crate::output::{emit, emit_json, one_line, table_or, Table};

#[derive(Debug, Subcommand)]
pub enum IntakeCommand {
    /// Classify each ticket of a CSV (columns `subject,body`) into a request
    /// type with a confidence, and say where it would be routed.
    Classify(ClassifyArgs),
    /// Train a model from labelled tickets (columns `subject,body,type`), for
    /// `writ intake classify --model`.
    Train(TrainArgs),
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// The tickets: a CSV file with a header naming `subject` and `body` (other columns ignored).
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// A model written by `writ intake train` (default: the built-in model of
    /// Writ's 14 standard request types, trained when the command starts).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Below this top confidence a ticket goes to triage.
    #[arg(long, value_name = "P", default_value_t = DEFAULT_TRIAGE_BELOW)]
    pub triage_below: f32,
    /// A help-desk type needs at least this confidence to be routed to the help desk.
    #[arg(long, value_name = "P", default_value_t = DEFAULT_HELP_DESK_MIN)]
    pub help_desk_min: f32,
    /// A help-desk type goes to the help desk only while the governed types'
    /// confidences sum to less than this.
    #[arg(long, value_name = "P", default_value_t = DEFAULT_GOVERNED_MASS_BELOW)]
    pub governed_mass_below: f32,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Labelled tickets: a CSV file with columns `subject,body,type`.
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// Where to write the model.
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    /// Labelled tickets not trained on, to measure the model's type accuracy.
    #[arg(long, value_name = "FILE")]
    pub held_out: Option<PathBuf>,
}

/// One classified ticket: a row of `writ intake classify`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classified {
    /// The CSV line where the ticket's row starts.
    pub line: usize,
    pub subject: String,
    /// The most probable request type.
    #[serde(rename = "type")]
    pub request_type: String,
    pub confidence: f32,
    /// `governed`, `help_desk` or `triage`.
    pub route: &'static str,
    /// The second most probable type.
    pub runner_up: String,
    pub runner_up_confidence: f32,
}

pub fn run(cmd: &IntakeCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        IntakeCommand::Classify(a) => classify(a, json),
        IntakeCommand::Train(a) => train(a, json),
    }
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read the {what} `{}`", path.display()))
}

fn load_model(path: &Path) -> anyhow::Result<Classifier> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the model file `{}`", path.display()))?;
    Classifier::from_bytes(&bytes).with_context(|| format!("`{}` is not a usable model: write one with `writ intake train`", path.display()))
}

fn classify(args: &ClassifyArgs, json: bool) -> anyhow::Result<()> {
    let thresholds = RoutingThresholds { triage_below: args.triage_below, help_desk_min: args.help_desk_min, governed_mass_below: args.governed_mass_below };
    thresholds.validate().map_err(anyhow::Error::msg)?;
    let tickets = read_tickets_csv(&read_text(&args.csv, "tickets file")?).with_context(|| format!("`{}`", args.csv.display()))?;
    let custom;
    let model = match &args.model {
        Some(path) => {
            custom = load_model(path)?;
            &custom
        }
        None => standard_model(),
    };
    let rows: Vec<Classified> = tickets.iter().map(|t| classify_one(model, t, &thresholds)).collect();
    if json {
        return emit_json(&rows);
    }
    emit(&table_or(&classified_table(&rows), "the file has no tickets"))
}

/// Classifies and routes one ticket.
pub fn classify_one(model: &Classifier, ticket: &Ticket, thresholds: &RoutingThresholds) -> Classified {
    let p = model.probabilities(&ticket.subject, &ticket.body);
    let labels = model.labels();
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    let (first, second) = (order[0], order.get(1).copied().unwrap_or(order[0]));
    let decision = route(labels, &p, writ_intake::is_governed, thresholds);
    let request_type = match decision {
        Decision::Governed(l) | Decision::HelpDesk(l) | Decision::Triage { best: l } if !l.is_empty() => l.to_owned(),
        _ => labels[first].clone(),
    };
    Classified {
        line: ticket.line,
        subject: ticket.subject.clone(),
        request_type,
        confidence: round4(p[first]),
        route: decision.route_name(),
        runner_up: labels[second].clone(),
        runner_up_confidence: round4(p[second]),
    }
}

/// A probability to four decimals (what a reader can use; `1e-14` is noise).
fn round4(p: f32) -> f32 {
    (p * 10_000.0).round() / 10_000.0
}

/// The `writ intake classify` table.
pub fn classified_table(rows: &[Classified]) -> Table {
    let mut t = Table::new(&["line", "type", "confidence", "route", "runner-up", "subject"]);
    for r in rows {
        let subject: String = one_line(&r.subject).chars().take(60).collect();
        t.row([
            r.line.to_string(),
            r.request_type.clone(),
            format!("{:.2}", r.confidence),
            r.route.to_owned(),
            format!("{} {:.2}", r.runner_up, r.runner_up_confidence),
            if subject.is_empty() { "-".to_owned() } else { subject },
        ]);
    }
    t
}

#[derive(Debug, Serialize)]
struct Trained<'a> {
    model: String,
    examples: usize,
    labels: &'a [String],
    training_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    held_out: Option<HeldOut>,
}

#[derive(Debug, Serialize)]
struct HeldOut {
    total: usize,
    correct: usize,
    accuracy: f64,
}

fn train(args: &TrainArgs, json: bool) -> anyhow::Result<()> {
    let examples = read_labelled_csv(&read_text(&args.csv, "training file")?).with_context(|| format!("`{}`", args.csv.display()))?;
    // Read the held-out file before training, so a bad path fails at once.
    let held_out = match &args.held_out {
        Some(path) => Some(read_labelled_csv(&read_text(path, "held-out file")?).with_context(|| format!("`{}`", path.display()))?),
        None => None,
    };
    let started = Instant::now();
    let model = Classifier::train(&examples, &standard_train_config()).with_context(|| format!("cannot train on `{}`", args.csv.display()))?;
    let training_seconds = started.elapsed().as_secs_f64();
    std::fs::write(&args.out, model.to_bytes()).with_context(|| format!("cannot write the model to `{}`", args.out.display()))?;
    let held_out = held_out.map(|h| {
        let e = model.evaluate(&h);
        HeldOut { total: e.total, correct: e.correct, accuracy: e.accuracy() }
    });
    let report = Trained { model: args.out.display().to_string(), examples: examples.len(), labels: model.labels(), training_seconds, held_out };
    if json {
        return emit_json(&report);
    }
    let mut text = format!(
        "trained on {} tickets, {} types ({}) in {:.1} s\nwrote `{}`\n",
        report.examples,
        report.labels.len(),
        report.labels.join(", "),
        report.training_seconds,
        report.model
    );
    if let Some(h) = &report.held_out {
        text.push_str(&format!("held-out type accuracy: {:.2}% ({}/{})\n", 100.0 * h.accuracy, h.correct, h.total));
    }
    emit(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_intake::{Example, TrainConfig};

    fn small_model() -> Classifier {
        let examples: Vec<Example> = [
            ("vpn", "please grant me vpn access", "application_access"),
            ("access", "add me to the finance share", "application_access"),
            ("password", "forgot my password please reset", "password_reset"),
            ("reset", "password expired reset needed", "password_reset"),
            ("laptop", "screen broken on my laptop", "hardware"),
            ("printer", "printer jam on floor two", "hardware"),
        ]
        .into_iter()
        .map(|(s, b, l)| Example::new(s, b, l))
        .collect();
        let mut config = TrainConfig { calibration_percent: 0, ..TrainConfig::default() };
        config.features.hash_bits = 12;
        Classifier::train(&examples, &config).unwrap()
    }

    #[test]
    fn a_row_names_type_route_and_runner_up() {
        let model = small_model();
        let t = Ticket { line: 2, subject: "laptop".into(), body: "my laptop screen is broken".into() };
        let lenient = RoutingThresholds { triage_below: 0.0, help_desk_min: 0.0, governed_mass_below: 1.0 };
        let row = classify_one(&model, &t, &lenient);
        assert_eq!(row.request_type, "hardware");
        assert_eq!(row.route, "help_desk");
        assert_ne!(row.runner_up, "hardware");
        assert!(row.confidence >= row.runner_up_confidence);
        let strict = RoutingThresholds { triage_below: 1.0, ..lenient };
        assert_eq!(classify_one(&model, &t, &strict).route, "triage");
        let rendered = classified_table(&[row]).render();
        assert!(rendered.contains("hardware") && rendered.contains("help_desk") && rendered.contains("RUNNER-UP"), "{rendered}");
    }

    #[test]
    fn json_rows_use_type_as_the_key() {
        let model = small_model();
        let t = Ticket { line: 3, subject: String::new(), body: "grant me vpn access".into() };
        let v = serde_json::to_value(classify_one(&model, &t, &RoutingThresholds::default())).unwrap();
        assert_eq!(v["type"], "application_access");
        assert_eq!(v["line"], 3);
        for key in ["confidence", "route", "runner_up", "runner_up_confidence", "subject"] {
            assert!(v.get(key).is_some(), "{key} in {v}");
        }
    }
}
