//! Webhook mutations: create, update, delete, rotate the secret, test, and
//! retry deliveries, each `verbNoun(input: …): …Payload!` with `userErrors`.

use std::collections::BTreeMap;

use async_graphql::{Context, InputObject, Json, MaybeUndefined, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::graphql::idempotency;
use crate::graphql::inputs::{clearable, found_at, NotNull};
use crate::graphql::user_errors::{user_errors, UserError, UserErrorCode};
use crate::graphql::webhooks::{Delivery, DeliveryAttempt, RetryPolicyKind, Webhook};
use crate::graphql::ContextExt;
use crate::services::deliveries;
use crate::services::webhooks::{self, NewWebhook, RetryPolicy, WebhookChanges};

/// How a webhook retries failed deliveries.
#[derive(InputObject)]
pub struct RetryPolicyInput {
    /// Which policy.
    pub kind: RetryPolicyKind,
    /// For `CUSTOM` only: seconds before each retry, at most 20 of at most
    /// 86400 each; `[]` means no retries.
    pub delays_seconds: Option<Vec<u64>>,
}

impl RetryPolicyInput {
    fn policy(self) -> std::result::Result<RetryPolicy, UserError> {
        match (self.kind, self.delays_seconds) {
            (RetryPolicyKind::Custom, d) => Ok(RetryPolicy::Custom(d.unwrap_or_default())),
            (_, Some(_)) => Err(UserError::at(
                "retryPolicy.delaysSeconds",
                UserErrorCode::Invalid,
                "Only a CUSTOM policy takes delaysSeconds",
            )),
            (RetryPolicyKind::Collaborator, None) => Ok(RetryPolicy::Collaborator),
            (RetryPolicyKind::Default, None) => Ok(RetryPolicy::Default),
        }
    }
}

/// Seconds to the milliseconds the service stores (saturating: a huge value
/// still fails its range check).
fn millis(seconds: u32) -> u32 {
    seconds.saturating_mul(1000)
}

/// A new webhook.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// http(s) URL; private and loopback addresses are refused unless the
    /// server allows them.
    pub url: String,
    /// Event types or `family.*` patterns (at least one).
    pub event_types: Vec<String>,
    /// Free text for people, at most 500 characters.
    pub description: Option<String>,
    /// Extra headers, e.g. `{"X-Team": "ops"}`, at most 20; `webhook-*` and
    /// `content-type` are reserved.
    #[graphql(secret)]
    pub headers: Option<Json<BTreeMap<String, String>>>,
    /// Whether it receives deliveries from the start (default true).
    #[graphql(default = true)]
    pub enabled: bool,
    /// Deliveries per minute, 1 to 1000000 (default 100); over it they
    /// wait, never drop. `null`: no limit (for receivers you trust to keep up).
    pub rate_limit_per_minute: MaybeUndefined<u32>,
    /// A `whsec_…` secret to use; generated when absent.
    #[graphql(secret)]
    pub secret: Option<String>,
    /// How failed deliveries are retried (default: `DEFAULT`).
    pub retry_policy: Option<RetryPolicyInput>,
    /// How long one delivery request may take, 1 to 60 seconds (default 15).
    pub timeout_seconds: Option<u32>,
    /// Makes a retry safe: the same key with the same input within 24 hours
    /// returns the first call's object (and secret) instead of creating
    /// another; with a different input it is refused (`IDEMPOTENCY_CONFLICT`).
    /// 1 to 255 visible ASCII characters, unique per workspace (per user
    /// when signed in with a browser session).
    pub idempotency_key: Option<String>,
}

/// Changes to a webhook; a field left out stays as it is.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    /// The webhook to change (`wh_…`).
    pub id: ID,
    /// A new http(s) URL.
    pub url: MaybeUndefined<String>,
    /// Event types or `family.*` patterns (at least one).
    pub event_types: MaybeUndefined<Vec<String>>,
    /// At most 500 characters; `""` empties it.
    pub description: MaybeUndefined<String>,
    /// Replaces all custom headers; `{}` removes them.
    #[graphql(secret)]
    pub headers: MaybeUndefined<Json<BTreeMap<String, String>>>,
    /// `false` disables, `true` enables again (clearing the failure record).
    pub enabled: MaybeUndefined<bool>,
    /// Deliveries per minute, 1 to 1000000; `null` removes the limit.
    pub rate_limit_per_minute: MaybeUndefined<u32>,
    /// How failed deliveries are retried from now on.
    pub retry_policy: MaybeUndefined<RetryPolicyInput>,
    /// How long one delivery request may take, 1 to 60 seconds.
    pub timeout_seconds: MaybeUndefined<u32>,
}

