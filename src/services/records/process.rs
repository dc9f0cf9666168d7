//! The `record.process` job, which applies accepted changes in batches (one
//! job names every record of a group commit), and the `record.callback` job,
//! which sends a record's result to its `X-Webhook-Callback`.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, TransactionTrait};
use serde_json::json;

use entity::{data_endpoint, record};

use super::{DELETED, FAILED, PROCESSED, PROCESSING, QUEUED};
use crate::error::{Error, Result};
use crate::events::{self, EventType, NewEvent};
use crate::services::jobs::{self, NewJob};
use crate::state::AppState;

/// The records a `record.process` job names: `record_ids` (a group commit),
/// or `record_id` (jobs written before batching).
fn record_ids(job: &entity::job::Model) -> Result<Vec<String>> {
    let ids: Vec<String> = match (job.payload.get("record_ids"), job.payload.get("record_id")) {
        (Some(ids), _) => ids.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        (None, Some(id)) => id.as_str().map(str::to_string).into_iter().collect(),
        (None, None) => vec![],
    };
    if ids.is_empty() {
        return Err(Error::internal("job without record ids"));
    }
    Ok(ids)
}

/// Applies the pending change of every record the job names, in one
/// transaction: data replaced or deleted, state `processed` (or `deleted`),
/// one `record.*` event each (fanned out to webhooks), a callback job for
/// each that asked for one. Idempotent: a record already processed for its
/// change is left alone, so a retried or duplicated job does nothing twice.
pub async fn process(st: &AppState, job: &entity::job::Model) -> Result<()> {
    let ids = record_ids(job)?;
    let mine = || {
        let q = record::Entity::find().filter(record::Column::Id.is_in(ids.clone()));
        match &job.workspace_id {
            Some(ws) => q.filter(record::Column::WorkspaceId.eq(ws)),
            None => q,
        }
    };
    // Visible while it runs: queued → processing → processed / failed.
    record::Entity::update_many()
        .col_expr(record::Column::State, Expr::value(PROCESSING))
        .filter(record::Column::Id.is_in(ids.clone()))
        .filter(record::Column::State.eq(QUEUED))
        .exec(&st.writer)
        .await?;
    let txn = st.writer.begin().await?;
    let rows = mine().filter(record::Column::State.is_in([QUEUED, PROCESSING])).all(&txn).await?;
    let now = Utc::now();
    let (mut loud, mut quiet, mut callbacks) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let (event, data, state) = match row.operation.as_str() {
            "create" => (EventType::RecordCreated, row.pending.clone(), PROCESSED),
            "replace" => (EventType::RecordUpdated, row.pending.clone(), PROCESSED),
            _ => (EventType::RecordDeleted, None, DELETED),
        };
        let payload = json!({
            "id": row.id, "endpoint_id": row.endpoint_id, "environment": row.environment,
            "data": data.as_ref().or(row.data.as_ref()),
        });
        let wants_callback = row.callback_url.is_some() && !row.silent;
        let mut update = record::Entity::update_many()
            .col_expr(record::Column::Data, Expr::value(data))
            .col_expr(record::Column::Pending, Expr::value(Option::<serde_json::Value>::None))
            .col_expr(record::Column::State, Expr::value(state))
            .col_expr(record::Column::ProcessedAt, Expr::value(Some(now)))
            .col_expr(record::Column::UpdatedAt, Expr::value(now));
        if wants_callback {
            update = update.col_expr(record::Column::CallbackState, Expr::value("pending"));
            callbacks.push((row.workspace_id.clone(), row.id.clone(), event.as_str()));
        }
        update.filter(record::Column::Id.eq(&row.id)).exec(&txn).await?;
        // Console writes stay silent: no event row, so no fan-out;
        // subscribers still hear about it through a live-only message.
        let new = NewEvent::new(&row.workspace_id, event, "system", Some(&row.id), payload);
        match row.silent {
            false => loud.push(new),
            true => {
                quiet.push(events::Envelope::live(row.workspace_id, event.as_str(), "console", Some(row.id), new.data))
            }
        }
    }
    let mut published = events::record_many(&txn, loud).await?;
    // A callback is its own job, so its retries never re-apply the change.
    let mut rung = Vec::with_capacity(callbacks.len());
    for (ws, id, event) in callbacks {
        let new = NewJob {
            kind: CALLBACK_KIND.into(),
            payload: json!({ "record_id": id, "event": event, "retry_seconds": st.config.collaborator_retry_seconds }),
            workspace_id: Some(ws),
            run_at: None,
            max_attempts: 4,
        };
        rung.push(jobs::insert(&txn, st.sweep_grace(), new).await?);
    }
    txn.commit().await?;
    for job in &rung {
        jobs::ring(st, job).await;
    }
    published.extend(quiet);
    st.publish(published);
    Ok(())
}

/// The processing job died: its unprocessed records failed, with the job's
/// last error.
pub async fn process_died(st: &AppState, job: &entity::job::Model, error: &str) -> Result<()> {
    let Ok(ids) = record_ids(job) else { return Ok(()) };
    record::Entity::update_many()
        .col_expr(record::Column::State, Expr::value(FAILED))
        .col_expr(record::Column::Error, Expr::value(error))
        .col_expr(record::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(record::Column::Id.is_in(ids))
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
    let data = json!({ "id": row.id, "endpoint_id": row.endpoint_id, "callback_status": state });
    st.publish(vec![events::Envelope::live(row.workspace_id, "record.callback", "system", Some(row.id), data)]);
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
