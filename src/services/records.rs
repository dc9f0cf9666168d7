//! Records of data endpoints: accepting a create, replace or delete (the
//! row is committed before the 202, so nothing accepted is lost), reading,
//! and the `record.process` job that applies the change and emits
//! `record.created/updated/deleted` (which fan out to webhooks).

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, TransactionTrait,
};
use serde_json::json;

use entity::{data_endpoint, data_key, record};

use crate::auth::{Principal, Scope};
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::ids::{has_prefix, new_id};
use crate::services::jobs::{self, NewJob};
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::state::AppState;

pub const KIND: &str = "record.process";
pub const QUEUED: &str = "queued";
pub const PROCESSING: &str = "processing";
pub const PROCESSED: &str = "processed";
pub const FAILED: &str = "failed";
pub const DELETED: &str = "deleted";

/// The change a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Replace,
    Delete,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Replace => "replace",
            Self::Delete => "delete",
        }
    }
}

/// Commits the record change and its processing job in one transaction,
/// then rings the queue. Returns the record id for the 202.
pub async fn accept(
    st: &AppState,
    key: &data_key::Model,
    endpoint: &data_endpoint::Model,
    op: Operation,
    record_id: Option<&str>,
    body: Option<serde_json::Value>,
) -> Result<String> {
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let id = match (op, record_id) {
        (Operation::Create, _) => {
            let id = new_id("rec");
            record::ActiveModel {
                id: Set(id.clone()),
                workspace_id: Set(key.workspace_id.clone()),
                endpoint_id: Set(endpoint.id.clone()),
                environment: Set(key.environment.clone()),
                data: Set(None),
                pending: Set(body),
                operation: Set(op.as_str().into()),
                state: Set(QUEUED.into()),
                error: Set(None),
                key_id: Set(key.id.clone()),
                created_at: Set(now),
                updated_at: Set(now),
                processed_at: Set(None),
            }
            .insert(&txn)
            .await?;
            id
        }
        (_, Some(id)) => {
            let row = find_live(&txn, key, endpoint, id).await?;
            let mut am = row.into_active_model();
            am.pending = Set(body);
            am.operation = Set(op.as_str().into());
            am.state = Set(QUEUED.into());
            am.error = Set(None);
            am.key_id = Set(key.id.clone());
            am.updated_at = Set(now);
            am.update(&txn).await?.id
        }
        (_, None) => return Err(Error::internal("replace or delete without a record id")),
    };
    let job = jobs::insert(
        &txn,
        st.sweep_grace(),
        NewJob {
            kind: KIND.into(),
            payload: json!({ "record_id": id }),
            workspace_id: Some(key.workspace_id.clone()),
            run_at: None,
            max_attempts: 5,
        },
    )
    .await?;
    txn.commit().await?;
    jobs::ring(st, &job).await;
    Ok(id)
}

/// A record of this endpoint in the key's environment that is not deleted.
pub async fn find_live(
    db: &impl ConnectionTrait,
    key: &data_key::Model,
    endpoint: &data_endpoint::Model,
    id: &str,
) -> Result<record::Model> {
    if !has_prefix(id, "rec") {
        return Err(Error::NotFound("Record"));
    }
    record::Entity::find_by_id(id)
        .filter(record::Column::WorkspaceId.eq(&key.workspace_id))
        .filter(record::Column::EndpointId.eq(&endpoint.id))
        .filter(record::Column::Environment.eq(&key.environment))
        .filter(record::Column::State.ne(DELETED))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Record"))
}

/// The `record.process` job: applies the pending change (idempotent: a
/// record already processed for this change is left alone).
pub async fn process(st: &AppState, job: &entity::job::Model) -> Result<()> {
    let id = job.payload["record_id"].as_str().ok_or_else(|| Error::internal("job without record_id"))?;
    let txn = st.writer.begin().await?;
    let Some(row) = record::Entity::find_by_id(id).one(&txn).await? else {
        return Ok(());
    };
    if row.state != QUEUED && row.state != PROCESSING {
        return Ok(());
    }
    let now = Utc::now();
    let (event, data, state) = match row.operation.as_str() {
        "create" => (EventType::RecordCreated, row.pending.clone(), PROCESSED),
        "replace" => (EventType::RecordUpdated, row.pending.clone(), PROCESSED),
        _ => (EventType::RecordDeleted, None, DELETED),
    };
    let payload = json!({
        "id": row.id, "endpoint_id": row.endpoint_id, "environment": row.environment,
        "data": data.clone().or(row.data.clone()),
    });
    let ws = row.workspace_id.clone();
    let mut am = row.into_active_model();
    am.data = Set(data);
    am.pending = Set(None);
    am.state = Set(state.into());
    am.processed_at = Set(Some(now));
    am.updated_at = Set(now);
    let row = am.update(&txn).await?;
    let evt = events::record(&txn, &ws, event, "system", Some(&row.id), payload).await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok(())
}

#[derive(Default)]
pub struct RecordFilter {
    pub endpoint_id: Option<String>,
    pub environment: Option<String>,
    pub state: Option<String>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    f: RecordFilter,
    page: &PageArgs,
) -> Result<Page<record::Model>> {
    p.require(Scope::Read)?;
    let mut q = record::Entity::find().filter(record::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(e) = f.endpoint_id {
        q = q.filter(record::Column::EndpointId.eq(e));
    }
    if let Some(e) = f.environment {
        q = q.filter(record::Column::Environment.eq(e));
    }
    if let Some(s) = f.state {
        q = q.filter(record::Column::State.eq(s));
    }
    fetch_page(db, q, record::Column::Id, page).await
}

pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<record::Model> {
    p.require(Scope::Read)?;
    if !has_prefix(id, "rec") {
        return Err(Error::NotFound("Record"));
    }
    record::Entity::find_by_id(id)
        .filter(record::Column::WorkspaceId.eq(&p.workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Record"))
}
