//! The one error type of Pulse and its one JSON shape.
//!
//! Every failure a client can see is an [`Error`]; it renders as
//! `{"error": {"code": "...", "message": "...", "details": [...], "request_id": "..."}}`.
//! `code` is stable and meant for programs; `message` is for people. Internal errors answer an
//! opaque 500 and are logged exactly once, here, with the request id.

use axum_core::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field (dotted path for nested fields, or a line number for imports).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn describe_fields(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{} {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every error Pulse reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed (bad JSON, bad query string, unknown field).
    #[error("{message}")]
    BadRequest {
        /// Stable machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The request is well-formed but some fields are invalid.
    #[error("validation failed: {}", describe_fields(.0))]
    Validation(Vec<FieldError>),
    /// Missing, invalid, expired or revoked credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the role does not allow this.
    #[error("this action needs a higher role")]
    Forbidden,
    /// A cookie-authenticated state change without a valid CSRF token or from another site.
    #[error("{0}")]
    Csrf(String),
    /// The object does not exist (or belongs to another client).
    #[error("not found")]
    NotFound,
    /// The request conflicts with existing state (for example a duplicate e-mail).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than allowed.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body's media type is not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many attempts; retry after the given number of seconds.
    #[error("too many requests")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// A dependency (usually the database) is unavailable.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else: a bug or an unexpected failure. Never shown to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// A 400 with a stable code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A 422 for a single field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    /// A 500 wrapping any error.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Error::Internal(err.into())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden | Error::Csrf(_) => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. } => code,
            Error::Validation(_) => "validation_failed",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden => "forbidden",
            Error::Csrf(_) => "csrf_failed",
            Error::NotFound => "not_found",
            Error::Conflict(_) => "conflict",
            Error::PayloadTooLarge => "payload_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::RateLimited { .. } => "rate_limited",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The body this error renders as (without logging).
    pub fn body(&self) -> ErrorBody {
        let details = match self {
            Error::Validation(fields) => fields.clone(),
            _ => Vec::new(),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.to_string(),
                details,
                request_id: crate::request_id::current(),
            },
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The content of an error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `validation_failed`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Per-field problems, for `validation_failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
    /// The request id, to quote when reporting a problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    /// Renders an arbitrary status and code in the standard shape (for framework-level rejections).
    pub fn response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message: message.into(),
                details: Vec::new(),
                request_id: crate::request_id::current(),
            },
        };
        json_response(status, &body)
    }
}

fn json_response(status: StatusCode, body: &ErrorBody) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut res = (status, bytes).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Error::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
            }
            Error::Unavailable(err) => {
                tracing::warn!(error = format!("{err:#}"), "dependency unavailable");
            }
            _ => {}
        }
        let mut res = json_response(self.status(), &self.body());
        if let Error::RateLimited { retry_after_secs } = self {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        res
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        use sea_orm::{DbErr, RuntimeErr, SqlErr};
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return Error::Conflict("an object with the same unique value already exists".into());
        }
        match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Error::Unavailable(err.into()),
            DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))
                if is_connection_error(e) =>
            {
                Error::Unavailable(anyhow::anyhow!("{err}"))
            }
            DbErr::RecordNotFound(_) => Error::NotFound,
            _ => Error::Internal(err.into()),
        }
    }
}

fn is_connection_error(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    matches!(
        e,
        E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Tls(_)
    )
}

impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Self {
        Error::Internal(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_are_stable() {
        assert_eq!(Error::NotFound.status(), StatusCode::NOT_FOUND);
        assert_eq!(Error::NotFound.code(), "not_found");
        assert_eq!(
            Error::invalid("email", "is empty").code(),
            "validation_failed"
        );
        assert_eq!(
            Error::RateLimited {
                retry_after_secs: 3
            }
            .status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[test]
    fn internal_errors_are_opaque() {
        let body = Error::internal(anyhow::anyhow!("password=hunter2 leaked")).body();
        assert_eq!(body.error.message, "internal error");
        assert!(!serde_json::to_string(&body).unwrap().contains("hunter2"));
    }

    #[test]
    fn validation_lists_fields() {
        let body =
            Error::Validation(vec![FieldError::new("email", "is not an e-mail address")]).body();
        assert_eq!(body.error.details.len(), 1);
        assert_eq!(body.error.details[0].field, "email");
    }
}
