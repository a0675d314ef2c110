//! `writ task …`: the manual fulfilment tasks of approved requests.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use writ_api::{CompleteTask, TaskView};

use crate::client::{decode, Client};
use crate::cmd::page::{self, PageArgs};
use crate::output::{emit, emit_json, one_line, opt, opt_time, short_time, table_or, Table};

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// List the open fulfilment tasks you can see (your groups' tasks).
    List(ListArgs),
    /// Record that a task was carried out, with evidence of what changed.
    Complete(CompleteArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Also list done and cancelled tasks.
    #[arg(long)]
    pub all: bool,
    // Oldest first, a page at a time (`--limit`, `--cursor`, `--all-pages`).
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["evidence", "evidence_file"])))]
pub struct CompleteArgs {
    /// The task id.
    pub id: String,
    /// What was changed in the target, e.g. the command run and its output.
    #[arg(long, value_name = "TEXT")]
    pub evidence: Option<String>,
    /// Read the evidence from a file (`-` for stdin).
    #[arg(long, value_name = "PATH")]
    pub evidence_file: Option<PathBuf>,
}

pub async fn run(api: &Client, cmd: &TaskCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        TaskCommand::List(a) => {
            let open = if a.all { "false" } else { "true" };
            let mut command = vec!["task".to_owned(), "list".to_owned()];
            if a.all {
                command.push("--all".into());
            }
            let listing = page::read(api, &["v1", "tasks"], vec![("open", open.to_owned())], &a.page).await?;
            if json {
                return page::emit_json(&listing, &command, &a.page);
            }
            let tasks: Vec<TaskView> = decode("task list", serde_json::Value::Array(listing.items.clone()))?;
            let empty = if a.all { "no tasks" } else { "no open tasks" };
            emit(&page::with_more(table_or(&task_table(&tasks), empty), &listing, &command, &a.page))
        }
        TaskCommand::Complete(a) => {
            let evidence = evidence_text(a)?;
            let value = api.post(&["v1", "tasks", &a.id, "complete"], &CompleteTask { evidence }).await?;
            if json {
                return emit_json(&value);
            }
            let task: TaskView = decode("task", value)?;
            emit(&completed(&task))
        }
    }
}

fn evidence_text(a: &CompleteArgs) -> anyhow::Result<String> {
    let text = match (&a.evidence, &a.evidence_file) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("cannot read the evidence from stdin")?;
            s
        }
        (None, Some(p)) => std::fs::read_to_string(p).with_context(|| format!("cannot read the evidence file `{}`", p.display()))?,
        (None, None) => bail!("say what was done with `--evidence TEXT` or `--evidence-file PATH`"),
    };
    if text.trim().is_empty() {
        bail!("the evidence is empty: say what was changed in the target, e.g. the command run and its output");
    }
    Ok(text)
}

/// What `writ task complete` prints.
pub fn completed(t: &TaskView) -> String {
    format!(
        "task {} is {}\nthe request becomes active when all its tasks are done: `writ request show {}`\n",
        one_line(&t.id),
        one_line(&t.state),
        one_line(&t.request_id),
    )
}

/// The `writ task list` table.
pub fn task_table(tasks: &[TaskView]) -> Table {
    let mut t = Table::new(&["id", "request", "subject", "entitlement", "group", "to do", "state", "created", "completed by", "completed"]);
    for task in tasks {
        t.row([
            task.id.clone(),
            task.request_id.clone(),
            task.subject.clone(),
            task.entitlement.clone(),
            task.fulfiller_group.clone(),
            task.purpose.clone(),
            task.state.clone(),
            short_time(&task.created_at),
            opt(task.completed_by.as_deref()),
            opt_time(task.completed_at.as_ref()),
        ]);
    }
    t
}
