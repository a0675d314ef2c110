//! Maps domain values to the plain facts `writ-policy` decides on, and policy
//! decisions back to evidence records.

use chrono::{DateTime, Utc};
use writ_core::catalog::{ApproverRule, Catalog, Entitlement, Fulfilment};
use writ_core::identity::Identity;
use writ_core::ids::{EntitlementId, GroupId, IdentityId, TargetId};
use writ_core::request::{DecisionRecord, Request};
use writ_policy::{Decision, EntitlementFacts, IdentityFacts, Relation, RequestContext};

pub fn identity(i: &Identity) -> IdentityFacts {
    IdentityFacts {
        id: i.id.to_string(),
        kind: i.kind.as_str().to_owned(),
        status: i.status.as_str().to_owned(),
        groups: i.groups.iter().map(ToString::to_string).collect(),
        owner: i.owner.as_ref().map(ToString::to_string),
        manager: i.manager.as_ref().map(ToString::to_string),
        attributes: i.attributes.clone(),
    }
}

pub fn entitlement(e: &Entitlement) -> EntitlementFacts {
    EntitlementFacts {
        id: e.id.to_string(),
        target: e.id.target().to_string(),
        risk: e.risk.as_str().to_owned(),
        owners: e.owners.iter().map(ToString::to_string).collect(),
    }
}

/// The group that fulfils access on `target` by hand, if it is a manual target.
pub fn fulfiller_group<'a>(catalog: &'a Catalog, target: &TargetId) -> Option<&'a GroupId> {
    catalog.target(target).and_then(|t| match &t.fulfilment {
        Fulfilment::Manual { fulfiller_group } => Some(fulfiller_group),
        Fulfilment::Connector => None,
    })
}

/// The request facts every entitlement decision about `req` shares; `stage` is
/// the stage under review, `relations` how the principal relates to the request
/// (see [`Parties::relations`]).
pub fn context(req: &Request, stage: Option<&str>, relations: Vec<String>) -> RequestContext {
    RequestContext {
        duration_secs: req.duration().secs(),
        justification: req.justification().to_owned(),
        ticket: req.ticket().map(str::to_owned),
        stage: stage.map(str::to_owned),
        requester: req.requester().to_string(),
        entitlement_count: req.entitlements().len() as i64,
        relations,
        request_type: req.request_type().to_string(),
    }
}

/// Who is who in one request, resolved by the caller (the effective manager takes
/// a directory lookup): what a principal's relations to it are computed from.
#[derive(Debug, Clone, Copy)]
pub struct Parties<'a> {
    pub request: &'a Request,
    /// The subject's identity; `None` only if it is no longer in the registry.
    pub subject: Option<&'a Identity>,
    /// The subject's effective manager: its manager, or for a non-human subject
    /// without one, its owner's manager (who approves `subject_manager` stages).
    pub subject_manager: Option<&'a IdentityId>,
}

impl Parties<'_> {
    /// How `principal` relates to the request for `entitlement` (one of its
    /// entitlements): the Cedar context's `relations`, in [`Relation::ALL`] order.
    /// Entitlement owners and stage groups come from the request's approval track
    /// (copied from the catalog at submission); `fulfillers` is the group that
    /// fulfils the entitlement's target (see [`fulfiller_group`]; a task's own
    /// group for a task).
    pub fn relations(&self, principal: &Identity, entitlement: &EntitlementId, fulfillers: Option<&GroupId>) -> Vec<String> {
        let req = self.request;
        let me = &principal.id;
        let track = req.tracks().iter().find(|t| &t.entitlement == entitlement);
        let holds = |r: Relation| match r {
            Relation::Requester => req.requester() == me,
            Relation::Subject => req.subject() == me,
            Relation::SubjectOwner => self.subject.and_then(|s| s.owner.as_ref()) == Some(me),
            Relation::SubjectManager => self.subject_manager == Some(me),
            Relation::EntitlementOwner => track.is_some_and(|t| t.owners.contains(me)),
            Relation::StageApprover => {
                track.is_some_and(|t| t.stages.iter().any(|s| matches!(&s.spec.approvers, ApproverRule::Group(g) if principal.in_group(g))))
            }
            Relation::StageEscalation => track.is_some_and(|t| t.stages.iter().any(|s| s.escalated.as_ref().is_some_and(|e| e.to.admits(principal)))),
            Relation::Fulfiller => fulfillers.is_some_and(|g| principal.in_group(g)),
        };
        Relation::ALL.into_iter().filter(|&r| holds(r)).map(|r| r.as_str().to_owned()).collect()
    }

    /// The subject as policies see it (only its id when it is no longer known).
    pub fn subject_facts(&self) -> IdentityFacts {
        match self.subject {
            Some(s) => identity(s),
            None => IdentityFacts { id: self.request.subject().to_string(), ..Default::default() },
        }
    }
}

