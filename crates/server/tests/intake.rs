//! Request types at the API: each request is of a catalog type, whose
//! mandatory fields are checked and named when missing; a help-desk type
//! that names access is re-routed to the governed path, recorded in the
//! audit log and counted.

mod common;

use axum::http::StatusCode;
use serde_json::{json, Value};

use common::{harness, harness_with};

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
