//! The request aggregate and its state machine.
//!
//! ```text
//!   Pending ──reviews pass──▶ Approved ──every entitlement in place──▶ Active
//!      │ deny (sticky) / policy deny ─▶ Denied        │   ▲
//!      │ cancel ─▶ Cancelled   (also from Approved)   │   └ retry completes ┐
//!      └ lapse time passed ─▶ Lapsed                  ├ some in place, some failing ─▶ PartiallyFulfilled
//!                                                     └ nothing in place, all failed ─▶ Failed
//! ```
//! The state of an approved request follows from its per-entitlement
//! fulfilment ([`TargetFulfilment`]), recorded one step at a time.
//! Every transition is a method that either moves to the next state and bumps
//! `version`, or returns a typed error and changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::break_glass::{Origin, PostReview, UseVerdict};
use crate::catalog::{Catalog, StageSpec};
use crate::duration::AccessDuration;
use crate::fulfilment::TargetFulfilment;
use crate::identity::Identity;
use crate::ids::{EntitlementId, IdentityId, RequestId, RequestTypeId};
use crate::request_type::Carried;
use crate::review::{ApprovalTrack, Review, StageRef, Verdict};
use crate::text;
use crate::DomainError;

pub const MAX_ENTITLEMENTS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Approved,
    Active,
    /// Some entitlements are in place and at least one failed or is being retried.
    PartiallyFulfilled,
    /// Approved, but no entitlement could be put in place. Final.
    Failed,
    Denied,
    Cancelled,
    Lapsed,
}

impl RequestState {
    pub const ALL: [RequestState; 8] = [
        RequestState::Pending,
        RequestState::Approved,
        RequestState::Active,
        RequestState::PartiallyFulfilled,
        RequestState::Failed,
        RequestState::Denied,
        RequestState::Cancelled,
        RequestState::Lapsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Active => "active",
            RequestState::PartiallyFulfilled => "partially_fulfilled",
            RequestState::Failed => "failed",
            RequestState::Denied => "denied",
            RequestState::Cancelled => "cancelled",
            RequestState::Lapsed => "lapsed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Final states: nothing moves a request out of them.
    pub fn is_final(self) -> bool {
        matches!(self, RequestState::Denied | RequestState::Cancelled | RequestState::Lapsed | RequestState::Failed)
    }
}

/// What a requester submits, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDraft {
    pub requester: IdentityId,
    pub subject: IdentityId,
    pub entitlements: Vec<EntitlementId>,
    pub justification: String,
    pub duration: AccessDuration,
    pub ticket: Option<String>,
    /// The catalog's request type it is filed as (`application_access` when
    /// not said); its mandatory fields are checked.
    pub request_type: Option<RequestTypeId>,
}

/// A policy decision as recorded in the evidence chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub action: String,
    pub entitlement: EntitlementId,
    pub principal: IdentityId,
    pub allowed: bool,
    pub policy_ids: Vec<String>,
    #[serde(default)]
    pub errors: Vec<String>,
    pub inputs: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    id: RequestId,
    requester: IdentityId,
    subject: IdentityId,
    entitlements: Vec<EntitlementId>,
    justification: String,
    duration: AccessDuration,
    ticket: Option<String>,
    created_at: DateTime<Utc>,
    lapses_at: DateTime<Utc>,
    state: RequestState,
    /// Why the request ended, for denied, cancelled and lapsed requests.
    outcome_reason: Option<String>,
    tracks: Vec<ApprovalTrack>,
    reviews: Vec<Review>,
    decisions: Vec<DecisionRecord>,
    /// Per entitlement, once approved; absent means not started.
    #[serde(default)]
    fulfilment: BTreeMap<EntitlementId, TargetFulfilment>,
    #[serde(default)]
    origin: Origin,
    /// The review a break-glass use owes (only for granted break-glass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    post_review: Option<PostReview>,
    /// The request type it was filed as; absent on requests filed before
    /// request types existed, which were all `application_access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_type: Option<RequestTypeId>,
    /// Filed as a help-desk type but naming access: it was re-routed to the
    /// governed path (anything that changes access is governed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    rerouted: bool,
    updated_at: DateTime<Utc>,
    version: u64,
}

