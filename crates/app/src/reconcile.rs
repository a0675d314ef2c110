//! Reconciliation: the live state of a target against the grants ledger.
//!
//! A run streams the target's entitlements through its connector into the
//! core's classifier, reacts to each exception as configured for its target
//! and situation (report, revoke, reprovision, review, adopt), marks the
//! evidence chain of every grant whose access disappeared or reappeared, and
//! records the run with its counts in one transaction with its audit event.
//!
//! Every reaction goes through the normal paths and leaves evidence: access
//! found without a grant is recorded on a request of origin `reconciliation`
//! (approved by nobody, with the finding in its chain), whose grant is then
//! revoked (a removal job with read-back), adopted (a grant approved by the
//! configured approver), or left pending for the entitlement's owners.
//!
//! A run, scheduled or asked for, holds the claim on its target's job
//! (`reconcile:<target>`), renewed while it lasts: across nodes, one run of a
//! target at most is under way, and one asked for meanwhile is refused.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;
use writ_core::break_glass::Origin;
use writ_core::duration::AccessDuration;
use writ_core::fulfilment::TargetFulfilment;
use writ_core::grant::{DriftChange, Grant};
use writ_core::identity::Identity;
use writ_core::ids::{EntitlementId, GrantId, IdentityId, RequestId, RunId, TargetId};
use writ_core::reconcile::{AccountHolder, Classifier, IgnoreRule, LedgerGrant, Observation, Reaction, Reactions, Situation, Standing};
use writ_core::request::{Request, RequestDraft, RequestState};

use crate::events::{self, about};
use crate::ports::{ActionTaken, Change, Claimed, Job, LedgerRow, ReconcileRun, RequestFilter, RunObservation, RunRecord, RunState, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::{AppError, Writ};

/// Who reconciliation's own requests name as requester.
pub const RECONCILER: &str = "writ-reconciler";

/// How one target is reconciled (`[reconcile.targets.<id>]`).
#[derive(Debug, Clone, Default)]
pub struct TargetReconcile {
    pub reactions: Reactions,
    /// Accounts and resources Writ must not touch: reported as ignored.
    pub ignore: Vec<IgnoreRule>,
    /// Who approves adopted access, and why (required for `adopt`).
    pub adopt: Option<Adoption>,
}

#[derive(Debug, Clone)]
pub struct Adoption {
    pub approver: IdentityId,
    pub reason: String,
}

impl TargetReconcile {
    /// `adopt` needs an approver and a reason.
    pub fn check(&self, target: &str) -> Result<(), String> {
        let adopts = Situation::ALL.iter().any(|s| self.reactions.for_situation(*s) == Reaction::Adopt);
        if adopts && self.adopt.as_ref().is_none_or(|a| a.reason.trim().is_empty()) {
            return Err(format!("target `{target}` adopts access: set `adopt_approver` and `adopt_reason`"));
        }
        Ok(())
    }
}

/// A run under way: rows read so far, for progress reports.
#[derive(Debug, Default)]
pub struct Progress {
    pub rows: AtomicU64,
}

/// Runs under way on this node, by id (a run is stored once it ends).
#[derive(Debug, Default)]
pub struct RunsUnderWay(Mutex<HashMap<RunId, (TargetId, Arc<Progress>)>>);

impl RunsUnderWay {
    pub fn get(&self, id: RunId) -> Option<(TargetId, u64)> {
        self.0.lock().expect("runs lock").get(&id).map(|(t, p)| (t.clone(), p.rows.load(Ordering::Relaxed)))
    }
}

/// This node's claim on one target's reconciliation, for a run asked for on
/// demand: from [`Writ::claim_reconciliation`], run with
/// [`Writ::reconcile_claimed`]. One not run lapses after `job_lease`.
#[derive(Debug)]
#[must_use = "a claim holds its target until it is run or its lease ends"]
pub struct ReconcileClaim {
    target: TargetId,
}

impl ReconcileClaim {
    pub fn target(&self) -> &TargetId {
        &self.target
    }
}

/// A target whose reconciliation another run holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetBusy {
    pub target: TargetId,
    /// The node running it.
    pub node: String,
    /// When its claim ends unless renewed (it is, while the run lasts).
    pub until: DateTime<Utc>,
}

