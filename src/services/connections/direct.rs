//! Connecting services that take a key or a password instead of OAuth
//! (Stripe, Airtable, Square personal tokens, WooCommerce, custom REST and
//! GraphQL APIs): the credentials are checked by one real call through the
//! guarded outgoing client before anything is stored, then kept encrypted.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde_json::json;

use entity::connection;

use super::catalog::{self, AuthKind, Provider};
use super::{event_data, only_one, settings, ConnectionStatus};
use crate::auth::{Principal, Scope};
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::ids::new_id;
use crate::state::AppState;

/// The credentials of a key or password connection.
#[derive(Default)]
pub struct DirectCredentials {
    /// The secret key or token (`API_KEY` services).
    pub api_key: Option<String>,
    /// Sent in this header instead of `Authorization: Bearer` (e.g. `X-Api-Key`).
    pub header_name: Option<String>,
    /// User name or consumer key (`BASIC` services).
    pub username: Option<String>,
    /// Password or consumer secret (`BASIC` services).
    pub password: Option<String>,
    /// Where calls go: required for custom APIs, else overrides the
    /// workspace's or the catalog's API base URL.
    pub base_url: Option<String>,
}

fn required(field: &str, v: &Option<String>) -> Result<String> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if s.len() <= 4000 => Ok(s.to_string()),
        Some(_) => Err(Error::invalid_field(field, "Must be at most 4000 characters")),
        None => Err(Error::invalid_field(field, "Required for this service")),
    }
}

/// The headers that carry the credentials, and what is stored.
fn auth_headers(provider: &Provider, c: &DirectCredentials) -> Result<(Vec<(String, String)>, serde_json::Value)> {
    use base64::Engine;
    match provider.auth {
        AuthKind::ApiKey => {
            let key = required("apiKey", &c.api_key)?;
            let header = c.header_name.as_deref().map(str::trim).filter(|h| !h.is_empty());
            if let Some(h) = header {
                if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(Error::invalid_field("headerName", "Not a valid header name"));
                }
                // The key may go in `Authorization` as it is (no `Bearer`),
                // but never in a header the transport sets: a key named
                // `Host` or `Content-Length` would redirect or hang the call.
                let lower = h.to_ascii_lowercase();
                if lower != "authorization" && (super::call::is_reserved_header(h) || lower == "content-type") {
                    return Err(Error::invalid_field(
                        "headerName",
                        format!("`{h}` is set by the server or the transport: name a header of its own for the key"),
                    ));
                }
            }
            let sent = match header {
                Some(h) => (h.to_string(), key.clone()),
                None => ("authorization".to_string(), format!("Bearer {key}")),
            };
            if axum::http::HeaderValue::from_str(&sent.1).is_err() {
                return Err(Error::invalid_field("apiKey", "Not a value a header can carry"));
            }
            Ok((vec![sent], json!({ "kind": "api_key", "key": key, "header": header })))
        }
        AuthKind::Basic => {
            let user = required("username", &c.username)?;
            let pass = required("password", &c.password)?;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            Ok((
                vec![("authorization".into(), format!("Basic {token}"))],
                json!({ "kind": "basic", "username": user, "password": pass }),
            ))
        }
        _ => {
            Err(Error::invalid_field("provider", format!("{} connects over OAuth: use startConnection", provider.name)))
        }
    }
}

/// Checks the credentials with one call and stores the connection (owner
/// only). Emits `connection.created`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, provider = %provider_key))]
pub async fn create(
    st: &AppState,
    p: &Principal,
    provider_key: &str,
    c: DirectCredentials,
) -> Result<connection::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let provider = catalog::get(provider_key)
        .ok_or_else(|| Error::invalid_field("provider", format!("Unknown provider '{provider_key}'")))?;
    if provider.auth == AuthKind::None {
        return Err(Error::invalid_field("provider", format!("{} needs no credentials", provider.name)));
    }
    let (headers, stored) = auth_headers(provider, &c)?;
    let setting = settings::find(&st.db, &p.workspace_id, provider_key).await?;
    let base = match c.base_url.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(u) => {
            let u = u.trim_end_matches('/').to_string();
            crate::delivery::ssrf::check_url(&u, st.http.allow_private())
                .await
                .map_err(|_| Error::invalid_field("baseUrl", "Not an http(s) URL this server may call"))?;
            u
        }
        None => settings::endpoints(provider, setting.as_ref())?
            .api_base_url
            .ok_or_else(|| Error::invalid_field("baseUrl", format!("Give the {} API's base URL", provider.name)))?,
    };
    let exists = connection::Entity::find()
        .filter(connection::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(connection::Column::Provider.eq(provider_key))
        .one(&st.db)
        .await?;
    if exists.is_some() {
        return Err(only_one(provider_key));
    }
    let account = check(st, provider, &base, &headers).await?;
    let mut stored = stored;
    stored["base_url"] = json!(base);
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let saved = connection::ActiveModel {
        id: Set(new_id("con")),
        workspace_id: Set(p.workspace_id.clone()),
        provider: Set(provider_key.to_string()),
        account: Set(account),
        status: Set(ConnectionStatus::Connected.as_str().into()),
        scopes: Set(json!([])),
        credentials_enc: Set(st.secret.encrypt(&stored.to_string())?),
        token_expires_at: Set(None),
        auto_refresh: Set(false),
        refresh_lease_until: Set(None),
        created_by: Set(p.user_id.clone()),
        last_used_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => only_one(provider_key),
        _ => e.into(),
    })?;
    let evt = events::record(
        &txn,
        &p.workspace_id,
        EventType::ConnectionCreated,
        p.actor(),
        Some(&saved.id),
        event_data(&saved),
    )
    .await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok(saved)
}

/// The one real call: the provider's "who am I" when the catalog names
/// one (its answer names the account), else a GET of the base URL (REST)
/// or a `{ __typename }` query (GraphQL). Anything but 2xx is refused.
async fn check(st: &AppState, provider: &Provider, base: &str, headers: &[(String, String)]) -> Result<String> {
    let graphql = provider.key == "custom_graphql";
    let url = match &provider.account {
        Some(a) => format!("{base}{}", a.path),
        None => base.to_string(),
    };
    let mut req = oauth2::http::Request::builder().method(if graphql { "POST" } else { "GET" }).uri(&url);
    req = req.header("accept", "application/json");
    for (k, v) in headers.iter().map(|(k, v)| (k.as_str(), v.as_str())) {
        req = req.header(k, v);
    }
    for (k, v) in &provider.api_headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let body = match graphql {
        true => {
            req = req.header("content-type", "application/json");
            br#"{"query":"{ __typename }"}"#.to_vec()
        }
        false => Vec::new(),
    };
    let req = req.body(body).map_err(|e| Error::invalid_field("baseUrl", format!("Cannot call this URL: {e}")))?;
    let resp = st.http.exchange(req).await.map_err(|e| Error::invalid_field("baseUrl", e.public_message()))?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(Error::invalid(format!(
            "{} refused the credentials (HTTP {status}); nothing was stored",
            provider.name
        )));
    }
    let name = provider.account.as_ref().and_then(|a| {
        let body: serde_json::Value = serde_json::from_slice(resp.body()).ok()?;
        let v = body.pointer(&a.field)?.as_str()?.chars().take(200).collect::<String>();
        Some(format!("{}{v}", a.prefix))
    });
    Ok(name.unwrap_or_else(|| {
        url::Url::parse(base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| provider.name.clone())
    }))
}
