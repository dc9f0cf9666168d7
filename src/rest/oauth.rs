//! The OAuth 2.0 protocol routes of Switchyard's authorization server:
//!
//! - `GET /oauth/authorize` (RFC 6749 §4.1.1): refuses a bad client or
//!   redirect URI on an error page, sends other bad requests back to the
//!   client, and otherwise serves the consent page.
//! - `GET /oauth/authorize/request` and `POST /oauth/authorize/decision`:
//!   what the consent page reads and answers (same origin, session cookie
//!   and CSRF header). The page asks the server over `fetch` because the
//!   session cookie is `SameSite=Strict`: a navigation that started on the
//!   client's site does not carry it, a same-origin `fetch` does.
//! - `POST /oauth/token` (RFC 6749 §3.2, form or JSON body; client
//!   authentication by HTTP Basic or body parameters), `POST /oauth/revoke`
//!   (RFC 7009), `POST /oauth/introspect` (RFC 7662) and
//!   `GET /.well-known/oauth-authorization-server` (RFC 8414).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::{require_csrf_header, Http, JsonBody};
use crate::auth::{authenticate_session, session_cookie_token, Scope};
use crate::error::{Error, Result};
use crate::services::oauth::authorize::{self, AuthorizeParams, Decision, Refusal};
use crate::services::oauth::tokens::{self, ClientAuth, OAuthError};

const CONSENT: &str = include_str!("../../playground/consent.html");

pub fn router() -> Router<Http> {
    Router::new()
        .route("/oauth/authorize", get(authorize_page))
        .route("/oauth/authorize/request", get(authorize_request))
        .route("/oauth/authorize/decision", post(authorize_decision))
        .route("/oauth/token", post(token).options(preflight))
        .route("/oauth/revoke", post(revoke).options(preflight))
        .route("/oauth/introspect", post(introspect).options(preflight))
        .route("/.well-known/oauth-authorization-server", get(metadata).options(preflight))
        .layer(axum::middleware::map_response(open_to_any_origin))
}

/// The token, revocation, introspection and metadata endpoints may be
/// called from a browser app on any origin (a public client in a web page):
/// they take no cookies, so answering every origin gives nothing away. The
/// authorization and consent routes are same-origin only.
async fn open_to_any_origin(req_path: axum::extract::OriginalUri, mut resp: Response) -> Response {
    let path = req_path.path();
    if path.starts_with("/oauth/token")
        || path.starts_with("/oauth/revoke")
        || path.starts_with("/oauth/introspect")
        || path.starts_with("/.well-known/")
    {
        resp.headers_mut().insert("access-control-allow-origin", HeaderValue::from_static("*"));
    }
    resp
}

/// CORS preflight of the endpoints above.
async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            ("access-control-allow-methods", "GET, POST"),
            ("access-control-allow-headers", "authorization, content-type"),
            ("access-control-max-age", "600"),
        ],
    )
        .into_response()
}

fn parse_params(query: Option<&str>) -> AuthorizeParams {
    serde_urlencoded_params(query.unwrap_or(""))
}

/// The authorize parameters of a query string (a repeated name keeps its first value).
fn serde_urlencoded_params(query: &str) -> AuthorizeParams {
    let mut p = AuthorizeParams::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "response_type" => &mut p.response_type,
            "client_id" => &mut p.client_id,
            "redirect_uri" => &mut p.redirect_uri,
            "scope" => &mut p.scope,
            "state" => &mut p.state,
            "code_challenge" => &mut p.code_challenge,
            "code_challenge_method" => &mut p.code_challenge_method,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(v.into_owned());
        }
    }
    p
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Headers that keep the consent page out of frames (against clickjacking)
/// and its address out of other sites' referrers.
fn page_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("content-security-policy", HeaderValue::from_static("frame-ancestors 'none'"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The page shown instead of redirecting to a client that cannot be trusted.
fn error_page(message: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Authorization failed — Switchyard</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/playground/style.css\"></head>\
         <body class=\"sy-page\"><main class=\"sy-card\"><p class=\"sy-brand\">Switchyard</p>\
         <h1>Authorization failed</h1><div class=\"sy-error\" role=\"alert\" id=\"sy-oauth-error\">{}</div>\
         <p class=\"sy-footnote\">Tell the app's developer; nothing was shared with it.</p></main></body></html>",
        escape_html(message)
    );
    let mut resp = (StatusCode::BAD_REQUEST, Html(html)).into_response();
    page_headers(&mut resp);
    resp
}

/// The authorization request's query parameters (RFC 6749 §4.1.1, PKCE).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct AuthorizeQuery {
    /// `code`.
    response_type: Option<String>,
    /// The app's `client_…`.
    client_id: Option<String>,
    /// One of the app's registered redirect URIs.
    redirect_uri: Option<String>,
    /// Space-separated scopes (`read write`); default: the app's.
    scope: Option<String>,
    /// Returned unchanged to the redirect URI.
    state: Option<String>,
    /// PKCE: base64url SHA-256 of the verifier (required for public apps).
    code_challenge: Option<String>,
    /// `S256`.
    code_challenge_method: Option<String>,
}

