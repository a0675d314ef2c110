//! Sign-in with the organisation's OpenID provider: what the CLI needs to
//! start one, and the exchange of the provider's ID token for a Writ token.
//! Both are public: the exchange is authenticated by the ID token it carries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use writ_api::{CreatedToken, OidcInfo, OidcSignIn};
use writ_app::tokens::SignedIn;
use writ_core::ids::IdentityId;
use writ_core::token::TokenDraft;

use super::Body;
use crate::error::ApiError;
use crate::oidc::{Oidc, SignInError, SCOPES};
use crate::serve::App;
use crate::views;

fn configured(app: &App) -> Result<&Oidc, ApiError> {
    app.oidc.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this server has no single sign-on (`[oidc]` in writ.toml): sign in with a token (`--token`, WRIT_TOKEN) or ask its operator",
        )
    })
}

/// The organisation's OpenID provider this server trusts, and Writ's client
/// id there: what `writ login` needs besides the server's URL. 404 when
/// single sign-on is not configured.
#[utoipa::path(get, path = "/v1/auth/oidc", responses((status = 200, body = OidcInfo), (status = 404, body = writ_api::ErrorBody)))]
pub async fn info(State(app): State<App>) -> Result<Json<OidcInfo>, ApiError> {
    let oidc = configured(&app)?;
    Ok(Json(OidcInfo { issuer: oidc.issuer().into(), client_id: oidc.client_id().into(), scopes: SCOPES.into() }))
}

/// Exchange an ID token of the provider for a short-lived Writ token of
/// the person it names (`[oidc] identity_claim`), who must be an active
/// person in Writ. The secret is in this answer only. 401, with what to do,
/// when the ID token is malformed, from another issuer, for another client,
/// expired, badly signed or of another sign-in (nonce), or when it names no
/// active person; 404 when single sign-on is not configured.
#[utoipa::path(post, path = "/v1/auth/oidc/token", request_body = OidcSignIn,
    responses((status = 201, description = "A Writ token of the person signed in, and its secret (shown once).", body = CreatedToken),
        (status = 401, description = "The ID token is refused, or names no active person in Writ: the message says why and what to do.", body = writ_api::ErrorBody),
        (status = 404, body = writ_api::ErrorBody)))]
pub async fn exchange(State(app): State<App>, Body(body): Body<OidcSignIn>) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let oidc = configured(&app)?;
    let now = app.writ.clock().now();
    let refused = |e: &dyn std::fmt::Display| ApiError::unauthenticated(e.to_string());
    let verified = oidc.verify(&body.id_token, body.nonce.as_deref(), now.timestamp()).await.map_err(|e| {
        // The reason, never the token.
        tracing::info!(issuer = oidc.issuer(), reason = %e, "sign-in refused");
        match e {
            SignInError::Provider(..) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()),
            e => refused(&e),
        }
    })?;
    let identity = IdentityId::parse(&verified.identity).map_err(|_| {
        refused(&format!(
            "the provider vouched for `{}`, which is not a Writ identity id: ask Writ's operator to check `[oidc] identity_claim`",
            verified.identity
        ))
    })?;
    let via = SignedIn { provider: oidc.issuer().into(), subject: verified.subject, id_token_hash: writ_app::tokens::token_hash(&body.id_token) };
    let name = body.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "writ login".into());
    let draft = TokenDraft { name, lifetime: Some(oidc.session_lifetime()), scope: None };
    let (token, secret) = app.writ.issue_token_signed_in(&identity, &via, draft).await?.map_err(|why| {
        tracing::info!(issuer = oidc.issuer(), identity = %identity, reason = %why, "sign-in refused");
        refused(&why)
    })?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: views::token(&token, now), secret })))
}
