//! API keys (seed 002 §1): create (secret shown once), list, get, update,
//! delete, roll, usage. Owner only.

use async_graphql::{ComplexObject, Context, InputObject, MaybeUndefined, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::auth::Scope;
use crate::graphql::cost;
use crate::graphql::idempotency;
use crate::graphql::inputs::{clearable, NotNull};
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::{found, ContextExt};
use crate::services::api_keys::{self, ApiKeyChanges, ApiKeyFilter, Environment, NewApiKey};

/// Whether a key can be used right now.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyStatus {
    /// Enabled and not expired: requests with it are accepted.
    Active,
    /// Turned off with `updateApiKey`; requests with it get 401.
    Disabled,
    /// Past its `expiresAt`; requests with it get 401.
    Expired,
}

/// A workspace API key. The secret itself is never readable after creation.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ApiKey {
    /// The key's id (`ak_…`).
    pub id: ID,
    /// A name for people, 1 to 100 characters.
    pub name: String,
    /// Free text for people; `""` when none.
    pub description: String,
    /// `TEST` (`sk_test_…`) or `LIVE` (`sk_live_…`).
    pub environment: Environment,
    /// The secret's first 12 characters, e.g. `sk_live_1234`.
    pub prefix: String,
    /// What the key may do; its owner's role limits it further.
    pub scopes: Vec<Scope>,
    /// Whether the key may be used; `false` after it is disabled.
    pub enabled: bool,
    /// Whether the key works right now (enabled and not expired).
    pub status: ApiKeyStatus,
    /// The member who created the key (`usr_…`); the key acts as them.
    pub created_by_user_id: ID,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// When the key was last changed or rolled.
    pub updated_at: DateTime<Utc>,
    /// When the key stops working; null: it does not expire.
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
            scopes: api_keys::scopes(&k).into_iter().collect(),
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
    /// Requests of this class on this day.
    pub count: i64,
}

/// One UTC day of a key's usage.
#[derive(SimpleObject)]
pub struct ApiKeyUsageDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// All requests on this day.
    pub total: i64,
    /// The same requests split by HTTP status class.
    pub by_status_class: Vec<StatusClassCount>,
}

#[ComplexObject]
impl ApiKey {
    /// The user the key acts for (who created it); null once their account is deleted.
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<crate::graphql::viewer::User>> {
        let p = ctx.principal()?;
        let key = (p.workspace_id.clone(), self.created_by_user_id.0.clone());
        let loaders = ctx.data_unchecked::<crate::graphql::loaders::Loaders>();
        let user = loaders.users.load_one(key).await.map_err(crate::Error::internal)?;
        Ok(user.map(crate::graphql::viewer::User::from))
    }

    /// Requests per day and status class over the last `days` days (1–366),
    /// oldest first; days without requests are left out. Costs `days` times
    /// what it selects.
    #[graphql(complexity = "cost::days(days, child_complexity)")]
    async fn usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30, desc = "How many days back, 1 to 366.")] days: u32,
    ) -> Result<Vec<ApiKeyUsageDay>> {
        let rows = api_keys::usage(&ctx.app().db, ctx.principal()?, &self.id, days).await?;
        Ok(usage_days(rows.into_iter().map(|r| (r.day, r.status_class, r.count))))
    }
}

/// Groups `(day, status class, count)` rows, ordered by day, into days.
pub fn usage_days(rows: impl IntoIterator<Item = (String, String, i64)>) -> Vec<ApiKeyUsageDay> {
    let mut out: Vec<ApiKeyUsageDay> = Vec::new();
    for (day, status_class, count) in rows {
        if out.last().is_none_or(|d| d.day != day) {
            out.push(ApiKeyUsageDay { day: day.clone(), total: 0, by_status_class: vec![] });
        }
        let last = out.last_mut().expect("pushed above");
        last.total += count;
        last.by_status_class.push(StatusClassCount { status_class, count });
    }
    out
}

/// Which API keys to list; every field given must match.
#[derive(InputObject, Default)]
pub struct ApiKeyFilterInput {
    /// Only enabled (`true`) or only disabled (`false`) keys.
    pub enabled: Option<bool>,
    /// Only `TEST` or only `LIVE` keys.
    pub environment: Option<Environment>,
    /// Case-insensitive part of the name or prefix.
    pub search: Option<String>,
}

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The workspace's API keys, newest first (owner only).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last key of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1 to 100: the keys just newer than `before` (or the oldest ones).")]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first key of the next page, to page back towards newer ones.")] before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
        #[graphql(desc = "Which keys; none: all of them.")] filter: Option<ApiKeyFilterInput>,
    ) -> Result<Conn<ApiKey>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "ak")?;
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

/// A new API key.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// 1 to 100 characters.
    pub name: String,
    /// At most 500 characters.
    pub description: Option<String>,
    /// What the key may do; at least one.
    pub scopes: Vec<Scope>,
    /// Must be in the future; none means the key does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// `TEST` (`sk_test_…`, the default) or `LIVE` (`sk_live_…`).
    #[graphql(default_with = "Environment::Test")]
    pub environment: Environment,
    /// Makes a retry safe: the same key with the same input within 24 hours
    /// returns the first call's object (and secret) instead of creating
    /// another; with a different input it is refused (`IDEMPOTENCY_CONFLICT`).
    /// 1 to 255 visible ASCII characters, unique per workspace (per user
    /// when signed in with a browser session).
    pub idempotency_key: Option<String>,
}

