//! The worker pool: leases doorbells from the queue, claims the ledger row,
//! runs the kind's handler under a timeout with panics caught, keeps the
//! lease alive while it runs, and records the outcome (done, retry with
//! backoff, or dead). On shutdown it stops leasing, lets running jobs finish
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
    let concurrency = st.config.worker_concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let kinds = st.registry.kinds();
    let running = TaskTracker::new();
    let hard_stop = CancellationToken::new();
    let mut backoff = Duration::from_millis(100);
    tracing::info!(worker = %id, concurrency, backend = st.queue.backend(), "worker pool started");
    let _ = st.queue.heartbeat(&id).await;
    loop {
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = st.shutdown.cancelled() => break,
        };
        let free = slots.available_permits() + 1;
        let leased = tokio::select! {
            r = st.queue.lease(&id, &kinds, free, Duration::from_secs(1)) => r,
            _ = st.shutdown.cancelled() => break,
        };
        let deliveries = match leased {
            Ok(d) => {
                backoff = Duration::from_millis(100);
                d
            }
            Err(e) => {
                // Redis down or restarting: back off instead of spinning.
                tracing::warn!(worker = %id, cause = %e, retry_in = ?backoff, "could not lease jobs");
                drop(first);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = st.shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let mut first = Some(first);
        for d in deliveries {
            let permit = match first.take() {
                Some(p) => p,
                None => slots.clone().acquire_owned().await.expect("semaphore never closed"),
            };
            running.spawn(process(st.clone(), id.clone(), d, permit, hard_stop.clone()));
        }
    }
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

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

async fn process(st: AppState, worker: String, d: Delivery, _slot: OwnedSemaphorePermit, hard_stop: CancellationToken) {
    let q = &st.queue;
    let Some(handler) = st.registry.get(&d.message.kind).cloned() else {
        let _ = q.bury(&d, "no handler for this kind").await;
        return;
    };
    let lease = Duration::from_secs(st.config.visibility_timeout_seconds);
    let row = match jobs::claim(&st.writer, &d.message.job_id, &worker, lease).await {
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
    // Keep both leases (queue message and ledger row) alive while running;
    // if the ledger lease was lost (another worker took the job after a
    // stall), stop: two runs at once must not both record an outcome.
    let beat = CancellationToken::new();
    let lost = CancellationToken::new();
    {
        let (st, worker, d, beat, lost) = (st.clone(), worker.clone(), d.clone(), beat.clone(), lost.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease / 3);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = beat.cancelled() => break,
                }
                let _ = st.queue.extend(&worker, &d).await;
                if let Ok(false) = jobs::extend(&st.writer, &d.message.job_id, &worker, lease).await {
                    lost.cancel();
                    break;
                }
            }
        });
    }
    let started = Instant::now();
    // The least wait before a retry that the handler asked for.
    let mut floor = Duration::ZERO;
    let run = AssertUnwindSafe(handler.run(&st, &row)).catch_unwind();
    let outcome = tokio::select! {
        r = tokio::time::timeout(handler.timeout(&row), run) => match r {
            Err(_) => Err(format!("timed out after {:?}", handler.timeout(&row))),
            Ok(Err(panic)) => Err(format!("panicked: {}", panic_message(panic))),
            Ok(Ok(Err(crate::Error::Deferred(wait)))) => {
                // Not a failure: run again later without spending an attempt.
                beat.cancel();
                let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                let _ = jobs::hand_back(&st.writer, &row.id, &worker, at, st.sweep_grace()).await;
                let _ = q.retry(&d, wait).await;
                return;
            }
            // A handler's own message reads better without the "internal error:" prefix.
            Ok(Ok(Err(crate::Error::Internal(msg)))) => Err(msg),
            Ok(Ok(Err(crate::Error::RetryNoSooner { cause, at_least }))) => {
                floor = at_least;
                Err(cause)
            }
            // Database and Redis details stay in the server log; owners see
            // `lastError`, so it gets a plain message.
            Ok(Ok(Err(e @ (crate::Error::Database(_) | crate::Error::Redis(_) | crate::Error::RedisPool(_))))) => {
                tracing::warn!(job = %row.id, cause = %e, "job failed on a storage error");
                Err("internal error (see the server log)".to_string())
            }
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Ok(Ok(()))) => Ok(()),
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
    beat.cancel();
    st.metrics.job_finished(&row.kind, outcome.is_ok(), started.elapsed());
    let _ = q.record_outcome(&row.kind, outcome.is_ok()).await;
    let written = match outcome {
        Ok(()) => match jobs::complete(&st, &row, &worker, handler.emits_events()).await {
            Ok(()) => q.ack(&d).await,
            Err(e) => Err(e),
        },
        Err(error) => {
            tracing::warn!(job = %row.id, kind = %row.kind, attempt = row.attempts, %error, "job failed");
            if row.attempts < row.max_attempts {
                let wait = handler.backoff(&row).max(floor);
                let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                match jobs::fail(&st, &row, &worker, &error, Some(at), handler.emits_events()).await {
                    Ok(()) => q.retry(&d, wait).await,
                    Err(e) => Err(e),
                }
            } else {
                match jobs::fail(&st, &row, &worker, &error, None, handler.emits_events()).await {
                    Ok(()) => {
                        if let Err(e) = handler.on_dead(&st, &row, &error).await {
                            tracing::warn!(job = %row.id, cause = %e, "dead-job hook failed");
                        }
                        q.bury(&d, &error).await
                    }
                    Err(e) => Err(e),
                }
            }
        }
    };
    if let Err(e) = written {
        // The ledger row keeps its lease; once it lapses the sweeper re-rings.
        tracing::warn!(job = %row.id, cause = %e, "could not record the job's outcome");
    }
}
