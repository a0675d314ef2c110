//! Service-desk webhooks that turn a new ticket in Jira or ServiceNow into a
//! Writ ticket, through the same use-case as `POST /v1/tickets`
//! (`Writ::take_ticket`: classified, routed, idempotent per ticket).
//!
//! No bearer token: each delivery is authenticated by its HMAC signature
//! with the secret of `[hooks.<source>]`, then its payload and requester are
//! checked, and only then is it recorded (`Writ::accept_delivery`, which
//! refuses a delivery id seen before) and acted on, as the configured
//! integration identity. Anything refused before that writes nothing.

pub mod jira;
pub mod payload;
pub mod servicenow;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use writ_app::ports::DELIVERY_MEMORY;
use writ_connectors::secret::Secret;
use writ_core::catalog::Catalog;
use writ_core::duration::AccessDuration;
use writ_core::identity::Identity;
use writ_core::ids::{IdentityId, RequestTypeId};
use writ_core::ticket::Arrival;
use writ_policy::AdminAction;

use self::payload::PayloadError;
use crate::config::ConfigError;
use crate::error::ApiError;
use crate::serve::App;

/// `[hooks]` in writ.toml: one table per service desk; an absent one's
/// route answers 404.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    #[serde(default)]
    pub jira: Option<jira::JiraConfig>,
    #[serde(default)]
    pub servicenow: Option<servicenow::ServiceNowConfig>,
}

impl HooksConfig {
    /// Makes each `secret_file` relative to writ.toml's directory.
    pub fn rebase(&mut self, base: &Path) {
        let files = [self.jira.as_mut().map(|j| &mut j.secret_file), self.servicenow.as_mut().map(|s| &mut s.secret_file)];
        for p in files.into_iter().flatten().filter(|p| p.is_relative()) {
            *p = base.join(&*p);
        }
    }

    /// Checks every key against the catalog, and reads the secrets.
    pub fn resolve(&self, catalog: &Catalog) -> Result<Hooks, ConfigError> {
        Ok(Hooks {
            jira: self.jira.as_ref().map(|j| j.resolve(catalog)).transpose()?.map(Arc::new),
            servicenow: self.servicenow.as_ref().map(|s| s.resolve()).transpose()?.map(Arc::new),
        })
    }
}

/// The configured service-desk hooks.
#[derive(Default)]
pub struct Hooks {
    pub jira: Option<Arc<jira::JiraHook>>,
    pub servicenow: Option<Arc<servicenow::ServiceNowHook>>,
}

impl Hooks {
    /// Each hook's actor must be an active identity that policy allows
    /// `intake`: checked at start, so a hook that could take nothing in is
    /// never served (and again on every delivery, as the registry changes).
    pub fn check_actors(&self, writ: &writ_app::Writ, identities: &[Identity]) -> Result<(), ConfigError> {
        let actors = [self.jira.as_ref().map(|j| ("hooks.jira", &j.actor)), self.servicenow.as_ref().map(|s| ("hooks.servicenow", &s.actor))];
        for (key, actor) in actors.into_iter().flatten() {
            let invalid = |reason: String| ConfigError::Invalid { key, reason };
            let identity = identities.iter().find(|i| &i.id == actor && i.is_active()).ok_or_else(|| {
                invalid(format!("actor `{actor}` is not an active identity: name the integration's service account (e.g. `svc-service-desk`)"))
            })?;
            writ.authorize(identity, AdminAction::Intake, "take tickets in").map_err(|e| invalid(format!("actor: {e}")))?;
        }
        Ok(())
    }
}

pub fn router() -> Router<App> {
    Router::new().route("/hooks/jira", post(jira::receive)).route("/hooks/servicenow", post(servicenow::receive))
}

/// The shortest secret accepted: 16 bytes leave nothing to guess.
const MIN_SECRET: usize = 16;

