//! Service integrations (seed 002 §3): a service bound to the workspace
//! with a config checked per service type (`services.json`; secret fields
//! encrypted and shown as `***`), a test that makes one real call, and a
//! sync ([`sync`]) run by hand or on a schedule. `slack` (an incoming
//! webhook) and `webhook` are outbound: a sync sends the workspace's
//! events since the last one sent. Any provider of the connections catalog
//! works through the workspace's connection for it, and with `sync` set
//! pulls a listing into a data endpoint ([`inbound`]).

pub mod inbound;
pub mod paused;
pub mod sync;

use std::sync::LazyLock;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, TransactionTrait,
};
use serde::Deserialize;
use serde_json::{json, Value};

use entity::{integration, integration_item, integration_run};

use crate::auth::{Principal, Scope};
use crate::error::{Error, Result, UserErrorCode};
use crate::events::{self, Envelope, EventType};
use crate::ids::{has_prefix, new_id};
use crate::services::connections::{self, catalog};
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::services::{required_text, secret_config};
use crate::state::AppState;

/// The shortest auto-sync interval.
pub const MIN_SYNC_INTERVAL: i64 = 60;

/// An integration's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum IntegrationStatus {
    /// Working: tests and syncs run, auto-sync fires.
    Active,
    /// Turned off by the workspace: no auto-sync.
    Inactive,
    /// The last sync failed (`lastError` says why); the next one that
    /// succeeds makes it `ACTIVE` again.
    Error,
}

impl IntegrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "error" => Self::Error,
            _ => Self::Inactive,
        }
    }
}

/// What a sync does for a kind of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "lowercase")]
#[graphql(name = "IntegrationDirection")]
pub enum Direction {
    /// Sends the workspace's events out.
    Outbound,
    /// Calls a provider through the workspace's connection.
    Connection,
}

#[derive(Debug, Deserialize)]
pub struct ServiceKind {
    pub name: String,
    pub direction: Direction,
    pub config_schema: Value,
}

static KINDS: LazyLock<std::collections::BTreeMap<String, ServiceKind>> = LazyLock::new(|| {
    let mut all: serde_json::Map<String, Value> =
        serde_json::from_str(include_str!("services.json")).expect("integrations/services.json is valid");
    all.remove("_comment");
    all.into_iter().map(|(k, v)| (k, serde_json::from_value(v).expect("a service kind"))).collect()
});

/// The kind of a service type: `slack`, `webhook`, or a catalog provider that makes calls.
pub fn kind_of(service_type: &str) -> Result<&'static ServiceKind> {
    if let Some(k) = KINDS.get(service_type).filter(|k| k.direction != Direction::Connection) {
        return Ok(k);
    }
    match catalog::get(service_type) {
        Some(p) if p.auth != catalog::AuthKind::None => Ok(&KINDS["connection"]),
        _ => Err(Error::invalid_field(
            "serviceType",
            "Use `slack`, `webhook`, or a service of the connections catalog that takes calls (e.g. `stripe`, `notion`)",
        )),
    }
}

/// A kind of service an integration can be made for, as one workspace sees it.
pub struct ServiceInfo {
    /// The `serviceType` to create it with.
    pub service_type: String,
    pub name: String,
    pub kind: &'static ServiceKind,
    /// Whether the workspace has the connection the service works through
    /// (always true for a service that needs none).
    pub connected: bool,
}

/// The service types an integration can be made for (any member): `slack`,
/// `webhook`, then every provider of the connections catalog that takes
/// calls, each with its config schema and whether the workspace has the
/// connection it needs — what a form asks before `create` refuses.
pub async fn services(db: &impl ConnectionTrait, p: &Principal) -> Result<Vec<ServiceInfo>> {
    p.require(Scope::Read)?;
    let connected: std::collections::HashSet<String> = entity::connection::Entity::find()
        .filter(entity::connection::Column::WorkspaceId.eq(&p.workspace_id))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.provider)
        .collect();
    let own = KINDS.iter().filter(|(_, k)| k.direction != Direction::Connection).map(|(key, kind)| ServiceInfo {
        service_type: key.clone(),
        name: kind.name.clone(),
        kind,
        connected: true,
    });
    let through = catalog::all()
        .iter()
        .filter(|pr| pr.auth != catalog::AuthKind::None && !KINDS.contains_key(&pr.key))
        .map(|pr| ServiceInfo {
            service_type: pr.key.clone(),
            name: pr.name.clone(),
            kind: &KINDS["connection"],
            connected: connected.contains(&pr.key),
        });
    // `slack` first: the seed's example.
    let mut out: Vec<ServiceInfo> = own.chain(through).collect();
    out.sort_by_key(|s| (s.kind.direction != Direction::Outbound, s.service_type != "slack"));
    Ok(out)
}

