//! Plugins (seed 002 §2): declarative manifests ([`manifest`]) from the
//! marketplace or a workspace's own, installed per workspace with their
//! config checked against the manifest's schema and secret fields
//! encrypted; their actions run on request ([`actions`]) and their hooks
//! for matching events ([`calls`]), each call logged.

pub mod actions;
pub mod calls;
pub mod manifest;
pub mod template;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde_json::{json, Map, Value};

use entity::{plugin, plugin_manifest};

use crate::auth::{Principal, Scope};
use crate::error::{Error, Result, UserErrorCode};
use crate::events::{self, EventType};
use crate::ids::{has_prefix, new_id};
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::services::secret_config;
use crate::state::AppState;

pub use actions::call_action_now;
pub use manifest::Manifest;

/// Where a plugin's manifest comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum PluginSource {
    /// Shipped with the server.
    Marketplace,
    /// Added by the workspace (`addPluginManifest`).
    Custom,
}

impl PluginSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketplace => "marketplace",
            Self::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "custom" {
            Self::Custom
        } else {
            Self::Marketplace
        }
    }
}

/// Whether an installed plugin works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum PluginStatus {
    /// Its hooks run and its actions can be called.
    Active,
    /// Installed but off: no hook runs, actions are refused.
    Inactive,
}

impl PluginStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "active" {
            Self::Active
        } else {
            Self::Inactive
        }
    }
}

/// An installed plugin with its manifest read.
pub struct Installed {
    pub row: plugin::Model,
    pub manifest: Manifest,
}

impl Installed {
    pub fn from_row(row: plugin::Model) -> Result<Self> {
        let manifest = serde_json::from_value(row.manifest.clone()).map_err(Error::internal)?;
        Ok(Self { row, manifest })
    }

    /// The config as shown: each secret field that is set is `***`.
    pub fn masked_config(&self) -> Value {
        self.row.config.clone()
    }

    /// The whole config, secrets decrypted (for calls only).
    pub fn full_config(&self, st: &AppState) -> Result<Value> {
        secret_config::full(st, &self.row.config, self.row.secrets_enc.as_deref())
    }
}

fn secrets_of(st: &AppState, row: &plugin::Model) -> Result<Map<String, Value>> {
    secret_config::decrypt(st, row.secrets_enc.as_deref())
}

fn encrypt_secrets(st: &AppState, secrets: &Map<String, Value>) -> Result<Option<String>> {
    secret_config::encrypt(st, secrets)
}

/// The event data of a plugin: never a secret.
fn event_data(i: &Installed, with_config: bool) -> Value {
    let mut data = json!({
        "id": i.row.id, "plugin_id": i.row.plugin_id, "name": i.manifest.name, "version": i.manifest.version,
        "source": i.row.source, "status": i.row.status,
    });
    if with_config {
        data["config"] = i.masked_config();
    }
    data
}

/// The manifests a workspace can install: the marketplace's, then its own.
pub async fn available(db: &impl ConnectionTrait, p: &Principal) -> Result<Vec<(PluginSource, Manifest)>> {
    p.require(Scope::Read)?;
    let mut out: Vec<(PluginSource, Manifest)> =
        manifest::marketplace().iter().map(|m| (PluginSource::Marketplace, m.clone())).collect();
    let custom = plugin_manifest::Entity::find()
        .filter(plugin_manifest::Column::WorkspaceId.eq(&p.workspace_id))
        .order_by_asc(plugin_manifest::Column::PluginId)
        .all(db)
        .await?;
    for c in custom {
        out.push((PluginSource::Custom, serde_json::from_value(c.manifest).map_err(Error::internal)?));
    }
    Ok(out)
}

/// Adds a custom manifest to the workspace (owner only), after checking it.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id))]
pub async fn add_manifest(st: &AppState, p: &Principal, raw: Value) -> Result<Manifest> {
    p.require(Scope::Write)?.require_owner()?;
    let m = manifest::check(&raw)?;
    if manifest::find(&m.id).is_some() {
        return Err(Error::field_code(
            "manifest.id",
            UserErrorCode::Taken,
            "The marketplace has a plugin with this id",
        ));
    }
    let row = plugin_manifest::Model {
        id: new_id("pmf"),
        workspace_id: p.workspace_id.clone(),
        plugin_id: m.id.clone(),
        key: m.key().to_string(),
        version: m.version.clone(),
        manifest: serde_json::to_value(&m).map_err(Error::internal)?,
        created_at: Utc::now(),
    };
    row.into_active_model()
        .insert(&st.writer)
        .await
        .map_err(Error::unique("manifest.id", "This workspace already has a manifest with this id"))?;
    Ok(m)
}

