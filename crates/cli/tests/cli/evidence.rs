//! `writ request show` and the next-step hints of `create`, `approve`, `deny`.

use writ_api::DecisionView;
use writ_cli::cmd::evidence::{hash_prefix, render};
use writ_cli::cmd::request::{next_steps, summary};

use crate::fixtures::{self, at, REQ};

/// The position of `needle` in `text`, failing the test if absent.
fn pos(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in:\n{text}"))
}

#[test]
fn show_reads_top_to_bottom_in_the_order_things_happened() {
    let text = render(&fixtures::active_evidence());
    let order = [
        "request 0b7c6a52-4f0e-4d39-9a1c-7d2f3e0c9b11 (active)",
        "requested by",
        "policy decisions",
        "approval stages",
        "reviews",
        "fulfilment",
        "grants",
        "outcome",
        "audit events",
    ];
    let positions: Vec<usize> = order.iter().map(|n| pos(&text, n)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "sections out of order:\n{text}");
}

#[test]
fn show_says_who_asked_for_whom_why_for_how_long() {
    let text = render(&fixtures::active_evidence());
    assert!(text.contains("  requested by   alice\n"), "{text}");
    assert!(text.contains("  for            alice (themself)\n"), "{text}");
    assert!(text.contains("  justification  investigate INC-42:\n                 slow queries on orders\n"), "{text}");
    assert!(text.contains("  duration       8h\n"), "{text}");
    assert!(text.contains("  ticket         INC-42\n"), "{text}");
    assert!(text.contains("  created        2025-03-14 09:00:00 UTC\n"), "{text}");
    assert!(!text.contains("lapses"), "only a pending request can lapse:\n{text}");
}

#[test]
fn show_lists_each_decision_with_the_policies_that_determined_it() {
    let mut ev = fixtures::active_evidence();
    ev.request.decisions.push(DecisionView {
        action: "hold".into(),
        entitlement: "pg/readonly".into(),
        principal: "alice".into(),
        allowed: false,
        policy_ids: vec![],
        errors: vec!["attribute `risk` missing".into()],
        at: at(9, 1),
        inputs: serde_json::json!({}),
    });
    let text = render(&ev);
    assert!(text.contains("2025-03-14 09:00:00 UTC  allow  request on `pg/readonly` by alice: determined by engineers-may-request\n"), "{text}");
    assert!(text.contains("deny  hold on `pg/readonly` by alice: no policy matched\n"), "{text}");
    assert!(text.contains("policy error: attribute `risk` missing"), "{text}");
}

#[test]
fn show_gives_each_stage_its_approvals_and_each_review_what_it_counted_toward() {
    let text = render(&fixtures::active_evidence());
    let stage_line = text.lines().find(|l| l.contains("security") && l.contains("of 2")).expect(&text);
    assert!(stage_line.contains("members of group `security`"), "{stage_line}");
    assert!(stage_line.contains("2 of 2") && stage_line.contains("passed"), "{stage_line}");
    assert!(stage_line.trim_end().ends_with("carol, dave"), "{stage_line}");
    assert!(text.contains("2025-03-14 09:10:00 UTC  bob approved: counted toward pg/readonly/owner\n"), "{text}");
    assert!(text.contains("      reason: \"ok for the incident\"\n"), "{text}");
    assert!(text.contains("carol approved: counted toward pg/readonly/security\n      reason: (no reason given)\n"), "{text}");
}

#[test]
fn show_gives_the_fulfilment_evidence_grants_and_outcome() {
    let text = render(&fixtures::active_evidence());
    assert!(text.contains("  task t-1: `pg/readonly` for alice by group `dba`, done\n"), "{text}");
    assert!(text.contains("      completed by  erin\n"), "{text}");
    assert!(text.contains("      evidence      GRANT readonly TO alice;\n                    GRANT ROLE\n"), "{text}");
    assert!(text.contains("  grant g-1: `pg/readonly` for alice, active\n"), "{text}");
    assert!(text.contains("      starts   2025-03-14 10:00:00 UTC\n      expires  2025-03-14 18:00:00 UTC\n"), "{text}");
    let outcome = &text[pos(&text, "\noutcome\n")..pos(&text, "\naudit events\n")];
    assert!(outcome.contains("  active\n  the access is in place for alice"), "{outcome}");
}

