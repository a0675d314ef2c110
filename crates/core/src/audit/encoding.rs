//! The versioned byte encoding that event hashes and checkpoint signatures cover,
//! and the canonical JSON form of payloads. `docs/audit-format.md` describes the
//! same bytes for independent verifiers; change both together, and only by adding
//! a new version, because past hashes must stay reproducible forever.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::hash::EventHash;

/// The version of the event and checkpoint encodings written by this build.
pub const ENCODING_VERSION: u8 = 1;

/// Domain-separation prefix of an event encoding, so an event hash can never
/// be mistaken for the hash of any other Writ structure.
pub const EVENT_DOMAIN: &[u8] = b"writ.audit.event";

/// Domain-separation prefix of the message a checkpoint signature covers.
pub const CHECKPOINT_DOMAIN: &[u8] = b"writ.audit.checkpoint";

/// Length in bytes of a version 1 checkpoint message.
pub const CHECKPOINT_MESSAGE_LEN: usize = 21 + 1 + 8 + 32 + 8;

/// Hashes one event in encoding version 1:
///
/// `EVENT_DOMAIN || 0x01 || seq u64 BE || at_millis i64 BE || str(actor) ||
/// str(kind) || opt(request_id) || str(payload) || prev_hash`, where `str(x)` is
/// a u32 big-endian byte length followed by the bytes, and `opt(None)` is `0x00`,
/// `opt(Some(x))` is `0x01 || str(x)`.
///
/// Length prefixes keep the encoding unambiguous: no two different events share
/// the same bytes, whatever their strings contain.
///
/// # Panics
///
/// If a field is 4 GiB or longer, which no store accepts.
pub fn event_hash(seq: u64, at_millis: i64, actor: &str, kind: &str, request_id: Option<&str>, payload: &[u8], prev_hash: &EventHash) -> EventHash {
    // Hashed in place with `update` rather than built into a Vec: the verifier
    // runs this once per event and must not allocate.
    let mut h = Sha256::new();
    h.update(EVENT_DOMAIN);
    h.update([ENCODING_VERSION]);
    h.update(seq.to_be_bytes());
    h.update(at_millis.to_be_bytes());
    update_field(&mut h, actor.as_bytes());
    update_field(&mut h, kind.as_bytes());
    match request_id {
        None => h.update([0u8]),
        Some(id) => {
            h.update([1u8]);
            update_field(&mut h, id.as_bytes());
        }
    }
    update_field(&mut h, payload);
    h.update(prev_hash.0);
    EventHash(h.finalize().into())
}

fn update_field(h: &mut Sha256, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("audit event fields are shorter than 4 GiB");
    h.update(len.to_be_bytes());
    h.update(bytes);
}

/// The exact bytes a version 1 checkpoint signature covers:
/// `CHECKPOINT_DOMAIN || 0x01 || size u64 BE || head (32 bytes) || at_millis i64 BE`.
pub fn checkpoint_message(size: u64, head: &EventHash, at_millis: i64) -> [u8; CHECKPOINT_MESSAGE_LEN] {
    let mut msg = [0u8; CHECKPOINT_MESSAGE_LEN];
    let parts: [&[u8]; 5] = [CHECKPOINT_DOMAIN, &[ENCODING_VERSION], &size.to_be_bytes(), &head.0, &at_millis.to_be_bytes()];
    let mut at = 0;
    for part in parts {
        msg[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    debug_assert_eq!(at, CHECKPOINT_MESSAGE_LEN);
    msg
}

/// True when `at` has no digits below the millisecond, i.e. it is exactly the
/// instant its hashed or signed `i64` milliseconds stand for.
pub(crate) fn is_whole_millis(at: &DateTime<Utc>) -> bool {
    DateTime::from_timestamp_millis(at.timestamp_millis()) == Some(*at)
}

/// Canonical JSON text of a payload: object keys sorted by their UTF-8 bytes,
/// no whitespace, strings and numbers written exactly as `serde_json` writes them.
///
/// Keys are sorted here rather than trusting `serde_json::Map`, because another
/// crate in the build may turn on `preserve_order`, which keeps insertion order.
/// Float spelling follows the `serde_json` in use and may change between its
/// releases; that never affects past hashes, because the text is stored.
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    write_canonical(&mut out, v);
    // INVARIANT: serde_json only writes valid UTF-8, and so does write_canonical.
    String::from_utf8(out).expect("canonical JSON is UTF-8")
}

fn write_canonical(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // `str` ordering is byte ordering of the UTF-8 encoding.
            entries.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // INVARIANT: writing a string into a Vec cannot fail.
                serde_json::to_writer(&mut *out, key.as_str()).expect("serde_json writes into a Vec");
                out.push(b':');
                write_canonical(out, value);
            }
            out.push(b'}');
        }
        scalar => write_scalar(out, scalar),
    }
}

