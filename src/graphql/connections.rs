//! Connections to outside services (seed 000): the provider catalog, the
//! workspace's provider settings, connecting over OAuth, and the
//! connections. Credentials never appear in any type.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::graphql::inputs::clearable;
use crate::graphql::pagination::{connection, page_args, Conn};
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::{found, ContextExt};
use crate::services::connections::catalog::{self, AuthKind, ProviderCategory};
use crate::services::connections::{self as service, connect, direct, incoming, settings, ConnectionStatus};

/// A provider's documented rate limit, which calls through its connection keep under.
#[derive(SimpleObject)]
pub struct ProviderRateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window, in seconds (3600: an hour).
    pub per_seconds: u32,
    /// Who the limit counts: `user`, `app` or `workspace`.
    pub per: String,
    /// Where the figure comes from.
    pub source: String,
}

/// A service of the catalog.
#[derive(SimpleObject)]
pub struct Provider {
    /// The catalog key, e.g. `instagram`.
    pub key: String,
    /// The service's name, e.g. `Instagram`.
    pub name: String,
    /// What kind of service it is.
    pub category: ProviderCategory,
    /// How a connection authenticates.
    pub auth_kind: AuthKind,
    /// The scopes a connect asks for.
    pub default_scopes: Vec<String>,
    /// Where API calls go (null when the workspace must give it, e.g. a custom API or a store's own URL).
    pub api_base_url: Option<String>,
    /// The documented rate limit; null when the provider publishes none.
    pub rate_limit: Option<ProviderRateLimit>,
    /// Why there is no rate limit figure, when there is none.
    pub rate_limit_note: Option<String>,
}

impl From<&catalog::Provider> for Provider {
    fn from(p: &catalog::Provider) -> Self {
        Self {
            key: p.key.clone(),
            name: p.name.clone(),
            category: p.category,
            auth_kind: p.auth,
            default_scopes: p.scopes.clone(),
            api_base_url: p.api_base_url.clone().filter(|u| !u.contains('{')),
            rate_limit: p.rate_limit.as_ref().map(|r| ProviderRateLimit {
                requests: r.requests,
                per_seconds: r.per_seconds,
                per: r.per.clone(),
                source: r.source.clone(),
            }),
            rate_limit_note: p.rate_limit_note.clone(),
        }
    }
}

/// A workspace's settings for one provider. The client secret is never shown.
#[derive(SimpleObject)]
pub struct ProviderSettings {
    /// The catalog key.
    pub provider: String,
    /// The workspace's OAuth client id at the provider.
    pub client_id: Option<String>,
    /// `***` when a client secret is set, else null.
    pub client_secret: Option<String>,
    /// Overrides the catalog's authorize URL (a sandbox, a self-hosted store).
    pub authorize_url: Option<String>,
    /// Overrides the catalog's token URL.
    pub token_url: Option<String>,
    /// Overrides the catalog's API base URL.
    pub api_base_url: Option<String>,
    /// When they were last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<entity::provider_setting::Model> for ProviderSettings {
    fn from(s: entity::provider_setting::Model) -> Self {
        Self {
            provider: s.provider,
            client_id: s.client_id,
            client_secret: s.client_secret_enc.map(|_| "***".to_string()),
            authorize_url: s.authorize_url,
            token_url: s.token_url,
            api_base_url: s.api_base_url,
            updated_at: s.updated_at,
        }
    }
}

/// The workspace's connection to one service.
#[derive(SimpleObject)]
#[graphql(name = "ServiceConnection")]
pub struct ServiceConnection {
    /// The connection's id (`con_…`).
    pub id: ID,
    /// The catalog key of the service.
    pub provider: String,
    /// The account as the service names it, e.g. `@mybusiness`.
    pub account: String,
    /// Whether calls can go out with it.
    pub status: ConnectionStatus,
    /// The scopes the service granted.
    pub scopes: Vec<String>,
    /// When the access token expires (null: it does not, or the service did not say).
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Whether the token is refreshed before it expires.
    pub auto_refresh: bool,
    /// When the connection was made.
    pub created_at: DateTime<Utc>,
    /// When it was last changed (reconnected, refreshed).
    pub updated_at: DateTime<Utc>,
    /// The last call made through it.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<entity::connection::Model> for ServiceConnection {
    fn from(c: entity::connection::Model) -> Self {
        Self {
            id: ID(c.id),
            status: ConnectionStatus::parse(&c.status),
            scopes: c
                .scopes
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            provider: c.provider,
            account: c.account,
            token_expires_at: c.token_expires_at,
            auto_refresh: c.auto_refresh,
            created_at: c.created_at,
            updated_at: c.updated_at,
            last_used_at: c.last_used_at,
        }
    }
}