#[test]
fn show_ends_with_the_audit_events_and_short_hashes() {
    let ev = fixtures::active_evidence();
    let text = render(&ev);
    let audit = &text[pos(&text, "\naudit events\n")..];
    let lines: Vec<&str> = audit.lines().skip(2).collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["SEQ", "TIME", "KIND", "ACTOR", "HASH"]);
    assert_eq!(lines.len(), 5, "{audit}");
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(first, ["1", "2025-03-14", "09:01:00", "UTC", "request.submitted", "alice", &ev.events[0].hash[..16]]);
    assert_eq!(hash_prefix(&ev.events[0].hash).len(), 16);
}

#[test]
fn show_of_a_fresh_request_says_what_is_missing() {
    let ev = writ_api::EvidenceView { request: fixtures::pending(), tasks: vec![], grants: vec![], events: vec![] };
    let text = render(&ev);
    for empty in ["no reviews yet", "nothing to fulfil yet", "no grants", "no audit events"] {
        assert!(text.contains(empty), "`{empty}` missing:\n{text}");
    }
    assert!(text.contains("  lapses         2025-03-21 09:00:00 UTC\n"), "{text}");
}

#[test]
fn a_pending_request_names_the_stage_and_who_must_approve() {
    let req = fixtures::pending();
    assert_eq!(
        summary(&req, &[]),
        format!(
            "request {REQ} is pending\n\
             waiting for stage `owner` (the entitlement owners): ask them to run `writ request approve {REQ}`\n\
             it lapses if not decided by 2025-03-21 09:00\n"
        )
    );
}

#[test]
fn a_stage_needing_several_approvals_shows_progress_and_each_entitlement_its_own_stage() {
    let mut req = fixtures::pending();
    req.entitlements.push("ldap/ops".into());
    req.stages[0].approvals = vec!["bob".into()];
    req.stages[0].passed = true;
    req.stages[1].approvals = vec!["carol".into()];
    let mut ldap = fixtures::stage("manager", "the subject's manager", 1, &[]);
    ldap.entitlement = "ldap/ops".into();
    req.stages.push(ldap);
    let steps = next_steps(&req, &[]);
    assert_eq!(
        steps[0],
        format!("waiting for stage `security` of `pg/readonly` (members of group `security`, 1 of 2 approvals): ask them to run `writ request approve {REQ}`")
    );
    assert_eq!(steps[1], format!("waiting for stage `manager` of `ldap/ops` (the subject's manager): ask them to run `writ request approve {REQ}`"));
    assert_eq!(steps.len(), 3);
}

#[test]
fn an_approved_request_names_the_fulfiller_group() {
    let req = fixtures::approved();
    let steps = next_steps(&req, &[fixtures::task("open")]);
    assert_eq!(
        steps,
        ["a fulfilment task is open for group `dba` (`pg/readonly` for `alice`): a member runs `writ task complete t-1 --evidence ...` once it is done"]
    );
    assert_eq!(next_steps(&req, &[]), [format!("waiting for fulfilment: see `writ request show {REQ}`")]);
}

#[test]
fn a_denied_request_gives_the_reason() {
    let mut req = fixtures::pending();
    req.state = "denied".into();
    req.outcome_reason = Some("bob denied: use the replica".into());
    assert_eq!(summary(&req, &[]), format!("request {REQ} is denied\ndenied: bob denied: use the replica\n"));
    req.outcome_reason = None;
    req.decisions[0].allowed = false;
    req.decisions[0].policy_ids = vec!["no-prod-for-contractors".into()];
    assert_eq!(next_steps(&req, &[]), ["denied by policy: no-prod-for-contractors"]);
}

