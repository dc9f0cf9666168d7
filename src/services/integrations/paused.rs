//! An inbound sync and its connection. A run that finds the workspace's
//! connection to the service gone, or refused by the provider (its
//! refresh failed: `needs_reauth`), does not fail: it ends `PAUSED` where
//! it stopped (the next page's request is kept, as a bound keeps it), and
//! the integration's status is left as it is. While a run waits so, the
//! schedule starts no other run. Making the connection again
//! (`connection.created`, or `connection.refreshed` with status
//! `connected`) queues the paused run again, in that event's transaction
//! ([`IntegrationFanOut`]), under a job of its own, and it goes on from its
//! page; a retry of the job that paused it does nothing. A run that paused
//! just as its connection was made again (after that event's hook looked),
//! or whose connection came back without such an event, is resumed by
//! [`ResumeStranded`] within half a minute. A run that goes ahead meanwhile
//! (started by hand, or a tick once the connection works again) reads the
//! listing on from the same page, and the paused run is then skipped: it is
//! not run twice. The runs of an integration that is off, and scheduled
//! runs while auto-sync is off, stay paused.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use entity::{connection, integration, integration_run, job};

use super::sync::{run_job, RunStatus, Trigger, KIND};
use super::{announce, connection_for, live_message, IntegrationStatus};
use crate::error::Result;
use crate::events::{self, Envelope};
use crate::jobs::ledger;
use crate::jobs::Handler;
use crate::services::connections::{catalog, ConnectionStatus};
use crate::state::AppState;

/// Why a run paused before it asked for anything: the workspace's
/// connection to `provider` is gone (`exists` false) or must be made again.
pub(super) fn reason(provider: &str, exists: bool) -> String {
    let name = catalog::get(provider).map_or(provider, |p| p.name.as_str());
    match exists {
        true => format!("The {name} connection needs to be reconnected"),
        false => format!("The workspace has no {name} connection"),
    }
}

/// Whether a paused run of `i` still waits for its connection: a
/// scheduled tick then starts no run. Once the connection works again
/// (mended without an event that resumes the run), the tick goes ahead.
pub(super) async fn waits_for_reconnect(db: &impl ConnectionTrait, i: &integration::Model) -> Result<bool> {
    let paused = integration_run::Entity::find()
        .filter(integration_run::Column::IntegrationId.eq(&i.id))
        .filter(integration_run::Column::Status.eq(RunStatus::Paused.as_str()))
        .one(db)
        .await?;
    if paused.is_none() {
        return Ok(false);
    }
    let connection = connection_for(db, &i.workspace_id, &i.service_type).await?;
    Ok(connection.is_none_or(|c| c.status != ConnectionStatus::Connected.as_str()))
}

/// The run `run_id` holds the integration's sync and reads on from where
/// the last run stopped: the integration's paused runs other than it are
/// skipped, so none of them runs that part again.
pub(super) async fn supersede(st: &AppState, integration_id: &str, run_id: &str) -> Result<()> {
    let waiting = integration_run::Entity::find()
        .filter(integration_run::Column::IntegrationId.eq(integration_id))
        .filter(integration_run::Column::Status.eq(RunStatus::Paused.as_str()))
        .filter(integration_run::Column::Id.ne(run_id))
        .all(&st.writer)
        .await?;
    for run in waiting {
        use integration_run::Column as C;
        let (note, now) = (skipped_note(run_id), Utc::now());
        // Only while still paused: one resumed meanwhile keeps its job.
        let skipped = integration_run::Entity::update_many()
            .col_expr(C::Status, Expr::value(RunStatus::Skipped.as_str()))
            .col_expr(C::Note, Expr::value(note.clone()))
            .col_expr(C::FinishedAt, Expr::value(now))
            .filter(C::Id.eq(&run.id))
            .filter(C::Status.eq(RunStatus::Paused.as_str()))
            .exec(&st.writer)
            .await?;
        if skipped.rows_affected == 1 {
            let status = RunStatus::Skipped.as_str().into();
            announce(st, &integration_run::Model { status, note: Some(note), finished_at: Some(now), ..run });
        }
    }
    Ok(())
}

fn skipped_note(by: &str) -> String {
    format!("Not resumed: run {by} started after this one paused, and goes on from where it stopped")
}

