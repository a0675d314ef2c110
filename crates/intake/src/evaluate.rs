//! Measuring a model on labelled tickets it was not trained on.

use crate::dataset::Example;
use crate::model::Classifier;

/// Precision, recall and F1 of one label.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelScore {
    /// The label.
    pub label: String,
    /// Of the tickets predicted as this label, the share that had it (0 when none was).
    pub precision: f64,
    /// Of the tickets with this label, the share predicted as it (0 when none had it).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Tickets with this label.
    pub support: usize,
}

/// How a model did on a labelled set.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Tickets evaluated.
    pub total: usize,
    /// Tickets whose predicted label was their label.
    pub correct: usize,
    /// Tickets whose label the model does not know (counted as wrong).
    pub unknown_labels: usize,
    /// Mean confidence of the predictions.
    pub mean_confidence: f64,
    /// One entry per model label, in the model's label order.
    pub per_label: Vec<LabelScore>,
    /// `confusion[truth][predicted]`, in the model's label order.
    pub confusion: Vec<Vec<usize>>,
}

impl Evaluation {
    /// Share of tickets predicted right, in [0, 1] (0 for an empty set).
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }

    /// Unweighted mean of the labels' F1.
    pub fn macro_f1(&self) -> f64 {
        if self.per_label.is_empty() {
            0.0
        } else {
            self.per_label.iter().map(|s| s.f1).sum::<f64>() / self.per_label.len() as f64
        }
    }
}

impl Classifier {
    /// Predicts every example and compares with its label.
    pub fn evaluate(&self, examples: &[Example]) -> Evaluation {
        let labels = self.labels();
        let k = labels.len();
        let mut confusion = vec![vec![0usize; k]; k];
        let (mut correct, mut unknown_labels, mut confidence) = (0, 0, 0.0f64);
        for e in examples {
            let p = self.predict(&e.subject, &e.body);
            confidence += f64::from(p.confidence);
            let guess = labels.iter().position(|l| l == p.label).unwrap_or(0);
            match labels.iter().position(|l| *l == e.label) {
                Some(truth) => {
                    confusion[truth][guess] += 1;
                    if truth == guess {
                        correct += 1;
                    }
                }
                None => unknown_labels += 1,
            }
        }
        let per_label = labels
            .iter()
            .enumerate()
            .map(|(c, label)| {
                let tp = confusion[c][c] as f64;
                let predicted: usize = confusion.iter().map(|row| row[c]).sum();
                let support: usize = confusion[c].iter().sum();
                let precision = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
                let recall = if support > 0 { tp / support as f64 } else { 0.0 };
                let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
                LabelScore { label: label.clone(), precision, recall, f1, support }
            })
            .collect();
        let mean_confidence = if examples.is_empty() { 0.0 } else { confidence / examples.len() as f64 };
        Evaluation { total: examples.len(), correct, unknown_labels, mean_confidence, per_label, confusion }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Classifier, Example, FeatureConfig, TrainConfig};

    #[test]
    fn counts_right_wrong_and_unknown() {
        let mut train = Vec::new();
        for i in 0..5 {
            train.push(Example::new("", format!("laptop screen broken {i}"), "hardware"));
            train.push(Example::new("", format!("grant access to share {i}"), "access"));
        }
        let config = TrainConfig { features: FeatureConfig { hash_bits: 12, ..FeatureConfig::default() }, ..TrainConfig::default() };
        let model = Classifier::train(&train, &config).unwrap();
        let test = vec![
            Example::new("", "laptop broken", "hardware"),
            Example::new("", "access to the share", "access"),
            Example::new("", "laptop screen", "access"),
            Example::new("", "printer", "printing"),
        ];
        let e = model.evaluate(&test);
        assert_eq!((e.total, e.correct, e.unknown_labels), (4, 2, 1));
        assert!((e.accuracy() - 0.5).abs() < 1e-9);
        let access = &e.per_label[0];
        assert_eq!((access.label.as_str(), access.support), ("access", 2));
        assert!((access.recall - 0.5).abs() < 1e-9 && (access.precision - 1.0).abs() < 1e-9);
        assert!(e.macro_f1() > 0.0 && e.macro_f1() <= 1.0);
        assert_eq!(model.evaluate(&[]).accuracy(), 0.0);
    }
}
