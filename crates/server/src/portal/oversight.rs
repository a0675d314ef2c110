//! Oversight's pages, for those policy lets read the audit trail
//! (`read_audit`, as for `/metrics`): the security dashboard, where every
//! figure links to the evidence behind it; the removals under way; the
//! non-human identities whose owner left; and the reconciliation runs.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use writ_core::flow::{short_duration, Timing, Week};
use writ_core::reconcile::Situation;

use super::pages::{message, page_cursor, render, Nav, PageQuery};
use super::session::{PortalUser, SignedIn};
use crate::serve::App;
use crate::views;

/// The dashboard's window unless `?weeks=` says otherwise.
const DEFAULT_WEEKS: u32 = 8;

#[derive(Template)]
#[template(path = "portal/dashboard.html")]
struct DashboardPage {
    nav: Nav,
    weeks: u32,
    revoking: u64,
    overdue: u64,
    break_glass: u64,
    owner_left: u64,
    owner_left_overdue: u64,
    /// (state, count, share of all in steps of 5 %: a CSS class, the CSP
    /// forbidding inline styles).
    by_state: Vec<(String, u64, u64)>,
    timings: Vec<TimingRow>,
    trend: Vec<WeekRow>,
    chart: Chart,
    /// The situations of the drift table's columns (all but `matched`).
    situations: Vec<&'static str>,
    drift: Vec<DriftRow>,
    runs: Vec<RunRow>,
}

struct TimingRow {
    name: &'static str,
    span: &'static str,
    count: usize,
    p50: String,
    p95: String,
    /// (request id, how long), slowest first.
    slowest: Vec<(String, String)>,
}

impl TimingRow {
    fn of(name: &'static str, span: &'static str, t: &Timing) -> TimingRow {
        let show = |d: Option<chrono::Duration>| d.map_or_else(|| "–".to_owned(), short_duration);
        TimingRow {
            name,
            span,
            count: t.count,
            p50: show(t.p50),
            p95: show(t.p95),
            slowest: t.slowest.iter().map(|(id, d)| (id.clone(), short_duration(*d))).collect(),
        }
    }
}

struct WeekRow {
    starts: String,
    submitted: u64,
    approved: u64,
    denied: u64,
    dropped: u64,
    break_glass: u64,
    removals_verified: u64,
    approve_p50: String,
}

/// A bar chart drawn on the server as SVG: no script, nothing fetched.
struct Chart {
    width: u32,
    height: u32,
    bars: Vec<Bar>,
    /// (x, text) under each group of bars.
    labels: Vec<(u32, String)>,
    /// The tallest bar's value, for the scale's caption.
    max: u64,
}

struct Bar {
    x: u32,
    y: u32,
    height: u32,
    class: &'static str,
    title: String,
}

const CHART_HEIGHT: u32 = 120;
const BAR_WIDTH: u32 = 10;
const GROUP_WIDTH: u32 = 44;

impl Chart {
    /// Three bars a week: filed, approved, denied.
    fn weekly(weeks: &[Week]) -> Chart {
        let max = weeks.iter().flat_map(|w| [w.submitted, w.approved, w.denied]).max().unwrap_or(0);
        let scale = |n: u64| (n * u64::from(CHART_HEIGHT)).checked_div(max).unwrap_or(0) as u32;
        let mut bars = Vec::new();
        let mut labels = Vec::new();
        for (i, w) in weeks.iter().enumerate() {
            let left = i as u32 * GROUP_WIDTH + 4;
            let day = w.starts.format("%d %b").to_string();
            for (j, (n, class, what)) in
                [(w.submitted, "bar-filed", "filed"), (w.approved, "bar-approved", "approved"), (w.denied, "bar-denied", "denied")].into_iter().enumerate()
            {
                let h = scale(n);
                bars.push(Bar { x: left + j as u32 * (BAR_WIDTH + 2), y: CHART_HEIGHT - h, height: h, class, title: format!("week of {day}: {n} {what}") });
            }
            labels.push((left + GROUP_WIDTH / 2 - 4, day));
        }
        Chart { width: weeks.len() as u32 * GROUP_WIDTH + 8, height: CHART_HEIGHT + 18, bars, labels, max }
    }
}