/// The webhook created, with its signing secret.
#[derive(SimpleObject)]
pub struct CreateWebhookPayload {
    /// The new webhook; `null` when nothing was created.
    pub webhook: Option<Webhook>,
    /// `whsec_…`: verify signatures with it; it cannot be read again.
    pub secret: Option<String>,
    /// Problems with the input; when there are any, nothing was created.
    pub user_errors: Vec<UserError>,
}

/// The webhook after the change.
#[derive(SimpleObject)]
pub struct UpdateWebhookPayload {
    /// The changed webhook; `null` when nothing changed.
    pub webhook: Option<Webhook>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The webhook to delete.
#[derive(InputObject)]
pub struct DeleteWebhookInput {
    /// The webhook's id (`wh_…`).
    pub id: ID,
}

/// The outcome of `deleteWebhook`.
#[derive(SimpleObject)]
pub struct DeleteWebhookPayload {
    /// The id of the deleted webhook; `null` when nothing was deleted.
    pub deleted_id: Option<ID>,
    /// Problems with the input; when there are any, nothing was deleted.
    pub user_errors: Vec<UserError>,
}

/// The webhook whose secret to rotate.
#[derive(InputObject)]
pub struct RotateWebhookSecretInput {
    /// The webhook's id (`wh_…`).
    pub id: ID,
    /// How long messages are signed with the old secret too, in seconds:
    /// 0 to 604800 (default 86400).
    pub grace_seconds: Option<u64>,
}

/// The webhook with its new signing secret.
#[derive(SimpleObject)]
pub struct RotateWebhookSecretPayload {
    /// The webhook; `null` when nothing changed.
    pub webhook: Option<Webhook>,
    /// The new `whsec_…` secret; it cannot be read again.
    pub secret: Option<String>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The webhook to test.
#[derive(InputObject)]
pub struct TestWebhookInput {
    /// The webhook's id (`wh_…`).
    pub id: ID,
}

/// The outcome of `testWebhook`.
#[derive(SimpleObject)]
pub struct TestWebhookPayload {
    /// The attempt made; `null` when none was.
    pub attempt: Option<DeliveryAttempt>,
    /// Problems with the input.
    pub user_errors: Vec<UserError>,
}

/// The delivery to send again.
#[derive(InputObject)]
pub struct RetryDeliveryInput {
    /// A failed or cancelled delivery (`dlv_…`).
    pub id: ID,
}

/// The delivery, queued again.
#[derive(SimpleObject)]
pub struct RetryDeliveryPayload {
    /// The delivery; `null` when nothing changed.
    pub delivery: Option<Delivery>,
    /// Problems with the input (not failed, webhook disabled); when there
    /// are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// Which failed deliveries to send again.
#[derive(InputObject)]
pub struct RetryFailedDeliveriesInput {
    /// The webhook whose failed deliveries to retry (`wh_…`).
    pub webhook_id: ID,
    /// Only deliveries created at or after this time (all if absent).
    pub since: Option<DateTime<Utc>>,
}

/// How many deliveries were queued again.
#[derive(SimpleObject)]
pub struct RetryFailedDeliveriesPayload {
    /// Deliveries queued again (at most 1000 per call).
    pub retried: u64,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Creates a webhook (owner only). Emits `webhook.created`.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook's URL, event types and settings.")] input: CreateWebhookInput,
    ) -> Result<CreateWebhookPayload> {
        let p = ctx.principal()?;
        let key = input.idempotency_key.clone();
        let retry_policy = match input.retry_policy.map(RetryPolicyInput::policy).transpose() {
            Ok(policy) => policy.unwrap_or(RetryPolicy::Default),
            Err(e) => return Ok(CreateWebhookPayload { webhook: None, secret: None, user_errors: vec![e] }),
        };
        let new = NewWebhook {
            url: input.url,
            endpoint_id: None,
            events: input.event_types,
            description: input.description,
            headers: input.headers.map(|h| h.0).unwrap_or_default(),
            active: input.enabled,
            rate_limit_per_minute: clearable(input.rate_limit_per_minute, |n| n),
            secret: input.secret,
            retry_policy,
            timeout_ms: input.timeout_seconds.map(millis),
        };
        Ok(match user_errors(idempotency::once(ctx, key.as_deref(), webhooks::create(ctx.app(), p, new)).await)? {
            Ok((w, secret)) => {
                CreateWebhookPayload { webhook: Some(w.into()), secret: Some(secret), user_errors: vec![] }
            }
            Err(e) => CreateWebhookPayload { webhook: None, secret: None, user_errors: e },
        })
    }

