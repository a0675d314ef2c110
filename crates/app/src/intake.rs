//! Tickets taken in from where requests really start: a service desk, chat,
//! or free text at the API. Each is routed by its type (stated by the source,
//! or read from its text by the classifier): a governed ticket becomes a Writ
//! request through the same use-case, policy and evidence as any request; a
//! help-desk ticket is proofed and resolved on a path that can never grant
//! access; one the classifier is unsure of waits for a person (triage), whose
//! choice is counted against the prediction.

use serde_json::json;
use uuid::Uuid;
use writ_core::duration::AccessDuration;
use writ_core::identity::Identity;
use writ_core::ids::{EntitlementId, RequestTypeId, TicketId};
use writ_core::request::{Request, RequestDraft};
use writ_core::request_type::{RequestType, Route};
use writ_core::text;
use writ_core::ticket::{Arrival, Disposition, Ticket, TicketState};
use writ_policy::AdminAction;

use crate::events::{self, about, general};
use crate::ports::{Change, Cursor, Page, StoreError, TicketFilter, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::{AppError, Writ};

/// What a governed ticket must say before its request can be filed: which
/// access and for how long (the ticket's own text is the justification
/// unless one is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketDetails {
    pub entitlements: Vec<EntitlementId>,
    pub duration: AccessDuration,
    pub justification: Option<String>,
}

/// A ticket as it stands after [`Writ::take_ticket`].
#[derive(Debug, Clone)]
pub struct TicketTaken {
    pub ticket: Ticket,
    /// The request filed for a governed ticket that said what access it wants.
    pub request: Option<Request>,
    /// The same ticket was taken in before: nothing was written.
    pub already: bool,
    /// Why its request could not be filed (a field missing or wrong), to
    /// tell the requester on the ticket; the ticket waits for details.
    pub not_filed: Option<String>,
}

impl Writ {
    /// Takes a ticket in. `actor` (a service-desk integration or a person)
    /// must be allowed `intake`; the requester must be a known, active
    /// identity (an unknown or disabled one is refused, nothing written); a
    /// second delivery of the same ticket (`source`, `external_ref`) returns
    /// it as it stands and writes nothing. `declared` is a type the source
    /// stated; otherwise the classifier reads the text, and without one the
    /// ticket waits in triage. A governed ticket with `details` is filed as a
    /// request at once, its requester as the requester.
    pub async fn take_ticket(
        &self,
        actor: &Identity,
        arrival: Arrival,
        declared: Option<RequestTypeId>,
        details: Option<TicketDetails>,
    ) -> Result<TicketTaken, AppError> {
        self.authorize(actor, AdminAction::Intake, "take tickets in")?;
        let arrival = arrival.checked()?;
        if let Some(ticket) = self.store.ticket_by_ref(&arrival.source, &arrival.external_ref).await? {
            return Ok(TicketTaken { ticket, request: None, already: true, not_filed: None });
        }
        let requester = self.store.identity(&arrival.requester).await?.filter(Identity::is_active).ok_or_else(|| AppError::Forbidden {
            who: arrival.requester.to_string(),
            action: "file a ticket".into(),
            reason: "no active identity of that name is known to Writ: the ticket is refused".into(),
        })?;
        let (prediction, disposition) = match (&declared, &self.classifier) {
            (Some(t), _) => (None, Disposition::Route(t.clone())),
            (None, Some(c)) => {
                let (p, d) = c.classify(&arrival.subject, &arrival.body);
                (Some(p), d)
            }
            (None, None) => (None, Disposition::Triage),
        };
        let now = self.clock.now();
        let ticket = Ticket::receive(TicketId::from_uuid(Uuid::new_v4()), arrival, prediction, disposition, |t| self.catalog.request_type(t).cloned(), now)?;
        let event = general(
            events::TICKET_RECEIVED,
            actor.id.as_str(),
            now,
            json!({
                "ticket": ticket.id(),
                "source": ticket.arrival().source,
                "external_ref": ticket.arrival().external_ref,
                "requester": ticket.arrival().requester,
                "subject": ticket.arrival().subject,
                "declared": declared,
                "prediction": ticket.prediction(),
                "state": ticket.state(),
            }),
        );
        match self.commit(Change { tickets: vec![Versioned::new(ticket.clone())], events: vec![event], ..Change::default() }).await {
            Ok(_) => {}
            // Delivered twice at once: the other delivery took it in.
            Err(StoreError::Duplicate { .. }) => {
                let a = ticket.arrival();
                let ticket = self
                    .store
                    .ticket_by_ref(&a.source, &a.external_ref)
                    .await?
                    .ok_or_else(|| AppError::NotFound { what: "ticket", id: a.external_ref.clone() })?;
                return Ok(TicketTaken { ticket, request: None, already: true, not_filed: None });
            }
            Err(e) => return Err(e.into()),
        }
        match (details, ticket.state()) {
            (Some(d), TicketState::NeedsDetails { .. }) => self.file_for(&requester, ticket, d).await,
            _ => Ok(TicketTaken { ticket, request: None, already: false, not_filed: None }),
        }
    }

