//! The event hash type and the hex text form shared by every hash, key and
//! signature in the audit format.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// SHA-256 hash of an event; Display/FromStr as lowercase hex; serde as hex string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// The `prev_hash` of event 1: 32 zero bytes. No real SHA-256 output is
    /// all zeros, so it cannot collide with a sealed event.
    pub const GENESIS: EventHash = EventHash([0; 32]);

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        // INVARIANT: 64 bytes is exactly twice 32, so encoding cannot fail.
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

/// Why a text is not a hash, key or signature in hex.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("`{text}` is not {expected} lowercase hex characters: write the value exactly as the audit log printed it")]
pub struct HexError {
    /// The rejected text, shortened if long.
    pub text: String,
    /// How many hex characters were expected.
    pub expected: usize,
}

/// Decodes exactly `N` bytes of hex. Only lowercase is accepted, so every value
/// has one text form and hex strings can be compared as text.
pub fn decode_hex_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let mut out = [0u8; N];
    let lowercase = !text.bytes().any(|b| b.is_ascii_uppercase());
    if lowercase && hex::decode_to_slice(text, &mut out).is_ok() {
        return Ok(out);
    }
    let shown: String = text.chars().take(80).collect();
    Err(HexError {
        text: shown,
        expected: N * 2,
    })
}

impl FromStr for EventHash {
    type Err = HexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode_hex_array::<32>(s).map(EventHash)
    }
}

impl Serialize for EventHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        hex_array::deserialize(deserializer).map(EventHash)
    }
}

/// `#[serde(with = "hex_array")]` for fixed-size byte arrays (keys, signatures).
pub(crate) mod hex_array {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        struct HexVisitor<const N: usize>;

        impl<const N: usize> de::Visitor<'_> for HexVisitor<N> {
            type Value = [u8; N];

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} lowercase hex characters", N * 2)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                decode_hex_array::<N>(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(HexVisitor::<N>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip_as_lowercase_hex() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0x01;
        let h = EventHash(bytes);
        let text = h.to_string();
        assert_eq!(text.len(), 64);
        assert!(text.starts_with("ab00"));
        assert!(text.ends_with("01"));
        assert_eq!(text.parse::<EventHash>().unwrap(), h);
    }

    #[test]
    fn parse_rejects_wrong_length_uppercase_and_non_hex() {
        let good = "00".repeat(32);
        for bad in [&good[..62], &"AB".repeat(32), &"zz".repeat(32), ""] {
            let err = bad.parse::<EventHash>().unwrap_err();
            assert_eq!(err.expected, 64, "{bad}");
        }
    }

    #[test]
    fn serde_uses_the_hex_string() {
        let h = EventHash([7; 32]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", "07".repeat(32)));
        assert_eq!(serde_json::from_str::<EventHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<EventHash>("\"07\"").is_err());
    }
}
