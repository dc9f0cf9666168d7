//! Data endpoints and data keys (seed 001), managed by the owner: an
//! endpoint has a slug, an optional JSON Schema for record bodies, an enabled
//! flag, a monthly quota and a subscription expiry; data keys
//! (`tm_test_…`/`tm_live_…`) let members send records.

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
    Set,
};
use serde_json::json;

use entity::{data_endpoint, data_key, endpoint_usage, membership};

use crate::auth::{Principal, Scope};
use crate::crypto::{ct_eq, random_token, SecretKey};
use crate::error::{Error, FieldError, Result};
use crate::ids::{has_prefix, new_id};
use crate::services::api_keys::Environment;
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::services::required_text;
use crate::state::AppState;

pub struct NewEndpoint {
    pub slug: String,
    pub name: String,
    pub schema: Option<serde_json::Value>,
    pub enabled: bool,
    pub monthly_quota: Option<i64>,
    pub subscription_expires_at: Option<chrono::DateTime<Utc>>,
}

#[derive(Default)]
pub struct EndpointChanges {
    pub name: Option<String>,
    pub schema: Option<Option<serde_json::Value>>,
    pub enabled: Option<bool>,
    pub monthly_quota: Option<Option<i64>>,
    pub subscription_expires_at: Option<Option<chrono::DateTime<Utc>>>,
}

fn check_slug(slug: &str) -> Result<String> {
    let ok = (1..=64).contains(&slug.len())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !slug.starts_with('-');
    if ok {
        Ok(slug.to_string())
    } else {
        Err(Error::invalid_field("slug", "Use 1 to 64 characters: a-z, 0-9, '-' and '_'"))
    }
}

fn check_schema(schema: &serde_json::Value) -> Result<()> {
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| Error::invalid_field("schema", format!("Not a valid JSON Schema: {e}")))
}

fn check_quota(q: Option<i64>) -> Result<()> {
    match q {
        Some(n) if n < 1 => Err(Error::invalid_field("monthlyQuota", "Must be at least 1 (or null for no limit)")),
        _ => Ok(()),
    }
}

/// Creates an endpoint; returns it with the `whsec_…` secret that signs its
/// callbacks (shown only here).
pub async fn create(st: &AppState, p: &Principal, new: NewEndpoint) -> Result<(data_endpoint::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let slug = check_slug(&new.slug)?;
    let name = required_text("name", &new.name, 100)?;
    if let Some(s) = &new.schema {
        check_schema(s)?;
    }
    check_quota(new.monthly_quota)?;
    let now = Utc::now();
    let secret = crate::delivery::signing::new_secret();
    let endpoint = data_endpoint::ActiveModel {
        id: Set(new_id("de")),
        secret_enc: Set(st.secret.encrypt(&secret)?),
        workspace_id: Set(p.workspace_id.clone()),
        slug: Set(slug),
        name: Set(name),
        schema: Set(new.schema),
        enabled: Set(new.enabled),
        monthly_quota: Set(new.monthly_quota),
        subscription_expires_at: Set(new.subscription_expires_at),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&st.writer)
    .await
    .map_err(Error::unique("slug", "An endpoint with this slug already exists"))?;
    Ok((endpoint, secret))
}

pub async fn update(st: &AppState, p: &Principal, id: &str, c: EndpointChanges) -> Result<data_endpoint::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let mut am = find(&st.writer, &p.workspace_id, id).await?.into_active_model();
    if let Some(n) = &c.name {
        am.name = Set(required_text("name", n, 100)?);
    }
    if let Some(s) = c.schema {
        if let Some(s) = &s {
            check_schema(s)?;
        }
        am.schema = Set(s);
    }
    if let Some(e) = c.enabled {
        am.enabled = Set(e);
    }
    if let Some(q) = c.monthly_quota {
        check_quota(q)?;
        am.monthly_quota = Set(q);
    }
    if let Some(x) = c.subscription_expires_at {
        am.subscription_expires_at = Set(x);
    }
    am.updated_at = Set(Utc::now());
    let endpoint = am.update(&st.writer).await?;
    super::data_cache::invalidate(st, &p.workspace_id);
    Ok(endpoint)
}