/// An integration's auto-sync settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub auto_sync: bool,
    pub sync_interval_seconds: i64,
}

/// An integration to create.
pub struct NewIntegration {
    pub name: String,
    pub service_type: String,
    pub config: Value,
    pub settings: Settings,
}

/// Changes to an integration; `None` keeps a field.
#[derive(Default)]
pub struct Changes {
    pub name: Option<String>,
    /// The whole config; a secret field sent as `***` keeps its stored value.
    pub config: Option<Value>,
    pub settings: Option<Settings>,
    /// `ACTIVE` or `INACTIVE`.
    pub status: Option<IntegrationStatus>,
}

/// Whether an integration of this kind with this (stored) config has a sync:
/// outbound ones always, a connected service when its `sync` is set.
pub fn syncs(kind: &ServiceKind, config: &Value) -> bool {
    kind.direction == Direction::Outbound || config.get("sync").is_some_and(Value::is_object)
}

fn check_settings(kind: &ServiceKind, s: Settings, config: &Value) -> Result<()> {
    if s.sync_interval_seconds < MIN_SYNC_INTERVAL || s.sync_interval_seconds > 31 * 86_400 {
        return Err(Error::invalid_field("settings.syncIntervalSeconds", "Between 60 and 2,678,400 seconds (31 days)"));
    }
    if s.auto_sync && !syncs(kind, config) {
        return Err(Error::invalid_field(
            "settings.autoSync",
            "This integration has no sync: set `config.sync` (a resource to pull into a data endpoint) first",
        ));
    }
    Ok(())
}

/// The data key an inbound sync writes its records with: the integration's
/// own (made on first need, in the environment its `sync` names), or none
/// when it has no inbound sync. The sync's data endpoint must exist.
async fn data_key_for(st: &AppState, p: &Principal, row: &integration::Model) -> Result<Option<String>> {
    use crate::services::api_keys::Environment;
    use crate::services::data_endpoints;
    let Some(spec) = row.config.get("sync").filter(|v| v.is_object()) else { return Ok(row.data_key_id.clone()) };
    let slug = spec["endpoint"].as_str().unwrap_or_default();
    if data_endpoints::by_slug(&st.db, &p.workspace_id, slug).await?.is_none() {
        return Err(Error::invalid_field(
            "config.sync.endpoint",
            format!("No data endpoint `{slug}` in this workspace"),
        ));
    }
    let env = if spec["environment"] == "test" { Environment::Test } else { Environment::Live };
    if let Some(id) = &row.data_key_id {
        let key = entity::data_key::Entity::find_by_id(id).one(&st.db).await?;
        if key.is_some_and(|k| k.environment == env.as_str()) {
            return Ok(Some(id.clone()));
        }
    }
    let new = data_endpoints::NewDataKey { user_id: None, name: format!("Integration {}", row.id), environment: env };
    Ok(Some(data_endpoints::create_key(st, p, new).await?.0.id))
}

/// A config checked against its kind's schema, split into what is stored
/// in the clear and the encrypted secrets.
fn checked_config(st: &AppState, kind: &ServiceKind, config: Value) -> Result<(Value, Option<String>)> {
    let config = secret_config::with_defaults(&kind.config_schema, config);
    secret_config::validate(&kind.config_schema, &config)?;
    if let Some(patterns) = config.get("events").and_then(Value::as_array) {
        for p in patterns.iter().filter_map(Value::as_str) {
            if !events::is_known_pattern(p) {
                return Err(Error::field_code(
                    "config.events",
                    UserErrorCode::UnknownEventType,
                    format!("`{p}` matches no event type"),
                ));
            }
        }
    }
    let (plain, secrets) = secret_config::split(&kind.config_schema, &config);
    Ok((plain, secret_config::encrypt(st, &secrets)?))
}

