//! Webhooks, their deliveries and the attempt log (seed 002 §4), plus the
//! live `deliveryLogs` subscription. Owner only.

use async_graphql::{ComplexObject, Context, Enum, InputObject, Json, Object, Result, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use crate::auth::Scope;
use crate::events::DELIVERY_ATTEMPT;
use crate::graphql::cost;
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::states::DeliveryStatus;
use crate::graphql::{found, ContextExt};
use crate::services::deliveries::{self, AttemptFilter, DeliveryFilter};
use crate::services::webhooks::{self, RetryPolicy, WebhookFilter};

/// An endpoint that receives the workspace's events. Its secret is never
/// readable after creation or rotation.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Webhook {
    /// The webhook's id (`wh_…`).
    pub id: ID,
    /// Where deliveries are POSTed.
    pub url: String,
    /// For a collaborator webhook: the data endpoint whose records it follows.
    pub endpoint_id: Option<ID>,
    /// Free text for people; `""` when none.
    pub description: String,
    /// Event types or `family.*` patterns it receives.
    pub event_types: Vec<String>,
    /// Extra request headers, values shown as `***` (they are stored
    /// encrypted and never returned).
    pub headers: Json<serde_json::Value>,
    /// Whether it receives deliveries; the server disables a webhook that
    /// answers 410 Gone or keeps failing (see `disabledReason`).
    pub enabled: bool,
    /// Why the server disabled it (410 Gone, failing for days), if it did.
    pub disabled_reason: Option<String>,
    /// Deliveries per minute; over it they wait, never drop. `null`: no limit.
    pub rate_limit_per_minute: Option<i32>,
    /// How long one delivery request may take, in seconds.
    pub timeout_seconds: i32,
    /// Start of the current streak of failed deliveries.
    pub failing_since: Option<DateTime<Utc>>,
    /// Last successful delivery (kept to the minute).
    pub last_success_at: Option<DateTime<Utc>>,
    /// Until when messages are also signed with the secret replaced by the last rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// The stored retry schedule, read through `retryPolicy`.
    #[graphql(skip)]
    delays_seconds: Vec<u64>,
}

/// How a webhook retries failed deliveries.
#[derive(SimpleObject)]
#[graphql(name = "RetryPolicy")]
pub struct RetryPolicyView {
    /// Which policy it is.
    pub kind: RetryPolicyKind,
    /// Seconds to wait before each retry, in order, after the immediate
    /// first attempt; a delivery is given up after the last retry. Each
    /// wait varies by up to ±20 % so retries do not arrive together, and a
    /// receiver's `Retry-After` (429/503) can lengthen it.
    pub delays_seconds: Vec<u64>,
}

#[ComplexObject]
impl Webhook {
    /// This webhook's deliveries, newest first (owner only).
    #[graphql(complexity = "cost::connection(__field, first, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last delivery of the previous page.")] after: Option<String>,
    ) -> Result<Conn<Delivery>> {
        let page = page_args(ctx, (first, after), (None, None), None, "dlv")?;
        let filter = DeliveryFilter { webhook_id: Some(self.id.0.clone()), ..Default::default() };
        let rows = deliveries::list(&ctx.app().db, ctx.principal()?, filter, &page).await?;
        Ok(connection(rows, |d| d.id.clone(), Delivery::from))
    }

    /// How failed deliveries are retried.
    async fn retry_policy(&self, ctx: &Context<'_>) -> RetryPolicyView {
        let kind = match webhooks::retry_policy(&self.delays_seconds, ctx.app().config.collaborator_retry_seconds) {
            RetryPolicy::Default => RetryPolicyKind::Default,
            RetryPolicy::Collaborator => RetryPolicyKind::Collaborator,
            RetryPolicy::Custom(_) => RetryPolicyKind::Custom,
        };
        RetryPolicyView { kind, delays_seconds: self.delays_seconds.clone() }
    }
}

impl From<entity::webhook::Model> for Webhook {
    fn from(w: entity::webhook::Model) -> Self {
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
        };
        Self {
            delays_seconds: webhooks::retry_schedule(&w),
            id: ID(w.id),
            url: w.url,
            endpoint_id: w.endpoint_id.map(ID),
            description: w.description,
            event_types: strings(&w.events),
            headers: Json(serde_json::Value::Object(
                w.headers
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| (k.clone(), serde_json::json!("***")))
                    .collect(),
            )),
            enabled: w.active,
            disabled_reason: w.disabled_reason,
            rate_limit_per_minute: (w.rate_limit_per_minute > 0).then_some(w.rate_limit_per_minute),
            timeout_seconds: (w.timeout_ms + 999) / 1000,
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
#[graphql(complex)]
pub struct Delivery {
    /// The delivery's id (`dlv_…`).
    pub id: ID,
    /// The webhook it goes to (`wh_…`).
    pub webhook_id: ID,
    /// The event it carries (`evt_…`); null for a test message.
    pub event_id: Option<ID>,
    /// The event's type, e.g. `user.created`.
    pub event_type: String,
    /// The exact body sent.
    pub payload: Json<serde_json::Value>,
    /// Where the delivery stands.
    pub status: DeliveryStatus,
    /// HTTP attempts made so far.
    pub attempts: i32,
    /// The HTTP status of the latest attempt; null before the first answer
    /// or when the receiver could not be reached.
    pub last_status_code: Option<i32>,
    /// Why the latest attempt failed; null when it succeeded or none was made.
    pub last_error: Option<String>,
    /// When the delivery was queued.
    pub created_at: DateTime<Utc>,
    /// When the receiver accepted it (a 2xx answer); null until then.
    pub delivered_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl Delivery {
    /// The HTTP attempts of this delivery, newest first (owner only).
    #[graphql(complexity = "cost::connection(__field, first, child_complexity)")]
    async fn attempt_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last attempt of the previous page.")] after: Option<String>,
    ) -> Result<Conn<DeliveryAttempt>> {
        let page = page_args(ctx, (first, after), (None, None), None, "att")?;
        let filter = AttemptFilter { delivery_id: Some(self.id.0.clone()), ..Default::default() };
        let rows = deliveries::attempts(&ctx.app().db, ctx.principal()?, filter, &page).await?;
        Ok(connection(rows, |a| a.id.clone(), DeliveryAttempt::from))
    }

