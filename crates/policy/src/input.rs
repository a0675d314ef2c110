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
}

impl PolicyAction {
    pub const ALL: [PolicyAction; 4] = [
        PolicyAction::Request,
        PolicyAction::AutoApprove,
        PolicyAction::Review,
        PolicyAction::BreakGlass,
    ];

    /// The Cedar action id (`Writ::Action::"<this>"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyAction::Request => "request",
            PolicyAction::AutoApprove => "auto_approve",
            PolicyAction::Review => "review",
            PolicyAction::BreakGlass => "break_glass",
        }
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
        PolicyAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown policy action {s:?}: expected one of request, auto_approve, review, break_glass"))
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
        assert!("approve".parse::<PolicyAction>().is_err());
    }
}
