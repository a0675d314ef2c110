//! The world every rule test runs in: the real SQLite store in a temp dir, the
//! real Cedar demo policies, the manual connector, a small catalog built in
//! code, a registry of people and machines, and a clock the test moves by hand.
//!
//! The catalog (one manual target `ledger`, fulfilled by group `ledger-ops`):
//!
//! | entitlement      | owners          | risk     | stages                                  |
//! |------------------|-----------------|----------|-----------------------------------------|
//! | `ledger/read`    | olivia, oscar   | medium   | `owner`: 1 of the owners                |
//! | `ledger/write`   | olivia          | high     | `security`: 2 of group `security`       |
//! | `ledger/approve` | oscar           | medium   | `manager`: the subject's manager        |
//! | `ledger/low`     | olivia          | low      | `owner` (auto-approved for oneself ≤ 8h) |
//! | `ledger/open`    | olivia          | medium   | none                                    |
//! | `ledger/admin`   | oscar           | critical | `owner`                                 |
//!
//! `ledger/write` and `ledger/approve` are the toxic pair `ledger maker-checker`.
//!
//! The registry: alice and bob (managed by mona), mona, olivia (on call), oscar
//! (also in `ledger-ops`), sam and sue (`security`), dan and dora (`ledger-ops`),
//! the AI agent `agent` (owned by alice, in `security` and `ledger-ops`) and
//! the service account `svc` (owned by oscar).

#![allow(dead_code)] // each module uses what it needs

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use writ_app::ports::{Clock, Connector, GrantFilter, Store, TaskFilter};
use writ_app::{AppError, Settings, Writ};
use writ_connectors::ManualConnector;
use writ_core::audit::EventHash;
use writ_core::catalog::{ApproverRule, Catalog, Entitlement, EscalateTo, Fulfilment, RiskTier, StageSpec, Target, ToxicCombination};
use writ_core::duration::AccessDuration;
use writ_core::grant::Grant;
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::{EntitlementId, GroupId, IdentityId, RequestId, TargetId};
use writ_core::request::{Request, RequestDraft};
use writ_core::review::Verdict;
use writ_core::task::FulfilmentTask;
use writ_policy::PolicyEngine;

pub const READ: &str = "ledger/read";
pub const WRITE: &str = "ledger/write";
pub const APPROVE: &str = "ledger/approve";
pub const LOW: &str = "ledger/low";
pub const OPEN: &str = "ledger/open";
pub const ADMIN: &str = "ledger/admin";
pub const TOXIC: &str = "ledger maker-checker";

pub fn id(s: &str) -> IdentityId {
    IdentityId::parse(s).unwrap()
}

pub fn ent(s: &str) -> EntitlementId {
    EntitlementId::parse(s).unwrap()
}

pub fn group(s: &str) -> GroupId {
    GroupId::parse(s).unwrap()
}

pub fn hours(h: &str) -> AccessDuration {
    AccessDuration::parse(h).unwrap()
}

/// When every test starts.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

/// A clock the test moves by hand. [`HandClock::meet`] makes the next
/// readings wait for each other, to force use-cases into a version race.
pub struct HandClock {
    now: Mutex<DateTime<Utc>>,
    meeting: Mutex<Option<Meeting>>,
    arrived: Condvar,
}

struct Meeting {
    /// Readings still to join the meeting.
    expected: usize,
    /// Readings waiting at it.
    waiting: usize,
    /// Bumped when everyone arrived, releasing them.
    round: u64,
    /// Set if the meeting timed out before everyone came.
    failed: bool,
}

impl HandClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { now: Mutex::new(t0()), meeting: Mutex::new(None), arrived: Condvar::new() })
    }

    pub fn advance(&self, by: TimeDelta) {
        *self.now.lock().unwrap() += by;
    }

    /// The next `n` readings of the clock wait until all `n` were made (so `n`
    /// use-cases that read the clock right after loading what they change all
    /// load it first). Use it only on a multi-thread runtime.
    pub fn meet(&self, n: usize) {
        *self.meeting.lock().unwrap() = Some(Meeting { expected: n, waiting: 0, round: 0, failed: false });
    }

    /// Whether the last meeting happened (everyone came within the timeout).
    pub fn met(&self) -> bool {
        self.meeting.lock().unwrap().as_ref().is_none_or(|m| !m.failed && m.expected == 0)
    }

    fn wait_for_the_others(&self) {
        let mut guard = self.meeting.lock().unwrap();
        let Some(m) = guard.as_mut() else { return };
        if m.expected == 0 {
            return;
        }
        m.expected -= 1;
        m.waiting += 1;
        if m.expected == 0 {
            m.round += 1;
            m.waiting = 0;
            self.arrived.notify_all();
            return;
        }
        let round = m.round;
        let (mut guard, timeout) = self.arrived.wait_timeout_while(guard, Duration::from_secs(20), |m| m.as_ref().is_some_and(|m| m.round == round)).unwrap();
        if timeout.timed_out() {
            if let Some(m) = guard.as_mut() {
                m.failed = true;
                m.expected = 0;
            }
        }
    }
}