struct DriftRow {
    starts: String,
    runs: u64,
    /// The lowest match rate of the week's runs.
    worst_match: String,
    /// Findings per situation of [`DashboardPage::situations`], summed over the week's runs.
    counts: Vec<u64>,
}

struct RunRow {
    id: String,
    target: String,
    match_rate: String,
    live_rows: u64,
    findings: String,
    finished_at: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct DashboardQuery {
    #[serde(default)]
    weeks: String,
}

/// The dashboard, or why the person may not see it.
#[allow(clippy::result_large_err)] // the `Err` is the answer itself
fn may_oversee(app: &App, user: &PortalUser, what: &str) -> Result<(), Response> {
    app.writ
        .authorize(&user.identity, writ_policy::AdminAction::ReadAudit, what)
        .map_err(|e| message(StatusCode::FORBIDDEN, "Not for you", &e.to_string(), ("/portal", "Home")))
}

/// Oversight's figures over the last `?weeks=` weeks (8 unless said).
pub(super) async fn dashboard(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<DashboardQuery>) -> Response {
    if let Err(page) = may_oversee(&app, &user, "see the security dashboard") {
        return page;
    }
    let weeks = match q.weeks.trim() {
        "" => DEFAULT_WEEKS,
        w => match w.parse::<u32>() {
            Ok(n) if (1..=writ_app::query::MAX_FLOW_WEEKS).contains(&n) => n,
            _ => {
                let text = format!("`weeks` must be a whole number from 1 to {}, not `{w}`", writ_app::query::MAX_FLOW_WEEKS);
                return message(StatusCode::BAD_REQUEST, "No such window", &text, ("/portal/dashboard", "The last 8 weeks"));
            }
        },
    };
    match dashboard_figures(&app, &user, weeks).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => {
            tracing::error!(error = %e, "portal: the dashboard's figures could not be read");
            message(StatusCode::SERVICE_UNAVAILABLE, "Not available", "the figures could not be read: try again in a moment", ("/portal", "Home"))
        }
    }
}

