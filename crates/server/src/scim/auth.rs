//! The SCIM endpoint's own credential: one bearer token the identity
//! provider sends, configured in `[scim]` of writ.toml as a file holding
//! it (`token_file`) or as its SHA-256 (`token_sha256`). Only the hash is
//! kept, and a presented token is compared by hash in constant time. It is
//! not a `/v1` token and a `/v1` token is not it.

use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::ConfigError;

/// The shortest token accepted from `token_file`: 32 characters (e.g. 16
/// random bytes in hex) leave nothing to guess.
pub const MIN_TOKEN_CHARS: usize = 32;

/// `[scim]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// A file holding the bearer token the provider sends (read at start;
    /// only its hash is kept). Relative to writ.toml's directory.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Or the token's SHA-256, in hex (64 characters).
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// The service's public URL, e.g. `https://writ.example.com/scim/v2`,
    /// for the resources' `location`s. Absent: `http://<Host header>/scim/v2`.
    #[serde(default)]
    pub base_url: Option<String>,
}

/// What the SCIM routes need: the token's hash and the public URL.
#[derive(Clone)]
pub struct ScimService {
    token_hash: [u8; 32],
    pub base_url: Option<String>,
}

impl std::fmt::Debug for ScimService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimService").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

fn invalid(reason: String) -> ConfigError {
    ConfigError::Invalid { key: "scim", reason }
}

impl ScimConfig {
    /// Reads the token (or takes its hash); `dir` is writ.toml's directory.
    pub fn service(&self, dir: Option<&std::path::Path>) -> Result<ScimService, ConfigError> {
        let token_hash = match (&self.token_file, &self.token_sha256) {
            (Some(path), None) => {
                let path = match dir {
                    Some(d) if path.is_relative() => d.join(path),
                    _ => path.clone(),
                };
                let text = std::fs::read_to_string(&path).map_err(|e| invalid(format!("token_file `{}` cannot be read: {e}", path.display())))?;
                let token = text.trim();
                if token.chars().count() < MIN_TOKEN_CHARS || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(invalid(format!(
                        "token_file `{}` must hold one token of at least {MIN_TOKEN_CHARS} characters without spaces: generate one with `openssl rand -hex 32`",
                        path.display()
                    )));
                }
                Sha256::digest(token.as_bytes()).into()
            }
            (None, Some(hex_hash)) => {
                let bytes = hex::decode(hex_hash.trim()).ok().filter(|b| b.len() == 32).ok_or_else(|| {
                    invalid("token_sha256 must be the SHA-256 of the token in hex (64 characters): e.g. `printf %s \"$TOKEN\" | sha256sum`".into())
                })?;
                let mut h = [0u8; 32];
                h.copy_from_slice(&bytes);
                h
            }
            (Some(_), Some(_)) => return Err(invalid("give `token_file` or `token_sha256`, not both".into())),
            (None, None) => return Err(invalid("needs `token_file` (a file holding the provider's bearer token) or `token_sha256`".into())),
        };
        if let Some(u) = &self.base_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) || u.ends_with('/') {
                return Err(invalid(format!("base_url `{u}` must be an http(s) URL without a trailing `/`, e.g. `https://writ.example.com/scim/v2`")));
            }
        }
        Ok(ScimService { token_hash, base_url: self.base_url.clone() })
    }
}

impl ScimService {
    /// Whether `token` is the configured one: compared by SHA-256, every
    /// byte looked at whatever the first difference.
    pub fn accepts(&self, token: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        presented.iter().zip(self.token_hash.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_kept_as_a_hash_and_must_be_strong() {
        let dir = tempfile::tempdir().unwrap();
        let token = "0123456789abcdef0123456789abcdef";
        std::fs::write(dir.path().join("scim-token"), format!("{token}\n")).unwrap();
        let cfg = ScimConfig { token_file: Some("scim-token".into()), ..Default::default() };
        let s = cfg.service(Some(dir.path())).unwrap();
        assert!(s.accepts(token));
        assert!(!s.accepts("0123456789abcdef0123456789abcdeF"));
        assert!(!format!("{s:?}").contains("token_hash"), "the hash is not even printed");
        let by_hash = ScimConfig { token_sha256: Some(hex::encode(Sha256::digest(token.as_bytes()))), ..Default::default() };
        assert!(by_hash.service(None).unwrap().accepts(token));
        std::fs::write(dir.path().join("weak"), "short").unwrap();
        let weak = ScimConfig { token_file: Some(dir.path().join("weak")), ..Default::default() };
        assert!(weak.service(None).unwrap_err().to_string().contains("at least 32"));
        assert!(ScimConfig::default().service(None).unwrap_err().to_string().contains("token_file"));
        let both = ScimConfig { token_file: Some("a".into()), token_sha256: Some("b".into()), ..Default::default() };
        assert!(both.service(None).unwrap_err().to_string().contains("not both"));
    }
}
