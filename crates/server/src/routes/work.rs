//! Fulfilment tasks and grants.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use writ_api::{CloseRemoval, CompleteTask, ExtendGrant, GrantView, RequestView, RevokeGrant, TaskView};
use writ_app::ports::GrantFilter;
use writ_core::ids::{IdentityId, TaskId};

use super::Body;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// Only open tasks (default true).
    pub open: Option<bool>,
}

/// Fulfilment tasks for the caller's fulfiller groups.
#[utoipa::path(get, path = "/v1/tasks", params(TaskQuery), responses((status = 200, body = [TaskView])), security(("bearer" = [])))]
pub async fn tasks(
    State(app): State<App>,
    Caller(me): Caller,
    q: Result<Query<TaskQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    let Query(q) = q?;
    let list = app.writ.list_tasks(&me, q.open.unwrap_or(true)).await?;
    Ok(Json(list.iter().map(views::task).collect()))
}

/// Record that a manual task was carried out, with evidence.
#[utoipa::path(post, path = "/v1/tasks/{id}/complete", params(("id" = String, Path)), request_body = CompleteTask, responses((status = 200, body = TaskView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn complete(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(body): Body<CompleteTask>) -> Result<Json<TaskView>, ApiError> {
    let id = TaskId::parse(&id).map_err(|e| ApiError::bad_input(e.to_string()))?;
    let task = app.writ.complete_task(&me, id, &body.evidence).await?;
    Ok(Json(views::task(&task)))
}

/// End a grant early, with a reason (policy decides: `revoke`). The grant is
/// *revoking* until the removal from the target is proved, then *revoked*.
#[utoipa::path(post, path = "/v1/grants/{id}/revoke", params(("id" = String, Path)), request_body = RevokeGrant, responses((status = 200, body = GrantView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn revoke(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(body): Body<RevokeGrant>) -> Result<Json<GrantView>, ApiError> {
    let id = writ_core::ids::GrantId::parse(&id).map_err(|e| ApiError::bad_input(e.to_string()))?;
    let g = app.writ.revoke_grant(&me, id, &body.reason).await?;
    Ok(Json(views::grant(&g, app.writ.is_overdue(&g))))
}

/// Close by hand an overdue removal (the target keeps failing), with evidence
/// that the access is gone. Not by the holder; otherwise as policy `revoke` allows.
#[utoipa::path(post, path = "/v1/grants/{id}/close", params(("id" = String, Path)), request_body = CloseRemoval, responses((status = 200, body = GrantView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn close(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(body): Body<CloseRemoval>) -> Result<Json<GrantView>, ApiError> {
    let id = writ_core::ids::GrantId::parse(&id).map_err(|e| ApiError::bad_input(e.to_string()))?;
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
    let id = writ_core::ids::GrantId::parse(&id).map_err(|e| ApiError::bad_input(e.to_string()))?;
    let duration = writ_core::duration::AccessDuration::parse(&body.duration)?;
    let req = app.writ.request_extension(&me, id, duration, body.justification, body.ticket).await?;
    Ok((StatusCode::CREATED, Json(views::request(&req, app.writ.clock().now()))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GrantQuery {
    /// Whose grants (default: the caller's; others need policy's `read_audit`).
    pub subject: Option<String>,
    /// Only grants in force (default true).
    pub active: Option<bool>,
    /// Only grants whose access is still not proved removed after the
    /// configured window.
    pub overdue: Option<bool>,
    pub limit: Option<u32>,
}

/// Grants: access that approved requests produced.
#[utoipa::path(get, path = "/v1/grants", params(GrantQuery), responses((status = 200, body = [GrantView])), security(("bearer" = [])))]
pub async fn grants(
    State(app): State<App>,
    Caller(me): Caller,
    q: Result<Query<GrantQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    let Query(q) = q?;
    let subject = q.subject.as_deref().filter(|s| !s.is_empty()).map(IdentityId::parse).transpose()?;
    let overdue_only = q.overdue.unwrap_or(false);
    let filter = GrantFilter { subject, request: None, active_only: q.active.unwrap_or(true), revoking_only: overdue_only, limit: q.limit.unwrap_or(500) };
    let list = app.writ.list_grants(&me, filter).await?;
    let views = list.iter().map(|g| (g, app.writ.is_overdue(g))).filter(|(_, overdue)| *overdue || !overdue_only);
    Ok(Json(views.map(|(g, overdue)| views::grant(g, overdue)).collect()))
}
