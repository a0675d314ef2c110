//! Reviewing and cancelling requests.

use std::collections::BTreeMap;

use serde_json::json;
use writ_core::identity::Identity;
use writ_core::ids::{EntitlementId, RequestId};
use writ_core::request::{DecisionRecord, Request, RequestState};
use writ_core::review::Verdict;
use writ_policy::{DecisionQuery, PolicyAction, RequestContext};

use crate::events::{self, about};
use crate::facts::{self, Parties};
use crate::ports::{Change, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::{AppError, Writ};

impl Writ {
    pub(crate) async fn load_request(&self, id: RequestId) -> Result<Request, AppError> {
        self.store.request(id).await?.ok_or_else(|| AppError::NotFound { what: "request", id: id.to_string() })
    }

    /// `actor` approves or denies request `id`. Retries on a lost version race.
    pub async fn review(&self, actor: &Identity, id: RequestId, verdict: Verdict, reason: String) -> Result<Request, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut req = self.load_request(id).await?;
            let loaded = req.version();
            let now = self.clock.now();
            if req.state() == RequestState::Pending && now >= req.lapses_at() {
                // Record the lapse rather than refusing silently.
                self.lapse_due().await?;
            }
            let subject = self.identity(req.subject()).await?;
            if verdict == Verdict::Approve {
                if let Some(gone) = req.entitlements().iter().find(|e| self.catalog.entitlement(e).is_err()) {
                    return Err(AppError::Domain(writ_core::DomainError::invalid(
                        "request",
                        format!("`{gone}` is no longer in the catalog, so request `{id}` cannot be approved: deny it, or its requester cancels it"),
                    )));
                }
            }
            let manager = self.subject_manager(&subject).await?;
            let mut decisions: Vec<DecisionRecord> = Vec::new();
            // The reviewer's relations to the request, per entitlement, and the shared
            // context, worked out before the review borrows the request.
            let parties = Parties { request: &req, subject: Some(&subject), subject_manager: manager.as_ref() };
            let relations: BTreeMap<EntitlementId, Vec<String>> =
                req.entitlements().iter().map(|e| (e.clone(), parties.relations(actor, e, facts::fulfiller_group(&self.catalog, e.target())))).collect();
            let base = facts::context(&req, None, Vec::new());
            let stages_before: Vec<String> = req.open_stages().iter().map(|(t, s)| format!("{}/{}", t.entitlement, s.name)).collect();
            let mut guard = None;
            let effect = req.review(actor, manager.as_ref(), verdict, reason.clone(), now, |ent_id, stage| {
                // An entitlement taken out of the catalog since: nobody can
                // approve it (refused above), anyone with authority may deny.
                let Ok(ent) = self.catalog.entitlement(ent_id) else { return verdict == Verdict::Deny };
                let d = self.decide(&DecisionQuery {
                    action: PolicyAction::Review,
                    principal: facts::identity(actor),
                    subject: facts::identity(&subject),
                    entitlement: facts::entitlement(ent),
                    context: RequestContext { stage: Some(stage.name.clone()), relations: relations.get(ent_id).cloned().unwrap_or_default(), ..base.clone() },
                });
                let allowed = d.allowed;
                decisions.push(facts::record(d, ent, actor, now));
                allowed
            })?;
            if verdict == Verdict::Approve {
                // Every approval, not only the last, widens what the subject
                // is about to hold: refuse it while it cannot be received.
                // (Checked once the reviewer is known to count, so nobody
                // else learns what the subject holds.)
                guard = self.may_receive_now(&req, "approve", crate::submit::Receiving::Approval).await?;
            }
            let mut change = Change { guards: guard.into_iter().collect(), ..Default::default() };
            for d in decisions {
                change.events.push(about(id, events::POLICY_DECIDED, "policy", now, events::to_value(&d)));
                req.record_decision(d);
            }
            change.events.push(about(
                id,
                events::REVIEW_RECORDED,
                actor.id.as_str(),
                now,
                json!({
                    "reviewer": actor.id,
                    "verdict": verdict.as_str(),
                    "reason": reason.trim(),
                    "counted": effect.counted,
                }),
            ));
            match effect.state {
                RequestState::Denied => {
                    change.events.push(about(id, events::REQUEST_DENIED, actor.id.as_str(), now, json!({ "reason": req.outcome_reason() })));
                    self.remove_denied_found_access(&req, actor, now, &mut change).await?;
                    self.settle_unapproved_move(&req, &actor.id, now, &mut change).await?;
                }
                RequestState::Approved => {
                    change.events.push(about(id, events::REQUEST_APPROVED, actor.id.as_str(), now, json!({ "reason": "every stage passed" })));
                    self.start_fulfilment(&mut req, now, &mut change).await?;
                }
                RequestState::Pending => {
                    // A stage passed and the next one opened: its approvers are needed now.
                    let stages_after: Vec<String> = req.open_stages().iter().map(|(t, s)| format!("{}/{}", t.entitlement, s.name)).collect();
                    if stages_after != stages_before {
                        change.events.push(crate::notify::awaiting_review(&req, now));
                    }
                }
                _ => {}
            }
            change.requests.push(Versioned::update(req.clone(), loaded));
            if self.committed(change).await? {
                return Ok(req);
            }
        }
        Err(AppError::Conflict { what: "request", id: id.to_string() })
    }

    /// The requester withdraws request `id`; open fulfilment tasks are cancelled.
    pub async fn cancel(&self, actor: &Identity, id: RequestId, reason: String) -> Result<Request, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut req = self.load_request(id).await?;
            let loaded = req.version();
            let now = self.clock.now();
            req.cancel(&actor.id, reason.clone(), now)?;
            let mut change = Change::default();
            change.events.push(about(id, events::REQUEST_CANCELLED, actor.id.as_str(), now, json!({ "reason": req.outcome_reason() })));
            for mut t in self.every_task(crate::ports::TaskFilter { request: Some(id), open_only: true, ..Default::default() }).await? {
                let v = t.version();
                t.cancel(now)?;
                change.events.push(about(id, events::TASK_CANCELLED, actor.id.as_str(), now, json!({ "task": t.id() })));
                change.tasks.push(Versioned::update(t, v));
            }
            change.requests.push(Versioned::update(req.clone(), loaded));
            if self.committed(change).await? {
                return Ok(req);
            }
        }
        Err(AppError::Conflict { what: "request", id: id.to_string() })
    }
}

