//! The webhook notifier: each notification is POSTed as JSON to one URL,
//! signed with HMAC-SHA256 so the receiver can check it came from Writ and
//! was not replayed from long ago.
//!
//! # Signature
//! `Writ-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! A receiver recomputes the MAC over the timestamp, a dot and the raw body
//! bytes, compares in constant time, and refuses a timestamp too far from its
//! clock. `Writ-Delivery` carries the notification id (the same on every retry
//! of one notification, so a receiver can drop duplicates) and `Writ-Event` its
//! kind. [`verify`] is the reference check.
//!
//! # Errors
//! A connection failure, a timeout, 429 or 5xx is transient (retried from the
//! store); any other non-2xx is permanent. Neither the secret nor the response
//! body reaches an error or a log: only the status line.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::Url;
use serde::Deserialize;
use sha2::Sha256;
use writ_app::ports::{Notification, Notifier, NotifyError};

use crate::secret::{Secret, SecretSource};

/// `[notifications]` in writ.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST (http or https).
    pub webhook_url: String,
    /// The signing secret: the name of an environment variable holding it…
    #[serde(default)]
    pub secret_env: Option<String>,
    /// …or a file holding it (one of the two).
    #[serde(default)]
    pub secret_file: Option<std::path::PathBuf>,
    /// Seconds before a delivery attempt is abandoned (and retried later).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// With an https `webhook_url`: the CA (PEM) the receiver's certificate
    /// must chain to, trusted instead of the public web roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// Why the notifier cannot be built; names the key, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[notifications] {0}")]
pub struct WebhookConfigError(String);

pub struct WebhookNotifier {
    url: Url,
    secret: Secret,
    http: reqwest::Client,
}

type HmacSha256 = Hmac<Sha256>;

/// The signature header's value for `body` sent at unix time `t`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a `Writ-Signature` header against `body`: the MAC must match (in
/// constant time) and the timestamp be within `tolerance_secs` of `now`.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> Result<(), &'static str> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return Err("malformed signature header") };
    if (now - t).abs() > tolerance_secs {
        return Err("timestamp outside the tolerance: a replay, or a skewed clock");
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).map_err(|_| "signature does not match")
}

