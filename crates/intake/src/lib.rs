//! Ticket intake: a trained classifier that reads a ticket's subject and body and
//! answers a request type with a confidence.
//!
//! ```no_run
//! use writ_intake::{read_labelled_csv, Classifier, TrainConfig};
//! # fn main() -> Result<(), writ_intake::IntakeError> {
//! let examples = read_labelled_csv("subject,body,type\nVPN,need vpn access,access\nlaptop,screen broken,hardware\n")?;
//! let model = Classifier::train(&examples, &TrainConfig::default())?;
//! let bytes = model.to_bytes();
//! let model = Classifier::from_bytes(&bytes)?;
//! let p = model.predict("Access to the finance share", "Hi, could you add me? Thanks");
//! println!("{} ({:.0}%)", p.label, 100.0 * p.confidence);
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! 1. [`normalise()`]: lowercase, everything that is not a letter becomes a word
//!    break (the public corpus has no digits or punctuation), stop words the corpus
//!    had removed are removed. Corpus text passes through unchanged, so the corpus
//!    and natural tickets share one path.
//! 2. Features (`features.rs`): word unigrams and bigrams, and character 2- to 5-grams inside
//!    each word, hashed into 2^18 buckets with a fixed hash; term counts times
//!    smoothed IDF; each block L2-normalised, then the whole vector.
//! 3. One linear L2-loss SVM per label (one-vs-rest) trained by dual coordinate
//!    descent with shrinking, liblinear's default solver, on features scaled per
//!    class by their naive-Bayes log-count ratio (NBSVM, Wang and Manning 2012;
//!    the scaling is folded into the weights, so prediction is a plain dot
//!    product). A softmax over the margins, its temperature fitted on 10% of the
//!    training examples held aside, turns them into probabilities; the final model
//!    is then trained on all examples, warm-started from that run.
//! 4. [`Classifier::to_bytes`]: a versioned compact format (a JSON header, then
//!    little-endian `f32` arrays), checked throughout by [`Classifier::from_bytes`].
//!
//! Prediction does no sorting and no allocation beyond the result: counts go
//! through a per-thread open-addressing table, and each bucket's IDF and class
//! weights sit in one row, one cache line per feature.
//!
//! # Why not `linfa`
//!
//! The team guide names the `linfa` family for machine learning. Its classifiers
//! (`linfa-logistic`, `linfa-svm`, `linfa-bayes`, ...) fit on dense
//! `ndarray::ArrayBase<_, Ix2>` records only (`Fit<ArrayBase<D, Ix2>, T, E>`);
//! only `linfa-preprocessing`'s text vectorisers produce sparse (`sprs`)
//! matrices, which none of the classifiers accepts. The public corpus is 38,000
//! training tickets × 262,144 hashed features: dense, that is 40 GB of `f32`,
//! against ~250 MB sparse (about 800 non-zeros a ticket). `linfa-svm` is
//! moreover a kernel SMO solver, quadratic in the number of examples. So this
//! crate carries its own small sparse trainer (dual coordinate descent,
//! [Hsieh et al. 2008], ~150 lines in `train.rs`) with no dependency beyond serde
//! and thiserror.
//!
//! [Hsieh et al. 2008]: https://www.csie.ntu.edu.tw/~cjlin/papers/cddual.pdf
//!
//! # Writ's request types and routing
//!
//! [`standard_model()`] is the model of Writ's 14 standard request types,
//! trained on first use from the project's own labelled tickets
//! ([`STANDARD_TRAIN_CSV`], embedded) with [`standard_train_config()`] and
//! kept for the process (about 0.5 s in release, 4 s in debug). [`route()`]
//! turns a ticket's probabilities into [`Decision::Governed`],
//! [`Decision::HelpDesk`] or [`Decision::Triage`] under
//! [`RoutingThresholds`]; it is stricter towards the help desk, since a
//! governed request sent there is the dangerous error. [`classify()`] does
//! both with [`is_governed`] (`writ_core`'s standard routes). Held-out
//! figures: BENCHMARKS.md §11.1.
//!
//! # Data and I/O
//!
//! The library does no I/O: it trains from in-memory [`Example`]s (read from CSV
//! text by [`read_labelled_csv`], in Writ's `subject,body,type` shape or the public
//! corpus's `Document,Topic_group`) and writes a model to bytes. [`dataset::split`]
//! is the deterministic held-out split the published figures use.

pub mod dataset;
mod error;
mod evaluate;
mod features;
mod model;
pub mod normalise;
pub mod routing;
mod standard;
mod train;

pub use dataset::{read_labelled_csv, read_tickets_csv, Example, Ticket};
pub use error::IntakeError;
pub use evaluate::{Evaluation, LabelScore};
pub use features::FeatureConfig;
pub use model::{Classifier, Prediction, FORMAT_VERSION};
pub use normalise::normalise;
pub use routing::{route, Decision, RoutingThresholds};
pub use standard::{classify, is_governed, standard_examples, standard_model, standard_train_config, STANDARD_TRAIN_CSV};
pub use train::TrainConfig;