async fn dashboard_figures(app: &App, user: &PortalUser, weeks: u32) -> Result<DashboardPage, writ_app::AppError> {
    let counts = app.writ.store().request_counts().await?;
    let (revoking, overdue) = app.writ.removal_counts().await?;
    let break_glass = app.writ.break_glass_exceptions().await?;
    let (owner_left, owner_left_overdue) = app.writ.owner_left_counts().await?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum::<u64>().max(1);
    let by_state = counts.into_iter().map(|(state, n)| (state, n, (n * 100 / total) / 5 * 5)).collect();
    let flow = app.writ.flow_figures(&user.identity, weeks).await?;
    let timings = vec![
        TimingRow::of("Time to approve", "filed → approved by its last stage", &flow.times.approve),
        TimingRow::of("Time to provision", "approved → access in place and read back", &flow.times.provision),
        TimingRow::of("Time to revoke", "expiry or revocation → removal read back", &flow.times.revoke),
    ];
    let trend = flow
        .weeks
        .iter()
        .map(|w| WeekRow {
            starts: w.starts.format("%Y-%m-%d").to_string(),
            submitted: w.submitted,
            approved: w.approved,
            denied: w.denied,
            dropped: w.dropped,
            break_glass: w.break_glass,
            removals_verified: w.removals_verified,
            approve_p50: w.approve_p50.map_or_else(|| "–".to_owned(), short_duration),
        })
        .collect();
    let chart = Chart::weekly(&flow.weeks);
    let since = writ_core::flow::window_start(app.writ.clock().now(), weeks);
    let situations: Vec<Situation> = Situation::ALL.into_iter().filter(|s| *s != Situation::Matched).collect();
    let window_runs = finished_runs_since(app, user, since).await?;
    let drift = flow
        .weeks
        .iter()
        .map(|w| {
            let starts = w.starts.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
            let in_week: Vec<&writ_app::ports::ReconcileRun> =
                window_runs.iter().filter(|r| starts.is_some_and(|s| r.finished_at >= s && r.finished_at < s + chrono::Duration::weeks(1))).collect();
            let worst = in_week.iter().map(|r| r.match_rate).fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))));
            DriftRow {
                starts: w.starts.format("%Y-%m-%d").to_string(),
                runs: in_week.len() as u64,
                worst_match: worst.map_or_else(|| "–".to_owned(), |m| format!("{:.1} %", m * 100.0)),
                counts: situations.iter().map(|s| in_week.iter().map(|r| r.counts.get(*s)).sum()).collect(),
            }
        })
        .collect();
    let mut runs = Vec::new();
    for target in app.writ.reconcilable_targets() {
        if let Some(r) = app.writ.last_finished_run(&target).await? {
            let findings: Vec<String> =
                situations.iter().map(|s| (s.as_str(), r.counts.get(*s))).filter(|(_, n)| *n > 0).map(|(s, n)| format!("{s} {n}")).collect();
            runs.push(RunRow {
                id: r.id.to_string(),
                target: r.target.to_string(),
                match_rate: format!("{:.1} %", r.match_rate * 100.0),
                live_rows: r.live_rows,
                findings: if findings.is_empty() { "none".into() } else { findings.join(", ") },
                finished_at: r.finished_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            });
        }
    }
    Ok(DashboardPage {
        nav: Nav::of(user, "dashboard"),
        weeks,
        revoking,
        overdue,
        break_glass,
        owner_left,
        owner_left_overdue,
        by_state,
        timings,
        trend,
        chart,
        situations: situations.iter().map(|s| s.as_str()).collect(),
        drift,
        runs,
    })
}

/// Every finished run that ended at or after `since`, read page by page
/// (newest first) until an older one.
async fn finished_runs_since(app: &App, user: &PortalUser, since: DateTime<Utc>) -> Result<Vec<writ_app::ports::ReconcileRun>, writ_app::AppError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = app.writ.list_runs(&user.identity, writ_app::ports::RunFilter { target: None, after, limit: 500 }).await?;
        let older = page.iter().any(|r| r.started_at < since);
        out.extend(page.iter().filter(|r| r.state == writ_app::ports::RunState::Done && r.finished_at >= since).cloned());
        match page.next {
            Some(next) if !older => after = Some(next),
            _ => return Ok(out),
        }
    }
}

