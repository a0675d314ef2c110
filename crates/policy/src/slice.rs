//! Policy slicing: the fast path's index.
//!
//! A policy whose scope says `resource == Writ::Entitlement::"e"` can only match
//! requests about `e`; one saying `resource in Writ::Target::"t"` only requests
//! about entitlements of `t` (an entitlement's only parent is its target). So at
//! load we sort every policy, per action it can apply to, into one bucket:
//! general (any resource, `is`, or anything we do not recognise — staying in is
//! always safe), per target, or per entitlement. A decision then evaluates at most
//! three small policy sets instead of the whole set.
//!
//! An administrative decision's resource is the service (`Writ::Service`), which
//! is neither an entitlement nor in a target: only the general bucket can match
//! it, so that is all such a decision evaluates.
//!
//! The buckets are evaluated separately and their responses merged (see
//! `decide`), which gives exactly Cedar's answer on their union: Cedar's decision
//! is "some forbid holds → deny; else some permit holds → allow; else deny", and
//! that only needs the satisfied policies of each part. This avoids building (and
//! caching) a union set per (action, entitlement); one `is_authorized` call per
//! bucket costs little next to evaluating the policies themselves.
//!
//! Each bucket also records what its policies can read of the entities and
//! context (see `reads`), so a decision builds only the attributes, parents and
//! context fields its buckets can see.

use std::collections::HashMap;

use cedar_policy::{ActionConstraint, EntityUid, PolicySet, ResourceConstraint};

use crate::entities::Vocab;
use crate::input::{EntitlementFacts, PolicyAction};
use crate::load::LoadedPolicy;
use crate::reads::PolicyReads;

/// Where one policy goes, given its resource scope.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bucket {
    General,
    Target(String),
    Entitlement(String),
}

/// One bucket: its policies, and what they can read of a decision's entities
/// and context.
#[derive(Default)]
pub(crate) struct Slice {
    pub set: PolicySet,
    pub reads: PolicyReads,
}

impl Slice {
    fn add(&mut self, p: &LoadedPolicy, reads: &PolicyReads) {
        self.set.add(p.policy.clone()).expect("policy ids are unique");
        self.reads.add(reads);
    }
}

#[derive(Default)]
struct ActionSlices {
    general: Slice,
    by_target: HashMap<String, Slice>,
    by_entitlement: HashMap<String, Slice>,
}

/// Per action (indexed by `PolicyAction::index`), the policy buckets.
pub(crate) struct SliceIndex {
    actions: [ActionSlices; PolicyAction::COUNT],
}

impl SliceIndex {
    pub fn build(vocab: &Vocab, policies: &[LoadedPolicy]) -> Self {
        let mut actions: [ActionSlices; PolicyAction::COUNT] = Default::default();
        for p in policies {
            let bucket = bucket_of(vocab, &p.policy.resource_constraint());
            let reads = PolicyReads::of(&p.policy);
            for action in applies_to(vocab, &p.policy.action_constraint()) {
                let slices = &mut actions[action.index()];
                let slice = match &bucket {
                    Bucket::General => &mut slices.general,
                    Bucket::Target(t) => slices.by_target.entry(t.clone()).or_default(),
                    Bucket::Entitlement(e) => slices.by_entitlement.entry(e.clone()).or_default(),
                };
                slice.add(p, &reads);
            }
        }
        SliceIndex { actions }
    }

    /// The non-empty buckets a decision on (action, entitlement) must evaluate.
    /// For an administrative action (whose resource is the service) the
    /// entitlement is ignored and only the general bucket applies.
    pub fn slices(&self, action: PolicyAction, ent: Option<&EntitlementFacts>) -> Vec<&Slice> {
        let slices = &self.actions[action.index()];
        let ent = ent.filter(|_| action.admin().is_none());
        [Some(&slices.general), ent.and_then(|e| slices.by_target.get(&e.target)), ent.and_then(|e| slices.by_entitlement.get(&e.id))]
            .into_iter()
            .flatten()
            .filter(|s| !s.set.is_empty())
            .collect()
    }
}

/// The actions a policy's action scope can match. An action matches `action ==
/// A` / `action in [..]` when it is A or one of its schema action groups is.
pub(crate) fn applies_to(vocab: &Vocab, constraint: &ActionConstraint) -> Vec<PolicyAction> {
    let matches = |action: PolicyAction, listed: &EntityUid| vocab.action_uid(action) == listed || vocab.action_parents(action).contains(listed);
    PolicyAction::ALL
        .into_iter()
        .filter(|&a| match constraint {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(listed) => matches(a, listed),
            ActionConstraint::In(listed) => listed.iter().any(|l| matches(a, l)),
        })
        .collect()
}

