//! The worker pool: leases doorbells from the queue, claims the ledger row,
//! runs the kind's handler under a timeout with panics caught, keeps the
//! lease alive until its outcome is written, and records the outcome (done,
//! retry with backoff, or dead). On shutdown it stops leasing, lets running jobs finish
//! within the grace period and hands the rest back.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::queue::Delivery;
use super::Handler;
use crate::jobs::ledger::{self as jobs, Claim};
use crate::state::AppState;

/// A worker's name: process id plus a random suffix, unique per start.
pub fn worker_id() -> String {
    let suffix = ulid::Ulid::new().to_string();
    format!("w{}-{}", std::process::id(), &suffix[suffix.len() - 6..])
}

/// Starts the pool (and its heartbeat) on the state's task tracker.
pub fn spawn(st: &AppState) -> String {
    let id = worker_id();
    let st2 = st.clone();
    let id2 = id.clone();
    st.tasks.spawn(async move { run(st2, id2).await });
    let st3 = st.clone();
    let id3 = id.clone();
    st.tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = st3.shutdown.cancelled() => break,
            }
            if let Err(e) = st3.queue.heartbeat(&id3).await {
                tracing::debug!(cause = %e, "worker heartbeat failed");
            }
        }
    });
    id
}

async fn run(st: AppState, id: String) {
    let running = TaskTracker::new();
    let hard_stop = CancellationToken::new();
    let concurrency = st.config.worker_concurrency();
    tracing::info!(worker = %id, concurrency, backend = st.queue.backend(), "worker pool started");
    let _ = st.queue.heartbeat(&id).await;
    // Kinds that run one job at a time and kinds that run in batches lease
    // on their own, so a batch never waits behind single jobs for slots;
    // each batching kind leases its own batches, from one pool of slots. A
    // kind's loop holds a slot while it waits for work, so the pool has one
    // slot more per batching kind beyond the first: a kind with nothing to
    // do never takes a slot from a busy one.
    let kinds = st.registry.kinds_batched(true);
    let batch_slots = Arc::new(Semaphore::new(concurrency + kinds.len().saturating_sub(1)));
    // Shared by the single-job loop and the batch loops: see `Slot`.
    let settling = Arc::new(Semaphore::new(concurrency));
    let batch_pool = Pool { slots: batch_slots, settling: settling.clone() };
    let batched = kinds
        .into_iter()
        .map(|kind| super::batch::lease_loop(&st, &id, kind, batch_pool.clone(), &running, &hard_stop));
    let single = Pool { slots: Arc::new(Semaphore::new(concurrency)), settling };
    // Kinds with a pool of their own (see `Handler::own_slots`): their
    // slots and settling places are theirs alone.
    let on_own = st.registry.kinds_on_own().into_iter().map(|(kind, n)| {
        let pool = Pool { slots: Arc::new(Semaphore::new(n)), settling: Arc::new(Semaphore::new(n)) };
        lease_loop(&st, &id, vec![kind], pool, &running, &hard_stop)
    });
    tokio::join!(
        lease_loop(&st, &id, st.registry.kinds_batched(false), single, &running, &hard_stop),
        futures_util::future::join_all(batched),
        futures_util::future::join_all(on_own),
    );
    // Drain: no more leasing; give running jobs the grace period.
    running.close();
    let grace = Duration::from_secs(st.config.shutdown_grace_seconds);
    if tokio::time::timeout(grace, running.wait()).await.is_err() {
        tracing::warn!(worker = %id, "grace period over; handing unfinished jobs back");
        hard_stop.cancel();
        running.wait().await;
    }
    tracing::info!(worker = %id, "worker pool stopped");
}

/// Run slots and the places of outcomes being written (see [`Slot`]).
#[derive(Clone)]
pub(super) struct Pool {
    pub slots: Arc<Semaphore>,
    pub settling: Arc<Semaphore>,
}

impl Pool {
    /// A run slot, with the way to trade it for a settling place.
    pub(super) fn slot(&self, run: OwnedSemaphorePermit) -> Slot {
        Slot { run, settling: self.settling.clone() }
    }
}

