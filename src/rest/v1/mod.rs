//! Seed 002's REST API under `/v1`: thin handlers over the same services
//! GraphQL uses, one file per resource, each exposing `router()` and the
//! `#[utoipa::path]` items that [`crate::rest::openapi`] collects.
//!
//! Shared here: the caller ([`Caller`], resolved by [`authenticate`] with
//! the GraphQL endpoint's rate limit, headers and usage counting), the
//! seed's error body ([`ApiError`]), JSON and query extractors that answer
//! in that shape, and numbered pagination ([`PageQuery`], [`Pagination`]).
//!
//! A new resource (plugins, integrations) adds a file with its router and
//! paths, one `.merge` in [`router`] and one line in `openapi.rs`.

pub mod api_keys;
pub mod integrations;
pub mod oauth;
pub mod plugins;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToResponse, ToSchema};

use super::Http;
use crate::auth::{authenticate_token, Credential, Principal};
use crate::error::Error;
use crate::services::pagination::{Page, PageArgs};

/// Every `/v1` route that takes an API key or OAuth access token, plus the
/// OAuth protocol routes (which authenticate the client themselves).
pub fn router(h: &Http) -> Router<Http> {
    let managed = Router::new()
        .merge(api_keys::router())
        .merge(webhooks::router())
        .merge(oauth::apps_router())
        .merge(plugins::router())
        .merge(integrations::router())
        .route_layer(axum::middleware::from_fn_with_state(h.clone(), authenticate))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    managed.merge(oauth::protocol_router())
}

/// The authenticated caller of a `/v1` route.
pub struct Caller(pub Arc<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Arc<Principal>>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| Error::Unauthorized("Use 'Authorization: Bearer <API key or access token>'".into()).into())
    }
}

/// Resolves `Authorization: Bearer` (an `sk_…` API key or an OAuth access
/// token) to a [`Principal`], checks the caller's rate limit (1000 a minute
/// per key, 500 per OAuth grant, as GraphQL), runs the handler, then
/// counts the request against the key or app with its status and adds the
/// `RateLimit-*` headers.
async fn authenticate(State(h): State<Http>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').filter(|(s, _)| s.eq_ignore_ascii_case("bearer")).map(|(_, t)| t.trim()))
        .map(str::to_string);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return unauthorized(Error::Unauthorized("Use 'Authorization: Bearer <API key or access token>'".into()));
    };
    let principal = match authenticate_token(&h.app, &token).await {
        Ok(p) => p,
        Err(e) => return unauthorized(e),
    };
    let rate = super::graphql::check_rate(&h, &principal).await;
    let mut resp = match &rate {
        Ok(_) => {
            req.extensions_mut().insert(Arc::clone(&principal));
            next.run(req).await
        }
        Err(e) => ApiError(clone_rate_error(e)).into_response(),
    };
    if let Some(key) = super::graphql::usage_key(&principal) {
        h.app.usage.record(key, resp.status().as_u16());
    }
    if let Credential::OAuthToken { authorization_id: Some(a), .. } = &principal.credential {
        h.app.usage.record(a, 200);
    }
    if let Ok(r) = rate {
        super::graphql::add_rate_headers(resp.headers_mut(), r);
    }
    resp
}

/// The limiter's error, kept by value for the answer.
fn clone_rate_error(e: &Error) -> Error {
    match e {
        Error::RateLimited { retry_after_secs, limit } => {
            Error::RateLimited { retry_after_secs: *retry_after_secs, limit: *limit }
        }
        other => Error::internal(other),
    }
}

fn unauthorized(e: Error) -> Response {
    let mut resp = ApiError(e).into_response();
    if resp.status() == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// Any error of a `/v1` route, answered in seed 002's shape:
/// `{"error": {"code", "message", "details": {"field", "reason"}}}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The seed's error codes.
#[derive(Serialize, ToSchema)]
#[allow(clippy::upper_case_acronyms, non_camel_case_types)]
pub enum ErrorCode {
    INVALID_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    RATE_LIMITED,
    INTERNAL_ERROR,
}

/// Seed 002's error body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorObject {
    /// `INVALID_REQUEST` (400, also 405, 413 and 415), `UNAUTHORIZED` (401),
    /// `FORBIDDEN` (403), `NOT_FOUND` (404), `RATE_LIMITED` (429),
    /// `INTERNAL_ERROR` (500).
    #[schema(value_type = ErrorCode)]
    pub code: &'static str,
    /// For people; internal causes are never shown.
    pub message: String,
    /// The first field at fault, when the input is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
    /// Every field at fault (the first is also `details`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorDetails>,
}

/// UNAUTHORIZED: no `Authorization: Bearer`, or an API key or access token
/// that is unknown, expired, revoked or disabled.
#[derive(ToResponse)]
#[response(
    headers(("WWW-Authenticate" = String, description = "`Bearer`")),
    example = json!({ "error": { "code": "UNAUTHORIZED", "message": "Invalid API key" } })
)]
#[allow(dead_code)]
pub struct Unauthorized(ErrorBody);

/// FORBIDDEN: the key or token lacks the permission (`read`, `write`,
/// `admin`) or the member's role does not allow it.
#[derive(ToResponse)]
#[response(example = json!({ "error": { "code": "FORBIDDEN", "message": "This API key lacks the 'write' permission" } }))]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody);

