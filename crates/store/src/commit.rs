//! The write path: one use-case's change, its audit events included, in one
//! transaction, guarded by version checks.

use sqlx::{Any, Row, Transaction};
use writ_app::ports::{Change, StoreError, Versioned};
use writ_core::audit::{seal, AuditEvent, EventHash};

use crate::rows::{millis, to_doc};
use crate::{db_err, SqlStore};

type Tx<'a> = Transaction<'a, Any>;

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
            sqlx::query(
                "INSERT INTO audit_events (seq, at, actor, kind, request_id, payload, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(i64_of(e.seq))
            .bind(millis(e.at))
            .bind(&e.actor)
            .bind(&e.kind)
            .bind(e.request_id.clone())
            .bind(&e.payload)
            .bind(e.prev_hash.to_string())
            .bind(e.hash.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            prev = e.hash;
            sealed.push(e);
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

async fn write_request(tx: &mut Tx<'_>, r: &Versioned<writ_core::request::Request>) -> Result<(), StoreError> {
    let v = &r.value;
    let id = v.id().to_string();
    match r.expected_version {
        None => sqlx::query(
            "INSERT INTO requests (id, state, requester, subject, created_at, lapses_at, version, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(v.state().as_str())
        .bind(v.requester().to_string())
        .bind(v.subject().to_string())
        .bind(millis(v.created_at()))
        .bind(millis(v.lapses_at()))
        .bind(i64_of(v.version()))
        .bind(to_doc(v))
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(|e| insert_or_update_err(e, "request", &id)),
        Some(expected) => {
            let res = sqlx::query("UPDATE requests SET state = $1, version = $2, doc = $3 WHERE id = $4 AND version = $5")
                .bind(v.state().as_str())
                .bind(i64_of(v.version()))
                .bind(to_doc(v))
                .bind(&id)
                .bind(i64_of(expected))
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            check_one(res.rows_affected(), "request", id)
        }
    }
}

async fn write_task(tx: &mut Tx<'_>, t: &Versioned<writ_core::task::FulfilmentTask>) -> Result<(), StoreError> {
    let v = &t.value;
    let id = v.id().to_string();
    let open = i64::from(v.is_open());
    match t.expected_version {
        None => sqlx::query(
            "INSERT INTO tasks (id, request_id, is_open, created_at, version, doc) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(v.request_id().to_string())
        .bind(open)
        .bind(millis(v.created_at()))
        .bind(i64_of(v.version()))
        .bind(to_doc(v))
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(|e| insert_or_update_err(e, "task", &id)),
        Some(expected) => {
            let res = sqlx::query("UPDATE tasks SET is_open = $1, version = $2, doc = $3 WHERE id = $4 AND version = $5")
                .bind(open)
                .bind(i64_of(v.version()))
                .bind(to_doc(v))
                .bind(&id)
                .bind(i64_of(expected))
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            check_one(res.rows_affected(), "task", id)
        }
    }
}

async fn write_grant(tx: &mut Tx<'_>, g: &Versioned<writ_core::grant::Grant>) -> Result<(), StoreError> {
    let v = &g.value;
    let id = v.id().to_string();
    let active = i64::from(*v.state() == writ_core::grant::GrantState::Active);
    match g.expected_version {
        None => sqlx::query(
            "INSERT INTO grants (id, request_id, subject, is_active, expires_at, version, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(v.request_id().to_string())
        .bind(v.subject().to_string())
        .bind(active)
        .bind(millis(v.expires_at()))
        .bind(i64_of(v.version()))
        .bind(to_doc(v))
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(|e| insert_or_update_err(e, "grant", &id)),
        Some(expected) => {
            let res = sqlx::query("UPDATE grants SET is_active = $1, version = $2, doc = $3 WHERE id = $4 AND version = $5")
                .bind(active)
                .bind(i64_of(v.version()))
                .bind(to_doc(v))
                .bind(&id)
                .bind(i64_of(expected))
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            check_one(res.rows_affected(), "grant", id)
        }
    }
}