/// A running job's (or batch's) place in the pool. Once its handler is
/// done, [`Slot::settle`] trades it for a place among the jobs and batches
/// whose outcomes are being written, so the next job starts while this
/// one's commit is on its way. The shared pool and the batch pools have
/// `worker_concurrency` such places between them, a kind with a pool of its
/// own as many as it has slots: a finished job that finds every place
/// taken keeps its run slot until one frees up. A job's leases are kept
/// alive until its outcome is written.
pub(super) struct Slot {
    run: OwnedSemaphorePermit,
    settling: Arc<Semaphore>,
}

impl Slot {
    /// The settling place; the run slot is given back once it is held.
    /// After `hard_stop` (the shutdown's grace is over) it does not wait for
    /// one: `None`, and the outcome is written at once.
    pub(super) async fn settle(self, hard_stop: &CancellationToken) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            place = self.settling.clone().acquire_owned() => {
                let place = place.expect("semaphore never closed");
                drop(self.run);
                Some(place)
            }
            _ = hard_stop.cancelled() => None,
        }
    }
}

/// Leases jobs of `kinds` while a slot is free and runs each on its own.
async fn lease_loop(
    st: &AppState,
    id: &str,
    kinds: Vec<String>,
    pool: Pool,
    running: &TaskTracker,
    hard_stop: &CancellationToken,
) {
    if kinds.is_empty() {
        return;
    }
    let slots = pool.slots.clone();
    let mut backoff = Duration::from_millis(100);
    loop {
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = st.shutdown.cancelled() => break,
        };
        let free = slots.available_permits() + 1;
        let leased = tokio::select! {
            r = st.queue.lease(id, &kinds, free, Duration::from_secs(1)) => r,
            _ = st.shutdown.cancelled() => break,
        };
        let Some(deliveries) = leased_or_back_off(st, id, leased, &mut backoff).await else {
            if st.shutdown.is_cancelled() {
                break;
            }
            continue;
        };
        let mut claimed = claim_together(st, id, &deliveries).await;
        let mut first = Some(first);
        for d in deliveries {
            let permit = match first.take() {
                Some(p) => p,
                None => slots.clone().acquire_owned().await.expect("semaphore never closed"),
            };
            let pre = match &mut claimed {
                Some(rows) => match rows.remove(&d.message.job_id) {
                    Some(row) => PreClaim::Claimed(Box::new(row)),
                    None => PreClaim::Missed,
                },
                None => PreClaim::NotTried,
            };
            running.spawn(process(st.clone(), id.to_string(), d, pool.slot(permit), hard_stop.clone(), pre));
        }
    }
}

/// What [`claim_together`] did for one message.
enum PreClaim {
    /// Claimed: run it.
    Claimed(Box<entity::job::Model>),
    /// Tried and not claimed (not due yet, held, done, gone, or a second
    /// doorbell of a job claimed for the first): no second claim.
    Missed,
    /// Not tried (a lone message, or the statement failed): [`process`]
    /// claims it.
    NotTried,
}

