//! Request Tracker (RT 5, REST 2.0) as a service desk: the tickets waiting
//! for Writ are the queue's `new` tickets (Writ's first write-back opens
//! each, so a ticket is read until Writ has taken it in and told it so, and
//! never after); write-backs are replies to the requester or internal
//! comments, a status, and the custom field that holds the Writ request id.
//!
//! Names reach RT's TicketSQL only quoted, and a name that cannot be quoted
//! safely (a quote or a backslash in it) is refused at start-up. The token
//! never reaches a log or an error: errors carry the status line only.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{json, Value};
use writ_app::ports::{DeskStatus, DeskTicket, DeskUpdate, NotifyError, ServiceDesk};

use crate::secret::{Secret, SecretSource};

/// The ticket source of RT's tickets in Writ.
pub const SOURCE: &str = "request-tracker";

/// RT caps a page at 100 items.
const PER_PAGE: u32 = 100;

/// `[request_tracker]` in writ.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestTrackerConfig {
    /// RT's base URL (`https://rt.example.com`); REST 2.0 is under `/REST/2.0`.
    pub url: String,
    /// The REST 2.0 auth token of RT's Writ user: an environment variable…
    #[serde(default)]
    pub token_env: Option<String>,
    /// …or a file holding it (one of the two).
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
    /// The queue whose `new` tickets Writ takes in.
    pub queue: String,
    /// The Writ identity the integration acts as (allowed `intake`).
    pub actor: String,
    /// The identity attribute that holds a requester's RT address (default `email`).
    #[serde(default = "default_account_attribute")]
    pub account_attribute: String,
    /// How often the queue is read, e.g. `30s` (default).
    #[serde(default = "default_poll_every")]
    pub poll_every: String,
    /// Writ's own address as people reach it (`https://writ.example.com`):
    /// write-backs link to the request's evidence there. Empty: no link.
    #[serde(default)]
    pub writ_url: String,
    /// The ticket custom fields Writ reads and writes.
    #[serde(default)]
    pub fields: RtFields,
    /// Seconds before a call to RT is abandoned (default 10).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// With an https `url`: the CA (PEM) RT's certificate must chain to.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// The custom fields of the queue's tickets that Writ reads (what the
/// desk's form asked) and writes (the request it became).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtFields {
    pub request_type: String,
    /// Entitlement ids, separated by commas, blanks or new lines.
    pub entitlements: String,
    pub duration: String,
    /// Written by Writ: the request's id.
    pub request: String,
}

impl Default for RtFields {
    fn default() -> Self {
        RtFields {
            request_type: "Writ request type".into(),
            entitlements: "Writ entitlements".into(),
            duration: "Writ duration".into(),
            request: "Writ request".into(),
        }
    }
}

fn default_account_attribute() -> String {
    "email".into()
}

fn default_poll_every() -> String {
    "30s".into()
}

/// Why the desk cannot be built; names the key, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[request_tracker] {0}")]
pub struct RtConfigError(String);

pub struct RequestTracker {
    rest: Url,
    queue: String,
    writ_url: Option<Url>,
    fields: RtFields,
    token: Secret,
    http: reqwest::Client,
}

/// A name quoted for TicketSQL (`'…'`), or refused: RT's parser has no
/// escape Writ could rely on for a quote or a backslash.
fn ticket_sql_quoted(key: &str, name: &str) -> Result<String, RtConfigError> {
    if name.trim().is_empty() || name.contains(['\'', '\\', '\n', '\r']) {
        return Err(RtConfigError(format!("{key} `{}`: must be a non-empty name without quotes or backslashes", name.escape_debug())));
    }
    Ok(format!("'{name}'"))
}

