//! Running what plugins provide: an **action** on request (see
//! [`super::actions`]: queued as a `plugin.action` job from the API, made
//! at once by the actions engine's plugin step) and a **hook** for every
//! matching event. Hooks are an event fan-out hook ([`PluginFanOut`]):
//! inside the event's transaction each active plugin whose hook matches
//! gets a queued call row and a `plugin.hook` job, so a call is never lost
//! and never made for a rolled-back change. Every request goes through the
//! one outgoing client ([`send`]: SSRF guard, timeouts, no redirects); 5xx,
//! 408, 429 and transport failures are retried with backoff (by the job
//! engine; quickly, in place, for an action step that runs inside its own
//! job). Each call is logged in `plugin_call` with its status, HTTP code,
//! duration and error, any secret of the plugin's config scrubbed from the
//! error.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};
use serde_json::{json, Value};

use entity::{job, plugin, plugin_call};

use super::manifest::{Call, Manifest};
use super::{template, Installed, PluginStatus};
use crate::auth::{Principal, Scope};
use crate::error::{Error, Result};
use crate::events::hooks::{DynConnection, FanOut};
use crate::events::{type_matches, Envelope};
use crate::ids::{has_prefix, new_id};
use crate::jobs::ledger::{self as jobs, NewJob};
use crate::jobs::Handler;
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::state::AppState;

/// The job kind that runs a queued hook call.
pub const KIND: &str = "plugin.hook";

/// A call's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum PluginCallStatus {
    /// Waiting for its job (or its next retry): a hook call, or an action
    /// call made through the API.
    Queued,
    /// The target answered 2xx.
    Succeeded,
    /// The target answered with an error, could not be reached, or the retries ran out.
    Failed,
    /// Not made: the plugin was turned off before its turn came.
    Skipped,
}

impl PluginCallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "succeeded" => Self::Succeeded,
            "skipped" => Self::Skipped,
            _ => Self::Failed,
        }
    }
}

/// What one request came to.
pub(super) struct Outcome {
    pub status: Option<u16>,
    pub body: Vec<u8>,
    pub error: Option<String>,
    /// Worth trying again (5xx, 408, 429, transport failure).
    pub retryable: bool,
    pub duration: Duration,
}

/// Replaces every secret value of the plugin's config in `text` with `***`
/// (a URL with an API key in its query shows up in transport errors).
pub(super) fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().filter(|s| s.len() >= 4).fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
}

/// The values of a plugin's secret fields, and their URL-encoded forms.
pub(super) fn secret_values(m: &Manifest, config: &Value) -> Vec<String> {
    m.secret_fields()
        .iter()
        .filter_map(|k| config.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .flat_map(|v| [url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>(), v])
        .collect()
}

/// Sends one call of a manifest with `ctx` (`config`, `input`, `event`);
/// `msg_id` is the Standard Webhooks `webhook-id` when the call is signed.
pub(super) async fn send(st: &AppState, call: &Call, ctx: &Value, msg_id: &str) -> Outcome {
    let started = Instant::now();
    let failed = |e: String, retryable: bool| Outcome {
        status: None,
        body: vec![],
        error: Some(e),
        retryable,
        duration: started.elapsed(),
    };
    let url = template::url(&call.url, ctx);
    let body = call.body.as_ref().and_then(|b| template::value(b, ctx)).map(|b| b.to_string().into_bytes());
    let mut req = oauth2::http::Request::builder().method(call.method.as_str()).uri(url.as_str());
    for (name, value) in &call.headers {
        let v = match value {
            Value::String(s) => template::text(s, ctx),
            other => other.to_string(),
        };
        req = req.header(name.as_str(), v);
    }
    if body.is_some() && !call.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
        req = req.header("content-type", "application/json");
    }
    req = req.header("accept", "application/json");
    if let Some(sign) = &call.sign {
        let secret = template::text(sign, ctx);
        let ts = Utc::now().timestamp();
        match crate::delivery::signing::sign(&secret, msg_id, ts, body.as_deref().unwrap_or_default()) {
            Ok(sig) => {
                req = req.header("webhook-id", msg_id).header("webhook-timestamp", ts.to_string());
                req = req.header("webhook-signature", sig);
            }
            Err(_) => return failed("The signing secret is not a valid whsec_ secret".into(), false),
        }
    }
    let req = match req.body(body.unwrap_or_default()) {
        Ok(r) => r,
        Err(e) => return failed(format!("The request could not be built: {e}"), false),
    };
    match st.http.exchange(req).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let ok = (200..300).contains(&status);
            Outcome {
                status: Some(status),
                error: (!ok).then(|| format!("The target answered HTTP {status}")),
                retryable: status >= 500 || status == 408 || status == 429,
                body: resp.into_body(),
                duration: started.elapsed(),
            }
        }
        Err(e) => {
            let why = e.public_message();
            let refused = crate::delivery::ssrf::is_refusal(&why);
            failed(why, !refused)
        }
    }
}

