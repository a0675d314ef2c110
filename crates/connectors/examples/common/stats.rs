//! Statistics and the results table shared by the connector benchmarks.

#![allow(dead_code)] // each bench uses what it needs

use std::time::Duration;

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile `p` (0–100) of `v`.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Prints a Markdown table: one row per figure, one column per run, then the median.
pub struct RunsTable {
    runs: usize,
    width: usize,
}

impl RunsTable {
    pub fn print_header(unit: &str, runs: usize, width: usize) -> Self {
        let heads: Vec<String> = (1..=runs).map(|i| format!("{:>9}", format!("run {i}"))).collect();
        println!("\n| {unit:<width$} | {} | {:>9} |", heads.join(" | "), "median");
        println!("|{}|{}|{}|", "-".repeat(width + 2), vec!["-".repeat(11); runs].join("|"), "-".repeat(11));
        RunsTable { runs, width }
    }

    pub fn row(&self, name: &str, v: Vec<f64>) {
        debug_assert_eq!(v.len(), self.runs);
        let runs: Vec<String> = v.iter().map(|x| format!("{x:>9.2}")).collect();
        println!("| {name:<w$} | {} | {:>9.2} |", runs.join(" | "), median(&v), w = self.width);
    }
}
