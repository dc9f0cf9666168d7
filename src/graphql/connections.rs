//! Connections to outside services (seed 000): the provider catalog, the
//! workspace's provider settings, connecting over OAuth, and the
//! connections. Credentials never appear in any type.

use async_graphql::{
    ComplexObject, Context, Enum, InputObject, MaybeUndefined, Object, Result, SimpleObject, Subscription, ID,
};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use crate::graphql::charts::{self, CallBucket, TimeBucket};
use crate::graphql::cost;
use crate::graphql::inputs::clearable;
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::{found, ContextExt};
use crate::services::connections::call::{self as calls, CallStatus};
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

/// A rate window: at most `requests` calls per `perSeconds` seconds.
#[derive(SimpleObject, InputObject, Clone, Copy)]
#[graphql(input_name = "RateWindowInput")]
pub struct RateWindow {
    /// Calls allowed per window, 1 to 10,000,000.
    pub requests: u32,
    /// The window's length in seconds, 1 to 2,678,400 (31 days).
    pub per_seconds: u32,
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
    /// The workspace's own rate limit for calls through the connection,
    /// used instead of the catalog's (null: the catalog's figure).
    pub rate_limit: Option<RateWindow>,
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
            rate_limit: match (s.rate_limit_requests, s.rate_limit_seconds) {
                (Some(requests), Some(per_seconds)) => {
                    Some(RateWindow { requests: requests as u32, per_seconds: per_seconds as u32 })
                }
                _ => None,
            },
            updated_at: s.updated_at,
        }
    }
}

/// The workspace's connection to one service.
#[derive(SimpleObject)]
#[graphql(name = "ServiceConnection", complex)]
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
    /// The last call made through it (to the minute: it is written at most once a minute).
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

#[ComplexObject]
impl ServiceConnection {
    /// The calls made through this connection, newest first (kept for the
    /// delivery-log retention period).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn calls(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last call of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1 to 100: the calls just newer than `before` (or the oldest ones).")]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first call of the next page, to page back towards newer ones.")] before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<ConnectionCall>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "cal")?;
        let rows = calls::list(&ctx.app().db, ctx.principal()?, &self.id, &page).await?;
        Ok(connection(rows, |c| c.id.clone(), ConnectionCall::from))
    }

    /// Calls in the last 24 hours against the provider's quota, and the success rate.
    async fn stats(&self, ctx: &Context<'_>) -> Result<ConnectionStats> {
        let stats = calls::stats(ctx.app(), ctx.principal()?, &self.id, &self.provider).await?;
        Ok(ConnectionStats::new(stats, self.last_used_at))
    }

    /// Calls made through this connection per time bucket, split into
    /// succeeded and failed: the last `buckets` buckets, oldest first, the
    /// last one holding now; buckets without calls are left out. Costs
    /// `buckets` times what it selects.
    #[graphql(
        complexity = "cost::list(buckets.clamp(1, crate::services::charts::MAX_BUCKETS) as usize, child_complexity)"
    )]
    async fn call_timeline(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "TimeBucket::Hour", desc = "How wide a bucket is (default `HOUR`).")]
        bucket: TimeBucket,
        #[graphql(default = 24, desc = "How many buckets back, 1 to 1440 (default 24: the last day of hours).")]
        buckets: u32,
    ) -> Result<Vec<CallBucket>> {
        charts::call_timeline(ctx, &self.id, bucket, buckets).await
    }
}

/// A connection's figures for the dashboard.
#[derive(SimpleObject)]
pub struct ConnectionStats {
    /// Calls made in the last 24 hours, queued ones included.
    pub calls_last_day: u64,
    /// Of those, the ones the provider answered with 2xx.
    pub succeeded_last_day: u64,
    /// Of those, the ones that failed (an error status, unreachable, or the connection broke).
    pub failed_last_day: u64,
    /// Succeeded ÷ finished calls of the last 24 hours, 0 to 1; null before the first finished call.
    pub success_rate: Option<f64>,
    /// The provider's quota over 24 hours, from its rate window (null: the provider publishes none).
    pub quota_per_day: Option<u64>,
    /// `145 / 4800`: calls of the last 24 hours against the 24-hour quota
    /// (just the count when there is no quota).
    pub usage_label: String,
    /// The provider's rate window (the workspace's own or the catalog's).
    pub window: Option<RateWindow>,
    /// Calls counted in the current window.
    pub window_used: u32,
    /// The last call made through the connection (to the minute: it is written at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ConnectionStats {
    fn new(s: calls::Stats, last_used_at: Option<DateTime<Utc>>) -> Self {
        let finished = s.succeeded_24h + s.failed_24h;
        let quota = s.window.map(|w| (w.requests as u64 * 86_400).div_ceil(w.seconds.max(1) as u64));
        Self {
            calls_last_day: s.calls_24h,
            succeeded_last_day: s.succeeded_24h,
            failed_last_day: s.failed_24h,
            success_rate: (finished > 0).then(|| s.succeeded_24h as f64 / finished as f64),
            quota_per_day: quota,
            usage_label: match quota {
                Some(q) => format!("{} / {q}", s.calls_24h),
                None => s.calls_24h.to_string(),
            },
            window: s.window.map(|w| RateWindow { requests: w.requests, per_seconds: w.seconds }),
            window_used: s.window_used,
            last_used_at,
        }
    }
}

