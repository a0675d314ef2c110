//! Approval service levels: reminders and escalations (see `request_sla.rs`).

use super::*;
use crate::review::Escalated;

const READONLY: &str = "pg-prod/payments_readonly";

fn h(hours: i64) -> DateTime<Utc> {
    t0() + TimeDelta::hours(hours)
}

fn managers(names: &[&str]) -> Escalated {
    Escalated::Managers { people: names.iter().map(|n| id(n)).collect() }
}

fn leads() -> Escalated {
    Escalated::Group { group: GroupId::parse("security-leads").unwrap() }
}

fn steps(r: &Request, now: DateTime<Utc>) -> Vec<(String, ChaseStep)> {
    r.chases_due(now).into_iter().map(|d| (d.stage, d.step)).collect()
}

#[test]
fn reminded_once_at_its_point_then_escalated_once_at_the_sla() {
    let mut r = open(&[READONLY]);
    assert_eq!(r.next_chase_at(), Some(h(2)), "half the 4h SLA when `remind_after` is not said");
    assert!(steps(&r, h(2) - TimeDelta::seconds(1)).is_empty(), "nothing before the reminder point");
    assert!(r.remind_stage(&ent(READONLY), "owner", h(1)).is_err());
    assert_eq!(steps(&r, h(2)), [("owner".to_owned(), ChaseStep::Remind)]);
    r.remind_stage(&ent(READONLY), "owner", h(2)).unwrap();
    let before = r.clone();
    assert!(r.remind_stage(&ent(READONLY), "owner", h(3)).is_err(), "reminded once");
    assert!(r.escalate_stage(&ent(READONLY), "owner", managers(&["mia"]), h(3)).is_err(), "not before the SLA");
    assert_eq!(r, before, "a refused step changes nothing");
    assert!(steps(&r, h(3)).is_empty());
    assert!(!r.past_sla(h(4) - TimeDelta::seconds(1)) && r.past_sla(h(4)));
    assert_eq!(steps(&r, h(4)), [("owner".to_owned(), ChaseStep::Escalate)]);
    // The requester is left out of the escalation: they could never approve.
    r.escalate_stage(&ent(READONLY), "owner", managers(&["mia", "alice"]), h(4)).unwrap();
    assert_eq!(r.tracks()[0].stages[0].escalated.as_ref().unwrap().to, managers(&["mia"]));
    assert!(r.escalate_stage(&ent(READONLY), "owner", managers(&["mia"]), h(5)).is_err(), "escalated once");
    assert!(steps(&r, h(5)).is_empty() && r.next_chase_at().is_none());
    assert!(r.past_sla(h(5)), "still past its SLA until the stage passes");
}

#[test]
fn a_late_first_look_reminds_then_escalates_in_that_order() {
    let mut r = open(&[READONLY]);
    assert_eq!(steps(&r, h(5)), [("owner".to_owned(), ChaseStep::Remind), ("owner".to_owned(), ChaseStep::Escalate)]);
    let e = r.escalate_stage(&ent(READONLY), "owner", managers(&["mia"]), h(5)).unwrap_err();
    assert!(e.to_string().contains("not reminded"), "{e}");
    r.remind_stage(&ent(READONLY), "owner", h(5)).unwrap();
    r.escalate_stage(&ent(READONLY), "owner", managers(&["mia"]), h(5)).unwrap();
    let e = r.escalate_stage(&ent(READONLY), "owner", leads(), h(5)).unwrap_err();
    assert!(e.to_string().contains("escalated"), "{e}");
}

#[test]
fn the_escalation_may_approve_and_the_next_stage_starts_its_own_clock() {
    let mut r = open(&[READONLY]);
    let mia = person("mia", &[]);
    assert!(matches!(r.review(&mia, None, Verdict::Approve, String::new(), h(3), allow).unwrap_err(), DomainError::NoAuthority { .. }));
    r.remind_stage(&ent(READONLY), "owner", h(4)).unwrap();
    r.escalate_stage(&ent(READONLY), "owner", managers(&["mia"]), h(4)).unwrap();
    let e = r.review(&person("mallory", &[]), None, Verdict::Approve, String::new(), h(5), allow).unwrap_err().to_string();
    assert!(e.contains("since its escalation `mia`"), "{e}");
    let effect = r.review(&mia, None, Verdict::Approve, String::new(), h(5), allow).unwrap();
    assert_eq!(effect.counted[0].stage, "owner");
    // The security stage opened at h(5): reminded 1h later, escalated at 8h.
    assert_eq!(r.next_chase_at(), Some(h(6)));
    assert!(steps(&r, h(6) - TimeDelta::seconds(1)).is_empty());
    assert_eq!(steps(&r, h(6)), [("security".to_owned(), ChaseStep::Remind)]);
    assert!(!r.past_sla(h(12)) && r.past_sla(h(13)));
    let e = r.remind_stage(&ent(READONLY), "owner", h(6)).unwrap_err();
    assert!(e.to_string().contains("passed"), "{e}");
}

