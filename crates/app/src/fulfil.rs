//! Fulfilment: once a request is approved, each entitlement is put in place on
//! its target and proved there.
//!
//! - A manual target opens a task for its fulfiller group at approval; the task
//!   is completed with evidence.
//! - A target with a connector gets a durable job in the approval's own
//!   transaction. A worker runs it later ([`Writ::run_job`]): it reads the
//!   subject's account before, grants, reads it after, and records the diff and
//!   whether the read-back shows what was approved. Nothing touches a real target
//!   before the approval is committed, and a crash between the two leaves the
//!   job in the store to run again (grants are idempotent).
//!
//! Each entitlement's grant starts when its access is in place. The request's
//! state follows from the per-entitlement status (see `writ_core::request`).

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;
use writ_core::fulfilment::TargetFulfilment;
use writ_core::grant::Grant;
use writ_core::identity::Identity;
use writ_core::ids::{EntitlementId, GrantId, TaskId};
use writ_core::request::{Request, RequestState};
use writ_core::task::{FulfilmentTask, TaskPurpose};

use crate::events::{self, about};
use crate::ports::{Account, AccountState, Applied, Change, Clock, Connector, ConnectorError, Job, JobKind, Order, Store, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::submit::Receiving;
use crate::{AppError, Writ};

/// Longest wait between retries of a target that keeps failing.
const MAX_BACKOFF_SECS: i64 = 300;

/// The wait before attempt `attempts + 1`: doubling from 2 s, at most 5 min.
pub(crate) fn backoff(attempts: u32) -> TimeDelta {
    TimeDelta::seconds((1i64 << attempts.min(16)).min(MAX_BACKOFF_SECS))
}

/// What one provisioning attempt established.
pub(crate) enum Attempt {
    /// In place, read back.
    Verified { applied: Applied, before: AccountState, after: AccountState },
    /// The connector gave a person the job (manual target).
    WithPerson { group: writ_core::ids::GroupId },
    /// Not attempted: the subject may not receive it now (disabled, or a
    /// toxic combination); the reason says which.
    Refused { reason: String },
    /// Refused, unreachable, or the read-back does not show it.
    Failed { error: ConnectorError, before: Option<AccountState>, after: Option<AccountState> },
}

impl Writ {
    /// Adds to `change` the start of fulfilment of a request that was just
    /// approved: a task for each manual target, a job for each other one.
    pub(crate) async fn start_fulfilment(&self, req: &mut Request, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        for e in req.entitlements().to_vec() {
            let connector = self.connector_for(&e)?;
            if connector.info().reads_live_state {
                req.record_fulfilment(&e, TargetFulfilment::Queued, now)?;
                change.jobs.push(Job::provision(req.id(), e.clone(), now));
                continue;
            }
            // No side effect: the manual connector only names who does it.
            match connector.grant(&self.order(req, &e, None, now)).await? {
                Applied::NeedsPerson { group } => self.open_task(req, &e, group, now, change)?,
                other => {
                    return Err(AppError::Connector(ConnectorError::Permanent {
                        target: e.target().to_string(),
                        detail: format!("a connector that cannot read its target answered {other:?}"),
                    }))
                }
            }
        }
        Ok(())
    }

    /// Stops putting in place what `req` still owes (its subject or requester
    /// was disabled, a break-glass use was rejected): a request with nothing
    /// in place is withdrawn; otherwise every entitlement not yet in place is
    /// recorded as failed with `reason`, so a queued or retrying job finds
    /// nothing left to do. Open fulfilment tasks are cancelled either way.
    /// Access already in place is the caller's to remove (through grants).
    pub(crate) async fn stop_fulfilment(&self, req: &mut Request, reason: &str, actor: &str, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        if req.withdraw(reason, now).is_ok() {
            change.events.push(about(req.id(), events::REQUEST_CANCELLED, actor, now, json!({ "reason": req.outcome_reason() })));
        } else if matches!(req.state(), RequestState::Approved | RequestState::PartiallyFulfilled) {
            let before = req.state();
            let owed: Vec<EntitlementId> = req
                .entitlements()
                .iter()
                .filter(|e| !matches!(req.fulfilment().get(*e), Some(TargetFulfilment::Done { .. } | TargetFulfilment::Failed { .. })))
                .cloned()
                .collect();
            for e in owed {
                req.record_fulfilment(&e, TargetFulfilment::Failed { error: reason.to_owned(), at: now }, now)?;
                change.events.push(about(
                    req.id(),
                    events::ENTITLEMENT_FAILED,
                    actor,
                    now,
                    json!({ "entitlement": e, "error": reason, "refused": true, "retryable": false }),
                ));
            }
            announce_state(req, before, now, change);
        }
        self.cancel_open_tasks(req.id(), &TaskPurpose::Grant, actor, reason, now, change).await
    }

    /// Cancels the open tasks of `request` that serve `purpose`, recording
    /// each with `reason`: work nobody may do any more.
    pub(crate) async fn cancel_open_tasks(
        &self,
        request: writ_core::ids::RequestId,
        purpose: &TaskPurpose,
        actor: &str,
        reason: &str,
        now: DateTime<Utc>,
        change: &mut Change,
    ) -> Result<(), AppError> {
        let open = self.every_task(crate::ports::TaskFilter { request: Some(request), open_only: true, ..Default::default() }).await?;
        for mut t in open.into_iter().filter(|t| t.purpose() == purpose) {
            let v = t.version();
            t.cancel(now)?;
            change.events.push(about(request, events::TASK_CANCELLED, actor, now, json!({ "task": t.id(), "reason": reason })));
            change.tasks.push(Versioned::update(t, v));
        }
        Ok(())
    }

    fn open_task(&self, req: &mut Request, e: &EntitlementId, group: writ_core::ids::GroupId, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        let task = FulfilmentTask::open(TaskId::from_uuid(Uuid::new_v4()), req.id(), req.subject().clone(), e.clone(), group.clone(), now);
        req.record_fulfilment(e, TargetFulfilment::WithPerson { task: task.id() }, now)?;
        change.events.push(about(
            req.id(),
            events::TASK_OPENED,
            "system",
            now,
            json!({
                "task": task.id(),
                "entitlement": e,
                "fulfiller_group": group,
            }),
        ));
        change.tasks.push(Versioned::new(task));
        Ok(())
    }

    pub(crate) fn connector_for(&self, e: &EntitlementId) -> Result<&std::sync::Arc<dyn Connector>, AppError> {
        self.connectors.get(e.target()).ok_or_else(|| AppError::NoConnector { target: e.target().to_string() })
    }

    /// The order for `e` of `req`; `subject` gives the account's kind.
    fn order(&self, req: &Request, e: &EntitlementId, subject: Option<&Identity>, now: DateTime<Utc>) -> Order {
        order_for(req.id(), req.subject(), subject, e, Some(now + req.duration().as_delta()))
    }

    /// `actor` records that task `id` was carried out, with `evidence`. Its
    /// entitlement is then in place: its grant starts, and the request is
    /// active once everything is.
    pub async fn complete_task(&self, actor: &Identity, id: TaskId, evidence: &str) -> Result<FulfilmentTask, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut task = self.store.task(id).await?.ok_or_else(|| AppError::NotFound { what: "task", id: id.to_string() })?;
            let task_version = task.version();
            let mut req = self.load_request(task.request_id()).await?;
            let req_version = req.version();
            let now = self.clock.now();
            task.complete(actor, evidence, req.approvers(), now)?;
            let mut change = Change::default();
            change.events.push(about(
                req.id(),
                events::TASK_COMPLETED,
                actor.id.as_str(),
                now,
                json!({
                    "task": task.id(),
                    "entitlement": task.entitlement(),
                    "evidence": evidence.trim(),
                }),
            ));
            match task.purpose().clone() {
                TaskPurpose::Grant => {
                    // The request is approved: it already counts in the
                    // subject's holdings, so no guard need go with this change.
                    self.may_receive_now(&req, "complete this task", Receiving::Fulfilment).await?;
                    let before = req.state();
                    req.record_fulfilment(task.entitlement(), TargetFulfilment::Done { at: now, read_back: false }, now)?;
                    let started = start_grant(&req, task.entitlement(), now, &mut change);
                    self.supersede_moved_grant(&req, started, now, &mut change).await?;
                    announce_state(&req, before, now, &mut change);
                    change.requests.push(Versioned::update(req, req_version));
                }
                TaskPurpose::Revoke { grant } => {
                    // The request does not change: one of its grants ended.
                    let mut g = self.store.grant(grant).await?.ok_or_else(|| AppError::NotFound { what: "grant", id: grant.to_string() })?;
                    let loaded = g.version();
                    g.finish_removal(now)?;
                    change.events.push(about(
                        req.id(),
                        events::GRANT_REMOVAL_ATTESTED,
                        actor.id.as_str(),
                        now,
                        json!({
                            "grant": grant,
                            "entitlement": g.entitlement(),
                            "task": task.id(),
                            "state": g.state().as_str(),
                        }),
                    ));
                    change.grants.push(Versioned::update(g, loaded));
                }
            }
            change.tasks.push(Versioned::update(task.clone(), task_version));
            if self.committed(change).await? {
                return Ok(task);
            }
        }
        Err(AppError::Conflict { what: "task", id: id.to_string() })
    }

    /// Claims for this node up to `limit` jobs that are due, each for
    /// `job_lease`; run each with [`Writ::run_job`].
    pub async fn claim_due_jobs(&self, limit: u32) -> Result<Vec<Job>, AppError> {
        Ok(self.store.claim_jobs(self.clock.now(), self.settings.job_lease, limit, &self.settings.node).await?)
    }

    /// Claims the jobs that are due, runs them side by side and waits for all
    /// of them. Returns how many ran. For tests and benchmarks, which want a
    /// step that ends: the server's worker keeps jobs in flight instead and
    /// claims more as each ends, so a long job never holds up short ones.
    /// Safe to call from several nodes.
    pub async fn run_due_jobs(self: &Arc<Self>, limit: u32) -> Result<usize, AppError> {
        let jobs = self.claim_due_jobs(limit).await?;
        let count = jobs.len();
        let mut running = tokio::task::JoinSet::new();
        for job in jobs {
            let writ = Arc::clone(self);
            running.spawn(async move { writ.run_job(&job).await });
        }
        while let Some(done) = running.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "a job panicked; its claim lapses and it runs again");
            }
        }
        Ok(count)
    }

    /// Runs one job this node claimed until its outcome is committed,
    /// renewing the claim every third of `job_lease` meanwhile, so that no
    /// other node takes it however long it runs. A failure before the
    /// outcome is recorded is logged: the claim lapses and the job runs again.
    pub async fn run_job(&self, job: &Job) {
        let outcome = self
            .holding_claim(&job.id, async {
                match (&job.kind, job.request, &job.entitlement) {
                    (JobKind::Provision, Some(request), Some(e)) => self.provision(job, request, e).await,
                    (JobKind::Provision, _, _) => self.finish_job_only(job).await,
                    (JobKind::Revoke { grant }, _, _) => self.remove(job, *grant).await,
                    (JobKind::Notify { notification }, _, _) => self.deliver(job, notification).await,
                    (JobKind::WriteBack { update }, _, _) => self.run_write_back(job, update).await,
                    (JobKind::Reprovision { grant }, _, _) => self.reprovision(job, *grant).await,
                    (JobKind::Reconcile { target }, _, _) => self.scheduled_reconcile(job, target).await,
                }
            })
            .await;
        if let Err(e) = outcome {
            // The claim lapses and the job runs again; nothing was recorded.
            tracing::warn!(job = %job.id, error = %e, "job failed before recording its outcome");
        }
    }

    /// Runs `work` while renewing this node's claim on job `id`: every third
    /// of `job_lease`, from a task of its own (so a worker thread busy with
    /// the work does not delay it), until `work` ends or is dropped.
    pub(crate) async fn holding_claim<T>(&self, id: &str, work: impl Future<Output = T>) -> T {
        let heartbeat =
            tokio::spawn(renew_claim(Arc::clone(&self.store), Arc::clone(&self.clock), id.to_owned(), self.settings.node.clone(), self.settings.job_lease));
        let _stop = AbortOnDrop(heartbeat);
        work.await
    }

    /// Runs one provisioning job (entitlement `e` of request `request`) and
    /// records its outcome.
    async fn provision(&self, job: &Job, request: writ_core::ids::RequestId, e: &EntitlementId) -> Result<(), AppError> {
        let req = self.load_request(request).await?;
        if !still_to_do(&req, e) {
            return self.finish_job_only(job).await;
        }
        let subject = self.store.identity(req.subject()).await?;
        let now = self.clock.now();
        let order = self.order(&req, e, subject.as_ref(), now);
        let connector = self.connector_for(e)?.clone();
        let attempt = match self.receive_refusal(&req, Receiving::Fulfilment).await? {
            Some(reason) => Attempt::Refused { reason },
            None => attempt(&*connector, &order).await,
        };
        // The target has been changed (or not) once; now record it, reloading
        // the request if someone else wrote it meanwhile. Never redo the grant.
        for _ in 0..MAX_ATTEMPTS {
            let mut req = self.load_request(request).await?;
            if !still_to_do(&req, e) {
                return self.finish_job_only(job).await;
            }
            let loaded = req.version();
            let now = self.clock.now();
            let mut change = Change::default();
            self.record_attempt(&mut req, job, e, connector.info().kind, &order, &attempt, now, &mut change).await?;
            change.requests.push(Versioned::update(req, loaded));
            if self.committed(change).await? {
                return Ok(());
            }
        }
        Err(AppError::Conflict { what: "request", id: request.to_string() })
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_attempt(
        &self,
        req: &mut Request,
        job: &Job,
        e: &EntitlementId,
        kind: &str,
        order: &Order,
        attempt: &Attempt,
        now: DateTime<Utc>,
        change: &mut Change,
    ) -> Result<(), AppError> {
        let before_state = req.state();
        match attempt {
            Attempt::Verified { applied, before, after } => {
                req.record_fulfilment(e, TargetFulfilment::Done { at: now, read_back: true }, now)?;
                change.events.push(about(
                    req.id(),
                    events::ENTITLEMENT_VERIFIED,
                    kind,
                    now,
                    json!({
                        "entitlement": e,
                        "account": order.account.name,
                        "resource": order.resource,
                        "applied": applied_str(applied),
                        "before": before,
                        "after": after,
                        "verified": true,
                        "attempt": job.attempts + 1,
                        "node": self.settings.node,
                    }),
                ));
                let started = start_grant(req, e, now, change);
                self.supersede_moved_grant(req, started, now, change).await?;
                change.finished_jobs.push(job.id.clone());
            }
            Attempt::WithPerson { group } => {
                self.open_task(req, e, group.clone(), now, change)?;
                change.finished_jobs.push(job.id.clone());
            }
            Attempt::Refused { reason } => {
                change.events.push(about(
                    req.id(),
                    events::ENTITLEMENT_FAILED,
                    "system",
                    now,
                    json!({ "entitlement": e, "account": order.account.name, "resource": order.resource, "error": reason, "refused": true, "retryable": false }),
                ));
                change.finished_jobs.push(job.id.clone());
                req.record_fulfilment(e, TargetFulfilment::Failed { error: reason.clone(), at: now }, now)?;
            }
            Attempt::Failed { error, before, after } => {
                let attempts = job.attempts + 1;
                let gave_up = matches!(error, ConnectorError::ReadBackMismatch { .. }) && attempts >= crate::ports::READ_BACK_ATTEMPTS;
                let status = if error.is_transient() && !gave_up {
                    let next_at = now + backoff(attempts);
                    change.jobs.push(Job { due_at: next_at, attempts, ..job.clone() });
                    TargetFulfilment::Retrying { attempts, error: error.to_string(), next_at }
                } else {
                    change.finished_jobs.push(job.id.clone());
                    TargetFulfilment::Failed { error: error.to_string(), at: now }
                };
                change.events.push(about(
                    req.id(),
                    events::ENTITLEMENT_FAILED,
                    kind,
                    now,
                    json!({
                        "entitlement": e,
                        "account": order.account.name,
                        "resource": order.resource,
                        "error": error.to_string(),
                        "retryable": error.is_transient() && !gave_up,
                        "attempt": attempts,
                        "next_attempt_at": match &status { TargetFulfilment::Retrying { next_at, .. } => Some(next_at), _ => None },
                        "before": before,
                        "after": after,
                    }),
                ));
                req.record_fulfilment(e, status, now)?;
            }
        }
        announce_state(req, before_state, now, change);
        Ok(())
    }

    /// Runs one re-provisioning job: puts a missing grant's access back, with
    /// read-back, and records it in the grant's request's evidence.
    async fn reprovision(&self, job: &Job, id: GrantId) -> Result<(), AppError> {
        let Some(g) = self.store.grant(id).await? else { return self.finish_job_only(job).await };
        if g.state() != &writ_core::grant::GrantState::Active {
            return self.finish_job_only(job).await;
        }
        let subject = self.store.identity(g.subject()).await?;
        let order = order_for(g.request_id(), g.subject(), subject.as_ref(), g.entitlement(), Some(g.expires_at()));
        let connector = self.connector_for(g.entitlement())?.clone();
        let kind = connector.info().kind;
        // Putting access back is access coming into being again.
        let req = self.load_request(g.request_id()).await?;
        let outcome = match self.receive_refusal(&req, Receiving::Fulfilment).await? {
            Some(reason) => Attempt::Refused { reason },
            None => attempt(&*connector, &order).await,
        };
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut g) = self.store.grant(id).await? else { return self.finish_job_only(job).await };
            let loaded = g.version();
            let now = self.clock.now();
            let attempts = job.attempts + 1;
            let mut change = Change::default();
            match &outcome {
                Attempt::Verified { applied, before, after } => {
                    change.events.push(about(
                        g.request_id(),
                        events::GRANT_REPROVISIONED,
                        kind,
                        now,
                        json!({
                            "grant": g.id(),
                            "entitlement": g.entitlement(),
                            "account": order.account.name,
                            "applied": applied_str(applied),
                            "before": before,
                            "after": after,
                            "verified": true,
                            "attempt": attempts,
                            "node": self.settings.node,
                        }),
                    ));
                    if let Some(drift) = g.observe_on_target(true, now) {
                        change.events.push(about(
                            g.request_id(),
                            drift.event_kind(),
                            "system",
                            now,
                            json!({ "grant": g.id(), "entitlement": g.entitlement(), "live": true }),
                        ));
                        change.grants.push(Versioned::update(g.clone(), loaded));
                    }
                    change.finished_jobs.push(job.id.clone());
                }
                Attempt::Failed { error, .. } if error.is_transient() => {
                    change.jobs.push(Job { due_at: now + backoff(attempts), attempts, ..job.clone() });
                }
                Attempt::Failed { error, before, after } => {
                    change.events.push(about(
                        g.request_id(),
                        events::GRANT_REPROVISION_FAILED,
                        kind,
                        now,
                        json!({
                            "grant": g.id(),
                            "entitlement": g.entitlement(),
                            "error": error.to_string(),
                            "before": before,
                            "after": after,
                            "attempt": attempts,
                        }),
                    ));
                    change.finished_jobs.push(job.id.clone());
                }
                Attempt::Refused { reason } => {
                    change.events.push(about(
                        g.request_id(),
                        events::GRANT_REPROVISION_FAILED,
                        "system",
                        now,
                        json!({ "grant": g.id(), "entitlement": g.entitlement(), "error": reason, "refused": true }),
                    ));
                    change.finished_jobs.push(job.id.clone());
                }
                Attempt::WithPerson { group } => {
                    change.events.push(about(
                        g.request_id(),
                        events::GRANT_REPROVISION_FAILED,
                        kind,
                        now,
                        json!({
                            "grant": g.id(),
                            "error": format!("a manual target: group `{group}` must put it back by hand"),
                        }),
                    ));
                    change.finished_jobs.push(job.id.clone());
                }
            }
            if self.committed(change).await? {
                return Ok(());
            }
        }
        Err(AppError::Conflict { what: "grant", id: id.to_string() })
    }

    pub(crate) async fn finish_job_only(&self, job: &Job) -> Result<(), AppError> {
        self.commit(Change { finished_jobs: vec![job.id.clone()], ..Change::default() }).await?;
        Ok(())
    }
}

