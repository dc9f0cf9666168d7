//! Group commit for accepted record changes.
//!
//! A 202 promises that the change is in the database, so every accepted
//! request waits for a commit. Committing each one alone costs a
//! transaction (and on SQLite a turn at the one writer) per request. Here
//! requests join a queue instead; a short-lived writer task takes everything
//! queued, commits it in one transaction (quota counts, record rows, and per
//! workspace the `record.process` job that has not started yet or a new
//! one), rings the queue for each new job, and answers each request. On
//! PostgreSQL the creates of each endpoint go in one statement instead (see
//! [`create_together`]): one round trip, one prepared plan for any batch
//! size. While that commit runs, new requests queue up for the next one, so
//! batches grow with load and a lone request never waits for company: there is no timer.
//!
//! Writer tasks exist only while there is work (at most
//! [`GroupCommit::writers`] at once) and own nothing but a state clone, so a
//! dropped request or a stopping server leaves nothing behind.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::json;
use tokio::sync::oneshot;

use entity::record;

use super::{Operation, KIND, QUEUED};
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::jobs::ledger::{self as jobs, NewJob};
use crate::services::data_endpoints::{count_requests, month, next_month_start};
use crate::state::AppState;

/// Most changes one transaction writes (bounded by SQLite's limit on bound
/// parameters: 19 columns × 200 rows).
pub const MAX_BATCH: usize = 200;

/// How long a new processing job waits when its batch shows heavy load (at
/// least [`GATHER_FROM`] changes): records accepted meanwhile join it, so
/// under a burst one job applies hundreds of records per transaction instead
/// of a few. Below that the job runs at once: at a steady few hundred
/// records a second a batch holds one to a few changes, and a wait here
/// would be most of a delivery's latency.
const GATHER: chrono::Duration = chrono::Duration::milliseconds(20);

/// The batch size from which a new processing job waits [`GATHER`]: at a
/// steady 1,000 records/s on PostgreSQL a group commit of ~4 ms holds
/// about 4, so at 16 only a real burst gathers (`bench delivery
/// --end-to-end`). (At 4 every job waited and the pipeline ran a second
/// behind; that second was the Redis queue promoting a delayed job only
/// when a lease's one-second block ended, fixed in `jobs::redis`.)
const GATHER_FROM: usize = 16;

/// Changes waiting for a commit from which processing counts ingest as a
/// burst and keeps giving way (up to [`GroupCommit::yield_for`]).
const BURST: usize = 32;

/// A change checked by the transport and ready to write.
pub struct Prepared {
    pub workspace_id: String,
    pub endpoint_id: String,
    pub environment: String,
    pub key_id: String,
    /// `Some(limit)`: counted against the endpoint's monthly quota (`None`
    /// limit: counted, unlimited). `None`: not counted (the owner's console).
    pub quota: Option<Option<i64>>,
    pub op: Operation,
    /// For replace and delete; for a create, the new record's id if the
    /// caller chose it (see [`super::Change::record_id`]).
    pub record_id: Option<String>,
    /// The JSON object as sent (see [`super::Change::body`]).
    pub body: Option<String>,
    pub silent: bool,
    pub callback_url: Option<String>,
    pub callback_auth_header: Option<String>,
    /// `X-Webhook-Auth`, already sealed.
    pub callback_auth_enc: Option<String>,
}

struct Pending {
    change: Prepared,
    reply: oneshot::Sender<Result<String>>,
}

struct Inner {
    queue: VecDeque<Pending>,
    writers: usize,
    /// Changes queued since start, and changes whose commit has ended
    /// (committed or failed): processing waits for the ones before it.
    submitted: u64,
    settled: u64,
}

/// The queue of changes waiting for a commit, and its writer tasks.
pub struct GroupCommit {
    inner: Mutex<Inner>,
    /// Writer tasks allowed at once: 1 on SQLite (one writer connection
    /// anyway), a few on PostgreSQL so one commit's round trips overlap the
    /// next one's.
    writers: usize,
    /// `record.process` transactions allowed at once. SQLite has one writer
    /// connection: a second would only wait on it, ahead of the next group
    /// commit, while holding a worker slot.
    appliers: tokio::sync::Semaphore,
    /// How long processing lets group commits go first, at most, before it
    /// takes its turn anyway (see [`GroupCommit::make_way`]); zero: never.
    yield_for: Duration,
    /// Rung whenever a batch's commit ends.
    committed: tokio::sync::Notify,
}

