//! Time-bound access that is always removed. A grant past its expiry starts
//! *revoking*: a durable job (or, on a manual target, a task) takes the access
//! away from the target, and only a read-back showing it gone (or a fulfiller's
//! evidence) ends the grant as *expired*. A failing target is retried with
//! capped backoff; nothing is lost to a crash, because the grant's state and
//! its job are rows in the store, committed together.
//!
//! Two grants giving one subject the same entitlement never cut each other
//! short: a grant that ends while another is still in force ends in Writ only,
//! and the access stays until the last of them ends.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;
use writ_core::grant::{Ending, Grant, GrantState};
use writ_core::identity::Identity;
use writ_core::ids::{GrantId, IdentityId, TaskId};
use writ_core::task::FulfilmentTask;

use crate::events::{self, about};
use crate::fulfil::{backoff, order_for};
use crate::ports::{AccountState, Applied, Change, Connector, ConnectorError, Job, Order, Versioned};
use crate::service::{MAX_ATTEMPTS, PAGE};
use crate::{AppError, Writ};

impl Writ {
    /// A grant whose access has been being removed for longer than the
    /// configured window (`removal_overdue_after`): an exception to look at.
    pub fn is_overdue(&self, g: &Grant) -> bool {
        match g.state() {
            GrantState::Revoking { since, .. } => self.clock.now() - *since >= self.settings.removal_overdue_after,
            _ => false,
        }
    }

    /// Grants being revoked (for a metric: how many, and how many are overdue).
    pub async fn removal_counts(&self) -> Result<(u64, u64), AppError> {
        Ok(self.store.removal_counts(self.clock.now() - self.settings.removal_overdue_after).await?)
    }

    /// Records, once per grant, each removal that has become overdue: an audit
    /// event, an error-level log and (through the event) a notification. The
    /// retries go on. Called by the server's periodic worker; several nodes may
    /// run it, and the version check lets one of them record each grant.
    pub async fn note_overdue_removals(&self) -> Result<usize, AppError> {
        let mut noted = 0;
        let cutoff = self.clock.now() - self.settings.removal_overdue_after;
        for mut g in self.overdue_removals(cutoff).await? {
            let loaded = g.version();
            let now = self.clock.now();
            if g.note_removal_overdue(self.settings.removal_overdue_after, now).is_err() {
                continue;
            }
            let GrantState::Revoking { since, attempts, last_error, .. } = g.state().clone() else { continue };
            tracing::error!(grant = %g.id(), subject = %g.subject(), entitlement = %g.entitlement(), %since, attempts, "revocation overdue: the access is still not proved removed");
            let mut change = Change::default();
            change.events.push(about(
                g.request_id(),
                events::GRANT_REMOVAL_OVERDUE,
                "system",
                now,
                json!({
                    "grant": g.id(),
                    "subject": g.subject(),
                    "entitlement": g.entitlement(),
                    "since": since,
                    "attempts": attempts,
                    "last_error": last_error,
                    "overdue_after": self.settings.removal_overdue_after.num_seconds(),
                }),
            ));
            change.grants.push(Versioned::update(g, loaded));
            // Losing the race means the removal moved on meanwhile: look again next round.
            if self.committed(change).await? {
                noted += 1;
            }
        }
        Ok(noted)
    }

    /// Every grant whose removal started at or before `cutoff`, page by page
    /// (no limit: a grant left out would never be noted).
    async fn overdue_removals(&self, cutoff: DateTime<Utc>) -> Result<Vec<Grant>, AppError> {
        let mut all: Vec<Grant> = Vec::new();
        loop {
            let page = self.store.overdue_removals(cutoff, all.last().map(Grant::id), PAGE).await?;
            let done = page.len() < PAGE as usize;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// `actor` ends grant `id` early, with `reason`, if policy allows `revoke`
    /// (the holder giving it up, an owner, security). The grant becomes
    /// *revoking* and its access is removed from the target as at expiry; it is
    /// *revoked* once the removal is proved.
    pub async fn revoke_grant(&self, actor: &Identity, id: GrantId, reason: &str) -> Result<Grant, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut g = self.store.grant(id).await?.ok_or_else(|| AppError::NotFound { what: "grant", id: id.to_string() })?;
            let req = self.load_request(g.request_id()).await?;
            let decision = self.revoke_decision(actor, &req, g.entitlement()).await?;
            if !decision.allowed {
                return Err(AppError::Forbidden {
                    who: actor.id.to_string(),
                    action: format!("revoke grant `{id}`"),
                    reason: crate::authz::refusal(&decision),
                });
            }
            let loaded = g.version();
            let now = self.clock.now();
            let mut change = Change::default();
            request_revocation(&mut g, &actor.id, reason, now, json!({ "policy_ids": decision.policy_ids }), &mut change)?;
            self.end_or_remove(&mut g, now, &mut change).await?;
            change.grants.push(Versioned::update(g.clone(), loaded));
            if self.committed(change).await? {
                return Ok(g);
            }
        }
        Err(AppError::Conflict { what: "grant", id: id.to_string() })
    }