#[derive(Template)]
#[template(path = "portal/removals.html")]
struct RemovalsPage {
    nav: Nav,
    overdue_only: bool,
    grants: Vec<writ_api::GrantView>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct OverdueQuery {
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    cursor: String,
}

/// Grants whose access is being removed (only the overdue ones with
/// `?overdue=1`): each with its attempts, the target's last error and the
/// request behind it.
pub(super) async fn removals(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<OverdueQuery>) -> Response {
    if let Err(page) = may_oversee(&app, &user, "see the removals under way") {
        return page;
    }
    let after = match page_cursor(&q.cursor, "/portal/removals") {
        Ok(a) => a,
        Err(page) => return page,
    };
    let overdue_only = q.overdue == "1";
    let filter = writ_app::ports::GrantFilter {
        revoking_only: true,
        removal_started_by: overdue_only.then(|| app.writ.removal_overdue_since()),
        after,
        limit: 50,
        ..Default::default()
    };
    match app.writ.list_grants(&user.identity, filter).await {
        Ok(page) => render(
            StatusCode::OK,
            &RemovalsPage {
                nav: Nav::of(&user, "dashboard"),
                overdue_only,
                grants: page.iter().map(|g| views::grant(g, app.writ.is_overdue(g))).collect(),
                next: page.next.map(|c| c.to_string()),
            },
        ),
        Err(e) => {
            tracing::error!(error = %e, "portal: removals could not be read");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not available",
                "the removals could not be read: try again in a moment",
                ("/portal/dashboard", "Dashboard"),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "portal/owner_left.html")]
struct OwnerLeftPage {
    nav: Nav,
    overdue_only: bool,
    identities: Vec<writ_api::IdentityView>,
    next: Option<String>,
}

/// Non-human identities whose owner left, soonest deadline first (only the
/// overdue ones with `?overdue=1`).
pub(super) async fn owner_left(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<OverdueQuery>) -> Response {
    let after = match page_cursor(&q.cursor, "/portal/owner-left") {
        Ok(a) => a,
        Err(page) => return page,
    };
    let overdue_only = q.overdue == "1";
    // The use-case asks policy (`read_audit`) itself.
    match app.writ.owner_left_identities(&user.identity, overdue_only, after, 50).await {
        Ok(page) => {
            let now = app.writ.clock().now();
            render(
                StatusCode::OK,
                &OwnerLeftPage {
                    nav: Nav::of(&user, "dashboard"),
                    overdue_only,
                    identities: page.iter().map(|(i, v)| views::identity(i, *v, now)).collect(),
                    next: page.next.map(|c| c.to_string()),
                },
            )
        }
        Err(e @ writ_app::AppError::Forbidden { .. }) => message(StatusCode::FORBIDDEN, "Not for you", &e.to_string(), ("/portal", "Home")),
        Err(e) => {
            tracing::error!(error = %e, "portal: identities whose owner left could not be read");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not available",
                "the identities could not be read: try again in a moment",
                ("/portal/dashboard", "Dashboard"),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "portal/runs.html")]
struct RunsPage {
    nav: Nav,
    runs: Vec<writ_api::RunView>,
    next: Option<String>,
}

/// Reconciliation runs, newest first.
pub(super) async fn runs(State(app): State<App>, SignedIn(user): SignedIn, Query(q): Query<PageQuery>) -> Response {
    if let Err(page) = may_oversee(&app, &user, "read reconciliation runs") {
        return page;
    }
    let after = match page_cursor(&q.cursor, "/portal/reconcile") {
        Ok(a) => a,
        Err(page) => return page,
    };
    match app.writ.list_runs(&user.identity, writ_app::ports::RunFilter { target: None, after, limit: 50 }).await {
        Ok(page) => render(
            StatusCode::OK,
            &RunsPage { nav: Nav::of(&user, "reconcile"), runs: page.iter().map(views::run).collect(), next: page.next.map(|c| c.to_string()) },
        ),
        Err(e) => {
            tracing::error!(error = %e, "portal: runs could not be read");
            message(StatusCode::SERVICE_UNAVAILABLE, "Not available", "the runs could not be read: try again in a moment", ("/portal", "Home"))
        }
    }
}

#[derive(Template)]
#[template(path = "portal/run.html")]
struct RunPage {
    nav: Nav,
    run: writ_api::RunView,
    observations: Vec<writ_api::ObservationView>,
}

/// One run and its exceptions, with what was done about each.
pub(super) async fn run(State(app): State<App>, SignedIn(user): SignedIn, Path(id): Path<String>) -> Response {
    if let Err(page) = may_oversee(&app, &user, "read reconciliation runs") {
        return page;
    }
    let not_found = || message(StatusCode::NOT_FOUND, "No such run", &format!("there is no run `{id}`"), ("/portal/reconcile", "Reconciliation"));
    let Ok(rid) = writ_core::ids::RunId::parse(&id) else { return not_found() };
    let store = app.writ.store();
    match (store.run(rid).await, store.run_observations(rid).await) {
        (Ok(Some(run)), Ok(observations)) => render(
            StatusCode::OK,
            &RunPage { nav: Nav::of(&user, "reconcile"), run: views::run(&run), observations: observations.iter().map(views::observation).collect() },
        ),
        (Ok(None), _) => not_found(),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "portal: a run could not be read");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not available",
                "the run could not be read: try again in a moment",
                ("/portal/reconcile", "Reconciliation"),
            )
        }
    }
}
