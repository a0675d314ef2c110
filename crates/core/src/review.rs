//! Reviews and approval stages. A request is settled by reviews counted against
//! each stage's threshold, never by someone setting its state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{ApproverRule, Entitlement, StageSpec};
use crate::identity::Identity;
use crate::ids::{EntitlementId, IdentityId};

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

/// A stage and the distinct approvals it has collected so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageProgress {
    pub spec: StageSpec,
    pub approvals: Vec<IdentityId>,
}

impl StageProgress {
    pub fn is_passed(&self) -> bool {
        self.approvals.len() as u64 >= u64::from(self.spec.required)
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
        Self {
            entitlement: e.id.clone(),
            owners: e.owners.clone(),
            stages: e.stages.iter().map(|s| StageProgress { spec: s.clone(), approvals: Vec::new() }).collect(),
        }
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