pub fn record(d: Decision, e: &Entitlement, principal: &Identity, at: DateTime<Utc>) -> DecisionRecord {
    DecisionRecord {
        action: d.action,
        entitlement: e.id.clone(),
        principal: principal.id.clone(),
        allowed: d.allowed,
        policy_ids: d.policy_ids,
        errors: d.errors,
        inputs: d.inputs,
        at,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::TimeDelta;
    use writ_core::catalog::{RiskTier, StageSpec, Target};
    use writ_core::duration::AccessDuration;
    use writ_core::identity::{IdentityKind, IdentityStatus};
    use writ_core::ids::RequestId;
    use writ_core::request::RequestDraft;

    use super::*;

    fn person(id: &str, groups: &[&str]) -> Identity {
        Identity {
            id: id.parse().unwrap(),
            kind: IdentityKind::Person,
            status: IdentityStatus::Active,
            display_name: String::new(),
            owner: None,
            manager: None,
            groups: groups.iter().map(|g| g.parse().unwrap()).collect::<BTreeSet<_>>(),
            attributes: BTreeMap::new(),
            owner_left: None,
        }
    }

    fn catalog() -> Catalog {
        let stage = |name: &str, approvers| StageSpec::new(name, approvers, 1);
        Catalog::new(
            vec![Target {
                id: "pg".parse().unwrap(),
                description: String::new(),
                owners: vec![],
                fulfilment: Fulfilment::Manual { fulfiller_group: "dba".parse().unwrap() },
            }],
            vec![Entitlement {
                id: "pg/read".parse().unwrap(),
                description: String::new(),
                owners: vec!["olga".parse().unwrap()],
                risk: RiskTier::High,
                stages: vec![stage("owner", ApproverRule::EntitlementOwners), stage("security", ApproverRule::Group("security".parse().unwrap()))],
                max_duration: AccessDuration::parse("8h").unwrap(),
            }],
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn relations_name_every_way_of_being_involved() {
        let catalog = catalog();
        let ent: EntitlementId = "pg/read".parse().unwrap();
        let draft = RequestDraft {
            requester: "rob".parse().unwrap(),
            subject: "svc".parse().unwrap(),
            entitlements: vec![ent.clone()],
            justification: "nightly job".into(),
            duration: AccessDuration::parse("1h").unwrap(),
            ticket: None,
            request_type: None,
        };
        let req = Request::open(RequestId::from_uuid(uuid::Uuid::nil()), draft, &catalog, DateTime::UNIX_EPOCH, TimeDelta::days(1)).unwrap();
        let mut svc = person("svc", &[]);
        svc.kind = IdentityKind::ServiceAccount;
        svc.owner = Some("ann".parse().unwrap());
        let manager: IdentityId = "mo".parse().unwrap();
        let parties = Parties { request: &req, subject: Some(&svc), subject_manager: Some(&manager) };
        let fulfillers = fulfiller_group(&catalog, ent.target());
        let of = |who: &Identity| parties.relations(who, &ent, fulfillers);
        assert_eq!(of(&person("rob", &[])), ["requester"]);
        assert_eq!(of(&svc), ["subject"]);
        assert_eq!(of(&person("ann", &["security"])), ["subject_owner", "stage_approver"]);
        assert_eq!(of(&person("mo", &[])), ["subject_manager"]);
        assert_eq!(of(&person("olga", &["dba"])), ["entitlement_owner", "fulfiller"]);
        assert!(of(&person("eve", &["engineering"])).is_empty());
        // Another entitlement than the request's has no track: only the people.
        let other: EntitlementId = "pg/write".parse().unwrap();
        assert_eq!(parties.relations(&person("olga", &["security"]), &other, None), Vec::<String>::new());
        let ctx = context(&req, Some("owner"), of(&person("rob", &[])));
        assert_eq!((ctx.requester.as_str(), ctx.stage.as_deref(), ctx.entitlement_count), ("rob", Some("owner"), 1));
        assert_eq!(ctx.relations, ["requester"]);
        assert_eq!(parties.subject_facts().kind, "service_account");
    }
}
