use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeDelta, TimeZone};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::catalog::{ApproverRule, Entitlement, EscalateTo, Fulfilment, RiskTier, Target, ToxicCombination};
use crate::fulfilment::TargetFulfilment;
use crate::grant::Grant;
use crate::identity::IdentityStatus;
use crate::ids::{GrantId, GroupId, TargetId};
use crate::sod::{check_toxic, holdings, names_any, Counting, Holding};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap()
}

fn id(s: &str) -> IdentityId {
    IdentityId::parse(s).unwrap()
}

fn ent(s: &str) -> EntitlementId {
    EntitlementId::parse(s).unwrap()
}

fn person(name: &str, groups: &[&str]) -> Identity {
    Identity { groups: groups.iter().map(|g| GroupId::parse(g).unwrap()).collect(), ..crate::identity::test_person(name) }
}

/// `pg-prod/payments_readonly`: owner stage (1 of owners olivia/oscar; SLA
/// 4h, reminded at 2h, escalated to the owners' managers), then security
/// stage (2 of group `security`; SLA 8h, reminded at 1h, escalated to group
/// `security-leads`). `pg-prod/payments_write` and
/// `pg-prod/payments_approve` form a toxic pair.
fn catalog() -> Catalog {
    let target = Target {
        id: TargetId::parse("pg-prod").unwrap(),
        description: String::new(),
        owners: vec![],
        fulfilment: Fulfilment::Manual { fulfiller_group: GroupId::parse("dba").unwrap() },
    };
    let two_stage = |name: &str| Entitlement {
        id: ent(name),
        description: String::new(),
        owners: vec![id("olivia"), id("oscar")],
        risk: RiskTier::High,
        stages: vec![
            StageSpec {
                sla: Some(AccessDuration::parse("4h").unwrap()),
                escalate_to: Some(EscalateTo::Manager),
                ..StageSpec::new("owner", ApproverRule::EntitlementOwners, 1)
            },
            StageSpec {
                sla: Some(AccessDuration::parse("8h").unwrap()),
                remind_after: Some(AccessDuration::parse("1h").unwrap()),
                escalate_to: Some(EscalateTo::Group(GroupId::parse("security-leads").unwrap())),
                ..StageSpec::new("security", ApproverRule::Group(GroupId::parse("security").unwrap()), 2)
            },
        ],
        max_duration: AccessDuration::parse("8h").unwrap(),
    };
    let toxic = ToxicCombination {
        name: "payments maker-checker".into(),
        entitlements: [ent("pg-prod/payments_write"), ent("pg-prod/payments_approve")].into_iter().collect(),
        reason: "one person must not both create and approve payments".into(),
    };
    Catalog::new(
        vec![target],
        vec![two_stage("pg-prod/payments_readonly"), two_stage("pg-prod/payments_write"), two_stage("pg-prod/payments_approve")],
        vec![toxic],
    )
    .unwrap()
}

fn draft(entitlements: &[&str]) -> RequestDraft {
    RequestDraft {
        requester: id("alice"),
        subject: id("alice"),
        entitlements: entitlements.iter().map(|e| ent(e)).collect(),
        justification: "quarterly payments audit".into(),
        duration: AccessDuration::parse("4h").unwrap(),
        ticket: Some("INC-42".into()),
        request_type: None,
    }
}

fn open(entitlements: &[&str]) -> Request {
    Request::open(RequestId::from_uuid(Uuid::from_u128(1)), draft(entitlements), &catalog(), t0(), TimeDelta::days(3)).unwrap()
}

fn allow(_: &EntitlementId, _: &StageSpec) -> bool {
    true
}

fn approve(r: &mut Request, who: &Identity) -> Result<ReviewEffect, DomainError> {
    r.review(who, None, Verdict::Approve, "ok".into(), t0(), allow)
}

#[test]
fn two_stages_in_order_with_two_of_three_at_security() {
    let mut r = open(&["pg-prod/payments_readonly"]);
    let olivia = person("olivia", &[]);
    let (s1, s2, s3) = (person("sam", &["security"]), person("sue", &["security"]), person("sid", &["security"]));
    // Security cannot act before the owner stage passed.
    let e = approve(&mut r, &s1).unwrap_err();
    assert!(matches!(e, DomainError::NoAuthority { .. }), "{e}");
    assert_eq!(approve(&mut r, &olivia).unwrap().state, RequestState::Pending);
    assert_eq!(approve(&mut r, &s1).unwrap().state, RequestState::Pending);
    assert_eq!(approve(&mut r, &s2).unwrap().state, RequestState::Approved);
    assert!(matches!(approve(&mut r, &s3).unwrap_err(), DomainError::IllegalTransition { .. }));
    assert_eq!(r.approvers().count(), 3);
}

