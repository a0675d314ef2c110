//! The audit log, for whoever policy allows `read_audit`.

use axum::extract::{OriginalUri, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use writ_api::{AuditEventView, CheckpointView};

use super::paging::{Limit, Listed};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Return events with `seq` greater than this (default 0); with `cursor`, after both.
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// At most this many events (default 1000; 1 to 10000, else 400).
    #[param(minimum = 1, maximum = 10000, default = 1000)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged (opaque; a malformed one is a 400).
    pub cursor: Option<String>,
}

/// The bounds of `limit` on the audit log.
const LIMIT: Limit = Limit { default: 1000, max: 10_000 };

/// A page of the audit log, in `seq` order.
#[utoipa::path(get, path = "/v1/audit/events", params(EventsQuery),
    responses(
        (status = 200, description = "A page of events, in `seq` order.", body = [AuditEventView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more: this request's path and query with `cursor` set (and `after` dropped). Absent on the last page."))),
        (status = 400, description = "A bad `limit` (out of range) or `cursor` (malformed); the message names it.", body = writ_api::ErrorBody),
        (status = 403, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn events(
    State(app): State<App>,
    Caller(me): Caller,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<AuditEventView>, ApiError> {
    let Query(q) = q?;
    let limit = LIMIT.of(q.limit)?;
    // The log's cursor is the `seq` of the last event read. `after` and
    // `cursor` are both lower bounds: given both, events come after both.
    let cursor: u64 = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c.parse().map_err(|_| {
            ApiError::bad_input(format!("`cursor`: `{c}` is not a cursor of the audit log: pass the `cursor` of its `Link: rel=\"next\"` header unchanged"))
        })?,
    };
    let after = match q.after {
        None => 0,
        Some(a) => u64::try_from(a).map_err(|_| ApiError::bad_input(format!("`after` must be 0 or more (got {a})")))?,
    };
    let after = after.max(cursor);
    let page = app.writ.audit_page(&me, after, limit).await?;
    Listed::new(page.iter().map(views::event).collect(), page.next.map(|seq| seq.to_string()), &uri, &["after"])
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
