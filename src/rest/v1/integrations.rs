//! `/v1/integrations` (seed 002 §3) over [`crate::services::integrations`]:
//! create, list, read, update, delete, test (one real call) and sync (a
//! queued run). Secret config fields are always `***`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{created, renamed, whole, ApiJson, ApiQuery, ApiResult, Caller, ErrorBody, PageQuery, Pagination};
use crate::rest::Http;
use crate::services::integrations::{self, Changes, IntegrationStatus, NewIntegration, Settings};

pub fn router() -> Router<Http> {
    Router::new()
        .route("/v1/integrations", get(list).post(create))
        .route("/v1/integrations/{id}", get(read).put(update).delete(remove))
        .route("/v1/integrations/{id}/test", post(test))
        .route("/v1/integrations/{id}/sync", post(sync))
        .route("/v1/integrations/{id}/sync-runs", get(sync_runs))
}

/// Service field names as this API spells them.
const FIELDS: &[(&str, &str)] = &[("settings.syncIntervalSeconds", "settings.sync_interval")];

/// The default seconds between scheduled syncs.
const DEFAULT_INTERVAL: u32 = 300;

/// An integration's state.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationState {
    /// Working: tests and syncs run, auto-sync fires.
    Active,
    /// Turned off: no auto-sync, no sync.
    Inactive,
    /// The last sync failed (`last_error` says why); the next one that succeeds clears it.
    Error,
}

impl From<IntegrationState> for IntegrationStatus {
    fn from(s: IntegrationState) -> Self {
        match s {
            IntegrationState::Active => IntegrationStatus::Active,
            IntegrationState::Inactive => IntegrationStatus::Inactive,
            IntegrationState::Error => IntegrationStatus::Error,
        }
    }
}

impl From<IntegrationStatus> for IntegrationState {
    fn from(s: IntegrationStatus) -> Self {
        match s {
            IntegrationStatus::Active => IntegrationState::Active,
            IntegrationStatus::Inactive => IntegrationState::Inactive,
            IntegrationStatus::Error => IntegrationState::Error,
        }
    }
}

/// The status a person can set.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum SettableIntegrationState {
    Active,
    Inactive,
}

/// How often an integration syncs by itself.
#[derive(Serialize, ToSchema)]
pub struct IntegrationSettings {
    /// Whether it syncs on a schedule.
    pub auto_sync: bool,
    /// Seconds between scheduled syncs.
    pub sync_interval: i64,
}

/// Auto-sync settings to set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationSettingsInput {
    /// Whether it syncs on a schedule (integrations that have a sync).
    pub auto_sync: bool,
    /// Seconds between scheduled syncs, 60 to 2678400 (default 300).
    #[serde(default, deserialize_with = "whole")]
    #[schema(value_type = Option<u32>)]
    pub sync_interval: Option<u32>,
}

impl From<IntegrationSettingsInput> for Settings {
    fn from(s: IntegrationSettingsInput) -> Self {
        Settings {
            auto_sync: s.auto_sync,
            sync_interval_seconds: i64::from(s.sync_interval.unwrap_or(DEFAULT_INTERVAL)),
        }
    }
}

/// A service integration.
#[derive(Serialize, ToSchema)]
pub struct Integration {
    /// `int_…`.
    pub id: String,
    pub name: String,
    /// `slack`, `webhook`, or a service of the connections catalog.
    pub service_type: String,
    /// Its config; every secret field that is set is `***`.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub settings: IntegrationSettings,
    pub status: IntegrationState,
    /// When the last test ran; `null`: never.
    pub last_test_at: Option<DateTime<Utc>>,
    /// The HTTP status the last test got; `null` when no answer came.
    pub last_test_status_code: Option<i32>,
    /// Why the last test failed; `null` when it passed (or never ran).
    pub last_test_error: Option<String>,
    /// When the last sync ended; `null`: never.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Why the last sync failed; `null` when it succeeded.
    pub last_error: Option<String>,
    /// Items every sync so far sent (outbound) or stored (inbound).
    pub items_synced: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<entity::integration::Model> for Integration {
    fn from(i: entity::integration::Model) -> Self {
        Self {
            status: IntegrationStatus::parse(&i.status).into(),
            settings: IntegrationSettings { auto_sync: i.auto_sync, sync_interval: i.sync_interval_seconds },
            id: i.id,
            name: i.name,
            service_type: i.service_type,
            config: i.config,
            last_test_at: i.last_test_at,
            last_test_status_code: i.last_test_status,
            last_test_error: i.last_test_error,
            last_sync_at: i.last_sync_at,
            last_error: i.last_error,
            items_synced: i.items_synced,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// A page of integrations.
#[derive(Serialize, ToSchema)]
pub struct IntegrationList {
    pub data: Vec<Integration>,
    pub pagination: Pagination,
}

/// `POST /v1/integrations`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({ "name": "Slack集成", "service_type": "slack",
    "config": { "webhook_url": "http://127.0.0.1:9/services/T000/B000/XXXX", "channel": "#general",
                "username": "TaiShangLaoJun" },
    "settings": { "auto_sync": true, "sync_interval": 300 } }))]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    /// 1 to 100 characters.
    pub name: String,
    /// `slack`, `webhook`, or a service of the connections catalog (needs the workspace's connection).
    pub service_type: String,
    /// Checked against the service type's schema; default `{}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
    /// Default: no auto-sync.
    #[serde(default)]
    pub settings: Option<IntegrationSettingsInput>,
}

