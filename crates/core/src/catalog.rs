//! The catalog: target systems, the entitlements on them, how each is approved and
//! fulfilled, and the toxic combinations that must never be held together.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::duration::AccessDuration;
use crate::identity::Identity;
use crate::ids::{EntitlementId, GroupId, IdentityId, RequestTypeId, TargetId};
use crate::request_type::{RequestType, Route};
use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskTier {
    Low,
    Medium,
    High,
    Critical,
}

impl RiskTier {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskTier::Low => "low",
            RiskTier::Medium => "medium",
            RiskTier::High => "high",
            RiskTier::Critical => "critical",
        }
    }
}

/// How access on a target is put in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fulfilment {
    /// No API: a person in `fulfiller_group` does it by hand and records evidence.
    Manual { fulfiller_group: GroupId },
    /// Writ changes the target itself through its connector and reads the result
    /// back. The connection is configured beside the catalog (`[targets.<id>]`
    /// in `writ.toml`), because it holds deployment details, not policy.
    Connector,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: TargetId,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owners: Vec<IdentityId>,
    pub fulfilment: Fulfilment,
}

/// Who may approve at one stage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApproverRule {
    /// Members of a group, e.g. `security`.
    Group(GroupId),
    /// The entitlement's owners.
    EntitlementOwners,
    /// The manager of the request's subject (for a non-human subject: its owner's manager).
    SubjectManager,
}

impl std::fmt::Display for ApproverRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApproverRule::Group(g) => write!(f, "members of group `{g}`"),
            ApproverRule::EntitlementOwners => f.write_str("the entitlement owners"),
            ApproverRule::SubjectManager => f.write_str("the subject's manager"),
        }
    }
}

/// One approval stage: `required` distinct approvals from people the rule admits,
/// optionally within a service level: see [`StageSpec::deadline`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageSpec {
    pub name: String,
    pub approvers: ApproverRule,
    #[serde(default = "one")]
    pub required: u32,
    /// How long the stage may wait for its approvals once it is open; past
    /// it, the stage is escalated to `escalate_to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<AccessDuration>,
    /// When, once the stage is open, its approvers are reminded (before
    /// `sla`; half of it when not said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_after: Option<AccessDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<EscalateTo>,
}

fn one() -> u32 {
    1
}

/// The keys a stage may have, for the catalog file's errors.
pub const STAGE_KEYS: [&str; 6] = ["name", "approvers", "required", "sla", "remind_after", "escalate_to"];

/// Who a stage past its SLA is escalated to. Escalation widens who may
/// approve that stage to them; every other rule of a review still holds
/// (never the requester or the subject, one review per person, policy's
/// `review` may veto).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EscalateTo {
    /// `manager`: the managers of the people the stage names (the
    /// entitlement owners' managers; for a `subject_manager` stage, that
    /// manager's manager), resolved when the stage is escalated. Not for a
    /// group stage: a group's members' managers are nobody in particular.
    Manager,
    /// `group:<id>`: the members of a named group (e.g. `security-leads`).
    Group(GroupId),
}

impl EscalateTo {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if s == "manager" {
            return Ok(EscalateTo::Manager);
        }
        match s.strip_prefix("group:") {
            Some(g) => Ok(EscalateTo::Group(GroupId::parse(g)?)),
            None => Err(DomainError::invalid("escalate_to", format!("`{s}` is not an escalation: write `manager` or `group:<group id>`"))),
        }
    }
}

impl std::fmt::Display for EscalateTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EscalateTo::Manager => f.write_str("manager"),
            EscalateTo::Group(g) => write!(f, "group:{g}"),
        }
    }
}

impl TryFrom<String> for EscalateTo {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}

impl From<EscalateTo> for String {
    fn from(e: EscalateTo) -> String {
        e.to_string()
    }
}

/// A stage's service level, from when the stage opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    pub remind_after: chrono::TimeDelta,
    pub sla: chrono::TimeDelta,
    pub escalate_to: EscalateTo,
}

