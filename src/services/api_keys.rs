//! API keys (seed 002 §1): `sk_test_…` / `sk_live_…` workspace keys with
//! scopes, expiry, enable/disable, roll with a grace period, and usage.
//! Only a keyed hash of each secret is stored; the secret is returned once.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};
use serde_json::json;

use entity::{api_key, api_key_usage, membership};

use crate::auth::{Credential, Principal, Role, Scope};
use crate::config::MAX_ROLL_GRACE_SECONDS;
use crate::crypto::{ct_eq, random_token, SecretKey, TokenDigest};
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::ids::{has_prefix, new_id};
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::services::{bounded_text, required_text};
use crate::state::AppState;

/// Characters of the secret kept as its visible prefix (`sk_live_1234`).
const PREFIX_LEN: usize = 12;

/// Which data a key works on: sandbox or production, never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum Environment {
    /// Sandbox: `sk_test_…`/`tm_test_…` keys and the records they send.
    Test,
    /// Production: `sk_live_…`/`tm_live_…` keys and the records they send.
    Live,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Live => "live",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "test" => Some(Self::Test),
            "live" => Some(Self::Live),
            _ => None,
        }
    }
}

pub struct NewApiKey {
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub environment: Environment,
}

/// Fields to change; `None` leaves a field as it is. `expires_at: Some(None)`
/// removes the expiry.
#[derive(Default)]
pub struct ApiKeyChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<Scope>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub enabled: Option<bool>,
}

#[derive(Default)]
pub struct ApiKeyFilter {
    pub enabled: Option<bool>,
    pub environment: Option<Environment>,
    /// Case-insensitive substring of the name or the prefix.
    pub search: Option<String>,
}

/// The scopes stored on a key.
pub fn scopes(model: &api_key::Model) -> BTreeSet<Scope> {
    model
        .permissions
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().and_then(Scope::parse)).collect())
        .unwrap_or_default()
}

fn permissions_json(perms: &[Scope]) -> Result<serde_json::Value> {
    let set: BTreeSet<Scope> = perms.iter().copied().collect();
    if set.is_empty() {
        return Err(Error::invalid_field("scopes", "At least one scope is required"));
    }
    Ok(json!(set.iter().map(|s| s.as_str()).collect::<Vec<_>>()))
}

fn check_expiry(expires_at: Option<DateTime<Utc>>) -> Result<()> {
    match expires_at {
        Some(t) if t <= Utc::now() => Err(Error::invalid_field("expiresAt", "Must be in the future")),
        _ => Ok(()),
    }
}

fn new_secret(env: Environment) -> String {
    format!("sk_{}_{}", env.as_str(), random_token(24))
}

fn event_data(k: &api_key::Model) -> serde_json::Value {
    json!({
        "id": k.id, "name": k.name, "prefix": k.prefix, "environment": k.environment,
        "permissions": k.permissions, "enabled": k.enabled, "expires_at": k.expires_at,
    })
}

/// Creates a key acting for the caller's user; returns it with its secret.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id))]
pub async fn create(st: &AppState, p: &Principal, input: NewApiKey) -> Result<(api_key::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    insert(st, &p.workspace_id, &p.user_id, p.actor(), input).await
}

