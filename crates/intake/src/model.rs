//! The trained classifier: prediction and its byte format.

use serde::{Deserialize, Serialize};

use crate::dataset::Example;
use crate::error::IntakeError;
use std::cell::RefCell;

use crate::features::{block_scales, count_into, tf, Counts, FeatureConfig, Scratch};
use crate::train::{softmax, TrainConfig};

thread_local! {
    /// Feature extraction buffers, reused by every prediction on this thread.
    static SCRATCH: RefCell<(Scratch, Counts)> = RefCell::new((Scratch::default(), Counts::default()));
}

/// The first bytes of every model.
const MAGIC: &[u8; 8] = b"WRITINTK";
/// The byte format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A classification: the most likely label and its probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction<'a> {
    /// The most likely request type.
    pub label: &'a str,
    /// Its probability in [0, 1] (softmax of the class margins at the fitted temperature).
    pub confidence: f32,
}

/// A trained ticket classifier. Immutable; cheap to share between threads.
#[derive(Clone, Debug, PartialEq)]
pub struct Classifier {
    features: FeatureConfig,
    labels: Vec<String>,
    /// One row per bucket: its inverse document frequency, then its weight for
    /// each class, so a bucket costs one cache line at prediction.
    // INVARIANT: rows.len() == features.dim() * (labels.len() + 1).
    rows: Vec<f32>,
    bias: Vec<f32>,
    temperature: f32,
}

/// The JSON header of the byte format: everything but the arrays.
#[derive(Serialize, Deserialize)]
struct Header {
    features: FeatureConfig,
    labels: Vec<String>,
    temperature: f32,
}

impl Classifier {
    /// Trains a classifier on labelled tickets.
    ///
    /// Errors: no examples, a single label, an empty label, or a parameter out of range.
    pub fn train(examples: &[Example], config: &TrainConfig) -> Result<Classifier, IntakeError> {
        crate::train::train(examples, config)
    }

    pub(crate) fn from_parts(features: FeatureConfig, labels: Vec<String>, idf: Vec<f32>, weights: Vec<f32>, bias: Vec<f32>, temperature: f32) -> Self {
        let k = labels.len();
        let mut rows = Vec::with_capacity(idf.len() * (k + 1));
        for (j, &d) in idf.iter().enumerate() {
            rows.push(d);
            rows.extend_from_slice(&weights[j * k..j * k + k]);
        }
        Classifier { features, labels, rows, bias, temperature }
    }

    /// The class margins of a ticket (before the softmax).
    fn margins(&self, subject: &str, body: &str) -> Vec<f32> {
        let k = self.labels.len();
        let stride = k + 1;
        let fc = &self.features;
        SCRATCH.with(|cell| {
            let mut cell = cell.borrow_mut();
            let (scratch, counts) = &mut *cell;
            count_into(fc, subject, body, scratch, counts);
            // Dot products of the raw TF-IDF values per block; the normalisation is
            // one factor per block, applied at the end (as `features::vectorise`).
            let mut acc = vec![0.0f32; 2 * k];
            let (word_acc, char_acc) = acc.split_at_mut(k);
            let block = |items: &[(u32, u32)], acc: &mut [f32]| -> f32 {
                let mut norm_sq = 0.0;
                for &(i, n) in items {
                    let row = &self.rows[i as usize * stride..(i as usize + 1) * stride];
                    let v = tf(fc, n) * row[0];
                    norm_sq += v * v;
                    for (a, w) in acc.iter_mut().zip(&row[1..]) {
                        *a += w * v;
                    }
                }
                norm_sq
            };
            let word_norm = block(&counts.word, word_acc);
            let char_norm = if fc.char_weight > 0.0 { block(&counts.char, char_acc) } else { 0.0 };
            let (ws, cs) = block_scales(fc, word_norm, char_norm);
            (0..k).map(|c| self.bias[c] + word_acc[c] * ws + char_acc[c] * cs).collect()
        })
    }

    /// The labels the model knows, sorted.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The feature settings the model was trained with.
    pub fn feature_config(&self) -> &FeatureConfig {
        &self.features
    }

    /// The softmax temperature fitted at training.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// The probability of every label for a ticket, in [`labels`](Self::labels) order; sums to 1.
    pub fn probabilities(&self, subject: &str, body: &str) -> Vec<f32> {
        let mut p = self.margins(subject, body);
        softmax(&mut p, self.temperature);
        p
    }

