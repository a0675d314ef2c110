//! What reconciliation reads from and writes to the store.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use writ_core::ids::{EntitlementId, GrantId, IdentityId, RequestId, RunId, TargetId};
use writ_core::reconcile::{Counts, Observation, Reaction};

/// A grant as reconciliation reads it: indexed columns only, no document, so
/// a target's whole ledger (every grant ever made on it) loads fast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub grant: GrantId,
    pub request: RequestId,
    pub subject: IdentityId,
    pub entitlement: EntitlementId,
    /// `active`, `revoking`, `expired` or `revoked` (`GrantState::as_str`).
    pub state: String,
    /// `missing` or `live_after_end` (`Drift::as_str`), or empty.
    pub drift: String,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Finished: every live row and every grant was classified.
    Done,
    /// The target could not be read to the end: nothing was concluded.
    Failed,
}

/// One reconciliation run of one target, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileRun {
    pub id: RunId,
    pub target: TargetId,
    /// Who started it: an identity, or `schedule`.
    pub by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub state: RunState,
    /// Live rows the target showed.
    pub live_rows: u64,
    pub counts: Counts,
    /// Share of live entitlements (ignored ones aside) that trace to an
    /// approved grant.
    pub match_rate: f64,
    /// The reaction configured for each situation during this run.
    pub reactions: BTreeMap<String, Reaction>,
    /// Actions taken, by reaction (`revoke`: 3, …).
    pub actions: BTreeMap<String, u64>,
    /// Why a failed run failed (the target's own error).
    pub error: Option<String>,
}

/// What was done about one observation, when something was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTaken {
    pub reaction: Reaction,
    /// The request that records it (revoke, review, adopt), or the grant's
    /// own request (reprovision).
    pub request: Option<RequestId>,
    pub grant: Option<GrantId>,
    /// What happened, in words (`removal queued`, `refused: …`).
    pub outcome: String,
}

/// One observation of a run, with the action it caused. Matched rows are
/// counted, not stored: a run keeps its exceptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunObservation {
    #[serde(flatten)]
    pub observation: Observation,
    pub action: Option<ActionTaken>,
}

/// A finished run and its observations, written in one transaction with the
/// audit event that records it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub run: ReconcileRun,
    pub observations: Vec<RunObservation>,
}

/// Which runs to list, newest first (`started_at` descending, then id).
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub target: Option<TargetId>,
    /// Only the runs after this one in the list's order.
    pub after: Option<super::Cursor>,
    /// At most this many (at least 1: there is no default).
    pub limit: u32,
}
