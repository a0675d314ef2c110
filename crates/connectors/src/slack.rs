//! Slack for approvers: the approval message with Approve/Deny buttons
//! (`chat.postMessage`), the dialog asking a denier for a reason
//! (`views.open`), and the [`SlackNotifier`] that posts every
//! `approval_needed` notification to the approvals channel.
//!
//! The Block Kit builders are pure; [`SlackClient`] is the only part that
//! speaks HTTP. Its base URL is configurable (`https://slack.com/api` by
//! default) so tests can point it at a local listener. The bot token goes
//! in the `Authorization` header only, never in a log or an error.
//!
//! The ids below are the contract with the interaction endpoint (the
//! server's `slack` module): a button's `value` is the request id, and the
//! dialog's `private_metadata` carries it back (JSON: `request`, and the
//! `channel` and `ts` of the message clicked on, whose buttons the outcome
//! replaces).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use serde_json::{json, Value};
use writ_app::ports::{Notification, NotificationKind, Notifier, NotifyError};

use crate::secret::Secret;

/// The Approve button's `action_id`.
pub const APPROVE_ACTION: &str = "writ_approve";
/// The Deny button's `action_id`: it opens the reason dialog.
pub const DENY_ACTION: &str = "writ_deny";
/// The reason dialog's `callback_id`.
pub const DENY_VIEW: &str = "writ_deny_reason";
/// The reason input's `block_id` and `action_id` in that dialog.
pub const REASON_BLOCK: &str = "reason";
pub const REASON_INPUT: &str = "reason_input";

/// Slack's limit for a section's text; longer text is cut (the request's
/// page in Writ has the whole justification).
const SECTION_MAX_CHARS: usize = 3000;

/// Escapes what Slack's mrkdwn treats as control characters, so a
/// requester's justification cannot mention `<!channel>` or forge a link.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn cut(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn field(p: &Value, key: &str) -> String {
    match &p[key] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join(", "),
        Value::Null => "?".into(),
        other => other.to_string(),
    }
}

/// The message asking approvers to review request `id` (from an
/// `approval_needed` notification's payload): who asks for what, for whom,
/// why and for how long, the open stages, and Approve/Deny buttons whose
/// `value` is the request id.
pub fn approval_message(id: &str, payload: &Value) -> Value {
    let requester = field(payload, "requester");
    let subject = field(payload, "subject");
    let whom = if requester == subject { String::new() } else { format!(" for *{}*", escape(&subject)) };
    let stages: Vec<String> = payload["stages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| format!("• `{}` stage *{}* ({})", escape(&field(s, "entitlement")), escape(&field(s, "stage")), escape(&field(s, "approvers"))))
                .collect()
        })
        .unwrap_or_default();
    let text = format!(
        "*{}* asks for `{}`{whom} for *{}*.\n*Why:* {}\n*Waiting for:*\n{}\nRequest `{}`, lapses at {}.",
        escape(&requester),
        escape(&field(payload, "entitlements")),
        escape(&field(payload, "duration")),
        escape(&field(payload, "justification")),
        stages.join("\n"),
        escape(id),
        escape(&field(payload, "lapses_at")),
    );
    let fallback = format!("{requester} asks for {} (request {id}): approve or deny in Writ", field(payload, "entitlements"));
    json!({
        "text": cut(fallback, SECTION_MAX_CHARS),
        "blocks": [
            { "type": "section", "block_id": "writ_request", "text": { "type": "mrkdwn", "text": cut(text, SECTION_MAX_CHARS) } },
            {
                "type": "actions",
                "block_id": "writ_review",
                "elements": [
                    { "type": "button", "action_id": APPROVE_ACTION, "style": "primary", "text": { "type": "plain_text", "text": "Approve" }, "value": id },
                    { "type": "button", "action_id": DENY_ACTION, "style": "danger", "text": { "type": "plain_text", "text": "Deny…" }, "value": id },
                ],
            },
        ],
    })
}

