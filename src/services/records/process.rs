//! The `record.process` job, which applies the accepted changes of every
//! record that names it, in chunks, and the `record.callback` job, which
//! sends a record's result to its `X-Webhook-Callback`.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use serde_json::json;

use entity::{data_endpoint, record};

use super::{DELETED, FAILED, PROCESSED, PROCESSING, QUEUED};
use crate::error::{Error, Result};
use crate::events::{self, EventType, NewEvent};
use crate::jobs::ledger::{self as jobs, NewJob};
use crate::state::AppState;

/// Records one transaction applies at most: on SQLite the one writer
/// connection is held meanwhile, so shorter; on PostgreSQL each transaction
/// costs round trips, so longer (both measured with `bench ingest`).
fn chunk(backend: DbBackend) -> u64 {
    match backend {
        DbBackend::Postgres => 500,
        _ => 200,
    }
}

/// How long one run keeps taking chunks before it hands the job back (to
/// run again at once, no attempt spent), well inside the job's timeout.
const RUN_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// The records a `record.process` job applies: those that name it, and the
/// `record_id` of its payload (jobs written before records named their job).
fn job_records(job: &entity::job::Model) -> sea_orm::sea_query::SimpleExpr {
    let mine = record::Column::JobId.eq(&job.id);
    match job.payload.get("record_id").and_then(|v| v.as_str()) {
        Some(id) => mine.or(record::Column::Id.eq(id)),
        None => mine,
    }
}

/// Applies the pending change of every record the job carries, up to
/// [`chunk`] per transaction: data replaced or deleted, state `processed`
/// (or `deleted`), one `record.*` event each (fanned out to webhooks), a
/// callback job for each that asked for one. A job that waited while
/// records kept arriving carries them all, so under load each transaction
/// applies many. Idempotent: a record already processed for its change is
/// left alone, so a retried or duplicated job does nothing twice.
pub async fn process(st: &AppState, job: &entity::job::Model) -> Result<()> {
    let started = std::time::Instant::now();
    // A turn comes within a transaction or two (each is bounded); waiting
    // much longer would spend the job's timeout: come back later instead,
    // without spending an attempt (records accepted meanwhile join it).
    let Some(_turn) = st.ingest.applier(std::time::Duration::from_secs(1)).await else {
        return Err(Error::Deferred(std::time::Duration::from_millis(50)));
    };
    st.ingest.make_way().await;
    let limit = chunk(st.writer.get_database_backend());
    // Chunks follow each other in id order: each starts after the last id
    // of the one before (records join a job only until it is claimed).
    let mut after = String::new();
    if apply_chunk(st, job, limit, &mut after).await? < limit {
        return Ok(());
    }
    // More than one chunk: the rest is visibly under way while it waits its
    // turn (queued → processing → processed / failed). A job of one chunk
    // goes from queued to processed in one commit.
    record::Entity::update_many()
        .col_expr(record::Column::State, Expr::value(PROCESSING))
        .filter(job_records(job))
        .filter(record::Column::State.eq(QUEUED))
        .exec(&st.writer)
        .await?;
    loop {
        st.ingest.make_way().await;
        if apply_chunk(st, job, limit, &mut after).await? < limit {
            return Ok(());
        }
        if started.elapsed() > RUN_BUDGET {
            return Err(Error::Deferred(std::time::Duration::ZERO));
        }
    }
}

/// What processing needs of one applied record.
struct Applied {
    id: String,
    workspace_id: String,
    endpoint_id: String,
    environment: String,
    operation: String,
    silent: bool,
    /// It asked for a callback (and is not silent).
    callback: bool,
    /// What its event carries: the new body, or for a delete the deleted one.
    data: Option<serde_json::Value>,
}

/// One transaction of [`process`]: the job's next records with an id past
/// `after`, which it moves to the last one read; returns how many it read.
/// That is the count that says whether more may follow: a record a request
/// moved to another job meanwhile is read but not applied.
async fn apply_chunk(st: &AppState, job: &entity::job::Model, limit: u64, after: &mut String) -> Result<u64> {
    let txn = st.writer.begin().await?;
    let (rows, read) = match txn.get_database_backend() {
        DbBackend::Postgres => apply_pg(&txn, job, limit, after).await?,
        _ => apply_selected(&txn, job, limit, after).await?,
    };
    if rows.is_empty() {
        return Ok(read);
    }
    let (mut loud, mut quiet, mut callbacks) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let event = match row.operation.as_str() {
            "create" => EventType::RecordCreated,
            "replace" => EventType::RecordUpdated,
            _ => EventType::RecordDeleted,
        };
        let payload = json!({
            "id": row.id, "endpoint_id": row.endpoint_id, "environment": row.environment, "data": row.data,
        });
        if row.callback {
            callbacks.push((row.workspace_id.clone(), row.id.clone(), event.as_str()));
        }
        // Console writes stay silent: no event row, so no fan-out;
        // subscribers still hear about it through a live-only message.
        match row.silent {
            false => loud.push(NewEvent::new(&row.workspace_id, event, "system", Some(&row.id), payload)),
            true => {
                quiet.push(events::Envelope::live(row.workspace_id, event.as_str(), "console", Some(row.id), payload))
            }
        }
    }
    let mut published = events::record_many(&txn, loud).await?;
    // A callback is its own job, so its retries never re-apply the change;
    // the chunk's callback jobs are written together, not one INSERT each.
    let rung: Vec<entity::job::Model> = callbacks
        .into_iter()
        .map(|(ws, id, event)| {
            let payload =
                json!({ "record_id": id, "event": event, "retry_seconds": st.config.collaborator_retry_seconds });
            let new =
                NewJob { kind: CALLBACK_KIND.into(), payload, workspace_id: Some(ws), run_at: None, max_attempts: 4 };
            jobs::row(st.sweep_grace(), new)
        })
        .collect();
    jobs::insert_rows(&txn, &rung).await?;
    txn.commit().await?;
    jobs::ring_many(st, &rung).await;
    published.extend(quiet);
    st.publish(published);
    Ok(read)
}

