//! Labelled tickets: the in-memory example type, reading labelled CSV text, and
//! the deterministic held-out split.

use crate::error::IntakeError;
use crate::features::stable_hash;

/// One labelled ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// The ticket's subject (may be empty: the public corpus has subject and body joined).
    pub subject: String,
    /// The ticket's body.
    pub body: String,
    /// The request type.
    pub label: String,
}

impl Example {
    /// A labelled ticket.
    pub fn new(subject: impl Into<String>, body: impl Into<String>, label: impl Into<String>) -> Self {
        Example { subject: subject.into(), body: body.into(), label: label.into() }
    }
}

/// Reads labelled tickets from CSV text (RFC 4180: a header row, `"` quoting with
/// `""` for a quote, commas and line breaks inside quotes, LF or CRLF).
///
/// Two header shapes are understood, column names compared without case, other
/// columns ignored:
/// - `subject,body,type`: Writ's own labelled tickets;
/// - `Document,Topic_group`: the public help-desk corpus (subject and body already
///   joined in `Document`).
pub fn read_labelled_csv(text: &str) -> Result<Vec<Example>, IntakeError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = CsvRows { rest: text, line: 1 };
    let (header_line, header) = match rows.next_row()? {
        Some(h) => h,
        None => return Err(IntakeError::Csv { line: 1, reason: "empty file: write a header row `subject,body,type`".into() }),
    };
    let find = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    enum Shape {
        SubjectBody { subject: usize, body: usize, label: usize },
        Document { document: usize, label: usize },
    }
    let shape = match (find("subject"), find("body"), find("type"), find("document"), find("topic_group")) {
        (Some(subject), Some(body), Some(label), _, _) => Shape::SubjectBody { subject, body, label },
        (_, _, _, Some(document), Some(label)) => Shape::Document { document, label },
        _ => {
            return Err(IntakeError::Csv {
                line: header_line,
                reason: format!("header `{}` has neither `subject,body,type` nor `Document,Topic_group` columns: name the columns so", header.join(",")),
            })
        }
    };
    let mut out = Vec::new();
    while let Some((line, row)) = rows.next_row()? {
        if row.len() == 1 && row[0].trim().is_empty() {
            continue; // a blank line
        }
        let cell = |i: usize| -> Result<&str, IntakeError> {
            row.get(i).map(String::as_str).ok_or_else(|| IntakeError::Csv {
                line,
                reason: format!("the row has {} columns, the header {}: quote cells that hold commas", row.len(), header.len()),
            })
        };
        let example = match shape {
            Shape::SubjectBody { subject, body, label } => Example::new(cell(subject)?, cell(body)?, cell(label)?.trim()),
            Shape::Document { document, label } => Example::new("", cell(document)?, cell(label)?.trim()),
        };
        if example.label.is_empty() {
            return Err(IntakeError::Csv { line, reason: "empty label: give every row a request type".into() });
        }
        out.push(example);
    }
    Ok(out)
}

/// One ticket to classify, as [`read_tickets_csv`] reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// One-based line of the file where the ticket's row starts.
    pub line: usize,
    /// The ticket's subject (may be empty).
    pub subject: String,
    /// The ticket's body (may be empty).
    pub body: String,
}

/// Reads unlabelled tickets from CSV text with a header naming `subject` and
/// `body` (compared without case; other columns, such as `type`, ignored). A
/// missing column, a row with too few cells or an unclosed quote is an error
/// naming the line; nothing is returned then.
pub fn read_tickets_csv(text: &str) -> Result<Vec<Ticket>, IntakeError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = CsvRows { rest: text, line: 1 };
    let (header_line, header) = match rows.next_row()? {
        Some(h) => h,
        None => return Err(IntakeError::Csv { line: 1, reason: "empty file: write a header row `subject,body`".into() }),
    };
    let find = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let (subject, body) = match (find("subject"), find("body")) {
        (Some(s), Some(b)) => (s, b),
        (s, _) => {
            let missing = if s.is_none() { "subject" } else { "body" };
            return Err(IntakeError::Csv {
                line: header_line,
                reason: format!("the header `{}` has no `{missing}` column: the header must name `subject` and `body`", header.join(",")),
            });
        }
    };
    let mut out = Vec::new();
    while let Some((line, row)) = rows.next_row()? {
        if row.len() == 1 && row[0].trim().is_empty() {
            continue; // a blank line
        }
        let cell = |i: usize, name: &str| -> Result<String, IntakeError> {
            row.get(i).cloned().ok_or_else(|| IntakeError::Csv {
                line,
                reason: format!("the row has {} columns and no `{name}` cell (the header has {}): quote cells that hold commas", row.len(), header.len()),
            })
        };
        out.push(Ticket { line, subject: cell(subject, "subject")?, body: cell(body, "body")? });
    }
    Ok(out)
}

/// A minimal RFC 4180 reader over a string.
struct CsvRows<'a> {
    rest: &'a str,
    line: usize,
}