#[test]
fn refusals_name_the_rule_and_change_nothing() {
    let mut r = open(&["pg-prod/payments_readonly"]);
    let before = r.clone();
    let alice = person("alice", &["security"]);
    assert!(matches!(approve(&mut r, &alice).unwrap_err(), DomainError::SelfReview { .. }));
    let mut other = r.clone();
    other.subject = id("bob");
    let bob = person("bob", &[]);
    assert!(matches!(approve(&mut other, &bob).unwrap_err(), DomainError::SubjectReview { .. }));
    let mut disabled = person("olivia", &[]);
    disabled.status = IdentityStatus::Disabled;
    assert!(matches!(approve(&mut r, &disabled).unwrap_err(), DomainError::IdentityDisabled { .. }));
    let e = approve(&mut r, &person("mallory", &[])).unwrap_err().to_string();
    assert!(e.contains("the entitlement owners"), "{e}");
    let denied_by_policy = r.review(&person("olivia", &[]), None, Verdict::Approve, String::new(), t0(), |_, _| false);
    assert!(matches!(denied_by_policy.unwrap_err(), DomainError::NoAuthority { .. }));
    assert_eq!(r, before);
}

#[test]
fn one_person_counts_once_per_request_whatever_the_stage() {
    let mut r = open(&["pg-prod/payments_readonly"]);
    let olivia = person("olivia", &["security"]);
    approve(&mut r, &olivia).unwrap();
    let e = approve(&mut r, &olivia).unwrap_err();
    assert!(matches!(e, DomainError::DuplicateReview { .. }), "{e}");
}

#[test]
fn a_deny_is_final() {
    let mut r = open(&["pg-prod/payments_readonly"]);
    let e = r.review(&person("olivia", &[]), None, Verdict::Deny, " ".into(), t0(), allow).unwrap_err();
    assert!(e.to_string().contains("needs a reason"));
    r.review(&person("olivia", &[]), None, Verdict::Deny, "not needed".into(), t0(), allow).unwrap();
    assert_eq!(r.state(), RequestState::Denied);
    assert!(approve(&mut r, &person("oscar", &[])).is_err());
    assert!(r.cancel(&id("alice"), String::new(), t0()).is_err());
    assert!(r.outcome_reason().unwrap().contains("not needed"));
}

#[test]
fn pending_requests_lapse_and_then_refuse_reviews() {
    let mut r = open(&["pg-prod/payments_readonly"]);
    assert!(r.lapse(t0() + TimeDelta::days(1)).is_err());
    let late = t0() + TimeDelta::days(3);
    let e = r.review(&person("olivia", &[]), None, Verdict::Approve, String::new(), late, allow).unwrap_err();
    assert!(matches!(e, DomainError::Lapsed { .. }));
    r.lapse(late).unwrap();
    assert_eq!(r.state(), RequestState::Lapsed);
}

#[test]
fn bad_drafts_are_refused_with_the_field_named() {
    let cat = catalog();
    let rid = RequestId::from_uuid(Uuid::nil());
    let cases: Vec<(RequestDraft, &str)> = vec![
        (RequestDraft { justification: "  ".into(), ..draft(&["pg-prod/payments_readonly"]) }, "justification"),
        (draft(&[]), "at least one entitlement"),
        (draft(&["pg-prod/nope"]), "not in the catalog"),
        (draft(&["pg-prod/payments_readonly", "pg-prod/payments_readonly"]), "listed twice"),
        (RequestDraft { duration: AccessDuration::parse("9h").unwrap(), ..draft(&["pg-prod/payments_readonly"]) }, "maximum `8h`"),
        (RequestDraft { ticket: Some("a\nb".into()), ..draft(&["pg-prod/payments_readonly"]) }, "ticket"),
    ];
    for (d, want) in cases {
        let e = Request::open(rid, d, &cat, t0(), TimeDelta::days(1)).unwrap_err().to_string();
        assert!(e.contains(want), "{e} should mention {want}");
    }
}