#[utoipa::path(get, path = "/oauth/authorize", tag = "oauth-protocol", params(AuthorizeQuery),
    responses((status = 200, description = "The consent page", content_type = "text/html", body = String),
              (status = 302, description = "Back to the client with an error (`error`, `state`)"),
              (status = 400, description = "Unknown client or redirect URI: an error page", content_type = "text/html", body = String)),
    description = "Starts the authorization code flow: the signed-in user sees the consent page.")]
pub(crate) async fn authorize_page(State(h): State<Http>, RawQuery(q): RawQuery) -> Response {
    let params = parse_params(q.as_deref());
    match authorize::check(&h.app, &params).await {
        Ok(Ok(_)) => {
            let mut resp = Html(CONSENT).into_response();
            page_headers(&mut resp);
            resp
        }
        Ok(Err(Refusal::Page(msg))) => error_page(&msg),
        Ok(Err(Refusal::Redirect(to))) => found(&to),
        Err(e) => error_page(&e.public_message()),
    }
}

/// `302 Found` to `to`, as RFC 6749 §4.1.2.1 shows it.
fn found(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => error_page("The redirect URI cannot be used."),
    }
}

/// The signed-in user of a consent-page request (CSRF header required).
async fn consent_user(h: &Http, headers: &HeaderMap) -> Result<String> {
    require_csrf_header(headers)?;
    let token = session_cookie_token(headers).ok_or_else(|| Error::Unauthorized("Sign in first".into()))?;
    let p = authenticate_session(&h.app, &token).await?.ok_or_else(|| Error::Unauthorized("Sign in first".into()))?;
    Ok(p.user_id.clone())
}

/// What the consent page shows: `{"consent": …}`, or `{"redirectTo": …}`
/// when the browser goes back to the client at once (an earlier consent
/// covers the request, or it is refused), or `{"error": …}`.
async fn authorize_request(State(h): State<Http>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response> {
    let params = parse_params(q.as_deref());
    let checked = match authorize::check(&h.app, &params).await? {
        Ok(c) => c,
        Err(Refusal::Page(msg)) => return Ok((StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()),
        Err(Refusal::Redirect(to)) => return Ok(Json(json!({ "redirectTo": to })).into_response()),
    };
    let user = consent_user(&h, &headers).await?;
    Ok(match authorize::decide(&h.app, &checked, &user).await? {
        Ok(Decision::Ask(view)) => Json(json!({ "consent": view })).into_response(),
        Ok(Decision::Redirect(to)) | Err(Refusal::Redirect(to)) => Json(json!({ "redirectTo": to })).into_response(),
        Err(Refusal::Page(msg)) => (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response(),
    })
}

#[derive(Deserialize)]
struct DecisionBody {
    /// The query string of the authorization request, as the page got it.
    query: String,
    approve: bool,
}

/// The user's answer: `{"redirectTo": …}` with a code or `access_denied`.
async fn authorize_decision(
    State(h): State<Http>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Response> {
    let user = consent_user(&h, &headers).await?;
    let params = serde_urlencoded_params(body.query.trim_start_matches('?'));
    let checked = match authorize::check(&h.app, &params).await? {
        Ok(c) => c,
        Err(Refusal::Page(msg)) => return Ok((StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()),
        Err(Refusal::Redirect(to)) => return Ok(Json(json!({ "redirectTo": to })).into_response()),
    };
    let to = authorize::answer(&h.app, &checked, &user, body.approve).await?;
    Ok(Json(json!({ "redirectTo": to })).into_response())
}

/// Parameters of the token, revocation and introspection endpoints.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct TokenParams {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// The token to revoke or introspect (`token_type_hint` is not needed:
    /// a token's kind is known from the token itself).
    token: Option<String>,
}

/// An OAuth error response (RFC 6749 §5.2), never cached.
fn oauth_error(e: OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, Json(json!({ "error": e.error, "error_description": e.description }))).into_response();
    no_store(&mut resp);
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"switchyard\""));
    }
    resp
}

