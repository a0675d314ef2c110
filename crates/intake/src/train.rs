//! Training: one-vs-rest L2-regularised L2-loss linear SVMs, each solved by dual
//! coordinate descent (Hsieh, Chang, Lin, Keerthi, Sundararajan, ICML 2008: the
//! algorithm of liblinear's default solver, `-s 1`), then one softmax temperature
//! fitted on examples held aside from training so the margins read as
//! probabilities.

use std::collections::BTreeSet;

use crate::dataset::{is_held_out, Example};
use crate::error::IntakeError;
use crate::features::{count_into, idf_from_df, vectorise, Counts, FeatureConfig, Scratch, SparseVector};
use crate::model::Classifier;

/// Salt of the split that holds examples aside for the confidence temperature.
const CALIBRATION_SALT: u64 = 0x4341_4c49_4252_4154; // "CALIBRAT"

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// How text becomes a vector.
    pub features: FeatureConfig,
    /// The SVM's cost `C` (larger fits the training data more closely), > 0.
    pub c: f32,
    /// Passes over the data at most, per class.
    pub max_epochs: u32,
    /// Stop when the projected-gradient spread of a pass falls below this (liblinear's `eps`).
    pub tolerance: f32,
    /// Percent (0..=50) of the training examples held aside to fit the confidence
    /// temperature, after which the model is trained again on all of them; 0 skips
    /// calibration (temperature 1) and halves training time.
    pub calibration_percent: u32,
    /// Naive-Bayes feature scaling (NBSVM, Wang and Manning 2012) with this
    /// smoothing; 0 turns it off. Each class's SVM sees every feature multiplied by
    /// `|ln((p_j / |p|) / (q_j / |q|))|`, where `p`, `q` are the feature's summed
    /// values over that class's examples and over the rest, plus `nb_alpha`.
    pub nb_alpha: f32,
    /// Seed of the coordinate order (training is deterministic for a given seed).
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { features: FeatureConfig::default(), c: 0.5, max_epochs: 50, tolerance: 0.1, calibration_percent: 10, nb_alpha: 0.2, seed: 1 }
    }
}

impl TrainConfig {
    fn validate(&self) -> Result<(), IntakeError> {
        let bad = |name, reason: &str| Err(IntakeError::InvalidParameter { name, reason: reason.to_string() });
        let f = &self.features;
        if !(10..=24).contains(&f.hash_bits) {
            return bad("hash_bits", "give 10 to 24");
        }
        if f.word_ngrams > 4 {
            return bad("word_ngrams", "give 0 to 4");
        }
        if f.char_max > 8 || (f.char_max > 0 && (f.char_min == 0 || f.char_min > f.char_max)) {
            return bad("char_min/char_max", "give 1 <= char_min <= char_max <= 8, or char_max = 0 for none");
        }
        if f.word_ngrams == 0 && f.char_max == 0 {
            return bad("word_ngrams/char_max", "enable word or character n-grams");
        }
        if !(f.char_weight.is_finite() && f.char_weight >= 0.0) {
            return bad("char_weight", "give a finite weight >= 0");
        }
        if !(self.c.is_finite() && self.c > 0.0) {
            return bad("c", "give a finite cost > 0, e.g. 0.5");
        }
        if self.max_epochs == 0 {
            return bad("max_epochs", "give at least 1");
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return bad("tolerance", "give a finite tolerance > 0, e.g. 0.1");
        }
        if !(self.nb_alpha.is_finite() && self.nb_alpha >= 0.0) {
            return bad("nb_alpha", "give a finite smoothing >= 0, e.g. 0.1, or 0 for none");
        }
        if self.calibration_percent > 50 {
            return bad("calibration_percent", "give 0 to 50");
        }
        Ok(())
    }
}

