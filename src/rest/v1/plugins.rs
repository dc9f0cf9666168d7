//! `/v1/plugins` (seed 002 §2) over [`crate::services::plugins`]: install,
//! list, turn on or off, replace the config, uninstall. Secret config
//! fields are always `***`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{created, ApiJson, ApiQuery, ApiResult, Caller, ErrorBody, PageQuery, Pagination};
use crate::rest::Http;
use crate::services::plugins::{self, Manifest, PluginSource, PluginStatus};

pub fn router() -> Router<Http> {
    Router::new()
        .route("/v1/plugins", get(list))
        .route("/v1/plugins/install", post(install))
        .route("/v1/plugins/{id}", get(read).delete(uninstall))
        .route("/v1/plugins/{id}/status", patch(set_status))
        .route("/v1/plugins/{id}/config", put(update_config))
}

/// Whether an installed plugin works.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    /// Its hooks run and its actions can be called.
    Active,
    /// Installed but off.
    Inactive,
}

impl From<PluginState> for PluginStatus {
    fn from(s: PluginState) -> Self {
        match s {
            PluginState::Active => PluginStatus::Active,
            PluginState::Inactive => PluginStatus::Inactive,
        }
    }
}

/// Where a plugin's manifest comes from.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub enum PluginOrigin {
    /// Shipped with the server.
    #[default]
    Marketplace,
    /// One of the workspace's own manifests (GraphQL `addPluginManifest`).
    Custom,
}

impl From<PluginOrigin> for PluginSource {
    fn from(s: PluginOrigin) -> Self {
        match s {
            PluginOrigin::Marketplace => PluginSource::Marketplace,
            PluginOrigin::Custom => PluginSource::Custom,
        }
    }
}

/// An installed plugin.
#[derive(Serialize, ToSchema)]
pub struct Plugin {
    /// The manifest's id, e.g. `plugin_weather_v1.0.0`, as the seed shows it
    /// (it names the version: an upgrade changes it). Paths take it, the
    /// installation id or the key.
    pub id: String,
    /// The manifest's id again, as `POST /plugins/install` takes it.
    pub plugin_id: String,
    /// The installation (`plg_…`), the same across upgrades; GraphQL's `id`.
    pub installation_id: String,
    /// The plugin's key, the same across versions (`weather`).
    pub key: String,
    pub name: String,
    pub description: String,
    pub version: String,
    pub author: String,
    pub source: PluginOrigin,
    pub status: PluginState,
    /// The config; every secret field that is set is `***`.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub installed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<entity::plugin::Model> for Plugin {
    fn from(row: entity::plugin::Model) -> Self {
        let m: Option<Manifest> = serde_json::from_value(row.manifest.clone()).ok();
        let (name, description, version, author) =
            m.map(|m| (m.name, m.description, m.version, m.author)).unwrap_or_default();
        Self {
            id: row.plugin_id.clone(),
            plugin_id: row.plugin_id,
            installation_id: row.id,
            key: row.key,
            name,
            description,
            version,
            author,
            source: if PluginSource::parse(&row.source) == PluginSource::Custom {
                PluginOrigin::Custom
            } else {
                PluginOrigin::Marketplace
            },
            status: if PluginStatus::parse(&row.status) == PluginStatus::Active {
                PluginState::Active
            } else {
                PluginState::Inactive
            },
            config: row.config,
            installed_at: row.installed_at,
            updated_at: row.updated_at,
        }
    }
}

/// A page of plugins.
#[derive(Serialize, ToSchema)]
pub struct PluginList {
    pub data: Vec<Plugin>,
    pub pagination: Pagination,
}

/// `POST /v1/plugins/install`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({ "plugin_id": "plugin_weather_v1.0.0", "source": "marketplace",
    "config": { "api_key": "your_weather_api_key", "default_city": "Beijing" } }))]
#[serde(deny_unknown_fields)]
pub struct InstallPlugin {
    /// The manifest's id, e.g. `plugin_weather_v1.0.0`. A newer version of
    /// an installed plugin upgrades it in place (its config carried over).
    pub plugin_id: String,
    /// Default `marketplace`.
    #[serde(default)]
    pub source: Option<PluginOrigin>,
    /// Checked against the manifest's `config_schema`; default `{}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}

/// `PATCH /v1/plugins/{id}/status`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPluginStatus {
    pub status: PluginState,
}