impl std::fmt::Display for TargetBusy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a reconciliation run of `{}` is already under way on node `{}`: one run of a target at a time; wait for it to finish, \
             then read its report with `writ reconcile list --target {}`",
            self.target, self.node, self.target
        )
    }
}

/// What [`Writ::claim_reconciliation`] got.
#[derive(Debug)]
pub enum ReconcileClaims {
    /// Every target asked for, claimed for this node.
    Taken(Vec<ReconcileClaim>),
    /// The targets another run holds; nothing was claimed.
    Busy(Vec<TargetBusy>),
}

impl Writ {
    /// The targets that can be reconciled: those whose connector reads them.
    pub fn reconcilable_targets(&self) -> Vec<TargetId> {
        self.connectors.iter().filter(|(_, c)| c.info().reads_live_state).map(|(t, _)| t.clone()).collect()
    }

    /// Runs `id` of `target`, listed in [`Writ::runs_under_way`] while it lasts.
    pub async fn reconcile_tracked(&self, id: RunId, target: &TargetId, by: &str) -> Result<ReconcileRun, AppError> {
        let progress = Arc::new(Progress::default());
        self.runs.0.lock().expect("runs lock").insert(id, (target.clone(), progress.clone()));
        let result = self.reconcile(id, target, by, &progress).await;
        self.runs.0.lock().expect("runs lock").remove(&id);
        result
    }

    /// Runs under way on this node.
    pub fn runs_under_way(&self) -> &RunsUnderWay {
        &self.runs
    }

    /// Queues a scheduled run of every reconcilable target, `reconcile_every`
    /// from now (one job per target: whichever node claims it runs it). A
    /// target whose run is under way (on any node) is left alone: that run
    /// queues the next one when it ends.
    pub async fn schedule_reconciliation(&self) -> Result<(), AppError> {
        let Some(every) = self.settings.reconcile_every else { return Ok(()) };
        for target in self.reconcilable_targets() {
            // Queuing a job releases its claim: take the claim first, so a
            // run under way keeps it.
            let now = self.clock.now();
            let job = Job::reconcile(&target, now + every);
            match self.store.claim_job(&job, now, self.settings.job_lease, &self.settings.node).await? {
                Claimed::Taken => {
                    self.commit(Change { jobs: vec![job], ..Change::default() }).await?;
                }
                Claimed::HeldBy(c) => tracing::info!(%target, node = %c.node, "a reconciliation run is under way; it queues the next one when it ends"),
            }
        }
        Ok(())
    }

    /// A scheduled run, then the next one queued. The job's claim is renewed
    /// while it runs ([`Writ::run_job`]).
    pub(crate) async fn scheduled_reconcile(&self, job: &Job, target: &TargetId) -> Result<(), AppError> {
        if self.settings.reconcile_every.is_none() || !self.reconcilable_targets().contains(target) {
            return self.finish_job_only(job).await;
        }
        let id = RunId::from_uuid(Uuid::new_v4());
        if let Err(e) = self.reconcile_tracked(id, target, "schedule").await {
            tracing::error!(run = %id, %target, error = %e, "scheduled reconciliation failed");
        }
        self.queue_next_run(target).await
    }

