use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use writ_api::{DenyBody, EvidenceView, NewRequest, ReasonBody, RequestView};
use writ_app::ports::RequestFilter;
use writ_core::duration::AccessDuration;
use writ_core::ids::{EntitlementId, IdentityId, RequestId, RequestTypeId};
use writ_core::request::{RequestDraft, RequestState};
use writ_core::review::Verdict;

use super::paging::{self, Limit, Listed};
use super::Body;
use crate::auth::{Caller, OwnOnly};
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

pub(super) fn draft(caller: &IdentityId, body: NewRequest) -> Result<RequestDraft, ApiError> {
    let subject = match body.subject.as_deref() {
        None | Some("") => caller.clone(),
        Some(s) => IdentityId::parse(s)?,
    };
    let entitlements = body.entitlements.iter().map(|e| EntitlementId::parse(e)).collect::<Result<_, _>>()?;
    let duration = duration(&body.duration)?;
    // An empty type is no type: `application_access`.
    let request_type = body.request_type.as_deref().filter(|t| !t.is_empty()).map(RequestTypeId::parse).transpose()?;
    Ok(RequestDraft { requester: caller.clone(), subject, entitlements, justification: body.justification, duration, ticket: body.ticket, request_type })
}

/// A duration: a 400 when it does not have the shape of one, a 422 when it
/// is longer than anything may last.
pub(super) fn duration(text: &str) -> Result<AccessDuration, ApiError> {
    Ok(AccessDuration::from_secs(AccessDuration::secs_written(text).map_err(ApiError::malformed)?)?)
}

fn request_id(raw: &str) -> Result<RequestId, ApiError> {
    Ok(RequestId::parse(raw)?)
}

/// Submit a request for access.
#[utoipa::path(post, path = "/v1/requests", request_body = NewRequest,
    responses((status = 201, body = RequestView), (status = 400, body = writ_api::ErrorBody), (status = 422, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(State(app): State<App>, Caller(me): Caller, Body(body): Body<NewRequest>) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let d = draft(&me.id, body)?;
    let req = app.writ.submit(&me, d).await?;
    Ok((StatusCode::CREATED, Json(views::request(&req, app.writ.clock().now()))))
}

/// The bounds of `limit` on request lists.
pub(super) const LIMIT: Limit = Limit { default: 100, max: 1000 };

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only requests in this state.
    pub state: Option<String>,
    /// Only requests where this identity is requester or subject.
    pub involving: Option<String>,
    /// At most this many requests (default 100; 1 to 1000, else 400).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged (opaque; a malformed one is a 400).
    pub cursor: Option<String>,
}

