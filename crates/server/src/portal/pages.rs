//! The portal's pages.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::session::Session;
use crate::serve::App;

#[derive(Template)]
#[template(path = "portal/home.html")]
struct Home {
    identity: String,
    display_name: String,
    groups: Vec<String>,
    expires_at: String,
    csrf: String,
}

#[derive(Template)]
#[template(path = "portal/signin.html")]
struct SignIn {
    issuer: Option<String>,
    why: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/message.html")]
struct Message {
    heading: String,
    text: String,
    problem: bool,
    next_href: &'static str,
    next_label: &'static str,
}

/// A rendered page, or the 500 its rendering failed with (logged).
pub(super) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "portal: a page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered; the server log says why").into_response()
        }
    }
}

/// A page that says what happened and where to go next.
pub(super) fn message(status: StatusCode, heading: &str, text: &str, next: (&'static str, &'static str)) -> Response {
    let page = Message { heading: heading.into(), text: text.into(), problem: !status.is_success(), next_href: next.0, next_label: next.1 };
    render(status, &page)
}

/// The sign-in page, saying why when a session just ended.
pub(super) fn sign_in(app: &App, status: StatusCode, why: Option<String>) -> Response {
    render(status, &SignIn { issuer: app.oidc.as_ref().map(|o| o.issuer().to_owned()), why })
}

pub(super) async fn home(State(app): State<App>, session: Session) -> Response {
    let user = match session {
        Session::SignedIn(user) => user,
        Session::Anonymous { why } => return sign_in(&app, StatusCode::OK, why),
    };
    let page = Home {
        identity: user.identity.id.to_string(),
        display_name: if user.identity.display_name.trim().is_empty() { user.identity.id.to_string() } else { user.identity.display_name.clone() },
        groups: user.identity.groups.iter().map(ToString::to_string).collect(),
        expires_at: user.token.expires_at.map_or_else(|| "it is revoked".into(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        csrf: user.csrf,
    };
    render(StatusCode::OK, &page)
}
