//! Reconciliation beside the expiry path, with the clock moved by hand: an
//! access being removed is expired-but-live until its removal is proved, and
//! a configured `revoke` does not start a second removal of it.

mod common;

use chrono::TimeDelta;
use serde_json::json;
use uuid::Uuid;
use writ_core::ids::{RunId, TargetId};
use writ_testkit::PgServer;

use common::{harness_with_pg, ManualClock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_being_removed_is_not_removed_twice() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE alice LOGIN").unwrap();
    let clock = ManualClock::new();
    let h = harness_with_pg(pg.url(), clock.clone(), |_| "\n[reconcile.targets.pg-live]\nexpired_but_live = \"revoke\"\n".into()).await;
    let writ = h.app.writ.clone();
    let (_, v) = h.post("alice", "/v1/requests", json!({ "entitlements": ["pg-live/reporting"], "justification": "numbers", "duration": "1h" })).await;
    let id = v["id"].as_str().unwrap().to_owned();
    writ.run_due_jobs(10).await.unwrap();
    clock.advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    assert_eq!(writ.expire_due(10).await.unwrap(), 1, "revoking; its removal job not run yet");

    let target = TargetId::parse("pg-live").unwrap();
    let run = writ.reconcile(RunId::from_uuid(Uuid::new_v4()), &target, "test", &Default::default()).await.unwrap();
    let observations = writ.store().run_observations(run.id).await.unwrap();
    assert_eq!(observations.len(), 1, "{observations:?}");
    let o = &observations[0];
    assert_eq!(o.observation.situation.as_str(), "expired_but_live");
    assert!(o.observation.note.contains("remov"), "{}", o.observation.note);
    let action = o.action.as_ref().unwrap();
    assert_eq!(action.outcome, "not acted on: its removal is already under way");
    assert_eq!(action.request.map(|r| r.to_string()), Some(id.clone()));

    // The one removal runs; the next run finds nothing.
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1, "one removal job, not two");
    let run = writ.reconcile(RunId::from_uuid(Uuid::new_v4()), &target, "test", &Default::default()).await.unwrap();
    assert_eq!(run.live_rows, 0);
    assert!(writ.store().run_observations(run.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn no_identity_may_take_the_name_reconciliation_files_its_requests_under() {
    let h = common::harness().await;
    let reserved = writ_core::identity::Identity {
        id: writ_core::ids::IdentityId::parse(writ_app::reconcile::RECONCILER).unwrap(),
        kind: writ_core::identity::IdentityKind::Person,
        status: writ_core::identity::IdentityStatus::Active,
        display_name: String::new(),
        owner: None,
        manager: None,
        groups: Default::default(),
        attributes: Default::default(),
        owner_left: None,
    };
    let e = h.app.writ.upsert_identities(None, vec![reserved]).await.unwrap_err().to_string();
    assert!(e.contains("reserved"), "{e}");
    assert!(h.app.writ.store().identity(&writ_core::ids::IdentityId::parse("writ-reconciler").unwrap()).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_acts_on_at_most_max_actions_and_reports_the_rest() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; GRANT reporting TO alice, bob").unwrap();
    let clock = ManualClock::new();
    let h = harness_with_pg(pg.url(), clock, |_| "\n[reconcile]\nmax_actions = 1\n[reconcile.targets.pg-live]\nunapproved = \"revoke\"\n".into()).await;
    let writ = h.app.writ.clone();
    let target = TargetId::parse("pg-live").unwrap();
    let run = writ.reconcile(RunId::from_uuid(Uuid::new_v4()), &target, "test", &Default::default()).await.unwrap();
    assert_eq!(run.counts.unapproved, 2);
    assert_eq!(run.actions.get("revoke"), Some(&1));
    let outcomes: Vec<String> = writ.store().run_observations(run.id).await.unwrap().iter().map(|o| o.action.as_ref().unwrap().outcome.clone()).collect();
    assert_eq!(outcomes, ["removal queued", "not acted on: this run reached `[reconcile] max_actions` (1)"]);
    assert_eq!(writ.run_due_jobs(10).await.unwrap(), 1, "one removal");

    // The portal shows the run to oversight, with each exception and what was done.
    let session = |who: &str| {
        let writ = writ.clone();
        let who = writ_core::ids::IdentityId::parse(who).unwrap();
        async move {
            let draft = writ_core::token::TokenDraft { name: "portal".into(), lifetime: None, scope: None };
            format!("{}={}", writ_server::portal::SESSION_COOKIE, writ.issue_token_as_operator(&who, draft).await.unwrap().1)
        }
    };
    let page = |cookie: String, path: String| {
        let router = h.router.clone();
        async move {
            use tower::ServiceExt;
            let req = axum::http::Request::get(path).header("cookie", cookie).body(axum::body::Body::empty()).unwrap();
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status();
            (status, String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap())
        }
    };
    let (status, runs) = page(session("audrey").await, "/portal/reconcile".into()).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{runs}");
    assert!(runs.contains(&run.id.to_string()) && runs.contains("unapproved 2"), "{runs}");
    let (_, one) = page(session("audrey").await, format!("/portal/reconcile/{}", run.id)).await;
    assert!(one.contains("revoke: removal queued") && one.contains("max_actions"), "{one}");
    let (status, refused) = page(session("alice").await, format!("/portal/reconcile/{}", run.id)).await;
    assert_eq!(status, axum::http::StatusCode::FORBIDDEN, "{refused}");
    // The request the run filed for the access it removed shows what the run
    // found, linked to the run, and when its target was last reconciled.
    let found = writ.store().run_observations(run.id).await.unwrap()[0].action.as_ref().unwrap().request.unwrap();
    let (status, request) = page(session("audrey").await, format!("/portal/requests/{found}")).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{request}");
    assert!(request.contains("<h2>Reconciliation</h2>") && request.contains("reconcile.found"), "{request}");
    assert!(request.contains(&format!("href=\"/portal/reconcile/{}\"", run.id)), "the finding links to its run: {request}");
    assert!(request.contains("The live state of <code>pg-live</code> was last set against the grants"), "{request}");
    // The dashboard counts the week's drift by situation and links to the run.
    let (_, dashboard) = page(session("audrey").await, "/portal/dashboard".into()).await;
    assert!(dashboard.contains("Drift by situation") && dashboard.contains(&format!("href=\"/portal/reconcile/{}\"", run.id)), "{dashboard}");
    // In the drift table itself (not anywhere on the page): this week, one
    // run (linked) with its two unapproved findings.
    let drift = dashboard.split("Drift by situation").nth(1).unwrap();
    let week = drift.split("<tr>").find(|row| row.contains("<a href=\"/portal/reconcile\">")).unwrap_or_else(|| panic!("{drift}"));
    assert!(week.contains(">1</a></td>") && week.contains("<td>2</td>"), "one run, two unapproved findings: {week}");
}
