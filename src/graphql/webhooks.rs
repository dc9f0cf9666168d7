//! Webhooks, their deliveries and the attempt log (seed 002 §4), plus the
//! live `deliveryLogs` subscription. Owner only.

use std::collections::BTreeMap;

use async_graphql::{Context, Enum, InputObject, Json, MaybeUndefined, Object, Result, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use crate::auth::Scope;
use crate::events::DELIVERY_ATTEMPT;
use crate::graphql::pagination::{connection, page_args, Conn};
use crate::graphql::states::DeliveryStatus;
use crate::graphql::{found, ContextExt};
use crate::services::deliveries::{self, AttemptFilter, DeliveryFilter};
use crate::services::webhooks::{self, NewWebhook, RetryPolicy, WebhookChanges, WebhookFilter};

/// An endpoint that receives the workspace's events. Its secret is never
/// readable after creation or rotation.
#[derive(SimpleObject)]
pub struct Webhook {
    pub id: ID,
    pub url: String,
    /// For a collaborator webhook: the data endpoint whose records it follows.
    pub endpoint_id: Option<ID>,
    pub description: String,
    /// Event types or `family.*` patterns it receives.
    pub events: Vec<String>,
    /// Extra request headers, values shown as `***` (they are stored
    /// encrypted and never returned).
    pub headers: Json<serde_json::Value>,
    pub active: bool,
    /// Why the server disabled it (410 Gone, failing for days), if it did.
    pub disabled_reason: Option<String>,
    /// Deliveries per minute; over it they wait, never drop. `null`: no limit.
    pub rate_limit_per_minute: Option<i32>,
    /// Seconds before each retry.
    pub retry_schedule: Vec<u64>,
    pub timeout_ms: i32,
    /// Start of the current streak of failed deliveries.
    pub failing_since: Option<DateTime<Utc>>,
    /// Last successful delivery (kept to the minute).
    pub last_success_at: Option<DateTime<Utc>>,
    /// Until when messages are also signed with the secret replaced by the last rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<entity::webhook::Model> for Webhook {
    fn from(w: entity::webhook::Model) -> Self {
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
        };
        Self {
            id: ID(w.id),
            url: w.url,
            endpoint_id: w.endpoint_id.map(ID),
            description: w.description,
            events: strings(&w.events),
            headers: Json(serde_json::Value::Object(
                w.headers
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| (k.clone(), serde_json::json!("***")))
                    .collect(),
            )),
            active: w.active,
            disabled_reason: w.disabled_reason,
            rate_limit_per_minute: (w.rate_limit_per_minute > 0).then_some(w.rate_limit_per_minute),
            retry_schedule: w
                .retry_schedule
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
                .unwrap_or_default(),
            timeout_ms: w.timeout_ms,
            failing_since: w.failing_since,
            last_success_at: w.last_success_at,
            previous_secret_expires_at: w.previous_secret_expires_at.filter(|t| *t > Utc::now()),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// One event (or test message) for one webhook.
#[derive(SimpleObject)]
pub struct Delivery {
    pub id: ID,
    pub webhook_id: ID,
    pub event_id: Option<ID>,
    pub event_type: String,
    /// The exact body sent.
    pub payload: Json<serde_json::Value>,
    /// Where the delivery stands.
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<entity::delivery::Model> for Delivery {
    fn from(d: entity::delivery::Model) -> Self {
        Self {
            id: ID(d.id),
            webhook_id: ID(d.webhook_id),
            event_id: d.event_id.map(ID),
            event_type: d.event_type,
            payload: Json(d.payload),
            status: DeliveryStatus::from_stored(&d.state),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

/// One HTTP attempt of a delivery.
#[derive(SimpleObject, Clone)]
pub struct DeliveryAttempt {
    pub id: ID,
    pub delivery_id: ID,
    pub webhook_id: ID,
    pub attempt: i32,
    pub success: bool,
    pub response_code: Option<i32>,
    pub response_time_ms: i64,
    /// At most 4 KiB of the response body.
    pub response_body: String,
    /// Headers sent; secrets and the signature redacted.
    pub request_headers: Json<serde_json::Value>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<entity::delivery_attempt::Model> for DeliveryAttempt {
    fn from(a: entity::delivery_attempt::Model) -> Self {
        Self {
            id: ID(a.id),
            delivery_id: ID(a.delivery_id),
            webhook_id: ID(a.webhook_id),
            attempt: a.attempt,
            success: a.success,
            response_code: a.status_code,
            response_time_ms: a.response_time_ms,
            response_body: a.response_body,
            request_headers: Json(a.request_headers),
            error: a.error,
            created_at: a.created_at,
        }
    }
}

/// How failed deliveries are retried.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicyKind {
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    Default,
    /// At most 3 retries, 60 s apart (seed 001's collaborator policy).
    Collaborator,
    /// The seconds given in `retrySchedule`.
    Custom,
}

fn policy(kind: Option<RetryPolicyKind>, schedule: Option<Vec<u64>>) -> Option<RetryPolicy> {
    match (kind, schedule) {
        (Some(RetryPolicyKind::Custom), s) | (None, s @ Some(_)) => Some(RetryPolicy::Custom(s.unwrap_or_default())),
        (Some(RetryPolicyKind::Collaborator), _) => Some(RetryPolicy::Collaborator),
        (Some(RetryPolicyKind::Default), _) => Some(RetryPolicy::Default),
        (None, None) => None,
    }
}

#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// http(s) URL; private and loopback addresses are refused unless the
    /// server allows them.
    pub url: String,
    /// Event types or `family.*` patterns (at least one).
    pub events: Vec<String>,
    pub description: Option<String>,
    /// Extra headers, e.g. `{"X-Team": "ops"}`; `webhook-*` and
    /// `content-type` are reserved.
    pub headers: Option<Json<BTreeMap<String, String>>>,
    #[graphql(default = true)]
    pub active: bool,
    /// Deliveries per minute, 1 to 1000000 (default 100); over it they
    /// wait, never drop. `null`: no limit (for receivers you trust to keep up).
    pub rate_limit_per_minute: MaybeUndefined<u32>,
    /// A `whsec_…` secret to use; generated when absent.
    #[graphql(secret)]
    pub secret: Option<String>,
    pub retry_policy: Option<RetryPolicyKind>,
    /// Seconds before each retry, for `retryPolicy: CUSTOM`.
    pub retry_schedule: Option<Vec<u64>>,
    /// Request time limit in ms (default 15000).
    pub timeout_ms: Option<u32>,
}

#[derive(InputObject, Default)]
pub struct UpdateWebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub headers: Option<Json<BTreeMap<String, String>>>,
    /// `false` disables, `true` enables again (clearing the failure record).
    pub active: Option<bool>,
    /// Deliveries per minute, 1 to 1000000; `null` removes the limit.
    pub rate_limit_per_minute: MaybeUndefined<u32>,
    pub retry_policy: Option<RetryPolicyKind>,
    pub retry_schedule: Option<Vec<u64>>,
    pub timeout_ms: Option<u32>,
}

#[derive(InputObject, Default)]
pub struct WebhookFilterInput {
    pub active: Option<bool>,
    /// Only webhooks that receive this event type.
    pub event: Option<String>,
}

/// Which deliveries to list; every field given must match.
#[derive(InputObject, Default)]
pub struct DeliveryFilterInput {
    /// Only deliveries of this webhook.
    pub webhook_id: Option<ID>,
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(InputObject, Default)]
pub struct DeliveryAttemptFilterInput {
    pub webhook_id: Option<ID>,
    pub delivery_id: Option<ID>,
    pub success: Option<bool>,
    pub since: Option<DateTime<Utc>>,
}

/// A webhook with its signing secret, shown only in this payload.
#[derive(SimpleObject)]
pub struct WebhookWithSecret {
    pub webhook: Webhook,
    /// `whsec_…`: verify signatures with it; it cannot be read again.
    pub secret: String,
}

#[derive(SimpleObject)]
pub struct DeleteWebhookPayload {
    pub deleted_id: ID,
}

#[derive(SimpleObject)]
pub struct RetryFailedDeliveriesPayload {
    pub retried: u64,
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The workspace's webhooks, newest first (owner only).
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<WebhookFilterInput>,
    ) -> Result<Conn<Webhook>> {
        let page = page_args(ctx, first, after, "wh")?;
        let f = filter.unwrap_or_default();
        let rows =
            webhooks::list(&ctx.app().db, ctx.principal()?, WebhookFilter { active: f.active, event: f.event }, &page)
                .await?;
        Ok(connection(rows, |w| w.id.clone(), Webhook::from))
    }

    /// One webhook (owner only); null when it does not exist or is not the caller's.
    async fn webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id (`wh_…`).")] id: ID,
    ) -> Result<Option<Webhook>> {
        Ok(found(webhooks::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(Webhook::from))
    }

    /// Deliveries, newest first, filtered by webhook, status, event type and time.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<DeliveryFilterInput>,
    ) -> Result<Conn<Delivery>> {
        let page = page_args(ctx, first, after, "dlv")?;
        let f = filter.unwrap_or_default();
        let filter = DeliveryFilter {
            webhook_id: f.webhook_id.map(|i| i.0),
            state: f.status.map(|s| s.as_str().to_string()),
            event_type: f.event_type,
            since: f.since,
            until: f.until,
        };
        let rows = deliveries::list(&ctx.app().db, ctx.principal()?, filter, &page).await?;
        Ok(connection(rows, |d| d.id.clone(), Delivery::from))
    }

    /// One delivery (owner only); null when it does not exist or is not the caller's.
    async fn delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id (`dlv_…`).")] id: ID,
    ) -> Result<Option<Delivery>> {
        Ok(found(deliveries::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(Delivery::from))
    }

    /// The attempt log, newest first.
    async fn delivery_attempts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<DeliveryAttemptFilterInput>,
    ) -> Result<Conn<DeliveryAttempt>> {
        let page = page_args(ctx, first, after, "att")?;
        let f = filter.unwrap_or_default();
        let filter = AttemptFilter {
            webhook_id: f.webhook_id.map(|i| i.0),
            delivery_id: f.delivery_id.map(|i| i.0),
            success: f.success,
            since: f.since,
        };
        let rows = deliveries::attempts(&ctx.app().db, ctx.principal()?, filter, &page).await?;
        Ok(connection(rows, |a| a.id.clone(), DeliveryAttempt::from))
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Creates a webhook (owner only). Emits `webhook.created`.
    async fn create_webhook(&self, ctx: &Context<'_>, input: CreateWebhookInput) -> Result<WebhookWithSecret> {
        let new = NewWebhook {
            url: input.url,
            endpoint_id: None,
            events: input.events,
            description: input.description,
            headers: input.headers.map(|h| h.0).unwrap_or_default(),
            active: input.active,
            rate_limit_per_minute: maybe(input.rate_limit_per_minute),
            secret: input.secret,
            retry_policy: policy(input.retry_policy, input.retry_schedule).unwrap_or(RetryPolicy::Default),
            timeout_ms: input.timeout_ms,
        };
        let (w, secret) = webhooks::create(ctx.app(), ctx.principal()?, new).await?;
        Ok(WebhookWithSecret { webhook: w.into(), secret })
    }

    /// Changes a webhook; `active` enables or disables it. Emits `webhook.updated`.
    async fn update_webhook(&self, ctx: &Context<'_>, id: ID, input: UpdateWebhookInput) -> Result<Webhook> {
        let changes = WebhookChanges {
            url: input.url,
            events: input.events,
            description: input.description,
            headers: input.headers.map(|h| h.0),
            active: input.active,
            rate_limit_per_minute: maybe(input.rate_limit_per_minute),
            retry_policy: policy(input.retry_policy, input.retry_schedule),
            timeout_ms: input.timeout_ms,
        };
        Ok(webhooks::update(ctx.app(), ctx.principal()?, &id, changes).await?.into())
    }

    /// Deletes a webhook with its delivery log. Emits `webhook.deleted`.
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<DeleteWebhookPayload> {
        webhooks::delete(ctx.app(), ctx.principal()?, &id).await?;
        Ok(DeleteWebhookPayload { deleted_id: id })
    }

    /// Issues a new signing secret, returned only here. For `graceSeconds`
    /// (default 86400, at most 604800, 0 for none) messages are signed with
    /// the old secret too. Emits `webhook.secret_rotated`.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        grace_seconds: Option<u64>,
    ) -> Result<WebhookWithSecret> {
        let (w, secret) = webhooks::rotate_secret(ctx.app(), ctx.principal()?, &id, grace_seconds).await?;
        Ok(WebhookWithSecret { webhook: w.into(), secret })
    }

    /// Sends a signed `webhook.test` message now and returns the attempt.
    async fn test_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<DeliveryAttempt> {
        Ok(deliveries::test(ctx.app(), ctx.principal()?, &id).await?.into())
    }

    /// Sends a failed or cancelled delivery again, with fresh attempts.
    async fn retry_delivery(&self, ctx: &Context<'_>, id: ID) -> Result<Delivery> {
        Ok(deliveries::retry(ctx.app(), ctx.principal()?, &id).await?.into())
    }

    /// Retries the webhook's failed deliveries created since `since` (all if
    /// absent; at most 1000 per call).
    async fn retry_failed_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: ID,
        since: Option<DateTime<Utc>>,
    ) -> Result<RetryFailedDeliveriesPayload> {
        let retried = deliveries::retry_failed(ctx.app(), ctx.principal()?, &webhook_id, since).await?;
        Ok(RetryFailedDeliveriesPayload { retried })
    }
}

#[derive(Default)]
pub struct WebhookSubscription;

#[Subscription]
impl WebhookSubscription {
    /// Every delivery attempt as it happens, on any process (owner only),
    /// optionally for one webhook. Ends when the server shuts down.
    async fn delivery_logs(
        &self,
        ctx: &Context<'_>,
        webhook_id: Option<ID>,
    ) -> Result<impl Stream<Item = DeliveryAttempt>> {
        let p = ctx.principal()?.require(Scope::Read)?.require_owner()?;
        let app = ctx.app();
        let only = webhook_id.map(|i| i.0);
        let accept = |e: &crate::events::Envelope| e.event_type == DELIVERY_ATTEMPT;
        Ok(ctx
            .live_events(&p.workspace_id, Box::new(accept))
            .filter_map(move |e| {
                let attempt = deliveries::attempt_from_live(&e);
                let attempt = attempt.filter(|a| only.as_ref().is_none_or(|w| &a.webhook_id == w));
                std::future::ready(attempt.map(DeliveryAttempt::from))
            })
            .take_until(app.shutdown.clone().cancelled_owned()))
    }
}

/// An optional, nullable input: absent is `None`, `null` is `Some(None)`.
fn maybe<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