/// The part of an answer an action returns (see `Action::result`).
pub(super) fn result_of(spec: Option<&Value>, body: &[u8]) -> Value {
    let answer: Value = serde_json::from_slice(body).unwrap_or_else(|_| {
        if body.is_empty() {
            Value::Null
        } else {
            json!(String::from_utf8_lossy(body))
        }
    });
    let pick = |p: &str| answer.pointer(p).cloned().unwrap_or(Value::Null);
    match spec {
        Some(Value::String(p)) => pick(p),
        Some(Value::Object(members)) => {
            Value::Object(members.iter().map(|(k, p)| (k.clone(), pick(p.as_str().unwrap_or("")))).collect())
        }
        _ => answer,
    }
}

pub(super) fn log_row(i: &Installed, kind: &str, name: &str, event_id: Option<String>) -> plugin_call::Model {
    plugin_call::Model {
        id: new_id("pcl"),
        workspace_id: i.row.workspace_id.clone(),
        plugin_id: i.row.id.clone(),
        kind: kind.into(),
        name: name.into(),
        event_id,
        status: PluginCallStatus::Queued.as_str().into(),
        http_status: None,
        attempts: 0,
        duration_ms: None,
        error: None,
        result: None,
        created_at: Utc::now(),
        finished_at: None,
    }
}

