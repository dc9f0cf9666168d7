//! The job ledger: the `job` table holds each generic job's truth; the queue
//! only rings the doorbell. Claims are conditional updates, so a duplicate
//! doorbell (sweeper re-ring, reclaimed message) never runs a job twice at
//! the same time; the sweeper re-rings whatever is due that nobody holds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::json;

use entity::job;

use crate::db::eq_beside_ids;
use crate::error::Result;
use crate::events::{self, Envelope, EventType};
use crate::ids::new_id;
use crate::jobs::queue::Message;
use crate::state::AppState;

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const DEAD: &str = "dead";

/// `job.state = state` beside a list of ids (see [`eq_beside_ids`]).
fn state_is(db: &impl ConnectionTrait, state: &'static str) -> SimpleExpr {
    eq_beside_ids(db, job::Column::State, state)
}

/// A job to add to the ledger.
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    pub workspace_id: Option<String>,
    /// `None` runs it as soon as possible.
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: u32,
}

/// The sweep grace of this process, for ledger rows written where the state
/// is not at hand (the outbox fan-out inside `events::record`).
static DEFAULT_GRACE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(30_000);

pub fn set_default_grace(d: Duration) {
    DEFAULT_GRACE_MS.store(d.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
}

pub fn default_grace() -> Duration {
    Duration::from_millis(DEFAULT_GRACE_MS.load(std::sync::atomic::Ordering::Relaxed))
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Writes the ledger row, then rings the doorbell. If the ring fails the job
/// is still safe: the sweeper rings again once it is overdue.
pub async fn enqueue(st: &AppState, new: NewJob) -> Result<job::Model> {
    let row = insert(&st.writer, st.sweep_grace(), new).await?;
    ring(st, &row).await;
    Ok(row)
}

/// Writes several jobs with one durable commit, then rings them together
/// (one round trip for those due now). For a producer of many jobs at once;
/// a job written with its cause uses [`insert_rows`] in the cause's
/// transaction instead.
pub async fn enqueue_many(st: &AppState, new: Vec<NewJob>) -> Result<Vec<job::Model>> {
    let grace = st.sweep_grace();
    let rows: Vec<job::Model> = new.into_iter().map(|n| row(grace, n)).collect();
    if rows.len() > ROWS_PER_INSERT {
        let txn = st.writer.begin().await?;
        insert_rows(&txn, &rows).await?;
        txn.commit().await?;
    } else {
        insert_rows(&st.writer, &rows).await?;
    }
    ring_many(st, &rows).await;
    Ok(rows)
}

/// Ledger rows one INSERT writes at most: 14 bound values each, well inside
/// SQLite's limit of 32,766 bound parameters (PostgreSQL's is 65,535).
pub const ROWS_PER_INSERT: usize = 500;

/// Inserts ledger rows made with [`row`], several per statement, without
/// ringing (the caller rings after its transaction commits).
pub async fn insert_rows(db: &impl ConnectionTrait, rows: &[job::Model]) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let chunk = chunk.iter().map(|j| j.clone().into_active_model());
        job::Entity::insert_many(chunk).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Inserts a ledger row without ringing (for callers that ring after their
/// own transaction commits).
pub async fn insert(db: &impl ConnectionTrait, grace: Duration, new: NewJob) -> Result<job::Model> {
    Ok(row(grace, new).into_active_model().insert(db).await?)
}

/// The ledger row of a new job, not yet written: queued, due at its
/// `run_at` (now by default), visible to the sweeper `grace` after that.
pub fn row(grace: Duration, new: NewJob) -> job::Model {
    let now = Utc::now();
    let run_at = new.run_at.unwrap_or(now);
    job::Model {
        id: new_id("job"),
        workspace_id: new.workspace_id,
        kind: new.kind,
        payload: new.payload,
        state: QUEUED.into(),
        attempts: 0,
        max_attempts: new.max_attempts.max(1) as i32,
        run_at,
        visible_at: run_at.max(now) + chrono_dur(grace),
        lease_owner: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        finished_at: None,
    }
}

/// Pushes the doorbell for a row, delayed until its `run_at`.
pub async fn ring(st: &AppState, row: &job::Model) {
    let delay = (row.run_at - Utc::now()).to_std().unwrap_or_default();
    let msg = Message { job_id: row.id.clone(), kind: row.kind.clone() };
    if let Err(e) = st.queue.push(&msg, delay).await {
        tracing::warn!(job = %row.id, cause = %e, "could not ring the queue; the sweeper will");
    }
}

/// Rings several rows: those due now in one round trip, the others each
/// with its delay, side by side.
pub async fn ring_many(st: &AppState, rows: &[job::Model]) {
    let now = Utc::now();
    let (due, later): (Vec<&job::Model>, Vec<&job::Model>) = rows.iter().partition(|r| r.run_at <= now);
    let msgs: Vec<Message> = due.iter().map(|r| Message { job_id: r.id.clone(), kind: r.kind.clone() }).collect();
    if let Err(e) = st.queue.push_many(&msgs).await {
        tracing::warn!(jobs = msgs.len(), cause = %e, "could not ring the queue; the sweeper will");
    }
    futures_util::future::join_all(later.into_iter().map(|row| ring(st, row))).await;
}

/// What a worker found when it tried to take a job.
#[derive(Debug)]
pub enum Claim {
    /// Leased to the caller; run it.
    Claimed(Box<job::Model>),
    /// Not due yet (a retry scheduled later): ring again at this time.
    NotYet(DateTime<Utc>),
    /// Another worker holds a live lease, or the job already finished or
    /// does not exist: drop this doorbell.
    Skip,
}

/// Claims every job of `ids` that is due and free, in one statement;
/// returns the rows claimed (the others are not due yet, held by a live
/// lease, finished or gone: see [`queued_until`]).
pub async fn claim_many(
    db: &impl ConnectionTrait,
    ids: &[String],
    owner: &str,
    lease: Duration,
) -> Result<Vec<job::Model>> {
    let now = Utc::now();
    Ok(job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(RUNNING))
        .col_expr(job::Column::Attempts, Expr::col(job::Column::Attempts).add(1))
        .col_expr(job::Column::LeaseOwner, Expr::value(owner))
        .col_expr(job::Column::VisibleAt, Expr::value(now + chrono_dur(lease)))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.is_in(ids))
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(state_is(db, QUEUED))
                        .add(job::Column::RunAt.lte(now + chrono::Duration::milliseconds(500))),
                )
                .add(Condition::all().add(state_is(db, RUNNING)).add(job::Column::VisibleAt.lte(now))),
        )
        // Both backends support UPDATE … RETURNING (SQLite ≥ 3.35): one round trip.
        .exec_with_returning(db)
        .await?)
}