#[derive(Default)]
pub struct ConnectionQuery;

#[Object]
impl ConnectionQuery {
    /// The services a workspace can connect (any member).
    async fn providers(&self, ctx: &Context<'_>) -> Result<Vec<Provider>> {
        ctx.principal()?.require(crate::auth::Scope::Read)?;
        Ok(catalog::all().iter().map(Provider::from).collect())
    }

    /// The workspace's provider settings (owner only).
    async fn provider_settings(&self, ctx: &Context<'_>) -> Result<Vec<ProviderSettings>> {
        Ok(settings::list(&ctx.app().db, ctx.principal()?).await?.into_iter().map(ProviderSettings::from).collect())
    }

    /// The workspace's connections, newest first.
    async fn connections(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last connection of the previous page.")] after: Option<String>,
    ) -> Result<Conn<ServiceConnection>> {
        let page = page_args(ctx, first, after, "con")?;
        let rows = service::list(&ctx.app().db, ctx.principal()?, &page).await?;
        Ok(connection(rows, |c| c.id.clone(), ServiceConnection::from))
    }

    /// One connection; null when it does not exist or is not the caller's.
    async fn connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id (`con_…`).")] id: ID,
    ) -> Result<Option<ServiceConnection>> {
        Ok(found(service::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(ServiceConnection::from))
    }
}

/// A provider's settings to change; a field left out stays, `null` clears it.
#[derive(InputObject)]
pub struct SetProviderSettingsInput {
    /// The catalog key, e.g. `instagram`.
    pub provider: String,
    /// The workspace's OAuth client id at the provider.
    pub client_id: MaybeUndefined<String>,
    /// The OAuth client secret; stored encrypted and never shown again.
    pub client_secret: MaybeUndefined<String>,
    /// Overrides the catalog's authorize URL.
    pub authorize_url: MaybeUndefined<String>,
    /// Overrides the catalog's token URL.
    pub token_url: MaybeUndefined<String>,
    /// Overrides the catalog's API base URL.
    pub api_base_url: MaybeUndefined<String>,
}