impl Clock for HandClock {
    fn now(&self) -> DateTime<Utc> {
        let meeting = self.meeting.lock().unwrap().as_ref().is_some_and(|m| m.expected > 0);
        if meeting {
            // Blocking here is the point; let the runtime move other tasks away.
            tokio::task::block_in_place(|| self.wait_for_the_others());
        }
        *self.now.lock().unwrap()
    }
}

fn stage(name: &str, approvers: ApproverRule, required: u32) -> StageSpec {
    StageSpec::new(name, approvers, required)
}

fn entitlement(name: &str, owners: &[&str], risk: RiskTier, stages: Vec<StageSpec>) -> Entitlement {
    Entitlement { id: ent(name), description: String::new(), owners: owners.iter().map(|o| id(o)).collect(), risk, stages, max_duration: hours("8h") }
}

/// The catalog of the module docs; without the toxic combination if `toxic` is false
/// (the catalog before someone added it).
pub fn catalog_with(toxic: bool) -> Catalog {
    catalog_of(toxic, None)
}

/// The catalog of the module docs (with its toxic combination), where three
/// stages have a service level: `ledger/read`'s `owner` (SLA 4h, reminded at
/// 2h, escalated to the owners' managers), `ledger/write`'s `security` (SLA
/// 8h, reminded at 1h, escalated to group `security-leads`) and
/// `ledger/approve`'s `manager` (SLA 1d, reminded at 12h, escalated to group
/// `ledger-leads`).
pub fn catalog_with_slas() -> Catalog {
    let with = |e: &mut Entitlement, sla: &str, remind: Option<&str>, to: &str| {
        let s = &mut e.stages[0];
        s.sla = Some(hours(sla));
        s.remind_after = remind.map(hours);
        s.escalate_to = Some(EscalateTo::parse(to).unwrap());
    };
    let base = catalog_with(true);
    let mut entitlements: Vec<Entitlement> = base.entitlements().cloned().collect();
    for e in &mut entitlements {
        match e.id.to_string().as_str() {
            READ => with(e, "4h", None, "manager"),
            WRITE => with(e, "8h", Some("1h"), "group:security-leads"),
            APPROVE => with(e, "1d", None, "group:ledger-leads"),
            _ => {}
        }
    }
    Catalog::new(base.targets().cloned().collect(), entitlements, base.toxic_combinations().to_vec()).unwrap()
}

/// The catalog of the module docs without entitlement `gone` (as after
/// someone took it out).
pub fn catalog_without(gone: &str) -> Catalog {
    catalog_of(false, Some(gone))
}

fn catalog_of(toxic: bool, gone: Option<&str>) -> Catalog {
    let owner = || stage("owner", ApproverRule::EntitlementOwners, 1);
    let target = Target {
        id: TargetId::parse("ledger").unwrap(),
        description: "the payments ledger, changed by hand".into(),
        owners: vec![id("olivia")],
        fulfilment: Fulfilment::Manual { fulfiller_group: group("ledger-ops") },
    };
    let mut entitlements = vec![
        entitlement(READ, &["olivia", "oscar"], RiskTier::Medium, vec![owner()]),
        entitlement(WRITE, &["olivia"], RiskTier::High, vec![stage("security", ApproverRule::Group(group("security")), 2)]),
        entitlement(APPROVE, &["oscar"], RiskTier::Medium, vec![stage("manager", ApproverRule::SubjectManager, 1)]),
        entitlement(LOW, &["olivia"], RiskTier::Low, vec![owner()]),
        entitlement(OPEN, &["olivia"], RiskTier::Medium, vec![]),
        entitlement(ADMIN, &["oscar"], RiskTier::Critical, vec![owner()]),
    ];
    entitlements.retain(|e| Some(e.id.to_string().as_str()) != gone);
    let combos = if toxic {
        vec![ToxicCombination {
            name: TOXIC.into(),
            entitlements: [ent(WRITE), ent(APPROVE)].into_iter().collect(),
            reason: "nobody both books and approves payments".into(),
        }]
    } else {
        vec![]
    };
    Catalog::new(vec![target], entitlements, combos).unwrap()
}