    /// Claims the reconciliation of each of `targets` for this node, for a
    /// run asked for now: the same claim a scheduled run holds (the target's
    /// `reconcile:<target>` job, queued if absent), taken for `job_lease` and
    /// renewed while the run lasts, so that one run of a target at most is
    /// under way across nodes. All of them, or none when any is held.
    pub async fn claim_reconciliation(&self, targets: &[TargetId]) -> Result<ReconcileClaims, AppError> {
        let mut taken = Vec::new();
        let mut busy = Vec::new();
        for target in targets {
            let now = self.clock.now();
            // Should this node stop before running it, the job left behind is
            // the next scheduled run, or (no schedule) a job that only removes itself.
            let job = Job::reconcile(target, self.next_scheduled_run(now).unwrap_or(now));
            match self.store.claim_job(&job, now, self.settings.job_lease, &self.settings.node).await {
                Ok(Claimed::Taken) => taken.push(ReconcileClaim { target: target.clone() }),
                Ok(Claimed::HeldBy(c)) => busy.push(TargetBusy { target: target.clone(), node: c.node, until: c.until }),
                Err(e) => {
                    self.release_reconciliation(taken).await;
                    return Err(e.into());
                }
            }
        }
        if busy.is_empty() {
            return Ok(ReconcileClaims::Taken(taken));
        }
        self.release_reconciliation(taken).await;
        Ok(ReconcileClaims::Busy(busy))
    }

    /// Gives back claims that will not run: each target's job stays queued
    /// as it was, free for the next claim.
    async fn release_reconciliation(&self, claims: Vec<ReconcileClaim>) {
        for c in claims {
            let id = Job::reconcile(&c.target, self.clock.now()).id;
            if let Err(e) = self.store.renew_claim(&id, self.clock.now(), &self.settings.node).await {
                tracing::warn!(target = %c.target, error = %e, "could not give back a reconciliation claim; it lapses after `job_lease`");
            }
        }
    }

    /// Runs `id` on the target `claim` holds, as asked by `by`, listed in
    /// [`Writ::runs_under_way`] and renewing the claim while it lasts; then
    /// queues the target's next scheduled run, or removes its job when no
    /// schedule is set (either gives the claim back).
    pub async fn reconcile_claimed(&self, claim: ReconcileClaim, id: RunId, by: &str) -> Result<ReconcileRun, AppError> {
        let target = claim.target;
        let job = Job::reconcile(&target, self.clock.now()).id;
        let (run, queued) = self
            .holding_claim(&job, async {
                let run = self.reconcile_tracked(id, &target, by).await;
                (run, self.queue_next_run(&target).await)
            })
            .await;
        if let Err(e) = queued {
            tracing::warn!(%target, error = %e, "could not queue the next reconciliation; the claim lapses after `job_lease`");
        }
        run
    }

    /// When the next scheduled run of a target is due, for a run ending at `now`.
    fn next_scheduled_run(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.settings.reconcile_every.map(|every| now + every)
    }

    /// After a run of `target`: its job is queued again for the next
    /// scheduled run, or removed when none is scheduled. Either releases the
    /// claim the run held.
    async fn queue_next_run(&self, target: &TargetId) -> Result<(), AppError> {
        let now = self.clock.now();
        let change = match self.next_scheduled_run(now) {
            Some(due) => Change { jobs: vec![Job::reconcile(target, due)], ..Change::default() },
            None => Change { finished_jobs: vec![Job::reconcile(target, now).id], ..Change::default() },
        };
        self.commit(change).await?;
        Ok(())
    }

