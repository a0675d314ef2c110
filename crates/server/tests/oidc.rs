//! Sign-in with an OpenID provider, against a real one (npm `oidc-provider`,
//! started by writ-testkit): ID tokens got through its own login pages are
//! exchanged for Writ tokens; every kind of bad ID token is refused with its
//! own message.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;
use writ_testkit::oidc::{CLIENT_ID, OTHER_CLIENT_ID};
use writ_testkit::OidcProvider;

use common::Harness;

/// The demo install, signing in with `op`.
async fn harness_for(op: &OidcProvider) -> Harness {
    let issuer = op.issuer();
    common::harness_with(
        move |policies| {
            let config = policies.parent().unwrap().join("writ.toml");
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&format!("\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"{CLIENT_ID}\"\nsession_lifetime = \"8h\"\n"));
            std::fs::write(&config, text).unwrap();
        },
        None,
    )
    .await
}

async fn call(h: &Harness, bearer: Option<&str>, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = h.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn exchange(h: &Harness, id_token: &str, nonce: Option<&str>) -> (StatusCode, Value) {
    call(h, None, "POST", "/v1/auth/oidc/token", Some(json!({ "id_token": id_token, "nonce": nonce, "name": "writ login (test)" }))).await
}

/// Claims the provider itself would sign for `login`, with `edit` applied.
fn claims(op: &OidcProvider, login: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({ "iss": op.issuer(), "aud": CLIENT_ID, "sub": login, "preferred_username": login, "iat": now, "exp": now + 600 });
    edit(&mut c);
    c
}

#[tokio::test]
async fn a_sign_in_ends_with_a_working_short_lived_token() {
    let op = OidcProvider::start().unwrap();
    let h = harness_for(&op).await;
    let (status, info) = call(&h, None, "GET", "/v1/auth/oidc", None).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["issuer"], op.issuer());
    assert_eq!(info["client_id"], CLIENT_ID);

    let id_token = op.id_token(CLIENT_ID, "olivia", "nonce-1").unwrap();
    let (status, created) = exchange(&h, &id_token, Some("nonce-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["token"]["identity"], "olivia");
    assert_eq!(created["token"]["name"], "writ login (test)");
    let secret = created["secret"].as_str().unwrap();
    let (status, me) = call(&h, Some(secret), "GET", "/v1/whoami", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], "olivia");

    // Short-lived: the session lifetime, not a person's default year.
    let expires = chrono::DateTime::parse_from_rfc3339(created["token"]["expires_at"].as_str().unwrap()).unwrap();
    let hours = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((7.9..=8.0).contains(&hours), "expires in {hours} h");

    // The same ID token again (intercepted, or replayed from a log) buys nothing.
    let (status, again) = exchange(&h, &id_token, Some("nonce-1")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{again}");
    assert!(again["message"].as_str().unwrap().contains("already exchanged"), "{again}");
    // A new sign-in (a new ID token) does.
    let fresh = op.id_token(CLIENT_ID, "olivia", "nonce-2").unwrap();
    assert_eq!(exchange(&h, &fresh, Some("nonce-2")).await.0, StatusCode::CREATED);

    // The audit names the provider and the subject, never the ID token.
    let (status, events) = h.get("audrey", "/v1/audit/events?limit=1000").await;
    assert_eq!(status, StatusCode::OK);
    let payload = |e: &Value| serde_json::from_str::<Value>(e["payload"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
    let issued = events.as_array().unwrap().iter().find(|e| payload(e)["signed_in_with"].is_object()).expect("a token.issued event of the sign-in");
    assert_eq!(issued["kind"], "token.issued");
    assert_eq!(issued["actor"], "olivia");
    assert_eq!(payload(issued)["signed_in_with"], json!({ "provider": op.issuer(), "subject": "olivia" }));
    assert!(!events.to_string().contains(&id_token[..40]), "no part of the ID token in the audit");

    // The token is revoked like any other, by its owner.
    let id = created["token"]["id"].as_str().unwrap();
    let (status, v) = call(&h, Some(secret), "POST", &format!("/v1/tokens/{id}/revoke"), Some(json!({ "reason": "writ logout" }))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, _) = call(&h, Some(secret), "GET", "/v1/whoami", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_id_tokens_are_refused_each_with_what_to_do() {
    let op = OidcProvider::start().unwrap();
    let other_op = OidcProvider::start().unwrap();
    let h = harness_for(&op).await;
    let good = op.id_token(CLIENT_ID, "olivia", "n").unwrap();

    let mut tampered = good.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let mut forged_payload: Vec<&str> = good.split('.').collect();
    let other_payload = op.sign(&claims(&op, "sam", |_| {})).unwrap();
    forged_payload[1] = other_payload.split('.').nth(1).unwrap();
    let forged_payload = forged_payload.join(".");
    // The good token's claims under a header an attacker writes: unsigned
    // (`alg: none`), and HS256 (a MAC an attacker could key with the public key).
    let payload = good.split('.').nth(1).unwrap();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let hmac = format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{payload}.c2lnbmVk");

    let now = chrono::Utc::now().timestamp();
    let cases: Vec<(&str, String, Option<&str>, &str)> = vec![
        ("wrong audience", op.id_token(OTHER_CLIENT_ID, "olivia", "n").unwrap(), None, "not for Writ"),
        (
            "expired",
            op.sign(&claims(&op, "olivia", |c| {
                c["iat"] = json!(now - 7200);
                c["exp"] = json!(now - 3600);
            }))
            .unwrap(),
            None,
            "expired",
        ),
        (
            "issued in the future",
            op.sign(&claims(&op, "olivia", |c| {
                c["iat"] = json!(now + 3600);
                c["exp"] = json!(now + 7200);
            }))
            .unwrap(),
            None,
            "future",
        ),
        ("tampered signature", tampered, None, "signature"),
        ("payload of another token", forged_payload, None, "signature"),
        ("unknown issuer", other_op.id_token(CLIENT_ID, "olivia", "n").unwrap(), None, "trusts only"),
        ("another sign-in's nonce", good.clone(), Some("not-n"), "nonce"),
        ("unknown user", op.id_token(CLIENT_ID, "nobody", "n").unwrap(), None, "no identity `nobody`"),
        ("not a person", op.id_token(CLIENT_ID, "svc-billing", "n").unwrap(), None, "`writ token create --for svc-billing"),
        ("unsigned", unsigned, None, "not a well-formed JWT"),
        ("signed with a shared-secret MAC", hmac, None, "does not take"),
        (
            "no identity claim",
            op.sign(&claims(&op, "olivia", |c| {
                c.as_object_mut().unwrap().remove("preferred_username");
            }))
            .unwrap(),
            None,
            "preferred_username",
        ),
        (
            "no issue time",
            op.sign(&claims(&op, "olivia", |c| {
                c.as_object_mut().unwrap().remove("iat");
            }))
            .unwrap(),
            None,
            "`iat`",
        ),
        ("not a JWT", "abc".into(), None, "not a well-formed JWT"),
        ("a claim of the wrong type", op.sign(&claims(&op, "olivia", |c| c["sub"] = json!(42))).unwrap(), None, "not a well-formed JWT"),
    ];
    for (what, token, nonce, says) in cases {
        let (status, v) = exchange(&h, &token, nonce).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {v}");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(says), "{what}: {message}");
        assert!(!message.contains(&token[..token.len().min(20)]) || token.len() < 20, "{what}: the message repeats the token");
    }

    // A disabled person: refused until enabled again.
    let (status, v) = h.post("sam", "/v1/identities/olivia/status", json!({ "status": "disabled" })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = exchange(&h, &good, Some("n")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["message"].as_str().unwrap().contains("disabled"), "{v}");

    // Nothing was issued by any of these.
    let (_, events) = h.get("audrey", "/v1/audit/events?limit=1000").await;
    assert!(!events.to_string().contains("signed_in_with"), "{events}");
}

#[tokio::test]
async fn a_new_signing_key_of_the_provider_is_fetched_when_a_token_names_it() {
    let mut op = OidcProvider::start().unwrap();
    let h = harness_for(&op).await;
    let (status, v) = exchange(&h, &op.id_token(CLIENT_ID, "olivia", "n").unwrap(), None).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");

    op.restart_with_a_new_key().unwrap();
    let rotated = op.id_token(CLIENT_ID, "olivia", "n").unwrap();
    // Keys are fetched again at most every few seconds (a stream of made-up
    // key ids must not become a stream of requests to the provider): until
    // then the new key's tokens are refused as unverifiable, then accepted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, v) = exchange(&h, &rotated, None).await;
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
        assert!(std::time::Instant::now() < deadline, "the new key was never fetched: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn without_oidc_configured_sign_in_is_not_found() {
    let h = common::harness().await;
    let (status, v) = call(&h, None, "GET", "/v1/auth/oidc", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(v["message"].as_str().unwrap().contains("[oidc]"), "{v}");
    let (status, _) = call(&h, None, "POST", "/v1/auth/oidc/token", Some(json!({ "id_token": "a.b.c" }))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_longer_than_a_persons_token_may_last_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    writ_server::init::init(dir.path(), false).await.unwrap();
    let config = dir.path().join("writ.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[oidc]\nissuer = \"http://127.0.0.1:1/\"\nclient_id = \"{CLIENT_ID}\"\nsession_lifetime = \"8h\"\n\n[tokens]\nmax_lifetime_person = \"4h\"\n"
    ));
    std::fs::write(&config, text).unwrap();
    let cfg = writ_server::Config::load(&config).unwrap();
    let e = writ_server::build(&cfg).await.err().expect("refused").to_string();
    assert!(e.contains("session_lifetime") && e.contains("max_lifetime_person") && e.contains("8h") && e.contains("4h"), "{e}");
}
