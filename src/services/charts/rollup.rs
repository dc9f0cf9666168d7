//! The `charts.rollup` job: the delivery chart's figures for closed buckets,
//! computed once from the attempt log and kept in `delivery_rollup`, so a
//! chart over a day of a million attempts reads a few dozen rows.
//!
//! Every minute the job rolls up, for each bucket width (minute, hour, day),
//! the buckets that closed since its last run: per webhook and per
//! workspace (`webhook_id` = [`WHOLE_WORKSPACE`]), the success and failure
//! counts and the nearest-rank p50/p99 response times, by the same SQL the
//! chart runs on the log (so a rolled-up bucket reads exactly as it did
//! before). `delivery_rollup_mark` keeps, per width, where the rolled-up
//! time ends; the chart reads the log from there on. Each stretch is written
//! with its mark in one transaction, so a reader sees a bucket either rolled
//! up or not, never both or neither.
//!
//! A bucket is rolled up [`GRACE_SECONDS`] after it closes: a batch of
//! attempts is recorded once its slowest request is answered (webhook
//! timeouts are at most 60 s), so an attempt can reach the log that long
//! after its `created_at`. One that arrives later still (a database stalled
//! for minutes) stays in the log but is missing from its closed bucket.
//!
//! Rollups no chart can ask for any more (older than [`MAX_BUCKETS`]
//! buckets of their width) are deleted by the same job. They outlive the
//! attempt log's own retention otherwise: a chart over 60 days per hour
//! still has its figures when the attempts are gone.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait, Value};

use super::{attempts_sql, bucket_sql, start_of, statement, Bucket, MAX_BUCKETS};
use crate::error::Result;
use crate::jobs::Handler;
use crate::state::AppState;

/// The job kind, scheduled every [`EVERY`] at start-up.
pub const KIND: &str = "charts.rollup";

/// How often the job runs.
pub const EVERY: Duration = Duration::from_secs(60);

/// How long after a bucket closes it is rolled up.
pub const GRACE_SECONDS: i64 = 180;

/// `webhook_id` of a workspace's rollup rows over all its webhooks.
pub const WHOLE_WORKSPACE: &str = "";

/// The widths kept.
const WIDTHS: [Bucket; 3] = [Bucket::Minute, Bucket::Hour, Bucket::Day];

/// Stretches one run writes at most per width (each is one statement over
/// at most a day of attempts); a run that has more to catch up (a first
/// start on a large log, a server down for weeks) goes on at the next.
const STRETCHES_PER_RUN: usize = 16;

/// `charts.rollup`: see the module documentation.
pub struct RollUp;

#[async_trait::async_trait]
impl Handler for RollUp {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn max_attempts(&self) -> u32 {
        3
    }

    fn timeout(&self, _job: &entity::job::Model) -> Duration {
        Duration::from_secs(600)
    }

    async fn run(&self, st: &AppState, _job: &entity::job::Model) -> Result<()> {
        let done = roll_up(&st.writer, Utc::now()).await?;
        tracing::debug!(buckets = done.buckets, rows = done.rows, "delivery chart rolled up");
        Ok(())
    }
}

/// What one [`roll_up`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// Buckets of any width closed and rolled up.
    pub buckets: u64,
    /// Rollup rows written.
    pub rows: u64,
}

/// Where the rolled-up time of `bucket`'s width ends (Unix seconds), if the
/// job has run.
pub async fn mark(db: &impl ConnectionTrait, bucket: Bucket) -> Result<Option<i64>> {
    let backend = db.get_database_backend();
    let sql = "SELECT until FROM delivery_rollup_mark WHERE width = ?";
    let row = db.query_one(statement(backend, sql, vec![bucket.seconds().into()])).await?;
    Ok(match row {
        Some(r) => Some(r.try_get("", "until")?),
        None => None,
    })
}

