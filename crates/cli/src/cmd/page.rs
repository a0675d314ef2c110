//! How the `list` commands page: a page at a time (`--limit`, `--cursor`),
//! with a last line giving the command for the next page, or every page
//! (`--all-pages`, following the server's `Link: rel="next"` headers).

use clap::Args;
use serde_json::Value;

use crate::client::Client;
use crate::output::one_line;

/// The paging flags every `list` command takes.
#[derive(Debug, Clone, Default, Args)]
pub struct PageArgs {
    /// At most this many per page (default: the server's; out of range, the
    /// server says the range).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Start where the previous page ended: the cursor its last line gave.
    /// With `--json`, stdout holds only the JSON array and the command for
    /// the next page goes to stderr.
    #[arg(long, value_name = "CURSOR", conflicts_with = "all_pages")]
    pub cursor: Option<String>,
    /// Read every page to the end, following the server's links (with
    /// `--json`: one array of all of them).
    #[arg(long)]
    pub all_pages: bool,
}

/// What a list command read: the items, and where the next page starts
/// when there is more (never with `--all-pages`).
#[derive(Debug, Clone)]
pub struct Listing {
    pub items: Vec<Value>,
    pub next: Option<String>,
}

/// Reads the list at `segments` with `query`: the page `args` ask for, or
/// with `--all-pages` every page after it.
pub async fn read(api: &Client, segments: &[&str], mut query: Vec<(&str, String)>, args: &PageArgs) -> anyhow::Result<Listing> {
    if let Some(n) = args.limit {
        query.push(("limit", n.to_string()));
    }
    if let Some(c) = &args.cursor {
        query.push(("cursor", c.clone()));
    }
    let mut page = api.get_list(segments, &query).await?;
    let mut items = std::mem::take(&mut page.items);
    if args.all_pages {
        while let Some(url) = page.next.take() {
            page = api.get_list_at(url).await?;
            items.append(&mut page.items);
        }
    }
    Ok(Listing { items, next: page.next_cursor() })
}

/// The line that says there is more and how to see it: `command` (the
/// words after `writ`, without the paging flags) with this page's `--limit`
/// and the next page's `--cursor`.
pub fn more_line(command: &[String], args: &PageArgs, next: &str, json: bool) -> String {
    let mut words: Vec<String> = std::iter::once("writ".to_owned()).chain(command.iter().cloned()).collect();
    if json {
        words.push("--json".into());
    }
    if let Some(n) = args.limit {
        words.extend(["--limit".into(), n.to_string()]);
    }
    words.extend(["--cursor".into(), next.to_owned()]);
    let shown: Vec<String> = words.iter().map(|w| shell_word(&one_line(w))).collect();
    format!("more: the next page is `{}` (or add `--all-pages` for all of them)", shown.join(" "))
}

/// Prints the items as the JSON array (stdout) and, when there is more,
/// the command for the next page on stderr.
pub fn emit_json(listing: &Listing, command: &[String], args: &PageArgs) -> anyhow::Result<()> {
    crate::output::emit_json(&listing.items)?;
    if let Some(next) = &listing.next {
        eprintln!("{}", more_line(command, args, next, true));
    }
    Ok(())
}

/// `rendered` (a table), then the line for the next page when there is more.
pub fn with_more(mut rendered: String, listing: &Listing, command: &[String], args: &PageArgs) -> String {
    if let Some(next) = &listing.next {
        rendered.push_str(&more_line(command, args, next, false));
        rendered.push('\n');
    }
    rendered
}

/// `word` as one word for a POSIX shell: as is when it is safe, else in
/// single quotes.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_more_line_is_the_command_for_the_next_page() {
        let args = PageArgs { limit: Some(2), ..Default::default() };
        let command = ["request".to_owned(), "list".to_owned(), "--state".to_owned(), "pending".to_owned()];
        assert_eq!(
            more_line(&command, &args, "1800000000000.req-ab", false),
            "more: the next page is `writ request list --state pending --limit 2 --cursor 1800000000000.req-ab` (or add `--all-pages` for all of them)"
        );
        let odd = ["grant".to_owned(), "list".to_owned(), "--subject".to_owned(), "o'neil x".to_owned()];
        assert!(more_line(&odd, &PageArgs::default(), "1.g", true).contains(r"--subject 'o'\''neil x' --json --cursor 1.g"));
    }
}
