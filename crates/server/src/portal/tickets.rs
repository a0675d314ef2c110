//! The help desk's and triage's pages: tickets by state, each with the
//! action its state allows (choose a type, proof the requester, resolve,
//! re-route to the governed path, say what access a governed one asks for),
//! through the same use-cases and policy as `/v1/tickets`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use writ_core::ids::{EntitlementId, RequestTypeId, TicketId};
use writ_core::request_type::Route;

use super::pages::{message, page_cursor, refusal, render, Nav};
use super::session::{PortalUser, SessionForm, SignedIn};
use super::signin::see_other;
use crate::serve::App;
use crate::views;

/// The states a worker acts on, in the order work flows, with their tab names.
const TABS: [(&str, &str); 6] = [
    ("triage", "Triage"),
    ("help_desk", "Help desk"),
    ("proofed", "Proofed"),
    ("needs_details", "Needs details"),
    ("filed", "Filed"),
    ("resolved", "Resolved"),
];

#[derive(Template)]
#[template(path = "portal/tickets.html")]
struct TicketsPage {
    nav: Nav,
    tabs: Vec<(&'static str, &'static str)>,
    state: String,
    tickets: Vec<writ_api::TicketView>,
    next: Option<String>,
    /// Every request type (for triage), and the governed ones (to re-route).
    types: Vec<(String, String)>,
    governed: Vec<(String, String)>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct TicketsQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    cursor: String,
}

pub(super) async fn tickets(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<TicketsQuery>) -> Response {
    let after = match page_cursor(&q.cursor, "/portal/tickets") {
        Ok(a) => a,
        Err(page) => return page,
    };
    let state = if q.state.is_empty() { "triage".to_owned() } else { q.state };
    tickets_page(&app, &user, &state, after, StatusCode::OK, None).await
}

async fn tickets_page(
    app: &App,
    user: &PortalUser,
    state: &str,
    after: Option<writ_app::ports::Cursor>,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let page = match app.writ.list_tickets(&user.identity, Some(state.to_owned()), after, 50).await {
        Ok(p) => p,
        Err(e) => {
            let (code, text) = refusal(e, "tickets could not be read");
            return message(code, "No tickets for you", &text, ("/portal", "Home"));
        }
    };
    let catalog = app.writ.catalog();
    let named = |route: Option<Route>| -> Vec<(String, String)> {
        catalog.request_types().filter(|t| route.is_none_or(|r| t.route == r)).map(|t| (t.id.to_string(), t.description.clone())).collect()
    };
    let next = page.next.map(|c| format!("/portal/tickets?state={state}&cursor={c}"));
    let tickets = page.items.iter().map(|t| views::ticket(t, catalog)).collect();
    let page = TicketsPage {
        nav: Nav::of(user, "tickets"),
        tabs: TABS.to_vec(),
        state: state.to_owned(),
        tickets,
        next,
        types: named(None),
        governed: named(Some(Route::Governed)),
        error,
    };
    render(status, &page)
}

#[derive(Debug, Deserialize)]
pub(super) struct TicketAction {
    #[serde(default)]
    request_type: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    resolution: String,
    #[serde(default)]
    entitlements: String,
    #[serde(default)]
    duration: String,
}

/// One action on a ticket (`triage`, `proof`, `resolve`, `reroute`,
/// `details`); back to the list of the state it was in, or that list with
/// the refusal.
pub(super) async fn act(State(app): State<App>, Path((id, action)): Path<(String, String)>, SessionForm(user, f): SessionForm<TicketAction>) -> Response {
    let Ok(tid) = TicketId::parse(&id) else {
        return message(StatusCode::NOT_FOUND, "No such ticket", &format!("there is no ticket `{}`", id.escape_debug()), ("/portal/tickets", "Tickets"));
    };
    let was = match app.writ.ticket(&user.identity, tid).await {
        Ok(t) => t.state().as_str().to_owned(),
        Err(e) => {
            let (code, text) = refusal(e, "the ticket could not be read");
            return message(code, "No such ticket", &text, ("/portal/tickets", "Tickets"));
        }
    };
    let w = &app.writ;
    let me = &user.identity;
    let outcome = match action.as_str() {
        "triage" => match RequestTypeId::parse(f.request_type.trim()) {
            Ok(t) => w.triage_ticket(me, tid, &t).await.map(drop),
            Err(e) => Err(e.into()),
        },
        "proof" => w.proof_ticket(me, tid, &f.method).await.map(drop),
        "resolve" => w.resolve_ticket(me, tid, &f.resolution).await.map(drop),
        "reroute" => match RequestTypeId::parse(f.request_type.trim()) {
            Ok(t) => w.reroute_ticket(me, tid, &t).await.map(drop),
            Err(e) => Err(e.into()),
        },
        "details" => match details(&f) {
            Ok(d) => match w.complete_ticket(me, tid, d).await {
                Ok(taken) => match taken.not_filed {
                    Some(why) => Err(writ_core::DomainError::invalid("details", why).into()),
                    None => Ok(()),
                },
                Err(e) => Err(e),
            },
            Err(e) => Err(e.into()),
        },
        other => {
            return message(
                StatusCode::NOT_FOUND,
                "No such action",
                &format!("`{}` is not an action on a ticket", other.escape_debug()),
                ("/portal/tickets", "Tickets"),
            )
        }
    };
    match outcome {
        Ok(()) => see_other(&format!("/portal/tickets?state={was}")),
        Err(e) => {
            let (code, text) = refusal(e, "the ticket could not be changed");
            tickets_page(&app, &user, &was, None, code, Some(text)).await
        }
    }
}

/// The entitlements (separated by commas or blanks) and duration typed.
fn details(f: &TicketAction) -> Result<writ_app::intake::TicketDetails, writ_core::DomainError> {
    let entitlements =
        f.entitlements.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(EntitlementId::parse).collect::<Result<Vec<_>, _>>()?;
    if entitlements.is_empty() {
        return Err(writ_core::DomainError::invalid("entitlements", "name at least one entitlement"));
    }
    let duration = writ_core::duration::AccessDuration::parse(f.duration.trim())?;
    Ok(writ_app::intake::TicketDetails { entitlements, duration, justification: None })
}
