//! Routing a prediction: which path a ticket takes, from its probabilities per
//! label. Pure: no model, no I/O.
//!
//! The dangerous error is a governed request (one that changes access) sent to
//! the help desk: the help-desk path never grants access, so the request is
//! mishandled, and a help-desk agent may be talked into doing by hand what the
//! governed path would have checked. So the rule is asymmetric:
//!
//! 1. the top label's probability is below [`RoutingThresholds::triage_below`]
//!    → [`Decision::Triage`];
//! 2. the top label is governed → [`Decision::Governed`] (a help-desk ticket
//!    sent there costs an approval, not a breach);
//! 3. the top label is a help-desk type → [`Decision::HelpDesk`] only if its
//!    probability is at least [`RoutingThresholds::help_desk_min`] **and** the
//!    probability summed over all governed labels is below
//!    [`RoutingThresholds::governed_mass_below`]; otherwise
//!    [`Decision::Triage`], where a person decides.

use serde::{Deserialize, Serialize};

/// The thresholds of [`route`]. The defaults were chosen by 5-fold
/// cross-validation on the training file of the standard model
/// (`intake_writ_bench --cv`; `BENCHMARKS.md` §11, "Writ's request types"):
/// on the out-of-fold probabilities of the 1,796 training tickets they send
/// none of the 905 governed tickets to the help desk and 3.8% of all tickets
/// to triage. The governed-mass bound does most of the work (0.1 alone: 0
/// governed tickets to the help desk, 3.5% triage; no thresholds at all: 8,
/// 0.9%, and no triage); a help-desk label must moreover be a majority.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingThresholds {
    /// Below this top probability a ticket goes to triage, whatever its label.
    pub triage_below: f32,
    /// A help-desk label needs at least this probability to be routed to the help desk.
    pub help_desk_min: f32,
    /// A help-desk label is routed to the help desk only while the governed
    /// labels' probabilities sum to less than this.
    pub governed_mass_below: f32,
}

impl Default for RoutingThresholds {
    fn default() -> Self {
        RoutingThresholds { triage_below: DEFAULT_TRIAGE_BELOW, help_desk_min: DEFAULT_HELP_DESK_MIN, governed_mass_below: DEFAULT_GOVERNED_MASS_BELOW }
    }
}

/// Default of [`RoutingThresholds::triage_below`].
pub const DEFAULT_TRIAGE_BELOW: f32 = 0.3;
/// Default of [`RoutingThresholds::help_desk_min`].
pub const DEFAULT_HELP_DESK_MIN: f32 = 0.5;
/// Default of [`RoutingThresholds::governed_mass_below`].
pub const DEFAULT_GOVERNED_MASS_BELOW: f32 = 0.1;

impl RoutingThresholds {
    /// Checks every threshold is a probability (0..=1).
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("triage_below", self.triage_below), ("help_desk_min", self.help_desk_min), ("governed_mass_below", self.governed_mass_below)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("routing threshold `{name}` is {v}: give a probability from 0 to 1"));
            }
        }
        Ok(())
    }
}

/// Where a ticket goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// The governed path, as this request type.
    Governed(&'a str),
    /// The help-desk path, as this request type.
    HelpDesk(&'a str),
    /// A person decides; the model's best guess is given for them.
    Triage {
        /// The most probable label.
        best: &'a str,
    },
}

impl Decision<'_> {
    /// `governed`, `help_desk` or `triage`.
    pub fn route_name(&self) -> &'static str {
        match self {
            Decision::Governed(_) => "governed",
            Decision::HelpDesk(_) => "help_desk",
            Decision::Triage { .. } => "triage",
        }
    }
}

