//! The end of a connect: the provider sends the browser to
//! `GET /connect/{provider}/callback`, a page that posts what came back to
//! `POST /connect/{provider}/finish` from this origin. The session cookie
//! is `SameSite=Strict`, so the navigation from the provider's site does
//! not carry it, while the page's same-origin `fetch` does; the attempt's
//! `state` must belong to that same session.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{require_csrf_header, Http, JsonBody};
use crate::auth::{authenticate_session, session_cookie_token, Credential};
use crate::error::{Error, Result};
use crate::services::connections::connect::{self, Callback};
use crate::services::connections::incoming;

const CALLBACK_PAGE: &str = include_str!("../../playground/connect-callback.html");

pub fn router() -> Router<Http> {
    Router::new()
        .route("/connect/{provider}/callback", get(callback_page))
        .route("/connect/{provider}/finish", post(finish))
        .route(
            "/hooks/{id}/{token}",
            post(incoming_hook).layer(axum::extract::DefaultBodyLimit::max(incoming::MAX_BODY_BYTES)),
        )
}

/// A delivery to an incoming-webhooks connection: 202 with the event's id.
async fn incoming_hook(
    State(h): State<Http>,
    Path((id, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response> {
    let evt = incoming::receive(&h.app, &id, &token, &headers, &body).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(json!({ "success": true, "id": evt.id }))).into_response())
}

async fn callback_page() -> Response {
    let mut resp = Html(CALLBACK_PAGE).into_response();
    let h = resp.headers_mut();
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    resp
}

#[derive(Deserialize)]
struct FinishBody {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Stores the connection; answers `{"connection": {id, provider, account}}`.
async fn finish(
    State(h): State<Http>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<FinishBody>,
) -> Result<Response> {
    require_csrf_header(&headers)?;
    let token = session_cookie_token(&headers).ok_or_else(|| Error::Unauthorized("Sign in first".into()))?;
    let p = authenticate_session(&h.app, &token).await?.ok_or_else(|| Error::Unauthorized("Sign in first".into()))?;
    let Credential::Session { id: session_id } = &p.credential else {
        return Err(Error::Unauthorized("Sign in first".into()));
    };
    let cb =
        Callback { code: body.code, state: body.state, error: body.error, error_description: body.error_description };
    let c = connect::finish(&h.app, session_id, &provider, cb).await?;
    Ok(Json(json!({ "connection": { "id": c.id, "provider": c.provider, "account": c.account } })).into_response())
}