impl RequestTracker {
    /// Checks the settings, loads the token and builds the client; calls nothing.
    pub fn new(config: &RequestTrackerConfig) -> Result<Self, RtConfigError> {
        let url = Url::parse(config.url.trim()).map_err(|e| RtConfigError(format!("url `{}`: {e}", config.url)))?;
        if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
            return Err(RtConfigError(format!("url `{url}`: an http(s) URL without credentials (the token authenticates Writ)")));
        }
        let rest = Url::parse(&format!("{}/REST/2.0/", url.as_str().trim_end_matches('/'))).map_err(|e| RtConfigError(format!("url: {e}")))?;
        ticket_sql_quoted("queue", &config.queue)?;
        let f = &config.fields;
        for (key, name) in [
            ("fields.request_type", &f.request_type),
            ("fields.entitlements", &f.entitlements),
            ("fields.duration", &f.duration),
            ("fields.request", &f.request),
        ] {
            ticket_sql_quoted(key, name)?;
        }
        let writ_url = match config.writ_url.trim() {
            "" => None,
            u => Some(Url::parse(u).map_err(|e| RtConfigError(format!("writ_url `{u}`: {e}: write e.g. `https://writ.example.com`")))?),
        };
        let source = SecretSource { env: config.token_env.clone(), file: config.token_file.clone() };
        let token = source
            .load("request_tracker")
            .map_err(|e| RtConfigError(e.to_string()))?
            .ok_or_else(|| RtConfigError("the REST 2.0 token is missing: give `token_env` or `token_file`".into()))?;
        if config.ca_file.is_some() && url.scheme() != "https" {
            return Err(RtConfigError(format!("url `{url}`: `ca_file` is for TLS: use an `https://` url")));
        }
        let http = crate::tls::http_client(reqwest::Client::builder(), config.ca_file.as_deref())
            .map_err(|e| RtConfigError(e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(config.timeout_secs.unwrap_or(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RtConfigError(format!("cannot build the HTTP client: {}", crate::scim::describe(e))))?;
        Ok(Self { rest, queue: config.queue.clone(), writ_url, fields: config.fields.clone(), token, http })
    }

    fn url(&self, path: &str) -> Result<Url, NotifyError> {
        self.rest.join(path).map_err(|e| NotifyError::Permanent(format!("{}: bad path `{path}`: {e}", self.describe())))
    }

    /// One REST 2.0 call; its JSON answer (2xx), or the error by status.
    async fn call(&self, method: reqwest::Method, url: Url, body: Option<&Value>) -> Result<Value, NotifyError> {
        let mut req = self.http.request(method, url).header("Authorization", format!("token {}", self.token.expose()));
        if let Some(b) = body {
            req = req.json(b);
        }
        let reply = req.send().await.map_err(|e| NotifyError::Transient(format!("{}: {}", self.describe(), crate::scim::describe(e))))?;
        crate::webhook::status_outcome(&self.describe(), reply.status())?;
        let text = reply.text().await.map_err(|e| NotifyError::Transient(format!("{}: {}", self.describe(), crate::scim::describe(e))))?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| NotifyError::Permanent(format!("{} answered with JSON Writ cannot read: {e}", self.describe())))
    }

    /// The text of a ticket's first transaction (its Create): what was asked.
    async fn body_of(&self, ticket: &str) -> Result<String, NotifyError> {
        let history = self.call(reqwest::Method::GET, self.url(&format!("ticket/{ticket}/history?per_page=1&page=1"))?, None).await?;
        let Some(created) = history["items"].get(0).and_then(|t| id_text(&t["id"])) else { return Ok(String::new()) };
        let url = self.url(&format!("transaction/{created}/attachments?fields=Content,ContentType&per_page={PER_PAGE}"))?;
        let attachments = self.call(reqwest::Method::GET, url, None).await?;
        let parts: Vec<&str> = attachments["items"]
            .as_array()
            .map(|a| a.iter().filter(|a| a["ContentType"] == "text/plain").filter_map(|a| a["Content"].as_str()).collect())
            .unwrap_or_default();
        Ok(parts.join("\n").trim().to_owned())
    }

    fn ticket_of(&self, item: &Value, body: String) -> DeskTicket {
        let field = |name: &str| -> Option<String> {
            item["CustomFields"].as_array()?.iter().find(|f| f["name"] == name)?["values"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .next()
                .map(str::to_owned)
        };
        let requester = item["Requestor"]
            .as_array()
            .and_then(|r| r.first())
            .and_then(|u| u["EmailAddress"].as_str().filter(|e| !e.is_empty()).or_else(|| u["id"].as_str()))
            .unwrap_or_default()
            .to_owned();
        DeskTicket {
            external_ref: id_text(&item["id"]).unwrap_or_default(),
            requester,
            subject: item["Subject"].as_str().unwrap_or_default().to_owned(),
            body,
            request_type: field(&self.fields.request_type),
            entitlements: field(&self.fields.entitlements)
                .map(|v| v.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
            duration: field(&self.fields.duration),
        }
    }
}

/// A REST 2.0 id, which RT writes as a string of digits or a number.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => Some(s.clone()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

#[async_trait]
impl ServiceDesk for RequestTracker {
    fn source(&self) -> &str {
        SOURCE
    }

    fn describe(&self) -> String {
        format!("Request Tracker {}://{}", self.rest.scheme(), self.rest.host_str().unwrap_or("?"))
            + &self.rest.port().map(|p| format!(":{p}")).unwrap_or_default()
    }

    async fn waiting(&self) -> Result<Vec<DeskTicket>, NotifyError> {
        let queue = ticket_sql_quoted("queue", &self.queue).map_err(|e| NotifyError::Permanent(e.to_string()))?;
        let query = format!("Queue = {queue} AND Status = 'new'");
        let mut tickets = Vec::new();
        for page in 1u64.. {
            let mut url = self.url("tickets")?;
            url.query_pairs_mut()
                .append_pair("query", &query)
                .append_pair("orderby", "id")
                .append_pair("order", "ASC")
                .append_pair("per_page", &PER_PAGE.to_string())
                .append_pair("page", &page.to_string())
                .append_pair("fields", "Subject,Requestor,CustomFields")
                .append_pair("fields[Requestor]", "EmailAddress,Name")
                .append_pair("fields[CustomFields]", "name,values");
            let answer = self.call(reqwest::Method::GET, url, None).await?;
            for item in answer["items"].as_array().into_iter().flatten() {
                let Some(id) = id_text(&item["id"]) else { continue };
                let body = self.body_of(&id).await?;
                tickets.push(self.ticket_of(item, body));
            }
            if page >= answer["pages"].as_u64().unwrap_or(1) {
                break;
            }
        }
        Ok(tickets)
    }

    async fn write_back(&self, u: &DeskUpdate) -> Result<(), NotifyError> {
        let Some(id) = id_text(&Value::String(u.external_ref.clone())) else {
            return Err(NotifyError::Permanent(format!("`{}` is not an RT ticket number", u.external_ref.escape_debug())));
        };
        let mut note = u.note.clone();
        if let (Some(base), Some(request)) = (&self.writ_url, u.request) {
            note.push_str(&format!("\n\nEvidence: {}/portal/requests/{request}", base.as_str().trim_end_matches('/')));
        }
        let kind = if u.to_requester { "correspond" } else { "comment" };
        self.call(reqwest::Method::POST, self.url(&format!("ticket/{id}/{kind}"))?, Some(&json!({ "Content": note, "ContentType": "text/plain" }))).await?;
        let mut fields = serde_json::Map::new();
        if let Some(status) = u.status {
            let status = match status {
                DeskStatus::Open => "open",
                DeskStatus::Resolved => "resolved",
                DeskStatus::Rejected => "rejected",
            };
            fields.insert("Status".into(), json!(status));
        }
        if let Some(request) = u.request {
            fields.insert("CustomFields".into(), json!({ self.fields.request.clone(): request.to_string() }));
        }
        if !fields.is_empty() {
            self.call(reqwest::Method::PUT, self.url(&format!("ticket/{id}"))?, Some(&Value::Object(fields))).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reach_ticket_sql_quoted_or_are_refused() {
        assert_eq!(ticket_sql_quoted("queue", "Writ Access").unwrap(), "'Writ Access'");
        for bad in ["", "  ", "Writ' OR Queue = 'General", "a\\b", "a\nb"] {
            let e = ticket_sql_quoted("queue", bad).unwrap_err().to_string();
            assert!(e.contains("queue"), "{e}");
        }
    }

    #[test]
    fn ids_are_digits_only() {
        assert_eq!(id_text(&json!("42")), Some("42".into()));
        assert_eq!(id_text(&json!(42)), Some("42".into()));
        for bad in [json!(""), json!("4/2"), json!("../ticket"), json!(null)] {
            assert_eq!(id_text(&bad), None, "{bad}");
        }
    }

    fn config() -> RequestTrackerConfig {
        RequestTrackerConfig {
            url: "http://127.0.0.1:9".into(),
            token_env: None,
            token_file: None,
            queue: "Writ Access".into(),
            actor: "svc-service-desk".into(),
            account_attribute: default_account_attribute(),
            poll_every: default_poll_every(),
            writ_url: String::new(),
            fields: RtFields::default(),
            timeout_secs: None,
            ca_file: None,
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let mut c = config();
        c.url = "http://root:password@127.0.0.1:9".into();
        assert!(RequestTracker::new(&c).err().unwrap().to_string().contains("without credentials"));
        let mut c = config();
        c.queue = "x'y".into();
        assert!(RequestTracker::new(&c).err().unwrap().to_string().contains("queue"));
        let mut c = config();
        c.fields.duration = "d'".into();
        assert!(RequestTracker::new(&c).err().unwrap().to_string().contains("fields.duration"));
        let c = config();
        assert!(RequestTracker::new(&c).err().unwrap().to_string().contains("token is missing"));
    }
}
