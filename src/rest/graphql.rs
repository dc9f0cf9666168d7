//! GraphQL over HTTP (`POST /graphql`) and WebSocket (`/graphql/ws`,
//! `graphql-transport-ws` and legacy `graphql-ws`). Here the caller is
//! resolved, CSRF and the rate limit are checked and usage is counted; the
//! schema does the rest.

use std::sync::Arc;

use async_graphql::http::WebSocketProtocols;
use async_graphql::{BatchRequest, BatchResponse, Data, Executor};
use async_graphql_axum::GraphQLResponse;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;

use super::graphql_ws::Refusal;
use super::{require_csrf_header, Http};
use crate::auth::live::Revoked;
use crate::auth::rate_limit::RateInfo;
use crate::auth::{authenticate, authenticate_token, Credential, LiveCaller, Principal};
use crate::error::{Error, Result, RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};
use crate::events::fanout::{TooSlow, TOO_SLOW_CODE, TOO_SLOW_REASON};

/// Most operations one batched request may carry.
const MAX_BATCH: usize = 10;

pub fn router(max_body: usize) -> Router<Http> {
    Router::new()
        .route("/graphql", get(|| async { Redirect::to("/playground") }).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .layer(DefaultBodyLimit::max(max_body))
}

async fn graphql_post(State(h): State<Http>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let max = h.app.config.graphql_max_body_bytes;
    match execute(&h, &headers, body, max).await {
        Ok(resp) => resp,
        Err((e, key)) => {
            let status = e.status();
            if let Some(key) = key {
                h.app.usage.record(&key, status.as_u16());
            }
            error_response(e)
        }
    }
}

/// Runs one HTTP GraphQL request. On error, also returns the API key to
/// count the failed request against, if the caller was resolved.
async fn execute(
    h: &Http,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    max: usize,
) -> Result<Response, (Error, Option<String>)> {
    let body = body.map_err(|rej| match rej.status() {
        StatusCode::PAYLOAD_TOO_LARGE => (Error::PayloadTooLarge { limit: max }, None),
        _ => (Error::invalid(rej.body_text()), None),
    })?;
    if !is_json(headers) {
        return Err((Error::UnsupportedMediaType, None));
    }
    let principal = authenticate(&h.app, headers).await.map_err(|e| (e, None))?;
    let fail = |e: Error| (e, principal.as_deref().and_then(usage_key).map(str::to_string));
    let rate = match &principal {
        Some(p) => {
            if matches!(p.credential, Credential::Session { .. }) {
                require_csrf_header(headers).map_err(fail)?;
            }
            Some(check_rate(h, p).await.map_err(fail)?)
        }
        None => None,
    };
    let batch: BatchRequest =
        serde_json::from_slice(&body).map_err(|e| fail(Error::invalid(format!("Malformed GraphQL request: {e}"))))?;
    // A batch counts once against the rate limit, so keep batches small.
    if let BatchRequest::Batch(ops) = &batch {
        if ops.len() > MAX_BATCH {
            return Err(fail(Error::invalid(format!("At most {MAX_BATCH} operations per batch"))));
        }
    }
    // The request's data shares the caller (a pointer copy, no clone).
    let batch = match &principal {
        Some(p) => batch.data(Arc::clone(p)),
        None => batch,
    };
    let resp = h.schema.execute_batch(batch).await;
    if let Some(p) = &principal {
        if let Some(key) = usage_key(p) {
            h.app.usage.record(key, outcome_status(&resp));
        }
        if let Credential::OAuthToken { authorization_id: Some(a), .. } = &p.credential {
            h.app.usage.record(a, 200);
        }
    }
    let unauthenticated = principal.is_none() && only_unauthorized(&resp);
    let mut http = GraphQLResponse::from(resp).into_response();
    if unauthenticated {
        // No credential and nothing but "sign in first": the same 401 a bad
        // key gets, so clients handle both alike. The body stays GraphQL's.
        *http.status_mut() = StatusCode::UNAUTHORIZED;
        http.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(r) = rate {
        add_rate_headers(http.headers_mut(), r);
    }
    Ok(http)
}

/// Whether the response has errors and every one of them is UNAUTHORIZED.
fn only_unauthorized(resp: &BatchResponse) -> bool {
    let responses = match resp {
        BatchResponse::Single(r) => std::slice::from_ref(r),
        BatchResponse::Batch(rs) => rs.as_slice(),
    };
    let mut errors = responses.iter().flat_map(|r| r.errors.iter()).peekable();
    errors.peek().is_some()
        && errors.all(|e| {
            let code = e.extensions.as_ref().and_then(|x| x.get("code"));
            code.is_some_and(|c| *c == async_graphql::Value::from("UNAUTHORIZED"))
        })
}

/// What a request's usage is counted against: the API key, or the OAuth
/// app whose token made it. Sessions are not counted.
pub(super) fn usage_key(p: &Principal) -> Option<&str> {
    match &p.credential {
        Credential::ApiKey { id, .. } => Some(id),
        Credential::OAuthToken { app_id, .. } => Some(app_id),
        Credential::Session { .. } => None,
    }
}

/// Counts a request against the caller's budget: 1000 a minute per API
/// key or session, 500 per OAuth grant (seed 002), by default.
pub(super) async fn check_rate(h: &Http, p: &Principal) -> Result<RateInfo> {
    match p.credential {
        Credential::OAuthToken { .. } => {
            h.app.limiter.check_limit(p.rate_key(), h.app.config.oauth_rate_limit_per_minute).await
        }
        _ => h.app.limiter.check(p.rate_key()).await,
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(|m| {
        let m = m.trim();
        m.eq_ignore_ascii_case("application/json") || m.eq_ignore_ascii_case("application/graphql-response+json")
    })
}

/// The status a request is counted with in usage statistics: that of the
/// first error's code, or 200.
fn outcome_status(resp: &BatchResponse) -> u16 {
    let responses = match resp {
        BatchResponse::Single(r) => std::slice::from_ref(r),
        BatchResponse::Batch(rs) => rs.as_slice(),
    };
    responses
        .iter()
        .flat_map(|r| r.errors.iter())
        .find_map(|e| e.extensions.as_ref().and_then(|x| x.get("code")).map(|c| c.to_string()))
        .map(|code| Error::status_for_code(code.trim_matches('"')).as_u16())
        .unwrap_or(200)
}

pub(super) fn add_rate_headers(h: &mut HeaderMap, r: RateInfo) {
    // Seconds until the budget is full again, at the GCRA's steady rate.
    let reset = ((r.limit - r.remaining) as u64 * 60).div_ceil(r.limit as u64);
    h.insert(RATELIMIT_LIMIT, HeaderValue::from(r.limit));
    h.insert(RATELIMIT_REMAINING, HeaderValue::from(r.remaining));
    h.insert(RATELIMIT_RESET, HeaderValue::from(reset));
}

/// An error before execution, in the GraphQL response shape.
pub(super) fn error_response(e: Error) -> Response {
    let mut ext = json!({ "code": e.code() });
    if !e.details().is_empty() {
        ext["details"] = json!(e.details());
    }
    let body = json!({ "errors": [{ "message": e.public_message(), "extensions": ext }] });
    let mut resp = (e.status(), Json(body)).into_response();
    e.add_headers(&mut resp);
    resp
}

/// Whether a cookie-authenticated WebSocket comes from our own pages: its
/// `Origin` must name the host it connects to (blocks cross-site hijacking).
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (host, origin) {
        (Some(host), Some(origin)) => origin.split_once("://").is_some_and(|(_, h)| h == host),
        _ => false,
    }
}

async fn graphql_ws(
    State(h): State<Http>,
    headers: HeaderMap,
    slot: Option<axum::Extension<crate::serve::ConnectionSlot>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = offered_protocol(&headers) else {
        return (StatusCode::BAD_REQUEST, "Sec-WebSocket-Protocol must name graphql-transport-ws or graphql-ws")
            .into_response();
    };
    // A session cookie counts only from a same-origin page; an API key can be
    // sent in the connection_init payload instead.
    let cookie = crate::auth::session_cookie_token(&headers).filter(|_| same_origin(&headers));
    let (app, schema) = (h.app.clone(), h.schema.clone());
    let upgrade = sized_for_small_messages(upgrade, app.config.graphql_max_body_bytes);
    upgrade.protocols([protocol.sec_websocket_protocol()]).on_upgrade(move |socket| {
        let tasks = app.tasks.clone();
        let shutdown = app.shutdown.clone();
        // Ends the connection, whatever the reason: the server shutting down
        // (its parent), the caller losing power (`revoked` says so) or a
        // subscription falling too far behind. One token, so a connection
        // woken for an event looks at one instead of three.
        let stop = shutdown.child_token();
        let revoked = Revoked::new(stop.clone());
        let too_slow = TooSlow(stop.clone());
        tasks.spawn(async move {
            // The socket counts against SWITCHYARD_MAX_CONNECTIONS until it closes.
            let _slot = slot;
            let (mut sink, mut stream) = socket.split();
            let watch = Watch { app: app.clone(), cookie, revoked: revoked.clone(), too_slow: too_slow.clone() };
            let serve = super::graphql_ws::serve(&mut sink, &mut stream, &schema, protocol, move |payload| {
                connection_init(watch, payload)
            });
            // Stops the connection even while a write to a full socket is
            // pending (a lagging subscriber's never would finish). A message
            // on its way to the socket then may not go out before the close
            // frame; the close code tells the client to reconnect, and
            // `events(after:)` replays what it missed.
            let ended = tokio::select! {
                frame = serve => frame,
                _ = stop.cancelled() => None,
            };
            let frame = if shutdown.is_cancelled() {
                Some(CloseFrame { code: 1001, reason: "server shutting down".into() })
            } else if let Some(reason) = revoked.reason() {
                Some(CloseFrame { code: 4403, reason: reason.into() })
            } else if stop.is_cancelled() {
                Some(CloseFrame { code: TOO_SLOW_CODE, reason: TOO_SLOW_REASON.into() })
            } else {
                ended
            };
            if let Some(frame) = frame {
                // A peer that reads nothing gets the frame queued, not waited on.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
            }
        });
        std::future::ready(())
    })
}

/// The first protocol of `Sec-WebSocket-Protocol` this server speaks (the
/// one the upgrade's answer names).
fn offered_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    offered.split(',').find_map(|p| p.trim().parse().ok())
}

/// How long a close frame may wait on a peer that is not reading.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// WebSocket buffers sized for the small messages subscriptions carry,
/// since a process may hold tens of thousands of sockets (tungstenite's
/// defaults reserve 128 KiB to read into per socket and let a message reach
/// 64 MiB). Buffers still grow for a large message, up to the largest
/// GraphQL request accepted over HTTP plus room for the protocol's envelope.
/// The read buffer is also what one read takes at most, and tungstenite
/// fills all of it before each read, so every idle socket holds all of it.
/// 256 bytes take a `ping` or a short `subscribe` in one read; a client
/// writes seldom, and a longer message takes a few reads instead of one.
fn sized_for_small_messages(upgrade: WebSocketUpgrade, max_body: usize) -> WebSocketUpgrade {
    const READ_BUFFER: usize = 256;
    const WRITE_BUFFER: usize = 4 * 1024;
    // A result over the socket may exceed a request; past this much unsent
    // output the socket is dead weight and fails.
    const MAX_UNSENT: usize = 16 * 1024 * 1024;
    let max_message = max_body + 16 * 1024;
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_UNSENT.max(WRITE_BUFFER + 2 * max_message))
        .max_message_size(max_message)
        .max_frame_size(max_message)
}