/// One connection with its figures.
#[derive(SimpleObject)]
pub struct ConnectionStatsEntry {
    /// The connection.
    pub connection: ServiceConnection,
    /// Its figures.
    pub stats: ConnectionStats,
}

/// An HTTP header.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "HttpHeaderInput")]
pub struct HttpHeader {
    /// The header's name, e.g. `Content-Type`.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A query parameter.
#[derive(InputObject)]
pub struct QueryParamInput {
    /// The parameter's name.
    pub name: String,
    /// Its value (sent URL-encoded).
    pub value: String,
}

/// An HTTP method a call may use.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// Read.
    Get,
    /// Create or act.
    Post,
    /// Replace.
    Put,
    /// Change part of.
    Patch,
    /// Remove.
    Delete,
    /// Read the headers only.
    Head,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
        }
    }
}

/// One call made through a connection: what went out and how it ended.
/// Never holds credentials; the body is cut to 4 KiB.
#[derive(SimpleObject)]
pub struct ConnectionCall {
    /// The call's id (`cal_…`).
    pub id: ID,
    /// The connection it went through (`con_…`).
    pub connection_id: ID,
    /// The HTTP method.
    pub method: String,
    /// Path and query under the provider's API base URL.
    pub path: String,
    /// Queued, succeeded or failed.
    pub status: CallStatus,
    /// The provider's HTTP status; null when no answer came (yet).
    pub http_status: Option<i32>,
    /// Requests sent, retries after 401, 429 and 5xx included.
    pub attempts: i32,
    /// Milliseconds from the first request to the last answer; null while queued.
    pub duration_ms: Option<i64>,
    /// Milliseconds spent waiting for the provider's rate window.
    pub queued_ms: i64,
    /// The answer's headers; null while queued.
    pub response_headers: Option<Vec<HttpHeader>>,
    /// The first 4 KiB of the answer's body; null while queued.
    pub response_body: Option<String>,
    /// Whether `responseBody` was cut.
    pub response_truncated: bool,
    /// Why it failed, in words; null otherwise.
    pub error: Option<String>,
    /// A queued call is not sent before this (the provider's window resets then).
    pub run_after: Option<DateTime<Utc>>,
    /// When the call was made.
    pub created_at: DateTime<Utc>,
    /// When it ended; null while queued.
    pub finished_at: Option<DateTime<Utc>>,
}

fn headers_of(v: &serde_json::Value) -> Vec<HttpHeader> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| HttpHeader { name: k.clone(), value: v.as_str().unwrap_or_default().to_string() })
                .collect()
        })
        .unwrap_or_default()
}

impl From<entity::connection_call::Model> for ConnectionCall {
    fn from(c: entity::connection_call::Model) -> Self {
        Self {
            id: ID(c.id),
            connection_id: ID(c.connection_id),
            method: c.method,
            path: c.path,
            status: CallStatus::parse(&c.status),
            http_status: c.http_status,
            attempts: c.attempts,
            duration_ms: c.duration_ms,
            queued_ms: c.queued_ms,
            response_headers: c.response_headers.as_ref().map(headers_of),
            response_body: c.response_body,
            response_truncated: c.response_truncated,
            error: c.error,
            run_after: c.run_after,
            created_at: c.created_at,
            finished_at: c.finished_at,
        }
    }
}

/// The provider's whole answer to a call that ran at once.
#[derive(SimpleObject)]
pub struct ConnectionResponse {
    /// The HTTP status.
    pub status: i32,
    /// The answer's headers.
    pub headers: Vec<HttpHeader>,
    /// The body as text, up to 1 MiB.
    pub body: String,
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
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn connections(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last connection of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the connections just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first connection of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<ServiceConnection>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "con")?;
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

