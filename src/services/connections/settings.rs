//! A workspace's settings per provider: its own OAuth client (client id,
//! and the secret encrypted, shown back only as `***`) and URL overrides
//! for self-hosted or per-store services, sandboxes and local stand-ins.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use entity::provider_setting;

use super::catalog::{self, Provider};
use crate::auth::{Principal, Scope};
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::state::AppState;

/// Changes to a provider's settings: `None` leaves a field as it is,
/// `Some(None)` clears it.
#[derive(Default)]
pub struct SettingsChanges {
    pub client_id: Option<Option<String>>,
    pub client_secret: Option<Option<String>>,
    pub authorize_url: Option<Option<String>>,
    pub token_url: Option<Option<String>>,
    pub api_base_url: Option<Option<String>>,
    /// The workspace's own rate limit for calls: `(requests, per_seconds)`.
    pub rate_limit: Option<Option<(u32, u32)>>,
}

/// Bounds of a workspace's own rate limit.
const MAX_WINDOW_SECONDS: u32 = 31 * 24 * 3600;
const MAX_WINDOW_REQUESTS: u32 = 10_000_000;

/// The URLs a connection of this provider uses in this workspace.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub api_base_url: Option<String>,
}

fn known(provider: &str) -> Result<&'static Provider> {
    catalog::get(provider).ok_or_else(|| Error::invalid_field("provider", format!("Unknown provider '{provider}'")))
}

fn check_url(field: &str, v: Option<String>) -> Result<Option<String>> {
    let Some(v) = v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) else { return Ok(None) };
    let url = url::Url::parse(&v).map_err(|_| Error::invalid_field(field, "Not an absolute URL"))?;
    if !matches!(url.scheme(), "https" | "http") || v.len() > 2000 {
        return Err(Error::invalid_field(field, "Use an http(s) URL of at most 2000 characters"));
    }
    Ok(Some(v.trim_end_matches('/').to_string()))
}

/// The workspace's settings of one provider, if any.
pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    provider: &str,
) -> Result<Option<provider_setting::Model>> {
    Ok(provider_setting::Entity::find()
        .filter(provider_setting::Column::WorkspaceId.eq(workspace_id))
        .filter(provider_setting::Column::Provider.eq(provider))
        .one(db)
        .await?)
}

/// The workspace's connection that `filter` picks, with the workspace's
/// settings of its provider, in one query (a call through a connection
/// needs both: one round trip instead of two).
pub async fn connection_with_settings(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    filter: sea_orm::Condition,
) -> Result<Option<(entity::connection::Model, Option<provider_setting::Model>)>> {
    use entity::connection;
    use sea_orm::{JoinType, QuerySelect};
    let settings: sea_orm::RelationDef = connection::Entity::belongs_to(provider_setting::Entity)
        .from((connection::Column::WorkspaceId, connection::Column::Provider))
        .to((provider_setting::Column::WorkspaceId, provider_setting::Column::Provider))
        .into();
    Ok(connection::Entity::find()
        .filter(connection::Column::WorkspaceId.eq(workspace_id))
        .filter(filter)
        .join(JoinType::LeftJoin, settings)
        .select_also(provider_setting::Entity)
        .one(db)
        .await?)
}

/// Every provider setting of the workspace (owner only).
pub async fn list(db: &impl ConnectionTrait, p: &Principal) -> Result<Vec<provider_setting::Model>> {
    p.require(Scope::Read)?.require_owner()?;
    Ok(provider_setting::Entity::find()
        .filter(provider_setting::Column::WorkspaceId.eq(&p.workspace_id))
        .all(db)
        .await?)
}

/// Sets a provider's client and URLs for the workspace (owner only).
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, provider = %provider))]
pub async fn set(
    st: &AppState,
    p: &Principal,
    provider: &str,
    changes: SettingsChanges,
) -> Result<provider_setting::Model> {
    p.require(Scope::Write)?.require_owner()?;
    known(provider)?;
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let existing = find(&txn, &p.workspace_id, provider).await?;
    let is_new = existing.is_none();
    let mut am: provider_setting::ActiveModel = match existing {
        Some(m) => m.into(),
        None => provider_setting::ActiveModel {
            id: Set(new_id("pst")),
            workspace_id: Set(p.workspace_id.clone()),
            provider: Set(provider.to_string()),
            client_id: Set(None),
            client_secret_enc: Set(None),
            authorize_url: Set(None),
            token_url: Set(None),
            api_base_url: Set(None),
            rate_limit_requests: Set(None),
            rate_limit_seconds: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        },
    };
    if let Some(v) = changes.client_id {
        let v = v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if v.as_ref().is_some_and(|s| s.len() > 500) {
            return Err(Error::invalid_field("clientId", "Must be at most 500 characters"));
        }
        am.client_id = Set(v);
    }
    if let Some(v) = changes.client_secret {
        am.client_secret_enc = match v.filter(|s| !s.is_empty()) {
            Some(s) if s.len() > 2000 => {
                return Err(Error::invalid_field("clientSecret", "Must be at most 2000 characters"))
            }
            Some(s) => Set(Some(st.secret.encrypt(&s)?)),
            None => Set(None),
        };
    }
    if let Some(v) = changes.authorize_url {
        am.authorize_url = Set(check_url("authorizeUrl", v)?);
    }
    if let Some(v) = changes.token_url {
        am.token_url = Set(check_url("tokenUrl", v)?);
    }
    if let Some(v) = changes.api_base_url {
        am.api_base_url = Set(check_url("apiBaseUrl", v)?);
    }
    if let Some(v) = changes.rate_limit {
        if let Some((requests, seconds)) = v {
            if !(1..=MAX_WINDOW_REQUESTS).contains(&requests) {
                return Err(Error::invalid_field("rateLimit.requests", "Between 1 and 10,000,000"));
            }
            if !(1..=MAX_WINDOW_SECONDS).contains(&seconds) {
                return Err(Error::invalid_field("rateLimit.perSeconds", "Between 1 and 2,678,400 (31 days)"));
            }
        }
        am.rate_limit_requests = Set(v.map(|(r, _)| r as i32));
        am.rate_limit_seconds = Set(v.map(|(_, s)| s as i32));
    }
    am.updated_at = Set(now);
    let model = match is_new {
        true => am.insert(&txn).await?,
        false => am.update(&txn).await?,
    };
    txn.commit().await?;
    super::cache::invalidate(st, &p.workspace_id);
    Ok(model)
}

/// The URLs of a provider in a workspace: the overrides, else the catalog's.
/// A catalog URL with a placeholder (`{shop}`, `{site}`) must be overridden.
pub fn endpoints(provider: &Provider, setting: Option<&provider_setting::Model>) -> Result<Endpoints> {
    let pick = |field: &str, over: Option<&String>, base: &Option<String>| -> Result<Option<String>> {
        match over.or(base.as_ref()) {
            Some(u) if u.contains('{') => Err(Error::invalid_field(
                "provider",
                format!(
                    "Set the {} {field} for this workspace first (it depends on your store or site)",
                    provider.name
                ),
            )),
            other => Ok(other.cloned()),
        }
    };
    let s = setting;
    Ok(Endpoints {
        authorize_url: pick("authorize URL", s.and_then(|s| s.authorize_url.as_ref()), &provider.authorize_url)?,
        token_url: pick("token URL", s.and_then(|s| s.token_url.as_ref()), &provider.token_url)?,
        api_base_url: pick("API base URL", s.and_then(|s| s.api_base_url.as_ref()), &provider.api_base_url)?,
    })
}
