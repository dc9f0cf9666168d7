//! Deliveries and their attempt log: creating a delivery (with the job that
//! sends it), one signed attempt, test sends, retries, and the log queries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};
use serde_json::json;

use entity::{delivery, delivery_attempt, webhook};

use crate::auth::{Principal, Scope};
use crate::delivery::{receiver_break, signing, MAX_RETRY_AFTER, MIN_BREAK};
use crate::error::{Error, Result};
use crate::events::{Envelope, DELIVERY_ATTEMPT};
use crate::ids::{has_prefix, new_id};
use crate::jobs::ledger::{self as jobs, NewJob};
use crate::jobs::Handler;
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::services::webhooks;
use crate::state::AppState;

/// The job kind that sends a delivery.
pub const KIND: &str = "webhook.deliver";
pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";
pub const CANCELLED: &str = "cancelled";

fn schedule_of(w: &webhook::Model) -> Vec<u64> {
    w.retry_schedule.as_array().map(|a| a.iter().filter_map(|v| v.as_u64()).collect()).unwrap_or_default()
}

/// A delivery to write: an event (or message) for one webhook.
pub struct NewDelivery<'a> {
    pub webhook: &'a webhook::Model,
    pub event_id: Option<&'a str>,
    pub event_type: &'a str,
    pub body: serde_json::Value,
}

/// Deliveries one insert writes at most (14 bound values each; well inside
/// SQLite's limit on bound parameters).
const ROWS_PER_INSERT: usize = 100;

/// Writes pending deliveries and their jobs, the jobs in one insert
/// ([`jobs::insert_rows`]) and the deliveries in another (per
/// [`ROWS_PER_INSERT`]), so fanning out a chunk of
/// events costs two round trips, not two per delivery. No ring: the caller
/// rings after its transaction commits. Returns the job ids, in order.
pub async fn create_many(db: &impl ConnectionTrait, new: Vec<NewDelivery<'_>>) -> Result<Vec<String>> {
    let now = Utc::now();
    let (mut jobs_rows, mut rows) = (Vec::with_capacity(new.len()), Vec::with_capacity(new.len()));
    for n in new {
        let w = n.webhook;
        let id = new_id("dlv");
        let schedule = schedule_of(w);
        let job = jobs::row(
            jobs::default_grace(),
            NewJob {
                kind: KIND.into(),
                payload: json!({ "delivery_id": id, "webhook_id": w.id, "schedule": schedule, "timeout_ms": w.timeout_ms }),
                workspace_id: Some(w.workspace_id.clone()),
                run_at: None,
                max_attempts: schedule.len() as u32 + 1,
            },
        );
        rows.push(delivery::Model {
            id,
            workspace_id: w.workspace_id.clone(),
            webhook_id: w.id.clone(),
            event_id: n.event_id.map(str::to_string),
            event_type: n.event_type.to_string(),
            payload: n.body,
            state: PENDING.into(),
            attempts: 0,
            last_status_code: None,
            last_error: None,
            job_id: job.id.clone(),
            created_at: now,
            updated_at: now,
            delivered_at: None,
        });
        jobs_rows.push(job);
    }
    let ids = jobs_rows.iter().map(|j| j.id.clone()).collect();
    jobs::insert_rows(db, &jobs_rows).await?;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let chunk = chunk.iter().map(|d| d.clone().into_active_model());
        delivery::Entity::insert_many(chunk).exec_without_returning(db).await?;
    }
    Ok(ids)
}

/// Header values that may hold secrets are logged as `<redacted>`.
fn redact(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    let secret = ["auth", "token", "key", "secret", "signature", "cookie", "password"].iter().any(|s| n.contains(s));
    if secret {
        "<redacted>".into()
    } else {
        value.to_string()
    }
}

/// What one attempt came to, for the caller deciding about retries.
#[derive(Clone)]
pub enum Outcome {
    Delivered,
    /// 410 Gone: the webhook was disabled; do not retry.
    Gone,
    /// Retry later; `hold` is the break the receiver asked for (see
    /// [`crate::delivery::receiver_break`]), during which the webhook's
    /// other deliveries wait too.
    Failed {
        why: String,
        hold: Option<Duration>,
    },
}