/// The dialog asking why request `id` is denied, opened from the message
/// (channel, ts) clicked on; its submission carries both back in
/// `private_metadata`.
pub fn deny_reason_view(id: &str, message: Option<(&str, &str)>) -> Value {
    let metadata = json!({ "request": id, "channel": message.map(|m| m.0), "ts": message.map(|m| m.1) });
    json!({
        "type": "modal",
        "callback_id": DENY_VIEW,
        "private_metadata": metadata.to_string(),
        "title": { "type": "plain_text", "text": "Deny request" },
        "submit": { "type": "plain_text", "text": "Deny" },
        "close": { "type": "plain_text", "text": "Cancel" },
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": { "type": "plain_text", "text": "Why is it denied? The requester sees this." },
                "element": { "type": "plain_text_input", "action_id": REASON_INPUT, "multiline": true, "max_length": 1000 },
            },
        ],
    })
}

/// The message that replaces the buttons once a click was acted on.
pub fn outcome_message(text: &str) -> Value {
    json!({ "text": text, "blocks": [ { "type": "section", "text": { "type": "mrkdwn", "text": escape(text) } } ] })
}

/// Calls Slack's Web API with the bot token.
pub struct SlackClient {
    api: Url,
    token: Secret,
    http: reqwest::Client,
}

/// Why the client cannot be built; names the key, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[slack] {0}")]
pub struct SlackConfigError(String);

impl SlackClient {
    /// `api_url` is Slack's Web API base (`https://slack.com/api`); sends nothing.
    pub fn new(api_url: &str, token: Secret, ca_file: Option<&std::path::Path>) -> Result<Self, SlackConfigError> {
        let trimmed = api_url.trim().trim_end_matches('/');
        let api = Url::parse(&format!("{trimmed}/")).map_err(|e| SlackConfigError(format!("api_url `{api_url}`: {e}")))?;
        if !matches!(api.scheme(), "http" | "https") || !api.username().is_empty() || api.password().is_some() {
            return Err(SlackConfigError(format!("api_url `{api_url}`: write an http(s) URL without credentials, e.g. `https://slack.com/api`")));
        }
        if token.expose().trim().is_empty() || token.expose().chars().any(char::is_whitespace) {
            return Err(SlackConfigError("bot_token_file must hold the bot token (`xoxb-…`) alone on one line".into()));
        }
        let http = crate::tls::http_client(reqwest::Client::builder(), ca_file)
            .map_err(|e| SlackConfigError(e.to_string()))?
            .connect_timeout(Duration::from_secs(3))
            // Slack's trigger_id lasts 3 s, and an interaction waits on views.open.
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| SlackConfigError(format!("cannot build the HTTP client: {}", crate::scim::describe(e))))?;
        Ok(Self { api, token, http })
    }

    /// Where it calls, without the token.
    pub fn describe(&self) -> String {
        format!("slack {}", self.api.as_str().trim_end_matches('/'))
    }

    /// POSTs `body` to Web API `method`. Slack answers API errors with 200
    /// and `{"ok":false,"error":"…"}`: those are permanent but for rate
    /// limits and Slack's own faults.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, NotifyError> {
        let url = self.api.join(method).map_err(|e| NotifyError::Permanent(format!("{method}: {e}")))?;
        let reply = self
            .http
            .post(url)
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| NotifyError::Transient(format!("{} {method}: {}", self.describe(), crate::scim::describe(e))))?;
        let status = reply.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(NotifyError::Transient(format!("{} {method} answered {status}", self.describe())));
        }
        if !status.is_success() {
            return Err(NotifyError::Permanent(format!("{} {method} answered {status}", self.describe())));
        }
        let answer: Value = reply.json().await.map_err(|e| NotifyError::Transient(format!("{} {method}: the answer is not JSON: {e}", self.describe())))?;
        if answer["ok"] == Value::Bool(true) {
            return Ok(answer);
        }
        let error = answer["error"].as_str().unwrap_or("no error given").to_owned();
        let said = format!("{} {method} refused: `{error}`", self.describe());
        Err(match error.as_str() {
            "ratelimited" | "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => NotifyError::Transient(said),
            _ => NotifyError::Permanent(said),
        })
    }

    /// Posts `message` (`text` and `blocks`) to `channel`.
    pub async fn post_message(&self, channel: &str, message: &Value) -> Result<(), NotifyError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        self.call("chat.postMessage", &body).await.map(drop)
    }

    /// Replaces message `ts` of `channel` with `message`.
    pub async fn update_message(&self, channel: &str, ts: &str, message: &Value) -> Result<(), NotifyError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        body["ts"] = json!(ts);
        self.call("chat.update", &body).await.map(drop)
    }

    /// Opens `view` for the click that gave `trigger_id` (valid 3 s).
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), NotifyError> {
        self.call("views.open", &json!({ "trigger_id": trigger_id, "view": view })).await.map(drop)
    }
}

