//! Plugins (seed 002 §2): the marketplace of manifests, installed plugins
//! with their config (secret fields always `***`), their actions and hooks,
//! and the log of their calls.

use async_graphql::{ComplexObject, Context, Enum, InputObject, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::graphql::cost;
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::{found, ContextExt};
use crate::services::plugins::actions;
use crate::services::plugins::calls::{self, PluginCallStatus};
use crate::services::plugins::{self as service, Manifest, PluginSource, PluginStatus};

/// An action a plugin provides: a named HTTP call run with `runPluginAction`.
#[derive(SimpleObject)]
pub struct PluginAction {
    /// The name to run it by.
    pub name: String,
    /// What it does.
    pub description: String,
    /// The JSON Schema its `input` must satisfy; null when it takes any.
    pub input_schema: Option<Json<Value>>,
}

/// An event hook a plugin provides: a call made for each matching event.
#[derive(SimpleObject)]
pub struct PluginHook {
    /// The hook's name.
    pub name: String,
    /// What it does.
    pub description: String,
}

fn actions_of(m: &Manifest) -> Vec<PluginAction> {
    m.actions
        .iter()
        .map(|a| PluginAction {
            name: a.call.name.clone(),
            description: a.call.description.clone(),
            input_schema: a.input_schema.clone().map(Json),
        })
        .collect()
}

fn hooks_of(m: &Manifest) -> Vec<PluginHook> {
    m.hooks.iter().map(|h| PluginHook { name: h.call.name.clone(), description: h.call.description.clone() }).collect()
}

/// A plugin that can be installed: a manifest of the marketplace or one the workspace added.
#[derive(SimpleObject)]
pub struct MarketplacePlugin {
    /// The manifest's id, `plugin_{key}_v{version}`, e.g. `plugin_weather_v1.0.0`.
    pub plugin_id: String,
    /// The plugin's key (one installation per key per workspace), e.g. `weather`.
    pub key: String,
    /// The plugin's name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its version (`1.0.0`).
    pub version: String,
    /// Who made it.
    pub author: String,
    /// The marketplace's or the workspace's own.
    pub source: PluginSource,
    /// The JSON Schema of its config; secret fields are marked `"writeOnly": true`.
    pub config_schema: Json<Value>,
    /// The config fields that are secret: stored encrypted, shown as `***`.
    pub secret_fields: Vec<String>,
    /// Its actions.
    pub actions: Vec<PluginAction>,
    /// Its event hooks.
    pub hooks: Vec<PluginHook>,
}

impl MarketplacePlugin {
    fn new(source: PluginSource, m: Manifest) -> Self {
        Self {
            key: m.key().to_string(),
            secret_fields: m.secret_fields(),
            actions: actions_of(&m),
            hooks: hooks_of(&m),
            plugin_id: m.id,
            name: m.name,
            description: m.description,
            version: m.version,
            author: m.author,
            source,
            config_schema: Json(m.config_schema),
        }
    }
}

/// A plugin installed in the workspace.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Plugin {
    /// The installation's id (`plg_…`).
    pub id: ID,
    /// The manifest it runs, `plugin_{key}_v{version}`.
    pub plugin_id: String,
    /// The plugin's key, e.g. `weather`.
    pub key: String,
    /// The plugin's name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// The installed version.
    pub version: String,
    /// Who made it.
    pub author: String,
    /// Where its manifest comes from.
    pub source: PluginSource,
    /// Whether its hooks run and its actions can be called.
    pub status: PluginStatus,
    /// Its config; every secret field that is set is shown as `***`.
    pub config: Json<Value>,
    /// Its actions.
    pub actions: Vec<PluginAction>,
    /// Its event hooks.
    pub hooks: Vec<PluginHook>,
    /// When it was installed.
    pub installed_at: DateTime<Utc>,
    /// When its status, config or version last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<entity::plugin::Model> for Plugin {
    fn from(row: entity::plugin::Model) -> Self {
        let m: Option<Manifest> = serde_json::from_value(row.manifest.clone()).ok();
        let (name, description, version, author) = m
            .as_ref()
            .map(|m| (m.name.clone(), m.description.clone(), m.version.clone(), m.author.clone()))
            .unwrap_or_default();
        Self {
            id: ID(row.id),
            plugin_id: row.plugin_id,
            key: row.key,
            name,
            description,
            version,
            author,
            source: PluginSource::parse(&row.source),
            status: PluginStatus::parse(&row.status),
            config: Json(row.config),
            actions: m.as_ref().map(actions_of).unwrap_or_default(),
            hooks: m.as_ref().map(hooks_of).unwrap_or_default(),
            installed_at: row.installed_at,
            updated_at: row.updated_at,
        }
    }
}

