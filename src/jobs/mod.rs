//! Background work. The database is the ledger (see [`ledger`]); the
//! [`Queue`] is the doorbell, with a Redis-streams backend for production and
//! an in-process one for the embedded default. A worker pool runs one
//! [`Handler`] per job kind; a sweeper, run by one elected process, re-rings
//! anything the ledger says is due that no queue holds, and fires the
//! recurring schedules.

mod batch;
pub mod embedded;
pub mod finish;
pub mod handlers;
pub mod leader;
pub mod ledger;
pub mod queue;
pub mod redis;
pub mod schedules;
pub mod sweeper;
pub mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use queue::{Delivery, KindStats, Message, Queue};

use crate::error::Result;
use crate::state::AppState;

/// The code that runs one kind of job. Handlers must be idempotent: work is
/// at-least-once.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The kind name, e.g. `maintenance.prune`.
    fn kind(&self) -> &'static str;
    /// Longest a run may take before it counts as failed.
    fn timeout(&self, _job: &entity::job::Model) -> Duration {
        Duration::from_secs(30)
    }
    /// Attempts before the job is dead (used when it is enqueued).
    fn max_attempts(&self) -> u32 {
        5
    }
    /// Wait before the next attempt, after `job.attempts` failed ones:
    /// exponential from 1 s, at most 10 min.
    fn backoff(&self, job: &entity::job::Model) -> Duration {
        let n = job.attempts.clamp(1, 20) as u32;
        Duration::from_secs(1u64 << (n - 1).min(9)).min(Duration::from_secs(600))
    }
    /// Whether a workspace job of this kind records `job.completed` and
    /// `job.failed` events. Kinds whose runs are already logged elsewhere
    /// (webhook deliveries) say no: their events would fan out to webhooks
    /// subscribed to `job.*` or `*`, whose deliveries would make more events.
    fn emits_events(&self) -> bool {
        true
    }
    async fn run(&self, st: &AppState, job: &entity::job::Model) -> Result<()>;
    /// Most jobs of this kind one run may take together (see
    /// [`Handler::run_batch`]). 1, the default, runs each on its own; above
    /// 1, the worker claims, runs and settles up to this many at once, in one
    /// round trip each, so a kind with many small jobs (a delivery is one
    /// HTTP request) spends its time on the work, not on the ledger.
    fn batch_size(&self) -> usize {
        1
    }
    /// Runs several claimed jobs of this kind at once; returns one outcome
    /// per job, in order (each means what [`Handler::run`]'s would). Called
    /// only when [`Handler::batch_size`] is above 1. The default runs them
    /// concurrently one by one; a kind that batches overrides it to read and
    /// write its rows for the whole batch at once.
    async fn run_batch(&self, st: &AppState, jobs: &[entity::job::Model]) -> Vec<Result<()>> {
        futures_util::future::join_all(jobs.iter().map(|j| self.run(st, j))).await
    }
    /// Jobs of this kind one process runs at once in a pool of their own,
    /// or `None` (the default): they share the process's pool of
    /// `--worker-concurrency` slots with the other kinds. A kind whose jobs
    /// spend their time waiting on outside services (an action run's
    /// provider calls) takes its own, so it neither waits behind the kinds
    /// that keep the database busy nor crowds them: on SQLite that shared
    /// pool is kept small, because a `record.process` job left waiting for
    /// a slot gathers more records per transaction. Its pool has as many
    /// settling places as slots (see `worker::Slot`). Kinds that run in
    /// batches ([`Handler::batch_size`] above 1) lease their own batches
    /// already; for them this is not asked.
    fn own_slots(&self) -> Option<usize> {
        None
    }
    /// Called once the job is dead (no attempt left), so the thing it
    /// worked on can record that it failed.
    async fn on_dead(&self, _st: &AppState, _job: &entity::job::Model, _error: &str) -> Result<()> {
        Ok(())
    }
    /// Called when an owner puts the dead job back in the queue, so the
    /// thing it worked on can be opened again.
    async fn on_requeue(&self, _st: &AppState, _job: &entity::job::Model) -> Result<()> {
        Ok(())
    }
}

/// Every handler this process runs, by kind. The engine knows no kind but
/// its own diagnostic one: each service registers the handlers of the jobs
/// it owns (see `services::register_jobs`) when the state is built.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<&'static str, Arc<dyn Handler>>,
}

impl Registry {
    /// The engine's own handlers (`diagnostic.noop`).
    pub fn engine() -> Self {
        let mut r = Self::default();
        r.add(handlers::Noop);
        r
    }

    /// Adds (or replaces) the handler of `h.kind()`.
    pub fn add(&mut self, h: impl Handler) -> &mut Self {
        self.handlers.insert(h.kind(), Arc::new(h));
        self
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Handler>> {
        self.handlers.get(kind)
    }

    pub fn kinds(&self) -> Vec<String> {
        self.handlers.keys().map(|k| k.to_string()).collect()
    }

    /// The kinds whose jobs run one at a time in the shared pool
    /// (`batched == false`) or in batches (`batched == true`, see
    /// [`Handler::batch_size`]).
    pub fn kinds_batched(&self, batched: bool) -> Vec<String> {
        self.handlers
            .iter()
            .filter(|(_, h)| (h.batch_size() > 1) == batched && (batched || h.own_slots().is_none()))
            .map(|(k, _)| k.to_string())
            .collect()
    }

    /// The kinds that run one at a time in a pool of their own, with its
    /// size (see [`Handler::own_slots`]).
    pub fn kinds_on_own(&self) -> Vec<(String, usize)> {
        self.handlers
            .iter()
            .filter(|(_, h)| h.batch_size() <= 1)
            .filter_map(|(k, h)| Some((k.to_string(), h.own_slots()?.max(1))))
            .collect()
    }
}
