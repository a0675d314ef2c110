//! The `writ` command: a client of Writ's HTTP JSON API in the spirit of `tsh` and
//! `kubectl` (human output by default, `--json` for the API's own JSON), plus the
//! local commands that run the server, verify the audit log and classify tickets
//! offline.
//!
//! This module holds the command tree ([`Cli`]) and [`run`], which dispatches a
//! parsed command; `main.rs` only turns an error into `error: …` and exit code 1.

pub mod client;
pub mod cmd;
pub mod output;

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::client::Client;
use crate::cmd::audit_export::ExportArgs;
use crate::cmd::catalog::CatalogCommand;
use crate::cmd::grant::GrantCommand;
use crate::cmd::identity::IdentityCommand;
use crate::cmd::local::{InitArgs, PolicyCheckArgs, ServeArgs, VerifyArgs};
use crate::cmd::request::RequestCommand;
use crate::cmd::task::TaskCommand;

/// The default server, where `writ serve` listens unless configured otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7878";

#[derive(Debug, Parser)]
#[command(
    name = "writ",
    version,
    about = "Writ: governed access requests with a provable evidence chain",
    after_help = "Start with `writ whoami`, `writ catalog list` and `writ request create --help`."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes, before or after the subcommand.
#[derive(Clone, Args)]
pub struct GlobalArgs {
    /// The Writ server's base URL.
    #[arg(long, global = true, help_heading = "Global options", value_name = "URL", env = "WRIT_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// Your API token. Prefer `WRIT_TOKEN` or `--token-file`: other users can see command lines.
    #[arg(long, global = true, help_heading = "Global options", value_name = "TOKEN", env = "WRIT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding your API token (used when no `--token` / `WRIT_TOKEN` is set).
    #[arg(long, global = true, help_heading = "Global options", value_name = "PATH", env = "WRIT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Print JSON instead of human output (for API commands: the server's JSON, pretty).
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

impl fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // INVARIANT: the token is never printed, not even in debug output.
        f.debug_struct("GlobalArgs")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("json", &self.json)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the identity your token belongs to.
    Whoami,
    /// The catalog of entitlements that can be requested.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Ask for access, review requests, and read their evidence.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Manual fulfilment tasks of approved requests.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Access that is in place, and when it ends.
    #[command(subcommand)]
    Grant(GrantCommand),
    /// Compare every target's live state with the approved grants, and read
    /// the reports (`writ reconcile show RUN`, `writ reconcile list`).
    Reconcile(cmd::reconcile::ReconcileArgs),
    /// Emergency access without approval, and its review afterwards.
    #[command(subcommand, name = "break-glass")]
    BreakGlass(cmd::break_glass::BreakGlassCommand),
    /// Identities: people, service accounts, agents.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Sign in with your organisation's single sign-on (OpenID Connect); the
    /// token it earns is kept in `~/.config/writ/` and used when no token is given.
    Login(cmd::login::LoginArgs),
    /// Revoke the token of `writ login` and delete it.
    Logout,
    /// API tokens: create (the secret shown once), list, revoke.
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Policies as code.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Classify tickets (subject and body) into request types, offline, and
    /// train custom models.
    #[command(subcommand)]
    Intake(cmd::intake::IntakeCommand),
    /// Create a data directory with a config, a catalog and policies.
    Init(InitArgs),
    /// Run the Writ server.
    Serve(ServeArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Export the whole log and its signed checkpoints as JSON Lines.
    Export(ExportArgs),
    /// Verify the hash chain and checkpoints of a database or an export, offline.
    Verify(VerifyArgs),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate the policies in a directory against the schema.
    Check(PolicyCheckArgs),
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.global.json;
    // Only the API commands need a server and a token.
    let api = || Client::from_args(&cli.global);
    match &cli.command {
        Command::Whoami => cmd::catalog::whoami(&api()?, json).await,
        Command::Catalog(c) => cmd::catalog::run(&api()?, c, json).await,
        Command::Request(c) => cmd::request::run(&api()?, c, json).await,
        Command::Task(c) => cmd::task::run(&api()?, c, json).await,
        Command::Grant(c) => cmd::grant::run(&api()?, c, json).await,
        Command::BreakGlass(c) => cmd::break_glass::run(&api()?, c, json).await,
        Command::Reconcile(c) => cmd::reconcile::run(&api()?, c, json).await,
        Command::Identity(c) => cmd::identity::run(&api()?, c, json).await,
        Command::Login(a) => cmd::login::login(&cli.global, a).await,
        Command::Logout => cmd::login::logout().await,
        Command::Token(c) => cmd::token::run(&api()?, c, json).await,
        Command::Audit(AuditCommand::Export(a)) => cmd::audit_export::run(&api()?, a, json).await,
        Command::Audit(AuditCommand::Verify(a)) => cmd::local::audit_verify(a, json).await,
        Command::Policy(PolicyCommand::Check(a)) => cmd::local::policy_check(a, json),
        Command::Intake(c) => cmd::intake::run(c, json),
        Command::Init(a) => cmd::local::init(a).await,
        Command::Serve(a) => cmd::local::serve(a).await,
    }
}
