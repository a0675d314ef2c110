//! Notifications. Each is born from an audit event in the commit that records
//! the event (one place decides which events notify: [`notification_for`]), as
//! a durable job, so it survives a crash, is delivered by whichever node claims
//! it, is retried with capped backoff while the receiver fails, and never holds
//! up the workflow that caused it.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;
use writ_core::audit::{AuditEvent, NewEvent};
use writ_core::ids::RequestId;
use writ_core::request::Request;

use crate::events::{self, about};
use crate::ports::{Change, Job, Notification, NotificationKind, StoreError};
use crate::{AppError, Writ};

/// Deliveries tried before a notification is given up (about two hours at the
/// capped backoff); giving up is logged at error level and audited.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 30;

/// The event that says a request waits for reviewers: its open stages and who
/// may approve each.
pub(crate) fn awaiting_review(req: &Request, now: DateTime<Utc>) -> NewEvent {
    let stages: Vec<Value> = req
        .open_stages()
        .into_iter()
        .map(
            |(track, spec)| json!({ "entitlement": track.entitlement, "stage": spec.name, "approvers": spec.approvers.to_string(), "required": spec.required }),
        )
        .collect();
    about(
        req.id(),
        events::REQUEST_AWAITING_REVIEW,
        "system",
        now,
        json!({
            "requester": req.requester(),
            "subject": req.subject(),
            "entitlements": req.entitlements(),
            // What approvers judge by, so a notification can stand alone (Slack's message).
            "justification": req.justification(),
            "duration": req.duration().to_string(),
            "stages": stages,
            "lapses_at": req.lapses_at(),
        }),
    )
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => "?".into(),
        other => other.to_string(),
    }
}

/// The notification an audit event causes, if it causes one.
pub fn notification_for(e: &NewEvent) -> Option<Notification> {
    let p = &e.payload;
    let (kind, summary) = match e.kind.as_str() {
        events::REQUEST_AWAITING_REVIEW => {
            let stages: Vec<String> = p["stages"]
                .as_array()
                .map(|a| a.iter().map(|s| format!("`{}` stage `{}` ({})", text(s, "entitlement"), text(s, "stage"), text(s, "approvers"))).collect())
                .unwrap_or_default();
            (NotificationKind::ApprovalNeeded, format!("access for `{}` waits for review: {}", text(p, "subject"), stages.join("; ")))
        }
        events::REQUEST_STAGE_REMINDED => (
            NotificationKind::ApprovalReminder,
            format!(
                "reminder: access to `{}` for `{}` waits at stage `{}` since {}: {} must review it before {}",
                text(p, "entitlement"),
                text(p, "subject"),
                text(p, "stage"),
                text(p, "opened_at"),
                text(p, "to"),
                text(p, "due_at"),
            ),
        ),
        events::REQUEST_STAGE_ESCALATED => (
            NotificationKind::ApprovalEscalated,
            format!(
                "ESCALATED: access to `{}` for `{}` passed its SLA at stage `{}` ({}) with no decision; {} may now approve it besides {}",
                text(p, "entitlement"),
                text(p, "subject"),
                text(p, "stage"),
                text(p, "due_at"),
                text(p, "to"),
                text(p, "approvers"),
            ),
        ),
        events::GRANT_STARTED => {
            (NotificationKind::AccessGranted, format!("`{}` now holds `{}` until {}", text(p, "subject"), text(p, "entitlement"), text(p, "expires_at")))
        }
        events::BREAK_GLASS_USED => (
            NotificationKind::BreakGlassUsed,
            format!(
                "BREAK-GLASS: `{}` took {} for `{}` without approval ({}); reason: {}; review by {} before {}",
                e.actor,
                p["entitlements"],
                text(p, "subject"),
                text(p, "duration"),
                text(p, "reason"),
                p["reviewers"],
                text(p, "review_due_at"),
            ),
        ),
        events::BREAK_GLASS_REVIEW_OVERDUE => (
            NotificationKind::ReviewOverdue,
            format!(
                "the review of break-glass use by `{}` was due at {} and is not done: {} must review it",
                text(p, "requester"),
                text(p, "due_at"),
                p["reviewers"]
            ),
        ),
        events::GRANT_REMOVAL_OVERDUE => (
            NotificationKind::RevocationOverdue,
            format!(
                "`{}` still holds `{}`: its removal began at {} and is not proved after {} attempts (last error: {})",
                text(p, "subject"),
                text(p, "entitlement"),
                text(p, "since"),
                text(p, "attempts"),
                text(p, "last_error"),
            ),
        ),
        events::IDENTITY_OWNER_LEFT => (
            NotificationKind::OwnerLeft,
            format!(
                "`{}`'s owner `{}` left: {} must give it a new owner or disable it by {}",
                text(p, "identity"),
                text(p, "owner"),
                text(p, "flagged_to"),
                text(p, "due_at")
            ),
        ),
        events::IDENTITY_OWNER_LEFT_OVERDUE => (
            NotificationKind::OwnerLeft,
            format!(
                "OVERDUE: `{}` still has no owner since `{}` left; it was due by {} ({} was asked)",
                text(p, "identity"),
                text(p, "owner"),
                text(p, "due_at"),
                text(p, "flagged_to")
            ),
        ),
        _ => return None,
    };
    Some(Notification {
        id: Uuid::new_v4().to_string(),
        kind,
        at: e.at,
        request: e.request_id.as_deref().and_then(|r| RequestId::parse(r).ok()),
        event: e.kind.clone(),
        payload: p.clone(),
        summary,
    })
}

