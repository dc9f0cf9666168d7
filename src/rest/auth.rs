//! Browser sign-in: `POST /auth/login`, `POST /auth/logout`,
//! `POST /auth/setup` (one-time setup links), `GET /auth/session`, and
//! invitations: `GET /auth/invite` (what a link is for) and
//! `POST /auth/invite/accept` (create the account, or accept signed in).
//! Sessions live in an HttpOnly, SameSite=Strict cookie; every POST needs the
//! CSRF header.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{require_csrf_header, ClientAddr, Http, JsonBody};
use crate::auth::{authenticate_session, session_cookie_token, SESSION_COOKIE};
use crate::error::{Error, Result};
use crate::services::{invitations, members, sessions, workspaces};

pub fn router() -> Router<Http> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/setup", post(setup))
        .route("/auth/session", get(session))
        .route("/auth/invite", get(invite))
        .route("/auth/invite/accept", post(accept_invite))
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

#[derive(Deserialize)]
struct InviteQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
struct AcceptInviteBody {
    token: String,
    /// Present to create a new account; absent to accept signed in.
    password: Option<String>,
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
    let p = authenticate_session(&h.app, &token).await?.ok_or_else(|| Error::Unauthorized("Not signed in".into()))?;
    let user = members::me(&h.app.db, &p).await?;
    let ws = workspaces::current(&h.app.db, &p).await?;
    Ok(Json(json!({
        "user": { "id": user.id, "email": user.email, "name": user.name },
        "workspace": { "id": ws.id, "name": ws.name },
        "role": p.role.as_str(),
    })))
}

/// What an invitation link is for: the workspace, the invited address, the
/// role and the expiry. It says nothing about whether an account exists for
/// the address: the inviting owner holds the link too, and must not learn
/// that about people outside the workspace.
async fn invite(State(h): State<Http>, Query(q): Query<InviteQuery>) -> Result<Json<serde_json::Value>> {
    let v = invitations::preview(&h.app, &q.token).await?;
    Ok(Json(json!({
        "workspaceName": v.workspace.name,
        "email": v.invitation.email,
        "role": invitations::role_of(&v.invitation).as_str(),
        "expiresAt": v.invitation.expires_at,
    })))
}

/// Accepts an invitation. With a `password`, creates the invited address's
/// account (refused if it already has one) and signs in; without, accepts
/// for the signed-in user, whose address must be the invited one, and moves
/// their session to the workspace.
async fn accept_invite(
    State(h): State<Http>,
    client: ClientAddr,
    headers: HeaderMap,
    JsonBody(body): JsonBody<AcceptInviteBody>,
) -> Result<Response> {
    require_csrf_header(&headers)?;
    h.app.address_limiter.check(&client.limit_key()).await?;
    h.app.login_limiter.check(&format!("invite:{}", body.token.get(..8).unwrap_or(""))).await?;
    let accepted = match &body.password {
        Some(password) => {
            invitations::accept_with_new_account(&h.app, &body.token, password, body.name.as_deref()).await?
        }
        None => {
            let p = match session_cookie_token(&headers) {
                Some(token) => authenticate_session(&h.app, &token).await?,
                None => None,
            }
            .ok_or_else(|| {
                Error::Unauthorized(
                    "Sign in to accept this invitation, or give a password to create a new account".into(),
                )
            })?;
            invitations::accept_signed_in(&h.app, &p, &body.token).await?
        }
    };
    let mut resp = Json(json!({
        "success": true,
        "workspace": { "id": accepted.workspace.id, "name": accepted.workspace.name },
        "role": accepted.role.as_str(),
    }))
    .into_response();
    if let Some(token) = &accepted.session_token {
        let max_age = h.app.config.session_hours * 3600;
        resp.headers_mut().insert(header::SET_COOKIE, session_cookie(&h, token, max_age));
    }
    Ok(resp)
}
