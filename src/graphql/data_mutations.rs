//! Data endpoint and data key mutations (owner only), each
//! `verbNoun(input: …): …Payload!` with `userErrors`.

use async_graphql::{Context, InputObject, Json, MaybeUndefined, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::graphql::data::{DataEndpoint, DataKey};
use crate::graphql::idempotency;
use crate::graphql::inputs::{clearable, found_at, NotNull};
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::webhooks::Webhook;
use crate::graphql::ContextExt;
use crate::services::api_keys::Environment;
use crate::services::data_endpoints::{self as endpoints, DataKeyChanges, EndpointChanges, NewDataKey, NewEndpoint};
use crate::services::webhooks::{self, NewWebhook, RetryPolicy};

/// A new data endpoint.
#[derive(InputObject)]
pub struct CreateDataEndpointInput {
    /// 1–64 of a-z, 0-9, '-', '_'; unique in the workspace. Records are
    /// sent to `/api/v1/data/{slug}`.
    pub slug: String,
    /// A name for people, 1 to 100 characters.
    pub name: String,
    /// A JSON Schema for record bodies.
    pub schema: Option<Json<serde_json::Value>>,
    /// Whether it accepts records from the start (default true).
    #[graphql(default = true)]
    pub enabled: bool,
    /// Requests per calendar month (UTC), at least 1; none: unlimited.
    pub monthly_quota: Option<i64>,
    /// After this time it answers 403; none: never.
    pub subscription_expires_at: Option<DateTime<Utc>>,
    /// Makes a retry safe: the same key with the same input within 24 hours
    /// returns the first call's object (and secret) instead of creating
    /// another; with a different input it is refused (`IDEMPOTENCY_CONFLICT`).
    /// 1 to 255 visible ASCII characters, unique per workspace (per user
    /// when signed in with a browser session).
    pub idempotency_key: Option<String>,
}

/// The endpoint created, with the secret that signs its callbacks.
#[derive(SimpleObject)]
pub struct CreateDataEndpointPayload {
    /// The new endpoint; `null` when nothing was created.
    pub data_endpoint: Option<DataEndpoint>,
    /// `whsec_…`: callbacks carry Standard Webhooks signatures made with
    /// it. Shown only here.
    pub secret: Option<String>,
    /// Problems with the input (`TAKEN`: the slug is used); when there are
    /// any, nothing was created.
    pub user_errors: Vec<UserError>,
}

/// Changes to a data endpoint; a field left out stays as it is.
#[derive(InputObject)]
pub struct UpdateDataEndpointInput {
    /// The endpoint to change (`de_…`).
    pub id: ID,
    /// A name for people, 1 to 100 characters.
    pub name: MaybeUndefined<String>,
    /// A JSON Schema for record bodies; `null` removes it.
    pub schema: MaybeUndefined<Json<serde_json::Value>>,
    /// `false`: requests get 403 until it is enabled again.
    pub enabled: MaybeUndefined<bool>,
    /// Requests per calendar month (UTC), at least 1; `null`: unlimited.
    pub monthly_quota: MaybeUndefined<i64>,
    /// After this time it answers 403; `null`: never.
    pub subscription_expires_at: MaybeUndefined<DateTime<Utc>>,
}

/// The endpoint after the change.
#[derive(SimpleObject)]
pub struct UpdateDataEndpointPayload {
    /// The changed endpoint; `null` when nothing changed.
    pub data_endpoint: Option<DataEndpoint>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The data endpoint to delete.
#[derive(InputObject)]
pub struct DeleteDataEndpointInput {
    /// The endpoint's id (`de_…`).
    pub id: ID,
}

/// The outcome of `deleteDataEndpoint`.
#[derive(SimpleObject)]
pub struct DeleteDataEndpointPayload {
    /// The id of the deleted endpoint; `null` when nothing was deleted.
    pub deleted_id: Option<ID>,
    /// Problems with the input; when there are any, nothing was deleted.
    pub user_errors: Vec<UserError>,
}

/// The data endpoint whose signing secret to replace.
#[derive(InputObject)]
pub struct RotateDataEndpointSecretInput {
    /// The endpoint's id (`de_…`).
    pub id: ID,
}

/// The endpoint with its new signing secret.
#[derive(SimpleObject)]
pub struct RotateDataEndpointSecretPayload {
    /// The endpoint; `null` when nothing changed.
    pub data_endpoint: Option<DataEndpoint>,
    /// The new `whsec_…` secret; callbacks are signed with it from now on
    /// (the old one stops at once). Shown only here.
    pub secret: Option<String>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// A new data key.
#[derive(InputObject)]
pub struct CreateDataKeyInput {
    /// A name for people, 1 to 100 characters.
    pub name: String,
    /// The member the key is for (`usr_…`; default: the caller).
    pub user_id: Option<ID>,
    /// `TEST` (`tm_test_…`, sandbox data, the default) or `LIVE` (`tm_live_…`).
    #[graphql(default_with = "Environment::Test")]
    pub environment: Environment,
    /// Makes a retry safe: the same key with the same input within 24 hours
    /// returns the first call's object (and secret) instead of creating
    /// another; with a different input it is refused (`IDEMPOTENCY_CONFLICT`).
    /// 1 to 255 visible ASCII characters, unique per workspace (per user
    /// when signed in with a browser session).
    pub idempotency_key: Option<String>,
}

/// The data key created, with its secret.
#[derive(SimpleObject)]
pub struct CreateDataKeyPayload {
    /// The new key; `null` when nothing was created.
    pub data_key: Option<DataKey>,
    /// `tm_test_…`/`tm_live_…`, shown only here.
    pub secret: Option<String>,
    /// Problems with the input; when there are any, nothing was created.
    pub user_errors: Vec<UserError>,
}

/// Changes to a data key; a field left out stays as it is.
#[derive(InputObject)]
pub struct UpdateDataKeyInput {
    /// The key to change (`dk_…`).
    pub id: ID,
    /// A name for people, 1 to 100 characters.
    pub name: MaybeUndefined<String>,
    /// `false`: the key gets 401 at once; `true`: it works again.
    pub enabled: MaybeUndefined<bool>,
}

/// The data key after the change.
#[derive(SimpleObject)]
pub struct UpdateDataKeyPayload {
    /// The changed key; `null` when nothing changed.
    pub data_key: Option<DataKey>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The data key to delete.
#[derive(InputObject)]
pub struct DeleteDataKeyInput {
    /// The key's id (`dk_…`).
    pub id: ID,
}

/// The outcome of `deleteDataKey`.
#[derive(SimpleObject)]
pub struct DeleteDataKeyPayload {
    /// The id of the deleted key; `null` when nothing was deleted.
    pub deleted_id: Option<ID>,
    /// Problems with the input; when there are any, nothing was deleted.
    pub user_errors: Vec<UserError>,
}

/// The data key to roll.
#[derive(InputObject)]
pub struct RollDataKeyInput {
    /// The key's id (`dk_…`).
    pub id: ID,
}

/// The data key with its new secret.
#[derive(SimpleObject)]
pub struct RollDataKeyPayload {
    /// The key; `null` when nothing changed.
    pub data_key: Option<DataKey>,
    /// The new `tm_…` secret (the old one gets 401 at once), shown only here.
    pub secret: Option<String>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// Where a data endpoint's processing results should go.
#[derive(InputObject)]
pub struct CreateCollaboratorWebhookInput {
    /// The data endpoint whose records it follows (`de_…`).
    pub endpoint_id: ID,
    /// http(s) URL that receives the `record.*` events.
    pub url: String,
    /// Makes a retry safe: the same key with the same input within 24 hours
    /// returns the first call's object (and secret) instead of creating
    /// another; with a different input it is refused (`IDEMPOTENCY_CONFLICT`).
    /// 1 to 255 visible ASCII characters, unique per workspace (per user
    /// when signed in with a browser session).
    pub idempotency_key: Option<String>,
}

/// The collaborator webhook created, with its signing secret.
#[derive(SimpleObject)]
pub struct CreateCollaboratorWebhookPayload {
    /// The new webhook; `null` when nothing was created.
    pub webhook: Option<Webhook>,
    /// `whsec_…`: verify signatures with it; it cannot be read again.
    pub secret: Option<String>,
    /// Problems with the input; when there are any, nothing was created.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct DataMutation;

#[Object]
impl DataMutation {
    /// Creates a data endpoint (owner only).
    async fn create_data_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's slug, name, schema and limits.")] input: CreateDataEndpointInput,
    ) -> Result<CreateDataEndpointPayload> {
        let key = input.idempotency_key.clone();
        let new = NewEndpoint {
            slug: input.slug,
            name: input.name,
            schema: input.schema.map(|j| j.0),
            enabled: input.enabled,
            monthly_quota: input.monthly_quota,
            subscription_expires_at: input.subscription_expires_at,
        };
        Ok(
            match user_errors(
                idempotency::once(ctx, key.as_deref(), endpoints::create(ctx.app(), ctx.principal()?, new)).await,
            )? {
                Ok((e, secret)) => CreateDataEndpointPayload {
                    data_endpoint: Some(e.into()),
                    secret: Some(secret),
                    user_errors: vec![],
                },
                Err(e) => CreateDataEndpointPayload { data_endpoint: None, secret: None, user_errors: e },
            },
        )
    }

    /// Changes a data endpoint (owner only); `null` clears schema, quota or expiry.
    async fn update_data_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint and the changes.")] input: UpdateDataEndpointInput,
    ) -> Result<UpdateDataEndpointPayload> {
        let p = ctx.principal()?;
        let mut nn = NotNull::default();
        let changes = EndpointChanges {
            name: nn.take("name", input.name),
            schema: clearable(input.schema, |j| j.0),
            enabled: nn.take("enabled", input.enabled),
            monthly_quota: clearable(input.monthly_quota, |q| q),
            subscription_expires_at: clearable(input.subscription_expires_at, |t| t),
        };
        if let Err(e) = nn.check() {
            return Ok(UpdateDataEndpointPayload { data_endpoint: None, user_errors: e });
        }
        Ok(match user_errors(endpoints::update(ctx.app(), p, &input.id, changes).await)? {
            Ok(e) => UpdateDataEndpointPayload { data_endpoint: Some(e.into()), user_errors: vec![] },
            Err(e) => UpdateDataEndpointPayload { data_endpoint: None, user_errors: e },
        })
    }

    /// Deletes a data endpoint with its records, usage and collaborator
    /// webhooks (owner only); its URL answers 404 at once. Emits
    /// `webhook.deleted` for each collaborator webhook.
    async fn delete_data_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint to delete.")] input: DeleteDataEndpointInput,
    ) -> Result<DeleteDataEndpointPayload> {
        Ok(match user_errors(endpoints::delete(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(()) => DeleteDataEndpointPayload { deleted_id: Some(input.id), user_errors: vec![] },
            Err(e) => DeleteDataEndpointPayload { deleted_id: None, user_errors: e },
        })
    }

    /// Replaces the secret that signs an endpoint's callbacks (owner only);
    /// the old secret stops at once.
    async fn rotate_data_endpoint_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint whose secret to replace.")] input: RotateDataEndpointSecretInput,
    ) -> Result<RotateDataEndpointSecretPayload> {
        Ok(match user_errors(endpoints::rotate_secret(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok((e, secret)) => RotateDataEndpointSecretPayload {
                data_endpoint: Some(e.into()),
                secret: Some(secret),
                user_errors: vec![],
            },
            Err(e) => RotateDataEndpointSecretPayload { data_endpoint: None, secret: None, user_errors: e },
        })
    }

    /// Creates a data key for a member (owner only).
    async fn create_data_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's name, member and environment.")] input: CreateDataKeyInput,
    ) -> Result<CreateDataKeyPayload> {
        let key = input.idempotency_key.clone();
        let new = NewDataKey { user_id: input.user_id.map(|i| i.0), name: input.name, environment: input.environment };
        let created = idempotency::once(ctx, key.as_deref(), endpoints::create_key(ctx.app(), ctx.principal()?, new));
        Ok(match user_errors(created.await)? {
            Ok((k, secret)) => {
                CreateDataKeyPayload { data_key: Some(k.into()), secret: Some(secret), user_errors: vec![] }
            }
            Err(e) => CreateDataKeyPayload { data_key: None, secret: None, user_errors: found_at(e, "userId") },
        })
    }

    /// Renames, disables or enables a data key (owner only); a disabled
    /// key gets 401.
    async fn update_data_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key and the changes.")] input: UpdateDataKeyInput,
    ) -> Result<UpdateDataKeyPayload> {
        let p = ctx.principal()?;
        let mut nn = NotNull::default();
        let changes = DataKeyChanges { name: nn.take("name", input.name), enabled: nn.take("enabled", input.enabled) };
        if let Err(e) = nn.check() {
            return Ok(UpdateDataKeyPayload { data_key: None, user_errors: e });
        }
        Ok(match user_errors(endpoints::update_key(ctx.app(), p, &input.id, changes).await)? {
            Ok(k) => UpdateDataKeyPayload { data_key: Some(k.into()), user_errors: vec![] },
            Err(e) => UpdateDataKeyPayload { data_key: None, user_errors: e },
        })
    }

    /// Deletes a data key (owner only); it gets 401 at once. Records sent
    /// with it stay.
    async fn delete_data_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to delete.")] input: DeleteDataKeyInput,
    ) -> Result<DeleteDataKeyPayload> {
        Ok(match user_errors(endpoints::delete_key(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(()) => DeleteDataKeyPayload { deleted_id: Some(input.id), user_errors: vec![] },
            Err(e) => DeleteDataKeyPayload { deleted_id: None, user_errors: e },
        })
    }

    /// Issues a new secret for a data key (owner only); the old secret gets
    /// 401 at once.
    async fn roll_data_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to roll.")] input: RollDataKeyInput,
    ) -> Result<RollDataKeyPayload> {
        Ok(match user_errors(endpoints::roll_key(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok((k, secret)) => {
                RollDataKeyPayload { data_key: Some(k.into()), secret: Some(secret), user_errors: vec![] }
            }
            Err(e) => RollDataKeyPayload { data_key: None, secret: None, user_errors: e },
        })
    }

    /// Adds a collaborator webhook to an endpoint (owner only): it receives
    /// that endpoint's processing results (`record.*`) with the collaborator
    /// policy, at most 3 retries 60 s apart. Manage it afterwards like any
    /// webhook. Emits `webhook.created`.
    async fn create_collaborator_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint and the URL.")] input: CreateCollaboratorWebhookInput,
    ) -> Result<CreateCollaboratorWebhookPayload> {
        let (st, p) = (ctx.app(), ctx.principal()?);
        let key = input.idempotency_key.clone();
        let created = async {
            let endpoint = endpoints::get(&st.db, p, &input.endpoint_id).await?;
            let new = NewWebhook {
                url: input.url,
                endpoint_id: Some(endpoint.id.clone()),
                events: vec!["record.*".into()],
                description: Some(format!("Collaborator webhook of /api/v1/data/{}", endpoint.slug)),
                headers: Default::default(),
                active: true,
                rate_limit_per_minute: None,
                secret: None,
                retry_policy: RetryPolicy::Collaborator,
                timeout_ms: None,
            };
            webhooks::create(st, p, new).await
        };
        let created = idempotency::once(ctx, key.as_deref(), created).await;
        Ok(match user_errors(created)? {
            Ok((w, secret)) => {
                CreateCollaboratorWebhookPayload { webhook: Some(w.into()), secret: Some(secret), user_errors: vec![] }
            }
            Err(e) => {
                CreateCollaboratorWebhookPayload { webhook: None, secret: None, user_errors: found_at(e, "endpointId") }
            }
        })
    }
}
