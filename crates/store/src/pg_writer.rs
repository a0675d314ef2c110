//! The PostgreSQL writer: one task owns a connection of its own and commits
//! the changes handed to it, several per transaction when they queue up.
//!
//! Every write transaction locks the audit head first and keeps it until its
//! COMMIT is on disk, so on PostgreSQL writers take turns anyway, each paying
//! its round trips and its WAL flush while the others wait. Group commit makes
//! one turn serve every change queued meanwhile: one BEGIN, one head lock, one
//! INSERT of the group's audit events, one head update and one flushed COMMIT
//! for the group. A change that fails (a lost version check, a duplicate) is
//! rolled back alone and the others commit: the group then runs again with a
//! SAVEPOINT around each change. A change is
//! answered only once the COMMIT that holds it has returned, as before.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, Connection, Row};
use tokio::sync::{mpsc, oneshot};
use writ_app::ports::{Change, StoreError};
use writ_core::audit::{AuditEvent, NewEvent};

use crate::commit::{event_inserts, execute, head_of, head_update, plan_rows, seal_all, Stmt, LOCK_HEAD};
use crate::db_err;
use crate::pg_auth_cache::AuthCache;

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
    /// `auth` is dropped after every commit that writes tokens or identities.
    pub(crate) fn start(url: &str, auth: Arc<AuthCache>) -> Result<Self, StoreError> {
        let opts = AnyConnectOptions::from_str(url).map_err(|e| StoreError::Database(format!("bad database URL `{}`: {e}", crate::redact(url))))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(opts, rx, auth));
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

