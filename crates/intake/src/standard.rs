//! The standard model: Writ's 14 request types, trained from the project's own
//! labelled tickets (`data/tickets-en/train.csv`, embedded in the crate), and
//! which of its labels are governed (`writ_core`'s standard request types).

use std::sync::OnceLock;

use writ_core::request_type::{RequestType, Route};

use crate::dataset::{read_labelled_csv, Example};
use crate::features::FeatureConfig;
use crate::model::Classifier;
use crate::routing::{route, Decision, RoutingThresholds};
use crate::train::TrainConfig;

/// The training tickets of the standard model (`subject,body,type`; see
/// `data/tickets-en/PROVENANCE.md`). The held-out file is not embedded.
pub const STANDARD_TRAIN_CSV: &str = include_str!("../data/tickets-en/train.csv");

/// The settings of the standard model, chosen by 5-fold cross-validation on
/// the training file (`intake_writ_bench --cv`; BENCHMARKS.md §11): smaller
/// hash space than the corpus default (2^16 buckets: ~1,800 tickets fill few
/// of 2^18, and the model is a quarter of the size and trains faster), the
/// rest as [`TrainConfig::default`] but for the cost `c`.
pub fn standard_train_config() -> TrainConfig {
    TrainConfig { features: FeatureConfig { hash_bits: 16, ..FeatureConfig::default() }, c: 0.5, ..TrainConfig::default() }
}

/// The examples of [`STANDARD_TRAIN_CSV`].
pub fn standard_examples() -> Vec<Example> {
    read_labelled_csv(STANDARD_TRAIN_CSV).expect("the embedded training file is valid CSV (checked by a test)")
}

/// The standard model, trained on first use and kept for the life of the
/// process (about 0.3 s in a release build; several seconds in a debug build).
pub fn standard_model() -> &'static Classifier {
    static MODEL: OnceLock<Classifier> = OnceLock::new();
    MODEL.get_or_init(|| Classifier::train(&standard_examples(), &standard_train_config()).expect("the embedded training file trains (checked by a test)"))
}

/// Whether a label is one of Writ's standard governed request types. A label
/// that is not a standard type at all (a custom model's) counts as governed:
/// nothing unknown is ever sent to the help desk on its own.
pub fn is_governed(label: &str) -> bool {
    static HELP_DESK: OnceLock<Vec<String>> = OnceLock::new();
    let help_desk =
        HELP_DESK.get_or_init(|| RequestType::standard().into_iter().filter(|t| t.route == Route::HelpDesk).map(|t| t.id.as_str().to_owned()).collect());
    !help_desk.iter().any(|h| h == label)
}

/// Classifies and routes a ticket with `model`, governed labels as [`is_governed`] says.
pub fn classify<'m>(model: &'m Classifier, subject: &str, body: &str, thresholds: &RoutingThresholds) -> Decision<'m> {
    route(model.labels(), &model.probabilities(subject, body), is_governed, thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_file_has_the_fourteen_standard_types() {
        let examples = standard_examples();
        assert!(examples.len() > 1_700, "{}", examples.len());
        let model = standard_model();
        let mut labels: Vec<String> = model.labels().to_vec();
        labels.sort();
        let mut standard: Vec<String> = RequestType::standard().into_iter().map(|t| t.id.as_str().to_owned()).collect();
        standard.sort();
        assert_eq!(labels, standard);
    }

    #[test]
    fn governed_labels_follow_the_core_types() {
        assert!(is_governed("application_access"));
        assert!(is_governed("break_glass"));
        assert!(!is_governed("password_reset"));
        assert!(!is_governed("how_to"));
        assert!(is_governed("something_custom"), "unknown labels are never auto-sent to the help desk");
    }

    #[test]
    fn obvious_tickets_are_classified_and_routed() {
        let model = standard_model();
        let t = RoutingThresholds::default();
        let cases = [
            (
                "Access to the Finance shared drive",
                "Hi team, could you please give me read access to the finance share? My manager approved it.",
                "application_access",
            ),
            ("Forgot my password", "I forgot my password for my laptop login, can you reset it please?", "password_reset"),
            ("Laptop screen cracked", "I dropped my laptop and the screen is cracked, I need a replacement.", "hardware"),
            ("Need sudo on build server", "Please give me root / sudo on build-01 for the planned maintenance next week, CHG0012345.", "privileged_access"),
            ("Remove access for leaver", "Anna Berg leaves on Friday, please remove all her access and disable her accounts.", "access_removal"),
        ];
        for (subject, body, want) in cases {
            let p = model.predict(subject, body);
            assert_eq!(p.label, want, "{subject}: {:?}", model.ranked(subject, body).iter().take(3).collect::<Vec<_>>());
            let d = classify(model, subject, body, &t);
            if is_governed(want) {
                assert_eq!(d, Decision::Governed(want), "{subject}");
            } else {
                assert!(matches!(d, Decision::HelpDesk(l) | Decision::Triage { best: l } if l == want), "{subject}: {d:?}");
            }
        }
    }
}
