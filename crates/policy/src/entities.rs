//! Per-decision Cedar request and entities, built from the plain input facts.
//!
//! Only what a decision can look at is built: the principal, the subject (when it
//! is a different identity), the entitlement (or, for an administrative action,
//! the service) and the action. Groups, targets,
//! owners and the requester are referenced by uid only: Cedar needs a parent's uid,
//! not the parent entity, for `in` to work, and not building them keeps a
//! decision cheap. Of those entities and of the context, only the attributes,
//! parents and fields the decision's policies can read are built (see `reads`).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression, Schema};

use crate::input::{AdminAction, DecisionQuery, EntitlementFacts, IdentityFacts, PolicyAction};
use crate::reads::{Attr, Reads};

/// The id of the one `Writ::Service` entity.
pub(crate) const SERVICE_ID: &str = "writ";

const N: usize = PolicyAction::COUNT;

/// Entity type names and action uids, parsed once per engine.
#[derive(Clone, Debug)]
pub(crate) struct Vocab {
    identity: EntityTypeName,
    group: EntityTypeName,
    pub entitlement: EntityTypeName,
    pub target: EntityTypeName,
    service: EntityTypeName,
    actions: [EntityUid; N],
    /// Action groups each action belongs to in the schema, so that `action in
    /// Writ::Action::"group"` policies behave as the schema says.
    action_parents: [HashSet<EntityUid>; N],
    /// Actions Writ asks about that the schema does not declare (an old policy
    /// directory): every such decision is a default deny.
    pub undeclared: Vec<PolicyAction>,
}

fn type_name(name: &str) -> EntityTypeName {
    EntityTypeName::from_str(name).expect("constant entity type names parse")
}

fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

/// Attributes of an entity or fields of the context, keeping only those `reads`
/// allows; a value is built only when kept.
struct KeptAttrs<'r> {
    kept: Vec<(String, RestrictedExpression)>,
    reads: &'r Reads<'r>,
}

impl<'r> KeptAttrs<'r> {
    fn new(reads: &'r Reads<'r>) -> Self {
        KeptAttrs { kept: Vec::new(), reads }
    }

    fn put(mut self, a: Attr, value: impl FnOnce() -> RestrictedExpression) -> Self {
        if self.reads.attr(a) {
            self.kept.push((a.name().to_string(), value()));
        }
        self
    }

    fn into_map(self) -> HashMap<String, RestrictedExpression> {
        self.kept.into_iter().collect()
    }
}

impl Vocab {
    pub fn new(schema: &Schema) -> Self {
        let action_type = type_name("Writ::Action");
        let actions = PolicyAction::ALL.map(|a| uid(&action_type, a.as_str()));
        let action_entities = schema.action_entities().ok();
        let action_parents =
            actions.clone().map(|a| action_entities.as_ref().and_then(|es| es.ancestors(&a).map(|it| it.cloned().collect())).unwrap_or_default());
        let declared: HashSet<&EntityUid> = schema.actions().collect();
        let undeclared = PolicyAction::ALL.into_iter().filter(|a| !declared.contains(&actions[a.index()])).collect();
        Vocab {
            identity: type_name("Writ::Identity"),
            group: type_name("Writ::Group"),
            entitlement: type_name("Writ::Entitlement"),
            target: type_name("Writ::Target"),
            service: type_name("Writ::Service"),
            actions,
            action_parents,
            undeclared,
        }
    }

    pub fn action_uid(&self, a: PolicyAction) -> &EntityUid {
        &self.actions[a.index()]
    }

    pub fn action_parents(&self, a: PolicyAction) -> &HashSet<EntityUid> {
        &self.action_parents[a.index()]
    }

