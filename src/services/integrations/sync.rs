//! An integration's sync: one `integration.sync` job per run, queued by
//! `syncIntegration` (with its run row, in one transaction) or fired by the
//! integration's schedule (the scheduler fires a schedule once per tick
//! across processes; the job makes the run row).
//!
//! An outbound sync sends the workspace's events that the integration's
//! `events` filter selects, in id order, after its cursor (the id of the
//! last event it has passed). The cursor moves after each event is sent,
//! by a conditional update, so a run killed mid-way resumes at the first
//! event not yet sent, and two runs of one integration never both move it:
//! the one that loses stops. Events younger than [`SETTLE`] wait for the
//! next run, so a transaction that commits late with an older id is not
//! skipped. A webhook receiver gets the event id as `webhook-id` and can
//! drop a redelivery: delivery is at-least-once (a kill between a send and
//! its cursor write, or a send retried after a 5xx or a transport failure
//! that had in fact arrived, sends an event twice; a Slack channel shows it
//! twice). A run sends for at most [`RUN_BUDGET`] and waits out a rate
//! limit in place only when it is short; either way it stops early without
//! failing, and the next run goes on from the cursor (see [`outbound`]).
//!
//! An inbound sync (a connected service with `sync` set) pulls a listing,
//! every page of it, into a data endpoint: see [`super::inbound`].
//!
//! **One run at a time.** A run first takes the integration's sync by a
//! conditional update of `integration.sync_run_id` (free, its lease over,
//! or already its own: a retry of its job), held until [`HOLD`] after;
//! its end gives it back. A run that finds another holding it (a manual
//! run during a scheduled one, two processes' schedules) does nothing and
//! ends at once `SKIPPED`, its `note` naming the run that holds it: not a
//! failure, and the integration's status is left as it is. Waiting for
//! the other instead would hold a worker for up to [`RUN_TIMEOUT`] to read
//! the same listing again. A killed process's hold ends with its lease.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde_json::{json, Value};

use entity::{event, integration, integration_run, job};

use super::inbound::RUN_BUDGET;
use super::{announce, kind_of, scrub, secret_values, Direction, IntegrationStatus, TestOutcome};
use crate::delivery::client::parse_retry_after;
use crate::error::Result;
use crate::events::{self, type_matches, EventType};
use crate::ids::new_id;
use crate::jobs::ledger::{self as jobs, NewJob};
use crate::jobs::Handler;
use crate::services::secret_config;
use crate::state::AppState;

/// The job kind of a sync run.
pub const KIND: &str = "integration.sync";

/// Events younger than this are left for the next run.
pub const SETTLE: Duration = Duration::from_secs(1);

/// Longest a run's job may take (the job engine stops it there).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a run holds the integration's sync: past [`RUN_TIMEOUT`], so
/// a run is stopped before its hold can lapse.
const HOLD: Duration = Duration::from_secs(RUN_TIMEOUT.as_secs() + 30);

/// Events read per page, and most sent by one run.
const PAGE: u64 = 100;
const MAX_PER_RUN: i64 = 1000;

/// Longest `Retry-After` (outbound) or wait for the rate window (inbound)
/// a run sleeps in place; a longer one ends the run, which the next goes on
/// from (see [`outbound`] and [`super::inbound`]).
pub(super) const RATE_WAIT: Duration = Duration::from_secs(10);

/// What started a sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "IntegrationRunTrigger")]
pub enum Trigger {
    /// `syncIntegration`.
    Manual,
    /// The integration's auto-sync schedule.
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Schedule => "schedule",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "schedule" {
            Self::Schedule
        } else {
            Self::Manual
        }
    }
}

