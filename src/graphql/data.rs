//! Data endpoints, data keys and records (seed 001) in GraphQL. Records
//! arrive through the REST data API; here they are managed and inspected.

use async_graphql::{ComplexObject, Context, InputObject, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::graphql::charts::{self, MonthUsage};
use crate::graphql::cost;
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::states::{CallbackStatus, RecordOperation, RecordStatus};
use crate::graphql::{found, ContextExt};
use crate::services::api_keys::Environment;
use crate::services::data_endpoints as endpoints;
use crate::services::records::{self, RecordFilter};

/// A REST data endpoint: `POST /api/v1/data/{slug}` and friends.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct DataEndpoint {
    /// The endpoint's id (`de_…`).
    pub id: ID,
    /// The endpoint's part of the URL: `/api/v1/data/{slug}`; unique in the workspace.
    pub slug: String,
    /// A name for people.
    pub name: String,
    /// JSON Schema that record bodies must satisfy.
    pub schema: Option<Json<serde_json::Value>>,
    /// Whether the endpoint accepts records; a disabled one answers 404.
    pub enabled: bool,
    /// Requests per calendar month (UTC); null: unlimited.
    pub monthly_quota: Option<i64>,
    /// When the endpoint stops accepting records; null: it does not expire.
    pub subscription_expires_at: Option<DateTime<Utc>>,
    /// When the endpoint was created.
    pub created_at: DateTime<Utc>,
    /// When the endpoint was last changed.
    pub updated_at: DateTime<Utc>,
}

#[ComplexObject]
impl DataEndpoint {
    /// The records sent to this endpoint, newest first (for an API key,
    /// those of its own environment).
    #[graphql(complexity = "cost::connection(__field, first, child_complexity)")]
    async fn records(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last record of the previous page.")] after: Option<String>,
    ) -> Result<Conn<Record>> {
        let page = page_args(ctx, (first, after), (None, None), None, "rec")?;
        let filter = RecordFilter { endpoint_id: Some(self.id.0.clone()), ..Default::default() };
        let rows = records::list(&ctx.app().db, ctx.principal()?, filter, &page).await?;
        Ok(connection(rows, |r| r.id.clone(), Record::from))
    }

    /// Requests counted this month (UTC) against the quota.
    async fn usage_this_month(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(endpoints::usage_this_month(&ctx.app().db, &self.id).await?)
    }

    /// Requests counted against the quota per calendar month (UTC) over the
    /// last `months` months, this one included, oldest first; months
    /// without requests are left out. Costs `months` times what it selects.
    #[graphql(
        complexity = "cost::list(months.clamp(1, crate::services::charts::MAX_MONTHS) as usize, child_complexity)"
    )]
    async fn usage_by_month(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 6, desc = "How many months back, 1 to 24, this one included (default 6).")] months: u32,
    ) -> Result<Vec<MonthUsage>> {
        charts::usage_by_month(ctx, &self.id, months).await
    }
}