/// The chunk on SQLite: the records read, then applied by one statement
/// (SQLite serialises writers, so nothing changes them in between). The
/// workspace is checked here rather than in SQL, where SQLite would pick
/// the workspace index over the job's.
async fn apply_selected(
    db: &impl ConnectionTrait,
    job: &entity::job::Model,
    limit: u64,
    after: &mut String,
) -> Result<(Vec<Applied>, u64)> {
    // Only what processing needs of each record: a record's row holds more
    // (its key, callback secrets, timestamps), and SQLite copies every
    // column of every row read.
    #[derive(sea_orm::FromQueryResult)]
    struct Row {
        id: String,
        workspace_id: String,
        endpoint_id: String,
        environment: String,
        operation: String,
        silent: bool,
        callback_url: Option<String>,
        data: Option<serde_json::Value>,
        pending: Option<serde_json::Value>,
    }
    use record::Column as C;
    let rows: Vec<Row> = record::Entity::find()
        .select_only()
        .columns([C::Id, C::WorkspaceId, C::EndpointId, C::Environment, C::Operation, C::Silent, C::CallbackUrl])
        .columns([C::Data, C::Pending])
        .filter(job_records(job))
        .filter(C::Id.gt(after.as_str()))
        .filter(C::State.is_in([QUEUED, PROCESSING]))
        .order_by_asc(C::Id)
        .limit(limit)
        .into_model::<Row>()
        .all(db)
        .await?;
    let read = rows.len() as u64;
    if let Some(last) = rows.last() {
        after.clone_from(&last.id);
    }
    let rows: Vec<Row> =
        rows.into_iter().filter(|r| job.workspace_id.as_ref().is_none_or(|ws| *ws == r.workspace_id)).collect();
    if rows.is_empty() {
        return Ok((vec![], read));
    }
    apply_pending(db, rows.iter().map(|r| r.id.clone()).collect()).await?;
    let applied = rows
        .into_iter()
        .map(|r| Applied {
            data: match r.operation.as_str() {
                "delete" => r.data,
                _ => r.pending.or(r.data),
            },
            callback: r.callback_url.is_some() && !r.silent,
            id: r.id,
            workspace_id: r.workspace_id,
            endpoint_id: r.endpoint_id,
            environment: r.environment,
            operation: r.operation,
            silent: r.silent,
        })
        .collect();
    Ok((applied, read))
}

