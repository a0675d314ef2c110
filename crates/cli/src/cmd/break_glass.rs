//! `writ break-glass …`: emergency access without approval, and the review
//! every use owes afterwards.

use clap::{Args, Subcommand};
use writ_api::{BreakGlassReview, NewRequest, RequestView, ResolveBreakGlass};

use crate::client::{decode, Client};
use crate::cmd::page::{self, PageArgs};
use crate::cmd::request::settled;
use crate::output::{emit, list, one_line, short_time, table_or, Table};

#[derive(Debug, Subcommand)]
pub enum BreakGlassCommand {
    /// Take emergency access now, if policy allows it for you, the
    /// entitlement and the duration. It is logged loudly and must be reviewed.
    Use(UseArgs),
    /// Break-glass uses whose review is still open.
    List(ListArgs),
    /// Accept or reject a use (one of its named reviewers).
    Review(ReviewArgs),
    /// Settle a rejected use, saying what was done about it.
    Resolve(ResolveArgs),
}

#[derive(Debug, Args)]
pub struct UseArgs {
    /// An entitlement id, `target/name`; repeat for several.
    #[arg(long = "entitlement", short = 'e', value_name = "ENTITLEMENT", required = true)]
    pub entitlements: Vec<String>,
    /// The emergency: what is broken and why this access fixes it.
    #[arg(long, short = 'r', value_name = "TEXT")]
    pub reason: String,
    /// How long, e.g. `1h`; policy sets the maximum (the demo: 4h).
    #[arg(long, short = 'd', value_name = "DURATION")]
    pub duration: String,
    /// The incident, e.g. `INC-1234`.
    #[arg(long, value_name = "TICKET")]
    pub ticket: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the exceptions: reviews overdue, or uses rejected and not resolved.
    #[arg(long)]
    pub exceptions: bool,
    // Newest first, a page at a time (`--limit`, `--cursor`, `--all-pages`).
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The break-glass request's id.
    pub id: String,
    /// The emergency justified the access.
    #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
    pub accept: bool,
    /// It did not: the use stays an exception until resolved.
    #[arg(long)]
    pub reject: bool,
    /// What you checked.
    #[arg(long, value_name = "TEXT")]
    pub note: String,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The break-glass request's id.
    pub id: String,
    /// What was done about the rejected use.
    #[arg(long, value_name = "TEXT")]
    pub note: String,
}

pub async fn run(api: &Client, cmd: &BreakGlassCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        BreakGlassCommand::Use(a) => {
            let body = NewRequest {
                subject: None,
                entitlements: a.entitlements.clone(),
                justification: a.reason.clone(),
                duration: a.duration.clone(),
                ticket: a.ticket.clone(),
                request_type: Some("break_glass".into()),
            };
            let value = api.post(&["v1", "break-glass"], &body).await?;
            settled(api, value, json).await
        }
        BreakGlassCommand::List(a) => {
            let query = if a.exceptions { vec![("exceptions", "true".to_owned())] } else { Vec::new() };
            let mut command = vec!["break-glass".to_owned(), "list".to_owned()];
            if a.exceptions {
                command.push("--exceptions".into());
            }
            let listing = page::read(api, &["v1", "break-glass"], query, &a.page).await?;
            if json {
                return page::emit_json(&listing, &command, &a.page);
            }
            let uses: Vec<RequestView> = decode("break-glass list", serde_json::Value::Array(listing.items.clone()))?;
            let empty = if a.exceptions { "no break-glass exceptions" } else { "no break-glass use awaits review" };
            emit(&page::with_more(table_or(&table(&uses), empty), &listing, &command, &a.page))
        }
        BreakGlassCommand::Review(a) => {
            let verdict = if a.accept { "accept" } else { "reject" };
            let value = api.post(&["v1", "break-glass", &a.id, "review"], &BreakGlassReview { verdict: verdict.into(), note: a.note.clone() }).await?;
            settled(api, value, json).await
        }
        BreakGlassCommand::Resolve(a) => {
            let value = api.post(&["v1", "break-glass", &a.id, "resolve"], &ResolveBreakGlass { note: a.note.clone() }).await?;
            settled(api, value, json).await
        }
    }
}

fn table(uses: &[RequestView]) -> Table {
    let mut t = Table::new(&["id", "review", "due", "used by", "entitlements", "reviewers", "used"]);
    for r in uses {
        let Some(p) = &r.post_review else { continue };
        let status = if p.exception { format!("{} (EXCEPTION)", p.status.to_uppercase()) } else { p.status.clone() };
        t.row([r.id.clone(), status, short_time(&p.due_at), r.requester.clone(), list(&r.entitlements), list(&p.reviewers), short_time(&r.created_at)]);
    }
    t
}

/// The lines `writ request show` and the commands above add for a break-glass use.
pub fn review_lines(r: &RequestView) -> Vec<String> {
    let Some(p) = &r.post_review else { return Vec::new() };
    let id = one_line(&r.id);
    let who = list(&p.reviewers);
    match p.status.as_str() {
        "awaiting" => vec![
            "BREAK-GLASS: granted without approval; this use is logged and must be reviewed".to_owned(),
            format!("review due by {} from one of {who}: `writ break-glass review {id} --accept|--reject --note ...`", short_time(&p.due_at)),
        ],
        "overdue" => {
            vec![format!("EXCEPTION: the review was due at {} and is not done; one of {who} runs `writ break-glass review {id} ...`", short_time(&p.due_at))]
        }
        "rejected" => vec![format!(
            "EXCEPTION: rejected by {}: {}; its access is being removed; a reviewer settles it with `writ break-glass resolve {id} --note ...`",
            one_line(p.reviewed_by.as_deref().unwrap_or("?")),
            one_line(p.review_note.as_deref().unwrap_or("")),
        )],
        "accepted" => vec![format!(
            "break-glass use accepted by {}: {}",
            one_line(p.reviewed_by.as_deref().unwrap_or("?")),
            one_line(p.review_note.as_deref().unwrap_or(""))
        )],
        "resolved" => vec![format!(
            "break-glass use rejected, then resolved by {}: {}",
            one_line(p.resolved_by.as_deref().unwrap_or("?")),
            one_line(p.resolution_note.as_deref().unwrap_or("")),
        )],
        other => vec![format!("break-glass review: {}", one_line(other))],
    }
}
