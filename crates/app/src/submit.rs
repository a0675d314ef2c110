//! Submitting a request: validate, ask policy, check toxic combinations, and either
//! deny, approve at once, or open the approval stages.

use serde_json::json;
use uuid::Uuid;
use writ_core::break_glass::Origin;
use writ_core::duration::AccessDuration;
use writ_core::identity::Identity;
use writ_core::ids::{GrantId, IdentityId, RequestId};
use writ_core::request::{Request, RequestDraft, RequestState};
use writ_core::sod::{check_toxic, holdings, Counting};
use writ_policy::{DecisionQuery, PolicyAction};

use crate::events::{self, about};
use crate::facts::{self, Parties};
use crate::ports::{Change, HoldingsGuard, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::{AppError, Writ};

/// The `request.submitted` event of `req`, opened by `actor`.
pub(crate) fn submitted(req: &Request, actor: &str, now: chrono::DateTime<chrono::Utc>) -> writ_core::audit::NewEvent {
    about(
        req.id(),
        events::REQUEST_SUBMITTED,
        actor,
        now,
        json!({
            "origin": req.origin(),
            "requester": req.requester(),
            "subject": req.subject(),
            "entitlements": req.entitlements(),
            "justification": req.justification(),
            "duration": req.duration(),
            "ticket": req.ticket(),
            "request_type": req.request_type(),
            "lapses_at": req.lapses_at(),
        }),
    )
}

/// Where access is about to come into being, for the separation-of-duties
/// check (see [`Writ::receive_refusal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receiving {
    Approval,
    Fulfilment,
}

/// What a separation-of-duties check found: why the access may not be
/// received, if so, and the guard of the holdings it read (none when it read
/// none).
pub(crate) struct SodCheck {
    pub refusal: Option<String>,
    pub guard: Option<HoldingsGuard>,
}

/// A request just opened, not yet committed: who it is for, when, and what
/// its commit will write.
pub(crate) struct Opening {
    pub req: Request,
    pub subject: Identity,
    pub manager: Option<IdentityId>,
    pub now: chrono::DateTime<chrono::Utc>,
    pub change: Change,
}

impl Writ {
    /// `actor` submits `draft` (whose requester must be `actor`). A policy refusal or a
    /// toxic combination is not an error: the request is recorded as denied, with the
    /// decision in its evidence.
    pub async fn submit(&self, actor: &Identity, draft: RequestDraft) -> Result<Request, AppError> {
        self.submit_from(actor, draft, Origin::Standard, Change::default()).await
    }

    /// `actor`, who holds grant `id` (or asked for it), asks to keep its access
    /// `duration` longer: a new request for the same subject and entitlement,
    /// through policy and approval like any other, linked to the grant and its
    /// request (whose evidence records the ask). Never an edit of the expiry:
    /// the new grant starts when approved, and the two overlap.
    pub async fn request_extension(
        &self,
        actor: &Identity,
        id: GrantId,
        duration: AccessDuration,
        justification: String,
        ticket: Option<String>,
    ) -> Result<Request, AppError> {
        let g = self.store.grant(id).await?.ok_or_else(|| AppError::NotFound { what: "grant", id: id.to_string() })?;
        let original = self.load_request(g.request_id()).await?;
        if !g.is_in_force(self.clock.now()) {
            return Err(AppError::Domain(writ_core::DomainError::invalid(
                "grant",
                format!("`{id}` is {} and cannot be extended: request the access anew", g.state().as_str()),
            )));
        }
        if &actor.id != g.subject() && &actor.id != original.requester() {
            return Err(AppError::Forbidden {
                who: actor.id.to_string(),
                action: format!("extend grant `{id}`"),
                reason: format!("only its holder `{}` or the requester `{}` can ask", g.subject(), original.requester()),
            });
        }
        let draft = RequestDraft {
            requester: actor.id.clone(),
            subject: g.subject().clone(),
            entitlements: vec![g.entitlement().clone()],
            justification,
            duration,
            ticket,
            request_type: None,
        };
        let now = self.clock.now();
        let origin = Origin::Extension { grant: id, request: g.request_id() };
        // The original's evidence chain names the ask; the new request's id is
        // added by `submit_from` once it exists.
        let mut linked = Change::default();
        linked.events.push(about(
            g.request_id(),
            events::GRANT_EXTENSION_REQUESTED,
            actor.id.as_str(),
            now,
            json!({
                "grant": id,
                "entitlement": g.entitlement(),
                "expires_at": g.expires_at(),
                "duration": duration,
            }),
        ));
        self.submit_from(actor, draft, origin, linked).await
    }

    /// Opens a request of `origin` and settles it as far as policy allows at
    /// once; `linked` holds events about other requests to commit with it (the
    /// new request's id is added to their payloads as `extension_request`).
    async fn submit_from(&self, actor: &Identity, draft: RequestDraft, origin: Origin, linked: Change) -> Result<Request, AppError> {
        self.on_fresh_holdings(|| self.submit_once(actor, draft.clone(), origin.clone(), linked.clone())).await
    }