pub fn person(name: &str, groups: &[&str], manager: Option<&str>) -> Identity {
    Identity {
        id: id(name),
        kind: IdentityKind::Person,
        status: IdentityStatus::Active,
        display_name: String::new(),
        owner: None,
        manager: manager.map(id),
        groups: groups.iter().map(|g| group(g)).collect(),
        attributes: BTreeMap::new(),
        owner_left: None,
    }
}

pub fn machine(name: &str, kind: IdentityKind, owner: &str, groups: &[&str]) -> Identity {
    Identity { kind, owner: Some(id(owner)), ..person(name, groups, None) }
}

/// The registry of the module docs.
pub fn registry() -> Vec<Identity> {
    vec![
        person("mona", &[], None),
        person("alice", &["oncall"], Some("mona")),
        person("bob", &[], Some("mona")),
        person("olivia", &["oncall"], None),
        person("oscar", &["ledger-ops"], None),
        person("sam", &["security"], None),
        person("sue", &["security"], None),
        person("dan", &["ledger-ops"], None),
        person("dora", &["ledger-ops"], Some("mona")),
        machine("agent", IdentityKind::AiAgent, "alice", &["security", "ledger-ops"]),
        machine("svc", IdentityKind::ServiceAccount, "oscar", &[]),
    ]
}

pub struct World {
    _dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub clock: Arc<HandClock>,
    pub policy: Arc<PolicyEngine>,
    pub writ: Arc<Writ>,
}

impl World {
    /// The world of the module docs, with default settings.
    pub async fn new() -> Self {
        Self::with_settings(Settings::default()).await
    }

    pub async fn with_settings(settings: Settings) -> Self {
        Self::with_policy(PolicyEngine::demo(), settings).await
    }

    /// The demo policies and one more file, `extra.cedar`, holding `extra`.
    pub async fn with_extra_policy(extra: &str, settings: Settings) -> Self {
        let mut files: Vec<(&str, &str)> = writ_policy::demo::POLICIES.to_vec();
        files.push(("extra.cedar", extra));
        Self::with_policy(PolicyEngine::from_sources(writ_policy::demo::SCHEMA, &files).unwrap(), settings).await
    }

    async fn with_policy(policy: PolicyEngine, settings: Settings) -> Self {
        Self::with_catalog(policy, catalog_with(true), settings).await
    }

    /// The world of the module docs on [`catalog_with_slas`].
    pub async fn with_slas() -> Self {
        Self::with_catalog(PolicyEngine::demo(), catalog_with_slas(), Settings::default()).await
    }

