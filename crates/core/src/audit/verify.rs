//! The streaming chain verifier. It keeps every accepted hash (32 bytes per
//! event, 32 MB per million) rather than taking checkpoints up front, so a
//! caller can read events and checkpoints in any order from any source and still
//! check every checkpoint's head at the end.

use super::checkpoint::{key_fingerprint, Checkpoint};
use super::encoding::ENCODING_VERSION;
use super::event::{AuditEvent, EventRef};
use super::hash::EventHash;
use super::tamper::Tamper;

/// How many positions after the expected one the verifier tries when deciding
/// whether a mismatching event was moved rather than edited. Only runs once, on
/// the failure path; beyond it a moved event is reported as edited.
pub const REORDER_SEARCH_WINDOW: u64 = 1024;

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of events verified.
    pub events: u64,
    /// Hash of the last event ([`EventHash::GENESIS`] for an empty log).
    pub head: EventHash,
    /// Number of checkpoints whose signature and head were checked.
    pub checkpoints_checked: usize,
    /// Largest checkpoint size seen; events after it are protected by the chain
    /// alone, so an appended or re-sealed tail there would not be detected.
    pub last_checkpoint_size: Option<u64>,
    /// Distinct fingerprints of the keys that signed the checkpoints, in order
    /// of first appearance, so a person can compare them with the server's key.
    pub key_fingerprints: Vec<String>,
}