/// List requests the caller may see, newest first, a page at a time. A page
/// is short only where the list ends; when there may be more, the `Link`
/// header names the next page.
#[utoipa::path(get, path = "/v1/requests", params(ListQuery),
    responses(
        (status = 200, description = "A page of requests, newest first.", body = [RequestView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more: this request's path and query with `cursor` set. Absent on the last page."))),
        (status = 400, description = "A bad `state`, `limit` (out of range) or `cursor` (malformed); the message names it.", body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<App>,
    Caller(me): Caller,
    OwnOnly(own_only): OwnOnly,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<RequestView>, ApiError> {
    let Query(q) = q?;
    let limit = LIMIT.of(q.limit)?;
    let after = paging::cursor::<RequestId>(q.cursor.as_deref())?;
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            RequestState::parse(s)
                .ok_or_else(|| ApiError::bad_input(format!("unknown state `{s}`: use one of pending, approved, active, denied, cancelled, lapsed")))?,
        ),
    };
    let mut involving = q.involving.as_deref().filter(|s| !s.is_empty()).map(IdentityId::parse).transpose()?;
    if own_only {
        involving = Some(own(&me, involving, "requests")?);
    }
    let page = app.writ.list_requests(&me, RequestFilter { state, involving, after, limit, ..Default::default() }).await?;
    let now = app.writ.clock().now();
    let views = page.iter().map(|r| views::request(r, now)).collect();
    Listed::new(views, page.next.map(|c| c.to_string()), &uri, &[])
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// At most this many requests (default 100; 1 to 1000, else 400).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged (opaque; a malformed one is a 400).
    pub cursor: Option<String>,
}

/// Pending requests the caller can review now, newest first, a page at a
/// time. Every pending request is considered: a page is short only where
/// the queue ends.
#[utoipa::path(get, path = "/v1/requests/queue", params(QueueQuery),
    responses(
        (status = 200, description = "A page of the review queue, newest first.", body = [RequestView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more: this request's path and query with `cursor` set. Absent on the last page."))),
        (status = 400, description = "A bad `limit` (out of range) or `cursor` (malformed); the message names it.", body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn queue(
    State(app): State<App>,
    Caller(me): Caller,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<RequestView>, ApiError> {
    let Query(q) = q?;
    let limit = LIMIT.of(q.limit)?;
    let after = paging::cursor::<RequestId>(q.cursor.as_deref())?;
    let page = app.writ.review_queue(&me, limit, after).await?;
    let now = app.writ.clock().now();
    let views = page.iter().map(|r| views::request(r, now)).collect();
    Listed::new(views, page.next.map(|c| c.to_string()), &uri, &[])
}

/// The whole evidence chain of one request.
#[utoipa::path(get, path = "/v1/requests/{id}", params(("id" = String, Path)), responses((status = 200, body = EvidenceView), (status = 404, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn show(State(app): State<App>, Caller(me): Caller, OwnOnly(own_only): OwnOnly, Path(id): Path<String>) -> Result<Json<EvidenceView>, ApiError> {
    let ev = app.writ.evidence(&me, request_id(&id)?).await?;
    if own_only && ev.request.requester() != &me.id && ev.request.subject() != &me.id {
        // As for a request policy hides: this token sees its identity's own only.
        return Err(writ_app::AppError::NotFound { what: "request", id }.into());
    }
    Ok(Json(views::evidence(&ev, app.writ.clock().now(), |g| app.writ.is_overdue(g))))
}

async fn review(app: App, me: writ_core::identity::Identity, id: &str, verdict: Verdict, reason: String) -> Result<Json<RequestView>, ApiError> {
    let req = app.writ.review(&me, request_id(id)?, verdict, reason).await?;
    Ok(Json(views::request(&req, app.writ.clock().now())))
}

/// Approve a request at its current stage(s).
#[utoipa::path(post, path = "/v1/requests/{id}/approve", params(("id" = String, Path)), request_body = ReasonBody, responses((status = 200, body = RequestView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn approve(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(body): Body<ReasonBody>) -> Result<Json<RequestView>, ApiError> {
    review(app, me, &id, Verdict::Approve, body.reason).await
}

/// Deny a request; final.
#[utoipa::path(post, path = "/v1/requests/{id}/deny", params(("id" = String, Path)), request_body = DenyBody, responses((status = 200, body = RequestView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn deny(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(body): Body<DenyBody>) -> Result<Json<RequestView>, ApiError> {
    review(app, me, &id, Verdict::Deny, body.reason).await
}

/// Withdraw one's own request before access is in place.
#[utoipa::path(post, path = "/v1/requests/{id}/cancel", params(("id" = String, Path)), request_body = ReasonBody, responses((status = 200, body = RequestView), (status = 409, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn cancel(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(body): Body<ReasonBody>) -> Result<Json<RequestView>, ApiError> {
    let req = app.writ.cancel(&me, request_id(&id)?, body.reason).await?;
    Ok(Json(views::request(&req, app.writ.clock().now())))
}

/// The identity a list limited to the caller's own (a `request`-scoped token)
/// reads for: the caller, whatever `asked` (another is a 403).
pub(super) fn own(me: &writ_core::identity::Identity, asked: Option<IdentityId>, what: &str) -> Result<IdentityId, ApiError> {
    match asked {
        Some(other) if other != me.id => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token's scope `request` shows only `{}`'s own {what}, not `{other}`'s: use a token without a scope", me.id),
        )),
        _ => Ok(me.id.clone()),
    }
}
