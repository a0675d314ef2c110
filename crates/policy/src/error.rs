//! Load-time errors. Every error about policy or schema text names the file and,
//! when Cedar gives a source span, the line and column, like a compiler does.

use std::fmt;
use std::path::PathBuf;

use miette::Diagnostic;

/// One message tied to a place in a source file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    /// 1-based (line, column), when Cedar reported a span.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Several located messages, shown one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Located>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

#[derive(thiserror::Error, Debug)]
pub enum PolicyError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("policy directory {path} does not exist or is not a directory (`writ init` creates one with the demo policy set)")]
    MissingDir { path: PathBuf },
    #[error("policy schema {path} not found: a policy directory needs a writ.cedarschema next to its *.cedar files (`writ init` writes the demo set)")]
    MissingSchema { path: PathBuf },
    #[error("no policy files in {place}: add at least one *.cedar file (`writ init` writes the demo set)")]
    NoPolicies { place: String },
    #[error("{0}")]
    Schema(Diagnostics),
    #[error("{0}")]
    Syntax(Diagnostics),
    #[error("{0}")]
    Validation(Diagnostics),
    #[error("duplicate policy id {id:?}: defined at {first} and at {second}")]
    DuplicateId { id: String, first: String, second: String },
    #[error("{at}: policy templates (?principal / ?resource slots) are not supported; write a static policy")]
    Template { at: String },
}

/// Turns one Cedar diagnostic into a [`Located`], resolving its first labelled
/// span against `text` (the exact text Cedar parsed, so offsets line up).
pub(crate) fn locate(file: &str, text: &str, diag: &dyn Diagnostic) -> Located {
    let position = diag.labels().and_then(|mut labels| labels.next()).map(|label| line_col(text, label.offset()));
    let mut message = diag.to_string();
    if let Some(help) = diag.help() {
        message.push_str(&format!(" (help: {help})"));
    }
    Located { file: file.to_string(), position, message }
}

/// Like [`locate`], plus the diagnostic's related errors (Cedar nests some
/// schema errors there).
pub(crate) fn locate_all(file: &str, text: &str, diag: &dyn Diagnostic) -> Vec<Located> {
    let mut out = vec![locate(file, text, diag)];
    if let Some(related) = diag.related() {
        out.extend(related.map(|r| locate(file, text, r)));
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 7), (2, 4)); // after the two-byte é
        assert_eq!(line_col(text, 999), (3, 2));
    }

    #[test]
    fn located_display_is_compiler_style() {
        let l = Located { file: "a.cedar".into(), position: Some((3, 7)), message: "boom".into() };
        assert_eq!(l.to_string(), "a.cedar:3:7: boom");
        let l = Located { position: None, ..l };
        assert_eq!(l.to_string(), "a.cedar: boom");
    }
}