/// The chunk on PostgreSQL: one `UPDATE … RETURNING` picks the job's next
/// records (in id order) and applies them as [`apply_pending`] does; the
/// deleted body comes from the rows as they were before it. No separate
/// `SELECT … FOR UPDATE`: it cost a read of every row and a lock written
/// into each before the update rewrote it. A record that a request changes
/// meanwhile is waited for and checked again by the update; if it moved to
/// another job, it is left to that job.
async fn apply_pg(
    db: &impl ConnectionTrait,
    job: &entity::job::Model,
    limit: u64,
    after: &mut String,
) -> Result<(Vec<Applied>, u64)> {
    let legacy = job.payload.get("record_id").and_then(|v| v.as_str());
    // The update finds each record by its primary key (`r.id = before.id`);
    // its other checks are said with `IS NOT DISTINCT FROM`, which no index
    // can serve: the same as `=` here, since the parameters are never null
    // and a record without a job fails either form. With `=`,
    // a plan made for the literal values (PostgreSQL's first executions of
    // a prepared statement) could fetch every record of the job or of the
    // whole workspace through their indexes and join them to the chunk
    // row by row: 46 ms a chunk instead of 7.5 in `bench ingest` (plans
    // logged by `auto_explain`), slower the more records there are.
    let recheck = match legacy {
        Some(_) => "(r.job_id IS NOT DISTINCT FROM $1 OR r.id IS NOT DISTINCT FROM $6)",
        None => "r.job_id IS NOT DISTINCT FROM $1",
    };
    // The chunk's window. Said as a row comparison over `ix_record_job_id`'s
    // columns, so even the generic plan of this prepared statement walks
    // that index from the cursor: with `o.id > $5` alone it walks the
    // primary key and filters out every other job's records on the way
    // (10 of 13 ms per 500-record chunk of a 60k-record table).
    let window = match legacy {
        Some(_) => "(o.job_id = $1 OR o.id = $6) AND o.id > $5",
        None => "o.job_id = $1 AND (o.job_id, o.id) > ($1, $5)",
    };
    let sql = format!(
        "WITH before AS ( \
            SELECT o.id, o.data FROM record AS o \
            WHERE {window} AND o.state IN ('{QUEUED}', '{PROCESSING}') \
            ORDER BY o.id LIMIT $3 \
         ), applied AS ( \
         UPDATE record AS r SET \
            data = CASE WHEN r.operation = 'delete' THEN NULL ELSE r.pending END, \
            pending = NULL, \
            state = CASE WHEN r.operation = 'delete' THEN '{DELETED}' ELSE '{PROCESSED}' END, \
            callback_state = CASE WHEN r.callback_url IS NOT NULL AND NOT r.silent THEN 'pending' \
                                  ELSE r.callback_state END, \
            processed_at = $4, updated_at = $4 \
         FROM before \
         WHERE r.id = before.id AND {recheck} AND r.state IN ('{QUEUED}', '{PROCESSING}') \
            AND ($2::text IS NULL OR r.workspace_id IS NOT DISTINCT FROM $2) \
         RETURNING r.id, r.workspace_id, r.endpoint_id, r.environment, r.operation, r.silent, \
            (r.callback_url IS NOT NULL AND NOT r.silent) AS callback, \
            CASE WHEN r.operation = 'delete' THEN before.data ELSE COALESCE(r.data, before.data) END AS data \
         ) \
         SELECT a.*, (SELECT count(*) FROM before) AS read, (SELECT max(id) FROM before) AS last \
         FROM (SELECT 1) AS one LEFT JOIN applied AS a ON true",
    );
    let mut values: Vec<sea_orm::Value> = vec![
        job.id.clone().into(),
        job.workspace_id.clone().into(),
        (limit as i64).into(),
        Utc::now().into(),
        after.clone().into(),
    ];
    if let Some(id) = legacy {
        values.push(id.into());
    }
    // Always one row at least (the left join), so the count read and the
    // cursor come back even when none of the records read was applied.
    let rows = db.query_all(sea_orm::Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
    let first = rows.first().ok_or_else(|| Error::internal("the apply returned no row"))?;
    let read: i64 = first.try_get("", "read")?;
    // The cursor in the database's own order of ids.
    if let Some(last) = first.try_get::<Option<String>>("", "last")? {
        *after = last;
    }
    let applied = rows
        .into_iter()
        .filter(|row| row.try_get::<Option<String>>("", "id").is_ok_and(|id| id.is_some()))
        .map(|row| {
            Ok(Applied {
                id: row.try_get("", "id")?,
                workspace_id: row.try_get("", "workspace_id")?,
                endpoint_id: row.try_get("", "endpoint_id")?,
                environment: row.try_get("", "environment")?,
                operation: row.try_get("", "operation")?,
                silent: row.try_get("", "silent")?,
                callback: row.try_get("", "callback")?,
                data: row.try_get("", "data")?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((applied, read as u64))
}

/// One statement for the whole batch: each record's pending body becomes its
/// data (none for a delete), its state `processed` (or `deleted`), and a
/// callback it asked for becomes `pending`.
async fn apply_pending(db: &impl ConnectionTrait, ids: Vec<String>) -> Result<()> {
    use record::Column as C;
    let now = Utc::now();
    let deleting = || Expr::col(C::Operation).eq("delete");
    let wants_callback = Expr::col(C::CallbackUrl).is_not_null().and(Expr::col(C::Silent).eq(false));
    record::Entity::update_many()
        .col_expr(C::Data, Expr::case(deleting(), Expr::cust("NULL")).finally(Expr::col(C::Pending)).into())
        .col_expr(C::Pending, Expr::cust("NULL"))
        .col_expr(C::State, Expr::case(deleting(), Expr::value(DELETED)).finally(Expr::value(PROCESSED)).into())
        .col_expr(
            C::CallbackState,
            Expr::case(wants_callback, Expr::value("pending")).finally(Expr::col(C::CallbackState)).into(),
        )
        .col_expr(C::ProcessedAt, Expr::value(now))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(())
}

/// The processing job died: its unprocessed records failed, with the job's
/// last error.
pub async fn process_died(st: &AppState, job: &entity::job::Model, error: &str) -> Result<()> {
    record::Entity::update_many()
        .col_expr(record::Column::State, Expr::value(FAILED))
        .col_expr(record::Column::Error, Expr::value(error))
        .col_expr(record::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(job_records(job))
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