/// A small deterministic generator (splitmix64) for the coordinate order.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn shuffle(&mut self, v: &mut [usize]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Trains a classifier (see [`Classifier::train`]).
pub(crate) fn train(examples: &[Example], config: &TrainConfig) -> Result<Classifier, IntakeError> {
    config.validate()?;
    if examples.is_empty() {
        return Err(IntakeError::EmptyTrainingSet);
    }
    if let Some(index) = examples.iter().position(|e| e.label.trim().is_empty()) {
        return Err(IntakeError::EmptyLabel { index });
    }
    let labels: Vec<String> = examples.iter().map(|e| e.label.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    if labels.len() < 2 {
        return Err(IntakeError::OneClass(labels[0].clone()));
    }
    let y: Vec<usize> = examples.iter().map(|e| labels.binary_search(&e.label).unwrap_or(0)).collect();

    // Features: document frequencies over the whole training set (no labels involved).
    let fc = &config.features;
    let dim = fc.dim();
    let mut scratch = Scratch::default();
    let counts: Vec<Counts> = examples
        .iter()
        .map(|e| {
            let mut c = Counts::default();
            count_into(fc, &e.subject, &e.body, &mut scratch, &mut c);
            c
        })
        .collect();
    let mut df = vec![0u32; dim];
    let mut buckets: Vec<u32> = Vec::new();
    for c in &counts {
        buckets.clear();
        buckets.extend(c.buckets());
        buckets.sort_unstable();
        buckets.dedup();
        for &b in &buckets {
            df[b as usize] += 1;
        }
    }
    let idf = idf_from_df(&df, examples.len());
    let xs: Vec<SparseVector> = counts.iter().map(|c| vectorise(fc, c, &idf)).collect();
    drop(counts);

    let all: Vec<usize> = (0..examples.len()).collect();
    let mut temperature = 1.0;
    let mut alphas = vec![vec![0.0f32; examples.len()]; labels.len()];
    if config.calibration_percent > 0 {
        let (fit, aside): (Vec<usize>, Vec<usize>) = all.iter().partition(|&&i| !is_held_out(&examples[i], CALIBRATION_SALT, config.calibration_percent));
        let fit_has_two_labels = fit.iter().map(|&i| y[i]).collect::<BTreeSet<_>>().len() >= 2;
        if !aside.is_empty() && fit_has_two_labels {
            let (w, b) = one_vs_rest(&xs, &y, &fit, dim, config, &mut alphas);
            let scores: Vec<Vec<f32>> = aside.iter().map(|&i| scores(&w, &b, &xs[i])).collect();
            let truth: Vec<usize> = aside.iter().map(|&i| y[i]).collect();
            temperature = fit_temperature(&scores, &truth);
        }
    }
    // Warm-started from the calibration run's solution when there was one.
    let (weights, bias) = one_vs_rest(&xs, &y, &all, dim, config, &mut alphas);
    Ok(Classifier::from_parts(fc.clone(), labels, idf, weights, bias, temperature))
}

/// Trains one binary SVM per class on `rows`; returns feature-major weights
/// (`w[j * k + class]`) and one bias per class. `alphas[class][i]` is the dual
/// variable of example `i` for that class: it starts the solver (a warm start
/// when it comes from an earlier run on a subset) and holds the solution after.
fn one_vs_rest(xs: &[SparseVector], y: &[usize], rows: &[usize], dim: usize, config: &TrainConfig, alphas: &mut [Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let k = alphas.len();
    let mut weights = vec![0.0f32; dim * k];
    let mut bias = vec![0.0f32; k];
    let mut rng = SplitMix(config.seed);
    for (class, alpha) in alphas.iter_mut().enumerate() {
        let scale = nb_scale(xs, y, rows, dim, class, config.nb_alpha);
        // The solver reads the scaled values in sequence rather than looking the
        // scale up per entry: one random access (the weight) per entry, not two.
        let scaled: Vec<SparseVector> = xs
            .iter()
            .map(|x| SparseVector { indices: x.indices.clone(), values: x.indices.iter().zip(&x.values).map(|(&j, &v)| v * scale[j as usize]).collect() })
            .collect();
        let (w, b) = binary_svm(&scaled, |i| y[i] == class, rows, config, dim, &mut rng, alpha);
        for (j, wj) in w.into_iter().enumerate() {
            weights[j * k + class] = wj * scale[j];
        }
        bias[class] = b;
    }
    (weights, bias)
}

/// NBSVM: the class's SVM sees each feature scaled by the magnitude of its
/// log-count ratio, class against rest (all ones when `alpha` is 0). The scale is
/// folded into the weights afterwards, so prediction does not know of it.
fn nb_scale(xs: &[SparseVector], y: &[usize], rows: &[usize], dim: usize, class: usize, alpha: f32) -> Vec<f32> {
    if alpha <= 0.0 {
        return vec![1.0; dim];
    }
    let mut p = vec![alpha; dim];
    let mut q = vec![alpha; dim];
    for &i in rows {
        let t = if y[i] == class { &mut p } else { &mut q };
        for (&j, &v) in xs[i].indices.iter().zip(&xs[i].values) {
            t[j as usize] += v;
        }
    }
    let (ps, qs): (f32, f32) = (p.iter().sum(), q.iter().sum());
    p.iter().zip(&q).map(|(a, b)| ((a / ps) / (b / qs)).ln().abs()).collect()
}

/// Dual coordinate descent for the L2-loss SVM
/// `min_w ½‖w‖² + C Σ max(0, 1 − yᵢ wᵀxᵢ)²` over `rows`, with a bias as a constant feature 1 (regularised, as liblinear's
/// `-B 1`), and liblinear's shrinking (examples whose dual variable sits at its
/// bound with a gradient past the last pass's extremes are set aside until the
/// end). Starts from `alpha` (indexed by example) and leaves the solution there.
/// Returns the weights and the bias.
fn binary_svm(
    xs: &[SparseVector],
    positive: impl Fn(usize) -> bool,
    rows: &[usize],
    config: &TrainConfig,
    dim: usize,
    rng: &mut SplitMix,
    alpha: &mut [f32],
) -> (Vec<f32>, f32) {
    let diag = 0.5 / config.c; // D_ii of the L2 loss; the upper bound on alpha is infinite.
    let ys: Vec<f32> = (0..xs.len()).map(|i| if positive(i) { 1.0 } else { -1.0 }).collect();
    let mut w = vec![0.0f32; dim];
    let mut b = 0.0f32;
    for &i in rows {
        if alpha[i] != 0.0 {
            let d = alpha[i] * ys[i];
            for (&j, &v) in xs[i].indices.iter().zip(&xs[i].values) {
                w[j as usize] += d * v;
            }
            b += d;
        }
    }
    let qii: Vec<f32> = rows.iter().map(|&i| xs[i].indices.iter().zip(&xs[i].values).map(|(_, &v)| v * v).sum::<f32>() + 1.0 + diag).collect();
    // `active[..active_len]` are the positions in `rows` still visited.
    let mut active: Vec<usize> = (0..rows.len()).collect();
    let mut active_len = rows.len();
    let (mut pg_max_old, mut pg_min_old) = (f32::INFINITY, f32::NEG_INFINITY);
    for _ in 0..config.max_epochs {
        rng.shuffle(&mut active[..active_len]);
        let (mut pg_max, mut pg_min) = (f32::NEG_INFINITY, f32::INFINITY);
        let mut s = 0;
        while s < active_len {
            let r = active[s];
            let i = rows[r];
            let x = &xs[i];
            let yi = ys[i];
            let mut dot = b;
            for (&j, &v) in x.indices.iter().zip(&x.values) {
                dot += w[j as usize] * v;
            }
            let g = yi * dot - 1.0 + diag * alpha[i];
            let pg = if alpha[i] == 0.0 {
                if g > pg_max_old {
                    // Shrink: at its bound and likely to stay there.
                    active_len -= 1;
                    active.swap(s, active_len);
                    continue;
                }
                g.min(0.0)
            } else {
                g
            };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / qii[r]).max(0.0);
                let d = (alpha[i] - old) * yi;
                for (&j, &v) in x.indices.iter().zip(&x.values) {
                    w[j as usize] += d * v;
                }
                b += d;
            }
            s += 1;
        }
        if pg_max - pg_min <= config.tolerance {
            if active_len == rows.len() {
                break;
            }
            // Converged on the active set: check everything once more.
            active_len = rows.len();
            (pg_max_old, pg_min_old) = (f32::INFINITY, f32::NEG_INFINITY);
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f32::INFINITY } else { pg_max };
        pg_min_old = if pg_min >= 0.0 { f32::NEG_INFINITY } else { pg_min };
    }
    let _ = pg_min_old;
    (w, b)
}

