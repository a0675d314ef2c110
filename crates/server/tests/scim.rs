//! Inbound SCIM through the real router: an identity provider provisions
//! people and groups (Okta's and Entra ID's request forms), Writ maps them
//! to identities, managers and groups, refuses what does not fit with
//! SCIM errors, and a deactivation goes through the normal disabling path:
//! pending requests withdrawn, access removed from a real PostgreSQL and
//! read back.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;
use writ_core::ids::{GroupId, IdentityId};
use writ_testkit::PgServer;

use common::{harness_with, harness_with_pg, Harness, ManualClock};

const TOKEN: &str = "scim-token-for-tests-0123456789abcdef";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn scim_config(data: &std::path::Path) -> String {
    std::fs::write(data.join("scim-token"), TOKEN).unwrap();
    "\n[scim]\ntoken_file = \"scim-token\"\n".into()
}

async fn scim_harness() -> Harness {
    harness_with(
        |policies| {
            let data = policies.parent().unwrap();
            let mut config = std::fs::read_to_string(data.join("writ.toml")).unwrap();
            config.push_str(&scim_config(data));
            std::fs::write(data.join("writ.toml"), config).unwrap();
        },
        None,
    )
    .await
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

/// One SCIM call with `token` (the SCIM token by default) and extra headers.
async fn call_with(h: &Harness, token: Option<&str>, method: &str, uri: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::builder().method(method).uri(uri).header("host", "writ.test");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/scim+json").body(Body::from(b.to_string())).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = h.router.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

async fn scim(h: &Harness, method: &str, uri: &str, body: Option<Value>) -> Reply {
    call_with(h, Some(TOKEN), method, uri, body, &[]).await
}

fn assert_error(r: &Reply, status: u16, scim_type: Option<&str>, says: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]), "{}", r.body);
    assert_eq!(r.body["status"], status.to_string(), "{}", r.body);
    assert_eq!(r.body.get("scimType").and_then(Value::as_str), scim_type, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains(says), "expected `{says}` in {}", r.body);
}

async fn identity(h: &Harness, id: &str) -> writ_core::identity::Identity {
    h.app.writ.store().identity(&IdentityId::parse(id).unwrap()).await.unwrap().unwrap()
}

async fn events(h: &Harness) -> Vec<writ_core::audit::AuditEvent> {
    h.app.writ.store().audit_events(0, 100_000).await.unwrap()
}