impl StageSpec {
    /// A stage without a service level.
    pub fn new(name: impl Into<String>, approvers: ApproverRule, required: u32) -> Self {
        Self { name: name.into(), approvers, required, sla: None, remind_after: None, escalate_to: None }
    }

    /// Its service level, if it has one (checked by [`Catalog::new`]).
    pub fn deadline(&self) -> Option<Deadline> {
        let (sla, escalate_to) = (self.sla?, self.escalate_to.clone()?);
        let remind_after = self.remind_after.map_or_else(|| chrono::TimeDelta::seconds(sla.secs() / 2), AccessDuration::as_delta);
        Some(Deadline { remind_after, sla: sla.as_delta(), escalate_to })
    }

    /// The service-level keys make sense together: `sla` with someone to
    /// escalate to, a reminder before it, a manager only where the stage
    /// names people.
    fn check_deadline(&self, field: &str) -> Result<(), DomainError> {
        let at = |key: &str| format!("{field}, stage `{}`, key `{key}`", self.name);
        let Some(sla) = self.sla else {
            for (key, set) in [("remind_after", self.remind_after.is_some()), ("escalate_to", self.escalate_to.is_some())] {
                if set {
                    return Err(DomainError::invalid(at(key), "needs `sla`: say how long the stage may wait, e.g. `sla = \"4h\"`"));
                }
            }
            return Ok(());
        };
        match &self.escalate_to {
            None => {
                return Err(DomainError::invalid(
                    at("sla"),
                    "needs `escalate_to`: say who answers when the stage is overdue (`\"manager\"` or `\"group:<group id>\"`)",
                ))
            }
            Some(EscalateTo::Manager) if matches!(self.approvers, ApproverRule::Group(_)) => return Err(DomainError::invalid(
                at("escalate_to"),
                "`manager` escalates to the managers of the people a stage names, and a group stage names none: escalate to a group (`\"group:<group id>\"`)",
            )),
            Some(_) => {}
        }
        if let Some(r) = self.remind_after.filter(|r| *r >= sla) {
            return Err(DomainError::invalid(
                at("remind_after"),
                format!("`{r}` must be shorter than `sla` (`{sla}`): the reminder comes before the escalation"),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    pub id: EntitlementId,
    #[serde(default)]
    pub description: String,
    pub owners: Vec<IdentityId>,
    pub risk: RiskTier,
    /// Stages run in order; every one must pass. Empty means no human approval.
    #[serde(default)]
    pub stages: Vec<StageSpec>,
    pub max_duration: AccessDuration,
}

/// Entitlements that must never be held together by one identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToxicCombination {
    pub name: String,
    pub entitlements: BTreeSet<EntitlementId>,
    #[serde(default)]
    pub reason: String,
}

/// A validated catalog. Construct with [`Catalog::new`].
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    targets: BTreeMap<TargetId, Target>,
    entitlements: BTreeMap<EntitlementId, Entitlement>,
    toxic: Vec<ToxicCombination>,
    request_types: BTreeMap<RequestTypeId, RequestType>,
}

impl Catalog {
    /// Checks every cross-reference and returns the catalog, or the first problem.
    pub fn new(targets: Vec<Target>, entitlements: Vec<Entitlement>, toxic: Vec<ToxicCombination>) -> Result<Self, DomainError> {
        let mut cat = Catalog::default();
        for t in targets {
            let key = t.id.clone();
            if cat.targets.insert(key.clone(), t).is_some() {
                return Err(DomainError::invalid(format!("target `{key}`"), "declared twice"));
            }
        }
        for e in entitlements {
            let field = format!("entitlement `{}`", e.id);
            if !cat.targets.contains_key(e.id.target()) {
                return Err(DomainError::invalid(field, format!("its target `{}` is not declared in the catalog", e.id.target())));
            }
            if e.owners.is_empty() {
                return Err(DomainError::invalid(field, "must name at least one owner"));
            }
            let mut names = BTreeSet::new();
            for s in &e.stages {
                if s.required == 0 {
                    return Err(DomainError::invalid(format!("{field}, stage `{}`", s.name), "`required` must be at least 1"));
                }
                if !names.insert(s.name.as_str()) {
                    return Err(DomainError::invalid(field, format!("stage `{}` appears twice", s.name)));
                }
                s.check_deadline(&field)?;
            }
            let key = e.id.clone();
            if cat.entitlements.insert(key.clone(), e).is_some() {
                return Err(DomainError::invalid(format!("entitlement `{key}`"), "declared twice"));
            }
        }
        for t in &toxic {
            if t.entitlements.len() < 2 {
                return Err(DomainError::invalid(format!("toxic combination `{}`", t.name), "must list at least two entitlements"));
            }
            if let Some(e) = t.entitlements.iter().find(|e| !cat.entitlements.contains_key(*e)) {
                return Err(DomainError::invalid(format!("toxic combination `{}`", t.name), format!("entitlement `{e}` is not in the catalog")));
            }
        }
        cat.toxic = toxic;
        cat.request_types = RequestType::standard().into_iter().map(|t| (t.id.clone(), t)).collect();
        Ok(cat)
    }

    /// The catalog with `types` as its request types instead of the
    /// standard ones ([`RequestType::standard`]), each checked; none given
    /// keeps the standard ones. `application_access`, the type of a request
    /// that does not say, must be among them.
    pub fn with_request_types(mut self, types: Vec<RequestType>) -> Result<Self, DomainError> {
        if types.is_empty() {
            return Ok(self);
        }
        let mut all = BTreeMap::new();
        for t in types {
            t.check()?;
            let key = t.id.clone();
            if all.insert(key.clone(), t).is_some() {
                return Err(DomainError::invalid(format!("request type `{key}`"), "declared twice"));
            }
        }
        match all.get(&RequestTypeId::unstated()) {
            Some(t) if t.route == Route::Governed => {}
            _ => {
                return Err(DomainError::invalid(
                    "request_types",
                    "must declare a governed `application_access`: it is the type of a request that does not name one",
                ))
            }
        }
        self.request_types = all;
        Ok(self)
    }

    /// Request type `id`, or an error listing the known ones.
    pub fn request_type(&self, id: &RequestTypeId) -> Result<&RequestType, DomainError> {
        self.request_types.get(id).ok_or_else(|| {
            let known: Vec<&str> = self.request_types.keys().map(RequestTypeId::as_str).collect();
            DomainError::invalid("request_type", format!("`{id}` is not a request type of the catalog (known: {})", known.join(", ")))
        })
    }

    pub fn request_types(&self) -> impl Iterator<Item = &RequestType> {
        self.request_types.values()
    }

    /// Checks that every owner named in the catalog is a known identity.
    pub fn check_owners<'a>(&self, lookup: impl Fn(&IdentityId) -> Option<&'a Identity>) -> Result<(), DomainError> {
        for e in self.entitlements.values() {
            for o in &e.owners {
                if lookup(o).is_none() {
                    return Err(DomainError::invalid(format!("entitlement `{}`", e.id), format!("owner `{o}` is not a known identity")));
                }
            }
        }
        Ok(())
    }

    pub fn target(&self, id: &TargetId) -> Option<&Target> {
        self.targets.get(id)
    }

    pub fn entitlement(&self, id: &EntitlementId) -> Result<&Entitlement, DomainError> {
        self.entitlements
            .get(id)
            .ok_or_else(|| DomainError::invalid("entitlement", format!("`{id}` is not in the catalog: run `writ catalog list` to see what can be requested")))
    }

    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.values()
    }

    pub fn entitlements(&self) -> impl Iterator<Item = &Entitlement> {
        self.entitlements.values()
    }

    pub fn toxic_combinations(&self) -> &[ToxicCombination] {
        &self.toxic
    }
}