/// Claims the ledger rows of several leased messages in one statement (one
/// round trip, one bookkeeping commit, instead of one each): the
/// rows claimed, by job id, or `None` when it did not try. Each message has
/// a free slot (the lease asked for no more), so every claimed job starts
/// at once. [`process`] knows what to do with a message left out.
async fn claim_together(
    st: &AppState,
    worker: &str,
    deliveries: &[Delivery],
) -> Option<std::collections::HashMap<String, entity::job::Model>> {
    if deliveries.len() < 2 {
        return None;
    }
    // A kind without a handler is buried by `process` before it looks at
    // any claim: its row is left alone.
    let mut ids: Vec<String> = deliveries
        .iter()
        .filter(|d| st.registry.get(&d.message.kind).is_some())
        .map(|d| d.message.job_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    match claim_rows(st, &ids, worker).await {
        Ok(rows) => Some(rows.into_iter().map(|r| (r.id.clone(), r)).collect()),
        Err(e) => {
            tracing::warn!(worker, cause = %e, jobs = ids.len(), "could not claim leased jobs together; claiming each alone");
            None
        }
    }
}

/// [`jobs::claim_many`], as bookkeeping (see `AppState::bookkeeping`).
pub(super) async fn claim_rows(
    st: &AppState,
    ids: &[String],
    worker: &str,
) -> crate::error::Result<Vec<entity::job::Model>> {
    let lease = Duration::from_secs(st.config.visibility_timeout_seconds);
    jobs::claim_many(&st.bookkeeping, ids, worker, lease).await
}

/// The leased messages, or `None` after backing off on a queue error
/// (Redis down or restarting: back off instead of spinning).
pub(super) async fn leased_or_back_off(
    st: &AppState,
    id: &str,
    leased: crate::error::Result<Vec<Delivery>>,
    backoff: &mut Duration,
) -> Option<Vec<Delivery>> {
    match leased {
        Ok(d) => {
            *backoff = Duration::from_millis(100);
            Some(d)
        }
        Err(e) => {
            tracing::warn!(worker = %id, cause = %e, retry_in = ?*backoff, "could not lease jobs");
            tokio::select! {
                _ = tokio::time::sleep(*backoff) => {}
                _ = st.shutdown.cancelled() => {}
            }
            *backoff = (*backoff * 2).min(Duration::from_secs(5));
            None
        }
    }
}

pub(super) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// What one run of a job came to, as the worker records it.
pub(super) enum Ran {
    Done,
    /// Not a failure: run again after this wait, spending no attempt.
    Deferred(Duration),
    /// A failed attempt; `floor` is the least wait before the next one that
    /// the handler asked for.
    Failed {
        error: String,
        floor: Duration,
    },
}

impl Ran {
    /// A run that ended without an outcome of the handler's own.
    pub(super) fn failed(error: String) -> Self {
        Ran::Failed { error, floor: Duration::ZERO }
    }

    /// A handler's answer for job `id`.
    pub(super) fn of(id: &str, r: crate::error::Result<()>) -> Self {
        match r {
            Ok(()) => Ran::Done,
            Err(crate::Error::Deferred(wait)) => Ran::Deferred(wait),
            // A handler's own message reads better without the "internal error:" prefix.
            Err(crate::Error::Internal(msg)) => Ran::failed(msg),
            Err(crate::Error::RetryNoSooner { cause, at_least }) => Ran::Failed { error: cause, floor: at_least },
            // Database and Redis details stay in the server log; owners see
            // `lastError`, so it gets a plain message.
            Err(e @ (crate::Error::Database(_) | crate::Error::Redis(_) | crate::Error::RedisPool(_))) => {
                tracing::warn!(job = %id, cause = %e, "job failed on a storage error");
                Ran::failed("internal error (see the server log)".to_string())
            }
            Err(e) => Ran::failed(e.to_string()),
        }
    }
}

/// Keeps the leases of `ds` (queue messages and ledger rows) alive until
/// `beat` is cancelled (callers hold its drop guard, so every way out of a
/// run, a panic included, ends it). Cancels `lost` when fewer ledger rows
/// are held than were leased: another worker took a job after a stall
/// (which stops a running handler), or, once the handler is done, this
/// worker's own outcomes have moved some rows on. Either way it goes on
/// extending the ledger rows this worker still holds (the statement only
/// touches those), but no longer the queue messages, so a message another
/// worker now holds is not claimed back.
pub(super) fn keep_leases(
    st: &AppState,
    worker: &str,
    ds: Vec<Delivery>,
    beat: CancellationToken,
    lost: CancellationToken,
) {
    let lease = Duration::from_secs(st.config.visibility_timeout_seconds);
    let (st, worker) = (st.clone(), worker.to_string());
    tokio::spawn(async move {
        let ids: Vec<String> = ds.iter().map(|d| d.message.job_id.clone()).collect();
        let mut tick = tokio::time::interval(lease / 3);
        tick.tick().await;
        let mut all_held = true;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = beat.cancelled() => break,
            }
            if all_held {
                for d in &ds {
                    let _ = st.queue.extend(&worker, d).await;
                }
            }
            if let Ok(held) = jobs::extend_many(&st.bookkeeping, &ids, &worker, lease).await {
                if held < ids.len() as u64 {
                    all_held = false;
                    lost.cancel();
                }
            }
        }
    });
}