fn bucket_of(vocab: &Vocab, constraint: &ResourceConstraint) -> Bucket {
    let by_uid = |uid: &EntityUid| {
        let id = uid.id().unescaped().to_string();
        if uid.type_name() == &vocab.entitlement {
            // `in E` for an entitlement means `== E`: entitlements have no
            // entitlement ancestors.
            Bucket::Entitlement(id)
        } else if uid.type_name() == &vocab.target {
            Bucket::Target(id)
        } else {
            Bucket::General
        }
    };
    match constraint {
        ResourceConstraint::Eq(uid) | ResourceConstraint::In(uid) => by_uid(uid),
        ResourceConstraint::IsIn(ty, uid) if ty == &vocab.entitlement => by_uid(uid),
        _ => Bucket::General,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{demo, load};
    use cedar_policy::Schema;

    fn index(policies: &str) -> SliceIndex {
        let loaded = load::load(demo::SCHEMA, &[("t.cedar", policies)]).unwrap();
        let schema = Schema::from_cedarschema_str(demo::SCHEMA).unwrap().0;
        SliceIndex::build(&Vocab::new(&schema), &loaded.policies)
    }

    fn ids(idx: &SliceIndex, action: PolicyAction, ent: &str, target: &str) -> Vec<String> {
        let ent = EntitlementFacts { id: ent.into(), target: target.into(), ..Default::default() };
        let mut out: Vec<String> = idx.slices(action, Some(&ent)).into_iter().flat_map(|s| s.set.policies().map(|p| p.id().to_string())).collect();
        out.sort();
        out
    }

    #[test]
    fn policies_land_in_their_buckets() {
        let idx = index(
            r#"
@id("any") permit (principal, action, resource);
@id("req") permit (principal, action == Writ::Action::"request", resource is Writ::Entitlement);
@id("two") permit (principal, action in [Writ::Action::"review", Writ::Action::"request"], resource);
@id("tgt") permit (principal, action == Writ::Action::"request", resource in Writ::Target::"pg");
@id("tgt-is") permit (principal, action == Writ::Action::"request", resource is Writ::Entitlement in Writ::Target::"pg");
@id("ent") forbid (principal, action == Writ::Action::"request", resource == Writ::Entitlement::"pg/x");
@id("ent-in") forbid (principal, action == Writ::Action::"request", resource in Writ::Entitlement::"pg/y");
"#,
        );
        let req = PolicyAction::Request;
        assert_eq!(ids(&idx, req, "pg/x", "pg"), ["any", "ent", "req", "tgt", "tgt-is", "two"]);
        assert_eq!(ids(&idx, req, "pg/y", "pg"), ["any", "ent-in", "req", "tgt", "tgt-is", "two"]);
        assert_eq!(ids(&idx, req, "gh/z", "gh"), ["any", "req", "two"]);
        assert_eq!(ids(&idx, PolicyAction::Review, "pg/x", "pg"), ["any", "two"]);
        assert_eq!(ids(&idx, PolicyAction::BreakGlass, "pg/x", "pg"), ["any"]);
    }

    #[test]
    fn administrative_actions_use_the_general_bucket_only() {
        let idx = index(
            r#"
@id("any") permit (principal, action, resource);
@id("tgt") forbid (principal, action, resource in Writ::Target::"pg");
@id("ent") forbid (principal, action, resource == Writ::Entitlement::"pg/x");
@id("svc") permit (principal, action == Writ::Action::"read_audit", resource == Writ::Service::"writ");
@id("svc-is") permit (principal in Writ::Group::"auditors", action in [Writ::Action::"read_audit", Writ::Action::"manage_identities"], resource is Writ::Service);
@id("view") permit (principal, action == Writ::Action::"view", resource);
"#,
        );
        assert_eq!(ids(&idx, PolicyAction::ReadAudit, "pg/x", "pg"), ["any", "svc", "svc-is"]);
        assert_eq!(ids(&idx, PolicyAction::ManageIdentities, "pg/x", "pg"), ["any", "svc-is"]);
        assert_eq!(ids(&idx, PolicyAction::View, "pg/x", "pg"), ["any", "ent", "tgt", "view"]);
    }
}
