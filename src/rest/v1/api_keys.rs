//! `/v1/api-keys` (seed 002 §1) over [`crate::services::api_keys`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{created, renamed, ApiJson, ApiQuery, ApiResult, Caller, ErrorBody, PageQuery, Pagination};
use crate::auth::Scope;
use crate::rest::Http;
use crate::services::api_keys::{self, ApiKeyChanges, ApiKeyFilter, Environment, NewApiKey};

pub fn router() -> Router<Http> {
    Router::new()
        .route("/v1/api-keys", get(list).post(create))
        .route("/v1/api-keys/{id}", get(read).put(update).delete(remove))
        .route("/v1/api-keys/{id}/usage", get(usage))
}

/// Service field names as this API spells them.
const FIELDS: &[(&str, &str)] = &[("scopes", "permissions")];

/// What a key may do.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Every query.
    Read,
    /// Every change.
    Write,
    /// Members and API keys (with the owner role).
    Admin,
}

impl From<Permission> for Scope {
    fn from(p: Permission) -> Self {
        match p {
            Permission::Read => Scope::Read,
            Permission::Write => Scope::Write,
            Permission::Admin => Scope::Admin,
        }
    }
}

impl From<Scope> for Permission {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Read => Permission::Read,
            Scope::Write => Permission::Write,
            Scope::Admin => Permission::Admin,
        }
    }
}

/// Sandbox (`sk_test_…`) or production (`sk_live_…`).
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum KeyEnvironment {
    Test,
    Live,
}

impl From<KeyEnvironment> for Environment {
    fn from(e: KeyEnvironment) -> Self {
        match e {
            KeyEnvironment::Test => Environment::Test,
            KeyEnvironment::Live => Environment::Live,
        }
    }
}

/// An API key. `key` (the secret) is present only in the answer to its creation.
#[derive(Serialize, ToSchema)]
pub struct ApiKey {
    /// `ak_…`.
    pub id: String,
    pub name: String,
    /// `""` when none.
    pub description: String,
    /// The secret, shown once: only in the answer to `POST /v1/api-keys`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The secret's first 12 characters, e.g. `sk_live_1234`.
    pub prefix: String,
    pub permissions: Vec<Permission>,
    /// `test` or `live`.
    #[schema(value_type = KeyEnvironment)]
    pub environment: &'static str,
    /// `false` once disabled with `PUT`.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `null`: it does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// Updated in batches every few seconds.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Requests made with the key (batched like `last_used_at`).
    pub usage_count: i64,
}

impl ApiKey {
    fn from_model(k: entity::api_key::Model, key: Option<String>) -> Self {
        let env = Environment::parse(&k.environment).unwrap_or(Environment::Test);
        Self {
            permissions: api_keys::scopes(&k).into_iter().map(Permission::from).collect(),
            environment: env.as_str(),
            id: k.id,
            name: k.name,
            description: k.description,
            key,
            prefix: k.prefix,
            enabled: k.enabled,
            created_at: k.created_at,
            updated_at: k.updated_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            usage_count: k.usage_count,
        }
    }
}

/// A page of API keys.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKey>,
    pub pagination: Pagination,
}

/// `POST /v1/api-keys`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({ "name": "我的API密钥", "description": "用于第三方应用集成", "permissions": ["read", "write"],
    "expires_at": "2099-12-31T23:59:59Z" }))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// 1 to 100 characters.
    pub name: String,
    /// At most 500 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// At least one (default `["read"]`).
    #[serde(default)]
    pub permissions: Option<Vec<Permission>>,
    /// In the future; `null` or absent: never.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Default `test`.
    #[serde(default)]
    pub environment: Option<KeyEnvironment>,
}

/// `PUT /v1/api-keys/{id}`: absent fields stay as they are;
/// `"expires_at": null` removes the expiry.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApiKey {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<Permission>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// `false` disables the key (its requests get 401) without deleting it.
    pub enabled: Option<bool>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Filters of `GET /v1/api-keys`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListApiKeys {
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// Only enabled (`true`) or disabled (`false`) keys.
    pub enabled: Option<bool>,
}

#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, description = "Created; `key` is shown this once", body = ApiKey),
              (status = 400, body = ErrorBody)),
    description = "Creates a key acting for the caller (owner with `write` and `admin`).")]
