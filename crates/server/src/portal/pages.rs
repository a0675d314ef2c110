//! The portal's pages.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use writ_api::{AuditEventView, CatalogEntitlement, RequestView};
use writ_core::duration::AccessDuration;
use writ_core::ids::{EntitlementId, RequestId};
use writ_core::request::RequestDraft;

use super::session::{PortalUser, Session, SessionForm, SignedIn};
use super::signin::see_other;
use crate::serve::App;
use crate::views;

/// What every signed-in page's navigation shows.
pub(super) struct Nav {
    pub identity: String,
    pub display_name: String,
    pub csrf: String,
    /// The section the page belongs to (`catalog`, `requests`, or empty).
    pub here: &'static str,
}

impl Nav {
    pub(super) fn of(user: &PortalUser, here: &'static str) -> Nav {
        let id = user.identity.id.to_string();
        let name = user.identity.display_name.trim();
        Nav { display_name: if name.is_empty() { id.clone() } else { name.to_owned() }, identity: id, csrf: user.csrf.clone(), here }
    }
}

#[derive(Template)]
#[template(path = "portal/home.html")]
struct Home {
    nav: Nav,
    groups: Vec<String>,
    expires_at: String,
}

#[derive(Template)]
#[template(path = "portal/catalog.html")]
struct CatalogPage {
    nav: Nav,
    query: String,
    total: usize,
    entitlements: Vec<CatalogEntitlement>,
}