/// What a review did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewEffect {
    pub counted: Vec<StageRef>,
    pub state: RequestState,
}

impl Request {
    /// Validates a draft against the catalog and opens a pending request.
    pub fn open(id: RequestId, draft: RequestDraft, catalog: &Catalog, now: DateTime<Utc>, lapse_after: TimeDelta) -> Result<Self, DomainError> {
        let justification = text::required("justification", &draft.justification, text::MAX_TEXT, "say why this access is needed")?;
        if draft.entitlements.is_empty() {
            return Err(DomainError::invalid("entitlements", "name at least one entitlement"));
        }
        if draft.entitlements.len() > MAX_ENTITLEMENTS {
            return Err(DomainError::invalid("entitlements", format!("at most {MAX_ENTITLEMENTS} per request")));
        }
        let mut seen = BTreeSet::new();
        let mut tracks = Vec::with_capacity(draft.entitlements.len());
        for e in &draft.entitlements {
            if !seen.insert(e) {
                return Err(DomainError::invalid("entitlements", format!("`{e}` is listed twice")));
            }
            let ent = catalog.entitlement(e)?;
            if draft.duration > ent.max_duration {
                return Err(DomainError::invalid(
                    "duration",
                    format!("`{}` is longer than the maximum `{}` for `{e}`: ask for a shorter duration", draft.duration, ent.max_duration),
                ));
            }
            tracks.push(ApprovalTrack::from_entitlement(ent));
        }
        let ticket = match &draft.ticket {
            Some(t) => Some(text::line("ticket", t, text::MAX_TICKET, "name the ticket, e.g. `INC-1234`, or leave it out")?),
            None => None,
        };
        let type_id = draft.request_type.clone().unwrap_or_else(RequestTypeId::unstated);
        let kind = catalog.request_type(&type_id)?;
        kind.require(Carried { entitlements: true, justification: true, duration: true, ticket: ticket.as_deref().is_some_and(|t| !t.is_empty()) })?;
        // It names access (checked above): a help-desk type is re-routed.
        let rerouted = kind.route_for(true) != kind.route;
        Ok(Self {
            id,
            requester: draft.requester,
            subject: draft.subject,
            entitlements: draft.entitlements,
            justification,
            duration: draft.duration,
            ticket,
            created_at: now,
            lapses_at: now + lapse_after,
            state: RequestState::Pending,
            outcome_reason: None,
            tracks,
            reviews: Vec::new(),
            decisions: Vec::new(),
            fulfilment: BTreeMap::new(),
            origin: Origin::Standard,
            post_review: None,
            request_type: draft.request_type.is_some().then_some(type_id),
            rerouted,
            updated_at: now,
            version: 0,
        })
    }

    pub fn id(&self) -> RequestId {
        self.id
    }
    pub fn requester(&self) -> &IdentityId {
        &self.requester
    }
    pub fn subject(&self) -> &IdentityId {
        &self.subject
    }
    pub fn entitlements(&self) -> &[EntitlementId] {
        &self.entitlements
    }
    pub fn justification(&self) -> &str {
        &self.justification
    }
    pub fn duration(&self) -> AccessDuration {
        self.duration
    }
    /// The request type it was filed as (`application_access` for requests
    /// filed before there were types, or without saying).
    pub fn request_type(&self) -> RequestTypeId {
        self.request_type.clone().unwrap_or_else(RequestTypeId::unstated)
    }

    /// Filed as a help-desk type, re-routed to the governed path because it
    /// names access.
    pub fn rerouted(&self) -> bool {
        self.rerouted
    }

