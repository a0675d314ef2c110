//! `writ identity …`: people, service accounts and agents, and their status.

use clap::{Args, Subcommand};
use writ_api::{IdentityView, SetStatus};

use crate::client::{decode, Client};
use crate::output::{emit, emit_json, list, one_line, opt, table_or, Table};

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// List the identities Writ knows.
    List,
    /// Disable an identity: it can no longer call the API or receive access.
    Disable(IdentityId),
    /// Enable a disabled identity again.
    Enable(IdentityId),
}

#[derive(Debug, Args)]
pub struct IdentityId {
    /// The identity id.
    pub id: String,
}

pub async fn run(api: &Client, cmd: &IdentityCommand, json: bool) -> anyhow::Result<()> {
    let (id, status) = match cmd {
        IdentityCommand::List => {
            let value = api.get(&["v1", "identities"], &[]).await?;
            if json {
                return emit_json(&value);
            }
            let identities: Vec<IdentityView> = decode("identity list", value)?;
            return emit(&table_or(&identity_table(&identities), "no identities"));
        }
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
