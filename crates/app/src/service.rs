use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::TimeDelta;
use writ_core::catalog::Catalog;
use writ_core::identity::Identity;
use writ_core::ids::{IdentityId, TargetId};
use writ_policy::{AdminAction, PolicyEngine};

use crate::ports::{Change, Clock, Connector, DecisionObserver, NoObserver, Notifier, Store, StoreError};
use crate::AppError;

/// Tunables of the workflow.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a request may wait for review before it lapses.
    pub lapse_after: TimeDelta,
    /// How long a grant may stay *revoking* (its access not yet proved removed)
    /// before it is listed as overdue. Retries go on either way.
    pub removal_overdue_after: TimeDelta,
    /// How long a worker holds a claimed job: a worker that dies mid-job loses
    /// its claim after this, and another (or itself, restarted) runs the job.
    pub job_lease: TimeDelta,
    /// How long after a break-glass use its post-event review is due.
    pub break_glass_review_within: TimeDelta,
    /// How many break-glass uses of one entitlement a subject may hold whose
    /// post-event review is still open: one more is refused.
    pub break_glass_max_unreviewed: u32,
    /// This node's name, recorded in the evidence of the jobs it runs (several
    /// nodes may share one database).
    pub node: String,
    /// How each target is reconciled (absent: report everything, ignore nothing).
    pub reconcile: BTreeMap<TargetId, crate::reconcile::TargetReconcile>,
    /// Most reactions one run carries out; beyond, observations are reported
    /// as not acted on (a safety valve against a wrong ignore list).
    pub reconcile_max_actions: u64,
    /// How often every target is reconciled on schedule (none: on demand only).
    pub reconcile_every: Option<TimeDelta>,
    /// How long tokens may last (`[tokens]`).
    pub tokens: writ_core::token::TokenLimits,
    /// What happens to a grant policy no longer allows once its holder moved.
    pub on_move: crate::mover::OnMove,
    /// How long the owner's manager has to give a non-human identity whose
    /// owner left a new owner (or disable it) before it is overdue.
    pub owner_left_within: TimeDelta,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lapse_after: TimeDelta::days(7),
            removal_overdue_after: TimeDelta::minutes(15),
            job_lease: TimeDelta::minutes(2),
            break_glass_review_within: TimeDelta::hours(24),
            break_glass_max_unreviewed: 1,
            node: "writ".into(),
            reconcile: BTreeMap::new(),
            reconcile_max_actions: 1000,
            reconcile_every: None,
            tokens: Default::default(),
            on_move: Default::default(),
            owner_left_within: TimeDelta::days(14),
        }
    }
}

/// The application: the catalog, the policy engine and the ports, with the
/// use-cases as methods (one module each).
pub struct Writ {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) policy: Arc<PolicyEngine>,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Settings,
    pub(crate) observer: Arc<dyn DecisionObserver>,
    pub(crate) connectors: BTreeMap<TargetId, Arc<dyn Connector>>,
    pub(crate) notifier: Option<Arc<dyn Notifier>>,
    pub(crate) runs: crate::reconcile::RunsUnderWay,
    pub(crate) classifier: Option<Arc<dyn crate::ports::TicketClassifier>>,
    /// The service desks tickets come from, by their source name.
    pub(crate) desks: BTreeMap<String, Arc<dyn crate::ports::ServiceDesk>>,
}

/// Logs one decision: at debug level with its determining policies, and its
/// evaluation errors (a policy that failed and was skipped) as a warning.
fn log_decision(d: &writ_policy::Decision, principal: &str, resource: &str) {
    tracing::debug!(action = %d.action, principal, resource, allowed = d.allowed, policies = ?d.policy_ids, "policy decision");
    if !d.errors.is_empty() {
        tracing::warn!(action = %d.action, principal, resource, errors = ?d.errors, "policy evaluation errors (the failing policies were skipped)");
    }
}

/// How many rows a worker reads per page when it walks a whole set.
pub(crate) const PAGE: u32 = 500;

/// How many times a use-case reloads and reapplies after losing a version race.
pub(crate) const MAX_ATTEMPTS: usize = 5;

impl Writ {
    pub fn new(store: Arc<dyn Store>, policy: Arc<PolicyEngine>, catalog: Arc<Catalog>, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self {
            store,
            policy,
            catalog,
            clock,
            settings,
            observer: Arc::new(NoObserver),
            connectors: BTreeMap::new(),
            notifier: None,
            runs: Default::default(),
            classifier: None,
            desks: BTreeMap::new(),
        }
    }