fn write_scalar(out: &mut Vec<u8>, v: &Value) {
    // INVARIANT: writing a null, bool, number or string into a Vec cannot fail.
    serde_json::to_writer(out, v).expect("serde_json writes scalars into a Vec");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_without_whitespace() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": null, "x": true}], "m": "s"}, "A": 2.5});
        assert_eq!(canonical_json(&v), r#"{"A":2.5,"a":{"m":"s","z":[3,{"x":true,"y":null}]},"b":1}"#);
    }

    #[test]
    fn canonical_json_is_independent_of_insertion_order_and_stable() {
        let mut one = serde_json::Map::new();
        one.insert("zeta".into(), json!(1));
        one.insert("alpha".into(), json!(2));
        let mut two = serde_json::Map::new();
        two.insert("alpha".into(), json!(2));
        two.insert("zeta".into(), json!(1));
        let (one, two) = (Value::Object(one), Value::Object(two));
        assert_eq!(canonical_json(&one), canonical_json(&two));
        let reparsed: Value = serde_json::from_str(&canonical_json(&one)).unwrap();
        assert_eq!(canonical_json(&reparsed), canonical_json(&one));
    }

    #[test]
    fn canonical_json_orders_keys_by_utf8_bytes_and_uses_serde_json_escapes() {
        let v = json!({"é": 1, "z": 2, "Z": 3, "line\n\"q\"": "tab\t/ \u{1} ü"});
        assert_eq!(canonical_json(&v), "{\"Z\":3,\"line\\n\\\"q\\\"\":\"tab\\t/ \\u0001 ü\",\"z\":2,\"é\":1}");
    }

    #[test]
    fn canonical_json_writes_numbers_like_serde_json() {
        let v = json!([0, -7, 18446744073709551615u64, 1.0, 0.1, -2.5]);
        assert_eq!(canonical_json(&v), "[0,-7,18446744073709551615,1.0,0.1,-2.5]");
    }

    #[test]
    fn event_hash_changes_with_every_field() {
        let base = || event_hash(1, 0, "a", "k", None, b"{}", &EventHash::GENESIS);
        let variants = [
            event_hash(2, 0, "a", "k", None, b"{}", &EventHash::GENESIS),
            event_hash(1, 1, "a", "k", None, b"{}", &EventHash::GENESIS),
            event_hash(1, 0, "b", "k", None, b"{}", &EventHash::GENESIS),
            event_hash(1, 0, "a", "j", None, b"{}", &EventHash::GENESIS),
            event_hash(1, 0, "a", "k", Some(""), b"{}", &EventHash::GENESIS),
            event_hash(1, 0, "a", "k", None, b"[]", &EventHash::GENESIS),
            event_hash(1, 0, "a", "k", None, b"{}", &EventHash([1; 32])),
        ];
        for v in variants {
            assert_ne!(v, base());
        }
    }

    #[test]
    fn length_prefixes_keep_field_boundaries_unambiguous() {
        let g = EventHash::GENESIS;
        assert_ne!(event_hash(1, 0, "ab", "c", None, b"", &g), event_hash(1, 0, "a", "bc", None, b"", &g));
    }

    #[test]
    fn checkpoint_message_layout_is_fixed() {
        let msg = checkpoint_message(0x0102, &EventHash([0xee; 32]), -1);
        assert_eq!(&msg[..21], b"writ.audit.checkpoint");
        assert_eq!(msg[21], 1);
        assert_eq!(&msg[22..30], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&msg[30..62], &[0xee; 32]);
        assert_eq!(&msg[62..70], &[0xff; 8]);
    }
}
