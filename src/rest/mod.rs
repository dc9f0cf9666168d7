//! The HTTP surface: GraphQL over HTTP and WebSocket, browser sign-in,
//! static pages and health checks, each module exposing `router()`.

mod auth;
mod connect;
mod data;
mod graphql;
mod graphql_ws;
mod health;
mod idempotency;
mod metrics;
mod oauth;
mod openapi;
mod pages;
pub mod v1;

pub use data::api::NO_NUL;
pub use openapi::document as openapi_document;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::Router;
use serde::de::DeserializeOwned;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::Error;
use crate::state::AppState;

/// Router state: the application plus the built schema, behind one `Arc`.
/// axum clones the state for every handler and every `from_fn_with_state`
/// layer a request passes, and each clone of a shared reference count is
/// a cache line the two cores pass back and forth (measured at 2% of the
/// server's time in `bench ingest` with three counts per clone).
#[derive(Clone)]
pub struct Http(Arc<HttpParts>);

pub struct HttpParts {
    pub app: AppState,
    pub schema: crate::graphql::Api,
}

impl std::ops::Deref for Http {
    type Target = HttpParts;

    fn deref(&self) -> &HttpParts {
        &self.0
    }
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

/// The whole application router (`/metrics` included unless it has a
/// listener of its own, see [`metrics_router`]).
pub fn router(app: AppState) -> Router {
    let http = Http::new(app);
    let app = &http.app;
    let max_body = app.config.graphql_max_body_bytes;
    let mut router = Router::new().merge(health::router());
    if app.config.metrics_listen.is_none() {
        router = router.merge(metrics::router());
    }
    if app.config.role.serves_api() {
        router = router
            .merge(graphql::router(max_body))
            .merge(auth::router())
            .merge(pages::router())
            .merge(data::router())
            .merge(oauth::router())
            .merge(v1::router(&http))
            .merge(openapi::router())
            .merge(connect::router());
    }
    // Unknown paths and methods answer in their family's error shape
    // (`Allow` still lists the methods a path takes).
    let router = router.fallback(not_found).method_not_allowed_fallback(method_not_allowed);
    finish(router, http)
}

/// Which error shape a path's clients read: GraphQL's `errors`, seed 002's
/// `{"error": …}` on `/v1`, the data API's `{"success": false, …}` under
/// `/api/`; other paths (pages, health, the OAuth protocol routes) answer
/// with a status alone.
#[derive(Clone, Copy)]
enum ErrorShape {
    GraphQl,
    V1,
    DataApi,
    Bare,
}

impl ErrorShape {
    fn of(path: &str) -> Self {
        match path {
            "/graphql" => Self::GraphQl,
            // The OAuth protocol routes answer in RFC 6749's shape, not seed 002's.
            p if p.starts_with("/v1/oauth/") => Self::Bare,
            p if p.starts_with("/v1/") => Self::V1,
            p if p.starts_with("/api/") => Self::DataApi,
            _ => Self::Bare,
        }
    }

    fn answer(self, e: Error) -> axum::response::Response {
        use axum::response::IntoResponse;
        match self {
            Self::GraphQl => graphql::error_response(e),
            Self::V1 => v1::ApiError(e).into_response(),
            Self::DataApi => e.into_response(),
            Self::Bare => e.status().into_response(),
        }
    }
}

async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    ErrorShape::of(uri.path()).answer(Error::NotFound("Route"))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    let why = format!("{method} is not allowed on this path: see the `Allow` header");
    let mut resp = ErrorShape::of(uri.path()).answer(Error::invalid(why));
    *resp.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    resp
}

/// The router of the metrics listener (`SWITCHYARD_METRICS_LISTEN`): `/metrics` alone.
pub fn metrics_router(app: AppState) -> Router {
    finish(metrics::router(), Http::new(app))
}

impl Http {
    /// The router state: the application and its built schema.
    fn new(app: AppState) -> Self {
        let schema = crate::graphql::build(app.clone());
        Self(Arc::new(HttpParts { app, schema }))
    }
}

/// The layers every route shares: metrics, tracing, request ids and the
/// body timeout.
fn finish(router: Router<Http>, http: Http) -> Router {
    let body_timeout = Duration::from_secs(http.app.config.body_timeout_seconds);
    let request_id = HeaderName::from_static("x-request-id");
    router
        .layer(axum::middleware::from_fn_with_state(http.clone(), idempotency::guard))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .layer(axum::middleware::from_fn_with_state(http.clone(), metrics::track))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %logged_path(req), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, UlidRequestId))
        .with_state(http)
}

/// The path a request's trace span records: its route (`/hooks/{id}/{token}`),
/// never the values in it, which may be credentials (an incoming webhook's
/// URL token). A path no route matched is kept only up to a `/hooks/` prefix.
fn logged_path(req: &Request) -> String {
    if let Some(route) = req.extensions().get::<axum::extract::MatchedPath>() {
        return route.as_str().to_string();
    }
    let path = req.uri().path();
    match path.strip_prefix("/hooks/") {
        Some(_) => "/hooks/…".to_string(),
        None => path.to_string(),
    }
}

/// The client's address, as the accept loop saw it (`None` if the router
/// runs without it). Behind a reverse proxy it is the proxy's.
pub struct ClientAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)))
    }
}

impl ClientAddr {
    fn ip(&self) -> Option<IpAddr> {
        self.0.map(|a| a.ip().to_canonical())
    }

    /// The key of per-address rate limits: an IPv4 address, or the /64 of
    /// an IPv6 one (a single client usually holds a whole /64).
    pub fn limit_key(&self) -> String {
        match self.ip() {
            Some(IpAddr::V4(ip)) => ip.to_string(),
            Some(IpAddr::V6(ip)) => {
                let s = ip.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            None => "unknown".into(),
        }
    }

    /// Whether the client connected from this machine.
    pub fn is_loopback(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_loopback())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_limited_per_ipv4_address_and_per_ipv6_64() {
        let key = |a: &str| ClientAddr(Some(a.parse().unwrap())).limit_key();
        assert_eq!(key("192.0.2.7:5000"), "192.0.2.7");
        assert_eq!(key("[2001:db8:1:2:3:4:5:6]:5000"), "2001:db8:1:2::/64");
        assert_eq!(key("[2001:db8:1:2:ffff::1]:1"), key("[2001:db8:1:2::9]:2"));
        assert_eq!(key("[::ffff:192.0.2.7]:5000"), "192.0.2.7", "IPv4-mapped counts as IPv4");
        assert_eq!(ClientAddr(None).limit_key(), "unknown");
    }

    #[test]
    fn loopback_clients_are_recognised() {
        let lo = |a: &str| ClientAddr(Some(a.parse().unwrap())).is_loopback();
        assert!(lo("127.0.0.1:1") && lo("127.3.2.1:1") && lo("[::1]:1") && lo("[::ffff:127.0.0.1]:1"));
        assert!(!lo("192.0.2.7:1") && !lo("[2001:db8::1]:1") && !ClientAddr(None).is_loopback());
    }
}
