//! Reconciliation: start runs (policy's `reconcile`), follow them and read
//! their reports (`read_audit`: a report shows who holds what, everywhere).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use uuid::Uuid;
use writ_api::{RunReport, RunStarted, RunView, StartReconcile};
use writ_app::ports::RunFilter;
use writ_core::ids::{RunId, TargetId};
use writ_policy::AdminAction;

use super::Body;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

/// Start a run of one target, or of every target Writ can read. Runs go on
/// in the background; follow them with `GET /v1/reconcile/runs/{id}`.
#[utoipa::path(post, path = "/v1/reconcile", request_body = StartReconcile,
    responses((status = 202, body = [RunStarted]), (status = 403, body = writ_api::ErrorBody), (status = 404, body = writ_api::ErrorBody)), security(("bearer" = [])))]
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
    let mut started = Vec::new();
    for target in targets {
        let id = RunId::from_uuid(Uuid::new_v4());
        started.push(RunStarted { run: id.to_string(), target: target.to_string() });
        let (writ, by) = (app.writ.clone(), me.id.to_string());
        tokio::spawn(async move {
            if let Err(e) = writ.reconcile_tracked(id, &target, &by).await {
                tracing::error!(run = %id, %target, error = %e, "reconciliation run failed");
            }
        });
    }
    Ok((StatusCode::ACCEPTED, Json(started)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// Only runs of this target.
    pub target: Option<String>,
    pub limit: Option<u32>,
}

/// Finished runs, newest first.
#[utoipa::path(get, path = "/v1/reconcile/runs", params(RunsQuery), responses((status = 200, body = [RunView])), security(("bearer" = [])))]
pub async fn runs(
    State(app): State<App>,
    Caller(me): Caller,
    q: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<RunView>>, ApiError> {
    app.writ.authorize(&me, AdminAction::ReadAudit, "read reconciliation runs")?;
    let Query(q) = q?;
    let target = q.target.as_deref().filter(|t| !t.is_empty()).map(TargetId::parse).transpose()?;
    let list = app.writ.store().runs(&RunFilter { target, limit: q.limit.unwrap_or(50).clamp(1, 1000) }).await.map_err(writ_app::AppError::from)?;
    Ok(Json(list.iter().map(views::run).collect()))
}

/// One run and its exceptions; a run still under way on this node shows how
/// many rows it has read.
#[utoipa::path(get, path = "/v1/reconcile/runs/{id}", params(("id" = String, Path)), responses((status = 200, body = RunReport), (status = 404, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn show(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>) -> Result<Json<RunReport>, ApiError> {
    app.writ.authorize(&me, AdminAction::ReadAudit, "read reconciliation runs")?;
    let id = RunId::parse(&id).map_err(|e| ApiError::bad_input(e.to_string()))?;
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