fn patch(ops: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": ops })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_provider_provisions_people_managers_and_groups() {
    let h = scim_harness().await;
    // Okta asks first, then creates.
    let r = scim(&h, "GET", "/scim/v2/Users?filter=userName%20eq%20%22ann%40example.com%22", None).await;
    assert_eq!((r.status, r.body["totalResults"].clone()), (StatusCode::OK, json!(0)), "{}", r.body);
    let ann = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": "ann@example.com", "externalId": "00u-ann", "active": true,
        "name": { "givenName": "Ann", "familyName": "Lee" }, "emails": [{ "value": "ann@example.com", "type": "work", "primary": true }],
        ENTERPRISE: { "manager": { "value": "mona" }, "department": "Payments" }
    });
    let r = scim(&h, "POST", "/scim/v2/Users", Some(ann.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.headers["location"], "http://writ.test/scim/v2/Users/ann@example.com");
    assert_eq!(r.headers["etag"], "W/\"1-1\"");
    assert_eq!(r.body["id"], "ann@example.com");
    assert_eq!(r.body["emails"][0]["value"], "ann@example.com");
    let i = identity(&h, "ann@example.com").await;
    assert_eq!((i.display_name.as_str(), i.manager.as_ref().map(IdentityId::as_str), i.is_active()), ("Ann Lee", Some("mona"), true));
    let ev = events(&h).await;
    let upserted = ev.iter().rev().find(|e| e.kind == "identity.upserted").unwrap();
    assert_eq!(upserted.actor, "writ-scim");
    assert!(upserted.payload.contains("\"source\":\"scim\""), "{}", upserted.payload);
    assert!(ev.iter().any(|e| e.kind == "scim.user.written" && e.payload.contains("\"operation\":\"create\"")));

    // What does not fit is refused, and changes nothing.
    let before = events(&h).await.len();
    assert_error(&scim(&h, "POST", "/scim/v2/Users", Some(ann.clone())).await, 409, Some("uniqueness"), "exists");
    assert_error(&scim(&h, "POST", "/scim/v2/Users", Some(json!({ "userName": "ann lee" }))).await, 400, Some("invalidValue"), "cannot be a Writ identity id");
    assert_error(&scim(&h, "POST", "/scim/v2/Users", Some(json!({ "userName": "writ-admin" }))).await, 400, Some("invalidValue"), "reserved");
    assert_error(&scim(&h, "POST", "/scim/v2/Users", Some(json!({ "userName": "System" }))).await, 400, Some("invalidValue"), "reserved");
    assert_error(&scim(&h, "POST", "/scim/v2/Users", Some(json!({ "userName": "svc-billing" }))).await, 409, Some("uniqueness"), "service_account");
    assert_error(&scim(&h, "POST", "/scim/v2/Users", Some(json!({ "displayName": "x" }))).await, 400, Some("invalidValue"), "`userName` is required");
    assert_error(&scim(&h, "POST", "/scim/v2/Users", Some(json!({ "userName": "zed", "active": "maybe" }))).await, 400, Some("invalidValue"), "true or false");
    assert_error(&scim(&h, "GET", "/scim/v2/Users?filter=userName%20eq", None).await, 400, Some("invalidFilter"), "must be followed by a value");
    let r = call_with(&h, Some(TOKEN), "POST", "/scim/v2/Users", None, &[]).await;
    assert_error(&r, 400, Some("invalidSyntax"), "not JSON");
    assert_eq!(events(&h).await.len(), before, "nothing refused reached the audit log");

    // Groups: the display name gives the Writ group id; members are identities' groups.
    let r =
        scim(&h, "POST", "/scim/v2/Groups", Some(json!({ "displayName": "Payments Team", "members": [{ "value": "ann@example.com" }, { "value": "alice" }] })))
            .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gid = r.body["id"].as_str().unwrap().to_owned();
    let team = GroupId::parse("Payments-Team").unwrap();
    assert!(identity(&h, "ann@example.com").await.groups.contains(&team));
    assert!(identity(&h, "alice").await.groups.contains(&team));
    let r = scim(&h, "GET", "/scim/v2/Users/ann@example.com", None).await;
    assert_eq!(
        r.body["groups"],
        json!([{ "value": gid, "$ref": format!("http://writ.test/scim/v2/Groups/{gid}"), "display": "Payments Team", "type": "direct" }])
    );
    let r = scim(&h, "GET", "/scim/v2/Groups?filter=displayName%20eq%20%22payments%20team%22", None).await;
    assert_eq!(r.body["totalResults"], 1, "displayName compares without regard to case: {}", r.body);
    let r = scim(&h, "GET", "/scim/v2/Groups?filter=members%20eq%20%22alice%22", None).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_error(&scim(&h, "POST", "/scim/v2/Groups", Some(json!({ "displayName": "payments team" }))).await, 409, Some("uniqueness"), "already named");
    assert_error(&scim(&h, "POST", "/scim/v2/Groups", Some(json!({ "displayName": "Payments/Team" }))).await, 409, Some("uniqueness"), "Writ group id");
    assert_error(
        &scim(&h, "POST", "/scim/v2/Groups", Some(json!({ "displayName": "ops", "members": [{ "value": "nobody" }] }))).await,
        400,
        Some("invalidValue"),
        "create the user first",
    );
    // Okta removes a member by filter; Entra adds and removes by value.
    let uri = format!("/scim/v2/Groups/{gid}");
    let r = scim(&h, "PATCH", &uri, Some(patch(json!([{ "op": "remove", "path": "members[value eq \"alice\"]" }])))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!identity(&h, "alice").await.groups.contains(&team));
    let r = scim(&h, "PATCH", &uri, Some(patch(json!([{ "op": "Add", "path": "members", "value": [{ "value": "bob" }] }, { "op": "Remove", "path": "members", "value": [{ "value": "ann@example.com" }] }])))).await;
    assert_eq!(r.body["members"], json!([{ "value": "bob", "$ref": "http://writ.test/scim/v2/Users/bob", "type": "User" }]), "{}", r.body);
    assert!(!identity(&h, "ann@example.com").await.groups.contains(&team));
    // Renaming keeps the Writ group id that policies name.
    let r = scim(&h, "PATCH", &uri, Some(patch(json!([{ "op": "replace", "value": { "id": gid, "displayName": "Payments" } }])))).await;
    assert_eq!(r.body["displayName"], "Payments", "{}", r.body);
    assert!(identity(&h, "bob").await.groups.contains(&team));

    // Entra ID changes the manager by string and deactivates with "False".
    let user = "/scim/v2/Users/ann@example.com";
    let r = scim(&h, "PATCH", user, Some(patch(json!([{ "op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": "oscar" }])))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(identity(&h, "ann@example.com").await.manager.unwrap().as_str(), "oscar");
    let r = scim(&h, "PATCH", user, Some(patch(json!([{ "op": "Replace", "path": "active", "value": "False" }])))).await;
    assert_eq!(r.body["active"], false, "{}", r.body);
    assert!(!identity(&h, "ann@example.com").await.is_active());

    // userName is the identity id: it cannot change; a stale ETag is refused.
    let r = scim(&h, "PUT", user, Some(json!({ "userName": "ann.lee@example.com" }))).await;
    assert_error(&r, 400, Some("mutability"), "cannot change");
    let r = call_with(&h, Some(TOKEN), "PUT", user, Some(json!({ "userName": "ann@example.com", "active": true })), &[("if-match", "W/\"1-1\"")]).await;
    assert_error(&r, 412, None, "If-Match");
    let current = scim(&h, "GET", user, None).await.headers["etag"].to_str().unwrap().to_owned();
    let r = call_with(
        &h,
        Some(TOKEN),
        "PUT",
        user,
        Some(json!({ "userName": "ann@example.com", "active": true, "displayName": "Ann" })),
        &[("if-match", &current)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let i = identity(&h, "ann@example.com").await;
    assert_eq!((i.is_active(), i.display_name.as_str(), i.manager), (true, "Ann", None), "PUT replaces: no manager given, none kept");

    // Paging says how many there are; nothing is cut silently.
    let r = scim(&h, "GET", "/scim/v2/Users?startIndex=2&count=3", None).await;
    let total = r.body["totalResults"].as_u64().unwrap();
    assert!(total >= 10, "{}", r.body);
    assert_eq!((r.body["startIndex"].clone(), r.body["itemsPerPage"].clone()), (json!(2), json!(3)));
    let ids = |v: &Value| -> Vec<String> { v["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect() };
    let everyone = ids(&scim(&h, "GET", "/scim/v2/Users", None).await.body);
    assert_eq!(everyone.len() as u64, total);
    let mut walked = Vec::new();
    for start in (1..=total).step_by(4) {
        walked.extend(ids(&scim(&h, "GET", &format!("/scim/v2/Users?startIndex={start}&count=4"), None).await.body));
    }
    assert_eq!(walked, everyone, "pages of 4 walk the whole list, in order, once");
    let r =
        scim(&h, "GET", "/scim/v2/Users?filter=displayName%20sw%20%22an%22%20and%20active%20eq%20true%20and%20not%20(emails%20pr)&attributes=userName", None)
            .await;
    assert_eq!(
        r.body["Resources"],
        json!([{ "id": "ann@example.com", "userName": "ann@example.com", "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"] }]),
        "{}",
        r.body
    );

    // DELETE disables and hides the user; its identity stays for the audit log.
    let r = scim(&h, "DELETE", user, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_error(&scim(&h, "GET", user, None).await, 404, None, "no User");
    assert!(!identity(&h, "ann@example.com").await.is_active());
    assert_error(&scim(&h, "POST", "/scim/v2/Users", Some(ann)).await, 409, Some("uniqueness"), "was deleted");
    // Deleting a group takes its people out of the Writ group.
    assert_eq!(scim(&h, "DELETE", &uri, None).await.status, StatusCode::NO_CONTENT);
    assert!(!identity(&h, "bob").await.groups.contains(&team));
    assert_error(&scim(&h, "GET", &uri, None).await, 404, None, "no Group");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_has_its_own_token_and_exists_only_when_configured() {
    let h = scim_harness().await;
    let r = call_with(&h, None, "GET", "/scim/v2/Users", None, &[]).await;
    assert_error(&r, 401, None, "missing `Authorization");
    assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"writ-scim\"");
    let api_token = h.tokens["sam"].clone();
    assert_error(&call_with(&h, Some(&api_token), "GET", "/scim/v2/Users", None, &[]).await, 401, None, "not this server's SCIM token");
    let (status, _) = h.call(Some("sam"), "GET", "/v1/whoami", None).await;
    assert_eq!(status, StatusCode::OK);
    let r = call_with(&h, Some(TOKEN), "GET", "/v1/whoami", None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the SCIM token is no /v1 token");
    assert_error(&scim(&h, "GET", "/scim/v2/Nothing", None).await, 404, None, "no SCIM endpoint");
    assert_error(&scim(&h, "DELETE", "/scim/v2/ServiceProviderConfig", None).await, 405, None, "method");
    let big = json!({ "userName": "big", "title": "x".repeat(70_000) });
    assert_error(&scim(&h, "POST", "/scim/v2/Users", Some(big)).await, 413, None, "max_body_bytes");
    let r = scim(&h, "GET", "/scim/v2/ServiceProviderConfig", None).await;
    assert_eq!(
        (r.body["patch"]["supported"].clone(), r.body["bulk"]["supported"].clone(), r.body["etag"]["supported"].clone()),
        (json!(true), json!(false), json!(true))
    );

    let plain = common::harness().await;
    let r = call_with(&plain, Some(TOKEN), "GET", "/scim/v2/Users", None, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no [scim]: no endpoint");
}

/// A provider deactivating a person is the normal disabling: the pending
/// request is withdrawn and the grant removed from a real PostgreSQL, proved
/// by read-back, all recorded with source `scim`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_deactivation_withdraws_pending_requests_and_removes_real_access() {
    let pg = PgServer::start().expect("PostgreSQL (run scripts/install-test-deps.sh)");
    pg.psql("CREATE ROLE reporting NOLOGIN; CREATE ROLE bob LOGIN").unwrap();
    let h = harness_with_pg(pg.url(), ManualClock::new(), scim_config).await;
    let writ = h.app.writ.clone();
    let holds = || {
        pg.psql(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
             WHERE r.rolname = 'reporting' AND u.rolname = 'bob'",
        )
        .unwrap()
            == "1"
    };
    let ask = |e: &str, d: &str| json!({ "entitlements": [e], "justification": "quarter-end numbers", "duration": d });
    let (status, held) = h.post("bob", "/v1/requests", ask("pg-live/reporting", "8h")).await;
    assert_eq!(status.as_u16(), 201, "{held}");
    writ.run_due_jobs(10).await.unwrap();
    assert!(holds());
    let (_, pending) = h.post("bob", "/v1/requests", ask("pg-prod/payments_readonly", "1h")).await;
    assert_eq!(pending["state"], "pending", "{pending}");

    // Okta finds bob (registered before SCIM) and deactivates him.
    let r = scim(&h, "GET", "/scim/v2/Users?filter=userName%20eq%20%22bob%22", None).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    let r = scim(&h, "PATCH", "/scim/v2/Users/bob", Some(patch(json!([{ "op": "replace", "value": { "active": false } }])))).await;
    assert_eq!((r.status, r.body["active"].clone()), (StatusCode::OK, json!(false)), "{}", r.body);

    let state = |v: Value| v["request"]["state"].as_str().unwrap().to_owned();
    let (_, v) = h.get("audrey", &format!("/v1/requests/{}", pending["id"].as_str().unwrap())).await;
    assert_eq!(state(v), "cancelled", "the pending request is withdrawn");
    let held_uri = format!("/v1/requests/{}", held["id"].as_str().unwrap());
    let (_, v) = h.get("audrey", &held_uri).await;
    assert_eq!(v["grants"][0]["state"], "revoking", "{v}");
    assert!(holds(), "removed by the worker, through the connector");
    writ.run_due_jobs(10).await.unwrap();
    assert!(!holds(), "the role is gone from the target");
    let (_, v) = h.get("audrey", &held_uri).await;
    assert_eq!(v["grants"][0]["state"], "revoked", "proved gone by read-back: {v}");
    assert!(v["events"].as_array().unwrap().iter().any(|e| e["kind"] == "grant.removal_verified"), "{v}");
    assert!(v.to_string().contains("disabled by `writ-scim`"), "{v}");
    let ev = events(&h).await;
    let disabled = ev.iter().rev().find(|e| e.kind == "identity.upserted").unwrap();
    assert!(disabled.payload.contains("\"status\":\"disabled\"") && disabled.payload.contains("\"source\":\"scim\""), "{}", disabled.payload);
}