#[derive(Template)]
#[template(path = "portal/new_request.html")]
struct NewRequest {
    nav: Nav,
    entitlement: String,
    max_duration: String,
    /// The same, for the script that checks the field as it is typed.
    max_secs: i64,
    duration: String,
    justification: String,
    ticket: String,
    /// The request types one may file from this form: (id, description,
    /// whether it makes a ticket mandatory), and the one chosen.
    types: Vec<(String, String, bool)>,
    request_type: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/requests.html")]
struct RequestsPage {
    nav: Nav,
    heading: String,
    requests: Vec<RequestView>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/request.html")]
struct RequestPage {
    nav: Nav,
    r: RequestView,
    events: Vec<AuditEventView>,
    /// The review form is shown: the request waits, and the viewer is neither
    /// its requester nor its subject (the use-case decides the rest).
    can_review: bool,
    /// The break-glass review form is shown: the use awaits its review and
    /// the viewer is one of its named reviewers.
    can_review_use: bool,
    /// For a reviewer who may act on a stage: the subject's current access,
    /// and why approving would be refused now, if it would.
    holdings: Option<Vec<writ_api::GrantView>>,
    warning: Option<String>,
    /// What reconciliation found about this request's access, from its events.
    findings: Vec<Finding>,
    /// The last finished run of each reconcilable target of the request.
    reconciled: Vec<LastRun>,
    /// The viewer may open run pages (`read_audit`).
    may_read_runs: bool,
    error: Option<String>,
}

struct Finding {
    at: DateTime<Utc>,
    kind: String,
    run: Option<String>,
}

struct LastRun {
    target: String,
    run: String,
    finished_at: DateTime<Utc>,
    match_rate: String,
}

/// Whether an event of `kind` records what a reconciliation run found or did.
fn from_reconciliation(kind: &str) -> bool {
    kind.starts_with("grant.access_") || kind.starts_with("grant.reprovision") || kind.starts_with("reconcile.")
}

#[derive(Template)]
#[template(path = "portal/break_glass.html")]
struct BreakGlassPage {
    nav: Nav,
    entitlements: Vec<String>,
    chosen: String,
    duration: String,
    justification: String,
    uses: Vec<RequestView>,
    exceptions_only: bool,
    next: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/inbox.html")]
struct InboxPage {
    nav: Nav,
    /// Each waiting request with what its reviewer needs to judge it at a
    /// glance: what the subject holds now, and why approving would be
    /// refused now, if it would.
    requests: Vec<(RequestView, Vec<String>, Option<String>)>,
    next: Option<String>,
    /// What a bulk review did: (went through, sentence) per request.
    outcome: Vec<(bool, String)>,
}

#[derive(Template)]
#[template(path = "portal/tasks.html")]
struct TasksPage {
    nav: Nav,
    tasks: Vec<writ_api::TaskView>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/access.html")]
struct AccessPage {
    nav: Nav,
    /// Each grant with the time it has left, in words.
    grants: Vec<(writ_api::GrantView, String)>,
    next: Option<String>,
    error: Option<String>,
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
        nav: Nav::of(&user, ""),
        groups: user.identity.groups.iter().map(ToString::to_string).collect(),
        expires_at: user.token.expires_at.map_or_else(|| "it is revoked".into(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    };
    render(StatusCode::OK, &page)
}

/// How a use-case's answer is shown on the page the form came from: a
/// refusal (not found, forbidden, a rule broken, a lost race) with its own
/// sentence; anything else is logged (`failed`: what was being done) and
/// shown as temporary.
pub(super) fn refusal(e: writ_app::AppError, failed: &str) -> (StatusCode, String) {
    use writ_app::AppError as E;
    match e {
        E::NotFound { .. } => (StatusCode::NOT_FOUND, e.to_string()),
        E::Forbidden { .. } => (StatusCode::FORBIDDEN, e.to_string()),
        E::Domain(_) | E::Conflict { .. } | E::Stale { .. } => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        other => {
            tracing::error!(error = %other, "portal: {failed}");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{failed}: try again in a moment"))
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CatalogQuery {
    #[serde(default)]
    q: String,
}

/// The entitlements, searched by id, description, target, risk and owners.
pub(super) async fn catalog(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<CatalogQuery>) -> Response {
    let all: Vec<CatalogEntitlement> = app.writ.requestable(&user.identity).into_iter().map(views::entitlement).collect();
    let words: Vec<String> = q.q.split_whitespace().map(str::to_lowercase).collect();
    let matches = |e: &CatalogEntitlement| {
        let text = format!("{} {} {} {}", e.id, e.description, e.risk, e.owners.join(" ")).to_lowercase();
        words.iter().all(|w| text.contains(w.as_str()))
    };
    let total = all.len();
    let entitlements = all.into_iter().filter(matches).collect();
    render(StatusCode::OK, &CatalogPage { nav: Nav::of(&user, "catalog"), query: q.q.trim().to_owned(), total, entitlements })
}

#[derive(Debug, Deserialize)]
pub(super) struct NewQuery {
    #[serde(default)]
    entitlement: String,
}

/// The form to request one entitlement for oneself.
pub(super) async fn new_request(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<NewQuery>) -> Response {
    let Some(max) = known_entitlement(&app, &q.entitlement) else {
        return super::pages::message(
            StatusCode::NOT_FOUND,
            "No such entitlement",
            &format!("`{}` is not in the catalog", q.entitlement),
            ("/portal/catalog", "Back to the catalog"),
        );
    };
    let page = NewRequest {
        nav: Nav::of(&user, "catalog"),
        entitlement: q.entitlement,
        max_duration: max.to_string(),
        max_secs: max.secs(),
        duration: String::new(),
        justification: String::new(),
        ticket: String::new(),
        types: form_types(&app),
        request_type: writ_core::ids::RequestTypeId::unstated().to_string(),
        error: None,
    };
    render(StatusCode::OK, &page)
}

/// The governed request types a person files from the request form (not
/// removals or break-glass, which have their own actions).
fn form_types(app: &App) -> Vec<(String, String, bool)> {
    app.writ
        .catalog()
        .request_types()
        .filter(|t| t.route == writ_core::request_type::Route::Governed && !["access_removal", "break_glass"].contains(&t.id.as_str()))
        .map(|t| (t.id.to_string(), t.description.clone(), t.mandatory.contains(&writ_core::request_type::Field::Ticket)))
        .collect()
}

/// The maximum duration of `id`, if it is in the catalog.
fn known_entitlement(app: &App, id: &str) -> Option<AccessDuration> {
    let id = EntitlementId::parse(id).ok()?;
    app.writ.catalog().entitlement(&id).ok().map(|e| e.max_duration)
}

#[derive(Debug, Deserialize)]
pub(super) struct RequestForm {
    #[serde(default)]
    entitlement: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    justification: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    request_type: String,
}

/// Files the request through the same use-case as `POST /v1/requests`; a
/// refusal of its input is shown on the form, kept as typed.
pub(super) async fn create_request(State(app): State<App>, SessionForm(user, f): SessionForm<RequestForm>) -> Response {
    let Some(max) = known_entitlement(&app, &f.entitlement) else {
        return message(
            StatusCode::NOT_FOUND,
            "No such entitlement",
            &format!("`{}` is not in the catalog", f.entitlement),
            ("/portal/catalog", "Back to the catalog"),
        );
    };
    let again = |status: StatusCode, error: String| {
        let page = NewRequest {
            nav: Nav::of(&user, "catalog"),
            entitlement: f.entitlement.clone(),
            max_duration: max.to_string(),
            max_secs: max.secs(),
            duration: f.duration.clone(),
            justification: f.justification.clone(),
            ticket: f.ticket.clone(),
            types: form_types(&app),
            request_type: f.request_type.clone(),
            error: Some(error),
        };
        render(status, &page)
    };
    let duration = match AccessDuration::parse(f.duration.trim()) {
        Ok(d) => d,
        Err(e) => return again(StatusCode::UNPROCESSABLE_ENTITY, format!("Duration: {e}")),
    };
    let draft = RequestDraft {
        requester: user.identity.id.clone(),
        subject: user.identity.id.clone(),
        entitlements: vec![EntitlementId::parse(&f.entitlement).expect("known above")],
        justification: f.justification.clone(),
        duration,
        ticket: Some(f.ticket.trim().to_owned()).filter(|t| !t.is_empty()),
        request_type: None,
    };
    let draft = match f.request_type.trim() {
        "" => draft,
        t => match writ_core::ids::RequestTypeId::parse(t) {
            Ok(t) => RequestDraft { request_type: Some(t), ..draft },
            Err(e) => return again(StatusCode::UNPROCESSABLE_ENTITY, format!("Type: {e}")),
        },
    };
    match app.writ.submit(&user.identity, draft).await {
        Ok(req) => see_other(&format!("/portal/requests/{}", req.id())),
        Err(e) => {
            let (status, text) = refusal(e, "the request could not be filed");
            again(status, text)
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    pub cursor: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct RequestsQuery {
    #[serde(default)]
    cursor: String,
    /// `all`: every request policy lets the person see, not only theirs.
    #[serde(default)]
    scope: String,
    /// Only requests in this state.
    #[serde(default)]
    state: String,
}

/// Requests the person made or that are for them (`?scope=all`: every one
/// policy lets them see), in one state with `?state=`, newest first, 50 a page.
pub(super) async fn requests(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<RequestsQuery>) -> Response {
    let after = match page_cursor(&q.cursor, "/portal/requests") {
        Ok(a) => a,
        Err(page) => return page,
    };
    let state = match q.state.trim() {
        "" => None,
        s => match writ_core::request::RequestState::parse(s) {
            Some(state) => Some(state),
            None => return message(StatusCode::BAD_REQUEST, "No such state", &format!("`{s}` is not a request state"), ("/portal/requests", "My requests")),
        },
    };
    let all = q.scope == "all";
    let involving = (!all).then(|| user.identity.id.clone());
    let filter = writ_app::ports::RequestFilter { involving, state, after, limit: 50, ..Default::default() };
    let page = match app.writ.list_requests(&user.identity, filter).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "portal: requests could not be listed");
            return message(StatusCode::SERVICE_UNAVAILABLE, "Not available", "the requests could not be read: try again in a moment", ("/portal", "Home"));
        }
    };
    let now = app.writ.clock().now();
    let requests = page.iter().map(|r| views::request(r, now)).collect();
    let mut query = String::new();
    if all {
        query.push_str("scope=all&");
    }
    if let Some(s) = state {
        query.push_str(&format!("state={}&", s.as_str()));
    }
    let heading = match (all, state) {
        (false, None) => "My requests".to_owned(),
        (false, Some(s)) => format!("My requests: {}", s.as_str()),
        (true, None) => "All requests".to_owned(),
        (true, Some(s)) => format!("Requests: {}", s.as_str()),
    };
    let next = page.next.map(|c| format!("/portal/requests?{query}cursor={}", form_urlencoded::byte_serialize(c.to_string().as_bytes()).collect::<String>()));
    render(StatusCode::OK, &RequestsPage { nav: Nav::of(&user, if all { "dashboard" } else { "requests" }), heading, requests, next })
}

/// One request's evidence chain, if policy lets the person see it (`view`);
/// else the same "not found" as for an id that does not exist.
pub(super) async fn request(State(app): State<App>, SignedIn(user): SignedIn, Path(id): Path<String>) -> Response {
    let not_found =
        || message(StatusCode::NOT_FOUND, "No such request", &format!("there is no request `{id}` you may see"), ("/portal/requests", "My requests"));
    let Ok(rid) = RequestId::parse(&id) else { return not_found() };
    let evidence = match app.writ.evidence(&user.identity, rid).await {
        Ok(e) => e,
        Err(writ_app::AppError::NotFound { .. }) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "portal: a request could not be read");
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not available",
                "the request could not be read: try again in a moment",
                ("/portal/requests", "My requests"),
            );
        }
    };
    request_page(&app, &user, &evidence, StatusCode::OK, None).await
}

async fn request_page(app: &App, user: &PortalUser, evidence: &writ_app::query::Evidence, status: StatusCode, error: Option<String>) -> Response {
    let view = views::evidence(evidence, app.writ.clock().now(), |g| app.writ.is_overdue(g));
    let me = user.identity.id.to_string();
    let can_review = view.request.state == "pending" && view.request.requester != me && view.request.subject != me;
    let can_review_use = view.request.post_review.as_ref().is_some_and(|p| p.verdict.is_none() && p.reviewers.contains(&me));
    // Only someone who may act on a stage gets the subject's context; for
    // anyone else it is "not found", and nothing is shown.
    let context = if can_review { app.writ.review_context(&user.identity, evidence.request.id()).await.ok() } else { None };
    let (holdings, warning) = match context {
        Some(c) => (Some(c.holdings.iter().map(|g| views::grant(g, app.writ.is_overdue(g))).collect()), c.warning),
        None => (None, None),
    };
    let findings = view
        .events
        .iter()
        .filter(|e| from_reconciliation(&e.kind))
        .map(|e| Finding {
            at: e.at,
            kind: e.kind.clone(),
            run: serde_json::from_str::<serde_json::Value>(&e.payload).ok().and_then(|v| v.get("run")?.as_str().map(str::to_owned)),
        })
        .collect();
    let reconcilable = app.writ.reconcilable_targets();
    let mut targets: Vec<&writ_core::ids::TargetId> = evidence.request.entitlements().iter().map(|e| e.target()).filter(|t| reconcilable.contains(t)).collect();
    targets.dedup();
    let mut reconciled = Vec::new();
    for target in targets {
        match app.writ.last_finished_run(target).await {
            Ok(Some(run)) => reconciled.push(LastRun {
                target: target.to_string(),
                run: run.id.to_string(),
                finished_at: run.finished_at,
                match_rate: format!("{:.1} %", run.match_rate * 100.0),
            }),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, %target, "portal: the last reconciliation run could not be read"),
        }
    }
    let may_read_runs = app.writ.authorize(&user.identity, writ_policy::AdminAction::ReadAudit, "read reconciliation runs").is_ok();
    let page = RequestPage {
        nav: Nav::of(user, "requests"),
        r: view.request,
        events: view.events,
        can_review,
        can_review_use,
        holdings,
        warning,
        findings,
        reconciled,
        may_read_runs,
        error,
    };
    render(status, &page)
}

/// A cursor from a page's query (`?cursor=…`), or the page saying it is not one.
#[allow(clippy::result_large_err)] // the `Err` is the answer itself
pub(super) fn page_cursor(raw: &str, back: &'static str) -> Result<Option<writ_app::ports::Cursor>, Response> {
    match raw.trim() {
        "" => Ok(None),
        c => c
            .parse()
            .map(Some)
            .map_err(|e: writ_app::ports::CursorError| message(StatusCode::BAD_REQUEST, "No such page", &e.to_string(), (back, "First page"))),
    }
}

/// The requests waiting at a stage the person may approve.
pub(super) async fn inbox(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<PageQuery>) -> Response {
    let after = match page_cursor(&q.cursor, "/portal/inbox") {
        Ok(a) => a,
        Err(page) => return page,
    };
    inbox_page(&app, &user, after, StatusCode::OK, Vec::new()).await
}

/// The most requests one bulk review takes.
const BULK_MAX: usize = 50;

/// Reviews the selected requests of the inbox, each through the same
/// use-case as alone (authority, policy, separation of duties checked for
/// each): safe because nothing is decided for all at once. Says what
/// happened to each.
pub(super) async fn bulk_review(State(app): State<App>, SessionForm(user, fields): SessionForm<Vec<(String, String)>>) -> Response {
    let (mut verdict, mut reason, mut ids) = (String::new(), String::new(), Vec::new());
    for (k, v) in fields {
        match k.as_str() {
            "verdict" => verdict = v,
            "reason" => reason = v,
            "id" => ids.push(v),
            _ => {}
        }
    }
    let verdict = match verdict.as_str() {
        "approve" => writ_core::review::Verdict::Approve,
        "deny" => writ_core::review::Verdict::Deny,
        _ => return inbox_page(&app, &user, None, StatusCode::BAD_REQUEST, vec![(false, "choose Approve or Deny".into())]).await,
    };
    if ids.is_empty() || ids.len() > BULK_MAX {
        let text = format!("select from 1 to {BULK_MAX} requests (got {})", ids.len());
        return inbox_page(&app, &user, None, StatusCode::UNPROCESSABLE_ENTITY, vec![(false, text)]).await;
    }
    let mut outcome = Vec::with_capacity(ids.len());
    for id in ids {
        let line = match RequestId::parse(&id) {
            Err(_) => (false, format!("`{id}`: not a request id")),
            Ok(rid) => match app.writ.review(&user.identity, rid, verdict, reason.clone()).await {
                Ok(req) => (true, format!("`{id}`: {}", req.state().as_str())),
                Err(e) => (false, format!("`{id}`: {}", refusal(e, "the review could not be recorded").1)),
            },
        };
        outcome.push(line);
    }
    inbox_page(&app, &user, None, StatusCode::OK, outcome).await
}

async fn inbox_page(app: &App, user: &PortalUser, after: Option<writ_app::ports::Cursor>, status: StatusCode, outcome: Vec<(bool, String)>) -> Response {
    let page = match app.writ.review_queue(&user.identity, 50, after).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "portal: the inbox could not be read");
            return message(StatusCode::SERVICE_UNAVAILABLE, "Not available", "your inbox could not be read: try again in a moment", ("/portal", "Home"));
        }
    };
    let now = app.writ.clock().now();
    let contexts = match app.writ.review_contexts(&user.identity, &page.items).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "portal: the inbox's context could not be read");
            return message(StatusCode::SERVICE_UNAVAILABLE, "Not available", "your inbox could not be read: try again in a moment", ("/portal", "Home"));
        }
    };
    let requests = page
        .iter()
        .zip(contexts)
        .map(|(r, c)| {
            let (holds, warning) = c.map_or((Vec::new(), None), |c| (c.holdings.iter().map(|g| g.entitlement().to_string()).collect(), c.warning));
            (views::request(r, now), holds, warning)
        })
        .collect();
    render(status, &InboxPage { nav: Nav::of(user, "inbox"), requests, next: page.next.map(|c| c.to_string()), outcome })
}

