//! `writ`: the command-line client of Writ. The command tree and its dispatch
//! live in the library (`writ_cli::Cli`, `writ_cli::run`) so tests can reach them;
//! this is the binary edge, where an error becomes `error: …` and exit code 1.

use std::process::ExitCode;

use clap::Parser;
use writ_cli::output::is_broken_pipe;
use writ_cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match writ_cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // `writ … | head` closing the pipe early is not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