/// The event data of an integration: never a secret.
fn event_data(i: &integration::Model, with_config: bool) -> Value {
    let mut data = json!({
        "id": i.id, "name": i.name, "service_type": i.service_type, "status": i.status,
        "auto_sync": i.auto_sync, "sync_interval": i.sync_interval_seconds,
    });
    if with_config {
        data["config"] = i.config.clone();
    }
    data
}

/// The workspace's connection for a provider, if any.
pub(crate) async fn connection_for(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    provider: &str,
) -> Result<Option<entity::connection::Model>> {
    Ok(entity::connection::Entity::find()
        .filter(entity::connection::Column::WorkspaceId.eq(workspace_id))
        .filter(entity::connection::Column::Provider.eq(provider))
        .one(db)
        .await?)
}

async fn require_connection(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    provider: &str,
) -> Result<entity::connection::Model> {
    connection_for(db, workspace_id, provider).await?.ok_or_else(|| {
        let name = catalog::get(provider).map_or(provider, |p| p.name.as_str());
        Error::invalid_field("serviceType", format!("Connect {name} first: this workspace has no {name} connection"))
    })
}

fn schedule_name(id: &str) -> String {
    format!("{}:{id}", sync::KIND)
}

/// Makes the integration's schedule match its settings: one schedule
/// while it is active with auto-sync on, none otherwise.
async fn reschedule(st: &AppState, i: &integration::Model) -> Result<()> {
    let wanted = i.auto_sync && IntegrationStatus::parse(&i.status) != IntegrationStatus::Inactive;
    if wanted {
        let every = Duration::from_secs(i.sync_interval_seconds as u64);
        crate::jobs::schedules::ensure(st, &schedule_name(&i.id), sync::KIND, json!({ "integration_id": i.id }), every)
            .await
    } else {
        entity::schedule::Entity::delete_by_id(schedule_name(&i.id)).exec(&st.writer).await?;
        Ok(())
    }
}

/// Creates an integration (owner only). A connected service needs the
/// workspace's connection for it. Emits `integration.created`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, service = %new.service_type))]
pub async fn create(st: &AppState, p: &Principal, new: NewIntegration) -> Result<integration::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let name = required_text("name", &new.name, 100)?;
    let kind = kind_of(&new.service_type)?;
    if !new.config.is_object() {
        return Err(Error::invalid_field("config", "Must be a JSON object"));
    }
    let (config, secrets_enc) = checked_config(st, kind, new.config)?;
    check_settings(kind, new.settings, &config)?;
    if kind.direction == Direction::Connection {
        require_connection(&st.db, &p.workspace_id, &new.service_type).await?;
    }
    let now = Utc::now();
    let mut row = integration::Model {
        id: new_id("int"),
        workspace_id: p.workspace_id.clone(),
        name,
        service_type: new.service_type,
        config,
        secrets_enc,
        auto_sync: new.settings.auto_sync,
        sync_interval_seconds: new.settings.sync_interval_seconds,
        status: IntegrationStatus::Active.as_str().into(),
        // An outbound sync starts with the events after its creation.
        cursor: (kind.direction == Direction::Outbound).then(|| new_id("evt")),
        data_key_id: None,
        last_test_at: None,
        last_test_status: None,
        last_test_error: None,
        last_sync_at: None,
        last_error: None,
        items_synced: 0,
        created_at: now,
        updated_at: now,
        sync_resume_enc: None,
        sync_run_id: None,
        sync_lease_until: None,
    };
    row.data_key_id = data_key_for(st, p, &row).await?;
    let txn = st.writer.begin().await?;
    let row = row.into_active_model().insert(&txn).await?;
    let evt = events::record(
        &txn,
        &p.workspace_id,
        EventType::IntegrationCreated,
        p.actor(),
        Some(&row.id),
        event_data(&row, true),
    )
    .await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    reschedule(st, &row).await?;
    Ok(row)
}

