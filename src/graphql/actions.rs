//! Actions (seed 000's "API execute" workflows): define them, run them by
//! hand, on a schedule or on an event, and watch their runs live.

use async_graphql::{
    ComplexObject, Context, Enum, InputObject, Json, MaybeUndefined, Object, Result, SimpleObject, Subscription, ID,
};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use crate::graphql::connections::{HttpHeader, HttpMethod};
use crate::graphql::cost;
use crate::graphql::inputs::NotNull;
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::{found, ContextExt};
use crate::services::actions::runs::{self, RunStatus, StepResult};
use crate::services::actions::{self as service, triggers, Step, StepKind, TriggerSpec};

/// What a step does.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ActionStepKind {
    /// Calls a provider through the workspace's connection to it (seed
    /// 000's "API execute"): rate limits, token refresh and retries included.
    ApiExecute,
    /// POSTs a JSON payload to a URL, signed with the action's Standard
    /// Webhooks secret, retried on 5xx and timeouts.
    Webhook,
    /// Waits `seconds` before the next step.
    Delay,
    /// Runs an action of an installed plugin (`plugin`, `pluginAction`)
    /// with `body` as its input; its result is the step's response body.
    Plugin,
}

impl From<StepKind> for ActionStepKind {
    fn from(k: StepKind) -> Self {
        match k {
            StepKind::ApiExecute => Self::ApiExecute,
            StepKind::Webhook => Self::Webhook,
            StepKind::Delay => Self::Delay,
            StepKind::Plugin => Self::Plugin,
        }
    }
}

impl From<ActionStepKind> for StepKind {
    fn from(k: ActionStepKind) -> Self {
        match k {
            ActionStepKind::ApiExecute => Self::ApiExecute,
            ActionStepKind::Webhook => Self::Webhook,
            ActionStepKind::Delay => Self::Delay,
            ActionStepKind::Plugin => Self::Plugin,
        }
    }
}

/// A name and a value (a query parameter).
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "ActionQueryParamInput")]
pub struct ActionQueryParam {
    /// The parameter's name (may hold templates).
    pub name: String,
    /// Its value (may hold templates).
    pub value: String,
}

/// One step of an action, as saved: its strings are templates
/// (`{{ input.caption }}`, `{{ steps.create_media.response.body.id }}`,
/// `{{ event.data.order_id }}`), rendered when the step runs.
#[derive(SimpleObject)]
pub struct ActionStep {
    /// Names the step for later ones (`steps.<key>.response…`).
    pub key: String,
    /// What it does.
    pub kind: ActionStepKind,
    /// `API_EXECUTE`: the catalog key of the provider called.
    pub provider: Option<String>,
    /// `API_EXECUTE`: the HTTP method.
    pub method: Option<String>,
    /// `API_EXECUTE`: the path under the provider's API base URL.
    pub path: Option<String>,
    /// `API_EXECUTE`: query parameters.
    pub query: Vec<ActionQueryParam>,
    /// Extra headers.
    pub headers: Vec<HttpHeader>,
    /// `API_EXECUTE`: the JSON body; `WEBHOOK`: the payload.
    pub body: Option<Json<serde_json::Value>>,
    /// `WEBHOOK`: where the payload goes.
    pub url: Option<String>,
    /// `DELAY`: seconds to wait.
    pub seconds: Option<i32>,
    /// `PLUGIN`: the installed plugin (`plg_…`).
    pub plugin: Option<String>,
    /// `PLUGIN`: the plugin's action.
    pub plugin_action: Option<String>,
}

impl From<Step> for ActionStep {
    fn from(s: Step) -> Self {
        Self {
            key: s.key,
            kind: s.kind.into(),
            provider: s.provider,
            method: s.method,
            path: s.path,
            query: s.query.into_iter().map(|(name, value)| ActionQueryParam { name, value }).collect(),
            headers: s.headers.into_iter().map(|(name, value)| HttpHeader { name, value }).collect(),
            body: s.body.map(Json),
            url: s.url,
            seconds: s.seconds.map(|n| n as i32),
            plugin: s.plugin,
            plugin_action: s.plugin_action,
        }
    }
}

