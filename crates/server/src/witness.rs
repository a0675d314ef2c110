//! Signed checkpoints published outside the database, so that a log cut
//! together with the checkpoints that cover it is still caught: whoever can
//! rewrite the database cannot unpublish what a witness holds.
//!
//! Two witnesses, either or both (`audit_witness_dir`, `audit_witness_url`):
//! - a directory written append-only: one file per checkpoint, created new
//!   and never rewritten, flushed to disk before signing is reported done
//!   (mount it from another machine, or ship it elsewhere);
//! - an HTTP endpoint that receives each checkpoint as JSON (a transparency
//!   log, another team's service). A checkpoint covers every one before it,
//!   so one that could not be delivered is superseded by the next: no queue.
//!
//! `writ audit verify --witness DIR` reads the directory back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use writ_core::audit::Checkpoint;

/// Where checkpoints are published. Empty: nowhere (the verifier says so).
#[derive(Debug, Clone, Default)]
pub struct Witness {
    dir: Option<PathBuf>,
    url: Option<reqwest::Url>,
    client: reqwest::Client,
}

/// Why a checkpoint could not be published.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("cannot write checkpoint file `{path}`: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("checkpoint file `{path}` already exists with other contents: the witness directory was tampered with or is shared by two logs")]
    Conflicting { path: PathBuf },
    #[error("the witness at `{url}` did not take the checkpoint: {detail}")]
    Http { url: String, detail: String },
    #[error("config key `audit_witness_ca_file`: {0}")]
    CaFile(#[from] writ_connectors::tls::CaFileError),
}

impl Witness {
    /// Publishes to `dir` (created if missing) and/or `url` (http or https;
    /// over https, trusting only `ca_file` when given).
    pub fn new(dir: Option<PathBuf>, url: Option<reqwest::Url>, ca_file: Option<&Path>) -> Result<Self, WitnessError> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d).map_err(|source| WitnessError::Write { path: d.clone(), source })?;
        }
        let builder = writ_connectors::tls::http_client(reqwest::Client::builder(), ca_file)?;
        // Building fails only without a TLS backend, which this build has.
        let client = builder.timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Ok(Self { dir, url, client })
    }

    pub fn is_configured(&self) -> bool {
        self.dir.is_some() || self.url.is_some()
    }

    /// Publishes `cp` everywhere configured; every witness is tried, and the
    /// first failure is returned (logged by the caller).
    pub async fn publish(&self, cp: &Checkpoint) -> Result<(), WitnessError> {
        let mut first_error = None;
        if let Some(dir) = &self.dir {
            let (dir, cp) = (dir.clone(), cp.clone());
            let written = tokio::task::spawn_blocking(move || write_file(&dir, &cp))
                .await
                .unwrap_or_else(|e| Err(WitnessError::Write { path: PathBuf::new(), source: std::io::Error::other(e.to_string()) }));
            first_error = written.err();
        }
        if let Some(url) = &self.url {
            if let Err(e) = self.post(url, cp).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn post(&self, url: &reqwest::Url, cp: &Checkpoint) -> Result<(), WitnessError> {
        let http = |detail: String| WitnessError::Http { url: url.to_string(), detail };
        let resp = self.client.post(url.clone()).json(cp).send().await.map_err(|e| http(writ_connectors::scim::describe(e)))?;
        if !resp.status().is_success() {
            return Err(http(format!("it answered {}", resp.status())));
        }
        Ok(())
    }
}

/// The file a checkpoint of `size` events is published as: zero-padded, so
/// that a listing sorts by size.
pub fn file_name(size: u64) -> String {
    format!("checkpoint-{size:020}.json")
}

/// Writes `cp` as a new file, flushed (file and directory) before returning.
/// A file for the same size with the same contents is fine (a retry); with
/// other contents it is an error, and is left as it is.
fn write_file(dir: &Path, cp: &Checkpoint) -> Result<(), WitnessError> {
    let path = dir.join(file_name(cp.size));
    let text = serde_json::to_string(cp).expect("a checkpoint serialises") + "\n";
    let write = |source| WitnessError::Write { path: path.clone(), source };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o444);
    }
    match opts.open(&path) {
        Ok(mut f) => {
            f.write_all(text.as_bytes()).map_err(write)?;
            f.sync_all().map_err(write)?;
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(write)?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let existing = std::fs::read_to_string(&path).map_err(write)?;
            if existing == text {
                Ok(())
            } else {
                Err(WitnessError::Conflicting { path })
            }
        }
        Err(e) => Err(write(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use writ_core::audit::{sign_checkpoint, EventHash};

    fn cp(size: u64, key: u8) -> Checkpoint {
        sign_checkpoint(&SigningKey::from_bytes(&[key; 32]), size, EventHash::GENESIS, chrono::DateTime::UNIX_EPOCH)
    }

    #[tokio::test]
    async fn each_checkpoint_is_a_new_file_never_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::new(Some(dir.path().join("witness")), None, None).unwrap();
        w.publish(&cp(3, 1)).await.unwrap();
        w.publish(&cp(3, 1)).await.unwrap();
        let e = w.publish(&cp(3, 2)).await.unwrap_err().to_string();
        assert!(e.contains("already exists with other contents"), "{e}");
        w.publish(&cp(10, 1)).await.unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("witness")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, [file_name(3), file_name(10)]);
        let back: Checkpoint = serde_json::from_str(&std::fs::read_to_string(dir.path().join("witness").join(file_name(3))).unwrap()).unwrap();
        assert_eq!(back, cp(3, 1));
    }
}
