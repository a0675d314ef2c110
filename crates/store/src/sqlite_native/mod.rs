//! SQLite through `rusqlite`, where sqlx's design costs too much.
//!
//! sqlx runs each SQLite connection on a worker thread and every statement is a
//! message to it and back: two context switches per statement, which dominated
//! a request's CPU time on two cores. Two paths therefore talk to SQLite
//! directly on threads of their own: the writer, which commits a whole change
//! per hand-off, the whole-log read of `writ audit verify`, and a target's
//! ledger for reconciliation; and the token lookup of every API call, on the
//! caller's task (`tokens.rs`). Both run the
//! statements the sqlx path runs (the write plan in `commit.rs` is shared).
//! rusqlite links the same `libsqlite3-sys` as sqlx, so the binary holds one
//! SQLite.

mod ledger;
mod tokens;
mod verify;
mod writer;

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use writ_app::ports::StoreError;

pub(crate) use ledger::read_ledger;
pub(crate) use tokens::TokenReader;
pub(crate) use verify::verify_events;
pub(crate) use writer::NativeWriter;

pub(crate) fn sqlite_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Opens the database file for this thread alone (SQLite's own locking still
/// guards the file against other connections and processes).
fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| StoreError::Database(format!("cannot open `{}`: {e}", path.display())))
}