/// Runs one leased job: claims its ledger row (unless [`claim_together`]
/// tried), runs the handler and records the outcome.
async fn process(st: AppState, worker: String, d: Delivery, slot: Slot, hard_stop: CancellationToken, pre: PreClaim) {
    let q = &st.queue;
    let Some(handler) = st.registry.get(&d.message.kind).cloned() else {
        let _ = q.bury(&d, "no handler for this kind").await;
        return;
    };
    let claimed = async {
        let id = std::slice::from_ref(&d.message.job_id);
        let row = match pre {
            PreClaim::Claimed(row) => return Ok::<_, crate::Error>(Claim::Claimed(row)),
            PreClaim::Missed => None,
            PreClaim::NotTried => claim_rows(&st, id, &worker).await?.pop(),
        };
        if let Some(row) = row {
            return Ok(Claim::Claimed(Box::new(row)));
        }
        // Not due yet (a retry scheduled later), or held, finished or gone.
        Ok(match jobs::queued_until(&st.writer, id).await?.remove(&d.message.job_id) {
            Some(at) => Claim::NotYet(at),
            None => Claim::Skip,
        })
    };
    let row = match claimed.await {
        Ok(Claim::Claimed(row)) => row,
        Ok(Claim::Skip) => {
            let _ = q.ack(&d).await;
            return;
        }
        Ok(Claim::NotYet(at)) => {
            let _ = q.retry(&d, (at - Utc::now()).to_std().unwrap_or_default()).await;
            return;
        }
        Err(e) => {
            // Leave the message leased: it is reclaimed after the timeout.
            tracing::warn!(job = %d.message.job_id, cause = %e, "could not claim job");
            return;
        }
    };
    // Keep both leases alive until the outcome is written; if the ledger
    // lease was lost while running, stop: two runs at once must not both
    // record an outcome.
    let beat = CancellationToken::new();
    let lost = CancellationToken::new();
    keep_leases(&st, &worker, vec![d.clone()], beat.clone(), lost.clone());
    let _beat = beat.clone().drop_guard();
    let started = Instant::now();
    let limit = handler.timeout(&row);
    let run = AssertUnwindSafe(handler.run(&st, &row)).catch_unwind();
    let ran = tokio::select! {
        r = tokio::time::timeout(limit, run) => match r {
            Err(_) => Ran::failed(format!("timed out after {limit:?}")),
            Ok(Err(panic)) => Ran::failed(format!("panicked: {}", panic_message(panic))),
            Ok(Ok(r)) => Ran::of(&row.id, r),
        },
        _ = lost.cancelled() => {
            tracing::warn!(job = %row.id, "lease lost while running; leaving the job to its new holder");
            return;
        }
        _ = hard_stop.cancelled() => {
            beat.cancel();
            let _ = jobs::hand_back(&st.writer, &row.id, &worker, Utc::now(), st.sweep_grace()).await;
            let _ = q.retry(&d, Duration::ZERO).await;
            return;
        }
    };
    let took = started.elapsed();
    let _settling = slot.settle(&hard_stop).await;
    settle(&st, &worker, &*handler, &row, &d, ran, took).await;
}