#[test]
fn toxic_combinations_name_the_conflict_and_the_grant_held() {
    let cat = catalog();
    let grant = GrantId::from_uuid(Uuid::from_u128(9));
    let held: BTreeMap<_, _> = [(ent("pg-prod/payments_write"), Holding::Grant(grant))].into_iter().collect();
    let e = check_toxic(&cat, &[ent("pg-prod/payments_approve")], &held).unwrap_err().to_string();
    assert!(e.contains("payments maker-checker") && e.contains("payments_write") && e.contains(&grant.to_string()), "{e}");
    let both = check_toxic(&cat, &[ent("pg-prod/payments_approve"), ent("pg-prod/payments_write")], &BTreeMap::new());
    assert!(both.unwrap_err().to_string().contains("both are in this request"));
    assert!(check_toxic(&cat, &[ent("pg-prod/payments_readonly")], &held).is_ok());
}

/// The app skips reading a subject's holdings when no combination names what
/// is asked: then no holdings at all could make `check_toxic` refuse.
#[test]
fn holdings_matter_only_for_entitlements_a_combination_names() {
    let cat = catalog();
    assert!(names_any(&cat, &[ent("pg-prod/payments_readonly"), ent("pg-prod/payments_write")]));
    assert!(!names_any(&cat, &[ent("pg-prod/payments_readonly")]));
    let grant = GrantId::from_uuid(Uuid::from_u128(9));
    let everything: BTreeMap<_, _> = cat.entitlements().map(|e| (e.id.clone(), Holding::Grant(grant))).collect();
    assert!(check_toxic(&cat, &[ent("pg-prod/payments_readonly")], &everything).is_ok());
}

/// The other half of a toxic pair counts from the moment it is asked for:
/// pending at submission, approved and owed everywhere, through its grant
/// once in place; never once it failed or the request ended.
#[test]
fn holdings_count_requests_that_may_still_put_access_in_place() {
    let cat = catalog();
    let write = ent("pg-prod/payments_write");
    let approve = ent("pg-prod/payments_approve");
    let mut pending = open(&["pg-prod/payments_write"]);
    let names_request = |held: &BTreeMap<EntitlementId, Holding>, r: &Request| {
        let e = check_toxic(&cat, std::slice::from_ref(&approve), held).unwrap_err().to_string();
        assert!(e.contains(&r.id().to_string()) && e.contains("payments maker-checker"), "{e}");
    };
    // Pending: counts at submission only.
    let held = holdings(&[], std::slice::from_ref(&pending), None, Counting::PendingToo);
    names_request(&held, &pending);
    assert!(holdings(&[], std::slice::from_ref(&pending), None, Counting::ApprovedOnly).is_empty());
    // The request under check never counts against itself.
    assert!(holdings(&[], std::slice::from_ref(&pending), Some(pending.id()), Counting::PendingToo).is_empty());
    // Approved and owed: counts everywhere.
    pending.approve_without_review(t0()).unwrap();
    let approved = pending;
    let held = holdings(&[], std::slice::from_ref(&approved), None, Counting::ApprovedOnly);
    assert_eq!(held.get(&write), Some(&Holding::Request(approved.id(), RequestState::Approved)));
    names_request(&held, &approved);
    // At fulfilment, only if filed before the request being fulfilled (then
    // by id): of two approved halves, the first filed goes through.
    let filed = approved.created_at();
    let later = Counting::ApprovedBefore { filed: filed + chrono::TimeDelta::seconds(1), id: approved.id() };
    names_request(&holdings(&[], std::slice::from_ref(&approved), None, later), &approved);
    let earlier = Counting::ApprovedBefore { filed: filed - chrono::TimeDelta::seconds(1), id: approved.id() };
    assert!(holdings(&[], std::slice::from_ref(&approved), None, earlier).is_empty());
    let (lower, higher) = (RequestId::from_uuid(Uuid::from_u128(0)), RequestId::from_uuid(Uuid::from_u128(u128::MAX)));
    assert!(holdings(&[], std::slice::from_ref(&approved), None, Counting::ApprovedBefore { filed, id: lower }).is_empty(), "same time: by id");
    names_request(&holdings(&[], std::slice::from_ref(&approved), None, Counting::ApprovedBefore { filed, id: higher }), &approved);
    // In place: counted through its grant, not the request.
    let mut done_req = approved.clone();
    done_req.record_fulfilment(&write, done(), t0()).unwrap();
    let g = Grant::start(GrantId::from_uuid(Uuid::from_u128(7)), done_req.id(), id("alice"), write.clone(), AccessDuration::parse("4h").unwrap(), t0());
    assert!(holdings(&[], std::slice::from_ref(&done_req), None, Counting::PendingToo).is_empty());
    let held = holdings(std::slice::from_ref(&g), std::slice::from_ref(&done_req), None, Counting::PendingToo);
    assert_eq!(held.get(&write), Some(&Holding::Grant(g.id())));
    // Failed, or ended: nothing owed.
    let mut failed_req = approved.clone();
    failed_req.record_fulfilment(&write, failed(), t0()).unwrap();
    assert!(holdings(&[], &[failed_req], None, Counting::PendingToo).is_empty());
    let mut cancelled = approved;
    cancelled.cancel(&id("alice"), "no longer needed".into(), t0()).unwrap();
    assert!(holdings(&[], &[cancelled], None, Counting::PendingToo).is_empty());
}

