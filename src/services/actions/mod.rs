//! Actions (seed 000's "API execute"): an ordered list of steps that make
//! connections do work, run by hand, on a schedule or on an event.
//!
//! - [`template`]: the `{{ … }}` templates in a step's strings.
//! - [`runs`]: a run, step after step, in the worker pool (`action.run` jobs).
//! - [`triggers`]: schedules (cron with a time zone, or an interval) and
//!   event patterns, and the hook that starts runs in an event's transaction.
//!
//! Owners define actions; any member who may write runs them. Steps call
//! providers through connections, signed webhooks, delays, or installed
//! plugins' actions.

pub mod progress;
pub mod runs;
pub mod template;
pub mod triggers;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use entity::{action, action_trigger, connection};

use super::connections::catalog::{self, AuthKind};
use super::pagination::{fetch_page, Page, PageArgs};
use super::plugins::Installed;
use super::{bounded_text, required_text};
use crate::auth::{Principal, Scope};
use crate::delivery::{signing, ssrf};
use crate::error::{Error, FieldError, Result};
use crate::ids::{has_prefix, new_id};
use crate::state::AppState;

/// Most steps an action may have.
pub const MAX_STEPS: usize = 20;
/// Most triggers an action may have.
pub const MAX_TRIGGERS: usize = 10;
/// Longest `DELAY` step: a day.
pub const MAX_DELAY_SECONDS: u32 = 86_400;
/// Largest body (or payload) a step may hold, as JSON.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a step does.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A call to a provider through the workspace's connection.
    ApiExecute,
    /// A signed (Standard Webhooks) POST of a payload to a URL.
    Webhook,
    /// A pause.
    Delay,
    /// An action of an installed plugin (`runPluginAction`'s engine).
    Plugin,
}

/// One step as saved (its strings are unrendered templates).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Step {
    /// Names the step for later ones: `steps.<key>.response…`.
    pub key: String,
    pub kind: StepKind,
    /// `API_EXECUTE`: the catalog key of the provider to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `API_EXECUTE`: the path under the provider's API base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub query: Vec<(String, String)>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// `API_EXECUTE`: the JSON body; `WEBHOOK`: the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// `WEBHOOK`: where the payload goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `DELAY`: how long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u32>,
    /// `PLUGIN`: the installed plugin (`plg_…`, its manifest id or key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// `PLUGIN`: the name of the plugin's action; `body` is its input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_action: Option<String>,
}

/// What starts an action on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerKind {
    Schedule,
    Event,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Event => "event",
        }
    }
}

/// A trigger as given.
#[derive(Clone, Debug, Default)]
pub struct TriggerSpec {
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub every_seconds: Option<i64>,
    pub event_type: Option<String>,
    pub endpoint_id: Option<String>,
}

/// An action to create.
pub struct NewAction {
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub steps: Vec<Step>,
    pub triggers: Vec<TriggerSpec>,
}

/// Changes to an action; `None` leaves a field as it is.
#[derive(Default)]
pub struct ActionChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub steps: Option<Vec<Step>>,
    pub triggers: Option<Vec<TriggerSpec>>,
}

/// The steps of a saved action.
pub fn steps_of(a: &action::Model) -> Vec<Step> {
    serde_json::from_value(a.steps.clone()).unwrap_or_default()
}

