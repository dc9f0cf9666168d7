//! `GET /metrics` (Prometheus) and the middleware that counts HTTP requests.
//!
//! Who may scrape: with `SWITCHYARD_METRICS_TOKEN`, whoever sends it as a
//! bearer token; otherwise, with `SWITCHYARD_METRICS_LISTEN`, whoever reaches
//! that listener; otherwise only clients on this machine (loopback).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ClientAddr, Http};
use crate::error::{Error, Result};
use crate::metrics::HttpLabels;

pub fn router() -> Router<Http> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(h): State<Http>, client: ClientAddr, headers: HeaderMap) -> Result<Response> {
    allowed(&h, &client, &headers)?;
    let kinds = h.app.registry.kinds();
    let stats = h.app.queue.stats(&kinds).await.unwrap_or_else(|e| {
        tracing::warn!(cause = %e, "queue stats unavailable for /metrics");
        vec![]
    });
    let workers = h.app.queue.live_workers().await.unwrap_or(0);
    let body = h.app.metrics.render(&stats, workers);
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response())
}

fn allowed(h: &Http, client: &ClientAddr, headers: &HeaderMap) -> Result<()> {
    let cfg = &h.app.config;
    if let Some(expected) = &cfg.metrics_token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        return if token_matches(sent, expected) {
            Ok(())
        } else {
            Err(Error::Unauthorized("/metrics needs the metrics bearer token".into()))
        };
    }
    if cfg.metrics_listen.is_some() || client.is_loopback() {
        return Ok(());
    }
    Err(Error::Forbidden(
        "/metrics answers loopback clients only; set SWITCHYARD_METRICS_TOKEN or SWITCHYARD_METRICS_LISTEN".into(),
    ))
}

/// Constant-time comparison of digests, so neither the token's content nor
/// its length shows in the timing.
fn token_matches(sent: &str, expected: &str) -> bool {
    Sha256::digest(sent.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into()
}

/// The method as a label from a closed set: anything else is `OTHER`, so
/// made-up methods cannot grow the metrics.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Counts every request by method, matched route template and status: all
/// closed sets, whatever the client sends.
pub async fn track(State(h): State<Http>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    let resp = next.run(req).await;
    let labels = HttpLabels { method, route, status: resp.status().as_u16() };
    h.app.metrics.http_request(labels, started.elapsed());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_known_set_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        assert_eq!(method_label(&Method::from_bytes(b"MADEUP1").unwrap()), "OTHER");
        assert_eq!(method_label(&Method::CONNECT), "OTHER");
        assert_eq!(method_label(&Method::TRACE), "OTHER");
    }

    #[test]
    fn the_token_must_match_exactly() {
        assert!(token_matches("s3cret-token-0123", "s3cret-token-0123"));
        assert!(!token_matches("s3cret-token-0124", "s3cret-token-0123"));
        assert!(!token_matches("", "s3cret-token-0123"));
        assert!(!token_matches("s3cret-token-0123x", "s3cret-token-0123"));
    }
}