/// Of `ids`, the jobs still queued, with the time each is due: the
/// doorbells [`claim_many`] could not claim that must ring again then.
pub async fn queued_until(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<std::collections::HashMap<String, DateTime<Utc>>> {
    let rows: Vec<(String, DateTime<Utc>)> = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .column(job::Column::RunAt)
        .filter(job::Column::Id.is_in(ids))
        .filter(state_is(db, QUEUED))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Extends a running job's lease (heartbeat).
pub async fn extend(db: &impl ConnectionTrait, id: &str, owner: &str, lease: Duration) -> Result<bool> {
    Ok(extend_many(db, &[id.to_string()], owner, lease).await? == 1)
}

/// Extends the leases of several running jobs; returns how many are still
/// the caller's.
pub async fn extend_many(db: &impl ConnectionTrait, ids: &[String], owner: &str, lease: Duration) -> Result<u64> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::VisibleAt, Expr::value(Utc::now() + chrono_dur(lease)))
        .filter(job::Column::Id.is_in(ids))
        .filter(state_is(db, RUNNING))
        .filter(job::Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Marks several jobs done at once (a settled batch): one statement when
/// they record no event, else [`complete`] for each.
pub async fn complete_many(st: &AppState, rows: &[&job::Model], owner: &str, emit: bool) -> Result<()> {
    if emit && rows.iter().any(|r| r.workspace_id.is_some()) {
        for row in rows {
            complete(st, row, owner, emit).await?;
        }
        return Ok(());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    complete_ids(st, &ids, owner).await
}

/// Marks the jobs `ids` done that `owner` still holds, in one bookkeeping
/// statement; records no events.
pub async fn complete_ids(st: &AppState, ids: &[String], owner: &str) -> Result<()> {
    let now = Utc::now();
    let done = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(DONE))
        .col_expr(job::Column::FinishedAt, Expr::value(now))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .col_expr(job::Column::LastError, Expr::value(Option::<String>::None))
        .filter(job::Column::Id.is_in(ids.iter().map(String::as_str)))
        .filter(state_is(&st.writer, RUNNING))
        .filter(job::Column::LeaseOwner.eq(owner));
    done.exec(&st.bookkeeping).await?;
    Ok(())
}

/// Marks a job done (`lease_owner` keeps who did it) and, for a workspace
/// job, records `job.completed` in the same transaction.
pub async fn complete(st: &AppState, row: &job::Model, owner: &str, emit: bool) -> Result<()> {
    let now = Utc::now();
    let done = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(DONE))
        .col_expr(job::Column::FinishedAt, Expr::value(now))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .col_expr(job::Column::LastError, Expr::value(Option::<String>::None))
        .filter(job::Column::Id.eq(&row.id))
        .filter(job::Column::State.eq(RUNNING))
        .filter(job::Column::LeaseOwner.eq(owner));
    // No event to record: one bookkeeping statement (see `AppState::bookkeeping`).
    let Some(ws) = row.workspace_id.as_ref().filter(|_| emit) else {
        done.exec(&st.bookkeeping).await?;
        return Ok(());
    };
    let txn = st.writer.begin().await?;
    let evt = match done.exec(&txn).await?.rows_affected {
        1 => Some(record_job_event(&txn, ws, EventType::JobCompleted, row, None).await?),
        _ => None,
    };
    txn.commit().await?;
    st.publish(evt.into_iter().collect());
    Ok(())
}

async fn record_job_event(
    db: &impl ConnectionTrait,
    ws: &str,
    t: EventType,
    row: &job::Model,
    error: Option<&str>,
) -> Result<Envelope> {
    let data = json!({ "id": row.id, "kind": row.kind, "attempts": row.attempts, "error": error });
    events::record(db, ws, t, "system", Some(&row.id), data).await
}

/// Records a failed attempt: back to `queued` at `retry_at`, or `dead` (with
/// `job.failed` for a workspace job) when no retry is left.
pub async fn fail(
    st: &AppState,
    row: &job::Model,
    owner: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    emit: bool,
) -> Result<()> {
    let now = Utc::now();
    let error: String = error.chars().take(2000).collect();
    let txn = st.writer.begin().await?;
    let mut q = job::Entity::update_many()
        .col_expr(job::Column::LastError, Expr::value(error.clone()))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(&row.id))
        .filter(job::Column::State.eq(RUNNING))
        .filter(job::Column::LeaseOwner.eq(owner));
    q = match retry_at {
        Some(at) => q
            .col_expr(job::Column::State, Expr::value(QUEUED))
            .col_expr(job::Column::RunAt, Expr::value(at))
            .col_expr(job::Column::VisibleAt, Expr::value(at + chrono_dur(st.sweep_grace()))),
        None => q.col_expr(job::Column::State, Expr::value(DEAD)).col_expr(job::Column::FinishedAt, Expr::value(now)),
    };
    let res = q.exec(&txn).await?;
    let evt = match (row.workspace_id.as_ref().filter(|_| emit), retry_at, res.rows_affected) {
        (Some(ws), None, 1) => Some(record_job_event(&txn, ws, EventType::JobFailed, row, Some(&error)).await?),
        _ => None,
    };
    txn.commit().await?;
    st.publish(evt.into_iter().collect());
    Ok(())
}

