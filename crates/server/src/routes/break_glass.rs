//! Break-glass: emergency access granted at once, and its post-event review.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use writ_api::{BreakGlassReview, NewRequest, RequestView, ResolveBreakGlass};
use writ_core::break_glass::UseVerdict;
use writ_core::ids::RequestId;

use super::requests::draft;
use super::Body;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

/// Break the glass: access at once, without approval, if policy allows
/// `break_glass` for every entitlement (a short duration, a reason). Refused
/// attempts are recorded as denied requests. Every use owes a review.
#[utoipa::path(post, path = "/v1/break-glass", request_body = NewRequest,
    responses((status = 201, body = RequestView), (status = 400, body = writ_api::ErrorBody), (status = 422, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(State(app): State<App>, Caller(me): Caller, Body(body): Body<NewRequest>) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let d = draft(&me.id, body)?;
    let req = app.writ.break_glass(&me, d).await?;
    Ok((StatusCode::CREATED, Json(views::request(&req, app.writ.clock().now()))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OpenQuery {
    /// Only the exceptions: reviews overdue, or uses rejected and not resolved.
    pub exceptions: Option<bool>,
}

/// Break-glass uses whose review is still open, that the caller may see.
#[utoipa::path(get, path = "/v1/break-glass", params(OpenQuery), responses((status = 200, body = [RequestView])), security(("bearer" = [])))]
pub async fn list(
    State(app): State<App>,
    Caller(me): Caller,
    q: Result<Query<OpenQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<RequestView>>, ApiError> {
    let Query(q) = q?;
    let list = app.writ.open_break_glass(&me, q.exceptions.unwrap_or(false)).await?;
    let now = app.writ.clock().now();
    Ok(Json(list.iter().map(|r| views::request(r, now)).collect()))
}

/// Accept or reject a break-glass use (one of its named reviewers).
#[utoipa::path(post, path = "/v1/break-glass/{id}/review", params(("id" = String, Path)), request_body = BreakGlassReview,
    responses((status = 200, body = RequestView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn review(
    State(app): State<App>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Body(body): Body<BreakGlassReview>,
) -> Result<Json<RequestView>, ApiError> {
    let id = RequestId::parse(&id).map_err(|e| ApiError::bad_input(e.to_string()))?;
    let verdict = match body.verdict.as_str() {
        "accept" => UseVerdict::Accept,
        "reject" => UseVerdict::Reject,
        other => return Err(ApiError::bad_input(format!("verdict `{other}`: use `accept` or `reject`"))),
    };
    let req = app.writ.review_break_glass(&me, id, verdict, &body.note).await?;
    Ok(Json(views::request(&req, app.writ.clock().now())))
}

/// Settle a rejected break-glass use, saying what was done about it.
#[utoipa::path(post, path = "/v1/break-glass/{id}/resolve", params(("id" = String, Path)), request_body = ResolveBreakGlass,
    responses((status = 200, body = RequestView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn resolve(
    State(app): State<App>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Body(body): Body<ResolveBreakGlass>,
) -> Result<Json<RequestView>, ApiError> {
    let id = RequestId::parse(&id).map_err(|e| ApiError::bad_input(e.to_string()))?;
    let req = app.writ.resolve_break_glass(&me, id, &body.note).await?;
    Ok(Json(views::request(&req, app.writ.clock().now())))
}