impl From<entity::data_endpoint::Model> for DataEndpoint {
    fn from(e: entity::data_endpoint::Model) -> Self {
        Self {
            id: ID(e.id),
            slug: e.slug,
            name: e.name,
            schema: e.schema.map(Json),
            enabled: e.enabled,
            monthly_quota: e.monthly_quota,
            subscription_expires_at: e.subscription_expires_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A data key (`tm_test_…`/`tm_live_…`); the secret is shown only on creation.
#[derive(SimpleObject)]
pub struct DataKey {
    /// The key's id (`dk_…`).
    pub id: ID,
    /// A name for people.
    pub name: String,
    /// The user the key belongs to (`usr_…`).
    pub user_id: ID,
    /// `TEST` (`tm_test_…`, sandbox records) or `LIVE` (`tm_live_…`).
    pub environment: Environment,
    /// The secret's first characters, e.g. `tm_live_1234`, to tell keys apart.
    pub prefix: String,
    /// Whether the key works; a disabled key gets 401.
    pub enabled: bool,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
}

impl From<entity::data_key::Model> for DataKey {
    fn from(k: entity::data_key::Model) -> Self {
        Self {
            id: ID(k.id),
            name: k.name,
            user_id: ID(k.user_id),
            environment: Environment::parse(&k.environment).unwrap_or(Environment::Test),
            prefix: k.prefix,
            enabled: k.enabled,
            created_at: k.created_at,
        }
    }
}

/// A record sent to a data endpoint.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Record {
    /// The record's id (`rec_…`).
    pub id: ID,
    /// The data endpoint it was sent to (`de_…`).
    pub endpoint_id: ID,
    /// `TEST` when sent with a `tm_test_…` key, `LIVE` with a `tm_live_…` key.
    pub environment: Environment,
    /// Where the record stands in processing.
    pub status: RecordStatus,
    /// The last requested operation.
    pub operation: RecordOperation,
    /// The record's body as processed; null until its creation is processed, and once deleted.
    pub data: Option<Json<serde_json::Value>>,
    /// Why processing failed; null unless `status` is `FAILED`.
    pub error: Option<String>,
    /// When the record was first sent.
    pub created_at: DateTime<Utc>,
    /// When the record last changed.
    pub updated_at: DateTime<Utc>,
    /// When its last change was processed; null while it waits.
    pub processed_at: Option<DateTime<Utc>>,
    /// Where the processing result went; null without `X-Webhook-Callback`.
    pub callback_status: Option<CallbackStatus>,
    /// Why the callback failed; null unless `callbackStatus` is `FAILED`.
    pub callback_error: Option<String>,
}

#[ComplexObject]
impl Record {
    /// The data endpoint it was sent to. Deleting an endpoint deletes its
    /// records, so this is null only for a read racing that deletion.
    async fn endpoint(&self, ctx: &Context<'_>) -> Result<Option<DataEndpoint>> {
        let p = ctx.principal()?.require(crate::auth::Scope::Read)?;
        let key = (p.workspace_id.clone(), self.endpoint_id.0.clone());
        let loaders = ctx.data_unchecked::<crate::graphql::loaders::Loaders>();
        Ok(loaders.endpoints.load_one(key).await.map_err(crate::Error::internal)?.map(DataEndpoint::from))
    }
}

impl From<entity::record::Model> for Record {
    fn from(r: entity::record::Model) -> Self {
        Self {
            id: ID(r.id),
            endpoint_id: ID(r.endpoint_id),
            environment: Environment::parse(&r.environment).unwrap_or(Environment::Test),
            status: RecordStatus::from_stored(&r.state),
            operation: RecordOperation::from_stored(&r.operation),
            data: r.data.map(Json),
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            processed_at: r.processed_at,
            callback_status: r.callback_state.as_deref().map(CallbackStatus::from_stored),
            callback_error: r.callback_error,
        }
    }
}

/// Which records to list; every field given must match.
#[derive(InputObject, Default)]
pub struct RecordFilterInput {
    /// Only records of this data endpoint.
    pub endpoint_id: Option<ID>,
    /// Only sandbox (`TEST`) or only live (`LIVE`) records; for an API key,
    /// the other environment than its own finds none.
    pub environment: Option<Environment>,
    /// Only records in this state.
    pub status: Option<RecordStatus>,
    /// Only records created or changed at or after this time (for syncing:
    /// pass the time of the last sync).
    pub updated_since: Option<DateTime<Utc>>,
}

/// Which data endpoints to list.
#[derive(InputObject, Default)]
pub struct DataEndpointFilterInput {
    /// Only enabled (`true`) or only disabled (`false`) endpoints.
    pub enabled: Option<bool>,
    /// Case-insensitive part of the slug or name.
    pub search: Option<String>,
}

/// Which data keys to list.
#[derive(InputObject, Default)]
pub struct DataKeyFilterInput {
    /// Only enabled (`true`) or only disabled (`false`) keys.
    pub enabled: Option<bool>,
    /// Only `TEST` or only `LIVE` keys.
    pub environment: Option<Environment>,
}

#[derive(Default)]
pub struct DataQuery;

#[Object]
impl DataQuery {
    /// The workspace's data endpoints, newest first (any member).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn data_endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last endpoint of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the endpoints just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first endpoint of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
        #[graphql(desc = "Which endpoints; none: all of them.")] filter: Option<DataEndpointFilterInput>,
    ) -> Result<Conn<DataEndpoint>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "de")?;
        let f = filter.unwrap_or_default();
        let filter = endpoints::EndpointFilter { enabled: f.enabled, search: f.search };
        let rows = endpoints::list(&ctx.app().db, ctx.principal()?, filter, &page).await?;
        Ok(connection(rows, |e| e.id.clone(), DataEndpoint::from))
    }

    /// One data endpoint; null when it does not exist or is not the caller's.
    async fn data_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id (`de_…`).")] id: ID,
    ) -> Result<Option<DataEndpoint>> {
        Ok(found(endpoints::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(DataEndpoint::from))
    }

    /// Data keys of the workspace (owner only).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn data_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last key of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1 to 100: the keys just newer than `before` (or the oldest ones).")]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first key of the next page, to page back towards newer ones.")] before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
        #[graphql(desc = "Which keys; none: all of them.")] filter: Option<DataKeyFilterInput>,
    ) -> Result<Conn<DataKey>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "dk")?;
        let f = filter.unwrap_or_default();
        let filter = endpoints::KeyFilter { enabled: f.enabled, environment: f.environment };
        let rows = endpoints::list_keys(&ctx.app().db, ctx.principal()?, filter, &page).await?;
        Ok(connection(rows, |k| k.id.clone(), DataKey::from))
    }

    /// Records, newest first, by endpoint, environment and status. An API
    /// key sees only the records of its own environment
    /// (`viewer.recordsEnvironment`); a session or an OAuth token sees
    /// both.
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn records(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last record of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the records just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first record of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
        #[graphql(desc = "Which records; none: all of them.")] filter: Option<RecordFilterInput>,
    ) -> Result<Conn<Record>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "rec")?;
        let f = filter.unwrap_or_default();
        let filter = RecordFilter {
            endpoint_id: f.endpoint_id.map(|i| i.0),
            environment: f.environment.map(|e| e.as_str().to_string()),
            state: f.status.map(|s| s.as_str().to_string()),
            updated_since: f.updated_since,
        };
        let rows = records::list(&ctx.app().db, ctx.principal()?, filter, &page).await?;
        Ok(connection(rows, |r| r.id.clone(), Record::from))
    }

    /// One record; null when it does not exist or is not the caller's
    /// (another workspace's, or another environment's for an API key).
    async fn record(
        &self, ctx: &Context<'_>, #[graphql(desc = "The id (`rec_…`).")] id: ID
    ) -> Result<Option<Record>> {
        Ok(found(records::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(Record::from))
    }
}

