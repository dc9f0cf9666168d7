//! API keys (seed 002 §1): create (secret shown once), list, get, update,
//! delete, roll, usage. Owner only.

use async_graphql::{ComplexObject, Context, InputObject, MaybeUndefined, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::auth::Scope;
use crate::graphql::pagination::{connection, page_args, Conn};
use crate::graphql::{found, ContextExt};
use crate::services::api_keys::{self, ApiKeyChanges, ApiKeyFilter, Environment, NewApiKey};

/// Whether a key can be used right now.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyStatus {
    Active,
    Disabled,
    Expired,
}

/// A workspace API key. The secret itself is never readable after creation.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ApiKey {
    pub id: ID,
    pub name: String,
    pub description: String,
    pub environment: Environment,
    /// The secret's first 12 characters, e.g. `sk_live_1234`.
    pub prefix: String,
    pub permissions: Vec<Scope>,
    pub enabled: bool,
    pub status: ApiKeyStatus,
    pub created_by_user_id: ID,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Until when the secret replaced by the last roll still works.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Updated in batches every few seconds.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Requests made with this key (batched like `lastUsedAt`).
    pub usage_count: i64,
}

impl From<entity::api_key::Model> for ApiKey {
    fn from(k: entity::api_key::Model) -> Self {
        let now = Utc::now();
        let status = if !k.enabled {
            ApiKeyStatus::Disabled
        } else if k.expires_at.is_some_and(|t| t <= now) {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        };
        Self {
            permissions: api_keys::scopes(&k).into_iter().collect(),
            environment: Environment::parse(&k.environment).unwrap_or(Environment::Test),
            id: ID(k.id),
            name: k.name,
            description: k.description,
            prefix: k.prefix,
            enabled: k.enabled,
            status,
            created_by_user_id: ID(k.created_by),
            created_at: k.created_at,
            updated_at: k.updated_at,
            expires_at: k.expires_at,
            previous_secret_expires_at: k.previous_expires_at.filter(|t| *t > now),
            last_used_at: k.last_used_at,
            usage_count: k.usage_count,
        }
    }
}

/// Requests of one status class on one day.
#[derive(SimpleObject)]
pub struct StatusClassCount {
    /// `2xx`, `4xx`, `5xx`, …
    pub status_class: String,
    pub count: i64,
}

/// One UTC day of a key's usage.
#[derive(SimpleObject)]
pub struct ApiKeyUsageDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub total: i64,
    pub by_status_class: Vec<StatusClassCount>,
}

#[ComplexObject]
impl ApiKey {
    /// Requests per day and status class over the last `days` days (1–366),
    /// oldest first; days without requests are left out.
    async fn usage(&self, ctx: &Context<'_>, #[graphql(default = 30)] days: u32) -> Result<Vec<ApiKeyUsageDay>> {
        let rows = api_keys::usage(&ctx.app().db, ctx.principal()?, &self.id, days).await?;
        let mut out: Vec<ApiKeyUsageDay> = Vec::new();
        for r in rows {
            if out.last().is_none_or(|d| d.day != r.day) {
                out.push(ApiKeyUsageDay { day: r.day.clone(), total: 0, by_status_class: vec![] });
            }
            let day = out.last_mut().expect("pushed above");
            day.total += r.count;
            day.by_status_class.push(StatusClassCount { status_class: r.status_class, count: r.count });
        }
        Ok(out)
    }
}

