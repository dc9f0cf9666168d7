//! Turning request headers into a [`Principal`].

use axum::http::{header, HeaderMap};

use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::services::{api_keys, sessions};
use crate::state::AppState;

/// Name of the HttpOnly session cookie.
pub const SESSION_COOKIE: &str = "sy_session";

/// The session token in the request's cookies, if any.
pub fn session_cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(|c| c.ok())
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_string())
}

/// Resolves an `Authorization: Bearer …` value (without the scheme).
pub async fn authenticate_token(st: &AppState, token: &str) -> Result<Principal> {
    api_keys::authenticate(&st.db, &st.secret, token.trim()).await
}

/// The caller of a request: an API key if an `Authorization` header is
/// present (UNAUTHORIZED when it is bad), else a valid session cookie, else
/// nobody. A stale cookie is treated as no cookie.
pub async fn authenticate(st: &AppState, headers: &HeaderMap) -> Result<Option<Principal>> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| Error::Unauthorized("Malformed Authorization header".into()))?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t)
            .ok_or_else(|| Error::Unauthorized("Use 'Authorization: Bearer <API key>'".into()))?;
        return authenticate_token(st, token).await.map(Some);
    }
    match session_cookie_token(headers) {
        Some(token) => sessions::resolve(&st.db, &st.secret, &token).await,
        None => Ok(None),
    }
}