/// A sync run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "IntegrationRunStatus")]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// Sending.
    Running,
    /// Done: everything due was sent, or the run stopped early without a
    /// failure (its `note` says why; the next run goes on from there).
    Succeeded,
    /// Stopped at a failure; the next run resumes where it stopped
    /// (outbound) or reads the listing again from its start (inbound).
    Failed,
    /// Not run: another run of the integration was running (`note` names
    /// it), or, paused, it was taken over by a run that started after it.
    Skipped,
    /// Stopped until the workspace's connection to the service is made
    /// again (it is gone, or its refresh was refused; `note` says which):
    /// making it again resumes the run where it stopped. Meanwhile the
    /// schedule starts no other run.
    Paused,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "skipped" => Self::Skipped,
            "paused" => Self::Paused,
            _ => Self::Failed,
        }
    }
}

/// The id of the run a scheduled `integration.sync` job makes: the job's
/// own ULID under the runs' prefix, one run per job whatever its attempts.
fn scheduled_run_id(job_id: &str) -> String {
    let ulid = job_id.rsplit('_').next().unwrap_or(job_id);
    format!("isr_{ulid}")
}

fn new_run(i: &integration::Model, trigger: Trigger, status: RunStatus) -> integration_run::Model {
    integration_run::Model {
        id: new_id("isr"),
        workspace_id: i.workspace_id.clone(),
        integration_id: i.id.clone(),
        trigger: trigger.as_str().into(),
        status: status.as_str().into(),
        items: 0,
        deleted: 0,
        cursor_from: i.cursor.clone(),
        cursor_to: None,
        error: None,
        note: None,
        created_at: Utc::now(),
        finished_at: None,
        job_id: None,
    }
}

/// What one run did, for its row.
#[derive(Debug, Default)]
pub(super) struct RunOutcome {
    /// Events sent (outbound), or records created and replaced (inbound).
    pub items: i64,
    /// Records deleted because their item vanished at the service (inbound).
    pub deleted: i64,
    /// The cursor reached (outbound).
    pub cursor: Option<String>,
    /// What stopped the run, if something did: it fails.
    pub failure: Option<String>,
    /// How a run that did not fail still ended early (a bound: pages, time,
    /// a rate limit) or held back its deletions (inbound).
    pub note: Option<String>,
    /// Why the run paused (its connection must be made again); it did not
    /// fail, and resumes when the connection is made again.
    pub paused: Option<String>,
}

/// Queues a run: its row and its job in one transaction, then the ring.
pub async fn queue(st: &AppState, i: &integration::Model, trigger: Trigger) -> Result<integration_run::Model> {
    let mut run = new_run(i, trigger, RunStatus::Queued);
    let job = run_job(st.sweep_grace(), &run);
    run.job_id = Some(job.id.clone());
    let txn = st.writer.begin().await?;
    let run = run.into_active_model().insert(&txn).await?;
    jobs::insert_rows(&txn, std::slice::from_ref(&job)).await?;
    txn.commit().await?;
    jobs::ring(st, &job).await;
    announce(st, &run);
    Ok(run)
}

/// The job row that runs `run` (not yet written).
pub(super) fn run_job(grace: Duration, run: &integration_run::Model) -> job::Model {
    jobs::row(
        grace,
        NewJob {
            kind: KIND.into(),
            payload: json!({ "run_id": run.id, "integration_id": run.integration_id }),
            workspace_id: Some(run.workspace_id.clone()),
            run_at: None,
            max_attempts: IntegrationSync.max_attempts(),
        },
    )
}

