//! Break-glass: emergency access granted at once, and its post-event review.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use writ_api::{BreakGlassReview, NewRequest, RequestView, ResolveBreakGlass};
use writ_core::break_glass::UseVerdict;
use writ_core::ids::RequestId;

use super::paging::{self, Listed};
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
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OpenQuery {
    /// Only the exceptions: reviews overdue, or uses rejected and not resolved.
    pub exceptions: Option<bool>,
    /// At most this many uses (default 100; 1 to 1000, else 400).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged (opaque; a malformed one is a 400).
    pub cursor: Option<String>,
}

/// Break-glass uses whose review is still open, that the caller may see,
/// newest first, a page at a time. A page is short only where the list ends.
#[utoipa::path(get, path = "/v1/break-glass", params(OpenQuery),
    responses(
        (status = 200, description = "A page of break-glass uses, newest first.", body = [RequestView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more: this request's path and query with `cursor` set. Absent on the last page."))),
        (status = 400, description = "A bad `limit` (out of range) or `cursor` (malformed); the message names it.", body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<App>,
    Caller(me): Caller,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<OpenQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<RequestView>, ApiError> {
    let Query(q) = q?;
    let limit = super::requests::LIMIT.of(q.limit)?;
    let after = paging::cursor::<RequestId>(q.cursor.as_deref())?;
    let page = app.writ.open_break_glass(&me, q.exceptions.unwrap_or(false), limit, after).await?;
    let now = app.writ.clock().now();
    let views = page.iter().map(|r| views::request(r, now)).collect();
    Listed::new(views, page.next.map(|c| c.to_string()), &uri, &[])
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
    let id = RequestId::parse(&id)?;
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
    let id = RequestId::parse(&id)?;
    let req = app.writ.resolve_break_glass(&me, id, &body.note).await?;
    Ok(Json(views::request(&req, app.writ.clock().now())))
}