/// Routes a ticket from its `probabilities` (one per label, in the order of
/// `labels`, as [`crate::Classifier::probabilities`] gives them);
/// `is_governed` says which labels change access. See the module docs for the
/// rule. Labels and probabilities of different lengths, or none, give
/// [`Decision::Triage`] with an empty best label.
pub fn route<'a>(labels: &'a [String], probabilities: &[f32], is_governed: impl Fn(&str) -> bool, thresholds: &RoutingThresholds) -> Decision<'a> {
    if labels.is_empty() || labels.len() != probabilities.len() {
        return Decision::Triage { best: "" };
    }
    let mut top = 0;
    let mut governed_mass = 0.0f32;
    for (i, (label, &p)) in labels.iter().zip(probabilities).enumerate() {
        if p > probabilities[top] {
            top = i;
        }
        if is_governed(label) {
            governed_mass += p;
        }
    }
    let best = labels[top].as_str();
    let p = probabilities[top];
    if p.is_nan() || p < thresholds.triage_below {
        return Decision::Triage { best };
    }
    if is_governed(best) {
        return Decision::Governed(best);
    }
    if p >= thresholds.help_desk_min && governed_mass < thresholds.governed_mass_below {
        Decision::HelpDesk(best)
    } else {
        Decision::Triage { best }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["application_access", "break_glass", "password_reset", "hardware"].map(String::from).to_vec()
    }

    fn governed(l: &str) -> bool {
        matches!(l, "application_access" | "break_glass")
    }

    fn t(triage_below: f32, help_desk_min: f32, governed_mass_below: f32) -> RoutingThresholds {
        RoutingThresholds { triage_below, help_desk_min, governed_mass_below }
    }

    #[test]
    fn a_confident_governed_label_is_governed() {
        let l = labels();
        assert_eq!(route(&l, &[0.9, 0.05, 0.03, 0.02], governed, &t(0.4, 0.7, 0.15)), Decision::Governed("application_access"));
    }

    #[test]
    fn a_governed_label_needs_only_the_triage_threshold() {
        let l = labels();
        assert_eq!(route(&l, &[0.1, 0.45, 0.25, 0.2], governed, &t(0.4, 0.7, 0.15)), Decision::Governed("break_glass"));
        assert_eq!(route(&l, &[0.1, 0.35, 0.3, 0.25], governed, &t(0.4, 0.7, 0.15)), Decision::Triage { best: "break_glass" });
    }

    #[test]
    fn below_the_triage_threshold_everything_is_triage() {
        let l = labels();
        assert_eq!(route(&l, &[0.05, 0.05, 0.39, 0.51], governed, &t(0.6, 0.5, 0.5)), Decision::Triage { best: "hardware" });
    }

    #[test]
    fn help_desk_needs_its_own_threshold() {
        let l = labels();
        let p = [0.02, 0.02, 0.66, 0.30];
        assert_eq!(route(&l, &p, governed, &t(0.4, 0.7, 0.15)), Decision::Triage { best: "password_reset" });
        assert_eq!(route(&l, &p, governed, &t(0.4, 0.65, 0.15)), Decision::HelpDesk("password_reset"));
    }

    #[test]
    fn governed_mass_sends_a_confident_help_desk_label_to_triage() {
        let l = labels();
        // password_reset at 0.8, but 0.1 + 0.08 = 0.18 on governed labels.
        let p = [0.1, 0.08, 0.8, 0.02];
        assert_eq!(route(&l, &p, governed, &t(0.4, 0.7, 0.15)), Decision::Triage { best: "password_reset" });
        assert_eq!(route(&l, &p, governed, &t(0.4, 0.7, 0.2)), Decision::HelpDesk("password_reset"));
        // the same mass on another help-desk label does not count.
        assert_eq!(route(&l, &[0.01, 0.01, 0.8, 0.18], governed, &t(0.4, 0.7, 0.15)), Decision::HelpDesk("password_reset"));
    }

    #[test]
    fn mismatched_or_nan_input_is_triage() {
        let l = labels();
        assert_eq!(route(&l, &[1.0], governed, &RoutingThresholds::default()), Decision::Triage { best: "" });
        assert_eq!(route(&[], &[], governed, &RoutingThresholds::default()), Decision::Triage { best: "" });
        assert!(matches!(route(&l, &[f32::NAN; 4], governed, &RoutingThresholds::default()), Decision::Triage { .. }));
    }

    #[test]
    fn route_names_are_the_core_route_names() {
        assert_eq!(Decision::Governed("x").route_name(), writ_core::request_type::Route::Governed.as_str());
        assert_eq!(Decision::HelpDesk("x").route_name(), writ_core::request_type::Route::HelpDesk.as_str());
        assert_eq!(Decision::Triage { best: "x" }.route_name(), "triage");
    }

    #[test]
    fn thresholds_are_probabilities() {
        assert!(RoutingThresholds::default().validate().is_ok());
        assert!(t(1.2, 0.5, 0.5).validate().unwrap_err().contains("triage_below"));
        assert!(t(0.5, -0.1, 0.5).validate().unwrap_err().contains("help_desk_min"));
    }
}
