//! Tickets taken in from service desks, chat or free text, and the work on
//! them: triage, the requester's details, and the help-desk path (proof,
//! resolve, re-route), which never grants access.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use writ_api::{NewTicket, ProofBody, ResolveBody, TicketDetailsBody, TicketTypeBody, TicketView};
use writ_app::intake::{TicketDetails, TicketTaken};
use writ_core::ids::{EntitlementId, IdentityId, RequestTypeId, TicketId};
use writ_core::ticket::{Arrival, TicketState};

use super::paging::{self, Limit, Listed};
use super::Body;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::serve::App;
use crate::views;

const LIMIT: Limit = Limit { default: 100, max: 1000 };

fn ticket_id(raw: &str) -> Result<TicketId, ApiError> {
    Ok(TicketId::parse(raw)?)
}

fn details(entitlements: &[String], duration: &str, justification: Option<String>) -> Result<TicketDetails, ApiError> {
    Ok(TicketDetails {
        entitlements: entitlements.iter().map(|e| EntitlementId::parse(e)).collect::<Result<_, _>>()?,
        duration: super::requests::duration(duration)?,
        justification,
    })
}

/// A ticket as taken in (also by the service-desk webhooks).
pub(crate) fn taken(app: &App, t: TicketTaken) -> TicketView {
    let mut v = views::ticket(&t.ticket, app.writ.catalog());
    v.already_taken = t.already;
    v.not_filed = t.not_filed;
    v
}

