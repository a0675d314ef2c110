//! The plain facts Writ hands to the policy engine, and the decision it gets back.
//!
//! These are deliberately strings and numbers, not domain types: the policy crate
//! must not depend on the domain crate, and the same shapes go verbatim into the
//! evidence chain (`Decision::inputs`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The questions Writ asks Cedar. Each is the Cedar action `Writ::Action::"<name>"`.
///
/// All but the administrative ones are about one entitlement (resource
/// `Writ::Entitlement`, context `RequestContext`; ask them with
/// [`PolicyEngine::decide`]). The administrative ones ([`AdminAction`]) are about
/// the Writ service itself (resource `Writ::Service::"writ"`, empty context; ask
/// them with [`PolicyEngine::decide_admin`]).
///
/// [`PolicyEngine::decide`]: crate::PolicyEngine::decide
/// [`PolicyEngine::decide_admin`]: crate::PolicyEngine::decide_admin
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    /// May this principal make this request at all?
    Request,
    /// Is this request approved without a human?
    AutoApprove,
    /// May this principal review this request at this stage?
    Review,
    /// May this principal take emergency access?
    BreakGlass,
    /// May this principal see a request (its evidence chain) that includes this
    /// entitlement?
    View,
    /// May this principal end a grant of this entitlement early (the holder
    /// giving it up, an owner or security taking it away)?
    Revoke,
    /// May this principal read the audit log? (administrative)
    ReadAudit,
    /// May this principal create, change, enable or disable identities?
    /// (administrative)
    ManageIdentities,
    /// May this principal run reconciliation now (which acts on what it finds
    /// as configured)? (administrative)
    Reconcile,
    /// May this principal take tickets in and work them (triage, the
    /// help-desk path)? (administrative)
    Intake,
}

impl PolicyAction {
    /// How many actions there are, for per-action tables.
    pub const COUNT: usize = 10;

    pub const ALL: [PolicyAction; Self::COUNT] = [
        PolicyAction::Request,
        PolicyAction::AutoApprove,
        PolicyAction::Review,
        PolicyAction::BreakGlass,
        PolicyAction::View,
        PolicyAction::Revoke,
        PolicyAction::ReadAudit,
        PolicyAction::ManageIdentities,
        PolicyAction::Reconcile,
        PolicyAction::Intake,
    ];

    /// The Cedar action id (`Writ::Action::"<this>"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyAction::Request => "request",
            PolicyAction::AutoApprove => "auto_approve",
            PolicyAction::Review => "review",
            PolicyAction::BreakGlass => "break_glass",
            PolicyAction::View => "view",
            PolicyAction::Revoke => "revoke",
            PolicyAction::ReadAudit => "read_audit",
            PolicyAction::ManageIdentities => "manage_identities",
            PolicyAction::Reconcile => "reconcile",
            PolicyAction::Intake => "intake",
        }
    }

    /// The administrative action this is, if it is one (its resource is the
    /// service, not an entitlement).
    pub fn admin(self) -> Option<AdminAction> {
        AdminAction::ALL.into_iter().find(|a| a.action() == self)
    }

    /// Position in [`PolicyAction::ALL`], for per-action tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for PolicyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PolicyAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyAction::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = PolicyAction::ALL.iter().map(|a| a.as_str()).collect();
            format!("unknown policy action {s:?}: expected one of {}", names.join(", "))
        })
    }
}

/// The administrative questions: about the Writ service as a whole, asked of the
/// principal alone (resource `Writ::Service::"writ"`, empty context).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    /// Read the audit log and its checkpoints (and what the log records anyway:
    /// every identity and every grant), and sign a checkpoint.
    ReadAudit,
    /// Create, change, enable or disable identities.
    ManageIdentities,
    /// Run reconciliation now (its reports are read with `ReadAudit`).
    Reconcile,
    /// Take tickets in from a service desk or chat, triage them, and work
    /// the help-desk path (which never grants access).
    Intake,
}

impl AdminAction {
    pub const ALL: [AdminAction; 4] = [AdminAction::ReadAudit, AdminAction::ManageIdentities, AdminAction::Reconcile, AdminAction::Intake];

    /// The same action in the full list.
    pub fn action(self) -> PolicyAction {
        match self {
            AdminAction::ReadAudit => PolicyAction::ReadAudit,
            AdminAction::ManageIdentities => PolicyAction::ManageIdentities,
            AdminAction::Reconcile => PolicyAction::Reconcile,
            AdminAction::Intake => PolicyAction::Intake,
        }
    }

    /// The Cedar action id (`Writ::Action::"<this>"`).
    pub fn as_str(self) -> &'static str {
        self.action().as_str()
    }
}

impl From<AdminAction> for PolicyAction {
    fn from(a: AdminAction) -> Self {
        a.action()
    }
}

impl fmt::Display for AdminAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the principal of a decision relates to the request it is about; the
/// values of the Cedar context's `relations` set. The app works them out (this
/// crate only names them, so that the schema, the app and policies agree).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Filed the request.
    Requester,
    /// Whose access would change.
    Subject,
    /// Owns the (non-human) subject.
    SubjectOwner,
    /// The subject's manager (for a non-human subject without one: its owner's
    /// manager), who approves `subject_manager` stages.
    SubjectManager,
    /// Owns this entitlement (as copied into the request at submission).
    EntitlementOwner,
    /// Member of a group named by a stage of this entitlement's approval track.
    StageApprover,
    /// Someone a stage of this entitlement's approval track was escalated
    /// to past its SLA (a manager named, or a member of the named group).
    StageEscalation,
    /// Member of the group that fulfils this entitlement's target.
    Fulfiller,
}

