//! Signed checkpoints: the server's signed statement of how long the log was and
//! what its head hash was. The chain alone shows that rows were altered in
//! place; only a checkpoint held outside the database shows that the tail was
//! cut off or the whole chain re-sealed.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::encoding::{checkpoint_message, is_whole_millis};
use super::hash::{hex_array, EventHash};
use super::tamper::Tamper;

/// Signed statement "the log had `size` events and its head hash was `head`".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Number of events covered: events `1..=size`.
    pub size: u64,
    /// Hash of event `size`, or [`EventHash::GENESIS`] when `size` is 0.
    pub head: EventHash,
    /// When it was signed; the signature covers whole milliseconds.
    pub at: DateTime<Utc>,
    /// Ed25519 public key of the signer.
    #[serde(with = "hex_array")]
    pub public_key: [u8; 32],
    /// Ed25519 signature over [`checkpoint_message`].
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

/// Signs a checkpoint of a log with `size` events whose head hash is `head`.
/// `at` comes from the caller's clock and is truncated to milliseconds.
pub fn sign_checkpoint(key: &SigningKey, size: u64, head: EventHash, at: DateTime<Utc>) -> Checkpoint {
    let millis = at.timestamp_millis();
    // INVARIANT: the milliseconds of a valid DateTime are always in range.
    let at = DateTime::from_timestamp_millis(millis).unwrap_or(at);
    let signature = key.sign(&checkpoint_message(size, &head, millis));
    Checkpoint { size, head, at, public_key: key.verifying_key().to_bytes(), signature: signature.to_bytes() }
}

impl Checkpoint {
    /// Checks the signature against the checkpoint's own public key. Whether
    /// that key is trusted is a separate question ([`super::ChainVerifier::finish`]).
    ///
    /// Uses strict verification, which also rejects small-order keys and
    /// malleable signatures that this module never produces.
    pub fn verify_signature(&self) -> Result<(), Tamper> {
        let bad = Tamper::BadCheckpointSignature { size: self.size };
        // Sub-millisecond digits are not signed; sign_checkpoint never writes them.
        if !is_whole_millis(&self.at) {
            return Err(bad);
        }
        let key = VerifyingKey::from_bytes(&self.public_key).map_err(|_| bad.clone())?;
        let message = checkpoint_message(self.size, &self.head, self.at.timestamp_millis());
        key.verify_strict(&message, &Signature::from_bytes(&self.signature)).map_err(|_| bad)
    }

    /// Short, stable name of the signing key, for display and comparison by people.
    pub fn key_fingerprint(&self) -> String {
        key_fingerprint(&self.public_key)
    }
}

/// Fingerprint of an Ed25519 public key: `ed25519:` followed by the first 16
/// bytes of SHA-256(public key) in lowercase hex. For display only: trust
/// decisions compare the full key.
pub fn key_fingerprint(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    format!("ed25519:{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 987_654_321).unwrap()
    }

    #[test]
    fn signed_checkpoint_verifies_and_keeps_milliseconds_only() {
        let cp = sign_checkpoint(&key(1), 10, EventHash([3; 32]), at());
        assert_eq!(cp.at.timestamp_subsec_nanos(), 987_000_000);
        assert_eq!(cp.public_key, key(1).verifying_key().to_bytes());
        cp.verify_signature().unwrap();
    }

    #[test]
    fn any_altered_field_breaks_the_signature() {
        let cp = sign_checkpoint(&key(1), 10, EventHash([3; 32]), at());
        let bad = Err(Tamper::BadCheckpointSignature { size: 10 });
        let mut size = cp.clone();
        size.size = 11;
        assert_eq!(size.verify_signature(), Err(Tamper::BadCheckpointSignature { size: 11 }));
        let mut head = cp.clone();
        head.head = EventHash([4; 32]);
        let mut time = cp.clone();
        time.at += chrono::Duration::milliseconds(1);
        let mut sub_ms = cp.clone();
        sub_ms.at += chrono::Duration::microseconds(1);
        let mut sig = cp.clone();
        sig.signature[0] ^= 1;
        let mut other_key = cp.clone();
        other_key.public_key = key(2).verifying_key().to_bytes();
        for altered in [head, time, sub_ms, sig, other_key] {
            assert_eq!(altered.verify_signature(), bad);
        }
    }

    #[test]
    fn serde_writes_keys_and_signatures_as_hex() {
        let cp = sign_checkpoint(&key(1), 2, EventHash([3; 32]), at());
        let json = serde_json::to_value(&cp).unwrap();
        assert_eq!(json["public_key"], hex::encode(cp.public_key));
        assert_eq!(json["signature"].as_str().unwrap().len(), 128);
        assert_eq!(json["head"], "03".repeat(32));
        let back: Checkpoint = serde_json::from_value(json).unwrap();
        assert_eq!(back, cp);
        back.verify_signature().unwrap();
    }

    /// Pins the version 1 checkpoint message and signature (Ed25519 signing is
    /// deterministic); the same values appear in docs/audit-format.md.
    #[test]
    fn golden_checkpoint_signature() {
        let head: EventHash = "04d5369e7ae8f57b2ff95054127cd2f466350c8f1fb49a66df5a53bbf76fbf7e".parse().unwrap();
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let cp = sign_checkpoint(&key(1), 7, head, at);
        assert_eq!(hex::encode(cp.public_key), "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c");
        assert_eq!(
            hex::encode(cp.signature),
            "6b916bb5471548302d27e3f6daaa125486be018e3ebaac7fdc2b99a5f8af60bf\
             b246d77ee1f02850b76dce3ac533d17b0359fef3d0fd30a0a101c305261b220c"
        );
        assert_eq!(cp.key_fingerprint(), "ed25519:34750f98bd59fcfc946da45aaabe933b");
    }

    #[test]
    fn fingerprint_is_stable_and_distinguishes_keys() {
        let a = sign_checkpoint(&key(1), 0, EventHash::GENESIS, at());
        let b = sign_checkpoint(&key(2), 0, EventHash::GENESIS, at());
        assert!(a.key_fingerprint().starts_with("ed25519:"));
        assert_eq!(a.key_fingerprint().len(), "ed25519:".len() + 32);
        assert_eq!(a.key_fingerprint(), key_fingerprint(&key(1).verifying_key().to_bytes()));
        assert_ne!(a.key_fingerprint(), b.key_fingerprint());
    }
}