/// Sends one message of an outbound integration: Slack gets `text` (with
/// the configured channel and username), a webhook the JSON `message`,
/// signed with Standard Webhooks when a secret is set.
pub async fn send(st: &AppState, service_type: &str, config: &Value, message: &Value, text: &str) -> TestOutcome {
    let (url, body, mut headers) = match service_type {
        "slack" => {
            let mut body = json!({ "text": text });
            for k in ["channel", "username"] {
                if let Some(v) = config[k].as_str().filter(|v| !v.is_empty()) {
                    body[k] = json!(v);
                }
            }
            (config["webhook_url"].as_str().unwrap_or_default(), body.to_string(), vec![])
        }
        _ => (config["url"].as_str().unwrap_or_default(), message.to_string(), vec![]),
    };
    if let Some(secret) = config["secret"].as_str() {
        let id = message["id"].as_str().unwrap_or_default();
        let ts = Utc::now().timestamp();
        match crate::delivery::signing::sign(secret, id, ts, body.as_bytes()) {
            Ok(sig) => headers.extend([
                ("webhook-id".to_string(), id.to_string()),
                ("webhook-timestamp".to_string(), ts.to_string()),
                ("webhook-signature".to_string(), sig),
            ]),
            Err(_) => {
                let error = Some("The secret is not a valid whsec_ secret".into());
                return TestOutcome { error, ..Default::default() };
            }
        }
    }
    let mut req = oauth2::http::Request::builder().method("POST").uri(url).header("content-type", "application/json");
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = match req.body(body.into_bytes()) {
        Ok(r) => r,
        Err(e) => {
            let error = Some(format!("The request could not be built: {e}"));
            return TestOutcome { error, ..Default::default() };
        }
    };
    match st.http.exchange(req).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let ok = (200..300).contains(&status);
            let retry_after = matches!(status, 429 | 503)
                .then(|| {
                    resp.headers().get(oauth2::http::header::RETRY_AFTER)?.to_str().ok().and_then(parse_retry_after)
                })
                .flatten();
            TestOutcome {
                status: Some(status),
                error: (!ok).then(|| format!("The service answered HTTP {status}")),
                retry_after,
            }
        }
        Err(e) => TestOutcome { error: Some(e.public_message()), ..Default::default() },
    }
}

/// The message an event becomes, and its Slack text.
fn message_of(e: &event::Model) -> (Value, String) {
    let message = json!({ "id": e.id, "type": e.event_type, "timestamp": e.created_at.to_rfc3339(), "data": e.data });
    let subject = e.subject_id.as_deref().unwrap_or("");
    (message, format!("*{}* {subject}\n```{}```", e.event_type, e.data))
}

/// Moves the cursor from `from` to `to` unless another run moved it first.
async fn advance(st: &AppState, id: &str, from: &Option<String>, to: &str) -> Result<bool> {
    let q = integration::Entity::update_many()
        .col_expr(integration::Column::Cursor, Expr::value(to))
        .filter(integration::Column::Id.eq(id));
    let q = match from {
        Some(c) => q.filter(integration::Column::Cursor.eq(c.as_str())),
        None => q.filter(integration::Column::Cursor.is_null()),
    };
    Ok(q.exec(&st.writer).await?.rows_affected == 1)
}

