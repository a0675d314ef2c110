//! The standard model (Writ's 14 request types) measured on the project's own
//! held-out tickets, with the routing rule on top.
//!
//! ```sh
//! cargo run --release -p writ-intake --example intake_writ_bench
//! ```
//!
//! Trains on `data/tickets-en/train.csv` with `standard_train_config()` and the
//! default `RoutingThresholds`, then reads `data/tickets-en/heldout.csv` once.
//!
//! `--cv` instead never reads the held-out file: 5-fold cross-validation on
//! train.csv, for the settings (`--c X`, `--bits N`, `--nb X`, `--words N`,
//! `--char-max N`, `--grid` for a small grid of them) and, from the
//! out-of-fold probabilities, a table of routing thresholds. `--runs N`:
//! throughput runs (default 5).

use std::time::Instant;

use writ_intake::dataset::is_held_out;
use writ_intake::{is_governed, read_labelled_csv, route, standard_train_config, Classifier, Decision, Example, RoutingThresholds, TrainConfig};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tickets-en");
/// Salt of the cross-validation folds.
const FOLD_SALT: u64 = 0x4356_464f_4c44_5321; // "CVFOLDS!"
const FOLDS: u32 = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut config = standard_train_config();
    let (mut cv, mut grid) = (false, false);
    let mut runs = 5usize;
    let mut thresholds = RoutingThresholds::default();
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("`{a}` needs a value"));
        match a.as_str() {
            "--cv" => cv = true,
            "--grid" => grid = true,
            "--c" => config.c = value()?.parse()?,
            "--bits" => config.features.hash_bits = value()?.parse()?,
            "--nb" => config.nb_alpha = value()?.parse()?,
            "--words" => config.features.word_ngrams = value()?.parse()?,
            "--char-max" => config.features.char_max = value()?.parse()?,
            "--triage" => thresholds.triage_below = value()?.parse()?,
            "--help-desk-min" => thresholds.help_desk_min = value()?.parse()?,
            "--governed-mass" => thresholds.governed_mass_below = value()?.parse()?,
            "--runs" => runs = value()?.parse()?,
            _ => return Err(format!("unknown option `{a}`").into()),
        }
    }
    let train = read_labelled_csv(&std::fs::read_to_string(format!("{DATA}/train.csv"))?)?;
    if cv {
        return cross_validate(&train, &config, grid);
    }
    let held_out = read_labelled_csv(&std::fs::read_to_string(format!("{DATA}/heldout.csv"))?)?;
    println!("train.csv {} tickets, heldout.csv {} tickets", train.len(), held_out.len());
    println!("config {config:?}");
    println!("thresholds {thresholds:?}");
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let model = Classifier::train(&train, &config)?;
    let train_secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_started).map(|(b, a)| format!(", {:.2} s on CPU", b - a)).unwrap_or_default();
    println!("training: {train_secs:.2} s{cpu} (temperature {:.2}), model {:.1} MB", model.temperature(), model.to_bytes().len() as f64 / 1e6);

    let probs: Vec<Vec<f32>> = held_out.iter().map(|e| model.probabilities(&e.subject, &e.body)).collect();
    let truth: Vec<&str> = held_out.iter().map(|e| e.label.as_str()).collect();
    let r = Routing::measure(model.labels(), &probs, &truth, &thresholds);
    r.print("held-out");
    let no_rule = RoutingThresholds { triage_below: 0.0, help_desk_min: 0.0, governed_mass_below: 1.01 };
    let bare = Routing::measure(model.labels(), &probs, &truth, &no_rule);
    println!(
        "  without the rule (the top label decides): governed → help desk {}/{}, help desk → governed {}/{}",
        bare.governed_to_help_desk, bare.governed, bare.help_desk_to_governed, bare.help_desk
    );

    let e = model.evaluate(&held_out);
    println!("{:<22} {:>9} {:>9} {:>7}", "type", "precision", "recall", "support");
    for s in &e.per_label {
        let group = if is_governed(&s.label) { "G" } else { "H" };
        println!("{:<20} {group} {:>8.1}% {:>8.1}% {:>7}", s.label, 100.0 * s.precision, 100.0 * s.recall, s.support);
    }
    println!("macro F1 {:.2}%, mean confidence {:.3}", 100.0 * e.macro_f1(), e.mean_confidence);
    for (t, d) in r.mistakes.iter().take(40) {
        println!("  governed→help desk: {t} → {d}");
    }

    let mut rates = Vec::new();
    let mut cpu_rates = Vec::new();
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let cpu_started = cpu_seconds();
        let mut n = 0usize;
        for e in &held_out {
            let p = model.probabilities(&e.subject, &e.body);
            n += route(model.labels(), &p, is_governed, &thresholds).route_name().len();
        }
        std::hint::black_box(n);
        rates.push(held_out.len() as f64 / started.elapsed().as_secs_f64());
        if let Some(c) = cpu_seconds().zip(cpu_started).map(|(b, a)| b - a) {
            cpu_rates.push(held_out.len() as f64 / c);
        }
    }
    let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!("throughput (classify + route), one thread: median {:.0} tickets/s (runs: {})", median(&mut rates), shown.join(", "));
    if !cpu_rates.is_empty() {
        println!("  per second on CPU: median {:.0} tickets/s", median(&mut cpu_rates));
    }
    Ok(())
}

