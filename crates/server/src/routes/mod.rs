//! The HTTP routes. Each handler authenticates (the `Caller` extractor), parses,
//! calls one use-case and renders.

pub mod audit;
pub mod break_glass;
pub mod meta;
pub mod oidc;
pub mod owner_left;
pub mod paging;
pub mod reconcile;
pub mod requests;
pub mod tickets;
pub mod tokens;
pub mod work;

use axum::extract::FromRequest;
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::serve::App;

/// JSON body extractor whose rejections are `ApiError`s that say what was wrong.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

pub fn router() -> Router<App> {
    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(meta::metrics))
        .route("/openapi.json", get(meta::openapi))
        .route("/v1/whoami", get(meta::whoami))
        .route("/v1/catalog", get(meta::catalog))
        .route("/v1/catalog/targets", get(meta::targets))
        .route("/v1/catalog/request-types", get(meta::request_types))
        .route("/v1/identities", get(meta::identities))
        .route("/v1/identities/owner-left", get(owner_left::list))
        .route("/v1/identities/apply", post(meta::apply_identities))
        .route("/v1/identities/{id}/status", post(meta::set_identity_status))
        .route("/v1/tickets", post(tickets::create).get(tickets::list))
        .route("/v1/tickets/{id}", get(tickets::show))
        .route("/v1/tickets/{id}/triage", post(tickets::triage))
        .route("/v1/tickets/{id}/details", post(tickets::complete))
        .route("/v1/tickets/{id}/proof", post(tickets::proof))
        .route("/v1/tickets/{id}/resolve", post(tickets::resolve))
        .route("/v1/tickets/{id}/reroute", post(tickets::reroute))
        .route("/v1/requests", post(requests::create).get(requests::list))
        .route("/v1/requests/queue", get(requests::queue))
        .route("/v1/requests/{id}", get(requests::show))
        .route("/v1/requests/{id}/approve", post(requests::approve))
        .route("/v1/requests/{id}/deny", post(requests::deny))
        .route("/v1/requests/{id}/cancel", post(requests::cancel))
        .route("/v1/tasks", get(work::tasks))
        .route("/v1/tasks/{id}/complete", post(work::complete))
        .route("/v1/grants", get(work::grants))
        .route("/v1/grants/{id}/revoke", post(work::revoke))
        .route("/v1/grants/{id}/close", post(work::close))
        .route("/v1/grants/{id}/extend", post(work::extend))
        .route("/v1/break-glass", post(break_glass::create).get(break_glass::list))
        .route("/v1/break-glass/{id}/review", post(break_glass::review))
        .route("/v1/break-glass/{id}/resolve", post(break_glass::resolve))
        .route("/v1/reconcile", post(reconcile::start))
        .route("/v1/reconcile/runs", get(reconcile::runs))
        .route("/v1/reconcile/runs/{id}", get(reconcile::show))
        .route("/v1/audit/events", get(audit::events))
        .route("/v1/audit/checkpoints", get(audit::checkpoints).post(audit::sign))
        .route("/v1/tokens", post(tokens::create).get(tokens::list))
        .route("/v1/tokens/{id}/revoke", post(tokens::revoke))
        .route("/v1/auth/oidc", get(oidc::info))
        .route("/v1/auth/oidc/token", post(oidc::exchange))
}
