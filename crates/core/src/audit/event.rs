//! Audit events: what the application records ([`NewEvent`]) and what the log
//! stores once the event is sealed into the chain ([`AuditEvent`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::encoding::{canonical_json, event_hash, is_whole_millis};
use super::hash::EventHash;

/// The `actor` of events that no person caused (expiry, reconciliation, jobs).
pub const SYSTEM_ACTOR: &str = "system";

/// An event before it is sealed into the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// When it happened, from the injected clock. Sealing keeps milliseconds only.
    pub at: DateTime<Utc>,
    /// Identity id, or [`SYSTEM_ACTOR`].
    pub actor: String,
    /// Stable code such as `request.submitted`; never renamed once written.
    pub kind: String,
    /// The access request this event belongs to, if any.
    pub request_id: Option<String>,
    /// Event details; stored as canonical JSON text.
    pub payload: serde_json::Value,
}

/// A sealed event as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// 1-based position in the log.
    pub seq: u64,
    /// Hashed as i64 unix milliseconds; a sealed event never has finer digits.
    pub at: DateTime<Utc>,
    /// Identity id, or [`SYSTEM_ACTOR`].
    pub actor: String,
    /// Stable event code.
    pub kind: String,
    /// The access request this event belongs to, if any.
    pub request_id: Option<String>,
    /// Canonical JSON text, stored verbatim: the hash covers these bytes, so a
    /// store must never re-encode it (e.g. into a JSONB column that reorders keys).
    pub payload: String,
    /// Hash of event `seq - 1`, or [`EventHash::GENESIS`] for event 1.
    pub prev_hash: EventHash,
    /// Hash of this event's encoding, see [`event_hash`].
    pub hash: EventHash,
}

/// Seals `event` as event number `seq` (1-based) following the event whose hash
/// is `prev_hash` ([`EventHash::GENESIS`] for event 1).
///
/// The payload is written as canonical JSON and `at` is truncated to whole
/// milliseconds, so the stored row holds exactly what the hash covers.
pub fn seal(seq: u64, prev_hash: EventHash, event: NewEvent) -> AuditEvent {
    debug_assert!(seq >= 1, "audit events are numbered from 1");
    let millis = event.at.timestamp_millis();
    // INVARIANT: the milliseconds of a valid DateTime are always in range.
    let at = DateTime::from_timestamp_millis(millis).unwrap_or(event.at);
    let payload = canonical_json(&event.payload);
    let hash = event_hash(seq, millis, &event.actor, &event.kind, event.request_id.as_deref(), payload.as_bytes(), &prev_hash);
    AuditEvent { seq, at, actor: event.actor, kind: event.kind, request_id: event.request_id, payload, prev_hash, hash }
}

/// Seals `event` as the next event after `prev`, or as event 1 of an empty log.
pub fn seal_after(prev: Option<&AuditEvent>, event: NewEvent) -> AuditEvent {
    match prev {
        Some(p) => seal(p.seq + 1, p.hash, event),
        None => seal(1, EventHash::GENESIS, event),
    }
}

/// A stored event borrowed from wherever it was read (a database row, a line
/// of an export), so a verifier can check millions of rows without copying
/// each into an [`AuditEvent`]. `at_millis` is the hashed time itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub seq: u64,
    pub at_millis: i64,
    pub actor: &'a str,
    pub kind: &'a str,
    pub request_id: Option<&'a str>,
    pub payload: &'a str,
    pub prev_hash: EventHash,
    pub hash: EventHash,
}

impl EventRef<'_> {
    /// The hash this event's stored contents produce; equals `hash` unless the
    /// row was altered.
    pub fn recompute_hash(&self) -> EventHash {
        self.hash_as(self.seq)
    }

    /// The hash these contents would have if sealed at position `seq`; lets the
    /// verifier tell an event moved from elsewhere from an edited one.
    pub(crate) fn hash_as(&self, seq: u64) -> EventHash {
        event_hash(seq, self.at_millis, self.actor, self.kind, self.request_id, self.payload.as_bytes(), &self.prev_hash)
    }
}

impl AuditEvent {
    /// The event borrowed as an [`EventRef`].
    pub fn view(&self) -> EventRef<'_> {
        EventRef {
            seq: self.seq,
            at_millis: self.at.timestamp_millis(),
            actor: &self.actor,
            kind: &self.kind,
            request_id: self.request_id.as_deref(),
            payload: &self.payload,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }

    /// The hash this event's stored contents produce; equals `hash` unless the
    /// row was altered.
    pub fn recompute_hash(&self) -> EventHash {
        self.view().recompute_hash()
    }

    /// True when `at` carries sub-millisecond digits, which the hash does not
    /// cover and sealing never produces.
    pub(crate) fn has_unhashed_time_digits(&self) -> bool {
        !is_whole_millis(&self.at)
    }

    /// The payload parsed back into JSON.
    pub fn payload_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(at: DateTime<Utc>) -> NewEvent {
        NewEvent {
            at,
            actor: "idn_alice".into(),
            kind: "request.submitted".into(),
            request_id: Some("req_01".into()),
            payload: json!({"role": "db-admin", "reason": "incident 42"}),
        }
    }

    #[test]
    fn seal_truncates_time_to_milliseconds_and_canonicalises_payload() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let ev = seal(1, EventHash::GENESIS, sample(at));
        assert_eq!(ev.at.timestamp_subsec_nanos(), 123_000_000);
        assert_eq!(ev.payload, r#"{"reason":"incident 42","role":"db-admin"}"#);
        assert_eq!(ev.recompute_hash(), ev.hash);
        assert!(!ev.has_unhashed_time_digits());
    }

    #[test]
    fn seal_after_links_to_the_previous_event() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let first = seal_after(None, sample(at));
        let second = seal_after(Some(&first), sample(at));
        assert_eq!((first.seq, first.prev_hash), (1, EventHash::GENESIS));
        assert_eq!((second.seq, second.prev_hash), (2, first.hash));
        assert_ne!(first.hash, second.hash);
    }

    #[test]
    fn serde_round_trip_keeps_the_hash_valid() {
        let at = DateTime::from_timestamp(1_700_000_000, 5_000_000).unwrap();
        let ev = seal(3, EventHash([9; 32]), sample(at));
        let json = serde_json::to_string(&ev).unwrap();
        let back: AuditEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.recompute_hash(), ev.hash);
        assert_eq!(back.payload_value().unwrap()["role"], "db-admin");
    }

    /// Pins the version 1 encoding: if this fails, past hashes no longer
    /// reproduce. Never update the constant; add an encoding version instead.
    #[test]
    fn golden_hash_of_a_fixed_event() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let ev = seal(
            7,
            "11".repeat(32).parse().unwrap(),
            NewEvent {
                at,
                actor: "idn_alice".into(),
                kind: "request.submitted".into(),
                request_id: Some("req_01".into()),
                payload: json!({"role": "db-admin", "n": 1}),
            },
        );
        assert_eq!(ev.payload, r#"{"n":1,"role":"db-admin"}"#);
        assert_eq!(ev.hash.to_string(), GOLDEN);
        let none = seal(1, EventHash::GENESIS, NewEvent { request_id: None, ..sample(at) });
        assert_eq!(none.hash.to_string(), GOLDEN_NO_REQUEST);
    }

    const GOLDEN: &str = "04d5369e7ae8f57b2ff95054127cd2f466350c8f1fb49a66df5a53bbf76fbf7e";
    const GOLDEN_NO_REQUEST: &str = "b17a9aeb7d8a00f2031af1a1e363c560f67629c4cdb5c4a8bd80f9250018cc54";
}