/// Routing figures of a set of predictions.
struct Routing {
    total: usize,
    correct: usize,
    routed: usize,
    routed_correct: usize,
    governed: usize,
    governed_to_help_desk: usize,
    help_desk: usize,
    help_desk_to_governed: usize,
    triage: usize,
    mistakes: Vec<(String, String)>,
}

impl Routing {
    fn measure(labels: &[String], probs: &[Vec<f32>], truth: &[&str], t: &RoutingThresholds) -> Routing {
        let mut r = Routing {
            total: 0,
            correct: 0,
            routed: 0,
            routed_correct: 0,
            governed: 0,
            governed_to_help_desk: 0,
            help_desk: 0,
            help_desk_to_governed: 0,
            triage: 0,
            mistakes: Vec::new(),
        };
        for (p, &want) in probs.iter().zip(truth) {
            let d = route(labels, p, is_governed, t);
            let top = labels[argmax(p)].as_str();
            r.total += 1;
            r.correct += usize::from(top == want);
            if is_governed(want) {
                r.governed += 1;
                if let Decision::HelpDesk(l) = d {
                    r.governed_to_help_desk += 1;
                    r.mistakes.push((want.to_owned(), l.to_owned()));
                }
            } else {
                r.help_desk += 1;
                r.help_desk_to_governed += usize::from(matches!(d, Decision::Governed(_)));
            }
            match d {
                Decision::Triage { .. } => r.triage += 1,
                Decision::Governed(l) | Decision::HelpDesk(l) => {
                    r.routed += 1;
                    r.routed_correct += usize::from(l == want);
                }
            }
        }
        r
    }

    fn print(&self, what: &str) {
        let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        println!("{what}: type accuracy {:.2}% ({}/{})", pct(self.correct, self.total), self.correct, self.total);
        println!(
            "  routed (not triage): {} ({:.1}%), type accuracy among them {:.2}%",
            self.routed,
            pct(self.routed, self.total),
            pct(self.routed_correct, self.routed)
        );
        println!("  triage: {} ({:.2}%)", self.triage, pct(self.triage, self.total));
        println!("  governed → help desk: {}/{} = {:.2}%", self.governed_to_help_desk, self.governed, pct(self.governed_to_help_desk, self.governed));
        println!("  help desk → governed: {}/{} = {:.2}%", self.help_desk_to_governed, self.help_desk, pct(self.help_desk_to_governed, self.help_desk));
    }
}

fn argmax(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b })
}

fn fold_of(e: &Example) -> u32 {
    let step = 100 / FOLDS;
    (0..FOLDS).find(|&k| is_held_out(e, FOLD_SALT, step * (k + 1))).unwrap_or(FOLDS - 1)
}

/// The labels' order, the out-of-fold probabilities of every training ticket,
/// and the seconds a fold took to train.
type OutOfFold = (Vec<String>, Vec<Vec<f32>>, f64);

fn out_of_fold(train: &[Example], config: &TrainConfig) -> Result<OutOfFold, Box<dyn std::error::Error>> {
    let folds: Vec<u32> = train.iter().map(fold_of).collect();
    let mut probs = vec![Vec::new(); train.len()];
    let mut labels: Option<Vec<String>> = None;
    let started = Instant::now();
    for k in 0..FOLDS {
        let fit: Vec<Example> = train.iter().zip(&folds).filter(|(_, &f)| f != k).map(|(e, _)| e.clone()).collect();
        let model = Classifier::train(&fit, config)?;
        if let Some(l) = &labels {
            assert_eq!(l.as_slice(), model.labels(), "every fold has every label");
        } else {
            labels = Some(model.labels().to_vec());
        }
        for (i, e) in train.iter().enumerate() {
            if folds[i] == k {
                probs[i] = model.probabilities(&e.subject, &e.body);
            }
        }
    }
    Ok((labels.unwrap_or_default(), probs, started.elapsed().as_secs_f64() / f64::from(FOLDS)))
}