fn read_secret(key: &'static str, path: &PathBuf) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Invalid { key, reason: format!("secret_file `{}` cannot be read: {}", path.display(), e.kind()) })?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.len() < MIN_SECRET {
        return Err(ConfigError::Invalid {
            key,
            reason: format!("secret_file `{}` holds fewer than {MIN_SECRET} bytes: use a long random value (`openssl rand -hex 32`)", path.display()),
        });
    }
    Ok(Secret::new(secret))
}

fn actor(key: &'static str, raw: &str) -> Result<IdentityId, ConfigError> {
    IdentityId::parse(raw.trim()).map_err(|e| ConfigError::Invalid { key, reason: format!("actor: {e}") })
}

pub(crate) fn attribute(key: &'static str, name: &str, raw: &str) -> Result<String, ConfigError> {
    let a = raw.trim();
    // The names `Writ::identity_by_attribute` accepts.
    if a.is_empty() || a.len() > 64 || !a.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':')) {
        return Err(ConfigError::Invalid { key, reason: format!("{name} `{raw}`: an identity attribute's name, 1 to 64 letters, digits, `_`, `-` or `:`") });
    }
    Ok(a.to_owned())
}

fn window(key: &'static str, name: &str, raw: Option<&str>, default: &str) -> Result<TimeDelta, ConfigError> {
    let raw = raw.map(str::trim).filter(|r| !r.is_empty()).unwrap_or(default);
    let d = AccessDuration::parse(raw).map_err(|e| ConfigError::Invalid { key, reason: format!("{name}: {e}") })?.as_delta();
    // Past Writ's memory of deliveries a replay would be taken as new.
    if d > DELIVERY_MEMORY {
        return Err(ConfigError::Invalid {
            key,
            reason: format!("{name} `{raw}` is longer than Writ remembers deliveries ({}h): a replay could pass", DELIVERY_MEMORY.num_hours()),
        });
    }
    Ok(d)
}

type HmacSha256 = Hmac<Sha256>;

fn mac_of(secret: &str, parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    for p in parts {
        mac.update(p);
    }
    mac
}

/// Whether `mac` is the HMAC-SHA256 of `parts` (concatenated) under the
/// secret, compared in constant time.
pub(crate) fn hmac_matches(secret: &Secret, parts: &[&[u8]], mac: &[u8]) -> bool {
    mac_of(secret.expose(), parts).verify_slice(mac).is_ok()
}

/// The hex HMAC-SHA256 of `parts` (concatenated), as a sender computes it.
pub fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    hex::encode(mac_of(secret, parts).finalize().into_bytes())
}

/// A header's value; one that is not text is refused.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers.get(name).map(|v| v.to_str().map_err(|_| ApiError::bad_input(format!("header `{name}` is not ASCII text")))).transpose()
}

/// The raw body (signatures are over its bytes as received); over the size
/// limit it is a 413.
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the request body is too large (`max_body_bytes`)")
        } else {
            ApiError::bad_input(format!("the request body could not be read: {}", r.body_text()))
        }
    })
}

/// A delivery id: at most 512 characters (what `Writ::accept_delivery` keeps).
fn delivery_id(raw: &str, from: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 512 {
        return Err(ApiError::bad_input(format!("{from}: a delivery id of 1 to 512 characters is needed")));
    }
    Ok(id.to_owned())
}

fn bad_payload(e: PayloadError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", format!("the payload is refused: {e}"))
}

fn not_configured(source: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no `[hooks.{source}]` is configured on this server: nothing receives {source} webhooks here"))
}

/// Refuses a delivery sent further than `window` from `now` (a replay of
/// an old one, or a sender's clock far off).
fn fresh(now: DateTime<Utc>, sent: DateTime<Utc>, window: TimeDelta, what: &str, key: &str) -> Result<(), ApiError> {
    let off = (now - sent).abs();
    if off > window {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "stale_delivery",
            format!(
                "`{what}` ({sent}) is {} s from Writ's clock, more than the {} s allowed (`{key}`): an old delivery replayed, or the sender's clock is off",
                off.num_seconds(),
                window.num_seconds()
            ),
        ));
    }
    Ok(())
}

