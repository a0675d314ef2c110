//! Request Tracker as the organisation's service desk, for real (RT 5 from
//! Debian, started by the test harness on 127.0.0.1): Writ reads the
//! queue's new tickets, takes each in (classified, routed), files governed
//! ones as requests, and writes back to the RT ticket what became of it:
//! how it was routed, the request and its evidence link, the decision.

mod common;

use axum::http::StatusCode;
use serde_json::{json, Value};
use writ_testkit::request_tracker::{RequestTracker, WRIT_QUEUE, WRIT_REQUEST_CF};

use common::{harness_with, Harness, ManualClock};

/// The demo install reading `rt`'s queue as `svc-service-desk`.
async fn harness(rt: &RequestTracker) -> Harness {
    harness_at(rt, None).await
}

/// The same, on `clock` when given.
async fn harness_at(rt: &RequestTracker, clock: Option<std::sync::Arc<ManualClock>>) -> Harness {
    let (url, token) = (rt.base_url(), rt.raw_token().to_owned());
    harness_with(
        move |policies| {
            let dir = policies.parent().unwrap();
            std::fs::write(dir.join("rt-token"), &token).unwrap();
            let config = dir.join("writ.toml");
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&format!(
                "\n[request_tracker]\nurl = \"{url}\"\ntoken_file = \"{}\"\nqueue = \"{WRIT_QUEUE}\"\nactor = \"svc-service-desk\"\nwrit_url = \"https://writ.example.test\"\n",
                dir.join("rt-token").display()
            ));
            std::fs::write(&config, text).unwrap();
        },
        clock.map(|c| c as std::sync::Arc<dyn writ_app::ports::Clock>),
    )
    .await
}

fn rt() -> RequestTracker {
    RequestTracker::start().expect("Request Tracker starts (scripts/install-test-deps.sh installs request-tracker5)")
}

/// Reads the desk once; what the poll did.
async fn poll(h: &Harness) -> writ_app::desk::Polled {
    let mut done = h.app.poll_desks().await;
    assert_eq!(done.len(), 1);
    done.remove(0).1.expect("the desk is read")
}

/// Runs the due jobs (the write-backs among them) until none is left.
async fn settle(h: &Harness) {
    while h.app.writ.run_due_jobs(50).await.unwrap() > 0 {}
}

