//! `/v1/webhooks` (seed 002 §4) over [`crate::services::webhooks`] and
//! [`crate::services::deliveries`] (test, logs, retry).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    created, nullable_whole, renamed, whole, ApiJson, ApiQuery, ApiResult, Caller, ErrorBody, PageQuery, Pagination,
};
use crate::rest::Http;
use crate::services::deliveries::{self, LogEntry};
use crate::services::webhooks::{self, NewWebhook, RetryPolicy, WebhookChanges, WebhookFilter};

pub fn router() -> Router<Http> {
    Router::new()
        .route("/v1/webhooks", get(list).post(create))
        .route("/v1/webhooks/{id}", get(read).put(update).delete(remove))
        .route("/v1/webhooks/{id}/test", post(test))
        .route("/v1/webhooks/{id}/logs", get(logs))
        .route("/v1/webhooks/{id}/retry", post(retry))
}

/// Service field names as this API spells them.
const FIELDS: &[(&str, &str)] = &[("eventTypes", "events")];

/// A webhook. `secret` is present only in the answer to its creation.
#[derive(Serialize, ToSchema)]
pub struct Webhook {
    /// `wh_…`.
    pub id: String,
    pub url: String,
    /// Event types or patterns (`user.created`, `record.*`).
    pub events: Vec<String>,
    /// `""` when none.
    pub description: String,
    /// Custom request headers; values are shown as `***`.
    pub headers: BTreeMap<String, String>,
    /// Whether events are delivered.
    pub active: bool,
    /// Why the server disabled it, if it did.
    pub disabled_reason: Option<String>,
    /// Deliveries per minute; `null`: no limit.
    pub rate_limit_per_minute: Option<u32>,
    /// How long a receiver has to answer, in seconds.
    pub timeout_seconds: i32,
    /// The signing secret (`whsec_…`, Standard Webhooks), shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    fn from_model(w: entity::webhook::Model, secret: Option<String>) -> Self {
        Self {
            events: w
                .events
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            headers: w
                .headers
                .as_object()
                .map(|m| m.keys().map(|k| (k.clone(), "***".to_string())).collect())
                .unwrap_or_default(),
            rate_limit_per_minute: webhooks::rate_limit(&w),
            id: w.id,
            url: w.url,
            description: w.description,
            active: w.active,
            disabled_reason: w.disabled_reason,
            timeout_seconds: w.timeout_ms / 1000,
            secret,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A page of webhooks.
#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<Webhook>,
    pub pagination: Pagination,
}

/// `POST /v1/webhooks`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({ "url": "http://127.0.0.1:9/webhook", "events": ["api_key.created", "webhook.*"],
    "headers": { "X-Custom-Header": "value" }, "active": true }))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed (https; private addresses are refused unless the server allows them).
    #[schema(format = "uri")]
    pub url: String,
    /// At least one event type or pattern of the catalog.
    pub events: Vec<String>,
    /// A `whsec_…` secret of your own; absent: one is generated.
    #[serde(default)]
    pub secret: Option<String>,
    /// At most 20 custom headers sent with every delivery.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Default `true`.
    #[serde(default)]
    pub active: Option<bool>,
    /// At most 500 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Deliveries per minute, 1 to 1000000 (default 100); `null`: no limit.
    #[serde(default, deserialize_with = "nullable_whole")]
    #[schema(value_type = Option<u32>)]
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// 1 to 60 (default from the server's configuration).
    #[serde(default, deserialize_with = "whole")]
    #[schema(value_type = Option<u32>)]
    pub timeout_seconds: Option<u32>,
}

/// `PUT /v1/webhooks/{id}`: absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[schema(format = "uri")]
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// Replaces every custom header.
    pub headers: Option<BTreeMap<String, String>>,
    /// `true` also clears `disabled_reason`.
    pub active: Option<bool>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable_whole")]
    #[schema(value_type = Option<u32>)]
    pub rate_limit_per_minute: Option<Option<u32>>,
    #[serde(default, deserialize_with = "whole")]
    #[schema(value_type = Option<u32>)]
    pub timeout_seconds: Option<u32>,
}

/// One attempt to deliver a message to a webhook.
#[derive(Serialize, ToSchema)]
pub struct WebhookLog {
    /// The attempt (`att_…`).
    pub id: String,
    /// `wh_…`.
    pub webhook_id: String,
    /// `dlv_…`: the message this attempt carried (retries share it).
    pub delivery_id: String,
    /// The event type (`webhook.test` for tests).
    pub event: String,
    /// `success` or `failed`.
    pub status: LogStatus,
    /// The receiver's HTTP status; `null` when none came (timeout, refused).
    pub response_code: Option<i32>,
    /// Milliseconds until the answer (or the failure).
    pub response_time: i64,
    /// 1 for the first attempt of a message.
    pub attempt: i32,
    /// What went wrong, if it did.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The exact body sent: `{"event", "timestamp", "data", …}`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// The outcome of an attempt.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogStatus {
    Success,
    Failed,
}