    /// `actor` closes by hand an *overdue* removal (the target keeps failing),
    /// attesting with `evidence` that the access is gone. Allowed to those policy
    /// lets `revoke` the grant, except its holder, who cannot attest their own
    /// access away. The retries stop; reconciliation checks the target later.
    pub async fn close_removal_by_hand(&self, actor: &Identity, id: GrantId, evidence: &str) -> Result<Grant, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut g = self.store.grant(id).await?.ok_or_else(|| AppError::NotFound { what: "grant", id: id.to_string() })?;
            if !self.is_overdue(&g) {
                return Err(AppError::Domain(writ_core::DomainError::invalid(
                    "grant",
                    format!(
                        "`{id}` is {}, not an overdue removal: only a removal the target keeps failing past `removal_overdue_after` can be closed by hand",
                        g.state().as_str()
                    ),
                )));
            }
            if g.subject() == &actor.id {
                return Err(AppError::Forbidden {
                    who: actor.id.to_string(),
                    action: format!("close the removal of grant `{id}`"),
                    reason: "it is their own access: someone else must attest it is gone".into(),
                });
            }
            let req = self.load_request(g.request_id()).await?;
            let decision = self.revoke_decision(actor, &req, g.entitlement()).await?;
            if !decision.allowed {
                return Err(AppError::Forbidden {
                    who: actor.id.to_string(),
                    action: format!("close the removal of grant `{id}`"),
                    reason: crate::authz::refusal(&decision),
                });
            }
            let loaded = g.version();
            let now = self.clock.now();
            let (attempts, last_error) = match g.state() {
                GrantState::Revoking { attempts, last_error, .. } => (*attempts, last_error.clone()),
                _ => (0, None),
            };
            g.close_removal_by_hand(evidence, now)?;
            let mut change = Change::default();
            change.events.push(about(
                g.request_id(),
                events::GRANT_REMOVAL_CLOSED_BY_HAND,
                actor.id.as_str(),
                now,
                json!({
                    "grant": g.id(),
                    "entitlement": g.entitlement(),
                    "evidence": evidence.trim(),
                    "failed_attempts": attempts,
                    "last_error": last_error,
                    "policy_ids": decision.policy_ids,
                    "state": g.state().as_str(),
                }),
            ));
            change.finished_jobs.push(Job::revoke(&g, now).id);
            // On a manual target, the removal task is settled by this too.
            let purpose = writ_core::task::TaskPurpose::Revoke { grant: id };
            self.cancel_open_tasks(g.request_id(), &purpose, actor.id.as_str(), "removal closed by hand", now, &mut change).await?;
            change.grants.push(Versioned::update(g.clone(), loaded));
            if self.committed(change).await? {
                return Ok(g);
            }
        }
        Err(AppError::Conflict { what: "grant", id: id.to_string() })
    }

    /// Starts the removal of up to `limit` grants past their expiry, side by
    /// side. Returns how many it started. Called by the server's worker.
    pub async fn expire_due(self: &Arc<Self>, limit: u32) -> Result<usize, AppError> {
        let due = self.store.due_expiries(self.clock.now(), limit).await?;
        let count = due.len();
        let mut running = tokio::task::JoinSet::new();
        for g in due {
            let writ = Arc::clone(self);
            running.spawn(async move { writ.expire(g).await });
        }
        let mut first_error = None;
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => tracing::error!(error = %e, "expiring a grant panicked; it is tried again next round"),
            }
        }
        first_error.map_or(Ok(count), Err)
    }

    /// Ends `loaded` (as read by the expiry scan), reloading it after a conflict.
    async fn expire(&self, loaded: Grant) -> Result<(), AppError> {
        let id = loaded.id();
        let mut next = Some(loaded);
        for _ in 0..MAX_ATTEMPTS {
            let mut g = match next.take() {
                Some(g) => g,
                None => self.store.grant(id).await?.ok_or_else(|| AppError::NotFound { what: "grant", id: id.to_string() })?,
            };
            if g.state() != &GrantState::Active {
                return Ok(());
            }
            let loaded = g.version();
            let now = self.clock.now();
            g.begin_expiry(now)?;
            let mut change = Change::default();
            self.end_or_remove(&mut g, now, &mut change).await?;
            change.grants.push(Versioned::update(g, loaded));
            if self.committed(change).await? {
                return Ok(());
            }
        }
        Err(AppError::Conflict { what: "grant", id: id.to_string() })
    }

    /// For a grant that just ended in Writ: if another grant still owes the same
    /// access, the access stays and this one ends at once; otherwise its
    /// removal from the target starts.
    pub(crate) async fn end_or_remove(&self, g: &mut Grant, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        match self.covering_grant(g, now).await? {
            Some(cover) => {
                g.finish_removal(now)?;
                change.events.push(about(
                    g.request_id(),
                    events::GRANT_ENDED_COVERED,
                    "system",
                    now,
                    json!({
                        "grant": g.id(),
                        "entitlement": g.entitlement(),
                        "covered_by": cover.id(),
                        "access_kept_until": cover.expires_at(),
                    }),
                ));
                Ok(())
            }
            None => self.start_removal(g, now, change).await,
        }
    }

    /// Another active grant of the same subject and entitlement still in force
    /// after `now`, the one that lasts longest.
    async fn covering_grant(&self, g: &Grant, now: DateTime<Utc>) -> Result<Option<Grant>, AppError> {
        // Every grant the subject holds, with no limit: a cover missed would
        // remove access another grant still owes.
        let others = self.store.standing(g.subject()).await?.grants;
        Ok(others.into_iter().filter(|o| o.id() != g.id() && o.entitlement() == g.entitlement() && o.is_in_force(now)).max_by_key(Grant::expires_at))
    }

    /// Adds to `change` the removal of `g`'s access: a job for a connector that
    /// reads its target, a task for a manual one.
    pub(crate) async fn start_removal(&self, g: &Grant, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        let expiring = matches!(g.state(), GrantState::Revoking { ending: Ending::Expiry, .. });
        let kind = if expiring { events::GRANT_EXPIRING } else { events::GRANT_REVOKING };
        change.events.push(about(
            g.request_id(),
            kind,
            "system",
            now,
            json!({
                "grant": g.id(),
                "subject": g.subject(),
                "entitlement": g.entitlement(),
                "expires_at": g.expires_at(),
            }),
        ));
        let connector = self.connector_for(g.entitlement())?;
        if connector.info().reads_live_state {
            change.jobs.push(Job::revoke(g, now));
            return Ok(());
        }
        // No side effect: the manual connector only names who does it.
        let order = order_for(g.request_id(), g.subject(), None, g.entitlement(), None);
        match connector.revoke(&order).await? {
            Applied::NeedsPerson { group } => {
                let task = FulfilmentTask::open_revocation(TaskId::from_uuid(Uuid::new_v4()), g, group.clone(), now);
                change.events.push(about(
                    g.request_id(),
                    events::TASK_OPENED,
                    "system",
                    now,
                    json!({
                        "task": task.id(),
                        "entitlement": g.entitlement(),
                        "fulfiller_group": group,
                        "purpose": "revoke",
                        "grant": g.id(),
                    }),
                ));
                change.tasks.push(Versioned::new(task));
                Ok(())
            }
            other => Err(AppError::Connector(ConnectorError::Permanent {
                target: g.entitlement().target().to_string(),
                detail: format!("a connector that cannot read its target answered {other:?}"),
            })),
        }
    }

    /// Runs one removal job: read, revoke, read again, and end the grant only if
    /// the read-back shows the access gone. Every failure is retried (a refusal
    /// too: someone may fix the target's permissions), with capped backoff.
    pub(crate) async fn remove(&self, job: &Job, id: GrantId) -> Result<(), AppError> {
        let Some(g) = self.store.grant(id).await? else {
            return self.finish_job_only(job).await;
        };
        if !matches!(g.state(), GrantState::Revoking { .. }) {
            return self.finish_job_only(job).await;
        }
        let subject = self.store.identity(g.subject()).await?;
        let order = order_for(g.request_id(), g.subject(), subject.as_ref(), g.entitlement(), None);
        let connector = self.connector_for(g.entitlement())?.clone();
        let kind = connector.info().kind;
        let outcome = removal(&*connector, &order).await;
        // The outcome is recorded on the grant as loaded before the work: if
        // it changed meanwhile, the commit's version check fails and the loop
        // reloads it (a closed grant then only finishes the job).
        let mut next = Some(g);
        for _ in 0..MAX_ATTEMPTS {
            let mut g = match next.take() {
                Some(g) => g,
                None => match self.store.grant(id).await? {
                    Some(g) => g,
                    None => return self.finish_job_only(job).await,
                },
            };
            if !matches!(g.state(), GrantState::Revoking { .. }) {
                return self.finish_job_only(job).await;
            }
            let loaded = g.version();
            let now = self.clock.now();
            let mut change = Change::default();
            match &outcome {
                Ok((applied, before, after)) => {
                    g.finish_removal(now)?;
                    change.events.push(about(
                        g.request_id(),
                        events::GRANT_REMOVAL_VERIFIED,
                        kind,
                        now,
                        json!({
                            "grant": g.id(),
                            "entitlement": g.entitlement(),
                            "account": order.account.name,
                            "resource": order.resource,
                            "applied": crate::fulfil::applied_str(applied),
                            "before": before,
                            "after": after,
                            "verified": true,
                            "state": g.state().as_str(),
                            "attempt": job.attempts + 1,
                            "node": self.settings.node,
                        }),
                    ));
                    change.finished_jobs.push(job.id.clone());
                }
                Err((error, before, after)) => {
                    let attempts = job.attempts + 1;
                    let next_at = now + backoff(attempts);
                    g.record_removal_failure(&error.to_string(), next_at)?;
                    if self.is_overdue(&g) {
                        tracing::error!(grant = %g.id(), entitlement = %g.entitlement(), attempts, error = %error, "revocation overdue: the access is still not proved removed; retrying");
                    }
                    change.events.push(about(
                        g.request_id(),
                        events::GRANT_REMOVAL_FAILED,
                        kind,
                        now,
                        json!({
                            "grant": g.id(),
                            "entitlement": g.entitlement(),
                            "account": order.account.name,
                            "error": error.to_string(),
                            "retryable": true,
                            "attempt": attempts,
                            "next_attempt_at": next_at,
                            "before": before,
                            "after": after,
                        }),
                    ));
                    change.jobs.push(Job { due_at: next_at, attempts, ..job.clone() });
                }
            }
            change.grants.push(Versioned::update(g, loaded));
            if self.committed(change).await? {
                return Ok(());
            }
        }
        Err(AppError::Conflict { what: "grant", id: id.to_string() })
    }
}