    /// The most likely label of a ticket and its probability. A ticket with no
    /// usable words gets the label the biases favour, at a low confidence.
    pub fn predict(&self, subject: &str, body: &str) -> Prediction<'_> {
        let p = self.probabilities(subject, body);
        let (best, confidence) = p.iter().copied().enumerate().fold((0, f32::NEG_INFINITY), |acc, (i, v)| if v > acc.1 { (i, v) } else { acc });
        Prediction { label: &self.labels[best], confidence }
    }

    /// Every label with its probability for a ticket, most likely first (ties in
    /// label order).
    pub fn ranked(&self, subject: &str, body: &str) -> Vec<Prediction<'_>> {
        let mut out: Vec<Prediction<'_>> =
            self.probabilities(subject, body).into_iter().zip(&self.labels).map(|(confidence, label)| Prediction { label, confidence }).collect();
        out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        out
    }

    /// The probability of one label for a ticket.
    pub fn probability_of(&self, subject: &str, body: &str, label: &str) -> Result<f32, IntakeError> {
        let i =
            self.labels.iter().position(|l| l == label).ok_or_else(|| IntakeError::UnknownLabel { label: label.to_string(), known: self.labels.join(", ") })?;
        Ok(self.probabilities(subject, body)[i])
    }

    /// The model as bytes: `WRITINTK`, the format version (u32 LE), the length of a
    /// JSON header (u32 LE), the header (feature settings, labels, temperature), then
    /// the f32 LE arrays `idf` (one per bucket), `weights` (bucket-major) and `bias`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header { features: self.features.clone(), labels: self.labels.clone(), temperature: self.temperature };
        let json = serde_json::to_vec(&header).unwrap_or_default();
        let floats = self.rows.len() + self.bias.len();
        let mut out = Vec::with_capacity(16 + json.len() + 4 * floats);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        let stride = self.labels.len() + 1;
        let idf = self.rows.iter().step_by(stride);
        let weights = self.rows.chunks_exact(stride).flat_map(|row| &row[1..]);
        for v in idf.chain(weights).chain(&self.bias) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads a model written by [`to_bytes`](Self::to_bytes), checking it throughout.
    pub fn from_bytes(bytes: &[u8]) -> Result<Classifier, IntakeError> {
        let malformed = |what: &str| IntakeError::MalformedModel(what.to_string());
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(IntakeError::NotAModel);
        }
        let u32_at = |at: usize| -> Result<u32, IntakeError> {
            let b = bytes.get(at..at + 4).ok_or_else(|| malformed("truncated header"))?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let version = u32_at(8)?;
        if version != FORMAT_VERSION {
            return Err(IntakeError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        let json_len = u32_at(12)? as usize;
        let json = bytes.get(16..16 + json_len).ok_or_else(|| malformed("truncated header"))?;
        let header: Header = serde_json::from_slice(json).map_err(|e| IntakeError::MalformedModel(format!("bad header ({e})")))?;
        let Header { features, labels, temperature } = header;
        if !(10..=24).contains(&features.hash_bits) {
            return Err(malformed("hash_bits out of range"));
        }
        if labels.len() < 2 || labels.windows(2).any(|w| w[0] >= w[1]) {
            return Err(malformed("the labels are not at least two, sorted and distinct"));
        }
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(malformed("the temperature is not a positive number"));
        }
        let (dim, k) = (features.dim(), labels.len());
        let body = &bytes[16 + json_len..];
        let want = 4 * (dim + dim * k + k);
        if body.len() != want {
            return Err(IntakeError::MalformedModel(format!("{} bytes of weights where {want} were expected", body.len())));
        }
        let mut floats = body.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let idf: Vec<f32> = floats.by_ref().take(dim).collect();
        let weights: Vec<f32> = floats.by_ref().take(dim * k).collect();
        let bias: Vec<f32> = floats.collect();
        if idf.iter().chain(&weights).chain(&bias).any(|v| !v.is_finite()) {
            return Err(malformed("a weight is not a finite number"));
        }
        Ok(Classifier::from_parts(features, labels, idf, weights, bias, temperature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small_config() -> TrainConfig {
        TrainConfig { features: FeatureConfig { hash_bits: 14, ..FeatureConfig::default() }, ..TrainConfig::default() }
    }

    /// Three request types with disjoint vocabularies, written naturally.
    fn separable() -> Vec<Example> {
        let access =
            ["need access to the finance share", "grant me access to jira project", "please add me to the git group", "access request for confluence space"];
        let hardware = ["my laptop screen is broken", "keyboard not working on desk", "monitor cable damaged", "laptop battery will not charge"];
        let purchase = ["purchase order for new licences", "buy two headsets please", "order approval for a docking station", "invoice for the purchase order"];
        let mut out = Vec::new();
        for round in 0..3 {
            for (label, texts) in [("access", &access), ("hardware", &hardware), ("purchase", &purchase)] {
                for t in texts.iter() {
                    out.push(Example::new(format!("Ticket {round}"), *t, label));
                }
            }
        }
        out
    }

    fn trained() -> Classifier {
        Classifier::train(&separable(), &small_config()).unwrap()
    }

    #[test]
    fn learns_a_separable_set_perfectly() {
        let model = trained();
        assert_eq!(model.labels(), ["access", "hardware", "purchase"]);
        for e in separable() {
            assert_eq!(model.predict(&e.subject, &e.body).label, e.label, "{e:?}");
        }
        let p = model.predict("Access", "Could you grant me access to the Jira project?");
        assert_eq!(p.label, "access");
        assert!(p.confidence > 1.0 / 3.0);
    }

    #[test]
    fn round_trip_through_bytes_predicts_identically() {
        let model = trained();
        let bytes = model.to_bytes();
        let back = Classifier::from_bytes(&bytes).unwrap();
        assert_eq!(back, model);
        for text in ["broken laptop", "access to git", "", "purchase order"] {
            assert_eq!(back.probabilities("", text), model.probabilities("", text));
        }
    }

    #[test]
    fn bad_bytes_give_typed_errors() {
        let bytes = trained().to_bytes();
        assert_eq!(Classifier::from_bytes(b"hello"), Err(IntakeError::NotAModel));
        assert_eq!(Classifier::from_bytes(&[]), Err(IntakeError::NotAModel));
        let mut v2 = bytes.clone();
        v2[8] = 2;
        assert_eq!(Classifier::from_bytes(&v2), Err(IntakeError::UnsupportedVersion { found: 2, supported: 1 }));
        assert!(matches!(Classifier::from_bytes(&bytes[..bytes.len() - 1]), Err(IntakeError::MalformedModel(_))));
        assert!(matches!(Classifier::from_bytes(&bytes[..14]), Err(IntakeError::MalformedModel(_))));
        let mut bad_json = bytes.clone();
        bad_json[16] = b'x';
        assert!(matches!(Classifier::from_bytes(&bad_json), Err(IntakeError::MalformedModel(_))));
        let mut nan = bytes.clone();
        let n = nan.len();
        nan[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(matches!(Classifier::from_bytes(&nan), Err(IntakeError::MalformedModel(_))));
    }

    #[test]
    fn unknown_label_is_a_typed_error() {
        let model = trained();
        assert!(model.probability_of("", "laptop", "hardware").is_ok());
        assert!(matches!(model.probability_of("", "laptop", "Hardware"), Err(IntakeError::UnknownLabel { .. })));
    }

    #[test]
    fn empty_and_one_class_training_is_refused() {
        let config = small_config();
        assert_eq!(Classifier::train(&[], &config), Err(IntakeError::EmptyTrainingSet));
        let one = vec![Example::new("a", "vpn down", "network"), Example::new("b", "vpn slow", "network")];
        assert_eq!(Classifier::train(&one, &config), Err(IntakeError::OneClass("network".into())));
        let blank = vec![Example::new("a", "vpn down", "network"), Example::new("b", "laptop", " ")];
        assert_eq!(Classifier::train(&blank, &config), Err(IntakeError::EmptyLabel { index: 1 }));
    }

    #[test]
    fn fused_prediction_agrees_with_the_training_vectors() {
        // Training reads `features::vectorise`; prediction a fused path. Same margins.
        let model = trained();
        let k = model.labels.len();
        let idf: Vec<f32> = model.rows.iter().step_by(k + 1).copied().collect();
        let weights: Vec<f32> = model.rows.chunks_exact(k + 1).flat_map(|r| r[1..].to_vec()).collect();
        for (subject, body) in [("", "laptop screen broken"), ("Access", "grant me access to the git group, please!"), ("", ""), ("x", "42")] {
            let fused = model.margins(subject, body);
            let x = crate::features::vectorise(&model.features, &crate::features::count(&model.features, subject, body), &idf);
            let reference = crate::train::scores(&weights, &model.bias, &x);
            for (a, b) in fused.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-5, "{fused:?} vs {reference:?}");
            }
        }
    }

    #[test]
    fn training_is_deterministic() {
        assert_eq!(trained(), trained());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn probabilities_are_a_distribution(subject in "\\PC{0,40}", body in "\\PC{0,200}") {
            let model = trained_once();
            let p = model.probabilities(&subject, &body);
            prop_assert_eq!(p.len(), 3);
            prop_assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
            prop_assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
            let best = model.predict(&subject, &body);
            prop_assert!((0.0..=1.0).contains(&best.confidence));
            prop_assert!(p.iter().all(|v| *v <= best.confidence));
            let ranked = model.ranked(&subject, &body);
            prop_assert_eq!(ranked[0].confidence, best.confidence);
            prop_assert!(ranked.windows(2).all(|w| w[0].confidence >= w[1].confidence));
        }
    }

    fn trained_once() -> &'static Classifier {
        static MODEL: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
        MODEL.get_or_init(trained)
    }
}
