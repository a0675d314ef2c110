//! Submitting a request: validate, ask policy, check toxic combinations, and either
//! deny, approve at once, or open the approval stages.

use std::collections::BTreeMap;

use serde_json::json;
use uuid::Uuid;
use writ_core::identity::Identity;
use writ_core::ids::{IdentityId, RequestId};
use writ_core::request::{Request, RequestDraft, RequestState};
use writ_core::sod::check_toxic;
use writ_policy::{DecisionQuery, PolicyAction};

use crate::events::{self, about};
use crate::facts::{self, Parties};
use crate::ports::{Change, GrantFilter, Versioned};
use crate::{AppError, Writ};

impl Writ {
    /// `actor` submits `draft` (whose requester must be `actor`). A policy refusal or a
    /// toxic combination is not an error: the request is recorded as denied, with the
    /// decision in its evidence.
    pub async fn submit(&self, actor: &Identity, draft: RequestDraft) -> Result<Request, AppError> {
        actor.require_active("request access")?;
        if draft.requester != actor.id {
            return Err(AppError::Forbidden {
                who: actor.id.to_string(),
                action: "submit a request".into(),
                reason: format!("the requester must be the caller, not `{}`", draft.requester),
            });
        }
        let subject = self.identity(&draft.subject).await?;
        let manager = self.subject_manager(&subject).await?;
        let now = self.clock.now();
        let mut req = Request::open(
            RequestId::from_uuid(Uuid::new_v4()),
            draft,
            &self.catalog,
            now,
            self.settings.lapse_after,
        )?;
        let mut change = Change::default();
        change.events.push(about(req.id(), events::REQUEST_SUBMITTED, actor.id.as_str(), now, json!({
            "requester": req.requester(),
            "subject": req.subject(),
            "entitlements": req.entitlements(),
            "justification": req.justification(),
            "duration": req.duration(),
            "ticket": req.ticket(),
            "lapses_at": req.lapses_at(),
        })));

        let refusal = self.decide_all(&mut req, actor, (&subject, manager.as_ref()), PolicyAction::Request);
        let refusal = match refusal {
            Some(r) => Some(r),
            None => self.toxic_refusal(&req).await?,
        };
        if let Some(reason) = refusal {
            req.deny_by_policy(reason.clone(), now)?;
            change.events.push(about(req.id(), events::REQUEST_DENIED, "policy", now, json!({ "reason": reason })));
        } else {
            let auto = self.decide_all(&mut req, actor, (&subject, manager.as_ref()), PolicyAction::AutoApprove).is_none();
            if auto || req.stages_complete() {
                req.approve_without_review(now)?;
                let why = if auto { "auto-approved by policy" } else { "no approval stage configured" };
                change.events.push(about(req.id(), events::REQUEST_APPROVED, "policy", now, json!({ "reason": why })));
                self.start_fulfilment(&mut req, now, &mut change).await?;
            }
        }
        for d in req.decisions() {
            change.events.push(about(req.id(), events::POLICY_DECIDED, "policy", d.at, events::to_value(d)));
        }
        change.requests.push(Versioned::new(req.clone()));
        self.store.commit(change).await?;
        tracing::info!(request = %req.id(), state = req.state().as_str(), "request submitted");
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

    /// A sentence naming the toxic combination this request would complete, if any.
    pub(crate) async fn toxic_refusal(&self, req: &Request) -> Result<Option<String>, AppError> {
        let now = self.clock.now();
        let held: BTreeMap<_, _> = self
            .store
            .grants(&GrantFilter { subject: Some(req.subject().clone()), active_only: true, ..Default::default() })
            .await?
            .into_iter()
            .filter(|g| g.is_in_force(now) && g.request_id() != req.id())
            .map(|g| (g.entitlement().clone(), g.id()))
            .collect();
        Ok(check_toxic(&self.catalog, req.entitlements(), &held).err().map(|e| e.to_string()))
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
            change.requests.push(Versioned::update(req, loaded));
            // Losing a race here means someone reviewed or cancelled first: fine.
            if self.committed(change).await? {
                lapsed += 1;
            }
        }
        Ok(lapsed)
    }
}
