//! The token lookup every API call makes, read natively on SQLite: through
//! sqlx the statement's two hops to a connection thread and back were most of
//! the check's time (p50 65 µs in process, against a goal of 50 µs at p99).
//! A few read-only connections are kept, each with its statement prepared,
//! and the read runs on the caller's task: it is one unique-index point read,
//! and in WAL mode a reader never waits for the writer (it reads the last
//! committed snapshot), so it does not hold up the runtime.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use writ_app::ports::StoreError;
use writ_core::identity::Identity;
use writ_core::token::Token;

use super::sqlite_err;
use crate::rows::{token_from, TOKEN_COLUMNS};

/// Most idle connections kept; more callers at once open their own, dropped after.
const KEEP: usize = 4;

pub(crate) struct TokenReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl TokenReader {
    pub(crate) fn new(path: &Path) -> Self {
        Self { path: path.to_owned(), idle: Mutex::new(Vec::new()) }
    }

    /// Closes the idle connections (the store is closing).
    pub(crate) fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// The token with SHA-256 hex hash `hash` and its identity (see `Store::token_by_hash`).
    pub(crate) fn by_hash(&self, hash: &str) -> Result<Option<(Token, Identity)>, StoreError> {
        let taken = self.idle.lock().map_err(|_| StoreError::Database("the token reader's pool was poisoned".into()))?.pop();
        let conn = match taken {
            Some(c) => c,
            None => {
                let c = super::open(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                // A rare wait (a checkpoint truncating the log) stays short.
                c.busy_timeout(std::time::Duration::from_secs(2)).map_err(sqlite_err)?;
                c
            }
        };
        let found = lookup(&conn, hash);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < KEEP {
                idle.push(conn);
            }
        }
        found
    }
}

fn lookup(conn: &Connection, hash: &str) -> Result<Option<(Token, Identity)>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLUMNS}, i.doc FROM tokens t JOIN identities i ON i.id = t.identity_id WHERE t.hash = ?1");
    let mut stmt = conn.prepare_cached(&sql).map_err(sqlite_err)?;
    stmt.query_row([hash], |row| {
        let text = |i: usize| row.get::<_, String>(i).map_err(sqlite_err);
        let int = |i: usize| row.get::<_, i64>(i).map_err(sqlite_err);
        let token = token_from(text, int);
        let identity = row
            .get_ref(13)
            .and_then(|v| v.as_str().map_err(Into::into))
            .map_err(sqlite_err)
            .and_then(|doc| serde_json::from_str::<Identity>(doc).map_err(|e| StoreError::Corrupt { what: "identity", detail: e.to_string() }));
        Ok(token.and_then(|t| identity.map(|i| (t, i))))
    })
    .optional()
    .map_err(sqlite_err)?
    .transpose()
}
