//! Health, metrics, the OpenAPI document, the caller, the catalog and identities.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use writ_api::{ApplyIdentities, CatalogEntitlement, Health, IdentityDiffView, IdentityRecord, IdentityView, RequestTypeView, SetStatus, TargetView, WhoAmI};
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::{GroupId, IdentityId};
use writ_policy::AdminAction;

use super::paging::Listed;
use super::Body;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

/// Liveness and readiness: 200 when the database answers, 503 otherwise.
/// Unauthenticated, so that orchestrators can probe it; it reveals only counts.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn healthz(State(app): State<App>) -> Response {
    match app.writ.store().audit_head().await {
        Ok((n, _)) => Json(Health { status: "ok".into(), database: "ok".into(), audit_events: n }).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "unavailable".into(), database: "unreachable".into(), audit_events: 0 })).into_response()
        }
    }
}

/// Prometheus metrics, for whoever policy lets `read_audit` (give a scraper
/// an identity of its own in the auditors' group).
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain"), (status = 401, body = writ_api::ErrorBody), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn metrics(State(app): State<App>, Caller(me): Caller) -> Result<Response, ApiError> {
    // The figures say what is overdue and where: oversight's to read.
    app.writ.authorize(&me, AdminAction::ReadAudit, "read the metrics")?;
    let counts = app.writ.store().request_counts().await.map_err(writ_app::AppError::from)?;
    let (revoking, overdue) = app.writ.removal_counts().await?;
    let break_glass = app.writ.break_glass_exceptions().await?;
    let mut text = app.metrics.render(&counts);
    let owner_left = app.writ.owner_left_counts().await?;
    text.push_str(&crate::metrics::render_exceptions(revoking, overdue, break_glass, owner_left));
    let rerouted = app.writ.store().event_count(writ_app::events::REQUEST_REROUTED).await.map_err(writ_app::AppError::from)?;
    text.push_str(&crate::metrics::render_intake(rerouted, app.writ.triage_counts().await?));
    let store = app.writ.store();
    let reminded = store.event_count(writ_app::events::REQUEST_STAGE_REMINDED).await.map_err(writ_app::AppError::from)?;
    let escalated = store.event_count(writ_app::events::REQUEST_STAGE_ESCALATED).await.map_err(writ_app::AppError::from)?;
    text.push_str(&crate::metrics::render_approval_sla(app.writ.pending_past_sla().await?, reminded, escalated));
    let mut latest = Vec::new();
    for target in app.writ.reconcilable_targets() {
        latest.extend(app.writ.last_finished_run(&target).await?);
    }
    text.push_str(&crate::metrics::render_reconciliation(&latest));
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// This API's OpenAPI document. Public: it describes the API, it holds no data.
pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/v1/whoami", responses((status = 200, body = WhoAmI)), security(("bearer" = [])))]
pub async fn whoami(State(app): State<App>, Caller(me): Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        id: me.id.to_string(),
        kind: me.kind.as_str().into(),
        status: me.status.as_str().into(),
        groups: me.groups.iter().map(ToString::to_string).collect(),
        // "May read the audit log", as policy decides (`read_audit`).
        oversight: app.writ.admin_decision(&me, AdminAction::ReadAudit).allowed,
    })
}

/// What the caller can ask for: the entitlements the `request` policy
/// allows it for itself (what policy refuses it whatever the ask is left out).
#[utoipa::path(get, path = "/v1/catalog", responses((status = 200, body = [CatalogEntitlement])), security(("bearer" = [])))]
pub async fn catalog(State(app): State<App>, Caller(me): Caller) -> Json<Vec<CatalogEntitlement>> {
    Json(app.writ.requestable(&me).into_iter().map(views::entitlement).collect())
}

/// The catalog's request types, each with its mandatory fields and its path.
#[utoipa::path(get, path = "/v1/catalog/request-types", responses((status = 200, body = [RequestTypeView]), (status = 401, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn request_types(State(app): State<App>, Caller(_me): Caller) -> Json<Vec<RequestTypeView>> {
    Json(
        app.writ
            .catalog()
            .request_types()
            .map(|t| RequestTypeView {
                id: t.id.to_string(),
                description: t.description.clone(),
                route: t.route.as_str().to_owned(),
                mandatory: t.mandatory.iter().map(|f| f.as_str().to_owned()).collect(),
            })
            .collect(),
    )
}

