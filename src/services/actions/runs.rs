//! Runs of actions, in the worker pool.
//!
//! A run is a row that says which step comes next and holds every step's
//! result so far. The `action.run` job runs steps from there, saving each
//! result as it ends; a run that must wait (a `DELAY`, the provider's rate
//! window, `Retry-After`, a retry's backoff) is saved as `waiting` with a new
//! job due when the wait is over. Exactly one job may run a run at a time:
//! the run names it (`job_id`), and a stale or duplicate job finds another
//! id and does nothing. A killed worker's job is run again by the engine and
//! goes on at the step that was running; a finished step is not repeated,
//! unless the database server itself crashes: on PostgreSQL a run's
//! progress is committed without waiting for the WAL flush (see
//! [`progress`](super::progress)), so such a crash can lose the last
//! fraction of a second of it, and the step whose result it held runs again.
//! A step killed mid-request runs again (at-least-once): its requests carry
//! the same `Idempotency-Key` (API calls) or `webhook-id` (webhooks) each
//! time, which a receiver may use to drop the repeat; a `PLUGIN` step
//! carries no key.
//!
//! Per step: a 5xx or a transport failure is tried again after 2 s, 4 s,
//! 8 s, 16 s (5 attempts, beyond the connection's own quick retries); a 401
//! refreshes the token once (the connection does it); a 429 waits for its
//! `Retry-After` (at most an hour; up to 10 s in the worker, longer as
//! `waiting`), and counts as an attempt; any other 4xx fails the run with the
//! provider's message. A connection that needs to be reconnected pauses the
//! run; connecting again resumes it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, CommonTableExpression, Expr, SimpleExpr, WithClause};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, IntoActiveModel,
    QueryFilter, QueryTrait, UpdateMany,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use entity::{action, action_run, job};

use super::progress::NewRun;
use super::{steps_of, template, Step, StepKind};
use crate::auth::{Principal, Scope};
use crate::delivery::signing;
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::ids::{has_prefix, new_id};
use crate::jobs::ledger::{self, NewJob};
use crate::jobs::Handler;
use crate::services::connections::call::{self as calls, CallRequest, ForRun};
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::state::AppState;

/// The job kind that runs a run.
pub const KIND: &str = "action.run";
/// The live-only message sent whenever a run changes.
pub const LIVE_NOTE: &str = "action.run_status";

/// Attempts of a step that meets 5xx or transport failures.
pub const STEP_ATTEMPTS: i32 = 5;
/// Runs one process works on at once (see [`RunAction::own_slots`]).
/// `bench actions --runs 6000` on SQLite, alternated: in the shared pool
/// of 8, 566 and 589 runs/s; in 32 slots of their own, 879 and 889 (+54%);
/// on PostgreSQL + Redis the same either way (413-449; there PostgreSQL's
/// CPU is the limit). (With every kind sharing 32 slots runs made 778-917,
/// but webhook deliveries and record processing lost: see
/// `--worker-concurrency`; 64 shared made 778.)
pub const RUN_SLOTS: usize = 32;
/// Longest a `Retry-After` may hold a run.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Longest one job runs steps before it hands the run to a new job.
const SLICE: Duration = Duration::from_secs(60);
/// Bytes of a response body kept as text when it is not JSON, and shown.
pub const SHOWN_BODY_BYTES: usize = 4096;
/// Largest JSON response body kept whole (for later steps' templates).
const KEPT_BODY_BYTES: usize = 64 * 1024;

/// A run's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "ActionRunStatus")]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// A step is running.
    Running,
    /// Waiting until `waitUntil`: a delay, the provider's rate window, a retry.
    Waiting,
    /// A connection it calls through needs to be reconnected; connecting it
    /// again resumes the run.
    Paused,
    /// Every step succeeded.
    Succeeded,
    /// A step failed; `error` says why.
    Failed,
    /// Cancelled by a member.
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Paused => "paused",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "waiting" => Self::Waiting,
            "paused" => Self::Paused,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Queued,
        }
    }

    /// The states a run ends in.
    pub const FINAL: [Self; 3] = [Self::Succeeded, Self::Failed, Self::Cancelled];

    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self)
    }
}

/// The answer a step got.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct StepResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: serde_json::Map<String, Value>,
    /// JSON when the answer was JSON (up to 64 KiB), else text cut to 4 KiB.
    pub body: Value,
    #[serde(default)]
    pub truncated: bool,
}

/// One step's result on a run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StepResult {
    pub key: String,
    pub kind: StepKind,
    /// `running`, `waiting`, `succeeded` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// What went out (rendered; never credentials): method, path or URL, headers, body.
    #[serde(default)]
    pub request: Option<Value>,
    #[serde(default)]
    pub response: Option<StepResponse>,
    #[serde(default)]
    pub duration_ms: i64,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// While waiting: when the step goes on.
    #[serde(default)]
    pub wait_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub error: Option<String>,
    /// The connection call it made last (`cal_…`).
    #[serde(default)]
    pub call_id: Option<String>,
}

/// The results of a run's steps.
pub fn results_of(r: &action_run::Model) -> Vec<StepResult> {
    serde_json::from_value(r.steps.clone()).unwrap_or_default()
}

/// Where a run comes from.
#[derive(Clone)]
pub struct Origin {
    /// `manual`, `schedule` or `event`.
    pub kind: &'static str,
    pub trigger_id: Option<String>,
    pub actor: String,
    /// `{id, type, data, created_at}` of the event that started it.
    pub event: Option<Value>,
}