/// One page of the workspace's integrations, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    service_type: Option<&str>,
    status: Option<IntegrationStatus>,
    page: &PageArgs,
) -> Result<Page<integration::Model>> {
    p.require(Scope::Read)?;
    let mut q = integration::Entity::find().filter(integration::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(t) = service_type {
        q = q.filter(integration::Column::ServiceType.eq(t));
    }
    if let Some(s) = status {
        q = q.filter(integration::Column::Status.eq(s.as_str()));
    }
    fetch_page(db, q, integration::Column::Id, page).await
}

/// One integration of the caller's workspace.
pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<integration::Model> {
    p.require(Scope::Read)?;
    find(db, &p.workspace_id, id).await
}

pub(crate) async fn find(db: &impl ConnectionTrait, workspace_id: &str, id: &str) -> Result<integration::Model> {
    if !has_prefix(id, "int") {
        return Err(Error::NotFound("Integration"));
    }
    integration::Entity::find_by_id(id)
        .filter(integration::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Integration"))
}

/// Changes an integration (owner only); its schedule follows its settings.
/// A change of an inbound sync starts its listing again at the first page
/// at the next run; one that reads another listing (its `path`,
/// `external_id_field` or `endpoint` changed, or the sync removed) also
/// forgets which record each external id became, so the new listing's
/// items are not taken for the old one's (the old records stay, and are
/// never deleted as missing). Emits `integration.updated`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, integration = %id))]
pub async fn update(st: &AppState, p: &Principal, id: &str, changes: Changes) -> Result<integration::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let mut row = find(&st.db, &p.workspace_id, id).await?;
    let kind = kind_of(&row.service_type)?;
    let sync_before = row.config.get("sync").filter(|v| v.is_object()).cloned();
    match changes.status {
        Some(IntegrationStatus::Error) => {
            return Err(Error::invalid_field("status", "Set ACTIVE or INACTIVE; ERROR is set by a failed sync"))
        }
        Some(s) => row.status = s.as_str().into(),
        None => {}
    }
    if let Some(name) = changes.name {
        row.name = required_text("name", &name, 100)?;
    }
    if let Some(mut config) = changes.config {
        if !config.is_object() {
            return Err(Error::invalid_field("config", "Must be a JSON object"));
        }
        secret_config::keep_masked(&mut config, &secret_config::decrypt(st, row.secrets_enc.as_deref())?);
        (row.config, row.secrets_enc) = checked_config(st, kind, config)?;
    }
    let settings = changes
        .settings
        .unwrap_or(Settings { auto_sync: row.auto_sync, sync_interval_seconds: row.sync_interval_seconds });
    check_settings(kind, settings, &row.config)?;
    row.auto_sync = settings.auto_sync;
    row.sync_interval_seconds = settings.sync_interval_seconds;
    row.data_key_id = data_key_for(st, p, &row).await?;
    row.updated_at = Utc::now();
    // The data key is made first: on SQLite the one writer connection is
    // the transaction's while it is open.
    let sync_after = row.config.get("sync").filter(|v| v.is_object());
    let sync_changed = sync_before.as_ref() != sync_after;
    let other_listing = match (&sync_before, sync_after) {
        (Some(before), Some(after)) => !inbound::same_listing(before, after),
        (Some(_), None) => true,
        (None, _) => false,
    };
    let txn = st.writer.begin().await?;
    let mut active = row.into_active_model().reset_all();
    // A running sync's hold is its own; where its listing continues, too, unless the sync changed.
    active.sync_run_id = sea_orm::NotSet;
    active.sync_lease_until = sea_orm::NotSet;
    active.sync_resume_enc = if sync_changed { sea_orm::Set(None) } else { sea_orm::NotSet };
    let row = active.update(&txn).await?;
    if other_listing {
        integration_item::Entity::delete_many()
            .filter(integration_item::Column::IntegrationId.eq(&row.id))
            .exec(&txn)
            .await?;
    }
    let evt = events::record(
        &txn,
        &p.workspace_id,
        EventType::IntegrationUpdated,
        p.actor(),
        Some(&row.id),
        event_data(&row, true),
    )
    .await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    reschedule(st, &row).await?;
    Ok(row)
}

/// Deletes an integration (owner only) with its runs and its schedule.
/// Emits `integration.deleted`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, integration = %id))]
pub async fn delete(st: &AppState, p: &Principal, id: &str) -> Result<integration::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let row = find(&txn, &p.workspace_id, id).await?;
    integration_run::Entity::delete_many()
        .filter(integration_run::Column::IntegrationId.eq(&row.id))
        .exec(&txn)
        .await?;
    integration_item::Entity::delete_many()
        .filter(integration_item::Column::IntegrationId.eq(&row.id))
        .exec(&txn)
        .await?;
    integration::Entity::delete_by_id(&row.id).exec(&txn).await?;
    entity::schedule::Entity::delete_by_id(schedule_name(&row.id)).exec(&txn).await?;
    let evt = events::record(
        &txn,
        &p.workspace_id,
        EventType::IntegrationDeleted,
        p.actor(),
        Some(&row.id),
        event_data(&row, false),
    )
    .await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    if let Some(key) = &row.data_key_id {
        crate::services::data_endpoints::delete_key(st, p, key).await.or_else(|e| match e {
            Error::NotFound(_) => Ok(()),
            e => Err(e),
        })?;
    }
    Ok(row)
}

