//! `decide` (sliced) must give exactly the answers of `decide_naive` (whole set).
//!
//! A fixed pseudo-random set of 80 policies mixes every scope form the slicer
//! distinguishes (for entitlement actions, the administrative ones and both),
//! permits and forbids, and conditions that sometimes fail to evaluate; proptest
//! then throws random queries (entitlement and administrative) at both paths.

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use crate::input::{AdminAction, DecisionQuery, EntitlementFacts, IdentityFacts, PolicyAction, RequestContext};
use crate::{demo, PolicyEngine};

const TARGETS: [&str; 3] = ["t0", "t1", "t2"];
const ENTITLEMENTS: [&str; 6] = ["t0/a", "t0/b", "t1/a", "t1/b", "t2/a", "t2/b"];
const GROUPS: [&str; 3] = ["g0", "g1", "g2"];
const USERS: [&str; 3] = ["u0", "u1", "u2"];
const RISKS: [&str; 4] = ["low", "medium", "high", "critical"];
const KINDS: [&str; 2] = ["person", "ai_agent"];
const STATUSES: [&str; 2] = ["active", "disabled"];
const STAGES: [&str; 3] = ["", "owner", "security"];
const RELATIONS: [&str; 3] = ["requester", "fulfiller", "subject_owner"];

/// Action scopes, by what their actions are about.
#[derive(Clone, Copy, PartialEq)]
enum About {
    Entitlement,
    Service,
    Both,
}