/// Ends a run paused (see the module's header): what it stored so far is
/// counted, the sync's hold is given back, the integration's status and
/// last error are left as they are.
pub(super) async fn pause(
    st: &AppState,
    integration_id: &str,
    mut run: integration_run::Model,
    items: i64,
    why: String,
) -> Result<()> {
    use integration::Column as C;
    run.status = RunStatus::Paused.as_str().into();
    run.items += items;
    run.note = Some(format!("{why}: the run goes on when it is connected again"));
    run.finished_at = Some(Utc::now());
    let txn = st.writer.begin().await?;
    let run = run.into_active_model().reset_all().update(&txn).await?;
    integration::Entity::update_many()
        .col_expr(C::ItemsSynced, Expr::col(C::ItemsSynced).add(items))
        .filter(C::Id.eq(integration_id))
        .exec(&txn)
        .await?;
    super::sync::release(&txn, integration_id, &run.id).await?;
    txn.commit().await?;
    announce(st, &run);
    Ok(())
}

/// Resumes paused syncs when their connection is made again (see the
/// module's header), inside the connection event's transaction.
pub struct IntegrationFanOut;

#[async_trait::async_trait]
impl events::hooks::FanOut for IntegrationFanOut {
    fn name(&self) -> &'static str {
        "integrations"
    }

    async fn fan_out(&self, db: &events::hooks::DynConnection<'_>, events: &mut [Envelope]) -> Result<()> {
        for e in events.iter_mut() {
            if !matches!(e.event_type.as_str(), "connection.created" | "connection.refreshed") {
                continue;
            }
            if e.data["status"].as_str() != Some(ConnectionStatus::Connected.as_str()) {
                continue;
            }
            let Some(provider) = e.data["provider"].as_str().map(str::to_string) else { continue };
            let integrations: Vec<integration::Model> = integration::Entity::find()
                .filter(integration::Column::WorkspaceId.eq(&e.workspace_id))
                .filter(integration::Column::ServiceType.eq(provider))
                .all(db)
                .await?;
            if integrations.is_empty() {
                continue;
            }
            let ids: Vec<String> = integrations.iter().map(|i| i.id.clone()).collect();
            let paused = integration_run::Entity::find()
                .filter(integration_run::Column::IntegrationId.is_in(ids))
                .filter(integration_run::Column::Status.eq(RunStatus::Paused.as_str()))
                .all(db)
                .await?;
            for run in paused {
                let Some(i) = integrations.iter().find(|i| i.id == run.integration_id) else { continue };
                if let Some((job, run)) = requeue(db, ledger::default_grace(), i, run).await? {
                    e.jobs.push(crate::jobs::Message { job_id: job.id, kind: KIND.to_string() });
                    // Shown QUEUED again once the event commits.
                    e.live.push(live_message(&run));
                }
            }
        }
        Ok(())
    }
}

/// Whether a paused run of `i` may be resumed: the integration is not
/// off, and a scheduled run's auto-sync is still on.
fn may_resume(i: &integration::Model, run: &integration_run::Model) -> bool {
    IntegrationStatus::parse(&i.status) != IntegrationStatus::Inactive
        && (Trigger::parse(&run.trigger) == Trigger::Manual || i.auto_sync)
}

