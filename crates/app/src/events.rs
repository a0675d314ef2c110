//! Audit event kinds. The codes are stable: they are part of the hashed log, so a
//! code is never renamed, only added.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use writ_core::audit::NewEvent;
use writ_core::ids::RequestId;

pub const IDENTITY_UPSERTED: &str = "identity.upserted";
pub const REQUEST_SUBMITTED: &str = "request.submitted";
/// Filed as a help-desk type but naming access: sent down the governed path.
pub const REQUEST_REROUTED: &str = "request.rerouted";
pub const POLICY_DECIDED: &str = "policy.decided";
pub const REQUEST_DENIED: &str = "request.denied";
pub const REQUEST_APPROVED: &str = "request.approved";
pub const REVIEW_RECORDED: &str = "review.recorded";
pub const REQUEST_CANCELLED: &str = "request.cancelled";
pub const REQUEST_LAPSED: &str = "request.lapsed";
pub const TASK_OPENED: &str = "task.opened";
pub const TASK_COMPLETED: &str = "task.completed";
pub const TASK_CANCELLED: &str = "task.cancelled";
pub const GRANT_STARTED: &str = "grant.started";
pub const ENTITLEMENT_VERIFIED: &str = "entitlement.verified";
pub const REQUEST_ACTIVATED: &str = "request.activated";
pub const ENTITLEMENT_FAILED: &str = "entitlement.failed";
pub const REQUEST_PARTIALLY_FULFILLED: &str = "request.partially_fulfilled";
pub const REQUEST_FAILED: &str = "request.failed";
pub const GRANT_EXPIRING: &str = "grant.expiring";
pub const GRANT_REVOCATION_REQUESTED: &str = "grant.revocation_requested";
pub const GRANT_REVOKING: &str = "grant.revoking";
pub const GRANT_ENDED_COVERED: &str = "grant.ended_covered";
pub const GRANT_REMOVAL_VERIFIED: &str = "grant.removal_verified";
pub const GRANT_REMOVAL_FAILED: &str = "grant.removal_failed";
pub const GRANT_REMOVAL_ATTESTED: &str = "grant.removal_attested";
pub const GRANT_REMOVAL_CLOSED_BY_HAND: &str = "grant.removal_closed_by_hand";
pub const TOKEN_ISSUED: &str = "token.issued";
pub const TOKEN_REVOKED: &str = "token.revoked";
pub const REQUEST_AWAITING_REVIEW: &str = "request.awaiting_review";
pub const GRANT_REMOVAL_OVERDUE: &str = "grant.removal_overdue";
/// An open approval stage reached its reminder point: its approvers are reminded.
pub const REQUEST_STAGE_REMINDED: &str = "request.stage_reminded";
/// An open approval stage passed its SLA: escalated, its escalation may approve it.
pub const REQUEST_STAGE_ESCALATED: &str = "request.stage_escalated";
pub const GRANT_EXTENSION_REQUESTED: &str = "grant.extension_requested";
pub const BREAK_GLASS_USED: &str = "break_glass.used";
pub const BREAK_GLASS_REVIEWED: &str = "break_glass.reviewed";
pub const BREAK_GLASS_REVIEW_OVERDUE: &str = "break_glass.review_overdue";
pub const BREAK_GLASS_RESOLVED: &str = "break_glass.resolved";
pub const NOTIFICATION_DELIVERED: &str = "notification.delivered";
pub const NOTIFICATION_ABANDONED: &str = "notification.abandoned";
pub const RECONCILE_RUN: &str = "reconcile.run";
pub const RECONCILE_FOUND: &str = "reconcile.found";
pub const RECONCILE_ADOPTED: &str = "reconcile.adopted";
pub const GRANT_REPROVISION_QUEUED: &str = "grant.reprovision_queued";
pub const GRANT_REPROVISIONED: &str = "grant.reprovisioned";
pub const GRANT_REPROVISION_FAILED: &str = "grant.reprovision_failed";
pub const IDENTITY_MOVED: &str = "identity.moved";
pub const GRANT_REDECIDED: &str = "grant.redecided";
pub const IDENTITY_OWNER_LEFT: &str = "identity.owner_left";
pub const IDENTITY_OWNER_LEFT_OVERDUE: &str = "identity.owner_left_overdue";
pub const IDENTITY_OWNER_LEFT_SETTLED: &str = "identity.owner_left_settled";
/// A ticket was taken in: what it said, the prediction, where it went.
pub const TICKET_RECEIVED: &str = "ticket.received";
/// A person chose the type of a ticket in triage (against the prediction).
pub const TICKET_TRIAGED: &str = "ticket.triaged";
/// A governed ticket's request was filed.
pub const TICKET_FILED: &str = "ticket.filed";
/// The help desk proofed a ticket's requester.
pub const TICKET_PROOFED: &str = "ticket.proofed";
/// A help-desk ticket was closed (nothing granted).
pub const TICKET_RESOLVED: &str = "ticket.resolved";
/// A help-desk ticket found to change access went to the governed path.
pub const TICKET_REROUTED: &str = "ticket.rerouted";
/// What became of a ticket was written back to its service desk.
pub const TICKET_WRITTEN_BACK: &str = "ticket.written_back";
/// A write-back to a service desk was given up (the desk kept refusing).
pub const TICKET_WRITE_BACK_ABANDONED: &str = "ticket.write_back_abandoned";
/// A service desk's or chat's webhook delivery was accepted (signed, well
/// formed, from a known identity), before Writ acted on it.
pub const WEBHOOK_ACCEPTED: &str = "webhook.accepted";
/// A SCIM provider wrote a user's SCIM record (created, replaced, patched, deleted).
pub const SCIM_USER_WRITTEN: &str = "scim.user.written";
/// A SCIM provider created, changed or deleted a group.
pub const SCIM_GROUP_WRITTEN: &str = "scim.group.written";

/// Builds an event about a request.
pub fn about(request: RequestId, kind: &str, actor: &str, at: DateTime<Utc>, payload: Value) -> NewEvent {
    NewEvent { at, actor: actor.to_owned(), kind: kind.to_owned(), request_id: Some(request.to_string()), payload }
}

/// Builds an event not tied to one request.
pub fn general(kind: &str, actor: &str, at: DateTime<Utc>, payload: Value) -> NewEvent {
    NewEvent { at, actor: actor.to_owned(), kind: kind.to_owned(), request_id: None, payload }
}

pub fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|e| json!({ "unserialisable": e.to_string() }))
}
