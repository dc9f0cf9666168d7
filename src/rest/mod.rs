//! The HTTP surface: GraphQL over HTTP and WebSocket, browser sign-in,
//! static pages and health checks, each module exposing `router()`.

mod auth;
mod data;
mod graphql;
mod health;
mod metrics;
mod pages;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::Router;
use serde::de::DeserializeOwned;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::Error;
use crate::graphql::AppSchema;
use crate::state::AppState;

/// Router state: the application plus the built schema.
#[derive(Clone)]
pub struct Http {
    pub app: AppState,
    pub schema: AppSchema,
}

/// Header a browser page must send with cookie-authenticated writes. A
/// cross-site form or `fetch` cannot set it without a CORS preflight, which
/// this server never grants, so cookie sessions are safe from CSRF.
pub const CSRF_HEADER: &str = "x-switchyard-csrf";

/// FORBIDDEN unless the CSRF header is present.
pub fn require_csrf_header(headers: &HeaderMap) -> Result<(), Error> {
    if headers.contains_key(CSRF_HEADER) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!("Cookie-authenticated requests must send the {CSRF_HEADER} header")))
    }
}

/// The whole application router.
pub fn router(app: AppState) -> Router {
    let schema = crate::graphql::build(app.clone());
    let max_body = app.config.graphql_max_body_bytes;
    let request_id = HeaderName::from_static("x-request-id");
    let mut router = Router::new().merge(health::router()).merge(metrics::router());
    if app.config.role.serves_api() {
        router =
            router.merge(graphql::router(max_body)).merge(auth::router()).merge(pages::router()).merge(data::router());
    }
    let http = Http { app, schema };
    router
        .layer(axum::middleware::from_fn_with_state(http.clone(), metrics::track))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, UlidRequestId))
        .with_state(http)
}

/// Request ids are ULIDs (`x-request-id`), unless the client sent one.
#[derive(Clone, Copy)]
struct UlidRequestId;

impl MakeRequestId for UlidRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ulid::Ulid::new().to_string()).ok().map(RequestId::new)
    }
}

/// A JSON body whose rejections are answered in the REST error shape
/// (415 wrong content type, 413 too large, 400 malformed).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::UnsupportedMediaType),
            Err(JsonRejection::JsonDataError(e)) => Err(Error::invalid(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(Error::invalid(format!("Invalid JSON: {}", e.body_text()))),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::PayloadTooLarge { limit: axum_default_limit() })
            }
            Err(e) => Err(Error::invalid(e.body_text())),
        }
    }
}

/// axum's default body limit (2 MB), used by routes that do not set one.
const fn axum_default_limit() -> usize {
    2 * 1024 * 1024
}