/// Writes a run and (unless it starts paused) its job, inside the caller's
/// transaction (on PostgreSQL one statement, which may also commit on its
/// own); the caller rings the job after the commit. The run comes back as
/// stored; on PostgreSQL the job as built (its times to the nanosecond,
/// where the row keeps microseconds), which is all its ring needs.
pub async fn insert(
    db: &impl ConnectionTrait,
    grace: Duration,
    a: &action::Model,
    origin: Origin,
    input: Value,
    paused: Option<String>,
) -> Result<(action_run::Model, Option<job::Model>)> {
    let (run, job) = rows(grace, a, origin, input, paused);
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        let job = match job {
            Some(j) => Some(j.into_active_model().insert(db).await?),
            None => None,
        };
        return Ok((run.into_active_model().insert(db).await?, job));
    }
    // One round trip where a transaction of its own took four (`BEGIN`,
    // two inserts, `COMMIT`).
    let mut insert = action_run::Entity::insert(run.into_active_model()).into_query();
    insert.returning_all();
    let stmt = match &job {
        Some(j) => {
            let cte = CommonTableExpression::new()
                .query(job::Entity::insert(j.clone().into_active_model()).into_query())
                .table_name(Alias::new("new_job"))
                .to_owned();
            backend.build(&insert.with(WithClause::new().cte(cte).to_owned()))
        }
        None => backend.build(&insert),
    };
    let row = db.query_one(stmt).await?.ok_or_else(|| Error::internal("the run's insert returned no row"))?;
    Ok((action_run::Model::from_query_result(&row, "")?, job))
}

/// A new run and (unless it starts paused) its job, not yet written.
fn rows(
    grace: Duration,
    a: &action::Model,
    origin: Origin,
    input: Value,
    paused: Option<String>,
) -> (action_run::Model, Option<job::Model>) {
    let id = new_id("arn");
    let job = match paused {
        Some(_) => None,
        None => Some(ledger::row(grace, new_job(&a.workspace_id, &id, None))),
    };
    let now = Utc::now();
    let run = action_run::Model {
        id,
        workspace_id: a.workspace_id.clone(),
        action_id: a.id.clone(),
        status: if paused.is_some() { RunStatus::Paused } else { RunStatus::Queued }.as_str().into(),
        trigger_kind: origin.kind.into(),
        trigger_id: origin.trigger_id,
        actor: origin.actor,
        input,
        event: origin.event,
        step_index: 0,
        job_id: job.as_ref().map(|j| j.id.clone()),
        steps: json!([]),
        wait_until: None,
        error: paused,
        created_at: now,
        started_at: None,
        finished_at: None,
        updated_at: now,
        revision: 0,
    };
    (run, job)
}

fn new_job(workspace_id: &str, run_id: &str, run_at: Option<DateTime<Utc>>) -> NewJob {
    NewJob {
        kind: KIND.into(),
        payload: json!({ "run_id": run_id }),
        workspace_id: Some(workspace_id.to_string()),
        run_at,
        max_attempts: RunAction.max_attempts(),
    }
}

/// Largest run (bytes of its JSON) a live note carries whole; a larger one
/// (long step responses) is read again by each subscriber, and may have
/// moved on by then.
const NOTE_CARRIES: usize = 16 * 1024;

/// Tells live subscribers (in every process) that a run changed: `r` as it
/// stands after the change, carried in the note when small (see
/// [`announced`]), so a subscriber sees every state a run went through even
/// when the next one is saved before it reads.
pub fn announce(st: &AppState, r: &action_run::Model) {
    st.publish(vec![live_note(r)]);
}

/// The live note of a run's change (see [`announce`]); a fan-out hook
/// leaves it on its event, to go out after the commit.
pub fn live_note(r: &action_run::Model) -> events::Envelope {
    let mut data = json!({ "action_id": r.action_id, "status": r.status });
    if let Ok(run) = serde_json::to_string(r) {
        if run.len() <= NOTE_CARRIES {
            data["run"] = Value::String(run);
        }
    }
    events::Envelope::live(r.workspace_id.clone(), LIVE_NOTE, "system", Some(r.id.clone()), data)
}

/// What a subscriber was last shown of each run, to drop notes that
/// arrive after a later one (see [`Newest::admits`]).
#[derive(Default)]
pub struct Newest(HashMap<String, Shown>);

/// The last state of a run a subscriber was shown.
enum Shown {
    /// A state a run goes on from, at this revision.
    Going(i64),
    /// The run has ended.
    Ended,
}

/// Runs a subscriber's [`Newest`] remembers; past it, it starts over.
const NEWEST_REMEMBERED: usize = 1_000;

impl Newest {
    /// Whether `r` may be shown after what was shown of it; remembers it.
    /// An end is always shown, and nothing after it. A state a run goes on
    /// from is dropped when its revision is below the one shown: every
    /// write moves a run's revision on in the same statement, so the order
    /// holds whichever processes (and clocks) saved the states. (Progress
    /// on PostgreSQL commits without waiting for the WAL flush: should the
    /// database server itself crash, the last revisions it announced can
    /// be handed out again, and a subscriber connected through it may miss
    /// a state until the next one; the end is still shown.)
    pub fn admits(&mut self, r: &action_run::Model) -> bool {
        let ended = RunStatus::parse(&r.status).is_final();
        match self.0.get(&r.id) {
            Some(Shown::Ended) => return false,
            Some(Shown::Going(seen)) if !ended && *seen > r.revision => return false,
            _ => {}
        }
        if self.0.len() >= NEWEST_REMEMBERED && !self.0.contains_key(&r.id) {
            self.0.clear();
        }
        self.0.insert(r.id.clone(), if ended { Shown::Ended } else { Shown::Going(r.revision) });
        true
    }
}

/// The run a live note of the caller's workspace carries, if it carries
/// one (else read it with [`get`]).
pub fn announced(p: &Principal, e: &events::Envelope) -> Option<action_run::Model> {
    let run: action_run::Model = serde_json::from_str(e.data["run"].as_str()?).ok()?;
    (run.workspace_id == p.workspace_id && e.subject_id.as_deref() == Some(run.id.as_str())).then_some(run)
}

/// Starts a run by hand (members who may write); returns it at once.
pub async fn start(st: &AppState, p: &Principal, action_id: &str, input: Value) -> Result<action_run::Model> {
    p.require(Scope::Write)?;
    let a = super::get(&st.db, p, action_id).await.map_err(|_| {
        Error::field_code("id", crate::error::UserErrorCode::NotFound, "No such action in this workspace")
    })?;
    if !a.enabled {
        return Err(Error::invalid_field("id", "The action is disabled: enable it to run it"));
    }
    if !input.is_object() {
        return Err(Error::invalid_field("input", "Give a JSON object"));
    }
    if serde_json::to_vec(&input).map_or(0, |b| b.len()) > 64 * 1024 {
        return Err(Error::invalid_field("input", "At most 64 KiB of JSON"));
    }
    let paused = super::paused_reason(&st.db, &a).await?;
    let origin = Origin { kind: "manual", trigger_id: None, actor: p.actor().to_string(), event: None };
    // Committed with other runs' writes (see `progress`), then announced
    // (QUEUED) and its job rung, even should this caller be gone by then.
    let new = NewRun { grace: st.sweep_grace(), action: a, origin, input, paused };
    let (run, _job) = st.run_progress.start(st, new).await?;
    Ok(run)
}

