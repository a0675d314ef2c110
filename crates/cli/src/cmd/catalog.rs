//! `writ whoami` and `writ catalog …`: who you are and what you can ask for.

use clap::Subcommand;
use writ_api::{CatalogEntitlement, TargetView, WhoAmI};

use crate::client::{decode, Client};
use crate::output::{emit, emit_json, fields, list, table_or, Table};

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List the entitlements that can be requested.
    List,
    /// List the targets and what their connectors do (the endpoint only for
    /// people who may read the audit log).
    Targets,
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
        CatalogCommand::Targets => {
            let value = api.get(&["v1", "catalog", "targets"], &[]).await?;
            if json {
                return emit_json(&value);
            }
            let targets: Vec<TargetView> = decode("targets", value)?;
            emit(&table_or(&targets_table(&targets), "the catalog has no targets"))
        }
    }
}

/// The `writ catalog targets` table.
pub fn targets_table(targets: &[TargetView]) -> Table {
    let yes = |b: bool| (if b { "yes" } else { "no" }).to_owned();
    let mut t = Table::new(&["target", "connector", "read-back", "accounts", "expiry on target", "endpoint", "description"]);
    for x in targets {
        t.row([
            x.id.clone(),
            x.kind.clone(),
            yes(x.reads_live_state),
            yes(x.manages_accounts),
            yes(x.enforces_expiry),
            x.endpoint.clone().unwrap_or_else(|| "-".to_owned()),
            x.description.clone(),
        ]);
    }
    t
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
