//! Recurring jobs: a `schedule` row per recurring kind; the scheduler (run
//! by the elected process) enqueues each one when it falls due. Firing is a
//! conditional update of `next_run_at`, so two schedulers never fire twice.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use entity::schedule;

use crate::error::Result;
use crate::jobs::ledger::{self as jobs, NewJob};
use crate::state::AppState;

/// Creates or updates a schedule (kind, payload and period), keeping its
/// next run time if it exists, unless the new period makes it due sooner
/// (a day shortened to a minute fires within the minute, not the day).
pub async fn ensure(st: &AppState, name: &str, kind: &str, payload: serde_json::Value, every: Duration) -> Result<()> {
    let soonest = Utc::now() + chrono::Duration::seconds(every.as_secs().max(1) as i64);
    let next = Expr::col((schedule::Entity, schedule::Column::NextRunAt));
    let next_run_at = Expr::case(next.clone().gt(soonest), soonest).finally(next);
    let row = schedule::ActiveModel {
        name: Set(name.to_string()),
        kind: Set(kind.to_string()),
        payload: Set(payload),
        every_seconds: Set(every.as_secs().max(1) as i64),
        next_run_at: Set(Utc::now()),
        last_job_id: Set(None),
    };
    schedule::Entity::insert(row)
        .on_conflict(
            OnConflict::column(schedule::Column::Name)
                .update_columns([schedule::Column::Kind, schedule::Column::Payload, schedule::Column::EverySeconds])
                .value(schedule::Column::NextRunAt, next_run_at)
                .to_owned(),
        )
        .exec(&st.writer)
        .await?;
    Ok(())
}

/// Enqueues every schedule that is due; returns how many fired.
pub async fn fire_due(st: &AppState) -> Result<usize> {
    let now = Utc::now();
    let due = schedule::Entity::find().filter(schedule::Column::NextRunAt.lte(now)).all(&st.db).await?;
    let mut fired = 0;
    for s in due {
        match fire(st, &s, now).await {
            Ok(true) => fired += 1,
            Ok(false) => {}
            // One broken schedule must not stop the others.
            Err(e) => tracing::warn!(schedule = %s.name, cause = %e, "could not fire schedule"),
        }
    }
    Ok(fired)
}

/// Advances one schedule and writes its job in one transaction (so a period
/// is never skipped nor fired twice), then rings the job.
async fn fire(st: &AppState, s: &schedule::Model, now: chrono::DateTime<Utc>) -> Result<bool> {
    let txn = st.writer.begin().await?;
    let max_attempts = st.registry.get(&s.kind).map_or(3, |h| h.max_attempts());
    let job = jobs::insert(
        &txn,
        st.sweep_grace(),
        NewJob { kind: s.kind.clone(), payload: s.payload.clone(), workspace_id: None, run_at: None, max_attempts },
    )
    .await?;
    let res = schedule::Entity::update_many()
        .col_expr(schedule::Column::NextRunAt, Expr::value(now + chrono::Duration::seconds(s.every_seconds)))
        .col_expr(schedule::Column::LastJobId, Expr::value(job.id.clone()))
        .filter(schedule::Column::Name.eq(&s.name))
        .filter(schedule::Column::NextRunAt.eq(s.next_run_at))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        // Another scheduler fired it first: drop this job with the transaction.
        txn.rollback().await?;
        return Ok(false);
    }
    txn.commit().await?;
    jobs::ring(st, &job).await;
    Ok(true)
}