fn no_store(resp: &mut Response) {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The body as form fields (RFC 6749) or as JSON (seed 002's examples).
fn parse_body(headers: &HeaderMap, body: &Bytes) -> std::result::Result<TokenParams, OAuthError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => serde_json::from_slice(body)
            .map_err(|e| OAuthError::new("invalid_request", format!("The JSON body is malformed: {e}"))),
        "application/x-www-form-urlencoded" | "" => {
            let mut fields = serde_json::Map::new();
            for (k, v) in form_urlencoded::parse(body) {
                if fields.contains_key(k.as_ref()) {
                    return Err(OAuthError::new("invalid_request", format!("'{k}' is repeated")));
                }
                fields.insert(k.into_owned(), serde_json::Value::String(v.into_owned()));
            }
            serde_json::from_value(serde_json::Value::Object(fields))
                .map_err(|e| OAuthError::new("invalid_request", e.to_string()))
        }
        other => Err(OAuthError::new(
            "invalid_request",
            format!("Unsupported content type '{other}'; use application/x-www-form-urlencoded or application/json"),
        )),
    }
}

/// The client's credentials: HTTP Basic (RFC 6749 §2.3.1, form-encoded id
/// and secret) or `client_id`/`client_secret` in the body, not both.
fn client_auth(headers: &HeaderMap, p: &TokenParams) -> std::result::Result<ClientAuth, OAuthError> {
    let bad = || OAuthError::new("invalid_client", "Malformed HTTP Basic credentials");
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| bad())?;
        let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else {
            return Err(OAuthError::new("invalid_client", "Use HTTP Basic client authentication"));
        };
        if p.client_secret.is_some() {
            return Err(OAuthError::new("invalid_request", "Use one client authentication method, not two"));
        }
        let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).map_err(|_| bad())?).map_err(|_| bad())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
        let decode = |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        let id = decode(id).ok_or_else(bad)?;
        if p.client_id.as_deref().is_some_and(|b| b != id) {
            return Err(OAuthError::new("invalid_request", "client_id differs from the authenticated client"));
        }
        return Ok(ClientAuth { client_id: Some(id), client_secret: decode(secret).filter(|s| !s.is_empty()) });
    }
    Ok(ClientAuth { client_id: p.client_id.clone(), client_secret: p.client_secret.clone() })
}

/// RFC 6749 §5.1's successful answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenAnswer {
    access_token: String,
    /// `Bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// Absent for client credentials.
    refresh_token: Option<String>,
    /// Space-separated granted scopes.
    scope: String,
}

/// RFC 6749 §5.2's error answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`, …
    error: String,
    error_description: String,
}

#[utoipa::path(post, path = "/oauth/token", tag = "oauth-protocol",
    request_body(content((TokenParams = "application/x-www-form-urlencoded"), (TokenParams = "application/json"))),
    responses((status = 200, body = TokenAnswer), (status = 400, body = OAuthErrorBody),
              (status = 401, description = "Client authentication failed", body = OAuthErrorBody)),
    description = "Grants: `authorization_code` (with `code_verifier` for PKCE), `refresh_token` (rotated on every use), `client_credentials`. The client authenticates with HTTP Basic or `client_id`/`client_secret` in the body.")]