impl From<LogEntry> for WebhookLog {
    fn from(e: LogEntry) -> Self {
        let a = e.attempt;
        let (event, payload) = match e.delivery {
            Some(d) => (d.event_type, d.payload),
            None => (String::new(), serde_json::json!({})),
        };
        Self {
            status: if a.success { LogStatus::Success } else { LogStatus::Failed },
            id: a.id,
            webhook_id: a.webhook_id,
            delivery_id: a.delivery_id,
            event,
            response_code: a.status_code,
            response_time: a.response_time_ms,
            attempt: a.attempt,
            error: a.error,
            created_at: a.created_at,
            payload,
        }
    }
}

/// A page of a webhook's log.
#[derive(Serialize, ToSchema)]
pub struct WebhookLogList {
    pub data: Vec<WebhookLog>,
    pub pagination: Pagination,
}

/// The answer to a retry.
#[derive(Serialize, ToSchema)]
pub struct RetryResult {
    /// Failed messages sent again (at most 1000 per call).
    pub retried: u64,
}

/// Filters of `GET /v1/webhooks`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListWebhooks {
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// Only active (`true`) or inactive (`false`) webhooks.
    pub active: Option<bool>,
}

const ID: &str = "`wh_…`";

#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, description = "Created; `secret` is shown this once", body = Webhook),
              (status = 400, body = ErrorBody)),
    description = "Creates a webhook (owner with `write` and `admin`).")]
pub async fn create(
    State(h): State<Http>,
    Caller(p): Caller,
    ApiJson(b): ApiJson<CreateWebhook>,
) -> ApiResult<Response> {
    let input = NewWebhook {
        url: b.url,
        endpoint_id: None,
        events: b.events,
        description: b.description,
        headers: b.headers,
        active: b.active.unwrap_or(true),
        rate_limit_per_minute: b.rate_limit_per_minute,
        secret: b.secret,
        retry_policy: RetryPolicy::Default,
        timeout_ms: b.timeout_seconds.map(|s| s.saturating_mul(1000)),
    };
    let (w, secret) = webhooks::create(&h.app, &p, input).await.map_err(renamed(FIELDS))?;
    Ok(created(Webhook::from_model(w, Some(secret))))
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", params(ListWebhooks),
    responses((status = 200, body = WebhookList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(h): State<Http>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListWebhooks>,
) -> ApiResult<Json<WebhookList>> {
    let pq = PageQuery { page: q.page, limit: q.limit };
    let filter = WebhookFilter { active: q.active, event: None };
    let page = webhooks::list(&h.app.db, &p, filter, &pq.args()?).await?;
    let pagination = Pagination::of(&pq, &page);
    Ok(Json(WebhookList { data: page.items.into_iter().map(|w| Webhook::from_model(w, None)).collect(), pagination }))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = Webhook),
              (status = 404, body = ErrorBody)))]
pub async fn read(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<Json<Webhook>> {
    Ok(Json(Webhook::from_model(webhooks::get(&h.app.db, &p, &id).await?, None)))
}

#[utoipa::path(put, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = ID)),
    request_body = UpdateWebhook,
    responses((status = 200, body = Webhook), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(h): State<Http>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateWebhook>,
) -> ApiResult<Json<Webhook>> {
    let changes = WebhookChanges {
        url: b.url,
        events: b.events,
        description: b.description,
        headers: b.headers,
        active: b.active,
        rate_limit_per_minute: b.rate_limit_per_minute,
        retry_policy: None,
        timeout_ms: b.timeout_seconds.map(|s| s.saturating_mul(1000)),
    };
    let w = webhooks::update(&h.app, &p, &id, changes).await.map_err(renamed(FIELDS))?;
    Ok(Json(Webhook::from_model(w, None)))
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = ID)),
    responses((status = 204, description = "Deleted with its messages and log"), (status = 404, body = ErrorBody)))]
pub async fn remove(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    webhooks::delete(&h.app, &p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path, description = ID)),
    responses((status = 200, description = "Sent now; the attempt, whatever the receiver answered", body = WebhookLog), (status = 404, body = ErrorBody)),
    description = "Sends a signed `webhook.test` message now and answers with the attempt.")]
pub async fn test(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<Json<WebhookLog>> {
    Ok(Json(deliveries::test_logged(&h.app, &p, &id).await?.into()))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}/logs", tag = "webhooks",
    params(("id" = String, Path, description = ID), PageQuery),
    responses((status = 200, body = WebhookLogList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    description = "The webhook's attempts, newest first.")]
pub async fn logs(
    State(h): State<Http>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<WebhookLogList>> {
    let page = deliveries::logs(&h.app.db, &p, &id, &q.args()?).await?;
    let pagination = Pagination::of(&q, &page);
    Ok(Json(WebhookLogList { data: page.items.into_iter().map(WebhookLog::from).collect(), pagination }))
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/retry", tag = "webhooks", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = RetryResult), (status = 400, description = "The webhook is disabled", body = ErrorBody), (status = 404, body = ErrorBody)),
    description = "Sends every failed message of the webhook again, with fresh attempts.")]
pub async fn retry(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<Json<RetryResult>> {
    let retried = deliveries::retry_failed(&h.app, &p, &id, None).await.map_err(renamed(&[("webhookId", "id")]))?;
    Ok(Json(RetryResult { retried }))
}
