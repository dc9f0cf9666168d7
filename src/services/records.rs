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

/// Where a request wants its processing result sent (`X-Webhook-Callback`,
/// `X-Webhook-Auth-Header`, `X-Webhook-Auth`).
pub struct Callback {
    pub url: String,
    pub auth_header: Option<String>,
    pub auth_value: Option<String>,
}

/// Commits the record change and its processing job in one transaction,
/// then rings the queue. Returns the record id for the 202.
/// One accepted request: what to do to which record.
pub struct Change<'a> {
    pub op: Operation,
    /// For replace and delete.
    pub record_id: Option<&'a str>,
    pub body: Option<serde_json::Value>,
    pub callback: Option<Callback>,
    /// From the owner's console: no events, webhooks or callbacks.
    pub silent: bool,
}

pub async fn accept(
    st: &AppState,
    key: &data_key::Model,
    endpoint: &data_endpoint::Model,
    change: Change<'_>,
) -> Result<String> {
    let Change { op, record_id, body, callback, silent } = change;
    let sealed = match callback.as_ref().and_then(|c| c.auth_value.as_deref()) {
        Some(v) => Some(st.secret.encrypt(v)?),
        None => None,
    };
    let (cb_url, cb_header) = match &callback {
        Some(c) => (Some(c.url.clone()), Some(c.auth_header.clone().unwrap_or_else(|| "Authorization".into()))),
        None => (None, None),
    };
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
                silent: Set(silent),
                callback_url: Set(cb_url),
                callback_auth_header: Set(cb_header),
                callback_auth_enc: Set(sealed),
                callback_state: Set(None),
                callback_error: Set(None),
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
            am.silent = Set(silent);
            am.callback_url = Set(cb_url);
            am.callback_auth_header = Set(cb_header);
            am.callback_auth_enc = Set(sealed);
            am.callback_state = Set(None);
            am.callback_error = Set(None);
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
    // Visible while it runs: queued → processing → processed / failed.
    record::Entity::update_many()
        .col_expr(record::Column::State, sea_orm::sea_query::Expr::value(PROCESSING))
        .filter(record::Column::Id.eq(id))
        .filter(record::Column::State.eq(QUEUED))
        .exec(&st.writer)
        .await?;
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
    let wants_callback = row.callback_url.is_some() && !row.silent;
    let silent = row.silent;
    let mut am = row.into_active_model();
    am.data = Set(data);
    am.pending = Set(None);
    am.state = Set(state.into());
    am.processed_at = Set(Some(now));
    am.updated_at = Set(now);
    if wants_callback {
        am.callback_state = Set(Some("pending".into()));
    }
    let row = am.update(&txn).await?;
    // Console writes stay silent: no event row, so no fan-out; subscribers
    // still hear about it through a live-only message.
    let evt = match silent {
        false => events::record(&txn, &ws, event, "system", Some(&row.id), payload).await?,
        true => events::Envelope {
            id: crate::ids::new_id("evt"),
            workspace_id: ws.clone(),
            event_type: event.as_str().into(),
            actor: "console".into(),
            subject_id: Some(row.id.clone()),
            data: payload,
            created_at: now,
            live_only: true,
            jobs: vec![],
        },
    };
    // The callback is its own job, so its retries never re-apply the change.
    let callback = match wants_callback {
        true => Some(
            jobs::insert(
                &txn,
                st.sweep_grace(),
                NewJob {
                    kind: CALLBACK_KIND.into(),
                    payload: json!({
                        "record_id": row.id,
                        "event": evt.event_type,
                        "retry_seconds": st.config.collaborator_retry_seconds,
                    }),
                    workspace_id: Some(ws.clone()),
                    run_at: None,
                    max_attempts: 4,
                },
            )
            .await?,
        ),
        false => None,
    };
    txn.commit().await?;
    if let Some(job) = &callback {
        jobs::ring(st, job).await;
    }
    st.publish(vec![evt]);
    Ok(())
}