/// Streaming verifier: feed events in the order read (ORDER BY seq), then the checkpoints.
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    // INVARIANT: hashes[i] is the verified hash of event i + 1.
    hashes: Vec<EventHash>,
    failed: Option<Tamper>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier for a log in the current encoding version.
    pub fn new() -> Self {
        Self { hashes: Vec::new(), failed: None }
    }

    /// Like [`ChainVerifier::new`], with room for `events` hashes reserved.
    pub fn with_capacity(events: usize) -> Self {
        Self { hashes: Vec::with_capacity(events), failed: None }
    }

    /// A verifier for a log that declares its encoding version (an export
    /// header, a store's metadata). Version 1 rows carry no version field.
    pub fn with_encoding_version(version: u8) -> Result<Self, Tamper> {
        if version == ENCODING_VERSION {
            Ok(Self::new())
        } else {
            Err(Tamper::UnsupportedVersion { version })
        }
    }

    /// Number of events accepted so far.
    pub fn len(&self) -> u64 {
        self.hashes.len() as u64
    }

    /// True when no event was accepted yet.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Hash of the last accepted event, or [`EventHash::GENESIS`].
    pub fn head(&self) -> EventHash {
        self.hashes.last().copied().unwrap_or(EventHash::GENESIS)
    }

    /// Checks the next event. Stops at the first problem: after an error every
    /// later call returns that same error, and so does [`ChainVerifier::finish`].
    pub fn push(&mut self, ev: &AuditEvent) -> Result<(), Tamper> {
        self.push_checked(&ev.view(), ev.has_unhashed_time_digits())
    }

    /// [`ChainVerifier::push`] for an event read without copying. The hash covers
    /// `at_millis` only, so a source that stores time as text must say whether
    /// that text had digits below the millisecond (`sub_millisecond_digits`): such
    /// digits were added after sealing, and count as an edit.
    pub fn push_ref(&mut self, ev: &EventRef<'_>, sub_millisecond_digits: bool) -> Result<(), Tamper> {
        self.push_checked(ev, sub_millisecond_digits)
    }

    fn push_checked(&mut self, ev: &EventRef<'_>, unhashed_time_digits: bool) -> Result<(), Tamper> {
        if let Some(t) = &self.failed {
            return Err(t.clone());
        }
        match self.check(ev, unhashed_time_digits) {
            Ok(()) => {
                self.hashes.push(ev.hash);
                Ok(())
            }
            Err(t) => {
                self.failed = Some(t.clone());
                Err(t)
            }
        }
    }

    fn check(&self, ev: &EventRef<'_>, unhashed_time_digits: bool) -> Result<(), Tamper> {
        let expected = self.len() + 1;
        if ev.seq > expected {
            return Err(Tamper::Deleted { missing_seq: expected, next_seq: ev.seq });
        }
        if ev.seq < expected {
            return Err(Tamper::Duplicate { seq: ev.seq, after: self.len() });
        }
        if unhashed_time_digits {
            return Err(Tamper::Edited { seq: ev.seq });
        }
        if ev.recompute_hash() != ev.hash {
            return Err(self.explain_mismatch(ev));
        }
        if ev.prev_hash != self.head() {
            // Intact, but sealed after some other event than the one now before
            // it: that one was swapped for another or re-sealed.
            return Err(Tamper::Replaced { seq: ev.seq - 1 });
        }
        Ok(())
    }

    /// Event `e` does not hash to its stored hash. The stored hash is still
    /// evidence: if these contents reproduce it under another position, the event
    /// was moved there (or the log renumbered around it) rather than edited.
    fn explain_mismatch(&self, ev: &EventRef<'_>) -> Tamper {
        let e = ev.seq;
        // Copied or moved from an earlier position that is still in the log.
        if let Some(s) = self.seq_of(&ev.hash).filter(|&s| s >= 1) {
            if ev.hash_as(s) == ev.hash {
                return Tamper::Reordered { seq: e, sealed_as: s };
            }
        }
        // Sealed right after an event we already accepted, at position s < e:
        // the rows now at s..e are extras pushed in before it.
        if let Some(t) = self.seq_of(&ev.prev_hash) {
            let s = t + 1;
            if s < e && ev.hash_as(s) == ev.hash {
                return Tamper::Inserted { seq: s, next_seq: e };
            }
        }
        // Moved here from a later position.
        let last = e.saturating_add(REORDER_SEARCH_WINDOW);
        if let Some(s) = (e + 1..=last).find(|&s| ev.hash_as(s) == ev.hash) {
            return Tamper::Reordered { seq: e, sealed_as: s };
        }
        Tamper::Edited { seq: e }
    }

    /// Position of an accepted hash; GENESIS is position 0. Linear, because it
    /// only runs once, after a problem was found.
    fn seq_of(&self, hash: &EventHash) -> Option<u64> {
        if *hash == EventHash::GENESIS {
            return Some(0);
        }
        self.hashes.iter().rposition(|h| h == hash).map(|i| i as u64 + 1)
    }

    /// Checks the checkpoints, in the order given, against the verified events.
    /// Each signature must verify; with `trusted_key`, each must also be signed
    /// by exactly that key. A checkpoint larger than the log means truncation;
    /// one whose head differs from the log's hash at its size means a rewrite.
    /// `trusted_keys`: the public keys checkpoints must be signed with (one
    /// per node, or one shared by all); empty, each checkpoint's own key is
    /// used (which only proves it was not altered after signing).
    pub fn finish(self, checkpoints: &[Checkpoint], trusted_keys: &[[u8; 32]]) -> Result<VerifyReport, Tamper> {
        if let Some(t) = self.failed {
            return Err(t);
        }
        let mut key_fingerprints: Vec<String> = Vec::new();
        for cp in checkpoints {
            if !trusted_keys.is_empty() && !trusted_keys.contains(&cp.public_key) {
                let trusted = trusted_keys.iter().map(key_fingerprint).collect::<Vec<_>>().join(", ");
                return Err(Tamper::UntrustedKey { size: cp.size, fingerprint: cp.key_fingerprint(), trusted });
            }
            cp.verify_signature()?;
            if cp.size > self.len() {
                return Err(Tamper::Truncated { checkpoint_size: cp.size, log_len: self.len(), signed_at: cp.at });
            }
            let head_at_size = match cp.size {
                0 => EventHash::GENESIS,
                n => self.hashes[(n - 1) as usize],
            };
            if head_at_size != cp.head {
                return Err(Tamper::CheckpointMismatch { size: cp.size });
            }
            let fingerprint = cp.key_fingerprint();
            if !key_fingerprints.contains(&fingerprint) {
                key_fingerprints.push(fingerprint);
            }
        }
        Ok(VerifyReport {
            events: self.len(),
            head: self.head(),
            checkpoints_checked: checkpoints.len(),
            last_checkpoint_size: checkpoints.iter().map(|c| c.size).max(),
            key_fingerprints,
        })
    }
}

/// Verifies a whole log held in memory: the events in seq order, then the checkpoints.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
    checkpoints: &[Checkpoint],
    trusted_keys: &[[u8; 32]],
) -> Result<VerifyReport, Tamper> {
    let mut verifier = ChainVerifier::new();
    for ev in events {
        verifier.push(ev)?;
    }
    verifier.finish(checkpoints, trusted_keys)
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