pub async fn create(
    State(h): State<Http>,
    Caller(p): Caller,
    ApiJson(b): ApiJson<CreateApiKey>,
) -> ApiResult<Response> {
    let input = NewApiKey {
        name: b.name,
        description: b.description,
        permissions: b.permissions.unwrap_or_else(|| vec![Permission::Read]).into_iter().map(Scope::from).collect(),
        expires_at: b.expires_at,
        environment: b.environment.map_or(Environment::Test, Environment::from),
    };
    let (key, secret) = api_keys::create(&h.app, &p, input).await.map_err(renamed(FIELDS))?;
    Ok(created(ApiKey::from_model(key, Some(secret))))
}

#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", params(ListApiKeys),
    responses((status = 200, body = ApiKeyList), (status = 400, body = ErrorBody)),
    description = "The workspace's keys, newest first (owner with `read` and `admin`).")]
pub async fn list(
    State(h): State<Http>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<ListApiKeys>,
) -> ApiResult<Json<ApiKeyList>> {
    let pq = PageQuery { page: q.page, limit: q.limit };
    let filter = ApiKeyFilter { enabled: q.enabled, ..Default::default() };
    let page = api_keys::list(&h.app.db, &p, filter, &pq.args()?).await?;
    let pagination = Pagination::of(&pq, &page);
    let data = page.items.into_iter().map(|k| ApiKey::from_model(k, None)).collect();
    Ok(Json(ApiKeyList { data, pagination }))
}

#[utoipa::path(get, path = "/v1/api-keys/{id}", tag = "api-keys", params(("id" = String, Path, description = "`ak_…`")),
    responses((status = 200, body = ApiKey),
              (status = 404, body = ErrorBody)))]
pub async fn read(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<Json<ApiKey>> {
    Ok(Json(ApiKey::from_model(api_keys::get(&h.app.db, &p, &id).await?, None)))
}

#[utoipa::path(put, path = "/v1/api-keys/{id}", tag = "api-keys", params(("id" = String, Path, description = "`ak_…`")),
    request_body = UpdateApiKey,
    responses((status = 200, body = ApiKey), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(h): State<Http>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateApiKey>,
) -> ApiResult<Json<ApiKey>> {
    let changes = ApiKeyChanges {
        name: b.name,
        description: b.description,
        permissions: b.permissions.map(|v| v.into_iter().map(Scope::from).collect()),
        expires_at: b.expires_at,
        enabled: b.enabled,
    };
    let key = api_keys::update(&h.app, &p, &id, changes).await.map_err(renamed(FIELDS))?;
    Ok(Json(ApiKey::from_model(key, None)))
}

#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", params(("id" = String, Path, description = "`ak_…`")),
    responses((status = 204, description = "Deleted; the key stops working at once"), (status = 404, body = ErrorBody)))]
pub async fn remove(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    api_keys::delete(&h.app, &p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?days=30`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many days back, 1 to 366 (default 30).
    #[param(minimum = 1, maximum = 366)]
    pub days: Option<u32>,
}

/// A key's requests per UTC day.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyUsage {
    /// `ak_…`.
    pub api_key_id: String,
    /// Requests over the whole period.
    pub total: i64,
    /// Days with requests, oldest first.
    pub days: Vec<UsageDay>,
}

/// One UTC day of a key's usage.
#[derive(Serialize, ToSchema)]
pub struct UsageDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub total: i64,
    /// Requests by HTTP status class (`2xx`, `4xx`, …).
    pub by_status_class: std::collections::BTreeMap<String, i64>,
}

#[utoipa::path(get, path = "/v1/api-keys/{id}/usage", tag = "api-keys",
    params(("id" = String, Path, description = "`ak_…`"), UsageQuery),
    responses((status = 200, body = ApiKeyUsage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn usage(
    State(h): State<Http>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> ApiResult<impl IntoResponse> {
    let rows = api_keys::usage(&h.app.db, &p, &id, q.days.unwrap_or(30)).await?;
    let mut days: Vec<UsageDay> = Vec::new();
    for r in rows {
        if days.last().is_none_or(|d| d.day != r.day) {
            days.push(UsageDay { day: r.day.clone(), total: 0, by_status_class: Default::default() });
        }
        let day = days.last_mut().expect("pushed above");
        day.total += r.count;
        *day.by_status_class.entry(r.status_class).or_default() += r.count;
    }
    let total = days.iter().map(|d| d.total).sum();
    Ok(Json(ApiKeyUsage { api_key_id: id, total, days }))
}