    /// Reconciles `target` once, as run `id` started by `by` (an identity or
    /// `schedule`). A target that cannot be read to the end gives a run in
    /// state `failed`, recorded too, that concludes nothing.
    pub async fn reconcile(&self, id: RunId, target: &TargetId, by: &str, progress: &Progress) -> Result<ReconcileRun, AppError> {
        let connector = self.connectors.get(target).ok_or_else(|| AppError::NotFound { what: "target", id: target.to_string() })?.clone();
        if !connector.info().reads_live_state {
            return Err(AppError::Domain(writ_core::DomainError::invalid(
                "target",
                format!("`{target}` is fulfilled by hand: Writ cannot read its live state; reconcile a target with a connector"),
            )));
        }
        let config = self.settings.reconcile.get(target).cloned().unwrap_or_default();
        let started_at = self.clock.now();
        let ledger = self.store.ledger(target).await?;
        let drifting: HashMap<GrantId, LedgerRow> = ledger.iter().filter(|r| !r.drift.is_empty()).map(|r| (r.grant, r.clone())).collect();
        let grants = ledger.iter().map(|r| LedgerGrant {
            grant: r.grant,
            subject: r.subject.clone(),
            account: r.subject.to_string(),
            resource: r.entitlement.name().to_string(),
            standing: standing(&r.state),
            expected: connector.approved_scope(r.entitlement.name().as_str()),
        });
        let registry = registry(&self.store.identities().await?);
        let mut classifier = Classifier::new(grants, registry, config.ignore.clone());
        // Exceptions are kept; matched rows only count, and only a grant
        // whose access was missing before needs to hear it is back.
        let mut exceptions: Vec<Observation> = Vec::new();
        let mut seen_again: Vec<GrantId> = Vec::new();
        let scanned = {
            let mut keep = |o: Observation| {
                if o.situation == Situation::Matched {
                    if let Some(g) = o.grant.filter(|g| drifting.contains_key(g)) {
                        seen_again.push(g);
                    }
                } else {
                    exceptions.push(o);
                }
            };
            let mut sink = |live| {
                progress.rows.fetch_add(1, Ordering::Relaxed);
                classifier.observe(live, &mut keep);
            };
            connector.scan(&mut sink).await
        };
        let live_rows = match scanned {
            Ok(n) => n,
            // Not the connector's "Writ will retry": a run is not retried, the
            // next one (scheduled or asked for) reads the target anew.
            Err(crate::ports::ConnectorError::Transient { detail, .. }) => {
                return self.record_failed_run(id, target, by, started_at, &config, format!("target `{target}` is unavailable: {detail}")).await
            }
            Err(e) => return self.record_failed_run(id, target, by, started_at, &config, e.to_string()).await,
        };
        let counts = classifier.finish(&mut |o| {
            if o.situation != Situation::Matched {
                exceptions.push(o);
            }
        });
        self.mark_drift(id, &exceptions, &seen_again, &drifting).await?;
        let (observations, actions) = self.react_to_all(id, target, exceptions, &config, &ledger).await?;
        let run = ReconcileRun {
            id,
            target: target.clone(),
            by: by.to_owned(),
            started_at,
            finished_at: self.clock.now(),
            state: RunState::Done,
            live_rows,
            counts,
            match_rate: counts.match_rate(),
            reactions: reactions_map(&config.reactions),
            actions,
            error: None,
        };
        self.record_run(run.clone(), observations).await?;
        tracing::info!(run = %id, %target, live_rows, match_rate = run.match_rate, counts = ?counts, "reconciliation run finished");
        Ok(run)
    }

    /// Carries out the configured reaction to each exception, at most
    /// `reconcile_max_actions` of them; returns them with what was done, and
    /// how many actions of each reaction were taken.
    async fn react_to_all(
        &self,
        id: RunId,
        target: &TargetId,
        exceptions: Vec<Observation>,
        config: &TargetReconcile,
        ledger: &[LedgerRow],
    ) -> Result<(Vec<RunObservation>, BTreeMap<String, u64>), AppError> {
        let ledger_by_grant: HashMap<GrantId, &LedgerRow> = ledger.iter().map(|r| (r.grant, r)).collect();
        let mut observations = Vec::with_capacity(exceptions.len());
        let mut actions: BTreeMap<String, u64> = BTreeMap::new();
        for o in exceptions {
            let reaction = config.reactions.for_situation(o.situation);
            let action = if reaction == Reaction::Report {
                None
            } else if actions.values().sum::<u64>() >= self.settings.reconcile_max_actions {
                Some(ActionTaken {
                    reaction,
                    request: None,
                    grant: None,
                    outcome: format!("not acted on: this run reached `[reconcile] max_actions` ({})", self.settings.reconcile_max_actions),
                })
            } else {
                let taken = self.react(id, target, &o, reaction, config, &ledger_by_grant).await?;
                *actions.entry(reaction.as_str().to_owned()).or_insert(0) += 1;
                Some(taken)
            };
            observations.push(RunObservation { observation: o, action });
        }
        Ok((observations, actions))
    }

