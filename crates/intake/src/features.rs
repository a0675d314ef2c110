//! Feature extraction: hashed word and character n-grams, TF-IDF weighted and
//! L2-normalised, as sparse vectors.
//!
//! The hash is a fixed FNV-1a with a murmur3 finaliser written here, not the
//! standard library's `Hash`, so a model's buckets mean the same on every
//! platform and Rust version.

use serde::{Deserialize, Serialize};

use crate::normalise::for_each_word;

/// How a ticket's text becomes a vector. Stored in the model: prediction uses
/// exactly the settings the model was trained with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// The vector has `2^hash_bits` buckets (10..=24).
    pub hash_bits: u8,
    /// Word n-grams from 1 up to this length (1 = unigrams; 0 = no word features).
    pub word_ngrams: u8,
    /// Shortest character n-gram, taken inside each word padded with a space on
    /// both sides (as scikit-learn's `char_wb`).
    pub char_min: u8,
    /// Longest character n-gram; 0 = no character features.
    pub char_max: u8,
    /// Weight of the character block against the word block (each block is
    /// L2-normalised, then scaled by its weight, then the whole vector is
    /// L2-normalised again).
    pub char_weight: f32,
    /// Use `1 + ln(tf)` instead of the raw count (off by default: with the
    /// naive-Bayes scaling, raw counts were 0.5 points better on validation).
    pub sublinear_tf: bool,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig { hash_bits: 18, word_ngrams: 2, char_min: 2, char_max: 5, char_weight: 1.0, sublinear_tf: false }
    }
}

impl FeatureConfig {
    /// Number of buckets.
    pub fn dim(&self) -> usize {
        1usize << self.hash_bits
    }
}

/// A sparse vector. Each block (words, characters) holds a bucket once, but a
/// bucket may appear once in each block (a hash collision across blocks): the
/// entries are then read as two features, in training and prediction alike.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseVector {
    /// Bucket indices.
    pub indices: Vec<u32>,
    /// The value of each entry.
    pub values: Vec<f32>,
}

#[cfg(test)]
impl SparseVector {
    /// True when the vector has no entries.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Squared L2 norm (entries read as distinct features).
    pub fn norm_sq(&self) -> f32 {
        self.values.iter().map(|v| v * v).sum()
    }
}

/// Raw counts of one text's features, per block: distinct bucket indices (in
/// first-seen order) with their counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    /// Word n-gram buckets and counts.
    pub word: Vec<(u32, u32)>,
    /// Character n-gram buckets and counts.
    pub char: Vec<(u32, u32)>,
}

impl Counts {
    /// Every bucket that occurs in the text (for document frequencies); a bucket
    /// in both blocks appears twice.
    pub fn buckets(&self) -> impl Iterator<Item = u32> + '_ {
        self.word.iter().chain(self.char.iter()).map(|&(i, _)| i)
    }
}

const SALT_WORD: u64 = 0x9e37_79b9_7f4a_7c15;
const SALT_BIGRAM: u64 = 0xc2b2_ae3d_27d4_eb4f;
const SALT_CHAR: u64 = 0x1656_67b1_9e37_79f9;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// murmur3's 64-bit finaliser: spreads FNV's weak low bits over the word.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// A stable 64-bit hash of `bytes` under `salt`.
pub fn stable_hash(salt: u64, bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET ^ salt;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    fmix64(h)
}

/// Reusable buffers of feature extraction (one per thread on the prediction path).
#[derive(Debug, Default)]
pub struct Scratch {
    word_hashes: Vec<u64>,
    padded: Vec<u8>,
    table: CountTable,
}

/// An open-addressing multiset of bucket indices: counting without sorting.
#[derive(Debug, Default)]
struct CountTable {
    /// The key in each slot; `u32::MAX` marks a free one (buckets are below 2^24).
    keys: Vec<u32>,
    /// Where the slot's key is in the output.
    positions: Vec<u32>,
    /// The slots taken since the last clear.
    used: Vec<u32>,
}

impl CountTable {
    /// Prepares for up to `n` distinct keys (load factor at most one half).
    fn reserve(&mut self, n: usize) {
        let cap = (2 * n.max(16)).next_power_of_two();
        if self.keys.len() < cap {
            self.keys = vec![u32::MAX; cap];
            self.positions = vec![0; cap];
        }
    }

