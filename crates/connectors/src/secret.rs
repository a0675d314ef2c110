//! Secrets for target connections. The config names where a secret is (an
//! environment variable or a file), never the secret itself, and a [`Secret`]
//! never prints its value: not in logs, errors, `Debug` or API responses.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Where a secret comes from: `password_env = "VAR"` or `password_file = "/path"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SecretSource {
    #[serde(default, rename = "password_env")]
    pub env: Option<String>,
    #[serde(default, rename = "password_file")]
    pub file: Option<PathBuf>,
}

/// A secret value. Its `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it to the target.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a secret could not be loaded; names the variable or file, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("target `{target}`: give the secret as `password_env` or `password_file`, not both")]
    Both { target: String },
    #[error("target `{target}`: environment variable `{var}` is not set (it should hold the password)")]
    MissingEnv { target: String, var: String },
    #[error("target `{target}`: cannot read the password file `{path}`: {reason}")]
    File { target: String, path: String, reason: String },
}

impl SecretSource {
    /// Loads the secret, or `None` if none is configured. A file's trailing
    /// newline is dropped (editors add one).
    pub fn load(&self, target: &str) -> Result<Option<Secret>, SecretError> {
        match (&self.env, &self.file) {
            (Some(_), Some(_)) => Err(SecretError::Both { target: target.to_owned() }),
            (Some(var), None) => {
                std::env::var(var).map(|v| Some(Secret(v))).map_err(|_| SecretError::MissingEnv { target: target.to_owned(), var: var.clone() })
            }
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|v| Some(Secret(v.trim_end_matches(['\n', '\r']).to_owned())))
                .map_err(|e| SecretError::File { target: target.to_owned(), path: path.display().to_string(), reason: e.kind().to_string() }),
            (None, None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn loads_from_a_file_without_its_newline_and_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        let src = SecretSource { env: None, file: Some(path.clone()) };
        assert_eq!(src.load("pg-prod").unwrap().unwrap().expose(), "s3cret");
        let missing = SecretSource { env: Some("WRIT_TEST_SURELY_UNSET_VAR".into()), file: None };
        let e = missing.load("pg-prod").unwrap_err().to_string();
        assert!(e.contains("WRIT_TEST_SURELY_UNSET_VAR") && e.contains("pg-prod"), "{e}");
        let both = SecretSource { env: Some("X".into()), file: Some(path) };
        assert!(matches!(both.load("t"), Err(SecretError::Both { .. })));
        assert_eq!(SecretSource::default().load("t").unwrap(), None);
    }
}
