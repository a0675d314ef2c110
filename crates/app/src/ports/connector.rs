//! The connector port: how Writ changes a target system and reads back its live
//! state. Writ, not the connector, decides what a change proved: the use-cases
//! read the account before and after a change (the entitlement diff) and
//! verify the result against what was approved, the same way for every target.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use writ_core::identity::IdentityKind;
use writ_core::ids::{EntitlementId, GroupId, IdentityId, RequestId};

/// What a connector is and can do, for `writ target list` and for the use-cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectorInfo {
    /// `manual`, `postgres`, `ldap`, `redis`, `scim`.
    pub kind: &'static str,
    /// The catalog target it serves.
    pub target: String,
    /// Where it connects, without any secret (e.g. `postgres://writ@db:5432/app`).
    pub endpoint: String,
    /// It reads live state: changes are verified by read-back and the target
    /// can be reconciled. False only for the manual connector.
    pub reads_live_state: bool,
    /// It creates accounts for non-human identities (and removes them when
    /// their last entitlement goes).
    pub manages_accounts: bool,
    /// It also sets the grant's expiry on the target itself, as a second line
    /// of defence (PostgreSQL `VALID UNTIL`).
    pub enforces_expiry: bool,
}

/// An account on a target: the subject's name there and what kind of identity
/// it belongs to (non-human identities get accounts of their own).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub kind: IdentityKind,
}

/// What a connector is asked to put in place or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub request: RequestId,
    pub subject: IdentityId,
    pub account: Account,
    pub entitlement: EntitlementId,
    /// The entitlement's name on the target: its id after `target/` (a
    /// PostgreSQL role, an LDAP group, a Redis ACL profile, a SCIM group).
    pub resource: String,
    /// When the grant ends, for connectors that enforce expiry on the target.
    pub expires_at: Option<DateTime<Utc>>,
}

// Defined in writ-core, where reconciliation classifies it; re-exported so
// `writ_app::ports::LiveEntitlement` keeps working.
pub use writ_core::reconcile::LiveEntitlement;

/// The live state of one account on a target: the "before" or "after" of an
/// entitlement diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    /// Whether the account exists on the target at all.
    pub exists: bool,
    /// Account-level facts (enabled, valid until, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Its entitlements, sorted.
    pub entitlements: Vec<LiveEntitlement>,
}

impl AccountState {
    /// Whether the account holds `resource`.
    pub fn holds(&self, resource: &str) -> bool {
        self.entitlements.iter().any(|e| e.resource == resource)
    }
}

/// What a grant or revoke did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The target changed.
    Changed,
    /// A grant of what was already held: nothing to do, not an error.
    AlreadyPresent,
    /// A revoke of what was already gone: nothing to do, not an error.
    AlreadyAbsent,
    /// No API: a person in `group` must do it and record evidence.
    NeedsPerson { group: GroupId },
}

/// Why a connector call failed, and whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectorError {
    /// Retrying may help (target unreachable, timeout, busy).
    #[error("target `{target}` is unavailable: {detail} (Writ will retry)")]
    Transient { target: String, detail: String },
    /// Retrying will not help (permission denied, unknown role, a name the
    /// target cannot hold). `detail` is the target's own message.
    #[error("target `{target}` refused: {detail}")]
    Permanent { target: String, detail: String },
    /// The target accepted the change but reading it back does not show it.
    /// Writ, not the connector, says this. Retried: a target may apply a
    /// change late (replication); a grant gives up after
    /// [`READ_BACK_ATTEMPTS`], a removal never does (it becomes overdue).
    #[error("target `{target}` accepted the change but does not show it: {detail}")]
    ReadBackMismatch { target: String, detail: String },
}

/// How many times a grant whose read-back does not show it is tried before
/// its entitlement is recorded as failed.
pub const READ_BACK_ATTEMPTS: u32 = 3;

impl ConnectorError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ConnectorError::Transient { .. } | ConnectorError::ReadBackMismatch { .. })
    }
}

/// Puts access in place on one target system, removes it, and reads it back.
///
/// Contract, checked for every connector by the connector contract suite:
/// - `grant` and `revoke` are idempotent: granting what is held answers
///   `AlreadyPresent`, revoking what is gone answers `AlreadyAbsent`.
/// - A name the target cannot hold exactly (after the protocol's own quoting
///   or escaping) is refused with `Permanent`, and nothing changes.
/// - An unreachable target or a timeout is `Transient`.
/// - Errors and `info` never contain a secret.
#[async_trait]
pub trait Connector: Send + Sync {
    fn info(&self) -> ConnectorInfo;

    /// The live state of one account.
    async fn read_account(&self, account: &Account) -> Result<AccountState, ConnectorError>;

    /// Every entitlement the target holds among the resources it manages, handed
    /// to `sink` as it is read (a target may hold millions: never collect them
    /// all). Returns how many were handed over.
    async fn scan(&self, sink: &mut (dyn FnMut(LiveEntitlement) + Send)) -> Result<u64, ConnectorError>;

    async fn grant(&self, order: &Order) -> Result<Applied, ConnectorError>;

    async fn revoke(&self, order: &Order) -> Result<Applied, ConnectorError>;

    /// The scope a grant of `resource` approves, as `scan` reports it in
    /// `LiveEntitlement::detail` (keys that must match): reconciliation calls
    /// a live row with other values a scope mismatch. Empty: no constraint.
    fn approved_scope(&self, _resource: &str) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}
