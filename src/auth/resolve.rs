//! Turning request headers into a [`Principal`].

use std::sync::Arc;

use axum::http::{header, HeaderMap};

use crate::auth::cache::Kind;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::services::oauth::tokens as oauth_tokens;
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

/// Resolves an `Authorization: Bearer …` value (without the scheme): an
/// API key or an OAuth access token, from the cache when it was verified
/// since the last change. Shared with the cache: a hit allocates nothing.
pub async fn authenticate_token(st: &AppState, token: &str) -> Result<Arc<Principal>> {
    let token = token.trim();
    if oauth_tokens::is_access_token(token) {
        let digest = st.secret.token_digest(token);
        if let Some(p) = st.auth_cache.get(Kind::OAuthToken, &digest) {
            return Ok(p);
        }
        let generation = st.auth_cache.generation();
        let (principal, valid_until) = oauth_tokens::authenticate_hash(&st.db, &digest.hex()).await?;
        let principal = Arc::new(principal);
        st.auth_cache.keep(generation, Kind::OAuthToken, digest, &principal, valid_until);
        return Ok(principal);
    }
    let digest = api_keys::token_digest(&st.secret, token)?;
    if let Some(p) = st.auth_cache.get(Kind::ApiKey, &digest) {
        return Ok(p);
    }
    let generation = st.auth_cache.generation();
    let (principal, valid_until) = api_keys::authenticate_hash(&st.db, &digest.hex()).await?;
    let principal = Arc::new(principal);
    st.auth_cache.keep(generation, Kind::ApiKey, digest, &principal, valid_until);
    Ok(principal)
}

/// The caller behind a session cookie's token, if the session is valid
/// (cached like API keys).
pub async fn authenticate_session(st: &AppState, token: &str) -> Result<Option<Arc<Principal>>> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let digest = st.secret.token_digest(token);
    if let Some(p) = st.auth_cache.get(Kind::Session, &digest) {
        return Ok(Some(p));
    }
    let generation = st.auth_cache.generation();
    let Some((principal, expires_at)) = sessions::lookup_hash(&st.db, &digest.hex()).await? else { return Ok(None) };
    let principal = Arc::new(principal);
    st.auth_cache.keep(generation, Kind::Session, digest, &principal, Some(expires_at));
    Ok(Some(principal))
}

/// The caller of a request: an API key if an `Authorization` header is
/// present (UNAUTHORIZED when it is bad), else a valid session cookie, else
/// nobody. A stale cookie is treated as no cookie.
pub async fn authenticate(st: &AppState, headers: &HeaderMap) -> Result<Option<Arc<Principal>>> {
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
        Some(token) => authenticate_session(st, &token).await,
        None => Ok(None),
    }
}

/// A WebSocket's credential, kept for the connection's life so that every
/// operation runs with the caller as they are now, not as they were when
/// the socket opened.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum LiveCaller {
    /// The API key or OAuth access token sent in `connection_init`.
    ApiKey(String),
    /// The session cookie of the upgrade request.
    Session(String),
}

impl LiveCaller {
    /// The caller now; `None` once the credential stopped working (deleted,
    /// disabled or expired key, ended session, removed member).
    pub async fn resolve(&self, st: &AppState) -> Result<Option<Arc<Principal>>> {
        match self {
            Self::ApiKey(token) => match authenticate_token(st, token).await {
                Ok(p) => Ok(Some(p)),
                Err(Error::Unauthorized(_)) => Ok(None),
                Err(e) => Err(e),
            },
            Self::Session(token) => authenticate_session(st, token).await,
        }
    }
}