/// One page of a plugin's calls, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    plugin_id: &str,
    page: &PageArgs,
) -> Result<Page<plugin_call::Model>> {
    p.require(Scope::Read)?;
    let q = plugin_call::Entity::find()
        .filter(plugin_call::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(plugin_call::Column::PluginId.eq(plugin_id));
    fetch_page(db, q, plugin_call::Column::Id, page).await
}

/// One call of the caller's workspace.
pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<plugin_call::Model> {
    p.require(Scope::Read)?;
    if !has_prefix(id, "pcl") {
        return Err(Error::NotFound("Plugin call"));
    }
    plugin_call::Entity::find_by_id(id)
        .filter(plugin_call::Column::WorkspaceId.eq(&p.workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Plugin call"))
}

/// The event fan-out hook of plugins (see the module's header).
pub struct PluginFanOut;

#[async_trait::async_trait]
impl FanOut for PluginFanOut {
    fn name(&self) -> &'static str {
        "plugins"
    }

    async fn fan_out(&self, db: &DynConnection<'_>, events: &mut [Envelope]) -> Result<()> {
        let mut workspaces: Vec<&str> = events.iter().map(|e| e.workspace_id.as_str()).collect();
        workspaces.sort_unstable();
        workspaces.dedup();
        let active = plugin::Entity::find()
            .filter(plugin::Column::WorkspaceId.is_in(workspaces))
            .filter(plugin::Column::Status.eq(PluginStatus::Active.as_str()))
            .all(db)
            .await?;
        if active.is_empty() {
            return Ok(());
        }
        // Each plugin's hooks with their patterns, by workspace.
        let mut hooks: HashMap<&str, Vec<(&plugin::Model, String, Vec<String>)>> = HashMap::new();
        let manifests: Vec<(plugin::Model, Manifest)> = active
            .into_iter()
            .filter_map(|row| Some((row.clone(), serde_json::from_value::<Manifest>(row.manifest).ok()?)))
            .collect();
        for (row, m) in &manifests {
            for h in &m.hooks {
                let patterns = Manifest::hook_patterns(h, &row.config);
                hooks.entry(row.workspace_id.as_str()).or_default().push((row, h.call.name.clone(), patterns));
            }
        }
        let (mut calls, mut job_rows) = (Vec::new(), Vec::new());
        let mut owner = Vec::new();
        for (idx, e) in events.iter().enumerate() {
            for (row, name, patterns) in hooks.get(e.workspace_id.as_str()).into_iter().flatten() {
                if !patterns.iter().any(|p| type_matches(p, &e.event_type)) {
                    continue;
                }
                let id = new_id("pcl");
                let job = jobs::row(
                    jobs::default_grace(),
                    NewJob {
                        kind: KIND.into(),
                        payload: json!({ "call_id": id }),
                        workspace_id: Some(e.workspace_id.clone()),
                        run_at: None,
                        max_attempts: PluginHook.max_attempts(),
                    },
                );
                calls.push(plugin_call::Model {
                    id,
                    workspace_id: e.workspace_id.clone(),
                    plugin_id: row.id.clone(),
                    kind: "hook".into(),
                    name: name.clone(),
                    event_id: Some(e.id.clone()),
                    status: PluginCallStatus::Queued.as_str().into(),
                    http_status: None,
                    attempts: 0,
                    duration_ms: None,
                    error: None,
                    result: None,
                    created_at: Utc::now(),
                    finished_at: None,
                });
                owner.push((idx, job.id.clone()));
                job_rows.push(job);
            }
        }
        for chunk in calls.chunks(200) {
            let chunk = chunk.iter().map(|c| c.clone().into_active_model());
            plugin_call::Entity::insert_many(chunk).exec_without_returning(db).await?;
        }
        for chunk in job_rows.chunks(200) {
            let chunk = chunk.iter().map(|j| j.clone().into_active_model());
            job::Entity::insert_many(chunk).exec_without_returning(db).await?;
        }
        for (idx, job_id) in owner {
            events[idx].jobs.push(crate::jobs::Message { job_id, kind: KIND.to_string() });
        }
        Ok(())
    }
}

/// `plugin.hook`: makes queued hook calls, a batch at a time.
pub struct PluginHook;

/// Settles a call row with its outcome (and an action's result), if it is
/// still queued: a worker that took long (its job's lease ran out and
/// another worker made the call meanwhile) cannot overwrite the end the
/// other one wrote. Returns whether it did.
pub(super) async fn settle(
    st: &AppState,
    id: &str,
    status: PluginCallStatus,
    out: Option<&Outcome>,
    error: Option<String>,
    attempts: i32,
    result: Option<Value>,
) -> Result<bool> {
    let mut q = plugin_call::Entity::update_many()
        .col_expr(plugin_call::Column::Status, Expr::value(status.as_str()))
        .col_expr(plugin_call::Column::Attempts, Expr::value(attempts))
        .col_expr(plugin_call::Column::Error, Expr::value(error));
    if let Some(r) = result {
        q = q.col_expr(plugin_call::Column::Result, Expr::value(r));
    }
    if let Some(o) = out {
        q = q
            .col_expr(plugin_call::Column::HttpStatus, Expr::value(o.status.map(i32::from)))
            .col_expr(plugin_call::Column::DurationMs, Expr::value(o.duration.as_millis() as i64));
    }
    if status != PluginCallStatus::Queued {
        q = q.col_expr(plugin_call::Column::FinishedAt, Expr::value(Utc::now()));
    }
    let done = q
        .filter(plugin_call::Column::Id.eq(id))
        .filter(plugin_call::Column::Status.eq(PluginCallStatus::Queued.as_str()))
        .exec(&st.writer)
        .await?;
    Ok(done.rows_affected == 1)
}

/// A call row with its outcome, to save with the rest of its batch (which
/// gives every call it ends one end time, see [`save_settled`]).
fn settled(
    mut row: plugin_call::Model,
    status: PluginCallStatus,
    out: Option<&Outcome>,
    error: Option<String>,
    attempts: i32,
) -> plugin_call::Model {
    row.status = status.as_str().into();
    row.attempts = attempts;
    row.error = error;
    if let Some(o) = out {
        row.http_status = o.status.map(i32::from);
        row.duration_ms = Some(o.duration.as_millis() as i64);
    }
    row
}

/// Saves a batch's settled rows in one statement. A column the rows agree
/// on (in a batch of successes: all but the duration) is set to that value;
/// one they differ in is a `CASE WHEN id IN (…) THEN … END` with one arm per
/// distinct value, so the statement (and the work of matching each row to
/// its values) grows with the values, not with rows × columns. An update,
/// not an upsert, so a row deleted meanwhile (its plugin uninstalled) stays
/// deleted; and only of rows still queued, as [`settle`].
async fn save_settled(st: &AppState, rows: &[plugin_call::Model]) -> Result<()> {
    use plugin_call::Column as C;
    use sea_orm::sea_query::{CaseStatement, SimpleExpr};
    fn by_value<V: Into<sea_orm::Value> + PartialEq + Clone>(
        rows: &[plugin_call::Model],
        col: C,
        get: impl Fn(&plugin_call::Model) -> V,
    ) -> SimpleExpr {
        let mut groups: Vec<(V, Vec<&str>)> = Vec::new();
        for r in rows {
            let v = get(r);
            match groups.iter_mut().find(|(g, _)| *g == v) {
                Some((_, ids)) => ids.push(r.id.as_str()),
                None => groups.push((v, vec![r.id.as_str()])),
            }
        }
        if let [(only, _)] = groups.as_slice() {
            return Expr::value(only.clone());
        }
        let case =
            groups.into_iter().fold(CaseStatement::new(), |case, (v, ids)| case.case(C::Id.is_in(ids), Expr::value(v)));
        case.finally(Expr::col(col)).into()
    }
    if rows.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    plugin_call::Entity::update_many()
        .col_expr(C::Status, by_value(rows, C::Status, |r| r.status.clone()))
        .col_expr(C::Attempts, by_value(rows, C::Attempts, |r| r.attempts))
        .col_expr(C::Error, by_value(rows, C::Error, |r| r.error.clone()))
        .col_expr(C::HttpStatus, by_value(rows, C::HttpStatus, |r| r.http_status))
        .col_expr(C::DurationMs, by_value(rows, C::DurationMs, |r| r.duration_ms))
        // One end time for the calls the batch ends: the time it is saved.
        .col_expr(
            C::FinishedAt,
            by_value(rows, C::FinishedAt, |r| {
                (PluginCallStatus::parse(&r.status) != PluginCallStatus::Queued).then_some(now)
            }),
        )
        .filter(C::Id.is_in(rows.iter().map(|r| r.id.as_str())))
        .filter(C::Status.eq(PluginCallStatus::Queued.as_str()))
        .exec(&st.writer)
        .await?;
    Ok(())
}

/// A plugin as its hooks need it: manifest, decrypted config, secret values.
struct Prepared {
    manifest: Manifest,
    config: Value,
    secrets: Vec<String>,
}

fn prepare(st: &AppState, row: &plugin::Model) -> std::result::Result<Prepared, String> {
    let i = Installed::from_row(row.clone()).map_err(|e| e.to_string())?;
    let config = i.full_config(st).map_err(|e| e.to_string())?;
    let secrets = secret_values(&i.manifest, &config);
    Ok(Prepared { manifest: i.manifest, config, secrets })
}

/// Hook calls per batch. A batch is claimed in one statement, its calls,
/// plugins and events read in one query each, its calls' outcomes saved in
/// one statement and its finished jobs completed in one, so the bigger the
/// batch the less of each call's time goes to the database: `switchyard
/// bench plugins --events 8000` drained 20% more hook calls per second with
/// 256 than with 64 (the size webhook deliveries use). Under a light load a
/// batch is what is ready, often one call, so nothing waits to fill one.
const HOOK_BATCH: usize = 256;

/// Requests a batch has in flight at once: the worker pool holds at most
/// `worker_concurrency` × this many (2,048 by default on PostgreSQL, 512 on
/// SQLite, as many as with webhook batches of 64 all sent at once), enough
/// to hide a receiver's latency
/// without a batch opening 256 sockets to one receiver at once.
const HOOK_LANES: usize = 64;

/// A batch starts no request later than this after it began; what it has
/// not started by then goes back to the queue, the call still queued and no
/// attempt spent. With the outgoing client's 20 s per request, a batch
/// against a slow receiver has sent everything it sends within 35 s,
/// leaving room for its writes inside its job's 60 s (see
/// [`PluginHook::timeout`]).
const START_WITHIN: Duration = Duration::from_secs(15);

/// Runs `calls` at most `lanes` at a time, in their order; one not started
/// by `until` is not made (`None`).
async fn in_lanes<F: std::future::Future>(
    calls: impl IntoIterator<Item = F>,
    lanes: usize,
    until: tokio::time::Instant,
) -> Vec<Option<F::Output>> {
    let gate = tokio::sync::Semaphore::new(lanes.max(1));
    futures_util::future::join_all(calls.into_iter().map(|call| {
        let gate = &gate;
        async move {
            // The semaphore is fair: lanes are taken in the calls' order.
            let _lane = tokio::time::timeout_at(until, gate.acquire()).await.ok()?.ok()?;
            Some(call.await)
        }
    }))
    .await
}

/// Makes a batch of hook calls: reads the calls, their plugins and their
/// events in three queries, sends the requests [`HOOK_LANES`] at a time
/// (deferring those not started within [`START_WITHIN`]), and saves every
/// outcome in one statement. Returns one result per job, in order.
async fn hook_batch(st: &AppState, jobs: &[job::Model]) -> Result<Vec<Result<()>>> {
    let began = tokio::time::Instant::now();
    fn ids<'a>(it: impl Iterator<Item = &'a str>) -> Vec<String> {
        let mut v: Vec<String> = it.map(str::to_string).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
    // Reads go to the reading pool (on SQLite the one writer connection is
    // left to writes): a call is committed before its doorbell rings.
    let call_ids = ids(jobs.iter().filter_map(|j| j.payload["call_id"].as_str()));
    let calls: HashMap<String, plugin_call::Model> = plugin_call::Entity::find()
        .filter(plugin_call::Column::Id.is_in(call_ids))
        .all(&st.db)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let plugins: HashMap<String, plugin::Model> = plugin::Entity::find()
        .filter(plugin::Column::Id.is_in(ids(calls.values().map(|c| c.plugin_id.as_str()))))
        .all(&st.db)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let events: HashMap<String, entity::event::Model> = entity::event::Entity::find()
        .filter(entity::event::Column::Id.is_in(ids(calls.values().filter_map(|c| c.event_id.as_deref()))))
        .all(&st.db)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let prepared: HashMap<&str, std::result::Result<Prepared, String>> = plugins
        .values()
        .filter(|row| PluginStatus::parse(&row.status) == PluginStatus::Active)
        .map(|row| (row.id.as_str(), prepare(st, row)))
        .collect();
    let mut results: Vec<Result<()>> = Vec::with_capacity(jobs.len());
    let mut done = Vec::new();
    let mut sends = Vec::new();
    for (n, job) in jobs.iter().enumerate() {
        results.push(Ok(()));
        // Gone with its plugin (uninstalled), or already made (work is at-least-once).
        let Some(call) = job.payload["call_id"].as_str().and_then(|id| calls.get(id)) else { continue };
        if PluginCallStatus::parse(&call.status) != PluginCallStatus::Queued {
            continue;
        }
        let Some(row) = plugins.get(&call.plugin_id) else { continue };
        if PluginStatus::parse(&row.status) != PluginStatus::Active {
            let why = Some("The plugin was turned off before the call was made".to_string());
            done.push(settled(call.clone(), PluginCallStatus::Skipped, None, why, call.attempts));
            continue;
        }
        let p = match &prepared[row.id.as_str()] {
            Ok(p) => p,
            Err(why) => {
                results[n] = Err(Error::internal(why.clone()));
                continue;
            }
        };
        let Some(hook) = p.manifest.hooks.iter().find(|h| h.call.name == call.name) else {
            let why = Some(format!("The plugin has no hook `{}` any more", call.name));
            done.push(settled(call.clone(), PluginCallStatus::Failed, None, why, call.attempts));
            continue;
        };
        let event =
            call.event_id.as_ref().and_then(|id| events.get(id)).filter(|e| e.workspace_id == call.workspace_id);
        let Some(event) = event else {
            let why = Some("The event is gone (pruned)".to_string());
            done.push(settled(call.clone(), PluginCallStatus::Failed, None, why, call.attempts));
            continue;
        };
        let ctx = json!({
            "config": p.config,
            "event": { "id": event.id, "type": event.event_type, "timestamp": event.created_at.to_rfc3339(),
                       "actor": event.actor, "subject_id": event.subject_id, "data": event.data },
        });
        sends.push((n, call, &hook.call, ctx, event.id.as_str(), &p.secrets));
    }
    // The event id names the message: a receiver drops a redelivery by it.
    let outs = in_lanes(
        sends.iter().map(|(_, _, hook, ctx, event_id, _)| async {
            // A hook keeps nothing of the answer but its status: a batch
            // does not hold 256 bodies of up to 1 MiB until it ends.
            let mut out = send(st, hook, ctx, event_id).await;
            out.body = Vec::new();
            out
        }),
        HOOK_LANES,
        began + START_WITHIN,
    )
    .await;
    for ((n, call, _, _, _, secrets), out) in sends.into_iter().zip(outs) {
        let Some(out) = out else {
            // Not started in the batch's time: back to the queue, the call
            // still queued and no attempt spent.
            results[n] = Err(Error::Deferred(Duration::ZERO));
            continue;
        };
        let attempts = call.attempts + 1;
        let error = out.error.as_deref().map(|e| scrub(e, secrets));
        let status = match (&out.error, out.retryable) {
            (None, _) => PluginCallStatus::Succeeded,
            (Some(_), false) => PluginCallStatus::Failed,
            (Some(_), true) => {
                results[n] = Err(Error::invalid(error.clone().unwrap_or_default()));
                PluginCallStatus::Queued
            }
        };
        done.push(settled(call.clone(), status, Some(&out), error, attempts));
    }
    save_settled(st, &done).await?;
    Ok(results)
}

#[async_trait::async_trait]
impl Handler for PluginHook {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// A whole batch's time: it starts its last request within
    /// [`START_WITHIN`] of its start and a request takes at most the outgoing
    /// client's 20 s, which leaves 25 s for its reads and its one write.
    fn timeout(&self, _job: &job::Model) -> Duration {
        Duration::from_secs(60)
    }

    fn max_attempts(&self) -> u32 {
        5
    }

    /// Hook calls are small (one HTTP request each): the worker claims and
    /// settles a batch together, and [`hook_batch`] reads and writes their
    /// rows for the whole batch at once (see [`HOOK_BATCH`]).
    fn batch_size(&self) -> usize {
        HOOK_BATCH
    }

    // Logged in `plugin_call`; events about hook runs would feed hooks again.
    fn emits_events(&self) -> bool {
        false
    }

    async fn run(&self, st: &AppState, job: &job::Model) -> Result<()> {
        let mut out = hook_batch(st, std::slice::from_ref(job)).await?;
        out.pop().unwrap_or(Ok(()))
    }

    async fn run_batch(&self, st: &AppState, jobs: &[job::Model]) -> Vec<Result<()>> {
        match hook_batch(st, jobs).await {
            Ok(out) => out,
            Err(e) => {
                let why = e.to_string();
                jobs.iter().map(|_| Err(Error::internal(why.clone()))).collect()
            }
        }
    }

    async fn on_dead(&self, st: &AppState, job: &job::Model, error: &str) -> Result<()> {
        give_up(st, job, error).await.map(drop)
    }
}

/// Fails the queued call of a dead job (hook or action) with the last
/// attempt's error; returns the call when it was still queued.
pub(super) async fn give_up(st: &AppState, job: &job::Model, error: &str) -> Result<Option<plugin_call::Model>> {
    let Some(id) = job.payload["call_id"].as_str() else { return Ok(None) };
    let Some(call) = plugin_call::Entity::find_by_id(id).one(&st.writer).await? else { return Ok(None) };
    if PluginCallStatus::parse(&call.status) != PluginCallStatus::Queued {
        return Ok(None);
    }
    let why = call.error.clone().unwrap_or_else(|| error.to_string());
    let why = format!("Gave up after {} attempts: {why}", call.attempts);
    let settled = settle(st, id, PluginCallStatus::Failed, None, Some(why), call.attempts, None).await?;
    Ok(settled.then_some(call))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::time::Instant;

    use super::in_lanes;

    // The clock is paused: it moves only when every task waits, so the
    // timings are exact however loaded the machine is.
    #[tokio::test(start_paused = true)]
    async fn calls_run_in_lanes_and_those_not_started_in_time_are_not_made() {
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let started = Instant::now();
        // Two lanes, each call 100 ms: pairs start at 0, 100 and 200 ms;
        // the third pair would start after the 150 ms allowed.
        let calls = (0..6).map(|i| {
            let (now, most) = (&now, &most);
            async move {
                most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                (i, started.elapsed().as_millis())
            }
        });
        let out = in_lanes(calls, 2, started + Duration::from_millis(150)).await;
        assert_eq!(out, vec![Some((0, 100)), Some((1, 100)), Some((2, 200)), Some((3, 200)), None, None]);
        assert_eq!(most.load(Ordering::SeqCst), 2, "never more than two at once");
        assert_eq!(started.elapsed(), Duration::from_millis(200), "the calls not made were not waited for");
    }
}
