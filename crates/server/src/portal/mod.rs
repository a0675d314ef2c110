//! The web portal at `/portal`: server-rendered HTML (askama templates in
//! `crates/server/templates/portal/`) over the same use-cases, authorisation
//! and evidence chain as the API. Forms work without JavaScript.
//!
//! Sign-in is the organisation's OpenID provider, by the authorization code
//! flow with PKCE (`signin.rs`). A portal session *is* a Writ token: issued
//! at sign-in like `writ login`'s (so it is listed, revoked, expires with
//! `session_lifetime` and dies with its identity), kept in an HttpOnly,
//! SameSite=Lax cookie scoped to `/portal`, and checked on every page like
//! an API call's bearer token (`session.rs`). Every form carries a CSRF
//! token derived from the session secret, which a page of another origin can
//! neither read nor compute. Every answer forbids framing, inline script
//! and cross-origin form targets (`security_headers`). One small script of
//! this origin (`assets/portal.js`) validates fields as they are typed.

mod oversight;
mod pages;
mod session;
mod signin;
mod tickets;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::serve::App;

pub use session::{csrf_token, SESSION_COOKIE};

/// The portal's routes, with its security headers on every answer.
pub fn router() -> Router<App> {
    Router::new()
        .route("/portal", get(pages::home))
        .route("/portal/login", get(signin::login))
        .route("/portal/callback", get(signin::callback))
        .route("/portal/logout", post(signin::logout))
        .route("/portal/catalog", get(pages::catalog))
        .route("/portal/requests", get(pages::requests).post(pages::create_request))
        .route("/portal/requests/new", get(pages::new_request))
        .route("/portal/requests/{id}", get(pages::request))
        .route("/portal/requests/{id}/review", post(pages::review))
        .route("/portal/inbox", get(pages::inbox).post(pages::bulk_review))
        .route("/portal/access", get(pages::access))
        .route("/portal/tasks", get(pages::tasks))
        .route("/portal/tickets", get(tickets::tickets))
        .route("/portal/tickets/{id}/{action}", post(tickets::act))
        .route("/portal/dashboard", get(oversight::dashboard))
        .route("/portal/removals", get(oversight::removals))
        .route("/portal/owner-left", get(oversight::owner_left))
        .route("/portal/reconcile", get(oversight::runs))
        .route("/portal/reconcile/{id}", get(oversight::run))
        .route("/portal/break-glass", get(pages::break_glass).post(pages::use_break_glass))
        .route("/portal/break-glass/{id}/review", post(pages::review_use))
        .route("/portal/tasks/{id}/complete", post(pages::complete_task))
        .route("/portal/grants/{id}/give-up", post(pages::give_up))
        .route("/portal/grants/{id}/extend", post(pages::extend))
        .route("/portal/assets/portal.css", get(stylesheet))
        .route("/portal/assets/portal.js", get(script))
        .layer(middleware::from_fn(security_headers))
}

/// The content security policy: nothing but this origin's own files; no
/// inline script or style, no framing, forms post only here.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Pages show who may do what now: never from a cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../assets/portal.css"))
}

/// Validation as you type: an enhancement, the forms work without it.
async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../assets/portal.js"))
}
