//! ServiceNow at `POST /hooks/servicenow`.
//!
//! ServiceNow has no fixed outbound webhook: an admin's business rule posts
//! the record (README: "ServiceNow"). Writ takes the Table API shape of an
//! `sc_req_item` or `incident` record, as `{"result": {record}}` or the bare
//! record: every value a string (or `{value, display_value}`), references
//! `{link, value}` (or the bare sys_id), an unset one `""`.
//!
//! Authenticity: `X-Writ-Timestamp: <unix seconds>` and `X-Writ-Signature:
//! sha256=<HMAC-SHA256(secret, timestamp + "." + raw body)>`, in hex or in
//! base64 (what ServiceNow's `GlideCertificateEncryption.generateMac`
//! returns), the timestamp within `max_skew` of Writ's clock. The delivery
//! id is `X-Writ-Delivery`, or else the record's `sys_id:sys_mod_count`.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;
use writ_connectors::secret::Secret;
use writ_core::ids::IdentityId;
use writ_core::ticket::Arrival;

use super::payload::{self, At, PayloadError};
use super::{body_of, header, Delivery};
use crate::config::ConfigError;
use crate::error::ApiError;
use crate::serve::App;

pub const SOURCE: &str = "servicenow";
const SIGNATURE: &str = "x-writ-signature";
const TIMESTAMP: &str = "x-writ-timestamp";
const DELIVERY: &str = "x-writ-delivery";

/// `[hooks.servicenow]` in writ.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowConfig {
    /// A file holding the shared secret the business rule signs with.
    /// Relative to writ.toml's directory.
    pub secret_file: PathBuf,
    /// The Writ identity the integration acts as (allowed `intake`).
    pub actor: String,
    /// The identity attribute holding a person's `sys_user` sys_id
    /// (default `servicenow_sys_id`).
    #[serde(default)]
    pub identity_attribute: Option<String>,
    /// How far `X-Writ-Timestamp` may be from Writ's clock (default `5m`).
    #[serde(default)]
    pub max_skew: Option<String>,
}

/// `[hooks.servicenow]`, checked.
pub struct ServiceNowHook {
    secret: Secret,
    pub actor: IdentityId,
    identity_attribute: String,
    max_skew: TimeDelta,
}

impl ServiceNowConfig {
    pub fn resolve(&self) -> Result<ServiceNowHook, ConfigError> {
        const KEY: &str = "hooks.servicenow";
        Ok(ServiceNowHook {
            secret: super::read_secret(KEY, &self.secret_file)?,
            actor: super::actor(KEY, &self.actor)?,
            identity_attribute: super::attribute(KEY, "identity_attribute", self.identity_attribute.as_deref().unwrap_or("servicenow_sys_id"))?,
            max_skew: super::window(KEY, "max_skew", self.max_skew.as_deref(), "5m")?,
        })
    }
}

/// The parts of a record Writ reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `sc_req_item` or `incident` (`sys_class_name`), if stated.
    pub table: Option<String>,
    pub number: String,
    pub short_description: String,
    pub description: String,
    /// The reference naming the requester (e.g. `result.requested_for`) and its sys_id.
    pub requester: (String, String),
    /// `sys_id:sys_mod_count`, when the record has both.
    pub version: Option<String>,
}

/// Which references name the requester, most specific first: whom the item
/// is for (or who called), else who opened it. The first one set is the
/// requester: an unknown one is refused, never passed over for the next.
fn requester_fields(table: Option<&str>) -> &'static [&'static str] {
    match table {
        Some("sc_req_item") => &["requested_for", "opened_by"],
        Some("incident") => &["caller_id", "opened_by"],
        _ => &["requested_for", "caller_id", "opened_by"],
    }
}

const TABLES: &[&str] = &["sc_req_item", "incident"];

/// A text field: a string, or `{value}` (with `sysparm_display_value=all`).
fn text(at: &At<'_>, key: &str) -> Result<Option<String>, PayloadError> {
    match at.get(key)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Object(o)) => match o.get("value") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(at.error(key, "must be a string or an object with a string `value`")),
        },
        Some(_) => Err(at.error(key, "must be a string (the Table API sends every value as one)")),
    }
}

