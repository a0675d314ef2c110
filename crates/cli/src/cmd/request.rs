//! `writ request …`: ask for access, review, cancel, list, and show the evidence.

use clap::{Args, Subcommand};
use writ_api::{EvidenceView, NewRequest, ReasonBody, RequestView, TaskView};

use crate::client::{decode, Client};
use crate::cmd::evidence;
use crate::cmd::page::{self, PageArgs};
use crate::output::{emit, emit_json, list, one_line, short_time, table_or, Table};

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Ask for access to one or more entitlements.
    Create(CreateArgs),
    /// List the requests you are involved in (or may see, per the `view` policy).
    List(ListArgs),
    /// Show the whole evidence chain of a request, top to bottom.
    Show(RequestId),
    /// Approve a request you have authority to review.
    Approve(OptionalReason),
    /// Deny a request; a denial is final.
    Deny(RequiredReason),
    /// Withdraw a request that is pending or approved.
    Cancel(OptionalReason),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// An entitlement id, `target/name` (see `writ catalog list`); repeat for several.
    #[arg(long = "entitlement", short = 'e', value_name = "ENTITLEMENT", required = true)]
    pub entitlements: Vec<String>,
    /// Why the access is needed; reviewers read this.
    #[arg(long, short = 'j', value_name = "TEXT")]
    pub justification: String,
    /// How long the access lasts once in place, e.g. `8h`, `30m`, `1h30m`.
    #[arg(long, short = 'd', value_name = "DURATION")]
    pub duration: String,
    /// Whose access changes, if not yours (e.g. a service account you own).
    #[arg(long, value_name = "ID")]
    pub subject: Option<String>,
    /// A ticket in another system this request belongs to, e.g. `INC-1234`.
    #[arg(long, value_name = "TICKET")]
    pub ticket: Option<String>,
    /// The catalog's request type, e.g. `privileged_access` (some make a
    /// ticket mandatory); `application_access` if left out.
    #[arg(long = "type", value_name = "TYPE")]
    pub request_type: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only requests in this state: pending, approved, active, denied, cancelled, lapsed.
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Instead: the pending requests you can review now.
    #[arg(long, conflicts_with = "state")]
    pub queue: bool,
    // Newest first, a page at a time (`--limit`, `--cursor`, `--all-pages`).
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Args)]
pub struct RequestId {
    /// The request id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct OptionalReason {
    /// The request id.
    pub id: String,
    /// Why; recorded in the evidence.
    #[arg(long, short = 'r', value_name = "TEXT", default_value = "")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct RequiredReason {
    /// The request id.
    pub id: String,
    /// Why; the requester sees it.
    #[arg(long, short = 'r', value_name = "TEXT")]
    pub reason: String,
}

pub async fn run(api: &Client, cmd: &RequestCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        RequestCommand::Create(a) => {
            let body = NewRequest {
                subject: a.subject.clone(),
                entitlements: a.entitlements.clone(),
                justification: a.justification.clone(),
                duration: a.duration.clone(),
                ticket: a.ticket.clone(),
                request_type: a.request_type.clone(),
            };
            let value = api.post(&["v1", "requests"], &body).await?;
            settled(api, value, json).await
        }
        RequestCommand::List(a) => {
            let mut command = vec!["request".to_owned(), "list".to_owned()];
            let mut query = Vec::new();
            let segments: &[&str] = if a.queue {
                command.push("--queue".into());
                &["v1", "requests", "queue"]
            } else {
                if let Some(s) = &a.state {
                    command.extend(["--state".into(), s.clone()]);
                    query.push(("state", s.clone()));
                }
                &["v1", "requests"]
            };
            let listing = page::read(api, segments, query, &a.page).await?;
            if json {
                return page::emit_json(&listing, &command, &a.page);
            }
            let requests: Vec<RequestView> = decode("request list", serde_json::Value::Array(listing.items.clone()))?;
            let empty = if a.queue { "nothing waits for your review" } else { "no requests match" };
            emit(&page::with_more(table_or(&request_table(&requests), empty), &listing, &command, &a.page))
        }
        RequestCommand::Show(a) => {
            let value = api.get(&["v1", "requests", &a.id], &[]).await?;
            if json {
                return emit_json(&value);
            }
            let ev: EvidenceView = decode("evidence", value)?;
            emit(&evidence::render(&ev))
        }
        RequestCommand::Approve(a) => review(api, &a.id, "approve", &a.reason, json).await,
        RequestCommand::Deny(a) => review(api, &a.id, "deny", &a.reason, json).await,
        RequestCommand::Cancel(a) => review(api, &a.id, "cancel", &a.reason, json).await,
    }
}

async fn review(api: &Client, id: &str, verb: &str, reason: &str, json: bool) -> anyhow::Result<()> {
    let body = ReasonBody { reason: reason.to_owned() };
    let value = api.post(&["v1", "requests", id, verb], &body).await?;
    settled(api, value, json).await
}

