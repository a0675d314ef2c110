//! The ports the use-cases need. Adapters (`writ-store`, the server's clock)
//! implement them; tests may too.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;
use writ_core::audit::{AuditEvent, Checkpoint, EventHash, NewEvent};
use writ_core::grant::Grant;
use writ_core::identity::Identity;
use writ_core::ids::{GrantId, IdentityId, RequestId, TaskId, TokenId};
use writ_core::request::{Request, RequestState};
use writ_core::task::FulfilmentTask;
use writ_core::token::Token;

mod connector;
mod desk;
mod notify;
mod page;
mod reconcile;
mod scim;

pub use connector::{Account, AccountState, Applied, Connector, ConnectorError, ConnectorInfo, LiveEntitlement, Order, READ_BACK_ATTEMPTS};
pub use desk::{DeskStatus, DeskTicket, DeskUpdate, ServiceDesk};
pub use notify::{Notification, NotificationKind, Notifier, NotifyError};
pub use page::{Cursor, CursorError, Page};
pub use reconcile::{ActionTaken, LedgerRow, ReconcileRun, RunFilter, RunObservation, RunRecord, RunState};
pub use scim::{ScimChange, ScimGroupKey, ScimGroupRecord, ScimUserKey, ScimUserRecord, ScimUserRow};

/// The time, injected so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Told about every policy decision (for metrics); must be cheap and never fail.
pub trait DecisionObserver: Send + Sync {
    fn observe(&self, action: &str, allowed: bool, elapsed: std::time::Duration);
}

/// Reads a ticket's text and says what it asks for (the server's adapter
/// runs writ-intake's trained model): the prediction, and where that sends
/// the ticket — a request type, or triage when the model is unsure (a
/// governed ticket must never be sent to the help desk on a guess).
pub trait TicketClassifier: Send + Sync {
    fn classify(&self, subject: &str, body: &str) -> (writ_core::ticket::Prediction, writ_core::ticket::Disposition);
}

/// Observes nothing.
pub struct NoObserver;

impl DecisionObserver for NoObserver {
    fn observe(&self, _: &str, _: bool, _: std::time::Duration) {}
}

#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The compare-and-swap on `version` failed: someone else wrote first.
    #[error("{what} `{id}` was changed concurrently")]
    VersionConflict { what: &'static str, id: String },
    #[error("{what} `{id}` already exists")]
    Duplicate { what: &'static str, id: String },
    #[error("stored {what} could not be read: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("database error: {0}")]
    Database(String),
}

/// An aggregate to write: `expected_version` is `None` to insert a new one, or the
/// version it was loaded at, which the store checks before updating.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub expected_version: Option<u64>,
}

impl<T> Versioned<T> {
    pub fn new(value: T) -> Self {
        Self { value, expected_version: None }
    }
    pub fn update(value: T, loaded_at: u64) -> Self {
        Self { value, expected_version: Some(loaded_at) }
    }
}

/// Work a committed change leaves for a worker, on one entitlement of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    /// `provision:<request>:<entitlement>`, `revoke:<grant>` or
    /// `notify:<notification>`: one job per purpose.
    pub id: String,
    /// The request it serves (for a notification: the event's request, if any).
    pub request: Option<RequestId>,
    /// The entitlement it changes (none for a notification).
    pub entitlement: Option<writ_core::ids::EntitlementId>,
    /// When to run it (later after a failure).
    pub due_at: DateTime<Utc>,
    /// Attempts made so far.
    pub attempts: u32,
    #[serde(default)]
    pub kind: JobKind,
    /// Jobs of one queue run one at a time, in the order they were first
    /// queued: a later one is not claimed while an earlier one is pending
    /// (retrying included). Write-backs to one desk ticket share a queue,
    /// so the ticket tells its story in order and its last status wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

/// What a job does.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Put the entitlement in place through the target's connector.
    #[default]
    Provision,
    /// Take the access of `grant` away through the target's connector.
    Revoke { grant: GrantId },
    /// Deliver a notification through the configured notifier.
    Notify { notification: Box<Notification> },
    /// Put back the access of active `grant`, which reconciliation found missing.
    Reprovision { grant: GrantId },
    /// Reconcile `target` on schedule; queued again after each run.
    Reconcile { target: writ_core::ids::TargetId },
    /// Write what happened back to a service desk's ticket.
    WriteBack { update: Box<DeskUpdate> },
}

impl Job {
    pub fn provision(request: RequestId, entitlement: writ_core::ids::EntitlementId, due_at: DateTime<Utc>) -> Self {
        Job {
            id: format!("provision:{request}:{entitlement}"),
            request: Some(request),
            entitlement: Some(entitlement),
            due_at,
            attempts: 0,
            kind: JobKind::Provision,
            queue: None,
        }
    }