    /// Runs `submission` again (a new request each time: a lost attempt
    /// wrote nothing) while it loses the race on its subject's holdings
    /// guard, so it is decided on holdings that include the winner's.
    pub(crate) async fn on_fresh_holdings<F, Fut>(&self, mut submission: F) -> Result<Request, AppError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Request, AppError>>,
    {
        let mut lost = None;
        for _ in 0..MAX_ATTEMPTS {
            match submission().await {
                Err(e @ AppError::Conflict { what: HoldingsGuard::CONFLICT, .. }) => lost = Some(e),
                settled => return settled,
            }
        }
        Err(lost.expect("MAX_ATTEMPTS is at least 1"))
    }

    async fn submit_once(&self, actor: &Identity, draft: RequestDraft, origin: Origin, linked: Change) -> Result<Request, AppError> {
        let (mut o, refused) = self.open_checked(actor, draft, origin, PolicyAction::Request, "request access").await?;
        for mut e in linked.events {
            e.payload["extension_request"] = json!(o.req.id());
            o.change.events.push(e);
        }
        if !refused {
            let auto = self.decide_all(&mut o.req, actor, (&o.subject, o.manager.as_ref()), PolicyAction::AutoApprove).is_none();
            if auto || o.req.stages_complete() {
                o.req.approve_without_review(o.now)?;
                let why = if auto { "auto-approved by policy" } else { "no approval stage configured" };
                o.change.events.push(about(o.req.id(), events::REQUEST_APPROVED, "policy", o.now, json!({ "reason": why })));
                self.start_fulfilment(&mut o.req, o.now, &mut o.change).await?;
            } else {
                o.change.events.push(crate::notify::awaiting_review(&o.req, o.now));
            }
        }
        let req = self.record_opening(o).await?;
        tracing::info!(request = %req.id(), state = req.state().as_str(), "request submitted");
        Ok(req)
    }

    /// Validates `draft` from `actor` (who wants to `doing`), opens it as
    /// `origin`, and asks policy `action` for every entitlement, then the
    /// toxic-combination check. A refusal is recorded as a denial in the
    /// opening's change (returned `true`); nothing is committed yet.
    pub(crate) async fn open_checked(
        &self,
        actor: &Identity,
        draft: RequestDraft,
        origin: Origin,
        action: PolicyAction,
        doing: &'static str,
    ) -> Result<(Opening, bool), AppError> {
        actor.require_active(doing)?;
        if draft.requester != actor.id {
            return Err(AppError::Forbidden {
                who: actor.id.to_string(),
                action: doing.into(),
                reason: format!("the requester must be the caller, not `{}`", draft.requester),
            });
        }
        let subject = self.identity(&draft.subject).await?;
        subject.require_may_receive()?;
        let manager = self.subject_manager(&subject).await?;
        let now = self.clock.now();
        let mut req = Request::open(RequestId::from_uuid(Uuid::new_v4()), draft, &self.catalog, now, self.settings.lapse_after)?.with_origin(origin);
        let mut change = Change::default();
        change.events.push(submitted(&req, actor.id.as_str(), now));
        if req.rerouted() {
            let route = self.catalog.request_type(&req.request_type()).map(|t| t.route.as_str()).unwrap_or_default();
            change.events.push(about(
                req.id(),
                events::REQUEST_REROUTED,
                actor.id.as_str(),
                now,
                json!({
                    "request_type": req.request_type(),
                    "from": route,
                    "to": writ_core::request_type::Route::Governed,
                    "why": "it names access: anything that changes access is governed",
                }),
            ));
        }
        let refusal = match self.decide_all(&mut req, actor, (&subject, manager.as_ref()), action) {
            Some(r) => Some(r),
            None => {
                // A pending request counts in its subject's holdings: the
                // submission relies on them as read (see HoldingsGuard).
                let check = self.toxic_refusal(&req, Counting::PendingToo).await?;
                change.guards.extend(check.guard);
                check.refusal
            }
        };
        let refused = refusal.is_some();
        if let Some(reason) = refusal {
            req.deny_by_policy(reason.clone(), now)?;
            change.events.push(about(req.id(), events::REQUEST_DENIED, "policy", now, json!({ "reason": reason })));
        }
        Ok((Opening { req, subject, manager, now, change }, refused))
    }

    /// Commits a new request with its policy decisions as events.
    pub(crate) async fn record_opening(&self, o: Opening) -> Result<Request, AppError> {
        let Opening { req, mut change, .. } = o;
        for d in req.decisions() {
            change.events.push(about(req.id(), events::POLICY_DECIDED, "policy", d.at, events::to_value(d)));
        }
        change.requests.push(Versioned::new(req.clone()));
        self.commit(change).await?;
        Ok(req)
    }

