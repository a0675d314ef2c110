//! The OIDC test provider: starts, signs users in through its own pages, and
//! runs the device flow.

use writ_testkit::oidc::{form, CLIENT_ID, OTHER_CLIENT_ID};
use writ_testkit::{http_request, OidcProvider};

fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    // Base64url without padding, decoded by hand: the harness has no base64 crate.
    let abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits: Vec<u32> = payload.chars().map(|c| abc.find(c).unwrap() as u32).collect();
    let mut bytes = Vec::new();
    for chunk in bits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, v)| n | (v << (18 - 6 * i)));
        for i in 0..chunk.len() - 1 {
            bytes.push((n >> (16 - 8 * i)) as u8);
        }
    }
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn code_flow_gives_an_id_token_for_the_chosen_user() {
    let op = OidcProvider::start().unwrap();
    let token = op.id_token(CLIENT_ID, "alice", "n-1").unwrap();
    let c = claims(&token);
    assert_eq!(c["iss"], op.issuer());
    assert_eq!(c["aud"], CLIENT_ID);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["preferred_username"], "alice");
    assert_eq!(c["email"], "alice@example.test");
    assert_eq!(c["nonce"], "n-1");
    let other = op.id_token(OTHER_CLIENT_ID, "bob", "n-2").unwrap();
    assert_eq!(claims(&other)["aud"], OTHER_CLIENT_ID);
    let signed = op.sign(&serde_json::json!({"sub": "x", "exp": 1})).unwrap();
    assert_eq!(claims(&signed)["exp"], 1);
}

#[test]
fn device_flow_is_approved_through_the_pages() {
    let op = OidcProvider::start().unwrap();
    let start = http_request(
        "POST",
        op.port(),
        "/device/auth",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&form(&[("client_id", CLIENT_ID), ("scope", "openid profile")])),
    )
    .unwrap();
    let start: serde_json::Value = serde_json::from_str(&start.body).unwrap();
    let body = form(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", start["device_code"].as_str().unwrap()),
        ("client_id", CLIENT_ID),
    ]);
    let poll = || http_request("POST", op.port(), "/token", &[("Content-Type", "application/x-www-form-urlencoded")], Some(&body)).unwrap();
    assert!(poll().body.contains("authorization_pending"));
    op.approve_device(start["verification_uri_complete"].as_str().unwrap(), "carol").unwrap();
    let answer: serde_json::Value = serde_json::from_str(&poll().body).unwrap();
    assert_eq!(claims(answer["id_token"].as_str().unwrap())["preferred_username"], "carol", "{answer}");
}
