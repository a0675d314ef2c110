//! The audit log, for whoever policy allows `read_audit`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use writ_api::{AuditEventView, CheckpointView};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Return events with `seq` greater than this (default 0).
    pub after: Option<u64>,
    /// At most this many (default 1000, at most 10000).
    pub limit: Option<u32>,
}

/// A page of the audit log, in `seq` order.
#[utoipa::path(get, path = "/v1/audit/events", params(EventsQuery), responses((status = 200, body = [AuditEventView]), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn events(
    State(app): State<App>,
    Caller(me): Caller,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEventView>>, ApiError> {
    let Query(q) = q?;
    let page = app.writ.audit_page(&me, q.after.unwrap_or(0), q.limit.unwrap_or(1000)).await?;
    Ok(Json(page.iter().map(views::event).collect()))
}

/// Every signed checkpoint.
#[utoipa::path(get, path = "/v1/audit/checkpoints", responses((status = 200, body = [CheckpointView])), security(("bearer" = [])))]
pub async fn checkpoints(State(app): State<App>, Caller(me): Caller) -> Result<Json<Vec<CheckpointView>>, ApiError> {
    Ok(Json(app.writ.audit_checkpoints(&me).await?.iter().map(views::checkpoint).collect()))
}

/// Sign a checkpoint of the log's current head now (204 if nothing is new).
#[utoipa::path(post, path = "/v1/audit/checkpoints", responses((status = 200, body = CheckpointView), (status = 204)), security(("bearer" = [])))]
pub async fn sign(State(app): State<App>, Caller(me): Caller) -> Result<Response, ApiError> {
    app.writ.audit_checkpoints(&me).await?; // the same authority as reading the log
    Ok(match app.sign_checkpoint().await? {
        Some(cp) => Json(views::checkpoint(&cp)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}
