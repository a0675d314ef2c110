//! The intake scenario end to end, on real servers: Request Tracker (the
//! organisation's service desk) and PostgreSQL (the target). A ticket filed
//! in RT becomes a classified, routed Writ request; the governed one is
//! approved by the requester's manager and provisioned on PostgreSQL, read
//! back, and the RT ticket shows each step and the outcome; a password
//! reset goes down the help-desk path and changes no access anywhere.

mod common;

use axum::http::StatusCode;
use serde_json::json;
use writ_testkit::request_tracker::{RequestTracker, WRIT_QUEUE, WRIT_REQUEST_CF};
use writ_testkit::PgServer;

use common::{harness_with_pg, Harness, ManualClock};

struct World {
    rt: RequestTracker,
    pg: PgServer,
    h: Harness,
}

/// The demo with `pg-live` (a real PostgreSQL) offering `payments_admin`
/// (medium risk: a person decides), and RT's queue read as `svc-service-desk`.
async fn world() -> World {
    let rt = RequestTracker::start().expect("Request Tracker (run scripts/install-test-deps.sh)");
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE payments_admin NOLOGIN; CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN").unwrap();
    let (url, token) = (rt.base_url(), rt.raw_token().to_owned());
    let extra = move |data: &std::path::Path| {
        let mut catalog = std::fs::read_to_string(data.join("catalog.toml")).unwrap();
        catalog.push_str(
            "\n[[entitlements]]\nid = \"pg-live/payments_admin\"\ndescription = \"Administer the payments database\"\nowners = [\"oscar\"]\nrisk = \"medium\"\nmax_duration = \"8h\"\n\
             stages = [{ name = \"manager\", approvers = \"subject_manager\", required = 1 }]\n",
        );
        std::fs::write(data.join("catalog.toml"), catalog).unwrap();
        std::fs::write(data.join("rt-token"), &token).unwrap();
        format!(
            "\n[request_tracker]\nurl = \"{url}\"\ntoken_file = \"{}\"\nqueue = \"{WRIT_QUEUE}\"\nactor = \"svc-service-desk\"\nwrit_url = \"https://writ.example.test\"\n",
            data.join("rt-token").display()
        )
    };
    let h = harness_with_pg(pg.url(), ManualClock::new(), extra).await;
    World { rt, pg, h }
}

impl World {
    async fn poll(&self) -> writ_app::desk::Polled {
        self.h.app.poll_desks().await.remove(0).1.expect("the desk is read")
    }

    async fn settle(&self) {
        while self.h.app.writ.run_due_jobs(50).await.unwrap() > 0 {}
    }