/// The shortest wait between two renewals of a claim, whatever `job_lease`.
const MIN_RENEW_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Renews `node`'s claim on job `id` every third of `lease`, for `lease`
/// from then, until aborted or the claim is no longer `node`'s.
async fn renew_claim(store: Arc<dyn Store>, clock: Arc<dyn Clock>, id: String, node: String, lease: TimeDelta) {
    let every = (lease / 3).to_std().unwrap_or_default().max(MIN_RENEW_EVERY);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.renew_claim(&id, clock.now() + lease, &node).await {
            Ok(true) => tracing::debug!(job = %id, "job claim renewed"),
            Ok(false) => {
                // Either the outcome was committed a moment ago (the job is
                // gone, or queued again) or another node took the job after
                // this one failed to renew in time.
                match store.job_claim(&id, clock.now()).await {
                    Ok(Some(holder)) => tracing::warn!(
                        job = %id,
                        node = %node,
                        holder = %holder.node,
                        "this node's claim on a job it is running is gone: node `{}` took it after this one failed to renew it within `job_lease`, and may be running it too",
                        holder.node
                    ),
                    Ok(None) => tracing::debug!(job = %id, "the job's claim ended with its outcome"),
                    Err(e) => tracing::warn!(job = %id, error = %e, "this node's claim on a job it is running is gone, and who holds it could not be read"),
                }
                return;
            }
            Err(e) => tracing::warn!(job = %id, error = %e, "renewing a job's claim failed; trying again at the next renewal"),
        }
    }
}