impl GroupCommit {
    pub fn new(writers: usize, appliers: usize, yield_for: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner { queue: VecDeque::new(), writers: 0, submitted: 0, settled: 0 }),
            writers: writers.max(1),
            appliers: tokio::sync::Semaphore::new(appliers.max(1)),
            yield_for,
            committed: tokio::sync::Notify::new(),
        }
    }

    /// Lets the changes accepted before it be committed first, at most
    /// [`GroupCommit::yield_for`]; while a burst keeps more than [`BURST`]
    /// changes waiting, it keeps giving way up to that bound. Processing
    /// calls it before each of its transactions: a 202 is what a client
    /// waits for, so accepting goes first, but only by one round of group
    /// commits under a steady load, so processing takes its turn after
    /// each and keeps pace (waiting for ingest to fall idle, as it did
    /// before, starved processing under a steady 200 records/s: on
    /// PostgreSQL with two writers it is rarely idle).
    pub async fn make_way(&self) {
        let deadline = tokio::time::Instant::now() + self.yield_for;
        let before = self.lock().submitted;
        loop {
            let committed = self.committed.notified();
            let through = {
                let inner = self.lock();
                inner.settled >= before && inner.queue.len() <= BURST
            };
            if through || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                _ = committed => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Counts `n` changes whose commit ended and wakes processing waiting
    /// for them.
    fn settle(&self, n: usize) {
        self.lock().settled += n as u64;
        self.committed.notify_waiters();
    }

    /// A turn to apply records (see [`GroupCommit::appliers`]), if one comes
    /// within `wait`.
    pub async fn applier(&self, wait: Duration) -> Option<tokio::sync::SemaphorePermit<'_>> {
        tokio::time::timeout(wait, self.appliers.acquire()).await.ok().and_then(|p| p.ok())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Queues a change and waits until it is committed; returns the record id.
pub async fn submit(st: &AppState, change: Prepared) -> Result<String> {
    let (reply, answer) = oneshot::channel();
    let start_writer = {
        let mut inner = st.ingest.lock();
        inner.queue.push_back(Pending { change, reply });
        inner.submitted += 1;
        let start = inner.writers < st.ingest.writers;
        if start {
            inner.writers += 1;
        }
        start
    };
    if start_writer {
        // Its own task: the commit must finish even if this request is dropped.
        tokio::spawn(drain(st.clone()));
    }
    answer.await.map_err(|_| Error::internal("the record writer stopped before committing"))?
}

/// A writer task's place in [`GroupCommit::writers`], given back when the
/// task ends, even by a panic (then another writer takes over what is
/// queued; the requests of the batch that panicked get a 500).
struct WriterSlot {
    st: AppState,
    finished: bool,
}

impl Drop for WriterSlot {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let restart = {
            let mut inner = self.st.ingest.lock();
            let restart = !inner.queue.is_empty();
            if !restart {
                inner.writers -= 1;
            }
            restart
        };
        if restart {
            tokio::spawn(drain(self.st.clone()));
        }
    }
}

/// A batch under commit: counted as settled when dropped (see
/// [`GroupCommit::make_way`]).
struct Settling<'a> {
    gc: &'a GroupCommit,
    n: usize,
}

impl Drop for Settling<'_> {
    fn drop(&mut self) {
        self.gc.settle(self.n);
    }
}

/// Commits batches until the queue is empty, then ends.
async fn drain(st: AppState) {
    let mut slot = WriterSlot { st: st.clone(), finished: false };
    loop {
        let batch: Vec<Pending> = {
            let mut inner = st.ingest.lock();
            if inner.queue.is_empty() {
                inner.writers -= 1;
                slot.finished = true;
                return;
            }
            let n = inner.queue.len().min(MAX_BATCH);
            inner.queue.drain(..n).collect()
        };
        st.metrics.ingest_batch(batch.len());
        // Counted as settled once its commit ends, even by a panic.
        let settling = Settling { gc: &st.ingest, n: batch.len() };
        let (changes, replies): (Vec<Prepared>, Vec<_>) = batch.into_iter().map(|p| (p.change, p.reply)).unzip();
        let (outcomes, rows) = write(&st, changes).await;
        drop(settling);
        jobs::ring_many(&st, &rows).await;
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
    }
}

