//! Request types at the API: each request is of a catalog type, whose
//! mandatory fields are checked and named when missing; a help-desk type
//! that names access is re-routed to the governed path, recorded in the
//! audit log and counted.

mod common;

use axum::http::StatusCode;
use serde_json::{json, Value};

use common::{harness_with, Harness};

/// The demo install, with a token for the service desk's integration
/// (`svc-service-desk`, a service account in the `service-desk` group).
async fn harness() -> Harness {
    with_service_desk(common::harness().await).await
}

/// [`harness`] with `[intake]` set to `intake` in writ.toml.
async fn harness_intake(intake: &str) -> Harness {
    let intake = intake.to_owned();
    let h = harness_with(
        move |policies| {
            let config = policies.parent().unwrap().join("writ.toml");
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&format!("\n[intake]\n{intake}\n"));
            std::fs::write(&config, text).unwrap();
        },
        None,
    )
    .await;
    with_service_desk(h).await
}

async fn with_service_desk(mut h: Harness) -> Harness {
    let svc = writ_core::ids::IdentityId::parse("svc-service-desk").unwrap();
    let draft =
        writ_core::token::TokenDraft { name: "rt-integration".into(), lifetime: Some(writ_core::duration::AccessDuration::parse("30d").unwrap()), scope: None };
    let (_, secret) = h.app.writ.issue_token_as_operator(&svc, draft).await.unwrap();
    h.tokens.insert("svc-service-desk".into(), secret);
    h
}