/// Creates a key for `user_id` in `workspace_id` with no caller check
/// (the admin command line and the bench use it).
pub async fn insert(
    st: &AppState,
    workspace_id: &str,
    user_id: &str,
    actor: &str,
    input: NewApiKey,
) -> Result<(api_key::Model, String)> {
    let name = required_text("name", &input.name, 100)?;
    let description = bounded_text("description", input.description.as_deref().unwrap_or(""), 500)?;
    let permissions = permissions_json(&input.permissions)?;
    check_expiry(input.expires_at)?;
    let secret = new_secret(input.environment);
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let key = api_key::ActiveModel {
        id: Set(new_id("ak")),
        workspace_id: Set(workspace_id.to_string()),
        created_by: Set(user_id.to_string()),
        name: Set(name),
        description: Set(description),
        environment: Set(input.environment.as_str().to_string()),
        prefix: Set(secret[..PREFIX_LEN].to_string()),
        key_hash: Set(st.secret.hash_token(&secret)),
        previous_key_hash: Set(None),
        previous_expires_at: Set(None),
        permissions: Set(permissions),
        enabled: Set(true),
        expires_at: Set(input.expires_at),
        last_used_at: Set(None),
        usage_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let evt =
        events::record(&txn, workspace_id, EventType::ApiKeyCreated, actor, Some(&key.id), event_data(&key)).await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok((key, secret))
}

/// One page of the workspace's keys, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    filter: ApiKeyFilter,
    page: &PageArgs,
) -> Result<Page<api_key::Model>> {
    p.require(Scope::Read)?.require_owner()?;
    let mut q = api_key::Entity::find().filter(api_key::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(enabled) = filter.enabled {
        q = q.filter(api_key::Column::Enabled.eq(enabled));
    }
    if let Some(env) = filter.environment {
        q = q.filter(api_key::Column::Environment.eq(env.as_str()));
    }
    if let Some(s) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", s.to_lowercase().replace(['%', '_'], ""));
        q = q.filter(
            Condition::any()
                .add(
                    sea_orm::sea_query::Expr::expr(sea_orm::sea_query::Func::lower(sea_orm::sea_query::Expr::col(
                        api_key::Column::Name,
                    )))
                    .like(pattern.clone()),
                )
                .add(api_key::Column::Prefix.like(pattern)),
        );
    }
    fetch_page(db, q, api_key::Column::Id, page).await
}

/// One key of the caller's workspace; NOT_FOUND for any other.
pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<api_key::Model> {
    p.require(Scope::Read)?.require_owner()?;
    find(db, &p.workspace_id, id).await
}

async fn find(db: &impl ConnectionTrait, workspace_id: &str, id: &str) -> Result<api_key::Model> {
    if !has_prefix(id, "ak") {
        return Err(Error::NotFound("API key"));
    }
    api_key::Entity::find_by_id(id)
        .filter(api_key::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("API key"))
}

#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, key = %id))]
pub async fn update(st: &AppState, p: &Principal, id: &str, changes: ApiKeyChanges) -> Result<api_key::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let current = find(&txn, &p.workspace_id, id).await?;
    let mut am = current.into_active_model();
    if let Some(name) = changes.name {
        am.name = Set(required_text("name", &name, 100)?);
    }
    if let Some(d) = changes.description {
        am.description = Set(bounded_text("description", &d, 500)?);
    }
    if let Some(perms) = changes.permissions {
        am.permissions = Set(permissions_json(&perms)?);
    }
    if let Some(exp) = changes.expires_at {
        check_expiry(exp)?;
        am.expires_at = Set(exp);
    }
    if let Some(enabled) = changes.enabled {
        am.enabled = Set(enabled);
    }
    am.updated_at = Set(Utc::now());
    let key = am.update(&txn).await?;
    let evt =
        events::record(&txn, &p.workspace_id, EventType::ApiKeyUpdated, p.actor(), Some(id), event_data(&key)).await?;
    txn.commit().await?;
    crate::auth::invalidate(st, &p.workspace_id);
    st.publish(vec![evt]);
    Ok(key)
}

#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, key = %id))]
pub async fn delete(st: &AppState, p: &Principal, id: &str) -> Result<()> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let key = find(&txn, &p.workspace_id, id).await?;
    api_key_usage::Entity::delete_many().filter(api_key_usage::Column::ApiKeyId.eq(id)).exec(&txn).await?;
    api_key::Entity::delete_by_id(id).exec(&txn).await?;
    let evt =
        events::record(&txn, &p.workspace_id, EventType::ApiKeyDeleted, p.actor(), Some(id), event_data(&key)).await?;
    txn.commit().await?;
    crate::auth::invalidate(st, &p.workspace_id);
    st.publish(vec![evt]);
    Ok(())
}