    /// Changes a webhook; `enabled` turns it off or on again (owner only).
    /// Emits `webhook.updated`.
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook and the changes.")] input: UpdateWebhookInput,
    ) -> Result<UpdateWebhookPayload> {
        let p = ctx.principal()?;
        let mut nn = NotNull::default();
        let retry_policy = nn.take("retryPolicy", input.retry_policy).map(RetryPolicyInput::policy).transpose();
        let changes = WebhookChanges {
            url: nn.take("url", input.url),
            events: nn.take("eventTypes", input.event_types),
            description: nn.take("description", input.description),
            headers: nn.take("headers", input.headers).map(|h| h.0),
            active: nn.take("enabled", input.enabled),
            rate_limit_per_minute: clearable(input.rate_limit_per_minute, |n| n),
            retry_policy: None,
            timeout_ms: nn.take("timeoutSeconds", input.timeout_seconds).map(millis),
        };
        let changes = match (nn.check(), retry_policy) {
            (Ok(()), Ok(retry_policy)) => WebhookChanges { retry_policy, ..changes },
            (nulls, policy) => {
                let mut e = nulls.err().unwrap_or_default();
                e.extend(policy.err());
                return Ok(UpdateWebhookPayload { webhook: None, user_errors: e });
            }
        };
        Ok(match user_errors(webhooks::update(ctx.app(), p, &input.id, changes).await)? {
            Ok(w) => UpdateWebhookPayload { webhook: Some(w.into()), user_errors: vec![] },
            Err(e) => UpdateWebhookPayload { webhook: None, user_errors: e },
        })
    }

    /// Deletes a webhook with its delivery log (owner only). Emits `webhook.deleted`.
    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook to delete.")] input: DeleteWebhookInput,
    ) -> Result<DeleteWebhookPayload> {
        Ok(match user_errors(webhooks::delete(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(()) => DeleteWebhookPayload { deleted_id: Some(input.id), user_errors: vec![] },
            Err(e) => DeleteWebhookPayload { deleted_id: None, user_errors: e },
        })
    }

    /// Issues a new signing secret, returned only here (owner only). For
    /// `graceSeconds` (default 86400, at most 604800, 0 for none) messages
    /// are signed with the old secret too. Emits `webhook.secret_rotated`.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook and the grace period.")] input: RotateWebhookSecretInput,
    ) -> Result<RotateWebhookSecretPayload> {
        let rotated = webhooks::rotate_secret(ctx.app(), ctx.principal()?, &input.id, input.grace_seconds).await;
        Ok(match user_errors(rotated)? {
            Ok((w, secret)) => {
                RotateWebhookSecretPayload { webhook: Some(w.into()), secret: Some(secret), user_errors: vec![] }
            }
            Err(e) => RotateWebhookSecretPayload { webhook: None, secret: None, user_errors: e },
        })
    }

    /// Sends a signed `webhook.test` message now and returns the attempt
    /// (owner only).
    async fn test_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook to test.")] input: TestWebhookInput,
    ) -> Result<TestWebhookPayload> {
        Ok(match user_errors(deliveries::test(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(a) => TestWebhookPayload { attempt: Some(a.into()), user_errors: vec![] },
            Err(e) => TestWebhookPayload { attempt: None, user_errors: e },
        })
    }

    /// Sends a failed or cancelled delivery again, with fresh attempts
    /// (owner only).
    async fn retry_delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery to send again.")] input: RetryDeliveryInput,
    ) -> Result<RetryDeliveryPayload> {
        Ok(match user_errors(deliveries::retry(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(d) => RetryDeliveryPayload { delivery: Some(d.into()), user_errors: vec![] },
            Err(e) => RetryDeliveryPayload { delivery: None, user_errors: e },
        })
    }

    /// Retries the webhook's failed deliveries created since `since` (all if
    /// absent; at most 1000 per call; owner only).
    async fn retry_failed_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook and how far back to go.")] input: RetryFailedDeliveriesInput,
    ) -> Result<RetryFailedDeliveriesPayload> {
        let retried = deliveries::retry_failed(ctx.app(), ctx.principal()?, &input.webhook_id, input.since).await;
        Ok(match user_errors(retried)? {
            Ok(retried) => RetryFailedDeliveriesPayload { retried, user_errors: vec![] },
            Err(e) => RetryFailedDeliveriesPayload { retried: 0, user_errors: found_at(e, "webhookId") },
        })
    }
}
