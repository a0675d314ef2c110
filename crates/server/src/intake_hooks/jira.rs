//! Jira (Cloud, Server/Data Center, Service Management) at `POST /hooks/jira`.
//!
//! Jira signs a webhook that has a secret with `X-Hub-Signature:
//! sha256=<hex HMAC-SHA256(secret, raw body)>` (WebSub's `method=signature`)
//! and names each delivery in `X-Atlassian-Webhook-Identifier` (the same on
//! its retries). `jira:issue_created` becomes a ticket; every other event is
//! acknowledged and ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use writ_connectors::secret::Secret;
use writ_core::catalog::Catalog;
use writ_core::identity::Identity;
use writ_core::ids::{IdentityId, RequestTypeId};

use super::payload::{self, At, PayloadError};
use super::{body_of, header, Delivery};
use crate::config::ConfigError;
use crate::error::ApiError;
use crate::serve::App;

pub const SOURCE: &str = "jira";
const SIGNATURE: &str = "x-hub-signature";
const DELIVERY: &str = "x-atlassian-webhook-identifier";

/// `[hooks.jira]` in writ.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// A file holding the webhook's secret (as entered in Jira). Relative
    /// to writ.toml's directory.
    pub secret_file: PathBuf,
    /// The Writ identity the integration acts as (allowed `intake`).
    pub actor: String,
    /// The identity attribute that holds a person's Atlassian account id,
    /// matched against the reporter's `accountId` (default `jira_account_id`).
    #[serde(default)]
    pub identity_attribute: Option<String>,
    /// For Jira Server/Data Center, whose users carry no `accountId`: the
    /// attribute matched against the reporter's `fallback_field`. Absent:
    /// such payloads are refused.
    #[serde(default)]
    pub fallback_attribute: Option<String>,
    /// `name` (the default), `key` or `emailAddress`.
    #[serde(default)]
    pub fallback_field: Option<String>,
    /// A delivery whose `timestamp` is further than this from Writ's clock
    /// is refused (default `1h`).
    #[serde(default)]
    pub max_age: Option<String>,
    /// The custom field holding the JSM request type (e.g.
    /// `customfield_10010`), looked up in `request_types`. Absent or
    /// unmapped: the classifier reads the ticket.
    #[serde(default)]
    pub request_type_field: Option<String>,
    /// A JSM request type's id or name (or a select field's value) → a
    /// catalog request type.
    #[serde(default)]
    pub request_types: BTreeMap<String, String>,
}

/// Which reporter field the fallback attribute is matched against.
const FALLBACK_FIELDS: &[&str] = &["name", "key", "emailAddress"];

/// `[hooks.jira]`, checked.
pub struct JiraHook {
    secret: Secret,
    pub actor: IdentityId,
    identity_attribute: String,
    fallback: Option<(String, String)>,
    max_age: TimeDelta,
    request_type_field: Option<String>,
    request_types: BTreeMap<String, RequestTypeId>,
}

impl JiraConfig {
    pub fn resolve(&self, catalog: &Catalog) -> Result<JiraHook, ConfigError> {
        const KEY: &str = "hooks.jira";
        let invalid = |reason: String| ConfigError::Invalid { key: KEY, reason };
        let fallback = match &self.fallback_attribute {
            None => None,
            Some(a) => {
                let field = self.fallback_field.clone().unwrap_or_else(|| "name".into());
                if !FALLBACK_FIELDS.contains(&field.as_str()) {
                    return Err(invalid(format!("fallback_field `{field}`: use one of {}", FALLBACK_FIELDS.join(", "))));
                }
                Some((super::attribute(KEY, "fallback_attribute", a)?, field))
            }
        };
        if self.fallback_field.is_some() && fallback.is_none() {
            return Err(invalid("fallback_field is set without fallback_attribute: give both, or neither".into()));
        }
        let mut request_types = BTreeMap::new();
        for (theirs, ours) in &self.request_types {
            let t = RequestTypeId::parse(ours).map_err(|e| invalid(format!("request_types.\"{theirs}\": {e}")))?;
            catalog.request_type(&t).map_err(|e| invalid(format!("request_types.\"{theirs}\": {e}")))?;
            request_types.insert(theirs.clone(), t);
        }
        if !request_types.is_empty() && self.request_type_field.is_none() {
            return Err(invalid(
                "request_types is set without request_type_field (the custom field that holds the request type, e.g. `customfield_10010`)".into(),
            ));
        }
        Ok(JiraHook {
            secret: super::read_secret(KEY, &self.secret_file)?,
            actor: super::actor(KEY, &self.actor)?,
            identity_attribute: super::attribute(KEY, "identity_attribute", self.identity_attribute.as_deref().unwrap_or("jira_account_id"))?,
            fallback,
            max_age: super::window(KEY, "max_age", self.max_age.as_deref(), "1h")?,
            request_type_field: self.request_type_field.clone().filter(|f| !f.trim().is_empty()),
            request_types,
        })
    }
}

