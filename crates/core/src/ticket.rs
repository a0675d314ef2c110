//! A ticket taken in from where requests really start (a service desk, chat,
//! free text at the API): what it said, what the classifier made of it, and
//! where it went. A governed ticket becomes a Writ request once it says what
//! access it wants; a help-desk ticket is recorded, the requester's identity
//! proofed and closed on a path that can never grant or widen access (this
//! aggregate holds no grant, request or job, and none of its transitions
//! makes one); a ticket the classifier is unsure of waits in triage for a
//! person's choice, which is recorded against the prediction, so that
//! categorisation accuracy in production is measured.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::identity::Identity;
use crate::ids::{IdentityId, RequestId, RequestTypeId, TicketId};
use crate::request_type::{Field, RequestType, Route};
use crate::text;
use crate::DomainError;

/// The most characters of a ticket's subject.
pub const MAX_SUBJECT: usize = 500;
/// The most characters of a ticket's body.
pub const MAX_BODY: usize = 20_000;

/// What arrived, as the source gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    /// Where it came from, e.g. `request-tracker`, `jira`, `api`.
    pub source: String,
    /// Its reference there (a ticket number), the key that makes a second
    /// delivery of the same ticket a no-op.
    pub external_ref: String,
    pub requester: IdentityId,
    pub subject: String,
    pub body: String,
}

impl Arrival {
    /// Checks and trims the texts: a subject or a body is needed.
    pub fn checked(self) -> Result<Arrival, DomainError> {
        let source = text::line("source", &self.source, 64, "name the system the ticket came from")?;
        let external_ref = text::line("external_ref", &self.external_ref, text::MAX_TICKET, "give the ticket's number in its system")?;
        let subject = text::optional("subject", &self.subject, MAX_SUBJECT)?;
        let body = text::optional("body", &self.body, MAX_BODY)?;
        if subject.is_empty() && body.is_empty() {
            return Err(DomainError::invalid("subject", "a ticket needs a subject or a body: say what is asked"));
        }
        Ok(Arrival { source, external_ref, requester: self.requester, subject, body })
    }
}

/// What the classifier made of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub request_type: RequestTypeId,
    /// In [0, 1].
    pub confidence: f64,
    /// The second most likely type and its confidence.
    pub runner_up: Option<(RequestTypeId, f64)>,
}

/// Where a ticket goes when it arrives (the router's decision on a
/// prediction, or a type the source stated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Route(RequestTypeId),
    /// Nobody can say yet: a person chooses.
    Triage,
}

/// A person's choice of type for a ticket in triage, set against the
/// prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageChoice {
    pub by: IdentityId,
    pub chosen: RequestTypeId,
    /// The classifier had predicted the same type.
    pub agreed: bool,
    pub at: DateTime<Utc>,
}

/// How a help-desk agent proofed the requester's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proofing {
    pub by: IdentityId,
    /// E.g. "called back on the number in the HR record".
    pub method: String,
    pub at: DateTime<Utc>,
}

/// Where a ticket stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TicketState {
    /// Waiting for a person to choose its type.
    Triage,
    /// Governed, but it does not yet say what access (which entitlement,
    /// for how long): waiting for those details.
    NeedsDetails { request_type: RequestTypeId, missing: Vec<Field> },
    /// Governed: the Writ request filed for it carries it on.
    Filed { request_type: RequestTypeId, request: RequestId },
    /// Help-desk: open; the requester's identity is not proofed yet.
    HelpDesk { request_type: RequestTypeId },
    /// Help-desk: the requester's identity is proofed.
    Proofed { request_type: RequestTypeId, proofing: Proofing },
    /// Closed on the help-desk path. Nothing was granted.
    Resolved { request_type: RequestTypeId, proofing: Proofing, by: IdentityId, resolution: String, at: DateTime<Utc> },
}

impl TicketState {
    /// Every state's name, as [`TicketState::as_str`] spells it (for lists
    /// filtered by state and the API's schema).
    pub const NAMES: [&'static str; 6] = ["triage", "needs_details", "filed", "help_desk", "proofed", "resolved"];

    pub fn as_str(&self) -> &'static str {
        match self {
            TicketState::Triage => "triage",
            TicketState::NeedsDetails { .. } => "needs_details",
            TicketState::Filed { .. } => "filed",
            TicketState::HelpDesk { .. } => "help_desk",
            TicketState::Proofed { .. } => "proofed",
            TicketState::Resolved { .. } => "resolved",
        }
    }

    /// The type it was routed as, once it has one.
    pub fn request_type(&self) -> Option<&RequestTypeId> {
        match self {
            TicketState::Triage => None,
            TicketState::NeedsDetails { request_type, .. }
            | TicketState::Filed { request_type, .. }
            | TicketState::HelpDesk { request_type }
            | TicketState::Proofed { request_type, .. }
            | TicketState::Resolved { request_type, .. } => Some(request_type),
        }
    }
}

/// A ticket and its route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    id: TicketId,
    arrival: Arrival,
    prediction: Option<Prediction>,
    triage: Option<TriageChoice>,
    /// A help-desk ticket found to change access was sent to the governed path.
    #[serde(default)]
    rerouted: bool,
    state: TicketState,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: u64,
}

/// What a governed ticket lacks before a request can be filed for it: the
/// type's mandatory fields that a free-text ticket cannot carry by itself.
fn details_missing(t: &RequestType) -> Vec<Field> {
    t.mandatory.iter().copied().filter(|f| matches!(f, Field::Entitlement | Field::Duration)).collect()
}

