//! Finished jobs' bookkeeping, written together: a job that ran to its end
//! and records no event joins a [`GroupQueue`]; one task at a time marks
//! everything queued done in one bookkeeping statement, acks
//! its doorbells in one round trip, counts the outcomes (one update per
//! kind), then answers each job. Under load this turns a commit and two
//! queue round trips per job into a few per batch; a lone job is written
//! at once.

use tokio::sync::oneshot;

use super::ledger;
use super::queue::Delivery;
use crate::error::{Error, Result};
use crate::group::GroupQueue;
use crate::state::AppState;

/// Jobs written in one statement at most.
const MAX_BATCH: usize = 500;

struct Done {
    job_id: String,
    kind: String,
    worker: String,
    delivery: Delivery,
    answer: oneshot::Sender<std::result::Result<(), String>>,
}

#[derive(Default)]
pub struct Finished {
    queue: GroupQueue<Done>,
}

impl Finished {
    /// Marks the job done (if `worker` still holds it) and acks its
    /// doorbell; returns once both are written.
    pub async fn done(&self, st: &AppState, row: &entity::job::Model, worker: &str, d: &Delivery) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let item = Done {
            job_id: row.id.clone(),
            kind: row.kind.clone(),
            worker: worker.to_string(),
            delivery: d.clone(),
            answer: tx,
        };
        if self.queue.push(item) {
            let st = st.clone();
            tokio::spawn(async move { st.finished.drain(&st).await });
        }
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::internal(e)),
            Err(_) => Err(Error::internal("the job bookkeeping writer stopped")),
        }
    }

    async fn drain(&self, st: &AppState) {
        let _guard = self.queue.writer_guard();
        while let Some(mut batch) = self.queue.next_batch(MAX_BATCH) {
            // One process has one worker pool; group by worker all the same.
            batch.sort_by(|a, b| a.worker.cmp(&b.worker));
            let mut outcomes = Vec::with_capacity(batch.len());
            for group in batch.chunk_by(|a, b| a.worker == b.worker) {
                let outcome = write(st, &group[0].worker, group).await.map_err(|e| e.to_string());
                outcomes.extend(std::iter::repeat_n(outcome, group.len()));
            }
            for (d, outcome) in batch.into_iter().zip(outcomes) {
                let _ = d.answer.send(outcome);
            }
        }
    }
}

async fn write(st: &AppState, worker: &str, done: &[Done]) -> Result<()> {
    let ids: Vec<String> = done.iter().map(|d| d.job_id.clone()).collect();
    ledger::complete_ids(st, &ids, worker).await?;
    let deliveries: Vec<Delivery> = done.iter().map(|d| d.delivery.clone()).collect();
    st.queue.ack_many(&deliveries).await?;
    let mut kinds: Vec<&str> = done.iter().map(|d| d.kind.as_str()).collect();
    kinds.sort_unstable();
    for same in kinds.chunk_by(|a, b| a == b) {
        let _ = st.queue.record_outcomes(same[0], true, same.len() as u64).await;
    }
    Ok(())
}