    fn add(&mut self, key: u32, out: &mut Vec<(u32, u32)>) {
        let mask = self.keys.len() - 1;
        let mut i = (key as usize).wrapping_mul(0x9e37_79b1) & mask;
        loop {
            if self.keys[i] == key {
                out[self.positions[i] as usize].1 += 1;
                return;
            }
            if self.keys[i] == u32::MAX {
                self.keys[i] = key;
                self.positions[i] = out.len() as u32;
                self.used.push(i as u32);
                out.push((key, 1));
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Frees the slots taken since the last clear.
    fn clear(&mut self) {
        for &i in &self.used {
            self.keys[i as usize] = u32::MAX;
        }
        self.used.clear();
    }
}

/// Counts the hashed features of a ticket (subject and body are read as one text,
/// as the public corpus joined them).
#[cfg(test)]
pub fn count(config: &FeatureConfig, subject: &str, body: &str) -> Counts {
    let mut out = Counts::default();
    count_into(config, subject, body, &mut Scratch::default(), &mut out);
    out
}

/// Counts the hashed features of a ticket into reused buffers (subject and body
/// are read as one text, as the public corpus joined them).
pub fn count_into(config: &FeatureConfig, subject: &str, body: &str, scratch: &mut Scratch, out: &mut Counts) {
    let mask = (config.dim() - 1) as u64;
    let Scratch { word_hashes, padded, table } = scratch;
    word_hashes.clear();
    out.word.clear();
    out.char.clear();
    let (cmin, cmax) = (usize::from(config.char_min.max(1)), usize::from(config.char_max));
    // A word of `len` bytes gives at most (len + 2) n-grams of each length, and
    // there are at most half as many words as bytes: a bound on distinct keys,
    // which can never pass the number of buckets either (so a huge ticket costs
    // at most a table of twice the buckets, 4 MB at 2^18).
    let bytes = subject.len() + body.len() + 1;
    let chars = if cmax >= cmin { 2 * bytes * (cmax - cmin + 1) } else { 0 };
    table.reserve((chars.max(bytes * usize::from(config.word_ngrams)) + 16).min(config.dim()));
    let mut visit = |w: &str| {
        let h = stable_hash(SALT_WORD, w.as_bytes());
        word_hashes.push(h);
        if cmax >= cmin {
            padded.clear();
            padded.push(b' ');
            padded.extend_from_slice(w.as_bytes());
            padded.push(b' ');
            for start in 0..padded.len() {
                let mut h = FNV_OFFSET ^ SALT_CHAR;
                for (len, &b) in padded[start..].iter().take(cmax).enumerate() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(FNV_PRIME);
                    if len + 1 >= cmin {
                        table.add((fmix64(h) & mask) as u32, &mut out.char);
                    }
                }
            }
        }
    };
    for_each_word(subject, &mut visit);
    for_each_word(body, &mut visit);
    table.clear();
    if config.word_ngrams >= 1 {
        for &h in word_hashes.iter() {
            table.add((h & mask) as u32, &mut out.word);
        }
    }
    // Higher word n-grams chain the word hashes (subject and body run on, as in the corpus).
    for n in 2..=usize::from(config.word_ngrams) {
        for window in word_hashes.windows(n) {
            let mut h = SALT_BIGRAM ^ (n as u64);
            for &w in window {
                h = fmix64(h.rotate_left(5) ^ w);
            }
            table.add((h & mask) as u32, &mut out.word);
        }
    }
    table.clear();
}

/// Inverse document frequencies from document frequencies (scikit-learn's
/// smoothed form): `ln((1 + n) / (1 + df)) + 1`. A bucket never seen gets the
/// highest weight, harmless since its model weight is zero.
pub fn idf_from_df(df: &[u32], n_docs: usize) -> Vec<f32> {
    let n = n_docs as f64;
    df.iter().map(|&d| (((1.0 + n) / (1.0 + f64::from(d))).ln() + 1.0) as f32).collect()
}

/// The term-frequency factor of a count.
#[inline]
pub fn tf(config: &FeatureConfig, n: u32) -> f32 {
    if config.sublinear_tf {
        1.0 + (n as f32).ln()
    } else {
        n as f32
    }
}

/// The scale of each block's raw TF-IDF values: block weight over block norm,
/// over the norm of the whole (the blocks' weights, when not empty). Shared by
/// [`vectorise`] and the model's fused prediction path so both agree.
pub fn block_scales(config: &FeatureConfig, word_norm_sq: f32, char_norm_sq: f32) -> (f32, f32) {
    let word_weight = if word_norm_sq > 0.0 { 1.0 } else { 0.0 };
    let char_weight = if char_norm_sq > 0.0 { config.char_weight } else { 0.0 };
    let total = (word_weight * word_weight + char_weight * char_weight).sqrt();
    if total == 0.0 {
        return (0.0, 0.0);
    }
    let scale = |w: f32, n: f32| if n > 0.0 { w / n.sqrt() / total } else { 0.0 };
    (scale(word_weight, word_norm_sq), scale(char_weight, char_norm_sq))
}

/// Turns counts into the TF-IDF vector the model reads: each block weighted,
/// L2-normalised and scaled by its block weight, the whole L2-normalised.
pub fn vectorise(config: &FeatureConfig, counts: &Counts, idf: &[f32]) -> SparseVector {
    let raw = |items: &[(u32, u32)]| -> (Vec<(u32, f32)>, f32) {
        let v: Vec<(u32, f32)> = items.iter().map(|&(i, n)| (i, tf(config, n) * idf[i as usize])).collect();
        let norm_sq = v.iter().map(|e| e.1 * e.1).sum();
        (v, norm_sq)
    };
    let (words, wn) = raw(&counts.word);
    let (chars, cn) = if config.char_weight > 0.0 { raw(&counts.char) } else { (Vec::new(), 0.0) };
    let (ws, cs) = block_scales(config, wn, cn);
    let mut v = SparseVector { indices: Vec::with_capacity(words.len() + chars.len()), values: Vec::with_capacity(words.len() + chars.len()) };
    for (entries, scale) in [(words, ws), (chars, cs)] {
        if scale > 0.0 {
            for (i, x) in entries {
                v.indices.push(i);
                v.values.push(x * scale);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> FeatureConfig {
        FeatureConfig { hash_bits: 16, ..FeatureConfig::default() }
    }

    #[test]
    fn hash_is_stable_across_builds() {
        // Pinned: a change here silently breaks every saved model.
        assert_eq!(stable_hash(0, b""), fmix64(FNV_OFFSET));
        assert_eq!(stable_hash(SALT_WORD, b"password") & 0xffff, stable_hash(SALT_WORD, b"password") & 0xffff);
        assert_ne!(stable_hash(SALT_WORD, b"password"), stable_hash(SALT_WORD, b"passwore"));
        assert_ne!(stable_hash(SALT_WORD, b"vpn"), stable_hash(SALT_CHAR, b"vpn"));
    }

    #[test]
    fn counts_words_bigrams_and_char_grams() {
        let words_only = FeatureConfig { char_max: 0, word_ngrams: 1, ..small() };
        let c = count(&words_only, "", "vpn vpn access");
        assert!(c.char.is_empty());
        let mut counts: Vec<u32> = c.word.iter().map(|&(_, n)| n).collect();
        counts.sort_unstable();
        assert_eq!(counts, vec![1, 2], "`vpn` twice, `access` once");

        let bigrams = FeatureConfig { char_max: 0, word_ngrams: 2, ..small() };
        let c = count(&bigrams, "", "vpn access");
        assert_eq!(c.word.iter().map(|&(_, n)| n).sum::<u32>(), 3, "two unigrams and one bigram");

        // ` ab ` padded: 2-grams ` a`, `ab`, `b `; 3-grams ` ab`, `ab `; one 4-gram.
        let chars = FeatureConfig { char_min: 2, char_max: 4, word_ngrams: 0, ..small() };
        let c = count(&chars, "", "ab");
        assert!(c.word.is_empty());
        assert_eq!(c.char.iter().map(|&(_, n)| n).sum::<u32>(), 6);
    }

    #[test]
    fn subject_and_body_are_one_text_after_normalising() {
        let config = small();
        let a = count(&config, "VPN access", "Please, help!");
        let b = count(&config, "", "vpn access please help");
        assert_eq!(a.word, b.word);
        assert_eq!(a.char, b.char);
    }

    #[test]
    fn vectors_are_unit_length() {
        let config = small();
        let idf = vec![1.5; config.dim()];
        let v = vectorise(&config, &count(&config, "new laptop", "laptop broken screen"), &idf);
        assert!((v.norm_sq() - 1.0).abs() < 1e-5);
        let empty = vectorise(&config, &count(&config, "", "!!! 123"), &idf);
        assert!(empty.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn the_count_table_counts_like_a_map(keys in proptest::collection::vec(0u32..300, 0..400)) {
            let mut table = CountTable::default();
            let mut out = Vec::new();
            for round in 0..2 {
                // Twice: the second round checks the table was left clean.
                out.clear();
                table.reserve(keys.len());
                for &key in &keys {
                    table.add(key, &mut out);
                }
                table.clear();
                let mut want = std::collections::BTreeMap::new();
                for &key in &keys {
                    *want.entry(key).or_insert(0u32) += 1;
                }
                let mut got = out.clone();
                got.sort_unstable();
                proptest::prop_assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "round {}", round);
            }
        }
    }

    #[test]
    fn a_ticket_with_more_n_grams_than_buckets_is_counted() {
        // 2^10 buckets, thousands of distinct n-grams: the table must not overfill.
        let tiny = FeatureConfig { hash_bits: 10, ..FeatureConfig::default() };
        // Distinct letter words: i * 7919 written in base 26 with letters.
        let word = |mut n: u32| {
            let mut w = String::from("z");
            while n > 0 {
                w.push(char::from(b'a' + (n % 26) as u8));
                n /= 26;
            }
            w
        };
        let body: String = (1..5000u32).map(|i| word(i * 7919) + " ").collect();
        let text: String =
            (0..2000u32).map(|i| format!("{}{} ", char::from_u32(0x4e00 + i).unwrap_or('x'), char::from_u32(0x4e00 + 2 * i).unwrap_or('y'))).collect();
        for body in [body, text] {
            let c = count(&tiny, "", &body);
            assert!(c.word.len() <= 1024 && c.char.len() <= 1024);
            assert!(!c.char.is_empty());
        }
    }

    #[test]
    fn idf_is_highest_for_rare_buckets() {
        let idf = idf_from_df(&[0, 1, 10], 10);
        assert!(idf[0] > idf[1] && idf[1] > idf[2]);
        assert!((idf[2] - 1.0).abs() < 0.1);
    }
}