async fn manifest_for(db: &impl ConnectionTrait, ws: &str, plugin_id: &str, source: PluginSource) -> Result<Manifest> {
    let missing = || Error::field_code("pluginId", UserErrorCode::NotFound, "No such plugin in this source");
    match source {
        PluginSource::Marketplace => manifest::find(plugin_id).cloned().ok_or_else(missing),
        PluginSource::Custom => {
            let row = plugin_manifest::Entity::find()
                .filter(plugin_manifest::Column::WorkspaceId.eq(ws))
                .filter(plugin_manifest::Column::PluginId.eq(plugin_id))
                .one(db)
                .await?
                .ok_or_else(missing)?;
            serde_json::from_value(row.manifest).map_err(Error::internal)
        }
    }
}

use secret_config::keep_masked;

/// Installs a plugin (owner only): its config is checked against the
/// manifest's schema and its secret fields are encrypted. A plugin already
/// installed is refused unless this is a newer version: then it is upgraded
/// in place, its config carried over (fields given here win) and checked
/// against the new schema. Emits `plugin.installed`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, plugin = %plugin_id))]
pub async fn install(
    st: &AppState,
    p: &Principal,
    plugin_id: &str,
    source: PluginSource,
    config: Value,
) -> Result<plugin::Model> {
    p.require(Scope::Write)?.require_owner()?;
    if !config.is_object() {
        return Err(Error::invalid_field("config", "Must be a JSON object"));
    }
    let m = manifest_for(&st.db, &p.workspace_id, plugin_id, source).await?;
    let txn = st.writer.begin().await?;
    let existing = plugin::Entity::find()
        .filter(plugin::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(plugin::Column::Key.eq(m.key()))
        .one(&txn)
        .await?;
    let now = Utc::now();
    let (row, previous) = match existing {
        None => {
            let config = secret_config::with_defaults(&m.config_schema, config);
            secret_config::validate(&m.config_schema, &config)?;
            let (plain, secrets) = secret_config::split(&m.config_schema, &config);
            let row = plugin::Model {
                id: new_id("plg"),
                workspace_id: p.workspace_id.clone(),
                plugin_id: m.id.clone(),
                key: m.key().to_string(),
                source: source.as_str().into(),
                manifest: serde_json::to_value(&m).map_err(Error::internal)?,
                status: PluginStatus::Active.as_str().into(),
                config: plain,
                secrets_enc: encrypt_secrets(st, &secrets)?,
                installed_at: now,
                updated_at: now,
            };
            let saved = row
                .into_active_model()
                .insert(&txn)
                .await
                .map_err(Error::unique("pluginId", "This plugin is already installed in this workspace"))?;
            (saved, None)
        }
        Some(old) => {
            let before = Installed::from_row(old.clone())?;
            if m.semver() <= before.manifest.semver() {
                return Err(Error::field_code(
                    "pluginId",
                    UserErrorCode::Taken,
                    format!(
                        "{} {} is already installed in this workspace; install a newer version to upgrade it",
                        before.manifest.name, before.manifest.version
                    ),
                ));
            }
            // Carry the old config over; fields given now win (`***` keeps the stored secret).
            let mut merged = before.full_config(st)?;
            // Not carried over: a secret the new version no longer marks
            // secret (it would be stored and shown in the clear), and a field
            // it dropped where its schema allows no others (nothing could be
            // sent to remove it).
            let (was_secret, is_secret) = (before.manifest.secret_fields(), m.secret_fields());
            let closed = m.config_schema.get("additionalProperties") == Some(&Value::Bool(false));
            let known = m.config_schema.get("properties").and_then(Value::as_object);
            if let Some(obj) = merged.as_object_mut() {
                obj.retain(|k, _| {
                    let leaks = was_secret.contains(k) && !is_secret.contains(k);
                    let stranded = closed && !known.is_some_and(|p| p.contains_key(k));
                    !leaks && !stranded
                });
            }
            let mut given = config;
            keep_masked(&mut given, &secrets_of(st, &old)?);
            if let (Some(into), Some(from)) = (merged.as_object_mut(), given.as_object()) {
                into.extend(from.clone());
            }
            let merged = secret_config::with_defaults(&m.config_schema, merged);
            secret_config::validate(&m.config_schema, &merged)?;
            let (plain, secrets) = secret_config::split(&m.config_schema, &merged);
            let mut row = old.clone();
            row.plugin_id = m.id.clone();
            row.source = source.as_str().into();
            row.manifest = serde_json::to_value(&m).map_err(Error::internal)?;
            row.config = plain;
            row.secrets_enc = encrypt_secrets(st, &secrets)?;
            row.updated_at = now;
            let saved = row.into_active_model().reset_all().update(&txn).await?;
            (saved, Some(before.manifest.version))
        }
    };
    let installed = Installed::from_row(row.clone())?;
    let mut data = event_data(&installed, true);
    if let Some(v) = previous {
        data["previous_version"] = json!(v);
    }
    let evt = events::record(&txn, &p.workspace_id, EventType::PluginInstalled, p.actor(), Some(&row.id), data).await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok(row)
}

/// One page of the workspace's plugins, newest first, optionally of one status.
pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    status: Option<PluginStatus>,
    page: &PageArgs,
) -> Result<Page<plugin::Model>> {
    p.require(Scope::Read)?;
    let mut q = plugin::Entity::find().filter(plugin::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(s) = status {
        q = q.filter(plugin::Column::Status.eq(s.as_str()));
    }
    fetch_page(db, q, plugin::Column::Id, page).await
}

/// One installed plugin of the caller's workspace, by its id (`plg_…`),
/// its manifest id (`plugin_weather_v1.0.0`) or its key (`weather`).
pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<plugin::Model> {
    p.require(Scope::Read)?;
    find(db, &p.workspace_id, id).await
}

pub(crate) async fn find(db: &impl ConnectionTrait, workspace_id: &str, id: &str) -> Result<plugin::Model> {
    let q = plugin::Entity::find().filter(plugin::Column::WorkspaceId.eq(workspace_id));
    let q = if has_prefix(id, "plg") {
        q.filter(plugin::Column::Id.eq(id))
    } else if id.starts_with("plugin_") {
        q.filter(plugin::Column::PluginId.eq(id))
    } else {
        q.filter(plugin::Column::Key.eq(id))
    };
    q.one(db).await?.ok_or(Error::NotFound("Plugin"))
}

/// Turns a plugin on or off (owner only). Emits `plugin.updated`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, plugin = %id))]
pub async fn set_status(st: &AppState, p: &Principal, id: &str, status: PluginStatus) -> Result<plugin::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let row = find(&txn, &p.workspace_id, id).await?;
    if PluginStatus::parse(&row.status) == status {
        return Ok(row);
    }
    let now = Utc::now();
    plugin::Entity::update_many()
        .col_expr(plugin::Column::Status, Expr::value(status.as_str()))
        .col_expr(plugin::Column::UpdatedAt, Expr::value(now))
        .filter(plugin::Column::Id.eq(&row.id))
        .exec(&txn)
        .await?;
    let row = plugin::Model { status: status.as_str().into(), updated_at: now, ..row };
    let data = event_data(&Installed::from_row(row.clone())?, true);
    let evt = events::record(&txn, &p.workspace_id, EventType::PluginUpdated, p.actor(), Some(&row.id), data).await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok(row)
}