pub(crate) async fn token(State(h): State<Http>, headers: HeaderMap, body: Bytes) -> Response {
    let run = async {
        let p = parse_body(&headers, &body)?;
        let app = tokens::authenticate_client(&h.app, &client_auth(&headers, &p)?).await?;
        match p.grant_type.as_deref() {
            Some("authorization_code") => {
                tokens::exchange_code(
                    &h.app,
                    &app,
                    p.code.as_deref(),
                    p.redirect_uri.as_deref(),
                    p.code_verifier.as_deref(),
                )
                .await
            }
            Some("refresh_token") => {
                tokens::refresh(&h.app, &app, p.refresh_token.as_deref(), p.scope.as_deref()).await
            }
            Some("client_credentials") => tokens::client_credentials(&h.app, &app, p.scope.as_deref()).await,
            Some(_) => Err(OAuthError::new(
                "unsupported_grant_type",
                "Use authorization_code, refresh_token or client_credentials",
            )),
            None => Err(OAuthError::new("invalid_request", "grant_type is missing")),
        }
    };
    match run.await {
        Ok(answer) => {
            let mut resp = Json(answer).into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => oauth_error(e),
    }
}

#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth-protocol",
    request_body(content((TokenParams = "application/x-www-form-urlencoded"), (TokenParams = "application/json"))),
    responses((status = 200, description = "Revoked (or unknown: RFC 7009 §2.2)"), (status = 400, body = OAuthErrorBody),
              (status = 401, description = "Client authentication failed", body = OAuthErrorBody)),
    description = "RFC 7009: revokes an access or refresh token (`token`) and its grant.")]
pub(crate) async fn revoke(State(h): State<Http>, headers: HeaderMap, body: Bytes) -> Response {
    let run = async {
        let p = parse_body(&headers, &body)?;
        let app = tokens::authenticate_client(&h.app, &client_auth(&headers, &p)?).await?;
        let token = p.token.ok_or_else(|| OAuthError::new("invalid_request", "token is missing"))?;
        tokens::revoke(&h.app, &app, &token).await?;
        Ok::<_, OAuthError>(())
    };
    match run.await {
        Ok(()) => {
            let mut resp = StatusCode::OK.into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => oauth_error(e),
    }
}

#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth-protocol",
    request_body(content((TokenParams = "application/x-www-form-urlencoded"), (TokenParams = "application/json"))),
    responses((status = 200, description = "RFC 7662 §2.2: `{\"active\": false}` or the token's details", body = Object),
              (status = 400, body = OAuthErrorBody), (status = 401, description = "Client authentication failed", body = OAuthErrorBody)),
    description = "RFC 7662: what a token is and whether it is active.")]
pub(crate) async fn introspect(State(h): State<Http>, headers: HeaderMap, body: Bytes) -> Response {
    let run = async {
        let p = parse_body(&headers, &body)?;
        let app = tokens::authenticate_client(&h.app, &client_auth(&headers, &p)?).await?;
        let token = p.token.ok_or_else(|| OAuthError::new("invalid_request", "token is missing"))?;
        Ok::<_, OAuthError>(tokens::introspect(&h.app, &app, &token).await?)
    };
    match run.await {
        Ok(answer) => {
            let mut resp = Json(answer).into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => oauth_error(e),
    }
}

/// RFC 8414: where everything is and what is supported.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth-protocol",
    responses((status = 200, description = "RFC 8414 metadata", body = Object)))]
pub(crate) async fn metadata(State(h): State<Http>) -> Response {
    let base = h.app.config.public_url();
    let base = base.trim_end_matches('/');
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded_and_not_doubled() {
        let mut headers = HeaderMap::new();
        let creds = STANDARD.encode("client_a%2Bb:se%3Acret");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Basic {creds}")).unwrap());
        let auth = client_auth(&headers, &TokenParams::default()).unwrap();
        assert_eq!(auth.client_id.as_deref(), Some("client_a+b"));
        assert_eq!(auth.client_secret.as_deref(), Some("se:cret"));
        let doubled = TokenParams { client_secret: Some("x".into()), ..Default::default() };
        assert_eq!(client_auth(&headers, &doubled).unwrap_err().error, "invalid_request");
    }

    #[test]
    fn form_and_json_bodies_parse_alike() {
        let mut form = HeaderMap::new();
        form.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        let p = parse_body(&form, &Bytes::from("grant_type=refresh_token&refresh_token=a%20b")).unwrap();
        assert_eq!((p.grant_type.as_deref(), p.refresh_token.as_deref()), (Some("refresh_token"), Some("a b")));
        assert!(parse_body(&form, &Bytes::from("code=a&code=b")).is_err(), "a repeated parameter is refused");
        let mut js = HeaderMap::new();
        js.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let p = parse_body(&js, &Bytes::from(r#"{"grant_type":"authorization_code","code":"c"}"#)).unwrap();
        assert_eq!(p.code.as_deref(), Some("c"));
    }
}
