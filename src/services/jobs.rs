//! Dead jobs of the caller's workspace: listing them and putting them back
//! in the queue (owner only). The job ledger itself is the engine's
//! ([`crate::jobs::ledger`]).

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use entity::job;

use crate::auth::{Principal, Scope};
use crate::error::{Error, Result};
use crate::jobs::ledger::{ring, DEAD, QUEUED};
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::state::AppState;

/// Dead jobs the caller may see: their workspace's only (system jobs are
/// the operator's, seen in logs and metrics).
fn visible_to(p: &Principal) -> Condition {
    Condition::all().add(job::Column::WorkspaceId.eq(&p.workspace_id))
}

pub async fn dead_jobs(
    db: &impl ConnectionTrait,
    p: &Principal,
    kind: Option<&str>,
    page: &PageArgs,
) -> Result<Page<job::Model>> {
    p.require(Scope::Read)?.require_owner()?;
    let mut q = job::Entity::find().filter(job::Column::State.eq(DEAD)).filter(visible_to(p));
    if let Some(k) = kind {
        q = q.filter(job::Column::Kind.eq(k));
    }
    fetch_page(db, q, job::Column::Id, page).await
}

/// Puts dead jobs back in the queue with fresh attempts (owner only).
pub async fn requeue_dead(
    st: &AppState,
    p: &Principal,
    kind: Option<&str>,
    ids: Option<Vec<String>>,
) -> Result<Vec<job::Model>> {
    p.require(Scope::Write)?.require_owner()?;
    let mut q = job::Entity::find().filter(job::Column::State.eq(DEAD)).filter(visible_to(p));
    if let Some(k) = kind {
        q = q.filter(job::Column::Kind.eq(k));
    }
    if let Some(ids) = &ids {
        if ids.is_empty() || ids.len() > 1000 {
            return Err(Error::invalid_field("ids", "Give between 1 and 1000 ids"));
        }
        q = q.filter(job::Column::Id.is_in(ids.clone()));
    }
    let rows = q.limit(1000).all(&st.db).await?;
    let now = Utc::now();
    let mut out = Vec::new();
    for row in rows {
        let mut am: job::ActiveModel = row.into();
        am.state = Set(QUEUED.into());
        am.attempts = Set(0);
        am.run_at = Set(now);
        am.visible_at = Set(now + chrono::Duration::from_std(st.sweep_grace()).unwrap_or_default());
        am.finished_at = Set(None);
        am.lease_owner = Set(None);
        am.updated_at = Set(now);
        let row = am.update(&st.writer).await?;
        if let Some(handler) = st.registry.get(&row.kind) {
            handler.on_requeue(st, &row).await?;
        }
        ring(st, &row).await;
        out.push(row);
    }
    // The queue's dead-letter list is an operator's log shared by every
    // workspace; the ledger is the truth, so it is left as it is.
    Ok(out)
}