impl Writ {
    /// Commits `change`, with a delivery job for every notification its events
    /// cause (when a notifier is configured) and every write-back to a
    /// service desk's ticket. Every use-case commits through here.
    pub(crate) async fn commit(&self, mut change: Change) -> Result<Vec<AuditEvent>, StoreError> {
        if self.notifier.is_some() {
            let jobs: Vec<Job> = change.events.iter().filter_map(notification_for).map(|n| Job::notify(n, self.clock.now())).collect();
            change.jobs.extend(jobs);
        }
        if !self.desks.is_empty() {
            let jobs = self.write_back_jobs(&change).await?;
            change.jobs.extend(jobs);
        }
        self.store.commit(change).await
    }

    /// Runs one delivery job: sent, retried later, or given up.
    pub(crate) async fn deliver(&self, job: &Job, n: &Notification) -> Result<(), AppError> {
        let Some(notifier) = &self.notifier else {
            tracing::warn!(notification = %n.id, "no notifier is configured any more; dropping a queued notification");
            return self.finish_job_only(job).await;
        };
        let outcome = notifier.deliver(n).await;
        let receiver = notifier.describe();
        let record = |kind: &str, attempt: u32, extra: Value| {
            let mut payload = json!({ "notification": n.id, "kind": n.kind.as_str(), "event": n.event, "receiver": receiver, "attempt": attempt });
            if let (Value::Object(p), Value::Object(x)) = (&mut payload, extra) {
                p.extend(x);
            }
            let now = self.clock.now();
            match n.request {
                Some(r) => about(r, kind, "system", now, payload),
                None => events::general(kind, "system", now, payload),
            }
        };
        let what = format!("notification {} ({}: {})", n.id, n.kind.as_str(), n.summary);
        self.settle_delivery(job, outcome, &what, events::NOTIFICATION_DELIVERED, events::NOTIFICATION_ABANDONED, record).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, payload: Value) -> NewEvent {
        NewEvent { at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(), actor: "bob".into(), kind: kind.into(), request_id: None, payload }
    }

    #[test]
    fn the_kinds_of_event_that_notify_and_no_other() {
        let cases = [
            (events::REQUEST_AWAITING_REVIEW, NotificationKind::ApprovalNeeded),
            (events::GRANT_STARTED, NotificationKind::AccessGranted),
            (events::BREAK_GLASS_USED, NotificationKind::BreakGlassUsed),
            (events::BREAK_GLASS_REVIEW_OVERDUE, NotificationKind::ReviewOverdue),
            (events::GRANT_REMOVAL_OVERDUE, NotificationKind::RevocationOverdue),
            (events::REQUEST_STAGE_REMINDED, NotificationKind::ApprovalReminder),
            (events::REQUEST_STAGE_ESCALATED, NotificationKind::ApprovalEscalated),
        ];
        for (kind, expected) in cases {
            let n = notification_for(&event(kind, json!({ "subject": "alice" }))).unwrap_or_else(|| panic!("{kind} should notify"));
            assert_eq!(n.kind, expected);
            assert_eq!(n.event, kind);
        }
        for quiet in [events::REQUEST_SUBMITTED, events::NOTIFICATION_DELIVERED, events::NOTIFICATION_ABANDONED, events::POLICY_DECIDED] {
            assert!(notification_for(&event(quiet, json!({}))).is_none(), "{quiet} must not notify");
        }
    }

    #[test]
    fn the_summary_says_who_what_and_until_when() {
        let n = notification_for(&event(
            events::GRANT_STARTED,
            json!({ "subject": "alice", "entitlement": "pg-demo/reporting", "expires_at": "2027-01-15T08:00:00Z" }),
        ))
        .unwrap();
        assert_eq!(n.summary, "`alice` now holds `pg-demo/reporting` until 2027-01-15T08:00:00Z");
    }
}
