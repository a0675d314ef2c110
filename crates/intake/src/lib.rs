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
//! 1. [`normalise`]: lowercase, everything that is not a letter becomes a word
//!    break (the public corpus has no digits or punctuation), stop words the corpus
//!    had removed are removed. Corpus text passes through unchanged, so the corpus
//!    and natural tickets share one path.
//! 2. [`features`]: word unigrams and bigrams, and character 2- to 5-grams inside
//!    each word, hashed into 2^18 buckets with a fixed hash; sublinear TF-IDF; each
//!    block L2-normalised, then the whole vector.
//! 3. One linear L2-loss SVM per label (one-vs-rest) trained by dual coordinate
//!    descent, liblinear's default solver; a softmax over the margins, its
//!    temperature fitted on 10% of the training examples held aside, turns them into
//!    probabilities.
//! 4. [`Classifier::to_bytes`]: a versioned compact format (a JSON header, then
//!    little-endian `f32` arrays), checked throughout by [`Classifier::from_bytes`].
//!
//! # Why not `linfa`
//!
//! The team guide names the `linfa` family for machine learning. Its classifiers
//! (`linfa-logistic`, `linfa-svm`, `linfa-bayes`, ...) fit on dense
//! `ndarray::ArrayBase<_, Ix2>` records only; only `linfa-preprocessing`'s text
//! vectorisers produce sparse (`sprs`) matrices, which nothing downstream accepts.
//! The public corpus is 38,000 training tickets × 262,144 hashed features: dense
//! that is 40 GB of `f32`, against ~250 MB sparse (about 800 non-zeros a ticket).
//! `linfa-svm` is moreover a kernel SMO solver, quadratic in the number of
//! examples. So this crate carries its own small sparse trainer (dual coordinate
//! descent, ~100 lines, [Hsieh et al. 2008]) with no dependency beyond serde and
//! thiserror.
//!
//! [Hsieh et al. 2008]: https://www.csie.ntu.edu.tw/~cjlin/papers/cddual.pdf
//!
//! # Data and I/O
//!
//! The library does no I/O: it trains from in-memory [`Example`]s (read from CSV
//! text by [`read_labelled_csv`], in Writ's `subject,body,type` shape or the public
//! corpus's `Document,Topic_group`) and writes a model to bytes. [`dataset::split`]
//! is the deterministic held-out split the published figures use.

pub mod dataset;
mod error;
pub mod features;
mod model;
pub mod normalise;
mod train;

pub use dataset::{read_labelled_csv, Example};
pub use error::IntakeError;
pub use features::FeatureConfig;
pub use model::{Classifier, Prediction, FORMAT_VERSION};
pub use normalise::normalise;
pub use train::TrainConfig;
