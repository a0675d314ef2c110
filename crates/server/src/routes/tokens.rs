//! API tokens: create one (its secret shown once), list them, revoke one.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use writ_api::{CreatedToken, NewToken, ReasonBody, TokenView};
use writ_core::duration::AccessDuration;
use writ_core::ids::{IdentityId, TokenId};
use writ_core::token::{TokenDraft, TokenScope};

use super::paging::{self, Limit, Listed};
use super::Body;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

/// The bounds of `limit` on token lists.
const LIMIT: Limit = Limit { default: 100, max: 1000 };

/// Create a token for the caller, for a non-human identity it owns, or (policy
/// decides: `manage_identities`) for anyone. The secret is in this answer
/// only: it is stored as a SHA-256 hash and never shown again. Not through a
/// scoped token.
#[utoipa::path(post, path = "/v1/tokens", request_body = NewToken,
    responses((status = 201, description = "The token, and its secret (shown once).", body = CreatedToken), (status = 403, body = writ_api::ErrorBody), (status = 422, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(State(app): State<App>, Caller(me): Caller, Body(body): Body<NewToken>) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let identity = body.identity.as_deref().filter(|s| !s.is_empty()).map(IdentityId::parse).transpose()?;
    let lifetime = match body.expires.as_deref().filter(|s| !s.is_empty()) {
        // The shape is the schema's (400); over 100 years is a rule (422).
        Some(e) => Some(AccessDuration::secs_written(e).map_err(ApiError::malformed).and_then(|s| Ok(AccessDuration::from_secs(s)?))?),
        None => None,
    };
    // Absent means none; empty is not a scope (the schema says which are).
    let scope = body.scope.as_deref().map(TokenScope::parse).transpose().map_err(ApiError::malformed)?;
    let draft = TokenDraft { name: body.name, lifetime, scope };
    let (token, secret) = app.writ.create_token(&me, identity.as_ref(), draft).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: views::token(&token, app.writ.clock().now()), secret })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    /// At most this many tokens (default 100; 1 to 1000, else 400).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged (opaque; a malformed one is a 400).
    pub cursor: Option<String>,
}

/// Tokens the caller authenticates with or answers for (every token, for
/// whoever policy allows `manage_identities`), newest first, a page at a
/// time. Never a secret.
#[utoipa::path(get, path = "/v1/tokens", params(TokenQuery),
    responses(
        (status = 200, description = "A page of tokens, newest first.", body = [TokenView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more: this request's path and query with `cursor` set. Absent on the last page."))),
        (status = 400, description = "A bad `limit` (out of range) or `cursor` (malformed); the message names it.", body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<App>,
    Caller(me): Caller,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<TokenView>, ApiError> {
    let Query(q) = q?;
    let limit = LIMIT.of(q.limit)?;
    let after = paging::cursor::<TokenId>(q.cursor.as_deref())?;
    let page = app.writ.list_tokens(&me, after, limit).await?;
    let now = app.writ.clock().now();
    Listed::new(page.iter().map(|t| views::token(t, now)).collect(), page.next.map(|c| c.to_string()), &uri, &[])
}

/// Revoke a token, at once: the next call with it is refused (401). By its
/// identity, its owner, the owner of its non-human identity, or whoever
/// policy allows `manage_identities`; others are told it does not exist.
/// Revoking a revoked token is a conflict (409).
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", params(("id" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = TokenView), (status = 404, body = writ_api::ErrorBody), (status = 409, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(body): Body<ReasonBody>) -> Result<Json<TokenView>, ApiError> {
    let id = TokenId::parse(&id)?;
    let token = app.writ.revoke_token(&me, id, &body.reason).await?;
    Ok(Json(views::token(&token, app.writ.clock().now())))
}
