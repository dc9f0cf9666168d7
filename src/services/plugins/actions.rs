//! A plugin's actions: named HTTP calls of its manifest, run with an input.
//!
//! - **From the API** ([`run_action_as`], `runPluginAction`): the request
//!   is checked (the plugin active, the action known, the input valid
//!   against its schema) before anything is written; then a queued
//!   `plugin_call` row and its `plugin.action` job are written in one
//!   transaction and the queue is rung, so an accepted call is never lost.
//!   The caller waits for the call's end up to its timeout (woken by the
//!   live message the job sends when it settles the call, on any process)
//!   or gets the queued call back at once. The job makes one request per
//!   attempt; 5xx, 408, 429 and transport failures are retried by the job
//!   engine with its backoff, [`ACTION_ATTEMPTS`] attempts in all; any other
//!   answer ends the call at once.
//! - **From the actions engine** ([`call_action_now`], a `PLUGIN` step):
//!   the step already runs inside a job, so the call is made at once, with
//!   two quick retries, and logged.
//!
//! Both send through the same [`send`] (the one outgoing client: SSRF
//! guard, timeouts, no redirects, Standard Webhooks signing), keep the
//! same part of the answer ([`result_of`]) and scrub the plugin's secrets
//! from every error.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, TransactionTrait};
use serde_json::{json, Value};

use entity::{job, plugin, plugin_call};

use super::calls::{give_up, log_row, result_of, scrub, secret_values, send, settle, PluginCallStatus};
use super::manifest::Action;
use super::{find, Installed, PluginStatus};
use crate::auth::{Principal, Scope};
use crate::error::{Error, FieldError, Result, UserErrorCode};
use crate::events::{Envelope, EventStream};
use crate::jobs::ledger::{self as jobs, NewJob};
use crate::jobs::Handler;
use crate::services::Waiting;
use crate::state::AppState;

/// The job kind that makes a queued action call.
pub const KIND: &str = "plugin.action";

/// Attempts of a queued action call: the first and two retries after the
/// engine's backoff (1 s, then 2 s), as many as the inline path makes, so
/// a caller who waits hears of a failing target within seconds.
pub const ACTION_ATTEMPTS: u32 = 3;

/// Quick retries of an action made at once after a retryable failure.
const QUICK_RETRIES: u32 = 2;

/// How often a waiting caller reads the call's row even when no live
/// message came (one sent while another process's bus was reconnecting).
const POLL: Duration = Duration::from_secs(1);

/// The live message a queued action call's job sends each time it settles
/// an attempt (not stored, fanned out to no webhook): it wakes the caller
/// waiting for that call.
pub const CALL_MESSAGE: &str = "plugin.call";

/// A run of an action requested through the API.
pub struct ActionCall {
    /// The logged call: finished, or `queued` (not waited for, or still
    /// being tried when the wait ended).
    pub call: plugin_call::Model,
    /// Why the call failed, as a user error, when it ended `failed` or
    /// `skipped` (its plugin turned off before its turn came).
    pub failure: Option<Error>,
}

/// An action checked and ready to send.
struct Ready {
    installed: Installed,
    action: Action,
    /// The input, `{}` when none was given.
    input: Value,
}

/// Checks a request to run an action; nothing is sent or written when it
/// is refused. `plugin_id` is the installed plugin (`plg_…`), its manifest
/// id or its key.
async fn ready(st: &AppState, workspace_id: &str, plugin_id: &str, action: &str, input: Value) -> Result<Ready> {
    let row = find(&st.db, workspace_id, plugin_id).await.map_err(|_| {
        Error::field_code("pluginId", UserErrorCode::NotFound, "No such plugin installed in this workspace")
    })?;
    let installed = Installed::from_row(row)?;
    let name = &installed.manifest.name;
    if PluginStatus::parse(&installed.row.status) != PluginStatus::Active {
        return Err(Error::invalid_field(
            "pluginId",
            format!("The {name} plugin is inactive: turn it on to run its actions"),
        ));
    }
    let Some(a) = installed.manifest.action(action).cloned() else {
        return Err(Error::invalid_field("action", installed.manifest.no_such_action(action)));
    };
    let input = if input.is_null() { json!({}) } else { input };
    if let Some(schema) = &a.input_schema {
        let v = jsonschema::validator_for(schema).map_err(Error::internal)?;
        let problems: Vec<FieldError> = crate::services::data_endpoints::schema_violations(&v, &input)
            .into_iter()
            .map(|mut p| {
                p.field = if p.field == "body" { "input".into() } else { format!("input.{}", p.field) };
                p
            })
            .collect();
        if !problems.is_empty() {
            return Err(Error::validation(problems));
        }
    }
    Ok(Ready { installed, action: a, input })
}