/// One step to save. Strings may hold templates; a template with a syntax
/// error, or naming a value a step cannot have, is refused.
#[derive(InputObject)]
pub struct ActionStepInput {
    /// 1 to 40 lowercase letters, digits and `_`, unique in the action.
    pub key: String,
    /// What it does.
    pub kind: ActionStepKind,
    /// `API_EXECUTE`: the provider's catalog key (the workspace must have a connection to it).
    pub provider: Option<String>,
    /// `API_EXECUTE`: or the connection to call through (`con_…`), instead of `provider`.
    pub connection_id: Option<ID>,
    /// `API_EXECUTE`: the HTTP method (default `GET`).
    pub method: Option<HttpMethod>,
    /// `API_EXECUTE`: the path under the provider's API base URL, starting
    /// with one `/` (an absolute URL is refused).
    pub path: Option<String>,
    /// `API_EXECUTE`: query parameters (at most 100).
    #[graphql(default)]
    pub query: Vec<ActionQueryParam>,
    /// Extra headers (at most 30). The connection's credentials are the server's.
    #[graphql(secret, default)]
    pub headers: Vec<HttpHeader>,
    /// `API_EXECUTE`: the JSON body; `WEBHOOK`: the payload (at most 64 KiB).
    /// A string that is exactly one `{{ … }}` keeps the value's JSON type.
    #[graphql(secret)]
    pub body: Option<Json<serde_json::Value>>,
    /// `WEBHOOK`: the receiver's URL (public addresses only). A template may
    /// fill its path and query after a literal `scheme://host/`, never its
    /// scheme or host; values are inserted as they are (not escaped).
    pub url: Option<String>,
    /// `DELAY`: seconds to wait, 1 to 86400.
    pub seconds: Option<i32>,
    /// `PLUGIN`: an installed plugin (`plg_…`, its manifest id or its key, e.g. `weather`).
    pub plugin: Option<String>,
    /// `PLUGIN`: the name of the plugin's action (e.g. `current`); `body` is its input.
    pub plugin_action: Option<String>,
}

/// What starts an action on its own.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ActionTriggerKind {
    /// A cron expression or an interval.
    Schedule,
    /// Events of a type pattern.
    Event,
}

/// A trigger of an action.
#[derive(SimpleObject)]
pub struct ActionTrigger {
    /// The trigger's id (`atr_…`).
    pub id: ID,
    /// Schedule or event.
    pub kind: ActionTriggerKind,
    /// A cron expression (5 fields, or 6 with seconds first).
    pub cron: Option<String>,
    /// The cron expression in words.
    pub cron_description: Option<String>,
    /// The IANA time zone the cron expression is read in.
    pub timezone: Option<String>,
    /// An interval in seconds, instead of a cron expression.
    pub every_seconds: Option<i64>,
    /// A schedule's next tick.
    pub next_run_at: Option<DateTime<Utc>>,
    /// The event type pattern, from the event catalog: `record.created`, `connection.*`, `*`.
    pub event_type: Option<String>,
    /// Only events about this data endpoint (`de_…`).
    pub endpoint_id: Option<ID>,
    /// False while the action is disabled.
    pub active: bool,
}

impl From<entity::action_trigger::Model> for ActionTrigger {
    fn from(t: entity::action_trigger::Model) -> Self {
        Self {
            id: ID(t.id),
            kind: if t.kind == "event" { ActionTriggerKind::Event } else { ActionTriggerKind::Schedule },
            cron_description: t.cron.as_deref().and_then(triggers::describe_cron),
            cron: t.cron,
            timezone: t.timezone,
            every_seconds: t.every_seconds,
            next_run_at: t.next_run_at,
            event_type: t.event_type,
            endpoint_id: t.endpoint_id.map(ID),
            active: t.active,
        }
    }
}

/// One trigger to save: give `cron` (with an optional `timezone`) or
/// `everySeconds` for a schedule, or `eventType` for an event trigger.
#[derive(InputObject)]
pub struct ActionTriggerInput {
    /// A cron expression: 5 fields (minute precision), 6 with seconds
    /// first, or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
    pub cron: Option<String>,
    /// The IANA time zone for `cron`, e.g. `Europe/Paris` (default UTC).
    pub timezone: Option<String>,
    /// An interval in seconds (1 to a year), instead of `cron`.
    pub every_seconds: Option<i64>,
    /// An event type pattern of the catalog: an exact type, `family.*` or
    /// `*` (`action.*` events start no action).
    pub event_type: Option<String>,
    /// With `eventType`: only events about this data endpoint (`de_…`).
    pub endpoint_id: Option<ID>,
}

