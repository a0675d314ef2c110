//! Slack's request signing (v0): `X-Slack-Signature: v0=<hex HMAC-SHA256(
//! signing secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body)>`.
//! Checked over the bytes exactly as received (never a re-encoded body), in
//! constant time, and only within [`TOLERANCE_SECS`] of Writ's clock, so a
//! captured request cannot be replayed later (replays inside the window are
//! caught by the delivery record, see `super`).

use writ_connectors::secret::Secret;

use crate::intake_hooks::{hmac_hex, hmac_matches};

/// How far a request's timestamp may be from Writ's clock: Slack's own SDKs
/// refuse requests older than five minutes.
pub const TOLERANCE_SECS: i64 = 5 * 60;

const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
const SIGNATURE_HEADER: &str = "X-Slack-Signature";

/// Why a request is not taken as Slack's. None of them says anything about
/// the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing `{0}` header: only Slack's signed interaction requests are accepted here")]
    Missing(&'static str),
    #[error("`{TIMESTAMP_HEADER}` is not a number of seconds since the epoch")]
    BadTimestamp,
    #[error("`{SIGNATURE_HEADER}` is not `v0=` followed by 64 hex digits")]
    BadSignature,
    /// By how many seconds Writ's clock is past the timestamp (negative: before it).
    #[error("`{TIMESTAMP_HEADER}` is {} (more than {TOLERANCE_SECS}s either way): a replayed request, or a clock to correct", skew(*.0))]
    Stale(i64),
    #[error("`{SIGNATURE_HEADER}` does not match the body: check that `[slack] signing_secret_file` holds the Slack app's signing secret")]
    Mismatch,
}

fn skew(secs: i64) -> String {
    if secs >= 0 {
        format!("{secs}s older than this server's clock")
    } else {
        format!("{}s ahead of this server's clock", secs.unsigned_abs())
    }
}

/// The `X-Slack-Signature` value for `body` sent at `timestamp` (what Slack
/// computes; tests sign their requests with it).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!("v0={}", hmac_hex(secret, &[b"v0:", timestamp.as_bytes(), b":", body]))
}

/// Checks the two headers (as received, `None` when absent) against `body`
/// at unix time `now`. The timestamp is checked before the MAC, so a stale
/// request is named as such even when it was signed correctly.
pub fn verify(secret: &Secret, timestamp: Option<&str>, signature: Option<&str>, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?.trim();
    let signature = signature.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?.trim();
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) || timestamp.len() > 12 {
        return Err(SignatureError::BadTimestamp);
    }
    let sent: i64 = timestamp.parse().map_err(|_| SignatureError::BadTimestamp)?;
    let presented = signature.strip_prefix("v0=").and_then(|h| hex::decode(h).ok()).filter(|m| m.len() == 32).ok_or(SignatureError::BadSignature)?;
    let skew = now - sent;
    if skew.abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale(skew));
    }
    if hmac_matches(secret, &[b"v0:", timestamp.as_bytes(), b":", body], &presented) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vector(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/webhooks/slack").join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
    }

    fn check(v: &Value, body: &[u8], now: i64) -> Result<(), SignatureError> {
        let headers = &v["headers"];
        verify(
            &Secret::new(v["signing_secret"].as_str().unwrap()),
            headers["X-Slack-Request-Timestamp"].as_str(),
            headers["X-Slack-Signature"].as_str(),
            body,
            now,
        )
    }

    #[test]
    fn slacks_published_vector_and_our_block_actions_vector_verify() {
        for name in ["signing_test_vector_slack_docs.json", "signing_test_vector_block_actions_derived.json"] {
            let v = vector(name);
            let body = v["body"].as_str().unwrap().as_bytes();
            let now = v["verifier_clock_for_freshness_check"].as_i64().unwrap();
            check(&v, body, now).unwrap_or_else(|e| panic!("{name}: {e}"));
            let signed = sign(v["signing_secret"].as_str().unwrap(), v["headers"]["X-Slack-Request-Timestamp"].as_str().unwrap(), body);
            assert_eq!(signed, v["expected_signature"].as_str().unwrap(), "{name}");
            // Inside the window either way; outside it, refused as stale.
            check(&v, body, now + TOLERANCE_SECS).unwrap();
            check(&v, body, now - TOLERANCE_SECS).unwrap();
            assert_eq!(check(&v, body, now + TOLERANCE_SECS + 1), Err(SignatureError::Stale(TOLERANCE_SECS + 1)), "{name}");
            assert_eq!(check(&v, body, now - TOLERANCE_SECS - 1), Err(SignatureError::Stale(-TOLERANCE_SECS - 1)), "{name}");
        }
    }

    #[test]
    fn any_change_to_the_bytes_timestamp_or_secret_breaks_it() {
        let v = vector("signing_test_vector_block_actions_derived.json");
        let body = v["body"].as_str().unwrap();
        let now = v["verifier_clock_for_freshness_check"].as_i64().unwrap();
        // The same payload re-encoded (`%20` as `+`) is not what was signed.
        assert_eq!(check(&v, body.replace("%20", "+").as_bytes(), now), Err(SignatureError::Mismatch));
        assert_eq!(check(&v, format!("{body}&x=1").as_bytes(), now), Err(SignatureError::Mismatch));
        let secret = &Secret::new(v["signing_secret"].as_str().unwrap());
        let sig = v["expected_signature"].as_str();
        assert_eq!(verify(secret, Some("1678252217"), sig, body.as_bytes(), now), Err(SignatureError::Mismatch), "the timestamp is signed");
        assert_eq!(verify(&Secret::new("another-secret"), Some("1678252216"), sig, body.as_bytes(), now), Err(SignatureError::Mismatch));
    }

    #[test]
    fn missing_or_malformed_headers_are_named() {
        let secret = &Secret::new("s");
        let sig = sign("s", "1700000000", b"x");
        let now = 1_700_000_000;
        assert_eq!(verify(secret, None, Some(&sig), b"x", now), Err(SignatureError::Missing("X-Slack-Request-Timestamp")));
        assert_eq!(verify(secret, Some("1700000000"), None, b"x", now), Err(SignatureError::Missing("X-Slack-Signature")));
        for bad in ["", "-1700000000", "1.7e9", "17000000000000000000000"] {
            assert_eq!(verify(secret, Some(bad), Some(&sig), b"x", now), Err(SignatureError::BadTimestamp), "{bad}");
        }
        for bad in ["", "v1=00", "v0=zz", &sig[3..], &format!("{sig}00"), &sig.replace("v0=", "V0=")] {
            assert_eq!(verify(secret, Some("1700000000"), Some(bad), b"x", now), Err(SignatureError::BadSignature), "{bad}");
        }
        verify(secret, Some("1700000000"), Some(&sig), b"x", now).unwrap();
        let e = SignatureError::Mismatch.to_string();
        assert!(!e.contains(&sig[3..]), "the expected signature is never shown");
    }
}
