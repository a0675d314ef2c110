//! The Ed25519 key that signs audit checkpoints. Created on first start with the
//! OS random generator and stored beside the database, readable by its owner only.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;

pub const KEY_FILE: &str = "audit-signing.key";
/// The public half, in hex, for `writ audit verify --trusted-key @<file>`.
pub const PUBLIC_KEY_FILE: &str = "audit-signing.pub";

/// Loads this node's key: from `shared` when configured (it must exist), else
/// from `dir`, creating it there on first start.
pub fn load(dir: &Path, shared: Option<&Path>) -> anyhow::Result<SigningKey> {
    match shared {
        Some(path) if !path.exists() => anyhow::bail!(
            "config key `audit_signing_key_file`: `{}` does not exist: copy one node's `{KEY_FILE}` there (mode 0600) and point every node at it",
            path.display()
        ),
        Some(path) => read_key(path),
        None => load_or_create(dir),
    }
}

fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read the audit signing key `{}`: {e}", path.display()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("`{}` is not a 32-byte hex Ed25519 key: restore it from backup", path.display()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Loads the key from `dir`, or creates it there.
pub fn load_or_create(dir: &Path) -> anyhow::Result<SigningKey> {
    let path = dir.join(KEY_FILE);
    if path.exists() {
        return read_key(&path);
    }
    std::fs::create_dir_all(dir)?;
    let key = SigningKey::generate(&mut OsRng);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path)?;
    writeln!(f, "{}", hex::encode(key.to_bytes()))?;
    std::fs::write(dir.join(PUBLIC_KEY_FILE), format!("{}\n", hex::encode(key.verifying_key().to_bytes())))?;
    tracing::info!(path = %path.display(), public_key = %hex::encode(key.verifying_key().to_bytes()), "created the audit signing key");
    Ok(key)
}