impl From<ActionTriggerInput> for TriggerSpec {
    fn from(t: ActionTriggerInput) -> Self {
        Self {
            cron: t.cron,
            timezone: t.timezone,
            every_seconds: t.every_seconds,
            event_type: t.event_type,
            endpoint_id: t.endpoint_id.map(|i| i.0),
        }
    }
}

/// An action: steps run in order, by hand, on a schedule or on an event.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Action {
    /// The action's id (`act_…`).
    pub id: ID,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Disabled actions neither run by hand nor start on their triggers.
    pub enabled: bool,
    /// The steps, in order.
    pub steps: Vec<ActionStep>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub model: entity::action::Model,
}

impl From<entity::action::Model> for Action {
    fn from(a: entity::action::Model) -> Self {
        Self {
            id: ID(a.id.clone()),
            name: a.name.clone(),
            description: a.description.clone(),
            enabled: a.enabled,
            steps: service::steps_of(&a).into_iter().map(ActionStep::from).collect(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            model: a,
        }
    }
}

#[ComplexObject]
impl Action {
    /// Its triggers, in order.
    async fn triggers(&self, ctx: &Context<'_>) -> Result<Vec<ActionTrigger>> {
        // One query for a whole page of actions (see `graphql::loaders`).
        let loaders = ctx.data_unchecked::<crate::graphql::loaders::Loaders>();
        let key = (self.model.workspace_id.clone(), self.model.id.clone());
        let found = loaders.action_triggers.load_one(key).await.map_err(crate::Error::internal)?;
        Ok(found.unwrap_or_default().into_iter().map(ActionTrigger::from).collect())
    }

    /// Why it cannot run now (a connection it calls through is missing or
    /// must be reconnected); null when it can. Runs started meanwhile wait
    /// as `PAUSED`, scheduled ticks are skipped.
    async fn paused_reason(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        // The workspace's connections are read once for a whole page of actions.
        let loaders = ctx.data_unchecked::<crate::graphql::loaders::Loaders>();
        let key = self.model.workspace_id.clone();
        let found = loaders.connections.load_one(key).await.map_err(crate::Error::internal)?;
        Ok(service::paused_reason_among(&self.model, &found.unwrap_or_default()))
    }

    /// Its runs, newest first.
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last run of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1 to 100: the runs just newer than `before` (or the oldest ones).")]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first run of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<ActionRun>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "arn")?;
        let filter = runs::RunFilter { action_id: Some(self.model.id.clone()), ..Default::default() };
        let rows = runs::list(&ctx.app().db, ctx.principal()?, &filter, &page).await?;
        Ok(connection(rows, |r| r.id.clone(), ActionRun::from))
    }
}

/// A step's state on a run.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ActionRunStepStatus {
    /// Under way.
    Running,
    /// Waiting until `waitUntil` (a delay, the provider's rate window, a
    /// retry's backoff) or for a connection to come back.
    Waiting,
    /// Done.
    Succeeded,
    /// Failed; `error` says why.
    Failed,
}

/// The answer a step got.
#[derive(SimpleObject)]
pub struct ActionStepResponse {
    /// The HTTP status.
    pub status: i32,
    /// The answer's headers (`API_EXECUTE` only).
    pub headers: Vec<HttpHeader>,
    /// The body as text, cut to 4 KiB.
    pub body: String,
    /// Whether `body` was cut.
    pub truncated: bool,
}

/// One step's result on a run.
#[derive(SimpleObject)]
pub struct ActionRunStep {
    /// The step's key.
    pub key: String,
    /// What it does.
    pub kind: ActionStepKind,
    /// Where it stands.
    pub status: ActionRunStepStatus,
    /// Requests sent for it so far.
    pub attempts: i32,
    /// What went out, rendered (never the connection's credentials): method,
    /// provider, path or URL, query, headers, body cut to 4 KiB.
    pub request: Option<Json<serde_json::Value>>,
    /// The answer; null before one came.
    pub response: Option<ActionStepResponse>,
    /// Milliseconds spent on it.
    pub duration_ms: i64,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// While waiting: when it goes on.
    pub wait_until: Option<DateTime<Utc>>,
    /// Why it failed or waits, in words.
    pub error: Option<String>,
    /// The connection call it made last (`cal_…`; see `connectionCall`).
    pub call_id: Option<ID>,
}

