//! Fulfilment: once a request is approved, each entitlement is put in place by its
//! target's connector. The manual connector opens a task for the target's
//! fulfiller group, completed with evidence. When every task of a request is done,
//! its grants start (their clock starts now, when access is in place) and the
//! request becomes active.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;
use writ_core::grant::Grant;
use writ_core::identity::Identity;
use writ_core::ids::{EntitlementId, GrantId, TaskId};
use writ_core::request::Request;
use writ_core::task::{FulfilmentTask, TaskState};

use crate::events::{self, about};
use crate::ports::{Change, Order, Outcome, TaskFilter, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::{AppError, Writ};

impl Writ {
    /// Adds to `change` the fulfilment of a request that was just approved: asks
    /// each target's connector to put the access in place. A manual target opens a
    /// task for its fulfiller group; a verified one starts its grant at once. When
    /// nothing waits for a person, the request is active in the same change.
    pub(crate) async fn start_fulfilment(&self, req: &mut Request, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        let mut waiting = false;
        for e in req.entitlements().to_vec() {
            let connector = self
                .connectors
                .get(e.target())
                .ok_or_else(|| AppError::NoConnector { target: e.target().to_string() })?;
            let order = Order { request: req.id(), subject: req.subject().clone(), entitlement: e.clone() };
            match connector.grant(&order).await? {
                Outcome::NeedsPerson { group } => {
                    waiting = true;
                    let task = FulfilmentTask::open(TaskId::from_uuid(Uuid::new_v4()), req.id(), req.subject().clone(), e.clone(), group.clone(), now);
                    change.events.push(about(req.id(), events::TASK_OPENED, "system", now, json!({
                        "task": task.id(),
                        "entitlement": e,
                        "fulfiller_group": group,
                    })));
                    change.tasks.push(Versioned::new(task));
                }
                Outcome::Verified { before, after } => {
                    change.events.push(about(req.id(), events::ENTITLEMENT_VERIFIED, connector.kind(), now, json!({
                        "entitlement": e,
                        "before": before,
                        "after": after,
                    })));
                    start_grant(req, &e, now, change);
                }
            }
        }
        if !waiting {
            req.activate(now)?;
            change.events.push(about(req.id(), events::REQUEST_ACTIVATED, "system", now, json!({})));
        }
        Ok(())
    }

    /// `actor` records that task `id` was carried out, with `evidence`. The last task
    /// of a request starts its grants and activates it, in the same transaction.
    pub async fn complete_task(&self, actor: &Identity, id: TaskId, evidence: &str) -> Result<FulfilmentTask, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut task = self.store.task(id).await?.ok_or_else(|| AppError::NotFound { what: "task", id: id.to_string() })?;
            let task_version = task.version();
            let mut req = self.load_request(task.request_id()).await?;
            let req_version = req.version();
            let now = self.clock.now();
            task.complete(actor, evidence, req.approvers(), now)?;
            let mut change = Change::default();
            change.events.push(about(req.id(), events::TASK_COMPLETED, actor.id.as_str(), now, json!({
                "task": task.id(),
                "entitlement": task.entitlement(),
                "evidence": evidence.trim(),
            })));
            let siblings = self.store.tasks(&TaskFilter { request: Some(req.id()), open_only: false, limit: 1000 }).await?;
            let all_done = siblings
                .iter()
                .filter(|t| t.id() != task.id())
                .all(|t| matches!(t.state(), TaskState::Done { .. }));
            if all_done {
                req.activate(now)?;
                // Every task of the request is done now: each grant starts.
                for t in siblings.iter().filter(|t| t.id() != task.id()).chain(std::iter::once(&task)) {
                    start_grant(&req, t.entitlement(), now, &mut change);
                }
                change.events.push(about(req.id(), events::REQUEST_ACTIVATED, "system", now, json!({})));
            } else {
                req.record_fulfilment_progress(now)?;
            }
            change.requests.push(Versioned::update(req, req_version));
            change.tasks.push(Versioned::update(task.clone(), task_version));
            if self.committed(change).await? {
                return Ok(task);
            }
        }
        Err(AppError::Conflict { what: "task", id: id.to_string() })
    }
}

/// Starts the grant of `entitlement` for the request's subject: access is in place
/// from `now` for the requested duration.
fn start_grant(req: &Request, entitlement: &EntitlementId, now: DateTime<Utc>, change: &mut Change) {
    let grant = Grant::start(GrantId::from_uuid(Uuid::new_v4()), req.id(), req.subject().clone(), entitlement.clone(), req.duration(), now);
    change.events.push(about(req.id(), events::GRANT_STARTED, "system", now, json!({
        "grant": grant.id(),
        "subject": grant.subject(),
        "entitlement": grant.entitlement(),
        "starts_at": grant.starts_at(),
        "expires_at": grant.expires_at(),
    })));
    change.grants.push(Versioned::new(grant));
}
