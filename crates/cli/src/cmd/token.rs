//! `writ token …`: API tokens, each with an owner, a name, an expiry and
//! optionally a scope. A token's secret is printed once, at creation.

use clap::{Args, Subcommand};
use writ_api::{CreatedToken, NewToken, ReasonBody, TokenView};

use crate::client::{decode, Client};
use crate::cmd::page::{self, PageArgs};
use crate::output::{emit, emit_json, one_line, opt, opt_time, short_time, table_or, Table};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token: for yourself, for a service account or agent you own,
    /// or (as policy's `manage_identities` allows) for anyone. Its secret is
    /// printed once: store it where it is used.
    Create(CreateArgs),
    /// List the tokens you use or answer for (every token, for administrators).
    List(ListArgs),
    /// Revoke a token, at once: the next call with it is refused.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Where it is used, e.g. `laptop` or `ci-deploy`.
    #[arg(long, short = 'n', value_name = "NAME")]
    pub name: String,
    /// Who it authenticates as (default: you).
    #[arg(long = "for", value_name = "IDENTITY")]
    pub for_identity: Option<String>,
    /// How long it lasts, e.g. `30d`. Required for a service account, API key
    /// or agent; a person's token lasts the server's maximum without it.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// Limit it: `read` (reads only) or `request` (submit and cancel
    /// requests, read your own). Without it, it does what policy lets its
    /// identity do.
    #[arg(long, value_name = "SCOPE", value_parser = ["read", "request"])]
    pub scope: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    // Newest first, a page at a time (`--limit`, `--cursor`, `--all-pages`).
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's id (see `writ token list`).
    pub id: String,
    /// Why, for the audit log.
    #[arg(long, short = 'r', value_name = "TEXT", default_value = "")]
    pub reason: String,
}

pub async fn run(api: &Client, cmd: &TokenCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create(a) => {
            let body = NewToken { name: a.name.clone(), identity: a.for_identity.clone(), expires: a.expires.clone(), scope: a.scope.clone() };
            let value = api.post(&["v1", "tokens"], &body).await?;
            if json {
                return emit_json(&value);
            }
            let created: CreatedToken = decode("token", value)?;
            let t = &created.token;
            emit(&format!(
                "token {} for {} ({}), {}, {}:\n{}\nIt is shown this once: store it where it is used (e.g. WRIT_TOKEN). `writ token revoke {}` ends it.\n",
                one_line(&t.id),
                one_line(&t.identity),
                one_line(&t.name),
                t.scope.as_deref().map_or_else(|| "no scope".to_owned(), |s| format!("scope `{}`", one_line(s))),
                t.expires_at.as_ref().map_or_else(|| "never expires".to_owned(), |e| format!("expires {}", short_time(e))),
                created.secret,
                one_line(&t.id),
            ))
        }
        TokenCommand::List(a) => {
            let command = vec!["token".to_owned(), "list".to_owned()];
            let listing = page::read(api, &["v1", "tokens"], vec![], &a.page).await?;
            if json {
                return page::emit_json(&listing, &command, &a.page);
            }
            let tokens: Vec<TokenView> = decode("token list", serde_json::Value::Array(listing.items.clone()))?;
            emit(&page::with_more(table_or(&token_table(&tokens), "no tokens"), &listing, &command, &a.page))
        }
        TokenCommand::Revoke(a) => {
            let value = api.post(&["v1", "tokens", &a.id, "revoke"], &ReasonBody { reason: a.reason.clone() }).await?;
            if json {
                return emit_json(&value);
            }
            let t: TokenView = decode("token", value)?;
            emit(&format!("token {} ({} for {}) is revoked: it no longer authenticates\n", one_line(&t.id), one_line(&t.name), one_line(&t.identity)))
        }
    }
}

/// The `writ token list` table.
pub fn token_table(tokens: &[TokenView]) -> Table {
    let mut t = Table::new(&["id", "identity", "name", "scope", "status", "owner", "created", "expires", "last used"]);
    for k in tokens {
        t.row([
            k.id.clone(),
            k.identity.clone(),
            k.name.clone(),
            opt(k.scope.as_deref()),
            k.status.clone(),
            k.owner.clone(),
            short_time(&k.created_at),
            opt_time(k.expires_at.as_ref()),
            opt_time(k.last_used_at.as_ref()),
        ]);
    }
    t
}