#[ComplexObject]
impl Plugin {
    /// The calls this plugin made (action runs and hook calls), newest first.
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn calls(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last call of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1 to 100: the calls just newer than `before` (or the oldest ones).")]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first call of the next page, to page back towards newer ones.")] before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<PluginCall>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "pcl")?;
        let rows = calls::list(&ctx.app().db, ctx.principal()?, &self.id, &page).await?;
        Ok(connection(rows, |c| c.id.clone(), PluginCall::from))
    }
}

/// What made a plugin call.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum PluginCallKind {
    /// `runPluginAction` (or an action's plugin step).
    Action,
    /// An event matched one of the plugin's hooks.
    Hook,
}

/// One call a plugin made.
#[derive(SimpleObject)]
pub struct PluginCall {
    /// The call's id (`pcl_…`).
    pub id: ID,
    /// The plugin that made it (`plg_…`).
    pub plugin_id: ID,
    /// An action run or a hook call.
    pub kind: PluginCallKind,
    /// The action's or hook's name.
    pub name: String,
    /// The event a hook call reacted to; null for actions.
    pub event_id: Option<ID>,
    /// Where it stands.
    pub status: PluginCallStatus,
    /// The target's HTTP status; null when no answer came (yet).
    pub http_status: Option<i32>,
    /// Requests sent so far, retries included.
    pub attempts: i32,
    /// Milliseconds the last request took; null before the first.
    pub duration_ms: Option<i64>,
    /// Why it failed (or was skipped), with any secret of the config shown as `***`.
    pub error: Option<String>,
    /// What an action returned; null for hooks and failures.
    pub result: Option<Json<Value>>,
    /// When the call was made (a hook call: when its event happened).
    pub created_at: DateTime<Utc>,
    /// When it ended; null while queued.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<entity::plugin_call::Model> for PluginCall {
    fn from(c: entity::plugin_call::Model) -> Self {
        Self {
            id: ID(c.id),
            plugin_id: ID(c.plugin_id),
            kind: if c.kind == "hook" { PluginCallKind::Hook } else { PluginCallKind::Action },
            name: c.name,
            event_id: c.event_id.map(ID),
            status: PluginCallStatus::parse(&c.status),
            http_status: c.http_status,
            attempts: c.attempts,
            duration_ms: c.duration_ms,
            error: c.error,
            result: c.result.map(Json),
            created_at: c.created_at,
            finished_at: c.finished_at,
        }
    }
}

#[derive(Default)]
pub struct PluginQuery;

#[Object]
impl PluginQuery {
    /// The plugins the workspace can install: the marketplace's, then its own manifests (any member).
    async fn marketplace_plugins(&self, ctx: &Context<'_>) -> Result<Vec<MarketplacePlugin>> {
        let all = service::available(&ctx.app().db, ctx.principal()?).await?;
        Ok(all.into_iter().map(|(s, m)| MarketplacePlugin::new(s, m)).collect())
    }

