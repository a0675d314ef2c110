//! The notification port: how Writ tells people that something needs them or
//! happened. A notification is born from an audit event in the same commit, as
//! a durable job, so delivery is retried from the store and never blocks the
//! workflow, and every notification traces to the event that caused it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use writ_core::ids::RequestId;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A request waits for a review stage.
    ApprovalNeeded,
    /// Access is in place (a grant started).
    AccessGranted,
    /// Someone broke the glass: emergency access without approval.
    BreakGlassUsed,
    /// A break-glass use was not reviewed by its deadline.
    ReviewOverdue,
    /// A grant's access is still not proved removed past the overdue window.
    RevocationOverdue,
    /// A non-human identity's owner left: its owner's manager must give it a
    /// new owner or disable it (and again once that is overdue).
    OwnerLeft,
    /// A request waits at a stage past its reminder point.
    ApprovalReminder,
    /// A request waits at a stage past its SLA: escalated.
    ApprovalEscalated,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 8] = [
        NotificationKind::ApprovalNeeded,
        NotificationKind::AccessGranted,
        NotificationKind::BreakGlassUsed,
        NotificationKind::ReviewOverdue,
        NotificationKind::RevocationOverdue,
        NotificationKind::OwnerLeft,
        NotificationKind::ApprovalReminder,
        NotificationKind::ApprovalEscalated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::ApprovalNeeded => "approval_needed",
            NotificationKind::AccessGranted => "access_granted",
            NotificationKind::BreakGlassUsed => "break_glass_used",
            NotificationKind::ReviewOverdue => "review_overdue",
            NotificationKind::RevocationOverdue => "revocation_overdue",
            NotificationKind::OwnerLeft => "owner_left",
            NotificationKind::ApprovalReminder => "approval_reminder",
            NotificationKind::ApprovalEscalated => "approval_escalated",
        }
    }
}

/// One notification, as sent: the audit event that caused it (its kind and
/// payload, which the audit log already holds, so nothing secret) and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique; a receiver can use it to drop a redelivery.
    pub id: String,
    pub kind: NotificationKind,
    pub at: DateTime<Utc>,
    pub request: Option<RequestId>,
    /// The audit event kind (`break_glass.used`, …) and its payload.
    pub event: String,
    pub payload: serde_json::Value,
    /// What happened, in a sentence.
    pub summary: String,
}

/// Why a delivery failed, and whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotifyError {
    /// The receiver is down, timed out or answered 5xx/429: retried later.
    #[error("notification receiver unavailable: {0} (Writ will retry)")]
    Transient(String),
    /// The receiver refused it (4xx): retrying the same body will not help.
    #[error("notification receiver refused: {0}")]
    Permanent(String),
}

/// Delivers notifications somewhere (a webhook).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Where it delivers, without any secret (for logs and `writ serve`'s banner).
    fn describe(&self) -> String;

    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError>;
}
