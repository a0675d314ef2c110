//! Reading the audit log and its checkpoints.

use chrono::{DateTime, Utc};
use sqlx::Row;
use writ_app::ports::StoreError;
use writ_core::audit::{AuditEvent, Checkpoint, EventHash};
use writ_core::ids::RequestId;

use crate::rows::{audit_event, checkpoint, from_millis, millis};
use crate::{db_err, SqlStore};

const EVENT_COLUMNS: &str = "seq, at, actor, kind, request_id, payload, prev_hash, hash";

impl SqlStore {
    pub(crate) async fn audit_page(&self, after_seq: u64, max: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(&sql).bind(after_seq as i64).bind(i64::from(max.max(1))).fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter().map(audit_event).collect()
    }

    pub(crate) async fn events_of_request(&self, id: RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE request_id = $1 ORDER BY seq");
        let rows = sqlx::query(&sql).bind(id.to_string()).fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter().map(audit_event).collect()
    }

    pub(crate) async fn event_times(&self, kinds: &[&str], since: DateTime<Utc>) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        // One placeholder per kind: the codes are bound, never spliced in.
        let marks: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
        let sql =
            format!("SELECT request_id, kind, at FROM audit_events WHERE at >= $1 AND request_id IS NOT NULL AND kind IN ({}) ORDER BY seq", marks.join(", "));
        let mut query = sqlx::query(&sql).bind(millis(since));
        for kind in kinds {
            query = query.bind(*kind);
        }
        let rows = query.fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let at = from_millis("audit event", r.try_get("at").map_err(db_err)?)?;
                Ok((r.try_get("request_id").map_err(db_err)?, r.try_get("kind").map_err(db_err)?, at))
            })
            .collect()
    }

    pub(crate) async fn head(&self) -> Result<(u64, EventHash), StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.reader).await.map_err(db_err)?;
        let seq: i64 = row.try_get("seq").map_err(db_err)?;
        let hash: String = row.try_get("hash").map_err(db_err)?;
        let hash = hash.parse().map_err(|_| StoreError::Corrupt { what: "audit head", detail: "bad hash".into() })?;
        Ok((seq as u64, hash))
    }

    pub(crate) async fn insert_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (size, head, at, public_key, signature) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(cp.size as i64)
        .bind(cp.head.to_string())
        .bind(millis(cp.at))
        .bind(hex::encode(cp.public_key))
        .bind(hex::encode(cp.signature))
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn all_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows =
            sqlx::query("SELECT size, head, at, public_key, signature FROM audit_checkpoints ORDER BY size").fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter().map(checkpoint).collect()
    }
}

impl SqlStore {
    /// Feeds the whole log to `verifier` in seq order, stopping at the first
    /// problem, and returns the checkpoints (or the problem found). SQLite is read
    /// natively on a blocking thread, PostgreSQL in pages.
    pub async fn verify_into(&self, verifier: &mut writ_core::audit::ChainVerifier) -> Result<Result<Vec<Checkpoint>, writ_core::audit::Tamper>, StoreError> {
        let events = match &self.sqlite_path {
            Some(path) => {
                let (path, mut owned) = (path.clone(), std::mem::take(verifier));
                let (outcome, back) = tokio::task::spawn_blocking(move || {
                    let outcome = crate::sqlite_native::verify_events(&path, &mut owned);
                    (outcome, owned)
                })
                .await
                .map_err(|e| StoreError::Database(format!("audit reader stopped: {e}")))?;
                *verifier = back;
                outcome?
            }
            None => self.verify_pages(verifier).await?,
        };
        match events {
            Ok(()) => Ok(Ok(self.all_checkpoints().await?)),
            Err(t) => Ok(Err(t)),
        }
    }

    async fn verify_pages(&self, verifier: &mut writ_core::audit::ChainVerifier) -> Result<Result<(), writ_core::audit::Tamper>, StoreError> {
        const PAGE: u32 = 20_000;
        let mut after = 0;
        loop {
            let page = self.audit_page(after, PAGE).await?;
            for e in &page {
                if let Err(t) = verifier.push(e) {
                    return Ok(Err(t));
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = last.seq,
                _ => return Ok(Ok(())),
            }
        }
    }
}
