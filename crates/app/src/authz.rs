//! Who may see what, and who may administer Writ: policy decides, here as for
//! acting. Seeing a request (its evidence chain), and so listing requests, review
//! queues and fulfilment tasks, asks Cedar `view` per entitlement, with the
//! reader's relations to the request in the context. The audit log, the identity
//! registry and other identities' grants ask the administrative actions
//! `read_audit` and `manage_identities` about the service. Every decision is
//! logged at debug level with its determining policies (see `Writ::decide`); read
//! decisions are not recorded in the audit log.

use std::collections::HashMap;

use writ_core::identity::Identity;
use writ_core::ids::{EntitlementId, GroupId, IdentityId};
use writ_core::request::Request;
use writ_core::task::FulfilmentTask;
use writ_policy::{AdminAction, Decision, DecisionQuery, EntitlementFacts, PolicyAction};

use crate::facts::{self, Parties};
use crate::{AppError, Writ};

/// Identities looked up at most once during a batch of visibility checks.
#[derive(Default)]
pub(crate) struct Directory(HashMap<IdentityId, Option<Identity>>);

/// Why policy refused, as the end of a sentence.
pub(crate) fn refusal(d: &Decision) -> String {
    if d.policy_ids.is_empty() {
        format!("no policy permits `{}` for them", d.action)
    } else {
        format!("forbidden by policy {}", d.policy_ids.join(", "))
    }
}

impl Writ {
    /// Asks policy an administrative question about `actor` (resource: the
    /// service). The answer names its determining policies.
    pub fn admin_decision(&self, actor: &Identity, action: AdminAction) -> Decision {
        self.decide_admin(action, actor)
    }

    /// `Ok` when policy lets `actor` do `action`, else `Forbidden`: "`actor` may not
    /// `what`: <why>".
    pub fn authorize(&self, actor: &Identity, action: AdminAction, what: &str) -> Result<(), AppError> {
        let d = self.admin_decision(actor, action);
        if d.allowed {
            return Ok(());
        }
        let why = refusal(&d);
        let reason = if d.policy_ids.is_empty() { format!("{why} (oversight duties are granted in the policy files)") } else { why };
        Err(AppError::Forbidden { who: actor.id.to_string(), action: what.into(), reason })
    }

    /// The subject's manager; for a non-human subject without one, its owner's manager.
    pub(crate) async fn subject_manager(&self, subject: &Identity) -> Result<Option<IdentityId>, AppError> {
        let owner = match subject.manager_via_owner() {
            Some(o) => self.store.identity(o).await?,
            None => None,
        };
        Ok(subject.effective_manager(owner.as_ref()))
    }

    async fn known(&self, dir: &mut Directory, id: &IdentityId) -> Result<Option<Identity>, AppError> {
        if let Some(hit) = dir.0.get(id) {
            return Ok(hit.clone());
        }
        let found = self.store.identity(id).await?;
        dir.0.insert(id.clone(), found.clone());
        Ok(found)
    }

    /// The request's subject and its effective manager (see [`Writ::subject_manager`]).
    pub(crate) async fn parties_of(&self, dir: &mut Directory, req: &Request) -> Result<(Option<Identity>, Option<IdentityId>), AppError> {
        let subject = self.known(dir, req.subject()).await?;
        let manager = match &subject {
            Some(s) => {
                let owner = match s.manager_via_owner() {
                    Some(o) => self.known(dir, o).await?,
                    None => None,
                };
                s.effective_manager(owner.as_ref())
            }
            None => None,
        };
        Ok((subject, manager))
    }

    /// The entitlement as policies see it: from the catalog, or, if it has left the
    /// catalog since, from what the request recorded.
    fn entitlement_facts(&self, req: &Request, e: &EntitlementId) -> EntitlementFacts {
        match self.catalog.entitlement(e) {
            Ok(ent) => facts::entitlement(ent),
            Err(_) => EntitlementFacts {
                id: e.to_string(),
                target: e.target().to_string(),
                risk: String::new(),
                owners: req.tracks().iter().find(|t| &t.entitlement == e).map(|t| t.owners.iter().map(ToString::to_string).collect()).unwrap_or_default(),
            },
        }
    }

