//! `writ grant …`: access that was put in place, and when it ends.

use clap::{Args, Subcommand};
use writ_api::{CloseRemoval, ExtendGrant, GrantView, RevokeGrant};

use crate::client::{decode, Client};
use crate::cmd::page::{self, PageArgs};
use crate::output::{emit, emit_json, one_line, opt, short_time, table_or, Table};

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// List active grants: yours, or a subject's (needs `read_audit` in policy).
    List(ListArgs),
    /// End a grant early, with a reason: yours (giving it up), or as an owner
    /// or security, as policy allows. Writ removes the access from the target.
    Revoke(RevokeArgs),
    /// Close by hand an overdue removal (the target keeps failing), with
    /// evidence that the access is gone. Not for your own grants.
    Close(CloseArgs),
    /// Ask to keep a grant's access longer: a new request, through policy
    /// and approval like any other, linked to the grant.
    Extend(ExtendArgs),
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    /// The grant's id (see `writ grant list`).
    pub id: String,
    /// How long the new grant lasts once approved, e.g. `4h`.
    #[arg(long, short = 'd', value_name = "DURATION")]
    pub duration: String,
    /// Why the access is still needed; reviewers read this.
    #[arg(long, short = 'j', value_name = "TEXT")]
    pub justification: String,
    #[arg(long, value_name = "TICKET")]
    pub ticket: Option<String>,
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// The grant's id (see `writ grant list --overdue`).
    pub id: String,
    /// How the access was removed and checked.
    #[arg(long, value_name = "TEXT")]
    pub evidence: String,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The grant's id (see `writ grant list`).
    pub id: String,
    /// Why, for the evidence chain.
    #[arg(long, short = 'r', value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Whose grants; defaults to yours.
    #[arg(long, value_name = "ID")]
    pub subject: Option<String>,
    /// Also list grants that have ended.
    #[arg(long)]
    pub all: bool,
    /// Only grants whose access is still not proved removed after the
    /// configured window (Writ keeps retrying them).
    #[arg(long, conflicts_with = "all")]
    pub overdue: bool,
    // Soonest expiry first, a page at a time (`--limit`, `--cursor`, `--all-pages`).
    #[command(flatten)]
    pub page: PageArgs,
}

pub async fn run(api: &Client, cmd: &GrantCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        GrantCommand::List(a) => {
            let mut query = vec![("active", (!a.all).to_string())];
            let mut command = vec!["grant".to_owned(), "list".to_owned()];
            if a.all {
                command.push("--all".into());
            }
            if a.overdue {
                query.push(("overdue", "true".to_owned()));
                command.push("--overdue".into());
            }
            if let Some(s) = &a.subject {
                query.push(("subject", s.clone()));
                command.extend(["--subject".into(), s.clone()]);
            }
            let listing = page::read(api, &["v1", "grants"], query, &a.page).await?;
            if json {
                return page::emit_json(&listing, &command, &a.page);
            }
            let grants: Vec<GrantView> = decode("grant list", serde_json::Value::Array(listing.items.clone()))?;
            let empty = if a.overdue {
                "no overdue revocations"
            } else if a.all {
                "no grants"
            } else {
                "no active grants"
            };
            emit(&page::with_more(table_or(&grant_table(&grants), empty), &listing, &command, &a.page))
        }
        GrantCommand::Extend(a) => {
            let body = ExtendGrant { duration: a.duration.clone(), justification: a.justification.clone(), ticket: a.ticket.clone() };
            let value = api.post(&["v1", "grants", &a.id, "extend"], &body).await?;
            crate::cmd::request::settled(api, value, json).await
        }
        GrantCommand::Close(a) => {
            let value = api.post(&["v1", "grants", &a.id, "close"], &CloseRemoval { evidence: a.evidence.clone() }).await?;
            if json {
                return emit_json(&value);
            }
            let g: GrantView = decode("grant", value)?;
            emit(&format!("grant {} is {}: its removal was closed by hand with your evidence\n", one_line(&g.id), one_line(&g.state)))
        }
        GrantCommand::Revoke(a) => {
            let value = api.post(&["v1", "grants", &a.id, "revoke"], &RevokeGrant { reason: a.reason.clone() }).await?;
            if json {
                return emit_json(&value);
            }
            let g: GrantView = decode("grant", value)?;
            emit(&format!(
                "grant {} of `{}` for {} is {}: Writ is removing the access from the target; `writ grant list --all` shows when it is done\n",
                one_line(&g.id),
                one_line(&g.entitlement),
                one_line(&g.subject),
                one_line(&g.state)
            ))
        }
    }
}

/// The `writ grant list` table.
pub fn grant_table(grants: &[GrantView]) -> Table {
    let mut t = Table::new(&["id", "subject", "entitlement", "state", "starts", "expires", "ended", "request"]);
    for g in grants {
        let ended = match (&g.ended_at, g.ended_reason.as_deref()) {
            (Some(at), Some(why)) => format!("{} ({why})", short_time(at)),
            (Some(at), None) => short_time(at),
            (None, _) if g.removal.is_some() => {
                let r = g.removal.as_ref().expect("checked");
                let tries = match (r.attempts, r.overdue) {
                    (0, _) => "removing".to_owned(),
                    (n, false) => format!("removing, {n} failed attempts"),
                    (n, true) => format!("OVERDUE: removing, {n} failed attempts"),
                };
                format!("{tries} ({})", one_line(&r.ending))
            }
            (None, why) => opt(why),
        };
        t.row([
            g.id.clone(),
            g.subject.clone(),
            g.entitlement.clone(),
            g.state.clone(),
            short_time(&g.starts_at),
            short_time(&g.expires_at),
            ended,
            g.request_id.clone(),
        ]);
    }
    t
}