    async fn record_failed_run(
        &self,
        id: RunId,
        target: &TargetId,
        by: &str,
        started_at: DateTime<Utc>,
        config: &TargetReconcile,
        error: String,
    ) -> Result<ReconcileRun, AppError> {
        tracing::error!(run = %id, %target, %error, "reconciliation could not read the target");
        let run = ReconcileRun {
            id,
            target: target.clone(),
            by: by.to_owned(),
            started_at,
            finished_at: self.clock.now(),
            state: RunState::Failed,
            live_rows: 0,
            counts: Default::default(),
            match_rate: 0.0,
            reactions: reactions_map(&config.reactions),
            actions: BTreeMap::new(),
            error: Some(error),
        };
        self.record_run(run.clone(), Vec::new()).await?;
        Ok(run)
    }

    /// The run, its observations and its audit event, in one transaction.
    async fn record_run(&self, run: ReconcileRun, observations: Vec<RunObservation>) -> Result<(), AppError> {
        let event = events::general(
            events::RECONCILE_RUN,
            &run.by,
            run.finished_at,
            json!({
                "run": run.id,
                "target": run.target,
                "state": run.state,
                "live_rows": run.live_rows,
                "counts": run.counts,
                "match_rate": run.match_rate,
                "actions": run.actions,
                "error": run.error,
            }),
        );
        self.commit(Change { events: vec![event], runs: vec![RunRecord { run, observations }], ..Change::default() }).await?;
        Ok(())
    }

