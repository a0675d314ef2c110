//! The ticket classifier behind `writ_app::ports::TicketClassifier`: writ-
//! intake's trained model (the standard one, trained from the project's
//! labelled tickets on first use, or a model file `writ intake train`
//! wrote), routed by the catalog's request types with the thresholds of
//! `[intake]`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Deserialize;
use writ_core::catalog::Catalog;
use writ_core::ids::RequestTypeId;
use writ_core::request_type::Route;
use writ_core::ticket::{Disposition, Prediction};
use writ_intake::{Classifier, Decision, RoutingThresholds};

use crate::config::ConfigError;

/// `[intake]` in writ.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeConfig {
    /// `standard` (the default: the model trained from Writ's own labelled
    /// tickets), `off` (every ticket that does not state its type waits in
    /// triage), or the path of a model file from `writ intake train`.
    #[serde(default)]
    pub classifier: String,
    /// Below this top confidence a ticket waits in triage (default 0.3).
    pub triage_below: Option<f32>,
    /// A help-desk type needs at least this confidence to be routed to the
    /// help desk (default 0.5)...
    pub help_desk_min: Option<f32>,
    /// ...and the governed types together less than this (default 0.1):
    /// otherwise a person decides. A governed ticket sent to the help desk
    /// is the costly mistake.
    pub governed_mass_below: Option<f32>,
}

/// Which model reads the tickets.
enum Model {
    /// Trained on first use (half a second), shared by the process.
    Standard,
    File(Box<Classifier>),
}

/// The classifier `[intake]` describes, for the catalog's request types;
/// `None` when it is `off`.
pub fn classifier(config: &IntakeConfig, catalog: &Catalog) -> Result<Option<ModelClassifier>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { key: "intake", reason };
    let defaults = RoutingThresholds::default();
    let thresholds = RoutingThresholds {
        triage_below: config.triage_below.unwrap_or(defaults.triage_below),
        help_desk_min: config.help_desk_min.unwrap_or(defaults.help_desk_min),
        governed_mass_below: config.governed_mass_below.unwrap_or(defaults.governed_mass_below),
    };
    thresholds.validate().map_err(invalid)?;
    let model = match config.classifier.trim() {
        "" | "standard" => Model::Standard,
        "off" => return Ok(None),
        path => {
            let path = PathBuf::from(path);
            let bytes = std::fs::read(&path).map_err(|e| invalid(format!("`classifier = \"{}\"`: {e}", path.display())))?;
            let model = Classifier::from_bytes(&bytes).map_err(|e| invalid(format!("`classifier = \"{}\"`: {e}", path.display())))?;
            Model::File(Box::new(model))
        }
    };
    let help_desk = catalog.request_types().filter(|t| t.route == Route::HelpDesk).map(|t| t.id.to_string()).collect();
    let known = catalog.request_types().map(|t| t.id.to_string()).collect();
    Ok(Some(ModelClassifier { model, thresholds, help_desk, known }))
}

pub struct ModelClassifier {
    model: Model,
    thresholds: RoutingThresholds,
    /// The catalog's help-desk types: every other label counts as governed,
    /// so nothing unknown is sent to the help desk on its own.
    help_desk: BTreeSet<String>,
    /// The catalog's types: a label the catalog does not know goes to triage.
    known: BTreeSet<String>,
}

impl ModelClassifier {
    fn model(&self) -> &Classifier {
        match &self.model {
            Model::Standard => writ_intake::standard_model(),
            Model::File(m) => m,
        }
    }

    /// Trains the standard model now, so the first ticket does not wait.
    pub fn warm(&self) {
        let _ = self.model();
    }
}

impl writ_app::ports::TicketClassifier for ModelClassifier {
    fn classify(&self, subject: &str, body: &str) -> (Prediction, Disposition) {
        let model = self.model();
        let ranked = model.ranked(subject, body);
        let probabilities = model.probabilities(subject, body);
        let decision = writ_intake::route(model.labels(), &probabilities, |l| !self.help_desk.contains(l), &self.thresholds);
        let as_type = |label: &str| RequestTypeId::parse(label).ok().filter(|t| self.known.contains(t.as_str()));
        let best = ranked.first();
        let prediction = Prediction {
            request_type: best.and_then(|p| as_type(p.label)).unwrap_or_else(RequestTypeId::unstated),
            confidence: best.map_or(0.0, |p| f64::from(p.confidence)),
            runner_up: ranked.get(1).and_then(|p| as_type(p.label).map(|t| (t, f64::from(p.confidence)))),
        };
        let disposition = match decision {
            Decision::Governed(l) | Decision::HelpDesk(l) => as_type(l).map_or(Disposition::Triage, Disposition::Route),
            Decision::Triage { .. } => Disposition::Triage,
        };
        (prediction, disposition)
    }
}

#[cfg(test)]
mod tests {
    use writ_app::ports::TicketClassifier;

    use super::*;

    fn catalog() -> Catalog {
        Catalog::new(vec![], vec![], vec![]).unwrap()
    }

    #[test]
    fn off_means_no_classifier_and_bad_settings_name_the_key() {
        let off = IntakeConfig { classifier: "off".into(), ..Default::default() };
        assert!(classifier(&off, &catalog()).unwrap().is_none());
        let bad = IntakeConfig { triage_below: Some(1.5), ..Default::default() };
        let e = classifier(&bad, &catalog()).err().unwrap().to_string();
        assert!(e.contains("intake") && e.contains("triage_below"), "{e}");
        let missing = IntakeConfig { classifier: "/nonexistent/model.bin".into(), ..Default::default() };
        let e = classifier(&missing, &catalog()).err().unwrap().to_string();
        assert!(e.contains("/nonexistent/model.bin"), "{e}");
    }

    #[test]
    fn the_standard_model_routes_plain_tickets() {
        let c = classifier(&IntakeConfig::default(), &catalog()).unwrap().unwrap();
        let (p, d) = c.classify("Forgot my password", "I forgot my password and cannot sign in to my laptop, please reset it");
        assert_eq!(p.request_type.as_str(), "password_reset", "{p:?}");
        assert_eq!(d, Disposition::Route(RequestTypeId::parse("password_reset").unwrap()));
        let (p, d) = c.classify("Admin rights on prod database", "I need DBA (admin) access to the production PostgreSQL for the migration, change CHG-1042");
        assert_eq!(d, Disposition::Route(p.request_type.clone()), "{p:?}");
        assert_eq!(p.request_type.as_str(), "privileged_access", "{p:?}");
    }
}
