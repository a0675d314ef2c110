//! Trains the ticket classifier on the public help-desk corpus and measures it on
//! the deterministic held-out 20% (see `writ_intake::dataset::HELD_OUT_SALT`).
//!
//! ```sh
//! cargo run --release -p writ-intake --example intake_bench -- ../shared/data/tickets/all_tickets_processed_improved_v3.csv
//! ```
//!
//! The path may also come from `WRIT_TICKETS_CSV`. Options (for tuning):
//! `--validate` measures on a validation 20% carved from the training part instead
//! of the held-out part (tune with this, never on the held-out figure);
//! `--c X`, `--bits N`, `--words N`, `--char-min N`, `--char-max N`,
//! `--char-weight X`, `--raw-tf`, `--calibration P`, `--epochs N`, `--tol X`,
//! `--fold N` (another validation split), `--runs N` (throughput runs, default 5).

use std::time::Instant;

use writ_intake::dataset::{split, HELD_OUT_SALT};
use writ_intake::{read_labelled_csv, Classifier, Example, TrainConfig};

/// Salt of the validation split carved from the training part for tuning.
const VALIDATION_SALT: u64 = 0x5641_4c49_4441_5445; // "VALIDATE"

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut path = std::env::var("WRIT_TICKETS_CSV").ok();
    let mut config = TrainConfig::default();
    let mut validate = false;
    let mut runs = 5usize;
    let mut fold = 0u64;
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("`{a}` needs a value"));
        match a.as_str() {
            "--validate" => validate = true,
            "--c" => config.c = value()?.parse()?,
            "--bits" => config.features.hash_bits = value()?.parse()?,
            "--words" => config.features.word_ngrams = value()?.parse()?,
            "--char-min" => config.features.char_min = value()?.parse()?,
            "--char-max" => config.features.char_max = value()?.parse()?,
            "--char-weight" => config.features.char_weight = value()?.parse()?,
            "--calibration" => config.calibration_percent = value()?.parse()?,
            "--epochs" => config.max_epochs = value()?.parse()?,
            "--fold" => fold = value()?.parse()?,
            "--raw-tf" => config.features.sublinear_tf = false,
            "--sublinear-tf" => config.features.sublinear_tf = true,
            "--nb" => config.nb_alpha = value()?.parse()?,
            "--tol" => config.tolerance = value()?.parse()?,
            "--runs" => runs = value()?.parse()?,
            _ if a.starts_with("--") => return Err(format!("unknown option `{a}`").into()),
            _ => path = Some(a),
        }
    }
    let path = path.ok_or("give the corpus CSV as an argument or in WRIT_TICKETS_CSV (../shared/data/tickets/all_tickets_processed_improved_v3.csv)")?;
    let examples = read_labelled_csv(&std::fs::read_to_string(&path)?)?;
    let (train, held_out) = split(examples, HELD_OUT_SALT, 20);
    let (train, test, what) = if validate {
        let (fit, validation) = split(train, VALIDATION_SALT ^ fold, 20);
        (fit, validation, "validation (20% of the training part)")
    } else {
        (train, held_out, "held-out (20%)")
    };
    println!("corpus {path}: {} training, {} {what}", train.len(), test.len());
    println!("config {config:?}");

    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let model = Classifier::train(&train, &config)?;
    let train_secs = started.elapsed().as_secs_f64();
    let train_cpu = cpu_seconds().zip(cpu_started).map(|(b, a)| format!(", {:.2} s on CPU", b - a)).unwrap_or_default();
    println!("training: {train_secs:.2} s{train_cpu} (temperature {:.2}), model {:.1} MB", model.temperature(), model.to_bytes().len() as f64 / 1e6);

    report_quality(&model, &test);

    let (mut rates, mut cpu_rates): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let cpu_started = cpu_seconds();
        let mut n = 0usize;
        for e in &test {
            n += model.predict(&e.subject, &e.body).label.len();
        }
        std::hint::black_box(n);
        rates.push(test.len() as f64 / started.elapsed().as_secs_f64());
        if let Some(cpu) = cpu_seconds().zip(cpu_started).map(|(b, a)| b - a) {
            cpu_rates.push(test.len() as f64 / cpu);
        }
    }
    let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!("throughput, one thread: median {:.0} tickets/s (runs: {})", median(&mut rates), shown.join(", "));
    if !cpu_rates.is_empty() {
        println!("  per second on CPU (what the thread got of a shared core): median {:.0} tickets/s", median(&mut cpu_rates));
    }

    println!("natural-English samples:");
    for (subject, body) in [
        ("Access to the Finance shared drive", "Hi team, could you please give me read access to \\\\fs01\\finance? My manager approved it. Thanks, Ann"),
        ("Laptop won't start", "My Dell laptop shows a black screen since this morning, I tried charging it. Can someone look at it?"),
        ("New starter on 3 March", "Please set up an account, an Oracle timesheet and a badge for our new hire starting 3 March."),
        ("Purchase request", "We need to order two 27\" monitors and a docking station for the design team; PO attached."),
    ] {
        let p = model.predict(subject, body);
        println!("  {:.2} {:<22} <- {subject}", p.confidence, p.label);
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Time this thread has spent on a CPU (Linux `/proc/thread-self/schedstat`), to
/// tell the work from the waiting on a shared machine; `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

fn report_quality(model: &Classifier, test: &[Example]) {
    let e = model.evaluate(test);
    println!("accuracy: {:.2}% ({}/{}), mean confidence {:.3}", 100.0 * e.accuracy(), e.correct, e.total, e.mean_confidence);
    println!("{:<24} {:>9} {:>9} {:>9} {:>7}", "label", "precision", "recall", "F1", "support");
    for s in &e.per_label {
        println!("{:<24} {:>8.1}% {:>8.1}% {:>8.1}% {:>7}", s.label, 100.0 * s.precision, 100.0 * s.recall, 100.0 * s.f1, s.support);
    }
    println!("macro F1: {:.2}%", 100.0 * e.macro_f1());
}
