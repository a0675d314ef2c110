//! Maps domain values to the plain facts `writ-policy` decides on, and policy
//! decisions back to evidence records.

use chrono::{DateTime, Utc};
use writ_core::catalog::Entitlement;
use writ_core::identity::Identity;
use writ_core::request::DecisionRecord;
use writ_policy::{Decision, EntitlementFacts, IdentityFacts};

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
