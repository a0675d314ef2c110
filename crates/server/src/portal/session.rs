//! A portal session: the Writ token of a sign-in, in a cookie; and the CSRF
//! token every form of that session carries.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use writ_core::identity::Identity;
use writ_core::token::Token;

use crate::serve::App;

/// The cookie holding the session's Writ token.
pub const SESSION_COOKIE: &str = "writ_session";
/// The cookie holding a sign-in under way: its state, nonce and PKCE verifier.
pub(super) const SIGNIN_COOKIE: &str = "writ_signin";

/// Who is on a portal page, or why nobody is.
pub(super) enum Session {
    SignedIn(Box<PortalUser>),
    /// Not signed in; `why` when a session cookie was there but is no good
    /// (expired, revoked, its identity disabled).
    Anonymous {
        why: Option<String>,
    },
}

pub(super) struct PortalUser {
    pub identity: Identity,
    pub token: Token,
    /// What this session's forms must carry.
    pub csrf: String,
}

impl FromRequestParts<App> for Session {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Infallible> {
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else { return Ok(Session::Anonymous { why: None }) };
        let anonymous = |why: String| Ok(Session::Anonymous { why: Some(why) });
        let auth = match app.writ.authenticate(&secret).await {
            Ok(Ok(auth)) => auth,
            Ok(Err(why)) => return anonymous(format!("your session ended ({why})")),
            Err(e) => {
                tracing::error!(error = %e, "portal: a session could not be checked");
                return anonymous("your session could not be checked: try again in a moment".into());
            }
        };
        if !auth.identity.is_active() {
            return anonymous(format!("`{}` is disabled in Writ", auth.identity.id));
        }
        if auth.token.scope.is_some() {
            // A scoped API token pasted into the cookie is not a portal session.
            return anonymous("this is not a portal session: sign in".into());
        }
        Ok(Session::SignedIn(Box::new(PortalUser { csrf: csrf_token(&secret), identity: auth.identity, token: auth.token })))
    }
}

/// A signed-in person. Its rejection is the sign-in page (401) saying why
/// nobody is: every page but the home page starts with this extractor.
pub(super) struct SignedIn(pub Box<PortalUser>);

impl FromRequestParts<App> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let Ok(session) = Session::from_request_parts(parts, app).await;
        match session {
            Session::SignedIn(user) => Ok(SignedIn(user)),
            Session::Anonymous { why } => {
                Err(super::pages::sign_in(app, StatusCode::UNAUTHORIZED, Some(why.unwrap_or_else(|| "sign in to see this page".into()))))
            }
        }
    }
}

/// A form posted from one of this session's own pages: the signed-in person
/// and the form's fields `T`, once its `csrf` field is the session's CSRF
/// token. Every form action of the portal takes this extractor, so none can
/// forget the check; a refusal (no session, a forged or stale form, fields
/// that do not parse) is a page saying so, and nothing is done.
pub(super) struct SessionForm<T>(pub Box<PortalUser>, pub T);

impl<T: DeserializeOwned> FromRequest<App> for SessionForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let SignedIn(user) = SignedIn::from_request_parts(&mut parts, app).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), app).await.map_err(IntoResponse::into_response)?;
        let offered = form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned()).unwrap_or_default();
        if !csrf_matches(&user, &offered) {
            return Err(super::pages::message(
                StatusCode::FORBIDDEN,
                "Nothing was done",
                "the form did not come from this session's own page (CSRF check): reload the page and send it again",
                ("/portal", "Home"),
            ));
        }
        match Form::<T>::from_request(Request::from_parts(parts, Body::from(bytes)), app).await {
            Ok(Form(fields)) => Ok(SessionForm(user, fields)),
            Err(e) => Err(super::pages::message(
                StatusCode::BAD_REQUEST,
                "Nothing was done",
                &format!("the form could not be read ({}): send it again from the portal's page", e.body_text()),
                ("/portal", "Home"),
            )),
        }
    }
}

/// The value of cookie `name` in the request, if any.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The CSRF token of the session whose secret is `secret`: a hash only the
/// holder of the (HttpOnly) cookie can compute, the same for every form of
/// the session.
pub fn csrf_token(secret: &str) -> String {
    hex::encode(Sha256::digest(format!("writ-portal-csrf\0{secret}").as_bytes()))
}

/// Whether `offered` is the session's CSRF token, compared in constant time.
fn csrf_matches(user: &PortalUser, offered: &str) -> bool {
    let (a, b) = (user.csrf.as_bytes(), offered.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `Set-Cookie` value for `name` under `/portal`, for `max_age` seconds
/// (0: delete it); `secure` when the portal is served over https.
pub(super) fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/portal; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_bound_to_the_session_and_compared_whole() {
        let a = csrf_token("writ_aaaa");
        assert_eq!(a, csrf_token("writ_aaaa"));
        assert_ne!(a, csrf_token("writ_aaab"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn cookies_are_http_only_lax_and_scoped_to_the_portal() {
        let c = set_cookie(SESSION_COOKIE, "writ_x", 3600, true);
        assert_eq!(c, "writ_session=writ_x; Path=/portal; HttpOnly; SameSite=Lax; Max-Age=3600; Secure");
        assert!(!set_cookie(SESSION_COOKIE, "", 0, false).contains("Secure"));
    }
}