/// The error a failed call is reported with.
fn failed(i: &Installed, action: &str, why: &str) -> Error {
    Error::invalid(format!("The {} action `{action}` failed: {why}", i.manifest.name))
}

/// Runs a plugin's action at once and returns the result part of its
/// answer; the call is logged. What the actions engine's plugin step calls
/// (it runs inside a job already, with only a workspace id): an inactive
/// plugin, an unknown action or input that breaks the action's input
/// schema is refused before anything is sent; a retryable failure is tried
/// twice more, quickly; an answer other than 2xx is an error naming the
/// status.
#[tracing::instrument(skip(st, input))]
pub async fn call_action_now(
    st: &AppState,
    workspace_id: &str,
    plugin_id: &str,
    action: &str,
    input: Value,
) -> Result<Value> {
    let Ready { installed: i, action: a, input } = ready(st, workspace_id, plugin_id, action, input).await?;
    let config = i.full_config(st)?;
    let secrets = secret_values(&i.manifest, &config);
    let ctx = json!({ "config": config, "input": input });
    let mut row = log_row(&i, "action", action, None);
    let mut attempts = 0u32;
    let started = Instant::now();
    let out = loop {
        attempts += 1;
        let out = send(st, &a.call, &ctx, &row.id).await;
        if !out.retryable || attempts > QUICK_RETRIES {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(250 << (attempts - 1))).await;
    };
    row.attempts = attempts as i32;
    row.duration_ms = Some(started.elapsed().as_millis() as i64);
    row.http_status = out.status.map(i32::from);
    row.finished_at = Some(Utc::now());
    let result = match &out.error {
        None => {
            let r = result_of(a.result.as_ref(), &out.body);
            row.status = PluginCallStatus::Succeeded.as_str().into();
            row.result = Some(r.clone());
            Ok(r)
        }
        Some(e) => {
            let why = scrub(e, &secrets);
            row.status = PluginCallStatus::Failed.as_str().into();
            row.error = Some(why.clone());
            Err(failed(&i, action, &why))
        }
    };
    row.into_active_model().insert(&st.writer).await?;
    result
}

/// Runs a plugin's action for a caller of the API (members who may
/// write): checked as [`call_action_now`] checks it, then queued as a
/// `plugin.action` job (see the module's header). With `waiting.wait` the
/// caller waits for the call's end up to `waiting.timeout`; a call still
/// being tried then (or not waited for) comes back `queued`, to be read
/// with [`super::calls::get`].
#[tracing::instrument(skip(st, p, input, waiting), fields(workspace = %p.workspace_id))]
pub async fn run_action_as(
    st: &AppState,
    p: &Principal,
    plugin_id: &str,
    action: &str,
    input: Value,
    waiting: Waiting,
) -> Result<ActionCall> {
    p.require(Scope::Write)?;
    let waiting = waiting.check()?;
    // The caller's wait runs from now: checks, the write and the ring count.
    let deadline = tokio::time::Instant::now() + waiting.timeout;
    let Ready { installed: i, input, .. } = ready(st, &p.workspace_id, plugin_id, action, input).await?;
    // The input may be anything the caller sends: it waits in the job encrypted.
    let input_enc = st.secret.encrypt(&input.to_string())?;
    // Listening before the job can run, so its message is not missed.
    let live = waiting.wait.then(|| st.bus.subscribe());
    let txn = st.writer.begin().await?;
    let call = log_row(&i, "action", action, None).into_active_model().insert(&txn).await?;
    let job = jobs::insert(
        &txn,
        st.sweep_grace(),
        NewJob {
            kind: KIND.into(),
            payload: json!({ "call_id": call.id, "input_enc": input_enc }),
            workspace_id: Some(p.workspace_id.clone()),
            run_at: None,
            max_attempts: ACTION_ATTEMPTS,
        },
    )
    .await?;
    txn.commit().await?;
    jobs::ring(st, &job).await;
    let Some(live) = live else { return Ok(ActionCall { call, failure: None }) };
    let call = wait_for(st, &call.id, deadline, live).await?;
    let why = call.error.as_deref();
    let failure = match PluginCallStatus::parse(&call.status) {
        PluginCallStatus::Failed => Some(failed(&i, action, why.unwrap_or("it failed"))),
        PluginCallStatus::Skipped => Some(Error::invalid(format!(
            "The {} action `{action}` was not made: {}",
            i.manifest.name,
            why.unwrap_or("the plugin was turned off")
        ))),
        PluginCallStatus::Queued | PluginCallStatus::Succeeded => None,
    };
    Ok(ActionCall { call, failure })
}