/// Posts each `approval_needed` notification to the approvals channel;
/// every other kind is not for Slack and is done at once.
pub struct SlackNotifier {
    client: std::sync::Arc<SlackClient>,
    channel: String,
}

impl SlackNotifier {
    pub fn new(client: std::sync::Arc<SlackClient>, channel: impl Into<String>) -> Self {
        Self { client, channel: channel.into() }
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn describe(&self) -> String {
        format!("{} channel {}", self.client.describe(), self.channel)
    }

    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        let (NotificationKind::ApprovalNeeded, Some(request)) = (n.kind, n.request) else { return Ok(()) };
        self.client.post_message(&self.channel, &approval_message(&request.to_string(), &n.payload)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Value {
        json!({
            "requester": "alice",
            "subject": "alice",
            "entitlements": ["pg-prod/analytics_read"],
            "justification": "month-end <!channel> & <https://evil.example|click>",
            "duration": "1h",
            "stages": [{ "entitlement": "pg-prod/analytics_read", "stage": "manager", "approvers": "subject_manager", "required": 1 }],
            "lapses_at": "2027-01-08T08:00:00Z",
        })
    }

    #[test]
    fn the_approval_message_says_who_asks_what_why_and_how_long_with_both_buttons() {
        let m = approval_message("req-1", &payload());
        let text = m["blocks"][0]["text"]["text"].as_str().unwrap();
        for part in
            ["*alice* asks for `pg-prod/analytics_read`", "for *1h*", "*Why:* month-end", "`pg-prod/analytics_read` stage *manager* (subject_manager)", "req-1"]
        {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert!(!text.contains(" for *alice*"), "no `for` when one asks for oneself: {text}");
        assert!(text.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;") && !text.contains("<!channel>"), "escaped: {text}");
        let buttons = m["blocks"][1]["elements"].as_array().unwrap();
        let ids: Vec<(&str, &str)> = buttons.iter().map(|b| (b["action_id"].as_str().unwrap(), b["value"].as_str().unwrap())).collect();
        assert_eq!(ids, [(APPROVE_ACTION, "req-1"), (DENY_ACTION, "req-1")]);
        assert!(m["text"].as_str().unwrap().contains("req-1"), "a fallback text for notifications");
        let mut other = payload();
        other["subject"] = json!("svc-reports");
        let text = approval_message("req-1", &other)["blocks"][0]["text"]["text"].as_str().unwrap().to_owned();
        assert!(text.contains("for *svc-reports*"), "{text}");
    }

    #[test]
    fn a_long_justification_is_cut_to_slacks_limit() {
        let mut p = payload();
        p["justification"] = json!("x".repeat(5000));
        let m = approval_message("req-1", &p);
        assert_eq!(m["blocks"][0]["text"]["text"].as_str().unwrap().chars().count(), SECTION_MAX_CHARS);
    }

    #[test]
    fn the_reason_dialog_carries_the_request_back() {
        let v = deny_reason_view("req-9", Some(("C1", "17.5")));
        assert_eq!(v["callback_id"], DENY_VIEW);
        let metadata: Value = serde_json::from_str(v["private_metadata"].as_str().unwrap()).unwrap();
        assert_eq!(metadata, json!({ "request": "req-9", "channel": "C1", "ts": "17.5" }));
        assert_eq!(v["blocks"][0]["block_id"], REASON_BLOCK);
        assert_eq!(v["blocks"][0]["element"]["action_id"], REASON_INPUT);
    }

    #[test]
    fn the_client_refuses_a_bad_url_or_token_without_showing_it() {
        let e = SlackClient::new("ftp://slack.com/api", Secret::new("xoxb-1"), None).err().unwrap().to_string();
        assert!(e.contains("api_url"), "{e}");
        let e = SlackClient::new("https://slack.com/api", Secret::new("xoxb-1 xoxb-2"), None).err().unwrap().to_string();
        assert!(e.contains("bot_token_file") && !e.contains("xoxb-1"), "{e}");
        let c = SlackClient::new("https://slack.com/api/", Secret::new("xoxb-secret"), None).unwrap();
        assert_eq!(c.describe(), "slack https://slack.com/api");
        assert_eq!(c.api.join("views.open").unwrap().as_str(), "https://slack.com/api/views.open");
    }
}