/// The catalog's targets and their connectors. Endpoints are infrastructure
/// detail: shown only to callers policy lets read the audit log.
#[utoipa::path(get, path = "/v1/catalog/targets", responses((status = 200, body = [TargetView])), security(("bearer" = [])))]
pub async fn targets(State(app): State<App>, Caller(me): Caller) -> Json<Vec<TargetView>> {
    let oversight = app.writ.admin_decision(&me, AdminAction::ReadAudit).allowed;
    let views = app
        .writ
        .catalog()
        .targets()
        .map(|t| {
            let info = app.writ.connector_info(&t.id);
            TargetView {
                id: t.id.to_string(),
                description: t.description.clone(),
                owners: t.owners.iter().map(ToString::to_string).collect(),
                kind: info.as_ref().map_or("none", |i| i.kind).to_owned(),
                endpoint: info.as_ref().filter(|_| oversight).map(|i| i.endpoint.clone()),
                reads_live_state: info.as_ref().is_some_and(|i| i.reads_live_state),
                manages_accounts: info.as_ref().is_some_and(|i| i.manages_accounts),
                enforces_expiry: info.as_ref().is_some_and(|i| i.enforces_expiry),
            }
        })
        .collect();
    Json(views)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IdentityQuery {
    /// At most this many identities (default 100; 1 to 1000, else 400).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged (opaque; a malformed one is a 400).
    pub cursor: Option<String>,
}

/// The identities, by id, a page at a time (policy decides: `read_audit`).
#[utoipa::path(get, path = "/v1/identities", params(IdentityQuery),
    responses(
        (status = 200, description = "A page of identities, by id.", body = [IdentityView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more: this request's path and query with `cursor` set. Absent on the last page."))),
        (status = 400, description = "A bad `limit` (out of range) or `cursor` (malformed); the message names it.", body = writ_api::ErrorBody),
        (status = 403, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn identities(
    State(app): State<App>,
    Caller(me): Caller,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<IdentityQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<IdentityView>, ApiError> {
    let Query(q) = q?;
    let limit = IDENTITY_LIMIT.of(q.limit)?;
    let after = super::paging::cursor::<IdentityId>(q.cursor.as_deref())?;
    let page = app.writ.list_identities(&me, after, limit).await?;
    let now = app.writ.clock().now();
    Listed::new(page.iter().map(|(i, v)| views::identity(i, *v, now)).collect(), page.next.map(|c| c.to_string()), &uri, &[])
}

const IDENTITY_LIMIT: super::paging::Limit = super::paging::Limit { default: 100, max: 1000 };

/// Enable or disable an identity (policy decides: `manage_identities`). A disabled identity can
/// neither request, review nor fulfil, from the next call on.
#[utoipa::path(post, path = "/v1/identities/{id}/status", params(("id" = String, Path)), request_body = SetStatus, responses((status = 200, body = IdentityView), (status = 403, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn set_identity_status(
    State(app): State<App>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Body(body): Body<SetStatus>,
) -> Result<Json<IdentityView>, ApiError> {
    let id = IdentityId::parse(&id)?;
    let status = parse_status(&body.status)?;
    let (identity, version) = app.writ.set_identity_status(&me, &id, status, body.version).await?;
    Ok(Json(views::identity(&identity, version, app.writ.clock().now())))
}

/// Make the registry what a file declares (policy decides: `manage_identities`):
/// the identities listed are created or updated, active ones left out are
/// disabled (with everything disabling withdraws). Answers what changed, or
/// with `dry_run` what would. The caller may not disable itself (422).
#[utoipa::path(post, path = "/v1/identities/apply", request_body = ApplyIdentities, responses((status = 200, body = IdentityDiffView), (status = 403, body = writ_api::ErrorBody), (status = 422, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn apply_identities(State(app): State<App>, Caller(me): Caller, Body(body): Body<ApplyIdentities>) -> Result<Json<IdentityDiffView>, ApiError> {
    let desired = body.identities.into_iter().enumerate().map(|(n, r)| parse_record(r).map_err(|e| at_record(n, e))).collect::<Result<Vec<_>, _>>()?;
    let diff = app.writ.apply_identities(Some(&me), desired, body.dry_run).await?;
    Ok(Json(views::identity_diff(&diff, body.dry_run)))
}

fn parse_status(word: &str) -> Result<IdentityStatus, ApiError> {
    match word {
        "active" => Ok(IdentityStatus::Active),
        "disabled" => Ok(IdentityStatus::Disabled),
        other => Err(ApiError::bad_input(format!("unknown status `{other}`: use `active` or `disabled`"))),
    }
}

fn parse_record(r: IdentityRecord) -> Result<Identity, ApiError> {
    let kind = match r.kind.as_str() {
        "person" => IdentityKind::Person,
        "service_account" => IdentityKind::ServiceAccount,
        "api_key" => IdentityKind::ApiKey,
        "ai_agent" => IdentityKind::AiAgent,
        other => return Err(ApiError::bad_input(format!("unknown kind `{other}`: use `person`, `service_account`, `api_key` or `ai_agent`"))),
    };
    let id = |s: &str| IdentityId::parse(s).map_err(ApiError::malformed);
    Ok(Identity {
        id: id(&r.id)?,
        kind,
        status: parse_status(&r.status)?,
        display_name: r.display_name,
        owner: r.owner.as_deref().map(id).transpose()?,
        manager: r.manager.as_deref().map(id).transpose()?,
        groups: r.groups.iter().map(|g| GroupId::parse(g).map_err(ApiError::malformed)).collect::<Result<_, _>>()?,
        attributes: r.attributes,
        owner_left: None,
    })
}

/// `e`, said of the `n`th identity of the body.
fn at_record(n: usize, e: ApiError) -> ApiError {
    ApiError { message: format!("`identities[{n}]`: {}", e.message), ..e }
}