/// A checked delivery, to record and take in.
struct Delivery<'a> {
    source: &'static str,
    actor: &'a IdentityId,
    /// The config key naming the actor, for the message when it is gone.
    actor_key: &'static str,
    id: String,
    what: String,
    arrival: Arrival,
    declared: Option<RequestTypeId>,
}

/// Records the delivery and takes its ticket in: 201 with the ticket, or
/// 200 when the ticket was taken in before (nothing about it changed).
async fn take(app: &App, d: Delivery<'_>) -> Result<Response, ApiError> {
    let actor = match app.writ.identity(d.actor).await {
        Ok(a) if a.is_active() => a,
        Ok(_) | Err(writ_app::AppError::NotFound { .. }) => {
            tracing::error!(actor = %d.actor, key = d.actor_key, "a webhook's integration identity is missing or disabled");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "misconfigured",
                format!(
                    "the integration identity `{}` (`{}`) is not an active identity: fix writ.toml or the registry; the sender may retry",
                    d.actor, d.actor_key
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    // Everything that can refuse the ticket is checked before the delivery
    // is recorded, so a refused one writes nothing.
    app.writ.authorize(&actor, AdminAction::Intake, "take tickets in")?;
    let arrival = d.arrival.checked().map_err(writ_app::AppError::Domain)?;
    app.writ.accept_delivery(&actor, d.source, &d.id, &d.what).await?;
    let t = app.writ.take_ticket(&actor, arrival, d.declared, None).await?;
    let status = if t.already { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(crate::routes::tickets::taken(app, t))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_is_checked_over_the_concatenated_parts() {
        let secret = Secret::new("0123456789abcdef");
        let mac = hex::decode(hmac_hex("0123456789abcdef", &[b"12.", b"{}"])).unwrap();
        assert!(hmac_matches(&secret, &[b"12.{}"], &mac));
        assert!(!hmac_matches(&secret, &[b"13.{}"], &mac));
        assert!(!hmac_matches(&Secret::new("another-secret-16"), &[b"12.{}"], &mac));
    }

    #[test]
    fn a_delivery_outside_its_window_is_refused_naming_the_key() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        fresh(now, now - TimeDelta::minutes(59), TimeDelta::hours(1), "timestamp", "[hooks.jira] max_age").unwrap();
        fresh(now, now + TimeDelta::minutes(5), TimeDelta::hours(1), "timestamp", "[hooks.jira] max_age").unwrap();
        let e = fresh(now, now - TimeDelta::hours(2), TimeDelta::hours(1), "timestamp", "[hooks.jira] max_age").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("[hooks.jira] max_age") && e.message.contains("7200 s"), "{}", e.message);
    }

    #[test]
    fn bad_settings_name_their_key_and_never_show_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "hunter2\n").unwrap();
        let e = read_secret("hooks.jira", &short).unwrap_err().to_string();
        assert!(e.contains("hooks.jira") && e.contains("16") && !e.contains("hunter2"), "{e}");
        let e = read_secret("hooks.jira", &dir.path().join("missing")).unwrap_err().to_string();
        assert!(e.contains("secret_file") && e.contains("missing"), "{e}");
        let long = dir.path().join("long");
        std::fs::write(&long, "0123456789abcdef0123\n").unwrap();
        assert_eq!(read_secret("hooks.jira", &long).unwrap().expose(), "0123456789abcdef0123", "the newline an editor adds is dropped");
        assert!(attribute("hooks.jira", "identity_attribute", "jira account").unwrap_err().to_string().contains("identity_attribute"));
        assert!(actor("hooks.servicenow", "Not An Id!").unwrap_err().to_string().contains("hooks.servicenow"));
        assert!(window("hooks.jira", "max_age", Some("soon"), "1h").unwrap_err().to_string().contains("max_age"));
        assert_eq!(window("hooks.jira", "max_age", None, "1h").unwrap(), TimeDelta::hours(1));
        assert!(window("hooks.jira", "max_age", Some("30d"), "1h").unwrap_err().to_string().contains("replay"));
    }
}