async fn run(opts: AnyConnectOptions, mut jobs: mpsc::UnboundedReceiver<(Change, Reply)>, auth: Arc<AuthCache>) {
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
        if commit_group(c, group, &auth).await.is_err() {
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

/// A queued change, planned once: its statements (which do not depend on the
/// audit head), its events (sealed at the group's end) and whom to answer.
struct Planned {
    stmts: Vec<Stmt>,
    events: Vec<NewEvent>,
    reply: Reply,
}

/// How one attempt at a group's transaction ended.
enum Attempt {
    /// Committed: each change's sealed events, or the error that rolled it back alone.
    Committed(Vec<Result<Vec<AuditEvent>, StoreError>>),
    /// Run without savepoints, a change failed: the whole transaction was
    /// rolled back and must run again with savepoints.
    NeedsSavepoints,
    /// The transaction itself failed (connection, COMMIT): nothing committed.
    Failed(StoreError),
}

/// Commits a group in one transaction and answers each change.
///
/// First without savepoints: when no change fails (nearly always) that saves
/// a round trip per change. If one does fail (a lost version check, a
/// duplicate), that transaction is rolled back and the group runs again with a
/// savepoint around each change, so the failing one is undone alone. The audit
/// events of every change that stands are sealed in queue order at the end and
/// inserted together.
async fn commit_group(conn: &mut AnyConnection, group: Vec<(Change, Reply)>, auth: &AuthCache) -> Result<(), Broken> {
    // Tokens or identities written: every node drops its cached lookups.
    let notify = group.iter().any(|(c, _)| !c.tokens.is_empty() || !c.identities.is_empty());
    let mut planned: Vec<Planned> = group
        .into_iter()
        .map(|(change, reply)| {
            let (stmts, events) = plan_rows(change);
            Planned { stmts, events, reply }
        })
        .collect();
    let mut outcome = attempt(conn, &mut planned, false, notify).await;
    if matches!(outcome, Attempt::NeedsSavepoints) {
        outcome = attempt(conn, &mut planned, true, notify).await;
    }
    match outcome {
        Attempt::Committed(results) => {
            if notify {
                // This node's own lookups hold the change from the next call on.
                auth.drop_all();
            }
            for (p, result) in planned.into_iter().zip(results) {
                // The caller may have given up waiting; the change stands anyway.
                let _ = p.reply.send(result);
            }
            Ok(())
        }
        Attempt::Failed(e) => {
            answer_all(planned.into_iter().map(|p| p.reply), &e);
            Err(Broken)
        }
        Attempt::NeedsSavepoints => unreachable!("an attempt with savepoints never asks for them"),
    }
}

/// One transaction over the whole group, with or without a savepoint per change.
async fn attempt(conn: &mut AnyConnection, planned: &mut [Planned], savepoints: bool, notify: bool) -> Attempt {
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => return Attempt::Failed(db_err(e)),
    };
    let head = match sqlx::query(LOCK_HEAD).fetch_one(&mut *tx).await {
        Ok(row) => row.try_get("seq").and_then(|seq| Ok((seq, row.try_get::<String, _>("hash")?))).map_err(db_err).and_then(|(seq, hash)| head_of(seq, &hash)),
        Err(e) => Err(db_err(e)),
    };
    let mut head = match head {
        Ok(h) => h,
        Err(e) => return Attempt::Failed(e),
    };
    let mut outcomes: Vec<Result<(), StoreError>> = Vec::with_capacity(planned.len());
    // Whether a savepoint is open (so the next one first releases it, in the same round trip).
    let mut open = false;
    for change in planned.iter() {
        if savepoints {
            let sql = if open { "RELEASE SAVEPOINT change; SAVEPOINT change" } else { "SAVEPOINT change" };
            if let Err(e) = simple(&mut tx, sql).await {
                return Attempt::Failed(db_err(e));
            }
            open = true;
        }
        let mut outcome = Ok(());
        for stmt in &change.stmts {
            outcome = execute(&mut tx, stmt).await;
            if outcome.is_err() {
                break;
            }
        }
        if outcome.is_err() {
            if !savepoints && planned.len() > 1 {
                // Undo everything and run again with savepoints; the change
                // fails again there (or stands, if what failed it was
                // another change of this group, since rolled back).
                return match tx.rollback().await {
                    Ok(()) => Attempt::NeedsSavepoints,
                    Err(e) => Attempt::Failed(db_err(e)),
                };
            }
            if savepoints {
                // Undo this change alone; if even that fails, the transaction is lost.
                if let Err(undo) = simple(&mut tx, "ROLLBACK TO SAVEPOINT change").await {
                    return Attempt::Failed(db_err(undo));
                }
            }
        }
        outcomes.push(outcome);
    }
    let standing = planned.iter().zip(&outcomes).filter(|(_, o)| o.is_ok());
    if standing.clone().next().is_none() {
        // Nothing stands: a rollback (dropping an aborted transaction) is all there is to do.
        if let Err(e) = tx.rollback().await {
            return Attempt::Failed(db_err(e));
        }
        return Attempt::Committed(outcomes.into_iter().map(|o| o.map(|()| Vec::new())).collect());
    }
    // The events of the changes that stand, sealed in queue order after the head.
    let mut sealed_per_change: Vec<Vec<AuditEvent>> = Vec::with_capacity(planned.len());
    let mut all_sealed: Vec<AuditEvent> = Vec::new();
    for (change, outcome) in planned.iter_mut().zip(&outcomes) {
        if outcome.is_err() {
            sealed_per_change.push(Vec::new());
            continue;
        }
        // The last use of the events: nothing runs again after this point.
        let (sealed, next) = seal_all(std::mem::take(&mut change.events), head);
        head = next;
        all_sealed.extend(sealed.iter().cloned());
        sealed_per_change.push(sealed);
    }
    for stmt in event_inserts(&all_sealed).iter().chain(std::iter::once(&head_update(head))) {
        if let Err(e) = execute(&mut tx, stmt).await {
            return Attempt::Failed(e);
        }
    }
    if notify {
        // Delivered to every listening node if, and once, this commits.
        if let Err(e) = simple(&mut tx, crate::pg_auth_cache::NOTIFY).await {
            return Attempt::Failed(db_err(e));
        }
    }
    match tx.commit().await {
        Ok(()) => Attempt::Committed(outcomes.into_iter().zip(sealed_per_change).map(|(o, sealed)| o.map(|()| sealed)).collect()),
        Err(e) => Attempt::Failed(db_err(e)),
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