#[derive(Debug, Deserialize)]
pub(super) struct ReviewForm {
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    reason: String,
}

/// Approves or denies through the same use-case as the API; a refusal
/// (no authority at the open stage, a reason missing) is shown on the page.
pub(super) async fn review(State(app): State<App>, Path(id): Path<String>, SessionForm(user, f): SessionForm<ReviewForm>) -> Response {
    let not_found = || message(StatusCode::NOT_FOUND, "No such request", &format!("there is no request `{id}` you may see"), ("/portal/inbox", "Inbox"));
    let Ok(rid) = RequestId::parse(&id) else { return not_found() };
    // Seeing it comes first: a request one may not view is not found, reviewed or not.
    let Ok(evidence) = app.writ.evidence(&user.identity, rid).await else { return not_found() };
    let verdict = match f.verdict.as_str() {
        "approve" => writ_core::review::Verdict::Approve,
        "deny" => writ_core::review::Verdict::Deny,
        _ => return request_page(&app, &user, &evidence, StatusCode::BAD_REQUEST, Some("choose Approve or Deny".into())).await,
    };
    match app.writ.review(&user.identity, rid, verdict, f.reason.clone()).await {
        Ok(_) => see_other(&format!("/portal/requests/{id}")),
        Err(e) => {
            let (status, text) = refusal(e, "a review could not be recorded");
            request_page(&app, &user, &evidence, status, Some(text)).await
        }
    }
}