    fn identity(&self, facts: &IdentityFacts, reads: &Reads) -> Result<Entity, String> {
        let s = |v: &str| RestrictedExpression::new_string(v.to_string());
        let attrs = KeptAttrs::new(reads)
            .put(Attr::Kind, || s(&facts.kind))
            .put(Attr::Status, || s(&facts.status))
            .put(Attr::Owner, || s(facts.owner.as_deref().unwrap_or("")))
            .put(Attr::Manager, || s(facts.manager.as_deref().unwrap_or("")))
            .put(Attr::Attributes, || {
                let pairs = facts.attributes.iter().map(|(k, v)| s(&format!("{k}={v}")));
                RestrictedExpression::new_set(pairs)
            });
        let parents = facts.groups.iter().filter(|g| reads.parent(g)).map(|g| uid(&self.group, g)).collect();
        Entity::new(uid(&self.identity, &facts.id), attrs.into_map(), parents).map_err(|e| e.to_string())
    }

    fn entitlement(&self, facts: &EntitlementFacts, reads: &Reads) -> Result<Entity, String> {
        let attrs = KeptAttrs::new(reads).put(Attr::Risk, || RestrictedExpression::new_string(facts.risk.clone())).put(Attr::Owners, || {
            let owners = facts.owners.iter().map(|o| RestrictedExpression::new_entity_uid(uid(&self.identity, o)));
            RestrictedExpression::new_set(owners)
        });
        let parents = if reads.parent(&facts.target) { HashSet::from([uid(&self.target, &facts.target)]) } else { HashSet::new() };
        Entity::new(uid(&self.entitlement, &facts.id), attrs.into_map(), parents).map_err(|e| e.to_string())
    }

    /// The entity store: `entities` plus the action entity when the schema puts
    /// the action in groups.
    fn store(&self, action: PolicyAction, mut entities: Vec<Entity>, schema: Option<&Schema>) -> Result<Entities, String> {
        // Without action groups, `action in [..]` is plain equality, which Cedar
        // evaluates without the action entity; skipping it keeps the store small.
        let parents = self.action_parents(action);
        if !parents.is_empty() {
            entities.push(Entity::new_no_attrs(self.action_uid(action).clone(), parents.clone()));
        }
        Entities::from_entities(entities, schema).map_err(|e| e.to_string())
    }

    /// The context of a query (the `RequestContext` of the schema), with the
    /// fields `reads` allows.
    fn context(&self, q: &DecisionQuery, reads: &Reads) -> Result<Context, String> {
        let c = &q.context;
        let long = RestrictedExpression::new_long;
        let bool = RestrictedExpression::new_bool;
        let identity = |id: &str| RestrictedExpression::new_entity_uid(uid(&self.identity, id));
        let fields = KeptAttrs::new(reads)
            .put(Attr::DurationSecs, || long(c.duration_secs))
            .put(Attr::JustificationLength, || long(c.justification.chars().count() as i64))
            .put(Attr::HasTicket, || bool(c.ticket.as_deref().is_some_and(|t| !t.trim().is_empty())))
            .put(Attr::Stage, || RestrictedExpression::new_string(c.stage.clone().unwrap_or_default()))
            .put(Attr::Requester, || identity(&c.requester))
            .put(Attr::Subject, || identity(&q.subject.id))
            .put(Attr::SubjectIsRequester, || bool(q.subject.id == c.requester))
            .put(Attr::EntitlementCount, || long(c.entitlement_count))
            .put(Attr::Relations, || {
                let relations = c.relations.iter().cloned();
                RestrictedExpression::new_set(relations.map(RestrictedExpression::new_string))
            })
            .put(Attr::RequestType, || RestrictedExpression::new_string(c.request_type.clone()));
        Context::from_pairs(fields.kept).map_err(|e| e.to_string())
    }