/// `PUT /v1/integrations/{id}`: absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    pub name: Option<String>,
    /// The whole new config; a secret field sent back as `***` keeps its stored value.
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
    pub settings: Option<IntegrationSettingsInput>,
    /// `active` or `inactive` (`error` is set by a failed sync).
    pub status: Option<SettableIntegrationState>,
}

/// The outcome of a test.
#[derive(Serialize, ToSchema)]
pub struct IntegrationTestResult {
    /// Whether the service accepted the call.
    pub ok: bool,
    /// The HTTP status the service answered; `null` when no answer came.
    pub status_code: Option<i32>,
    /// Why it failed (secrets shown as `***`); `null` when it passed.
    pub error: Option<String>,
    /// The integration with the outcome recorded.
    pub integration: Integration,
}

/// A sync run.
#[derive(Serialize, ToSchema)]
pub struct SyncRun {
    /// `isr_…`.
    pub id: String,
    /// `int_…`.
    pub integration_id: String,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// `queued`, `running`, `succeeded`, `failed` or `skipped` (another
    /// run of the integration was running: `note` names it).
    pub status: String,
    /// Items it sent (outbound) or created and replaced (inbound).
    pub items: i64,
    /// Records it deleted because their item is gone at the service
    /// (inbound with `delete_missing`, after reading every page).
    pub deleted: i64,
    /// Why it failed; `null` otherwise.
    pub error: Option<String>,
    /// What a run that did not fail should tell: a sync stopped at a bound
    /// (inbound: the next run continues the listing; outbound: time or a
    /// long `Retry-After`, the next run goes on from its cursor), an inbound
    /// sync whose deletions were held back, or the run a skipped one found
    /// running; `null` otherwise.
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it ended (a paused run: when it paused); `null` while queued or running.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<entity::integration_run::Model> for SyncRun {
    fn from(r: entity::integration_run::Model) -> Self {
        Self {
            id: r.id,
            integration_id: r.integration_id,
            trigger: r.trigger,
            status: r.status,
            items: r.items,
            deleted: r.deleted,
            error: r.error,
            note: r.note,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

/// A page of sync runs.
#[derive(Serialize, ToSchema)]
pub struct SyncRunList {
    pub data: Vec<SyncRun>,
    pub pagination: Pagination,
}

/// Filters of `GET /v1/integrations`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListIntegrations {
    /// Only integrations of this service type (`slack`).
    pub service_type: Option<String>,
    /// Only integrations with this status.
    pub status: Option<IntegrationState>,
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

const ID: &str = "`int_…`";

#[utoipa::path(post, path = "/v1/integrations", tag = "integrations", request_body = CreateIntegration,
    responses((status = 201, body = Integration), (status = 400, body = ErrorBody)),
    description = "Creates an integration (owner with `write`). Emits `integration.created`.")]
pub async fn create(
    State(h): State<Http>,
    Caller(p): Caller,
    ApiJson(b): ApiJson<CreateIntegration>,
) -> ApiResult<Response> {
    let new = NewIntegration {
        name: b.name,
        service_type: b.service_type,
        config: b.config.unwrap_or_else(|| serde_json::json!({})),
        settings: b
            .settings
            .map(Settings::from)
            .unwrap_or(Settings { auto_sync: false, sync_interval_seconds: i64::from(DEFAULT_INTERVAL) }),
    };
    let row = integrations::create(&h.app, &p, new).await.map_err(renamed(FIELDS))?;
    Ok(created(Integration::from(row)))
}

#[utoipa::path(get, path = "/v1/integrations", tag = "integrations", params(ListIntegrations),
    responses((status = 200, body = IntegrationList), (status = 400, body = ErrorBody)),
    description = "The workspace's integrations, newest first.")]
