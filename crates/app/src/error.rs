use thiserror::Error;
use writ_core::DomainError;

use crate::ports::StoreError;

/// What a use-case can fail with. The server maps each variant to an HTTP status.
#[derive(Debug, Error)]
pub enum AppError {
    /// The domain refused: bad input, an illegal transition, a separation-of-duties rule.
    #[error(transparent)]
    Domain(#[from] DomainError),

    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },

    #[error("`{who}` may not {action}: {reason}")]
    Forbidden { who: String, action: String, reason: String },

    /// Someone else changed the same record at the same time, again and again.
    #[error("{what} `{id}` changed while this update was being made: retry")]
    Conflict { what: &'static str, id: String },

    /// The caller wrote from a version it read, and the record changed since.
    #[error("{what} `{id}` is at version {stored}, not {read}: it changed since it was read; read it again and retry")]
    Stale { what: &'static str, id: String, read: u64, stored: u64 },

    /// A webhook delivery that was accepted before arrived again.
    #[error("delivery `{id}` from {sender} was accepted before: a replay is refused (a sender retrying must send a new delivery id)")]
    Replayed { sender: String, id: String },

    /// A service desk could not be read (down, or it refused Writ's token).
    #[error("the service desk {desk} could not be read: {reason}")]
    DeskUnavailable { desk: String, reason: String },

    #[error(transparent)]
    Store(StoreError),

    /// A target system could not carry out a fulfilment step.
    #[error(transparent)]
    Connector(#[from] crate::ports::ConnectorError),

    /// The catalog names a target that has no connector configured.
    #[error("no connector is configured for target `{target}`: declare its fulfilment in the catalog")]
    NoConnector { target: String },
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionConflict { what, id } => AppError::Conflict { what, id },
            other => AppError::Store(other),
        }
    }
}