/// Escalation widens who may approve, never past separation of duties: the
/// requester and the subject are refused even when in the escalation group.
#[test]
fn separation_of_duties_holds_for_the_escalation_group() {
    let mut r = open(&[READONLY]);
    r.subject = id("bob");
    let lead = |name: &str| person(name, &["security-leads"]);
    r.review(&person("olivia", &[]), None, Verdict::Approve, String::new(), h(1), allow).unwrap();
    r.remind_stage(&ent(READONLY), "security", h(2)).unwrap();
    r.escalate_stage(&ent(READONLY), "security", leads(), h(9)).unwrap();
    let before = r.clone();
    assert!(matches!(approve_at(&mut r, &lead("alice"), h(10)).unwrap_err(), DomainError::SelfReview { .. }));
    assert!(matches!(approve_at(&mut r, &lead("bob"), h(10)).unwrap_err(), DomainError::SubjectReview { .. }));
    assert!(matches!(approve_at(&mut r, &lead("olivia"), h(10)).unwrap_err(), DomainError::DuplicateReview { .. }));
    assert_eq!(r, before);
    approve_at(&mut r, &lead("lee"), h(10)).unwrap();
    assert_eq!(approve_at(&mut r, &lead("lou"), h(10)).unwrap().state, RequestState::Approved);
}

fn approve_at(r: &mut Request, who: &Identity, now: DateTime<Utc>) -> Result<ReviewEffect, DomainError> {
    r.review(who, None, Verdict::Approve, String::new(), now, allow)
}

#[test]
fn nothing_is_chased_once_decided_lapsed_or_of_the_wrong_kind() {
    let mut denied = open(&[READONLY]);
    denied.review(&person("olivia", &[]), None, Verdict::Deny, "no".into(), h(1), allow).unwrap();
    assert!(steps(&denied, h(5)).is_empty() && denied.next_chase_at().is_none() && !denied.past_sla(h(5)));
    assert!(denied.remind_stage(&ent(READONLY), "owner", h(5)).is_err());
    let mut r = open(&[READONLY]);
    assert!(steps(&r, h(72)).is_empty(), "lapsed: nobody is chased");
    assert!(matches!(r.remind_stage(&ent(READONLY), "owner", h(72)).unwrap_err(), DomainError::Lapsed { .. }));
    r.remind_stage(&ent(READONLY), "owner", h(4)).unwrap();
    let e = r.escalate_stage(&ent(READONLY), "owner", leads(), h(4)).unwrap_err().to_string();
    assert!(e.contains("escalates to `manager`"), "{e}");
    assert!(r.remind_stage(&ent("pg-prod/payments_write"), "owner", h(4)).is_err(), "not part of the request");
    assert!(r.remind_stage(&ent(READONLY), "security", h(4)).unwrap_err().to_string().contains("not yet open"));
}

#[test]
fn the_catalog_names_entitlement_stage_and_key_of_a_bad_service_level() {
    let cat = |stage: StageSpec| {
        let target = Target {
            id: TargetId::parse("pg").unwrap(),
            description: String::new(),
            owners: vec![],
            fulfilment: Fulfilment::Manual { fulfiller_group: GroupId::parse("dba").unwrap() },
        };
        let e = Entitlement {
            id: ent("pg/read"),
            description: String::new(),
            owners: vec![id("olivia")],
            risk: RiskTier::Low,
            stages: vec![stage],
            max_duration: AccessDuration::parse("8h").unwrap(),
        };
        Catalog::new(vec![target], vec![e], vec![]).map(|_| ()).map_err(|e| e.to_string())
    };
    let d = |s: &str| Some(AccessDuration::parse(s).unwrap());
    let owners = || StageSpec::new("owner", ApproverRule::EntitlementOwners, 1);
    let sec = || StageSpec::new("security", ApproverRule::Group(GroupId::parse("security").unwrap()), 1);
    for (stage, key, says) in [
        (StageSpec { remind_after: d("1h"), ..owners() }, "remind_after", "needs `sla`"),
        (StageSpec { escalate_to: Some(EscalateTo::Manager), ..owners() }, "escalate_to", "needs `sla`"),
        (StageSpec { sla: d("4h"), ..owners() }, "sla", "needs `escalate_to`"),
        (StageSpec { sla: d("4h"), remind_after: d("4h"), escalate_to: Some(EscalateTo::Manager), ..owners() }, "remind_after", "shorter than `sla`"),
        (StageSpec { sla: d("4h"), escalate_to: Some(EscalateTo::Manager), ..sec() }, "escalate_to", "group stage"),
    ] {
        let e = cat(stage).unwrap_err();
        assert!(e.contains("entitlement `pg/read`, stage `") && e.contains(&format!("key `{key}`")) && e.contains(says), "{e}");
    }
    assert!(cat(StageSpec { sla: d("4h"), escalate_to: Some(EscalateTo::Manager), ..owners() }).is_ok());
    assert!(cat(StageSpec { sla: d("4h"), escalate_to: Some(EscalateTo::parse("group:security-leads").unwrap()), ..sec() }).is_ok());
    assert!(EscalateTo::parse("boss").unwrap_err().to_string().contains("`manager` or `group:<group id>`"));
}