/// Cancels a run that has not ended (members who may write). A step under
/// way finishes, but nothing after it runs.
pub async fn cancel(st: &AppState, p: &Principal, run_id: &str) -> Result<action_run::Model> {
    p.require(Scope::Write)?;
    let r = get(&st.writer, p, run_id).await?;
    if RunStatus::parse(&r.status).is_final() {
        return Err(Error::invalid_field("id", format!("The run has already ended ({})", r.status)));
    }
    let now = Utc::now();
    let cancelled = action_run::Entity::update_many()
        .col_expr(action_run::Column::Status, Expr::value(RunStatus::Cancelled.as_str()))
        .col_expr(action_run::Column::JobId, Expr::value(Option::<String>::None))
        .col_expr(action_run::Column::WaitUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(action_run::Column::FinishedAt, Expr::value(now))
        .col_expr(action_run::Column::UpdatedAt, Expr::value(now))
        .col_expr(action_run::Column::Revision, next_revision())
        .filter(action_run::Column::Id.eq(&r.id))
        // A run that ended meanwhile keeps its end (its event is out).
        .filter(action_run::Column::Status.is_not_in(RunStatus::FINAL.map(RunStatus::as_str)))
        .exec(&st.writer)
        .await?;
    let r = get(&st.writer, p, run_id).await?;
    if cancelled.rows_affected != 1 {
        return Err(Error::invalid_field("id", format!("The run has already ended ({})", r.status)));
    }
    announce(st, &r);
    Ok(r)
}

/// The value that moves a run's revision on, for an update of it.
fn next_revision() -> SimpleExpr {
    Expr::col(action_run::Column::Revision).add(1)
}

/// Applies an update of one run (filtered to it, and to the job that must
/// own it) with its revision moved on, in the same statement; returns the
/// new revision, or `None` when it matched nothing (nothing was written).
/// The update must not set the revision itself (it is set here).
pub(super) async fn apply_update(
    db: &impl ConnectionTrait,
    update: UpdateMany<action_run::Entity>,
) -> Result<Option<i64>> {
    let mut stmt = update.col_expr(action_run::Column::Revision, next_revision()).into_query();
    stmt.returning_col(action_run::Column::Revision);
    let row = db.query_one(db.get_database_backend().build(&stmt)).await?;
    Ok(row.map(|row| row.try_get::<i64>("", "revision")).transpose()?)
}

/// One run of the caller's workspace.
pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<action_run::Model> {
    p.require(Scope::Read)?;
    if !has_prefix(id, "arn") {
        return Err(Error::NotFound("Run"));
    }
    action_run::Entity::find_by_id(id)
        .filter(action_run::Column::WorkspaceId.eq(&p.workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Run"))
}

/// Filters for [`list`].
#[derive(Default)]
pub struct RunFilter {
    pub action_id: Option<String>,
    pub status: Option<RunStatus>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One page of the workspace's runs.
pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    f: &RunFilter,
    page: &PageArgs,
) -> Result<Page<action_run::Model>> {
    p.require(Scope::Read)?;
    let mut q = action_run::Entity::find().filter(action_run::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(a) = &f.action_id {
        q = q.filter(action_run::Column::ActionId.eq(a));
    }
    if let Some(s) = f.status {
        q = q.filter(action_run::Column::Status.eq(s.as_str()));
    }
    if let Some(t) = f.since {
        q = q.filter(action_run::Column::CreatedAt.gte(t));
    }
    if let Some(t) = f.until {
        q = q.filter(action_run::Column::CreatedAt.lt(t));
    }
    fetch_page(db, q, action_run::Column::Id, page).await
}

/// Queues again the paused runs of these actions (a connection came back);
/// returns their jobs, to ring after the commit, and the runs as they now
/// stand, to announce after it.
pub async fn resume_paused(
    db: &impl ConnectionTrait,
    action_ids: &[String],
) -> Result<(Vec<job::Model>, Vec<action_run::Model>)> {
    let paused = action_run::Entity::find()
        .filter(action_run::Column::ActionId.is_in(action_ids.to_vec()))
        .filter(action_run::Column::Status.eq(RunStatus::Paused.as_str()))
        .all(db)
        .await?;
    let (mut jobs, mut runs) = (Vec::new(), Vec::new());
    for r in paused {
        let job = ledger::row(ledger::default_grace(), new_job(&r.workspace_id, &r.id, None));
        let moved = action_run::Entity::update_many()
            .col_expr(action_run::Column::Status, Expr::value(RunStatus::Queued.as_str()))
            .col_expr(action_run::Column::JobId, Expr::value(job.id.clone()))
            .col_expr(action_run::Column::Error, Expr::value(Option::<String>::None))
            .col_expr(action_run::Column::UpdatedAt, Expr::value(Utc::now()))
            .col_expr(action_run::Column::Revision, next_revision())
            .filter(action_run::Column::Id.eq(&r.id))
            .filter(action_run::Column::Status.eq(RunStatus::Paused.as_str()))
            .exec_with_returning(db)
            .await?;
        // Resumed by someone else meanwhile: no second job.
        if !moved.is_empty() {
            jobs.push(job.clone().into_active_model().insert(db).await?);
            runs.extend(moved);
        }
    }
    Ok((jobs, runs))
}

/// Pauses the waiting runs of these actions (a connection broke); returns
/// them as they now stand, to announce after the commit.
pub async fn pause_waiting(
    db: &impl ConnectionTrait,
    action_ids: &[String],
    why: &str,
) -> Result<Vec<action_run::Model>> {
    let paused = action_run::Entity::update_many()
        .col_expr(action_run::Column::Status, Expr::value(RunStatus::Paused.as_str()))
        .col_expr(action_run::Column::JobId, Expr::value(Option::<String>::None))
        .col_expr(action_run::Column::WaitUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(action_run::Column::Error, Expr::value(why))
        .col_expr(action_run::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(action_run::Column::Revision, next_revision())
        .filter(action_run::Column::ActionId.is_in(action_ids.to_vec()))
        .filter(action_run::Column::Status.is_in([RunStatus::Waiting.as_str(), RunStatus::Queued.as_str()]))
        .exec_with_returning(db)
        .await?;
    Ok(paused)
}

/// `action.run`: runs a run's steps from where it stands.
pub struct RunAction;

#[async_trait::async_trait]
impl Handler for RunAction {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn timeout(&self, _job: &job::Model) -> Duration {
        // A slice of steps, plus the longest single call (its waits included).
        SLICE + crate::services::MAX_WAIT + Duration::from_secs(30)
    }

    fn max_attempts(&self) -> u32 {
        10
    }

    fn emits_events(&self) -> bool {
        false
    }

    /// A run spends most of its time waiting on its provider calls and on
    /// its progress's group commit, which many runs share: in the shared
    /// pool (8 slots on SQLite) runs queued behind each other while the
    /// machine sat a third idle.
    fn own_slots(&self) -> Option<usize> {
        Some(RUN_SLOTS)
    }

    async fn run(&self, st: &AppState, job: &job::Model) -> Result<()> {
        let Some(id) = job.payload["run_id"].as_str() else { return Ok(()) };
        execute(st, id, &job.id).await
    }

    async fn on_dead(&self, st: &AppState, job: &job::Model, error: &str) -> Result<()> {
        let Some(id) = job.payload["run_id"].as_str() else { return Ok(()) };
        let Some(r) = action_run::Entity::find_by_id(id).one(&st.writer).await? else { return Ok(()) };
        if r.job_id.as_deref() == Some(&job.id) && !RunStatus::parse(&r.status).is_final() {
            let steps = results_of(&r);
            let mut ending = Ending::new(&r, steps);
            ending.status = RunStatus::Failed;
            ending.error = Some(format!("The run could not go on: {error}"));
            save(st, &r, &job.id, ending, None).await?;
        }
        Ok(())
    }
}

/// How a slice of a run ends, to save.
struct Ending {
    status: RunStatus,
    step_index: i32,
    steps: Vec<StepResult>,
    wait_until: Option<DateTime<Utc>>,
    error: Option<String>,
}

impl Ending {
    fn new(r: &action_run::Model, steps: Vec<StepResult>) -> Self {
        Self { status: RunStatus::Running, step_index: r.step_index, steps, wait_until: None, error: None }
    }
}

/// Saves a run's progress, if `job_id` still owns it. A waiting or queued
/// run gets its next job; an ended one its event (`action_name` in it, read
/// when not given). Returns whether the job still owned the run.
async fn save(
    st: &AppState,
    r: &action_run::Model,
    job_id: &str,
    e: Ending,
    action_name: Option<&str>,
) -> Result<bool> {
    let now = Utc::now();
    let ended = e.status.is_final();
    let next = match e.status {
        RunStatus::Waiting | RunStatus::Queued => {
            Some(ledger::row(st.sweep_grace(), new_job(&r.workspace_id, &r.id, e.wait_until)))
        }
        _ => None,
    };
    // The run as this save leaves it (announced after the write).
    let mut after = action_run::Model {
        status: e.status.as_str().into(),
        step_index: e.step_index,
        steps: json!(e.steps),
        wait_until: e.wait_until,
        error: e.error.clone(),
        updated_at: now,
        ..r.clone()
    };
    let mut update = action_run::Entity::update_many()
        .col_expr(action_run::Column::Status, Expr::value(e.status.as_str()))
        .col_expr(action_run::Column::StartedAt, Expr::value(r.started_at))
        .col_expr(action_run::Column::StepIndex, Expr::value(e.step_index))
        .col_expr(action_run::Column::Steps, Expr::value(after.steps.clone()))
        .col_expr(action_run::Column::WaitUntil, Expr::value(e.wait_until))
        .col_expr(action_run::Column::Error, Expr::value(e.error.clone()))
        .col_expr(action_run::Column::UpdatedAt, Expr::value(now));
    if e.status != RunStatus::Running {
        after.job_id = next.as_ref().map(|j| j.id.clone());
        update = update.col_expr(action_run::Column::JobId, Expr::value(after.job_id.clone()));
    }
    if ended {
        after.finished_at = Some(now);
        update = update.col_expr(action_run::Column::FinishedAt, Expr::value(now));
    }
    let update = update.filter(action_run::Column::Id.eq(&r.id)).filter(action_run::Column::JobId.eq(job_id));
    if e.status == RunStatus::Running {
        // A step done with more to come is progress: one UPDATE (see
        // `progress`). Never back past a step another worker of the same
        // job has saved meanwhile (this one lost its lease while its
        // update waited).
        let update = update.filter(action_run::Column::StepIndex.lte(e.step_index));
        let Some(revision) = st.run_progress.write(st, update).await? else { return Ok(false) };
        after.revision = revision;
        announce(st, &after);
        return Ok(true);
    }
    let event = (ended && e.status != RunStatus::Cancelled).then(|| {
        let started = r.started_at.unwrap_or(r.created_at);
        RunEvent {
            workspace_id: r.workspace_id.clone(),
            run_id: r.id.clone(),
            action_id: r.action_id.clone(),
            kind: if e.status == RunStatus::Succeeded {
                EventType::ActionRunSucceeded
            } else {
                EventType::ActionRunFailed
            },
            action_name: action_name.map(str::to_string),
            data: json!({
                "run_id": r.id, "action_id": r.action_id, "status": e.status.as_str(),
                "trigger": r.trigger_kind, "steps": e.steps.len(), "error": e.error,
                "duration_ms": (now - started).num_milliseconds().max(0),
            }),
        }
    });
    // With its job and event in one transaction (with other runs' writes on
    // SQLite; see `progress`), then announced with its event and its next
    // job rung. Not owned when cancelled, paused or deleted meanwhile.
    Ok(st.run_progress.close(st, Closing { update, next, event, after }).await?.owned)
}

/// A save that moves a run on in a transaction: its update (filtered to
/// the run and the job that must own it), then, only when that took, the
/// run's next job and the event of its end.
pub struct Closing {
    update: UpdateMany<action_run::Entity>,
    next: Option<job::Model>,
    event: Option<RunEvent>,
    /// The run as the update leaves it.
    after: action_run::Model,
}

/// The event of a run's end.
struct RunEvent {
    workspace_id: String,
    run_id: String,
    action_id: String,
    kind: EventType,
    /// Read in the transaction when not known.
    action_name: Option<String>,
    data: Value,
}

/// What a [`Closing`] came to.
pub struct Closed {
    /// Whether the job still owned the run; nothing was written if not.
    pub owned: bool,
    /// The run's next job, written.
    pub next: Option<job::Model>,
    /// The event of its end, written.
    pub event: Option<events::Envelope>,
    /// The run as the update left it.
    pub after: action_run::Model,
}

impl Closing {
    /// Applies it inside `db`'s transaction, which the caller commits
    /// (rolling back when not owned changes nothing: nothing was written).
    pub async fn apply(&self, db: &impl ConnectionTrait) -> Result<Closed> {
        let Some(revision) = apply_update(db, self.update.clone()).await? else {
            return Ok(Closed { owned: false, next: None, event: None, after: self.after.clone() });
        };
        if let Some(job) = &self.next {
            job.clone().into_active_model().insert(db).await?;
        }
        let mut event = None;
        if let Some(ev) = &self.event {
            let name = match &ev.action_name {
                Some(name) => name.clone(),
                None => action::Entity::find_by_id(&ev.action_id).one(db).await?.map(|a| a.name).unwrap_or_default(),
            };
            let mut data = ev.data.clone();
            data["action_name"] = Value::String(name);
            event = Some(events::record(db, &ev.workspace_id, ev.kind, "system", Some(&ev.run_id), data).await?);
        }
        Ok(Closed {
            owned: true,
            next: self.next.clone(),
            event,
            after: action_run::Model { revision, ..self.after.clone() },
        })
    }
}

/// What one step came to.
enum Outcome {
    Done,
    /// Wait until then (the step's result says why).
    Wait(DateTime<Utc>),
    Fail(String),
    Pause(String),
}

/// Runs the run's steps from where it stands, for at most a slice.
async fn execute(st: &AppState, run_id: &str, job_id: &str) -> Result<()> {
    // Read on the readers, the run and its action in one query: both rows
    // were committed before this job was rung, and the one writer is the
    // pipeline's narrowest part.
    let found = action_run::Entity::find_by_id(run_id).find_also_related(action::Entity).one(&st.db).await?;
    let Some((r, Some(a))) = found else { return Ok(()) };
    let status = RunStatus::parse(&r.status);
    if r.job_id.as_deref() != Some(job_id) || status.is_final() || status == RunStatus::Paused {
        return Ok(()); // a stale or duplicate job: another owns the run
    }
    // RUNNING is stored before the step goes out, so readers (the panel, a
    // subscriber re-reading the run) see the step under way; as progress
    // (see `progress`).
    let now = Utc::now();
    let r = if status == RunStatus::Running {
        r
    } else {
        let claim = action_run::Entity::update_many()
            .col_expr(action_run::Column::Status, Expr::value(RunStatus::Running.as_str()))
            .col_expr(action_run::Column::StartedAt, Expr::value(r.started_at.unwrap_or(now)))
            .col_expr(action_run::Column::WaitUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(action_run::Column::UpdatedAt, Expr::value(now))
            .filter(action_run::Column::Id.eq(&r.id))
            .filter(action_run::Column::JobId.eq(job_id));
        let Some(revision) = st.run_progress.write(st, claim).await? else { return Ok(()) };
        action_run::Model {
            status: RunStatus::Running.as_str().into(),
            started_at: Some(r.started_at.unwrap_or(now)),
            wait_until: None,
            updated_at: now,
            revision,
            ..r
        }
    };
    announce(st, &r);
    let steps = steps_of(&a);
    let mut results = results_of(&r);
    let mut index = r.step_index.max(0) as usize;
    let slice_end = Instant::now() + SLICE;
    let secret = st.secret.decrypt(&a.signing_secret_enc)?;
    while index < steps.len() {
        if Instant::now() >= slice_end {
            // Long runs hand over to a fresh job, so none outlives its timeout.
            let mut e = Ending::new(&r, results);
            e.status = RunStatus::Queued;
            e.step_index = index as i32;
            save(st, &r, job_id, e, Some(&a.name)).await?;
            return Ok(());
        }
        let step = &steps[index];
        let mut result = match results.get(index) {
            Some(res) if res.key == step.key => res.clone(),
            _ => StepResult {
                key: step.key.clone(),
                kind: step.kind,
                status: "running".into(),
                attempts: 0,
                request: None,
                response: None,
                duration_ms: 0,
                started_at: Some(Utc::now()),
                finished_at: None,
                wait_until: None,
                error: None,
                call_id: None,
            },
        };
        result.status = "running".into();
        let ctx = context(&a, &r, &results);
        let began = Instant::now();
        let outcome = match step.kind {
            StepKind::ApiExecute => api_execute(st, &r, step, &ctx, &mut result, slice_end).await?,
            StepKind::Webhook => webhook(st, &r, step, &ctx, &secret, &mut result).await,
            StepKind::Delay => delay(step, &mut result),
            StepKind::Plugin => plugin(st, &r, step, &ctx, &mut result).await,
        };
        result.duration_ms += began.elapsed().as_millis() as i64;
        results.truncate(index);
        let mut e;
        match outcome {
            Outcome::Done => {
                result.status = "succeeded".into();
                result.finished_at = Some(Utc::now());
                result.wait_until = None;
                result.error = None;
                results.push(result);
                index += 1;
                e = Ending::new(&r, results.clone());
                e.step_index = index as i32;
                if index < steps.len() {
                    if !save(st, &r, job_id, e, Some(&a.name)).await? {
                        return Ok(());
                    }
                    continue;
                }
                e.status = RunStatus::Succeeded;
            }
            Outcome::Wait(until) => {
                result.status = "waiting".into();
                result.wait_until = Some(until);
                results.push(result);
                e = Ending::new(&r, results);
                e.status = RunStatus::Waiting;
                e.wait_until = Some(until);
            }
            Outcome::Fail(why) => {
                result.status = "failed".into();
                result.finished_at = Some(Utc::now());
                result.error = Some(why.clone());
                results.push(result);
                e = Ending::new(&r, results);
                e.status = RunStatus::Failed;
                e.error = Some(format!("Step `{}` failed: {why}", step.key));
            }
            Outcome::Pause(why) => {
                result.status = "waiting".into();
                result.error = Some(why.clone());
                results.push(result);
                e = Ending::new(&r, results);
                e.status = RunStatus::Paused;
                e.error = Some(why);
            }
        }
        e.step_index = index as i32;
        save(st, &r, job_id, e, Some(&a.name)).await?;
        return Ok(());
    }
    // No step left (the action lost steps while the run waited).
    let mut e = Ending::new(&r, results);
    e.status = RunStatus::Succeeded;
    e.step_index = index as i32;
    save(st, &r, job_id, e, Some(&a.name)).await?;
    Ok(())
}

/// What a step's templates see.
fn context(a: &action::Model, r: &action_run::Model, results: &[StepResult]) -> Value {
    let steps: serde_json::Map<String, Value> = results
        .iter()
        .filter(|s| s.status == "succeeded")
        .map(|s| (s.key.clone(), json!({ "response": s.response, "duration_ms": s.duration_ms })))
        .collect();
    json!({
        "input": r.input,
        "event": r.event.clone().unwrap_or(Value::Null),
        "steps": steps,
        "run": { "id": r.id, "trigger": r.trigger_kind },
        "action": { "id": a.id, "name": a.name },
    })
}

fn render_pairs(pairs: &[(String, String)], ctx: &Value) -> std::result::Result<Vec<(String, String)>, String> {
    pairs.iter().map(|(k, v)| Ok((template::render_text(k, ctx)?, template::render_text(v, ctx)?))).collect()
}

/// The wait before attempt `n + 1` of a failing step: 2 s, 4 s, 8 s, 16 s.
fn step_backoff(attempts: i32) -> chrono::Duration {
    chrono::Duration::seconds(1i64 << attempts.clamp(1, 5))
}

fn in_(d: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(d).unwrap_or_default()
}

/// Response headers never kept on a run (members who may only read see
/// runs): a session or credential the provider hands out.
const HIDDEN_RESPONSE_HEADERS: &[&str] = &["set-cookie", "set-cookie2", "authorization", "proxy-authorization"];

/// Keeps an answer: JSON whole (up to 64 KiB), else text cut to 4 KiB;
/// its headers but the [`HIDDEN_RESPONSE_HEADERS`].
fn response_of(status: u16, headers: &[(String, String)], body: &str) -> StepResponse {
    let headers = headers
        .iter()
        .filter(|(k, _)| !HIDDEN_RESPONSE_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let parsed = (body.len() <= KEPT_BODY_BYTES).then(|| serde_json::from_str::<Value>(body).ok()).flatten();
    match parsed {
        Some(v) => StepResponse { status, headers, body: v, truncated: false },
        None => {
            let mut cut = SHOWN_BODY_BYTES.min(body.len());
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            StepResponse { status, headers, body: json!(&body[..cut]), truncated: cut < body.len() }
        }
    }
}

/// The provider's message from an error answer, short.
fn provider_message(status: u16, body: &Value) -> String {
    let text = match body {
        Value::String(s) => s.clone(),
        v => {
            let msg = ["error_description", "message", "error"]
                .iter()
                .find_map(|k| v.get(k).or_else(|| v.get("error").and_then(|e| e.get(k))).and_then(|m| m.as_str()))
                .map(str::to_string);
            msg.unwrap_or_else(|| v.to_string())
        }
    };
    let text: String = text.chars().take(300).collect();
    format!("The provider answered HTTP {status}: {text}")
}

async fn api_execute(
    st: &AppState,
    r: &action_run::Model,
    step: &Step,
    ctx: &Value,
    result: &mut StepResult,
    slice_end: Instant,
) -> Result<Outcome> {
    let rendered = (|| -> std::result::Result<CallRequest, String> {
        let path = template::render_text(step.path.as_deref().unwrap_or("/"), ctx)?;
        let query = render_pairs(&step.query, ctx)?;
        let mut headers = render_pairs(&step.headers, ctx)?;
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("idempotency-key")) {
            headers.push(("Idempotency-Key".into(), format!("{}.{}", r.id, step.key)));
        }
        let body = match &step.body {
            Some(b) => Some(template::render_json(b, ctx)?.to_string()),
            None => None,
        };
        Ok(CallRequest { method: step.method.clone().unwrap_or_else(|| "GET".into()), path, query, headers, body })
    })();
    let request = match rendered {
        Ok(req) => req,
        Err(why) => return Ok(Outcome::Fail(format!("Template error: {why}"))),
    };
    let body_shown: Option<String> = request.body.as_ref().map(|b| b.chars().take(SHOWN_BODY_BYTES).collect());
    result.request = Some(json!({
        "method": request.method, "provider": step.provider, "path": request.path,
        "query": request.query, "headers": request.headers, "body": body_shown,
    }));
    let provider = step.provider.clone().unwrap_or_default();
    let budget = slice_end.saturating_duration_since(Instant::now()).max(Duration::from_secs(30));
    result.attempts += 1;
    let out = match calls::call_for_run(st, &r.workspace_id, &provider, request, budget).await {
        Ok(out) => out,
        // The database or the queue failed (perhaps after the provider
        // answered): the job runs the step again, with the same
        // idempotency key, instead of failing a run the user would repeat.
        Err(e @ (Error::Database(_) | Error::Redis(_) | Error::RedisPool(_))) => return Err(e),
        Err(e) => return Ok(Outcome::Fail(e.public_message())),
    };
    Ok(match out {
        ForRun::Answered { call_id, answer } => {
            result.call_id = Some(call_id);
            let resp = response_of(answer.status, &answer.headers, &answer.body);
            let ok = (200..300).contains(&answer.status);
            let msg = provider_message(answer.status, &resp.body);
            result.response = Some(resp);
            if ok {
                Outcome::Done
            } else {
                Outcome::Fail(msg)
            }
        }
        ForRun::Wait(wait) => {
            result.attempts -= 1; // nothing went out
            result.error = Some("Waiting for the provider's rate window".into());
            Outcome::Wait(in_(wait.min(MAX_RETRY_AFTER)))
        }
        ForRun::Limited(wait) if result.attempts < STEP_ATTEMPTS => {
            result.error = Some(format!("The provider answered HTTP 429; waiting {} s", wait.as_secs().max(1)));
            Outcome::Wait(in_(wait.min(MAX_RETRY_AFTER)))
        }
        ForRun::Limited(_) => {
            Outcome::Fail(format!("The provider still answered HTTP 429 (rate limited) after {STEP_ATTEMPTS} attempts"))
        }
        ForRun::Unavailable(why) if result.attempts < STEP_ATTEMPTS => {
            result.error = Some(format!("{why}; trying again"));
            Outcome::Wait(Utc::now() + step_backoff(result.attempts))
        }
        ForRun::Unavailable(why) => Outcome::Fail(why),
        ForRun::Unusable(why) => Outcome::Pause(why),
    })
}

async fn webhook(
    st: &AppState,
    r: &action_run::Model,
    step: &Step,
    ctx: &Value,
    secret: &str,
    result: &mut StepResult,
) -> Outcome {
    /// What a webhook step sends, rendered: extra headers, payload, URL.
    type Rendered = (Vec<(String, String)>, Value, String);
    let rendered = (|| -> std::result::Result<Rendered, String> {
        let headers = render_pairs(&step.headers, ctx)?;
        let payload = template::render_json(step.body.as_ref().unwrap_or(&json!({})), ctx)?;
        let url = template::render_text(step.url.as_deref().unwrap_or_default(), ctx)?;
        Ok((headers, payload, url))
    })();
    let (extra, payload, url) = match rendered {
        Ok(x) => x,
        Err(why) => return Outcome::Fail(format!("Template error: {why}")),
    };
    // A template fills the path and query only (checked when saved); the
    // rendered URL must still be one, and go where its literal start says.
    if let Err(why) = same_origin(step.url.as_deref().unwrap_or_default(), &url) {
        return Outcome::Fail(why);
    }
    let body = payload.to_string().into_bytes();
    // The same id on every attempt: a receiver can drop a repeat.
    let msg_id = format!("msg_{}_{}", r.id, step.key);
    let ts = Utc::now().timestamp();
    let signature = match signing::sign(secret, &msg_id, ts, &body) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(e.public_message()),
    };
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("webhook-id".to_string(), msg_id),
        ("webhook-timestamp".to_string(), ts.to_string()),
        ("webhook-signature".to_string(), signature),
    ];
    headers.extend(extra.iter().filter(|(k, _)| !k.to_ascii_lowercase().starts_with("webhook-")).cloned());
    result.request = Some(json!({ "method": "POST", "url": url, "headers": extra,
                                  "body": String::from_utf8_lossy(&body).chars().take(SHOWN_BODY_BYTES).collect::<String>() }));
    result.attempts += 1;
    let sent = st.http.post(&url, &headers, body, Duration::from_secs(15)).await;
    if let Some(status) = sent.status {
        result.response = Some(response_of(status, &[], &sent.body));
    }
    match sent.status {
        Some(s) if (200..300).contains(&s) => Outcome::Done,
        Some(429 | 503) if sent.retry_after.is_some() && result.attempts < STEP_ATTEMPTS => {
            result.error = Some("The receiver asked to wait (Retry-After)".into());
            Outcome::Wait(in_(sent.retry_after.unwrap_or_default().min(MAX_RETRY_AFTER)))
        }
        Some(s) if (s >= 500 || s == 429) && result.attempts < STEP_ATTEMPTS => {
            result.error = Some(format!("The receiver answered HTTP {s}; trying again"));
            Outcome::Wait(Utc::now() + step_backoff(result.attempts))
        }
        Some(s) => Outcome::Fail(format!("The receiver answered HTTP {s}")),
        // A refusal by the SSRF guard is final: the URL will not change.
        None if sent.error.as_deref().is_some_and(crate::delivery::ssrf::is_refusal) => {
            Outcome::Fail(sent.error.unwrap_or_default())
        }
        None if result.attempts < STEP_ATTEMPTS => {
            result.error = Some(format!("{}; trying again", sent.error.unwrap_or_default()));
            Outcome::Wait(Utc::now() + step_backoff(result.attempts))
        }
        None => Outcome::Fail(sent.error.unwrap_or_else(|| "The receiver could not be reached".into())),
    }
}

/// Whether the URL rendered from a `WEBHOOK` step's `url` goes to the
/// scheme, host and port its literal start names.
fn same_origin(written: &str, rendered: &str) -> std::result::Result<(), String> {
    if !template::is_template(written) {
        return Ok(());
    }
    let url = url::Url::parse(rendered).map_err(|e| format!("The rendered URL is not valid ({e})"))?;
    let fixed = template::fixed_origin(written).and_then(|o| url::Url::parse(o).ok());
    match fixed {
        Some(fixed) if fixed.origin() == url.origin() => Ok(()),
        _ => Err("The rendered URL leaves the host its template starts with".into()),
    }
}

fn delay(step: &Step, result: &mut StepResult) -> Outcome {
    match result.wait_until {
        Some(t) if t <= Utc::now() => Outcome::Done,
        Some(t) => Outcome::Wait(t),
        None => {
            let until = Utc::now() + chrono::Duration::seconds(step.seconds.unwrap_or(1) as i64);
            result.request = Some(json!({ "seconds": step.seconds }));
            Outcome::Wait(until)
        }
    }
}

async fn plugin(st: &AppState, r: &action_run::Model, step: &Step, ctx: &Value, result: &mut StepResult) -> Outcome {
    let input = match template::render_json(step.body.as_ref().unwrap_or(&json!({})), ctx) {
        Ok(v) => v,
        Err(why) => return Outcome::Fail(format!("Template error: {why}")),
    };
    let (plugin, action) = (step.plugin.clone().unwrap_or_default(), step.plugin_action.clone().unwrap_or_default());
    result.request = Some(json!({ "plugin": plugin, "action": action,
                                  "input": input.to_string().chars().take(SHOWN_BODY_BYTES).collect::<String>() }));
    result.attempts += 1;
    match crate::services::plugins::call_action_now(st, &r.workspace_id, &plugin, &action, input).await {
        Ok(answer) => {
            result.response =
                Some(StepResponse { status: 200, headers: Default::default(), body: answer, truncated: false });
            Outcome::Done
        }
        Err(e) => Outcome::Fail(e.public_message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_webhook_url_keeps_the_host_its_template_names() {
        let written = "https://h.example/orders/{{ event.data.id }}";
        assert!(same_origin(written, "https://h.example/orders/42").is_ok());
        assert!(same_origin(written, "https://h.example/orders/@evil.example/x").is_ok(), "a path, still on h.example");
        assert!(same_origin(written, "https://evil.example/orders/42").is_err());
        assert!(same_origin(written, "http://h.example/orders/42").is_err(), "the scheme is fixed too");
        assert!(same_origin(written, "not a url").is_err());
        assert!(same_origin("https://h.example/x", "https://h.example/x").is_ok(), "a literal URL is as saved");
    }

    #[test]
    fn a_kept_answer_drops_the_cookies_and_credentials_it_was_handed() {
        let headers = [
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Set-Cookie".to_string(), "session=abc".to_string()),
            ("authorization".to_string(), "Bearer t".to_string()),
            ("x-rate-limit-remaining".to_string(), "9".to_string()),
        ];
        let kept = response_of(200, &headers, r#"{"id": 7}"#);
        let names: Vec<&str> = kept.headers.keys().map(String::as_str).collect();
        assert_eq!(names, ["Content-Type", "x-rate-limit-remaining"]);
        assert_eq!(kept.body, json!({ "id": 7 }));
    }

    fn a_run(workspace: &str, steps: Value) -> action_run::Model {
        let now = Utc::now();
        action_run::Model {
            id: "arn_1".into(),
            workspace_id: workspace.into(),
            action_id: "act_1".into(),
            status: RunStatus::Running.as_str().into(),
            trigger_kind: "manual".into(),
            trigger_id: None,
            actor: "system".into(),
            input: json!({}),
            event: None,
            step_index: 1,
            job_id: Some("job_1".into()),
            steps,
            wait_until: None,
            error: None,
            created_at: now,
            started_at: Some(now),
            finished_at: None,
            updated_at: now,
            revision: 3,
        }
    }

    fn member_of(workspace: &str) -> Principal {
        Principal {
            workspace_id: workspace.into(),
            user_id: "usr_1".into(),
            role: crate::auth::Role::Owner,
            scopes: Default::default(),
            credential: crate::auth::Credential::ApiKey {
                id: "ak_1".into(),
                environment: crate::services::api_keys::Environment::Test,
            },
        }
    }

    #[test]
    fn a_runs_note_carries_it_as_it_stood_to_its_own_workspace_only_and_only_when_small() {
        let run = a_run("ws_1", json!([{ "key": "a" }]));
        let note = live_note(&run);
        assert_eq!(announced(&member_of("ws_1"), &note), Some(run.clone()));
        assert_eq!(announced(&member_of("ws_2"), &note), None, "another workspace reads nothing from it");
        let mut other = note.clone();
        other.subject_id = Some("arn_2".into());
        assert_eq!(announced(&member_of("ws_1"), &other), None, "the run must be the note's subject");
        // A note from a process older than revisions: its subscriber reads the run.
        let mut old = note.clone();
        let mut carried: Value = serde_json::from_str(note.data["run"].as_str().unwrap()).unwrap();
        carried.as_object_mut().unwrap().remove("revision");
        old.data["run"] = Value::String(carried.to_string());
        assert_eq!(announced(&member_of("ws_1"), &old), None, "a note without a revision is not taken as it stands");

        // A run with long step answers is not carried: subscribers read it.
        let big = a_run("ws_1", json!([{ "key": "a", "response": { "body": "x".repeat(NOTE_CARRIES) } }]));
        let note = live_note(&big);
        assert_eq!(note.data["status"], "running");
        assert!(note.data.get("run").is_none());
        assert_eq!(announced(&member_of("ws_1"), &note), None);
    }

    #[test]
    fn a_subscriber_is_not_shown_a_state_older_than_one_it_saw_nor_anything_after_the_end() {
        let mut newest = Newest::default();
        // `later` revisions on, saved by a process whose clock reads `ms`
        // from the first save's.
        let at = |r: &action_run::Model, later: i64, ms: i64, status: RunStatus| action_run::Model {
            status: status.as_str().into(),
            revision: r.revision + later,
            updated_at: r.updated_at + chrono::Duration::milliseconds(ms),
            ..r.clone()
        };
        let first = a_run("ws_1", json!([]));
        // Saved next, on a host whose clock runs behind: still the newer.
        let step = at(&first, 1, -500, RunStatus::Running);
        assert!(newest.admits(&first));
        assert!(newest.admits(&step), "the revision orders states, not the clocks");
        assert!(!newest.admits(&first), "the older save, heard last, is dropped");
        assert!(newest.admits(&step), "the same state again is shown");
        let mut another = first.clone();
        another.id = "arn_2".into();
        assert!(newest.admits(&another), "other runs are apart");

        // A cancel that committed after a worker's save (a later revision)
        // but was heard first: the end is shown, the save heard after it not.
        let cancelled = at(&first, 3, 2, RunStatus::Cancelled);
        let saved = at(&first, 2, 9, RunStatus::Waiting);
        assert!(newest.admits(&cancelled));
        assert!(!newest.admits(&saved));
        assert!(!newest.admits(&cancelled), "an end is shown once");
    }
}