    /// The webhook it goes to (owner only). Deleting a webhook deletes its
    /// deliveries, so this is null only for a read racing that deletion.
    async fn webhook(&self, ctx: &Context<'_>) -> Result<Option<Webhook>> {
        let p = ctx.principal()?.require(crate::auth::Scope::Read)?.require_owner()?;
        let key = (p.workspace_id.clone(), self.webhook_id.0.clone());
        let loaders = ctx.data_unchecked::<crate::graphql::loaders::Loaders>();
        Ok(loaders.webhooks.load_one(key).await.map_err(crate::Error::internal)?.map(Webhook::from))
    }
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
    /// The attempt's id (`att_…`).
    pub id: ID,
    /// The delivery it belongs to (`dlv_…`).
    pub delivery_id: ID,
    /// The webhook it was sent to (`wh_…`).
    pub webhook_id: ID,
    /// Which attempt of its delivery this is, from 1.
    pub attempt: i32,
    /// Whether the receiver answered with a 2xx status.
    pub success: bool,
    /// The HTTP status answered; null when there was no answer (timeout,
    /// refused connection).
    pub response_code: Option<i32>,
    /// How long the request took, in milliseconds.
    pub response_time_ms: i64,
    /// At most 4 KiB of the response body.
    pub response_body: String,
    /// Headers sent; secrets and the signature redacted.
    pub request_headers: Json<serde_json::Value>,
    /// Why the attempt failed; null when it succeeded.
    pub error: Option<String>,
    /// When the attempt was made.
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

/// Which retry policy a webhook follows.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicyKind {
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    Default,
    /// At most 3 retries, 60 s apart (the data endpoints' collaborator policy).
    Collaborator,
    /// The seconds given in `delaysSeconds`.
    Custom,
}

/// Which webhooks to list; every field given must match.
#[derive(InputObject, Default)]
pub struct WebhookFilterInput {
    /// Only enabled (`true`) or only disabled (`false`) webhooks.
    pub enabled: Option<bool>,
    /// Only webhooks that receive this event type.
    pub event_type: Option<String>,
}

/// Which deliveries to list; every field given must match.
#[derive(InputObject, Default)]
pub struct DeliveryFilterInput {
    /// Only deliveries of this webhook.
    pub webhook_id: Option<ID>,
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of this event type, e.g. `user.created`.
    pub event_type: Option<String>,
    /// Only deliveries queued at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only deliveries queued before this time.
    pub until: Option<DateTime<Utc>>,
}

/// Which delivery attempts to list; every field given must match.
#[derive(InputObject, Default)]
pub struct DeliveryAttemptFilterInput {
    /// Only attempts sent to this webhook.
    pub webhook_id: Option<ID>,
    /// Only attempts of this delivery.
    pub delivery_id: Option<ID>,
    /// Only successful (`true`) or only failed (`false`) attempts.
    pub success: Option<bool>,
    /// Only attempts made at or after this time.
    pub since: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The workspace's webhooks, newest first (owner only).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last webhook of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the webhooks just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first webhook of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
        #[graphql(desc = "Which webhooks; none: all of them.")] filter: Option<WebhookFilterInput>,
    ) -> Result<Conn<Webhook>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "wh")?;
        let f = filter.unwrap_or_default();
        let rows = webhooks::list(
            &ctx.app().db,
            ctx.principal()?,
            WebhookFilter { active: f.enabled, event: f.event_type },
            &page,
        )
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

    /// Deliveries, newest first, filtered by webhook, status, event type and
    /// time (owner only).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last delivery of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the deliveries just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first delivery of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
        #[graphql(desc = "Which deliveries; none: all of them.")] filter: Option<DeliveryFilterInput>,
    ) -> Result<Conn<Delivery>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "dlv")?;
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

    /// The attempt log: every HTTP request sent to a webhook, newest first
    /// (owner only).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn delivery_attempts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last attempt of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the attempts just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first attempt of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
        #[graphql(desc = "Which attempts; none: all of them.")] filter: Option<DeliveryAttemptFilterInput>,
    ) -> Result<Conn<DeliveryAttempt>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "att")?;
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
pub struct WebhookSubscription;

#[Subscription]
impl WebhookSubscription {
    /// Every delivery attempt as it happens, on any process (owner only),
    /// optionally for one webhook. Ends when the server shuts down.
    async fn delivery_logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only attempts sent to this webhook (`wh_…`); none: every webhook's.")] webhook_id: Option<ID>,
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