/// Gives a job back without counting the attempt: interrupted by shutdown
/// (due now) or deferred by its handler (due at `run_at`).
pub async fn hand_back(
    db: &impl ConnectionTrait,
    id: &str,
    owner: &str,
    run_at: DateTime<Utc>,
    grace: Duration,
) -> Result<()> {
    job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(QUEUED))
        .col_expr(job::Column::Attempts, Expr::col(job::Column::Attempts).sub(1))
        .col_expr(job::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(job::Column::RunAt, Expr::value(run_at))
        // The caller rings for `run_at`; the sweeper only if that ring is lost.
        .col_expr(job::Column::VisibleAt, Expr::value(run_at + chrono_dur(grace)))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::State.eq(RUNNING))
        .filter(job::Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(())
}

/// Cuts short the wait of queued jobs (e.g. what waited for something the
/// user has since done): due now. Returns the ones still queued, for the
/// caller to [`ring`] once its transaction commits.
pub async fn due_now(db: &impl ConnectionTrait, ids: &[String], grace: Duration) -> Result<Vec<job::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    job::Entity::update_many()
        .col_expr(job::Column::RunAt, Expr::value(now))
        .col_expr(job::Column::VisibleAt, Expr::value(now + chrono_dur(grace)))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.is_in(ids.iter().map(String::as_str)))
        .filter(state_is(db, QUEUED))
        .exec(db)
        .await?;
    Ok(job::Entity::find()
        .filter(job::Column::Id.is_in(ids.iter().map(String::as_str)))
        .filter(state_is(db, QUEUED))
        .all(db)
        .await?)
}