/// Take a ticket in (a service-desk integration, or a person): it is routed
/// by its stated type or by the classifier; a governed one that says what
/// access it wants is filed as a request at once. The same ticket delivered
/// again changes nothing (200, `already_taken`).
#[utoipa::path(post, path = "/v1/tickets", request_body = NewTicket,
    responses((status = 201, body = TicketView), (status = 200, description = "Taken in before: as it stands.", body = TicketView),
        (status = 400, body = writ_api::ErrorBody), (status = 403, description = "Not allowed `intake`, or the requester is unknown or disabled.", body = writ_api::ErrorBody),
        (status = 422, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(State(app): State<App>, Caller(me): Caller, Body(body): Body<NewTicket>) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let arrival = Arrival {
        source: body.source,
        external_ref: body.external_ref,
        requester: IdentityId::parse(&body.requester)?,
        subject: body.subject,
        body: body.body,
    };
    let declared = body.request_type.as_deref().filter(|t| !t.is_empty()).map(RequestTypeId::parse).transpose()?;
    let details = match (body.entitlements.is_empty(), body.duration.as_deref().filter(|d| !d.is_empty())) {
        (true, None) => None,
        (false, Some(d)) => Some(details(&body.entitlements, d, body.justification)?),
        // Each has its shape; together they break a rule: a 422.
        _ => return Err(writ_app::AppError::Domain(writ_core::DomainError::invalid("duration", "give both `entitlements` and `duration`, or neither")).into()),
    };
    let t = app.writ.take_ticket(&me, arrival, declared, details).await?;
    let status = if t.already { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(taken(&app, t))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TicketsQuery {
    /// Only tickets in this state (`triage` is the queue waiting for a person).
    pub state: Option<String>,
    /// At most this many tickets (default 100; 1 to 1000, else 400).
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<u32>,
    /// Where to resume: the `cursor` of the previous page's `Link: rel="next"` header, unchanged.
    pub cursor: Option<String>,
}

/// Tickets, newest first, a page at a time (intake workers and oversight).
#[utoipa::path(get, path = "/v1/tickets", params(TicketsQuery),
    responses(
        (status = 200, description = "A page of tickets, newest first.", body = [TicketView],
            headers(("Link" = String, description = "`<path?query&cursor=…>; rel=\"next\"` (RFC 8288) when there may be more."))),
        (status = 400, body = writ_api::ErrorBody), (status = 403, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<App>,
    Caller(me): Caller,
    OriginalUri(uri): OriginalUri,
    q: Result<Query<TicketsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Listed<TicketView>, ApiError> {
    let Query(q) = q?;
    let limit = LIMIT.of(q.limit)?;
    let after = paging::cursor::<TicketId>(q.cursor.as_deref())?;
    let state = q.state.filter(|s| !s.is_empty());
    if let Some(s) = state.as_deref().filter(|s| !TicketState::NAMES.contains(s)) {
        return Err(ApiError::bad_input(format!("unknown state `{s}`: use one of {}", TicketState::NAMES.join(", "))));
    }
    let page = app.writ.list_tickets(&me, state, after, limit).await?;
    let views = page.iter().map(|t| views::ticket(t, app.writ.catalog())).collect();
    Listed::new(views, page.next.map(|c| c.to_string()), &uri, &[])
}

/// One ticket (its requester, intake workers, oversight; anyone else: 404).
#[utoipa::path(get, path = "/v1/tickets/{id}", params(("id" = String, Path)),
    responses((status = 200, body = TicketView), (status = 404, body = writ_api::ErrorBody)), security(("bearer" = [])))]
pub async fn show(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>) -> Result<Json<TicketView>, ApiError> {
    let t = app.writ.ticket(&me, ticket_id(&id)?).await?;
    Ok(Json(views::ticket(&t, app.writ.catalog())))
}

/// Choose the type of a ticket in triage (recorded against the prediction).
#[utoipa::path(post, path = "/v1/tickets/{id}/triage", params(("id" = String, Path)), request_body = TicketTypeBody,
    responses((status = 200, body = TicketView), (status = 403, body = writ_api::ErrorBody), (status = 404, body = writ_api::ErrorBody), (status = 422, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn triage(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(b): Body<TicketTypeBody>) -> Result<Json<TicketView>, ApiError> {
    let t = app.writ.triage_ticket(&me, ticket_id(&id)?, &RequestTypeId::parse(&b.request_type)?).await?;
    Ok(Json(views::ticket(&t, app.writ.catalog())))
}

/// Say what access a governed ticket wants: its request is filed.
#[utoipa::path(post, path = "/v1/tickets/{id}/details", params(("id" = String, Path)), request_body = TicketDetailsBody,
    responses((status = 200, body = TicketView), (status = 403, body = writ_api::ErrorBody), (status = 404, body = writ_api::ErrorBody), (status = 422, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn complete(
    State(app): State<App>,
    Caller(me): Caller,
    Path(id): Path<String>,
    Body(b): Body<TicketDetailsBody>,
) -> Result<Json<TicketView>, ApiError> {
    let d = details(&b.entitlements, &b.duration, b.justification)?;
    let t = app.writ.complete_ticket(&me, ticket_id(&id)?, d).await?;
    if let Some(why) = t.not_filed {
        return Err(ApiError::from(writ_app::AppError::Domain(writ_core::DomainError::invalid("details", why))));
    }
    Ok(Json(taken(&app, t)))
}

/// The help desk proofs a ticket's requester (never the requester themself).
#[utoipa::path(post, path = "/v1/tickets/{id}/proof", params(("id" = String, Path)), request_body = ProofBody,
    responses((status = 200, body = TicketView), (status = 403, body = writ_api::ErrorBody), (status = 409, body = writ_api::ErrorBody), (status = 422, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn proof(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(b): Body<ProofBody>) -> Result<Json<TicketView>, ApiError> {
    let t = app.writ.proof_ticket(&me, ticket_id(&id)?, &b.method).await?;
    Ok(Json(views::ticket(&t, app.writ.catalog())))
}

/// The help desk closes a proofed ticket with what it did (nothing is granted).
#[utoipa::path(post, path = "/v1/tickets/{id}/resolve", params(("id" = String, Path)), request_body = ResolveBody,
    responses((status = 200, body = TicketView), (status = 403, body = writ_api::ErrorBody), (status = 409, body = writ_api::ErrorBody), (status = 422, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn resolve(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(b): Body<ResolveBody>) -> Result<Json<TicketView>, ApiError> {
    let t = app.writ.resolve_ticket(&me, ticket_id(&id)?, &b.resolution).await?;
    Ok(Json(views::ticket(&t, app.writ.catalog())))
}

/// Send a help-desk ticket that would change access down the governed path.
#[utoipa::path(post, path = "/v1/tickets/{id}/reroute", params(("id" = String, Path)), request_body = TicketTypeBody,
    responses((status = 200, body = TicketView), (status = 403, body = writ_api::ErrorBody), (status = 409, body = writ_api::ErrorBody), (status = 422, body = writ_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn reroute(State(app): State<App>, Caller(me): Caller, Path(id): Path<String>, Body(b): Body<TicketTypeBody>) -> Result<Json<TicketView>, ApiError> {
    let t = app.writ.reroute_ticket(&me, ticket_id(&id)?, &RequestTypeId::parse(&b.request_type)?).await?;
    Ok(Json(views::ticket(&t, app.writ.catalog())))
}