/// Writes a batch and decides each change's outcome. On PostgreSQL the
/// creates of one endpoint from one kind of caller go in one statement each
/// ([`create_together`]): one round trip in autocommit, and the endpoint's
/// usage row stays locked only while that statement commits, so writers
/// overlap. Everything else (replace, delete, SQLite, a group the quota
/// cannot take whole) goes through one transaction ([`write_together`]), so
/// within a batch creates are counted against the quota before replaces and
/// deletes. A database error fails only the changes of its statement or
/// transaction. A new job waits [`GATHER`] when the batch shows load.
async fn write(st: &AppState, changes: Vec<Prepared>) -> (Vec<Result<String>>, Vec<entity::job::Model>) {
    let n = changes.len();
    let mut outcomes: Vec<Option<Result<String>>> = (0..n).map(|_| None).collect();
    let mut created = Vec::new();
    let mut rest: Vec<usize> = Vec::new();
    if st.writer.get_database_backend() == DbBackend::Postgres {
        let mut groups: BTreeMap<_, Vec<usize>> = BTreeMap::new();
        for (i, c) in changes.iter().enumerate() {
            match c.op {
                Operation::Create => {
                    let key = (c.workspace_id.as_str(), c.endpoint_id.as_str(), c.silent, c.quota);
                    groups.entry(key).or_default().push(i);
                }
                _ => rest.push(i),
            }
        }
        for items in groups.into_values() {
            let group: Vec<&Prepared> = items.iter().map(|&i| &changes[i]).collect();
            match create_together(st, &group, n).await {
                Ok(Some((ids, job))) => {
                    for (&i, id) in items.iter().zip(ids) {
                        outcomes[i] = Some(Ok(id));
                    }
                    created.extend(job);
                }
                Ok(None) => rest.extend(items),
                Err(e) => lost(&mut outcomes, &items, &e),
            }
        }
        rest.sort_unstable();
    } else {
        rest = (0..n).collect();
    }
    if !rest.is_empty() {
        let mut slots: Vec<Option<Prepared>> = changes.into_iter().map(Some).collect();
        let subset = rest.iter().filter_map(|&i| slots[i].take()).collect();
        match write_together(st, subset, n).await {
            Ok((outs, jobs)) => {
                for (&i, outcome) in rest.iter().zip(outs) {
                    outcomes[i] = Some(outcome);
                }
                created.extend(jobs);
            }
            Err(e) => lost(&mut outcomes, &rest, &e),
        }
    }
    let outcomes = outcomes.into_iter().map(|o| o.unwrap_or_else(|| Err(Error::internal("change left undecided"))));
    (outcomes.collect(), created)
}

/// The changes at `items` could not be committed: each gets a 500.
fn lost(outcomes: &mut [Option<Result<String>>], items: &[usize], cause: &Error) {
    tracing::error!(%cause, changes = items.len(), "could not commit accepted records");
    for &i in items {
        outcomes[i] = Some(Err(Error::internal("could not store the record")));
    }
}

/// A new `record.process` job for a workspace's accepted changes; it waits
/// [`GATHER`] when its batch shows heavy load (see [`GATHER_FROM`]).
fn process_job(workspace_id: &str, batch: usize) -> NewJob {
    NewJob {
        kind: KIND.into(),
        payload: json!({}),
        workspace_id: Some(workspace_id.to_string()),
        run_at: (batch >= GATHER_FROM).then(|| Utc::now() + GATHER),
        max_attempts: 5,
    }
}