    pub fn ticket(&self) -> Option<&str> {
        self.ticket.as_deref()
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn lapses_at(&self) -> DateTime<Utc> {
        self.lapses_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    pub fn state(&self) -> RequestState {
        self.state
    }
    pub fn outcome_reason(&self) -> Option<&str> {
        self.outcome_reason.as_deref()
    }
    pub fn tracks(&self) -> &[ApprovalTrack] {
        &self.tracks
    }
    pub fn reviews(&self) -> &[Review] {
        &self.reviews
    }
    pub fn decisions(&self) -> &[DecisionRecord] {
        &self.decisions
    }
    pub fn fulfilment(&self) -> &BTreeMap<EntitlementId, TargetFulfilment> {
        &self.fulfilment
    }

    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
    pub fn post_review(&self) -> Option<&PostReview> {
        self.post_review.as_ref()
    }

    /// Marks a request just opened as an extension or a break-glass use.
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// Replaces a just-opened request's approval stages by one per
    /// entitlement: its owners, one approval. For access found on a target:
    /// its owners know who should hold it.
    pub fn reviewed_by_owners(mut self) -> Self {
        for t in &mut self.tracks {
            t.stages = vec![crate::review::StageProgress::new(StageSpec::new("owner", crate::catalog::ApproverRule::EntitlementOwners, 1))];
        }
        self
    }

    /// Break-glass: policy allowed the emergency use, so the request is
    /// approved at once, and owes `review` afterwards.
    pub fn approve_break_glass(&mut self, review: PostReview, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.origin != Origin::BreakGlass || self.state != RequestState::Pending || !self.reviews.is_empty() {
            return Err(self.illegal("break the glass for"));
        }
        self.post_review = Some(review);
        self.move_to(RequestState::Approved, now);
        Ok(())
    }

    /// The post-event review of a break-glass use: accept or reject it.
    pub fn review_break_glass(&mut self, reviewer: &Identity, verdict: UseVerdict, note: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        let involved = [&self.requester, &self.subject];
        let review = self
            .post_review
            .as_mut()
            .ok_or_else(|| DomainError::invalid("request", format!("`{}` is not a break-glass use: it has no post-event review", self.id)))?;
        review.review(reviewer, &involved, verdict, note, now)?;
        self.updated_at = now;
        self.version += 1;
        Ok(())
    }

    /// Settles a rejected break-glass use with a note.
    pub fn resolve_break_glass(&mut self, by: &Identity, note: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        let involved = [&self.requester, &self.subject];
        let review = self
            .post_review
            .as_mut()
            .ok_or_else(|| DomainError::invalid("request", format!("`{}` is not a break-glass use: it has no post-event review", self.id)))?;
        review.resolve(by, &involved, note, now)?;
        self.updated_at = now;
        self.version += 1;
        Ok(())
    }

    /// Records, once, that a break-glass review missed its deadline.
    pub fn note_review_overdue(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        let state = self.state;
        let review = self.post_review.as_mut().ok_or_else(|| Self::illegal_in(state, "note an overdue review of"))?;
        review.note_overdue(now)?;
        self.updated_at = now;
        self.version += 1;
        Ok(())
    }

    /// Everyone whose approval counted: they may not fulfil this request.
    pub fn approvers(&self) -> impl Iterator<Item = &IdentityId> {
        self.reviews.iter().filter(|r| r.verdict == Verdict::Approve).map(|r| &r.reviewer)
    }

    /// The stages now waiting for approvals, one per incomplete track.
    pub fn open_stages(&self) -> Vec<(&ApprovalTrack, &StageSpec)> {
        self.tracks.iter().filter_map(|t| t.current().map(|i| (t, &t.stages[i].spec))).collect()
    }

    /// Appends a policy decision to the evidence; decisions never change state.
    pub fn record_decision(&mut self, d: DecisionRecord) {
        self.decisions.push(d);
    }

    fn move_to(&mut self, state: RequestState, now: DateTime<Utc>) {
        self.state = state;
        self.updated_at = now;
        self.version += 1;
    }

    fn illegal(&self, action: &'static str) -> DomainError {
        Self::illegal_in(self.state, action)
    }

    fn illegal_in(state: RequestState, action: &'static str) -> DomainError {
        DomainError::IllegalTransition { entity: "request", state: state.as_str().to_owned(), action }
    }

    /// Policy refused the request at submission. Final.
    pub fn deny_by_policy(&mut self, reason: String, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.state != RequestState::Pending || !self.reviews.is_empty() {
            return Err(self.illegal("deny by policy"));
        }
        self.outcome_reason = Some(reason);
        self.move_to(RequestState::Denied, now);
        Ok(())
    }

    /// Policy approved the request without human review, or no stage needs one.
    pub fn approve_without_review(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.state != RequestState::Pending || !self.reviews.is_empty() {
            return Err(self.illegal("auto-approve"));
        }
        self.move_to(RequestState::Approved, now);
        Ok(())
    }

    /// Whether every track's stages have passed (true when there are none).
    pub fn stages_complete(&self) -> bool {
        self.tracks.iter().all(ApprovalTrack::is_complete)
    }

    /// Applies one review. `subject_manager` is the subject's (effective) manager;
    /// `policy_allows` asks policy whether the reviewer may review at that stage.
    /// A review counts toward every open stage where the reviewer has authority.
    pub fn review(
        &mut self,
        reviewer: &Identity,
        subject_manager: Option<&IdentityId>,
        verdict: Verdict,
        reason: String,
        now: DateTime<Utc>,
        mut policy_allows: impl FnMut(&EntitlementId, &StageSpec) -> bool,
    ) -> Result<ReviewEffect, DomainError> {
        if self.state != RequestState::Pending {
            return Err(self.illegal("review"));
        }
        if now >= self.lapses_at {
            return Err(DomainError::Lapsed { at: self.lapses_at.to_rfc3339() });
        }
        reviewer.require_accountable("review")?;
        if reviewer.id == self.requester {
            return Err(DomainError::SelfReview { reviewer: reviewer.id.to_string() });
        }
        if reviewer.id == self.subject {
            return Err(DomainError::SubjectReview { reviewer: reviewer.id.to_string() });
        }
        if self.reviews.iter().any(|r| r.reviewer == reviewer.id) {
            return Err(DomainError::DuplicateReview { reviewer: reviewer.id.to_string() });
        }
        let reason = match verdict {
            Verdict::Deny => text::required("reason", &reason, text::MAX_TEXT, "a denial needs a reason")?,
            Verdict::Approve => text::optional("reason", &reason, text::MAX_TEXT)?,
        };
        let mut counted = Vec::new();
        let mut open = Vec::new();
        for (ti, track) in self.tracks.iter().enumerate() {
            let Some(si) = track.current() else { continue };
            let stage = &track.stages[si];
            let spec = &stage.spec;
            match &stage.escalated {
                Some(e) => open.push(format!("`{}` stage `{}`: {}, or since its escalation {}", track.entitlement, spec.name, spec.approvers, e.to)),
                None => open.push(format!("`{}` stage `{}`: {}", track.entitlement, spec.name, spec.approvers)),
            }
            if stage.admits(reviewer, &track.owners, subject_manager) && policy_allows(&track.entitlement, spec) {
                counted.push((ti, si));
            }
        }
        if counted.is_empty() {
            return Err(DomainError::NoAuthority { reviewer: reviewer.id.to_string(), stages: open.join("; ") });
        }
        let refs: Vec<StageRef> = counted
            .iter()
            .map(|&(ti, si)| StageRef { entitlement: self.tracks[ti].entitlement.clone(), stage: self.tracks[ti].stages[si].spec.name.clone() })
            .collect();
        self.reviews.push(Review { reviewer: reviewer.id.clone(), verdict, reason: reason.clone(), at: now, counted: refs.clone() });
        match verdict {
            Verdict::Deny => {
                self.outcome_reason = Some(format!("denied by `{}`: {reason}", reviewer.id));
                self.move_to(RequestState::Denied, now);
            }
            Verdict::Approve => {
                for (ti, si) in counted {
                    self.tracks[ti].stages[si].approvals.push(reviewer.id.clone());
                }
                if self.stages_complete() {
                    self.move_to(RequestState::Approved, now);
                } else {
                    self.updated_at = now;
                    self.version += 1;
                }
            }
        }
        Ok(ReviewEffect { counted: refs, state: self.state })
    }

    /// The requester withdraws the request before any access is in place.
    pub fn cancel(&mut self, by: &IdentityId, reason: String, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.require_cancellable("cancel")?;
        if by != &self.requester {
            return Err(DomainError::Forbidden {
                who: by.to_string(),
                action: "cancel this request",
                reason: format!("only its requester `{}` can", self.requester),
            });
        }
        let reason = text::optional("reason", &reason, text::MAX_TEXT)?;
        self.outcome_reason = Some(if reason.is_empty() { format!("cancelled by `{by}`") } else { format!("cancelled by `{by}`: {reason}") });
        self.move_to(RequestState::Cancelled, now);
        Ok(())
    }

    /// Writ withdraws the request before any access is in place, whoever
    /// asked: its subject or its requester can no longer take part (disabled).
    pub fn withdraw(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.require_cancellable("withdraw")?;
        self.outcome_reason = Some(format!("withdrawn: {}", reason.trim()));
        self.move_to(RequestState::Cancelled, now);
        Ok(())
    }

    /// Pending, or approved with nothing in place yet.
    fn require_cancellable(&self, action: &'static str) -> Result<(), DomainError> {
        let in_place = self.fulfilment.values().any(TargetFulfilment::is_done);
        if !matches!(self.state, RequestState::Pending | RequestState::Approved) || in_place {
            return Err(self.illegal(action));
        }
        Ok(())
    }

    /// A pending request whose review window passed. Fails if it is not yet due.
    pub fn lapse(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.state != RequestState::Pending || now < self.lapses_at {
            return Err(self.illegal("lapse"));
        }
        self.outcome_reason = Some(format!("no decision before {}", self.lapses_at.to_rfc3339()));
        self.move_to(RequestState::Lapsed, now);
        Ok(())
    }

    /// Records where the fulfilment of `entitlement` stands, and moves the request
    /// to the state that follows: `Active` once everything is in place,
    /// `PartiallyFulfilled` while some is in place and some failing, `Failed`
    /// when nothing is in place and everything failed. `Done` is sticky.
    pub fn record_fulfilment(&mut self, entitlement: &EntitlementId, status: TargetFulfilment, now: DateTime<Utc>) -> Result<(), DomainError> {
        if !matches!(self.state, RequestState::Approved | RequestState::PartiallyFulfilled) {
            return Err(self.illegal("record fulfilment of"));
        }
        if !self.entitlements.contains(entitlement) {
            return Err(DomainError::invalid("entitlement", format!("`{entitlement}` is not part of request `{}`", self.id)));
        }
        if self.fulfilment.get(entitlement).is_some_and(TargetFulfilment::is_done) {
            return Err(self.illegal("change the fulfilment of an entitlement already in place on"));
        }
        self.fulfilment.insert(entitlement.clone(), status);
        let statuses: Vec<Option<&TargetFulfilment>> = self.entitlements.iter().map(|e| self.fulfilment.get(e)).collect();
        let done = statuses.iter().filter(|s| s.is_some_and(TargetFulfilment::is_done)).count();
        let failing = statuses.iter().any(|s| s.is_some_and(TargetFulfilment::is_failing));
        let all_failed = statuses.iter().all(|s| matches!(s, Some(TargetFulfilment::Failed { .. })));
        let next = if done == statuses.len() {
            RequestState::Active
        } else if done > 0 && failing {
            RequestState::PartiallyFulfilled
        } else if all_failed {
            self.outcome_reason = Some("no entitlement could be put in place".into());
            RequestState::Failed
        } else {
            self.state
        };
        self.move_to(next, now);
        Ok(())
    }
}

#[path = "request_sla.rs"]
mod sla;
pub use sla::{ChaseDue, ChaseStep};

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