    async fn with_catalog(policy: PolicyEngine, catalog: Catalog, settings: Settings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("writ.db").display());
        let store: Arc<dyn Store> = Arc::new(writ_store::SqlStore::open(&url).await.unwrap());
        let clock = HandClock::new();
        let policy = Arc::new(policy);
        let writ = Arc::new(build(&store, &policy, &clock, catalog, settings));
        writ.upsert_identities(None, registry()).await.unwrap();
        World { _dir: dir, store, clock, policy, writ }
    }

    /// Another node over the same store and clock, with its own catalog (as
    /// after a catalog edit).
    pub fn node_with(&self, catalog: Catalog) -> Writ {
        build(&self.store, &self.policy, &self.clock, catalog, self.writ.settings().clone())
    }

    pub async fn who(&self, name: &str) -> Identity {
        self.store.identity(&id(name)).await.unwrap().unwrap_or_else(|| panic!("`{name}` is not in the registry"))
    }

    pub async fn request(&self, r: RequestId) -> Request {
        self.store.request(r).await.unwrap().unwrap()
    }

    /// The audit log's size and head: unchanged means nothing was written.
    pub async fn head(&self) -> (u64, EventHash) {
        self.store.audit_head().await.unwrap()
    }

    /// The kinds of the audit events about request `r`, in order.
    pub async fn events(&self, r: RequestId) -> Vec<String> {
        self.store.request_events(r).await.unwrap().into_iter().map(|e| e.kind).collect()
    }

    pub async fn tasks(&self, r: RequestId) -> Vec<FulfilmentTask> {
        self.store.tasks(&TaskFilter { request: Some(r), open_only: false, after: None, limit: 1000 }).await.unwrap()
    }

    /// The one open task of request `r`.
    pub async fn open_task(&self, r: RequestId) -> FulfilmentTask {
        let open: Vec<FulfilmentTask> = self.tasks(r).await.into_iter().filter(FulfilmentTask::is_open).collect();
        assert_eq!(open.len(), 1, "request `{r}` should have one open task: {open:?}");
        open.into_iter().next().unwrap()
    }

    pub async fn grants(&self, r: RequestId) -> Vec<Grant> {
        self.store.grants(&GrantFilter { request: Some(r), limit: 1000, ..Default::default() }).await.unwrap()
    }

    /// The one grant request `r` produced.
    pub async fn grant(&self, r: RequestId) -> Grant {
        let all = self.grants(r).await;
        assert_eq!(all.len(), 1, "request `{r}` should have one grant: {all:?}");
        all.into_iter().next().unwrap()
    }

    /// `requester` asks for `entitlements` for `subject`, for `duration`.
    pub async fn submit(&self, requester: &str, subject: &str, entitlements: &[&str], duration: &str) -> Result<Request, AppError> {
        let actor = self.who(requester).await;
        self.writ.submit(&actor, draft(requester, subject, entitlements, duration)).await
    }

    pub async fn approve(&self, reviewer: &str, r: RequestId) -> Result<Request, AppError> {
        let actor = self.who(reviewer).await;
        self.writ.review(&actor, r, Verdict::Approve, "looks right".into()).await
    }

    pub async fn deny(&self, reviewer: &str, r: RequestId, reason: &str) -> Result<Request, AppError> {
        let actor = self.who(reviewer).await;
        self.writ.review(&actor, r, Verdict::Deny, reason.into()).await
    }

    /// `fulfiller` completes the one open task of request `r`.
    pub async fn fulfil(&self, fulfiller: &str, r: RequestId) -> Result<FulfilmentTask, AppError> {
        let task = self.open_task(r).await;
        let actor = self.who(fulfiller).await;
        self.writ.complete_task(&actor, task.id(), "GRANT done in the ledger console, screenshot in INC-7").await
    }

    /// `subject` holds `ledger/read` for `duration`: asked by themselves,
    /// approved by olivia (oscar if the subject is olivia), put in place by dan.
    pub async fn holding_read(&self, subject: &str, duration: &str) -> (Request, Grant) {
        let req = self.submit(subject, subject, &[READ], duration).await.unwrap();
        let owner = if subject == "olivia" { "oscar" } else { "olivia" };
        self.approve(owner, req.id()).await.unwrap();
        self.fulfil("dan", req.id()).await.unwrap();
        let req = self.request(req.id()).await;
        let grant = self.grant(req.id()).await;
        (req, grant)
    }
}

pub fn draft(requester: &str, subject: &str, entitlements: &[&str], duration: &str) -> RequestDraft {
    RequestDraft {
        requester: id(requester),
        subject: id(subject),
        entitlements: entitlements.iter().map(|e| ent(e)).collect(),
        justification: "month-end close".into(),
        duration: hours(duration),
        ticket: Some("INC-7".into()),
        request_type: None,
    }
}

fn build(store: &Arc<dyn Store>, policy: &Arc<PolicyEngine>, clock: &Arc<HandClock>, catalog: Catalog, settings: Settings) -> Writ {
    let mut connectors: BTreeMap<TargetId, Arc<dyn Connector>> = BTreeMap::new();
    for t in catalog.targets() {
        if let Fulfilment::Manual { fulfiller_group } = &t.fulfilment {
            connectors.insert(t.id.clone(), Arc::new(ManualConnector::new(t.id.clone(), fulfiller_group.clone())));
        }
    }
    let clock: Arc<dyn Clock> = clock.clone();
    Writ::new(Arc::clone(store), Arc::clone(policy), Arc::new(catalog), clock, settings).with_connectors(connectors)
}
