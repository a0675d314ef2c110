//! The demo policy set `writ init` writes into a new policy directory. Kept as
//! real files under `crates/policy/demo/` so they can be read, linted and
//! copied as they are.

/// `writ.cedarschema`
pub const SCHEMA: &str = include_str!("../demo/writ.cedarschema");

/// `(file name, text)` of every demo policy file, sorted by name.
pub const POLICIES: &[(&str, &str)] = &[
    ("admin.cedar", include_str!("../demo/admin.cedar")),
    ("auto_approve.cedar", include_str!("../demo/auto_approve.cedar")),
    ("break_glass.cedar", include_str!("../demo/break_glass.cedar")),
    ("request.cedar", include_str!("../demo/request.cedar")),
    ("review.cedar", include_str!("../demo/review.cedar")),
    ("revoke.cedar", include_str!("../demo/revoke.cedar")),
    ("view.cedar", include_str!("../demo/view.cedar")),
];

#[cfg(test)]
mod tests {
    use crate::test_support::{person, query};
    use crate::{AdminAction, Decision, DecisionQuery, IdentityFacts, PolicyAction, PolicyEngine};

    fn decide(q: &DecisionQuery) -> Decision {
        let d = PolicyEngine::demo().decide(q);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        d
    }

    fn allowed_by(q: &DecisionQuery, ids: &[&str]) {
        let d = decide(q);
        assert!(d.allowed, "{d:?}");
        assert_eq!(d.policy_ids, ids);
    }

    fn denied_by(q: &DecisionQuery, ids: &[&str]) {
        let d = decide(q);
        assert!(!d.allowed, "{d:?}");
        assert_eq!(d.policy_ids, ids);
    }

    #[test]
    fn request_is_permitted_for_active_principals() {
        allowed_by(&query(PolicyAction::Request), &["request-permit-active"]);
    }

    #[test]
    fn request_is_forbidden_for_disabled_principal() {
        let mut q = query(PolicyAction::Request);
        q.principal.status = "disabled".into();
        q.subject = person("bob", &[]);
        denied_by(&q, &["request-forbid-disabled-principal"]);
    }

    #[test]
    fn request_is_forbidden_for_disabled_subject() {
        let mut q = query(PolicyAction::Request);
        q.subject = person("bob", &[]);
        q.subject.status = "disabled".into();
        denied_by(&q, &["request-forbid-disabled-subject"]);
    }

    #[test]
    fn ai_agents_cannot_request_critical_access() {
        let mut q = query(PolicyAction::Request);
        q.principal.kind = "ai_agent".into();
        q.subject = q.principal.clone();
        q.entitlement.risk = "critical".into();
        denied_by(&q, &["request-forbid-ai-agent-critical"]);
        q.entitlement.risk = "high".into();
        allowed_by(&q, &["request-permit-active"]);
    }

    #[test]
    fn auto_approve_only_low_risk_short_and_for_oneself() {
        let ok = query(PolicyAction::AutoApprove);
        allowed_by(&ok, &["auto-approve-low-risk-short-self"]);
        let mut q = ok.clone();
        q.context.duration_secs = 8 * 3600;
        allowed_by(&q, &["auto-approve-low-risk-short-self"]);
        q.context.duration_secs += 1;
        denied_by(&q, &[]);
        let mut q = ok.clone();
        q.entitlement.risk = "medium".into();
        denied_by(&q, &[]);
        let mut q = ok;
        q.subject = person("bob", &[]);
        denied_by(&q, &[]);
    }

    #[test]
    fn sensitive_request_types_are_never_auto_approved() {
        for t in ["privileged_access", "service_account", "api_key", "ai_agent_tool_access"] {
            let mut q = query(PolicyAction::AutoApprove);
            q.context.request_type = t.into();
            denied_by(&q, &["auto-approve-forbid-sensitive-types"]);
        }
        let mut q = query(PolicyAction::AutoApprove);
        q.context.request_type = "application_access".into();
        allowed_by(&q, &["auto-approve-low-risk-short-self"]);
    }

    fn review(stage: &str, reviewer: &[&str]) -> DecisionQuery {
        let mut q = query(PolicyAction::Review);
        q.principal = person("rita", reviewer);
        q.context.stage = Some(stage.into());
        q
    }

    #[test]
    fn active_reviewers_may_review() {
        allowed_by(&review("owner", &[]), &["review-permit-active"]);
    }

    #[test]
    fn disabled_reviewers_may_not_review() {
        let mut q = review("owner", &[]);
        q.principal.status = "disabled".into();
        denied_by(&q, &["review-forbid-disabled"]);
    }

    #[test]
    fn security_stage_needs_the_security_group() {
        denied_by(&review("security", &["engineering"]), &["review-forbid-security-stage-outsider"]);
        allowed_by(&review("security", &["security"]), &["review-permit-active"]);
    }

    #[test]
    fn the_owner_of_a_non_human_subject_may_not_review_for_it() {
        let mut q = review("manager", &[]);
        q.subject = person("svc-billing", &[]);
        q.subject.kind = "service_account".into();
        q.subject.owner = Some("rita".into());
        q.context.relations = vec!["subject_owner".into(), "subject_manager".into()];
        denied_by(&q, &["review-forbid-subject-owner"]);
        q.context.relations = vec!["subject_manager".into()];
        allowed_by(&q, &["review-permit-active"]);
    }

