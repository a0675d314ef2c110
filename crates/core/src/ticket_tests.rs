use chrono::TimeZone;
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::identity::{test_person, IdentityKind};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn kind(name: &str) -> RequestType {
    RequestType::standard().into_iter().find(|t| t.id.as_str() == name).unwrap()
}

fn type_of(id: &RequestTypeId) -> Result<RequestType, DomainError> {
    RequestType::standard().into_iter().find(|t| t.id == *id).ok_or_else(|| DomainError::invalid("request_type", format!("`{id}` unknown")))
}

fn arrival(subject: &str) -> Arrival {
    Arrival {
        source: "request-tracker".into(),
        external_ref: "RT-42".into(),
        requester: IdentityId::parse("alice").unwrap(),
        subject: subject.into(),
        body: "  please help  ".into(),
    }
}

fn predicted(t: &str, confidence: f64) -> Option<Prediction> {
    Some(Prediction { request_type: RequestTypeId::parse(t).unwrap(), confidence, runner_up: None })
}

fn ticket(disposition: Disposition) -> Ticket {
    Ticket::receive(TicketId::from_uuid(Uuid::from_u128(1)), arrival("can't log in"), predicted("password_reset", 0.55), disposition, type_of, t0()).unwrap()
}

fn route(t: &str) -> Disposition {
    Disposition::Route(RequestTypeId::parse(t).unwrap())
}

#[test]
fn a_ticket_is_routed_by_its_type_and_its_texts_are_checked() {
    assert_eq!(ticket(Disposition::Triage).state(), &TicketState::Triage);
    assert_eq!(ticket(route("password_reset")).state().as_str(), "help_desk");
    let governed = ticket(route("privileged_access"));
    assert_eq!(
        governed.state(),
        &TicketState::NeedsDetails { request_type: RequestTypeId::parse("privileged_access").unwrap(), missing: vec![Field::Entitlement, Field::Duration] }
    );
    assert_eq!(governed.arrival().body, "please help", "trimmed");
    let empty = Arrival { subject: " ".into(), body: String::new(), ..arrival("") };
    let e = Ticket::receive(TicketId::from_uuid(Uuid::from_u128(2)), empty, None, Disposition::Triage, type_of, t0()).unwrap_err();
    assert!(e.to_string().contains("subject or a body"), "{e}");
    let bad = Arrival { subject: "a\u{202e}b".into(), ..arrival("") };
    assert!(Ticket::receive(TicketId::from_uuid(Uuid::from_u128(3)), bad, None, Disposition::Triage, type_of, t0()).is_err());
    assert!(Ticket::receive(TicketId::from_uuid(Uuid::from_u128(4)), arrival("x"), None, route("teleport"), type_of, t0()).is_err());
}

#[test]
fn triage_records_the_choice_against_the_prediction() {
    let mut t = ticket(Disposition::Triage);
    let sam = test_person("sam");
    t.triage(&sam, &kind("account_unlock"), t0()).unwrap();
    assert_eq!(t.triage_choice().map(|c| (c.chosen.as_str(), c.agreed)), Some(("account_unlock", false)));
    assert_eq!(t.state().as_str(), "help_desk");
    assert!(t.triage(&sam, &kind("password_reset"), t0()).is_err(), "once");
    let mut t = ticket(Disposition::Triage);
    t.triage(&sam, &kind("password_reset"), t0()).unwrap();
    assert!(t.triage_choice().unwrap().agreed);
    let mut bot = test_person("copilot");
    bot.kind = IdentityKind::AiAgent;
    assert!(ticket(Disposition::Triage).triage(&bot, &kind("hardware"), t0()).is_err(), "only a person triages");
}

#[test]
fn the_help_desk_path_proofs_then_resolves_and_never_by_the_requester() {
    let mut t = ticket(route("password_reset"));
    let helen = test_person("helen");
    let e = t.resolve(&helen, "reset", t0()).unwrap_err().to_string();
    assert!(e.contains("proofed"), "{e}");
    let e = t.proof(&test_person("alice"), "I am me", t0()).unwrap_err().to_string();
    assert!(e.contains("another help-desk agent"), "{e}");
    assert!(t.proof(&helen, "  ", t0()).unwrap_err().to_string().contains("method"));
    t.proof(&helen, "called back on the number in the HR record", t0()).unwrap();
    t.resolve(&helen, "temporary password sent to the registered phone", t0()).unwrap();
    let TicketState::Resolved { proofing, by, .. } = t.state() else { panic!("{:?}", t.state()) };
    assert_eq!((proofing.by.as_str(), by.as_str()), ("helen", "helen"));
    assert_eq!(t.version(), 3);
}

#[test]
fn a_help_desk_ticket_that_changes_access_is_rerouted_to_the_governed_path() {
    let mut t = ticket(route("password_reset"));
    assert!(t.reroute(&kind("how_to"), t0()).is_err(), "only to a governed type");
    t.reroute(&kind("application_access"), t0()).unwrap();
    assert!(t.rerouted());
    assert_eq!(t.state().as_str(), "needs_details");
    let request = RequestId::from_uuid(Uuid::from_u128(9));
    t.filed(request, t0()).unwrap();
    assert_eq!(t.state(), &TicketState::Filed { request_type: RequestTypeId::parse("application_access").unwrap(), request });
    assert!(t.reroute(&kind("application_access"), t0()).is_err(), "a filed ticket stays with its request");
    assert!(t.proof(&test_person("helen"), "call back", t0()).is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Triage(usize),
    Proof,
    Resolve,
    Reroute,
    File,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![(0usize..14).prop_map(Op::Triage), Just(Op::Proof), Just(Op::Resolve), Just(Op::Reroute), Just(Op::File)]
}

proptest! {
    /// Whatever happens to a ticket: a failed step changes nothing, each
    /// step that passes counts one version, a resolved ticket was proofed by
    /// someone other than its requester, and only a governed ticket ever
    /// reaches a request.
    #[test]
    fn the_ticket_state_machine_holds_its_rules(ops in prop::collection::vec(op(), 0..12), start in 0usize..3) {
        let types = RequestType::standard();
        let disposition = match start {
            0 => Disposition::Triage,
            1 => route("account_unlock"),
            _ => route("api_key"),
        };
        let mut t = ticket(disposition);
        let helen = test_person("helen");
        for (i, o) in ops.into_iter().enumerate() {
            let before = t.clone();
            let done = match o {
                Op::Triage(k) => t.triage(&helen, &types[k], t0()),
                Op::Proof => t.proof(&helen, "call back", t0()),
                Op::Resolve => t.resolve(&helen, "done", t0()),
                Op::Reroute => t.reroute(&kind("application_access"), t0()),
                Op::File => t.filed(RequestId::from_uuid(Uuid::from_u128(i as u128)), t0()),
            };
            match done {
                Ok(()) => prop_assert_eq!(t.version(), before.version() + 1),
                Err(_) => prop_assert_eq!(&t, &before),
            }
            prop_assert!(TicketState::NAMES.contains(&t.state().as_str()));
            if let TicketState::Resolved { proofing, .. } = t.state() {
                prop_assert_ne!(&proofing.by, &t.arrival().requester);
            }
            if let TicketState::Filed { request_type, .. } = t.state() {
                prop_assert_eq!(type_of(request_type).unwrap().route, Route::Governed);
            }
        }
    }
}
