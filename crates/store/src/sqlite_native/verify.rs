//! Reading the whole audit log for `writ audit verify`: one statement stepped
//! on a plain thread, rows handed over in reusable batches and verified as
//! borrowed text. Through sqlx (a channel hop and owned copies per row) the
//! same read capped near 100k events a second.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};

use rusqlite::{Connection, OpenFlags};
use writ_app::ports::StoreError;
use writ_core::audit::{decode_hex_array, ChainVerifier, EventHash, EventRef, Tamper};

use super::sqlite_err;

fn corrupt(seq: i64, detail: String) -> StoreError {
    StoreError::Corrupt { what: "audit event", detail: format!("seq {seq}: {detail}") }
}

/// Events per batch handed from the reading thread to the verifying one.
const BATCH: usize = 4096;

/// Feeds every event of the SQLite database at `path` to `verifier`, in seq
/// order, stopping at the first problem. Opens the file read-only.
///
/// Two threads: this one hashes and links events while a scoped reader steps
/// SQLite and decodes rows into batches. Hashing and reading each take about
/// half of the work, so the pipeline nearly doubles the speed on two cores.
pub(crate) fn verify_events(path: &Path, verifier: &mut ChainVerifier) -> Result<Result<(), Tamper>, StoreError> {
    let conn = super::open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(4);
    let (empty_tx, empty_rx) = mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_batches(conn, &full_tx, &empty_rx));
        let mut outcome = Ok(());
        for batch in full_rx.iter() {
            if let Some(t) = batch.rows.iter().find_map(|r| verifier.push_ref(&batch.event(r)).err()) {
                outcome = Err(t);
                break;
            }
            // The reader may already be gone (end of log); a lost batch is only memory.
            let _ = empty_tx.send(batch);
        }
        // Dropping the receiver stops a reader still running after a tamper.
        drop(full_rx);
        let read = reader.join().map_err(|_| StoreError::Database("the audit reader thread panicked".into()))?;
        match outcome {
            Err(t) => Ok(Err(t)),
            Ok(()) => read.map(Ok),
        }
    })
}

/// Steps the whole log into batches; stops early when the verifier hangs up.
fn read_batches(conn: Connection, full: &SyncSender<Batch>, empty: &Receiver<Batch>) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare("SELECT seq, at, actor, kind, request_id, payload, prev_hash, hash FROM audit_events ORDER BY seq")
        .map_err(sqlite_err)?;
    let mut rows = stmt.query([]).map_err(sqlite_err)?;
    let mut batch = Batch::default();
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        batch.push_row(row)?;
        if batch.rows.len() == BATCH {
            let next = empty.try_recv().unwrap_or_default();
            if full.send(std::mem::replace(&mut batch, next.cleared())).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.rows.is_empty() {
        let _ = full.send(batch);
    }
    Ok(())
}

/// Rows of one batch with all their text in one buffer, so a batch costs two
/// allocations however many rows it holds, and is reused once verified.
#[derive(Default)]
struct Batch {
    text: String,
    rows: Vec<BatchRow>,
}

type Span = std::ops::Range<usize>;

struct BatchRow {
    seq: u64,
    at_millis: i64,
    actor: Span,
    kind: Span,
    request_id: Option<Span>,
    payload: Span,
    prev_hash: EventHash,
    hash: EventHash,
}

impl Batch {
    fn cleared(mut self) -> Self {
        self.text.clear();
        self.rows.clear();
        self
    }

    fn keep(&mut self, s: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }

    fn push_row(&mut self, row: &rusqlite::Row<'_>) -> Result<(), StoreError> {
        let seq: i64 = row.get(0).map_err(sqlite_err)?;
        let text = |i: usize| -> Result<&str, StoreError> {
            row.get_ref(i).map_err(sqlite_err)?.as_str().map_err(|e| corrupt(seq, format!("column {i}: {e}")))
        };
        let hash = |i: usize| -> Result<EventHash, StoreError> {
            decode_hex_array::<32>(text(i)?).map(EventHash).map_err(|e| corrupt(seq, e.to_string()))
        };
        let request_id = match row.get_ref(4).map_err(sqlite_err)? {
            rusqlite::types::ValueRef::Null => None,
            v => Some(self.keep(v.as_str().map_err(|e| corrupt(seq, format!("request_id: {e}")))?)),
        };
        let r = BatchRow {
            seq: u64::try_from(seq).map_err(|_| corrupt(seq, "negative seq".into()))?,
            at_millis: row.get(1).map_err(sqlite_err)?,
            actor: self.keep(text(2)?),
            kind: self.keep(text(3)?),
            request_id,
            payload: self.keep(text(5)?),
            prev_hash: hash(6)?,
            hash: hash(7)?,
        };
        self.rows.push(r);
        Ok(())
    }

    fn event(&self, r: &BatchRow) -> EventRef<'_> {
        EventRef {
            seq: r.seq,
            at_millis: r.at_millis,
            actor: &self.text[r.actor.clone()],
            kind: &self.text[r.kind.clone()],
            request_id: r.request_id.clone().map(|s| &self.text[s]),
            payload: &self.text[r.payload.clone()],
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}