/// What one test call came to.
#[derive(Default)]
pub struct TestOutcome {
    pub status: Option<u16>,
    pub error: Option<String>,
    /// A 429's or 503's `Retry-After`, when it gave one.
    pub retry_after: Option<std::time::Duration>,
}

/// Tests an integration with one real call (members who may write): Slack
/// gets a test message, a webhook a signed `integration.test` message, a
/// connected service its who-am-I call through the connection. The outcome
/// is recorded on the integration.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, integration = %id))]
pub async fn test(st: &AppState, p: &Principal, id: &str) -> Result<integration::Model> {
    p.require(Scope::Write)?;
    let row = find(&st.db, &p.workspace_id, id).await?;
    let kind = kind_of(&row.service_type)?;
    let config = secret_config::full(st, &row.config, row.secrets_enc.as_deref())?;
    let secrets = secret_values(&kind.config_schema, &config);
    let outcome = match kind.direction {
        Direction::Outbound => {
            let message = json!({ "id": new_id("msg"), "type": "integration.test", "timestamp": Utc::now().to_rfc3339(),
                                  "data": { "integration_id": row.id, "name": row.name } });
            let text = format!("Switchyard test message from the integration “{}”", row.name);
            sync::send(st, &row.service_type, &config, &message, &text).await
        }
        Direction::Connection => connection_test(st, &row, &config).await?,
    };
    let now = Utc::now();
    let mut row = row;
    row.last_test_at = Some(now);
    row.last_test_status = outcome.status.map(i32::from);
    row.last_test_error = outcome.error.map(|e| scrub(&e, &secrets));
    let mut active = row.clone().into_active_model();
    active.last_test_at = sea_orm::Set(row.last_test_at);
    active.last_test_status = sea_orm::Set(row.last_test_status);
    active.last_test_error = sea_orm::Set(row.last_test_error.clone());
    Ok(active.update(&st.writer).await?)
}

/// The who-am-I call (or the configured `test_path`) through the connection.
async fn connection_test(st: &AppState, row: &integration::Model, config: &Value) -> Result<TestOutcome> {
    use crate::services::Waiting;
    use connections::call::{call_in_workspace, CallRequest};
    let Some(c) = connection_for(&st.db, &row.workspace_id, &row.service_type).await? else {
        return Ok(TestOutcome {
            status: None,
            error: Some("The workspace has no connection for this service".into()),
            ..Default::default()
        });
    };
    let path = config["test_path"]
        .as_str()
        .map(str::to_string)
        .or_else(|| catalog::get(&row.service_type).and_then(|p| p.account.as_ref()).map(|a| a.path.clone()))
        .unwrap_or_else(|| "/".into());
    let request = CallRequest { method: "GET".into(), path, ..Default::default() };
    let waiting = Waiting { wait: true, timeout: Duration::from_secs(30) };
    Ok(match call_in_workspace(st, &row.workspace_id, &c.id, request, waiting).await {
        Ok((_, Some(a))) => TestOutcome {
            status: Some(a.status),
            error: (!(200..300).contains(&a.status)).then(|| format!("The service answered HTTP {}", a.status)),
            ..Default::default()
        },
        Ok((call, None)) => TestOutcome {
            status: call.http_status.map(|s| s as u16),
            error: Some(call.error.unwrap_or_else(|| "The call is queued behind the service's rate limit".into())),
            ..Default::default()
        },
        Err(e) => TestOutcome {
            status: None,
            error: Some(e.details().first().map_or_else(|| e.public_message(), |d| d.error.clone())),
            ..Default::default()
        },
    })
}

