//! Hand-built wire values: one request's evidence chain at each point of its life.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use writ_api::{AuditEventView, DecisionView, EvidenceView, GrantView, RequestView, ReviewView, StageView, TaskView};

pub fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, hour, minute, 0).unwrap()
}

pub const REQ: &str = "0b7c6a52-4f0e-4d39-9a1c-7d2f3e0c9b11";

pub fn stage(name: &str, approvers: &str, required: u32, approvals: &[&str]) -> StageView {
    StageView {
        entitlement: "pg/readonly".into(),
        name: name.into(),
        approvers: approvers.into(),
        required,
        approvals: approvals.iter().map(|s| s.to_string()).collect(),
        passed: approvals.len() as u32 >= required,
        sla: None,
        reminded_at: None,
        escalated_to: None,
    }
}

/// A pending request of alice for `pg/readonly`, waiting for the owners.
pub fn pending() -> RequestView {
    RequestView {
        id: REQ.into(),
        state: "pending".into(),
        requester: "alice".into(),
        subject: "alice".into(),
        entitlements: vec!["pg/readonly".into()],
        justification: "investigate INC-42:\nslow queries on orders".into(),
        duration: "8h".into(),
        ticket: Some("INC-42".into()),
        request_type: "application_access".into(),
        rerouted: false,
        created_at: at(9, 0),
        lapses_at: at(9, 0) + chrono::TimeDelta::days(7),
        updated_at: at(9, 0),
        outcome_reason: None,
        fulfilment: vec![],
        origin: "standard".into(),
        extends_grant: None,
        reviews_grant: None,
        extends_request: None,
        post_review: None,
        stages: vec![stage("owner", "the entitlement owners", 1, &[]), stage("security", "members of group `security`", 2, &[])],
        reviews: vec![],
        decisions: vec![DecisionView {
            action: "request".into(),
            entitlement: "pg/readonly".into(),
            principal: "alice".into(),
            allowed: true,
            policy_ids: vec!["engineers-may-request".into()],
            errors: vec![],
            at: at(9, 0),
            inputs: json!({"risk": "medium"}),
        }],
        version: 0,
    }
}

pub fn review(reviewer: &str, verdict: &str, reason: &str, minute: u32, counted: &[&str]) -> ReviewView {
    ReviewView {
        reviewer: reviewer.into(),
        verdict: verdict.into(),
        reason: reason.into(),
        at: at(9, minute),
        counted: counted.iter().map(|s| s.to_string()).collect(),
    }
}

/// The same request once every stage passed.
pub fn approved() -> RequestView {
    let mut r = pending();
    r.state = "approved".into();
    r.stages = vec![stage("owner", "the entitlement owners", 1, &["bob"]), stage("security", "members of group `security`", 2, &["carol", "dave"])];
    r.reviews = vec![
        review("bob", "approve", "ok for the incident", 10, &["pg/readonly/owner"]),
        review("carol", "approve", "", 20, &["pg/readonly/security"]),
        review("dave", "approve", "fine", 30, &["pg/readonly/security"]),
    ];
    r.version = 3;
    r.updated_at = at(9, 30);
    r
}

pub fn task(state: &str) -> TaskView {
    let done = state == "done";
    TaskView {
        id: "t-1".into(),
        request_id: REQ.into(),
        subject: "alice".into(),
        entitlement: "pg/readonly".into(),
        fulfiller_group: "dba".into(),
        purpose: "grant".into(),
        state: state.into(),
        created_at: at(9, 30),
        completed_by: done.then(|| "erin".into()),
        completed_at: done.then(|| at(10, 0)),
        evidence: done.then(|| "GRANT readonly TO alice;\nGRANT ROLE".into()),
    }
}

pub fn grant() -> GrantView {
    GrantView {
        id: "g-1".into(),
        request_id: REQ.into(),
        subject: "alice".into(),
        entitlement: "pg/readonly".into(),
        state: "active".into(),
        starts_at: at(10, 0),
        expires_at: at(18, 0),
        ended_at: None,
        ended_reason: None,
        removal: None,
    }
}

pub fn event(seq: u64, kind: &str, actor: &str) -> AuditEventView {
    AuditEventView {
        seq,
        at: at(9, seq as u32),
        actor: actor.into(),
        kind: kind.into(),
        request_id: Some(REQ.into()),
        payload: "{}".into(),
        prev_hash: format!("{:064x}", seq - 1),
        hash: format!("{seq:x}{}", "ab".repeat(32)),
    }
}

/// The full chain of an active request.
pub fn active_evidence() -> EvidenceView {
    let mut r = approved();
    r.state = "active".into();
    r.version = 4;
    EvidenceView {
        request: r,
        tasks: vec![task("done")],
        grants: vec![grant()],
        events: vec![
            event(1, "request.submitted", "alice"),
            event(2, "policy.decided", "system"),
            event(3, "review.recorded", "bob"),
            event(4, "grant.started", "system"),
        ],
    }
}
