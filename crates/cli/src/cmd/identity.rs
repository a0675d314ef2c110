//! `writ identity …`: people, service accounts and agents, and their status.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::Value;
use writ_api::{ApplyIdentities, IdentityDiffView, IdentityView, SetStatus};

use crate::client::{decode, Client};
use crate::output::{emit, emit_json, list, one_line, opt, table_or, Table};

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// List the identities Writ knows, by id, a page at a time.
    List(crate::cmd::page::PageArgs),
    /// Disable an identity: it can no longer call the API or receive access.
    Disable(IdentityId),
    /// Enable a disabled identity again.
    Enable(IdentityId),
    /// Non-human identities whose owner left: each must be given an active
    /// owner or be disabled by its deadline (soonest first).
    OwnerLeft(OwnerLeftArgs),
    /// Make the registry what an identities file declares (the TOML of `writ
    /// init`'s identities.toml): those listed are created or updated, active
    /// ones left out are disabled. Prints what changed.
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The identities file (TOML, `[[identities]]` tables).
    pub file: PathBuf,
    /// Only show what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct OwnerLeftArgs {
    /// Only those past their deadline.
    #[arg(long)]
    pub overdue: bool,
    #[command(flatten)]
    pub page: crate::cmd::page::PageArgs,
}

#[derive(Debug, Args)]
pub struct IdentityId {
    /// The identity id.
    pub id: String,
}

pub async fn run(api: &Client, cmd: &IdentityCommand, json: bool) -> anyhow::Result<()> {
    let (id, status) = match cmd {
        IdentityCommand::List(a) => {
            use crate::cmd::page;
            let command = vec!["identity".to_owned(), "list".to_owned()];
            let listing = page::read(api, &["v1", "identities"], vec![], a).await?;
            if json {
                return page::emit_json(&listing, &command, a);
            }
            let identities: Vec<IdentityView> = decode("identity list", Value::Array(listing.items.clone()))?;
            return emit(&page::with_more(table_or(&identity_table(&identities), "no identities"), &listing, &command, a));
        }
        IdentityCommand::Apply(a) => return apply(api, a, json).await,
        IdentityCommand::OwnerLeft(a) => return owner_left(api, a, json).await,
        IdentityCommand::Disable(a) => (&a.id, "disabled"),
        IdentityCommand::Enable(a) => (&a.id, "active"),
    };
    let body = SetStatus { status: status.to_owned(), version: None };
    let value = api.post(&["v1", "identities", id, "status"], &body).await?;
    if json {
        return emit_json(&value);
    }
    let identity: IdentityView = decode("identity", value)?;
    emit(&format!("identity {} is {}\n", one_line(&identity.id), one_line(&identity.status)))
}

/// `writ identity owner-left`: a page of the identities whose owner left.
async fn owner_left(api: &Client, args: &OwnerLeftArgs, json: bool) -> anyhow::Result<()> {
    use crate::cmd::page;
    let mut command = vec!["identity".to_owned(), "owner-left".to_owned()];
    let mut query = Vec::new();
    if args.overdue {
        command.push("--overdue".to_owned());
        query.push(("overdue", "true".to_owned()));
    }
    let listing = page::read(api, &["v1", "identities", "owner-left"], query, &args.page).await?;
    if json {
        return page::emit_json(&listing, &command, &args.page);
    }
    let identities: Vec<IdentityView> = decode("identity list", Value::Array(listing.items.clone()))?;
    emit(&page::with_more(table_or(&owner_left_table(&identities), "no identities whose owner left"), &listing, &command, &args.page))
}

/// The `writ identity owner-left` table.
pub fn owner_left_table(identities: &[IdentityView]) -> Table {
    let mut t = Table::new(&["id", "kind", "owner who left", "asked of", "due", "overdue"]);
    for i in identities {
        let Some(f) = &i.owner_left else { continue };
        t.row([
            i.id.clone(),
            i.kind.clone(),
            f.owner.clone(),
            opt(f.flagged_to.as_deref()),
            f.due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            if f.overdue { "OVERDUE".into() } else { "no".into() },
        ]);
    }
    t
}

/// `writ identity apply`: the file is read and checked here first, so a
/// mistake is named by its line before anything is sent.
async fn apply(api: &Client, args: &ApplyArgs, json: bool) -> anyhow::Result<()> {
    let identities = writ_server::catalog_file::load_identities(&args.file)?;
    let body = ApplyIdentities { identities: identities.iter().map(writ_server::views::identity_record).collect(), dry_run: args.dry_run };
    let value = api.post(&["v1", "identities", "apply"], &body).await?;
    if json {
        return emit_json(&value);
    }
    emit(&render_diff(&decode("identity diff", value)?))
}

/// What `writ identity apply` prints: `+` created, `~` a changed field with
/// its values before and after, `-` disabled, then a summary line.
pub fn render_diff(d: &IdentityDiffView) -> String {
    let total = d.created.len() + d.changed.len() + d.disabled.len();
    if total == 0 {
        return format!("no changes: {} identities already as the file says\n", d.unchanged);
    }
    let mut out = String::new();
    for i in &d.created {
        out.push_str(&format!("+ {} created ({}, {})\n", one_line(&i.id), one_line(&i.kind), one_line(&i.status)));
    }
    for i in &d.changed {
        for c in &i.changes {
            out.push_str(&format!("~ {} {}: {} → {}\n", one_line(&i.id), one_line(&c.field), value(&c.from), value(&c.to)));
        }
    }
    for id in &d.disabled {
        out.push_str(&format!("- {} disabled\n", one_line(id)));
    }
    let counts = format!("{} created, {} changed, {} disabled, {} unchanged", d.created.len(), d.changed.len(), d.disabled.len(), d.unchanged);
    if d.dry_run {
        out.push_str(&format!("dry run, nothing changed: {counts} (run without --dry-run to apply)\n"));
    } else {
        out.push_str(&format!("applied: {counts}\n"));
    }
    out
}

/// A field's value on one line: a text as is, `-` for none, a list joined,
/// a map as `key=value` pairs.
fn value(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "\"\"".to_owned(),
        Value::String(s) => one_line(s),
        Value::Array(items) => list(&items.iter().map(value).collect::<Vec<_>>()),
        Value::Object(map) => list(&map.iter().map(|(k, v)| format!("{k}={}", value(v))).collect::<Vec<_>>()),
        other => one_line(&other.to_string()),
    }
}

/// The `writ identity list` table.
pub fn identity_table(identities: &[IdentityView]) -> Table {
    let mut t = Table::new(&["id", "kind", "status", "name", "owner", "manager", "groups"]);
    for i in identities {
        t.row([
            i.id.clone(),
            i.kind.clone(),
            i.status.clone(),
            opt(Some(&i.display_name)),
            opt(i.owner.as_deref()),
            opt(i.manager.as_deref()),
            list(&i.groups),
        ]);
    }
    t
}