/// One attempt that was sent and is still to be recorded.
struct Sent<'a> {
    webhook: &'a webhook::Model,
    delivery: &'a delivery::Model,
    outcome: Outcome,
    attempt: delivery_attempt::Model,
    /// No attempt follows this one (its job's last, or a test message): a
    /// failure leaves the delivery failed, in the same commit as the
    /// attempt, so a reader woken by the live attempt sees it failed.
    last: bool,
}

/// Sends one signed attempt of `d` to `w`, records it in the attempt log,
/// updates the delivery and the webhook's health, and streams the attempt to
/// live `deliveryLogs` subscribers.
pub async fn attempt(
    st: &AppState,
    w: &webhook::Model,
    d: &delivery::Model,
    number: i32,
) -> Result<(Outcome, delivery_attempt::Model)> {
    let (outcome, att) = send(st, w, d, number).await?;
    let sent = [Sent { webhook: w, delivery: d, outcome, attempt: att, last: true }];
    record(st, &sent).await?;
    let [Sent { outcome, attempt, .. }] = sent;
    Ok((outcome, attempt))
}

/// Sends one signed attempt of `d` to `w` and says how it went, as the
/// attempt-log row to write ([`record`] writes it).
async fn send(
    st: &AppState,
    w: &webhook::Model,
    d: &delivery::Model,
    number: i32,
) -> Result<(Outcome, delivery_attempt::Model)> {
    let body = serde_json::to_vec(&d.payload).map_err(Error::internal)?;
    let ts = Utc::now().timestamp();
    let secret = st.secret.decrypt(&w.secret_enc)?;
    let mut signature = signing::sign(&secret, &d.id, ts, &body)?;
    // During a rotation's grace period the old secret signs too
    // (space-separated, as Standard Webhooks verifiers expect).
    if let (Some(old), Some(until)) = (&w.previous_secret_enc, w.previous_secret_expires_at) {
        if until > Utc::now() {
            signature = format!("{signature} {}", signing::sign(&st.secret.decrypt(old)?, &d.id, ts, &body)?);
        }
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for (k, v) in w.headers.as_object().into_iter().flatten() {
        if let Some(sealed) = v.as_str() {
            headers.push((k.clone(), st.secret.decrypt(sealed)?));
        }
    }
    headers.extend([
        ("content-type".to_string(), "application/json".to_string()),
        ("webhook-id".to_string(), d.id.clone()),
        ("webhook-timestamp".to_string(), ts.to_string()),
        ("webhook-signature".to_string(), signature),
    ]);
    let sent = st.http.post(&w.url, &headers, body, Duration::from_millis(w.timeout_ms as u64)).await;
    // Custom header values are sealed at rest, so the log keeps only their names.
    let custom = w.headers.as_object().map(|o| o.len()).unwrap_or(0);
    let logged: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .enumerate()
        .map(|(i, (k, v))| (k.clone(), json!(if i < custom { "<redacted>".to_string() } else { redact(k, v) })))
        .collect();
    let outcome = match (sent.is_success(), sent.status) {
        (true, _) => Outcome::Delivered,
        (false, Some(410)) => Outcome::Gone,
        (false, status) => Outcome::Failed {
            why: match status {
                Some(code) => format!("HTTP {code}"),
                None => sent.error.clone().unwrap_or_else(|| "no response".into()),
            },
            hold: receiver_break(status, sent.timed_out, sent.retry_after),
        },
    };
    let att = delivery_attempt::Model {
        id: new_id("att"),
        workspace_id: w.workspace_id.clone(),
        delivery_id: d.id.clone(),
        webhook_id: w.id.clone(),
        attempt: number,
        success: matches!(outcome, Outcome::Delivered),
        status_code: sent.status.map(i32::from),
        response_time_ms: sent.elapsed.as_millis() as i64,
        response_body: sent.body.clone(),
        request_headers: serde_json::Value::Object(logged),
        error: sent.error.clone().or_else(|| match &outcome {
            Outcome::Failed { why, .. } => Some(why.clone()),
            Outcome::Gone => Some("HTTP 410 Gone".into()),
            Outcome::Delivered => None,
        }),
        created_at: Utc::now(),
    };
    Ok((outcome, att))
}

/// Attempt-log rows one insert writes at most (13 bound values each; well
/// inside SQLite's limit).
const ATTEMPTS_PER_INSERT: usize = 100;

/// Records sent attempts: the attempt-log rows in one insert, the delivered
/// ones' deliveries in one update per status code (the rest one by one), the
/// webhooks' health once per webhook, and the attempts to live subscribers.
async fn record(st: &AppState, sent: &[Sent<'_>]) -> Result<()> {
    if sent.is_empty() {
        return Ok(());
    }
    // The attempt log and the deliveries' state in one transaction, as
    // bookkeeping like the job ledger's (see `AppState::bookkeeping`): lost
    // only with a crash of the database server, together with the job's
    // completion, so the delivery is sent again (same `webhook-id`).
    let txn = st.bookkeeping.begin().await?;
    for chunk in sent.chunks(ATTEMPTS_PER_INSERT) {
        let rows = chunk.iter().map(|s| s.attempt.clone().into_active_model());
        delivery_attempt::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    let now = Utc::now();
    let mut delivered: BTreeMap<(i32, Option<i32>), Vec<&str>> = BTreeMap::new();
    for s in sent {
        let (d, att) = (s.delivery, &s.attempt);
        if let Outcome::Delivered = s.outcome {
            delivered.entry((att.attempt, att.status_code)).or_default().push(&d.id);
            continue;
        }
        let mut dam = d.clone().into_active_model();
        dam.attempts = Set(att.attempt);
        dam.last_status_code = Set(att.status_code);
        dam.last_error = Set(att.error.clone());
        dam.updated_at = Set(now);
        if matches!(s.outcome, Outcome::Gone) || s.last {
            dam.state = Set(FAILED.into());
        }
        dam.update(&txn).await?;
    }
    for ((number, status), ids) in delivered {
        delivery::Entity::update_many()
            .col_expr(delivery::Column::State, Expr::value(SUCCEEDED))
            .col_expr(delivery::Column::Attempts, Expr::value(number))
            .col_expr(delivery::Column::LastStatusCode, Expr::value(status))
            .col_expr(delivery::Column::LastError, Expr::value(Option::<String>::None))
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
            .col_expr(delivery::Column::DeliveredAt, Expr::value(now))
            .filter(delivery::Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    // Health: each failure in turn, then one success per webhook (written
    // even if it is fresh when a failure of this batch came before it).
    let mut succeeded: BTreeMap<&str, (&webhook::Model, bool)> = BTreeMap::new();
    for s in sent {
        let w = s.webhook;
        match s.outcome {
            Outcome::Delivered => {
                succeeded.entry(w.id.as_str()).or_insert((w, false));
            }
            _ => {
                record_health(st, w, &s.outcome, now).await?;
                succeeded.entry(w.id.as_str()).and_modify(|e| e.1 = true);
            }
        }
    }
    let failed_here: std::collections::BTreeSet<&str> =
        sent.iter().filter(|s| !matches!(s.outcome, Outcome::Delivered)).map(|s| s.webhook.id.as_str()).collect();
    for (id, (w, _)) in succeeded {
        let mut w = w.clone();
        if failed_here.contains(id) {
            w.failing_since = Some(w.failing_since.unwrap_or(now));
        }
        record_health(st, &w, &Outcome::Delivered, now).await?;
    }
    st.publish(sent.iter().map(|s| live_attempt(&s.attempt, s.delivery)).collect());
    Ok(())
}

/// Success clears the failure streak; a 410 or a streak older than the
/// configured number of days disables the webhook.
async fn record_health(st: &AppState, w: &webhook::Model, outcome: &Outcome, now: DateTime<Utc>) -> Result<()> {
    match outcome {
        // Written only when it changes something worth a write: the end of a
        // failure streak, or a last-success time more than a minute old.
        Outcome::Delivered
            if w.failing_since.is_none()
                && w.last_success_at.is_some_and(|t| now - t < chrono::Duration::minutes(1)) => {}
        Outcome::Delivered => {
            webhook::Entity::update_many()
                .col_expr(webhook::Column::FailingSince, Expr::value(Option::<DateTime<Utc>>::None))
                .col_expr(webhook::Column::LastSuccessAt, Expr::value(now))
                .filter(webhook::Column::Id.eq(&w.id))
                .exec(&st.writer)
                .await?;
        }
        Outcome::Gone => webhooks::disable(st, w, "The endpoint answered 410 Gone").await?,
        Outcome::Failed { hold, .. } => {
            if let Some(hold) = hold {
                // The receiver asked for a break: nothing goes to it meanwhile.
                st.webhook_limiter.pause(&w.id, *hold).await?;
            }
            let since = w.failing_since.unwrap_or(now);
            let limit = chrono::Duration::milliseconds((st.config.webhook_disable_after_days * 86_400_000.0) as i64);
            if w.active && now - since >= limit {
                let days = st.config.webhook_disable_after_days;
                webhooks::disable(st, w, &format!("Every delivery failed for {days} days")).await?;
            } else if w.failing_since.is_none() {
                webhook::Entity::update_many()
                    .col_expr(webhook::Column::FailingSince, Expr::value(now))
                    .filter(webhook::Column::Id.eq(&w.id))
                    .filter(webhook::Column::FailingSince.is_null())
                    .exec(&st.writer)
                    .await?;
            }
        }
    }
    Ok(())
}

/// A delivery attempt as a live-only bus message.
fn live_attempt(a: &delivery_attempt::Model, d: &delivery::Model) -> Envelope {
    Envelope {
        id: a.id.clone(),
        workspace_id: a.workspace_id.clone(),
        event_type: DELIVERY_ATTEMPT.into(),
        actor: "system".into(),
        subject_id: Some(a.delivery_id.clone()),
        data: json!({
            "id": a.id, "delivery_id": a.delivery_id, "webhook_id": a.webhook_id, "attempt": a.attempt,
            "success": a.success, "status_code": a.status_code, "response_time_ms": a.response_time_ms,
            "response_body": a.response_body, "request_headers": a.request_headers, "error": a.error,
            "event_type": d.event_type, "payload": d.payload, "created_at": a.created_at,
        }),
        created_at: a.created_at,
        live_only: true,
        jobs: vec![],
        live: vec![],
    }
}

/// Rebuilds an attempt row from its live message (for the subscription).
pub fn attempt_from_live(e: &Envelope) -> Option<delivery_attempt::Model> {
    let d = &e.data;
    Some(delivery_attempt::Model {
        id: d["id"].as_str()?.to_string(),
        workspace_id: e.workspace_id.clone(),
        delivery_id: d["delivery_id"].as_str()?.to_string(),
        webhook_id: d["webhook_id"].as_str()?.to_string(),
        attempt: d["attempt"].as_i64()? as i32,
        success: d["success"].as_bool()?,
        status_code: d["status_code"].as_i64().map(|c| c as i32),
        response_time_ms: d["response_time_ms"].as_i64()?,
        response_body: d["response_body"].as_str().unwrap_or("").to_string(),
        request_headers: d["request_headers"].clone(),
        error: d["error"].as_str().map(str::to_string),
        created_at: e.created_at,
    })
}

/// Deliveries one `webhook.deliver` batch sends at most: the worker holds
/// up to this many requests in flight per batch slot, so a slow receiver's
/// latency is hidden behind the others.
pub const BATCH: usize = 64;

/// `webhook.deliver` jobs, one attempt each: the deliveries and their
/// webhooks read in one query each, the requests sent concurrently, the
/// attempts recorded together ([`record`]). Returns each job's outcome: an
/// error asks for a retry.
pub async fn run_jobs(st: &AppState, jobs: &[entity::job::Model]) -> Vec<Result<()>> {
    match run_many(st, jobs).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::warn!(cause = %e, jobs = jobs.len(), "a batch of deliveries failed on a storage error");
            jobs.iter().map(|_| Err(Error::internal("internal error (see the server log)"))).collect()
        }
    }
}

async fn run_many(st: &AppState, jobs: &[entity::job::Model]) -> Result<Vec<Result<()>>> {
    // Reads go to the reading pool (on SQLite the one writer connection is
    // left to writes): a delivery is committed before its doorbell rings.
    let mut results: Vec<Option<Result<()>>> = jobs.iter().map(|_| None).collect();
    let ids: Vec<Option<&str>> = jobs.iter().map(|j| j.payload["delivery_id"].as_str()).collect();
    // A job names its webhook too, so the receivers' breaks (Redis) are
    // asked for while the database reads the deliveries and their webhooks
    // (one after the other, on one connection: the pool is shared with
    // ingest and processing).
    let named: BTreeSet<&str> = jobs.iter().filter_map(|j| j.payload["webhook_id"].as_str()).collect();
    let ((deliveries, hooks), breaks) = tokio::try_join!(
        async {
            let rows = delivery::Entity::find()
                .filter(delivery::Column::Id.is_in(ids.iter().flatten().copied()))
                .all(&st.db)
                .await?;
            let deliveries: HashMap<String, delivery::Model> = rows.into_iter().map(|d| (d.id.clone(), d)).collect();
            let webhook_ids: BTreeSet<&str> = deliveries.values().map(|d| d.webhook_id.as_str()).collect();
            let hooks: HashMap<String, webhook::Model> = match webhook_ids.is_empty() {
                true => HashMap::new(),
                false => webhook::Entity::find()
                    .filter(webhook::Column::Id.is_in(webhook_ids))
                    .all(&st.db)
                    .await?
                    .into_iter()
                    .map(|w| (w.id.clone(), w))
                    .collect(),
            };
            Ok::<_, Error>((deliveries, hooks))
        },
        futures_util::future::try_join_all(
            named.iter().map(|w| async move { Ok::<_, Error>((*w, st.webhook_limiter.paused_for(w).await?)) })
        ),
    )?;
    let mut paused: HashMap<&str, Option<Duration>> = breaks.into_iter().collect();
    let mut cancelled: Vec<&str> = Vec::new();
    let mut due: Vec<(usize, &webhook::Model, &delivery::Model)> = Vec::new();
    for (i, (job, id)) in jobs.iter().zip(&ids).enumerate() {
        let Some(id) = id else {
            results[i] = Some(Err(Error::internal("job without delivery_id")));
            continue;
        };
        // Deleted with its webhook, settled, or owned by a newer job (a
        // stale doorbell): nothing to do.
        let Some(d) = deliveries.get(*id).filter(|d| d.state == PENDING && d.job_id == job.id) else {
            results[i] = Some(Ok(()));
            continue;
        };
        let Some(w) = hooks.get(&d.webhook_id).filter(|w| w.active) else {
            cancelled.push(&d.id);
            results[i] = Some(Ok(()));
            continue;
        };
        // The receiver asked for a break: wait it out, spend no attempt.
        let left = match paused.get(w.id.as_str()) {
            Some(left) => *left,
            None => *paused.entry(&w.id).or_insert(st.webhook_limiter.paused_for(&w.id).await?),
        };
        if let Some(left) = left {
            results[i] = Some(Err(Error::Deferred(left)));
            continue;
        }
        // Over the webhook's own rate (if it has one): wait for the window,
        // spend no attempt.
        if let Some(limit) = webhooks::rate_limit(w) {
            if let Err(Error::RateLimited { retry_after_secs, .. }) = st.webhook_limiter.check_limit(&w.id, limit).await
            {
                results[i] = Some(Err(Error::Deferred(Duration::from_secs(retry_after_secs))));
                continue;
            }
        }
        due.push((i, w, d));
    }
    if !cancelled.is_empty() {
        delivery::Entity::update_many()
            .col_expr(delivery::Column::State, Expr::value(CANCELLED))
            .col_expr(delivery::Column::LastError, Expr::value("The webhook is disabled"))
            .col_expr(delivery::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(delivery::Column::Id.is_in(cancelled))
            .filter(delivery::Column::State.eq(PENDING))
            .exec(&st.writer)
            .await?;
    }
    let answers = futures_util::future::join_all(due.iter().map(|(_, w, d)| send(st, w, d, d.attempts + 1))).await;
    let mut sent = Vec::with_capacity(due.len());
    let mut index = Vec::with_capacity(due.len());
    for ((i, w, d), answer) in due.into_iter().zip(answers) {
        match answer {
            Ok((outcome, attempt)) => {
                let last = jobs[i].attempts >= jobs[i].max_attempts;
                sent.push(Sent { webhook: w, delivery: d, outcome, attempt, last });
                index.push(i);
            }
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    record(st, &sent).await?;
    for (s, i) in sent.into_iter().zip(index) {
        results[i] = Some(match s.outcome {
            Outcome::Delivered | Outcome::Gone => Ok(()),
            // When this was the last attempt, `record` marked the delivery
            // failed (and `job_died` finds nothing left to do).
            Outcome::Failed { why, hold: None } => Err(Error::Internal(why)),
            // Honour the break, but no longer than the schedule's following
            // step (so a receiver cannot stretch the retries past the schedule).
            Outcome::Failed { why, hold: Some(hold) } => {
                let job = &jobs[i];
                let following = job_schedule(job).get(job.attempts.max(1) as usize).copied();
                let cap = following.map(|s| Duration::from_secs(s).max(MIN_BREAK)).unwrap_or(MAX_RETRY_AFTER);
                Err(Error::RetryNoSooner { cause: why, at_least: hold.min(cap) })
            }
        });
    }
    Ok(results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect())
}

/// The delivery's job is dead (attempts used up, timeouts, errors): the
/// delivery has failed, unless a newer job owns it by now.
pub async fn job_died(st: &AppState, job: &entity::job::Model) -> Result<()> {
    let Some(id) = job.payload["delivery_id"].as_str() else { return Ok(()) };
    delivery::Entity::update_many()
        .col_expr(delivery::Column::State, Expr::value(FAILED))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::JobId.eq(&job.id))
        .filter(delivery::Column::State.eq(PENDING))
        .exec(&st.writer)
        .await?;
    Ok(())
}

/// Opens a failed delivery again for its (requeued) job.
pub async fn reopen(db: &impl ConnectionTrait, job: &entity::job::Model) -> Result<()> {
    let Some(id) = job.payload["delivery_id"].as_str() else { return Ok(()) };
    delivery::Entity::update_many()
        .col_expr(delivery::Column::State, Expr::value(PENDING))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::JobId.eq(&job.id))
        .filter(delivery::Column::State.is_in([FAILED, CANCELLED]))
        .exec(db)
        .await?;
    Ok(())
}

/// Sends a test message to a webhook now and returns the attempt (owner only).
pub async fn test(st: &AppState, p: &Principal, webhook_id: &str) -> Result<delivery_attempt::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let w = webhooks::find(&st.db, &p.workspace_id, webhook_id).await?;
    let test_id = new_id("evt");
    let body = json!({
        "id": test_id,
        "type": "webhook.test",
        "event": "webhook.test",
        "timestamp": Utc::now().to_rfc3339(),
        "data": { "webhook_id": w.id, "message": "A test delivery from Switchyard" },
    });
    let now = Utc::now();
    let d = delivery::ActiveModel {
        id: Set(new_id("dlv")),
        workspace_id: Set(w.workspace_id.clone()),
        webhook_id: Set(w.id.clone()),
        event_id: Set(None),
        event_type: Set("webhook.test".into()),
        payload: Set(body),
        state: Set(PENDING.into()),
        attempts: Set(0),
        last_status_code: Set(None),
        last_error: Set(None),
        job_id: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        delivered_at: Set(None),
    }
    .insert(&st.writer)
    .await?;
    // A test message has one attempt: `record` marks it failed if it failed.
    let (_, att) = attempt(st, &w, &d, 1).await?;
    Ok(att)
}

/// [`test`], answered as a log entry (the attempt with its test delivery).
pub async fn test_logged(st: &AppState, p: &Principal, webhook_id: &str) -> Result<LogEntry> {
    let attempt = test(st, p, webhook_id).await?;
    let delivery = delivery::Entity::find_by_id(&attempt.delivery_id).one(&st.writer).await?;
    Ok(LogEntry { attempt, delivery })
}

#[derive(Default)]
pub struct DeliveryFilter {
    pub webhook_id: Option<String>,
    pub state: Option<String>,
    pub event_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    f: DeliveryFilter,
    page: &PageArgs,
) -> Result<Page<delivery::Model>> {
    p.require(Scope::Read)?.require_owner()?;
    let mut q = delivery::Entity::find().filter(delivery::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(w) = f.webhook_id {
        q = q.filter(delivery::Column::WebhookId.eq(w));
    }
    if let Some(s) = f.state {
        q = q.filter(delivery::Column::State.eq(s));
    }
    if let Some(t) = f.event_type {
        q = q.filter(delivery::Column::EventType.eq(t));
    }
    if let Some(s) = f.since {
        q = q.filter(delivery::Column::CreatedAt.gte(s));
    }
    if let Some(u) = f.until {
        q = q.filter(delivery::Column::CreatedAt.lt(u));
    }
    fetch_page(db, q, delivery::Column::Id, page).await
}

pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<delivery::Model> {
    p.require(Scope::Read)?.require_owner()?;
    find(db, &p.workspace_id, id).await
}

async fn find(db: &impl ConnectionTrait, workspace_id: &str, id: &str) -> Result<delivery::Model> {
    if !has_prefix(id, "dlv") {
        return Err(Error::NotFound("Delivery"));
    }
    delivery::Entity::find_by_id(id)
        .filter(delivery::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Delivery"))
}

#[derive(Default)]
pub struct AttemptFilter {
    pub webhook_id: Option<String>,
    pub delivery_id: Option<String>,
    pub success: Option<bool>,
    pub since: Option<DateTime<Utc>>,
}

pub async fn attempts(
    db: &impl ConnectionTrait,
    p: &Principal,
    f: AttemptFilter,
    page: &PageArgs,
) -> Result<Page<delivery_attempt::Model>> {
    p.require(Scope::Read)?.require_owner()?;
    let mut q = delivery_attempt::Entity::find().filter(delivery_attempt::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(w) = f.webhook_id {
        q = q.filter(delivery_attempt::Column::WebhookId.eq(w));
    }
    if let Some(d) = f.delivery_id {
        q = q.filter(delivery_attempt::Column::DeliveryId.eq(d));
    }
    if let Some(s) = f.success {
        q = q.filter(delivery_attempt::Column::Success.eq(s));
    }
    if let Some(s) = f.since {
        q = q.filter(delivery_attempt::Column::CreatedAt.gte(s));
    }
    fetch_page(db, q, delivery_attempt::Column::Id, page).await
}

/// One attempt of a webhook's log with the delivery it belongs to (for
/// its event type and payload).
pub struct LogEntry {
    pub attempt: delivery_attempt::Model,
    /// `None` only if the delivery vanished between the two reads.
    pub delivery: Option<delivery::Model>,
}

/// One page of a webhook's attempt log, newest first, each attempt with its
/// delivery (seed 002 §4.4). NOT_FOUND unless the webhook is the caller's.
pub async fn logs(
    db: &impl ConnectionTrait,
    p: &Principal,
    webhook_id: &str,
    page: &PageArgs,
) -> Result<Page<LogEntry>> {
    p.require(Scope::Read)?.require_owner()?;
    webhooks::find(db, &p.workspace_id, webhook_id).await?;
    let filter = AttemptFilter { webhook_id: Some(webhook_id.to_string()), ..Default::default() };
    let attempts = attempts(db, p, filter, page).await?;
    let ids: Vec<&str> = attempts.items.iter().map(|a| a.delivery_id.as_str()).collect();
    let found: HashMap<String, delivery::Model> = delivery::Entity::find()
        .filter(crate::db::eq_beside_ids(db, delivery::Column::WorkspaceId, &p.workspace_id))
        .filter(delivery::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect();
    // Several attempts may share a delivery.
    Ok(attempts.filter_map(|a| Some(LogEntry { delivery: found.get(&a.delivery_id).cloned(), attempt: a })))
}

/// Sends a failed (or cancelled) delivery again with fresh attempts.
pub async fn retry(st: &AppState, p: &Principal, id: &str) -> Result<delivery::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let d = find(&st.db, &p.workspace_id, id).await?;
    if d.state == PENDING || d.state == SUCCEEDED {
        return Err(Error::invalid_field(
            "id",
            format!("The delivery is {}; only failed deliveries can be retried", d.state),
        ));
    }
    let w = webhooks::find(&st.db, &p.workspace_id, &d.webhook_id).await?;
    if !w.active {
        return Err(Error::invalid_field("id", "The webhook is disabled; enable it first"));
    }
    requeue(st, &w, d).await
}

/// Gives a failed delivery a new job, in one transaction (a conditional
/// update, so a delivery is reopened once), then rings it.
async fn requeue(st: &AppState, w: &webhook::Model, d: delivery::Model) -> Result<delivery::Model> {
    let schedule = schedule_of(w);
    let txn = st.writer.begin().await?;
    let job = jobs::insert(
        &txn,
        st.sweep_grace(),
        NewJob {
            kind: KIND.into(),
            payload: json!({ "delivery_id": d.id, "webhook_id": w.id, "schedule": schedule, "timeout_ms": w.timeout_ms }),
            workspace_id: Some(w.workspace_id.clone()),
            run_at: None,
            max_attempts: schedule.len() as u32 + 1,
        },
    )
    .await?;
    let res = delivery::Entity::update_many()
        .col_expr(delivery::Column::State, Expr::value(PENDING))
        .col_expr(delivery::Column::JobId, Expr::value(job.id.clone()))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(delivery::Column::Id.eq(&d.id))
        .filter(delivery::Column::State.is_in([FAILED, CANCELLED]))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(Error::invalid_field("id", "The delivery is already being retried"));
    }
    txn.commit().await?;
    jobs::ring(st, &job).await;
    delivery::Entity::find_by_id(&d.id).one(&st.writer).await?.ok_or(Error::NotFound("Delivery"))
}

/// Retries every failed delivery of a webhook created since `since` (at
/// most 1000 at a time); returns how many.
pub async fn retry_failed(st: &AppState, p: &Principal, webhook_id: &str, since: Option<DateTime<Utc>>) -> Result<u64> {
    p.require(Scope::Write)?.require_owner()?;
    let w = webhooks::find(&st.db, &p.workspace_id, webhook_id).await?;
    if !w.active {
        return Err(Error::invalid_field("webhookId", "The webhook is disabled; enable it first"));
    }
    let mut q = delivery::Entity::find()
        .filter(delivery::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(delivery::Column::WebhookId.eq(webhook_id))
        .filter(delivery::Column::State.eq(FAILED));
    if let Some(s) = since {
        q = q.filter(delivery::Column::CreatedAt.gte(s));
    }
    let failed = q.order_by_asc(delivery::Column::Id).limit(1000).all(&st.db).await?;
    let n = failed.len() as u64;
    for d in failed {
        requeue(st, &w, d).await?;
    }
    Ok(n)
}

/// `webhook.deliver`: one signed attempt of a delivery; retries follow the
/// webhook's schedule (carried in the job's payload) with ±20 % jitter.
pub struct Deliver;

#[async_trait::async_trait]
impl Handler for Deliver {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn emits_events(&self) -> bool {
        false
    }

    fn timeout(&self, _job: &entity::job::Model) -> Duration {
        // The longest request a webhook may allow (60 s) plus time to sign
        // and record: the request's own timeout always fires first.
        Duration::from_secs(65)
    }

    fn backoff(&self, job: &entity::job::Model) -> Duration {
        crate::delivery::retry_delay(&job_schedule(job), job.attempts.max(1) as usize)
    }

    fn batch_size(&self) -> usize {
        BATCH
    }

    async fn run(&self, st: &AppState, job: &entity::job::Model) -> Result<()> {
        run_jobs(st, std::slice::from_ref(job)).await.pop().unwrap_or(Ok(()))
    }

    async fn run_batch(&self, st: &AppState, jobs: &[entity::job::Model]) -> Vec<Result<()>> {
        run_jobs(st, jobs).await
    }

    async fn on_dead(&self, st: &AppState, job: &entity::job::Model, _error: &str) -> Result<()> {
        // The attempt log already holds the error.
        job_died(st, job).await
    }

    async fn on_requeue(&self, st: &AppState, job: &entity::job::Model) -> Result<()> {
        // The delivery was marked failed when its job died: open it again.
        reopen(&st.writer, job).await
    }
}

/// The retry schedule a delivery job carries (seconds before each retry).
fn job_schedule(job: &entity::job::Model) -> Vec<u64> {
    job.payload
        .get("schedule")
        .and_then(|s| s.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
        .unwrap_or_default()
}
