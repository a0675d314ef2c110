//! Fulfilment: once a request is approved, each entitlement is put in place by its
//! target's fulfilment path. Today that is the manual path: a task for the target's
//! fulfiller group, completed with evidence. When every task of a request is done,
//! its grants start (their clock starts now, when access is in place) and the
//! request becomes active.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;
use writ_core::catalog::Fulfilment;
use writ_core::grant::Grant;
use writ_core::identity::Identity;
use writ_core::ids::{GrantId, TaskId};
use writ_core::request::Request;
use writ_core::task::{FulfilmentTask, TaskState};

use crate::events::{self, about};
use crate::ports::{Change, TaskFilter, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::{AppError, Writ};

impl Writ {
    /// Adds to `change` the fulfilment work of a request that was just approved.
    pub(crate) fn start_fulfilment(&self, req: &Request, now: DateTime<Utc>, change: &mut Change) {
        for e in req.entitlements() {
            let target = self.catalog.target(e.target()).expect("catalog validated entitlement targets");
            match &target.fulfilment {
                Fulfilment::Manual { fulfiller_group } => {
                    let task = FulfilmentTask::open(
                        TaskId::from_uuid(Uuid::new_v4()),
                        req.id(),
                        req.subject().clone(),
                        e.clone(),
                        fulfiller_group.clone(),
                        now,
                    );
                    change.events.push(about(req.id(), events::TASK_OPENED, "system", now, json!({
                        "task": task.id(),
                        "entitlement": e,
                        "fulfiller_group": fulfiller_group,
                    })));
                    change.tasks.push(Versioned::new(task));
                }
            }
        }
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
                for e in req.entitlements() {
                    let grant = Grant::start(GrantId::from_uuid(Uuid::new_v4()), req.id(), req.subject().clone(), e.clone(), req.duration(), now);
                    change.events.push(about(req.id(), events::GRANT_STARTED, "system", now, json!({
                        "grant": grant.id(),
                        "subject": grant.subject(),
                        "entitlement": grant.entitlement(),
                        "starts_at": grant.starts_at(),
                        "expires_at": grant.expires_at(),
                    })));
                    change.grants.push(Versioned::new(grant));
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
