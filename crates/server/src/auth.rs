//! Authentication: every `/v1` call carries `Authorization: Bearer <token>`; the
//! token's hash maps to an identity, which must be active.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use writ_core::identity::Identity;

use crate::error::ApiError;
use crate::serve::App;

/// The authenticated caller.
pub struct Caller(pub Identity);

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
        let identity =
            app.writ.authenticate(token).await?.ok_or_else(|| ApiError::unauthenticated("unknown or revoked token: ask an administrator for a new one"))?;
        if !identity.is_active() {
            return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, "forbidden", format!("identity `{}` is disabled", identity.id)));
        }
        Ok(Caller(identity))
    }
}