/// PostgreSQL: the creates of one endpoint in one statement, in autocommit:
/// the usage count (all of them or none, within the quota), the workspace's
/// waiting `record.process` job share-locked (so a worker claiming it waits
/// for this commit and then sees these records) or else a new one, and the
/// records. The endpoint is share-locked once for the statement (records
/// have no foreign key on PostgreSQL; see [`write_together`]). `None` when
/// the quota cannot take them all or the endpoint is gone: then nothing was
/// written and [`write_together`] admits what fits, or answers 404.
async fn create_together(
    st: &AppState,
    group: &[&Prepared],
    batch: usize,
) -> Result<Option<(Vec<String>, Option<entity::job::Model>)>> {
    let first = group[0];
    let n = group.len() as i64;
    if first.quota.is_some_and(|limit| limit.is_some_and(|l| n > l)) {
        return Ok(None);
    }
    let job = jobs::row(st.sweep_grace(), process_job(&first.workspace_id, batch));
    let mut values: Vec<sea_orm::Value> = vec![
        job.kind.clone().into(),
        job.state.clone().into(),
        first.workspace_id.clone().into(),
        first.endpoint_id.clone().into(),
        job.id.clone().into(),
        job.payload.to_string().into(),
        job.max_attempts.into(),
        job.run_at.into(),
        job.visible_at.into(),
        job.created_at.into(),
        first.silent.into(),
        Operation::Create.as_str().into(),
        QUEUED.into(),
    ];
    let param = |values: &mut Vec<sea_orm::Value>, v: sea_orm::Value| {
        values.push(v);
        format!("${}", values.len())
    };
    // Every row needs the endpoint, share-locked once for the statement
    // (see [`write_together`]).
    let counted = match first.quota {
        None => "SELECT 1 FROM endpoint".to_string(),
        Some(limit) => {
            let (month, n) = (param(&mut values, month().into()), param(&mut values, n.into()));
            let cap = match limit {
                Some(l) => format!(" WHERE endpoint_usage.count + excluded.count <= {}", param(&mut values, l.into())),
                None => String::new(),
            };
            format!(
                "INSERT INTO endpoint_usage (endpoint_id, month, count) SELECT $4, {month}, {n} FROM endpoint \
                 WHERE true ON CONFLICT (endpoint_id, month) DO UPDATE SET count = endpoint_usage.count + excluded.count{cap} \
                 RETURNING 1"
            )
        }
    };
    // The rows as one `text[]` per column (see [`crate::db::Columns`]):
    // the statement's text is the same for any number of records, so
    // PostgreSQL parses and plans it once per connection. Bodies and
    // callback fields are never empty when given (a JSON object, a URL, a
    // header name, a sealed value).
    let mut columns = crate::db::Columns::new(7, group.len());
    let mut ids = Vec::with_capacity(group.len());
    for c in group {
        let id = c.record_id.clone().unwrap_or_else(|| new_id("rec"));
        columns.push(0, id.as_str());
        columns.push(1, c.environment.as_str());
        columns.push(2, c.key_id.as_str());
        // Checked to be a JSON object before it was queued (none: NULL,
        // as on SQLite).
        columns.push_opt(3, c.body.as_deref());
        columns.push_opt(4, c.callback_url.as_deref());
        columns.push_opt(5, c.callback_auth_header.as_deref());
        columns.push_opt(6, c.callback_auth_enc.as_deref());
        ids.push(id);
    }
    let rows: Vec<String> = columns.into_values().map(|v| param(&mut values, v)).collect();
    let rows = rows.iter().map(|p| format!("{p}::text[]")).collect::<Vec<_>>().join(", ");
    // `waiting` is [`waiting_job`]'s query, in SQL.
    let sql = format!(
        "WITH waiting AS ( \
            SELECT id FROM job WHERE kind = $1 AND state = $2 AND workspace_id = $3 AND attempts = 0 \
            ORDER BY id DESC LIMIT 1 FOR SHARE \
         ), endpoint AS (SELECT 1 FROM data_endpoint WHERE id = $4 FOR KEY SHARE), \
         counted AS ({counted}), \
         new_job AS ( \
            INSERT INTO job (id, workspace_id, kind, payload, state, attempts, max_attempts, run_at, visible_at, \
                             created_at, updated_at) \
            SELECT $5, $3, $1, $6::json, $2, 0, $7, $8, $9, $10, $10 \
            WHERE NOT EXISTS (SELECT 1 FROM waiting) AND EXISTS (SELECT 1 FROM counted) \
            RETURNING id \
         ), written AS ( \
            INSERT INTO record (id, environment, key_id, pending, callback_url, callback_auth_header, \
                                callback_auth_enc, workspace_id, endpoint_id, silent, operation, state, \
                                created_at, updated_at, job_id) \
            SELECT v.id, v.environment, v.key_id, NULLIF(v.pending, '')::json, NULLIF(v.callback_url, ''), \
                   NULLIF(v.callback_auth_header, ''), NULLIF(v.callback_auth_enc, ''), $3, $4, $11, $12, $13, \
                   $10, $10, (SELECT id FROM waiting UNION ALL SELECT id FROM new_job LIMIT 1) \
            FROM unnest({rows}) AS v(id, environment, key_id, pending, callback_url, callback_auth_header, \
                 callback_auth_enc) \
            WHERE EXISTS (SELECT 1 FROM counted) \
            RETURNING 1 \
         ) \
         SELECT (SELECT id FROM new_job) AS new_job, (SELECT count(*) FROM written) AS written"
    );
    let stmt = sea_orm::Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
    let row = st.writer.query_one(stmt).await?.ok_or_else(|| Error::internal("the insert returned no row"))?;
    let written: i64 = row.try_get("", "written")?;
    if written == 0 {
        return Ok(None);
    }
    if written != n {
        return Err(Error::internal(format!("wrote {written} of {n} records")));
    }
    let new_job: Option<String> = row.try_get("", "new_job")?;
    Ok(Some((ids, new_job.map(|_| job))))
}