/// RATE_LIMITED: the key's (1000 a minute) or OAuth grant's (500 a minute)
/// budget is spent; retry after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(
    headers(
        ("Retry-After" = u64, description = "Seconds to wait before the next request is accepted."),
        ("RateLimit-Limit" = u32, description = "Requests a minute the key or grant may make."),
        ("RateLimit-Remaining" = u32, description = "Requests left now: 0."),
        ("RateLimit-Reset" = u64, description = "Seconds until a request is accepted again."),
    ),
    example = json!({ "error": { "code": "RATE_LIMITED", "message": "Rate limit exceeded, retry in 12 s" } })
)]
#[allow(dead_code)]
pub struct RateLimited(ErrorBody);

/// INVALID_REQUEST: the body is larger than 256 KiB.
#[derive(ToResponse)]
#[response(example = json!({ "error": { "code": "INVALID_REQUEST",
    "message": "Request body too large (limit 262144 bytes)" } }))]
#[allow(dead_code)]
pub struct PayloadTooLarge(ErrorBody);

/// INVALID_REQUEST: the body is not `application/json`.
#[derive(ToResponse)]
#[response(example = json!({ "error": { "code": "INVALID_REQUEST",
    "message": "Content-Type must be application/json" } }))]
#[allow(dead_code)]
pub struct UnsupportedMediaType(ErrorBody);

/// A problem with one input field.
#[derive(Serialize, ToSchema, Clone)]
pub struct ErrorDetails {
    /// The field, as this API names it (`expires_at`, `redirect_uris.0`).
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

/// A service's field name (GraphQL's camelCase) as this API spells it;
/// header names (`Idempotency-Key`) stay as they are.
pub fn snake_case(field: &str) -> String {
    if field.contains('-') || field.starts_with(|c: char| c.is_ascii_uppercase()) {
        return field.to_string();
    }
    let mut out = String::with_capacity(field.len() + 4);
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let errors: Vec<ErrorDetails> =
            e.details().iter().map(|d| ErrorDetails { field: snake_case(&d.field), reason: d.error.clone() }).collect();
        let body = ErrorBody {
            error: ErrorObject {
                code: e.code(),
                message: e.public_message(),
                details: errors.first().cloned(),
                errors,
            },
        };
        let mut resp = (e.status(), Json(body)).into_response();
        e.add_headers(&mut resp);
        resp
    }
}

/// Renames service field names to this API's in an error (e.g. `scopes`
/// → `permissions` for API keys). Applied before [`snake_case`].
pub fn renamed(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(Error) -> ApiError {
    move |e| match e {
        Error::InvalidRequest { message, mut details } => {
            for d in &mut details {
                for (from, to) in pairs {
                    if d.field == *from || d.field.starts_with(&format!("{from}.")) {
                        d.field = format!("{to}{}", &d.field[from.len()..]);
                    }
                }
            }
            ApiError(Error::InvalidRequest { message, details })
        }
        other => ApiError(other),
    }
}

/// A JSON body whose rejections answer in the seed's shape (415 wrong
/// content type, 413 too large, 400 malformed or mistyped).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let e = match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => return Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Error::UnsupportedMediaType,
            Err(JsonRejection::JsonDataError(e)) => Error::invalid(e.body_text()),
            Err(JsonRejection::JsonSyntaxError(e)) => Error::invalid(format!("Invalid JSON: {}", e.body_text())),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge { limit: MAX_BODY },
            Err(e) => Error::invalid(e.body_text()),
        };
        Err(ApiError(e))
    }
}

/// Largest body a `/v1` route accepts.
pub const MAX_BODY: usize = 256 * 1024;

/// A query string whose rejections answer in the seed's shape.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError(Error::invalid(e.body_text()))),
            Err(e) => Err(ApiError(Error::invalid(e.body_text()))),
        }
    }
}

/// `?page=1&limit=20`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

impl PageQuery {
    pub fn args(&self) -> Result<PageArgs, Error> {
        PageArgs::numbered(self.page, self.limit)
    }
}

/// Where a page sits in the whole list.
#[derive(Serialize, ToSchema)]
pub struct Pagination {
    /// This page's number, from 1.
    pub page: u64,
    /// Items per page.
    pub limit: u64,
    /// Items in the whole list.
    pub total: u64,
    /// Pages in the whole list (0 when it is empty).
    pub total_pages: u64,
}

impl Pagination {
    pub fn of<T>(q: &PageQuery, page: &Page<T>) -> Self {
        let limit = q.limit.unwrap_or(crate::services::pagination::DEFAULT_PAGE_SIZE);
        Self {
            page: q.page.unwrap_or(1),
            limit,
            total: page.total_count,
            total_pages: page.total_count.div_ceil(limit),
        }
    }
}

/// A JSON Schema `integer` (1 to 2³²−1) as this API reads it: `80` and
/// `80.0` alike, which JSON Schema counts as the same integer.
pub fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?.map(|n| to_u32(&n)).transpose()
}

/// [`whole`] that tells an absent field (`None`) from `null` (`Some(None)`).
pub fn nullable_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?.map(|n| to_u32(&n)).transpose().map(Some)
}

fn to_u32<E: serde::de::Error>(n: &serde_json::Number) -> Result<u32, E> {
    n.as_u64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64).map(|f| f as u64))
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| E::custom(format!("{n} is not a whole number between 0 and {}", u32::MAX)))
}

/// `201 Created` with a JSON body.
pub fn created<T: Serialize>(body: T) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}