/// The person's access: grants that may still hold it.
pub(super) async fn access(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<PageQuery>) -> Response {
    let after = match page_cursor(&q.cursor, "/portal/access") {
        Ok(a) => a,
        Err(page) => return page,
    };
    access_page(&app, &user, StatusCode::OK, None, after).await
}

/// A page of the grants the person holds (100 a page, soonest to end first).
async fn access_page(app: &App, user: &PortalUser, status: StatusCode, error: Option<String>, after: Option<writ_app::ports::Cursor>) -> Response {
    let filter = writ_app::ports::GrantFilter { subject: Some(user.identity.id.clone()), active_only: true, after, limit: 100, ..Default::default() };
    let (grants, next) = match app.writ.list_grants(&user.identity, filter).await {
        Ok(p) => {
            let now = app.writ.clock().now();
            let left = |g: &writ_core::grant::Grant| match g.expires_at() - now {
                d if d > chrono::TimeDelta::zero() => format!("{} left", writ_core::flow::short_duration(d)),
                _ => "ended".to_owned(),
            };
            (p.iter().map(|g| (views::grant(g, app.writ.is_overdue(g)), left(g))).collect(), p.next.map(|c| c.to_string()))
        }
        Err(e) => {
            tracing::error!(error = %e, "portal: grants could not be read");
            return message(StatusCode::SERVICE_UNAVAILABLE, "Not available", "your access could not be read: try again in a moment", ("/portal", "Home"));
        }
    };
    render(status, &AccessPage { nav: Nav::of(user, "access"), grants, next, error })
}