#[derive(Default)]
pub struct DataSubscription;

#[async_graphql::Subscription]
impl DataSubscription {
    /// A record each time a change to it is processed (created, replaced,
    /// deleted), for one record or one endpoint or the whole workspace.
    /// Ends when the server shuts down.
    async fn record_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this record (`rec_…`).")] record_id: Option<ID>,
        #[graphql(desc = "Only records of this data endpoint (`de_…`).")] endpoint_id: Option<ID>,
    ) -> Result<impl futures_util::Stream<Item = Record>> {
        use futures_util::StreamExt;
        let p = ctx.principal()?.require(crate::auth::Scope::Read)?.clone();
        let st = ctx.app().clone();
        let (record_id, endpoint_id) = (record_id.map(|i| i.0), endpoint_id.map(|i| i.0));
        let stop = st.shutdown.clone();
        let accept = move |e: &crate::events::Envelope| {
            e.event_type.starts_with("record.")
                && record_id.as_ref().is_none_or(|r| e.subject_id.as_ref() == Some(r))
                && endpoint_id.as_ref().is_none_or(|ep| e.data["endpoint_id"].as_str() == Some(ep.as_str()))
        };
        Ok(ctx
            .live_events(&p.workspace_id, Box::new(accept))
            .then(move |e| {
                let (st, p) = (st.clone(), p.clone());
                async move {
                    let id = e.subject_id.clone().unwrap_or_default();
                    records::get(&st.db, &p, &id).await.ok().map(Record::from)
                }
            })
            .filter_map(std::future::ready)
            .take_until(stop.cancelled_owned()))
    }
}