/// Replaces a plugin's config (owner only); a secret field sent back as
/// `***` keeps its stored value. Checked against the manifest's schema.
/// Emits `plugin.updated`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, plugin = %id))]
pub async fn update_config(st: &AppState, p: &Principal, id: &str, config: Value) -> Result<plugin::Model> {
    p.require(Scope::Write)?.require_owner()?;
    if !config.is_object() {
        return Err(Error::invalid_field("config", "Must be a JSON object"));
    }
    let txn = st.writer.begin().await?;
    let row = find(&txn, &p.workspace_id, id).await?;
    let installed = Installed::from_row(row.clone())?;
    let mut config = config;
    keep_masked(&mut config, &secrets_of(st, &row)?);
    let config = secret_config::with_defaults(&installed.manifest.config_schema, config);
    secret_config::validate(&installed.manifest.config_schema, &config)?;
    let (plain, secrets) = secret_config::split(&installed.manifest.config_schema, &config);
    let mut row = row;
    row.config = plain;
    row.secrets_enc = encrypt_secrets(st, &secrets)?;
    row.updated_at = Utc::now();
    let row = row.into_active_model().reset_all().update(&txn).await?;
    let data = event_data(&Installed::from_row(row.clone())?, true);
    let evt = events::record(&txn, &p.workspace_id, EventType::PluginUpdated, p.actor(), Some(&row.id), data).await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok(row)
}

/// Uninstalls a plugin (owner only): the row goes with its secrets and its
/// call log, queued hook calls included, so its hooks stop at once. Emits
/// `plugin.uninstalled`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, plugin = %id))]
pub async fn uninstall(st: &AppState, p: &Principal, id: &str) -> Result<plugin::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let row = find(&txn, &p.workspace_id, id).await?;
    // SQLite enforces the cascade only with foreign keys on; delete the calls outright.
    entity::plugin_call::Entity::delete_many()
        .filter(entity::plugin_call::Column::PluginId.eq(&row.id))
        .exec(&txn)
        .await?;
    plugin::Entity::delete_by_id(&row.id).exec(&txn).await?;
    let data = event_data(&Installed::from_row(row.clone())?, false);
    let evt =
        events::record(&txn, &p.workspace_id, EventType::PluginUninstalled, p.actor(), Some(&row.id), data).await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok(row)
}