#[derive(InputObject, Default)]
pub struct ApiKeyFilterInput {
    pub enabled: Option<bool>,
    pub environment: Option<Environment>,
    /// Case-insensitive part of the name or prefix.
    pub search: Option<String>,
}

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The workspace's API keys, newest first (owner only).
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last key of the previous page.")] after: Option<String>,
        filter: Option<ApiKeyFilterInput>,
    ) -> Result<Conn<ApiKey>> {
        let page = page_args(ctx, first, after, "ak")?;
        let f = filter.unwrap_or_default();
        let filter = ApiKeyFilter { enabled: f.enabled, environment: f.environment, search: f.search };
        let rows = api_keys::list(&ctx.app().db, ctx.principal()?, filter, &page).await?;
        Ok(connection(rows, |k| k.id.clone(), ApiKey::from))
    }

    /// One API key (owner only); null when it does not exist or is not the caller's.
    async fn api_key(
        &self, ctx: &Context<'_>, #[graphql(desc = "The id (`ak_…`).")] id: ID
    ) -> Result<Option<ApiKey>> {
        Ok(found(api_keys::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(ApiKey::from))
    }
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// 1 to 100 characters.
    pub name: String,
    /// At most 500 characters.
    pub description: Option<String>,
    /// At least one.
    pub permissions: Vec<Scope>,
    /// Must be in the future; none means the key does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    #[graphql(default_with = "Environment::Test")]
    pub environment: Environment,
}

#[derive(InputObject)]
pub struct UpdateApiKeyInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<Scope>>,
    /// A future time, or `null` to remove the expiry.
    pub expires_at: MaybeUndefined<DateTime<Utc>>,
    /// `false` disables the key at once; `true` enables it again.
    pub enabled: Option<bool>,
}

/// A key together with its secret. The secret is shown only in this payload.
#[derive(SimpleObject)]
pub struct ApiKeyWithSecret {
    pub api_key: ApiKey,
    /// The full secret (`sk_test_…`/`sk_live_…`). Store it now: it cannot be read again.
    pub key: String,
}

#[derive(SimpleObject)]
pub struct DeleteApiKeyPayload {
    pub deleted_id: ID,
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an API key acting for the caller (owner only). Emits `api_key.created`.
    async fn create_api_key(&self, ctx: &Context<'_>, input: CreateApiKeyInput) -> Result<ApiKeyWithSecret> {
        let new = NewApiKey {
            name: input.name,
            description: input.description,
            permissions: input.permissions,
            expires_at: input.expires_at,
            environment: input.environment,
        };
        let (key, secret) = api_keys::create(ctx.app(), ctx.principal()?, new).await?;
        Ok(ApiKeyWithSecret { api_key: key.into(), key: secret })
    }

    /// Changes a key's name, description, permissions, expiry or enabled
    /// state (owner only). Emits `api_key.updated`.
    async fn update_api_key(&self, ctx: &Context<'_>, id: ID, input: UpdateApiKeyInput) -> Result<ApiKey> {
        let changes = ApiKeyChanges {
            name: input.name,
            description: input.description,
            permissions: input.permissions,
            expires_at: match input.expires_at {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(t) => Some(Some(t)),
            },
            enabled: input.enabled,
        };
        Ok(api_keys::update(ctx.app(), ctx.principal()?, &id, changes).await?.into())
    }

    /// Deletes a key; it stops working at once (owner only). Emits `api_key.deleted`.
    async fn delete_api_key(&self, ctx: &Context<'_>, id: ID) -> Result<DeleteApiKeyPayload> {
        api_keys::delete(ctx.app(), ctx.principal()?, &id).await?;
        Ok(DeleteApiKeyPayload { deleted_id: id })
    }

    /// Issues a new secret for a key (owner only). The old secret keeps
    /// working for `graceSeconds` (default: the server's
    /// `SWITCHYARD_KEY_ROLL_GRACE_SECONDS`, 24 h; 0 revokes it at once; at
    /// most 7 days). Emits `api_key.rolled`.
    async fn roll_api_key(&self, ctx: &Context<'_>, id: ID, grace_seconds: Option<u64>) -> Result<ApiKeyWithSecret> {
        let (key, secret) = api_keys::roll(ctx.app(), ctx.principal()?, &id, grace_seconds).await?;
        Ok(ApiKeyWithSecret { api_key: key.into(), key: secret })
    }
}