impl Ticket {
    /// A ticket that just arrived, routed by `disposition`: to triage, to the
    /// help desk, or (governed) waiting for the details a request needs.
    pub fn receive(
        id: TicketId,
        arrival: Arrival,
        prediction: Option<Prediction>,
        disposition: Disposition,
        type_of: impl Fn(&RequestTypeId) -> Result<RequestType, DomainError>,
        now: DateTime<Utc>,
    ) -> Result<Ticket, DomainError> {
        let arrival = arrival.checked()?;
        let state = match disposition {
            Disposition::Triage => TicketState::Triage,
            Disposition::Route(t) => Self::routed(&type_of(&t)?),
        };
        Ok(Ticket { id, arrival, prediction, triage: None, rerouted: false, state, created_at: now, updated_at: now, version: 1 })
    }

    fn routed(t: &RequestType) -> TicketState {
        match t.route {
            Route::HelpDesk => TicketState::HelpDesk { request_type: t.id.clone() },
            Route::Governed => TicketState::NeedsDetails { request_type: t.id.clone(), missing: details_missing(t) },
        }
    }

    /// A person chooses the type of a ticket in triage; the choice is set
    /// against the prediction (`agreed`).
    pub fn triage(&mut self, by: &Identity, chosen: &RequestType, now: DateTime<Utc>) -> Result<(), DomainError> {
        by.require_accountable("triage tickets")?;
        if self.state != TicketState::Triage {
            return Err(self.illegal("triage"));
        }
        let agreed = self.prediction.as_ref().is_some_and(|p| p.request_type == chosen.id);
        self.triage = Some(TriageChoice { by: by.id.clone(), chosen: chosen.id.clone(), agreed, at: now });
        self.state = Self::routed(chosen);
        self.touch(now);
        Ok(())
    }

    /// A governed ticket now has its request.
    pub fn filed(&mut self, request: RequestId, now: DateTime<Utc>) -> Result<(), DomainError> {
        let TicketState::NeedsDetails { request_type, .. } = &self.state else { return Err(self.illegal("file a request for")) };
        self.state = TicketState::Filed { request_type: request_type.clone(), request };
        self.touch(now);
        Ok(())
    }

    /// A help-desk agent proofs the requester's identity (never their own:
    /// the requester cannot vouch for themselves).
    pub fn proof(&mut self, by: &Identity, method: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        by.require_accountable("proof a requester's identity")?;
        if by.id == self.arrival.requester {
            return Err(DomainError::Forbidden {
                who: by.id.to_string(),
                action: "proof their own identity",
                reason: "another help-desk agent must proof it".into(),
            });
        }
        let method = text::required("method", method, text::MAX_TEXT, "say how the identity was proofed, e.g. a call back on the number of record")?;
        let TicketState::HelpDesk { request_type } = &self.state else { return Err(self.illegal("proof the requester of")) };
        self.state = TicketState::Proofed { request_type: request_type.clone(), proofing: Proofing { by: by.id.clone(), method, at: now } };
        self.touch(now);
        Ok(())
    }

    /// Closes a proofed help-desk ticket with what was done. Nothing is
    /// granted: a help-desk resolution is recorded, not provisioned.
    pub fn resolve(&mut self, by: &Identity, resolution: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        by.require_accountable("resolve tickets")?;
        let resolution = text::required("resolution", resolution, text::MAX_TEXT, "say what was done")?;
        let TicketState::Proofed { request_type, proofing } = &self.state else {
            return Err(match self.state {
                TicketState::HelpDesk { .. } => DomainError::invalid("ticket", "the requester's identity must be proofed before the ticket is resolved"),
                _ => self.illegal("resolve"),
            });
        };
        self.state = TicketState::Resolved { request_type: request_type.clone(), proofing: proofing.clone(), by: by.id.clone(), resolution, at: now };
        self.touch(now);
        Ok(())
    }

    /// A help-desk ticket found to change access goes to the governed path
    /// (as `governed`): the agent cannot decide it.
    pub fn reroute(&mut self, governed: &RequestType, now: DateTime<Utc>) -> Result<(), DomainError> {
        if governed.route != Route::Governed {
            return Err(DomainError::invalid("request_type", format!("`{}` is not a governed type", governed.id)));
        }
        if !matches!(self.state, TicketState::HelpDesk { .. } | TicketState::Proofed { .. }) {
            return Err(self.illegal("re-route"));
        }
        self.state = Self::routed(governed);
        self.rerouted = true;
        self.touch(now);
        Ok(())
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = now;
        self.version += 1;
    }

    fn illegal(&self, action: &'static str) -> DomainError {
        DomainError::IllegalTransition { entity: "ticket", state: self.state.as_str().to_owned(), action }
    }

    pub fn id(&self) -> TicketId {
        self.id
    }
    pub fn arrival(&self) -> &Arrival {
        &self.arrival
    }
    pub fn prediction(&self) -> Option<&Prediction> {
        self.prediction.as_ref()
    }
    pub fn triage_choice(&self) -> Option<&TriageChoice> {
        self.triage.as_ref()
    }
    pub fn rerouted(&self) -> bool {
        self.rerouted
    }
    pub fn state(&self) -> &TicketState {
        &self.state
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    pub fn version(&self) -> u64 {
        self.version
    }
}

#[cfg(test)]
#[path = "ticket_tests.rs"]
mod tests;