impl CsvRows<'_> {
    /// The next row and the line it started on, or `None` at the end.
    fn next_row(&mut self) -> Result<Option<(usize, Vec<String>)>, IntakeError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let start_line = self.line;
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut chars = self.rest.char_indices().peekable();
        let mut in_quotes = false;
        let mut consumed = self.rest.len();
        while let Some((i, c)) = chars.next() {
            if in_quotes {
                match c {
                    '"' if matches!(chars.peek(), Some((_, '"'))) => {
                        chars.next();
                        cell.push('"');
                    }
                    '"' => in_quotes = false,
                    '\n' => {
                        self.line += 1;
                        cell.push('\n');
                    }
                    _ => cell.push(c),
                }
                continue;
            }
            match c {
                '"' if cell.is_empty() => in_quotes = true,
                ',' => cells.push(std::mem::take(&mut cell)),
                '\r' if matches!(chars.peek(), Some((_, '\n'))) => {}
                '\n' => {
                    self.line += 1;
                    consumed = i + 1;
                    break;
                }
                _ => cell.push(c),
            }
        }
        if in_quotes {
            return Err(IntakeError::Csv { line: start_line, reason: "a quoted cell is never closed: end it with `\"`".into() });
        }
        cells.push(cell);
        self.rest = &self.rest[consumed..];
        Ok(Some((start_line, cells)))
    }
}

/// The salt of the held-out split used for every published figure. Changing it
/// changes which tickets are held out.
pub const HELD_OUT_SALT: u64 = 0x5752_4954_2d48_4f4c; // "WRIT-HOL"

/// Is this example in the held-out part of a `percent`% split under `salt`?
///
/// The decision is a stable hash of the ticket's text (subject, a line feed, body),
/// so it does not depend on row order and is the same on every machine; the
/// public corpus has no duplicate documents, so no ticket is on both sides.
pub fn is_held_out(example: &Example, salt: u64, percent: u32) -> bool {
    let mut bytes = Vec::with_capacity(example.subject.len() + example.body.len() + 1);
    bytes.extend_from_slice(example.subject.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(example.body.as_bytes());
    stable_hash(salt, &bytes) % 100 < u64::from(percent)
}

/// Splits examples into `(train, held_out)`, about `percent`% held out (see [`is_held_out`]).
pub fn split(examples: Vec<Example>, salt: u64, percent: u32) -> (Vec<Example>, Vec<Example>) {
    examples.into_iter().partition(|e| !is_held_out(e, salt, percent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writ_shape_with_quotes_and_line_breaks() {
        let csv = "subject,body,type\r\n\"VPN, again\",\"It says \"\"denied\"\".\nHelp\",access\r\nnew laptop,,hardware\n";
        let rows = read_labelled_csv(csv).unwrap();
        assert_eq!(rows, vec![Example::new("VPN, again", "It says \"denied\".\nHelp", "access"), Example::new("new laptop", "", "hardware")]);
    }

    #[test]
    fn reads_corpus_shape() {
        let csv = "\u{feff}Document,Topic_group\r\nconnection icon dear,Hardware\r\nwork experience user,Access\r\n";
        let rows = read_labelled_csv(csv).unwrap();
        assert_eq!(rows, vec![Example::new("", "connection icon dear", "Hardware"), Example::new("", "work experience user", "Access")]);
    }

    #[test]
    fn reads_unlabelled_tickets_with_their_lines() {
        let t = read_tickets_csv("id,subject,body\r\n1,VPN,\"two\nlines\"\r\n\r\n2,,just a body\r\n").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].line, t[0].subject.as_str(), t[0].body.as_str()), (2, "VPN", "two\nlines"));
        assert_eq!((t[1].line, t[1].subject.as_str(), t[1].body.as_str()), (5, "", "just a body"));
    }

    #[test]
    fn unlabelled_csv_errors_name_the_column_and_line() {
        let e = read_tickets_csv("subject,text\nx,y\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("`body`"), "{e}");
        let e = read_tickets_csv("subject,body\nfine,row\nshort\n").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("`body`"), "{e}");
    }

    #[test]
    fn bad_csv_gives_a_located_error() {
        assert!(matches!(read_labelled_csv(""), Err(IntakeError::Csv { line: 1, .. })));
        assert!(matches!(read_labelled_csv("title,text\na,b\n"), Err(IntakeError::Csv { line: 1, .. })));
        assert!(matches!(read_labelled_csv("subject,body,type\na,b\n"), Err(IntakeError::Csv { line: 2, .. })));
        assert!(matches!(read_labelled_csv("subject,body,type\na,b,\n"), Err(IntakeError::Csv { line: 2, .. })));
        assert!(matches!(read_labelled_csv("subject,body,type\nx,y,z\n\"a,b,c\n"), Err(IntakeError::Csv { line: 3, .. })));
    }

    #[test]
    fn split_is_deterministic_and_near_the_asked_share() {
        let examples: Vec<Example> = (0..2000).map(|i| Example::new("", format!("ticket number {i}"), "x")).collect();
        let (train, held) = split(examples.clone(), HELD_OUT_SALT, 20);
        assert_eq!(train.len() + held.len(), 2000);
        assert!((350..450).contains(&held.len()), "{} held out", held.len());
        let (_, again) = split(examples.into_iter().rev().collect(), HELD_OUT_SALT, 20);
        let mut a: Vec<_> = held.iter().map(|e| e.body.clone()).collect();
        let mut b: Vec<_> = again.iter().map(|e| e.body.clone()).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "the split does not depend on row order");
    }
}
