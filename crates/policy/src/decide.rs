//! Decisions: build the Cedar request, evaluate, and shape the answer.

use std::collections::BTreeSet;

use cedar_policy::{Decision as CedarDecision, Entities, PolicySet, Request};
use serde_json::json;

use crate::engine::PolicyEngine;
use crate::entities::SERVICE_ID;
use crate::input::{AdminAction, Decision, DecisionQuery, EntitlementFacts, IdentityFacts, PolicyAction};
use crate::reads::Reads;

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
    fn add(&mut self, engine: &PolicyEngine, request: &Request, set: &PolicySet, entities: &Entities) {
        let response = engine.authorizer.is_authorized(request, set, entities);
        let reasons = response.diagnostics().reason().map(|id| id.to_string());
        match response.decision() {
            CedarDecision::Allow => self.permits.extend(reasons),
            CedarDecision::Deny => self.forbids.extend(reasons),
        }
        self.errors.extend(response.diagnostics().errors().map(|e| e.to_string()));
    }

    fn finish(self, action: PolicyAction, inputs: serde_json::Value) -> Decision {
        let allowed = self.forbids.is_empty() && !self.permits.is_empty();
        let determining = if allowed { self.permits } else { self.forbids };
        Decision {
            action: action.as_str().to_string(),
            allowed,
            policy_ids: determining.into_iter().collect(),
            errors: self.errors.into_iter().collect(),
            inputs,
        }
    }
}

/// `{action, principal, subject, entitlement, context}` as given.
fn query_inputs(q: &DecisionQuery) -> serde_json::Value {
    let principal = facts_json(&q.principal);
    // Most requests are for oneself: copying the principal's JSON is cheaper than
    // serialising the same facts again.
    let subject = if q.subject == q.principal { principal.clone() } else { facts_json(&q.subject) };
    // Not `json!`, which would serialise `principal` and `subject` once more.
    let fields = [
        ("action", facts_json(&q.action)),
        ("principal", principal),
        ("subject", subject),
        ("entitlement", facts_json(&q.entitlement)),
        ("context", facts_json(&q.context)),
    ];
    let map = fields.into_iter().map(|(k, v)| (k.to_string(), v));
    serde_json::Value::Object(map.collect())
}

fn facts_json(facts: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(facts).expect("input facts have string keys, so they serialise")
}

/// `{action, principal, service}` as given.
fn admin_inputs(action: AdminAction, principal: &IdentityFacts) -> serde_json::Value {
    json!({
        "action": action,
        "principal": principal,
        "service": SERVICE_ID,
    })
}

/// A deny for a question Cedar could not even be asked.
fn unaskable(action: PolicyAction, inputs: serde_json::Value, why: String) -> Decision {
    Decision { action: action.as_str().to_string(), allowed: false, policy_ids: vec![], errors: vec![why], inputs }
}

impl PolicyEngine {
    /// Decides `q`, evaluating only the policies that can apply to its action and
    /// entitlement. Never fails: a request Cedar cannot even be asked is denied,
    /// with the reason in `errors` (so is an administrative action, which is
    /// asked with [`decide_admin`]).
    ///
    /// [`decide_admin`]: PolicyEngine::decide_admin
    pub fn decide(&self, q: &DecisionQuery) -> Decision {
        let slices = self.slices.slices(q.action, Some(&q.entitlement));
        let sets = slices.iter().map(|s| &s.set);
        self.evaluate(q, sets, &Reads::Slices(&slices))
    }

    /// Decides `q` against the whole policy set. Same answer as [`decide`],
    /// slower; kept for benchmarks and equivalence tests.
    ///
    /// [`decide`]: PolicyEngine::decide
    pub fn decide_naive(&self, q: &DecisionQuery) -> Decision {
        self.evaluate(q, [&self.all], &Reads::Everything)
    }

    /// Decides an administrative question: may `principal` do `action` on the
    /// Writ service (`Writ::Service::"writ"`, empty context)? Evaluates only the
    /// policies whose scope can apply to the service. Never fails, like
    /// [`decide`](PolicyEngine::decide); `inputs` is `{action, principal, service}`.
    pub fn decide_admin(&self, action: AdminAction, principal: &IdentityFacts) -> Decision {
        let slices = self.slices.slices(action.action(), None);
        let sets = slices.iter().map(|s| &s.set);
        self.evaluate_admin(action, principal, sets, &Reads::Slices(&slices))
    }

