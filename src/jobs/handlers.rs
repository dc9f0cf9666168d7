//! Built-in job kinds.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use entity::{delivery, delivery_attempt, invitation, job, login_token, session};

use super::Handler;
use crate::error::{Error, Result};
use crate::services::jobs::DONE;
use crate::state::AppState;

/// `diagnostic.noop`: does nothing, for benchmarks and end-to-end checks of
/// the machinery. Payload (all optional): `sleep_ms` (≤ 60000), `fail_attempts`
/// (fail while the attempt number is at most this), `panic` (panic instead of
/// failing), `retry_delay_ms` (wait between attempts), `timeout_ms` (its
/// time limit, default 30 s).
pub struct Noop;

#[async_trait::async_trait]
impl Handler for Noop {
    fn kind(&self) -> &'static str {
        "diagnostic.noop"
    }

    fn timeout(&self, job: &job::Model) -> Duration {
        match job.payload.get("timeout_ms").and_then(|v| v.as_u64()) {
            Some(ms) => Duration::from_millis(ms.clamp(1, 300_000)),
            None => Duration::from_secs(30),
        }
    }

    fn backoff(&self, job: &job::Model) -> Duration {
        match job.payload.get("retry_delay_ms").and_then(|v| v.as_u64()) {
            Some(ms) => Duration::from_millis(ms.min(600_000)),
            None => Duration::from_secs(1),
        }
    }

    async fn run(&self, _st: &AppState, job: &job::Model) -> Result<()> {
        let p = &job.payload;
        if let Some(ms) = p.get("sleep_ms").and_then(|v| v.as_u64()) {
            tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        }
        let fail_attempts = p.get("fail_attempts").and_then(|v| v.as_i64()).unwrap_or(0);
        if i64::from(job.attempts) <= fail_attempts {
            if p.get("panic").and_then(|v| v.as_bool()).unwrap_or(false) {
                panic!("diagnostic panic on attempt {}", job.attempts);
            }
            return Err(Error::internal(format!("diagnostic failure on attempt {}", job.attempts)));
        }
        Ok(())
    }
}

/// `maintenance.prune`: deletes expired sessions, spent or expired setup
/// links, accepted invitations and those expired for more than
/// [`INVITATION_KEPT_DAYS`](crate::services::invitations::INVITATION_KEPT_DAYS), finished jobs older than the job retention period, and delivery
/// logs older than the delivery-log retention period. Scheduled hourly.
pub struct Prune;

#[async_trait::async_trait]
impl Handler for Prune {
    fn kind(&self) -> &'static str {
        "maintenance.prune"
    }

    fn max_attempts(&self) -> u32 {
        3
    }

    async fn run(&self, st: &AppState, _job: &job::Model) -> Result<()> {
        let now = Utc::now();
        let sessions =
            session::Entity::delete_many().filter(session::Column::ExpiresAt.lte(now)).exec(&st.writer).await?;
        let tokens = login_token::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(login_token::Column::ExpiresAt.lte(now))
                    .add(login_token::Column::UsedAt.is_not_null()),
            )
            .exec(&st.writer)
            .await?;
        let stale = now - chrono::Duration::days(crate::services::invitations::INVITATION_KEPT_DAYS);
        let invitations = invitation::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(invitation::Column::AcceptedAt.is_not_null())
                    .add(invitation::Column::ExpiresAt.lte(stale)),
            )
            .exec(&st.writer)
            .await?;
        let cutoff = now - chrono::Duration::days(st.config.job_retention_days as i64);
        let jobs = job::Entity::delete_many()
            .filter(job::Column::State.eq(DONE))
            .filter(job::Column::FinishedAt.lte(cutoff))
            .exec(&st.writer)
            .await?;
        let logs = now - chrono::Duration::days(st.config.delivery_log_retention_days as i64);
        let attempts = delivery_attempt::Entity::delete_many()
            .filter(delivery_attempt::Column::CreatedAt.lte(logs))
            .exec(&st.writer)
            .await?;
        let deliveries = delivery::Entity::delete_many()
            .filter(delivery::Column::CreatedAt.lte(logs))
            .filter(delivery::Column::State.ne(crate::services::deliveries::PENDING))
            .exec(&st.writer)
            .await?;
        tracing::info!(
            delivery_attempts = attempts.rows_affected,
            deliveries = deliveries.rows_affected,
            sessions = sessions.rows_affected,
            setup_links = tokens.rows_affected,
            invitations = invitations.rows_affected,
            jobs = jobs.rows_affected,
            "pruned"
        );
        Ok(())
    }
}

/// `webhook.deliver`: one signed attempt of a delivery; retries follow the
/// webhook's schedule (carried in the job's payload) with ±20 % jitter.
pub struct Deliver;

#[async_trait::async_trait]
impl Handler for Deliver {
    fn kind(&self) -> &'static str {
        crate::services::deliveries::KIND
    }

    fn emits_events(&self) -> bool {
        false
    }

    fn timeout(&self, _job: &job::Model) -> Duration {
        // The longest request a webhook may allow (60 s) plus time to sign
        // and record: the request's own timeout always fires first.
        Duration::from_secs(65)
    }

    fn backoff(&self, job: &job::Model) -> Duration {
        let schedule: Vec<u64> = job
            .payload
            .get("schedule")
            .and_then(|s| s.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
            .unwrap_or_default();
        crate::delivery::retry_delay(&schedule, job.attempts.max(1) as usize)
    }

    async fn run(&self, st: &AppState, job: &job::Model) -> Result<()> {
        crate::services::deliveries::run_job(st, job).await
    }

    async fn on_dead(&self, st: &AppState, job: &job::Model, _error: &str) -> Result<()> {
        // The attempt log already holds the error.
        crate::services::deliveries::job_died(st, job).await
    }
}

/// `record.process`: applies a data-endpoint record change (seed 001).
pub struct ProcessRecord;

#[async_trait::async_trait]
impl Handler for ProcessRecord {
    fn kind(&self) -> &'static str {
        crate::services::records::KIND
    }

    fn emits_events(&self) -> bool {
        // The record.* events say it already.
        false
    }

    async fn run(&self, st: &AppState, job: &job::Model) -> Result<()> {
        crate::services::records::process(st, job).await
    }

    async fn on_dead(&self, st: &AppState, job: &job::Model, error: &str) -> Result<()> {
        crate::services::records::process_died(st, job, error).await
    }
}

/// `record.callback`: sends a record's processing result to the request's
/// `X-Webhook-Callback` (seed 001: at most 3 retries, 60 s apart; the gap is
/// `SWITCHYARD_COLLABORATOR_RETRY_SECONDS`).
pub struct RecordCallback;

#[async_trait::async_trait]
impl Handler for RecordCallback {
    fn kind(&self) -> &'static str {
        crate::services::records::CALLBACK_KIND
    }

    fn max_attempts(&self) -> u32 {
        4
    }

    fn emits_events(&self) -> bool {
        false
    }

    fn backoff(&self, job: &job::Model) -> Duration {
        Duration::from_secs(job.payload.get("retry_seconds").and_then(|v| v.as_u64()).unwrap_or(60))
    }

    async fn run(&self, st: &AppState, job: &job::Model) -> Result<()> {
        crate::services::records::send_callback(st, job).await
    }

    async fn on_dead(&self, st: &AppState, job: &job::Model, error: &str) -> Result<()> {
        crate::services::records::callback_died(st, job, error).await
    }
}
