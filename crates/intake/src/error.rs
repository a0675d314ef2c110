//! The one error type of the crate.

use thiserror::Error;

/// What went wrong while reading labelled data, training, or loading a model.
///
/// Every variant a user can cause says what to do about it.
#[derive(Debug, Error, PartialEq)]
pub enum IntakeError {
    /// Training was asked for with no examples at all.
    #[error("no training examples: give at least two labelled tickets with two different labels")]
    EmptyTrainingSet,

    /// Every example carries the same label, so there is nothing to tell apart.
    #[error("every training example has the label `{0}`: a classifier needs at least two different labels")]
    OneClass(String),

    /// An example has an empty label.
    #[error("training example {index} has an empty label: give every row a request type")]
    EmptyLabel {
        /// Zero-based position of the example in the training set.
        index: usize,
    },

    /// A training parameter is out of range.
    #[error("invalid training parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong and what range is accepted.
        reason: String,
    },

    /// CSV text (labelled or not) could not be read.
    #[error("CSV, line {line}: {reason}")]
    Csv {
        /// One-based line number where the problem was seen.
        line: usize,
        /// What is wrong and what to write instead.
        reason: String,
    },

    /// The bytes are not a model this crate wrote.
    #[error("not an intake model (the bytes do not start with `WRITINTK`): pass a file written by `Classifier::to_bytes`")]
    NotAModel,

    /// The model was written by a format version this build cannot read.
    #[error("intake model format version {found} is not supported (this build reads version {supported}): train the model again with this version")]
    UnsupportedVersion {
        /// The version in the bytes.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },

    /// The model bytes are truncated or inconsistent.
    #[error("malformed intake model: {0}; the file is damaged or truncated, train or copy it again")]
    MalformedModel(String),

    /// A label was asked for that the model does not know.
    #[error("unknown label `{label}`: this model knows {known}")]
    UnknownLabel {
        /// The label asked for.
        label: String,
        /// The model's labels, comma separated.
        known: String,
    },
}
