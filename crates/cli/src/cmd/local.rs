//! Commands that work on local files and databases rather than through the API.
//! Placeholder: the integrator replaces this file, keeping these signatures.

use std::path::PathBuf;

use clap::Args;

/// `writ init`: create a data directory with a config, a catalog and policies.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The data directory to create.
    #[arg(long, value_name = "PATH", default_value = "./writ-data")]
    pub dir: PathBuf,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
}

/// `writ serve`: run the server.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The server's config file.
    #[arg(long, value_name = "PATH", env = "WRIT_CONFIG", default_value = "./writ-data/writ.toml")]
    pub config: PathBuf,
}

/// `writ audit verify`: check the audit chain and its signed checkpoints offline.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["database", "file"])))]
pub struct VerifyArgs {
    /// Verify the log in this database, e.g. `sqlite://writ-data/writ.db`.
    #[arg(long, value_name = "URL", env = "WRIT_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Verify an export written by `writ audit export`.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// The hex Ed25519 public key checkpoints must be signed with.
    #[arg(long, value_name = "HEX")]
    pub trusted_key: Option<String>,
}

/// `writ policy check`: validate the policies in a directory.
#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// The policy directory.
    #[arg(value_name = "DIR", default_value = "./writ-data/policies")]
    pub dir: PathBuf,
}

pub async fn init(_args: &InitArgs) -> anyhow::Result<()> {
    anyhow::bail!("not wired yet")
}

pub async fn serve(_args: &ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("not wired yet")
}

pub async fn audit_verify(_args: &VerifyArgs, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("not wired yet")
}

pub fn policy_check(_args: &PolicyCheckArgs, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("not wired yet")
}