    pub fn reprovision(grant: &Grant, due_at: DateTime<Utc>) -> Self {
        Job {
            id: format!("reprovision:{}", grant.id()),
            request: Some(grant.request_id()),
            entitlement: Some(grant.entitlement().clone()),
            due_at,
            attempts: 0,
            kind: JobKind::Reprovision { grant: grant.id() },
            queue: None,
        }
    }

    pub fn reconcile(target: &writ_core::ids::TargetId, due_at: DateTime<Utc>) -> Self {
        Job {
            id: format!("reconcile:{target}"),
            request: None,
            entitlement: None,
            due_at,
            attempts: 0,
            kind: JobKind::Reconcile { target: target.clone() },
            queue: None,
        }
    }

    pub fn notify(n: Notification, due_at: DateTime<Utc>) -> Self {
        Job {
            id: format!("notify:{}", n.id),
            request: n.request,
            entitlement: None,
            due_at,
            attempts: 0,
            kind: JobKind::Notify { notification: Box::new(n) },
            queue: None,
        }
    }

    pub fn write_back(update: DeskUpdate, due_at: DateTime<Utc>) -> Self {
        Job {
            id: format!("write-back:{}", uuid::Uuid::new_v4()),
            request: update.request,
            entitlement: None,
            due_at,
            attempts: 0,
            queue: Some(format!("write-back:{}:{}", update.source, update.external_ref)),
            kind: JobKind::WriteBack { update: Box::new(update) },
        }
    }

    pub fn revoke(grant: &Grant, due_at: DateTime<Utc>) -> Self {
        Job {
            id: format!("revoke:{}", grant.id()),
            request: Some(grant.request_id()),
            entitlement: Some(grant.entitlement().clone()),
            due_at,
            attempts: 0,
            kind: JobKind::Revoke { grant: grant.id() },
            queue: None,
        }
    }
}

/// A node's claim on a job: until it ends, no other node runs the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClaim {
    /// The node holding it (`node_id`).
    pub node: String,
    /// When it ends unless renewed.
    pub until: DateTime<Utc>,
}

/// What [`Store::claim_job`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The job is claimed for the caller.
    Taken,
    /// Someone holds it already.
    HeldBy(JobClaim),
}

/// Everything one use-case writes. The store commits it in one transaction, audit
/// events and spawned jobs included, or not at all.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// `expected_version`: `None` for a new identity, else the version read.
    pub identities: Vec<Versioned<Identity>>,
    pub requests: Vec<Versioned<Request>>,
    pub tasks: Vec<Versioned<FulfilmentTask>>,
    pub grants: Vec<Versioned<Grant>>,
    /// Tickets taken in (a new one's `(source, external_ref)` must be new).
    pub tickets: Vec<Versioned<writ_core::ticket::Ticket>>,
    pub events: Vec<NewEvent>,
    /// Jobs to queue, or to queue again (same id: rescheduled, claim released).
    pub jobs: Vec<Job>,
    /// Jobs whose outcome this change records: removed from the queue.
    pub finished_jobs: Vec<String>,
    /// Finished reconciliation runs, with their observations.
    pub runs: Vec<RunRecord>,
    /// Holdings this change relied on (a separation-of-duties check): the
    /// commit fails with a `VersionConflict` if they changed since.
    pub guards: Vec<HoldingsGuard>,
    /// Inbound SCIM's records (see `ports::scim`).
    pub scim: ScimChange,
    /// Tokens issued or revoked, beside their audit events.
    pub tokens: Vec<TokenWrite>,
    /// Webhook deliveries accepted: a second one of the same source and id
    /// is a `Duplicate` (a replay), and the whole change is refused.
    pub deliveries: Vec<Delivery>,
}

/// One delivery of a service desk's or chat's webhook, by the id that makes
/// it unique at its source. Kept [`DELIVERY_MEMORY`]: longer than any
/// sender's signature window, so a replay inside it is always caught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub source: String,
    pub id: String,
    pub at: DateTime<Utc>,
}

/// How long accepted deliveries are remembered (Slack signs for 5 minutes;
/// Jira retries a delivery for hours): a delivery older than this is
/// refused by the signature window of every front door, never by memory.
pub const DELIVERY_MEMORY: chrono::TimeDelta = chrono::TimeDelta::days(2);

