//! Group commit for accepted record changes.
//!
//! A 202 promises that the change is in the database, so every accepted
//! request waits for a commit. Committing each one alone costs a
//! transaction (and on SQLite a turn at the one writer) per request. Here
//! requests join a queue instead; a short-lived writer task takes everything
//! queued, commits it in one transaction (quota counts, record rows, and per
//! workspace the `record.process` job that has not started yet or a new
//! one), rings the queue for each new job, and answers each request. While
//! that commit runs, new requests queue up for the next one, so batches grow
//! with load and a lone request never waits for company: there is no timer.
//!
//! Writer tasks exist only while there is work (at most
//! [`GroupCommit::writers`] at once) and own nothing but a state clone, so a
//! dropped request or a stopping server leaves nothing behind.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::json;
use tokio::sync::oneshot;

use entity::record;

use super::{Operation, KIND, QUEUED};
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::services::data_endpoints::{count_requests, next_month_start};
use crate::services::jobs::{self, NewJob};
use crate::state::AppState;

/// Most changes one transaction writes (bounded by SQLite's limit on bound
/// parameters: 19 columns × 200 rows).
pub const MAX_BATCH: usize = 200;

/// How long a new processing job waits when its batch shows load (more than
/// one change): records accepted meanwhile join it, so under load one job
/// applies hundreds of records per transaction instead of a few. A lone
/// change's job runs at once.
const GATHER: chrono::Duration = chrono::Duration::milliseconds(50);

/// How long no change must arrive before processing counts ingest as eased.
const QUIET: Duration = Duration::from_millis(10);

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
    /// For replace and delete.
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
    /// When the last change was queued.
    last_change: Instant,
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
}

impl GroupCommit {
    pub fn new(writers: usize, appliers: usize, yield_for: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner { queue: VecDeque::new(), writers: 0, last_change: Instant::now() }),
            writers: writers.max(1),
            appliers: tokio::sync::Semaphore::new(appliers.max(1)),
            yield_for,
        }
    }

    /// Waits until no change has arrived for [`QUIET`], at most
    /// [`GroupCommit::yield_for`]. Processing calls it before each of its
    /// transactions: a 202 is what a client waits for, processing is not, so
    /// under a burst the records are accepted first (on SQLite the one writer
    /// connection, on PostgreSQL the CPU, are theirs) and applied once it
    /// eases, or after the bound at the latest, so processing never starves.
    pub async fn make_way(&self) {
        let deadline = Instant::now() + self.yield_for;
        loop {
            let quiet_since = {
                let inner = self.lock();
                (inner.queue.is_empty() && inner.writers == 0).then_some(inner.last_change)
            };
            let now = Instant::now();
            let eased = quiet_since.is_some_and(|t| now.duration_since(t) >= QUIET);
            if eased || now >= deadline {
                return;
            }
            tokio::time::sleep(QUIET.min(deadline - now) / 2).await;
        }
    }

    /// A turn to apply records (see [`GroupCommit::appliers`]), if one is free.
    pub fn applier(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.appliers.try_acquire().ok()
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
        inner.last_change = Instant::now();
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
        let (changes, replies): (Vec<Prepared>, Vec<_>) = batch.into_iter().map(|p| (p.change, p.reply)).unzip();
        match write(&st, changes).await {
            Ok((outcomes, rows)) => {
                for row in &rows {
                    jobs::ring(&st, row).await;
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(cause = %e, changes = replies.len(), "could not commit accepted records");
                for reply in replies {
                    let _ = reply.send(Err(Error::internal("could not store the record")));
                }
            }
        }
    }
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
/// workspace. A refused change writes nothing; a database error fails the
/// whole batch and writes nothing.
async fn write(st: &AppState, mut changes: Vec<Prepared>) -> Result<(Vec<Result<String>>, Vec<entity::job::Model>)> {
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let backend = txn.get_database_backend();
    let mut outcomes: Vec<Option<Result<String>>> = (0..changes.len()).map(|_| None).collect();
    // Changes whose record exists: replaced or deleted in place.
    let mut existing: HashSet<usize> = HashSet::new();
    // The records that replace and delete name, locked in id order, so two
    // transactions never wait on each other's records in opposite orders.
    let mut named: Vec<(usize, &str)> = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        match (c.op, &c.record_id) {
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
                let new = NewJob {
                    kind: KIND.into(),
                    payload: json!({}),
                    workspace_id: Some(c.workspace_id.clone()),
                    run_at: (changes.len() > 1).then(|| now + GATHER),
                    max_attempts: 5,
                };
                let row = jobs::insert(&txn, st.sweep_grace(), new).await?;
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
    let mut insert = Query::insert();
    insert.into_table(record::Entity).columns([
        C::Id,
        C::WorkspaceId,
        C::EndpointId,
        C::Environment,
        C::Pending,
        C::Operation,
        C::State,
        C::KeyId,
        C::Silent,
        C::CallbackUrl,
        C::CallbackAuthHeader,
        C::CallbackAuthEnc,
        C::CreatedAt,
        C::UpdatedAt,
        C::JobId,
    ]);
    let mut inserting = false;
    for (i, c) in changes.iter_mut().enumerate() {
        if outcomes[i].is_some() {
            continue;
        }
        let job_id = jobs_of.get(&c.workspace_id).cloned();
        let body = json_text(backend, c.body.take());
        let id = match c.record_id.take().filter(|_| existing.contains(&i)) {
            None => {
                let id = new_id("rec");
                insert.values_panic([
                    id.clone().into(),
                    std::mem::take(&mut c.workspace_id).into(),
                    std::mem::take(&mut c.endpoint_id).into(),
                    std::mem::take(&mut c.environment).into(),
                    body,
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
                inserting = true;
                id
            }
            // Locked by the lookup above: still there, not deleted.
            Some(id) => {
                record::Entity::update_many()
                    .col_expr(C::Pending, body)
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
        };
        outcomes[i] = Some(Ok(id));
    }
    if inserting {
        txn.execute(backend.build(&insert)).await?;
    }
    txn.commit().await?;
    let outcomes = outcomes.into_iter().map(|o| o.unwrap_or_else(|| Err(Error::internal("change left undecided"))));
    Ok((outcomes.collect(), created))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn processing_waits_for_a_running_commit_only_up_to_its_bound() {
        let gc = GroupCommit::new(1, 1, BOUND);
        gc.lock().writers = 1;
        let t = Instant::now();
        gc.make_way().await;
        assert!(t.elapsed() >= BOUND, "gave way for only {:?}", t.elapsed());
    }

    #[tokio::test]
    async fn processing_waits_until_no_change_arrived_for_the_quiet_time() {
        let gc = GroupCommit::new(1, 1, BOUND);
        gc.lock().last_change = Instant::now();
        let t = Instant::now();
        gc.make_way().await;
        let waited = t.elapsed();
        assert!(waited >= QUIET && waited < BOUND, "waited {waited:?}");
    }

    #[tokio::test]
    async fn processing_goes_at_once_when_ingest_is_quiet_or_the_wait_is_off() {
        let quiet = GroupCommit::new(1, 1, BOUND);
        quiet.lock().last_change = Instant::now() - QUIET;
        let off = GroupCommit::new(1, 1, Duration::ZERO);
        off.lock().writers = 1;
        for gc in [quiet, off] {
            let t = Instant::now();
            gc.make_way().await;
            assert!(t.elapsed() < BOUND, "waited {:?}", t.elapsed());
        }
    }
}