fn done() -> TargetFulfilment {
    TargetFulfilment::Done { at: t0(), read_back: true }
}

fn retrying() -> TargetFulfilment {
    TargetFulfilment::Retrying { attempts: 1, error: "connection refused".into(), next_at: t0() }
}

fn failed() -> TargetFulfilment {
    TargetFulfilment::Failed { error: "permission denied".into(), at: t0() }
}

#[test]
fn cancel_only_by_the_requester_and_only_before_access_is_in_place() {
    let mut r = open(&["pg-prod/payments_readonly", "pg-prod/payments_write"]);
    assert!(matches!(r.cancel(&id("bob"), String::new(), t0()).unwrap_err(), DomainError::Forbidden { .. }));
    r.approve_without_review(t0()).unwrap();
    r.record_fulfilment(&ent("pg-prod/payments_readonly"), done(), t0()).unwrap();
    assert_eq!(r.state(), RequestState::Approved, "one of two in place, nothing failing");
    assert!(r.cancel(&id("alice"), String::new(), t0()).is_err(), "access is in place: revoke, not cancel");
}

#[test]
fn fulfilment_per_entitlement_decides_the_state_and_in_place_is_sticky() {
    let (a, b) = (ent("pg-prod/payments_readonly"), ent("pg-prod/payments_write"));
    let mut r = open(&["pg-prod/payments_readonly", "pg-prod/payments_write"]);
    assert!(r.record_fulfilment(&a, done(), t0()).is_err(), "not approved yet");
    r.approve_without_review(t0()).unwrap();
    r.record_fulfilment(&a, done(), t0()).unwrap();
    r.record_fulfilment(&b, retrying(), t0()).unwrap();
    assert_eq!(r.state(), RequestState::PartiallyFulfilled);
    assert!(r.record_fulfilment(&a, failed(), t0()).is_err(), "what is in place stays in place");
    r.record_fulfilment(&b, done(), t0()).unwrap();
    assert_eq!(r.state(), RequestState::Active, "the retry completed it");
    assert!(r.record_fulfilment(&b, done(), t0()).is_err(), "nothing moves an active request's fulfilment");
    let other = ent("pg-prod/payments_approve");
    let mut r2 = open(&["pg-prod/payments_readonly", "pg-prod/payments_write"]);
    r2.approve_without_review(t0()).unwrap();
    assert!(r2.record_fulfilment(&other, done(), t0()).is_err(), "not part of the request");
    r2.record_fulfilment(&a, failed(), t0()).unwrap();
    assert_eq!(r2.state(), RequestState::Approved, "the other is still to come");
    r2.record_fulfilment(&b, failed(), t0()).unwrap();
    assert_eq!(r2.state(), RequestState::Failed);
    assert!(r2.state().is_final());
}

#[derive(Debug, Clone)]
enum Op {
    Review { who: usize, deny: bool, policy: bool },
    Cancel { by_requester: bool },
    Lapse { hours: i64 },
    AutoApprove,
    PolicyDeny,
    Fulfil { which: usize, status: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..7, any::<bool>(), any::<bool>()).prop_map(|(who, deny, policy)| Op::Review { who, deny: deny && who % 3 == 0, policy: policy || who % 2 == 0 }),
        1 => any::<bool>().prop_map(|by_requester| Op::Cancel { by_requester }),
        1 => (0i64..200).prop_map(|hours| Op::Lapse { hours }),
        1 => Just(Op::AutoApprove),
        1 => Just(Op::PolicyDeny),
        2 => (0usize..3, 0u8..4).prop_map(|(which, status)| Op::Fulfil { which, status }),
    ]
}

