//! What the verifier found wrong with a log, in words an auditor can act on.

use chrono::{DateTime, Utc};

/// The first problem found in an audit log. Every message names the event by
/// its number and says what was wrong with it.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum Tamper {
    /// The stored contents of event `seq` no longer produce its stored hash.
    #[error("event {seq} was edited: its contents no longer match its hash")]
    Edited { seq: u64 },

    /// Event numbers jump from `missing_seq - 1` to `next_seq`.
    #[error("{}", deleted_message(*missing_seq, *next_seq))]
    Deleted { missing_seq: u64, next_seq: u64 },

    /// Events `seq ..= next_seq - 1` are not part of the original chain: the
    /// event now numbered `next_seq` was sealed as event `seq`, right after
    /// event `seq - 1`, and everything from `seq` on was renumbered.
    #[error(
        "event {seq} was inserted: the event now numbered {next_seq} was sealed as event {seq}, \
         directly after event {}, and later events were renumbered",
        .seq - 1
    )]
    Inserted { seq: u64, next_seq: u64 },

    /// An event number appeared again, or went backwards, after event `after`.
    #[error("{}", duplicate_message(*seq, *after))]
    Duplicate { seq: u64, after: u64 },

    /// The contents stored as event `seq` were sealed as event `sealed_as`.
    #[error("{}", reordered_message(*seq, *sealed_as))]
    Reordered { seq: u64, sealed_as: u64 },

    /// Event `seq + 1` is intact but was sealed after a different event `seq`
    /// than the one now in the log.
    #[error("{}", replaced_message(*seq))]
    Replaced { seq: u64 },

    /// A signed checkpoint covers more events than the log holds.
    #[error(
        "log truncated: a checkpoint signed at {signed_at} covers {checkpoint_size} events \
         but the log ends at {log_len}"
    )]
    Truncated { checkpoint_size: u64, log_len: u64, signed_at: DateTime<Utc> },

    /// The log's hash at position `size` differs from the signed head.
    #[error(
        "checkpoint at {size} events does not match the log: the hash of event {size} differs \
         from the signed head, so events up to {size} were rewritten after it was signed"
    )]
    CheckpointMismatch { size: u64 },

    /// A checkpoint's signature does not verify against its own public key.
    #[error("checkpoint at {size} events has an invalid signature: it was forged or altered")]
    BadCheckpointSignature { size: u64 },

    /// A checkpoint was validly signed, but not by the key the auditor trusts.
    #[error(
        "checkpoint at {size} events was signed by key {fingerprint}, not by a trusted key \
         ({trusted}): check which key each node signs with"
    )]
    UntrustedKey { size: u64, fingerprint: String, trusted: String },

    /// The log declares an encoding version this build cannot verify.
    #[error(
        "audit encoding version {version} is not supported: this build verifies version {}; \
         use a newer writ to verify this log",
        super::ENCODING_VERSION
    )]
    UnsupportedVersion { version: u8 },
}

impl Tamper {
    /// The event number the problem is first visible at (for checkpoint
    /// problems, the checkpoint's size). `None` only for an unsupported version.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Tamper::Edited { seq }
            | Tamper::Inserted { seq, .. }
            | Tamper::Duplicate { seq, .. }
            | Tamper::Reordered { seq, .. }
            | Tamper::Replaced { seq } => Some(*seq),
            Tamper::Deleted { missing_seq, .. } => Some(*missing_seq),
            Tamper::Truncated { checkpoint_size, .. } => Some(*checkpoint_size),
            Tamper::CheckpointMismatch { size } | Tamper::BadCheckpointSignature { size } | Tamper::UntrustedKey { size, .. } => Some(*size),
            Tamper::UnsupportedVersion { .. } => None,
        }
    }
}

fn deleted_message(missing: u64, next: u64) -> String {
    let what = if next == missing + 1 { format!("event {missing} is missing") } else { format!("events {missing} to {} are missing", next - 1) };
    if missing <= 1 {
        format!("{what}: the log starts at event {next} (deleted)")
    } else {
        format!("{what}: event {next} follows event {} (deleted)", missing - 1)
    }
}

fn duplicate_message(seq: u64, after: u64) -> String {
    if seq == 0 {
        return format!(
            "an event numbered 0 appears after event {after}: numbering starts at 1, \
             so it was inserted"
        );
    }
    if seq == after {
        format!("event {seq} appears twice: an extra event {seq} was inserted")
    } else {
        format!("event {seq} appears again after event {after}: an extra event {seq} was inserted")
    }
}

fn reordered_message(seq: u64, sealed_as: u64) -> String {
    let why = if sealed_as == seq + 1 {
        "events were swapped, or an earlier event was deleted and the rest renumbered"
    } else if sealed_as > seq {
        "events were swapped or moved"
    } else {
        "it was copied or moved there"
    };
    format!("event {seq} is out of place: its contents were sealed as event {sealed_as} ({why})")
}

fn replaced_message(seq: u64) -> String {
    if seq == 0 {
        "the start of the log was replaced: event 1 was sealed after another event".into()
    } else {
        format!("event {seq} was replaced: event {} was sealed after a different event {seq}", seq + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_event_and_the_problem() {
        let signed_at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let table: Vec<(Tamper, &str)> = vec![
            (Tamper::Edited { seq: 17 }, "event 17 was edited: its contents no longer match its hash"),
            (Tamper::Deleted { missing_seq: 5, next_seq: 6 }, "event 5 is missing: event 6 follows event 4 (deleted)"),
            (Tamper::Deleted { missing_seq: 5, next_seq: 8 }, "events 5 to 7 are missing: event 8 follows event 4 (deleted)"),
            (Tamper::Deleted { missing_seq: 1, next_seq: 2 }, "event 1 is missing: the log starts at event 2 (deleted)"),
            (
                Tamper::Inserted { seq: 3, next_seq: 4 },
                "event 3 was inserted: the event now numbered 4 was sealed as event 3, directly \
                 after event 2, and later events were renumbered",
            ),
            (Tamper::Duplicate { seq: 3, after: 3 }, "event 3 appears twice: an extra event 3 was inserted"),
            (Tamper::Reordered { seq: 5, sealed_as: 7 }, "event 5 is out of place: its contents were sealed as event 7 (events were swapped or moved)"),
            (Tamper::Replaced { seq: 4 }, "event 4 was replaced: event 5 was sealed after a different event 4"),
            (
                Tamper::Truncated { checkpoint_size: 120, log_len: 100, signed_at },
                "log truncated: a checkpoint signed at 2023-11-14 22:13:20 UTC covers 120 events \
                 but the log ends at 100",
            ),
            (
                Tamper::UnsupportedVersion { version: 9 },
                "audit encoding version 9 is not supported: this build verifies version 1; use a \
                 newer writ to verify this log",
            ),
        ];
        for (tamper, expected) in table {
            assert_eq!(tamper.to_string(), expected);
        }
    }

    #[test]
    fn seq_points_at_the_event_or_checkpoint() {
        assert_eq!(Tamper::Deleted { missing_seq: 5, next_seq: 9 }.seq(), Some(5));
        assert_eq!(Tamper::CheckpointMismatch { size: 40 }.seq(), Some(40));
        assert_eq!(Tamper::UnsupportedVersion { version: 2 }.seq(), None);
    }
}
