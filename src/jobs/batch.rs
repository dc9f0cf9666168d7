//! Batches: the kinds whose handler takes several jobs at once (see
//! [`super::Handler::batch_size`]) lease on their own loop, and each batch is
//! claimed in one statement, run by one call of the handler, and its
//! finished jobs settled in one statement and one queue round trip. A job
//! that failed or was deferred is settled on its own, as a single job is,
//! so retries, backoff and dead letters behave the same either way.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::queue::Delivery;
use super::worker::{keep_leases, leased_or_back_off, panic_message, settle, Pool, Ran, Slot};
use super::Handler;
use crate::jobs::ledger as jobs;
use crate::state::AppState;

/// Leases jobs of one batching `kind` while one of the pool's batch slots
/// is free (`pool.slots`: shared by every batching kind, see `worker::run`), a
/// batch at a time: each lease is at most the
/// kind's batch size and runs at once on the slot taken before it, so
/// nothing leased waits for a slot while its lease runs out, and one kind's
/// big batches do not make another kind's leases bigger. Under a light load
/// a batch is one job, so nothing waits to fill one; under a heavy one the
/// batches grow with what queued meanwhile.
pub(super) async fn lease_loop(
    st: &AppState,
    id: &str,
    kind: String,
    pool: Pool,
    running: &TaskTracker,
    hard_stop: &CancellationToken,
) {
    let Some(handler) = st.registry.get(&kind).cloned() else { return };
    let size = handler.batch_size().max(1);
    let kinds = [kind];
    let mut backoff = Duration::from_millis(100);
    loop {
        let slot = tokio::select! {
            p = pool.slots.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = st.shutdown.cancelled() => break,
        };
        let leased = tokio::select! {
            r = st.queue.lease(id, &kinds, size, Duration::from_secs(1)) => r,
            _ = st.shutdown.cancelled() => break,
        };
        let Some(deliveries) = leased_or_back_off(st, id, leased, &mut backoff).await else {
            if st.shutdown.is_cancelled() {
                break;
            }
            continue;
        };
        if deliveries.is_empty() {
            continue;
        }
        let batch = Batch { st: st.clone(), worker: id.to_string(), handler: handler.clone() };
        running.spawn(batch.run(deliveries, pool.slot(slot), hard_stop.clone()));
    }
}

struct Batch {
    st: AppState,
    worker: String,
    handler: Arc<dyn Handler>,
}

impl Batch {
    async fn run(self, ds: Vec<Delivery>, slot: Slot, hard_stop: CancellationToken) {
        let (st, worker, q) = (&self.st, self.worker.as_str(), &self.st.queue);
        let Some((rows, held)) = self.claim(ds).await else { return };
        // Keep the leases alive until the outcomes are written; if one was
        // lost while running, stop: two runs at once must not both record an
        // outcome (the rest of the batch is rung again by the sweeper once
        // its leases lapse).
        let beat = CancellationToken::new();
        let lost = CancellationToken::new();
        keep_leases(st, worker, held.clone(), beat.clone(), lost.clone());
        let _beat = beat.clone().drop_guard();
        let started = Instant::now();
        let limit = rows.iter().map(|r| self.handler.timeout(r)).max().unwrap_or_default();
        let run = AssertUnwindSafe(self.handler.run_batch(st, &rows)).catch_unwind();
        let everyone = |why: String| rows.iter().map(|_| Ran::failed(why.clone())).collect::<Vec<_>>();
        let outcomes: Vec<Ran> = tokio::select! {
            r = tokio::time::timeout(limit, run) => match r {
                Err(_) => everyone(format!("timed out after {limit:?}")),
                Ok(Err(panic)) => everyone(format!("panicked: {}", panic_message(panic))),
                Ok(Ok(rs)) if rs.len() == rows.len() => rs.into_iter().zip(&rows).map(|(r, row)| Ran::of(&row.id, r)).collect(),
                Ok(Ok(rs)) => everyone(format!("the handler answered for {} of {} jobs", rs.len(), rows.len())),
            },
            _ = lost.cancelled() => {
                tracing::warn!(jobs = rows.len(), "a lease was lost while running a batch; leaving it to the sweeper");
                return;
            }
            _ = hard_stop.cancelled() => {
                beat.cancel();
                for (row, d) in rows.iter().zip(&held) {
                    let _ = jobs::hand_back(&st.writer, &row.id, worker, Utc::now(), st.sweep_grace()).await;
                    let _ = q.retry(d, Duration::ZERO).await;
                }
                return;
            }
        };
        let took = started.elapsed();
        let _settling = slot.settle(&hard_stop).await;
        let mut done: Vec<(&entity::job::Model, &Delivery)> = Vec::new();
        let mut rest = Vec::new();
        for ((row, d), ran) in rows.iter().zip(&held).zip(outcomes) {
            match ran {
                Ran::Done => done.push((row, d)),
                other => rest.push(settle(st, worker, &*self.handler, row, d, other, took)),
            }
        }
        futures_util::future::join_all(rest).await;
        self.complete(&done, took).await;
    }