/// Rolls up every bucket that closed at least [`GRACE_SECONDS`] before
/// `now` and is not rolled up yet (at most [`STRETCHES_PER_RUN`] stretches
/// per width), and deletes rollups too old to be asked for.
pub async fn roll_up(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Done> {
    let backend = db.get_database_backend();
    let mut done = Done::default();
    for bucket in WIDTHS {
        let w = bucket.seconds();
        let end = (now.timestamp() - GRACE_SECONDS).div_euclid(w) * w;
        // The oldest bucket a chart of this width can ask for.
        let oldest = end - MAX_BUCKETS as i64 * w;
        // Before its first stretch, a width has no mark and the chart reads
        // the log alone; the first stretch starts at the oldest attempt.
        let mut from = match mark(db, bucket).await? {
            Some(m) => m,
            None => first_bucket(db, bucket).await?.unwrap_or(end),
        }
        .max(oldest);
        // A stretch is at most a day of attempts (one bucket, for days).
        let span = (86_400 / w).max(1) * w;
        for _ in 0..STRETCHES_PER_RUN {
            if from >= end {
                break;
            }
            let to = (from + span).min(end);
            done.rows += stretch(db, backend, bucket, from, to).await?;
            done.buckets += ((to - from) / w) as u64;
            from = to;
        }
        let sql = "DELETE FROM delivery_rollup WHERE width = ? AND bucket < ?";
        db.execute(statement(backend, sql, vec![w.into(), oldest.into()])).await?;
    }
    Ok(done)
}

/// The bucket of the oldest attempt in the log, if any.
async fn first_bucket(db: &DatabaseConnection, bucket: Bucket) -> Result<Option<i64>> {
    let backend = db.get_database_backend();
    let b = bucket_sql(backend, "created_at", bucket);
    let sql = format!("SELECT {b} AS first FROM delivery_attempt ORDER BY created_at LIMIT 1");
    Ok(match db.query_one(statement(backend, &sql, vec![])).await? {
        Some(r) => Some(r.try_get("", "first")?),
        None => None,
    })
}

/// Rolls up the buckets of `bucket`'s width in [from, to) and moves the
/// mark to `to`, in one transaction. Returns the rows written.
async fn stretch(db: &DatabaseConnection, backend: DbBackend, bucket: Bucket, from: i64, to: i64) -> Result<u64> {
    let w = bucket.seconds();
    let b = bucket_sql(backend, "created_at", bucket);
    let txn = db.begin().await?;
    // Left by a run that raced this one: written again below.
    let clear = "DELETE FROM delivery_rollup WHERE width = ? AND bucket >= ? AND bucket < ?";
    txn.execute(statement(backend, clear, vec![w.into(), from.into(), to.into()])).await?;
    let filter = "created_at >= ? AND created_at < ?";
    let mut rows = 0;
    let whole = format!("workspace_id, '{WHOLE_WORKSPACE}' AS webhook_id, ");
    for (select, group) in
        [("workspace_id, webhook_id, ", "workspace_id, webhook_id, "), (whole.as_str(), "workspace_id, ")]
    {
        let sql = format!(
            "INSERT INTO delivery_rollup (workspace_id, webhook_id, width, bucket, succeeded, failed, p50_ms, p99_ms) \
             SELECT workspace_id, webhook_id, {w}, bucket, succeeded, failed, p50, p99 FROM ({}) r",
            attempts_sql(backend, &b, select, group, filter)
        );
        let values: Vec<Value> = vec![start_of(from)?.into(), start_of(to)?.into()];
        rows += txn.execute(statement(backend, &sql, values)).await?.rows_affected();
    }
    set_mark(&txn, backend, w, to).await?;
    txn.commit().await?;
    Ok(rows)
}

async fn set_mark(db: &impl ConnectionTrait, backend: DbBackend, width: i64, until: i64) -> Result<()> {
    let sql = "INSERT INTO delivery_rollup_mark (width, until) VALUES (?, ?) \
               ON CONFLICT (width) DO UPDATE SET until = excluded.until";
    db.execute(statement(backend, sql, vec![width.into(), until.into()])).await?;
    Ok(())
}
