//! The REST data API of seed 001: `POST /api/v1/data/{slug}` and
//! `GET|PUT|DELETE /api/v1/data/{slug}/{record_id}`, with `tm_test_…` /
//! `tm_live_…` keys. Every answer has the seed's shape: `202 {"success":
//! true, "id", "message": "Request queued"}` or `{"success": false, "error",
//! "details": [{"field", "error"}]}` with the documented status. The types
//! the handlers read and answer, and the OpenAPI document generated from
//! them and from the handlers' `#[utoipa::path]`s, are in [`api`].

pub mod answers;
pub mod api;
pub mod doc;

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use utoipa::OpenApi;

use self::api::{CallbackHeaders, DataFailure, EndpointPath, Queued, Record, RecordBody, RecordPath};
use super::Http;
use crate::error::{Error, Result};
use crate::services::data_cache::{self, Endpoint};
use crate::services::data_endpoints as endpoints;
use crate::services::records::{self, Change, Operation};

/// Largest accepted request body (seed 001: 100 KB).
pub const MAX_BODY: usize = 100 * 1024;

pub fn router() -> Router<Http> {
    Router::new()
        .route("/api/v1/data/{slug}", post(create))
        .route("/api/v1/data/{slug}/{record_id}", get(read).put(replace).delete(remove))
        .route("/api/v1/console/{slug}", post(console_create))
        .route("/api/v1/console/{slug}/{record_id}", get(console_read).put(console_replace).delete(console_remove))
        .route("/api/v1/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// The data API's part of the OpenAPI document, as served alone (built once).
pub fn document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut value = serde_json::to_value(doc::DataApi::openapi()).expect("the document serializes");
        value["servers"] = serde_json::json!([{ "url": "/" }]);
        doc::add_callbacks(&mut value);
        super::openapi::require_rate_limit_headers(&mut value);
        value
    })
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The data API's part of `/openapi.json` alone", body = Object)))]
pub(super) async fn openapi() -> Json<&'static serde_json::Value> {
    Json(document())
}

type DataResult<T = Response> = std::result::Result<T, DataFailure>;

type Opened = (Arc<entity::data_key::Model>, Arc<Endpoint>);

/// The caller's key and the endpoint, with the 401/404/403 checks (both
/// from the data cache).
async fn open(h: &Http, headers: &HeaderMap, slug: &str) -> Result<Opened> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').filter(|(s, _)| s.eq_ignore_ascii_case("bearer")).map(|(_, t)| t.trim()))
        .ok_or_else(|| Error::Unauthorized("Missing API key".into()))?;
    let key = data_cache::key(&h.app, token).await?;
    let endpoint = data_cache::endpoint(&h.app, &key.workspace_id, slug).await?.ok_or(Error::NotFound("Endpoint"))?;
    if !endpoint.model.enabled {
        return Err(Error::Forbidden("Endpoint is not enabled".into()));
    }
    if endpoint.model.subscription_expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(Error::Forbidden("Subscription expired".into()));
    }
    Ok((key, endpoint))
}

/// Checks the content type, size, JSON and schema of a body (415/413/400);
/// returns the body as sent, which is then known to be a valid JSON object.
fn parse_body(
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
    endpoint: &Endpoint,
) -> Result<String> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(Error::UnsupportedMediaType);
    }
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge { limit: MAX_BODY },
        _ => Error::invalid(r.body_text()),
    })?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|_| Error::invalid("Invalid JSON"))?;
    if !value.is_object() {
        return Err(Error::invalid_field("body", "The body must be a JSON object"));
    }
    if has_nul(&value) {
        // Valid JSON, but PostgreSQL cannot store it in the record's events.
        return Err(Error::invalid_field("body", "Strings must not contain the NUL character (\\u0000)"));
    }
    let details = endpoint.violations(&value);
    if !details.is_empty() {
        return Err(Error::validation(details));
    }
    // Parsed above, so UTF-8.
    String::from_utf8(body.into()).map_err(|_| Error::invalid("Invalid JSON"))
}

/// Whether any string or key of a JSON value holds a NUL character.
fn has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Counts a read against the monthly quota (429 once it is used up). Writes
/// are counted in their group commit.
async fn count(h: &Http, endpoint: &entity::data_endpoint::Model) -> Result<()> {
    match endpoints::count_request(&h.app.writer, &endpoint.id, endpoint.monthly_quota).await? {
        true => Ok(()),
        false => Err(Error::QuotaExceeded { resets_at: endpoints::next_month_start() }),
    }
}