/// Aborts a task when dropped: the heartbeat of a job whose work ended,
/// failed, panicked or was cancelled.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether `e` of `req` still waits for its connector (the request may have
/// been cancelled, or a duplicate job may have finished it).
fn still_to_do(req: &Request, e: &EntitlementId) -> bool {
    matches!(req.state(), RequestState::Approved | RequestState::PartiallyFulfilled)
        && matches!(req.fulfilment().get(e), Some(TargetFulfilment::Queued | TargetFulfilment::Retrying { .. }))
}

/// What a connector is asked about `e` for `subject_id`, whose identity (if
/// known) gives the account's kind.
pub(crate) fn order_for(
    request: writ_core::ids::RequestId,
    subject_id: &writ_core::ids::IdentityId,
    subject: Option<&Identity>,
    e: &EntitlementId,
    expires_at: Option<DateTime<Utc>>,
) -> Order {
    Order {
        request,
        subject: subject_id.clone(),
        account: Account { name: subject_id.to_string(), kind: subject.map_or(writ_core::identity::IdentityKind::Person, |s| s.kind) },
        entitlement: e.clone(),
        resource: e.name().to_string(),
        expires_at,
    }
}

/// Read before, grant, read after: the entitlement diff and its verification.
pub(crate) async fn attempt(connector: &dyn Connector, order: &Order) -> Attempt {
    let before = match connector.read_account(&order.account).await {
        Ok(s) => s,
        Err(error) => return Attempt::Failed { error, before: None, after: None },
    };
    let applied = match connector.grant(order).await {
        Ok(Applied::NeedsPerson { group }) => return Attempt::WithPerson { group },
        Ok(a) => a,
        Err(error) => return Attempt::Failed { error, before: Some(before), after: None },
    };
    match connector.read_account(&order.account).await {
        Ok(after) if after.holds(&order.resource) => Attempt::Verified { applied, before, after },
        Ok(after) => Attempt::Failed {
            error: ConnectorError::ReadBackMismatch {
                target: order.entitlement.target().to_string(),
                detail: format!("after the grant, `{}` does not show `{}` for `{}`", order.entitlement.target(), order.resource, order.account.name),
            },
            before: Some(before),
            after: Some(after),
        },
        Err(error) => Attempt::Failed { error, before: Some(before), after: None },
    }
}

