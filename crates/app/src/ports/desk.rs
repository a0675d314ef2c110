//! The service-desk port: where requests really start (Request Tracker, …).
//! Writ takes the tickets that wait for it in the desk's queue, and writes
//! back to each ticket what became of it: how it was routed, the request it
//! was filed as (with the link to its evidence), the decision, the access
//! in place and read back, its removal. Write-backs are born from audit
//! events in the commit that records them, as durable jobs (like
//! notifications), so they survive a crash and are retried while the desk
//! is down; the ticket is evidence, the audit log and the targets are truth.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use writ_core::ids::RequestId;

use super::NotifyError;

/// A ticket waiting in the desk's queue for Writ, as the desk holds it.
/// Every field is the desk's raw text: Writ checks each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeskTicket {
    /// Its reference at the desk (RT's ticket number).
    pub external_ref: String,
    /// Who asked, as the desk knows them (an email address, a user name):
    /// matched to a Writ identity by the desk's account attribute.
    pub requester: String,
    pub subject: String,
    pub body: String,
    /// The request type the desk's form stated, if any.
    pub request_type: Option<String>,
    /// The entitlements the desk's form asked for (ids), if any.
    pub entitlements: Vec<String>,
    /// How long (`8h`, `7d`), if stated.
    pub duration: Option<String>,
}

/// What the desk's ticket should say now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeskStatus {
    /// Being worked on (Writ took it in).
    Open,
    /// Done: access in place, or the help desk resolved it.
    Resolved,
    /// Refused: denied, lapsed, cancelled, or a requester Writ does not know.
    Rejected,
}

/// One write-back to a desk's ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskUpdate {
    /// The desk (`request-tracker`) and its ticket.
    pub source: String,
    pub external_ref: String,
    /// The audit event that caused it (`ticket.filed`, `request.approved`…).
    pub event: String,
    /// The request the ticket became, to link it (the desk records its id).
    pub request: Option<RequestId>,
    /// What happened, in sentences, for the people reading the ticket.
    pub note: String,
    /// Whether the requester should read it (a reply) or only the desk's
    /// staff (an internal comment).
    pub to_requester: bool,
    /// The ticket's new status, if it changes.
    pub status: Option<DeskStatus>,
}

/// A service desk Writ takes tickets from and writes back to.
#[async_trait]
pub trait ServiceDesk: Send + Sync {
    /// The ticket source this desk is (`request-tracker`): the `source` of
    /// its tickets in Writ, and how write-backs find it.
    fn source(&self) -> &str;
    /// Where it is, without any secret (logs, the serve banner, events).
    fn describe(&self) -> String;
    /// Every ticket waiting for Writ in its queue (all pages), oldest first.
    async fn waiting(&self) -> Result<Vec<DeskTicket>, NotifyError>;
    /// Writes `update` to its ticket.
    async fn write_back(&self, update: &DeskUpdate) -> Result<(), NotifyError>;
}