    /// The requester of a governed ticket (or an intake worker for them) says
    /// what access it wants: its request is filed.
    pub async fn complete_ticket(&self, actor: &Identity, id: TicketId, details: TicketDetails) -> Result<TicketTaken, AppError> {
        let ticket = self.load_ticket(id).await?;
        if actor.id != ticket.arrival().requester {
            self.authorize(actor, AdminAction::Intake, "complete others' tickets")?;
        }
        let requester = self.identity(&ticket.arrival().requester).await?;
        self.file_for(&requester, ticket, details).await
    }

    /// Files the request of a governed ticket waiting for details, through
    /// the same use-case as any request, and links the two.
    async fn file_for(&self, requester: &Identity, ticket: Ticket, details: TicketDetails) -> Result<TicketTaken, AppError> {
        let TicketState::NeedsDetails { request_type, .. } = ticket.state().clone() else {
            return Err(writ_core::DomainError::IllegalTransition {
                entity: "ticket",
                state: ticket.state().as_str().to_owned(),
                action: "file a request for",
            }
            .into());
        };
        let a = ticket.arrival();
        let justification = match details.justification.filter(|j| !j.trim().is_empty()) {
            Some(j) => j,
            None => text_of(&a.subject, &a.body),
        };
        let draft = RequestDraft {
            requester: requester.id.clone(),
            subject: requester.id.clone(),
            entitlements: details.entitlements,
            justification,
            duration: details.duration,
            ticket: Some(format!("{}:{}", a.source, a.external_ref)),
            request_type: Some(request_type),
        };
        let request = match self.submit(requester, draft).await {
            Ok(r) => r,
            Err(AppError::Domain(e)) => return Ok(TicketTaken { ticket, request: None, already: false, not_filed: Some(e.to_string()) }),
            Err(e) => return Err(e),
        };
        let ticket = self
            .update_ticket(ticket.id(), |t, now| {
                t.filed(request.id(), now)?;
                Ok(about(request.id(), events::TICKET_FILED, "system", now, json!({ "ticket": t.id(), "external_ref": t.arrival().external_ref })))
            })
            .await?;
        Ok(TicketTaken { ticket, request: Some(request), already: false, not_filed: None })
    }

    /// A person chooses the type of a ticket in triage; the choice is
    /// recorded against the classifier's prediction.
    pub async fn triage_ticket(&self, actor: &Identity, id: TicketId, chosen: &RequestTypeId) -> Result<Ticket, AppError> {
        self.authorize(actor, AdminAction::Intake, "triage tickets")?;
        let kind = self.catalog.request_type(chosen)?.clone();
        self.update_ticket(id, |t, now| {
            t.triage(actor, &kind, now)?;
            let choice = t.triage_choice().cloned();
            Ok(general(
                events::TICKET_TRIAGED,
                actor.id.as_str(),
                now,
                json!({ "ticket": t.id(), "predicted": t.prediction().map(|p| &p.request_type), "chosen": kind.id, "agreed": choice.map(|c| c.agreed), "state": t.state() }),
            ))
        })
        .await
    }

    /// The help desk proofs a ticket's requester (`method`: how).
    pub async fn proof_ticket(&self, actor: &Identity, id: TicketId, method: &str) -> Result<Ticket, AppError> {
        self.authorize(actor, AdminAction::Intake, "proof a requester's identity")?;
        self.update_ticket(id, |t, now| {
            t.proof(actor, method, now)?;
            Ok(general(events::TICKET_PROOFED, actor.id.as_str(), now, json!({ "ticket": t.id(), "requester": t.arrival().requester, "state": t.state() })))
        })
        .await
    }

