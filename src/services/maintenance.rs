//! Housekeeping: the hourly `maintenance.prune` job, which deletes what has
//! outlived its use (expired sessions and setup links, old finished jobs,
//! old delivery logs).

use chrono::Utc;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use entity::{delivery, delivery_attempt, invitation, job, login_token, session};

use crate::error::Result;
use crate::jobs::ledger::DONE;
use crate::jobs::Handler;
use crate::state::AppState;

/// The job kind, scheduled hourly at start-up.
pub const KIND: &str = "maintenance.prune";

/// `maintenance.prune`: deletes expired sessions, spent or expired setup
/// links, accepted invitations and those expired for more than
/// [`INVITATION_KEPT_DAYS`](super::invitations::INVITATION_KEPT_DAYS) days, finished jobs older than the job retention period, and delivery
/// logs and connection call logs older than the delivery-log retention
/// period, and idempotency keys past their 24 hours. Scheduled hourly.
pub struct Prune;

#[async_trait::async_trait]
impl Handler for Prune {
    fn kind(&self) -> &'static str {
        KIND
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
        let stale = now - chrono::Duration::days(super::invitations::INVITATION_KEPT_DAYS);
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
            .filter(delivery::Column::State.ne(super::deliveries::PENDING))
            .exec(&st.writer)
            .await?;
        let calls = super::connections::call::prune(&st.writer, st.config.delivery_log_retention_days as i64).await?;
        let idempotency_keys = super::idempotency::prune(&st.writer).await?;
        tracing::info!(
            idempotency_keys,
            connection_calls = calls,
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