/// Sends what is due, for at most [`RUN_BUDGET`]; returns how many were
/// sent, the cursor reached and the failure that stopped it, if one did.
/// A failed send is tried twice more (after 250 ms, then 1 s) unless it
/// was refused for good (a 4xx other than 408 and 429, or the SSRF guard):
/// a retried send may have arrived the first time (at-least-once). A
/// service that limits the rate (a 429, or a 503 with `Retry-After`) is
/// waited for in place when it asks
/// for at most [`RATE_WAIT`]; asked for longer, or a fourth time, the run
/// stops there without failing: its note says so and the next run goes on
/// from the cursor.
async fn outbound(st: &AppState, i: &integration::Model) -> Result<RunOutcome> {
    let started = std::time::Instant::now();
    let kind = kind_of(&i.service_type)?;
    let config = secret_config::full(st, &i.config, i.secrets_enc.as_deref())?;
    let secrets = secret_values(&kind.config_schema, &config);
    let patterns: Vec<String> = config["events"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let settled = Utc::now() - chrono::Duration::from_std(SETTLE).unwrap_or_default();
    let mut run = RunOutcome { cursor: i.cursor.clone(), ..Default::default() };
    let moved_on = || Some("Another run of this integration moved on first".to_string());
    while run.items < MAX_PER_RUN {
        let mut q = event::Entity::find()
            .filter(event::Column::WorkspaceId.eq(&i.workspace_id))
            .filter(event::Column::CreatedAt.lte(settled));
        if let Some(c) = &run.cursor {
            q = q.filter(event::Column::Id.gt(c.as_str()));
        }
        let page = q.order_by_asc(event::Column::Id).limit(PAGE).all(&st.db).await?;
        let Some(last) = page.last().map(|e| e.id.clone()) else { break };
        for e in &page {
            if !patterns.iter().any(|p| type_matches(p, &e.event_type)) {
                continue;
            }
            if started.elapsed() >= RUN_BUDGET {
                run.note = Some(format!(
                    "Stopped after {} seconds, the longest one run sends; the next run goes on from here",
                    RUN_BUDGET.as_secs()
                ));
                return Ok(run);
            }
            let (message, text) = message_of(e);
            let mut out = send(st, &i.service_type, &config, &message, &text).await;
            let (mut quick, mut limited) = (0, 0);
            while let Some(err) = &out.error {
                // A refusal by the SSRF guard is final, as a 4xx is.
                let retryable =
                    out.status.map_or(!crate::delivery::ssrf::is_refusal(err), |s| s >= 500 || s == 429 || s == 408);
                let wait = match out.retry_after.or((out.status == Some(429)).then_some(Duration::from_secs(1))) {
                    _ if !retryable => None,
                    Some(asked) if asked <= RATE_WAIT && limited < 3 && started.elapsed() + asked < RUN_BUDGET => {
                        limited += 1;
                        Some(asked)
                    }
                    Some(asked) => {
                        run.note = Some(format!(
                            "Stopped before {}: the service asked to wait {} s (HTTP {}); the next run goes on from here",
                            e.id,
                            asked.as_secs().max(1),
                            out.status.unwrap_or_default()
                        ));
                        return Ok(run);
                    }
                    None => [250, 1000].get(quick).map(|ms| {
                        quick += 1;
                        Duration::from_millis(*ms)
                    }),
                };
                let Some(wait) = wait else {
                    run.failure = Some(format!("Sending {} failed: {}", e.id, scrub(err, &secrets)));
                    return Ok(run);
                };
                tokio::time::sleep(wait).await;
                out = send(st, &i.service_type, &config, &message, &text).await;
            }
            run.items += 1;
            if !advance(st, &i.id, &run.cursor, &e.id).await? {
                run.cursor = Some(e.id.clone());
                run.failure = moved_on();
                return Ok(run);
            }
            run.cursor = Some(e.id.clone());
        }
        if run.cursor.as_deref() != Some(last.as_str()) {
            if !advance(st, &i.id, &run.cursor, &last).await? {
                run.failure = moved_on();
                return Ok(run);
            }
            run.cursor = Some(last);
        }
        if (page.len() as u64) < PAGE {
            break;
        }
    }
    Ok(run)
}

/// `integration.sync`: runs one sync.
pub struct IntegrationSync;

#[async_trait::async_trait]
impl Handler for IntegrationSync {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self, _job: &job::Model) -> Duration {
        RUN_TIMEOUT
    }

    fn max_attempts(&self) -> u32 {
        3
    }

    // Runs are logged in `integration_run` and streamed live.
    fn emits_events(&self) -> bool {
        false
    }

    async fn run(&self, st: &AppState, job: &job::Model) -> Result<()> {
        let Some(integration_id) = job.payload["integration_id"].as_str() else { return Ok(()) };
        let Some(i) = integration::Entity::find_by_id(integration_id).one(&st.writer).await? else { return Ok(()) };
        // A run by hand names its row; a scheduled one's row is named after
        // its job, so a retry of a killed scheduled run finds the row (and
        // the hold) its first attempt took instead of being skipped behind it.
        let scheduled_id = scheduled_run_id(&job.id);
        let run_id = job.payload["run_id"].as_str().unwrap_or(&scheduled_id);
        let run = match integration_run::Entity::find_by_id(run_id).one(&st.writer).await? {
            Some(run)
                if matches!(
                    RunStatus::parse(&run.status),
                    RunStatus::Succeeded | RunStatus::Failed | RunStatus::Skipped
                ) =>
            {
                return Ok(()); // already run: work is at-least-once
            }
            // Paused, it waits for its connection; resumed, it is another
            // job's (this one is a retry of the job that paused it).
            Some(run) if RunStatus::parse(&run.status) == RunStatus::Paused => return Ok(()),
            Some(run) if run.job_id.as_deref().is_some_and(|owner| owner != job.id) => return Ok(()),
            Some(run) => run,
            None if job.payload["run_id"].is_string() => return Ok(()),
            None => {
                // From the schedule: only while auto-sync is on and the integration is not off.
                if !i.auto_sync || IntegrationStatus::parse(&i.status) == IntegrationStatus::Inactive {
                    return Ok(());
                }
                // A paused run waits for the connection already: ticks add none meanwhile.
                if super::paused::waits_for_reconnect(&st.writer, &i).await? {
                    return Ok(());
                }
                let run = integration_run::Model {
                    id: scheduled_id.clone(),
                    job_id: Some(job.id.clone()),
                    ..new_run(&i, Trigger::Schedule, RunStatus::Running)
                };
                run.into_active_model().insert(&st.writer).await?
            }
        };
        if !hold(st, &i.id, &run.id).await? {
            return skip(st, &i.id, run).await;
        }
        super::paused::supersede(st, &i.id, &run.id).await?;
        // Read again now that the run holds it: the state the last run left.
        let Some(i) = integration::Entity::find_by_id(&i.id).one(&st.writer).await? else { return Ok(()) };
        let mut run = run;
        run.status = RunStatus::Running.as_str().into();
        run.cursor_from = i.cursor.clone();
        run.note = None; // a resumed run's pause note
        let run = run.into_active_model().reset_all().update(&st.writer).await?;
        announce(st, &run);
        let ran = match kind_of(&i.service_type)?.direction {
            Direction::Outbound => outbound(st, &i).await,
            Direction::Connection => super::inbound::run(st, &i, &run.id).await,
        };
        let outcome = ran.unwrap_or_else(|e| RunOutcome {
            cursor: i.cursor.clone(),
            failure: Some(e.public_message()),
            ..Default::default()
        });
        finish(st, &i, run, outcome).await
    }

    async fn on_dead(&self, st: &AppState, job: &job::Model, error: &str) -> Result<()> {
        // A scheduled run's row is named after its job (see `run`).
        let run_id = job.payload["run_id"].as_str().map_or_else(|| scheduled_run_id(&job.id), str::to_string);
        let Some(run) = integration_run::Entity::find_by_id(&run_id).one(&st.writer).await? else { return Ok(()) };
        if matches!(RunStatus::parse(&run.status), RunStatus::Queued | RunStatus::Running) {
            let Some(i) = integration::Entity::find_by_id(&run.integration_id).one(&st.writer).await? else {
                return Ok(());
            };
            let outcome =
                RunOutcome { cursor: i.cursor.clone(), failure: Some(error.to_string()), ..Default::default() };
            finish(st, &i, run, outcome).await?;
        }
        Ok(())
    }
}