pub(crate) fn applied_str(a: &Applied) -> &'static str {
    match a {
        Applied::Changed => "changed",
        Applied::AlreadyPresent => "already_present",
        Applied::AlreadyAbsent => "already_absent",
        Applied::NeedsPerson { .. } => "needs_person",
    }
}

/// Records the request's move to active, partially fulfilled or failed.
fn announce_state(req: &Request, before: RequestState, now: DateTime<Utc>, change: &mut Change) {
    if req.state() == before {
        return;
    }
    let kind = match req.state() {
        RequestState::Active => events::REQUEST_ACTIVATED,
        RequestState::PartiallyFulfilled => events::REQUEST_PARTIALLY_FULFILLED,
        RequestState::Failed => events::REQUEST_FAILED,
        _ => return,
    };
    let status: serde_json::Map<String, serde_json::Value> = req.fulfilment().iter().map(|(e, s)| (e.to_string(), json!(s.as_str()))).collect();
    change.events.push(about(req.id(), kind, "system", now, json!({ "fulfilment": status })));
}

/// Starts the grant of `entitlement` for the request's subject: access is in place
/// from `now` for the requested duration. Returns its id.
fn start_grant(req: &Request, entitlement: &EntitlementId, now: DateTime<Utc>, change: &mut Change) -> GrantId {
    let grant = Grant::start(GrantId::from_uuid(Uuid::new_v4()), req.id(), req.subject().clone(), entitlement.clone(), req.duration(), now);
    change.events.push(about(
        req.id(),
        events::GRANT_STARTED,
        "system",
        now,
        json!({
            "grant": grant.id(),
            "subject": grant.subject(),
            "entitlement": grant.entitlement(),
            "starts_at": grant.starts_at(),
            "expires_at": grant.expires_at(),
        }),
    ));
    let id = grant.id();
    change.grants.push(Versioned::new(grant));
    id
}
