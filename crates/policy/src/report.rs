//! The summary `writ policy check` prints.

use std::collections::BTreeMap;
use std::fmt;

use cedar_policy::Effect;
use serde::Serialize;

use crate::entities::Vocab;
use crate::input::PolicyAction;
use crate::load::LoadedPolicy;
use crate::slice::applies_to;

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct PolicySummary {
    pub id: String,
    pub line: usize,
    /// `permit` | `forbid`
    pub effect: String,
    /// Writ actions the policy's scope can apply to.
    pub actions: Vec<PolicyAction>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct FileSummary {
    pub file: String,
    pub policies: Vec<PolicySummary>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    pub files: Vec<FileSummary>,
    pub policy_count: usize,
    /// Policies whose scope can apply to each action (a policy without an action
    /// constraint counts for every action).
    pub per_action: BTreeMap<PolicyAction, usize>,
    /// Schema and validation warnings (loading still succeeded).
    pub warnings: Vec<String>,
}

impl CheckReport {
    pub(crate) fn new(vocab: &Vocab, files: &[String], policies: &[LoadedPolicy], warnings: &[String]) -> Self {
        let mut per_action: BTreeMap<PolicyAction, usize> = PolicyAction::ALL.into_iter().map(|a| (a, 0)).collect();
        let files = files
            .iter()
            .map(|file| FileSummary {
                file: file.clone(),
                policies: policies
                    .iter()
                    .filter(|p| &p.file == file)
                    .map(|p| {
                        let actions = applies_to(vocab, &p.policy.action_constraint());
                        for a in &actions {
                            *per_action.entry(*a).or_default() += 1;
                        }
                        PolicySummary {
                            id: p.id.clone(),
                            line: p.line,
                            effect: match p.policy.effect() {
                                Effect::Permit => "permit".into(),
                                Effect::Forbid => "forbid".into(),
                            },
                            actions,
                        }
                    })
                    .collect(),
            })
            .collect();
        CheckReport { files, policy_count: policies.len(), per_action, warnings: warnings.to_vec() }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            let n = file.policies.len();
            let noun = if n == 1 { "policy" } else { "policies" };
            writeln!(f, "{}: {n} {noun}", file.file)?;
            for p in &file.policies {
                let actions: Vec<&str> = p.actions.iter().map(|a| a.as_str()).collect();
                writeln!(f, "  {:<6} {} (line {}; {})", p.effect, p.id, p.line, actions.join(", "))?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        let counts: Vec<String> = self.per_action.iter().map(|(a, n)| format!("{a} {n}")).collect();
        write!(f, "ok: {} files, {} policies ({})", self.files.len(), self.policy_count, counts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use crate::PolicyAction::*;
    use crate::PolicyEngine;

    #[test]
    fn demo_report_counts_policies_per_action() {
        let report = PolicyEngine::demo().check_report();
        assert_eq!(report.policy_count, 25);
        let counts: Vec<_> = report.per_action.iter().map(|(a, n)| (*a, *n)).collect();
        assert_eq!(
            counts,
            [
                (Request, 4),
                (AutoApprove, 2),
                (Review, 5),
                (BreakGlass, 2),
                (View, 3),
                (Revoke, 4),
                (ReadAudit, 2),
                (ManageIdentities, 2),
                (Reconcile, 2),
                (Intake, 2)
            ]
        );
        let text = report.to_string();
        assert!(text.contains("request.cedar: 4 policies"), "{text}");
        assert!(text.contains("forbid request-forbid-ai-agent-critical (line "), "{text}");
        assert!(text.contains("forbid admin-forbid-disabled (line 54; read_audit, manage_identities, reconcile, intake)"), "{text}");
        assert!(
            text.ends_with(
                "ok: 7 files, 25 policies (request 4, auto_approve 2, review 5, break_glass 2, \
                 view 3, revoke 4, read_audit 2, manage_identities 2, reconcile 2, intake 2)"
            ),
            "{text}"
        );
    }
}
