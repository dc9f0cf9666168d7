//! `GET /metrics` (Prometheus) and the middleware that counts HTTP requests.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::Http;
use crate::metrics::HttpLabels;

pub fn router() -> Router<Http> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(h): State<Http>) -> Response {
    let kinds = h.app.registry.kinds();
    let stats = h.app.queue.stats(&kinds).await.unwrap_or_else(|e| {
        tracing::warn!(cause = %e, "queue stats unavailable for /metrics");
        vec![]
    });
    let workers = h.app.queue.live_workers().await.unwrap_or(0);
    let body = h.app.metrics.render(&stats, workers);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

/// Counts every request by method, matched route and status.
pub async fn track(State(h): State<Http>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    let resp = next.run(req).await;
    let labels = HttpLabels { method, route, status: resp.status().as_u16() };
    h.app.metrics.http_request(labels, started.elapsed());
    resp
}
