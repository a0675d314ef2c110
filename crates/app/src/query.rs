//! Read-side use-cases: the evidence chain of a request, lists, and the audit log.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use writ_core::audit::{sign_checkpoint, AuditEvent, Checkpoint};
use writ_core::grant::Grant;
use writ_core::identity::Identity;
use writ_core::ids::RequestId;
use writ_core::request::Request;
use writ_core::review::rule_admits;
use writ_core::task::FulfilmentTask;
use writ_policy::AdminAction;

use crate::authz::{refusal, Directory};
use crate::facts::Parties;
use crate::ports::{GrantFilter, RequestFilter, TaskFilter};
use crate::{AppError, Writ};

/// Everything known about one request: the aggregate (reviews, stages, decisions),
/// its fulfilment tasks, its grants and its audit events with their hashes.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub request: Request,
    pub tasks: Vec<FulfilmentTask>,
    pub grants: Vec<Grant>,
    pub events: Vec<AuditEvent>,
}

impl Writ {
    fn forbidden(actor: &Identity, action: &str, reason: &str) -> AppError {
        AppError::Forbidden { who: actor.id.to_string(), action: action.into(), reason: reason.into() }
    }

    /// The evidence chain of request `id`, if policy lets `actor` see it (`view`).
    pub async fn evidence(&self, actor: &Identity, id: RequestId) -> Result<Evidence, AppError> {
        let request = self.load_request(id).await?;
        if !self.can_view_request(actor, &request).await? {
            // Same answer as for a request that does not exist: ids are not probeable.
            return Err(AppError::NotFound { what: "request", id: id.to_string() });
        }
        let tasks = self.store.tasks(&TaskFilter { request: Some(id), open_only: false, limit: 1000 }).await?;
        let grants = self.store.grants(&GrantFilter { request: Some(id), ..Default::default() }).await?;
        let events = self.store.request_events(id).await?;
        Ok(Evidence { request, tasks, grants, events })
    }

    /// The newest requests matching `filter` that policy lets `actor` see (`view`).
    /// Without an `involving` filter, the caller's own requests (as requester or
    /// subject) are always considered, so that others' never crowd them out.
    pub async fn list_requests(&self, actor: &Identity, mut filter: RequestFilter) -> Result<Vec<Request>, AppError> {
        filter.limit = filter.limit.clamp(1, 1000);
        let mut found = self.store.requests(&filter).await?;
        if filter.involving.is_none() {
            let own = RequestFilter { involving: Some(actor.id.clone()), ..filter.clone() };
            found.extend(self.store.requests(&own).await?);
            // The store's order: newest first, then by id.
            found.sort_by(|a, b| b.created_at().cmp(&a.created_at()).then_with(|| a.id().to_string().cmp(&b.id().to_string())));
            found.dedup_by_key(|r| r.id());
        }
        let mut dir = Directory::default();
        let mut visible = Vec::new();
        for r in found {
            if visible.len() >= filter.limit as usize {
                break;
            }
            if self.request_visible_in(&mut dir, actor, &r).await? {
                visible.push(r);
            }
        }
        Ok(visible)
    }

    /// Pending requests the caller could review now: an open stage's rule admits
    /// them, they have not reviewed it yet, it is neither theirs nor for them, and
    /// policy lets them see it.
    pub async fn review_queue(&self, actor: &Identity) -> Result<Vec<Request>, AppError> {
        let pending = self.store.requests(&RequestFilter { state: Some(writ_core::request::RequestState::Pending), limit: 1000, ..Default::default() }).await?;
        let mut dir = Directory::default();
        let mut queue = Vec::new();
        for r in pending {
            if r.requester() == &actor.id || r.subject() == &actor.id || r.reviews().iter().any(|rv| rv.reviewer == actor.id) {
                continue;
            }
            let (subject, manager) = self.parties_of(&mut dir, &r).await?;
            let admitted = r.open_stages().iter().any(|(t, s)| rule_admits(&s.approvers, actor, &t.owners, manager.as_ref()));
            let parties = Parties { request: &r, subject: subject.as_ref(), subject_manager: manager.as_ref() };
            if admitted && self.request_visible(actor, &parties) {
                queue.push(r);
            }
        }
        Ok(queue)
    }

    /// Fulfilment tasks policy lets `actor` see (`view` on the task's entitlement;
    /// its fulfiller group are among the people involved).
    pub async fn list_tasks(&self, actor: &Identity, open_only: bool) -> Result<Vec<FulfilmentTask>, AppError> {
        let tasks = self.store.tasks(&TaskFilter { open_only, request: None, limit: 1000 }).await?;
        let mut requests: HashMap<RequestId, Option<Request>> = HashMap::new();
        for t in &tasks {
            if let Entry::Vacant(slot) = requests.entry(t.request_id()) {
                slot.insert(self.store.request(t.request_id()).await?);
            }
        }
        let mut dir = Directory::default();
        let mut visible = Vec::new();
        for t in tasks {
            let Some(Some(req)) = requests.get(&t.request_id()) else { continue };
            if self.task_visible_in(&mut dir, actor, req, &t).await? {
                visible.push(t);
            }
        }
        Ok(visible)
    }

    /// Grants. Everyone may list their own; listing another identity's, or
    /// everyone's, takes `read_audit`: the audit log records every grant, so
    /// whoever may read it sees them all anyway. Without a subject filter, the
    /// caller gets everyone's grants if policy allows that, else their own.
    pub async fn list_grants(&self, actor: &Identity, mut filter: GrantFilter) -> Result<Vec<Grant>, AppError> {
        filter.limit = filter.limit.clamp(1, 1000);
        let own = filter.subject.as_ref() == Some(&actor.id);
        if !own {
            let d = self.admin_decision(actor, AdminAction::ReadAudit);
            if !d.allowed {
                if filter.subject.is_some() {
                    let reason = format!("that takes `read_audit`, and {}", refusal(&d));
                    return Err(Self::forbidden(actor, "list grants of another identity", &reason));
                }
                filter.subject = Some(actor.id.clone());
            }
        }
        Ok(self.store.grants(&filter).await?)
    }

    /// A page of the audit log, if policy allows `read_audit`.
    pub async fn audit_page(&self, actor: &Identity, after_seq: u64, limit: u32) -> Result<Vec<AuditEvent>, AppError> {
        self.authorize(actor, AdminAction::ReadAudit, "read the audit log")?;
        Ok(self.store.audit_events(after_seq, limit.clamp(1, 10_000)).await?)
    }

    /// Every signed checkpoint, if policy allows `read_audit`.
    pub async fn audit_checkpoints(&self, actor: &Identity) -> Result<Vec<Checkpoint>, AppError> {
        self.authorize(actor, AdminAction::ReadAudit, "read the audit log")?;
        Ok(self.store.checkpoints().await?)
    }

    /// Signs the current head of the log, unless nothing was appended since the last
    /// checkpoint. Returns the new checkpoint, if one was made.
    pub async fn checkpoint(&self, key: &ed25519_dalek::SigningKey) -> Result<Option<Checkpoint>, AppError> {
        let (size, head) = self.store.audit_head().await?;
        let last = self.store.checkpoints().await?.into_iter().map(|c| c.size).max();
        if size == 0 || last == Some(size) {
            return Ok(None);
        }
        let cp = sign_checkpoint(key, size, head, self.clock.now());
        self.store.add_checkpoint(&cp).await?;
        Ok(Some(cp))
    }
}