/// The call as it stands once it is no longer queued, or at `deadline`.
/// Woken by the call's live message; reads the row at least every
/// [`POLL`] all the same.
async fn wait_for(
    st: &AppState,
    id: &str,
    deadline: tokio::time::Instant,
    mut live: EventStream,
) -> Result<plugin_call::Model> {
    loop {
        let call = plugin_call::Entity::find_by_id(id).one(&st.db).await?.ok_or(Error::NotFound("Plugin call"))?;
        let now = tokio::time::Instant::now();
        if PluginCallStatus::parse(&call.status) != PluginCallStatus::Queued || now >= deadline {
            return Ok(call);
        }
        let woken = async {
            while let Some(msg) = live.next().await {
                if msg.event_type == CALL_MESSAGE && msg.subject_id.as_deref() == Some(id) {
                    return;
                }
            }
            // The bus closed (shutting down): the poll still ends the wait.
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep_until(deadline.min(now + POLL)) => {}
        }
    }
}

/// Tells a waiting caller (on any process) that the call was settled.
fn announce(st: &AppState, call: &plugin_call::Model, status: PluginCallStatus) {
    let data = json!({ "status": status.as_str() });
    let msg = Envelope::live(call.workspace_id.clone(), CALL_MESSAGE, "system", Some(call.id.clone()), data);
    st.bus.publish(vec![msg]);
}

/// `plugin.action`: makes one attempt of a queued action call.
pub struct PluginAction;

impl PluginAction {
    /// Settles the call with an end that needs no request.
    async fn end(st: &AppState, call: &plugin_call::Model, status: PluginCallStatus, why: String) -> Result<()> {
        if settle(st, &call.id, status, None, Some(why), call.attempts, None).await? {
            announce(st, call, status);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Handler for PluginAction {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self, _job: &job::Model) -> Duration {
        Duration::from_secs(40)
    }

    fn max_attempts(&self) -> u32 {
        ACTION_ATTEMPTS
    }

    // Logged in `plugin_call`, like hook calls.
    fn emits_events(&self) -> bool {
        false
    }

    async fn run(&self, st: &AppState, job: &job::Model) -> Result<()> {
        let Some(id) = job.payload["call_id"].as_str() else { return Ok(()) };
        // Gone with its plugin (uninstalled), or already made (work is at-least-once).
        let Some(call) = plugin_call::Entity::find_by_id(id).one(&st.writer).await? else { return Ok(()) };
        if PluginCallStatus::parse(&call.status) != PluginCallStatus::Queued {
            return Ok(());
        }
        let Some(row) = plugin::Entity::find_by_id(&call.plugin_id).one(&st.writer).await? else { return Ok(()) };
        if PluginStatus::parse(&row.status) != PluginStatus::Active {
            let why = "The plugin was turned off before the call was made".to_string();
            return Self::end(st, &call, PluginCallStatus::Skipped, why).await;
        }
        let i = Installed::from_row(row)?;
        let Some(a) = i.manifest.action(&call.name) else {
            let why = format!("The plugin has no action `{}` any more", call.name);
            return Self::end(st, &call, PluginCallStatus::Failed, why).await;
        };
        let input: Option<Value> = job.payload["input_enc"]
            .as_str()
            .and_then(|enc| st.secret.decrypt(enc).ok())
            .and_then(|text| serde_json::from_str(&text).ok());
        let Some(input) = input else {
            return Self::end(st, &call, PluginCallStatus::Failed, "The queued input could not be read".into()).await;
        };
        let config = i.full_config(st)?;
        let secrets = secret_values(&i.manifest, &config);
        let ctx = json!({ "config": config, "input": input });
        // The call id names the message: a receiver drops a retry by it.
        let out = send(st, &a.call, &ctx, &call.id).await;
        let attempts = call.attempts + 1;
        let error = out.error.as_deref().map(|e| scrub(e, &secrets));
        let (status, result) = match (&error, out.retryable) {
            (None, _) => (PluginCallStatus::Succeeded, Some(result_of(a.result.as_ref(), &out.body))),
            (Some(_), false) => (PluginCallStatus::Failed, None),
            // Still queued: the engine tries again after its backoff (or gives up, see `on_dead`).
            (Some(_), true) => (PluginCallStatus::Queued, None),
        };
        if !settle(st, &call.id, status, Some(&out), error.clone(), attempts, result).await? {
            return Ok(()); // settled meanwhile by another worker: its end stands
        }
        announce(st, &call, status);
        match (status, error) {
            (PluginCallStatus::Queued, Some(why)) => Err(Error::invalid(why)),
            _ => Ok(()),
        }
    }

    async fn on_dead(&self, st: &AppState, job: &job::Model, error: &str) -> Result<()> {
        if let Some(call) = give_up(st, job, error).await? {
            announce(st, &call, PluginCallStatus::Failed);
        }
        Ok(())
    }
}