/// The reporter as Jira describes them: Cloud by `accountId`, Server/Data
/// Center by `name`/`key`/`emailAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reporter {
    pub account_id: Option<String>,
    pub fields: BTreeMap<&'static str, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCreated {
    pub key: String,
    pub summary: String,
    pub description: String,
    pub reporter: Reporter,
    pub timestamp: DateTime<Utc>,
    /// What the request-type field says (ids and names), to look up.
    pub request_type: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    IssueCreated(IssueCreated),
    /// Any other event (`jira:issue_updated`, `comment_created`, …).
    Other(String),
}

/// Reads a Jira webhook body.
pub fn parse(body: &[u8], request_type_field: Option<&str>) -> Result<Event, PayloadError> {
    let value = payload::parse(body)?;
    let root = At::root(&value, "");
    let event = root.str("webhookEvent")?;
    if event != "jira:issue_created" {
        return Ok(Event::Other(event.to_owned()));
    }
    let millis = match root.get("timestamp")? {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| root.error("timestamp", "must be milliseconds since 1970"))?,
        Some(_) => return Err(root.error("timestamp", "must be a number (milliseconds since 1970)")),
        None => return Err(root.error("timestamp", "missing")),
    };
    let timestamp = DateTime::from_timestamp_millis(millis).ok_or_else(|| root.error("timestamp", "is out of range"))?;
    let issue = root.object("issue")?;
    let fields = issue.object("fields")?;
    let reporter = fields.object("reporter")?;
    let mut who = Reporter { account_id: reporter.opt_str("accountId")?.map(str::to_owned), fields: BTreeMap::new() };
    for f in FALLBACK_FIELDS {
        if let Some(v) = reporter.opt_str(f)?.filter(|v| !v.is_empty()) {
            who.fields.insert(f, v.to_owned());
        }
    }
    let description = match fields.get("description")? {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        // Atlassian Document Format (REST v3 shapes): its text, a line a block.
        Some(doc @ Value::Object(_)) => adf_text(doc).trim().to_owned(),
        Some(_) => return Err(fields.error("description", "must be a string or a document")),
    };
    let request_type = match request_type_field {
        Some(f) => request_type_keys(fields.get(f)?),
        None => Vec::new(),
    };
    Ok(Event::IssueCreated(IssueCreated {
        key: issue.str("key")?.to_owned(),
        summary: fields.opt_str("summary")?.unwrap_or_default().to_owned(),
        description,
        reporter: who,
        timestamp,
        request_type,
    }))
}

/// A JSM request type (`{requestType: {id, name}}`), a select field
/// (`{value}`) or plain text: the keys to look up, most specific first.
fn request_type_keys(v: Option<&Value>) -> Vec<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(o @ Value::Object(_)) => match o.get("requestType") {
            Some(rt) => [text(rt.get("id")), text(rt.get("name"))].into_iter().flatten().collect(),
            None => text(o.get("value")).into_iter().collect(),
        },
        _ => Vec::new(),
    }
}

/// The text of an Atlassian Document Format node.
fn adf_text(node: &Value) -> String {
    if let Some(t) = node.get("text").and_then(Value::as_str) {
        return t.to_owned();
    }
    let children = node.get("content").and_then(Value::as_array).map(|c| c.iter().map(adf_text).collect::<Vec<_>>()).unwrap_or_default();
    let block = matches!(node.get("type").and_then(Value::as_str), Some("doc" | "bulletList" | "orderedList"));
    children.join(if block { "\n" } else { "" })
}

