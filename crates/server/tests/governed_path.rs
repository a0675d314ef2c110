//! The governed path tried as an attacker would: separation of duties at every
//! point where access comes into being, disabled identities that receive
//! nothing by any path, break-glass for oneself only and never back to back,
//! the names of Writ's own actors, and non-human reviewers. Each test drives
//! the real router on the demo install (SQLite), and where access reaches a
//! target, a real PostgreSQL read back with psql.

mod common;

use chrono::TimeDelta;
use serde_json::{json, Value};
use uuid::Uuid;
use writ_app::ports::{Change, Job, Versioned};
use writ_core::fulfilment::TargetFulfilment;
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::{EntitlementId, GroupId, IdentityId, RequestId, TaskId};
use writ_core::request::{Request, RequestDraft};
use writ_core::task::FulfilmentTask;
use writ_testkit::PgServer;

use common::{harness, harness_with_pg, Harness, ManualClock};

fn ask(entitlement: &str, duration: &str) -> Value {
    json!({ "entitlements": [entitlement], "justification": "quarter-end payments run", "duration": duration })
}

async fn submit(h: &Harness, who: &str, body: Value) -> Value {
    let (status, v) = h.post(who, "/v1/requests", body).await;
    assert_eq!(status.as_u16(), 201, "{v}");
    v
}

async fn request_state(h: &Harness, id: &str) -> String {
    let (_, v) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    v["request"]["state"].as_str().unwrap().to_owned()
}

/// How a request that raced past submission looks: `subject` asked for
/// `entitlement`, committed straight to the store (the submission check of
/// the other, concurrent request could not see it). `approved` also queues
/// its fulfilment (a job, or a task for `fulfillers` on a manual target).
async fn raced_request(h: &Harness, subject: &str, entitlement: &str, approved: bool, fulfillers: Option<&str>) -> RequestId {
    let writ = &h.app.writ;
    let now = writ.clock().now();
    let e = EntitlementId::parse(entitlement).unwrap();
    let draft = RequestDraft {
        requester: IdentityId::parse(subject).unwrap(),
        subject: IdentityId::parse(subject).unwrap(),
        entitlements: vec![e.clone()],
        justification: "asked for at the same moment".into(),
        duration: writ_core::duration::AccessDuration::parse("1h").unwrap(),
        ticket: None,
        request_type: None,
    };
    let mut req = Request::open(RequestId::from_uuid(Uuid::new_v4()), draft, writ.catalog(), now, TimeDelta::days(7)).unwrap();
    let mut change = Change::default();
    if approved {
        req.approve_without_review(now).unwrap();
        match fulfillers {
            Some(group) => {
                let task =
                    FulfilmentTask::open(TaskId::from_uuid(Uuid::new_v4()), req.id(), req.subject().clone(), e.clone(), GroupId::parse(group).unwrap(), now);
                req.record_fulfilment(&e, TargetFulfilment::WithPerson { task: task.id() }, now).unwrap();
                change.tasks.push(Versioned::new(task));
            }
            None => {
                req.record_fulfilment(&e, TargetFulfilment::Queued, now).unwrap();
                change.jobs.push(Job::provision(req.id(), e, now));
            }
        }
    }
    let id = req.id();
    change.requests.push(Versioned::new(req));
    writ.store().commit(change).await.unwrap();
    id
}

async fn open_task_of(h: &Harness, request: &str) -> String {
    let (_, tasks) = h.get("dana", "/v1/tasks").await;
    tasks.as_array().unwrap().iter().find(|t| t["request_id"] == request && t["state"] == "open").expect("an open task")["id"].as_str().unwrap().to_owned()
}

/// Two halves of a toxic pair asked for side by side: the second is refused
/// at submission while the first waits for review, naming it; once the first
/// is withdrawn, the second may be asked for.
#[tokio::test]
async fn the_second_half_of_a_toxic_pair_is_refused_while_the_first_is_pending() {
    let h = harness().await;
    let first = submit(&h, "bob", ask("pg-prod/payments_write", "1h")).await;
    assert_eq!(first["state"], "pending", "{first}");
    let first_id = first["id"].as_str().unwrap();
    let second = submit(&h, "bob", ask("pg-prod/payments_approve", "1h")).await;
    assert_eq!(second["state"], "denied", "{second}");
    let why = second["outcome_reason"].as_str().unwrap();
    assert!(why.contains("payments maker-checker") && why.contains(first_id) && why.contains("pending request"), "{why}");

    let (status, v) = h.post("bob", &format!("/v1/requests/{first_id}/cancel"), json!({ "reason": "wrong half" })).await;
    assert!(status.is_success(), "{v}");
    let again = submit(&h, "bob", ask("pg-prod/payments_approve", "1h")).await;
    assert_eq!(again["state"], "pending", "the other half is no longer asked for: {again}");
}

