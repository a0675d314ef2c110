//! How the fulfilment of each entitlement of an approved request stands.
//!
//! ```text
//!   Queued ──connector──▶ Done (read back)        WithPerson ──task──▶ Done (evidence)
//!     │  └─transient─▶ Retrying ──▶ … ──▶ Done
//!     └────refused / read-back mismatch──▶ Failed
//! ```
//! `Done` is sticky: access that is in place is taken away by revocation (its own
//! path), never by a later fulfilment step.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::TaskId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TargetFulfilment {
    /// Waiting for its connector.
    Queued,
    /// A person in the target's fulfiller group must do it (manual target).
    WithPerson { task: TaskId },
    /// The last attempt failed in a way a retry may fix; tried again at `next_at`.
    Retrying { attempts: u32, error: String, next_at: DateTime<Utc> },
    /// In place: read back from the target (`read_back`), or attested with
    /// evidence by a fulfiller.
    Done { at: DateTime<Utc>, read_back: bool },
    /// Failed for good: the target refused, or the read-back did not show the
    /// access. `error` is the target's own message.
    Failed { error: String, at: DateTime<Utc> },
}

impl TargetFulfilment {
    pub fn as_str(&self) -> &'static str {
        match self {
            TargetFulfilment::Queued => "queued",
            TargetFulfilment::WithPerson { .. } => "with_person",
            TargetFulfilment::Retrying { .. } => "retrying",
            TargetFulfilment::Done { .. } => "done",
            TargetFulfilment::Failed { .. } => "failed",
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, TargetFulfilment::Done { .. })
    }

    /// Failed, or failing and being retried: what makes a request partial.
    pub fn is_failing(&self) -> bool {
        matches!(self, TargetFulfilment::Failed { .. } | TargetFulfilment::Retrying { .. })
    }
}