fn cross_validate(train: &[Example], config: &TrainConfig, grid: bool) -> Result<(), Box<dyn std::error::Error>> {
    let truth: Vec<&str> = train.iter().map(|e| e.label.as_str()).collect();
    let mut configs = vec![config.clone()];
    if grid {
        for (bits, c, nb, words, char_max) in [
            (18, 0.5, 0.2, 2, 5),
            (16, 0.25, 0.2, 2, 5),
            (16, 1.0, 0.2, 2, 5),
            (16, 2.0, 0.2, 2, 5),
            (16, 0.5, 0.0, 2, 5),
            (16, 0.5, 0.5, 2, 5),
            (16, 0.5, 0.2, 1, 5),
            (16, 0.5, 0.2, 3, 5),
            (16, 0.5, 0.2, 2, 4),
            (14, 0.5, 0.2, 2, 5),
        ] {
            let mut c2 = config.clone();
            c2.features.hash_bits = bits;
            c2.c = c;
            c2.nb_alpha = nb;
            c2.features.word_ngrams = words;
            c2.features.char_max = char_max;
            configs.push(c2);
        }
    }
    println!("5-fold cross-validation on train.csv ({} tickets)", train.len());
    let default_t = RoutingThresholds::default();
    let mut best: Option<(Vec<String>, Vec<Vec<f32>>)> = None;
    for (i, c) in configs.iter().enumerate() {
        let (labels, probs, secs) = out_of_fold(train, c)?;
        let r = Routing::measure(&labels, &probs, &truth, &default_t);
        let f = &c.features;
        println!(
            "bits {:>2} c {:<4} nb {:<3} words 1-{} char {}-{}: accuracy {:.2}%, governed→help desk {}/{} ({:.2}%), triage {:.1}% (default thresholds), {:.2} s a fold",
            f.hash_bits,
            c.c,
            c.nb_alpha,
            f.word_ngrams,
            f.char_min,
            f.char_max,
            100.0 * r.correct as f64 / r.total as f64,
            r.governed_to_help_desk,
            r.governed,
            100.0 * r.governed_to_help_desk as f64 / r.governed as f64,
            100.0 * r.triage as f64 / r.total as f64,
            secs
        );
        if i == 0 {
            best = Some((labels, probs));
        }
    }
    let Some((labels, probs)) = best else { return Ok(()) };
    println!("\nrouting thresholds on the out-of-fold probabilities of the first settings:");
    println!("{:>6} {:>6} {:>6}  {:>9} {:>8} {:>9} {:>9}", "triage", "hd_min", "g_mass", "g→hd", "g→hd %", "triage %", "acc(rt) %");
    let mut rows = Vec::new();
    for triage_below in [0.0f32, 0.3, 0.4, 0.5] {
        for help_desk_min in [0.0f32, 0.5, 0.6, 0.7, 0.8, 0.9] {
            for governed_mass_below in [0.05f32, 0.1, 0.15, 0.2, 0.3, 1.01] {
                // 1.01: no governed-mass bound at all.
                let t = RoutingThresholds { triage_below, help_desk_min, governed_mass_below };
                let r = Routing::measure(&labels, &probs, &truth, &t);
                rows.push((t, r));
            }
        }
    }
    for (t, r) in &rows {
        println!(
            "{:>6} {:>6} {:>6}  {:>4}/{:<4} {:>8.2} {:>9.2} {:>9.2}",
            t.triage_below,
            t.help_desk_min,
            t.governed_mass_below,
            r.governed_to_help_desk,
            r.governed,
            100.0 * r.governed_to_help_desk as f64 / r.governed as f64,
            100.0 * r.triage as f64 / r.total as f64,
            100.0 * r.routed_correct as f64 / r.routed.max(1) as f64
        );
    }
    for bound in [0.5f64, 1.0, 2.0] {
        let pick = rows.iter().filter(|(_, r)| 100.0 * r.governed_to_help_desk as f64 / r.governed as f64 <= bound).min_by_key(|(_, r)| r.triage);
        if let Some((t, r)) = pick {
            println!(
                "least triage with governed→help desk ≤ {bound}%: {t:?} → {}/{} governed→help desk, triage {:.2}%",
                r.governed_to_help_desk,
                r.governed,
                100.0 * r.triage as f64 / r.total as f64
            );
        }
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Time this thread has spent on a CPU (Linux), to tell work from waiting on a shared machine.
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}