/// Issues a new secret. The old one keeps working for `grace_seconds`
/// (default from configuration; 0 revokes it at once; at most 7 days).
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, key = %id))]
pub async fn roll(
    st: &AppState,
    p: &Principal,
    id: &str,
    grace_seconds: Option<u64>,
) -> Result<(api_key::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let grace = grace_seconds.unwrap_or(st.config.key_roll_grace_seconds);
    if grace > MAX_ROLL_GRACE_SECONDS {
        return Err(Error::invalid_field("graceSeconds", "Must be between 0 and 604800 (7 days)"));
    }
    let txn = st.writer.begin().await?;
    let current = find(&txn, &p.workspace_id, id).await?;
    let env = Environment::parse(&current.environment).unwrap_or(Environment::Test);
    let secret = new_secret(env);
    let now = Utc::now();
    let old_hash = current.key_hash.clone();
    let mut am = current.into_active_model();
    am.key_hash = Set(st.secret.hash_token(&secret));
    am.prefix = Set(secret[..PREFIX_LEN].to_string());
    (am.previous_key_hash, am.previous_expires_at) = if grace > 0 {
        (Set(Some(old_hash)), Set(Some(now + Duration::seconds(grace as i64))))
    } else {
        (Set(None), Set(None))
    };
    am.updated_at = Set(now);
    let key = am.update(&txn).await?;
    let mut data = event_data(&key);
    data["previous_expires_at"] = json!(key.previous_expires_at);
    let evt = events::record(&txn, &p.workspace_id, EventType::ApiKeyRolled, p.actor(), Some(id), data).await?;
    txn.commit().await?;
    crate::auth::invalidate(st, &p.workspace_id);
    st.publish(vec![evt]);
    Ok((key, secret))
}

/// Daily usage rows of a key, oldest day first, for the last `days` days.
pub async fn usage(db: &impl ConnectionTrait, p: &Principal, id: &str, days: u32) -> Result<Vec<api_key_usage::Model>> {
    if !(1..=366).contains(&days) {
        return Err(Error::invalid_field("days", "Must be between 1 and 366"));
    }
    let key = get(db, p, id).await?;
    let since = (Utc::now() - Duration::days(days as i64 - 1)).format("%Y-%m-%d").to_string();
    Ok(api_key_usage::Entity::find()
        .filter(api_key_usage::Column::ApiKeyId.eq(key.id))
        .filter(api_key_usage::Column::Day.gte(since))
        .order_by_asc(api_key_usage::Column::Day)
        .order_by_asc(api_key_usage::Column::StatusClass)
        .all(db)
        .await?)
}

/// The keyed hash of a presented `sk_…` secret; UNAUTHORIZED when it
/// cannot be one.
pub fn token_digest(secret: &SecretKey, token: &str) -> Result<TokenDigest> {
    if !(token.starts_with("sk_test_") || token.starts_with("sk_live_")) || token.len() > 200 {
        return Err(Error::Unauthorized("Invalid API key".into()));
    }
    Ok(secret.token_digest(token))
}

/// Resolves the hash of a presented `sk_…` secret (the hex of [`token_digest`]) to
/// its caller and the time the secret stops working, if it does. Every
/// failure is UNAUTHORIZED; hashes are compared in constant time.
pub async fn authenticate_hash(db: &impl ConnectionTrait, hash: &str) -> Result<(Principal, Option<DateTime<Utc>>)> {
    let invalid = || Error::Unauthorized("Invalid API key".into());
    let key = api_key::Entity::find()
        .filter(Condition::any().add(api_key::Column::KeyHash.eq(hash)).add(api_key::Column::PreviousKeyHash.eq(hash)))
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    let now = Utc::now();
    let current = ct_eq(&key.key_hash, hash);
    let previous = key.previous_key_hash.as_deref().is_some_and(|h| ct_eq(h, hash))
        && key.previous_expires_at.is_some_and(|t| t > now);
    if !(current || previous) {
        return Err(invalid());
    }
    if !key.enabled {
        return Err(Error::Unauthorized("API key is disabled".into()));
    }
    if key.expires_at.is_some_and(|t| t <= now) {
        return Err(Error::Unauthorized("API key has expired".into()));
    }
    let role = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(&key.workspace_id))
        .filter(membership::Column::UserId.eq(&key.created_by))
        .one(db)
        .await?
        .and_then(|m| Role::parse(&m.role))
        .ok_or_else(|| Error::Unauthorized("The API key's user is no longer a member of its workspace".into()))?;
    // A rolled-away secret works until its grace period ends.
    let valid_until = match (current, key.previous_expires_at) {
        (false, Some(grace)) => Some(key.expires_at.map_or(grace, |t| t.min(grace))),
        _ => key.expires_at,
    };
    let principal = Principal {
        scopes: scopes(&key),
        workspace_id: key.workspace_id,
        user_id: key.created_by,
        role,
        // A key stored with an unknown environment sees the sandbox only.
        credential: Credential::ApiKey {
            id: key.id,
            environment: Environment::parse(&key.environment).unwrap_or(Environment::Test),
        },
    };
    Ok((principal, valid_until))
}
