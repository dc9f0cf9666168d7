//! The one error type. Every layer returns it; REST turns it into a status
//! and the seed's body shape, GraphQL into `extensions.code`.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;

/// The `RateLimit-*` header names, made at compile time (a `&str` name is
/// parsed on every insert, and every authenticated answer carries them).
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A problem with one input field.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// The input field at fault, as the API names it (`name`, `redirectUris`).
    pub field: String,
    pub error: String,
    /// What kind of problem it is; GraphQL shows it as `UserError.code`.
    #[serde(skip)]
    pub code: UserErrorCode,
}

impl FieldError {
    pub fn new(field: impl Into<String>, error: impl Into<String>) -> Self {
        Self { field: field.into(), error: error.into(), code: UserErrorCode::Invalid }
    }

    /// The same problem with a more precise code than `INVALID`.
    pub fn with_code(mut self, code: UserErrorCode) -> Self {
        self.code = code;
        self
    }
}

/// What kind of problem a mutation's input has (GraphQL `UserError.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, async_graphql::Enum)]
pub enum UserErrorCode {
    /// The value breaks a rule stated in the field's description.
    #[default]
    Invalid,
    /// The value must be unique and is already used (a slug, an email).
    Taken,
    /// The object the input names does not exist or is not the caller's.
    NotFound,
    /// An event type or pattern that is not in the catalog.
    UnknownEventType,
    /// The change would leave the workspace without an owner.
    LastOwner,
    /// A count or size limit would be exceeded.
    LimitExceeded,
    /// The `idempotencyKey` was already used, within 24 hours, for a
    /// different input: nothing was done. Use a new key for a new request.
    IdempotencyConflict,
    /// The first request with this `idempotencyKey` is still running:
    /// nothing was done; retry shortly to get its answer.
    IdempotencyInProgress,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 INVALID_REQUEST: malformed input or a broken rule; `details` names the fields.
    #[error("{message}")]
    InvalidRequest { message: String, details: Vec<FieldError> },
    /// 401 UNAUTHORIZED: missing, invalid, expired or disabled credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 FORBIDDEN: authenticated, but the role or the scopes do not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// 404 NOT_FOUND: no such object in the caller's workspace.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 413 (INVALID_REQUEST): the body is larger than allowed.
    #[error("Request body too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    /// 415 (INVALID_REQUEST): the body is not `application/json`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// 429 RATE_LIMITED.
    #[error("Rate limit exceeded, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64, limit: u32 },
    /// 429 RATE_LIMITED: a data endpoint's monthly request quota is used up.
    #[error("Monthly request quota used up; it resets at {}", resets_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))]
    QuotaExceeded { resets_at: chrono::DateTime<chrono::Utc> },
    /// 500 INTERNAL_ERROR: a database failure. Logged, never shown.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// 500 INTERNAL_ERROR: a Redis command failed. Logged, never shown.
    #[error("redis error: {0}")]
    Redis(#[from] deadpool_redis::redis::RedisError),
    /// 500 INTERNAL_ERROR: no Redis connection could be had. Logged, never shown.
    #[error("redis pool error: {0}")]
    RedisPool(#[from] deadpool_redis::PoolError),
    /// Not an error a client sees: a job handler asking to run again after
    /// this wait without spending an attempt (e.g. a webhook over its rate).
    #[error("deferred for {0:?}")]
    Deferred(std::time::Duration),
    /// Not an error a client sees: a job attempt failed and the next one
    /// must wait at least `at_least` (longer if the kind's backoff says so),
    /// e.g. a receiver that answered 429 with `Retry-After`.
    #[error("{cause}")]
    RetryNoSooner { cause: String, at_least: std::time::Duration },
    /// 500 INTERNAL_ERROR: anything else unexpected. Logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A validation failure on one field.
    pub fn invalid_field(field: &str, error: impl Into<String>) -> Self {
        Self::InvalidRequest { message: "Validation failed".into(), details: vec![FieldError::new(field, error)] }
    }

    /// A validation failure on one field, with a more precise code.
    pub fn field_code(field: &str, code: UserErrorCode, error: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, error).with_code(code)])
    }

    /// A validation failure on several fields (`details` must not be empty).
    pub fn validation(details: Vec<FieldError>) -> Self {
        Self::InvalidRequest { message: "Validation failed".into(), details }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest { message: message.into(), details: vec![] }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// Turns a unique-constraint violation into INVALID_REQUEST naming `field`;
    /// any other database error stays internal.
    pub fn unique<'a>(field: &'a str, message: &'a str) -> impl FnOnce(DbErr) -> Self + 'a {
        move |err| match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::field_code(field, UserErrorCode::Taken, message),
            _ => Self::Database(err),
        }
    }

    /// The seed-002 error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } | Self::PayloadTooLarge { .. } | Self::UnsupportedMediaType => {
                "INVALID_REQUEST"
            }
            Self::Unauthorized(_) => "UNAUTHORIZED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::RateLimited { .. } | Self::QuotaExceeded { .. } => "RATE_LIMITED",
            Self::Database(_)
            | Self::Redis(_)
            | Self::RedisPool(_)
            | Self::Deferred(_)
            | Self::RetryNoSooner { .. }
            | Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RateLimited { .. } | Self::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Database(_)
            | Self::Redis(_)
            | Self::RedisPool(_)
            | Self::Deferred(_)
            | Self::RetryNoSooner { .. }
            | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message a client may see: internal causes are logged here, once,
    /// inside the request's span (which carries the request id), and replaced.
    pub fn public_message(&self) -> String {
        match self {
            Self::Database(_)
            | Self::Redis(_)
            | Self::RedisPool(_)
            | Self::Deferred(_)
            | Self::RetryNoSooner { .. }
            | Self::Internal(_) => {
                tracing::error!(cause = %self, "internal error");
                "Internal server error".into()
            }
            other => other.to_string(),
        }
    }

    pub fn details(&self) -> &[FieldError] {
        match self {
            Self::InvalidRequest { details, .. } => details,
            _ => &[],
        }
    }

    /// The HTTP status class a response carrying this error would have, by code.
    pub fn status_for_code(code: &str) -> StatusCode {
        match code {
            "INVALID_REQUEST" => StatusCode::BAD_REQUEST,
            "UNAUTHORIZED" => StatusCode::UNAUTHORIZED,
            "FORBIDDEN" => StatusCode::FORBIDDEN,
            "NOT_FOUND" => StatusCode::NOT_FOUND,
            "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Adds `Retry-After` and `RateLimit-*` headers to a 429 response.
    pub fn add_headers(&self, resp: &mut Response) {
        if let Self::QuotaExceeded { resets_at } = self {
            let secs = (*resets_at - chrono::Utc::now()).num_seconds().max(1) as u64;
            resp.headers_mut().insert("retry-after", HeaderValue::from(secs));
        }
        if let Self::RateLimited { retry_after_secs, limit } = self {
            let h = resp.headers_mut();
            h.insert("retry-after", HeaderValue::from(*retry_after_secs));
            h.insert(RATELIMIT_LIMIT, HeaderValue::from(*limit));
            h.insert(RATELIMIT_REMAINING, HeaderValue::from(0u32));
            h.insert(RATELIMIT_RESET, HeaderValue::from(*retry_after_secs));
        }
    }
}

/// The REST body shape of seed 001/002.
#[derive(Serialize)]
struct RestErrorBody<'a> {
    success: bool,
    error: String,
    code: &'static str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    details: &'a [FieldError],
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body =
            RestErrorBody { success: false, error: self.public_message(), code: self.code(), details: self.details() };
        let mut resp = (self.status(), Json(body)).into_response();
        self.add_headers(&mut resp);
        resp
    }
}