/// What a connection needs to watch its caller while it is open.
struct Watch {
    app: crate::state::AppState,
    /// The session cookie of the upgrade request, if it counted.
    cookie: Option<String>,
    revoked: Revoked,
    /// Handed to the connection's subscriptions (see `events::fanout`).
    too_slow: TooSlow,
}

/// Resolves the caller of a WebSocket: `Authorization` in the init payload
/// (an API key), else the session cookie of the upgrade request. The
/// connection keeps the credential, not the caller: every operation
/// resolves it again (see `graphql::caller`), and the process's watch
/// (`auth::live`) closes the connection when the caller loses power.
async fn connection_init(watch: Watch, payload: serde_json::Value) -> Result<Data, Refusal> {
    let mut data = Data::default();
    data.insert(watch.too_slow.clone());
    let header = ["Authorization", "authorization"].iter().find_map(|k| payload.get(k).and_then(|v| v.as_str()));
    let caller = match header {
        Some(value) => {
            let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or(value).trim();
            Some(LiveCaller::ApiKey(token.to_string()))
        }
        None => watch.cookie.clone().map(LiveCaller::Session),
    };
    let Some(caller) = caller else { return Ok(data) };
    let principal = match &caller {
        // Bad credentials close the socket with 4403, the protocol's "Forbidden".
        LiveCaller::ApiKey(token) => authenticate_token(&watch.app, token).await.map_err(|e| {
            let code = if matches!(e, Error::Unauthorized(_) | Error::Forbidden(_)) { 4403 } else { 1002 };
            Refusal { code, reason: e.public_message() }
        })?,
        LiveCaller::Session(_) => match caller.resolve(&watch.app).await {
            Ok(Some(p)) => p,
            // A stale cookie counts as no cookie, as over HTTP.
            Ok(None) => return Ok(data),
            Err(e) => return Err(Refusal { code: 1002, reason: e.public_message() }),
        },
    };
    data.insert(caller.clone());
    // Kept in the connection's data, so the watch ends with the connection.
    data.insert(watch.app.live_callers.watch(&watch.app, caller, principal, watch.revoked));
    Ok(data)
}