/// The optional callback headers of a POST, PUT or DELETE:
/// `X-Webhook-Callback` (checked by the SSRF guard), `X-Webhook-Auth-Header`
/// (default `Authorization`) and `X-Webhook-Auth`.
async fn callback(h: &Http, headers: &HeaderMap) -> Result<Option<records::Callback>> {
    let sent = CallbackHeaders::from_headers(headers);
    let Some(url) = sent.callback else { return Ok(None) };
    // Present but blank is not a URL (the document says `format: uri`, `minLength: 1`).
    if url.is_empty() {
        return Err(Error::invalid_field("X-Webhook-Callback", "Must be an absolute http or https URL"));
    }
    let url = crate::delivery::ssrf::check_url(&url, h.app.http.allow_private()).await.map_err(|e| {
        Error::invalid_field("X-Webhook-Callback", e.details().first().map_or(e.to_string(), |d| d.error.clone()))
    })?;
    if let Some(name) = &sent.auth_header {
        let reserved =
            ["content-type", "content-length", "host", "webhook-id", "webhook-timestamp", "webhook-signature"];
        if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || reserved.contains(&name.to_ascii_lowercase().as_str())
        {
            return Err(Error::invalid_field("X-Webhook-Auth-Header", "Not a header name that can be set"));
        }
    }
    Ok(Some(records::Callback { url: url.to_string(), auth_header: sent.auth_header, auth_value: sent.auth }))
}

fn queued(id: String) -> Response {
    (StatusCode::ACCEPTED, Json(Queued::new(id))).into_response()
}

/// Who is calling: a data key (the public API), or the signed-in owner's
/// production console (live data, its key set server-side, no webhooks or
/// callbacks, no quota).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    Key,
    Console,
}

async fn caller_open(h: &Http, headers: &HeaderMap, slug: &str, caller: Caller) -> Result<Opened> {
    match caller {
        Caller::Key => open(h, headers, slug).await,
        Caller::Console => {
            let p = crate::auth::authenticate(&h.app, headers)
                .await?
                .ok_or_else(|| Error::Unauthorized("Sign in to use the production console".into()))?;
            if !matches!(p.credential, crate::auth::Credential::Session { .. }) {
                return Err(Error::Forbidden("The production console is for signed-in owners".into()));
            }
            super::require_csrf_header(headers)?;
            p.require_owner()?;
            let key = Arc::new(endpoints::console_key(&h.app, &p).await?);
            let endpoint =
                data_cache::endpoint(&h.app, &p.workspace_id, slug).await?.ok_or(Error::NotFound("Endpoint"))?;
            Ok((key, endpoint))
        }
    }
}

async fn create_as(caller: Caller, h: Http, slug: String, headers: HeaderMap, body: BodyResult) -> Result<Response> {
    let (key, endpoint) = caller_open(&h, &headers, &slug, caller).await?;
    let value = parse_body(&headers, body, &endpoint)?;
    let silent = caller == Caller::Console;
    let callback = if silent { None } else { callback(&h, &headers).await? };
    let change = Change { op: Operation::Create, record_id: None, body: Some(value), callback, silent };
    let id = records::accept(&h.app, &key, &endpoint.model, change).await?;
    Ok(queued(id))
}

async fn read_as(caller: Caller, h: Http, slug: String, id: String, headers: HeaderMap) -> Result<Response> {
    let (key, endpoint) = caller_open(&h, &headers, &slug, caller).await?;
    if caller == Caller::Key {
        count(&h, &endpoint.model).await?;
    }
    let r = records::find_live(&h.app.db, &key, &endpoint.model, &id).await?;
    Ok(Json(Record::from(r)).into_response())
}

async fn change_as(
    caller: Caller,
    op: Operation,
    h: Http,
    slug: String,
    id: String,
    headers: HeaderMap,
    body: Option<BodyResult>,
) -> Result<Response> {
    let (key, endpoint) = caller_open(&h, &headers, &slug, caller).await?;
    let value = match body {
        Some(b) => Some(parse_body(&headers, b, &endpoint)?),
        None => None,
    };
    let silent = caller == Caller::Console;
    let callback = if silent { None } else { callback(&h, &headers).await? };
    let change = Change { op, record_id: Some(&id), body: value, callback, silent };
    let id = records::accept(&h.app, &key, &endpoint.model, change).await?;
    Ok(queued(id))
}

type BodyResult = std::result::Result<Bytes, BytesRejection>;

#[utoipa::path(post, path = "/api/v1/data/{slug}", tag = "records", operation_id = "createRecord",
    summary = "Create a record (asynchronous, queued)",
    description = "Stores the body as a new record of the endpoint, in the key's environment, and queues its \
processing; the answer is 202 with the new record id. Processing emits `record.created` (which fans out to the \
workspace's webhooks) and sends the optional callback.\n\nChecks, in order: key (401), endpoint (404), enabled and \
subscription (403), `Content-Type` (415), size (413), JSON, NUL characters and JSON Schema (400), callback headers \
(400), monthly quota (429). Only requests that pass all the others count against the quota.",
    params(EndpointPath, CallbackHeaders),
    request_body(content = RecordBody, description = "The record: any JSON object without NUL characters, at most \
100 KB (102400 bytes). `Content-Type` must be `application/json` (parameters such as `; charset=utf-8` are \
allowed). When the endpoint has a JSON Schema the body is validated against it, and every violation is reported in \
`details`."),
    responses((status = 202, response = answers::RecordQueued), (status = 400, response = answers::BadRecordRequest),
        (status = 404, response = answers::EndpointNotFound), (status = 413, response = answers::RecordTooLarge),
        (status = 415, response = answers::RecordNotJson)))]