impl WebhookNotifier {
    /// Checks the URL, loads the secret and builds the client; sends nothing.
    pub fn new(config: &WebhookConfig) -> Result<Self, WebhookConfigError> {
        let url = Url::parse(config.webhook_url.trim()).map_err(|e| WebhookConfigError(format!("webhook_url `{}`: {e}", config.webhook_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookConfigError(format!("webhook_url `{url}`: only http and https are supported")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WebhookConfigError(
                "webhook_url carries credentials: the HMAC secret authenticates Writ, give it as `secret_env` or `secret_file`".into(),
            ));
        }
        let source = SecretSource { env: config.secret_env.clone(), file: config.secret_file.clone() };
        let secret = source
            .load("notifications")
            .map_err(|e| WebhookConfigError(e.to_string()))?
            .ok_or_else(|| WebhookConfigError("the signing secret is missing: give `secret_env` or `secret_file`".into()))?;
        if secret.expose().len() < 16 {
            return Err(WebhookConfigError("the signing secret is shorter than 16 bytes: use a long random value".into()));
        }
        if config.ca_file.is_some() && url.scheme() != "https" {
            return Err(WebhookConfigError(format!("webhook_url `{url}`: `ca_file` is for TLS: use an `https://` webhook_url")));
        }
        let http = crate::tls::http_client(reqwest::Client::builder(), config.ca_file.as_deref())
            .map_err(|e| WebhookConfigError(e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(config.timeout_secs.unwrap_or(10)))
            .build()
            .map_err(|e| WebhookConfigError(format!("cannot build the HTTP client: {}", crate::scim::describe(e))))?;
        Ok(Self { url, secret, http })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn describe(&self) -> String {
        // The path may carry a receiver's token: show scheme, host and port only.
        format!("webhook {}://{}", self.url.scheme(), self.url.host_str().unwrap_or("?")) + &self.url.port().map(|p| format!(":{p}")).unwrap_or_default()
    }

    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(n).map_err(|e| NotifyError::Permanent(format!("cannot encode the notification: {e}")))?;
        // The signing time is the wall clock's: the receiver compares it with its own.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let sig = HeaderValue::from_str(&signature(self.secret.expose(), t, &body)).expect("hex and digits are header-safe");
        let reply = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("Writ-Signature", sig)
            .header("Writ-Delivery", n.id.as_str())
            .header("Writ-Event", n.kind.as_str())
            .body(body)
            .send()
            .await
            .map_err(|e| NotifyError::Transient(format!("{}: {}", self.describe(), crate::scim::describe(e))))?;
        status_outcome(&self.describe(), reply.status())
    }
}

/// A receiver's answer as a delivery outcome: 2xx done; 5xx or 429 worth
/// retrying; any other refusal permanent. Only the status line is kept.
pub fn status_outcome(receiver: &str, status: reqwest::StatusCode) -> Result<(), NotifyError> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status.as_u16() == 429 {
        Err(NotifyError::Transient(format!("{receiver} answered {status}")))
    } else {
        Err(NotifyError::Permanent(format!("{receiver} answered {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let secret = "0123456789abcdef-secret";
        let body = br#"{"kind":"break_glass_used"}"#;
        let header = signature(secret, 1_800_000_000, body);
        assert!(header.starts_with("t=1800000000,v1="));
        verify(secret, &header, body, 1_800_000_010, 300).unwrap();
        assert_eq!(verify(secret, &header, b"{}", 1_800_000_010, 300), Err("signature does not match"));
        assert_eq!(verify("another-secret-of-16+", &header, body, 1_800_000_010, 300), Err("signature does not match"));
        assert!(verify(secret, &header, body, 1_800_001_000, 300).is_err(), "too old");
        assert!(verify(secret, "v1=zz", body, 1_800_000_000, 300).is_err());
        let forged = header.replace("t=1800000000", "t=1800000900");
        assert!(verify(secret, &forged, body, 1_800_000_900, 300).is_err(), "the timestamp is signed too");
    }

    #[test]
    fn bad_configuration_is_named_and_never_shows_the_secret() {
        let cfg = |url: &str, env: &str| WebhookConfig {
            webhook_url: url.into(),
            secret_env: Some(env.into()),
            secret_file: None,
            timeout_secs: None,
            ca_file: None,
        };
        std::env::set_var("WRIT_TEST_WEBHOOK_SHORT", "short");
        std::env::set_var("WRIT_TEST_WEBHOOK_OK", "a-long-enough-secret-value");
        let e = WebhookNotifier::new(&cfg("ftp://x", "WRIT_TEST_WEBHOOK_OK")).err().unwrap().to_string();
        assert!(e.contains("only http and https"), "{e}");
        let e = WebhookNotifier::new(&cfg("https://u:p@x/", "WRIT_TEST_WEBHOOK_OK")).err().unwrap().to_string();
        assert!(e.contains("carries credentials"), "{e}");
        let e = WebhookNotifier::new(&cfg("https://x/", "WRIT_TEST_WEBHOOK_SHORT")).err().unwrap().to_string();
        assert!(e.contains("shorter than 16") && !e.contains("short\""), "{e}");
        let e = WebhookNotifier::new(&cfg("https://x/", "WRIT_TEST_WEBHOOK_UNSET")).err().unwrap().to_string();
        assert!(e.contains("WRIT_TEST_WEBHOOK_UNSET"), "{e}");
        let n = WebhookNotifier::new(&cfg("https://hooks.example:8443/t/0123", "WRIT_TEST_WEBHOOK_OK")).unwrap();
        assert_eq!(n.describe(), "webhook https://hooks.example:8443", "the path may hold a token");
    }
}