/// The key created, with its secret.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    /// The new key; `null` when nothing was created.
    pub api_key: Option<ApiKey>,
    /// The full secret (`sk_test_…`/`sk_live_…`). Store it now: it cannot be read again.
    pub secret: Option<String>,
    /// Problems with the input; when there are any, nothing was created.
    pub user_errors: Vec<UserError>,
}

/// Changes to a key; a field left out stays as it is.
#[derive(InputObject)]
pub struct UpdateApiKeyInput {
    /// The key to change (`ak_…`).
    pub id: ID,
    /// 1 to 100 characters.
    pub name: MaybeUndefined<String>,
    /// At most 500 characters; `""` empties it.
    pub description: MaybeUndefined<String>,
    /// At least one.
    pub scopes: MaybeUndefined<Vec<Scope>>,
    /// A future time, or `null` to remove the expiry.
    pub expires_at: MaybeUndefined<DateTime<Utc>>,
    /// `false` disables the key at once; `true` enables it again.
    pub enabled: MaybeUndefined<bool>,
}

/// The key after the change.
#[derive(SimpleObject)]
pub struct UpdateApiKeyPayload {
    /// The changed key; `null` when nothing changed.
    pub api_key: Option<ApiKey>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The key to delete.
#[derive(InputObject)]
pub struct DeleteApiKeyInput {
    /// The key's id (`ak_…`).
    pub id: ID,
}

/// The outcome of `deleteApiKey`.
#[derive(SimpleObject)]
pub struct DeleteApiKeyPayload {
    /// The id of the deleted key; `null` when nothing was deleted.
    pub deleted_id: Option<ID>,
    /// Problems with the input; when there are any, nothing was deleted.
    pub user_errors: Vec<UserError>,
}

/// The key to roll.
#[derive(InputObject)]
pub struct RollApiKeyInput {
    /// The key's id (`ak_…`).
    pub id: ID,
    /// How long the old secret keeps working, in seconds: 0 to 604800
    /// (default: the server's `SWITCHYARD_KEY_ROLL_GRACE_SECONDS`, 24 h).
    pub grace_seconds: Option<u64>,
}

/// The key with its new secret.
#[derive(SimpleObject)]
pub struct RollApiKeyPayload {
    /// The rolled key; `null` when nothing changed.
    pub api_key: Option<ApiKey>,
    /// The new secret. Store it now: it cannot be read again.
    pub secret: Option<String>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an API key acting for the caller (owner only). Emits `api_key.created`.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key's name, scopes, expiry and environment.")] input: CreateApiKeyInput,
    ) -> Result<CreateApiKeyPayload> {
        let key = input.idempotency_key.clone();
        let new = NewApiKey {
            name: input.name,
            description: input.description,
            permissions: input.scopes,
            expires_at: input.expires_at,
            environment: input.environment,
        };
        Ok(
            match user_errors(
                idempotency::once(ctx, key.as_deref(), api_keys::create(ctx.app(), ctx.principal()?, new)).await,
            )? {
                Ok((key, secret)) => {
                    CreateApiKeyPayload { api_key: Some(key.into()), secret: Some(secret), user_errors: vec![] }
                }
                Err(e) => CreateApiKeyPayload { api_key: None, secret: None, user_errors: e },
            },
        )
    }

    /// Changes a key's name, description, scopes, expiry or enabled
    /// state (owner only). Emits `api_key.updated`.
    async fn update_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key and the changes.")] input: UpdateApiKeyInput,
    ) -> Result<UpdateApiKeyPayload> {
        let p = ctx.principal()?;
        let mut nn = NotNull::default();
        let changes = ApiKeyChanges {
            name: nn.take("name", input.name),
            description: nn.take("description", input.description),
            permissions: nn.take("scopes", input.scopes),
            expires_at: clearable(input.expires_at, |t| t),
            enabled: nn.take("enabled", input.enabled),
        };
        if let Err(e) = nn.check() {
            return Ok(UpdateApiKeyPayload { api_key: None, user_errors: e });
        }
        Ok(match user_errors(api_keys::update(ctx.app(), p, &input.id, changes).await)? {
            Ok(key) => UpdateApiKeyPayload { api_key: Some(key.into()), user_errors: vec![] },
            Err(e) => UpdateApiKeyPayload { api_key: None, user_errors: e },
        })
    }

    /// Deletes a key; it stops working at once (owner only). Emits `api_key.deleted`.
    async fn delete_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to delete.")] input: DeleteApiKeyInput,
    ) -> Result<DeleteApiKeyPayload> {
        Ok(match user_errors(api_keys::delete(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(()) => DeleteApiKeyPayload { deleted_id: Some(input.id), user_errors: vec![] },
            Err(e) => DeleteApiKeyPayload { deleted_id: None, user_errors: e },
        })
    }

    /// Issues a new secret for a key (owner only). The old secret keeps
    /// working for `graceSeconds` (default: the server's
    /// `SWITCHYARD_KEY_ROLL_GRACE_SECONDS`, 24 h; 0 revokes it at once; at
    /// most 7 days). One old secret is kept: rolling again while a grace
    /// period runs ends it, and the secret just replaced takes its place.
    /// Emits `api_key.rolled`.
    async fn roll_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key and how long its old secret keeps working.")] input: RollApiKeyInput,
    ) -> Result<RollApiKeyPayload> {
        Ok(match user_errors(api_keys::roll(ctx.app(), ctx.principal()?, &input.id, input.grace_seconds).await)? {
            Ok((key, secret)) => {
                RollApiKeyPayload { api_key: Some(key.into()), secret: Some(secret), user_errors: vec![] }
            }
            Err(e) => RollApiKeyPayload { api_key: None, secret: None, user_errors: e },
        })
    }
}