    /// Builds the Cedar request and entity store for one query, with what
    /// `reads` allows of the entities and context. With `schema`, Cedar also checks them
    /// against it (tests do, reading everything; decisions skip it for speed, the
    /// shapes being fixed by this file).
    pub fn build(&self, q: &DecisionQuery, reads: &Reads, schema: Option<&Schema>) -> Result<(Request, Entities), String> {
        let mut entities = vec![self.identity(&q.principal, reads)?, self.entitlement(&q.entitlement, reads)?];
        // Same id means same identity: the principal's facts stand for both.
        if q.subject.id != q.principal.id {
            entities.push(self.identity(&q.subject, reads)?);
        }
        let entities = self.store(q.action, entities, schema)?;

        let context = self.context(q, reads)?;
        let request =
            Request::new(uid(&self.identity, &q.principal.id), self.action_uid(q.action).clone(), uid(&self.entitlement, &q.entitlement.id), context, schema)
                .map_err(|e| e.to_string())?;
        Ok((request, entities))
    }

    /// Builds the Cedar request and entity store for an administrative question:
    /// `principal` acting on `Writ::Service::"writ"`, with an empty context.
    pub fn build_admin(&self, action: AdminAction, principal: &IdentityFacts, reads: &Reads, schema: Option<&Schema>) -> Result<(Request, Entities), String> {
        let action = action.action();
        let service = uid(&self.service, SERVICE_ID);
        let entities = vec![self.identity(principal, reads)?, Entity::new_no_attrs(service.clone(), HashSet::new())];
        let entities = self.store(action, entities, schema)?;
        let request =
            Request::new(uid(&self.identity, &principal.id), self.action_uid(action).clone(), service, Context::empty(), schema).map_err(|e| e.to_string())?;
        Ok((request, entities))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo;
    use crate::test_support::query;

    fn schema() -> Schema {
        Schema::from_cedarschema_str(demo::SCHEMA).unwrap().0
    }

    #[test]
    fn built_request_and_entities_conform_to_the_demo_schema() {
        let schema = schema();
        let vocab = Vocab::new(&schema);
        assert!(vocab.undeclared.is_empty(), "{:?}", vocab.undeclared);
        for action in PolicyAction::ALL.into_iter().filter(|a| a.admin().is_none()) {
            let mut q = query(action);
            q.principal.owner = Some("carol".into());
            q.principal.attributes.insert("department".into(), "finance".into());
            q.entitlement.owners = vec!["olga".into(), "oscar".into()];
            q.context.ticket = Some("CHG-1".into());
            q.context.relations = vec!["requester".into(), "subject_owner".into()];
            vocab.build(&q, &Reads::Everything, Some(&schema)).unwrap();
            q.subject.id = q.principal.id.clone();
            vocab.build(&q, &Reads::Everything, Some(&schema)).unwrap();
        }
        for action in AdminAction::ALL {
            vocab.build_admin(action, &query(PolicyAction::View).principal, &Reads::Everything, Some(&schema)).unwrap();
        }
    }

    #[test]
    fn actions_missing_from_an_old_schema_are_reported() {
        let old = demo::SCHEMA
            .replace(r#", "view", "revoke" appliesTo"#, " appliesTo")
            .replace(r#"action "read_audit", "manage_identities""#, r#"action "manage_identities""#);
        let schema = Schema::from_cedarschema_str(&old).unwrap().0;
        assert_eq!(Vocab::new(&schema).undeclared, [PolicyAction::View, PolicyAction::Revoke, PolicyAction::ReadAudit]);
    }

    #[test]
    fn groups_and_target_become_parents() {
        let schema = schema();
        let vocab = Vocab::new(&schema);
        let q = query(PolicyAction::Request);
        let (_, entities) = vocab.build(&q, &Reads::Everything, None).unwrap();
        let me = uid(&vocab.identity, &q.principal.id);
        let group = uid(&vocab.group, &q.principal.groups[0]);
        assert!(entities.is_ancestor_of(&group, &me));
        let ent = uid(&vocab.entitlement, &q.entitlement.id);
        assert!(entities.is_ancestor_of(&uid(&vocab.target, &q.entitlement.target), &ent));
    }
}
