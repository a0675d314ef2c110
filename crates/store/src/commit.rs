//! The write path: one use-case's change, its audit events included, in one
//! transaction, guarded by version checks.

use sqlx::{Any, Row, Transaction};
use writ_app::ports::{Change, StoreError, Versioned};
use writ_core::audit::{seal, AuditEvent, EventHash};

use crate::rows::{millis, to_doc};
use crate::{db_err, SqlStore};

type Tx<'a> = Transaction<'a, Any>;

/// Audit events per INSERT statement: 8 parameters each stays far below SQLite's
/// and PostgreSQL's limits on bound parameters.
const EVENTS_PER_INSERT: usize = 200;

/// Turns a failed CAS into a typed conflict.
fn check_one(rows: u64, what: &'static str, id: String) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::VersionConflict { what, id })
    }
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).expect("versions and sequence numbers stay below 2^63")
}

fn insert_or_update_err(e: sqlx::Error, what: &'static str, id: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate { what, id: id.to_owned() },
        _ => db_err(e),
    }
}

impl SqlStore {
    pub(crate) async fn commit_change(&self, change: Change) -> Result<Vec<AuditEvent>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        // INVARIANT: the first statement of every write transaction locks the audit
        // head row. On PostgreSQL this serialises appends to the chain; on SQLite it
        // takes the write lock at once, so a transaction never has to upgrade a read.
        let head = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut seq = head.try_get::<i64, _>("seq").map_err(db_err)? as u64;
        let mut prev: EventHash = head
            .try_get::<String, _>("hash")
            .map_err(db_err)?
            .parse()
            .map_err(|_| StoreError::Corrupt { what: "audit head", detail: "bad hash".into() })?;

        for i in &change.identities {
            sqlx::query(
                "INSERT INTO identities (id, doc, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
            )
            .bind(i.id.to_string())
            .bind(to_doc(i))
            .bind(change.events.first().map_or(0, |e| millis(e.at)))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        for r in &change.requests {
            write_request(&mut tx, r).await?;
        }
        for t in &change.tasks {
            write_task(&mut tx, t).await?;
        }
        for g in &change.grants {
            write_grant(&mut tx, g).await?;
        }
        let mut sealed = Vec::with_capacity(change.events.len());
        for ev in change.events {
            seq += 1;
            let e = seal(seq, prev, ev);
            prev = e.hash;
            sealed.push(e);
        }
        // One multi-row INSERT per chunk: each statement is a round trip to the
        // database (on SQLite, to its connection thread), so fewer is faster.
        for chunk in sealed.chunks(EVENTS_PER_INSERT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 8;
                    format!("(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8)
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_events (seq, at, actor, kind, request_id, payload, prev_hash, hash) VALUES {}",
                rows.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(i64_of(e.seq))
                    .bind(millis(e.at))
                    .bind(e.actor.clone())
                    .bind(e.kind.clone())
                    .bind(e.request_id.clone())
                    .bind(e.payload.clone())
                    .bind(e.prev_hash.to_string())
                    .bind(e.hash.to_string());
            }
            q.execute(&mut *tx).await.map_err(db_err)?;
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(i64_of(seq))
            .bind(prev.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(sealed)
    }
}

/// A value for one column.
enum Col {
    Text(String),
    Int(i64),
}

/// One aggregate row: its table, key, version, JSON document and the columns that
/// queries filter on. Table and column names are constants of this crate, never
/// user input, so building the SQL from them is safe.
struct DocRow {
    table: &'static str,
    what: &'static str,
    id: String,
    version: u64,
    expected: Option<u64>,
    doc: String,
    columns: Vec<(&'static str, Col)>,
}

/// Inserts a new aggregate, or updates it if it is still at the version it was
/// loaded at (compare-and-swap); a lost race is a `VersionConflict`.
async fn write_doc(tx: &mut Tx<'_>, row: DocRow) -> Result<(), StoreError> {
    let names: Vec<&str> = row.columns.iter().map(|(n, _)| *n).collect();
    let sql = match row.expected {
        None => {
            let marks: Vec<String> = (4..4 + names.len()).map(|i| format!("${i}")).collect();
            format!("INSERT INTO {} (id, version, doc, {}) VALUES ($1, $2, $3, {})", row.table, names.join(", "), marks.join(", "))
        }
        Some(_) => {
            let sets: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{n} = ${}", i + 4)).collect();
            let k = names.len() + 4;
            format!("UPDATE {} SET version = $2, doc = $3, {} WHERE id = $1 AND version = ${k}", row.table, sets.join(", "))
        }
    };
    let mut q = sqlx::query(&sql).bind(row.id.clone()).bind(i64_of(row.version)).bind(row.doc);
    for (_, c) in row.columns {
        q = match c {
            Col::Text(t) => q.bind(t),
            Col::Int(i) => q.bind(i),
        };
    }
    match row.expected {
        None => q.execute(&mut **tx).await.map(|_| ()).map_err(|e| insert_or_update_err(e, row.what, &row.id)),
        Some(expected) => {
            let res = q.bind(i64_of(expected)).execute(&mut **tx).await.map_err(db_err)?;
            check_one(res.rows_affected(), row.what, row.id)
        }
    }
}

async fn write_request(tx: &mut Tx<'_>, r: &Versioned<writ_core::request::Request>) -> Result<(), StoreError> {
    let v = &r.value;
    write_doc(tx, DocRow {
        table: "requests",
        what: "request",
        id: v.id().to_string(),
        version: v.version(),
        expected: r.expected_version,
        doc: to_doc(v),
        columns: vec![
            ("state", Col::Text(v.state().as_str().to_owned())),
            ("requester", Col::Text(v.requester().to_string())),
            ("subject", Col::Text(v.subject().to_string())),
            ("created_at", Col::Int(millis(v.created_at()))),
            ("lapses_at", Col::Int(millis(v.lapses_at()))),
        ],
    })
    .await
}

async fn write_task(tx: &mut Tx<'_>, t: &Versioned<writ_core::task::FulfilmentTask>) -> Result<(), StoreError> {
    let v = &t.value;
    write_doc(tx, DocRow {
        table: "tasks",
        what: "task",
        id: v.id().to_string(),
        version: v.version(),
        expected: t.expected_version,
        doc: to_doc(v),
        columns: vec![
            ("request_id", Col::Text(v.request_id().to_string())),
            ("is_open", Col::Int(i64::from(v.is_open()))),
            ("created_at", Col::Int(millis(v.created_at()))),
        ],
    })
    .await
}

async fn write_grant(tx: &mut Tx<'_>, g: &Versioned<writ_core::grant::Grant>) -> Result<(), StoreError> {
    let v = &g.value;
    write_doc(tx, DocRow {
        table: "grants",
        what: "grant",
        id: v.id().to_string(),
        version: v.version(),
        expected: g.expected_version,
        doc: to_doc(v),
        columns: vec![
            ("request_id", Col::Text(v.request_id().to_string())),
            ("subject", Col::Text(v.subject().to_string())),
            ("is_active", Col::Int(i64::from(*v.state() == writ_core::grant::GrantState::Active))),
            ("expires_at", Col::Int(millis(v.expires_at()))),
        ],
    })
    .await
}