/// The processing job died: the record failed, with the job's last error.
pub async fn process_died(st: &AppState, job: &entity::job::Model, error: &str) -> Result<()> {
    let Some(id) = job.payload["record_id"].as_str() else { return Ok(()) };
    record::Entity::update_many()
        .col_expr(record::Column::State, sea_orm::sea_query::Expr::value(FAILED))
        .col_expr(record::Column::Error, sea_orm::sea_query::Expr::value(error))
        .col_expr(record::Column::UpdatedAt, sea_orm::sea_query::Expr::value(Utc::now()))
        .filter(record::Column::Id.eq(id))
        .filter(record::Column::State.is_in([QUEUED, PROCESSING]))
        .exec(&st.writer)
        .await?;
    Ok(())
}

/// The job kind that sends a record's processing result to its callback.
pub const CALLBACK_KIND: &str = "record.callback";

/// One signed POST of the processing result to the request's
/// `X-Webhook-Callback`, with its auth header, through the delivery client
/// (SSRF guard, timeouts). An error asks for a retry (3 retries, 60 s apart
/// by default: seed 001's policy).
pub async fn send_callback(st: &AppState, job: &entity::job::Model) -> Result<()> {
    let id = job.payload["record_id"].as_str().ok_or_else(|| Error::internal("job without record_id"))?;
    let Some(row) = record::Entity::find_by_id(id).one(&st.writer).await? else { return Ok(()) };
    let Some(url) = row.callback_url.clone() else { return Ok(()) };
    let endpoint = data_endpoint::Entity::find_by_id(&row.endpoint_id).one(&st.writer).await?;
    let Some(endpoint) = endpoint else { return Ok(()) };
    let body = serde_json::to_vec(&json!({
        "event": job.payload["event"],
        "timestamp": Utc::now().to_rfc3339(),
        "data": {
            "id": row.id, "endpoint": endpoint.slug, "environment": row.environment,
            "status": row.state, "data": row.data, "error": row.error,
        },
    }))
    .map_err(Error::internal)?;
    let ts = Utc::now().timestamp();
    let signature = crate::delivery::signing::sign(&st.secret.decrypt(&endpoint.secret_enc)?, &job.id, ts, &body)?;
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("webhook-id".to_string(), job.id.clone()),
        ("webhook-timestamp".to_string(), ts.to_string()),
        ("webhook-signature".to_string(), signature),
    ];
    if let (Some(name), Some(sealed)) = (&row.callback_auth_header, &row.callback_auth_enc) {
        headers.push((name.clone(), st.secret.decrypt(sealed)?));
    }
    let sent =
        st.http.post(&url, &headers, body, std::time::Duration::from_millis(st.config.webhook_timeout_ms as u64)).await;
    let (state, error) = match (sent.is_success(), sent.status, &sent.error) {
        (true, _, _) => ("delivered", None),
        (false, Some(code), _) => ("pending", Some(format!("HTTP {code}"))),
        (false, None, e) => ("pending", Some(e.clone().unwrap_or_else(|| "no response".into()))),
    };
    let mut am = row.into_active_model();
    am.callback_state = Set(Some(state.into()));
    am.callback_error = Set(error.clone());
    let row = am.update(&st.writer).await?;
    // Tell `recordStatus` subscribers (live only: not an audit event).
    st.publish(vec![events::Envelope {
        id: crate::ids::new_id("evt"),
        workspace_id: row.workspace_id.clone(),
        event_type: "record.callback".into(),
        actor: "system".into(),
        subject_id: Some(row.id.clone()),
        data: json!({ "id": row.id, "endpoint_id": row.endpoint_id, "callback_status": state }),
        created_at: Utc::now(),
        live_only: true,
        jobs: vec![],
    }]);
    match error {
        None => Ok(()),
        Some(e) => Err(Error::Internal(e)),
    }
}

/// The callback's job died: record that the callback failed.
pub async fn callback_died(st: &AppState, job: &entity::job::Model, error: &str) -> Result<()> {
    let Some(id) = job.payload["record_id"].as_str() else { return Ok(()) };
    if let Some(row) = record::Entity::find_by_id(id).one(&st.writer).await? {
        let mut am = row.into_active_model();
        am.callback_state = Set(Some("failed".into()));
        am.callback_error = Set(Some(error.to_string()));
        am.update(&st.writer).await?;
    }
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