impl From<StepResult> for ActionRunStep {
    fn from(s: StepResult) -> Self {
        let status = match s.status.as_str() {
            "waiting" => ActionRunStepStatus::Waiting,
            "succeeded" => ActionRunStepStatus::Succeeded,
            "failed" => ActionRunStepStatus::Failed,
            _ => ActionRunStepStatus::Running,
        };
        Self {
            key: s.key,
            kind: s.kind.into(),
            status,
            attempts: s.attempts,
            request: s.request.map(Json),
            response: s.response.map(|r| {
                let text = match r.body {
                    serde_json::Value::String(t) => t,
                    v => v.to_string(),
                };
                let mut cut = runs::SHOWN_BODY_BYTES.min(text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                ActionStepResponse {
                    status: r.status as i32,
                    headers: r
                        .headers
                        .into_iter()
                        .map(|(name, v)| HttpHeader { name, value: v.as_str().unwrap_or_default().to_string() })
                        .collect(),
                    truncated: r.truncated || cut < text.len(),
                    body: text[..cut].to_string(),
                }
            }),
            duration_ms: s.duration_ms,
            started_at: s.started_at,
            finished_at: s.finished_at,
            wait_until: s.wait_until,
            error: s.error,
            call_id: s.call_id.map(ID),
        }
    }
}

/// How a run was started.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ActionRunTrigger {
    /// By `runAction`.
    Manual,
    /// By a schedule's tick.
    Schedule,
    /// By an event.
    Event,
}

/// One run of an action.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ActionRun {
    /// The run's id (`arn_…`).
    pub id: ID,
    /// The action (`act_…`).
    pub action_id: ID,
    /// Where it stands.
    pub status: RunStatus,
    /// How it was started.
    pub trigger: ActionRunTrigger,
    /// The schedule or event trigger that started it (`atr_…`).
    pub trigger_id: Option<ID>,
    /// Who started it: a user, an API key, an OAuth app, or `system`.
    pub actor: String,
    /// The input it was given (`{{ input… }}`).
    pub input: Json<serde_json::Value>,
    /// The event that started it: `id`, `type`, `data`, `created_at` (`{{ event… }}`).
    pub event: Option<Json<serde_json::Value>>,
    /// The index (0-based) of the step it is on; the number of steps once done.
    pub current_step: i32,
    /// Each step started so far, in order.
    pub steps: Vec<ActionRunStep>,
    /// While `WAITING`: when it goes on.
    pub wait_until: Option<DateTime<Utc>>,
    /// Why it failed or is paused.
    pub error: Option<String>,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When a worker first took it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Grows by one with every change to the run, whichever process made
    /// it: of two answers about one run, the higher revision is the newer.
    pub revision: i64,
}

impl From<entity::action_run::Model> for ActionRun {
    fn from(r: entity::action_run::Model) -> Self {
        let trigger = match r.trigger_kind.as_str() {
            "schedule" => ActionRunTrigger::Schedule,
            "event" => ActionRunTrigger::Event,
            _ => ActionRunTrigger::Manual,
        };
        Self {
            id: ID(r.id.clone()),
            action_id: ID(r.action_id.clone()),
            status: RunStatus::parse(&r.status),
            trigger,
            trigger_id: r.trigger_id.clone().map(ID),
            actor: r.actor.clone(),
            input: Json(r.input.clone()),
            event: r.event.clone().map(Json),
            current_step: r.step_index,
            steps: runs::results_of(&r).into_iter().map(ActionRunStep::from).collect(),
            wait_until: r.wait_until,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            revision: r.revision,
        }
    }
}

#[ComplexObject]
impl ActionRun {
    /// The action; null only for a read racing its deletion.
    async fn action(&self, ctx: &Context<'_>) -> Result<Option<Action>> {
        Ok(found(service::get(&ctx.app().db, ctx.principal()?, &self.action_id).await)?.map(Action::from))
    }
}

