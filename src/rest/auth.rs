//! Browser sign-in: `POST /auth/login`, `POST /auth/logout`,
//! `POST /auth/setup` (one-time setup links) and `GET /auth/session`.
//! Sessions live in an HttpOnly, SameSite=Strict cookie; every POST needs the
//! CSRF header.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{require_csrf_header, ClientAddr, Http, JsonBody};
use crate::auth::{session_cookie_token, SESSION_COOKIE};
use crate::error::{Error, Result};
use crate::services::{members, sessions, workspaces};

pub fn router() -> Router<Http> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/setup", post(setup))
        .route("/auth/session", get(session))
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct SetupBody {
    token: String,
    password: String,
    name: Option<String>,
}

fn session_cookie(h: &Http, token: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if h.app.config.secure_cookies() { "; Secure" } else { "" };
    let v = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&v).expect("cookie value is ASCII")
}

fn signed_in(h: &Http, token: &str) -> Response {
    let mut resp = Json(json!({ "success": true })).into_response();
    let max_age = h.app.config.session_hours * 3600;
    resp.headers_mut().insert(header::SET_COOKIE, session_cookie(h, token, max_age));
    resp
}

async fn login(
    State(h): State<Http>,
    client: ClientAddr,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response> {
    require_csrf_header(&headers)?;
    // Each attempt costs a password hash: limited per client address (made-up
    // accounts) and per account (password guessing, 10 tries a minute).
    h.app.address_limiter.check(&client.limit_key()).await?;
    h.app.login_limiter.check(&body.email.trim().to_lowercase()).await?;
    let token = sessions::login(&h.app, &body.email, &body.password).await?;
    Ok(signed_in(&h, &token))
}

async fn logout(State(h): State<Http>, headers: HeaderMap) -> Result<Response> {
    require_csrf_header(&headers)?;
    if let Some(token) = session_cookie_token(&headers) {
        sessions::logout(&h.app, &token).await?;
    }
    let mut resp = Json(json!({ "success": true })).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, session_cookie(&h, "", 0));
    Ok(resp)
}

async fn setup(
    State(h): State<Http>,
    client: ClientAddr,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SetupBody>,
) -> Result<Response> {
    require_csrf_header(&headers)?;
    h.app.address_limiter.check(&client.limit_key()).await?;
    h.app.login_limiter.check(&format!("setup:{}", body.token.get(..8).unwrap_or(""))).await?;
    let token = sessions::complete_setup(&h.app, &body.token, &body.password, body.name.as_deref()).await?;
    Ok(signed_in(&h, &token))
}

/// Who is signed in (for the browser pages); 401 if nobody.
async fn session(State(h): State<Http>, headers: HeaderMap) -> Result<Json<serde_json::Value>> {
    let token = session_cookie_token(&headers).ok_or_else(|| Error::Unauthorized("Not signed in".into()))?;
    let p = sessions::resolve(&h.app.db, &h.app.secret, &token)
        .await?
        .ok_or_else(|| Error::Unauthorized("Not signed in".into()))?;
    let user = members::me(&h.app.db, &p).await?;
    let ws = workspaces::current(&h.app.db, &p).await?;
    Ok(Json(json!({
        "user": { "id": user.id, "email": user.email, "name": user.name },
        "workspace": { "id": ws.id, "name": ws.name },
        "role": p.role.as_str(),
    })))
}
