//! The PostgreSQL writer: one task owns a connection of its own and commits
//! the changes handed to it, several per transaction when they queue up.
//!
//! Every write transaction locks the audit head first and keeps it until its
//! COMMIT is on disk, so on PostgreSQL writers take turns anyway, each paying
//! its round trips and its WAL flush while the others wait. Group commit makes
//! one turn serve every change queued meanwhile: one BEGIN, one head lock, one
//! head update and one flushed COMMIT for the group. Each change runs inside
//! its own SAVEPOINT, so a change that fails (a lost version check, a
//! duplicate) is rolled back alone and the others commit. A change is
//! answered only once the COMMIT that holds it has returned, as before.

use std::str::FromStr;
use std::sync::Mutex;

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, Connection, Row};
use tokio::sync::{mpsc, oneshot};
use writ_app::ports::{Change, StoreError};
use writ_core::audit::AuditEvent;

use crate::commit::{execute, head_of, head_update, plan_body, LOCK_HEAD};
use crate::db_err;

/// Changes committed in one transaction at most; bounds the subtransactions a
/// group holds (PostgreSQL tracks up to 64 per backend cheaply) and the work a
/// failed COMMIT has to report back.
const MAX_GROUP: usize = 64;

type Reply = oneshot::Sender<Result<Vec<AuditEvent>, StoreError>>;

/// Handle to the writer task. Dropping the last handle (or `close`) ends it
/// once the queued changes are committed.
pub(crate) struct PgWriter {
    jobs: Mutex<Option<mpsc::UnboundedSender<(Change, Reply)>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl PgWriter {
    /// Starts the task on the current runtime; it connects on its first change.
    pub(crate) fn start(url: &str) -> Result<Self, StoreError> {
        let opts = AnyConnectOptions::from_str(url).map_err(|e| StoreError::Database(format!("bad database URL `{}`: {e}", crate::redact(url))))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(opts, rx));
        Ok(PgWriter { jobs: Mutex::new(Some(tx)), task: Mutex::new(Some(task)) })
    }

    pub(crate) async fn commit(&self, change: Change) -> Result<Vec<AuditEvent>, StoreError> {
        let stopped = || StoreError::Database("the PostgreSQL writer has stopped (the store was closed); restart Writ".into());
        let (reply, answer) = oneshot::channel();
        {
            let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.as_ref().ok_or_else(stopped)?.send((change, reply)).map_err(|_| stopped())?;
        }
        answer.await.map_err(|_| stopped())?
    }

    /// Stops taking changes, lets the task commit what is queued, and waits for it.
    pub(crate) async fn close(&self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            if task.await.is_err() {
                tracing::error!("the PostgreSQL writer task panicked");
            }
        }
    }
}

async fn run(opts: AnyConnectOptions, mut jobs: mpsc::UnboundedReceiver<(Change, Reply)>) {
    let mut conn: Option<AnyConnection> = None;
    while let Some(first) = jobs.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match AnyConnection::connect_with(&opts).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    answer_all(group.into_iter().map(|(_, r)| r), &StoreError::Database(format!("cannot connect to PostgreSQL: {e}")));
                    continue;
                }
            },
        };
        if commit_group(c, group).await.is_err() {
            // The connection may be the cause: take a new one for the next group.
            if let Some(c) = conn.take() {
                let _ = c.close().await;
            }
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

/// The transaction could not be completed; every change of the group was answered with an error.
struct Broken;

/// Commits a group in one transaction and answers each change.
async fn commit_group(conn: &mut AnyConnection, group: Vec<(Change, Reply)>) -> Result<(), Broken> {
    let savepoints = group.len() > 1;
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            answer_all(group.into_iter().map(|(_, r)| r), &db_err(e));
            return Err(Broken);
        }
    };
    let head = match sqlx::query(LOCK_HEAD).fetch_one(&mut *tx).await {
        Ok(row) => row.try_get("seq").and_then(|seq| Ok((seq, row.try_get::<String, _>("hash")?))).map_err(db_err).and_then(|(seq, hash)| head_of(seq, &hash)),
        Err(e) => Err(db_err(e)),
    };
    let mut head = match head {
        Ok(h) => h,
        Err(e) => {
            answer_all(group.into_iter().map(|(_, r)| r), &e);
            return Err(Broken);
        }
    };
    let mut committed: Vec<(Vec<AuditEvent>, Reply)> = Vec::with_capacity(group.len());
    let mut group = group.into_iter();
    // Whether a savepoint is open (so the next one first releases it, in the same round trip).
    let mut open = false;
    while let Some((change, reply)) = group.next() {
        if savepoints {
            let sql = if open { "RELEASE SAVEPOINT change; SAVEPOINT change" } else { "SAVEPOINT change" };
            if let Err(e) = simple(&mut tx, sql).await {
                let e = db_err(e);
                answer_all(committed.into_iter().map(|(_, r)| r).chain(std::iter::once(reply)).chain(group.map(|(_, r)| r)), &e);
                return Err(Broken);
            }
            open = true;
        }
        let (stmts, sealed, next_head) = plan_body(change, head);
        let mut outcome = Ok(());
        for stmt in &stmts {
            outcome = execute(&mut tx, stmt).await;
            if outcome.is_err() {
                break;
            }
        }
        match outcome {
            Ok(()) => {
                head = next_head;
                committed.push((sealed, reply));
            }
            Err(e) if savepoints => {
                // Undo this change alone; if even that fails, the transaction is lost.
                if let Err(undo) = simple(&mut tx, "ROLLBACK TO SAVEPOINT change").await {
                    let _ = reply.send(Err(e));
                    answer_all(committed.into_iter().map(|(_, r)| r).chain(group.map(|(_, r)| r)), &db_err(undo));
                    return Err(Broken);
                }
                let _ = reply.send(Err(e));
            }
            Err(e) => {
                // The only change of its transaction: roll it all back (dropping `tx`).
                let _ = reply.send(Err(e));
                return Ok(());
            }
        }
    }
    if committed.is_empty() {
        return if tx.rollback().await.is_ok() { Ok(()) } else { Err(Broken) };
    }
    if let Err(e) = execute(&mut tx, &head_update(head)).await {
        answer_all(committed.into_iter().map(|(_, r)| r), &e);
        return Err(Broken);
    }
    match tx.commit().await {
        Ok(()) => {
            for (events, reply) in committed {
                // The caller may have given up waiting; the change stands anyway.
                let _ = reply.send(Ok(events));
            }
            Ok(())
        }
        Err(e) => {
            answer_all(committed.into_iter().map(|(_, r)| r), &db_err(e));
            Err(Broken)
        }
    }
}

/// Runs `sql` (statements without parameters) in one round trip: PostgreSQL's
/// simple query protocol takes several statements at once.
async fn simple(tx: &mut sqlx::Transaction<'_, sqlx::Any>, sql: &'static str) -> Result<(), sqlx::Error> {
    // The trait method returns a boxed `Send` future, which the writer task needs.
    sqlx::Executor::execute(&mut **tx, sql).await.map(|_| ())
}

fn answer_all(replies: impl Iterator<Item = Reply>, e: &StoreError) {
    for reply in replies {
        let _ = reply.send(Err(e.clone()));
    }
}
