//! Shared fixtures for the unit tests.

use crate::input::{DecisionQuery, EntitlementFacts, IdentityFacts, PolicyAction, RequestContext};

pub(crate) fn person(id: &str, groups: &[&str]) -> IdentityFacts {
    IdentityFacts {
        id: id.into(),
        kind: "person".into(),
        status: "active".into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    }
}

/// Alice asks for herself for one hour of a low-risk entitlement.
pub(crate) fn query(action: PolicyAction) -> DecisionQuery {
    DecisionQuery {
        action,
        principal: person("alice", &["engineering"]),
        subject: person("alice", &["engineering"]),
        entitlement: EntitlementFacts { id: "pg-prod/payments_readonly".into(), target: "pg-prod".into(), risk: "low".into(), owners: vec!["olga".into()] },
        context: RequestContext {
            duration_secs: 3600,
            justification: "debug incident INC-7".into(),
            ticket: None,
            stage: None,
            requester: "alice".into(),
            entitlement_count: 1,
            relations: vec!["requester".into(), "subject".into()],
            request_type: "application_access".into(),
        },
    }
}
