//! Authentication: every `/v1` call carries `Authorization: Bearer <token>`; the
//! token's hash maps to a token record and an identity. The token must be
//! neither revoked nor expired, the identity active, and the token's scope (if
//! it has one) must allow what the route does ([`operation`]), before the
//! handler runs: a scope narrows what a token may do as policy narrows what
//! an identity may.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use writ_core::identity::Identity;
use writ_core::token::{Operation, TokenScope};

use crate::error::ApiError;
use crate::serve::App;

/// The authenticated caller.
pub struct Caller(pub Identity);

/// The scope of the token the caller authenticated with, put in the request's
/// extensions by [`Caller`].
#[derive(Debug, Clone, Copy)]
struct ScopeInForce(Option<TokenScope>);

/// Whether the caller's reads are limited to what involves it (a token with
/// the `request` scope): then lists show only its own requests and grants.
/// Taken after [`Caller`]; without it, limited (fail closed).
pub struct OwnOnly(pub bool);

impl FromRequestParts<App> for OwnOnly {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, ApiError> {
        Ok(OwnOnly(parts.extensions.get::<ScopeInForce>().is_none_or(|s| s.0.is_some_and(TokenScope::own_only))))
    }
}

/// What the route of `method` `path` (as the router matched it) does, for
/// scopes. `None` for a route this table does not know: a scoped token is
/// refused there (a test checks every documented route is here).
pub fn operation(method: &Method, path: &str) -> Option<Operation> {
    use Operation::*;
    let get = method == Method::GET;
    let op = match (get, path) {
        (true, "/v1/whoami" | "/v1/catalog" | "/v1/requests" | "/v1/requests/{id}" | "/v1/grants") => ReadOwn,
        (
            true,
            "/metrics" | "/v1/catalog/targets" | "/v1/identities" | "/v1/identities/owner-left" | "/v1/requests/queue" | "/v1/tasks" | "/v1/break-glass",
        ) => Read,
        (true, "/v1/reconcile/runs" | "/v1/reconcile/runs/{id}" | "/v1/audit/events" | "/v1/audit/checkpoints" | "/v1/tokens") => Read,
        (true, "/v1/catalog/request-types" | "/v1/tickets" | "/v1/tickets/{id}") => Read,
        // A requester saying what access their ticket wants files a request.
        (false, "/v1/tickets/{id}/details") => Submit,
        (false, "/v1/tickets" | "/v1/tickets/{id}/triage" | "/v1/tickets/{id}/proof" | "/v1/tickets/{id}/resolve" | "/v1/tickets/{id}/reroute") => Intake,
        (false, "/v1/requests" | "/v1/grants/{id}/extend") => Submit,
        (false, "/v1/requests/{id}/cancel") => Cancel,
        (false, "/v1/requests/{id}/approve" | "/v1/requests/{id}/deny" | "/v1/break-glass/{id}/review" | "/v1/break-glass/{id}/resolve") => Review,
        (false, "/v1/break-glass") => BreakGlass,
        (false, "/v1/tasks/{id}/complete") => Fulfil,
        (false, "/v1/grants/{id}/revoke" | "/v1/grants/{id}/close") => EndGrant,
        (false, "/v1/identities/{id}/status" | "/v1/identities/apply") => ManageIdentities,
        (false, "/v1/tokens" | "/v1/tokens/{id}/revoke") => ManageTokens,
        (false, "/v1/reconcile") => Reconcile,
        (false, "/v1/audit/checkpoints") => SignCheckpoint,
        _ => return None,
    };
    (get || method == Method::POST).then_some(op)
}

/// `Ok` when a token of `scope` may call `method` `path`, else a 403 that
/// names the scope and what the call does.
pub fn check_scope(scope: Option<TokenScope>, method: &Method, path: &str) -> Result<(), ApiError> {
    let Some(scope) = scope else { return Ok(()) };
    match operation(method, path) {
        Some(op) => scope.check(op).map_err(ApiError::from),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this token's scope `{scope}` does not cover `{method} {path}`: use a token without a scope"),
        )),
    }
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthenticated("missing `Authorization: Bearer <token>` header: set WRIT_TOKEN or --token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthenticated("the `Authorization` header must be `Bearer <token>`"))?;
        let auth = app.writ.authenticate(token).await?.map_err(|why| ApiError::unauthenticated(why.to_string()))?;
        let identity = auth.identity;
        if !identity.is_active() {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("identity `{}` is disabled", identity.id)));
        }
        let path = parts.extensions.get::<MatchedPath>().map_or_else(|| parts.uri.path().to_owned(), |m| m.as_str().to_owned());
        check_scope(auth.token.scope, &parts.method, &path)?;
        parts.extensions.insert(ScopeInForce(auth.token.scope));
        Ok(Caller(identity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_route_names_what_it_does() {
        let doc = crate::openapi::document();
        let public = ["/healthz", "/openapi.json", "/v1/auth/oidc", "/v1/auth/oidc/token"];
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                assert!(public.contains(&path.as_str()) || operation(&m, path).is_some(), "{method} {path} has no operation for scopes");
            }
        }
    }

    #[test]
    fn scopes_are_checked_against_the_route() {
        assert!(check_scope(None, &Method::POST, "/v1/reconcile").is_ok());
        assert!(check_scope(Some(TokenScope::Read), &Method::GET, "/v1/audit/events").is_ok());
        let e = check_scope(Some(TokenScope::Read), &Method::POST, "/v1/requests").unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.message.contains("`read`") && e.message.contains("submit"), "{}", e.message);
        assert!(check_scope(Some(TokenScope::Request), &Method::POST, "/v1/requests").is_ok());
        assert!(check_scope(Some(TokenScope::Request), &Method::POST, "/v1/requests/{id}/cancel").is_ok());
        assert!(check_scope(Some(TokenScope::Request), &Method::GET, "/v1/audit/events").is_err());
        assert!(check_scope(Some(TokenScope::Request), &Method::POST, "/v1/requests/{id}/approve").is_err());
        for scope in TokenScope::ALL {
            assert!(check_scope(Some(scope), &Method::POST, "/v1/tokens").is_err(), "no scoped token mints tokens");
            assert!(check_scope(Some(scope), &Method::GET, "/v1/somewhere-new").is_err(), "unknown routes are refused to scoped tokens");
        }
    }
}
