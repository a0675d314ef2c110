//! Reconciliation: start runs (policy's `reconcile`), follow them and read
//! their reports (`read_audit`: a report shows who holds what, everywhere).

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use uuid::Uuid;
use writ_api::{RunReport, RunStarted, RunView, StartReconcile};
use writ_app::ports::RunFilter;
use writ_app::reconcile::ReconcileClaims;
use writ_core::ids::{RunId, TargetId};
use writ_policy::AdminAction;

use super::paging::{self, Limit, Listed};
use super::Body;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

/// Start a run of one target, or of every target Writ can read. Runs go on
/// in the background; follow them with `GET /v1/reconcile/runs/{id}`. One
/// run of a target at a time, across nodes: a target whose run (scheduled
/// or asked for) is under way is refused with 409, and then nothing starts.
#[utoipa::path(post, path = "/v1/reconcile", request_body = StartReconcile,
    responses((status = 202, body = [RunStarted]), (status = 403, body = writ_api::ErrorBody), (status = 404, body = writ_api::ErrorBody),
        (status = 409, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn start(State(app): State<App>, Caller(me): Caller, Body(body): Body<StartReconcile>) -> Result<(StatusCode, Json<Vec<RunStarted>>), ApiError> {
    app.writ.authorize(&me, AdminAction::Reconcile, "run reconciliation")?;
    let all = app.writ.reconcilable_targets();
    let targets = match body.target.as_deref() {
        None | Some("") => all,
        Some(t) => {
            let t = TargetId::parse(t)?;
            if !all.contains(&t) {
                let names: Vec<String> = all.iter().map(|t| format!("`{t}`")).collect();
                let known = if names.is_empty() { "none is configured".to_owned() } else { format!("these are: {}", names.join(", ")) };
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("`{t}` is not a target Writ can read (a catalog target with a connector in writ.toml); {known}"),
                ));
            }
            vec![t]
        }
    };
    let claims = match app.writ.claim_reconciliation(&targets).await? {
        ReconcileClaims::Taken(claims) => claims,
        ReconcileClaims::Busy(busy) => {
            let why: Vec<String> = busy.iter().map(ToString::to_string).collect();
            return Err(ApiError::new(StatusCode::CONFLICT, "conflict", why.join("; ")));
        }
    };
    let mut started = Vec::new();
    for claim in claims {
        let id = RunId::from_uuid(Uuid::new_v4());
        let target = claim.target().clone();
        started.push(RunStarted { run: id.to_string(), target: target.to_string() });
        let (writ, by) = (app.writ.clone(), me.id.to_string());
        tokio::spawn(async move {
            if let Err(e) = writ.reconcile_claimed(claim, id, &by).await {
                tracing::error!(run = %id, %target, error = %e, "reconciliation run failed");
            }
        });
    }
    Ok((StatusCode::ACCEPTED, Json(started)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// Only runs of this target.
    pub target: Option<String>,
    /// At most this many runs (default 50; 1 to 1000, else 400).
    #[param(minimum = 1, maximum = 1000, default = 50)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged (opaque; a malformed one is a 400).
    pub cursor: Option<String>,
}

/// The bounds of `limit` on run lists.
const RUN_LIMIT: Limit = Limit { default: 50, max: 1000 };

/// Finished runs, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/reconcile/runs", params(RunsQuery),
    responses(
        (status = 200, description = "A page of runs, newest first.", body = [RunView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more: this request's path and query with `cursor` set. Absent on the last page."))),
        (status = 400, description = "A bad `limit` (out of range) or `cursor` (malformed); the message names it.", body = writ_api::ErrorBody),
        (status = 403, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn runs(
    State(app): State<App>,
    Caller(me): Caller,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<RunView>, ApiError> {
    app.writ.authorize(&me, AdminAction::ReadAudit, "read reconciliation runs")?;
    let Query(q) = q?;
    let limit = RUN_LIMIT.of(q.limit)?;
    let after = paging::cursor::<RunId>(q.cursor.as_deref())?;
    let target = q.target.as_deref().filter(|t| !t.is_empty()).map(TargetId::parse).transpose()?;
    let page = app.writ.list_runs(&me, RunFilter { target, after, limit }).await?;
    Listed::new(page.iter().map(views::run).collect(), page.next.map(|c| c.to_string()), &uri, &[])
}

/// One run and its exceptions; a run still under way on this node shows how
/// many rows it has read.
#[utoipa::path(get, path = "/v1/reconcile/runs/{id}", params(("id" = String, Path)), responses((status = 200, body = RunReport), (status = 404, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn show(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>) -> Result<Json<RunReport>, ApiError> {
    app.writ.authorize(&me, AdminAction::ReadAudit, "read reconciliation runs")?;
    let id = RunId::parse(&id)?;
    let store = app.writ.store();
    if let Some(run) = store.run(id).await.map_err(writ_app::AppError::from)? {
        let observations = store.run_observations(id).await.map_err(writ_app::AppError::from)?;
        return Ok(Json(RunReport { run: views::run(&run), observations: observations.iter().map(views::observation).collect() }));
    }
    match app.writ.runs_under_way().get(id) {
        Some((target, rows)) => Ok(Json(RunReport { run: views::running(id, &target, rows), observations: Vec::new() })),
        None => Err(ApiError::from(writ_app::AppError::NotFound { what: "reconciliation run", id: id.to_string() })),
    }
}