    /// One call made through a connection; null when it does not exist or is not the caller's.
    async fn connection_call(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id (`cal_…`).")] id: ID,
    ) -> Result<Option<ConnectionCall>> {
        Ok(found(calls::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(ConnectionCall::from))
    }

    /// Every connection of the workspace with its figures for the
    /// dashboard: calls in the last 24 hours against the provider's quota,
    /// success rate, last use (any member).
    async fn connection_stats(&self, ctx: &Context<'_>) -> Result<Vec<ConnectionStatsEntry>> {
        Ok(workspace_stats(ctx.app(), ctx.principal()?).await?)
    }
}

/// Every connection of the caller's workspace with its figures.
async fn workspace_stats(
    st: &crate::state::AppState,
    p: &crate::auth::Principal,
) -> crate::Result<Vec<ConnectionStatsEntry>> {
    let mut out = Vec::new();
    let mut page = crate::services::pagination::PageArgs {
        first: 100,
        after: None,
        count: false,
        backward: false,
        before: None,
        oldest_first: false,
        offset: None,
    };
    loop {
        let rows = service::list(&st.db, p, &page).await?;
        for c in &rows.items {
            let stats = calls::stats(st, p, &c.id, &c.provider).await?;
            out.push(ConnectionStatsEntry {
                stats: ConnectionStats::new(stats, c.last_used_at),
                connection: c.clone().into(),
            });
        }
        match (rows.has_next_page, rows.items.last()) {
            (true, Some(last)) => page.after = Some(last.id.clone()),
            _ => break,
        }
    }
    Ok(out)
}

#[derive(Default)]
pub struct ConnectionSubscription;

#[Subscription]
impl ConnectionSubscription {
    /// The connection dashboard, live: every connection with its figures
    /// now, then every `intervalSeconds` (any member). Ends when the
    /// server shuts down.
    async fn connection_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Seconds between updates, 1 to 300.", default = 5)] interval_seconds: i32,
    ) -> Result<impl Stream<Item = Vec<ConnectionStatsEntry>>> {
        let p = ctx.principal()?.clone();
        p.require(crate::auth::Scope::Read)?;
        if !(1..=300).contains(&interval_seconds) {
            return Err(crate::Error::invalid_field("intervalSeconds", "Between 1 and 300").into());
        }
        let st = ctx.app().clone();
        let stop = st.shutdown.clone();
        let every = std::time::Duration::from_secs(interval_seconds as u64);
        Ok(crate::graphql::jobs::tokio_stream_interval(every)
            .then(move |_| {
                let (st, p) = (st.clone(), p.clone());
                async move { workspace_stats(&st, &p).await }
            })
            .filter_map(
                |r| async move { r.map_err(|e| tracing::warn!(cause = %e, "connection stats unavailable")).ok() },
            )
            .take_until(stop.cancelled_owned()))
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
    #[graphql(secret)]
    pub client_secret: MaybeUndefined<String>,
    /// Overrides the catalog's authorize URL.
    pub authorize_url: MaybeUndefined<String>,
    /// Overrides the catalog's token URL.
    pub token_url: MaybeUndefined<String>,
    /// Overrides the catalog's API base URL.
    pub api_base_url: MaybeUndefined<String>,
    /// The workspace's own rate limit for calls (a custom API, or a plan
    /// that differs from the catalog's figure); null returns to the catalog's.
    pub rate_limit: MaybeUndefined<RateWindow>,
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
    #[graphql(secret)]
    pub api_key: Option<String>,
    /// Send the key in this header instead of `Authorization: Bearer` (e.g. `X-Api-Key`); not a header the
    /// transport sets (`Host`, `Content-Length`, `Content-Type`, `Connection`, …).
    pub header_name: Option<String>,
    /// User name or consumer key (`BASIC` services).
    pub username: Option<String>,
    /// Password or consumer secret (`BASIC` services); stored encrypted.
    #[graphql(secret)]
    pub password: Option<String>,
    /// Where calls go: required for custom APIs; else overrides the API base URL.
    pub base_url: Option<String>,
    /// Incoming webhooks only: the sender's signing secret. A `whsec_…`
    /// secret checks Standard Webhooks signatures; any other (16 to 500
    /// characters) an HMAC-SHA256 of the body in `X-Signature-256` or
    /// `X-Hub-Signature-256`. Without one, the URL alone admits a request.
    #[graphql(secret)]
    pub webhook_secret: Option<String>,
    /// A retry with the same key within 24 hours returns the first call's
    /// connection (and incoming URL) instead of making another; with a
    /// different input it is refused (`IDEMPOTENCY_CONFLICT`). 1 to 255
    /// visible ASCII characters.
    pub idempotency_key: Option<String>,
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

/// A call to make through a connection.
#[derive(InputObject)]
pub struct CallConnectionInput {
    /// The connection to call through (`con_…`).
    pub connection_id: ID,
    /// The HTTP method.
    pub method: HttpMethod,
    /// The path under the provider's API base URL, starting with `/`
    /// (e.g. `/me/media`); may carry a query string.
    pub path: String,
    /// Query parameters to add, URL-encoded by the server.
    #[graphql(default)]
    pub query: Vec<QueryParamInput>,
    /// Extra headers (at most 30). `Authorization` and transport headers
    /// are the server's: the connection's credentials are added to every call.
    #[graphql(secret, default)]
    pub headers: Vec<HttpHeader>,
    /// The request body (at most 256 KiB), sent as `application/json` unless a `Content-Type` header says otherwise.
    #[graphql(secret)]
    pub body: Option<String>,
    /// When the provider's rate window is full: `true` waits for it to
    /// reset if that happens within `timeoutSeconds`; `false` queues the
    /// call at once and returns it with status `QUEUED`.
    #[graphql(default = true)]
    pub wait: bool,
    /// Longest the call may take, waiting and retries included, 1 to 120 seconds.
    #[graphql(default = 30)]
    pub timeout_seconds: i32,
}

/// The call and, when it ran at once, the provider's answer.
#[derive(SimpleObject)]
pub struct CallConnectionPayload {
    /// The logged call: finished, or `QUEUED` (its result arrives later:
    /// read it with `connectionCall(id:)`). Null when the input was refused.
    pub call: Option<ConnectionCall>,
    /// The provider's whole answer; null when the call is queued or no answer came.
    pub response: Option<ConnectionResponse>,
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
            rate_limit: clearable(input.rate_limit, |w| (w.requests, w.per_seconds)),
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
        let key = input.idempotency_key.clone();
        if input.provider == incoming::PROVIDER {
            let work = incoming::create(ctx.app(), ctx.principal()?, input.webhook_secret);
            let made = crate::graphql::idempotency::once(ctx, key.as_deref(), work).await;
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
        let work = direct::create(ctx.app(), ctx.principal()?, &input.provider, creds);
        Ok(match user_errors(crate::graphql::idempotency::once(ctx, key.as_deref(), work).await)? {
            Ok(c) => CreateConnectionPayload { connection: Some(c.into()), incoming_url: None, user_errors: vec![] },
            Err(problems) => CreateConnectionPayload { connection: None, incoming_url: None, user_errors: problems },
        })
    }

    /// Calls the service through a connection (members who may write): the
    /// request goes to the provider's API base URL with the connection's
    /// credentials. Calls keep under the provider's rate limit: when its
    /// window is full the call waits or is queued instead of going out.
    /// A 401 refreshes the token once and retries; a 429 waits for
    /// `Retry-After`; a 5xx is retried twice with backoff; any other status
    /// is the answer. Every call is logged (`ServiceConnection.calls`).
    async fn call_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The connection and the request.")] input: CallConnectionInput,
    ) -> Result<CallConnectionPayload> {
        let request = calls::CallRequest {
            method: input.method.as_str().to_string(),
            path: input.path,
            query: input.query.into_iter().map(|q| (q.name, q.value)).collect(),
            headers: input.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: input.body,
        };
        let timeout = std::time::Duration::from_secs(input.timeout_seconds.max(0) as u64);
        let waiting = crate::services::Waiting { wait: input.wait, timeout };
        let made = calls::call(ctx.app(), ctx.principal()?, &input.connection_id, request, waiting).await;
        Ok(match user_errors(made)? {
            Ok((call, answer)) => CallConnectionPayload {
                call: Some(call.into()),
                response: answer.map(|a| ConnectionResponse {
                    status: a.status as i32,
                    headers: a.headers.into_iter().map(|(name, value)| HttpHeader { name, value }).collect(),
                    body: a.body,
                }),
                user_errors: vec![],
            },
            Err(problems) => CallConnectionPayload { call: None, response: None, user_errors: problems },
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
