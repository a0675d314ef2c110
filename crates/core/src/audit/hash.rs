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
    if decode_lower_hex(text.as_bytes(), &mut out) {
        return Ok(out);
    }
    let shown: String = text.chars().take(80).collect();
    Err(HexError { text: shown, expected: N * 2 })
}

/// Value of each lowercase hex digit, [`NOT_HEX`] for every other byte.
const HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const NOT_HEX: u8 = 0xff;

/// Table-driven decoding: `writ audit verify` decodes two hashes per event, and
/// a per-character match (the `hex` crate) was a quarter of its time.
fn decode_lower_hex(text: &[u8], out: &mut [u8]) -> bool {
    if text.len() != out.len() * 2 {
        return false;
    }
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (HEX_VALUE[pair[0] as usize], HEX_VALUE[pair[1] as usize]);
        // Any invalid digit sets the high bit; checked once, after the loop.
        bad |= hi | lo;
        *byte = (hi << 4) | (lo & 0x0f);
    }
    bad & 0xf0 == 0
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

    pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(deserializer: D) -> Result<[u8; N], D::Error> {
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
    fn every_byte_round_trips_and_every_other_character_is_refused_anywhere() {
        let all: [u8; 256] = std::array::from_fn(|i| i as u8);
        let text = hex::encode(all);
        assert_eq!(decode_hex_array::<256>(&text).unwrap(), all);
        let good = "5a".repeat(4);
        for c in (0u8..=255).filter(|c| !b"0123456789abcdef".contains(c)) {
            for pos in 0..good.len() {
                let mut bad = good.clone().into_bytes();
                bad[pos] = c;
                let bad = String::from_utf8_lossy(&bad).into_owned();
                assert!(decode_hex_array::<4>(&bad).is_err(), "{c:#x} at {pos}");
            }
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