#[derive(Debug, Clone)]
enum SlaOp {
    Review { who: usize, deny: bool },
    Remind { track: usize, stage: usize },
    Escalate { track: usize, stage: usize, group: bool },
    Cancel,
}

fn sla_op() -> impl Strategy<Value = SlaOp> {
    prop_oneof![
        3 => (0usize..8, any::<bool>()).prop_map(|(who, deny)| SlaOp::Review { who, deny: deny && who == 1 }),
        3 => (0usize..2, 0usize..2).prop_map(|(track, stage)| SlaOp::Remind { track, stage }),
        3 => (0usize..2, 0usize..2, any::<bool>()).prop_map(|(track, stage, group)| SlaOp::Escalate { track, stage, group }),
        1 => Just(SlaOp::Cancel),
    ]
}

proptest! {
    /// Whatever happens and whenever: a stage is escalated only once
    /// reminded (and not before), each at most once and never rewritten,
    /// and only while it is the open stage of a pending request; a refused
    /// step changes nothing.
    #[test]
    fn reminded_before_escalated_each_once_never_after_a_decision(
        ops in proptest::collection::vec((sla_op(), 0i64..6), 1..40),
    ) {
        let people = [
            person("alice", &["security-leads"]), person("olivia", &[]), person("oscar", &["security"]),
            person("sam", &["security"]), person("sue", &["security"]), person("mia", &[]),
            person("lee", &["security-leads"]), person("lou", &["security-leads", "security"]),
        ];
        let ents = [READONLY, "pg-prod/payments_write"];
        let mut r = open(&ents);
        let mut now = t0();
        for (op, advance) in ops {
            now += TimeDelta::hours(advance);
            let before = r.clone();
            let (result, chased) = match op {
                SlaOp::Review { who, deny } => {
                    let verdict = if deny { Verdict::Deny } else { Verdict::Approve };
                    (r.review(&people[who], None, verdict, "because".into(), now, allow).map(|_| ()), None)
                }
                SlaOp::Remind { track, stage } => {
                    let name = ["owner", "security"][stage];
                    (r.remind_stage(&ent(ents[track]), name, now), Some((track, stage)))
                }
                SlaOp::Escalate { track, stage, group } => {
                    let name = ["owner", "security"][stage];
                    let to = if group { leads() } else { managers(&["mia", "alice"]) };
                    (r.escalate_stage(&ent(ents[track]), name, to, now), Some((track, stage)))
                }
                SlaOp::Cancel => (r.cancel(&id("alice"), String::new(), now), None),
            };
            if result.is_err() {
                prop_assert_eq!(&r, &before, "a refused operation changed the request");
            }
            for (ti, (t, was)) in r.tracks().iter().zip(before.tracks()).enumerate() {
                for (si, (s, w)) in t.stages.iter().zip(&was.stages).enumerate() {
                    if let Some(e) = &s.escalated {
                        prop_assert!(s.reminded_at.is_some_and(|at| at <= e.at), "escalated before reminded");
                        if let Escalated::Managers { people } = &e.to {
                            prop_assert!(!people.contains(r.requester()), "the requester is never named by an escalation");
                        }
                    }
                    if w.reminded_at.is_some() {
                        prop_assert_eq!(s.reminded_at, w.reminded_at, "reminded twice");
                    }
                    if w.escalated.is_some() {
                        prop_assert_eq!(&s.escalated, &w.escalated, "escalated twice");
                    }
                    if s.reminded_at != w.reminded_at || s.escalated != w.escalated {
                        prop_assert_eq!(chased, Some((ti, si)), "a stage's service level moved without its step");
                        prop_assert_eq!(before.state(), RequestState::Pending, "chased after a decision");
                        prop_assert_eq!(was.current(), Some(si), "chased a stage that was not open");
                    }
                }
            }
        }
    }
}