/// The workspace's `record.process` job that has not started yet, if any.
/// On PostgreSQL its row is share-locked until the commit, so a worker
/// claiming it meanwhile waits and then sees the records added here (SQLite
/// serialises writers anyway). Retried jobs are left alone: their records
/// wait out a backoff.
async fn waiting_job(db: &impl ConnectionTrait, workspace_id: &str) -> Result<Option<String>> {
    use entity::job::Column as J;
    let mut q = entity::job::Entity::find()
        .filter(J::Kind.eq(KIND))
        .filter(J::State.eq(jobs::QUEUED))
        .filter(J::WorkspaceId.eq(workspace_id))
        .filter(J::Attempts.eq(0))
        .order_by_desc(J::Id);
    if db.get_database_backend() == DbBackend::Postgres {
        q = q.lock_shared();
    }
    Ok(q.one(db).await?.map(|j| j.id))
}

/// A JSON text as the value of a `json` column: PostgreSQL wants it cast,
/// SQLite keeps JSON as text anyway.
fn json_text(backend: DbBackend, text: Option<String>) -> SimpleExpr {
    let value = Expr::val(text);
    match backend {
        DbBackend::Postgres => value.cast_as(Alias::new("json")),
        _ => value.into(),
    }
}

/// One transaction for a batch: looks up the records that replace and
/// delete name (404 for a missing one), counts the rest against their
/// endpoints' quotas (429 past it), writes the records and one job per
/// workspace. A refused change writes nothing; a database error fails
/// every change given and writes nothing. `batch`: how many changes the
/// whole group commit holds (see [`process_job`]).
async fn write_together(
    st: &AppState,
    mut changes: Vec<Prepared>,
    batch: usize,
) -> Result<(Vec<Result<String>>, Vec<entity::job::Model>)> {
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let backend = txn.get_database_backend();
    let mut outcomes: Vec<Option<Result<String>>> = (0..changes.len()).map(|_| None).collect();
    // Changes whose record exists: replaced or deleted in place.
    let mut existing: HashSet<usize> = HashSet::new();
    // Every change's endpoint, still there, first: an endpoint deleted
    // since the request looked it up answers 404 (its records went with
    // it). On PostgreSQL the endpoints stay share-locked until the commit,
    // taken in id order before any record or usage row, the order in which
    // `data_endpoints::delete` takes them (records have no foreign key
    // there; see the `record_endpoint_lock` migration). SQLite serialises
    // writers.
    let mut wanted: Vec<&str> = changes.iter().map(|c| c.endpoint_id.as_str()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if !wanted.is_empty() {
        use entity::data_endpoint::{Column as E, Entity as Endpoint};
        // `FOR KEY SHARE` on PostgreSQL; sea-query writes no lock for SQLite.
        let found: HashSet<String> = Endpoint::find()
            .select_only()
            .column(E::Id)
            .filter(E::Id.is_in(wanted.iter().copied()))
            .order_by_asc(E::Id)
            .lock(sea_orm::sea_query::LockType::KeyShare)
            .into_tuple::<String>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        for (i, c) in changes.iter().enumerate() {
            if !found.contains(&c.endpoint_id) {
                outcomes[i] = Some(Err(Error::NotFound("Endpoint")));
            }
        }
    }
    // The records that replace and delete name, locked in id order, so two
    // transactions never wait on each other's records in opposite orders.
    let mut named: Vec<(usize, &str)> = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        match (c.op, &c.record_id) {
            _ if outcomes[i].is_some() => {}
            (Operation::Create, _) => {}
            (_, Some(id)) => named.push((i, id.as_str())),
            (_, None) => outcomes[i] = Some(Err(Error::internal("replace or delete without a record id"))),
        }
    }
    named.sort_by_key(|&(_, id)| id);
    for (i, id) in named {
        let c = &changes[i];
        match super::find_in(&txn, &c.workspace_id, &c.endpoint_id, &c.environment, id, true).await {
            Ok(_) => {
                existing.insert(i);
            }
            Err(e @ Error::NotFound(_)) => outcomes[i] = Some(Err(e)),
            Err(e) => return Err(e),
        }
    }
    // Quotas: per endpoint, admit as many of this batch's changes as remain.
    let mut wanted: BTreeMap<&str, (Option<i64>, Vec<usize>)> = BTreeMap::new();
    for (i, c) in changes.iter().enumerate() {
        if let (None, Some(limit)) = (&outcomes[i], c.quota) {
            wanted.entry(c.endpoint_id.as_str()).or_insert((limit, vec![])).1.push(i);
        }
    }
    for (endpoint_id, (limit, items)) in wanted {
        let admitted = count_requests(&txn, endpoint_id, limit, items.len() as i64).await? as usize;
        for &i in &items[admitted..] {
            outcomes[i] = Some(Err(Error::QuotaExceeded { resets_at: next_month_start() }));
        }
    }
    // One processing job per workspace: the one still waiting, if any (it
    // takes these records too), or a new one.
    let mut jobs_of: BTreeMap<String, String> = BTreeMap::new();
    let mut created = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        if outcomes[i].is_some() || jobs_of.contains_key(c.workspace_id.as_str()) {
            continue;
        }
        let job_id = match waiting_job(&txn, &c.workspace_id).await? {
            Some(id) => id,
            None => {
                let row = jobs::insert(&txn, st.sweep_grace(), process_job(&c.workspace_id, batch)).await?;
                let id = row.id.clone();
                created.push(row);
                id
            }
        };
        jobs_of.insert(c.workspace_id.clone(), job_id);
    }
    // Write what is left: new records in one statement, replaced and
    // deleted ones in place.
    use record::Column as C;
    const COLUMNS: [&str; 15] = [
        "id",
        "workspace_id",
        "endpoint_id",
        "environment",
        "pending",
        "operation",
        "state",
        "key_id",
        "silent",
        "callback_url",
        "callback_auth_header",
        "callback_auth_enc",
        "created_at",
        "updated_at",
        "job_id",
    ];
    let mut inserted: Vec<sea_orm::Value> = Vec::new();
    for (i, c) in changes.iter_mut().enumerate() {
        if outcomes[i].is_some() {
            continue;
        }
        let job_id = jobs_of.get(&c.workspace_id).cloned();
        let id = match c.record_id.take() {
            // Locked by the lookup above: still there, not deleted.
            Some(id) if existing.contains(&i) => {
                record::Entity::update_many()
                    .col_expr(C::Pending, json_text(backend, c.body.take()))
                    .col_expr(C::Operation, Expr::value(c.op.as_str()))
                    .col_expr(C::State, Expr::value(QUEUED))
                    .col_expr(C::Error, Expr::value(Option::<String>::None))
                    .col_expr(C::KeyId, Expr::value(&c.key_id))
                    .col_expr(C::Silent, Expr::value(c.silent))
                    .col_expr(C::CallbackUrl, Expr::value(c.callback_url.take()))
                    .col_expr(C::CallbackAuthHeader, Expr::value(c.callback_auth_header.take()))
                    .col_expr(C::CallbackAuthEnc, Expr::value(c.callback_auth_enc.take()))
                    .col_expr(C::CallbackState, Expr::value(Option::<String>::None))
                    .col_expr(C::CallbackError, Expr::value(Option::<String>::None))
                    .col_expr(C::UpdatedAt, Expr::value(now))
                    .col_expr(C::JobId, Expr::value(job_id))
                    .filter(C::Id.eq(&id))
                    .exec(&txn)
                    .await?;
                id
            }
            // A create: under the id its caller chose, else a new one.
            given => {
                let id = given.unwrap_or_else(|| new_id("rec"));
                inserted.extend([
                    id.clone().into(),
                    std::mem::take(&mut c.workspace_id).into(),
                    std::mem::take(&mut c.endpoint_id).into(),
                    std::mem::take(&mut c.environment).into(),
                    c.body.take().into(),
                    c.op.as_str().into(),
                    QUEUED.into(),
                    std::mem::take(&mut c.key_id).into(),
                    c.silent.into(),
                    c.callback_url.take().into(),
                    c.callback_auth_header.take().into(),
                    c.callback_auth_enc.take().into(),
                    now.into(),
                    now.into(),
                    job_id.into(),
                ]);
                id
            }
        };
        outcomes[i] = Some(Ok(id));
    }
    if !inserted.is_empty() {
        txn.execute(crate::db::insert_rows(backend, "record", &COLUMNS, &["pending"], inserted)?).await?;
    }
    txn.commit().await?;
    let outcomes = outcomes.into_iter().map(|o| o.unwrap_or_else(|| Err(Error::internal("change left undecided"))));
    Ok((outcomes.collect(), created))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const BOUND: Duration = Duration::from_millis(200);

    /// A change waiting for a writer (its answer is dropped).
    fn waiting_change() -> Pending {
        let (reply, _) = oneshot::channel();
        let change = Prepared {
            workspace_id: "ws_1".into(),
            endpoint_id: "de_1".into(),
            environment: "test".into(),
            key_id: "dk_1".into(),
            quota: None,
            op: Operation::Create,
            record_id: None,
            body: Some("{}".into()),
            silent: false,
            callback_url: None,
            callback_auth_header: None,
            callback_auth_enc: None,
        };
        Pending { change, reply }
    }

    /// Queues a change as `submit` does (no writer runs here).
    fn queue_change(gc: &GroupCommit) {
        let mut inner = gc.lock();
        inner.queue.push_back(waiting_change());
        inner.submitted += 1;
    }

    #[tokio::test]
    async fn processing_gives_way_to_a_backlog_only_up_to_its_bound() {
        let gc = GroupCommit::new(1, 1, BOUND);
        queue_change(&gc);
        let t = Instant::now();
        gc.make_way().await;
        assert!(t.elapsed() >= BOUND, "gave way for only {:?}", t.elapsed());
    }

    #[tokio::test]
    async fn processing_goes_once_the_backlog_is_committed() {
        let gc = std::sync::Arc::new(GroupCommit::new(1, 1, Duration::from_secs(5)));
        queue_change(&gc);
        let writer = gc.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            let n = writer.lock().queue.drain(..).count();
            writer.settle(n);
        });
        let t = Instant::now();
        gc.make_way().await;
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(40) && waited < Duration::from_secs(1), "waited {waited:?}");
    }

    #[tokio::test]
    async fn processing_waits_for_a_running_commit_only_up_to_its_bound() {
        let gc = GroupCommit::new(1, 1, BOUND);
        // A change taken by a writer whose commit has not ended.
        gc.lock().writers = 1;
        gc.lock().submitted = 1;
        let t = Instant::now();
        gc.make_way().await;
        assert!(t.elapsed() >= BOUND, "gave way for only {:?}", t.elapsed());
    }

    #[tokio::test]
    async fn processing_waits_only_for_the_changes_before_it_under_a_steady_load() {
        let gc = std::sync::Arc::new(GroupCommit::new(1, 1, Duration::from_secs(5)));
        queue_change(&gc);
        let writer = gc.clone();
        // Commits keep coming (a new change arrives with each), so ingest is
        // never idle; processing still goes once the change it found is in.
        tokio::spawn(async move {
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let n = writer.lock().queue.drain(..).count();
                queue_change(&writer);
                writer.settle(n);
            }
        });
        let t = Instant::now();
        gc.make_way().await;
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(15) && waited < Duration::from_millis(500), "waited {waited:?}");
    }

    #[tokio::test]
    async fn processing_keeps_giving_way_to_a_burst_up_to_its_bound() {
        let gc = GroupCommit::new(1, 1, BOUND);
        for _ in 0..=BURST {
            queue_change(&gc);
        }
        let submitted = gc.lock().submitted;
        gc.lock().settled = submitted;
        let t = Instant::now();
        gc.make_way().await;
        assert!(t.elapsed() >= BOUND, "gave way for only {:?}", t.elapsed());
    }

    #[tokio::test]
    async fn processing_goes_at_once_between_commits_or_when_the_wait_is_off() {
        // Records arrived a moment ago but are committed: no lull needed.
        let between = GroupCommit::new(1, 1, BOUND);
        between.lock().submitted = 3;
        between.settle(3);
        let off = GroupCommit::new(1, 1, Duration::ZERO);
        queue_change(&off);
        off.lock().writers = 1;
        for gc in [between, off] {
            let t = Instant::now();
            gc.make_way().await;
            assert!(t.elapsed() < BOUND, "waited {:?}", t.elapsed());
        }
    }
}
