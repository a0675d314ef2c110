//! Read-side use-cases: the evidence chain of a request, lists, and the audit log.

use writ_core::audit::{sign_checkpoint, AuditEvent, Checkpoint};
use writ_core::grant::Grant;
use writ_core::identity::Identity;
use writ_core::ids::RequestId;
use writ_core::request::Request;
use writ_core::task::FulfilmentTask;

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

    pub async fn evidence(&self, actor: &Identity, id: RequestId) -> Result<Evidence, AppError> {
        let request = self.load_request(id).await?;
        let subject_owner = self.store.identity(request.subject()).await?.and_then(|s| s.owner).map(|o| o.to_string());
        if !self.can_view_request(actor, &request, subject_owner.as_deref()) {
            // Same answer as for a request that does not exist: ids are not probeable.
            return Err(AppError::NotFound { what: "request", id: id.to_string() });
        }
        let tasks = self.store.tasks(&TaskFilter { request: Some(id), open_only: false, limit: 1000 }).await?;
        let grants = self.store.grants(&GrantFilter { request: Some(id), ..Default::default() }).await?;
        let events = self.store.request_events(id).await?;
        Ok(Evidence { request, tasks, grants, events })
    }

    pub async fn list_requests(&self, actor: &Identity, mut filter: RequestFilter) -> Result<Vec<Request>, AppError> {
        filter.limit = filter.limit.clamp(1, 1000);
        if !self.has_oversight(actor) && filter.involving.is_none() {
            // Without oversight, list what the caller is involved in as requester or
            // subject, plus what waits for their review below.
            filter.involving = Some(actor.id.clone());
        }
        Ok(self.store.requests(&filter).await?)
    }

    /// Pending requests the caller could review now.
    pub async fn review_queue(&self, actor: &Identity) -> Result<Vec<Request>, AppError> {
        let pending = self
            .store
            .requests(&RequestFilter { state: Some(writ_core::request::RequestState::Pending), involving: None, limit: 1000 })
            .await?;
        Ok(pending
            .into_iter()
            .filter(|r| r.requester() != &actor.id && r.subject() != &actor.id)
            .filter(|r| r.reviews().iter().all(|rv| rv.reviewer != actor.id))
            .filter(|r| {
                r.open_stages().iter().any(|(t, s)| match &s.approvers {
                    writ_core::catalog::ApproverRule::Group(g) => actor.in_group(g),
                    writ_core::catalog::ApproverRule::EntitlementOwners => t.owners.contains(&actor.id),
                    writ_core::catalog::ApproverRule::SubjectManager => true,
                })
            })
            .collect())
    }

    pub async fn list_tasks(&self, actor: &Identity, open_only: bool) -> Result<Vec<FulfilmentTask>, AppError> {
        let tasks = self.store.tasks(&TaskFilter { open_only, request: None, limit: 1000 }).await?;
        Ok(tasks.into_iter().filter(|t| self.can_view_task(actor, t)).collect())
    }

    pub async fn list_grants(&self, actor: &Identity, mut filter: GrantFilter) -> Result<Vec<Grant>, AppError> {
        filter.limit = filter.limit.clamp(1, 1000);
        if !self.has_oversight(actor) {
            match &filter.subject {
                Some(s) if s != &actor.id => return Err(Self::forbidden(actor, "list grants of another identity", "ask security or an auditor")),
                _ => filter.subject = Some(actor.id.clone()),
            }
        }
        Ok(self.store.grants(&filter).await?)
    }

    /// A page of the audit log, for oversight groups only.
    pub async fn audit_page(&self, actor: &Identity, after_seq: u64, limit: u32) -> Result<Vec<AuditEvent>, AppError> {
        if !self.has_oversight(actor) {
            return Err(Self::forbidden(actor, "read the audit log", "only members of an oversight group can"));
        }
        Ok(self.store.audit_events(after_seq, limit.clamp(1, 10_000)).await?)
    }

    pub async fn audit_checkpoints(&self, actor: &Identity) -> Result<Vec<Checkpoint>, AppError> {
        if !self.has_oversight(actor) {
            return Err(Self::forbidden(actor, "read the audit log", "only members of an oversight group can"));
        }
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