/// What a reviewer sees of a pending request's subject before deciding.
#[derive(Debug, Clone)]
pub struct ReviewContext {
    /// The grants that may still hold access for the subject now.
    pub holdings: Vec<writ_core::grant::Grant>,
    /// Why an approval would be refused now, if it would (a disabled
    /// subject, a toxic combination with what it holds, naming the pair).
    pub warning: Option<String>,
}

impl Writ {
    /// The subject's current access and any reason an approval would be
    /// refused, for someone who may act on one of request `id`'s stages (an
    /// entitlement owner, a member of a stage's group, the subject's
    /// manager): what they need to judge it. Anyone else is answered as for
    /// a request that does not exist.
    pub async fn review_context(&self, actor: &Identity, id: RequestId) -> Result<ReviewContext, AppError> {
        let req = self.load_request(id).await?;
        let mut contexts = self.review_contexts(actor, std::slice::from_ref(&req)).await?;
        contexts.pop().flatten().ok_or_else(|| AppError::NotFound { what: "request", id: id.to_string() })
    }

    /// [`Writ::review_context`] for each of `requests` (`None` where the
    /// actor may not see it), reading each subject, its manager, grants and
    /// standing once for the whole list (an inbox page of one team's
    /// requests reads them once, not once a row).
    pub async fn review_contexts(&self, actor: &Identity, requests: &[Request]) -> Result<Vec<Option<ReviewContext>>, AppError> {
        struct Subject {
            identity: Identity,
            manager: Option<writ_core::ids::IdentityId>,
            grants: Vec<writ_core::grant::Grant>,
            standing: Option<crate::ports::Standing>,
        }
        let acts = [writ_policy::Relation::EntitlementOwner, writ_policy::Relation::StageApprover, writ_policy::Relation::SubjectManager].map(|r| r.as_str());
        let mut subjects: std::collections::HashMap<writ_core::ids::IdentityId, Subject> = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(requests.len());
        for req in requests {
            // Only while it waits, and only for an active person: an AI agent,
            // an API key or a service account never reviews, so it sees nothing.
            let waiting = req.state() == writ_core::request::RequestState::Pending;
            if !waiting || actor.require_accountable("review").is_err() || actor.id == *req.subject() || actor.id == *req.requester() {
                out.push(None);
                continue;
            }
            if !subjects.contains_key(req.subject()) {
                let identity = self.identity(req.subject()).await?;
                let manager = self.subject_manager(&identity).await?;
                let grants =
                    self.every_grant(crate::ports::GrantFilter { subject: Some(req.subject().clone()), active_only: true, ..Default::default() }).await?;
                subjects.insert(req.subject().clone(), Subject { identity, manager, grants, standing: None });
            }
            let names_toxic = writ_core::sod::names_any(&self.catalog, req.entitlements());
            let s = subjects.get_mut(req.subject()).expect("inserted above");
            let parties = Parties { request: req, subject: Some(&s.identity), subject_manager: s.manager.as_ref() };
            let may_act = req
                .entitlements()
                .iter()
                .any(|e| parties.relations(actor, e, facts::fulfiller_group(&self.catalog, e.target())).iter().any(|r| acts.contains(&r.as_str())));
            if !may_act {
                out.push(None);
                continue;
            }
            // As at approval (`Receiving::Approval`): a disabled subject, or a
            // toxic combination with any approved request or grant.
            let warning = if let Err(e) = s.identity.require_may_receive() {
                Some(e.to_string())
            } else if names_toxic {
                if s.standing.is_none() {
                    s.standing = Some(self.store.standing(req.subject()).await?);
                }
                let standing = s.standing.as_ref().expect("read above");
                let theirs: Vec<Request> = standing.requests.iter().filter(|r| r.subject() == req.subject()).cloned().collect();
                let held = writ_core::sod::holdings(&standing.grants, &theirs, Some(req.id()), writ_core::sod::Counting::ApprovedOnly);
                writ_core::sod::check_toxic(&self.catalog, req.entitlements(), &held).err().map(|e| e.to_string())
            } else {
                None
            };
            out.push(Some(ReviewContext { holdings: s.grants.clone(), warning }));
        }
        Ok(out)
    }
}