const ACTIONS: [(&str, About); 10] = [
    ("action", About::Both),
    (r#"action == Writ::Action::"request""#, About::Entitlement),
    (r#"action == Writ::Action::"auto_approve""#, About::Entitlement),
    (r#"action in [Writ::Action::"review", Writ::Action::"break_glass"]"#, About::Entitlement),
    (r#"action in [Writ::Action::"request", Writ::Action::"auto_approve"]"#, About::Entitlement),
    (r#"action == Writ::Action::"review""#, About::Entitlement),
    (r#"action == Writ::Action::"view""#, About::Entitlement),
    (r#"action in [Writ::Action::"view", Writ::Action::"review"]"#, About::Entitlement),
    (r#"action == Writ::Action::"read_audit""#, About::Service),
    (r#"action in [Writ::Action::"read_audit", Writ::Action::"manage_identities"]"#, About::Service),
];

/// Conditions on the request and entitlement: only for policies whose scope
/// keeps them to entitlement actions.
const CONDITIONS: [&str; 11] = [
    "true",
    r#"principal.status == "active""#,
    r#"resource.risk == "low" || resource.risk == "medium""#,
    "context.duration_secs <= 3600",
    "context.subject_is_requester",
    r#"principal.kind == "ai_agent" && context.subject.status == "disabled""#,
    // Errors whenever the requester is not the principal or subject (not loaded).
    r#"context.requester.status == "active""#,
    r#"principal.attributes.contains("dept=ops") || resource.owners.contains(principal)"#,
    r#"context.stage == "security" && !(principal in Writ::Group::"g2")"#,
    r#"context.relations.contains("requester") || context.relations.contains("fulfiller")"#,
    "context.relations.isEmpty()",
];

/// Conditions on the principal alone: valid for every action.
const PRINCIPAL_CONDITIONS: [&str; 5] = [
    "true",
    r#"principal.status == "disabled""#,
    r#"principal.kind == "ai_agent" && principal in Writ::Group::"g1""#,
    r#"principal.attributes.contains("dept=ops")"#,
    r#"principal in Writ::Group::"g0" && principal.status == "active""#,
];

/// Tiny deterministic generator, so the policy set is the same on every run.
struct Lcg(u64);
impl Lcg {
    fn pick(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// A resource scope, and whether it keeps the policy to entitlements.
fn resource_scope(rng: &mut Lcg, about: About) -> (String, bool) {
    let service = match rng.pick(3) {
        0 => r#"resource == Writ::Service::"writ""#,
        1 => "resource is Writ::Service",
        _ => "resource",
    };
    if about == About::Service || (about == About::Both && rng.pick(3) == 0) {
        return (service.to_string(), false);
    }
    let scope = match rng.pick(6) {
        0 => format!(r#"resource in Writ::Target::"{}""#, TARGETS[rng.pick(3)]),
        1 => format!(r#"resource == Writ::Entitlement::"{}""#, ENTITLEMENTS[rng.pick(6)]),
        2 => format!(r#"resource in Writ::Entitlement::"{}""#, ENTITLEMENTS[rng.pick(6)]),
        3 => format!(r#"resource is Writ::Entitlement in Writ::Target::"{}""#, TARGETS[rng.pick(3)]),
        4 => "resource is Writ::Entitlement".to_string(),
        _ => return ("resource".to_string(), about == About::Entitlement),
    };
    (scope, true)
}

fn policies() -> String {
    // A seed whose set gives every kind of answer (see the test below).
    let mut rng = Lcg(3);
    let mut out = String::new();
    for i in 0..80 {
        let effect = if rng.pick(3) == 0 { "forbid" } else { "permit" };
        let principal = match rng.pick(4) {
            0 => format!(r#"principal in Writ::Group::"{}""#, GROUPS[rng.pick(3)]),
            1 => format!(r#"principal == Writ::Identity::"{}""#, USERS[rng.pick(3)]),
            2 => "principal is Writ::Identity".to_string(),
            _ => "principal".to_string(),
        };
        let (action, about) = ACTIONS[rng.pick(ACTIONS.len())];
        let (resource, entitlements_only) = resource_scope(&mut rng, about);
        // A condition on the request needs a scope that rules the service out
        // (strict validation checks a policy against every action it can match).
        let when = if entitlements_only { CONDITIONS[rng.pick(CONDITIONS.len())] } else { PRINCIPAL_CONDITIONS[rng.pick(PRINCIPAL_CONDITIONS.len())] };
        // Every fourth policy keeps the default `file:line` id.
        if i % 4 != 0 {
            out.push_str(&format!("@id(\"p{i}\")\n"));
        }
        out.push_str(&format!("{effect} ({principal}, {action}, {resource})\n  when {{ {when} }};\n"));
    }
    out
}

fn identity(id: usize, kind: usize, status: usize, groups: Vec<bool>, ops: bool) -> IdentityFacts {
    IdentityFacts {
        id: USERS[id].into(),
        kind: KINDS[kind].into(),
        status: STATUSES[status].into(),
        groups: GROUPS.iter().zip(groups).filter(|(_, on)| *on).map(|(g, _)| g.to_string()).collect(),
        owner: None,
        manager: None,
        attributes: if ops { [("dept".to_string(), "ops".to_string())].into() } else { Default::default() },
    }
}

fn identity_strategy() -> impl Strategy<Value = IdentityFacts> {
    (0..3usize, 0..2usize, 0..2usize, prop::collection::vec(any::<bool>(), 3), any::<bool>())
        .prop_map(|(id, kind, status, groups, ops)| identity(id, kind, status, groups, ops))
}

fn query_strategy() -> impl Strategy<Value = DecisionQuery> {
    (
        (0..6usize, identity_strategy(), identity_strategy()),
        (0..6usize, 0..3usize, 0..4usize, prop::collection::vec(0..3usize, 0..3)),
        (0..7200i64, 0..3usize, 0..3usize, prop::collection::btree_set(0..RELATIONS.len(), 0..3)),
    )
        .prop_map(|((action, principal, subject), (ent, target, risk, owners), (duration, stage, requester, relations))| {
            // Mostly the entitlement's real target; sometimes a mismatched one, which
            // the slicer must still handle like the whole set does.
            let real_target = ENTITLEMENTS[ent].split('/').next().unwrap_or_default();
            let target = if target == 0 { TARGETS[(ent + 1) % 3] } else { real_target };
            DecisionQuery {
                // The five entitlement actions come first in `ALL`.
                action: PolicyAction::ALL[action],
                principal,
                subject,
                entitlement: EntitlementFacts {
                    id: ENTITLEMENTS[ent].into(),
                    target: target.into(),
                    risk: RISKS[risk].into(),
                    owners: owners.into_iter().map(|o| USERS[o].to_string()).collect(),
                },
                context: RequestContext {
                    duration_secs: duration,
                    justification: "because".into(),
                    ticket: None,
                    stage: Some(STAGES[stage].into()).filter(|s: &String| !s.is_empty()),
                    requester: USERS[requester].into(),
                    entitlement_count: 1,
                    relations: relations.into_iter().map(|r| RELATIONS[r].to_string()).collect(),
                    request_type: "application_access".into(),
                },
            }
        })
}

fn engine() -> &'static PolicyEngine {
    static ENGINE: std::sync::OnceLock<PolicyEngine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| PolicyEngine::from_sources(demo::SCHEMA, &[("gen.cedar", policies())]).unwrap())
}

#[test]
fn generated_set_exercises_every_path() {
    let e = engine();
    assert_eq!(e.policy_count(), 80);
    assert!(e.policy_ids().iter().any(|id| id.starts_with("gen.cedar:")));
    let q = |action| DecisionQuery {
        action,
        principal: identity(0, 0, 0, vec![true, false, false], false),
        subject: identity(1, 0, 0, vec![], false),
        entitlement: EntitlementFacts { id: "t1/a".into(), target: "t1".into(), risk: "low".into(), owners: vec![] },
        context: RequestContext { requester: "u2".into(), ..Default::default() },
    };
    assert!((0..6).all(|i| PolicyAction::ALL[i].admin().is_none()) && PolicyAction::ALL[6..].iter().all(|a| a.admin().is_some()));
    // Slicing must actually cut something for the equivalence to mean anything.
    let sliced = e.sliced_policy_count(PolicyAction::Request, &q(PolicyAction::Request).entitlement);
    assert!(sliced < 80 && sliced > 0, "{sliced}");
    assert!(PolicyAction::ALL[..6].iter().any(|&a| !e.decide(&q(a)).errors.is_empty()));

    // The random queries must reach every kind of answer, or agreeing is cheap:
    // allowed, denied by a forbid, default-denied, and with evaluation errors.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = query_strategy();
    let (mut allowed, mut forbidden, mut default_deny, mut errors) = (0, 0, 0, 0);
    for _ in 0..500 {
        let d = e.decide(&strategy.new_tree(&mut runner).unwrap().current());
        match (d.allowed, d.policy_ids.is_empty()) {
            (true, _) => allowed += 1,
            (false, false) => forbidden += 1,
            (false, true) => default_deny += 1,
        }
        errors += usize::from(!d.errors.is_empty());
    }
    for (what, n) in [("allowed", allowed), ("forbidden", forbidden), ("default deny", default_deny), ("errors", errors)] {
        assert!(n >= 10, "only {n} of 500 sampled queries were {what}");
    }

    // Administrative questions too, on their own (general) bucket.
    let sliced = e.sliced_policy_count(PolicyAction::ReadAudit, &q(PolicyAction::Request).entitlement);
    assert!(sliced < 80 && sliced > 0, "{sliced}");
    let strategy = admin_strategy();
    let (mut allowed, mut forbidden, mut default_deny) = (0, 0, 0);
    for _ in 0..200 {
        let (action, who) = strategy.new_tree(&mut runner).unwrap().current();
        let d = e.decide_admin(action, &who);
        assert!(d.errors.is_empty(), "{d:?}");
        match (d.allowed, d.policy_ids.is_empty()) {
            (true, _) => allowed += 1,
            (false, false) => forbidden += 1,
            (false, true) => default_deny += 1,
        }
    }
    for (what, n) in [("allowed", allowed), ("forbidden", forbidden), ("default deny", default_deny)] {
        assert!(n >= 10, "only {n} of 200 sampled admin queries were {what}");
    }
}

fn admin_strategy() -> impl Strategy<Value = (AdminAction, IdentityFacts)> {
    (0..2usize, identity_strategy()).prop_map(|(a, who)| (AdminAction::ALL[a], who))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sliced_and_naive_decisions_agree(q in query_strategy()) {
        let e = engine();
        let sliced = e.decide(&q);
        let naive = e.decide_naive(&q);
        prop_assert_eq!(sliced, naive);
    }

    #[test]
    fn sliced_and_naive_admin_decisions_agree((action, who) in admin_strategy()) {
        let e = engine();
        prop_assert_eq!(e.decide_admin(action, &who), e.decide_admin_naive(action, &who));
    }
}
