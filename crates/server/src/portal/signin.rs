//! Signing in to the portal with the organisation's OpenID provider: the
//! authorization code flow with PKCE (RFC 7636), a `state` against forged
//! callbacks and a `nonce` against replayed ID tokens, all three kept in a
//! short-lived HttpOnly cookie between the two legs. The ID token is checked
//! exactly as `writ login`'s (`Oidc::verify`), and buys a Writ token once.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use writ_app::tokens::SignedIn;
use writ_core::ids::IdentityId;
use writ_core::token::TokenDraft;

use super::pages::{message, sign_in, NoFields};
use super::session::{cookie, set_cookie, SessionForm, SESSION_COOKIE, SIGNIN_COOKIE};
use crate::serve::App;

/// How long a sign-in may take at the provider, in seconds.
const SIGNIN_WINDOW_SECS: i64 = 600;

fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether the portal is served over https (then its cookies are `Secure`).
fn secure(app: &App) -> bool {
    app.oidc.as_ref().and_then(|o| o.portal_redirect()).is_some_and(|u| u.starts_with("https://"))
}

/// A 303 to `to` (after a form: the browser GETs it).
pub(super) fn see_other(to: &str) -> Response {
    redirect(to, &[])
}

fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    for c in cookies {
        if let Ok(v) = c.parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Starts a sign-in: to the provider, with a fresh state, nonce and PKCE challenge.
pub(super) async fn login(State(app): State<App>) -> Response {
    let Some(oidc) = app.oidc.clone() else { return sign_in(&app, StatusCode::NOT_FOUND, None) };
    let Some(redirect_uri) = oidc.portal_redirect().map(str::to_owned) else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "The portal cannot sign you in yet",
            "Writ's operator must set `[oidc] portal_redirect_uri` (this server does not listen on loopback, so it cannot guess its own address).",
            ("/portal", "Back"),
        );
    };
    let endpoints = match oidc.endpoints().await {
        Ok(e) => e,
        Err(e) => return message(StatusCode::SERVICE_UNAVAILABLE, "The sign-in provider is unavailable", &e.to_string(), ("/portal", "Try again")),
    };
    let (state, nonce, verifier) = (random_text(), random_text(), random_text());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let url = reqwest::Url::parse_with_params(
        &endpoints.authorization,
        &[
            ("response_type", "code"),
            ("client_id", oidc.client_id()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", crate::oidc::SCOPES),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let Ok(url) = url else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "The sign-in provider is misconfigured",
            "its authorization endpoint is not a URL",
            ("/portal", "Back"),
        );
    };
    redirect(url.as_str(), &[set_cookie(SIGNIN_COOKIE, &format!("{state}.{nonce}.{verifier}"), SIGNIN_WINDOW_SECS, secure(&app))])
}

#[derive(Debug, Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider sends the browser back here: check the state, redeem the
/// code, verify the ID token, and open a session.
pub(super) async fn callback(State(app): State<App>, headers: HeaderMap, Query(cb): Query<Callback>) -> Response {
    let failed = |status: StatusCode, text: &str| {
        let mut resp = message(status, "Sign-in failed", text, ("/portal/login", "Sign in again"));
        if let Ok(v) = set_cookie(SIGNIN_COOKIE, "", 0, secure(&app)).parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        resp
    };
    let Some(oidc) = app.oidc.clone() else { return sign_in(&app, StatusCode::NOT_FOUND, None) };
    let Some(redirect_uri) = oidc.portal_redirect() else { return failed(StatusCode::SERVICE_UNAVAILABLE, "`[oidc] portal_redirect_uri` is not set") };
    if let Some(error) = cb.error {
        let detail = cb.error_description.map(|d| format!(": {d}")).unwrap_or_default();
        return failed(StatusCode::UNAUTHORIZED, &format!("the provider did not sign you in (`{error}`{detail})"));
    }
    let pending = cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    let mut fields = pending.splitn(3, '.');
    let (Some(state), Some(nonce), Some(verifier)) = (fields.next(), fields.next(), fields.next()) else {
        return failed(StatusCode::BAD_REQUEST, "this browser started no sign-in here (or it took longer than 10 minutes)");
    };
    let (Some(code), Some(returned)) = (cb.code, cb.state) else {
        return failed(StatusCode::BAD_REQUEST, "the provider's answer has no `code` and `state`");
    };
    if returned.len() != state.len() || returned.bytes().zip(state.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
        return failed(StatusCode::BAD_REQUEST, "the answer is for another sign-in (its `state` differs): sign in again from this browser");
    }
    let id_token = match oidc.redeem(&code, verifier, redirect_uri).await {
        Ok(t) => t,
        Err(e) => return failed(StatusCode::UNAUTHORIZED, &e.to_string()),
    };
    let now = app.writ.clock().now();
    let verified = match oidc.verify(&id_token, Some(nonce), now.timestamp()).await {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(issuer = oidc.issuer(), reason = %e, "portal sign-in refused");
            return failed(StatusCode::UNAUTHORIZED, &e.to_string());
        }
    };
    let Ok(identity) = IdentityId::parse(&verified.identity) else {
        return failed(
            StatusCode::UNAUTHORIZED,
            &format!("the provider vouched for `{}`, which is not a Writ identity id: ask Writ's operator to check `[oidc] identity_claim`", verified.identity),
        );
    };
    let via = SignedIn { provider: oidc.issuer().into(), subject: verified.subject, id_token_hash: writ_app::tokens::token_hash(&id_token) };
    let draft = TokenDraft { name: "portal".into(), lifetime: Some(oidc.session_lifetime()), scope: None };
    let (_, secret) = match app.writ.issue_token_signed_in(&identity, &via, draft).await {
        Ok(Ok(issued)) => issued,
        Ok(Err(why)) => return failed(StatusCode::UNAUTHORIZED, &why.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "portal: a session could not be opened");
            return failed(StatusCode::SERVICE_UNAVAILABLE, "the session could not be opened: try again in a moment");
        }
    };
    let lifetime = oidc.session_lifetime().secs();
    redirect("/portal", &[set_cookie(SESSION_COOKIE, &secret, lifetime, secure(&app)), set_cookie(SIGNIN_COOKIE, "", 0, secure(&app))])
}

/// Signs out: the session's token is revoked (not only forgotten by this browser).
pub(super) async fn logout(State(app): State<App>, SessionForm(user, _): SessionForm<NoFields>) -> Response {
    if let Err(e) = app.writ.revoke_token(&user.identity, user.token.id, "signed out of the portal").await {
        tracing::error!(error = %e, "portal: a session could not be revoked at sign-out");
        return message(StatusCode::SERVICE_UNAVAILABLE, "Not signed out", "the session could not be ended: try again in a moment", ("/portal", "Back"));
    }
    let mut resp = message(StatusCode::OK, "Signed out", "Your session is ended: its token is revoked.", ("/portal", "Sign in again"));
    if let Ok(v) = set_cookie(SESSION_COOKIE, "", 0, secure(&app)).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
