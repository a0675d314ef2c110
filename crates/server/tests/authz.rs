//! Reading and administering are decided by the policy files, like acting: the
//! demo policies' answers through the real router, then the same calls after the
//! temp install's policy directory is changed.

mod common;

use std::path::Path;

use axum::http::StatusCode;
use common::Harness;
use serde_json::{json, Value};

/// The demo install, with `edit` applied to its policy directory first.
async fn harness_with(edit: impl FnOnce(&Path)) -> Harness {
    common::harness_with(edit, None).await
}

async fn harness() -> Harness {
    common::harness().await
}

impl Harness {
    /// Files a request as `who` and returns its id.
    async fn request(&self, who: &str, body: Value) -> String {
        let (status, v) = self.post(who, "/v1/requests", body).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    /// Ids of the requests `who` lists.
    async fn listed(&self, who: &str) -> Vec<String> {
        let (status, v) = self.get(who, "/v1/requests").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
    }

    /// Request ids of the tasks `who` lists.
    async fn tasks_of(&self, who: &str) -> Vec<String> {
        let (status, v) = self.get(who, "/v1/tasks").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v.as_array().unwrap().iter().map(|t| t["request_id"].as_str().unwrap().to_owned()).collect()
    }
}

fn payments_readonly(subject: Option<&str>) -> Value {
    let mut body = json!({ "entitlements": ["pg-prod/payments_readonly"], "justification": "investigate INC-1", "duration": "1h" });
    if let Some(s) = subject {
        body["subject"] = json!(s);
    }
    body
}

fn analytics_for(subject: &str) -> Value {
    json!({ "subject": subject, "entitlements": ["pg-prod/analytics_read"], "justification": "nightly job", "duration": "2h" })
}

/// Appends `policy` to a new file of the policy directory.
fn add_policy(file: &'static str, policy: &'static str) -> impl FnOnce(&Path) {
    move |dir| std::fs::write(dir.join(file), policy).unwrap()
}

#[tokio::test]
async fn the_demo_view_policy_shows_a_request_to_those_involved_and_to_oversight() {
    let h = harness().await;
    let id = h.request("alice", payments_readonly(None)).await;
    // Involved: requester and subject, the manager, an owner, the fulfillers (dba
    // fulfils pg-prod), the security stage; oversight: auditors.
    for who in ["alice", "mona", "olivia", "dana", "sam", "audrey"] {
        let (status, v) = h.get(who, &format!("/v1/requests/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{who}: {v}");
    }
    // Not involved: same answer as for a request that does not exist.
    for who in ["bob", "ivan"] {
        let (status, v) = h.get(who, &format!("/v1/requests/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}: {v}");
        assert!(!h.listed(who).await.contains(&id), "{who} lists {id}");
    }
    for who in ["alice", "olivia", "sam", "audrey"] {
        assert!(h.listed(who).await.contains(&id), "{who} does not list {id}");
    }
    // The review queue too: olivia may review it (owner stage), bob may not see it.
    let (_, queue) = h.get("olivia", "/v1/requests/queue").await;
    assert!(queue.as_array().unwrap().iter().any(|r| r["id"] == id.as_str()), "{queue}");
    let (_, queue) = h.get("bob", "/v1/requests/queue").await;
    assert_eq!(queue, json!([]));

    // The decisions in the evidence carry the principal's relations.
    let (_, ev) = h.get("alice", &format!("/v1/requests/{id}")).await;
    let request_decision = ev["request"]["decisions"].as_array().unwrap().iter().find(|d| d["action"] == "request").unwrap().clone();
    assert_eq!(request_decision["inputs"]["context"]["relations"], json!(["requester", "subject"]), "{request_decision}");

    // Tasks: the fulfillers see the task of their target; bob does not.
    for who in ["olivia", "sam", "sue"] {
        let (status, v) = h.post(who, &format!("/v1/requests/{id}/approve"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{who}: {v}");
    }
    assert!(h.tasks_of("dana").await.contains(&id));
    assert!(h.tasks_of("alice").await.contains(&id), "the requester follows her task");
    assert!(!h.tasks_of("bob").await.contains(&id));
    assert!(!h.tasks_of("ivan").await.contains(&id), "it-ops fulfils another target");
}

#[tokio::test]
async fn the_demo_admin_policy_decides_the_audit_log_identities_and_others_grants() {
    let h = harness().await;
    h.request("alice", payments_readonly(None)).await;
    for who in ["sam", "audrey"] {
        for uri in ["/v1/audit/events", "/v1/audit/checkpoints", "/v1/identities", "/v1/grants?subject=alice"] {
            let (status, v) = h.get(who, uri).await;
            assert_eq!(status, StatusCode::OK, "{who} {uri}: {v}");
        }
        let (_, me) = h.get(who, "/v1/whoami").await;
        assert_eq!(me["oversight"], true, "{who}: {me}");
    }
    for uri in ["/v1/audit/events", "/v1/audit/checkpoints", "/v1/identities", "/v1/grants?subject=bob"] {
        let (status, v) = h.get("alice", uri).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {v}");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains("read_audit"), "{uri}: {msg}");
    }
    let (_, me) = h.get("alice", "/v1/whoami").await;
    assert_eq!(me["oversight"], false);
    let (status, _) = h.get("alice", "/v1/grants").await;
    assert_eq!(status, StatusCode::OK, "her own grants");

    // Managing identities is for security only: auditors read the registry.
    let disable = json!({ "status": "disabled" });
    let (status, v) = h.post("audrey", "/v1/identities/bob/status", disable.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert!(v["message"].as_str().unwrap().contains("manage_identities"), "{v}");
    let (status, v) = h.post("sam", "/v1/identities/audrey/status", disable).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // A disabled auditor reads nothing (disabling her revoked her tokens, so
    // authentication already refuses her; the policy's own forbid is
    // unit-tested in writ-policy).
    let (status, v) = h.get("audrey", "/v1/audit/events").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["message"].as_str().unwrap().contains("revoked"), "{v}");
}

#[tokio::test]
async fn a_policy_file_change_takes_viewing_away_and_grants_audit_reading() {
    let forbid = r#"
@id("auditors-see-no-requests")
forbid (principal, action == Writ::Action::"view", resource)
when { principal in Writ::Group::"auditors" };

@id("alice-reads-the-log")
permit (principal == Writ::Identity::"alice", action == Writ::Action::"read_audit", resource);
"#;
    let h = harness_with(add_policy("local.cedar", forbid)).await;
    let id = h.request("bob", payments_readonly(None)).await;
    let (status, v) = h.get("audrey", &format!("/v1/requests/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(h.listed("audrey").await.is_empty());
    // Other readers and the auditors' other rights are untouched.
    let (status, _) = h.get("sam", &format!("/v1/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.get("audrey", "/v1/audit/events").await;
    assert_eq!(status, StatusCode::OK);
    // And alice, in no oversight group, now reads the log.
    let (status, v) = h.get("alice", "/v1/audit/events").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, me) = h.get("alice", "/v1/whoami").await;
    assert_eq!(me["oversight"], true);

    // The unchanged demo set, for contrast.
    let demo = harness().await;
    let id = demo.request("bob", payments_readonly(None)).await;
    let (status, _) = demo.get("audrey", &format!("/v1/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK);
}

/// Makes alice, who owns svc-billing, also its manager, so the core's approval
/// rules let her approve its `manager` stage; only policy can stop her.
async fn alice_manages_svc_billing(h: &Harness) {
    let mut svc = h.app.writ.identity(&"svc-billing".parse().unwrap()).await.unwrap();
    assert_eq!(svc.owner.as_ref().map(|o| o.as_str()), Some("alice"));
    svc.manager = Some("alice".parse().unwrap());
    h.app.writ.upsert_identities(None, vec![svc]).await.unwrap();
}

#[tokio::test]
async fn the_owner_of_a_service_account_may_not_approve_access_for_it() {
    let h = harness().await;
    alice_manages_svc_billing(&h).await;
    // bob asks for the account he does not own: low risk, but not for himself, so
    // it waits for the subject's manager.
    let id = h.request("bob", analytics_for("svc-billing")).await;
    let (_, req) = h.get("bob", &format!("/v1/requests/{id}")).await;
    assert_eq!(req["request"]["state"], "pending", "{req}");
    // alice sees it (owner and manager of the subject) and it waits in her queue...
    let (_, queue) = h.get("alice", "/v1/requests/queue").await;
    assert!(queue.as_array().unwrap().iter().any(|r| r["id"] == id.as_str()), "{queue}");
    // ...but policy vetoes her approval.
    let (status, v) = h.post("alice", &format!("/v1/requests/{id}/approve"), json!({ "reason": "mine" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert!(v["message"].as_str().unwrap().contains("no authority"), "{v}");
    let (_, req) = h.get("bob", &format!("/v1/requests/{id}")).await;
    assert_eq!(req["request"]["state"], "pending");
    assert_eq!(req["request"]["reviews"], json!([]));

    // Without the policy, the same approval goes through, and its decision shows
    // the relations the policy tested.
    let without = harness_with(|dir| {
        let path = dir.join("review.cedar");
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text.find("@id(\"review-forbid-subject-owner\")").expect("the demo policy");
        std::fs::write(&path, &text[..start]).unwrap();
    })
    .await;
    alice_manages_svc_billing(&without).await;
    let id = without.request("bob", analytics_for("svc-billing")).await;
    let (status, v) = without.post("alice", &format!("/v1/requests/{id}/approve"), json!({ "reason": "mine" })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "approved", "{v}");
    let review = v["decisions"].as_array().unwrap().iter().find(|d| d["action"] == "review").unwrap().clone();
    assert_eq!(review["policy_ids"], json!(["review-permit-active"]), "{review}");
    assert_eq!(review["inputs"]["context"]["relations"], json!(["subject_owner", "subject_manager"]), "{review}");
}