    /// Rita asks to see alice's request, related to it by `relations`.
    fn view(reader: &[&str], relations: &[&str]) -> DecisionQuery {
        let mut q = query(PolicyAction::View);
        q.principal = person("rita", reader);
        q.context.relations = relations.iter().map(|r| r.to_string()).collect();
        q
    }

    #[test]
    fn anyone_involved_may_view_a_request() {
        for relation in ["requester", "subject", "subject_owner", "subject_manager", "entitlement_owner", "stage_approver", "stage_escalation", "fulfiller"] {
            allowed_by(&view(&[], &[relation]), &["view-permit-involved"]);
        }
        denied_by(&view(&["engineering"], &[]), &[]);
    }

    #[test]
    fn security_and_auditors_may_view_every_request() {
        for group in ["security", "auditors"] {
            allowed_by(&view(&[group], &[]), &["view-permit-oversight"]);
        }
        allowed_by(&view(&["auditors"], &["fulfiller"]), &["view-permit-involved", "view-permit-oversight"]);
    }

    #[test]
    fn disabled_identities_view_nothing() {
        let mut q = view(&["security"], &["requester"]);
        q.principal.status = "disabled".into();
        denied_by(&q, &["view-forbid-disabled"]);
    }

    fn admin(action: AdminAction, who: &IdentityFacts) -> Decision {
        let d = PolicyEngine::demo().decide_admin(action, who);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(d.action, action.as_str());
        d
    }

    #[test]
    fn security_and_auditors_read_the_audit_log() {
        for group in ["security", "auditors"] {
            let d = admin(AdminAction::ReadAudit, &person("rita", &[group]));
            assert!(d.allowed, "{d:?}");
            assert_eq!(d.policy_ids, ["admin-permit-read-audit-oversight"]);
        }
        let d = admin(AdminAction::ReadAudit, &person("rita", &["engineering"]));
        assert!(!d.allowed && d.policy_ids.is_empty(), "{d:?}");
    }

    #[test]
    fn only_security_manages_identities() {
        let d = admin(AdminAction::ManageIdentities, &person("sam", &["security"]));
        assert!(d.allowed, "{d:?}");
        assert_eq!(d.policy_ids, ["admin-permit-manage-identities-security"]);
        for group in ["auditors", "engineering"] {
            let d = admin(AdminAction::ManageIdentities, &person("rita", &[group]));
            assert!(!d.allowed && d.policy_ids.is_empty(), "{group}: {d:?}");
        }
    }

    #[test]
    fn security_runs_reconciliation_and_auditors_only_read_it() {
        let d = admin(AdminAction::Reconcile, &person("sam", &["security"]));
        assert!(d.allowed, "{d:?}");
        assert_eq!(d.policy_ids, ["admin-permit-reconcile-security"]);
        let auditor = person("audrey", &["auditors"]);
        assert!(!admin(AdminAction::Reconcile, &auditor).allowed, "reading the reports is not running them");
        assert!(admin(AdminAction::ReadAudit, &auditor).allowed);
    }

    #[test]
    fn disabled_identities_administer_nothing() {
        let mut sam = person("sam", &["security"]);
        sam.status = "disabled".into();
        for action in AdminAction::ALL {
            let d = admin(action, &sam);
            assert!(!d.allowed, "{d:?}");
            assert_eq!(d.policy_ids, ["admin-forbid-disabled"]);
        }
    }

    #[test]
    fn break_glass_is_for_oncall_themselves_not_critical_and_at_most_four_hours() {
        let mut q = query(PolicyAction::BreakGlass);
        q.principal = person("omar", &["oncall"]);
        q.subject = person("omar", &["oncall"]);
        q.context.requester = "omar".into();
        q.entitlement.risk = "high".into();
        q.context.duration_secs = 4 * 3600;
        allowed_by(&q, &["break-glass-permit-oncall"]);
        // Never for someone else: a colleague, or one's own service account.
        let mut for_other = q.clone();
        for_other.subject = person("alice", &["engineering"]);
        denied_by(&for_other, &[]);
        for_other.subject = IdentityFacts { kind: "service_account".into(), owner: Some("omar".into()), ..person("omar-bot", &[]) };
        denied_by(&for_other, &[]);
        // A disabled subject receives nothing, even in an emergency (the
        // subject is the principal: one identity, one status).
        let mut disabled = q.clone();
        disabled.principal.status = "disabled".into();
        disabled.subject.status = "disabled".into();
        denied_by(&disabled, &["break-glass-forbid-disabled"]);
        q.context.duration_secs = 4 * 3600 + 1;
        denied_by(&q, &[]);
        q.context.duration_secs = 3600;
        q.entitlement.risk = "critical".into();
        denied_by(&q, &[]);
        q.entitlement.risk = "low".into();
        q.principal.groups.clear();
        denied_by(&q, &[]);
    }

    #[test]
    fn every_demo_policy_has_an_id_annotation() {
        let engine = PolicyEngine::demo();
        for id in engine.policy_ids() {
            assert!(!id.contains(".cedar:"), "{id} lacks @id");
        }
    }
}