proptest! {
    /// No sequence of operations drives a request into an illegal state: final
    /// states are sticky, approval needs every stage passed, nobody counts twice,
    /// the requester never reviews, and a refused operation changes nothing.
    #[test]
    fn no_sequence_reaches_an_illegal_state(ops in proptest::collection::vec(op(), 1..40), two in any::<bool>()) {
        let people = [
            person("alice", &["security"]), person("olivia", &[]), person("oscar", &["security"]),
            person("sam", &["security"]), person("sue", &["security"]), person("sid", &["security"]),
            person("mallory", &[]),
        ];
        let ents: &[&str] = if two { &["pg-prod/payments_readonly", "pg-prod/payments_write"] } else { &["pg-prod/payments_readonly"] };
        let mut r = open(ents);
        let mut auto_approved = false;
        for op in ops {
            let before = r.clone();
            let result = match op {
                Op::Review { who, deny, policy } => r
                    .review(&people[who], None, if deny { Verdict::Deny } else { Verdict::Approve }, "because".into(), t0(), |_, _| policy)
                    .map(|_| ()),
                Op::Cancel { by_requester } => r.cancel(&if by_requester { id("alice") } else { id("oscar") }, String::new(), t0()),
                Op::Lapse { hours } => r.lapse(t0() + TimeDelta::hours(hours)),
                Op::AutoApprove => r.approve_without_review(t0()).inspect(|_| auto_approved = true),
                Op::PolicyDeny => r.deny_by_policy("policy".into(), t0()),
                Op::Fulfil { which, status } => {
                    let all = ["pg-prod/payments_readonly", "pg-prod/payments_write", "pg-prod/payments_approve"];
                    let status = match status {
                        0 => done(),
                        1 => retrying(),
                        2 => failed(),
                        _ => TargetFulfilment::Queued,
                    };
                    r.record_fulfilment(&ent(all[which]), status, t0())
                }
            };
            match result {
                Err(_) => prop_assert_eq!(&r, &before, "a refused operation changed the request"),
                Ok(()) => {
                    prop_assert_eq!(r.version(), before.version() + 1);
                    if before.state().is_final() {
                        prop_assert!(false, "moved out of final state {:?}", before.state());
                    }
                    if before.state() == RequestState::Denied {
                        prop_assert_eq!(r.state(), RequestState::Denied);
                    }
                }
            }
            if matches!(r.state(), RequestState::Approved | RequestState::Active | RequestState::PartiallyFulfilled | RequestState::Failed) {
                prop_assert!(auto_approved || r.stages_complete());
            }
            // Fulfilment only of the request's own entitlements; in place is sticky;
            // active means every entitlement is in place.
            prop_assert!(r.fulfilment().keys().all(|e| r.entitlements().contains(e)));
            for (e, st) in before.fulfilment() {
                if st.is_done() {
                    prop_assert_eq!(r.fulfilment().get(e), Some(st));
                }
            }
            if r.state() == RequestState::Active {
                prop_assert!(r.entitlements().iter().all(|e| r.fulfilment().get(e).is_some_and(TargetFulfilment::is_done)));
            }
            let reviewers: Vec<_> = r.reviews().iter().map(|rv| rv.reviewer.clone()).collect();
            let unique: BTreeSet<_> = reviewers.iter().collect();
            prop_assert_eq!(unique.len(), reviewers.len(), "someone reviewed twice");
            prop_assert!(!reviewers.contains(r.requester()));
            for t in r.tracks() {
                for s in &t.stages {
                    let u: BTreeSet<_> = s.approvals.iter().collect();
                    prop_assert_eq!(u.len(), s.approvals.len());
                }
            }
        }
    }
}

#[test]
fn access_found_by_reconciliation_is_reviewed_by_the_entitlements_owners_alone() {
    // payments_readonly normally needs its owner, then two of security.
    let req = open(&["pg-prod/payments_readonly"]).reviewed_by_owners();
    let stages = req.open_stages();
    assert_eq!(stages.len(), 1);
    assert_eq!(stages[0].1.name, "owner");
    assert_eq!(stages[0].1.approvers, crate::catalog::ApproverRule::EntitlementOwners);
    let mut req = req;
    let effect = req.review(&person("olivia", &[]), None, Verdict::Approve, String::new(), t0(), |_, _| true).unwrap();
    assert_eq!(effect.state, RequestState::Approved, "one owner's approval settles it");
}

#[path = "request_sla_tests.rs"]
mod sla;
