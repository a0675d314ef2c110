//! API errors: an HTTP status, a stable code and a sentence that says what to do.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use writ_api::ErrorBody;
use writ_app::AppError;
use writ_core::DomainError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }
    /// Input whose shape the API's schema states (a duration, an id) and
    /// that does not have it: a 400, like a bad query string.
    pub fn malformed(e: DomainError) -> Self {
        Self::bad_input(e.to_string())
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: self.code.to_owned(), message: self.message })).into_response()
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let (status, code) = match &e {
            // A malformed id is malformed input, like a bad query string: the
            // schema states every id's shape. Other invalid input is well formed
            // but breaks a rule (a catalog maximum, a required text): 422.
            DomainError::InvalidId { .. } => (StatusCode::BAD_REQUEST, "invalid_input"),
            DomainError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            DomainError::IllegalTransition { .. } | DomainError::Lapsed { .. } => (StatusCode::CONFLICT, "illegal_transition"),
            DomainError::ToxicCombination { .. } => (StatusCode::FORBIDDEN, "separation_of_duties"),
            DomainError::SelfReview { .. }
            | DomainError::SubjectReview { .. }
            | DomainError::DuplicateReview { .. }
            | DomainError::FulfillerIsApprover { .. } => (StatusCode::FORBIDDEN, "separation_of_duties"),
            DomainError::NoAuthority { .. }
            | DomainError::NotAFulfiller { .. }
            | DomainError::IdentityDisabled { .. }
            | DomainError::SubjectDisabled { .. }
            | DomainError::NotAPerson { .. }
            | DomainError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Domain(d) => d.into(),
            AppError::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            AppError::Forbidden { .. } => Self::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            AppError::Conflict { .. } | AppError::Stale { .. } => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            AppError::Replayed { .. } => Self::new(StatusCode::CONFLICT, "replayed", e.to_string()),
            AppError::Connector(_) | AppError::NoConnector { .. } | AppError::DeskUnavailable { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "target_failed", e.to_string())
            }
            AppError::Store(inner) => {
                // The detail goes to the log, not to the caller.
                tracing::error!(error = %inner, "store failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server could not complete the request; see its log")
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "invalid_json" };
        let message = match &r {
            JsonRejection::MissingJsonContentType(_) => "send the body as JSON with `Content-Type: application/json`".to_owned(),
            JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
            _ => format!("the request body is not valid: {}", r.body_text()),
        };
        Self::new(if status == StatusCode::PAYLOAD_TOO_LARGE { status } else { StatusCode::BAD_REQUEST }, code, message)
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::bad_input(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_input(format!("bad query string: {}", r.body_text()))
    }
}