/// Class scores of one vector under feature-major weights.
pub(crate) fn scores(weights: &[f32], bias: &[f32], x: &SparseVector) -> Vec<f32> {
    let k = bias.len();
    let mut s = bias.to_vec();
    for (&j, &v) in x.indices.iter().zip(&x.values) {
        let row = &weights[j as usize * k..j as usize * k + k];
        for (sc, wj) in s.iter_mut().zip(row) {
            *sc += wj * v;
        }
    }
    s
}

/// Softmax of `t * scores`, in place.
pub(crate) fn softmax(scores: &mut [f32], t: f32) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = ((*s - max) * t).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

/// The temperature in [0.1, 100] that minimises the mean negative log-likelihood of
/// the true labels (golden-section search on ln t; the loss is convex in t).
fn fit_temperature(scores: &[Vec<f32>], truth: &[usize]) -> f32 {
    let nll = |ln_t: f64| -> f64 {
        let t = ln_t.exp() as f32;
        let mut total = 0.0f64;
        for (s, &y) in scores.iter().zip(truth) {
            let mut p = s.clone();
            softmax(&mut p, t);
            total -= f64::from(p[y].max(1e-12)).ln();
        }
        total / scores.len() as f64
    };
    let (mut lo, mut hi) = (0.1f64.ln(), 100f64.ln());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..40 {
        let a = hi - phi * (hi - lo);
        let b = lo + phi * (hi - lo);
        if nll(a) < nll(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    ((lo + hi) / 2.0).exp() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_and_seeded() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        SplitMix(7).shuffle(&mut a);
        SplitMix(7).shuffle(&mut b);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn temperature_sharpens_confident_correct_scores() {
        // Correct with a small margin every time: a high temperature fits best.
        let scores = vec![vec![0.1, -0.1]; 50];
        let truth = vec![0; 50];
        assert!(fit_temperature(&scores, &truth) > 50.0);
        // Half wrong: the fitted softmax should be near uniform (low temperature).
        let truth: Vec<usize> = (0..50).map(|i| i % 2).collect();
        assert!(fit_temperature(&scores, &truth) < 0.2);
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let c = TrainConfig { c: 0.0, ..TrainConfig::default() };
        assert!(matches!(c.validate(), Err(IntakeError::InvalidParameter { name: "c", .. })));
        let mut c = TrainConfig::default();
        c.features.hash_bits = 30;
        assert!(matches!(c.validate(), Err(IntakeError::InvalidParameter { name: "hash_bits", .. })));
    }
}
