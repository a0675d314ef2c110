//! What the server's benchmarks share: a clock the bench holds or lets run,
//! SQL scripts through `psql`, percentiles.

#![allow(dead_code)] // each bench uses what it needs

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use writ_app::ports::Clock;
use writ_testkit::PgServer;

/// A clock held at a time, or running with real time from a time.
pub struct BenchClock(Mutex<(DateTime<Utc>, Option<Instant>)>);

impl BenchClock {
    pub fn held(at: DateTime<Utc>) -> Self {
        BenchClock(Mutex::new((at, None)))
    }

    /// From now on, `at` plus the real time elapsed since this call.
    pub fn run_from(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap() = (at, Some(Instant::now()));
    }
}

impl Clock for BenchClock {
    fn now(&self) -> DateTime<Utc> {
        let (at, since) = *self.0.lock().unwrap();
        since.map_or(at, |s| at + TimeDelta::from_std(s.elapsed()).unwrap_or_default())
    }
}

/// Runs a SQL script through psql from a file (statement by statement: a round
/// trip each); a big script does not fit on a command line.
pub fn psql_file(pg: &PgServer, dir: &std::path::Path, sql: &str) -> anyhow::Result<()> {
    let file = dir.join("script.sql");
    std::fs::write(&file, sql.replace(';', ";\n"))?;
    let ok = std::process::Command::new(writ_testkit::pg_binary("psql")?)
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", &pg.url(), "-f"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .status()?
        .success();
    anyhow::ensure!(ok, "psql -f {} failed", file.display());
    Ok(())
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