    /// The workspace's installed plugins, newest first (any member).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn plugins(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only plugins with this status; null: all.")] status: Option<PluginStatus>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last plugin of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the plugins just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first plugin of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<Plugin>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "plg")?;
        let rows = service::list(&ctx.app().db, ctx.principal()?, status, &page).await?;
        Ok(connection(rows, |c| c.id.clone(), Plugin::from))
    }

    /// One installed plugin; null when it is not installed in the caller's workspace.
    async fn plugin(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The installation's id (`plg_…`), the manifest id (`plugin_weather_v1.0.0`) or the key (`weather`)."
        )]
        id: ID,
    ) -> Result<Option<Plugin>> {
        Ok(found(service::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(Plugin::from))
    }

    /// One plugin call; null when it does not exist or is not the caller's.
    async fn plugin_call(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id (`pcl_…`).")] id: ID,
    ) -> Result<Option<PluginCall>> {
        Ok(found(calls::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(PluginCall::from))
    }
}

/// A plugin to install.
#[derive(InputObject)]
pub struct InstallPluginInput {
    /// The manifest's id, e.g. `plugin_weather_v1.0.0`. A newer version of
    /// an installed plugin upgrades it in place.
    pub plugin_id: String,
    /// Where the manifest is: the marketplace (default) or the workspace's own manifests.
    #[graphql(default_with = "PluginSource::Marketplace")]
    pub source: PluginSource,
    /// The config, checked against the manifest's `configSchema`. On an
    /// upgrade the installed config is carried over and these fields win.
    #[graphql(secret, default_with = "Json(serde_json::json!({}))")]
    pub config: Json<Value>,
    /// A retry with the same key within 24 hours returns the first call's
    /// plugin instead of installing again; with a different input it is
    /// refused (`IDEMPOTENCY_CONFLICT`). 1 to 255 visible ASCII characters.
    pub idempotency_key: Option<String>,
}

/// The installed plugin.
#[derive(SimpleObject)]
pub struct InstallPluginPayload {
    /// The plugin; null when the input was refused.
    pub plugin: Option<Plugin>,
    /// Problems with the input (`input.config.<field>` for the config); empty on success.
    pub user_errors: Vec<UserError>,
}

/// A manifest to add to the workspace.
#[derive(InputObject)]
pub struct AddPluginManifestInput {
    /// The manifest (see `manifest.schema.json`): id, name, description,
    /// version, author, config_schema, actions, hooks.
    pub manifest: Json<Value>,
}

/// The added manifest, ready to install with `source: CUSTOM`.
#[derive(SimpleObject)]
pub struct AddPluginManifestPayload {
    /// The manifest as it can be installed; null when it was refused.
    pub plugin: Option<MarketplacePlugin>,
    /// Problems with the manifest (`input.manifest.<path>`); empty on success.
    pub user_errors: Vec<UserError>,
}

/// A plugin to turn on or off.
#[derive(InputObject)]
pub struct SetPluginStatusInput {
    /// The plugin (`plg_…`, its manifest id or its key).
    pub id: ID,
    /// `ACTIVE` or `INACTIVE`.
    pub status: PluginStatus,
}

/// A plugin's new config.
#[derive(InputObject)]
pub struct UpdatePluginConfigInput {
    /// The plugin (`plg_…`, its manifest id or its key).
    pub id: ID,
    /// The whole config; a secret field sent as `***` keeps its stored value.
    #[graphql(secret)]
    pub config: Json<Value>,
}

/// The plugin with its new status.
#[derive(SimpleObject)]
pub struct SetPluginStatusPayload {
    /// The plugin; null when nothing changed.
    pub plugin: Option<Plugin>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// The plugin with its new config.
#[derive(SimpleObject)]
pub struct UpdatePluginConfigPayload {
    /// The plugin; null when nothing changed.
    pub plugin: Option<Plugin>,
    /// Problems with the input (`input.config.<field>`); empty on success.
    pub user_errors: Vec<UserError>,
}

/// A plugin to uninstall.
#[derive(InputObject)]
pub struct UninstallPluginInput {
    /// The plugin (`plg_…`, its manifest id or its key).
    pub id: ID,
}

/// What was uninstalled.
#[derive(SimpleObject)]
pub struct UninstallPluginPayload {
    /// The uninstalled plugin's id; null when nothing was uninstalled.
    pub uninstalled_id: Option<ID>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// An action to run.
#[derive(InputObject)]
pub struct RunPluginActionInput {
    /// The plugin (`plg_…`, its manifest id or its key).
    pub plugin_id: ID,
    /// The action's name, e.g. `current`.
    pub action: String,
    /// The action's input, checked against its `inputSchema`.
    #[graphql(default_with = "Json(serde_json::json!({}))")]
    pub input: Json<Value>,
    /// `true` waits for the call to end (retries included) up to
    /// `timeoutSeconds` and returns its result; `false` returns the call at
    /// once with status `QUEUED` (read its end with `pluginCall(id:)`).
    #[graphql(default = true)]
    pub wait: bool,
    /// Longest to wait for the call's end, 1 to 120 seconds; a call still
    /// being tried then is returned `QUEUED`.
    #[graphql(default = 30)]
    pub timeout_seconds: i32,
}

/// What the action returned.
#[derive(SimpleObject)]
pub struct RunPluginActionPayload {
    /// The result part of the answer (as the manifest's `result` picks it);
    /// null until the call succeeded.
    pub result: Option<Json<Value>>,
    /// The logged call (`pcl_…`): ended, or `QUEUED` when not waited for
    /// or still being tried when the wait ended (read its end with
    /// `pluginCall(id:)`). Null when the input was refused.
    pub call: Option<PluginCall>,
    /// Problems: bad input, an inactive plugin, an unknown action, or the
    /// call failed or was skipped, its plugin turned off before its turn
    /// came (then `call` shows it).
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct PluginMutation;

#[Object]
impl PluginMutation {
    /// Installs a plugin, or upgrades an installed one to a newer version
    /// (owner only). Emits `plugin.installed`.
    async fn install_plugin(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plugin and its config.")] input: InstallPluginInput,
    ) -> Result<InstallPluginPayload> {
        let work = service::install(ctx.app(), ctx.principal()?, &input.plugin_id, input.source, input.config.0);
        let done = crate::graphql::idempotency::once(ctx, input.idempotency_key.as_deref(), work).await;
        Ok(match user_errors(done)? {
            Ok(p) => InstallPluginPayload { plugin: Some(p.into()), user_errors: vec![] },
            Err(problems) => InstallPluginPayload { plugin: None, user_errors: problems },
        })
    }

    /// Adds a plugin manifest of the workspace's own (owner only), checked
    /// against the manifest schema.
    async fn add_plugin_manifest(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The manifest.")] input: AddPluginManifestInput,
    ) -> Result<AddPluginManifestPayload> {
        Ok(match user_errors(service::add_manifest(ctx.app(), ctx.principal()?, input.manifest.0).await)? {
            Ok(m) => AddPluginManifestPayload {
                plugin: Some(MarketplacePlugin::new(PluginSource::Custom, m)),
                user_errors: vec![],
            },
            Err(problems) => AddPluginManifestPayload { plugin: None, user_errors: problems },
        })
    }

    /// Turns a plugin on or off (owner only); an inactive plugin runs no
    /// hooks and refuses actions. Emits `plugin.updated`.
    async fn set_plugin_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plugin and its new status.")] input: SetPluginStatusInput,
    ) -> Result<SetPluginStatusPayload> {
        let done = service::set_status(ctx.app(), ctx.principal()?, &input.id, input.status).await;
        Ok(match user_errors(done)? {
            Ok(p) => SetPluginStatusPayload { plugin: Some(p.into()), user_errors: vec![] },
            Err(problems) => SetPluginStatusPayload { plugin: None, user_errors: problems },
        })
    }

    /// Replaces a plugin's config (owner only), checked against its schema.
    /// Emits `plugin.updated`.
    async fn update_plugin_config(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plugin and its new config.")] input: UpdatePluginConfigInput,
    ) -> Result<UpdatePluginConfigPayload> {
        let done = service::update_config(ctx.app(), ctx.principal()?, &input.id, input.config.0).await;
        Ok(match user_errors(done)? {
            Ok(p) => UpdatePluginConfigPayload { plugin: Some(p.into()), user_errors: vec![] },
            Err(problems) => UpdatePluginConfigPayload { plugin: None, user_errors: problems },
        })
    }

    /// Uninstalls a plugin (owner only): its hooks stop at once, its secrets
    /// and call log are deleted. Emits `plugin.uninstalled`.
    async fn uninstall_plugin(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plugin to uninstall.")] input: UninstallPluginInput,
    ) -> Result<UninstallPluginPayload> {
        Ok(match user_errors(service::uninstall(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(p) => UninstallPluginPayload { uninstalled_id: Some(ID(p.id)), user_errors: vec![] },
            Err(problems) => UninstallPluginPayload { uninstalled_id: None, user_errors: problems },
        })
    }

    /// Runs a plugin's action (members who may write): the input is
    /// checked, then the call is queued as a job and, by default, waited
    /// for. 5xx, 408, 429 and unreachable targets are retried with backoff
    /// (3 attempts in all); any other status ends the call. The call is
    /// logged (`Plugin.calls`).
    async fn run_plugin_action(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plugin, the action, its input and how long to wait.")] input: RunPluginActionInput,
    ) -> Result<RunPluginActionPayload> {
        let waiting = crate::services::Waiting {
            wait: input.wait,
            timeout: std::time::Duration::from_secs(input.timeout_seconds.max(0) as u64),
        };
        let done = actions::run_action_as(
            ctx.app(),
            ctx.principal()?,
            &input.plugin_id,
            &input.action,
            input.input.0,
            waiting,
        )
        .await;
        Ok(match user_errors(done)? {
            Ok(actions::ActionCall { call, failure }) => {
                let succeeded = PluginCallStatus::parse(&call.status) == PluginCallStatus::Succeeded;
                let result = call.result.clone().filter(|_| succeeded).map(Json);
                let problems = match failure {
                    Some(e) => user_errors::<()>(Err(e))?.err().unwrap_or_default(),
                    None => vec![],
                };
                RunPluginActionPayload { result, call: Some(call.into()), user_errors: problems }
            }
            Err(problems) => RunPluginActionPayload { result: None, call: None, user_errors: problems },
        })
    }
}