    /// Claims the batch's jobs in one statement; returns the rows claimed
    /// with their messages. The doorbells of jobs not claimed are rung
    /// again when the job is due, or dropped (finished, held, gone).
    async fn claim(&self, ds: Vec<Delivery>) -> Option<(Vec<entity::job::Model>, Vec<Delivery>)> {
        let (st, q) = (&self.st, &self.st.queue);
        let ids: Vec<String> = ds.iter().map(|d| d.message.job_id.clone()).collect();
        let claimed = match super::worker::claim_rows(st, &ids, &self.worker).await {
            Ok(rows) => rows,
            Err(e) => {
                // Leave the messages leased: they are reclaimed after the timeout.
                tracing::warn!(jobs = ids.len(), cause = %e, "could not claim a batch of jobs");
                return None;
            }
        };
        let mut by_id: HashMap<String, entity::job::Model> = claimed.into_iter().map(|r| (r.id.clone(), r)).collect();
        let (mut rows, mut held, mut others) = (Vec::new(), Vec::new(), Vec::new());
        for d in ds {
            // A second doorbell of one job in the batch finds it taken: dropped.
            match by_id.remove(&d.message.job_id) {
                Some(row) => {
                    rows.push(row);
                    held.push(d);
                }
                None => others.push(d),
            }
        }
        if !others.is_empty() {
            let ids: Vec<String> = others.iter().map(|d| d.message.job_id.clone()).collect();
            match jobs::queued_until(&st.writer, &ids).await {
                Ok(due) => {
                    for d in &others {
                        let _ = match due.get(&d.message.job_id) {
                            Some(at) => q.retry(d, (*at - Utc::now()).to_std().unwrap_or_default()).await,
                            None => q.ack(d).await,
                        };
                    }
                }
                Err(e) => tracing::warn!(jobs = ids.len(), cause = %e, "could not look up unclaimed jobs"),
            }
        }
        (!rows.is_empty()).then_some((rows, held))
    }

    /// The finished jobs: done in one statement, acked in one round trip.
    async fn complete(&self, done: &[(&entity::job::Model, &Delivery)], took: Duration) {
        let Some((first, _)) = done.first() else { return };
        let (st, q) = (&self.st, &self.st.queue);
        for _ in done {
            st.metrics.job_finished(&first.kind, true, took);
        }
        let _ = q.record_outcomes(&first.kind, true, done.len() as u64).await;
        let rows: Vec<&entity::job::Model> = done.iter().map(|(r, _)| *r).collect();
        let written = match jobs::complete_many(st, &rows, &self.worker, self.handler.emits_events()).await {
            Ok(()) => q.ack_many(&done.iter().map(|(_, d)| (*d).clone()).collect::<Vec<_>>()).await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            // The ledger rows keep their leases; once they lapse the sweeper re-rings.
            tracing::warn!(jobs = done.len(), cause = %e, "could not record a batch's outcome");
        }
    }
}