/// Queues a paused run again under a new job (written, not rung), if it
/// may be resumed and is still paused; returns the job and the run as queued.
async fn requeue(
    db: &impl ConnectionTrait,
    grace: Duration,
    i: &integration::Model,
    run: integration_run::Model,
) -> Result<Option<(job::Model, integration_run::Model)>> {
    use integration_run::Column as C;
    if !may_resume(i, &run) {
        return Ok(None);
    }
    let job = run_job(grace, &run);
    // Only a run still paused: one resumed meanwhile keeps its job.
    let queued = integration_run::Entity::update_many()
        .col_expr(C::Status, Expr::value(RunStatus::Queued.as_str()))
        .col_expr(C::Note, Expr::value(Option::<String>::None))
        .col_expr(C::FinishedAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .col_expr(C::JobId, Expr::value(job.id.clone()))
        .filter(C::Id.eq(&run.id))
        .filter(C::Status.eq(RunStatus::Paused.as_str()))
        .exec(db)
        .await?;
    if queued.rows_affected == 0 {
        return Ok(None);
    }
    ledger::insert_rows(db, std::slice::from_ref(&job)).await?;
    let run = integration_run::Model {
        status: RunStatus::Queued.as_str().into(),
        note: None,
        finished_at: None,
        job_id: Some(job.id.clone()),
        ..run
    };
    Ok(Some((job, run)))
}

/// The job kind of [`ResumeStranded`].
pub const RESUME_KIND: &str = "integrations.resume";

/// How often [`ResumeStranded`] looks.
pub const RESUME_EVERY: Duration = Duration::from_secs(30);

/// How long a run stays paused before [`ResumeStranded`] looks at its
/// connection itself: a reconnect's hook resumes it sooner.
const STRANDED_AFTER: chrono::Duration = chrono::Duration::seconds(10);

/// Paused runs one pass looks at, oldest pause first.
const STRANDED_PAGE: u64 = 500;

/// `integrations.resume`: queues again the runs paused for a while whose
/// connection works again (see the module's header).
pub struct ResumeStranded;

#[async_trait::async_trait]
impl Handler for ResumeStranded {
    fn kind(&self) -> &'static str {
        RESUME_KIND
    }

    fn max_attempts(&self) -> u32 {
        1
    }

    fn emits_events(&self) -> bool {
        false
    }

    async fn run(&self, st: &AppState, _job: &job::Model) -> Result<()> {
        resume_stranded(st).await.map(|_| ())
    }
}

/// One pass of [`ResumeStranded`]; returns how many runs it queued. Only
/// runs that may go on are read (their integration is on, its connection
/// works, a scheduled run's auto-sync is on), so runs that wait for good
/// never crowd out the others; each is queued in a short transaction of its own.
pub async fn resume_stranded(st: &AppState) -> Result<usize> {
    use integration::Column as I;
    use integration_run::Column as R;
    let before = Utc::now() - STRANDED_AFTER;
    let works = Query::select()
        .expr(Expr::val(1))
        .from(connection::Entity)
        .and_where(
            Expr::col((connection::Entity, connection::Column::WorkspaceId))
                .equals((integration::Entity, I::WorkspaceId)),
        )
        .and_where(
            Expr::col((connection::Entity, connection::Column::Provider)).equals((integration::Entity, I::ServiceType)),
        )
        .and_where(Expr::col((connection::Entity, connection::Column::Status)).eq(ConnectionStatus::Connected.as_str()))
        .to_owned();
    let usable = Query::select()
        .column((integration::Entity, I::Id))
        .from(integration::Entity)
        .and_where(Expr::col((integration::Entity, I::Status)).ne(IntegrationStatus::Inactive.as_str()))
        .and_where(Expr::exists(works))
        .to_owned();
    let auto = Query::select()
        .column((integration::Entity, I::Id))
        .from(integration::Entity)
        .and_where(Expr::col((integration::Entity, I::AutoSync)).eq(true))
        .to_owned();
    let paused = integration_run::Entity::find()
        .filter(R::Status.eq(RunStatus::Paused.as_str()))
        // Paused long enough for a reconnect's hook to have had its turn
        // (a run without a pause time has waited since it was made).
        .filter(Condition::any().add(R::FinishedAt.lt(before)).add(R::FinishedAt.is_null()))
        .filter(R::IntegrationId.in_subquery(usable))
        .filter(Condition::any().add(R::Trigger.eq(Trigger::Manual.as_str())).add(R::IntegrationId.in_subquery(auto)))
        .order_by_asc(R::CreatedAt)
        .limit(STRANDED_PAGE)
        .all(&st.db)
        .await?;
    if paused.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = paused.iter().map(|r| r.integration_id.clone()).collect();
    let integrations = integration::Entity::find().filter(I::Id.is_in(ids)).all(&st.db).await?;
    let mut queued = 0;
    for run in paused {
        let Some(i) = integrations.iter().find(|i| i.id == run.integration_id) else { continue };
        let txn = st.writer.begin().await?;
        let Some((job, run)) = requeue(&txn, st.sweep_grace(), i, run).await? else { continue };
        txn.commit().await?;
        ledger::ring(st, &job).await;
        announce(st, &run);
        queued += 1;
    }
    if queued > 0 {
        tracing::info!(runs = queued, "resumed paused integration syncs whose connections work again");
    }
    Ok(queued)
}