/// Prints a request the server just answered with, and what happens next.
pub(crate) async fn settled(api: &Client, value: serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        return emit_json(&value);
    }
    let req: RequestView = decode("request", value)?;
    // The tasks say who fulfils an approved request; knowing them is a courtesy,
    // so a failure to fetch them only makes the hint vaguer.
    let tasks = if req.state == "approved" {
        match api.get(&["v1", "requests", &req.id], &[]).await {
            Ok(v) => decode::<EvidenceView>("evidence", v).map(|e| e.tasks).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    } else {
        Vec::new()
    };
    emit(&summary(&req, &tasks))
}

/// `request <id> is <state>` and the next steps, one per line.
pub fn summary(req: &RequestView, tasks: &[TaskView]) -> String {
    let mut out = format!("request {} is {}\n", one_line(&req.id), one_line(&req.state));
    if let (Some(g), Some(r)) = (&req.extends_grant, &req.extends_request) {
        out.push_str(&format!("an extension of grant {} (request {}): once approved, a new grant starts and the two overlap\n", one_line(g), one_line(r)));
    }
    for line in crate::cmd::break_glass::review_lines(req).into_iter().chain(next_steps(req, tasks)) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// What happens next to a request, and who has to act, as sentences.
pub fn next_steps(req: &RequestView, tasks: &[TaskView]) -> Vec<String> {
    let id = one_line(&req.id);
    let reason = req.outcome_reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(one_line);
    match req.state.as_str() {
        "pending" => {
            let several = req.entitlements.len() > 1;
            let mut lines = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for stage in &req.stages {
                // Stages run in order per entitlement: only the first open one waits.
                if stage.passed || !seen.insert(stage.entitlement.as_str()) {
                    continue;
                }
                let of = if several { format!(" of `{}`", one_line(&stage.entitlement)) } else { String::new() };
                let progress = if stage.required > 1 || !stage.approvals.is_empty() {
                    format!(", {} of {} approvals", stage.approvals.len(), stage.required)
                } else {
                    String::new()
                };
                lines.push(format!(
                    "waiting for stage `{}`{of} ({}{progress}): ask them to run `writ request approve {id}`",
                    one_line(&stage.name),
                    one_line(&stage.approvers),
                ));
            }
            if lines.is_empty() {
                lines.push(format!("waiting for review: see `writ request show {id}`"));
            }
            lines.push(format!("it lapses if not decided by {}", short_time(&req.lapses_at)));
            lines
        }
        "approved" | "partially_fulfilled" => {
            let open: Vec<&TaskView> = tasks.iter().filter(|t| t.state == "open").collect();
            let mut lines: Vec<String> = req
                .fulfilment
                .iter()
                .filter(|f| f.status == "retrying" || f.status == "failed")
                .map(|f| {
                    let error = one_line(f.error.as_deref().unwrap_or("no detail"));
                    if f.status == "retrying" {
                        format!("`{}` is not in place yet: {error}; Writ retries by itself", one_line(&f.entitlement))
                    } else {
                        format!("`{}` could not be put in place: {error}; fix the target, then submit a new request for it", one_line(&f.entitlement))
                    }
                })
                .collect();
            if open.is_empty() && lines.is_empty() {
                return vec![format!("waiting for fulfilment: see `writ request show {id}`")];
            }
            lines.extend(open.iter().map(|t| {
                format!(
                    "a fulfilment task is open for group `{}` (`{}` for `{}`): a member runs `writ task complete {} --evidence ...` once it is done",
                    one_line(&t.fulfiller_group),
                    one_line(&t.entitlement),
                    one_line(&t.subject),
                    one_line(&t.id),
                )
            }));
            lines
        }
        "failed" => vec![format!("no entitlement could be put in place: see each target's error in `writ request show {id}`")],
        "active" => {
            vec![
                format!("the access is in place for {}: `writ grant list --subject {}` shows when it expires", one_line(&req.subject), one_line(&req.subject),),
            ]
        }
        "denied" => vec![match reason {
            Some(r) => format!("denied: {r}"),
            None => denied_by_policy(req).unwrap_or_else(|| format!("denied: see `writ request show {id}` for the decisions")),
        }],
        "cancelled" => vec![match reason {
            Some(r) => format!("cancelled: {r}"),
            None => "cancelled".to_owned(),
        }],
        "lapsed" => vec![format!(
            "nobody decided it in time{}: submit a new request if the access is still needed",
            reason.map(|r| format!(" ({r})")).unwrap_or_default()
        )],
        _ => vec![format!("see `writ request show {id}`")],
    }
}

/// The policy ids of the decisions that refused the request, if any did.
fn denied_by_policy(req: &RequestView) -> Option<String> {
    let ids: Vec<String> = req.decisions.iter().filter(|d| !d.allowed).flat_map(|d| d.policy_ids.clone()).collect();
    if req.decisions.iter().any(|d| !d.allowed) {
        Some(format!("denied by policy: {}", list(&ids)))
    } else {
        None
    }
}

/// The `writ request list` table.
pub fn request_table(requests: &[RequestView]) -> Table {
    let mut t = Table::new(&["id", "state", "requester", "subject", "entitlements", "created"]);
    for r in requests {
        t.row([r.id.clone(), r.state.clone(), r.requester.clone(), r.subject.clone(), list(&r.entitlements), short_time(&r.created_at)]);
    }
    t
}
