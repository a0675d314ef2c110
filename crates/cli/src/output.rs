//! Human output: tables, times, and text that is safe to put on a terminal.
//!
//! Renderers return `String`s so they can be tested without a terminal; [`emit`]
//! and [`emit_json`] write them to stdout.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A time as shown in detail views: `2024-05-01 09:30:00 UTC`.
pub fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A time as shown in table cells: `2024-05-01 09:30`, always UTC.
pub fn short_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// An optional time, `-` when absent.
pub fn opt_time(t: Option<&DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), short_time)
}

/// An optional text, `-` when absent or empty.
pub fn opt(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.trim().is_empty() => one_line(s),
        _ => "-".to_owned(),
    }
}

/// A list joined with `, `, `-` when empty.
pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        one_line(&items.join(", "))
    }
}

/// Text from the server (which may come from any user) made safe for one line of
/// a terminal: line breaks and tabs become spaces, other control characters
/// (terminal escapes) become `�`.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Like [`one_line`] but keeps line breaks; every line after the first starts
/// with `indent`.
pub fn multi_line(s: &str, indent: &str) -> String {
    let lines: Vec<String> = s.trim_end().replace("\r\n", "\n").split('\n').map(one_line).collect();
    lines.join(&format!("\n{indent}"))
}

/// A plain-text table: an upper-case header and columns padded to their widest
/// cell, two spaces apart; the last column is not padded.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|h| h.to_uppercase()).collect(), rows: Vec::new() }
    }

    /// Adds a row; cells are made single-line. Missing cells are blank.
    pub fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut row: Vec<String> = cells.into_iter().map(|c| one_line(c.as_ref())).collect();
        row.resize(self.header.len().max(row.len()), String::new());
        self.rows.push(row);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).chain([self.header.len()]).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map_or("", String::as_str);
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A table, or `empty` (e.g. "no requests match") when it has no rows.
pub fn table_or(table: &Table, empty: &str) -> String {
    if table.is_empty() {
        format!("{empty}\n")
    } else {
        table.render()
    }
}

/// `key  value` lines with the keys padded to the widest, for detail views.
pub fn fields(indent: &str, pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let pad = format!("{indent}{}", " ".repeat(width + 2));
    pairs.iter().map(|(k, v)| format!("{indent}{k:<width$}  {}\n", multi_line(v, &pad))).collect()
}

/// Writes human output to stdout.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes a value as pretty JSON to stdout (the `--json` output).
pub fn emit_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    emit(&text)
}

/// Whether an error is a closed stdout (e.g. `writ request list | head`), which
/// is not a failure of the command.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().filter_map(|c| c.downcast_ref::<std::io::Error>()).any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