    /// [`decide_admin`](PolicyEngine::decide_admin) against the whole policy set.
    pub fn decide_admin_naive(&self, action: AdminAction, principal: &IdentityFacts) -> Decision {
        self.evaluate_admin(action, principal, [&self.all], &Reads::Everything)
    }

    /// How many policies [`PolicyEngine::decide`] evaluates for this action and
    /// entitlement (for an administrative action, the entitlement is ignored).
    pub fn sliced_policy_count(&self, action: PolicyAction, entitlement: &EntitlementFacts) -> usize {
        self.slices.slices(action, Some(entitlement)).iter().map(|s| s.set.num_of_policies()).sum()
    }

    /// Evaluates `q` against `sets`, building only what `reads` says they can
    /// read of the entities and context.
    fn evaluate<'s>(&self, q: &DecisionQuery, sets: impl IntoIterator<Item = &'s PolicySet>, reads: &Reads) -> Decision {
        if let Some(admin) = q.action.admin() {
            return unaskable(q.action, query_inputs(q), format!("`{admin}` is about the service, not an entitlement: ask it with decide_admin"));
        }
        let (request, entities) = match self.vocab.build(q, reads, None) {
            Ok(built) => built,
            Err(e) => return unaskable(q.action, query_inputs(q), format!("cannot build the Cedar request: {e}")),
        };
        let mut outcome = Outcome::default();
        for set in sets {
            outcome.add(self, &request, set, &entities);
        }
        outcome.finish(q.action, query_inputs(q))
    }

    fn evaluate_admin<'s>(&self, action: AdminAction, principal: &IdentityFacts, sets: impl IntoIterator<Item = &'s PolicySet>, reads: &Reads) -> Decision {
        let inputs = admin_inputs(action, principal);
        let (request, entities) = match self.vocab.build_admin(action, principal, reads, None) {
            Ok(built) => built,
            Err(e) => return unaskable(action.action(), inputs, format!("cannot build the Cedar request: {e}")),
        };
        let mut outcome = Outcome::default();
        for set in sets {
            outcome.add(self, &request, set, &entities);
        }
        outcome.finish(action.action(), inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo;
    use crate::test_support::{person, query};

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
        assert_eq!(e.sliced_policy_count(PolicyAction::Review, &query(PolicyAction::Review).entitlement), 0);
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
    fn inputs_are_the_query_serialised_in_order() {
        let e = engine();
        let mut q = query(PolicyAction::Request);
        for other_subject in [false, true] {
            if other_subject {
                q.subject = person("bob", &["ops"]);
            }
            let expected = json!({
                "action": q.action,
                "principal": q.principal,
                "subject": q.subject,
                "entitlement": q.entitlement,
                "context": q.context,
            });
            // The evidence keeps the text, so the key order matters too.
            for d in [e.decide(&q), e.decide_naive(&q)] {
                assert_eq!(serde_json::to_string(&d.inputs).unwrap(), serde_json::to_string(&expected).unwrap());
            }
        }
    }

    #[test]
    fn schema_action_groups_are_honoured() {
        let schema = demo::SCHEMA
            .replace(
                r#"action "request", "auto_approve", "review", "break_glass", "view", "revoke" appliesTo"#,
                r#"action "changes";
  action "auto_approve", "review", "view", "revoke" appliesTo {
    principal: [Identity], resource: [Entitlement], context: RequestContext,
  };
  action "request", "break_glass" in ["changes"] appliesTo"#,
            )
            .replace(
                r#"action "read_audit", "manage_identities" appliesTo"#,
                r#"action "read_audit" appliesTo {
    principal: [Identity], resource: [Service], context: {},
  };
  action "manage_identities" in ["changes"] appliesTo"#,
            );
        assert_ne!(schema, demo::SCHEMA);
        let policy = r#"@id("changes") permit (principal, action in Writ::Action::"changes", resource);"#;
        let e = PolicyEngine::from_sources(&schema, &[("t.cedar", policy)]).unwrap();
        for (action, allowed) in [(PolicyAction::Request, true), (PolicyAction::BreakGlass, true), (PolicyAction::Review, false)] {
            let q = query(action);
            let d = e.decide(&q);
            assert_eq!(d.allowed, allowed, "{action}: {d:?}");
            assert_eq!(d, e.decide_naive(&q));
        }
        let who = &query(PolicyAction::View).principal;
        for (action, allowed) in [(AdminAction::ManageIdentities, true), (AdminAction::ReadAudit, false)] {
            let d = e.decide_admin(action, who);
            assert_eq!(d.allowed, allowed, "{action}: {d:?}");
            assert_eq!(d, e.decide_admin_naive(action, who));
        }
    }

    #[test]
    fn relations_reach_cedar_as_a_set() {
        let policy = r#"
@id("fulfillers") permit (principal, action == Writ::Action::"view", resource)
  when { context.relations.contains("fulfiller") };
@id("not-owners") forbid (principal, action == Writ::Action::"view", resource)
  when { context.relations.containsAny(["subject_owner", "entitlement_owner"]) };
"#;
        let e = PolicyEngine::from_sources(demo::SCHEMA, &[("t.cedar", policy)]).unwrap();
        let mut q = query(PolicyAction::View);
        for (relations, allowed, ids) in [
            (vec!["fulfiller"], true, vec!["fulfillers"]),
            (vec!["requester", "fulfiller"], true, vec!["fulfillers"]),
            (vec!["fulfiller", "entitlement_owner"], false, vec!["not-owners"]),
            (vec!["requester"], false, vec![]),
            (vec![], false, vec![]),
        ] {
            q.context.relations = relations.iter().map(|r| r.to_string()).collect();
            let d = e.decide(&q);
            assert_eq!((d.allowed, d.policy_ids.clone()), (allowed, ids.iter().map(|i| i.to_string()).collect()), "{relations:?}");
            assert!(d.errors.is_empty(), "{:?}", d.errors);
            assert_eq!(d.inputs["context"]["relations"], serde_json::json!(relations));
        }
    }

    #[test]
    fn administrative_decisions_see_the_principal_and_the_service() {
        let policy = r#"
@id("auditors-read") permit (principal in Writ::Group::"auditors", action == Writ::Action::"read_audit", resource == Writ::Service::"writ");
@id("owner-attr") permit (principal, action == Writ::Action::"manage_identities", resource is Writ::Service)
  when { principal.attributes.contains("role=admin") };
@id("view-all") permit (principal, action == Writ::Action::"view", resource);
"#;
        let e = PolicyEngine::from_sources(demo::SCHEMA, &[("t.cedar", policy)]).unwrap();
        let mut who = person("audrey", &["auditors"]);
        let d = e.decide_admin(AdminAction::ReadAudit, &who);
        assert!(d.allowed && d.errors.is_empty(), "{d:?}");
        assert_eq!(d.policy_ids, ["auditors-read"]);
        assert_eq!(d.action, "read_audit");
        assert_eq!(d.inputs["action"], "read_audit");
        assert_eq!(d.inputs["principal"]["id"], "audrey");
        assert_eq!(d.inputs["service"], "writ");
        assert!(!e.decide_admin(AdminAction::ManageIdentities, &who).allowed);
        who.attributes.insert("role".into(), "admin".into());
        let d = e.decide_admin(AdminAction::ManageIdentities, &who);
        assert_eq!(d.policy_ids, ["owner-attr"]);
        assert_eq!(e.sliced_policy_count(PolicyAction::ReadAudit, &query(PolicyAction::View).entitlement), 1);
    }

    #[test]
    fn an_administrative_action_is_not_asked_about_an_entitlement() {
        let e = PolicyEngine::demo();
        let mut q = query(PolicyAction::ReadAudit);
        q.principal = person("sam", &["security"]);
        let d = e.decide(&q);
        assert!(!d.allowed, "{d:?}");
        assert!(d.errors[0].contains("decide_admin"), "{:?}", d.errors);
        assert_eq!(d, e.decide_naive(&q));
    }
}