/// Deletes an endpoint with its records, its usage and its collaborator
/// webhooks (owner only); `POST /api/v1/data/{slug}` answers 404 at once.
/// Records still queued are dropped. Emits `webhook.deleted` for each
/// collaborator webhook.
pub async fn delete(st: &AppState, p: &Principal, id: &str) -> Result<()> {
    use sea_orm::TransactionTrait;
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let endpoint = find(&txn, &p.workspace_id, id).await?;
    let hooks = entity::webhook::Entity::find()
        .filter(entity::webhook::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(entity::webhook::Column::EndpointId.eq(&endpoint.id))
        .all(&txn)
        .await?;
    let mut evts = Vec::new();
    for w in &hooks {
        evts.push(super::webhooks::delete_in(&txn, w, p.actor()).await?);
    }
    // The endpoint's row first: this waits for the writers that hold it
    // share-locked to commit, and makes later ones find no endpoint; the
    // records are deleted after, so those just committed go too (on
    // PostgreSQL records have no foreign key to cascade; see
    // `records::ingest::write_together`, which locks in the same order:
    // endpoint, records, usage). Writers of this endpoint wait meanwhile,
    // so the records are found through `ix_record_endpoint`.
    data_endpoint::Entity::delete_by_id(&endpoint.id).exec(&txn).await?;
    entity::record::Entity::delete_many()
        .filter(entity::record::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(entity::record::Column::EndpointId.eq(&endpoint.id))
        .exec(&txn)
        .await?;
    endpoint_usage::Entity::delete_many()
        .filter(endpoint_usage::Column::EndpointId.eq(&endpoint.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    super::data_cache::invalidate(st, &p.workspace_id);
    st.publish(evts);
    Ok(())
}

/// Issues a new secret for signing an endpoint's callbacks (owner only);
/// callbacks are signed with it from now on. Returns the endpoint with the
/// secret, shown only here.
pub async fn rotate_secret(st: &AppState, p: &Principal, id: &str) -> Result<(data_endpoint::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let secret = crate::delivery::signing::new_secret();
    let mut am = find(&st.writer, &p.workspace_id, id).await?.into_active_model();
    am.secret_enc = Set(st.secret.encrypt(&secret)?);
    am.updated_at = Set(Utc::now());
    let endpoint = am.update(&st.writer).await?;
    super::data_cache::invalidate(st, &p.workspace_id);
    Ok((endpoint, secret))
}

/// Which endpoints [`list`] returns.
#[derive(Default)]
pub struct EndpointFilter {
    pub enabled: Option<bool>,
    /// Case-insensitive part of the slug or name.
    pub search: Option<String>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    filter: EndpointFilter,
    page: &PageArgs,
) -> Result<Page<data_endpoint::Model>> {
    use sea_orm::sea_query::{Expr, Func};
    p.require(Scope::Read)?;
    let mut q = data_endpoint::Entity::find().filter(data_endpoint::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(enabled) = filter.enabled {
        q = q.filter(data_endpoint::Column::Enabled.eq(enabled));
    }
    if let Some(s) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", s.to_lowercase().replace(['%', '_'], ""));
        q = q.filter(
            sea_orm::Condition::any()
                .add(Expr::expr(Func::lower(Expr::col(data_endpoint::Column::Name))).like(pattern.clone()))
                .add(Expr::expr(Func::lower(Expr::col(data_endpoint::Column::Slug))).like(pattern)),
        );
    }
    fetch_page(db, q, data_endpoint::Column::Id, page).await
}

pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<data_endpoint::Model> {
    p.require(Scope::Read)?;
    find(db, &p.workspace_id, id).await
}

async fn find(db: &impl ConnectionTrait, workspace_id: &str, id: &str) -> Result<data_endpoint::Model> {
    if !has_prefix(id, "de") {
        return Err(Error::NotFound("Data endpoint"));
    }
    data_endpoint::Entity::find_by_id(id)
        .filter(data_endpoint::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Data endpoint"))
}

pub async fn by_slug(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    slug: &str,
) -> Result<Option<data_endpoint::Model>> {
    Ok(data_endpoint::Entity::find()
        .filter(data_endpoint::Column::WorkspaceId.eq(workspace_id))
        .filter(data_endpoint::Column::Slug.eq(slug))
        .one(db)
        .await?)
}

/// The enabled endpoints of a workspace, by slug (at most 100): what the
/// OpenAPI document lists, with their JSON Schemas, for a key of the
/// workspace.
pub async fn enabled_in(db: &impl ConnectionTrait, workspace_id: &str) -> Result<Vec<data_endpoint::Model>> {
    use sea_orm::{QueryOrder, QuerySelect};
    Ok(data_endpoint::Entity::find()
        .filter(data_endpoint::Column::WorkspaceId.eq(workspace_id))
        .filter(data_endpoint::Column::Enabled.eq(true))
        .order_by_asc(data_endpoint::Column::Slug)
        .limit(100)
        .all(db)
        .await?)
}

/// Requests this month (UTC) for an endpoint.
pub async fn usage_this_month(db: &impl ConnectionTrait, endpoint_id: &str) -> Result<i64> {
    Ok(endpoint_usage::Entity::find_by_id((endpoint_id.to_string(), month())).one(db).await?.map_or(0, |u| u.count))
}

/// `YYYY-MM` of now, UTC.
pub fn month() -> String {
    Utc::now().format("%Y-%m").to_string()
}

/// Counts up to `n` requests against an endpoint's month without going over
/// `limit`; returns how many were counted. The usage row is locked for the
/// rest of the transaction on PostgreSQL (SQLite serialises writers), so
/// concurrent batches cannot overshoot.
pub async fn count_requests(db: &impl ConnectionTrait, endpoint_id: &str, limit: Option<i64>, n: i64) -> Result<i64> {
    use endpoint_usage::Column as C;
    let month = month();
    let row = |count: i64| endpoint_usage::ActiveModel {
        endpoint_id: Set(endpoint_id.to_string()),
        month: Set(month.clone()),
        count: Set(count),
    };
    let Some(limit) = limit else {
        // No limit: one upsert counts them all.
        endpoint_usage::Entity::insert(row(n))
            .on_conflict(
                OnConflict::columns([C::EndpointId, C::Month])
                    .value(C::Count, Expr::col((endpoint_usage::Entity, C::Count)).add(n))
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        return Ok(n);
    };
    endpoint_usage::Entity::insert(row(0))
        .on_conflict(OnConflict::columns([C::EndpointId, C::Month]).do_nothing().to_owned())
        .do_nothing()
        .exec(db)
        .await?;
    let mut q = endpoint_usage::Entity::find_by_id((endpoint_id.to_string(), month.clone()));
    if db.get_database_backend() == DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    let used = q.one(db).await?.map_or(0, |u| u.count);
    let admitted = (limit - used).clamp(0, n);
    if admitted > 0 {
        endpoint_usage::Entity::update_many()
            .col_expr(C::Count, Expr::col(C::Count).add(admitted))
            .filter(C::EndpointId.eq(endpoint_id))
            .filter(C::Month.eq(month))
            .exec(db)
            .await?;
    }
    Ok(admitted)
}

/// Counts one request in a transaction of its own (the usage row stays
/// locked from check to count); false once the quota is used up.
pub async fn count_request(db: &sea_orm::DatabaseConnection, endpoint_id: &str, limit: Option<i64>) -> Result<bool> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let counted = count_requests(&txn, endpoint_id, limit, 1).await?;
    txn.commit().await?;
    Ok(counted == 1)
}

/// When the monthly quota starts over: the first of next month, 00:00 UTC.
pub fn next_month_start() -> chrono::DateTime<Utc> {
    use chrono::Datelike;
    let today = Utc::now().date_naive();
    let (y, m) = if today.month() == 12 { (today.year() + 1, 1) } else { (today.year(), today.month() + 1) };
    chrono::NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or_else(Utc::now)
}

/// The fields a body breaks against a schema: one detail per failure, the
/// field named by its JSON path (`order_id`, `items.0`), "Required field is
/// missing" for absent required properties.
pub fn schema_violations(validator: &jsonschema::Validator, body: &serde_json::Value) -> Vec<FieldError> {
    validator
        .iter_errors(body)
        .map(|e| {
            let path = e.instance_path().to_string();
            let base: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            match e.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let name = property.as_str().map(str::to_string).unwrap_or_else(|| property.to_string());
                    let mut parts = base.clone();
                    parts.push(&name);
                    FieldError::new(parts.join("."), "Required field is missing")
                }
                _ => FieldError::new(if base.is_empty() { "body".into() } else { base.join(".") }, e.to_string()),
            }
        })
        .collect()
}

// ---- data keys ----

pub struct NewDataKey {
    pub user_id: Option<String>,
    pub name: String,
    pub environment: Environment,
}

/// Creates a data key for a member (default: the caller); owner only.
pub async fn create_key(st: &AppState, p: &Principal, new: NewDataKey) -> Result<(data_key::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let name = required_text("name", &new.name, 100)?;
    let user_id = new.user_id.unwrap_or_else(|| p.user_id.clone());
    let member = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(membership::Column::UserId.eq(&user_id))
        .one(&st.db)
        .await?;
    if member.is_none() {
        return Err(Error::NotFound("Member"));
    }
    let secret = format!("tm_{}_{}", new.environment.as_str(), random_token(24));
    let now = Utc::now();
    let key = data_key::ActiveModel {
        id: Set(new_id("dk")),
        workspace_id: Set(p.workspace_id.clone()),
        user_id: Set(user_id),
        name: Set(name),
        environment: Set(new.environment.as_str().into()),
        prefix: Set(secret[..12].to_string()),
        key_hash: Set(st.secret.hash_token(&secret)),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&st.writer)
    .await?;
    Ok((key, secret))
}

/// Which data keys [`list_keys`] returns.
#[derive(Default)]
pub struct KeyFilter {
    pub enabled: Option<bool>,
    pub environment: Option<crate::services::api_keys::Environment>,
}

pub async fn list_keys(
    db: &impl ConnectionTrait,
    p: &Principal,
    filter: KeyFilter,
    page: &PageArgs,
) -> Result<Page<data_key::Model>> {
    p.require(Scope::Read)?.require_owner()?;
    let mut q = data_key::Entity::find().filter(data_key::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(enabled) = filter.enabled {
        q = q.filter(data_key::Column::Enabled.eq(enabled));
    }
    if let Some(env) = filter.environment {
        q = q.filter(data_key::Column::Environment.eq(env.as_str()));
    }
    fetch_page(db, q, data_key::Column::Id, page).await
}

/// Fields of a data key to change; `None` leaves a field as it is.
#[derive(Default)]
pub struct DataKeyChanges {
    pub name: Option<String>,
    /// `false`: the key gets 401 at once; `true`: it works again.
    pub enabled: Option<bool>,
}

async fn find_key(db: &impl ConnectionTrait, workspace_id: &str, id: &str) -> Result<data_key::Model> {
    if !has_prefix(id, "dk") {
        return Err(Error::NotFound("Data key"));
    }
    data_key::Entity::find_by_id(id)
        .filter(data_key::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Data key"))
}

/// Renames, enables or disables a data key (owner only); a disabled key gets 401.
pub async fn update_key(st: &AppState, p: &Principal, id: &str, c: DataKeyChanges) -> Result<data_key::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let mut am = find_key(&st.writer, &p.workspace_id, id).await?.into_active_model();
    if let Some(n) = &c.name {
        am.name = Set(required_text("name", n, 100)?);
    }
    if let Some(enabled) = c.enabled {
        am.enabled = Set(enabled);
    }
    am.updated_at = Set(Utc::now());
    let key = am.update(&st.writer).await?;
    super::data_cache::invalidate(st, &p.workspace_id);
    Ok(key)
}

/// Deletes a data key (owner only); it gets 401 at once. Records sent with
/// it stay.
pub async fn delete_key(st: &AppState, p: &Principal, id: &str) -> Result<()> {
    p.require(Scope::Write)?.require_owner()?;
    let key = find_key(&st.writer, &p.workspace_id, id).await?;
    data_key::Entity::delete_by_id(&key.id).exec(&st.writer).await?;
    super::data_cache::invalidate(st, &p.workspace_id);
    Ok(())
}

/// Issues a new secret for a data key (owner only); the old one gets 401 at
/// once. Returns the key with its new secret, shown only here.
pub async fn roll_key(st: &AppState, p: &Principal, id: &str) -> Result<(data_key::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let key = find_key(&st.writer, &p.workspace_id, id).await?;
    let env = Environment::parse(&key.environment).unwrap_or(Environment::Test);
    let secret = format!("tm_{}_{}", env.as_str(), random_token(24));
    let mut am = key.into_active_model();
    am.prefix = Set(secret[..12].to_string());
    am.key_hash = Set(st.secret.hash_token(&secret));
    am.updated_at = Set(Utc::now());
    let key = am.update(&st.writer).await?;
    super::data_cache::invalidate(st, &p.workspace_id);
    Ok((key, secret))
}

/// The owner's live key for the production console, created on first use.
/// Its secret is thrown away: only the server uses it, on the owner's behalf.
pub async fn console_key(st: &AppState, p: &Principal) -> Result<data_key::Model> {
    p.require(Scope::Write)?.require_owner()?;
    const NAME: &str = "Production console";
    let found = data_key::Entity::find()
        .filter(data_key::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(data_key::Column::UserId.eq(&p.user_id))
        .filter(data_key::Column::Name.eq(NAME))
        .filter(data_key::Column::Environment.eq(Environment::Live.as_str()))
        .one(&st.db)
        .await?;
    if let Some(k) = found {
        return Ok(k);
    }
    let new = NewDataKey { user_id: None, name: NAME.into(), environment: Environment::Live };
    Ok(create_key(st, p, new).await?.0)
}

fn invalid_key() -> Error {
    Error::Unauthorized("Invalid API key".into())
}

/// Checks that a presented token looks like a `tm_…` key; returns its hash.
pub fn check_key_shape(secret: &SecretKey, token: &str) -> Result<String> {
    if !(token.starts_with("tm_test_") || token.starts_with("tm_live_")) || token.len() > 200 {
        return Err(invalid_key());
    }
    Ok(secret.hash_token(token))
}

/// The data key with this token hash, if it is enabled and its member still
/// belongs to the workspace; every failure is UNAUTHORIZED.
pub async fn authenticate_hash(db: &impl ConnectionTrait, hash: &str) -> Result<data_key::Model> {
    let key =
        data_key::Entity::find().filter(data_key::Column::KeyHash.eq(hash)).one(db).await?.ok_or_else(invalid_key)?;
    if !ct_eq(&key.key_hash, hash) {
        return Err(invalid_key());
    }
    if !key.enabled {
        return Err(Error::Unauthorized("API key disabled by the owner".into()));
    }
    let member = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(&key.workspace_id))
        .filter(membership::Column::UserId.eq(&key.user_id))
        .one(db)
        .await?;
    member.map(|_| key).ok_or_else(invalid_key)
}

pub fn endpoint_json(e: &data_endpoint::Model) -> serde_json::Value {
    json!({ "id": e.id, "slug": e.slug, "name": e.name })
}