/// Records how a run went: done (acked), deferred (handed back, rung again
/// later, no attempt spent), failed with a retry left (queued again after
/// the backoff) or dead (buried, the handler told).
pub(super) async fn settle(
    st: &AppState,
    worker: &str,
    handler: &dyn Handler,
    row: &entity::job::Model,
    d: &Delivery,
    ran: Ran,
    took: Duration,
) {
    let q = &st.queue;
    let (error, floor) = match ran {
        Ran::Deferred(wait) => {
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            let _ = jobs::hand_back(&st.writer, &row.id, worker, at, st.sweep_grace()).await;
            let _ = q.retry(d, wait).await;
            return;
        }
        Ran::Done => {
            st.metrics.job_finished(&row.kind, true, took);
            let written = if handler.emits_events() && row.workspace_id.is_some() {
                // Its `job.completed` event is recorded in the same transaction.
                let _ = q.record_outcome(&row.kind, true).await;
                match jobs::complete(st, row, worker, true).await {
                    Ok(()) => q.ack(d).await,
                    Err(e) => Err(e),
                }
            } else {
                st.finished.done(st, row, worker, d).await
            };
            if let Err(e) = written {
                // Not marked done: the row keeps its lease and the sweeper
                // re-rings it once that lapses. Done but not acked: the queue
                // hands the doorbell out again, and its claim finds it done.
                tracing::warn!(job = %row.id, cause = %e, "could not record the job's outcome");
            }
            return;
        }
        Ran::Failed { error, floor } => (error, floor),
    };
    st.metrics.job_finished(&row.kind, false, took);
    let _ = q.record_outcome(&row.kind, false).await;
    tracing::warn!(job = %row.id, kind = %row.kind, attempt = row.attempts, %error, "job failed");
    let written = if row.attempts < row.max_attempts {
        let wait = handler.backoff(row).max(floor);
        let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        match jobs::fail(st, row, worker, &error, Some(at), handler.emits_events()).await {
            Ok(()) => q.retry(d, wait).await,
            Err(e) => Err(e),
        }
    } else {
        match jobs::fail(st, row, worker, &error, None, handler.emits_events()).await {
            Ok(()) => {
                if let Err(e) = handler.on_dead(st, row, &error).await {
                    tracing::warn!(job = %row.id, cause = %e, "dead-job hook failed");
                }
                q.bury(d, &error).await
            }
            Err(e) => Err(e),
        }
    };
    if let Err(e) = written {
        // The ledger row keeps its lease; once it lapses the sweeper re-rings.
        tracing::warn!(job = %row.id, cause = %e, "could not record the job's outcome");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finished job gives its run slot back once it holds a settling
    /// place, and no sooner: with every place taken, it keeps the slot.
    #[tokio::test(start_paused = true)]
    async fn a_run_slot_is_traded_for_a_settling_place_only_when_one_is_free() {
        let pool = Pool { slots: Arc::new(Semaphore::new(2)), settling: Arc::new(Semaphore::new(1)) };
        let first = pool.slot(pool.slots.clone().acquire_owned().await.unwrap());
        let second = pool.slot(pool.slots.clone().acquire_owned().await.unwrap());
        assert_eq!(pool.slots.available_permits(), 0);

        let hard_stop = CancellationToken::new();
        let writing = first.settle(&hard_stop).await;
        assert_eq!(pool.slots.available_permits(), 1, "the first job's slot is free while its outcome is written");

        let stop = hard_stop.clone();
        let waiting = tokio::spawn(async move { second.settle(&stop).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no settling place is free");
        assert_eq!(pool.slots.available_permits(), 1, "so the second job keeps its run slot");

        drop(writing);
        let place = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert!(place.is_some());
        assert_eq!(pool.slots.available_permits(), 2);
        assert_eq!(pool.settling.available_permits(), 0);
    }

    /// Once the shutdown's grace is over, a finished job writes its outcome
    /// without waiting for a place.
    #[tokio::test(start_paused = true)]
    async fn after_a_hard_stop_an_outcome_does_not_wait_for_a_place() {
        let pool = Pool { slots: Arc::new(Semaphore::new(1)), settling: Arc::new(Semaphore::new(0)) };
        let slot = pool.slot(pool.slots.clone().acquire_owned().await.unwrap());
        let hard_stop = CancellationToken::new();
        let stop = hard_stop.clone();
        let waiting = tokio::spawn(async move { slot.settle(&stop).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no place is free");
        hard_stop.cancel();
        let place = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert!(place.is_none());
        assert_eq!(pool.slots.available_permits(), 1, "its run slot is given back");
    }
}