/// A reference's sys_id: `{link, value}`, the bare sys_id, or `""` (unset: `None`).
fn reference(at: &At<'_>, key: &str) -> Result<Option<String>, PayloadError> {
    Ok(text(at, key)?.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
}

/// Reads a record posted by a business rule.
pub fn parse(body: &[u8]) -> Result<Record, PayloadError> {
    let value = payload::parse(body)?;
    let root = At::root(&value, "");
    let record = match root.get("result")? {
        Some(Value::Object(_)) => root.object("result")?,
        Some(Value::Array(_)) => return Err(root.error("result", "is a list: post one record, `{\"result\": {…}}` or the record itself")),
        Some(_) => return Err(root.error("result", "must be an object (the record)")),
        None => root,
    };
    let table = text(&record, "sys_class_name")?.filter(|t| !t.is_empty());
    if let Some(t) = table.as_deref().filter(|t| !TABLES.contains(t)) {
        return Err(record.error("sys_class_name", format!("`{t}` is not taken in: post {} records", TABLES.join(" or "))));
    }
    let number = text(&record, "number")?.filter(|n| !n.trim().is_empty()).ok_or_else(|| record.error("number", "missing"))?;
    let fields = requester_fields(table.as_deref());
    let mut requester = None;
    for f in fields {
        if let Some(id) = reference(&record, f)? {
            requester = Some((record.path_of(f), id));
            break;
        }
    }
    let requester = requester.ok_or_else(|| {
        let named: Vec<String> = fields.iter().map(|f| format!("`{}`", record.path_of(f))).collect();
        PayloadError { path: record.path_of(fields[0]), problem: format!("missing: none of {} names the requester", named.join(", ")) }
    })?;
    let version = match (text(&record, "sys_id")?, text(&record, "sys_mod_count")?) {
        (Some(id), Some(n)) if !id.is_empty() && !n.is_empty() => Some(format!("{id}:{n}")),
        _ => None,
    };
    Ok(Record {
        number,
        short_description: text(&record, "short_description")?.unwrap_or_default(),
        description: text(&record, "description")?.unwrap_or_default(),
        requester,
        version,
        table,
    })
}

/// A signature's MAC, in hex (64 characters) or base64 (44).
fn mac_bytes(value: &str) -> Option<Vec<u8>> {
    let v = value.strip_prefix("sha256=")?;
    if v.len() == 64 {
        hex::decode(v).ok()
    } else {
        base64::engine::general_purpose::STANDARD.decode(v).ok().filter(|m| m.len() == 32)
    }
}

impl ServiceNowHook {
    /// Checks the signature over `timestamp.body`, then the timestamp's age.
    fn signed(&self, signature: Option<&str>, timestamp: Option<&str>, body: &[u8], now: DateTime<Utc>) -> Result<(), ApiError> {
        let unsigned =
            |what: &str| ApiError::unauthenticated(format!("{what}: sign each delivery as the README's business rule does; unsigned deliveries are refused"));
        let signature = signature.ok_or_else(|| unsigned("X-Writ-Signature missing"))?;
        let timestamp = timestamp.ok_or_else(|| unsigned("X-Writ-Timestamp missing"))?;
        let mac = mac_bytes(signature).ok_or_else(|| unsigned("X-Writ-Signature is not `sha256=<hex or base64 HMAC-SHA256>`"))?;
        if !super::hmac_matches(&self.secret, &[timestamp.as_bytes(), b".", body], &mac) {
            return Err(ApiError::unauthenticated(
                "X-Writ-Signature does not match `<X-Writ-Timestamp>.<body>`: the business rule's secret differs from `[hooks.servicenow] secret_file`, or the body was changed",
            ));
        }
        let sent =
            timestamp.parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0)).ok_or_else(|| unsigned("X-Writ-Timestamp is not unix seconds"))?;
        // Signed but old: a captured delivery sent again.
        super::fresh(now, sent, self.max_skew, "X-Writ-Timestamp", "[hooks.servicenow] max_skew").map_err(|e| ApiError::unauthenticated(e.message))
    }
}

