//! The core's one error type. Messages are lowercase, put user input in backticks
//! and, where the user can act, say what to do.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidId { what: &'static str, value: String, reason: String },

    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },

    #[error("cannot {action} {entity} in state `{state}`")]
    IllegalTransition { entity: &'static str, state: String, action: &'static str },

    #[error("`{reviewer}` requested this access and cannot review it: ask another approver")]
    SelfReview { reviewer: String },

    #[error("`{reviewer}` is the subject of this request and cannot review it: ask another approver")]
    SubjectReview { reviewer: String },

    #[error("`{reviewer}` already reviewed this request: one person counts once per request")]
    DuplicateReview { reviewer: String },

    #[error("`{reviewer}` has no authority to review this request at its current stage ({stages})")]
    NoAuthority { reviewer: String, stages: String },

    #[error("identity `{identity}` is disabled and cannot {action}")]
    IdentityDisabled { identity: String, action: &'static str },

    #[error("`{identity}` is a {kind}: only a person can {action}, whatever policy says")]
    NotAPerson { identity: String, kind: &'static str, action: &'static str },

    #[error("identity `{identity}` is disabled and receives no access by any path: re-enable it first, then request anew")]
    SubjectDisabled { identity: String },

    #[error("request lapsed at {at}: it waited too long for review; submit a new request")]
    Lapsed { at: String },

    #[error("toxic combination `{combination}`: `{requested}` must never be held together with `{held}`{via}")]
    ToxicCombination { combination: String, requested: String, held: String, via: String },

    #[error("`{fulfiller}` approved this request and cannot also fulfil it (approver ≠ fulfiller)")]
    FulfillerIsApprover { fulfiller: String },

    #[error("`{fulfiller}` is not in the fulfiller group `{group}` of this task")]
    NotAFulfiller { fulfiller: String, group: String },

    #[error("`{who}` may not {action}: {reason}")]
    Forbidden { who: String, action: &'static str, reason: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError::Invalid { field: field.into(), reason: reason.into() }
    }
}