    /// The help desk closes a proofed ticket with what it did. Nothing is
    /// granted: this path holds no request, grant or job.
    pub async fn resolve_ticket(&self, actor: &Identity, id: TicketId, resolution: &str) -> Result<Ticket, AppError> {
        self.authorize(actor, AdminAction::Intake, "resolve tickets")?;
        self.update_ticket(id, |t, now| {
            t.resolve(actor, resolution, now)?;
            Ok(general(events::TICKET_RESOLVED, actor.id.as_str(), now, json!({ "ticket": t.id(), "state": t.state() })))
        })
        .await
    }

    /// A help-desk ticket found to change access goes to the governed path
    /// as `governed`: the help desk neither decides scope nor approves.
    pub async fn reroute_ticket(&self, actor: &Identity, id: TicketId, governed: &RequestTypeId) -> Result<Ticket, AppError> {
        self.authorize(actor, AdminAction::Intake, "re-route tickets")?;
        let kind: RequestType = self.catalog.request_type(governed)?.clone();
        if kind.route != Route::Governed {
            return Err(writ_core::DomainError::invalid("request_type", format!("`{governed}` is a help-desk type: re-route to a governed one")).into());
        }
        self.update_ticket(id, |t, now| {
            let from = t.state().request_type().cloned();
            t.reroute(&kind, now)?;
            Ok(general(events::TICKET_REROUTED, actor.id.as_str(), now, json!({ "ticket": t.id(), "from": from, "to": kind.id, "state": t.state() })))
        })
        .await
    }

    /// A ticket, for an intake worker, oversight, or its own requester; for
    /// anyone else it does not exist.
    pub async fn ticket(&self, actor: &Identity, id: TicketId) -> Result<Ticket, AppError> {
        let ticket = self.load_ticket(id).await?;
        let allowed = actor.id == ticket.arrival().requester
            || self.admin_decision(actor, AdminAction::Intake).allowed
            || self.admin_decision(actor, AdminAction::ReadAudit).allowed;
        if allowed {
            Ok(ticket)
        } else {
            Err(AppError::NotFound { what: "ticket", id: id.to_string() })
        }
    }

    /// A page of tickets, newest first, in one state if asked (`triage`: the
    /// queue of tickets waiting for a person's choice), for intake workers
    /// and oversight.
    pub async fn list_tickets(&self, actor: &Identity, state: Option<String>, after: Option<Cursor>, limit: u32) -> Result<Page<Ticket>, AppError> {
        if !self.admin_decision(actor, AdminAction::ReadAudit).allowed {
            self.authorize(actor, AdminAction::Intake, "list tickets")?;
        }
        if let Some(s) = &state {
            if !TicketState::NAMES.contains(&s.as_str()) {
                return Err(writ_core::DomainError::invalid("state", format!("`{s}` is not a ticket state (one of {})", TicketState::NAMES.join(", "))).into());
            }
        }
        let limit = crate::query::page_limit(limit)?;
        let mut items = self.store.tickets(&TicketFilter { state, after, limit: limit.saturating_add(1) }).await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = more.then(|| items.last().map(|t| Cursor::new(t.created_at(), t.id()))).flatten();
        Ok(Page { items, next })
    }

    /// Triage choices made, and how many agreed with the classifier: the
    /// categorisation accuracy measured in production.
    pub async fn triage_counts(&self) -> Result<(u64, u64), AppError> {
        Ok(self.store.triage_counts().await?)
    }

    async fn load_ticket(&self, id: TicketId) -> Result<Ticket, AppError> {
        self.store.ticket(id).await?.ok_or_else(|| AppError::NotFound { what: "ticket", id: id.to_string() })
    }

    /// Loads ticket `id`, applies `step` (which records its audit event) and
    /// commits it on the version read, again on a lost race.
    async fn update_ticket(
        &self,
        id: TicketId,
        step: impl Fn(&mut Ticket, chrono::DateTime<chrono::Utc>) -> Result<writ_core::audit::NewEvent, writ_core::DomainError>,
    ) -> Result<Ticket, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut t = self.load_ticket(id).await?;
            let loaded = t.version();
            let now = self.clock.now();
            let event = step(&mut t, now)?;
            if self.committed(Change { tickets: vec![Versioned::update(t.clone(), loaded)], events: vec![event], ..Change::default() }).await? {
                return Ok(t);
            }
        }
        Err(AppError::Conflict { what: "ticket", id: id.to_string() })
    }
}

/// A ticket's subject and body as one justification, within the length a
/// justification may have.
fn text_of(subject: &str, body: &str) -> String {
    let joined = if body.is_empty() { subject.to_owned() } else { format!("{subject}\n\n{body}") };
    joined.chars().take(text::MAX_TEXT).collect()
}