/// The values of a config's secret fields.
pub(crate) fn secret_values(schema: &Value, config: &Value) -> Vec<String> {
    secret_config::secret_fields(schema)
        .iter()
        .filter_map(|k| config.get(k).and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// `text` with every secret value shown as `***`.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().filter(|s| s.len() >= 4).fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
}

/// Runs the integration's sync now, as a job (members who may write);
/// returns the queued run.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, integration = %id))]
pub async fn request_sync(st: &AppState, p: &Principal, id: &str) -> Result<integration_run::Model> {
    p.require(Scope::Write)?;
    let row = find(&st.db, &p.workspace_id, id).await?;
    if !syncs(kind_of(&row.service_type)?, &row.config) {
        return Err(Error::invalid_field(
            "id",
            "This integration has no sync: set `config.sync` (a resource to pull into a data endpoint) first",
        ));
    }
    if IntegrationStatus::parse(&row.status) == IntegrationStatus::Inactive {
        return Err(Error::invalid_field("id", "The integration is inactive: set it ACTIVE to sync"));
    }
    sync::queue(st, &row, sync::Trigger::Manual).await
}

/// One page of an integration's sync runs, newest first.
pub async fn runs(
    db: &impl ConnectionTrait,
    p: &Principal,
    integration_id: &str,
    page: &PageArgs,
) -> Result<Page<integration_run::Model>> {
    p.require(Scope::Read)?;
    let q = integration_run::Entity::find()
        .filter(integration_run::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(integration_run::Column::IntegrationId.eq(integration_id));
    fetch_page(db, q, integration_run::Column::Id, page).await
}

/// One page of the sync runs of one of the caller's integrations (NOT_FOUND
/// when it is not theirs), newest first.
pub async fn runs_of(
    db: &impl ConnectionTrait,
    p: &Principal,
    integration_id: &str,
    page: &PageArgs,
) -> Result<Page<integration_run::Model>> {
    let integration = get(db, p, integration_id).await?;
    runs(db, p, &integration.id, page).await
}

/// One sync run of the caller's workspace.
pub async fn run(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<integration_run::Model> {
    p.require(Scope::Read)?;
    if !has_prefix(id, "isr") {
        return Err(Error::NotFound("Sync run"));
    }
    integration_run::Entity::find_by_id(id)
        .filter(integration_run::Column::WorkspaceId.eq(&p.workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Sync run"))
}

/// The live message a sync run's change is announced with (not stored,
/// fanned out to no webhook): the run as JSON.
pub const RUN_MESSAGE: &str = "integration.run";

/// Tells live subscribers (on every process) how a run stands.
pub(crate) fn announce(st: &AppState, run: &integration_run::Model) {
    st.bus.publish(vec![live_message(run)]);
}

/// The live message saying what `run` is now.
pub(crate) fn live_message(run: &integration_run::Model) -> Envelope {
    let data = serde_json::to_value(run).unwrap_or(Value::Null);
    Envelope::live(run.workspace_id.clone(), RUN_MESSAGE, "system", Some(run.id.clone()), data)
}

/// A run from its live message.
pub fn run_from_live(e: &Envelope) -> Option<integration_run::Model> {
    (e.event_type == RUN_MESSAGE).then(|| serde_json::from_value(e.data.clone()).ok()).flatten()
}