/// Creates an action (owner). Returns it with its `WEBHOOK` signing secret,
/// shown this once.
pub async fn create(st: &AppState, p: &Principal, input: NewAction) -> Result<(action::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let name = required_text("name", &input.name, 200)?;
    let description = bounded_text("description", input.description.as_deref().unwrap_or(""), 1000)?;
    let (steps, providers) = check_steps(st, &p.workspace_id, input.steps).await?;
    let triggers = triggers::check(st, &p.workspace_id, &input.triggers).await?;
    let secret = signing::new_secret();
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let a = action::ActiveModel {
        id: Set(new_id("act")),
        workspace_id: Set(p.workspace_id.clone()),
        name: Set(name),
        description: Set(description),
        enabled: Set(input.enabled),
        steps: Set(json!(steps)),
        providers: Set(json!(providers)),
        signing_secret_enc: Set(st.secret.encrypt(&secret)?),
        created_by: Set(p.actor().to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    triggers::replace(&txn, &a, triggers).await?;
    txn.commit().await?;
    Ok((a, secret))
}

/// Changes an action (owner). New steps and triggers replace the old ones
/// whole; a run under way goes on with the new steps from the one it is on.
pub async fn update(st: &AppState, p: &Principal, id: &str, changes: ActionChanges) -> Result<action::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let current = get(&st.writer, p, id).await?;
    let mut am = current.clone().into_active_model();
    if let Some(name) = changes.name {
        am.name = Set(required_text("name", &name, 200)?);
    }
    if let Some(d) = changes.description {
        am.description = Set(bounded_text("description", &d, 1000)?);
    }
    if let Some(steps) = changes.steps {
        let (steps, providers) = check_steps(st, &p.workspace_id, steps).await?;
        am.steps = Set(json!(steps));
        am.providers = Set(json!(providers));
    }
    let triggers = match changes.triggers {
        Some(t) => Some(triggers::check(st, &p.workspace_id, &t).await?),
        None => None,
    };
    let enabled = changes.enabled.unwrap_or(current.enabled);
    am.enabled = Set(enabled);
    am.updated_at = Set(Utc::now());
    let txn = st.writer.begin().await?;
    let a = am.update(&txn).await?;
    match triggers {
        Some(t) => triggers::replace(&txn, &a, t).await?,
        None => triggers::set_active(&txn, &a.id, enabled).await?,
    }
    txn.commit().await?;
    Ok(a)
}

/// Deletes an action with its triggers and runs (owner).
pub async fn delete(st: &AppState, p: &Principal, id: &str) -> Result<()> {
    p.require(Scope::Write)?.require_owner()?;
    let a = get(&st.writer, p, id).await?;
    let txn = st.writer.begin().await?;
    entity::action_run::Entity::delete_many().filter(entity::action_run::Column::ActionId.eq(&a.id)).exec(&txn).await?;
    action_trigger::Entity::delete_many().filter(action_trigger::Column::ActionId.eq(&a.id)).exec(&txn).await?;
    action::Entity::delete_by_id(&a.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// One action of the caller's workspace.
pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<action::Model> {
    p.require(Scope::Read)?;
    if !has_prefix(id, "act") {
        return Err(Error::NotFound("Action"));
    }
    action::Entity::find_by_id(id)
        .filter(action::Column::WorkspaceId.eq(&p.workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Action"))
}

/// Filters for [`list`].
#[derive(Default)]
pub struct ActionFilter {
    pub enabled: Option<bool>,
    /// Part of the name, any case.
    pub search: Option<String>,
}

/// One page of the workspace's actions.
pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    filter: &ActionFilter,
    page: &PageArgs,
) -> Result<Page<action::Model>> {
    p.require(Scope::Read)?;
    let mut q = action::Entity::find().filter(action::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(e) = filter.enabled {
        q = q.filter(action::Column::Enabled.eq(e));
    }
    if let Some(s) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", s.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        q = q.filter(
            sea_orm::sea_query::Expr::expr(sea_orm::sea_query::Func::lower(sea_orm::sea_query::Expr::col(
                action::Column::Name,
            )))
            .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')),
        );
    }
    fetch_page(db, q, action::Column::Id, page).await
}

/// Why the action cannot run now: a connection it calls through is missing
/// or needs to be reconnected. `None` when it can.
pub async fn paused_reason(db: &impl ConnectionTrait, a: &action::Model) -> Result<Option<String>> {
    let providers = providers_of(a);
    if providers.is_empty() {
        return Ok(None);
    }
    let found = connection::Entity::find()
        .filter(connection::Column::WorkspaceId.eq(&a.workspace_id))
        .filter(connection::Column::Provider.is_in(providers))
        .all(db)
        .await?;
    Ok(paused_reason_among(a, &found))
}

/// [`paused_reason`] given the workspace's connections (any superset of
/// the ones the action uses), for callers that read them once for many actions.
pub fn paused_reason_among(a: &action::Model, connections: &[connection::Model]) -> Option<String> {
    for key in providers_of(a) {
        let Some(provider) = catalog::get(&key) else {
            return Some(format!("`{key}` is not a service of this server any more"));
        };
        let name = provider.name.as_str();
        match connections.iter().find(|c| c.workspace_id == a.workspace_id && c.provider == key) {
            None => return Some(format!("The workspace has no {name} connection")),
            Some(c) if c.status != super::connections::ConnectionStatus::Connected.as_str() => {
                return Some(format!("The {name} connection needs to be reconnected"))
            }
            Some(_) => {}
        }
    }
    None
}

/// The catalog keys of the providers an action's steps call.
fn providers_of(a: &action::Model) -> Vec<String> {
    serde_json::from_value(a.providers.clone()).unwrap_or_default()
}

/// Checks the steps; returns them normalised, with the providers they call.
async fn check_steps(st: &AppState, workspace_id: &str, steps: Vec<Step>) -> Result<(Vec<Step>, Vec<String>)> {
    if steps.is_empty() {
        return Err(Error::invalid_field("steps", "An action needs at least one step"));
    }
    if steps.len() > MAX_STEPS {
        return Err(Error::invalid_field("steps", format!("At most {MAX_STEPS} steps")));
    }
    let mut problems = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut providers: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (i, mut s) in steps.into_iter().enumerate() {
        let at = |field: &str| format!("steps.{i}.{field}");
        let mut bad = |field: &str, why: String| problems.push(FieldError::new(at(field), why));
        s.key = s.key.trim().to_string();
        let key_ok = (1..=40).contains(&s.key.len())
            && s.key.starts_with(|c: char| c.is_ascii_lowercase())
            && s.key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            bad("key", "1 to 40 characters: lowercase letters, digits and `_`, starting with a letter".into());
        } else if keys.contains(&s.key) {
            bad("key", format!("Another step is already called `{}`", s.key));
        }
        let mut template = |field: &str, text: &str| {
            if let Err(why) = template::check(text, &keys) {
                problems.push(FieldError::new(at(field), format!("Template error: {why}")));
            }
        };
        for (name, value) in s.headers.iter().chain(s.query.iter()) {
            template("headers", name);
            template("headers", value);
        }
        // Refused on every call, so refused here, where it can be fixed.
        if s.kind == StepKind::ApiExecute {
            let reserved = s.headers.iter().find(|(name, _)| super::connections::call::is_reserved_header(name));
            if let Some((name, _)) = reserved {
                problems.push(FieldError::new(
                    at("headers"),
                    format!("`{name}` is set by the server (the connection's credentials or the transport)"),
                ));
            }
        }
        if let Some(body) = &s.body {
            if let Err(why) = template::check_json(body, &keys) {
                problems.push(FieldError::new(at("body"), format!("Template error: {why}")));
            }
            if serde_json::to_vec(body).map_or(0, |b| b.len()) > MAX_BODY_BYTES {
                problems.push(FieldError::new(at("body"), "At most 64 KiB of JSON"));
            }
        }
        if s.headers.len() > 30 || s.query.len() > 100 {
            problems.push(FieldError::new(at("headers"), "At most 30 headers and 100 query parameters"));
        }
        match s.kind {
            StepKind::ApiExecute => {
                let method = s.method.as_deref().unwrap_or("GET").trim().to_ascii_uppercase();
                if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD") {
                    problems.push(FieldError::new(at("method"), "Use GET, POST, PUT, PATCH, DELETE or HEAD"));
                }
                if s.body.is_some() && matches!(method.as_str(), "GET" | "HEAD") {
                    problems.push(FieldError::new(at("body"), "GET and HEAD requests carry no body"));
                }
                s.method = Some(method);
                match s.path.as_deref().map(str::trim) {
                    Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains("://") => {
                        if let Err(why) = template::check(path, &keys) {
                            problems.push(FieldError::new(at("path"), format!("Template error: {why}")));
                        }
                        s.path = Some(path.to_string());
                    }
                    _ => problems.push(FieldError::new(
                        at("path"),
                        "Give a path under the provider's API base URL, starting with one `/` (no absolute URL)",
                    )),
                }
                match s.provider.as_deref().map(str::trim).and_then(catalog::get) {
                    None => problems.push(FieldError::new(at("provider"), "Name a provider of the catalog")),
                    Some(p) if p.auth == AuthKind::None => problems.push(FieldError::new(
                        at("provider"),
                        "Incoming webhooks receive calls; they cannot make them",
                    )),
                    Some(p) => {
                        let exists = connection::Entity::find()
                            .filter(connection::Column::WorkspaceId.eq(workspace_id))
                            .filter(connection::Column::Provider.eq(&p.key))
                            .one(&st.db)
                            .await?
                            .is_some();
                        if !exists {
                            problems.push(FieldError::new(
                                at("provider"),
                                format!("Connect {} first: the workspace has no connection to it", p.name),
                            ));
                        }
                        if !providers.contains(&p.key) {
                            providers.push(p.key.clone());
                        }
                        s.provider = Some(p.key.clone());
                    }
                }
                s.url = None;
                s.seconds = None;
                s.plugin = None;
                s.plugin_action = None;
            }
            StepKind::Webhook => {
                match s.url.as_deref().map(str::trim) {
                    Some(url) => match webhook_url(st, url, &keys).await {
                        Ok(u) => s.url = Some(u),
                        Err(why) => problems.push(FieldError::new(at("url"), why)),
                    },
                    None => problems.push(FieldError::new(at("url"), "Required field is missing")),
                }
                s.provider = None;
                s.method = None;
                s.path = None;
                s.query.clear();
                s.seconds = None;
                s.plugin = None;
                s.plugin_action = None;
            }
            StepKind::Plugin => {
                let action = s.plugin_action.as_deref().map(str::trim).unwrap_or_default().to_string();
                if action.is_empty() {
                    problems.push(FieldError::new(at("pluginAction"), "Required field is missing"));
                }
                match s.plugin.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
                    Some(id) => match super::plugins::find(&st.db, workspace_id, id).await {
                        // An action the plugin does not have would only
                        // fail each run: refused now, naming the ones it has.
                        Ok(p) => match Installed::from_row(p) {
                            Ok(Installed { row, manifest }) => {
                                if !action.is_empty() && manifest.action(&action).is_none() {
                                    problems
                                        .push(FieldError::new(at("pluginAction"), manifest.no_such_action(&action)));
                                }
                                s.plugin = Some(row.id);
                            }
                            Err(_) => {
                                problems.push(FieldError::new(at("plugin"), "This plugin's manifest cannot be read"))
                            }
                        },
                        Err(_) => problems.push(
                            FieldError::new(at("plugin"), "No such plugin installed in this workspace")
                                .with_code(crate::error::UserErrorCode::NotFound),
                        ),
                    },
                    None => problems.push(FieldError::new(at("plugin"), "Required field is missing")),
                }
                s = Step {
                    key: s.key,
                    kind: StepKind::Plugin,
                    body: s.body,
                    plugin: s.plugin,
                    plugin_action: Some(action),
                    ..empty_step()
                };
            }
            StepKind::Delay => match s.seconds {
                Some(n) if (1..=MAX_DELAY_SECONDS).contains(&n) => {
                    s = Step { key: s.key, kind: StepKind::Delay, seconds: Some(n), ..empty_step() };
                }
                _ => problems.push(FieldError::new(at("seconds"), "Between 1 and 86400")),
            },
        }
        keys.push(s.key.clone());
        out.push(s);
    }
    if !problems.is_empty() {
        return Err(Error::validation(problems));
    }
    Ok((out, providers))
}

