//! Keyset paging: where a list resumes, and one page of it.
//!
//! Every list is read in a total order (a time column, then the id), and a
//! page ends with a [`Cursor`]: the sort key of the last row read. The next
//! page is the rows strictly after it in that order, so rows never repeat or
//! go missing when others are added between two pages (new rows land before
//! or after, never inside, the part already read), and no page costs more
//! than its own rows (no `OFFSET`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use thiserror::Error;
use writ_core::grant::Grant;
use writ_core::request::Request;
use writ_core::task::FulfilmentTask;

use super::ReconcileRun;

/// Where a list resumes: the sort key of the last row read, a time (Unix
/// milliseconds, as stored) and an id. Clients see it as opaque text,
/// `<millis>.<id>`, which [`FromStr`] checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    at: i64,
    id: String,
}

/// The longest id a cursor carries (ids are `<prefix>-<32 hex digits>`, or
/// an identity's id of up to 128 characters).
const MAX_ID: usize = 128;

impl Cursor {
    /// The position of a row sorted by `at`, then `id`.
    pub fn new(at: DateTime<Utc>, id: impl fmt::Display) -> Self {
        Self { at: at.timestamp_millis(), id: id.to_string() }
    }

    /// After this request, in the order of request lists (`created_at`).
    pub fn of_request(r: &Request) -> Self {
        Self::new(r.created_at(), r.id())
    }

    /// After this task, in the order of task lists (`created_at`).
    pub fn of_task(t: &FulfilmentTask) -> Self {
        Self::new(t.created_at(), t.id())
    }

    /// After this grant, in the order of grant lists (`expires_at`).
    pub fn of_grant(g: &Grant) -> Self {
        Self::new(g.expires_at(), g.id())
    }

    /// After this run, in the order of run lists (`started_at`).
    pub fn of_run(r: &ReconcileRun) -> Self {
        Self::new(r.started_at, r.id)
    }

    /// After this identity, in the order of the identity list (by id alone:
    /// the time is always 0).
    pub fn of_identity(id: &writ_core::ids::IdentityId) -> Self {
        Self { at: 0, id: id.to_string() }
    }

    /// After this token, in the order of token lists (`created_at`).
    pub fn of_token(t: &writ_core::token::Token) -> Self {
        Self::new(t.created_at, t.id)
    }

    /// The sort time, in Unix milliseconds (the stored column's unit).
    pub fn at_millis(&self) -> i64 {
        self.at
    }

    /// The id of the last row read.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.at, self.id)
    }
}

/// Text that is not a cursor this server gave out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{0}` is not a cursor from this server: pass the `cursor` of a `Link: rel=\"next\"` header unchanged")]
pub struct CursorError(String);

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, CursorError> {
        let bad = || CursorError(s.chars().take(80).filter(|c| !c.is_control()).collect());
        let (at, id) = s.split_once('.').ok_or_else(bad)?;
        let at: i64 = at.parse().map_err(|_| bad())?;
        // The characters of every id a list is sorted by (identity ids add `.@+`).
        let id_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+');
        if id.is_empty() || id.len() > MAX_ID || !id.chars().all(id_char) {
            return Err(bad());
        }
        Ok(Self { at, id: id.to_owned() })
    }
}

/// One page of a list: its items, and where the next page starts when there
/// may be more (`None`: the list ends here).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C = Cursor> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// The last page: `items` and nothing after them.
    pub fn last(items: Vec<T>) -> Self {
        Self { items, next: None }
    }
}

impl<T, C> std::ops::Deref for Page<T, C> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T, C> IntoIterator for Page<T, C> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_written() {
        let at = DateTime::from_timestamp_millis(1_800_000_000_123).unwrap();
        let c = Cursor::new(at, "req-0123abcd");
        assert_eq!(c.to_string(), "1800000000123.req-0123abcd");
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        let identity = Cursor::new(at, "ann.lee+ops@example.com");
        assert_eq!(identity.to_string().parse::<Cursor>().unwrap(), identity, "identity ids have `.`, `@` and `+`");
        let before_1970 = Cursor::new(DateTime::from_timestamp_millis(-5).unwrap(), "x");
        assert_eq!(before_1970.to_string().parse::<Cursor>().unwrap(), before_1970);
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "123", ".req-1", "abc.req-1", "12.", "12.req 1", "12.req-1;drop", "12.a%2Bb", &format!("1.{}", "a".repeat(129))] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?}");
        }
    }
}
