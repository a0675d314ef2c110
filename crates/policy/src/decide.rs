//! Decisions: build the Cedar request, evaluate, and shape the answer.

use std::collections::BTreeSet;

use cedar_policy::{Decision as CedarDecision, Entities, PolicySet, Request};
use serde_json::json;

use crate::engine::PolicyEngine;
use crate::input::{Decision, DecisionQuery, EntitlementFacts, PolicyAction};

/// What the evaluated policy sets said, merged.
#[derive(Default)]
struct Outcome {
    permits: BTreeSet<String>,
    forbids: BTreeSet<String>,
    errors: BTreeSet<String>,
}

impl Outcome {
    /// Cedar's rule, applied to the satisfied policies of every evaluated set:
    /// a satisfied forbid denies, else a satisfied permit allows, else deny.
    /// A set's response says which of its policies were satisfied: its reasons
    /// are the satisfied forbids when it denies, the satisfied permits when it
    /// allows (and a set that allows had no satisfied forbid).
    fn add(
        &mut self,
        engine: &PolicyEngine,
        request: &Request,
        set: &PolicySet,
        entities: &Entities,
    ) {
        let response = engine.authorizer.is_authorized(request, set, entities);
        let reasons = response.diagnostics().reason().map(|id| id.to_string());
        match response.decision() {
            CedarDecision::Allow => self.permits.extend(reasons),
            CedarDecision::Deny => self.forbids.extend(reasons),
        }
        self.errors
            .extend(response.diagnostics().errors().map(|e| e.to_string()));
    }

    fn finish(self, q: &DecisionQuery) -> Decision {
        let allowed = self.forbids.is_empty() && !self.permits.is_empty();
        let determining = if allowed { self.permits } else { self.forbids };
        decision(
            q,
            allowed,
            determining.into_iter().collect(),
            self.errors.into_iter().collect(),
        )
    }
}

fn decision(
    q: &DecisionQuery,
    allowed: bool,
    policy_ids: Vec<String>,
    errors: Vec<String>,
) -> Decision {
    Decision {
        action: q.action.as_str().to_string(),
        allowed,
        policy_ids,
        errors,
        inputs: json!({
            "action": q.action,
            "principal": q.principal,
            "subject": q.subject,
            "entitlement": q.entitlement,
            "context": q.context,
        }),
    }
}

impl PolicyEngine {
    /// Decides `q`, evaluating only the policies that can apply to its action and
    /// entitlement. Never fails: a request Cedar cannot even be asked is denied,
    /// with the reason in `errors`.
    pub fn decide(&self, q: &DecisionQuery) -> Decision {
        self.evaluate(q, self.slices.sets(q.action, &q.entitlement))
    }

    /// Decides `q` against the whole policy set. Same answer as [`decide`],
    /// slower; kept for benchmarks and equivalence tests.
    ///
    /// [`decide`]: PolicyEngine::decide
    pub fn decide_naive(&self, q: &DecisionQuery) -> Decision {
        self.evaluate(q, vec![&self.all])
    }

    /// How many policies [`PolicyEngine::decide`] evaluates for this action and
    /// entitlement.
    pub fn sliced_policy_count(
        &self,
        action: PolicyAction,
        entitlement: &EntitlementFacts,
    ) -> usize {
        self.slices
            .sets(action, entitlement)
            .iter()
            .map(|s| s.num_of_policies())
            .sum()
    }

    fn evaluate(&self, q: &DecisionQuery, sets: Vec<&PolicySet>) -> Decision {
        let (request, entities) = match self.vocab.build(q, None) {
            Ok(built) => built,
            Err(e) => {
                return decision(
                    q,
                    false,
                    vec![],
                    vec![format!("cannot build the Cedar request: {e}")],
                )
            }
        };
        let mut outcome = Outcome::default();
        for set in sets {
            outcome.add(self, &request, set, &entities);
        }
        outcome.finish(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo;
    use crate::test_support::query;

    const SPLIT: &str = r#"
@id("permit-general") permit (principal, action == Writ::Action::"request", resource)
  when { principal.status == "active" };
@id("forbid-target") forbid (principal, action == Writ::Action::"request", resource in Writ::Target::"pg-prod")
  when { context.duration_secs > 7200 };
@id("permit-entitlement") permit (principal, action == Writ::Action::"request", resource == Writ::Entitlement::"pg-prod/payments_readonly");
@id("erroring") permit (principal, action == Writ::Action::"request", resource)
  when { context.requester.status == "active" && principal.status == "nobody" };
"#;

    fn engine() -> PolicyEngine {
        PolicyEngine::from_sources(demo::SCHEMA, &[("t.cedar", SPLIT)]).unwrap()
    }

    #[test]
    fn merged_buckets_report_all_determining_permits() {
        let e = engine();
        let mut q = query(PolicyAction::Request);
        // Requester "bob" is not loaded as an entity, so "erroring" fails to evaluate.
        q.context.requester = "bob".into();
        let d = e.decide(&q);
        assert!(d.allowed);
        assert_eq!(d.policy_ids, ["permit-entitlement", "permit-general"]);
        assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
        assert!(d.errors[0].contains("erroring"));
        assert_eq!(d, e.decide_naive(&q));
    }

    #[test]
    fn a_forbid_in_any_bucket_denies() {
        let e = engine();
        let mut q = query(PolicyAction::Request);
        q.context.duration_secs = 8 * 3600;
        let d = e.decide(&q);
        assert!(!d.allowed);
        assert_eq!(d.policy_ids, ["forbid-target"]);
        assert_eq!(d, e.decide_naive(&q));
    }

    #[test]
    fn no_applicable_policy_is_a_default_deny() {
        let e = engine();
        let d = e.decide(&query(PolicyAction::Review));
        assert!(!d.allowed);
        assert!(d.policy_ids.is_empty() && d.errors.is_empty());
        assert_eq!(
            e.sliced_policy_count(
                PolicyAction::Review,
                &query(PolicyAction::Review).entitlement
            ),
            0
        );
    }

    #[test]
    fn inputs_record_the_query_for_evidence() {
        let q = query(PolicyAction::Request);
        let d = engine().decide(&q);
        assert_eq!(d.action, "request");
        assert_eq!(d.inputs["action"], "request");
        assert_eq!(d.inputs["principal"]["id"], "alice");
        assert_eq!(d.inputs["entitlement"]["id"], "pg-prod/payments_readonly");
        assert_eq!(d.inputs["context"]["duration_secs"], 3600);
        let back: Decision = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn schema_action_groups_are_honoured() {
        let schema = demo::SCHEMA.replace(
            r#"action "request", "auto_approve", "review", "break_glass" appliesTo"#,
            r#"action "changes";
  action "auto_approve", "review" appliesTo {
    principal: [Identity], resource: [Entitlement], context: RequestContext,
  };
  action "request", "break_glass" in ["changes"] appliesTo"#,
        );
        let policy =
            r#"@id("changes") permit (principal, action in Writ::Action::"changes", resource);"#;
        let e = PolicyEngine::from_sources(&schema, &[("t.cedar", policy)]).unwrap();
        for (action, allowed) in [
            (PolicyAction::Request, true),
            (PolicyAction::BreakGlass, true),
            (PolicyAction::Review, false),
        ] {
            let q = query(action);
            let d = e.decide(&q);
            assert_eq!(d.allowed, allowed, "{action}: {d:?}");
            assert_eq!(d, e.decide_naive(&q));
        }
    }
}