/// Filters on the workspace's actions.
#[derive(InputObject, Default)]
pub struct ActionFilter {
    /// Only enabled (or disabled) ones.
    pub enabled: Option<bool>,
    /// Only those whose name contains this, any case.
    pub search: Option<String>,
}

/// Filters on runs.
#[derive(InputObject, Default)]
pub struct ActionRunFilter {
    /// Only runs of this action (`act_…`).
    pub action_id: Option<ID>,
    /// Only runs in this state.
    pub status: Option<RunStatus>,
    /// Only runs started at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only runs started before this instant.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct ActionQuery;

#[Object]
impl ActionQuery {
    /// The workspace's actions, newest first (any member).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn actions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only actions that match.")] filter: Option<ActionFilter>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last action of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the actions just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first action of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<Action>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "act")?;
        let f = filter.unwrap_or_default();
        let filter = service::ActionFilter { enabled: f.enabled, search: f.search };
        let rows = service::list(&ctx.app().db, ctx.principal()?, &filter, &page).await?;
        Ok(connection(rows, |a| a.id.clone(), Action::from))
    }

    /// One action; null when it does not exist or is not the caller's.
    async fn action(
        &self, ctx: &Context<'_>, #[graphql(desc = "The id (`act_…`).")] id: ID
    ) -> Result<Option<Action>> {
        Ok(found(service::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(Action::from))
    }

    /// Runs of the workspace's actions, newest first (any member).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn action_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only runs that match.")] filter: Option<ActionRunFilter>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last run of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1 to 100: the runs just newer than `before` (or the oldest ones).")]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first run of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<ActionRun>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "arn")?;
        let f = filter.unwrap_or_default();
        let filter =
            runs::RunFilter { action_id: f.action_id.map(|i| i.0), status: f.status, since: f.since, until: f.until };
        let rows = runs::list(&ctx.app().db, ctx.principal()?, &filter, &page).await?;
        Ok(connection(rows, |r| r.id.clone(), ActionRun::from))
    }

    /// One run with its steps; null when it does not exist or is not the caller's.
    async fn action_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id (`arn_…`).")] id: ID,
    ) -> Result<Option<ActionRun>> {
        Ok(found(runs::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(ActionRun::from))
    }
}

#[derive(Default)]
pub struct ActionSubscription;

#[Subscription]
impl ActionSubscription {
    /// A run each time it changes (queued, running, a step ended, waiting,
    /// paused, ended), from any process; for one run, one action or the
    /// whole workspace (any member). Ends when the server shuts down.
    async fn action_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this action's runs (`act_…`).")] action_id: Option<ID>,
        #[graphql(desc = "Only this run (`arn_…`).")] run_id: Option<ID>,
    ) -> Result<impl Stream<Item = ActionRun>> {
        let p = ctx.principal()?.require(crate::auth::Scope::Read)?.clone();
        let st = ctx.app().clone();
        let (action_id, run_id) = (action_id.map(|i| i.0), run_id.map(|i| i.0));
        let stop = st.shutdown.clone();
        let accept = move |e: &crate::events::Envelope| {
            e.event_type == runs::LIVE_NOTE
                && run_id.as_ref().is_none_or(|r| e.subject_id.as_ref() == Some(r))
                && action_id.as_ref().is_none_or(|a| e.data["action_id"].as_str() == Some(a.as_str()))
        };
        // Notes of one run may arrive out of order (a cancel and the
        // worker's save, two processes): one older than a state already
        // shown is dropped, so the last answer is the latest state.
        let mut newest = runs::Newest::default();
        Ok(ctx
            .live_events(&p.workspace_id, Box::new(accept))
            .then(move |e| {
                let (st, p) = (st.clone(), p.clone());
                async move {
                    if let Some(run) = runs::announced(&p, &e) {
                        return Some(run);
                    }
                    let id = e.subject_id.clone().unwrap_or_default();
                    runs::get(&st.db, &p, &id).await.ok()
                }
            })
            .filter_map(move |run| std::future::ready(run.filter(|r| newest.admits(r)).map(ActionRun::from)))
            .take_until(stop.cancelled_owned()))
    }
}