/// The texts of the ticket's replies and comments, oldest first.
fn said(rt: &RequestTracker, id: u64) -> Vec<(String, String)> {
    rt.history(id)
        .unwrap()
        .into_iter()
        .filter(|t| matches!(t["Type"].as_str(), Some("Correspond" | "Comment")))
        .map(|t| (t["Type"].as_str().unwrap().to_owned(), t["Content"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn status(rt: &RequestTracker, id: u64) -> String {
    rt.ticket(id).unwrap()["Status"].as_str().unwrap().to_owned()
}

fn form(subject: &str, body: &str, requestor: &str, fields: Value) -> Value {
    json!({ "Queue": WRIT_QUEUE, "Subject": subject, "Content": body, "ContentType": "text/plain", "Requestor": requestor, "CustomFields": fields })
}

#[tokio::test]
async fn a_governed_ticket_from_rt_is_filed_decided_and_rt_shows_each_step() {
    let rt = rt();
    let h = harness(&rt).await;
    let id = rt
        .create_ticket_with(&form(
            "VPN access for the on-call rota",
            "I join the on-call rota next week and need the VPN to reach the servers from home.",
            "alice@example.com",
            json!({ "Writ request type": "application_access", "Writ entitlements": "ldap-corp/vpn-users", "Writ duration": "30d" }),
        ))
        .unwrap();

    assert_eq!(poll(&h).await, writ_app::desk::Polled { taken: 1, ..Default::default() });
    let ticket = h.app.writ.store().ticket_by_ref("request-tracker", &id.to_string()).await.unwrap().expect("taken in");
    assert_eq!(ticket.arrival().requester.as_str(), "alice", "the requester is the identity holding the RT address");
    assert_eq!(ticket.arrival().subject, "VPN access for the on-call rota");
    assert!(ticket.arrival().body.contains("reach the servers from home"), "the ticket's text: {:?}", ticket.arrival().body);
    let writ_core::ticket::TicketState::Filed { request, .. } = ticket.state().clone() else { panic!("filed: {:?}", ticket.state()) };
    let (_, r) = h.get("alice", &format!("/v1/requests/{request}")).await;
    assert_eq!((r["request"]["state"].as_str(), r["request"]["ticket"].as_str()), (Some("pending"), Some(format!("request-tracker:{id}").as_str())), "{r}");

    // Read again before the write-back lands: the same ticket, nothing new.
    let (head, _) = h.app.writ.store().audit_head().await.unwrap();
    assert_eq!(poll(&h).await, writ_app::desk::Polled { already: 1, ..Default::default() });
    assert_eq!(h.app.writ.store().audit_head().await.unwrap().0, head, "a second read writes nothing");

    settle(&h).await;
    let notes = said(&rt, id);
    assert!(notes.iter().any(|(k, n)| k == "Correspond" && n.contains("governed request (application_access)")), "{notes:?}");
    let filed = notes.iter().find(|(_, n)| n.contains("Filed as Writ request")).unwrap_or_else(|| panic!("{notes:?}"));
    assert!(filed.1.contains(&format!("https://writ.example.test/portal/requests/{request}")), "the evidence link: {}", filed.1);
    assert_eq!(rt.custom_field(id, WRIT_REQUEST_CF).unwrap().as_deref(), Some(request.to_string().as_str()), "RT records the request");
    assert_eq!(status(&rt, id), "open");
    assert_eq!(poll(&h).await, writ_app::desk::Polled::default(), "an open ticket is not read again");
    let written: Vec<Value> = h
        .app
        .writ
        .store()
        .request_events(request)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "ticket.written_back")
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect();
    assert!(
        written.iter().any(|p| p["event"] == "ticket.filed" && p["external_ref"].as_str() == Some(id.to_string().as_str())),
        "each write-back is evidence: {written:?}"
    );

    let (code, v) = h.post("mona", &format!("/v1/requests/{request}/approve"), json!({ "reason": "on call from Monday" })).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    settle(&h).await;
    assert!(said(&rt, id).iter().any(|(_, n)| n.contains("Approved by its approvers")), "{:?}", said(&rt, id));
}

#[tokio::test]
async fn a_denied_ticket_is_rejected_in_rt_with_the_reason() {
    let rt = rt();
    let h = harness(&rt).await;
    let id = rt
        .create_ticket_with(&form(
            "VPN access",
            "Please give me VPN access so I can work from home.",
            "bob@example.com",
            json!({ "Writ entitlements": "ldap-corp/vpn-users", "Writ duration": "30d", "Writ request type": "application_access" }),
        ))
        .unwrap();
    poll(&h).await;
    let ticket = h.app.writ.store().ticket_by_ref("request-tracker", &id.to_string()).await.unwrap().unwrap();
    let writ_core::ticket::TicketState::Filed { request, .. } = ticket.state().clone() else { panic!("{:?}", ticket.state()) };
    let (code, v) = h.post("mona", &format!("/v1/requests/{request}/deny"), json!({ "reason": "use the office network this quarter" })).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    settle(&h).await;
    // Written back in the order it happened (one write-back at a time per
    // ticket): the denial is the last word and its status stands.
    assert_eq!(status(&rt, id), "rejected");
    assert!(
        said(&rt, id).last().is_some_and(|(k, n)| k == "Correspond" && n.contains("Denied") && n.contains("use the office network this quarter")),
        "{:?}",
        said(&rt, id)
    );
}

/// A governed ticket whose approval stage waits past its SLA: the ticket's
/// requester reads that it was escalated, and to whom (the demo's
/// `payments_readonly` owner stage: 4h, to the owners' manager mona).
#[tokio::test]
async fn an_escalated_stage_is_told_on_the_ticket() {
    let rt = rt();
    let clock = ManualClock::new();
    let h = harness_at(&rt, Some(clock.clone())).await;
    let id = rt
        .create_ticket_with(&form(
            "Payments read access",
            "Read access to the payments tables for month-end reconciliation.",
            "alice@example.com",
            json!({ "Writ entitlements": "pg-prod/payments_readonly", "Writ duration": "4h", "Writ request type": "application_access" }),
        ))
        .unwrap();
    poll(&h).await;
    settle(&h).await;
    assert!(!said(&rt, id).iter().any(|(_, n)| n.contains("escalated")), "{:?}", said(&rt, id));
    clock.advance(chrono::TimeDelta::hours(4));
    let chased = h.app.writ.chase_overdue_stages().await.unwrap();
    assert_eq!(chased.escalated, 1);
    settle(&h).await;
    let told = said(&rt, id);
    assert!(
        told.last().is_some_and(|(k, n)| k == "Correspond" && n.contains("Stage `owner` of pg-prod/payments_readonly") && n.contains("escalated to `mona`")),
        "{told:?}"
    );
}

/// A requester no Writ identity holds is refused: RT is told why and the
/// ticket rejected; nothing is written in Writ, and it is not read again.
#[tokio::test]
async fn a_ticket_from_an_unknown_requester_is_rejected_in_rt_and_writes_nothing() {
    let rt = rt();
    let h = harness(&rt).await;
    let id = rt.create_ticket("Admin on the payments database", "Make me admin please", "mallory@elsewhere.test").unwrap();
    let (head, _) = h.app.writ.store().audit_head().await.unwrap();
    assert_eq!(poll(&h).await, writ_app::desk::Polled { refused: 1, ..Default::default() });
    assert_eq!(h.app.writ.store().audit_head().await.unwrap().0, head, "nothing written in Writ");
    assert!(h.app.writ.store().ticket_by_ref("request-tracker", &id.to_string()).await.unwrap().is_none());
    // Written back in the order it happened (one write-back at a time per
    // ticket): the denial is the last word and its status stands.
    assert_eq!(status(&rt, id), "rejected");
    assert!(
        said(&rt, id).iter().any(|(_, n)| n.contains("Writ cannot take this ticket in") && n.contains("no Writ identity has the attribute `email`")),
        "{:?}",
        said(&rt, id)
    );
    assert_eq!(poll(&h).await, writ_app::desk::Polled::default());
}

/// A password reset goes down the help-desk path: RT is told it cannot
/// grant access, and is resolved when the help desk resolves it in Writ.
#[tokio::test]
async fn a_password_reset_from_rt_goes_to_the_help_desk_and_is_resolved_there() {
    let rt = rt();
    let h = harness(&rt).await;
    let id = rt.create_ticket("Forgot my password", "I forgot my password and I am locked out of my laptop, please reset it", "alice@example.com").unwrap();
    assert_eq!(poll(&h).await.taken, 1);
    let ticket = h.app.writ.store().ticket_by_ref("request-tracker", &id.to_string()).await.unwrap().unwrap();
    assert_eq!(ticket.state().as_str(), "help_desk", "the classifier routes it: {:?}", ticket.prediction());
    settle(&h).await;
    assert!(said(&rt, id).iter().any(|(_, n)| n.contains("help-desk matter") && n.contains("cannot grant or widen access")), "{:?}", said(&rt, id));

    let t = ticket.id();
    let (code, v) = h.post("helen", &format!("/v1/tickets/{t}/proof"), json!({ "method": "called back on the number of record" })).await;
    assert!(code.is_success(), "{v}");
    let (code, v) = h.post("helen", &format!("/v1/tickets/{t}/resolve"), json!({ "resolution": "password reset, temporary one sent by SMS" })).await;
    assert!(code.is_success(), "{v}");
    settle(&h).await;
    assert_eq!(status(&rt, id), "resolved");
    assert!(said(&rt, id).iter().any(|(_, n)| n.contains("Resolved by the help desk") && n.contains("No access was granted")), "{:?}", said(&rt, id));
    let (_, grants) = h.get("sam", "/v1/grants").await;
    assert!(grants.as_array().unwrap().is_empty(), "nothing granted: {grants}");
}

/// A form value Writ cannot read is named on the ticket, and the ticket
/// waits in Writ for its details instead of being filed with a guess.
#[tokio::test]
async fn a_form_value_writ_cannot_read_is_named_on_the_ticket() {
    let rt = rt();
    let h = harness(&rt).await;
    let id = rt
        .create_ticket_with(&form(
            "VPN access",
            "I need the VPN to work from home.",
            "bob@example.com",
            json!({ "Writ request type": "application_access", "Writ entitlements": "ldap-corp/vpn-users", "Writ duration": "forever" }),
        ))
        .unwrap();
    assert_eq!(poll(&h).await.taken, 1);
    let ticket = h.app.writ.store().ticket_by_ref("request-tracker", &id.to_string()).await.unwrap().unwrap();
    assert_eq!(ticket.state().as_str(), "needs_details", "not filed with a guessed duration");
    settle(&h).await;
    let notes = said(&rt, id);
    assert!(notes.iter().any(|(_, n)| n.contains("the duration `forever`")), "{notes:?}");
    assert!(notes.iter().any(|(_, n)| n.contains("needs which access and for how long")), "{notes:?}");
    assert_eq!(status(&rt, id), "open");
}

/// Every bad `[request_tracker]` setting stops the server at start, naming
/// its key (RT is not called: these need no server).
#[tokio::test]
async fn bad_request_tracker_settings_stop_the_server_naming_the_key() {
    let cases = [
        ("actor = \"nobody\"", "actor"),
        ("actor = \"svc-service-desk\"\npoll_every = \"soon\"", "poll_every"),
        ("actor = \"svc-service-desk\"\naccount_attribute = \" \"", "account_attribute"),
        ("actor = \"svc-service-desk\"\nwrit_url = \"not a url\"", "writ_url"),
    ];
    for (extra, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let report = writ_server::init::init(dir.path(), false).await.unwrap();
        let token = dir.path().join("rt-token");
        std::fs::write(&token, "1-14-token").unwrap();
        let mut text = std::fs::read_to_string(&report.config).unwrap();
        text.push_str(&format!("\n[request_tracker]\nurl = \"http://127.0.0.1:9\"\ntoken_file = \"{}\"\nqueue = \"{WRIT_QUEUE}\"\n{extra}\n", token.display()));
        std::fs::write(&report.config, text).unwrap();
        let cfg = writ_server::Config::load_from(&report.config, std::iter::empty()).unwrap();
        let e = writ_server::build(&cfg).await.err().unwrap_or_else(|| panic!("{extra}: refused")).to_string();
        assert!(e.contains("request_tracker") && e.contains(key), "{extra}: {e}");
        assert!(!e.contains("1-14-token"), "the token never reaches an error: {e}");
    }
}
