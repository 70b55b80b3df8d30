//! The error type of the HTTP layer and its one mapping to RFC 9457 problem+json.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;

/// One error in one field of one row (rows count from 1; `row` is absent for a
/// single object).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct FieldError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        FieldError { row: None, field: field.into(), code: code.into(), message: message.into() }
    }

    /// An error in `field` of row `row` of a bulk request.
    pub fn at_row(row: u64, field: &str, code: &str, message: impl Into<String>) -> Self {
        FieldError { row: Some(row), field: field.into(), code: code.into(), message: message.into() }
    }
}

/// Everything a handler can answer with other than success. Each variant names its
/// HTTP status; `code` is the stable machine-readable member clients switch on.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON, bad query, bad header).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 422 `validation_failed`: the request was read, and these fields are wrong.
    #[error("validation failed")]
    Validation { errors: Vec<FieldError> },
    /// 401: no credentials, or credentials that are not valid.
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    /// 403: authenticated, but the role may not do this.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// 404: no such thing, or not the caller's to see.
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    /// 405: the route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: conflicts with the current state.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// 409: rows of a bulk request conflict with what was recorded before (a second,
    /// different answer); nothing of the request was stored.
    #[error("{} rows conflict with what was recorded before", errors.len())]
    RowConflicts { code: &'static str, errors: Vec<FieldError> },
    /// 413 `body_too_large`.
    #[error("{detail}")]
    PayloadTooLarge { detail: String },
    /// 415 `unsupported_media_type`.
    #[error("{detail}")]
    UnsupportedMediaType { detail: String },
    /// 422 with a specific code (e.g. `idempotency_key_reused`).
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// 429 `rate_limited`, with `Retry-After`.
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// 503: a dependency (database, upstream service) is not reachable.
    #[error("{detail}")]
    Unavailable { code: &'static str, detail: String },
    /// 500 `internal_error`: logged with its cause and the cause's own causes, never
    /// shown.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest { code, detail: detail.into() }
    }
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Unauthorized { code, detail: detail.into() }
    }
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Forbidden { code, detail: detail.into() }
    }
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound { code: "not_found", detail: format!("{what} not found") }
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Conflict { code, detail: detail.into() }
    }
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Unprocessable { code, detail: detail.into() }
    }
    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Unavailable { code, detail: detail.into() }
    }
    pub fn too_large(limit: Option<usize>) -> Self {
        let detail = match limit {
            Some(limit) => format!("request body larger than the limit of {limit} bytes"),
            None => "request body too large".to_string(),
        };
        ApiError::PayloadTooLarge { detail }
    }
    pub fn validation(errors: Vec<FieldError>) -> Self {
        ApiError::Validation { errors }
    }
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(cause.into())
    }

    /// The stable `code` member.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::RowConflicts { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::Validation { .. } => "validation_failed",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "body_too_large",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        self.status_code().canonical_reason().unwrap_or("Error")
    }
}

/// The problem+json body.
#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation { .. } | ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } | ApiError::RowConflicts { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            // The cause is logged here, inside the request span, and never shown.
            ApiError::Internal(cause) => tracing::error!(error.cause = %cause_chain(cause.as_ref()), "internal error"),
            ApiError::Unavailable { detail, .. } => {
                tracing::warn!(error.cause = %detail, "dependency unavailable")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")));
        if let ApiError::Unauthorized { code, .. } = self {
            // RFC 6750: say which scheme is expected, and that the token was bad if one came.
            let challenge = if *code == "missing_token" {
                "Bearer realm=\"healthcard\"".to_string()
            } else {
                format!("Bearer realm=\"healthcard\", error=\"invalid_token\", error_description=\"{code}\"")
            };
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        response.body(self.problem_body())
    }
}

impl ApiError {
    /// The problem+json text of this error (also what an idempotent replay returns).
    pub fn problem_body(&self) -> String {
        let detail = match self {
            ApiError::Internal(_) => "an internal error occurred; quote the X-Request-Id when reporting it".to_string(),
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Validation { errors } | ApiError::RowConflicts { errors, .. } => Some(errors.as_slice()),
            _ => None,
        };
        let code = self.code();
        let body = Problem {
            type_: format!("urn:healthcard:problem:{code}"),
            title: self.title(),
            status: self.status_code().as_u16(),
            code,
            detail,
            errors,
        };
        serde_json::to_string(&body).unwrap_or_else(|_| format!("{{\"code\":\"{code}\"}}"))
    }
}

/// An error and every error beneath it, outermost first: what a log line needs to say
/// what failed and why.
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(detail) => ApiError::unavailable("database_unavailable", detail),
            DbError::Query(q) => ApiError::from(q),
            other => ApiError::internal(other),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::not_found("resource"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                let (code, detail) = crate::db::unique_violation(info.as_ref());
                ApiError::conflict(code, detail)
            }
            other => ApiError::internal(other),
        }
    }
}