    fn said(&self, id: u64) -> Vec<String> {
        self.rt
            .history(id)
            .unwrap()
            .into_iter()
            .filter(|t| matches!(t["Type"].as_str(), Some("Correspond" | "Comment")))
            .map(|t| t["Content"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn status(&self, id: u64) -> String {
        self.rt.ticket(id).unwrap()["Status"].as_str().unwrap().to_owned()
    }

    fn member_of(&self, role: &str, login: &str) -> bool {
        let sql = format!(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
             WHERE r.rolname = '{role}' AND u.rolname = '{login}'"
        );
        self.pg.psql(&sql).unwrap() == "1"
    }

    async fn ticket(&self, id: u64) -> writ_core::ticket::Ticket {
        self.h.app.writ.store().ticket_by_ref("request-tracker", &id.to_string()).await.unwrap().expect("taken in")
    }
}

#[tokio::test]
async fn rt_tickets_are_classified_routed_decided_provisioned_on_postgres_and_rt_shows_the_outcome() {
    let w = world().await;
    // Alice asks in RT, in her own words; the form names the access and how long.
    let governed = w
        .rt
        .create_ticket_with(&json!({
            "Queue": WRIT_QUEUE,
            "Subject": "Need admin rights on the payments database",
            "Content": "Please grant me admin privileges on the payments database for the schema migration tonight. I need elevated rights to alter the tables.",
            "ContentType": "text/plain",
            "Requestor": "alice@example.com",
            "CustomFields": { "Writ entitlements": "pg-live/payments_admin", "Writ duration": "4h" },
        }))
        .unwrap();
    // Bob forgot his password.
    let reset =
        w.rt.create_ticket("Forgot my password", "I forgot my password and now my account is locked, can you reset my password please?", "bob@example.com")
            .unwrap();

    assert_eq!(w.poll().await, writ_app::desk::Polled { taken: 2, ..Default::default() });

    // The governed ticket: classified (no type was stated), routed to the governed path, filed.
    let t = w.ticket(governed).await;
    let prediction = t.prediction().expect("the classifier read it").clone();
    let writ_core::ticket::TicketState::Filed { request, request_type } = t.state().clone() else { panic!("filed: {:?} ({prediction:?})", t.state()) };
    assert_eq!(request_type, prediction.request_type, "routed by the classifier's type");
    assert!(["privileged_access", "application_access"].contains(&request_type.as_str()), "a governed type: {prediction:?}");
    let (_, r) = w.h.get("alice", &format!("/v1/requests/{request}")).await;
    assert_eq!(r["request"]["state"], "pending", "a person decides: {r}");
    assert_eq!(r["request"]["ticket"], format!("request-tracker:{governed}"));

    // The password reset: the help-desk path, which holds no request.
    let p = w.ticket(reset).await;
    assert_eq!(p.state().as_str(), "help_desk", "{:?}", p.prediction());
    assert_eq!(p.state().request_type().map(|t| t.as_str()), Some("password_reset"));

    w.settle().await;
    assert!(w.said(governed).iter().any(|n| n.contains("Filed as Writ request") && n.contains(&request.to_string())), "{:?}", w.said(governed));
    assert!(w.said(reset).iter().any(|n| n.contains("cannot grant or widen access")), "{:?}", w.said(reset));
    assert!(!w.member_of("payments_admin", "alice"), "nothing is granted before the decision");

    // Her manager approves; the grant is put in place on PostgreSQL and read back.
    let (code, v) = w.h.post("mona", &format!("/v1/requests/{request}/approve"), json!({ "reason": "migration window tonight" })).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    w.settle().await;
    assert!(w.member_of("payments_admin", "alice"), "alice holds payments_admin on the real PostgreSQL");
    let (_, r) = w.h.get("alice", &format!("/v1/requests/{request}")).await;
    assert_eq!(r["request"]["state"], "active", "{r}");

    // RT shows the outcome: approved, in place and read back, resolved, linked to the evidence.
    let notes = w.said(governed);
    assert!(notes.iter().any(|n| n.contains("Approved by its approvers")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("Access to pg-live/payments_admin is in place") && n.contains("read back")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains(&format!("https://writ.example.test/portal/requests/{request}"))), "{notes:?}");
    assert_eq!(w.status(governed), "resolved");
    assert_eq!(w.rt.custom_field(governed, WRIT_REQUEST_CF).unwrap().as_deref(), Some(request.to_string().as_str()));

    // The help desk resolves the reset; nothing changed on the target for bob.
    let id = p.id();
    let (code, v) = w.h.post("helen", &format!("/v1/tickets/{id}/proof"), json!({ "method": "called back on the number of record" })).await;
    assert!(code.is_success(), "{v}");
    let (code, v) = w.h.post("helen", &format!("/v1/tickets/{id}/resolve"), json!({ "resolution": "password reset; a temporary one sent by SMS" })).await;
    assert!(code.is_success(), "{v}");
    w.settle().await;
    assert_eq!(w.status(reset), "resolved");
    assert!(!w.member_of("payments_admin", "bob"), "the help-desk path changed no access");
    let (_, grants) = w.h.get("sam", "/v1/grants").await;
    let holders: Vec<&str> = grants.as_array().unwrap().iter().filter_map(|g| g["subject"].as_str()).collect();
    assert_eq!(holders, ["alice"], "one grant, alice's: {grants}");
}