/// The provider's settings after the change.
#[derive(SimpleObject)]
pub struct SetProviderSettingsPayload {
    /// The settings as they are now; null when nothing changed.
    pub provider_settings: Option<ProviderSettings>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Names the service to connect.
#[derive(InputObject)]
pub struct StartConnectionInput {
    /// The catalog key of an OAuth service, e.g. `instagram`.
    pub provider: String,
}

/// Where to send the browser.
#[derive(SimpleObject)]
pub struct StartConnectionPayload {
    /// The provider's authorize URL; the provider sends the browser back to
    /// `/connect/{provider}/callback`. Null when nothing was started.
    pub authorize_url: Option<String>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// The credentials of a service that takes a key or a password.
#[derive(InputObject)]
pub struct CreateConnectionInput {
    /// The catalog key of an `API_KEY` or `BASIC` service, e.g. `stripe`.
    pub provider: String,
    /// The secret key or token (`API_KEY` services); stored encrypted.
    pub api_key: Option<String>,
    /// Send the key in this header instead of `Authorization: Bearer` (e.g. `X-Api-Key`).
    pub header_name: Option<String>,
    /// User name or consumer key (`BASIC` services).
    pub username: Option<String>,
    /// Password or consumer secret (`BASIC` services); stored encrypted.
    pub password: Option<String>,
    /// Where calls go: required for custom APIs; else overrides the API base URL.
    pub base_url: Option<String>,
    /// Incoming webhooks only: the sender's signing secret. A `whsec_…`
    /// secret checks Standard Webhooks signatures; any other (16 to 500
    /// characters) an HMAC-SHA256 of the body in `X-Signature-256` or
    /// `X-Hub-Signature-256`. Without one, the URL alone admits a request.
    pub webhook_secret: Option<String>,
}

/// The new connection.
#[derive(SimpleObject)]
pub struct CreateConnectionPayload {
    /// The connection; null when the credentials were refused or the input is wrong.
    pub connection: Option<ServiceConnection>,
    /// Incoming webhooks only: the URL senders post to, shown this once
    /// (it holds the connection's token).
    pub incoming_url: Option<String>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Names one connection.
#[derive(InputObject)]
pub struct DeleteConnectionInput {
    /// The connection (`con_…`).
    pub id: ID,
}

/// What a deletion removed.
#[derive(SimpleObject)]
pub struct DeleteConnectionPayload {
    /// The deleted connection's id; null when nothing was deleted.
    pub deleted_id: Option<ID>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ConnectionMutation;

#[Object]
impl ConnectionMutation {
    /// Sets the workspace's OAuth client and URL overrides for a provider (owner only).
    async fn set_provider_settings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider and the settings to change.")] input: SetProviderSettingsInput,
    ) -> Result<SetProviderSettingsPayload> {
        let changes = settings::SettingsChanges {
            client_id: clearable(input.client_id, |v| v),
            client_secret: clearable(input.client_secret, |v| v),
            authorize_url: clearable(input.authorize_url, |v| v),
            token_url: clearable(input.token_url, |v| v),
            api_base_url: clearable(input.api_base_url, |v| v),
        };
        Ok(match user_errors(settings::set(ctx.app(), ctx.principal()?, &input.provider, changes).await)? {
            Ok(s) => SetProviderSettingsPayload { provider_settings: Some(s.into()), user_errors: vec![] },
            Err(problems) => SetProviderSettingsPayload { provider_settings: None, user_errors: problems },
        })
    }

    /// Starts connecting an OAuth service (owner only, signed in in a
    /// browser): returns the provider's authorize URL. A second connection of
    /// the same service is refused (`TAKEN`).
    async fn start_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service to connect.")] input: StartConnectionInput,
    ) -> Result<StartConnectionPayload> {
        Ok(match user_errors(connect::start(ctx.app(), ctx.principal()?, &input.provider).await)? {
            Ok(url) => StartConnectionPayload { authorize_url: Some(url), user_errors: vec![] },
            Err(problems) => StartConnectionPayload { authorize_url: None, user_errors: problems },
        })
    }

    /// Connects a service that takes a key or a password (owner only): the
    /// credentials are checked by one real call before anything is stored.
    /// Emits `connection.created`.
    async fn create_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The service and its credentials.")] input: CreateConnectionInput,
    ) -> Result<CreateConnectionPayload> {
        if input.provider == incoming::PROVIDER {
            let made = incoming::create(ctx.app(), ctx.principal()?, input.webhook_secret).await;
            return Ok(match user_errors(made)? {
                Ok((c, url)) => {
                    CreateConnectionPayload { connection: Some(c.into()), incoming_url: Some(url), user_errors: vec![] }
                }
                Err(problems) => {
                    CreateConnectionPayload { connection: None, incoming_url: None, user_errors: problems }
                }
            });
        }
        let creds = direct::DirectCredentials {
            api_key: input.api_key,
            header_name: input.header_name,
            username: input.username,
            password: input.password,
            base_url: input.base_url,
        };
        Ok(match user_errors(direct::create(ctx.app(), ctx.principal()?, &input.provider, creds).await)? {
            Ok(c) => CreateConnectionPayload { connection: Some(c.into()), incoming_url: None, user_errors: vec![] },
            Err(problems) => CreateConnectionPayload { connection: None, incoming_url: None, user_errors: problems },
        })
    }

    /// Removes a connection and its stored credentials (owner only). Emits `connection.deleted`.
    async fn delete_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The connection to remove.")] input: DeleteConnectionInput,
    ) -> Result<DeleteConnectionPayload> {
        Ok(match user_errors(service::delete(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(()) => DeleteConnectionPayload { deleted_id: Some(input.id), user_errors: vec![] },
            Err(problems) => DeleteConnectionPayload { deleted_id: None, user_errors: problems },
        })
    }
}
