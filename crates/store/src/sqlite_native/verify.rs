//! Reading the whole audit log for `writ audit verify`: one statement stepped
//! on a producer thread of `verify_pipeline`, each row borrowed straight from
//! SQLite into a batch. Through sqlx (a channel hop and owned copies per row)
//! the same read capped near 100k events a second.

use std::path::Path;

use rusqlite::OpenFlags;
use writ_app::ports::StoreError;
use writ_core::audit::{decode_hex_array, ChainVerifier, EventHash, EventRef, Tamper};

use super::sqlite_err;
use crate::verify_pipeline::{verify_pipelined, BatchSink};

fn corrupt(seq: i64, detail: String) -> StoreError {
    StoreError::Corrupt { what: "audit event", detail: format!("seq {seq}: {detail}") }
}

/// Feeds every event of the SQLite database at `path` to `verifier`, in seq
/// order, stopping at the first problem. Opens the file read-only; reads on a
/// scoped thread while this one hashes (see `verify_pipeline`).
pub(crate) fn verify_events(path: &Path, verifier: &mut ChainVerifier) -> Result<Result<(), Tamper>, StoreError> {
    let conn = super::open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    verify_pipelined(verifier, move |sink| {
        let mut stmt = conn.prepare("SELECT seq, at, actor, kind, request_id, payload, prev_hash, hash FROM audit_events ORDER BY seq").map_err(sqlite_err)?;
        let mut rows = stmt.query([]).map_err(sqlite_err)?;
        while let Some(row) = rows.next().map_err(sqlite_err)? {
            if !push_row(sink, row)? {
                break;
            }
        }
        Ok(())
    })
}

/// Hands one row to the verifier, decoding its hashes; false when it stopped.
fn push_row(sink: &mut BatchSink, row: &rusqlite::Row<'_>) -> Result<bool, StoreError> {
    let seq: i64 = row.get(0).map_err(sqlite_err)?;
    let text = |i: usize| -> Result<&str, StoreError> { row.get_ref(i).map_err(sqlite_err)?.as_str().map_err(|e| corrupt(seq, format!("column {i}: {e}"))) };
    let hash = |i: usize| -> Result<EventHash, StoreError> { decode_hex_array::<32>(text(i)?).map(EventHash).map_err(|e| corrupt(seq, e.to_string())) };
    let request_id = match row.get_ref(4).map_err(sqlite_err)? {
        rusqlite::types::ValueRef::Null => None,
        v => Some(v.as_str().map_err(|e| corrupt(seq, format!("request_id: {e}")))?),
    };
    let event = EventRef {
        seq: u64::try_from(seq).map_err(|_| corrupt(seq, "negative seq".into()))?,
        at_millis: row.get(1).map_err(sqlite_err)?,
        actor: text(2)?,
        kind: text(3)?,
        request_id,
        payload: text(5)?,
        prev_hash: hash(6)?,
        hash: hash(7)?,
    };
    // Times are stored as integer milliseconds: nothing below them to tamper with.
    Ok(sink.push(&event, false))
}