/// Ends `g` early, asked by `by`, for `reason`, and records the ask as
/// `grant.revocation_requested` (with `extra`'s fields, e.g. the deciding
/// policies): the one way a revocation starts. Removing the access is the
/// caller's next step (`end_or_remove` or `start_removal`).
pub(crate) fn request_revocation(
    g: &mut Grant,
    by: &IdentityId,
    reason: &str,
    now: DateTime<Utc>,
    extra: serde_json::Value,
    change: &mut Change,
) -> Result<(), AppError> {
    let reason = reason.trim();
    g.begin_revocation(by.clone(), reason, now)?;
    let mut payload = json!({ "grant": g.id(), "entitlement": g.entitlement(), "reason": reason });
    if let (Some(p), serde_json::Value::Object(more)) = (payload.as_object_mut(), extra) {
        p.extend(more);
    }
    change.events.push(about(g.request_id(), events::GRANT_REVOCATION_REQUESTED, by.as_str(), now, payload));
    Ok(())
}

type Removal = Result<(Applied, AccountState, AccountState), (ConnectorError, Option<AccountState>, Option<AccountState>)>;

/// Read before, revoke, read after: the removal's diff and its verification.
async fn removal(connector: &dyn Connector, order: &Order) -> Removal {
    let before = connector.read_account(&order.account).await.map_err(|e| (e, None, None))?;
    let applied = connector.revoke(order).await.map_err(|e| (e, Some(before.clone()), None))?;
    let after = connector.read_account(&order.account).await.map_err(|e| (e, Some(before.clone()), None))?;
    if after.holds(&order.resource) {
        let error = ConnectorError::ReadBackMismatch {
            target: order.entitlement.target().to_string(),
            detail: format!("after the revoke, `{}` still shows `{}` for `{}`", order.entitlement.target(), order.resource, order.account.name),
        };
        return Err((error, Some(before), Some(after)));
    }
    Ok((applied, before, after))
}