/// `PUT /v1/plugins/{id}/config`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({ "config": { "api_key": "***", "default_city": "Shanghai" } }))]
#[serde(deny_unknown_fields)]
pub struct UpdatePluginConfig {
    /// The whole new config, checked against the manifest's schema; a
    /// secret field sent back as `***` keeps its stored value.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

/// Filters of `GET /v1/plugins`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListPlugins {
    /// Only plugins with this status.
    pub status: Option<PluginState>,
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

const ID: &str = "`plg_…`, the manifest id (`plugin_weather_v1.0.0`) or the key (`weather`)";

#[utoipa::path(post, path = "/v1/plugins/install", tag = "plugins", request_body = InstallPlugin,
    responses((status = 201, description = "Installed (or upgraded to this newer version)", body = Plugin),
              (status = 400, body = ErrorBody)),
    description = "Installs a plugin (owner with `write`). Emits `plugin.installed`.")]
pub async fn install(
    State(h): State<Http>,
    Caller(p): Caller,
    ApiJson(b): ApiJson<InstallPlugin>,
) -> ApiResult<Response> {
    let source = b.source.unwrap_or_default().into();
    let config = b.config.unwrap_or_else(|| serde_json::json!({}));
    let row = plugins::install(&h.app, &p, &b.plugin_id, source, config).await?;
    Ok(created(Plugin::from(row)))
}

#[utoipa::path(get, path = "/v1/plugins", tag = "plugins", params(ListPlugins),
    responses((status = 200, body = PluginList), (status = 400, body = ErrorBody)),
    description = "The workspace's installed plugins, newest first.")]
pub async fn list(
    State(h): State<Http>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListPlugins>,
) -> ApiResult<Json<PluginList>> {
    let pq = PageQuery { page: q.page, limit: q.limit };
    let page = plugins::list(&h.app.db, &p, q.status.map(Into::into), &pq.args()?).await?;
    let pagination = Pagination::of(&pq, &page);
    Ok(Json(PluginList { data: page.items.into_iter().map(Plugin::from).collect(), pagination }))
}

#[utoipa::path(get, path = "/v1/plugins/{id}", tag = "plugins", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = Plugin), (status = 404, body = ErrorBody)),
    description = "One installed plugin; its secret config fields are `***`.")]
pub async fn read(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<Json<Plugin>> {
    Ok(Json(plugins::get(&h.app.db, &p, &id).await?.into()))
}

#[utoipa::path(patch, path = "/v1/plugins/{id}/status", tag = "plugins", params(("id" = String, Path, description = ID)),
    request_body = SetPluginStatus,
    responses((status = 200, body = Plugin), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    description = "Turns a plugin on or off (owner); an inactive plugin runs no hooks and refuses actions.")]
pub async fn set_status(
    State(h): State<Http>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<SetPluginStatus>,
) -> ApiResult<Json<Plugin>> {
    Ok(Json(plugins::set_status(&h.app, &p, &id, b.status.into()).await?.into()))
}

#[utoipa::path(put, path = "/v1/plugins/{id}/config", tag = "plugins", params(("id" = String, Path, description = ID)),
    request_body = UpdatePluginConfig,
    responses((status = 200, body = Plugin), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    description = "Replaces a plugin's config (owner), checked against its schema.")]
pub async fn update_config(
    State(h): State<Http>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdatePluginConfig>,
) -> ApiResult<Json<Plugin>> {
    Ok(Json(plugins::update_config(&h.app, &p, &id, b.config).await?.into()))
}

#[utoipa::path(delete, path = "/v1/plugins/{id}", tag = "plugins", params(("id" = String, Path, description = ID)),
    responses((status = 204, description = "Uninstalled with its secrets and call log"), (status = 404, body = ErrorBody)),
    description = "Uninstalls a plugin (owner): its hooks stop at once. Emits `plugin.uninstalled`.")]
pub async fn uninstall(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    plugins::uninstall(&h.app, &p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
