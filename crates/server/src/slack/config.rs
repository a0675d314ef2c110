//! `[slack]` in writ.toml: the Slack app Writ's approvers click in. Checked
//! at start-up; every error names the key. The signing secret and the bot
//! token are read from files (relative to writ.toml's directory) and never
//! printed.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use writ_connectors::secret::Secret;
use writ_connectors::slack::SlackClient;

use crate::config::ConfigError;

/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// The identity attribute holding a person's Slack user id (`U…`).
pub const DEFAULT_IDENTITY_ATTRIBUTE: &str = "slack_user_id";
/// The shortest signing secret accepted (Slack's are 32 hex digits).
const MIN_SECRET_CHARS: usize = 16;

/// `[slack]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// A file holding the Slack app's signing secret (Basic Information →
    /// App Credentials), which signs every interaction Slack sends.
    #[serde(default)]
    pub signing_secret_file: Option<PathBuf>,
    /// A file holding the bot token (`xoxb-…`, scopes `chat:write`), which
    /// posts approval messages and opens the reason dialog.
    #[serde(default)]
    pub bot_token_file: Option<PathBuf>,
    /// Slack's Web API base URL (default `https://slack.com/api`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// The channel id (`C…`) approval messages are posted to.
    #[serde(default)]
    pub approvals_channel: Option<String>,
    /// The identity attribute that holds each person's Slack user id
    /// (default `slack_user_id`).
    #[serde(default)]
    pub identity_attribute: Option<String>,
    /// With an https `api_url`: the CA (PEM) its certificate must chain to.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// What the interaction endpoint and the notifier need.
pub struct SlackService {
    signing_secret: Secret,
    pub client: Arc<SlackClient>,
    pub approvals_channel: String,
    pub identity_attribute: String,
}

impl std::fmt::Debug for SlackService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackService").field("client", &self.client.describe()).field("approvals_channel", &self.approvals_channel).finish_non_exhaustive()
    }
}

impl SlackService {
    pub fn signing_secret(&self) -> &Secret {
        &self.signing_secret
    }
}

fn invalid(key: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid { key: "slack", reason: format!("`{key}`: {reason}") }
}

/// One secret alone in a file: its trailing newline dropped, nothing else.
fn read_secret(key: &str, path: &std::path::Path, min_chars: usize, hint: &str) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| invalid(key, format!("`{}` cannot be read ({}): {hint}", path.display(), e.kind())))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.chars().count() < min_chars || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(key, format!("`{}` must hold one value of at least {min_chars} characters without spaces: {hint}", path.display())));
    }
    Ok(Secret::new(value))
}

impl SlackConfig {
    /// Makes every relative file path relative to `base` (writ.toml's directory).
    pub fn rebase(&mut self, base: &std::path::Path) {
        for p in [&mut self.signing_secret_file, &mut self.bot_token_file, &mut self.ca_file].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Reads the secrets and builds the Slack client; sends nothing.
    pub fn service(&self) -> Result<SlackService, ConfigError> {
        let required = |key: &str, v: &Option<PathBuf>| v.clone().ok_or_else(|| invalid(key, "is required"));
        let signing_secret = read_secret(
            "signing_secret_file",
            &required("signing_secret_file", &self.signing_secret_file)?,
            MIN_SECRET_CHARS,
            "put the Slack app's signing secret (Basic Information → App Credentials) in it",
        )?;
        let token = read_secret("bot_token_file", &required("bot_token_file", &self.bot_token_file)?, 8, "put the app's bot token (`xoxb-…`) in it")?;
        let channel = self.approvals_channel.as_deref().map(str::trim).unwrap_or_default();
        if channel.is_empty() || !channel.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid("approvals_channel", "write the channel's id (e.g. `C0123ABCD`, from the channel's details), not its name"));
        }
        let attribute =
            crate::intake_hooks::attribute("slack", "`identity_attribute`", self.identity_attribute.as_deref().unwrap_or(DEFAULT_IDENTITY_ATTRIBUTE))?;
        let api_url = self.api_url.as_deref().unwrap_or(DEFAULT_API_URL);
        if self.ca_file.is_some() && !api_url.trim().starts_with("https://") {
            return Err(invalid("ca_file", "is for TLS: use an `https://` api_url, or remove it"));
        }
        let client = SlackClient::new(api_url, token, self.ca_file.as_deref()).map_err(|e| invalid("api_url", e))?;
        Ok(SlackService { signing_secret, client: Arc::new(client), approvals_channel: channel.to_owned(), identity_attribute: attribute })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path) -> SlackConfig {
        std::fs::write(dir.join("signing"), "8f742231b10e8888abcd99yyyzzz85a5\n").unwrap();
        std::fs::write(dir.join("bot"), "xoxb-0000-not-a-real-token\n").unwrap();
        let mut c = SlackConfig {
            signing_secret_file: Some("signing".into()),
            bot_token_file: Some("bot".into()),
            approvals_channel: Some("C0APPROVALS".into()),
            ..Default::default()
        };
        c.rebase(dir);
        c
    }

    #[test]
    fn a_complete_section_reads_its_secrets_and_defaults_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let s = config(dir.path()).service().unwrap();
        assert_eq!(s.signing_secret().expose(), "8f742231b10e8888abcd99yyyzzz85a5");
        assert_eq!((s.identity_attribute.as_str(), s.approvals_channel.as_str()), ("slack_user_id", "C0APPROVALS"));
        assert_eq!(s.client.describe(), "slack https://slack.com/api");
        let shown = format!("{s:?}");
        assert!(!shown.contains("8f742231") && !shown.contains("xoxb"), "{shown}");
    }

    #[test]
    fn every_error_names_its_key_and_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let bad = |edit: &dyn Fn(&mut SlackConfig)| {
            let mut c = config(dir.path());
            edit(&mut c);
            c.service().unwrap_err().to_string()
        };
        let absent = dir.path().join("absent");
        let expect = |edit: &dyn Fn(&mut SlackConfig), key: &str| {
            let e = bad(edit);
            assert!(e.contains("config key `slack`") && e.contains(key), "{key} in {e}");
        };
        expect(&|c| c.signing_secret_file = None, "`signing_secret_file`: is required");
        expect(&|c| c.signing_secret_file = Some(absent.clone()), "`signing_secret_file`");
        expect(&|c| c.bot_token_file = None, "`bot_token_file`");
        expect(&|c| c.approvals_channel = None, "`approvals_channel`");
        expect(&|c| c.approvals_channel = Some("#approvals".into()), "`approvals_channel`");
        expect(&|c| c.identity_attribute = Some("slack user".into()), "`identity_attribute`");
        expect(&|c| c.api_url = Some("ftp://slack".into()), "`api_url`");
        expect(&|c| c.ca_file = Some("ca.pem".into()), "`ca_file`");
        std::fs::write(dir.path().join("short"), "abc\n").unwrap();
        let e = bad(&|c| c.signing_secret_file = Some(dir.path().join("short")));
        assert!(e.contains("at least 16") && !e.contains("abc"), "{e}");
    }
}