/// Two requests that raced past submission: the first to be approved wins;
/// every approval of the other (not only its last) is refused, names the
/// pair and the first request, and changes nothing.
#[tokio::test]
async fn an_approval_that_would_complete_a_toxic_pair_is_refused_at_every_stage() {
    let h = harness().await;
    let first = submit(&h, "bob", ask("pg-prod/payments_write", "1h")).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let raced = raced_request(&h, "bob", "pg-prod/payments_approve", false, None).await.to_string();
    for who in ["olivia", "sam", "sue"] {
        let (status, v) = h.post(who, &format!("/v1/requests/{first_id}/approve"), json!({ "reason": "ok" })).await;
        assert!(status.is_success(), "{who}: {v}");
    }
    assert_eq!(request_state(&h, &first_id).await, "approved");

    // The raced request's very first approval (its owner stage) is refused.
    let (status, v) = h.post("oscar", &format!("/v1/requests/{raced}/approve"), json!({ "reason": "ok" })).await;
    assert_eq!(status.as_u16(), 403, "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("payments maker-checker") && message.contains(&first_id), "{message}");
    let (_, shown) = h.get("audrey", &format!("/v1/requests/{raced}")).await;
    assert_eq!(shown["request"]["state"], "pending", "{shown}");
    assert!(shown["request"]["reviews"].as_array().unwrap().is_empty(), "the refused approval is not recorded: {shown}");
    // A denial is always welcome.
    let (status, v) = h.post("oscar", &format!("/v1/requests/{raced}/deny"), json!({ "reason": "toxic with the write access" })).await;
    assert!(status.is_success(), "{v}");
}

/// Fulfilment by a person: the DBA's task for the second half of a pair is
/// refused while the first is in force, naming its grant.
#[tokio::test]
async fn a_task_that_would_complete_a_toxic_pair_cannot_be_completed() {
    let h = harness().await;
    let first = submit(&h, "bob", ask("pg-prod/payments_write", "1h")).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    for who in ["olivia", "sam", "sue"] {
        h.post(who, &format!("/v1/requests/{first_id}/approve"), json!({ "reason": "ok" })).await;
    }
    let task = open_task_of(&h, &first_id).await;
    let (status, v) = h.post("dana", &format!("/v1/tasks/{task}/complete"), json!({ "evidence": "GRANT payments_write TO bob" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(request_state(&h, &first_id).await, "active");

    let raced = raced_request(&h, "bob", "pg-prod/payments_approve", true, Some("dba")).await.to_string();
    let task = open_task_of(&h, &raced).await;
    let (status, v) = h.post("dana", &format!("/v1/tasks/{task}/complete"), json!({ "evidence": "GRANT payments_approve TO bob" })).await;
    assert_eq!(status.as_u16(), 403, "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("payments maker-checker") && message.contains("grant"), "{message}");
    assert_eq!(request_state(&h, &raced).await, "approved", "nothing changed");
}

/// `pg-live/reporting` and `pg-live/payments_admin` (both low risk, so
/// auto-approved for oneself) form a toxic pair on a real PostgreSQL.
async fn toxic_pg_harness(pg: &PgServer, clock: std::sync::Arc<ManualClock>) -> Harness {
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE payments_admin NOLOGIN; CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN").unwrap();
    harness_with_pg(pg.url(), clock, |data| {
        let mut catalog = std::fs::read_to_string(data.join("catalog.toml")).unwrap();
        catalog.push_str(
            "\n[[entitlements]]\nid = \"pg-live/payments_admin\"\nowners = [\"oscar\"]\nrisk = \"low\"\nmax_duration = \"8h\"\n\
             stages = [{ name = \"manager\", approvers = \"subject_manager\", required = 1 }]\n\n\
             [[toxic_combinations]]\nname = \"report on what you administer\"\nentitlements = [\"pg-live/reporting\", \"pg-live/payments_admin\"]\n\
             reason = \"whoever administers payments must not also produce their reports\"\n",
        );
        std::fs::write(data.join("catalog.toml"), catalog).unwrap();
        String::new()
    })
    .await
}

fn holds(pg: &PgServer, role: &str, who: &str) -> bool {
    pg.psql(&format!(
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
         WHERE r.rolname = '{role}' AND u.rolname = '{who}'"
    ))
    .unwrap()
        == "1"
}

/// Fulfilment by a connector: two halves approved side by side never both
/// reach the target. The job of the raced request is refused before the
/// target is touched, and the entitlement ends failed with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_never_provisions_the_second_half_of_a_toxic_pair() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let clock = ManualClock::new();
    let h = toxic_pg_harness(&pg, clock.clone()).await;
    let writ = h.app.writ.clone();
    let first = submit(&h, "alice", ask("pg-live/reporting", "1h")).await;
    assert_eq!(first["state"], "approved", "{first}");
    // Approved, not yet fulfilled: the other half is refused at submission...
    let second = submit(&h, "alice", ask("pg-live/payments_admin", "1h")).await;
    assert_eq!(second["state"], "denied", "{second}");
    assert!(second["outcome_reason"].as_str().unwrap().contains(first["id"].as_str().unwrap()), "{second}");
    // ...and one that raced past submission, filed a moment later, is
    // refused at fulfilment: both jobs run at once, the first filed wins.
    clock.advance(TimeDelta::seconds(1));
    let raced = raced_request(&h, "alice", "pg-live/payments_admin", true, None).await.to_string();
    writ.run_due_jobs(10).await.unwrap();
    let states = [request_state(&h, first["id"].as_str().unwrap()).await, request_state(&h, &raced).await];
    assert!(!(holds(&pg, "reporting", "alice") && holds(&pg, "payments_admin", "alice")), "never both on the target");
    assert!(!holds(&pg, "payments_admin", "alice"), "the raced half never reached the target: {states:?}");
    assert_eq!(states[1], "failed", "{states:?}");
    let (_, shown) = h.get("audrey", &format!("/v1/requests/{raced}")).await;
    let failed = shown["events"].as_array().unwrap().iter().find(|e| e["kind"] == "entitlement.failed").expect("the refusal's evidence");
    let payload: Value = serde_json::from_str(failed["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["refused"], true, "{payload}");
    assert!(payload["error"].as_str().unwrap().contains("report on what you administer"), "{payload}");
}

/// A disabled identity receives nothing by any path, and disabling it starts
/// removing what it holds through the normal removal (read back on the real
/// target), withdraws its pending requests; re-enabling restores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_an_identity_removes_its_access_and_it_receives_nothing_by_any_path() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let clock = ManualClock::new();
    let h = toxic_pg_harness(&pg, clock.clone()).await;
    let writ = h.app.writ.clone();
    let held = submit(&h, "bob", ask("pg-live/reporting", "8h")).await;
    writ.run_due_jobs(10).await.unwrap();
    assert!(holds(&pg, "reporting", "bob"));
    let pending = submit(&h, "bob", ask("pg-prod/payments_readonly", "1h")).await;
    assert_eq!(pending["state"], "pending");
    let raced = raced_request(&h, "bob", "pg-live/payments_admin", true, None).await.to_string();

    // Security disables bob.
    let (status, v) = h.post("sam", "/v1/identities/bob/status", json!({ "status": "disabled" })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(request_state(&h, pending["id"].as_str().unwrap()).await, "cancelled", "pending requests withdrawn");
    assert_eq!(request_state(&h, &raced).await, "cancelled", "approved requests with nothing in place withdrawn");
    let (_, ev) = h.get("audrey", &format!("/v1/requests/{}", held["id"].as_str().unwrap())).await;
    assert_eq!(ev["grants"][0]["state"], "revoking", "{ev}");
    writ.run_due_jobs(10).await.unwrap();
    assert!(!holds(&pg, "reporting", "bob"), "removed from the target, not left to expire");
    assert!(!holds(&pg, "payments_admin", "bob"), "the withdrawn request never provisioned");
    let (_, ev) = h.get("audrey", &format!("/v1/requests/{}", held["id"].as_str().unwrap())).await;
    assert_eq!(ev["grants"][0]["state"], "revoked", "proved gone by read-back: {ev}");
    assert!(ev["grants"][0]["removal"]["ending"].as_str().unwrap_or_default().contains("disabled") || ev.to_string().contains("was disabled"), "{ev}");

    // Nothing by any path: a request for bob, break-glass, approval, a task.
    let for_bob = json!({ "entitlements": ["pg-prod/analytics_read"], "justification": "x", "duration": "1h", "subject": "bob" });
    let (status, v) = h.post("mona", "/v1/requests", for_bob).await;
    assert_eq!(status.as_u16(), 403, "{v}");
    assert!(v["message"].as_str().unwrap().contains("disabled"), "{v}");

    // Re-enabled: nothing comes back by itself.
    let (status, v) = h.post("sam", "/v1/identities/bob/status", json!({ "status": "active" })).await;
    assert!(status.is_success(), "{v}");
    writ.run_due_jobs(10).await.unwrap();
    assert!(!holds(&pg, "reporting", "bob"));
    assert_eq!(request_state(&h, pending["id"].as_str().unwrap()).await, "cancelled");
}

/// A request approved while its subject was active is not fulfilled once the
/// subject is disabled: review, connector jobs and tasks all look at the
/// subject's status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_and_fulfilment_refuse_a_disabled_subject() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let h = toxic_pg_harness(&pg, ManualClock::new()).await;
    let writ = h.app.writ.clone();
    // Crafted as a concurrent writer would leave it: bob disabled in the
    // store, requests for him already under way (no cascade ran).
    let pending = raced_request(&h, "bob", "pg-prod/payments_readonly", false, None).await.to_string();
    let queued = raced_request(&h, "bob", "pg-live/reporting", true, None).await.to_string();
    let tasked = raced_request(&h, "bob", "pg-prod/analytics_read", true, Some("dba")).await.to_string();
    let mut bob = writ.identity(&IdentityId::parse("bob").unwrap()).await.unwrap();
    bob.status = IdentityStatus::Disabled;
    let (_, version) = writ.store().identities_versioned().await.unwrap().into_iter().find(|(i, _)| i.id == bob.id).unwrap();
    writ.store().commit(Change { identities: vec![Versioned::update(bob, version)], ..Change::default() }).await.unwrap();

    let (status, v) = h.post("olivia", &format!("/v1/requests/{pending}/approve"), json!({ "reason": "ok" })).await;
    assert_eq!(status.as_u16(), 403, "approval: {v}");
    assert!(v["message"].as_str().unwrap().contains("disabled"), "{v}");
    writ.run_due_jobs(10).await.unwrap();
    assert!(!holds(&pg, "reporting", "bob"), "the job refused a disabled subject");
    assert_eq!(request_state(&h, &queued).await, "failed");
    let task = open_task_of(&h, &tasked).await;
    let (status, v) = h.post("dana", &format!("/v1/tasks/{task}/complete"), json!({ "evidence": "GRANT analytics_read TO bob" })).await;
    assert_eq!(status.as_u16(), 403, "task: {v}");
    assert!(v["message"].as_str().unwrap().contains("disabled"), "{v}");
}

async fn break_glass(h: &Harness, who: &str, body: Value) -> (u16, Value) {
    let (status, v) = h.post(who, "/v1/break-glass", body).await;
    (status.as_u16(), v)
}

/// Break-glass is for oneself only (demo policy), and a new use of an
/// entitlement is refused while an earlier one is unreviewed, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_is_for_oneself_and_never_back_to_back_while_unreviewed() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    let h = toxic_pg_harness(&pg, ManualClock::new()).await;
    let use_for = |subject: Option<&str>| {
        let mut body = json!({ "entitlements": ["pg-live/reporting"], "justification": "INC-9: reports stuck", "duration": "1h" });
        if let Some(s) = subject {
            body["subject"] = json!(s);
        }
        body
    };
    // For a colleague, or for one's own service account: refused by policy.
    for subject in ["alice", "svc-billing"] {
        let (status, v) = break_glass(&h, "bob", use_for(Some(subject))).await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["state"], "denied", "bob breaking the glass for {subject}: {v}");
    }
    let (status, first) = break_glass(&h, "bob", use_for(None)).await;
    assert_eq!((status, first["state"].as_str()), (201, Some("approved")), "{first}");
    // Back to back: refused, naming the open use, nothing recorded.
    let (status, v) = break_glass(&h, "bob", use_for(None)).await;
    assert_eq!(status, 403, "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains(first["id"].as_str().unwrap()) && message.contains("break_glass_max_unreviewed"), "{message}");
    // Reviewed: the next use is allowed again.
    let id = first["id"].as_str().unwrap();
    let (status, v) = h.post("oscar", &format!("/v1/break-glass/{id}/review"), json!({ "verdict": "accept", "note": "INC-9 was real" })).await;
    assert!(status.is_success(), "{v}");
    let (status, v) = break_glass(&h, "bob", use_for(None)).await;
    assert_eq!((status, v["state"].as_str()), (201, Some("approved")), "{v}");
}

/// No identity may take the name of one of Writ's own actors, through any
/// way identities come in.
#[tokio::test]
async fn identities_cannot_take_the_names_writ_acts_under() {
    let h = harness().await;
    let writ = &h.app.writ;
    for name in ["operator", "system", "policy", "schedule", "writ-reconciler", "postgres"] {
        let impostor = Identity {
            id: IdentityId::parse(name).unwrap(),
            kind: IdentityKind::Person,
            status: IdentityStatus::Active,
            display_name: "Not Writ".into(),
            owner: None,
            manager: None,
            groups: ["security".parse().unwrap()].into_iter().collect(),
            attributes: Default::default(),
            owner_left: None,
        };
        let sam = writ.identity(&IdentityId::parse("sam").unwrap()).await.unwrap();
        let e = writ.upsert_identities(Some(&sam), vec![impostor.clone()]).await.unwrap_err().to_string();
        assert!(e.contains("Writ's own actors"), "{name}: {e}");
        let e = writ.upsert_identities(None, vec![impostor]).await.unwrap_err().to_string();
        assert!(e.contains("Writ's own actors"), "{name} (operator): {e}");
        assert!(writ.store().identity(&IdentityId::parse(name).unwrap()).await.unwrap().is_none());
    }
}

/// An AI agent, an API key or a service account never reviews, approves or
/// fulfils, even when its groups would make it an approver or a fulfiller.
#[tokio::test]
async fn non_human_identities_never_review_approve_or_fulfil() {
    let h = harness().await;
    let writ = &h.app.writ;
    let pending = submit(&h, "alice", ask("pg-prod/payments_readonly", "1h")).await;
    let id = pending["id"].as_str().unwrap();
    // Auto-approved and fulfilled by hand: a task for the DBAs.
    let manual = submit(&h, "alice", ask("pg-prod/analytics_read", "1h")).await;
    let task: TaskId = open_task_of(&h, manual["id"].as_str().unwrap()).await.parse().unwrap();
    for (name, kind) in [("agent-triage", IdentityKind::AiAgent), ("svc-billing", IdentityKind::ServiceAccount), ("key-ci", IdentityKind::ApiKey)] {
        let bot = Identity {
            id: IdentityId::parse(name).unwrap(),
            kind,
            status: IdentityStatus::Active,
            display_name: String::new(),
            owner: Some(IdentityId::parse("bob").unwrap()),
            manager: None,
            groups: ["security", "dba", "payments"].iter().map(|g| g.parse().unwrap()).collect(),
            attributes: Default::default(),
            owner_left: None,
        };
        writ.upsert_identities(None, vec![bot.clone()]).await.unwrap();
        let e = writ.review(&bot, id.parse().unwrap(), writ_core::review::Verdict::Approve, "lgtm".into()).await.unwrap_err().to_string();
        assert!(e.contains(&format!("is a {}", kind.as_str())) && e.contains("only a person"), "{name}: {e}");
        let e = writ.complete_task(&bot, task, "GRANT analytics_read TO alice").await.unwrap_err().to_string();
        assert!(e.contains("only a person can fulfil"), "{name}: {e}");
    }
    assert!(h.get("audrey", &format!("/v1/requests/{id}")).await.1["request"]["reviews"].as_array().unwrap().is_empty());
}

/// Identity writes are compared-and-swapped: a change made from a stale view
/// (here: enabling bob from the version read before security disabled him)
/// is refused with 409 and changes nothing; the current version is listed.
#[tokio::test]
async fn a_stale_identity_write_cannot_enable_a_disabled_identity() {
    let h = harness().await;
    let version_of = |list: &Value, id: &str| list.as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()["version"].as_u64().unwrap();
    let (_, list) = h.get("sam", "/v1/identities").await;
    let read = version_of(&list, "bob");
    let (status, v) = h.post("sue", "/v1/identities/bob/status", json!({ "status": "disabled", "version": read })).await;
    assert!(status.is_success(), "{v}");
    assert_eq!(v["version"].as_u64(), Some(read + 1), "{v}");
    let (status, v) = h.post("sam", "/v1/identities/bob/status", json!({ "status": "active", "version": read })).await;
    assert_eq!(status.as_u16(), 409, "{v}");
    assert!(v["message"].as_str().unwrap().contains("changed since it was read"), "{v}");
    let (_, list) = h.get("sam", "/v1/identities").await;
    let bob = list.as_array().unwrap().iter().find(|i| i["id"] == "bob").unwrap();
    assert_eq!((bob["status"].as_str(), bob["version"].as_u64()), (Some("disabled"), Some(read + 1)), "{bob}");
}