/// `POST /hooks/servicenow`.
pub async fn receive(State(app): State<App>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let hook = app.hooks.servicenow.clone().ok_or_else(|| super::not_configured("servicenow"))?;
    let body = body_of(body)?;
    hook.signed(header(&headers, SIGNATURE)?, header(&headers, TIMESTAMP)?, &body, app.writ.clock().now())?;
    let record = parse(&body).map_err(super::bad_payload)?;
    let delivery = match header(&headers, DELIVERY)?.filter(|d| !d.trim().is_empty()) {
        Some(d) => super::delivery_id(d, "X-Writ-Delivery")?,
        None => record.version.clone().ok_or_else(|| {
            ApiError::bad_input("X-Writ-Delivery missing, and the record has no `sys_id` and `sys_mod_count` to name the delivery by: send one or the other")
        })?,
    };
    let requester = app.writ.identity_by_attribute(&hook.identity_attribute, &record.requester.1).await?;
    let table = record.table.as_deref().unwrap_or("record");
    super::take(
        &app,
        Delivery {
            source: SOURCE,
            actor: &hook.actor,
            actor_key: "[hooks.servicenow] actor",
            id: delivery,
            what: format!("{table} {}", record.number),
            arrival: Arrival {
                source: SOURCE.into(),
                external_ref: record.number,
                requester: requester.id,
                subject: record.short_description,
                body: record.description,
            },
            declared: None,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const RITM: &str = include_str!("../../tests/data/webhooks/servicenow/sc_req_item_table_api_record.json");
    const INCIDENT: &str = include_str!("../../tests/data/webhooks/servicenow/incident_table_api_create_response.json");
    const LIST: &str = include_str!("../../tests/data/webhooks/servicenow/sc_request_table_api_list.json");

    #[test]
    fn the_table_api_records_are_read() {
        let r = parse(RITM.as_bytes()).unwrap();
        assert_eq!((r.number.as_str(), r.short_description.as_str(), r.table.as_deref()), ("RITM0010028", "Microsoft Access", Some("sc_req_item")));
        assert_eq!(r.requester, ("result.opened_by".to_owned(), "admin".to_owned()), "this capture has no requested_for");
        assert_eq!(r.version.as_deref(), Some("1234:2"));
        let i = parse(INCIDENT.as_bytes()).unwrap();
        assert_eq!((i.number.as_str(), i.short_description.as_str(), i.description.as_str()), ("INC0010007", "", "creating a test ticket"));
        assert_eq!(i.requester, ("result.opened_by".to_owned(), "test".to_owned()), "caller_id is unset (\"\")");
    }

    #[test]
    fn a_bare_record_in_display_value_form_is_read_too() {
        let bare = json!({ "number": { "display_value": "RITM0000001", "value": "RITM0000001" }, "short_description": "Access to payroll",
            "requested_for": { "display_value": "Abel Tuter", "link": "https://x/api/now/table/sys_user/62826bf0", "value": "62826bf0" },
            "opened_by": "6816f79c" });
        let r = parse(bare.to_string().as_bytes()).unwrap();
        assert_eq!((r.number.as_str(), r.requester.clone(), r.version), ("RITM0000001", ("requested_for".to_owned(), "62826bf0".to_owned()), None));
    }

    #[test]
    fn a_bad_record_names_the_key() {
        let refuse = |v: Value| parse(v.to_string().as_bytes()).unwrap_err().to_string();
        assert!(parse(LIST.as_bytes()).unwrap_err().to_string().contains("`result` is a list"));
        assert_eq!(refuse(json!({ "result": { "number": 7, "opened_by": "a" } })), "`result.number` must be a string (the Table API sends every value as one)");
        assert_eq!(refuse(json!({ "result": { "opened_by": "a" } })), "`result.number` missing");
        let e = refuse(json!({ "result": { "number": "INC1", "sys_class_name": "incident", "caller_id": "", "opened_by": { "link": "x", "value": "" } } }));
        assert_eq!(e, "`result.caller_id` missing: none of `result.caller_id`, `result.opened_by` names the requester");
        assert!(refuse(json!({ "number": "CHG1", "sys_class_name": "change_request", "opened_by": "a" })).contains("`change_request` is not taken in"));
    }

    fn hook() -> ServiceNowHook {
        ServiceNowHook {
            secret: Secret::new("a-servicenow-secret"),
            actor: IdentityId::parse("svc-service-desk").unwrap(),
            identity_attribute: "servicenow_sys_id".into(),
            max_skew: TimeDelta::minutes(5),
        }
    }

    #[test]
    fn the_signature_covers_timestamp_and_body_in_hex_or_base64() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let body = RITM.as_bytes();
        let hex_mac = super::super::hmac_hex("a-servicenow-secret", &[b"1800000000.", body]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&hex_mac).unwrap());
        let h = hook();
        h.signed(Some(&format!("sha256={hex_mac}")), Some("1800000000"), body, now).unwrap();
        h.signed(Some(&format!("sha256={b64}")), Some("1800000000"), body, now).unwrap();
        let refused = |sig: Option<&str>, ts: Option<&str>, at: DateTime<Utc>| h.signed(sig, ts, body, at).unwrap_err();
        let good = format!("sha256={hex_mac}");
        assert!(refused(None, Some("1800000000"), now).message.contains("X-Writ-Signature missing"));
        assert!(refused(Some(&good), None, now).message.contains("X-Writ-Timestamp missing"));
        assert!(refused(Some(&good), Some("1800000001"), now).message.contains("does not match"), "the timestamp is signed");
        assert!(refused(Some("sha256=xyz"), Some("1800000000"), now).message.contains("not `sha256="));
        let late = refused(Some(&good), Some("1800000000"), now + TimeDelta::minutes(6));
        assert_eq!(late.status, axum::http::StatusCode::UNAUTHORIZED);
        assert!(late.message.contains("max_skew"), "{}", late.message);
    }
}