/// A new action.
#[derive(InputObject)]
pub struct CreateActionInput {
    /// 1 to 200 characters.
    pub name: String,
    /// At most 1000 characters.
    pub description: Option<String>,
    /// Whether it may run (default true).
    #[graphql(default = true)]
    pub enabled: bool,
    /// 1 to 20 steps, run in order.
    pub steps: Vec<ActionStepInput>,
    /// At most 10 schedules and event triggers.
    #[graphql(default)]
    pub triggers: Vec<ActionTriggerInput>,
    /// A retry with the same key within 24 hours returns the first call's
    /// action (and secret) instead of making another; with a different
    /// input it is refused (`IDEMPOTENCY_CONFLICT`). 1 to 255 visible ASCII characters.
    pub idempotency_key: Option<String>,
}

/// The new action.
#[derive(SimpleObject)]
pub struct CreateActionPayload {
    /// The action; null when the input was refused.
    pub action: Option<Action>,
    /// The Standard Webhooks secret (`whsec_…`) its `WEBHOOK` steps sign
    /// with, shown this once.
    pub signing_secret: Option<String>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Changes to an action; a field left out stays as it is.
#[derive(InputObject)]
pub struct UpdateActionInput {
    /// The action (`act_…`).
    pub id: ID,
    /// 1 to 200 characters.
    pub name: MaybeUndefined<String>,
    /// At most 1000 characters (`""` empties it).
    pub description: MaybeUndefined<String>,
    /// Enables or disables it with its triggers.
    pub enabled: MaybeUndefined<bool>,
    /// New steps, replacing all the old ones.
    pub steps: MaybeUndefined<Vec<ActionStepInput>>,
    /// New triggers, replacing all the old ones (`[]`: none).
    pub triggers: MaybeUndefined<Vec<ActionTriggerInput>>,
}

/// The action after the change.
#[derive(SimpleObject)]
pub struct UpdateActionPayload {
    /// The action; null when nothing changed.
    pub action: Option<Action>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Names one action.
#[derive(InputObject)]
pub struct DeleteActionInput {
    /// The action (`act_…`).
    pub id: ID,
}

/// What a deletion removed.
#[derive(SimpleObject)]
pub struct DeleteActionPayload {
    /// The deleted action's id; null when nothing was deleted.
    pub deleted_id: Option<ID>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// A run to start.
#[derive(InputObject)]
pub struct RunActionInput {
    /// The action (`act_…`).
    pub id: ID,
    /// What its templates see as `{{ input… }}`: a JSON object (at most 64 KiB).
    pub input: Option<Json<serde_json::Value>>,
    /// A retry with the same key within 24 hours returns the first call's
    /// run instead of starting another. 1 to 255 visible ASCII characters.
    pub idempotency_key: Option<String>,
}

/// The started run.
#[derive(SimpleObject)]
pub struct RunActionPayload {
    /// The run, `QUEUED` (or `PAUSED` when a connection it needs is
    /// broken); follow it with `actionRun` or the `actionRuns` subscription.
    pub run: Option<ActionRun>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Names one run.
#[derive(InputObject)]
pub struct CancelActionRunInput {
    /// The run (`arn_…`).
    pub id: ID,
}

/// The run after the change.
#[derive(SimpleObject)]
pub struct CancelActionRunPayload {
    /// The run, `CANCELLED`; null when nothing changed.
    pub run: Option<ActionRun>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Resolves the steps' `connectionId`s to providers.
async fn steps_in(ctx: &Context<'_>, steps: Vec<ActionStepInput>) -> crate::Result<Vec<Step>> {
    let mut out = Vec::with_capacity(steps.len());
    for (i, s) in steps.into_iter().enumerate() {
        let provider = match (s.provider, s.connection_id) {
            (Some(p), _) => Some(p),
            (None, Some(id)) => {
                let c =
                    crate::services::connections::get(&ctx.app().db, ctx.principal()?, &id).await.map_err(|_| {
                        crate::Error::field_code(
                            &format!("steps.{i}.connectionId"),
                            crate::error::UserErrorCode::NotFound,
                            "No such connection in this workspace",
                        )
                    })?;
                Some(c.provider)
            }
            (None, None) => None,
        };
        out.push(Step {
            key: s.key,
            kind: s.kind.into(),
            provider,
            method: s.method.map(|m| m.as_str().to_string()),
            path: s.path,
            query: s.query.into_iter().map(|q| (q.name, q.value)).collect(),
            headers: s.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: s.body.map(|b| b.0),
            url: s.url,
            seconds: s.seconds.map(|n| n.clamp(0, i32::MAX) as u32),
            plugin: s.plugin,
            plugin_action: s.plugin_action,
        });
    }
    Ok(out)
}

#[derive(Default)]
pub struct ActionMutation;

#[Object]
impl ActionMutation {
    /// Creates an action (owner only). Steps are checked (templates,
    /// connections, paths under the provider's base URL) before anything is saved.
    async fn create_action(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The action's name, steps and triggers.")] input: CreateActionInput,
    ) -> Result<CreateActionPayload> {
        let key = input.idempotency_key.clone();
        let work = async {
            let steps = steps_in(ctx, input.steps).await?;
            let new = service::NewAction {
                name: input.name,
                description: input.description,
                enabled: input.enabled,
                steps,
                triggers: input.triggers.into_iter().map(TriggerSpec::from).collect(),
            };
            service::create(ctx.app(), ctx.principal()?, new).await
        };
        Ok(match user_errors(crate::graphql::idempotency::once(ctx, key.as_deref(), work).await)? {
            Ok((a, secret)) => {
                CreateActionPayload { action: Some(a.into()), signing_secret: Some(secret), user_errors: vec![] }
            }
            Err(problems) => CreateActionPayload { action: None, signing_secret: None, user_errors: problems },
        })
    }