/// Re-rings up to `limit` jobs that are due and that no live lease holds
/// (a lost message, a flushed Redis, a killed worker). Returns how many.
pub async fn sweep(st: &AppState, limit: u64) -> Result<usize> {
    let now = Utc::now();
    let due = job::Entity::find()
        .filter(job::Column::State.is_in([QUEUED, RUNNING]))
        .filter(job::Column::VisibleAt.lte(now))
        .order_by_asc(job::Column::VisibleAt)
        .limit(limit)
        .all(&st.db)
        .await?;
    let mut rung = 0;
    for row in due {
        // Push the next look further out first, so two sweeps never ring twice.
        let next = row.run_at.max(now) + chrono_dur(st.sweep_grace());
        let mut update = job::Entity::update_many()
            .col_expr(job::Column::VisibleAt, Expr::value(next))
            .filter(job::Column::Id.eq(&row.id))
            .filter(job::Column::State.eq(&row.state))
            .filter(job::Column::VisibleAt.eq(row.visible_at));
        if row.state == RUNNING {
            // Its worker died (or lost the lease): the attempt counts. Queue
            // it again, or bury it once no attempt is left.
            let lost = format!("the worker running attempt {} stopped answering", row.attempts);
            update = update.col_expr(job::Column::LeaseOwner, Expr::value(Option::<String>::None));
            update = if row.attempts >= row.max_attempts {
                update
                    .col_expr(job::Column::State, Expr::value(DEAD))
                    .col_expr(job::Column::LastError, Expr::value(lost))
                    .col_expr(job::Column::FinishedAt, Expr::value(now))
            } else {
                update.col_expr(job::Column::State, Expr::value(QUEUED)).col_expr(job::Column::RunAt, Expr::value(now))
            };
        }
        let res = update.exec(&st.writer).await?;
        let buried = row.state == RUNNING && row.attempts >= row.max_attempts;
        if res.rows_affected == 1 && !buried {
            ring(st, &job::Model { run_at: row.run_at.min(now), ..row }).await;
            rung += 1;
        }
    }
    if rung > 0 {
        tracing::info!(count = rung, "sweeper re-rang overdue jobs");
    }
    Ok(rung)
}

/// Ledger counts of unfinished and dead jobs for one kind.
pub async fn count(db: &impl ConnectionTrait, kind: &str, state: &str) -> Result<u64> {
    Ok(job::Entity::find().filter(job::Column::Kind.eq(kind)).filter(job::Column::State.eq(state)).count(db).await?)
}
