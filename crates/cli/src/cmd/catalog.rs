//! `writ whoami` and `writ catalog …`: who you are and what you can ask for.

use clap::Subcommand;
use writ_api::{CatalogEntitlement, WhoAmI};

use crate::client::{decode, Client};
use crate::output::{emit, emit_json, fields, list, table_or, Table};

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List the entitlements that can be requested.
    List,
}

pub async fn whoami(api: &Client, json: bool) -> anyhow::Result<()> {
    let value = api.get(&["v1", "whoami"], &[]).await?;
    if json {
        return emit_json(&value);
    }
    let me: WhoAmI = decode("identity", value)?;
    emit(&render_whoami(&me, api.server()))
}

/// What `writ whoami` prints.
pub fn render_whoami(me: &WhoAmI, server: &str) -> String {
    fields(
        "",
        &[
            ("id", me.id.clone()),
            ("kind", me.kind.clone()),
            ("status", me.status.clone()),
            ("groups", list(&me.groups)),
            ("oversight", (if me.oversight { "yes" } else { "no" }).to_owned()),
            ("server", server.to_owned()),
        ],
    )
}

pub async fn run(api: &Client, cmd: &CatalogCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        CatalogCommand::List => {
            let value = api.get(&["v1", "catalog"], &[]).await?;
            if json {
                return emit_json(&value);
            }
            let entries: Vec<CatalogEntitlement> = decode("catalog", value)?;
            emit(&table_or(&catalog_table(&entries), "the catalog is empty"))
        }
    }
}

/// The `writ catalog list` table.
pub fn catalog_table(entries: &[CatalogEntitlement]) -> Table {
    let mut t = Table::new(&["entitlement", "risk", "max duration", "stages", "owners", "description"]);
    for e in entries {
        let stages = if e.stages.is_empty() { "none (policy decides)".to_owned() } else { e.stages.join(" → ") };
        t.row([e.id.clone(), e.risk.clone(), e.max_duration.clone(), stages, list(&e.owners), e.description.clone()]);
    }
    t
}