impl JiraHook {
    /// Whether `header` (`sha256=<hex>`) signs `body` with the secret.
    fn signed(&self, header: Option<&str>, body: &[u8]) -> Result<(), ApiError> {
        let header = header.ok_or_else(|| {
            ApiError::unauthenticated(
                "X-Hub-Signature missing: give the Jira webhook a secret (the same as `[hooks.jira] secret_file`); unsigned deliveries are refused",
            )
        })?;
        let mac = header
            .strip_prefix("sha256=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| ApiError::unauthenticated("X-Hub-Signature is not `sha256=<hex HMAC-SHA256>`: is the sender Jira with a webhook secret?"))?;
        if super::hmac_matches(&self.secret, &[body], &mac) {
            Ok(())
        } else {
            Err(ApiError::unauthenticated("X-Hub-Signature does not match the body: the webhook's secret in Jira differs from `[hooks.jira] secret_file`"))
        }
    }

    /// The attribute and value that name the reporter's Writ identity.
    fn requester_key<'a>(&'a self, r: &'a Reporter) -> Result<(&'a str, &'a str), PayloadError> {
        let at = "issue.fields.reporter";
        if let Some(id) = r.account_id.as_deref().filter(|a| !a.is_empty()) {
            return Ok((&self.identity_attribute, id));
        }
        let Some((attribute, field)) = &self.fallback else {
            return Err(PayloadError {
                path: format!("{at}.accountId"),
                problem: "missing (a Jira Server/Data Center payload? set `[hooks.jira] fallback_attribute` to match its users by name or email)".into(),
            });
        };
        let value = r.fields.get(field.as_str()).ok_or_else(|| PayloadError { path: format!("{at}.{field}"), problem: "missing".into() })?;
        Ok((attribute, value))
    }

    /// The catalog type the request-type field maps to, if any.
    fn declared(&self, keys: &[String]) -> Option<RequestTypeId> {
        keys.iter().find_map(|k| self.request_types.get(k)).cloned()
    }
}