impl Relation {
    pub const ALL: [Relation; 8] = [
        Relation::Requester,
        Relation::Subject,
        Relation::SubjectOwner,
        Relation::SubjectManager,
        Relation::EntitlementOwner,
        Relation::StageApprover,
        Relation::StageEscalation,
        Relation::Fulfiller,
    ];

    /// The string policies test, e.g. `context.relations.contains("subject_owner")`.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Requester => "requester",
            Relation::Subject => "subject",
            Relation::SubjectOwner => "subject_owner",
            Relation::SubjectManager => "subject_manager",
            Relation::EntitlementOwner => "entitlement_owner",
            Relation::StageApprover => "stage_approver",
            Relation::StageEscalation => "stage_escalation",
            Relation::Fulfiller => "fulfiller",
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An identity as policies see it (becomes `Writ::Identity::"<id>"`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct IdentityFacts {
    pub id: String,
    /// `person` | `service_account` | `api_key` | `ai_agent`
    pub kind: String,
    /// `active` | `disabled`
    pub status: String,
    /// Group ids; each becomes a parent `Writ::Group::"<g>"`.
    pub groups: Vec<String>,
    pub owner: Option<String>,
    pub manager: Option<String>,
    /// Exposed to policies as the set `attributes` of `"key=value"` strings.
    pub attributes: BTreeMap<String, String>,
}

/// An entitlement as policies see it (becomes `Writ::Entitlement::"<id>"`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct EntitlementFacts {
    /// e.g. `pg-prod/payments_readonly`
    pub id: String,
    /// Target id; becomes the parent `Writ::Target::"<target>"`.
    pub target: String,
    /// `low` | `medium` | `high` | `critical`
    pub risk: String,
    /// Identity ids of the entitlement's owners.
    pub owners: Vec<String>,
}

/// Facts about the request itself (becomes the Cedar context; see the schema).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct RequestContext {
    pub duration_secs: i64,
    /// Only its length reaches policies (`context.justification_length`).
    pub justification: String,
    pub ticket: Option<String>,
    /// Stage name, for `Review`.
    pub stage: Option<String>,
    /// Identity id of whoever filed the request.
    pub requester: String,
    /// Number of entitlements in the whole request.
    pub entitlement_count: i64,
    /// How the principal relates to the request, for this entitlement: names
    /// from [`Relation`] (e.g. `requester`, `subject_owner`). Reaches policies as
    /// the set `context.relations`. Empty when the principal is not involved.
    #[serde(default)]
    pub relations: Vec<String>,
    /// The catalog request type the request was filed as
    /// (`context.request_type`, e.g. `privileged_access`).
    #[serde(default)]
    pub request_type: String,
}

/// One question to the policy engine.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DecisionQuery {
    pub action: PolicyAction,
    /// Who acts: the requester, or the reviewer for `Review`.
    pub principal: IdentityFacts,
    /// Whose access changes.
    pub subject: IdentityFacts,
    pub entitlement: EntitlementFacts,
    pub context: RequestContext,
}

/// The answer, in a shape fit for the evidence chain.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Decision {
    /// Cedar action name, e.g. `request`.
    pub action: String,
    pub allowed: bool,
    /// Determining policies, sorted: the permits that allowed it, or the forbids
    /// that denied it. Empty for a default deny (no permit matched).
    pub policy_ids: Vec<String>,
    /// Policies that failed to evaluate (they are skipped, as Cedar does), plus
    /// any failure to build the Cedar request; sorted.
    pub errors: Vec<String>,
    /// `{action, principal, subject, entitlement, context}` as given.
    pub inputs: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for a in PolicyAction::ALL {
            assert_eq!(a.as_str().parse::<PolicyAction>().unwrap(), a);
            assert_eq!(PolicyAction::ALL[a.index()], a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        let err = "approve".parse::<PolicyAction>().unwrap_err();
        assert!(err.contains("view, revoke, read_audit, manage_identities, reconcile"), "{err}");
    }

    #[test]
    fn admin_actions_are_the_service_level_ones() {
        let admin: Vec<PolicyAction> = PolicyAction::ALL.into_iter().filter(|a| a.admin().is_some()).collect();
        assert_eq!(admin, [PolicyAction::ReadAudit, PolicyAction::ManageIdentities, PolicyAction::Reconcile, PolicyAction::Intake]);
        for a in AdminAction::ALL {
            assert_eq!(a.action().admin(), Some(a));
            assert_eq!(PolicyAction::from(a).as_str(), a.as_str());
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
        }
    }

    #[test]
    fn relations_default_to_empty_when_absent() {
        let c: RequestContext = serde_json::from_value(serde_json::json!({
            "duration_secs": 60, "justification": "x", "ticket": null, "stage": null,
            "requester": "alice", "entitlement_count": 1,
        }))
        .unwrap();
        assert!(c.relations.is_empty());
        for r in Relation::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
