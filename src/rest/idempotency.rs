//! `Idempotency-Key` on the data API (`POST`, `PUT`, `DELETE`), on the
//! `/v1` management routes (`POST`, `PUT`, `PATCH`, `DELETE`) and on
//! `POST /graphql`: the first answer is kept (encrypted under the server
//! key, since it may hold a secret shown once) and a retry with the same key
//! gets it again (with `Idempotent-Replayed: true`) instead of doing the
//! work twice. The same key with another method, path or body is refused
//! (422, as the IETF `Idempotency-Key` draft has it); a retry while the
//! first still runs gets 409. Answers with a 5xx status are not kept, so a
//! retry runs again; nor is the key when the caller hangs up mid-way.
//! Requests without the header pass straight through. See [`crate::services::idempotency`].

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::Http;
use crate::error::Error;
use crate::services::idempotency::{self, Begin, Claim};

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// Largest request or answer body kept for replays.
const MAX_BODY: usize = 4 * 1024 * 1024;

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

pub async fn guard(State(h): State<Http>, req: Request, next: Next) -> Response {
    let Some(key) = req.headers().get(HEADER).cloned() else { return next.run(req).await };
    let path = req.uri().path();
    let covered = path == "/graphql"
        || path.starts_with("/api/v1/data/")
        || path.starts_with("/api/v1/console/")
        || (path.starts_with("/v1/") && !path.starts_with("/v1/oauth/token") && !path.starts_with("/v1/oauth/revoke"));
    if !covered || !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        return next.run(req).await;
    }
    let family = super::ErrorShape::of(path);
    let shaped = move |e: Error| family.answer(e);
    let key = key.to_str().map(str::trim).unwrap_or_default().to_string();
    if let Err(e) = idempotency::check_key("Idempotency-Key", &key) {
        return shaped(e);
    }
    // The caller: its credential, hashed with the server key. Without one
    // the request goes on and fails authentication as usual.
    let credential = [header::AUTHORIZATION, header::COOKIE]
        .iter()
        .find_map(|n| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string));
    let Some(credential) = credential else { return next.run(req).await };
    let scope = h.app.secret.hash_token(&credential);
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return shaped(Error::PayloadTooLarge { limit: MAX_BODY });
    };
    let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    let fingerprint = hex_sha256(&[parts.method.as_str().as_bytes(), target.as_bytes(), &bytes]);
    let first = match idempotency::begin(&h.app, &scope, &key, &fingerprint).await {
        Ok(Begin::First(id)) => Claim::new(&h.app, id),
        Ok(Begin::Replay { status, content_type, body }) => {
            let body = match h.app.secret.decrypt(&body) {
                Ok(body) => body,
                Err(e) => return shaped(e),
            };
            let mut resp = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return resp;
        }
        Ok(Begin::Mismatch) => {
            let mut resp =
                shaped(Error::invalid_field("Idempotency-Key", "This key was already used for a different request"));
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return resp;
        }
        Ok(Begin::InProgress) => {
            let mut resp =
                shaped(Error::invalid("A request with this Idempotency-Key is still running; retry shortly"));
            *resp.status_mut() = StatusCode::CONFLICT;
            return resp;
        }
        Err(e) => return shaped(e),
    };
    let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (rparts, rbody) = resp.into_parts();
    // Dropping `first` unkept (no answer, a 5xx, a cancelled request)
    // gives the key back.
    let Ok(out) = to_bytes(rbody, MAX_BODY).await else {
        return shaped(Error::internal("the answer could not be kept"));
    };
    if rparts.status.is_server_error() {
        // Given back before the answer goes out, so a retry finds it free.
        first.give_back().await;
    } else {
        let ct = rparts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        // Kept encrypted: an answer may hold a secret shown once.
        let kept = match h.app.secret.encrypt(&String::from_utf8_lossy(&out)) {
            Ok(body) => idempotency::finish(&h.app, first.id(), rparts.status.as_u16(), ct, body).await,
            Err(e) => Err(e),
        };
        match kept {
            Ok(()) => first.kept(),
            Err(e) => tracing::warn!(cause = %e, "idempotency key not stored; a retry will run again"),
        }
    }
    Response::from_parts(rparts, Body::from(out))
}