/// Takes the integration's sync for the run `run_id` (see the module's
/// header): free, its lease over, or already this run's.
async fn hold(st: &AppState, integration_id: &str, run_id: &str) -> Result<bool> {
    use integration::Column as C;
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(HOLD).unwrap_or_default();
    let free = Condition::any()
        .add(C::SyncRunId.is_null())
        .add(C::SyncRunId.eq(run_id))
        .add(C::SyncLeaseUntil.is_null())
        .add(C::SyncLeaseUntil.lt(now));
    let taken = integration::Entity::update_many()
        .col_expr(C::SyncRunId, Expr::value(run_id))
        .col_expr(C::SyncLeaseUntil, Expr::value(until))
        .filter(C::Id.eq(integration_id))
        .filter(free)
        .exec(&st.writer)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Gives back the integration's sync if the run `run_id` holds it.
pub(super) async fn release(db: &impl ConnectionTrait, integration_id: &str, run_id: &str) -> Result<()> {
    integration::Entity::update_many()
        .col_expr(integration::Column::SyncRunId, Expr::value(Option::<String>::None))
        .col_expr(integration::Column::SyncLeaseUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .filter(integration::Column::Id.eq(integration_id))
        .filter(integration::Column::SyncRunId.eq(run_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends a run that found another holding the integration's sync: skipped,
/// with a note naming the other; the integration is left as it is.
async fn skip(st: &AppState, integration_id: &str, mut run: integration_run::Model) -> Result<()> {
    let holder = integration::Entity::find_by_id(integration_id).one(&st.writer).await?.and_then(|i| i.sync_run_id);
    let other = holder.map_or_else(|| "another run".to_string(), |id| format!("run {id}"));
    run.status = RunStatus::Skipped.as_str().into();
    run.note = Some(format!(
        "Not run: {other} of this integration was running. One run at a time reads a listing; the next one \
         starts after it."
    ));
    run.finished_at = Some(Utc::now());
    let run = run.into_active_model().reset_all().update(&st.writer).await?;
    announce(st, &run);
    Ok(())
}

/// Settles a run and the integration's sync fields, and gives back the
/// sync's hold; a change of status (to or from `error`) emits
/// `integration.updated`.
async fn finish(
    st: &AppState,
    i: &integration::Model,
    mut run: integration_run::Model,
    outcome: RunOutcome,
) -> Result<()> {
    let now = Utc::now();
    let RunOutcome { items, deleted, cursor, failure, note, paused } = outcome;
    if let Some(why) = paused {
        return super::paused::pause(st, &i.id, run, items, why).await;
    }
    run.status = if failure.is_some() { RunStatus::Failed } else { RunStatus::Succeeded }.as_str().into();
    // A run resumed after a pause adds to what it did before.
    run.items += items;
    run.deleted += deleted;
    run.cursor_to = cursor;
    run.error = failure.clone();
    run.note = note;
    run.finished_at = Some(now);
    let was = IntegrationStatus::parse(&i.status);
    let status = match (&failure, was) {
        (_, IntegrationStatus::Inactive) => IntegrationStatus::Inactive,
        (Some(_), _) => IntegrationStatus::Error,
        (None, _) => IntegrationStatus::Active,
    };
    let txn = st.writer.begin().await?;
    let run = run.into_active_model().reset_all().update(&txn).await?;
    integration::Entity::update_many()
        .col_expr(integration::Column::LastSyncAt, Expr::value(now))
        .col_expr(integration::Column::LastError, Expr::value(failure))
        .col_expr(integration::Column::Status, Expr::value(status.as_str()))
        .col_expr(integration::Column::ItemsSynced, Expr::col(integration::Column::ItemsSynced).add(items))
        .filter(integration::Column::Id.eq(&i.id))
        .exec(&txn)
        .await?;
    release(&txn, &i.id, &run.id).await?;
    let mut evts = vec![];
    if status != was {
        let mut after = i.clone();
        after.status = status.as_str().into();
        let data = super::event_data(&after, true);
        evts.push(
            events::record(&txn, &i.workspace_id, EventType::IntegrationUpdated, "system", Some(&i.id), data).await?,
        );
    }
    txn.commit().await?;
    st.publish(evts);
    announce(st, &run);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::has_prefix;

    #[test]
    fn a_scheduled_jobs_run_is_named_after_the_job_whatever_its_attempt() {
        let job = new_id("job");
        let run = scheduled_run_id(&job);
        assert!(has_prefix(&run, "isr"), "{run} is a run id");
        assert_eq!(run, scheduled_run_id(&job), "every attempt of the job names the same run");
        assert_ne!(run, scheduled_run_id(&new_id("job")), "another job, another run");
    }
}
