//! Conversions between rows and domain values.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::any::AnyRow;
use sqlx::Row;
use writ_app::ports::{LedgerRow, StoreError};
use writ_core::audit::{AuditEvent, Checkpoint, EventHash};
use writ_core::ids::{EntitlementId, GrantId, IdentityId, RequestId};

use crate::db_err;

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(what: &'static str, ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or(StoreError::Corrupt { what, detail: format!("time {ms} out of range") })
}

pub(crate) fn doc<T: DeserializeOwned>(what: &'static str, row: &AnyRow) -> Result<T, StoreError> {
    let text: String = row.try_get("doc").map_err(db_err)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}

pub(crate) fn to_doc<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain values always serialise")
}

fn hash(what: &'static str, text: &str) -> Result<EventHash, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt { what, detail: format!("`{text}` is not a hash") })
}

fn hex_array<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], StoreError> {
    writ_core::audit::decode_hex_array(text).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}

pub(crate) fn audit_event(row: &AnyRow) -> Result<AuditEvent, StoreError> {
    let seq: i64 = row.try_get("seq").map_err(db_err)?;
    Ok(AuditEvent {
        seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt { what: "audit event", detail: format!("seq {seq}") })?,
        at: from_millis("audit event", row.try_get("at").map_err(db_err)?)?,
        actor: row.try_get("actor").map_err(db_err)?,
        kind: row.try_get("kind").map_err(db_err)?,
        request_id: row.try_get("request_id").map_err(db_err)?,
        payload: row.try_get("payload").map_err(db_err)?,
        prev_hash: hash("audit event", &row.try_get::<String, _>("prev_hash").map_err(db_err)?)?,
        hash: hash("audit event", &row.try_get::<String, _>("hash").map_err(db_err)?)?,
    })
}

pub(crate) fn checkpoint(row: &AnyRow) -> Result<Checkpoint, StoreError> {
    let size: i64 = row.try_get("size").map_err(db_err)?;
    Ok(Checkpoint {
        size: size as u64,
        head: hash("checkpoint", &row.try_get::<String, _>("head").map_err(db_err)?)?,
        at: from_millis("checkpoint", row.try_get("at").map_err(db_err)?)?,
        public_key: hex_array("checkpoint", &row.try_get::<String, _>("public_key").map_err(db_err)?)?,
        signature: hex_array("checkpoint", &row.try_get::<String, _>("signature").map_err(db_err)?)?,
    })
}

/// A `grants` row as `SELECT id, request_id, subject, entitlement, state,
/// drift` returns it. Columns by position: this runs once per grant of a
/// target's ledger.
pub(crate) fn ledger_row(row: &AnyRow) -> Result<LedgerRow, StoreError> {
    let text = |i: usize| row.try_get::<String, _>(i).map_err(db_err);
    let id = text(0)?;
    let bad = |column: &str, e: writ_core::DomainError| StoreError::Corrupt { what: "grant", detail: format!("grant `{id}`, {column}: {e}") };
    Ok(LedgerRow {
        grant: GrantId::parse(&id).map_err(|e| bad("id", e))?,
        request: RequestId::parse(&text(1)?).map_err(|e| bad("request_id", e))?,
        subject: IdentityId::parse(&text(2)?).map_err(|e| bad("subject", e))?,
        entitlement: EntitlementId::parse(&text(3)?).map_err(|e| bad("entitlement", e))?,
        state: text(4)?,
        drift: text(5)?,
    })
}