    /// Marks, in each affected grant's evidence chain, access that
    /// disappeared from the target or came back (once per change).
    async fn mark_drift(&self, run: RunId, exceptions: &[Observation], seen_again: &[GrantId], drifting: &HashMap<GrantId, LedgerRow>) -> Result<(), AppError> {
        let mut live: BTreeMap<GrantId, bool> = BTreeMap::new();
        for o in exceptions {
            let Some(g) = o.grant else { continue };
            match o.situation {
                Situation::Missing => {
                    live.insert(g, false);
                }
                Situation::ExpiredButLive | Situation::ScopeMismatch | Situation::Ignored | Situation::UnknownIdentity => {
                    live.insert(g, true);
                }
                _ => {}
            }
        }
        for g in seen_again {
            live.insert(*g, true);
        }
        // Ended grants whose access had come back and is no longer shown.
        for (g, row) in drifting {
            if row.drift == "live_after_end" {
                live.entry(*g).or_insert(false);
            }
        }
        for (id, is_live) in live {
            for _ in 0..MAX_ATTEMPTS {
                let Some(mut g) = self.store.grant(id).await? else { break };
                let loaded = g.version();
                let now = self.clock.now();
                let Some(change) = g.observe_on_target(is_live, now) else { break };
                let event = about(
                    g.request_id(),
                    change.event_kind(),
                    "system",
                    now,
                    json!({
                        "grant": g.id(),
                        "subject": g.subject(),
                        "entitlement": g.entitlement(),
                        "run": run,
                        "grant_state": g.state().as_str(),
                        "live": is_live,
                    }),
                );
                if change == DriftChange::Disappeared || change == DriftChange::Reappeared {
                    tracing::warn!(grant = %id, entitlement = %g.entitlement(), kind = change.event_kind(), "the target contradicts the grant");
                }
                if self.committed(Change { events: vec![event], grants: vec![Versioned::update(g, loaded)], ..Change::default() }).await? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Carries out `reaction` for `o`. A reaction that cannot apply (an
    /// entitlement not in the catalog, an approver who may not approve) is
    /// reported as refused, not an error: the run goes on.
    async fn react(
        &self,
        run: RunId,
        target: &TargetId,
        o: &Observation,
        reaction: Reaction,
        config: &TargetReconcile,
        ledger: &HashMap<GrantId, &LedgerRow>,
    ) -> Result<ActionTaken, AppError> {
        let refused = |why: String| Ok(ActionTaken { reaction, request: None, grant: None, outcome: format!("refused: {why}") });
        if let Some(row) = o.grant.and_then(|g| ledger.get(&g)).filter(|r| r.state == "revoking") {
            // The normal path is already removing it: a second removal would
            // only race the first.
            return Ok(ActionTaken {
                reaction,
                request: Some(row.request),
                grant: Some(row.grant),
                outcome: "not acted on: its removal is already under way".into(),
            });
        }
        if reaction == Reaction::Reprovision {
            let Some(row) = o.grant.and_then(|g| ledger.get(&g)) else { return refused("no grant to put back".into()) };
            let g = self.store.grant(row.grant).await?.ok_or_else(|| AppError::NotFound { what: "grant", id: row.grant.to_string() })?;
            let now = self.clock.now();
            let mut change = Change::default();
            change.events.push(about(
                g.request_id(),
                events::GRANT_REPROVISION_QUEUED,
                "system",
                now,
                json!({ "grant": g.id(), "entitlement": g.entitlement(), "run": run }),
            ));
            change.jobs.push(Job::reprovision(&g, now));
            self.commit(change).await?;
            return Ok(ActionTaken { reaction, request: Some(g.request_id()), grant: Some(g.id()), outcome: "re-provisioning queued".into() });
        }
        let entitlement = match writ_core::ids::EntitlementName::parse(&o.resource).map(|n| EntitlementId::new(target.clone(), n)) {
            Ok(e) if self.catalog.entitlement(&e).is_ok() => e,
            _ => return refused(format!("`{target}/{}` is not in the catalog: add it, or an ignore rule", o.resource)),
        };
        let Ok(subject) = IdentityId::parse(&o.account) else {
            return refused(format!("account `{}` is not a name Writ can hold", o.account));
        };
        match reaction {
            Reaction::Revoke => self.remove_found(run, o, entitlement, subject).await,
            Reaction::Adopt => match &config.adopt {
                Some(a) => self.adopt_found(run, o, entitlement, subject, a).await,
                None => refused("no adopt_approver configured".into()),
            },
            Reaction::Review => self.review_found(run, o, entitlement, subject).await,
            Reaction::Report | Reaction::Reprovision => unreachable!("handled above"),
        }
    }

    /// A request (not yet committed) about access found on a target, with
    /// the finding as its first event; `why` says what Writ does about it.
    fn found(
        &self,
        run: RunId,
        o: &Observation,
        entitlement: &EntitlementId,
        subject: IdentityId,
        duration: AccessDuration,
        why: &str,
    ) -> Result<(Request, Change), AppError> {
        let now = self.clock.now();
        let draft = RequestDraft {
            requester: IdentityId::parse(RECONCILER).expect("a valid name"),
            subject,
            entitlements: vec![entitlement.clone()],
            justification: format!("reconciliation run {run} found `{}` holding `{entitlement}` ({}): {}. {why}", o.account, o.situation, o.note),
            duration,
            ticket: None,
            request_type: None,
        };
        let req = Request::open(RequestId::from_uuid(Uuid::new_v4()), draft, &self.catalog, now, self.settings.lapse_after)?
            .with_origin(Origin::Reconciliation { run, situation: o.situation.as_str().to_owned() });
        let mut change = Change::default();
        change.events.push(about(
            req.id(),
            events::RECONCILE_FOUND,
            "system",
            now,
            json!({
                "run": run,
                "situation": o.situation,
                "account": o.account,
                "resource": o.resource,
                "entitlement": entitlement,
                "live_detail": o.live_detail,
                "note": o.note,
            }),
        ));
        Ok((req, change))
    }

    /// A request recording access found on a target, approved and active
    /// at once (the access is there), with its grant starting now.
    fn found_request(
        &self,
        run: RunId,
        o: &Observation,
        entitlement: EntitlementId,
        subject: IdentityId,
        duration: AccessDuration,
        why: &str,
    ) -> Result<(Request, Grant, Change), AppError> {
        let now = self.clock.now();
        let (mut req, change) = self.found(run, o, &entitlement, subject, duration, why)?;
        req.approve_without_review(now)?;
        req.record_fulfilment(&entitlement, TargetFulfilment::Done { at: now, read_back: true }, now)?;
        let g = Grant::start(GrantId::from_uuid(Uuid::new_v4()), req.id(), req.subject().clone(), entitlement, req.duration(), now);
        Ok((req, g, change))
    }

    /// Removes access found without a grant, through the normal revocation
    /// path: a grant for what is there, ended at once, and a removal job that
    /// reads back.
    async fn remove_found(&self, run: RunId, o: &Observation, entitlement: EntitlementId, subject: IdentityId) -> Result<ActionTaken, AppError> {
        let minute = AccessDuration::parse("1m").expect("a valid duration");
        let (req, mut g, mut change) = self.found_request(run, o, entitlement, subject, minute, "Writ removes it.")?;
        let now = self.clock.now();
        let reconciler = IdentityId::parse(RECONCILER).expect("a valid name");
        let reason = format!("{} access found by reconciliation run {run}", o.situation);
        crate::expiry::request_revocation(&mut g, &reconciler, &reason, now, json!({}), &mut change)?;
        self.start_removal(&g, now, &mut change).await?;
        let (request, grant) = (req.id(), g.id());
        change.requests.push(Versioned::new(req));
        change.grants.push(Versioned::new(g));
        self.commit(change).await?;
        Ok(ActionTaken { reaction: Reaction::Revoke, request: Some(request), grant: Some(grant), outcome: "removal queued".into() })
    }

    /// Records access found without a grant as a grant, approved by the
    /// configured approver with the configured reason, for the
    /// entitlement's maximum duration.
    async fn adopt_found(&self, run: RunId, o: &Observation, entitlement: EntitlementId, subject: IdentityId, a: &Adoption) -> Result<ActionTaken, AppError> {
        let refused = |why: String| Ok(ActionTaken { reaction: Reaction::Adopt, request: None, grant: None, outcome: format!("refused: {why}") });
        let approver: Option<Identity> = self.store.identity(&a.approver).await?;
        match approver {
            Some(p) if p.kind.is_human() && p.status == writ_core::identity::IdentityStatus::Active && p.id != subject => {}
            _ => return refused(format!("adopt_approver `{}` must be an active person other than the holder", a.approver)),
        }
        let max = self.catalog.entitlement(&entitlement)?.max_duration;
        let (req, g, mut change) = self.found_request(run, o, entitlement, subject, max, "Adopted as it is.")?;
        // Adopting is access coming into being in Writ's books: a disabled
        // holder or a toxic combination is refused (and reported).
        let check = self.receive_check(&req, crate::submit::Receiving::Approval).await?;
        if let Some(why) = check.refusal {
            return refused(why);
        }
        change.guards.extend(check.guard);
        let now = self.clock.now();
        change.events.push(about(
            req.id(),
            events::RECONCILE_ADOPTED,
            a.approver.as_str(),
            now,
            json!({
                "grant": g.id(),
                "approver": a.approver,
                "reason": a.reason.trim(),
                "expires_at": g.expires_at(),
            }),
        ));
        change.events.push(about(
            req.id(),
            events::GRANT_STARTED,
            "system",
            now,
            json!({
                "grant": g.id(),
                "subject": g.subject(),
                "entitlement": g.entitlement(),
                "starts_at": g.starts_at(),
                "expires_at": g.expires_at(),
            }),
        ));
        let (request, grant) = (req.id(), g.id());
        change.requests.push(Versioned::new(req));
        change.grants.push(Versioned::new(g));
        self.commit(change).await?;
        Ok(ActionTaken { reaction: Reaction::Adopt, request: Some(request), grant: Some(grant), outcome: format!("adopted, approved by `{}`", a.approver) })
    }

    /// The owners denied keeping access that reconciliation found without a
    /// grant (`unapproved`): it is removed through the normal path. The grant
    /// added to the denied request stands for the access found, and ends
    /// once its removal is proved. (A denied scope mismatch leaves the
    /// approved grant alone: the next run reports it again.)
    pub(crate) async fn remove_denied_found_access(&self, req: &Request, actor: &Identity, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        if !matches!(req.origin(), Origin::Reconciliation { situation, .. } if situation == Situation::Unapproved.as_str()) {
            return Ok(());
        }
        for e in req.entitlements() {
            let mut g = Grant::start(GrantId::from_uuid(Uuid::new_v4()), req.id(), req.subject().clone(), e.clone(), req.duration(), now);
            let reason = format!("found by reconciliation; keeping it was denied by `{}`", actor.id);
            crate::expiry::request_revocation(&mut g, &actor.id, &reason, now, json!({}), change)?;
            self.start_removal(&g, now, change).await?;
            change.grants.push(Versioned::new(g));
        }
        Ok(())
    }

    /// Opens a request for access found without a (fitting) grant, for the
    /// entitlement's approval stages; unless one is already pending.
    async fn review_found(&self, run: RunId, o: &Observation, entitlement: EntitlementId, subject: IdentityId) -> Result<ActionTaken, AppError> {
        let pending = self.every_request(RequestFilter { state: Some(RequestState::Pending), involving: Some(subject.clone()), ..Default::default() }).await?;
        if let Some(open) = pending.iter().find(|r| matches!(r.origin(), Origin::Reconciliation { .. }) && r.entitlements() == [entitlement.clone()]) {
            return Ok(ActionTaken { reaction: Reaction::Review, request: Some(open.id()), grant: None, outcome: "a review is already open".into() });
        }
        let now = self.clock.now();
        let max = self.catalog.entitlement(&entitlement)?.max_duration;
        let (req, mut change) = self.found(run, o, &entitlement, subject, max, "Its owners approve to keep it as a grant.")?;
        let req = req.reviewed_by_owners();
        change.events.push(crate::notify::awaiting_review(&req, now));
        let request = req.id();
        change.requests.push(Versioned::new(req));
        self.commit(change).await?;
        Ok(ActionTaken { reaction: Reaction::Review, request: Some(request), grant: None, outcome: "review requested from the entitlement's owners".into() })
    }
}

/// Each identity's account name and what reconciliation needs of it: whether
/// it is a person, and for a non-human one whether its owner is active.
fn registry(identities: &[Identity]) -> Vec<(String, AccountHolder)> {
    let active: HashMap<&IdentityId, bool> = identities.iter().map(|i| (&i.id, i.status == writ_core::identity::IdentityStatus::Active)).collect();
    identities
        .iter()
        .map(|i| {
            let owner_active = i.owner.as_ref().is_some_and(|o| active.get(o).copied().unwrap_or(false));
            (i.id.to_string(), AccountHolder { identity: i.id.clone(), human: i.kind.is_human(), has_active_owner: owner_active })
        })
        .collect()
}

fn standing(state: &str) -> Standing {
    match state {
        "active" => Standing::Active,
        "revoking" => Standing::Revoking,
        _ => Standing::Ended,
    }
}

fn reactions_map(r: &Reactions) -> BTreeMap<String, Reaction> {
    Situation::ALL.iter().map(|s| (s.as_str().to_owned(), r.for_situation(*s))).collect()
}
