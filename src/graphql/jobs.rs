//! The job machinery seen from GraphQL: `queueStatus` (query and live
//! subscription), dead jobs and `requeueDeadJobs`. Queue figures are
//! server-wide, so they are shown to workspace owners only.

use std::time::Duration;

use async_graphql::{Context, InputObject, Object, Result, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use crate::auth::Scope;
use crate::graphql::cost;
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::states::JobState;
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::ContextExt;
use crate::jobs::ledger;
use crate::services::jobs as job_service;
use crate::state::AppState;

/// One kind of job in the queue.
#[derive(SimpleObject, Clone, PartialEq)]
pub struct QueueKindStatus {
    /// The job kind, e.g. `webhook.deliver` or `record.process`.
    pub kind: String,
    /// Waiting to be handed to a worker.
    pub pending: u64,
    /// Waiting for their run time (scheduled or retrying).
    pub delayed: u64,
    /// Running on a worker now.
    pub in_flight: u64,
    /// Given up after their last attempt.
    pub dead: u64,
    /// Jobs of this kind finished successfully in the last 60 seconds.
    pub done_last_minute: u64,
    /// Attempts of this kind that failed in the last 60 seconds.
    pub failed_last_minute: u64,
    /// Age of the oldest pending job, in milliseconds.
    pub oldest_pending_age_ms: Option<u64>,
}

/// The whole queue at one moment.
#[derive(SimpleObject, Clone)]
pub struct QueueStatus {
    /// `redis` or `embedded`.
    pub backend: String,
    /// Worker processes seen in the last 15 seconds.
    pub live_workers: u64,
    /// The figures for each job kind.
    pub kinds: Vec<QueueKindStatus>,
    /// When these figures were taken.
    pub at: DateTime<Utc>,
}

async fn status(st: &AppState) -> crate::Result<QueueStatus> {
    let mut stats = st.queue.stats(&st.registry.kinds()).await?;
    // Dead jobs are counted in the ledger (the queue's dead-letter list is a
    // capped operator log that requeues do not shrink).
    for k in &mut stats {
        k.dead = ledger::count(&st.db, &k.kind, ledger::DEAD).await?;
    }
    Ok(QueueStatus {
        backend: st.queue.backend().to_string(),
        live_workers: st.queue.live_workers().await?,
        kinds: stats
            .into_iter()
            .map(|k| QueueKindStatus {
                kind: k.kind,
                pending: k.pending,
                delayed: k.delayed,
                in_flight: k.in_flight,
                dead: k.dead,
                done_last_minute: k.done_last_minute,
                failed_last_minute: k.failed_last_minute,
                oldest_pending_age_ms: k.oldest_pending_age.map(|d| d.as_millis() as u64),
            })
            .collect(),
        at: Utc::now(),
    })
}

/// A background job: a webhook delivery, a record to process, a scheduled task.
#[derive(SimpleObject)]
pub struct Job {
    /// The job's id (`job_…`).
    pub id: ID,
    /// What the job does, e.g. `webhook.deliver`; an open set that grows
    /// with new features.
    pub kind: String,
    /// Where the job stands.
    pub status: JobState,
    /// Attempts made so far.
    pub attempts: i32,
    /// Attempts allowed before the job is given up (`DEAD`).
    pub max_attempts: i32,
    /// Why the latest attempt failed; null when none failed.
    pub last_error: Option<String>,
    /// The job's input, as its kind defines it.
    pub payload: async_graphql::Json<serde_json::Value>,
    /// When the job is (or was) due to run.
    pub run_at: DateTime<Utc>,
    /// When the job was queued.
    pub created_at: DateTime<Utc>,
    /// When the job finished or was given up; null while it is queued or running.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<entity::job::Model> for Job {
    fn from(j: entity::job::Model) -> Self {
        Self {
            id: ID(j.id),
            kind: j.kind,
            status: JobState::from_stored(&j.state),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            last_error: j.last_error,
            payload: async_graphql::Json(j.payload),
            run_at: j.run_at,
            created_at: j.created_at,
            finished_at: j.finished_at,
        }
    }
}

#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// Pending, delayed, running and dead jobs per kind, recent outcomes and
    /// live workers (owner only).
    async fn queue_status(&self, ctx: &Context<'_>) -> Result<QueueStatus> {
        ctx.principal()?.require(Scope::Read)?.require_owner()?;
        Ok(status(ctx.app()).await?)
    }

    /// Jobs that used up their attempts, newest first: the workspace's and
    /// the server's own (owner only).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn dead_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only jobs of this kind, e.g. `webhook.deliver`; none: every kind.")] kind: Option<String>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last job of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1 to 100: the jobs just newer than `before` (or the oldest ones).")]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first job of the next page, to page back towards newer ones.")] before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<Job>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "job")?;
        let rows = job_service::dead_jobs(&ctx.app().db, ctx.principal()?, kind.as_deref(), &page).await?;
        Ok(connection(rows, |j| j.id.clone(), Job::from))
    }
}