    /// Changes an action (owner only).
    async fn update_action(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The action and what to change.")] input: UpdateActionInput,
    ) -> Result<UpdateActionPayload> {
        let mut nn = NotNull::default();
        let (name, description) = (nn.take("name", input.name), nn.take("description", input.description));
        let enabled = nn.take("enabled", input.enabled);
        let (steps, triggers) = (nn.take("steps", input.steps), nn.take("triggers", input.triggers));
        if let Err(e) = nn.check() {
            return Ok(UpdateActionPayload { action: None, user_errors: e });
        }
        let work = async {
            let steps = match steps {
                Some(s) => Some(steps_in(ctx, s).await?),
                None => None,
            };
            let changes = service::ActionChanges {
                name,
                description,
                enabled,
                steps,
                triggers: triggers.map(|t| t.into_iter().map(TriggerSpec::from).collect()),
            };
            service::update(ctx.app(), ctx.principal()?, &input.id, changes).await
        };
        Ok(match user_errors(work.await)? {
            Ok(a) => UpdateActionPayload { action: Some(a.into()), user_errors: vec![] },
            Err(problems) => UpdateActionPayload { action: None, user_errors: problems },
        })
    }

    /// Deletes an action with its triggers and runs (owner only).
    async fn delete_action(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The action to delete.")] input: DeleteActionInput,
    ) -> Result<DeleteActionPayload> {
        Ok(match user_errors(service::delete(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(()) => DeleteActionPayload { deleted_id: Some(input.id), user_errors: vec![] },
            Err(problems) => DeleteActionPayload { deleted_id: None, user_errors: problems },
        })
    }

    /// Starts a run now (members who may write); returns it at once, queued.
    /// Its end is announced by `action.run_succeeded` or `action.run_failed`.
    async fn run_action(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The action and its input.")] input: RunActionInput,
    ) -> Result<RunActionPayload> {
        let key = input.idempotency_key.clone();
        let data = input.input.map(|j| j.0).unwrap_or_else(|| serde_json::json!({}));
        let work = runs::start(ctx.app(), ctx.principal()?, &input.id, data);
        Ok(match user_errors(crate::graphql::idempotency::once(ctx, key.as_deref(), work).await)? {
            Ok(r) => RunActionPayload { run: Some(r.into()), user_errors: vec![] },
            Err(problems) => RunActionPayload { run: None, user_errors: problems },
        })
    }

    /// Cancels a run that has not ended (members who may write): a step
    /// under way finishes, nothing after it runs.
    async fn cancel_action_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run to cancel.")] input: CancelActionRunInput,
    ) -> Result<CancelActionRunPayload> {
        Ok(match user_errors(runs::cancel(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(r) => CancelActionRunPayload { run: Some(r.into()), user_errors: vec![] },
            Err(problems) => CancelActionRunPayload { run: None, user_errors: problems },
        })
    }
}
