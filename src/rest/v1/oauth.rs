//! `/v1/oauth` (seed 002 §5): the workspace's OAuth apps over
//! [`crate::services::oauth::apps`], and the protocol routes
//! (`authorize`, `token`, `revoke`) mounted again under `/v1` with the
//! very handlers of `/oauth/*` ([`crate::rest::oauth`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api_keys::Permission;
use super::{created, ApiJson, ApiQuery, ApiResult, Caller, ErrorBody, PageQuery, Pagination};
use crate::auth::Scope;
use crate::rest::Http;
use crate::services::oauth::apps::{self, NewApp};

/// The apps, behind the `/v1` caller check.
pub fn apps_router() -> Router<Http> {
    Router::new().route("/v1/oauth/apps", get(list).post(create)).route("/v1/oauth/apps/{id}", get(read).delete(remove))
}

/// The protocol routes; the client authenticates in them (no API key).
pub fn protocol_router() -> Router<Http> {
    Router::new()
        .route("/v1/oauth/authorize", get(crate::rest::oauth::authorize_page))
        .route("/v1/oauth/token", post(crate::rest::oauth::token))
        .route("/v1/oauth/revoke", post(crate::rest::oauth::revoke))
}

/// An OAuth app. `client_secret` is present only in the answer to its creation.
#[derive(Serialize, ToSchema)]
pub struct OAuthApp {
    /// `app_…`.
    pub id: String,
    pub name: String,
    pub description: String,
    /// The public client id (`client_…`).
    pub client_id: String,
    /// The client secret (`secret_…`) of a confidential app, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `false`: a public client (PKCE, no secret).
    pub confidential: bool,
    pub redirect_uris: Vec<String>,
    /// The most an app's tokens may do.
    pub scopes: Vec<Permission>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OAuthApp {
    fn from_model(a: entity::oauth_app::Model, client_secret: Option<String>) -> Self {
        Self {
            redirect_uris: apps::redirect_uris(&a),
            scopes: apps::scopes(&a).into_iter().map(Permission::from).collect(),
            id: a.id,
            name: a.name,
            description: a.description,
            client_id: a.client_id,
            client_secret,
            confidential: a.confidential,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// `POST /v1/oauth/apps`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({ "name": "我的应用", "description": "第三方应用集成",
    "redirect_uris": ["https://myapp.com/callback"], "scopes": ["read", "write"] }))]
#[serde(deny_unknown_fields)]
pub struct CreateOAuthApp {
    /// 1 to 100 characters.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// 1 to 10 absolute `https` URIs (`http` only on loopback hosts).
    pub redirect_uris: Vec<String>,
    /// At least one.
    pub scopes: Vec<Permission>,
    /// Default `true` (a secret is issued); `false` for a public client.
    #[serde(default)]
    pub confidential: Option<bool>,
}

/// A page of OAuth apps.
#[derive(Serialize, ToSchema)]
pub struct OAuthAppList {
    pub data: Vec<OAuthApp>,
    pub pagination: Pagination,
}

const ID: &str = "`app_…`";

#[utoipa::path(post, path = "/v1/oauth/apps", tag = "oauth", request_body = CreateOAuthApp,
    responses((status = 201, description = "Registered; `client_secret` is shown this once", body = OAuthApp),
              (status = 400, body = ErrorBody)),
    description = "Registers an app (owner with `write` and `admin`).")]
pub async fn create(
    State(h): State<Http>,
    Caller(p): Caller,
    ApiJson(b): ApiJson<CreateOAuthApp>,
) -> ApiResult<Response> {
    let input = NewApp {
        name: b.name,
        description: b.description,
        redirect_uris: b.redirect_uris,
        scopes: b.scopes.into_iter().map(Scope::from).collect(),
        confidential: b.confidential.unwrap_or(true),
    };
    let (app, secret) = apps::create(&h.app, &p, input).await?;
    Ok(created(OAuthApp::from_model(app, secret)))
}

#[utoipa::path(get, path = "/v1/oauth/apps", tag = "oauth", params(PageQuery),
    responses((status = 200, body = OAuthAppList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(h): State<Http>,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<OAuthAppList>> {
    let page = apps::list(&h.app.db, &p, &q.args()?).await?;
    let pagination = Pagination::of(&q, &page);
    Ok(Json(OAuthAppList { data: page.items.into_iter().map(|a| OAuthApp::from_model(a, None)).collect(), pagination }))
}

#[utoipa::path(get, path = "/v1/oauth/apps/{id}", tag = "oauth", params(("id" = String, Path, description = ID)),
    responses((status = 200, body = OAuthApp),
              (status = 404, body = ErrorBody)))]
pub async fn read(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<Json<OAuthApp>> {
    Ok(Json(OAuthApp::from_model(apps::get(&h.app.db, &p, &id).await?, None)))
}

#[utoipa::path(delete, path = "/v1/oauth/apps/{id}", tag = "oauth", params(("id" = String, Path, description = ID)),
    responses((status = 204, description = "Deleted; every token it holds stops working"), (status = 404, body = ErrorBody)))]
pub async fn remove(State(h): State<Http>, Caller(p): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    apps::delete(&h.app, &p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
