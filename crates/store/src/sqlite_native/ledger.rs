//! A target's whole ledger for reconciliation, read natively: through sqlx
//! each of 100,000 rows crossed a channel as owned values, which was most of
//! a reconciliation run's time.

use std::path::Path;

use rusqlite::OpenFlags;
use writ_app::ports::{LedgerRow, StoreError};
use writ_core::ids::{EntitlementId, GrantId, IdentityId, RequestId};

use super::sqlite_err;

/// Every grant on `target` in the SQLite database at `path` (read-only).
pub(crate) fn read_ledger(path: &Path, target: &str) -> Result<Vec<LedgerRow>, StoreError> {
    let conn = super::open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT id, request_id, subject, entitlement, state, drift FROM grants WHERE target = ?1").map_err(sqlite_err)?;
    let mut rows = stmt.query([target]).map_err(sqlite_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        let text = |i: usize| row.get_ref(i).and_then(|v| v.as_str().map_err(Into::into)).map_err(sqlite_err);
        let id = text(0)?;
        let bad = |column: &str, e: writ_core::DomainError| StoreError::Corrupt { what: "grant", detail: format!("grant `{id}`, {column}: {e}") };
        out.push(LedgerRow {
            grant: GrantId::parse(id).map_err(|e| bad("id", e))?,
            request: RequestId::parse(text(1)?).map_err(|e| bad("request_id", e))?,
            subject: IdentityId::parse(text(2)?).map_err(|e| bad("subject", e))?,
            entitlement: EntitlementId::parse(text(3)?).map_err(|e| bad("entitlement", e))?,
            state: text(4)?.to_owned(),
            drift: text(5)?.to_owned(),
        });
    }
    Ok(out)
}
