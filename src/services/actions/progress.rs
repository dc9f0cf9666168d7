//! A run's progress, written together with other runs'. While a run goes
//! on (it starts, a step ends and more follow) its row is updated: one
//! UPDATE each, which on its own costs a turn at the database (on SQLite
//! at the one writer, whose every turn also costs sqlx's ping on the
//! connection's return to the pool). Here the updates of concurrent runs
//! join a queue; one writer task at a time takes what is queued, applies it
//! in one transaction and answers each run with whether its job still owns
//! it. While that commit runs new updates queue up for the next, so batches
//! grow with load and a lone update never waits for company (there is no
//! timer).
//!
//! Progress is bookkeeping like the job ledger's: on PostgreSQL its commit
//! does not wait for the WAL flush (see
//! [`AppState::bookkeeping`](crate::state::Shared::bookkeeping)). Only a
//! crash of the database server itself can lose its last fraction of a
//! second, and then the run goes on from the step before: at-least-once,
//! with the same idempotency keys, as after a killed worker. A run's end
//! (its status and event) and its waits (a new job) are not written here.
//!
//! A batch that fails is applied again update by update, so one bad update
//! fails only its own run's job.

use sea_orm::{TransactionTrait, UpdateMany};
use tokio::sync::oneshot;

use entity::action_run;

use crate::error::{Error, Result};
use crate::group::GroupQueue;
use crate::state::AppState;

/// Most updates one transaction applies.
const MAX_BATCH: usize = 100;

type Update = UpdateMany<action_run::Entity>;
type Waiting = (Update, oneshot::Sender<std::result::Result<bool, String>>);

/// Run updates waiting for their group commit.
#[derive(Default)]
pub struct Progress {
    queue: GroupQueue<Waiting>,
}

impl Progress {
    /// Applies `update` (filtered to one run and the job that must own it);
    /// returns once it is committed, with whether it changed the run.
    pub async fn write(&self, st: &AppState, update: Update) -> Result<bool> {
        let (tx, rx) = oneshot::channel();
        if self.queue.push((update, tx)) {
            let st = st.clone();
            tokio::spawn(async move { st.run_progress.drain(&st).await });
        }
        match rx.await {
            Ok(Ok(owned)) => Ok(owned),
            Ok(Err(e)) => Err(Error::internal(format!("the run's progress could not be saved: {e}"))),
            Err(_) => Err(Error::internal("the run progress writer stopped")),
        }
    }

    /// Applies batches until the queue is empty.
    async fn drain(&self, st: &AppState) {
        let _guard = self.queue.writer_guard();
        while let Some(batch) = self.queue.next_batch(MAX_BATCH) {
            let (updates, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            for (outcome, w) in apply_all(st, updates).await.into_iter().zip(waiters) {
                let _ = w.send(outcome);
            }
        }
    }
}

/// Each update's outcome, in order: together in one transaction, or, when
/// that fails, one by one.
async fn apply_all(st: &AppState, updates: Vec<Update>) -> Vec<std::result::Result<bool, String>> {
    if let [one] = updates.as_slice() {
        return vec![apply_one(st, one.clone()).await.map_err(|e| e.to_string())];
    }
    match apply_together(st, updates.clone()).await {
        Ok(owned) => owned.into_iter().map(Ok).collect(),
        Err(e) => {
            tracing::warn!(cause = %e, updates = updates.len(), "run progress batch failed; applying it one by one");
            let mut out = Vec::with_capacity(updates.len());
            for u in updates {
                out.push(apply_one(st, u).await.map_err(|e| e.to_string()));
            }
            out
        }
    }
}

/// One update, which commits on its own: no transaction's two more turns.
async fn apply_one(st: &AppState, update: Update) -> Result<bool> {
    Ok(update.exec(&st.bookkeeping).await?.rows_affected == 1)
}

async fn apply_together(st: &AppState, updates: Vec<Update>) -> Result<Vec<bool>> {
    let txn = st.bookkeeping.begin().await?;
    let mut owned = Vec::with_capacity(updates.len());
    for u in updates {
        owned.push(u.exec(&txn).await?.rows_affected == 1);
    }
    txn.commit().await?;
    Ok(owned)
}