/// A `WEBHOOK` step's URL, checked: a literal one by the SSRF guard (and
/// normalised); a template may fill its path and query only, after a
/// literal `scheme://host/` whose host the guard checks now (the outgoing
/// client checks every send again), so no event or input can choose
/// where a signed payload goes.
async fn webhook_url(st: &AppState, url: &str, earlier: &[String]) -> std::result::Result<String, String> {
    let allow_private = st.http.allow_private();
    if !template::is_template(url) {
        return ssrf::check_url(url, allow_private).await.map(|u| u.to_string()).map_err(|e| e.public_message());
    }
    template::check(url, earlier).map_err(|why| format!("Template error: {why}"))?;
    let Some(origin) = template::fixed_origin(url) else {
        return Err("A template may fill the URL's path and query, not its scheme or host: start the URL with a \
                    literal `https://host/`"
            .into());
    };
    ssrf::check_url(origin, allow_private).await.map_err(|e| e.public_message())?;
    Ok(url.to_string())
}

fn empty_step() -> Step {
    Step {
        key: String::new(),
        kind: StepKind::Delay,
        provider: None,
        method: None,
        path: None,
        query: vec![],
        headers: vec![],
        body: None,
        url: None,
        seconds: None,
        plugin: None,
        plugin_action: None,
    }
}