/// The open fulfilment tasks of the person's groups.
pub(super) async fn tasks(State(app): State<App>, SignedIn(user): SignedIn) -> Response {
    tasks_page(&app, &user, StatusCode::OK, None).await
}

async fn tasks_page(app: &App, user: &PortalUser, status: StatusCode, error: Option<String>) -> Response {
    match my_open_tasks(app, user).await {
        Ok(tasks) => render(status, &TasksPage { nav: Nav::of(user, "tasks"), tasks, error }),
        Err(e) => {
            tracing::error!(error = %e, "portal: tasks could not be read");
            message(StatusCode::SERVICE_UNAVAILABLE, "Not available", "your tasks could not be read: try again in a moment", ("/portal", "Home"))
        }
    }
}

/// Every open task of the person's groups. The task list holds every task
/// the person may see (those of their own requests too): it is read to its
/// end, page by page, and only the ones their groups must do are kept.
async fn my_open_tasks(app: &App, user: &PortalUser) -> Result<Vec<writ_api::TaskView>, writ_app::AppError> {
    let mut mine = Vec::new();
    let mut after = None;
    loop {
        let filter = writ_app::ports::TaskFilter { open_only: true, after, limit: 500, ..Default::default() };
        let page = app.writ.list_tasks(&user.identity, filter).await?;
        mine.extend(page.iter().filter(|t| user.identity.in_group(t.fulfiller_group())).map(views::task));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(mine),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct TaskForm {
    #[serde(default)]
    evidence: String,
}

/// Completes a task with evidence, through the same use-case as the API.
pub(super) async fn complete_task(State(app): State<App>, Path(id): Path<String>, SessionForm(user, f): SessionForm<TaskForm>) -> Response {
    let Ok(tid) = writ_core::ids::TaskId::parse(&id) else {
        return tasks_page(&app, &user, StatusCode::NOT_FOUND, Some(format!("there is no task `{id}` for you"))).await;
    };
    match app.writ.complete_task(&user.identity, tid, &f.evidence).await {
        Ok(_) => see_other("/portal/tasks"),
        Err(e) => {
            let (status, text) = refusal(e, "a task could not be completed");
            tasks_page(&app, &user, status, Some(text)).await
        }
    }
}

/// Break-glass: the form to use it, and the uses whose review is open.
pub(super) async fn break_glass(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<BreakGlassQuery>) -> Response {
    let after = match page_cursor(&q.cursor, "/portal/break-glass") {
        Ok(a) => a,
        Err(page) => return page,
    };
    let listing = UsesListing { exceptions_only: q.exceptions == "1", after };
    break_glass_page(&app, &user, StatusCode::OK, None, BreakGlassForm::default(), listing).await
}

#[derive(Debug, Deserialize)]
pub(super) struct BreakGlassQuery {
    #[serde(default)]
    cursor: String,
    /// `1`: only the uses whose review is an exception (overdue or rejected).
    #[serde(default)]
    exceptions: String,
}

/// Which uses the break-glass page lists.
#[derive(Default)]
struct UsesListing {
    exceptions_only: bool,
    after: Option<writ_app::ports::Cursor>,
}

async fn break_glass_page(app: &App, user: &PortalUser, status: StatusCode, error: Option<String>, typed: BreakGlassForm, listing: UsesListing) -> Response {
    let (uses, next) = match app.writ.open_break_glass(&user.identity, listing.exceptions_only, 50, listing.after).await {
        Ok(page) => (page.iter().map(|r| views::request(r, app.writ.clock().now())).collect(), page.next.map(|c| c.to_string())),
        Err(e) => {
            tracing::error!(error = %e, "portal: break-glass uses could not be read");
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not available",
                "the break-glass uses could not be read: try again in a moment",
                ("/portal", "Home"),
            );
        }
    };
    let page = BreakGlassPage {
        nav: Nav::of(user, "break-glass"),
        entitlements: app.writ.catalog().entitlements().map(|e| e.id.to_string()).collect(),
        chosen: typed.entitlement,
        duration: if typed.duration.is_empty() { "1h".into() } else { typed.duration },
        justification: typed.justification,
        uses,
        exceptions_only: listing.exceptions_only,
        next,
        error,
    };
    render(status, &page)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct BreakGlassForm {
    #[serde(default)]
    entitlement: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    justification: String,
}

/// Uses break-glass through the same use-case as `POST /v1/break-glass`.
pub(super) async fn use_break_glass(State(app): State<App>, SessionForm(user, f): SessionForm<BreakGlassForm>) -> Response {
    let (Ok(entitlement), Ok(duration)) = (EntitlementId::parse(&f.entitlement), AccessDuration::parse(f.duration.trim())) else {
        return break_glass_page(
            &app,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("choose an entitlement and a duration such as 1h".into()),
            f,
            UsesListing::default(),
        )
        .await;
    };
    let draft = RequestDraft {
        requester: user.identity.id.clone(),
        subject: user.identity.id.clone(),
        entitlements: vec![entitlement],
        justification: f.justification.clone(),
        duration,
        ticket: None,
        request_type: None,
    };
    match app.writ.break_glass(&user.identity, draft).await {
        Ok(req) => see_other(&format!("/portal/requests/{}", req.id())),
        Err(e) => {
            let (status, text) = refusal(e, "break-glass could not be used");
            break_glass_page(&app, &user, status, Some(text), f, UsesListing::default()).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct UseReviewForm {
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    note: String,
}

/// A named reviewer accepts or rejects a break-glass use.
pub(super) async fn review_use(State(app): State<App>, Path(id): Path<String>, SessionForm(user, f): SessionForm<UseReviewForm>) -> Response {
    let not_found =
        || message(StatusCode::NOT_FOUND, "No such request", &format!("there is no request `{id}` you may see"), ("/portal/break-glass", "Break-glass"));
    let Ok(rid) = RequestId::parse(&id) else { return not_found() };
    let Ok(evidence) = app.writ.evidence(&user.identity, rid).await else { return not_found() };
    let verdict = match f.verdict.as_str() {
        "accept" => writ_core::break_glass::UseVerdict::Accept,
        "reject" => writ_core::break_glass::UseVerdict::Reject,
        _ => return request_page(&app, &user, &evidence, StatusCode::BAD_REQUEST, Some("choose Accept or Reject".into())).await,
    };
    match app.writ.review_break_glass(&user.identity, rid, verdict, &f.note).await {
        Ok(_) => see_other(&format!("/portal/requests/{id}")),
        Err(e) => {
            let (status, text) = refusal(e, "a break-glass review could not be recorded");
            request_page(&app, &user, &evidence, status, Some(text)).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ExtendForm {
    #[serde(default)]
    duration: String,
    #[serde(default)]
    justification: String,
}

/// Asks to keep a grant's access longer: a new request through policy and
/// approval (`Writ::request_extension`), never an edit of the expiry.
pub(super) async fn extend(State(app): State<App>, Path(id): Path<String>, SessionForm(user, f): SessionForm<ExtendForm>) -> Response {
    let Ok(gid) = writ_core::ids::GrantId::parse(&id) else {
        return access_page(&app, &user, StatusCode::NOT_FOUND, Some(format!("there is no grant `{id}` of yours")), None).await;
    };
    let duration = match AccessDuration::parse(f.duration.trim()) {
        Ok(d) => d,
        Err(e) => return access_page(&app, &user, StatusCode::UNPROCESSABLE_ENTITY, Some(format!("How much longer: {e}")), None).await,
    };
    match app.writ.request_extension(&user.identity, gid, duration, f.justification.clone(), None).await {
        Ok(req) => see_other(&format!("/portal/requests/{}", req.id())),
        Err(e) => {
            let (status, text) = refusal(e, "an extension could not be asked");
            access_page(&app, &user, status, Some(text), None).await
        }
    }
}

/// A form with nothing but its CSRF token (checked by [`SessionForm`]).
#[derive(Debug, Deserialize)]
pub(super) struct NoFields {}

/// Gives up a grant the person holds: its removal starts through the normal
/// path (read back, evidence), as `writ grant revoke` does.
pub(super) async fn give_up(State(app): State<App>, Path(id): Path<String>, SessionForm(user, _): SessionForm<NoFields>) -> Response {
    let Ok(gid) = writ_core::ids::GrantId::parse(&id) else {
        return access_page(&app, &user, StatusCode::NOT_FOUND, Some(format!("there is no grant `{id}` of yours")), None).await;
    };
    match app.writ.revoke_grant(&user.identity, gid, "given up in the portal").await {
        Ok(_) => see_other("/portal/access"),
        Err(e) => {
            let (status, text) = refusal(e, "a grant could not be given up");
            access_page(&app, &user, status, Some(text), None).await
        }
    }
}