/// `POST /hooks/jira`.
pub async fn receive(State(app): State<App>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let hook = app.hooks.jira.clone().ok_or_else(|| super::not_configured("jira"))?;
    let body = body_of(body)?;
    hook.signed(header(&headers, SIGNATURE)?, &body)?;
    let delivery = header(&headers, DELIVERY)?
        .ok_or_else(|| ApiError::bad_input("X-Atlassian-Webhook-Identifier missing: every Jira delivery carries one; refused without it"))?;
    let delivery = super::delivery_id(delivery, "X-Atlassian-Webhook-Identifier")?;
    let issue = match parse(&body, hook.request_type_field.as_deref()).map_err(super::bad_payload)? {
        Event::Other(event) => {
            let message = format!("`{event}` is not taken in: only `jira:issue_created` becomes a ticket; nothing was done");
            return Ok((StatusCode::ACCEPTED, Json(json!({ "ignored": event, "message": message }))).into_response());
        }
        Event::IssueCreated(i) => i,
    };
    super::fresh(app.writ.clock().now(), issue.timestamp, hook.max_age, "timestamp", "[hooks.jira] max_age")?;
    let (attribute, value) = hook.requester_key(&issue.reporter).map_err(super::bad_payload)?;
    let requester: Identity = app.writ.identity_by_attribute(attribute, value).await?;
    let declared = hook.declared(&issue.request_type);
    super::take(
        &app,
        Delivery {
            source: SOURCE,
            actor: &hook.actor,
            actor_key: "[hooks.jira] actor",
            id: delivery,
            what: format!("jira:issue_created {}", issue.key),
            arrival: writ_core::ticket::Arrival {
                source: SOURCE.into(),
                external_ref: issue.key,
                requester: requester.id,
                subject: issue.summary,
                body: issue.description,
            },
            declared,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &str = include_str!("../../tests/data/webhooks/jira/cloud_issue_created.json");
    const CUSTOM: &str = include_str!("../../tests/data/webhooks/jira/cloud_issue_created_custom_fields.json");
    const COMMENT: &str = include_str!("../../tests/data/webhooks/jira/cloud_comment_created.json");
    const SERVER: &str = include_str!("../../tests/data/webhooks/jira/server_issue_updated_work_started.json");

    fn created(body: &str, field: Option<&str>) -> IssueCreated {
        match parse(body.as_bytes(), field).unwrap() {
            Event::IssueCreated(i) => i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cloud_issue_created_is_read_with_its_reporter() {
        let i = created(CREATED, None);
        assert_eq!((i.key.as_str(), i.summary.as_str()), ("TES-41", "Unit test summary"));
        assert_eq!(i.description, "Unit test description, not that long");
        assert_eq!(i.reporter.account_id.as_deref(), Some("000000000000000000000001"));
        assert_eq!(i.reporter.fields.get("emailAddress").map(String::as_str), Some("jira-admin@example.com"));
        assert_eq!(i.timestamp.timestamp_millis(), 1_550_286_113_023);
        let k = created(CUSTOM, Some("customfield_10073"));
        assert_eq!((k.key.as_str(), k.request_type.clone()), ("KT-22", vec!["1".to_owned()]), "a select field's value");
        assert!(created(CUSTOM, Some("customfield_10010")).request_type.is_empty(), "the JSM field is null in this capture");
    }

    #[test]
    fn other_events_are_named_and_left_alone() {
        assert_eq!(parse(COMMENT.as_bytes(), None).unwrap(), Event::Other("comment_created".into()));
        assert_eq!(parse(SERVER.as_bytes(), None).unwrap(), Event::Other("jira:issue_updated".into()));
    }

    #[test]
    fn a_jsm_request_type_and_a_document_description_are_understood() {
        let mut v: Value = serde_json::from_str(CREATED).unwrap();
        v["issue"]["fields"]["customfield_10010"] = json!({ "_links": {}, "requestType": { "id": "12", "name": "Request access" }, "currentStatus": {} });
        v["issue"]["fields"]["description"] = json!({ "type": "doc", "version": 1, "content": [
            { "type": "paragraph", "content": [{ "type": "text", "text": "Need the " }, { "type": "text", "text": "replica" }] },
            { "type": "paragraph", "content": [{ "type": "text", "text": "for Q3" }] } ] });
        let i = created(&v.to_string(), Some("customfield_10010"));
        assert_eq!(i.request_type, vec!["12".to_owned(), "Request access".to_owned()]);
        assert_eq!(i.description, "Need the replica\nfor Q3");
    }

    #[test]
    fn a_bad_payload_names_the_key() {
        let mut v: Value = serde_json::from_str(CREATED).unwrap();
        let refuse = |v: &Value| parse(v.to_string().as_bytes(), None).unwrap_err().to_string();
        v["issue"]["fields"]["reporter"] = Value::Null;
        assert_eq!(refuse(&v), "`issue.fields.reporter` missing");
        v["issue"]["key"] = json!(41);
        v["issue"]["fields"]["reporter"] = json!({ "accountId": "x" });
        assert_eq!(refuse(&v), "`issue.key` must be a string, not a number");
        v["timestamp"] = json!("yesterday");
        assert!(refuse(&v).starts_with("`timestamp` must be a number"));
        assert!(parse(b"[]", None).unwrap_err().to_string().contains("must be an object"));
        assert!(parse(b"{\"issue\": {}}", None).unwrap_err().to_string().contains("`webhookEvent` missing"));
    }

    fn hook(fallback: Option<&str>) -> JiraHook {
        JiraHook {
            secret: Secret::new("a-jira-webhook-secret"),
            actor: IdentityId::parse("svc-service-desk").unwrap(),
            identity_attribute: "jira_account_id".into(),
            fallback: fallback.map(|a| (a.to_owned(), "name".to_owned())),
            max_age: TimeDelta::hours(1),
            request_type_field: None,
            request_types: BTreeMap::from([("Request access".to_owned(), RequestTypeId::parse("application_access").unwrap())]),
        }
    }

    #[test]
    fn the_reporter_is_matched_by_account_id_or_the_configured_fallback() {
        let cloud = created(CREATED, None).reporter;
        assert_eq!(hook(None).requester_key(&cloud).unwrap(), ("jira_account_id", "000000000000000000000001"));
        let server = Reporter { account_id: None, fields: BTreeMap::from([("name", "admin".to_owned())]) };
        let e = hook(None).requester_key(&server).unwrap_err().to_string();
        assert!(e.starts_with("`issue.fields.reporter.accountId` missing") && e.contains("fallback_attribute"), "{e}");
        assert_eq!(hook(Some("jira_username")).requester_key(&server).unwrap(), ("jira_username", "admin"));
        assert_eq!(hook(None).declared(&["12".into(), "Request access".into()]).unwrap().as_str(), "application_access");
        assert_eq!(hook(None).declared(&["Something else".into()]), None);
    }

    #[test]
    fn only_the_right_signature_passes() {
        let h = hook(None);
        let body = CREATED.as_bytes();
        let good = format!("sha256={}", super::super::hmac_hex("a-jira-webhook-secret", &[body]));
        h.signed(Some(&good), body).unwrap();
        for bad in [None, Some("sha1=00"), Some("sha256=zz"), Some(&*format!("sha256={}", super::super::hmac_hex("another-secret", &[body])))] {
            assert_eq!(h.signed(bad, body).unwrap_err().status, StatusCode::UNAUTHORIZED, "{bad:?}");
        }
        assert!(h.signed(Some(&good), b"{}").is_err(), "the signature covers the body");
    }
}