#[test]
fn cancelled_lapsed_and_active_requests_say_so() {
    let mut req = fixtures::pending();
    req.state = "cancelled".into();
    req.outcome_reason = Some("not needed".into());
    assert_eq!(next_steps(&req, &[]), ["cancelled: not needed"]);
    req.state = "lapsed".into();
    req.outcome_reason = None;
    assert_eq!(next_steps(&req, &[]), ["nobody decided it in time: submit a new request if the access is still needed"]);
    req.state = "active".into();
    assert_eq!(next_steps(&req, &[]), ["the access is in place for alice: `writ grant list --subject alice` shows when it expires"]);
}

/// A request provisioned by connectors on two targets, one verified and one
/// being retried: each target's status, the diff and the target's error show.
#[test]
fn show_of_connector_fulfilment_gives_each_diff_and_the_targets_own_error() {
    let mut request = fixtures::pending();
    request.state = "partially_fulfilled".into();
    request.entitlements = vec!["pg-live/reporting".into(), "cache/cache_read".into()];
    request.fulfilment = vec![
        writ_api::FulfilmentView {
            entitlement: "pg-live/reporting".into(),
            status: "done".into(),
            error: None,
            attempts: None,
            next_attempt_at: None,
            at: Some(fixtures::at(9, 5)),
            read_back: Some(true),
            task: None,
        },
        writ_api::FulfilmentView {
            entitlement: "cache/cache_read".into(),
            status: "retrying".into(),
            error: Some("target `cache` is unavailable: Connection refused (Writ will retry)".into()),
            attempts: Some(2),
            next_attempt_at: Some(fixtures::at(9, 6)),
            at: None,
            read_back: None,
            task: None,
        },
    ];
    let verified = serde_json::json!({
        "entitlement": "pg-live/reporting", "account": "alice", "resource": "reporting", "applied": "changed", "attempt": 1,
        "before": {"exists": true, "entitlements": [{"account": "alice", "resource": "analyst"}]},
        "after": {"exists": true, "entitlements": [{"account": "alice", "resource": "analyst"}, {"account": "alice", "resource": "reporting"}]},
        "verified": true,
    });
    let failed = serde_json::json!({
        "entitlement": "cache/cache_read", "account": "alice", "resource": "cache_read", "attempt": 2, "retryable": true,
        "error": "target `cache` is unavailable: Connection refused (Writ will retry)", "before": null, "after": null,
    });
    let event = |seq: u64, kind: &str, actor: &str, payload: &serde_json::Value| writ_api::AuditEventView {
        seq,
        at: fixtures::at(9, 5),
        actor: actor.into(),
        kind: kind.into(),
        request_id: Some(request.id.clone()),
        payload: payload.to_string(),
        prev_hash: "00".repeat(32),
        hash: "ab".repeat(32),
    };
    let ev = writ_api::EvidenceView {
        request: request.clone(),
        tasks: vec![],
        grants: vec![],
        events: vec![event(7, "entitlement.verified", "postgres", &verified), event(8, "entitlement.failed", "redis", &failed)],
    };
    // Column widths depend on the longest label: compare with spaces squashed.
    let squash = |t: &str| t.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    let text = squash(&render(&ev));
    for needle in [
        "`pg-live/reporting`: in place, verified by read-back from the target",
        "`cache/cache_read`: retrying: attempt 2 failed, next at 2025-03-14 09:06:00 UTC",
        "target said: target `cache` is unavailable: Connection refused",
        "provisioned `pg-live/reporting` for account `alice` via postgres, attempt 1",
        "before analyst\n",
        "after analyst, reporting\n",
        "diff +reporting\n",
        "verified yes: the read-back shows the approved access",
        "failed `cache/cache_read` for account `alice` via redis, attempt 2",
        "before (not read)",
        "retryable yes, Writ retries",
        "Writ retries by itself",
    ] {
        let needle = squash(needle);
        assert!(text.contains(&needle), "`{needle}` missing:\n{text}");
    }
}
