//! Fulfilment tasks and grants.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use writ_api::{CloseRemoval, CompleteTask, ExtendGrant, GrantView, RequestView, RevokeGrant, TaskView};
use writ_app::ports::{GrantFilter, TaskFilter};
use writ_core::ids::{GrantId, IdentityId, TaskId};

use super::paging::{self, Limit, Listed};
use super::Body;
use crate::auth::{Caller, OwnOnly};
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

/// The bounds of `limit` on task lists.
const TASK_LIMIT: Limit = Limit { default: 100, max: 1000 };

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// Only open tasks (default true).
    pub open: Option<bool>,
    /// At most this many tasks (default 100; 1 to 1000, else 400).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged (opaque; a malformed one is a 400).
    pub cursor: Option<String>,
}

/// Fulfilment tasks the caller may see (their fulfiller groups' tasks),
/// oldest first, a page at a time. A page is short only where the list ends.
#[utoipa::path(get, path = "/v1/tasks", params(TaskQuery),
    responses(
        (status = 200, description = "A page of tasks, oldest first.", body = [TaskView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more: this request's path and query with `cursor` set. Absent on the last page."))),
        (status = 400, description = "A bad `limit` (out of range) or `cursor` (malformed); the message names it.", body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn tasks(
    State(app): State<App>,
    Caller(me): Caller,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<TaskQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<TaskView>, ApiError> {
    let Query(q) = q?;
    let limit = TASK_LIMIT.of(q.limit)?;
    let after = paging::cursor::<TaskId>(q.cursor.as_deref())?;
    let page = app.writ.list_tasks(&me, TaskFilter { open_only: q.open.unwrap_or(true), after, limit, ..Default::default() }).await?;
    Listed::new(page.iter().map(views::task).collect(), page.next.map(|c| c.to_string()), &uri, &[])
}

/// Record that a manual task was carried out, with evidence.
#[utoipa::path(post, path = "/v1/tasks/{id}/complete", params(("id" = String, Path)), request_body = CompleteTask, responses((status = 200, body = TaskView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn complete(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(body): Body<CompleteTask>) -> Result<Json<TaskView>, ApiError> {
    let id = TaskId::parse(&id)?;
    let task = app.writ.complete_task(&me, id, &body.evidence).await?;
    Ok(Json(views::task(&task)))
}

/// End a grant early, with a reason (policy decides: `revoke`). The grant is
/// *revoking* until the removal from the target is proved, then *revoked*.
#[utoipa::path(post, path = "/v1/grants/{id}/revoke", params(("id" = String, Path)), request_body = RevokeGrant, responses((status = 200, body = GrantView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn revoke(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(body): Body<RevokeGrant>) -> Result<Json<GrantView>, ApiError> {
    let id = writ_core::ids::GrantId::parse(&id)?;
    let g = app.writ.revoke_grant(&me, id, &body.reason).await?;
    Ok(Json(views::grant(&g, app.writ.is_overdue(&g))))
}

/// Close by hand an overdue removal (the target keeps failing), with evidence
/// that the access is gone. Not by the holder; otherwise as policy `revoke` allows.
#[utoipa::path(post, path = "/v1/grants/{id}/close", params(("id" = String, Path)), request_body = CloseRemoval, responses((status = 200, body = GrantView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn close(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(body): Body<CloseRemoval>) -> Result<Json<GrantView>, ApiError> {
    let id = writ_core::ids::GrantId::parse(&id)?;
    let g = app.writ.close_removal_by_hand(&me, id, &body.evidence).await?;
    Ok(Json(views::grant(&g, app.writ.is_overdue(&g))))
}

/// Ask to keep a grant's access longer: a new request for the same subject
/// and entitlement, through policy and approval, linked to the grant (by its
/// holder, or whoever requested it).
#[utoipa::path(post, path = "/v1/grants/{id}/extend", params(("id" = String, Path)), request_body = ExtendGrant,
    responses((status = 201, body = RequestView), (status = 403, body = writ_api::ErrorBody), (status = 422, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn extend(
    State(app): State<App>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Body(body): Body<ExtendGrant>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let id = writ_core::ids::GrantId::parse(&id)?;
    let duration = super::requests::duration(&body.duration)?;
    let req = app.writ.request_extension(&me, id, duration, body.justification, body.ticket).await?;
    Ok((StatusCode::CREATED, Json(views::request(&req, app.writ.clock().now()))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GrantQuery {
    /// Whose grants (default: the caller's; others need policy's `read_audit`).
    pub subject: Option<String>,
    /// Only grants in force (default true).
    pub active: Option<bool>,
    /// Only grants whose access is still not proved removed after the
    /// configured window.
    pub overdue: Option<bool>,
    /// At most this many grants (default 500; 1 to 1000, else 400).
    #[param(minimum = 1, maximum = 1000, default = 500)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged (opaque; a malformed one is a 400).
    pub cursor: Option<String>,
}

/// The bounds of `limit` on grant lists.
const GRANT_LIMIT: Limit = Limit { default: 500, max: 1000 };

/// Grants: access that approved requests produced, by expiry, a page at a time.
#[utoipa::path(get, path = "/v1/grants", params(GrantQuery),
    responses(
        (status = 200, description = "A page of grants, soonest expiry first.", body = [GrantView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more: this request's path and query with `cursor` set. Absent on the last page."))),
        (status = 400, description = "A bad `limit` (out of range) or `cursor` (malformed); the message names it.", body = writ_api::ErrorBody),
        (status = 403, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn grants(
    State(app): State<App>,
    Caller(me): Caller,
    OwnOnly(own_only): OwnOnly,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<GrantQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<GrantView>, ApiError> {
    let Query(q) = q?;
    let limit = GRANT_LIMIT.of(q.limit)?;
    let after = paging::cursor::<GrantId>(q.cursor.as_deref())?;
    let mut subject = q.subject.as_deref().filter(|s| !s.is_empty()).map(IdentityId::parse).transpose()?;
    if own_only {
        subject = Some(super::requests::own(&me, subject, "grants")?);
    }
    let overdue_only = q.overdue.unwrap_or(false);
    let filter = GrantFilter {
        subject,
        active_only: q.active.unwrap_or(true),
        revoking_only: overdue_only,
        removal_started_by: overdue_only.then(|| app.writ.removal_overdue_since()),
        after,
        limit,
        ..Default::default()
    };
    let page = app.writ.list_grants(&me, filter).await?;
    let views = page.iter().map(|g| views::grant(g, app.writ.is_overdue(g))).collect();
    Listed::new(views, page.next.map(|c| c.to_string()), &uri, &[])
}
