//! Service desks (see `ports::desk`): tickets taken from the desk's queue,
//! and what became of each written back to it. One place decides which
//! audit events are written back and what they say: [`update_for`].

use std::sync::Arc;

use serde_json::{json, Value};
use writ_core::audit::NewEvent;
use writ_core::duration::AccessDuration;
use writ_core::identity::Identity;
use writ_core::ids::{EntitlementId, RequestId, RequestTypeId, TicketId};
use writ_core::request::Request;
use writ_core::ticket::{Arrival, Ticket, TicketState};

use crate::events::{self, about, general};
use crate::intake::TicketDetails;
use crate::ports::{Change, DeskStatus, DeskTicket, DeskUpdate, Job, NotifyError, ServiceDesk, StoreError};
use crate::{AppError, Writ};

/// What one poll of a desk did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    /// Tickets taken in now.
    pub taken: usize,
    /// Tickets taken in before (their write-back is still to come).
    pub already: usize,
    /// Tickets refused (a requester Writ does not know, or disabled): the
    /// desk was told why; nothing was written in Writ.
    pub refused: usize,
}

impl Writ {
    /// Takes in every ticket waiting in `source`'s queue, as `actor` (the
    /// desk's integration identity, allowed `intake`). The requester is the
    /// identity holding the desk's account (`account_attribute`, e.g.
    /// `email`); an unknown or disabled one is refused and the desk told
    /// so, with nothing written in Writ. A ticket taken in before changes
    /// nothing: the desk sees it as taken once its first write-back lands.
    pub async fn poll_desk(&self, actor: &Identity, source: &str, account_attribute: &str) -> Result<Polled, AppError> {
        let desk = self.desk(source)?;
        self.authorize(actor, writ_policy::AdminAction::Intake, "take tickets in")?;
        let waiting = desk.waiting().await.map_err(|e| AppError::DeskUnavailable { desk: desk.describe(), reason: e.to_string() })?;
        let mut polled = Polled::default();
        for t in waiting {
            let requester = match self.identity_by_attribute(account_attribute, &t.requester).await {
                Ok(i) => i,
                Err(AppError::Forbidden { reason, .. }) => {
                    self.refuse_at_desk(&desk, &t, &reason).await;
                    polled.refused += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (declared, details, unread) = read_form(&t);
            let arrival = Arrival {
                source: source.to_owned(),
                external_ref: t.external_ref.clone(),
                requester: requester.id.clone(),
                subject: t.subject.clone(),
                body: t.body.clone(),
            };
            match self.take_ticket(actor, arrival, declared, details).await {
                Ok(taken) if taken.already => polled.already += 1,
                Ok(taken) => {
                    polled.taken += 1;
                    if let Some(why) = unread.or(taken.not_filed) {
                        // Not an event (nothing changed in Writ): the desk is told at once.
                        let note = format!("Writ could not file a request from this ticket's form yet: {why}");
                        self.tell_desk(&desk, &t.external_ref, events::TICKET_RECEIVED, note).await;
                    }
                }
                Err(AppError::Domain(e)) => {
                    self.refuse_at_desk(&desk, &t, &e.to_string()).await;
                    polled.refused += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(polled)
    }

    fn desk(&self, source: &str) -> Result<Arc<dyn ServiceDesk>, AppError> {
        self.desks.get(source).cloned().ok_or_else(|| AppError::NotFound { what: "service desk", id: source.to_owned() })
    }

    /// Tells the desk that its ticket is refused (best effort: a failure is
    /// logged, and the ticket, still waiting, is read again next poll).
    async fn refuse_at_desk(&self, desk: &Arc<dyn ServiceDesk>, t: &DeskTicket, reason: &str) {
        let update = DeskUpdate {
            source: desk.source().to_owned(),
            external_ref: t.external_ref.clone(),
            event: "ticket.refused".into(),
            request: None,
            note: format!("Writ cannot take this ticket in: {reason}. Ask the service desk to link your account to your Writ identity, then file it again."),
            to_requester: true,
            status: Some(DeskStatus::Rejected),
        };
        if let Err(e) = desk.write_back(&update).await {
            tracing::warn!(desk = %desk.describe(), ticket = %t.external_ref, error = %e, "could not tell the desk its ticket is refused; it is read again next poll");
        }
    }

    async fn tell_desk(&self, desk: &Arc<dyn ServiceDesk>, external_ref: &str, event: &str, note: String) {
        let update = DeskUpdate {
            source: desk.source().to_owned(),
            external_ref: external_ref.to_owned(),
            event: event.to_owned(),
            request: None,
            note,
            to_requester: true,
            status: None,
        };
        if let Err(e) = desk.write_back(&update).await {
            tracing::warn!(desk = %desk.describe(), ticket = %external_ref, error = %e, "could not write to the desk's ticket");
        }
    }

    /// The write-back jobs `change`'s events cause, for tickets of a
    /// configured desk. Requests and tickets not in the change are read.
    pub(crate) async fn write_back_jobs(&self, change: &Change) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::new();
        for e in &change.events {
            let Some(target) = self.ticket_of(e, change).await? else { continue };
            if !self.desks.contains_key(&target.source) {
                continue;
            }
            if let Some(update) = update_for(e, &target) {
                jobs.push(Job::write_back(update, self.clock.now()));
            }
        }
        Ok(jobs)
    }

    /// The desk ticket an event concerns: the ticket of a ticket event, or
    /// the ticket a request was filed from.
    async fn ticket_of(&self, e: &NewEvent, change: &Change) -> Result<Option<DeskTarget>, StoreError> {
        if e.kind.starts_with("ticket.") {
            let Some(id) = e.payload["ticket"].as_str().and_then(|t| TicketId::parse(t).ok()) else { return Ok(None) };
            let ticket = match change.tickets.iter().find(|t| t.value.id() == id) {
                Some(t) => Some(t.value.clone()),
                None => self.store.ticket(id).await?,
            };
            return Ok(ticket.map(|t| DeskTarget::of_ticket(&t)));
        }
        if !WRITTEN_BACK.contains(&e.kind.as_str()) {
            return Ok(None);
        }
        let Some(id) = e.request_id.as_deref().and_then(|r| RequestId::parse(r).ok()) else { return Ok(None) };
        let request = match change.requests.iter().find(|r| r.value.id() == id) {
            Some(r) => Some(r.value.clone()),
            None => self.store.request(id).await?,
        };
        Ok(request.and_then(|r| DeskTarget::of_request(&r)))
    }

    /// Runs one write-back job: written, retried later, or given up.
    pub(crate) async fn run_write_back(&self, job: &Job, update: &DeskUpdate) -> Result<(), AppError> {
        let Some(desk) = self.desks.get(&update.source).cloned() else {
            tracing::warn!(desk = %update.source, "the desk is not configured any more; dropping a queued write-back");
            return self.finish_job_only(job).await;
        };
        let outcome = desk.write_back(update).await;
        let receiver = desk.describe();
        let record = |kind: &str, attempt: u32, extra: Value| {
            let mut payload =
                json!({ "desk": update.source, "external_ref": update.external_ref, "event": update.event, "receiver": receiver, "attempt": attempt });
            if let (Value::Object(p), Value::Object(x)) = (&mut payload, extra) {
                p.extend(x);
            }
            match update.request {
                Some(r) => about(r, kind, "system", self.clock.now(), payload),
                None => general(kind, "system", self.clock.now(), payload),
            }
        };
        self.settle_delivery(
            job,
            outcome,
            &format!("write-back to {}", update.external_ref),
            events::TICKET_WRITTEN_BACK,
            events::TICKET_WRITE_BACK_ABANDONED,
            record,
        )
        .await
    }

    /// Records one attempt at a delivery job (a notification, a write-back):
    /// done (`delivered` event), retried later with capped backoff while the
    /// receiver fails transiently, or given up (`abandoned` event).
    pub(crate) async fn settle_delivery(
        &self,
        job: &Job,
        outcome: Result<(), NotifyError>,
        what: &str,
        delivered: &str,
        abandoned: &str,
        record: impl Fn(&str, u32, Value) -> NewEvent,
    ) -> Result<(), AppError> {
        let attempts = job.attempts + 1;
        let now = self.clock.now();
        let mut change = Change::default();
        match outcome {
            Ok(()) => {
                change.events.push(record(delivered, attempts, json!({})));
                change.finished_jobs.push(job.id.clone());
            }
            Err(NotifyError::Transient(e)) if attempts < crate::notify::MAX_DELIVERY_ATTEMPTS => {
                let next_at = now + crate::fulfil::backoff(attempts);
                tracing::warn!(job = %job.id, attempts, error = %e, next_at = %next_at, "{what} not delivered; retrying");
                change.jobs.push(Job { due_at: next_at, attempts, ..job.clone() });
            }
            Err(e) => {
                tracing::error!(job = %job.id, attempts, error = %e, "{what} given up");
                change.events.push(record(abandoned, attempts, json!({ "error": e.to_string() })));
                change.finished_jobs.push(job.id.clone());
            }
        }
        self.commit(change).await?;
        Ok(())
    }
}

/// Request events written back to the ticket the request was filed from.
const WRITTEN_BACK: [&str; 9] = [
    events::REQUEST_STAGE_ESCALATED,
    events::REQUEST_APPROVED,
    events::REQUEST_DENIED,
    events::REQUEST_LAPSED,
    events::REQUEST_CANCELLED,
    events::GRANT_STARTED,
    events::REQUEST_ACTIVATED,
    events::REQUEST_FAILED,
    events::GRANT_REMOVAL_VERIFIED,
];

/// A desk ticket, and what Writ knows of it when an event concerns it.
#[derive(Debug, Clone)]
struct DeskTarget {
    source: String,
    external_ref: String,
    ticket: Option<Ticket>,
    request: Option<Request>,
}

impl DeskTarget {
    fn of_ticket(t: &Ticket) -> DeskTarget {
        DeskTarget { source: t.arrival().source.clone(), external_ref: t.arrival().external_ref.clone(), ticket: Some(t.clone()), request: None }
    }

    /// A request filed from a ticket records it as `source:external_ref`.
    fn of_request(r: &Request) -> Option<DeskTarget> {
        let (source, external_ref) = r.ticket()?.split_once(':')?;
        Some(DeskTarget { source: source.to_owned(), external_ref: external_ref.to_owned(), ticket: None, request: Some(r.clone()) })
    }
}

/// What the desk's ticket should say after event `e`, if anything.
fn update_for(e: &NewEvent, target: &DeskTarget) -> Option<DeskUpdate> {
    let p = &e.payload;
    let text = |key: &str| p[key].as_str().unwrap_or("?").to_owned();
    let request = target.request.as_ref().map(Request::id).or_else(|| match target.ticket.as_ref()?.state() {
        TicketState::Filed { request, .. } => Some(*request),
        _ => None,
    });
    let reason = || target.request.as_ref().and_then(|r| r.outcome_reason()).unwrap_or("no reason was given").to_owned();
    let (note, to_requester, status) = match e.kind.as_str() {
        events::TICKET_RECEIVED => match target.ticket.as_ref()?.state() {
            TicketState::NeedsDetails { request_type, .. } => (
                format!("Writ took this ticket in as a governed request ({request_type}): it is decided by policy and named approvers, never by the desk. It needs which access and for how long before it can be filed."),
                true,
                Some(DeskStatus::Open),
            ),
            TicketState::HelpDesk { request_type } => (
                format!("Writ took this ticket in as {request_type}, a help-desk matter: the desk proofs your identity and resolves it. This path cannot grant or widen access."),
                true,
                Some(DeskStatus::Open),
            ),
            TicketState::Triage => ("Writ could not tell what kind of request this is with enough confidence: a person will choose its type.".into(), true, Some(DeskStatus::Open)),
            _ => return None,
        },
        events::TICKET_TRIAGED => (format!("Triage: `{}` chose the type {}.", e.actor, text("chosen")), false, None),
        events::TICKET_REROUTED => (format!("This ticket changes access: re-routed to the governed path as {}.", text("to")), true, None),
        events::TICKET_FILED => (format!("Filed as Writ request {}: it is decided by policy and its approvers.", request?), true, Some(DeskStatus::Open)),
        events::TICKET_PROOFED => (format!("The requester's identity was proofed by `{}`.", e.actor), false, None),
        events::TICKET_RESOLVED => {
            let resolution = match target.ticket.as_ref()?.state() {
                TicketState::Resolved { resolution, .. } => resolution.clone(),
                _ => String::new(),
            };
            (format!("Resolved by the help desk (`{}`): {resolution}. No access was granted or changed.", e.actor), true, Some(DeskStatus::Resolved))
        }
        events::REQUEST_STAGE_ESCALATED => (
            format!(
                "Stage `{}` of {} waited past its service level: escalated to {}, who may now approve it.",
                text("stage"),
                text("entitlement"),
                text("to")
            ),
            true,
            None,
        ),
        events::REQUEST_APPROVED => ("Approved by its approvers: the access is being put in place on its targets.".into(), true, None),
        events::REQUEST_DENIED => (format!("Denied: {}.", reason()), true, Some(DeskStatus::Rejected)),
        events::REQUEST_LAPSED => ("No decision was made in time: the request lapsed. File a new one if the access is still needed.".into(), true, Some(DeskStatus::Rejected)),
        events::REQUEST_CANCELLED => (format!("Cancelled: {}.", reason()), true, Some(DeskStatus::Rejected)),
        events::GRANT_STARTED => (
            format!("Access to {} is in place for `{}` until {}: read back from the target and verified.", text("entitlement"), text("subject"), text("expires_at")),
            true,
            None,
        ),
        events::REQUEST_ACTIVATED => ("All the access asked for is in place and verified on its targets. It ends by itself when its time is up.".into(), true, Some(DeskStatus::Resolved)),
        events::REQUEST_FAILED => ("Putting the access in place failed on its target: Writ's operators are told; nothing is held.".into(), true, None),
        events::GRANT_REMOVAL_VERIFIED => (format!("Access to {} was removed, and its removal read back from the target.", text("entitlement")), true, None),
        _ => return None,
    };
    Some(DeskUpdate { source: target.source.clone(), external_ref: target.external_ref.clone(), event: e.kind.clone(), request, note, to_requester, status })
}

/// The type and details a desk's form stated, each checked: a value that
/// does not read is left out and named (the ticket is still taken in).
fn read_form(t: &DeskTicket) -> (Option<RequestTypeId>, Option<TicketDetails>, Option<String>) {
    let mut unread = Vec::new();
    let declared = t.request_type.as_deref().map(str::trim).filter(|s| !s.is_empty()).and_then(|s| match RequestTypeId::parse(s) {
        Ok(id) => Some(id),
        Err(e) => {
            unread.push(format!("the request type `{s}` ({e})"));
            None
        }
    });
    let mut entitlements = Vec::new();
    for raw in &t.entitlements {
        match EntitlementId::parse(raw.trim()) {
            Ok(e) => entitlements.push(e),
            Err(e) => unread.push(format!("the entitlement `{raw}` ({e})")),
        }
    }
    let duration = t.duration.as_deref().map(str::trim).filter(|s| !s.is_empty()).and_then(|s| match AccessDuration::parse(s) {
        Ok(d) => Some(d),
        Err(e) => {
            unread.push(format!("the duration `{s}` ({e})"));
            None
        }
    });
    let details = match (entitlements.is_empty(), duration) {
        (false, Some(duration)) => Some(TicketDetails { entitlements, duration, justification: None }),
        _ => None,
    };
    let unread = (!unread.is_empty()).then(|| unread.join("; "));
    (declared, details, unread)
}