    /// Reports every policy decision to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn DecisionObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// What reads tickets that arrive as free text (without it, every
    /// ticket that does not state its type waits in triage).
    pub fn with_classifier(mut self, classifier: Arc<dyn crate::ports::TicketClassifier>) -> Self {
        self.classifier = Some(classifier);
        self
    }

    /// The connector of each target.
    pub fn with_connectors(mut self, connectors: BTreeMap<TargetId, Arc<dyn Connector>>) -> Self {
        self.connectors = connectors;
        self
    }

    /// Sends notifications through `notifier` (without one, none are queued).
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Takes tickets from `desk` (see [`Writ::poll_desk`]) and writes back
    /// to them what became of each.
    pub fn with_desk(mut self, desk: Arc<dyn crate::ports::ServiceDesk>) -> Self {
        self.desks.insert(desk.source().to_owned(), desk);
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Asks policy about one entitlement, timing the decision for the observer
    /// and logging it (with its determining policies) at debug level.
    pub(crate) fn decide(&self, q: &writ_policy::DecisionQuery) -> writ_policy::Decision {
        let started = std::time::Instant::now();
        let d = self.policy.decide(q);
        self.observer.observe(&d.action, d.allowed, started.elapsed());
        log_decision(&d, &q.principal.id, &q.entitlement.id);
        d
    }

    /// Asks policy an administrative question (resource: the service), like
    /// [`Writ::decide`].
    pub(crate) fn decide_admin(&self, action: AdminAction, actor: &Identity) -> writ_policy::Decision {
        let started = std::time::Instant::now();
        let d = self.policy.decide_admin(action, &crate::facts::identity(actor));
        self.observer.observe(&d.action, d.allowed, started.elapsed());
        log_decision(&d, actor.id.as_str(), "service");
        d
    }

    /// The entitlements `actor` could ask for for itself: those policy
    /// (`request`) allows it in the most favourable request there is (the
    /// shortest duration, a justification and a ticket given). What policy
    /// refuses even then is hidden from the catalog; what it allows depending
    /// on the ask (a duration cap) is shown, and the ask itself is decided
    /// when filed.
    pub fn requestable(&self, actor: &Identity) -> Vec<&writ_core::catalog::Entitlement> {
        let relations = [writ_policy::Relation::Requester, writ_policy::Relation::Subject].map(|r| r.as_str().to_owned()).to_vec();
        self.catalog
            .entitlements()
            .filter(|e| {
                let q = writ_policy::DecisionQuery {
                    action: writ_policy::PolicyAction::Request,
                    principal: crate::facts::identity(actor),
                    subject: crate::facts::identity(actor),
                    entitlement: crate::facts::entitlement(e),
                    context: writ_policy::RequestContext {
                        duration_secs: 60,
                        justification: "the catalog's question: could this be asked for at all".into(),
                        ticket: Some("CATALOG".into()),
                        stage: None,
                        requester: actor.id.to_string(),
                        entitlement_count: 1,
                        relations: relations.clone(),
                        request_type: writ_core::ids::RequestTypeId::unstated().to_string(),
                    },
                };
                self.policy.decide(&q).allowed
            })
            .collect()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// What the connector of `target` is and can do.
    pub fn connector_info(&self, target: &writ_core::ids::TargetId) -> Option<crate::ports::ConnectorInfo> {
        self.connectors.get(target).map(|c| c.info())
    }
    pub fn policy(&self) -> &PolicyEngine {
        &self.policy
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Loads an identity that must exist.
    pub async fn identity(&self, id: &IdentityId) -> Result<Identity, AppError> {
        self.store.identity(id).await?.ok_or_else(|| AppError::NotFound { what: "identity", id: id.to_string() })
    }

    /// Commits one attempt of a use-case. `Ok(false)` means a concurrent update won
    /// the version race: the caller reloads and decides again (at most
    /// [`MAX_ATTEMPTS`] times), so an update is never lost nor applied to stale state.
    pub(crate) async fn committed(&self, change: Change) -> Result<bool, AppError> {
        match self.commit(change).await {
            Ok(_) => Ok(true),
            Err(StoreError::VersionConflict { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