    /// Asks policy `action` for every entitlement of `req`, records each decision,
    /// and returns the first refusal as a sentence, if any. `subject` is the
    /// subject and its effective manager.
    fn decide_all(&self, req: &mut Request, principal: &Identity, subject: (&Identity, Option<&IdentityId>), action: PolicyAction) -> Option<String> {
        let now = self.clock.now();
        let mut refusal = None;
        for e in req.entitlements().to_vec() {
            let ent = self.catalog.entitlement(&e).expect("validated at open");
            let parties = Parties { request: req, subject: Some(subject.0), subject_manager: subject.1 };
            let relations = parties.relations(principal, &e, facts::fulfiller_group(&self.catalog, e.target()));
            let q = DecisionQuery {
                action,
                principal: facts::identity(principal),
                subject: facts::identity(subject.0),
                entitlement: facts::entitlement(ent),
                context: facts::context(req, None, relations),
            };
            let d = self.decide(&q);
            if !d.allowed && refusal.is_none() {
                let by = if d.policy_ids.is_empty() { "no policy permits it".to_owned() } else { format!("policies {}", d.policy_ids.join(", ")) };
                refusal = Some(format!("`{e}` refused by policy ({by})"));
            }
            req.record_decision(facts::record(d, ent, principal, now));
        }
        refusal
    }

    /// A sentence naming the toxic combination `req` would complete with
    /// what its subject holds or may soon hold (grants in force, and other
    /// requests as `counting` says), if any.
    pub(crate) async fn toxic_refusal(&self, req: &Request, counting: Counting) -> Result<SodCheck, AppError> {
        // No combination names what is asked: nothing the subject holds can
        // complete one, so its holdings (read in full) need not be loaded,
        // and nothing relies on them (no guard).
        if !writ_core::sod::names_any(&self.catalog, req.entitlements()) {
            return Ok(SodCheck { refusal: None, guard: None });
        }
        let standing = self.store.standing(req.subject()).await?;
        let theirs: Vec<Request> = standing.requests.into_iter().filter(|r| r.subject() == req.subject()).collect();
        let held = holdings(&standing.grants, &theirs, Some(req.id()), counting);
        Ok(SodCheck { refusal: check_toxic(&self.catalog, req.entitlements(), &held).err().map(|e| e.to_string()), guard: Some(standing.guard) })
    }

    /// Why `req`'s subject may not receive its access now, if it may not: a
    /// disabled subject receives nothing, and nobody completes a toxic
    /// combination. Asked wherever access comes into being: at each approval
    /// and adoption ([`Receiving::Approval`]: every approved request counts,
    /// the first approved wins), and at fulfilment by a person or a
    /// connector and re-provisioning ([`Receiving::Fulfilment`]: only
    /// approved requests filed before it count, so of two approved halves
    /// the first filed goes through, whichever job runs first).
    pub(crate) async fn receive_refusal(&self, req: &Request, at: Receiving) -> Result<Option<String>, AppError> {
        Ok(self.receive_check(req, at).await?.refusal)
    }

    pub(crate) async fn receive_check(&self, req: &Request, at: Receiving) -> Result<SodCheck, AppError> {
        let subject = self.identity(req.subject()).await?;
        if let Err(e) = subject.require_may_receive() {
            return Ok(SodCheck { refusal: Some(e.to_string()), guard: None });
        }
        let counting = match at {
            Receiving::Approval => Counting::ApprovedOnly,
            Receiving::Fulfilment => Counting::ApprovedBefore { filed: req.created_at(), id: req.id() },
        };
        self.toxic_refusal(req, counting).await
    }

    /// [`Writ::receive_refusal`] as an error; `doing` names the step. Returns
    /// the guard of the holdings it read: a change that makes the access
    /// count (an approval) carries it, so that of two such changes racing on
    /// one subject, the second is retried and checked again.
    pub(crate) async fn may_receive_now(&self, req: &Request, doing: &str, at: Receiving) -> Result<Option<HoldingsGuard>, AppError> {
        let check = self.receive_check(req, at).await?;
        match check.refusal {
            Some(reason) => Err(AppError::Forbidden { who: req.subject().to_string(), action: format!("receive this access ({doing})"), reason }),
            None => Ok(check.guard),
        }
    }

    /// Lapses every pending request past its review window. Returns how many lapsed.
    pub async fn lapse_due(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut lapsed = 0;
        for id in self.store.due_lapses(now, 500).await? {
            let Some(mut req) = self.store.request(id).await? else { continue };
            let loaded = req.version();
            if req.state() != RequestState::Pending || req.lapse(now).is_err() {
                continue;
            }
            let mut change = Change::default();
            change.events.push(about(id, events::REQUEST_LAPSED, "system", now, json!({ "lapses_at": req.lapses_at() })));
            self.settle_unapproved_move(&req, &IdentityId::parse(crate::mover::MOVER).expect("a valid name"), now, &mut change).await?;
            change.requests.push(Versioned::update(req, loaded));
            // Losing a race here means someone reviewed or cancelled first: fine.
            if self.committed(change).await? {
                lapsed += 1;
            }
        }
        Ok(lapsed)
    }
}