/// A token written by a [`Change`].
#[derive(Debug, Clone)]
pub enum TokenWrite {
    /// A new token, stored under its secret's SHA-256 hex hash (never the
    /// secret); for a sign-in, `proof` is the SHA-256 hex of the ID token it
    /// was exchanged for, which no other token may have (a `Duplicate`).
    Issue { token: Token, hash: String, proof: Option<String> },
    /// A transition of a stored token, compared-and-swapped on the version it
    /// was read at.
    Update(Versioned<Token>),
}

/// A subject's holdings as a separation-of-duties check read them: the
/// version of their guard then. A change carrying it commits only if no other
/// change that relied on the same subject's holdings committed since, and
/// bumps it, so of two changes racing on one subject the second is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldingsGuard {
    pub subject: IdentityId,
    pub version: u64,
}

impl HoldingsGuard {
    /// The `what` of the `VersionConflict` a stale guard causes.
    pub const CONFLICT: &'static str = "holdings of";
}

/// What stands open for one identity: see [`Store::standing`].
#[derive(Debug, Clone)]
pub struct Standing {
    pub grants: Vec<Grant>,
    pub requests: Vec<Request>,
    /// Read before the grants and requests: see [`HoldingsGuard`].
    pub guard: HoldingsGuard,
}

/// Which requests to list, newest first (`created_at` descending, then id).
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub state: Option<RequestState>,
    /// Requests where this identity is requester or subject.
    pub involving: Option<IdentityId>,
    /// Only break-glass uses whose post-event review is still open.
    pub break_glass_open: bool,
    /// Only the requests after this one in the list's order.
    pub after: Option<Cursor>,
    /// At most this many (at least 1: there is no default).
    pub limit: u32,
}

/// Which grants to list, by expiry (`expires_at`, then id).
#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    pub subject: Option<IdentityId>,
    pub request: Option<RequestId>,
    /// Grants that may still hold access (active or revoking).
    pub active_only: bool,
    /// Grants whose access is being removed (revoking).
    pub revoking_only: bool,
    /// Only grants whose removal started at or before this time (revoking
    /// ones: an overdue removal started before `now - removal_overdue_after`).
    pub removal_started_by: Option<DateTime<Utc>>,
    /// Only the grants after this one in the list's order.
    pub after: Option<Cursor>,
    /// At most this many (at least 1: there is no default).
    pub limit: u32,
}

/// Which tickets to list, newest first (`created_at` descending, then id).
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    /// A state name (`triage`, `needs_details`, `help_desk`, …).
    pub state: Option<String>,
    pub after: Option<Cursor>,
    /// At most this many (at least 1: there is no default).
    pub limit: u32,
}

/// Which tasks to list, oldest first (`created_at`, then id).
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub open_only: bool,
    pub request: Option<RequestId>,
    /// Only the tasks after this one in the list's order.
    pub after: Option<Cursor>,
    /// At most this many (at least 1: there is no default).
    pub limit: u32,
}

