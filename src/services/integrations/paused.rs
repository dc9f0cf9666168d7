//! An inbound sync and its connection. A run that finds the workspace's
//! connection to the service gone, or refused by the provider (its
//! refresh failed: `needs_reauth`), does not fail: it ends `PAUSED` where
//! it stopped (the next page's request is kept, as a bound keeps it), and
//! the integration's status is left as it is. While a run waits so, the
//! schedule starts no other run. Making the connection again
//! (`connection.created`, or `connection.refreshed` with status
//! `connected`) queues the paused run again, in that event's transaction
//! ([`IntegrationFanOut`]), and it goes on from its page. A run that goes
//! ahead meanwhile (started by hand, or a tick after the connection was
//! mended without such an event) reads the listing on from the same page,
//! and the paused run is then skipped: it is not run twice.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionTrait,
};
use serde_json::json;

use entity::{integration, integration_run};

use super::sync::{IntegrationSync, RunStatus, KIND};
use super::{announce, connection_for};
use crate::error::Result;
use crate::events::{self, Envelope};
use crate::jobs::ledger::{self, NewJob};
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
        let mut am = run.into_active_model();
        am.status = sea_orm::Set(RunStatus::Skipped.as_str().into());
        am.note = sea_orm::Set(Some(skipped_note(run_id)));
        am.finished_at = sea_orm::Set(Some(Utc::now()));
        announce(st, &am.update(&st.writer).await?);
    }
    Ok(())
}

fn skipped_note(by: &str) -> String {
    format!("Not resumed: run {by} read the listing on from where this one paused")
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
    let txn = st.writer.begin().await?;
    let run = run.into_active_model().reset_all().update(&txn).await?;
    integration::Entity::update_many()
        .col_expr(C::ItemsSynced, Expr::col(C::ItemsSynced).add(items))
        .filter(C::Id.eq(integration_id))
        .exec(&txn)
        .await?;
    integration::Entity::update_many()
        .col_expr(C::SyncRunId, Expr::value(Option::<String>::None))
        .col_expr(C::SyncLeaseUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .filter(C::Id.eq(integration_id))
        .filter(C::SyncRunId.eq(&run.id))
        .exec(&txn)
        .await?;
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
            resume(db, e, &provider).await?;
        }
        Ok(())
    }
}

/// Queues again the newest paused run of each of the workspace's
/// integrations with `provider` (a job rung after the commit); older
/// paused ones are skipped.
async fn resume(db: &impl ConnectionTrait, e: &mut Envelope, provider: &str) -> Result<()> {
    let integrations: Vec<String> = integration::Entity::find()
        .filter(integration::Column::WorkspaceId.eq(&e.workspace_id))
        .filter(integration::Column::ServiceType.eq(provider))
        .all(db)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    if integrations.is_empty() {
        return Ok(());
    }
    let paused: Vec<integration_run::Model> = integration_run::Entity::find()
        .filter(integration_run::Column::IntegrationId.is_in(integrations))
        .filter(integration_run::Column::Status.eq(RunStatus::Paused.as_str()))
        .order_by_desc(integration_run::Column::CreatedAt)
        .order_by_desc(integration_run::Column::Id)
        .all(db)
        .await?;
    let mut resumed: Vec<(String, String)> = Vec::new();
    for run in paused {
        if let Some((_, by)) = resumed.iter().find(|(integration, _)| *integration == run.integration_id) {
            let note = skipped_note(by);
            let mut am = run.into_active_model();
            am.status = sea_orm::Set(RunStatus::Skipped.as_str().into());
            am.note = sea_orm::Set(Some(note));
            am.finished_at = sea_orm::Set(Some(Utc::now()));
            am.update(db).await?;
            continue;
        }
        // Only a run still paused is queued: one resumed meanwhile keeps its job.
        let queued = integration_run::Entity::update_many()
            .col_expr(integration_run::Column::Status, Expr::value(RunStatus::Queued.as_str()))
            .col_expr(integration_run::Column::Note, Expr::value(Option::<String>::None))
            .filter(integration_run::Column::Id.eq(&run.id))
            .filter(integration_run::Column::Status.eq(RunStatus::Paused.as_str()))
            .exec(db)
            .await?;
        if queued.rows_affected == 0 {
            continue;
        }
        let new = NewJob {
            kind: KIND.into(),
            payload: json!({ "run_id": run.id, "integration_id": run.integration_id }),
            workspace_id: Some(run.workspace_id.clone()),
            run_at: None,
            max_attempts: IntegrationSync.max_attempts(),
        };
        let job = ledger::insert(db, ledger::default_grace(), new).await?;
        e.jobs.push(crate::jobs::Message { job_id: job.id, kind: KIND.to_string() });
        resumed.push((run.integration_id, run.id));
    }
    Ok(())
}