    /// Policy `view`: may `actor` see the request of `parties`, as far as
    /// `entitlement` (one of its entitlements, fulfilled by `fulfillers`) goes?
    fn view_allowed(&self, actor: &Identity, parties: &Parties<'_>, entitlement: &EntitlementId, fulfillers: Option<&GroupId>) -> bool {
        let q = DecisionQuery {
            action: PolicyAction::View,
            principal: facts::identity(actor),
            subject: parties.subject_facts(),
            entitlement: self.entitlement_facts(parties.request, entitlement),
            context: facts::context(parties.request, None, parties.relations(actor, entitlement, fulfillers)),
        };
        self.decide(&q).allowed
    }

    /// Policy `revoke`: may `actor` end early a grant of `entitlement` that
    /// request `req` produced? The decision, with the actor's relations to the
    /// request ("subject" for the holder).
    pub(crate) async fn revoke_decision(&self, actor: &Identity, req: &Request, entitlement: &EntitlementId) -> Result<Decision, AppError> {
        let mut dir = Directory::default();
        let (subject, manager) = self.parties_of(&mut dir, req).await?;
        let parties = Parties { request: req, subject: subject.as_ref(), subject_manager: manager.as_ref() };
        let fulfillers = facts::fulfiller_group(&self.catalog, entitlement.target());
        let q = DecisionQuery {
            action: PolicyAction::Revoke,
            principal: facts::identity(actor),
            subject: parties.subject_facts(),
            entitlement: self.entitlement_facts(req, entitlement),
            context: facts::context(req, None, parties.relations(actor, entitlement, fulfillers)),
        };
        Ok(self.decide(&q))
    }

    /// A request is visible when policy allows `view` for any of its entitlements.
    pub(crate) fn request_visible(&self, actor: &Identity, parties: &Parties<'_>) -> bool {
        parties.request.entitlements().iter().any(|e| self.view_allowed(actor, parties, e, facts::fulfiller_group(&self.catalog, e.target())))
    }

    pub(crate) async fn request_visible_in(&self, dir: &mut Directory, actor: &Identity, req: &Request) -> Result<bool, AppError> {
        let (subject, manager) = self.parties_of(dir, req).await?;
        let parties = Parties { request: req, subject: subject.as_ref(), subject_manager: manager.as_ref() };
        Ok(self.request_visible(actor, &parties))
    }

    /// A task is visible when policy allows `view` on its entitlement, with the
    /// reader's relations to the task's request (the task's group being the
    /// fulfillers).
    pub(crate) async fn task_visible_in(&self, dir: &mut Directory, actor: &Identity, req: &Request, task: &FulfilmentTask) -> Result<bool, AppError> {
        let (subject, manager) = self.parties_of(dir, req).await?;
        let parties = Parties { request: req, subject: subject.as_ref(), subject_manager: manager.as_ref() };
        Ok(self.view_allowed(actor, &parties, task.entitlement(), Some(task.fulfiller_group())))
    }

    /// May `actor` see `req` (its evidence chain)? Asks policy `view`.
    pub async fn can_view_request(&self, actor: &Identity, req: &Request) -> Result<bool, AppError> {
        self.request_visible_in(&mut Directory::default(), actor, req).await
    }

    /// May `actor` see `task`? Asks policy `view` (see [`Writ::can_view_request`]);
    /// a task whose request is unknown is visible to nobody.
    pub async fn can_view_task(&self, actor: &Identity, task: &FulfilmentTask) -> Result<bool, AppError> {
        match self.store.request(task.request_id()).await? {
            Some(req) => self.task_visible_in(&mut Directory::default(), actor, &req, task).await,
            None => Ok(false),
        }
    }
}