/// Which tokens to list, newest first (`created_at` descending, then id).
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    /// Tokens that authenticate as this identity or that it answers for.
    pub involving: Option<IdentityId>,
    /// Tokens that authenticate as this identity.
    pub identity: Option<IdentityId>,
    /// Only tokens not revoked (expired ones included).
    pub unrevoked_only: bool,
    /// Only the tokens after this one in the list's order.
    pub after: Option<Cursor>,
    /// At most this many (at least 1: there is no default).
    pub limit: u32,
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn commit(&self, change: Change) -> Result<Vec<AuditEvent>, StoreError>;

    async fn identity(&self, id: &IdentityId) -> Result<Option<Identity>, StoreError>;
    async fn identities(&self) -> Result<Vec<Identity>, StoreError>;
    /// Every identity with the version it is stored at (for a write that
    /// must not overwrite a change made since).
    async fn identities_versioned(&self) -> Result<Vec<(Identity, u64)>, StoreError>;
    /// The identity an API token (given as its SHA-256 hex hash) belongs to, in one
    /// lookup: every API call authenticates, so this is the hottest read.
    /// The token with this SHA-256 hex hash and the identity it authenticates
    /// as, in one indexed lookup: every API call authenticates, so this is
    /// the hottest read. Revoked and expired tokens are returned too (the
    /// caller says which).
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<(Token, Identity)>, StoreError>;
    async fn token(&self, id: TokenId) -> Result<Option<Token>, StoreError>;
    /// A page of tokens (see [`TokenFilter`]); a limit of 0 is an error.
    async fn tokens(&self, filter: &TokenFilter) -> Result<Vec<Token>, StoreError>;
    /// Notes that token `id` was used at `at`, if its recorded last use is
    /// older than [`writ_core::token::LAST_USE_PRECISION`]. Outside any
    /// `Change`: a use is not an event, and at most one write a minute per
    /// token keeps it off the hot path.
    async fn record_token_use(&self, id: TokenId, at: DateTime<Utc>) -> Result<(), StoreError>;

    async fn request(&self, id: RequestId) -> Result<Option<Request>, StoreError>;
    /// How many requests are in each state.
    async fn request_counts(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// A page of requests (see [`RequestFilter`]); a limit of 0 is an error.
    async fn requests(&self, filter: &RequestFilter) -> Result<Vec<Request>, StoreError>;
    /// Pending requests whose lapse time is at or before `now`.
    async fn due_lapses(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<RequestId>, StoreError>;

    /// Active grants whose expiry is at or before `now`, oldest first.
    async fn due_expiries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Grant>, StoreError>;

    /// Claims for `node` up to `limit` jobs due at `now` that nobody holds,
    /// for `lease`: until it ends (or as long as `node` renews it) no other
    /// worker gets them; a worker that dies loses them.
    async fn claim_jobs(&self, now: DateTime<Utc>, lease: chrono::TimeDelta, limit: u32, node: &str) -> Result<Vec<Job>, StoreError>;

    /// Claims `job` for `node` until `now + lease` whether it is due or not,
    /// queuing it first if it is absent, unless another claim on it still
    /// holds at `now`: then says whose. (Reconciliation takes a target's
    /// `reconcile:<target>` job this way for a run asked for on demand.)
    async fn claim_job(&self, job: &Job, now: DateTime<Utc>, lease: chrono::TimeDelta, node: &str) -> Result<Claimed, StoreError>;

    /// Extends to `until` the claim `node` holds on job `id`. False when
    /// `node` no longer holds it: the job was finished or queued again, or
    /// another node took it after this one's claim ran out.
    async fn renew_claim(&self, id: &str, until: DateTime<Utc>, node: &str) -> Result<bool, StoreError>;

    /// Who holds a claim on job `id` that still holds at `now`, if anyone.
    async fn job_claim(&self, id: &str, now: DateTime<Utc>) -> Result<Option<JobClaim>, StoreError>;

    async fn task(&self, id: TaskId) -> Result<Option<FulfilmentTask>, StoreError>;
    /// A page of tasks (see [`TaskFilter`]); a limit of 0 is an error.
    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<FulfilmentTask>, StoreError>;

    async fn grant(&self, id: GrantId) -> Result<Option<Grant>, StoreError>;
    /// A page of grants (see [`GrantFilter`]); a limit of 0 is an error.
    async fn grants(&self, filter: &GrantFilter) -> Result<Vec<Grant>, StoreError>;

    /// Everything that stands open for `identity`, with no limit (a check
    /// that saw only some of it would be a hole): the grants it holds that may
    /// still hold access (active or revoking), and the requests for it or by
    /// it that are unsettled (pending, approved, partially fulfilled) or owe a
    /// break-glass review.
    async fn standing(&self, identity: &IdentityId) -> Result<Standing, StoreError>;

    /// How many grants are revoking, and how many of them started their
    /// removal at or before `overdue_since`: counted, never loaded.
    async fn removal_counts(&self, overdue_since: DateTime<Utc>) -> Result<(u64, u64), StoreError>;
    /// Revoking grants whose removal started at or before `since`, by id,
    /// after `after` (a cursor: page until fewer than `limit` come back).
    async fn overdue_removals(&self, since: DateTime<Utc>, after: Option<GrantId>, limit: u32) -> Result<Vec<Grant>, StoreError>;
    /// How many break-glass uses' open reviews are exceptions at `now`.
    async fn break_glass_exception_count(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Break-glass uses whose open review is an exception at `now`, by id,
    /// after `after` (a cursor, as above).
    async fn break_glass_exceptions(&self, now: DateTime<Utc>, after: Option<RequestId>, limit: u32) -> Result<Vec<Request>, StoreError>;
    /// Pending requests with a reminder or escalation due at `now` (by id,
    /// after `after`; at most `limit`).
    async fn due_chases(&self, now: DateTime<Utc>, after: Option<RequestId>, limit: u32) -> Result<Vec<Request>, StoreError>;
    /// How many pending requests have an open stage past its SLA at `now`.
    async fn past_sla_count(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Audit events in `seq` order, starting after `after_seq`.
    async fn audit_events(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditEvent>, StoreError>;
    async fn request_events(&self, id: RequestId) -> Result<Vec<AuditEvent>, StoreError>;
    /// Every audit event about a request whose kind is one of `kinds`, at or
    /// after `since`: (request id, kind, time), in `seq` order. For the
    /// dashboard's flow times; `kinds` are event codes, bound as values.
    async fn request_event_times(&self, kinds: &[&str], since: DateTime<Utc>) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError>;
    async fn ticket(&self, id: writ_core::ids::TicketId) -> Result<Option<writ_core::ticket::Ticket>, StoreError>;
    /// The ticket `external_ref` of `source`, if it was taken in.
    async fn ticket_by_ref(&self, source: &str, external_ref: &str) -> Result<Option<writ_core::ticket::Ticket>, StoreError>;
    /// Every identity whose attribute `key` is `value` (the link to an
    /// account elsewhere: a Slack user, a Jira account). `key` is a plain
    /// name (letters, digits, `_`, `-`, `:`; at most 64); any other is refused.
    async fn identities_with_attribute(&self, key: &str, value: &str) -> Result<Vec<Identity>, StoreError>;
    /// Tickets newest first (`created_at` descending, then id), in `state` if given.
    async fn tickets(&self, filter: &TicketFilter) -> Result<Vec<writ_core::ticket::Ticket>, StoreError>;
    /// Triage choices made, and how many agreed with the classifier.
    async fn triage_counts(&self) -> Result<(u64, u64), StoreError>;
    /// How many audit events of `kind` the log holds (for counters that must
    /// survive restarts and add up across nodes).
    async fn event_count(&self, kind: &str) -> Result<u64, StoreError>;
    /// The log's size and head hash.
    async fn audit_head(&self) -> Result<(u64, EventHash), StoreError>;
    async fn add_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError>;
    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;

    /// Every grant ever made on `target` (for reconciliation), by columns.
    async fn ledger(&self, target: &writ_core::ids::TargetId) -> Result<Vec<LedgerRow>, StoreError>;
    async fn run(&self, id: writ_core::ids::RunId) -> Result<Option<ReconcileRun>, StoreError>;
    /// A page of runs, newest first (`started_at` descending, then id); a
    /// limit of 0 is an error.
    async fn runs(&self, filter: &RunFilter) -> Result<Vec<ReconcileRun>, StoreError>;
    /// A run's stored observations, in the order they were made.
    async fn run_observations(&self, id: writ_core::ids::RunId) -> Result<Vec<RunObservation>, StoreError>;

    /// Identities by id with their versions; ids not stored are left out.
    async fn identities_by_id(&self, ids: &[IdentityId]) -> Result<Vec<(Identity, u64)>, StoreError>;
    /// The identities whose owner is one of `owners`, with their versions.
    async fn identities_owned_by(&self, owners: &[IdentityId]) -> Result<Vec<(Identity, u64)>, StoreError>;
    /// A page of identities by id, after `after`, with their versions.
    async fn identities_page(&self, after: Option<&IdentityId>, limit: u32) -> Result<Vec<(Identity, u64)>, StoreError>;
    /// Non-human identities whose owner left (see `Identity::owner_left`),
    /// by deadline then id, due at or before `due_by` if given, after
    /// `after` (a cursor: page until fewer than `limit` come back).
    async fn owner_left_identities(&self, due_by: Option<DateTime<Utc>>, after: Option<&Cursor>, limit: u32) -> Result<Vec<(Identity, u64)>, StoreError>;
    /// How many identities are flagged as their owner having left, and how
    /// many of them are due at or before `now`: counted, never loaded.
    async fn owner_left_counts(&self, now: DateTime<Utc>) -> Result<(u64, u64), StoreError>;
    /// People with their SCIM records (see [`ScimUserKey`]), by id.
    async fn scim_users(&self, key: &ScimUserKey) -> Result<Vec<ScimUserRow>, StoreError>;
    /// How many people SCIM has not deleted, and the ids of `limit` of them
    /// from position `offset` (0-based) in id order: an unfiltered SCIM list
    /// page. SCIM pages by position (`startIndex`, RFC 7644 §3.4.2.4), not
    /// by cursor, so this one list reads by offset.
    async fn scim_user_page(&self, offset: u64, limit: u32) -> Result<(u64, Vec<IdentityId>), StoreError>;
    /// SCIM groups with their versions (see [`ScimGroupKey`]).
    async fn scim_groups(&self, key: &ScimGroupKey) -> Result<Vec<(ScimGroupRecord, u64)>, StoreError>;
    /// The people in each of `groups` that SCIM has not deleted, as (group,
    /// person) pairs ordered by group then person.
    async fn group_members(&self, groups: &[writ_core::ids::GroupId]) -> Result<Vec<(writ_core::ids::GroupId, IdentityId)>, StoreError>;

    /// Closes connections cleanly (SQLite folds its write-ahead log into the file).
    async fn close(&self) {}
}