async fn create(
    State(h): State<Http>,
    Path(p): Path<EndpointPath>,
    headers: HeaderMap,
    body: BodyResult,
) -> DataResult {
    Ok(create_as(Caller::Key, h, p.slug, headers, body).await?)
}

#[utoipa::path(get, path = "/api/v1/data/{slug}/{record_id}", tag = "records", operation_id = "getRecord",
    summary = "Read a record",
    description = "The record's processing status and its body as last applied. Checks, in order: key (401), \
endpoint (404), enabled and subscription (403), monthly quota (429), record (404). A GET counts against the quota \
even when the record is not found.",
    params(RecordPath),
    responses((status = 200, response = answers::RecordFound), (status = 404, response = answers::RecordNotFound)))]
async fn read(State(h): State<Http>, Path(p): Path<RecordPath>, headers: HeaderMap) -> DataResult {
    Ok(read_as(Caller::Key, h, p.slug, p.record_id, headers).await?)
}

#[utoipa::path(put, path = "/api/v1/data/{slug}/{record_id}", tag = "records", operation_id = "replaceRecord",
    summary = "Replace a record (asynchronous, queued)",
    description = "Replaces the record's whole body and queues the change; the answer is 202 with the same record \
id. Until it is processed, GET shows `operation: replace`, `status: queued` (then `processing`) and the previous \
`data`. Processing emits `record.updated` and sends the optional callback.\n\nChecks, in order: key (401), endpoint \
(404), enabled and subscription (403), `Content-Type` (415), size (413), JSON, NUL characters and JSON Schema (400), \
callback headers (400), monthly quota (429), record (404). A PUT that passes the body checks counts against the \
quota even when the record is not found.",
    params(RecordPath, CallbackHeaders),
    request_body(content = RecordBody, description = "The record's new body, replacing the whole previous one: any \
JSON object without NUL characters, at most 100 KB (102400 bytes), `Content-Type: application/json`, validated \
against the endpoint's JSON Schema if it has one."),
    responses((status = 202, response = answers::RecordQueued), (status = 400, response = answers::BadRecordRequest),
        (status = 404, response = answers::RecordNotFound), (status = 413, response = answers::RecordTooLarge),
        (status = 415, response = answers::RecordNotJson)))]
async fn replace(State(h): State<Http>, Path(p): Path<RecordPath>, headers: HeaderMap, body: BodyResult) -> DataResult {
    Ok(change_as(Caller::Key, Operation::Replace, h, p.slug, p.record_id, headers, Some(body)).await?)
}

#[utoipa::path(delete, path = "/api/v1/data/{slug}/{record_id}", tag = "records", operation_id = "deleteRecord",
    summary = "Delete a record (asynchronous, queued)",
    description = "Queues the record's deletion; the answer is 202 with the record id. Until it is processed, GET \
answers 200 with the pending deletion (`operation: delete`, `status: queued`, then `processing`); afterwards the \
record answers 404. Processing emits `record.deleted` and sends the optional callback. No body is read (and no \
`Content-Type` needed).\n\nChecks, in order: key (401), endpoint (404), enabled and subscription (403), callback \
headers (400), monthly quota (429), record (404).",
    params(RecordPath, CallbackHeaders),
    responses((status = 202, response = answers::RecordQueued), (status = 400, response = answers::BadCallbackHeaders),
        (status = 404, response = answers::RecordNotFound)))]
async fn remove(State(h): State<Http>, Path(p): Path<RecordPath>, headers: HeaderMap) -> DataResult {
    Ok(change_as(Caller::Key, Operation::Delete, h, p.slug, p.record_id, headers, None).await?)
}

async fn console_create(
    State(h): State<Http>,
    Path(p): Path<EndpointPath>,
    headers: HeaderMap,
    body: BodyResult,
) -> DataResult {
    Ok(create_as(Caller::Console, h, p.slug, headers, body).await?)
}

async fn console_read(State(h): State<Http>, Path(p): Path<RecordPath>, headers: HeaderMap) -> DataResult {
    Ok(read_as(Caller::Console, h, p.slug, p.record_id, headers).await?)
}

async fn console_replace(
    State(h): State<Http>,
    Path(p): Path<RecordPath>,
    headers: HeaderMap,
    body: BodyResult,
) -> DataResult {
    Ok(change_as(Caller::Console, Operation::Replace, h, p.slug, p.record_id, headers, Some(body)).await?)
}

async fn console_remove(State(h): State<Http>, Path(p): Path<RecordPath>, headers: HeaderMap) -> DataResult {
    Ok(change_as(Caller::Console, Operation::Delete, h, p.slug, p.record_id, headers, None).await?)
}
