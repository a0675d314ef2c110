//! Reviews and approval stages. A request is settled by reviews counted against
//! each stage's threshold, never by someone setting its state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{ApproverRule, Entitlement, StageSpec};
use crate::identity::Identity;
use crate::ids::{EntitlementId, GroupId, IdentityId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }
}

/// Names one stage of one entitlement's approval track.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StageRef {
    pub entitlement: EntitlementId,
    pub stage: String,
}

/// One person's review of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub reviewer: IdentityId,
    pub verdict: Verdict,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// The stages this review counted toward (it had authority at each).
    pub counted: Vec<StageRef>,
}

/// A stage and the distinct approvals it has collected so far, with its
/// service level's steps once taken (each at most once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageProgress {
    pub spec: StageSpec,
    pub approvals: Vec<IdentityId>,
    /// When its approvers were reminded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<DateTime<Utc>>,
    /// When it was escalated past its SLA, and to whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated: Option<Escalation>,
}

/// A stage's escalation: from `at`, `to` may approve it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub at: DateTime<Utc>,
    pub to: Escalated,
}

/// Whom a stage was escalated to, as resolved when it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Escalated {
    /// The managers of the people the stage named (possibly nobody: then
    /// the escalation is a record and a notification, and nobody more may
    /// approve).
    Managers { people: Vec<IdentityId> },
    /// The members of a group, whoever they are at review time.
    Group { group: GroupId },
}

impl Escalated {
    pub fn admits(&self, reviewer: &Identity) -> bool {
        match self {
            Escalated::Managers { people } => people.contains(&reviewer.id),
            Escalated::Group { group } => reviewer.in_group(group),
        }
    }
}

impl std::fmt::Display for Escalated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Escalated::Managers { people } if people.is_empty() => f.write_str("nobody (no manager found)"),
            Escalated::Managers { people } => {
                let names: Vec<String> = people.iter().map(|p| format!("`{p}`")).collect();
                f.write_str(&names.join(", "))
            }
            Escalated::Group { group } => write!(f, "members of group `{group}`"),
        }
    }
}

impl StageProgress {
    pub fn new(spec: StageSpec) -> Self {
        Self { spec, approvals: Vec::new(), reminded_at: None, escalated: None }
    }

    pub fn is_passed(&self) -> bool {
        self.approvals.len() as u64 >= u64::from(self.spec.required)
    }

    /// Whether `reviewer` has authority at this stage: its rule admits them,
    /// or it was escalated to them. Who may never review (the requester,
    /// the subject, someone who already did) is refused before this is asked.
    pub fn admits(&self, reviewer: &Identity, owners: &[IdentityId], subject_manager: Option<&IdentityId>) -> bool {
        rule_admits(&self.spec.approvers, reviewer, owners, subject_manager) || self.escalated.as_ref().is_some_and(|e| e.to.admits(reviewer))
    }
}

/// The approval stages of one entitlement in a request, copied from the catalog at
/// submission so that a later catalog edit never changes a request in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalTrack {
    pub entitlement: EntitlementId,
    pub owners: Vec<IdentityId>,
    pub stages: Vec<StageProgress>,
}

impl ApprovalTrack {
    pub fn from_entitlement(e: &Entitlement) -> Self {
        Self { entitlement: e.id.clone(), owners: e.owners.clone(), stages: e.stages.iter().cloned().map(StageProgress::new).collect() }
    }

    /// The first stage not yet passed; stages run strictly in order.
    pub fn current(&self) -> Option<usize> {
        self.stages.iter().position(|s| !s.is_passed())
    }

    pub fn is_complete(&self) -> bool {
        self.current().is_none()
    }
}

/// Whether `rule` admits `reviewer`. `subject_manager` is the subject's manager (for
/// a non-human subject, its owner's manager), resolved by the caller.
pub fn rule_admits(rule: &ApproverRule, reviewer: &Identity, owners: &[IdentityId], subject_manager: Option<&IdentityId>) -> bool {
    match rule {
        ApproverRule::Group(g) => reviewer.in_group(g),
        ApproverRule::EntitlementOwners => owners.contains(&reviewer.id),
        ApproverRule::SubjectManager => subject_manager == Some(&reviewer.id),
    }
}
