//! Conversions between rows and domain values.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::any::AnyRow;
use sqlx::Row;
use writ_app::ports::{LedgerRow, StoreError};
use writ_core::audit::{AuditEvent, Checkpoint, EventHash};
use writ_core::ids::{EntitlementId, GrantId, IdentityId, RequestId, TokenId};
use writ_core::token::{Revocation, Token, TokenScope};

use crate::commit::{NEVER, NOT_YET};
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

/// The columns of a `tokens` row that make its record, in [`token`]'s order.
pub(crate) const TOKEN_COLUMNS: &str =
    "t.id, t.identity_id, t.owner, t.name, t.scope, t.created_at, t.expires_at, t.revoked_at, t.revoked_by, t.revoke_reason, t.last_used_at, t.version, t.created_by";

/// A token's record from the [`TOKEN_COLUMNS`] of a row, by position.
pub(crate) fn token(row: &AnyRow) -> Result<Token, StoreError> {
    token_from(|i| row.try_get::<String, _>(i).map_err(db_err), |i| row.try_get::<i64, _>(i).map_err(db_err))
}

/// A token's record from the [`TOKEN_COLUMNS`] of a row read by any driver:
/// `text(i)` and `int(i)` read column `i`.
pub(crate) fn token_from(text: impl Fn(usize) -> Result<String, StoreError>, int: impl Fn(usize) -> Result<i64, StoreError>) -> Result<Token, StoreError> {
    let id = text(0)?;
    let bad = |column: &str, e: String| StoreError::Corrupt { what: "token", detail: format!("token `{id}`, {column}: {e}") };
    let time = |i: usize| from_millis("token", int(i)?);
    let scope = text(4)?;
    let revoked_at = int(7)?;
    let revoked = if revoked_at == NOT_YET { None } else { Some(Revocation { at: time(7)?, by: text(8)?, reason: text(9)? }) };
    Ok(Token {
        id: TokenId::parse(&id).map_err(|e| bad("id", e.to_string()))?,
        identity: IdentityId::parse(&text(1)?).map_err(|e| bad("identity_id", e.to_string()))?,
        owner: IdentityId::parse(&text(2)?).map_err(|e| bad("owner", e.to_string()))?,
        name: text(3)?,
        scope: if scope.is_empty() { None } else { Some(TokenScope::parse(&scope).map_err(|e| bad("scope", e.to_string()))?) },
        created_at: time(5)?,
        expires_at: if int(6)? == NEVER { None } else { Some(time(6)?) },
        revoked,
        last_used_at: if int(10)? == NOT_YET { None } else { Some(time(10)?) },
        version: u64::try_from(int(11)?).map_err(|e| bad("version", e.to_string()))?,
        created_by: text(12)?,
    })
}