/// Which dead jobs to put back in the queue; without `kind` and `ids`, all
/// of them (up to 1000).
#[derive(InputObject, Default)]
pub struct RequeueDeadJobsInput {
    /// Only dead jobs of this kind.
    pub kind: Option<String>,
    /// Only these jobs (`job_…`), 1 to 1000 of them.
    pub ids: Option<Vec<ID>>,
}

/// The jobs put back in the queue.
#[derive(SimpleObject)]
pub struct RequeueDeadJobsPayload {
    /// How many jobs were requeued.
    pub requeued: u64,
    /// The requeued jobs.
    pub jobs: Vec<Job>,
    /// Problems with the input; when there are any, nothing was requeued.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct JobMutation;

#[Object]
impl JobMutation {
    /// Puts dead jobs back in the queue with fresh attempts: all of them
    /// (up to 1000), those of one `kind`, or the given `ids` (owner only).
    async fn requeue_dead_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which dead jobs; `{}` for all.")] input: RequeueDeadJobsInput,
    ) -> Result<RequeueDeadJobsPayload> {
        let ids = input.ids.map(|v| v.into_iter().map(|i| i.0).collect());
        let requeued = job_service::requeue_dead(ctx.app(), ctx.principal()?, input.kind.as_deref(), ids).await;
        Ok(match user_errors(requeued)? {
            Ok(rows) => RequeueDeadJobsPayload {
                requeued: rows.len() as u64,
                jobs: rows.into_iter().map(Job::from).collect(),
                user_errors: vec![],
            },
            Err(e) => RequeueDeadJobsPayload { requeued: 0, jobs: vec![], user_errors: e },
        })
    }
}

#[derive(Default)]
pub struct JobSubscription;

#[Subscription]
impl JobSubscription {
    /// The queue status now and then every `SWITCHYARD_QUEUE_STATUS_INTERVAL_MS`
    /// (owner only). Ends when the server shuts down.
    async fn queue_status(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = QueueStatus>> {
        ctx.principal()?.require(Scope::Read)?.require_owner()?;
        let st = ctx.app().clone();
        let every = Duration::from_millis(st.config.queue_status_interval_ms);
        let stop = st.shutdown.clone();
        let ticks = tokio_stream_interval(every);
        Ok(ticks
            .then(move |_| {
                let st = st.clone();
                async move { status(&st).await }
            })
            .filter_map(|r| async move { r.map_err(|e| tracing::warn!(cause = %e, "queue status unavailable")).ok() })
            .take_until(stop.cancelled_owned()))
    }
}

/// An endless stream that yields at once and then every `every`.
pub(crate) fn tokio_stream_interval(every: Duration) -> impl Stream<Item = ()> {
    futures_util::stream::unfold(tokio::time::interval(every), |mut i| async move {
        i.tick().await;
        Some(((), i))
    })
}