pub async fn list(
    State(h): State<Http>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListIntegrations>,
) -> ApiResult<Json<IntegrationList>> {
    let pq = PageQuery { page: q.page, limit: q.limit };
    let page =
        integrations::list(&h.app.db, &p, q.service_type.as_deref(), q.status.map(Into::into), &pq.args()?).await?;
    let pagination = Pagination::of(&pq, &page);
    Ok(Json(IntegrationList { data: page.items.into_iter().map(Integration::from).collect(), pagination }))
}

#[utoipa::path(get, path = "/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = Integration),
              (status = 404, body = ErrorBody)))]
pub async fn read(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<Json<Integration>> {
    Ok(Json(integrations::get(&h.app.db, &p, &id).await?.into()))
}

#[utoipa::path(put, path = "/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path, description = ID)),
    request_body = UpdateIntegration,
    responses((status = 200, body = Integration), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    description = "Changes an integration (owner); its schedule follows. Emits `integration.updated`.")]
pub async fn update(
    State(h): State<Http>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateIntegration>,
) -> ApiResult<Json<Integration>> {
    let changes = Changes {
        name: b.name,
        config: b.config,
        settings: b.settings.map(Settings::from),
        status: b.status.map(|s| match s {
            SettableIntegrationState::Active => IntegrationStatus::Active,
            SettableIntegrationState::Inactive => IntegrationStatus::Inactive,
        }),
    };
    Ok(Json(integrations::update(&h.app, &p, &id, changes).await.map_err(renamed(FIELDS))?.into()))
}

#[utoipa::path(delete, path = "/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path, description = ID)),
    responses((status = 204, description = "Deleted with its runs and schedule"), (status = 404, body = ErrorBody)),
    description = "Deletes an integration (owner). Emits `integration.deleted`.")]
pub async fn remove(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    integrations::delete(&h.app, &p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/integrations/{id}/test", tag = "integrations",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, description = "Called now; the outcome, whatever the service answered", body = IntegrationTestResult), (status = 404, body = ErrorBody)),
    description = "Makes one real call: Slack gets a test message, a webhook a signed `integration.test` message, \
a connected service its who-am-I call. The outcome is recorded on the integration.")]
pub async fn test(
    State(h): State<Http>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<IntegrationTestResult>> {
    let i = integrations::test(&h.app, &p, &id).await?;
    Ok(Json(IntegrationTestResult {
        ok: i.last_test_error.is_none(),
        status_code: i.last_test_status,
        error: i.last_test_error.clone(),
        integration: i.into(),
    }))
}

#[utoipa::path(post, path = "/v1/integrations/{id}/sync", tag = "integrations",
    params(("id" = String, Path, description = ID)),
    responses((status = 202, description = "Queued; the integration's `last_sync_at`, `last_error` and \
`items_synced` show how it went", body = SyncRun),
              (status = 400, description = "The integration has no sync or is inactive", body = ErrorBody), (status = 404, body = ErrorBody)),
    description = "Runs the integration's sync now, as a job: outbound, the events its filter selects since the \
last one sent, in order; inbound, its resource into its data endpoint. One run of an integration at a time: one \
that finds another running ends `skipped`.")]
pub async fn sync(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let run = integrations::request_sync(&h.app, &p, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(SyncRun::from(run))).into_response())
}

#[utoipa::path(get, path = "/v1/integrations/{id}/sync-runs", tag = "integrations",
    params(("id" = String, Path, description = ID), PageQuery),
    responses((status = 200, body = SyncRunList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    description = "The integration's sync runs (manual and scheduled), newest first.")]
pub async fn sync_runs(
    State(h): State<Http>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<SyncRunList>> {
    let page = integrations::runs_of(&h.app.db, &p, &id, &q.args()?).await?;
    let pagination = Pagination::of(&q, &page);
    Ok(Json(SyncRunList { data: page.items.into_iter().map(SyncRun::from).collect(), pagination }))
}
