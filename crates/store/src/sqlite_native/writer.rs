//! The SQLite writer: one thread owns the only writing connection and commits
//! changes handed to it, several per transaction when they queue up.
//!
//! SQLite admits one writer at a time, so a queue in front of one connection
//! loses nothing, and group commit turns a burst of small changes into one
//! transaction: each change runs inside its own SAVEPOINT, so a change that
//! fails (a lost version check) is rolled back alone and the others commit.

use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, Transaction};
use tokio::sync::oneshot;
use writ_app::ports::{Change, StoreError};
use writ_core::audit::AuditEvent;

use super::sqlite_err;
use crate::commit::{head_of, plan, Param, Stmt, LOCK_HEAD};
use crate::{sqlite_pragmas, SqliteSynchronous};

/// Changes committed in one transaction at most; bounds the work a failed
/// COMMIT has to report back.
const MAX_GROUP: usize = 64;

type Reply = oneshot::Sender<Result<Vec<AuditEvent>, StoreError>>;

/// Handle to the writer thread. Dropping the last handle (or `close`) ends it
/// once the queued changes are committed.
pub(crate) struct NativeWriter {
    jobs: Mutex<Option<mpsc::Sender<(Change, Reply)>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// `PRAGMA synchronous` as the writing connection reported it at start.
    synchronous: i64,
}

impl NativeWriter {
    /// Opens the file read-write (it must exist and be migrated) and starts the thread.
    pub(crate) fn start(path: &Path, synchronous: SqliteSynchronous) -> Result<Self, StoreError> {
        let conn = super::open(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        // The same settings as the sqlx connections (see `SqlStore::open_with`).
        conn.execute_batch(&sqlite_pragmas(synchronous)).map_err(sqlite_err)?;
        // SQLite ignores a PRAGMA it cannot apply rather than failing, and every
        // acknowledged change goes through this connection: check that it took.
        let in_force: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).map_err(sqlite_err)?;
        if in_force != synchronous.level() {
            return Err(StoreError::Database(format!(
                "SQLite did not apply `PRAGMA synchronous = {}` to the writer's connection (it reports {in_force})",
                synchronous.pragma_value()
            )));
        }
        conn.set_prepared_statement_cache_capacity(64);
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("writ-sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| StoreError::Database(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(NativeWriter { jobs: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), synchronous: in_force })
    }

    /// `PRAGMA synchronous` on the writing connection (1 NORMAL, 2 FULL, 3 EXTRA).
    pub(crate) fn synchronous(&self) -> i64 {
        self.synchronous
    }

    pub(crate) async fn commit(&self, change: Change) -> Result<Vec<AuditEvent>, StoreError> {
        let stopped = || StoreError::Database("the SQLite writer has stopped (the store was closed or the writer failed); restart Writ".into());
        let (reply, answer) = oneshot::channel();
        {
            let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.as_ref().ok_or_else(stopped)?.send((change, reply)).map_err(|_| stopped())?;
        }
        answer.await.map_err(|_| stopped())?
    }

    /// Stops taking changes, lets the thread commit what is queued, and waits for it.
    pub(crate) fn close(&self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            if thread.join().is_err() {
                tracing::error!("the SQLite writer thread panicked");
            }
        }
    }
}

fn run(mut conn: Connection, jobs: mpsc::Receiver<(Change, Reply)>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        group.extend(jobs.try_iter().take(MAX_GROUP - 1));
        commit_group(&mut conn, group);
    }
}

/// Commits a group in one transaction and answers each change.
fn commit_group(conn: &mut Connection, group: Vec<(Change, Reply)>) {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return answer_all(group.into_iter().map(|(_, r)| r), &sqlite_err(e)),
    };
    let mut committed = Vec::with_capacity(group.len());
    let mut group = group.into_iter();
    while let Some((change, reply)) = group.next() {
        match commit_one(&tx, change) {
            Ok(Ok(events)) => committed.push((events, reply)),
            Ok(Err(e)) => {
                let _ = reply.send(Err(e));
            }
            Err(broken) => {
                // The savepoint could not be closed, so the transaction may hold
                // part of a failed change: roll all of it back (dropping `tx`).
                drop(tx);
                let replies = committed.into_iter().map(|(_, r)| r).chain(std::iter::once(reply)).chain(group.map(|(_, r)| r));
                return answer_all(replies, &broken);
            }
        }
    }
    match tx.commit() {
        Ok(()) => {
            for (events, reply) in committed {
                // The caller may have given up waiting; the change stands anyway.
                let _ = reply.send(Ok(events));
            }
        }
        Err(e) => answer_all(committed.into_iter().map(|(_, r)| r), &sqlite_err(e)),
    }
}

fn answer_all(replies: impl Iterator<Item = Reply>, e: &StoreError) {
    for reply in replies {
        let _ = reply.send(Err(e.clone()));
    }
}

/// One change inside its own savepoint: all of it, or none of it. The outer
/// error means the savepoint itself failed and the transaction is unusable.
fn commit_one(tx: &Transaction<'_>, change: Change) -> Result<Result<Vec<AuditEvent>, StoreError>, StoreError> {
    tx.execute_batch("SAVEPOINT change").map_err(sqlite_err)?;
    let outcome = write(tx, change);
    let end = if outcome.is_ok() { "RELEASE change" } else { "ROLLBACK TO change; RELEASE change" };
    tx.execute_batch(end).map_err(sqlite_err)?;
    Ok(outcome)
}

fn write(tx: &Transaction<'_>, change: Change) -> Result<Vec<AuditEvent>, StoreError> {
    let (seq, hash): (i64, String) = tx.prepare_cached(LOCK_HEAD).and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))).map_err(sqlite_err)?;
    let (stmts, sealed) = plan(change, head_of(seq, &hash)?);
    for stmt in &stmts {
        execute(tx, stmt)?;
    }
    Ok(sealed)
}

fn execute(tx: &Transaction<'_>, stmt: &Stmt) -> Result<(), StoreError> {
    // The plan's SQL numbers its parameters `$n` (PostgreSQL's form). SQLite reads
    // `$n` as a *named* parameter indexed by first appearance, so write `?n`,
    // which binds by number. The plan's SQL holds no `$` other than these.
    let sql = stmt.sql.replace('$', "?");
    let mut prepared = tx.prepare_cached(&sql).map_err(sqlite_err)?;
    for (i, p) in stmt.params.iter().enumerate() {
        let bound = match p {
            Param::Text(t) => prepared.raw_bind_parameter(i + 1, t.as_str()),
            Param::Int(n) => prepared.raw_bind_parameter(i + 1, n),
            Param::Null => prepared.raw_bind_parameter(i + 1, rusqlite::types::Null),
        };
        bound.map_err(sqlite_err)?;
    }
    match prepared.raw_execute() {
        Ok(rows) => stmt.check_rows(rows as u64),
        Err(rusqlite::Error::SqliteFailure(f, msg)) if is_unique_violation(&f) => {
            Err(stmt.duplicate().unwrap_or_else(|| sqlite_err(rusqlite::Error::SqliteFailure(f, msg))))
        }
        Err(e) => Err(sqlite_err(e)),
    }
}

fn is_unique_violation(f: &rusqlite::ffi::Error) -> bool {
    matches!(f.extended_code, rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}