fn ask(entitlement: &str, extra: Value) -> Value {
    let mut body = json!({ "entitlements": [entitlement], "justification": "month-end close", "duration": "1h" });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn the_catalog_lists_its_request_types_with_their_routes_and_fields() {
    let h = harness().await;
    let (status, types) = h.get("alice", "/v1/catalog/request-types").await;
    assert_eq!(status, StatusCode::OK);
    let find = |id: &str| types.as_array().unwrap().iter().find(|t| t["id"] == id).unwrap_or_else(|| panic!("{id} in {types}")).clone();
    assert_eq!(find("privileged_access")["route"], "governed");
    assert!(find("privileged_access")["mandatory"].as_array().unwrap().contains(&json!("ticket")));
    assert_eq!(find("password_reset")["route"], "help_desk");
    assert_eq!(types.as_array().unwrap().len(), 14, "{types}");
    let (status, _) = h.call(None, "GET", "/v1/catalog/request-types", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_missing_mandatory_field_is_named_and_nothing_is_filed() {
    let h = harness().await;
    let (_, before) = h.get("sam", "/v1/requests").await;
    let (status, v) = h.post("alice", "/v1/requests", ask("pg-prod/analytics_read", json!({ "request_type": "privileged_access" }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("ticket") && message.contains("privileged_access"), "{message}");
    let (status, v) = h.post("alice", "/v1/requests", ask("pg-prod/analytics_read", json!({ "request_type": "teleportation" }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("`teleportation` is not a request type") && v["message"].as_str().unwrap().contains("privileged_access"),
        "{v}"
    );
    let (status, v) = h.post("alice", "/v1/requests", ask("pg-prod/analytics_read", json!({ "request_type": "Not A Type!" }))).await;
    assert!(status.is_client_error(), "{v}");
    let (_, after) = h.get("sam", "/v1/requests").await;
    assert_eq!(before, after, "nothing filed");

    let (status, v) =
        h.post("alice", "/v1/requests", ask("pg-prod/analytics_read", json!({ "request_type": "privileged_access", "ticket": "CHG-1042" }))).await;
    assert!(status.is_success(), "{v}");
    assert_eq!((v["request_type"].as_str(), v["rerouted"].as_bool()), (Some("privileged_access"), Some(false)), "{v}");
    // The type reaches policy: the demo never auto-approves privileged access,
    // while the same low-risk entitlement as plain application access is.
    assert_eq!(v["state"], "pending", "{v}");
    let (_, evidence) = h.get("alice", &format!("/v1/requests/{}", v["id"].as_str().unwrap())).await;
    let decided = evidence["request"]["decisions"].as_array().unwrap().iter().find(|d| d["action"] == "auto_approve").unwrap().clone();
    assert_eq!(decided["policy_ids"], json!(["auto-approve-forbid-sensitive-types"]), "{decided}");
    let (_, plain) = h.post("alice", "/v1/requests", ask("pg-prod/analytics_read", json!({}))).await;
    assert_eq!(plain["request_type"], "application_access", "a request that does not say: {plain}");
    assert_ne!(plain["state"], "pending", "auto-approved: {plain}");
}

#[tokio::test]
async fn a_help_desk_type_that_names_access_goes_down_the_governed_path_recorded_and_counted() {
    let h = harness().await;
    let (status, v) = h.post("alice", "/v1/requests", ask("pg-prod/payments_readonly", json!({ "request_type": "password_reset" }))).await;
    assert!(status.is_success(), "{v}");
    assert_eq!((v["request_type"].as_str(), v["rerouted"].as_bool(), v["state"].as_str()), (Some("password_reset"), Some(true), Some("pending")), "{v}");
    let id = v["id"].as_str().unwrap();
    let (_, evidence) = h.get("alice", &format!("/v1/requests/{id}")).await;
    let rerouted = evidence["events"].as_array().unwrap().iter().find(|e| e["kind"] == "request.rerouted").unwrap_or_else(|| panic!("{evidence}"));
    let payload: Value = serde_json::from_str(rerouted["payload"].as_str().unwrap()).unwrap();
    assert_eq!((payload["from"].as_str(), payload["to"].as_str()), (Some("help_desk"), Some("governed")), "{payload}");
    assert!(evidence["request"]["stages"].as_array().unwrap().len() >= 2, "the owners' and security's stages, as for any governed request: {evidence}");
    let (_, metrics) = h.get("sam", "/metrics").await;
    assert!(metrics.as_str().unwrap().contains("writ_requests_rerouted_total 1"), "{metrics}");
}

#[tokio::test]
async fn a_catalog_may_declare_its_own_request_types() {
    let h = harness_with(
        |policies| {
            let path = policies.parent().unwrap().join("catalog.toml");
            let mut catalog = std::fs::read_to_string(&path).unwrap();
            catalog.push_str(
                "\n[[request_types]]\nid = \"application_access\"\nroute = \"governed\"\nmandatory = [\"entitlement\", \"justification\", \"duration\", \"ticket\"]\n\n\
                 [[request_types]]\nid = \"badge\"\ndescription = \"A building badge\"\nroute = \"help_desk\"\n",
            );
            std::fs::write(path, catalog).unwrap();
        },
        None,
    )
    .await;
    let (_, types) = h.get("alice", "/v1/catalog/request-types").await;
    assert_eq!(types.as_array().unwrap().len(), 2, "{types}");
    let (status, v) = h.post("alice", "/v1/requests", ask("pg-prod/analytics_read", json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "this catalog makes a ticket mandatory for every request: {v}");
    assert!(v["message"].as_str().unwrap().contains("ticket"), "{v}");
}

#[test]
fn a_bad_request_type_in_a_catalog_is_refused_with_its_name() {
    let base = "[[targets]]\nid = \"t\"\nowners = [\"o\"]\nfulfilment = { kind = \"manual\", fulfiller_group = \"g\" }\n";
    for (types, expect) in [
        ("[[request_types]]\nid = \"badge\"\nroute = \"help_desk\"\n", "application_access"),
        ("[[request_types]]\nid = \"application_access\"\nroute = \"governed\"\nmandatory = [\"entitlement\"]\n", "justification"),
        (
            "[[request_types]]\nid = \"application_access\"\nroute = \"governed\"\nmandatory = [\"entitlement\", \"justification\", \"duration\"]\n\
             [[request_types]]\nid = \"application_access\"\nroute = \"governed\"\nmandatory = [\"entitlement\", \"justification\", \"duration\"]\n",
            "declared twice",
        ),
        ("[[request_types]]\nid = \"application_access\"\nroute = \"governed\"\nmandatory = [\"entitlement\", \"justification\", \"duration\", \"colour\"]\n", "colour"),
    ] {
        let e = writ_server::catalog_file::parse_catalog("catalog.toml", &format!("{base}{types}")).unwrap_err().to_string();
        assert!(e.contains("catalog.toml") && e.contains(expect), "{expect}: {e}");
    }
}

fn ticket(external_ref: &str, requester: &str, extra: Value) -> Value {
    let mut body = json!({ "source": "request-tracker", "external_ref": external_ref, "requester": requester, "subject": "cannot sign in", "body": "my password expired" });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

/// The help-desk path: taken in once (a second delivery writes nothing),
/// proofed by the help desk (never by the requester), resolved; nothing is
/// granted; the help desk cannot approve anything.
#[tokio::test]
async fn a_help_desk_ticket_is_proofed_and_resolved_and_grants_nothing() {
    let h = harness().await;
    let (head, _) = h.app.writ.store().audit_head().await.unwrap();
    let (status, t) = h.post("svc-service-desk", "/v1/tickets", ticket("RT-7", "alice", json!({ "request_type": "password_reset" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!((t["state"].as_str(), t["route"].as_str()), (Some("help_desk"), Some("help_desk")), "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    let (status, again) = h.post("svc-service-desk", "/v1/tickets", ticket("RT-7", "alice", json!({ "request_type": "password_reset" }))).await;
    assert_eq!((status, again["id"].as_str(), again["already_taken"].as_bool()), (StatusCode::OK, Some(id.as_str()), Some(true)), "{again}");
    let (after_again, _) = h.app.writ.store().audit_head().await.unwrap();
    assert_eq!(after_again, head + 1, "one event for the first delivery, none for the second");

    // The service account cannot proof or resolve (not a person); the requester cannot proof herself.
    let (status, v) = h.post("svc-service-desk", &format!("/v1/tickets/{id}/proof"), json!({ "method": "trust me" })).await;
    assert!(status.is_client_error(), "{v}");
    let (status, v) = h.post("alice", &format!("/v1/tickets/{id}/proof"), json!({ "method": "it is me" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, v) = h.post("helen", &format!("/v1/tickets/{id}/resolve"), json!({ "resolution": "reset" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "proof comes first: {v}");
    assert!(v["message"].as_str().unwrap().contains("proofed"), "{v}");
    let (status, v) = h.post("helen", &format!("/v1/tickets/{id}/proof"), json!({ "method": "called back on the number in the HR record" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!((v["state"].as_str(), v["proofed_by"].as_str()), (Some("proofed"), Some("helen")));
    let (status, v) = h.post("helen", &format!("/v1/tickets/{id}/resolve"), json!({ "resolution": "temporary password sent to the phone of record" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(v["state"], "resolved");
    let (_, shown) = h.get("alice", &format!("/v1/tickets/{id}")).await;
    assert_eq!(shown["resolution"], "temporary password sent to the phone of record", "its requester sees it: {shown}");
    let (status, _) = h.get("bob", &format!("/v1/tickets/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nobody else does");
    let (_, grants) = h.get("sam", "/v1/grants").await;
    assert!(grants.as_array().unwrap().is_empty(), "nothing granted: {grants}");

    // The help desk neither decides scope nor approves.
    let (_, r) = h.post("alice", "/v1/requests", ask("pg-prod/payments_readonly", json!({}))).await;
    let (status, v) = h.post("helen", &format!("/v1/requests/{}/approve", r["id"].as_str().unwrap()), json!({ "reason": "looks fine" })).await;
    assert!(status.is_client_error(), "{v}");
}

/// Without a classifier a ticket that does not state its type waits in
/// triage; a person's choice is recorded (and counted); the requester says
/// what access, and the request is filed through the governed path.
#[tokio::test]
async fn a_triaged_governed_ticket_becomes_a_request_once_it_says_what_access() {
    let h = harness_intake("classifier = \"off\"").await;
    let (status, t) = h
        .post("svc-service-desk", "/v1/tickets", ticket("RT-8", "alice", json!({ "subject": "need the analytics replica", "body": "for the Q3 report" })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["state"], "triage");
    let id = t["id"].as_str().unwrap().to_owned();
    let (_, queue) = h.get("sam", "/v1/tickets?state=triage").await;
    assert!(queue.as_array().unwrap().iter().any(|q| q["id"] == id.as_str()), "{queue}");
    let (status, _) = h.get("alice", "/v1/tickets?state=triage").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the queue is the intake workers'");
    let (status, v) = h.get("sam", "/v1/tickets?state=limbo").await;
    assert!(status.is_client_error() && v["message"].as_str().unwrap().contains("triage"), "{v}");

    let (status, v) = h.post("sam", &format!("/v1/tickets/{id}/triage"), json!({ "request_type": "application_access" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!((v["state"].as_str(), v["missing"].clone()), (Some("needs_details"), json!(["entitlement", "duration"])), "{v}");
    let (_, metrics) = h.get("sam", "/metrics").await;
    assert!(
        metrics.as_str().unwrap().contains("writ_tickets_triaged_total 1") && metrics.as_str().unwrap().contains("writ_tickets_triage_agreed_total 0"),
        "{metrics}"
    );

    // Bad details are refused, naming what is wrong, and the ticket waits.
    let (status, v) = h.post("alice", &format!("/v1/tickets/{id}/details"), json!({ "entitlements": ["pg-prod/nope"], "duration": "2h" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("pg-prod/nope"), "{v}");
    let (status, v) = h.post("bob", &format!("/v1/tickets/{id}/details"), json!({ "entitlements": ["pg-prod/analytics_read"], "duration": "2h" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not bob's ticket: {v}");
    let (status, v) = h.post("alice", &format!("/v1/tickets/{id}/details"), json!({ "entitlements": ["pg-prod/analytics_read"], "duration": "2h" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(v["state"], "filed", "{v}");
    let request = v["request_id"].as_str().unwrap();
    let (_, evidence) = h.get("alice", &format!("/v1/requests/{request}")).await;
    assert_eq!(evidence["request"]["ticket"], "request-tracker:RT-8", "{evidence}");
    assert_eq!(evidence["request"]["justification"], "need the analytics replica\n\nfor the Q3 report");
    assert!(evidence["events"].as_array().unwrap().iter().any(|e| e["kind"] == "ticket.filed"), "the link is in the request's evidence: {evidence}");
}

/// A governed ticket that says what it wants is filed at once; an unknown
/// requester, a caller without `intake`, or half the details are refused
/// with nothing written; the help desk re-routes a ticket that would change
/// access, never to a help-desk type.
#[tokio::test]
async fn tickets_are_refused_clearly_and_rerouted_when_they_change_access() {
    let h = harness().await;
    let (status, v) = h
        .post(
            "svc-service-desk",
            "/v1/tickets",
            ticket("RT-9", "alice", json!({ "request_type": "application_access", "entitlements": ["pg-prod/analytics_read"], "duration": "1h" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["state"], "filed", "{v}");
    let (head, _) = h.app.writ.store().audit_head().await.unwrap();
    for (who, body, expect) in [
        ("svc-service-desk", ticket("RT-10", "mallory", json!({})), StatusCode::FORBIDDEN),
        ("alice", ticket("RT-11", "alice", json!({})), StatusCode::FORBIDDEN),
        ("svc-service-desk", ticket("RT-12", "alice", json!({ "entitlements": ["pg-prod/analytics_read"] })), StatusCode::UNPROCESSABLE_ENTITY),
        ("svc-service-desk", ticket("RT-13", "alice", json!({ "subject": "", "body": " " })), StatusCode::UNPROCESSABLE_ENTITY),
        ("svc-service-desk", ticket("RT-14", "alice", json!({ "request_type": "teleport" })), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, v) = h.post(who, "/v1/tickets", body).await;
        assert_eq!(status, expect, "{v}");
        assert!(!v["message"].as_str().unwrap_or_default().is_empty(), "{v}");
    }
    assert_eq!(h.app.writ.store().audit_head().await.unwrap().0, head, "nothing written");

    let (_, t) = h.post("svc-service-desk", "/v1/tickets", ticket("RT-15", "bob", json!({ "request_type": "account_unlock" }))).await;
    let id = t["id"].as_str().unwrap();
    let (status, v) = h.post("helen", &format!("/v1/tickets/{id}/reroute"), json!({ "request_type": "how_to" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (status, v) = h.post("helen", &format!("/v1/tickets/{id}/reroute"), json!({ "request_type": "privileged_access" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!((v["state"].as_str(), v["rerouted"].as_bool(), v["route"].as_str()), (Some("needs_details"), Some(true), Some("governed")), "{v}");
}

/// With the standard classifier (the default), a ticket's text routes it:
/// a plain password reset to the help desk, a request for admin rights to
/// the governed path; the prediction and its confidence are kept.
#[tokio::test]
async fn the_standard_classifier_routes_free_text_tickets() {
    let h = harness().await;
    let (status, t) = h
        .post(
            "svc-service-desk",
            "/v1/tickets",
            ticket(
                "RT-20",
                "alice",
                json!({ "subject": "Forgot my password", "body": "I forgot my password and cannot sign in to my laptop, please reset it" }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!((t["predicted"].as_str(), t["state"].as_str()), (Some("password_reset"), Some("help_desk")), "{t}");
    assert!(t["confidence"].as_f64().unwrap() > 0.5, "{t}");
    let (_, t) = h
        .post(
            "svc-service-desk",
            "/v1/tickets",
            ticket(
                "RT-21",
                "bob",
                json!({ "subject": "Admin rights on prod database", "body": "I need DBA (admin) access to the production PostgreSQL for the migration, change CHG-1042" }),
            ),
        )
        .await;
    assert_eq!(
        (t["predicted"].as_str(), t["state"].as_str(), t["route"].as_str()),
        (Some("privileged_access"), Some("needs_details"), Some("governed")),
        "{t}"
    );
}

#[tokio::test]
async fn bad_intake_settings_stop_the_server_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let report = writ_server::init::init(dir.path(), false).await.unwrap();
    let mut text = std::fs::read_to_string(&report.config).unwrap();
    text.push_str("\n[intake]\ngoverned_mass_below = 2.0\n");
    std::fs::write(&report.config, text).unwrap();
    let cfg = writ_server::Config::load_from(&report.config, std::iter::empty()).unwrap();
    let e = writ_server::build(&cfg).await.err().unwrap().to_string();
    assert!(e.contains("intake") && e.contains("governed_mass_below"), "{e}");
}
