//! A run's progress, written together with other runs'. While a run goes
//! on (it starts, a step ends and more follow) its row is updated: one
//! UPDATE each, which on its own costs a turn at the database.
//!
//! - **SQLite**: every write is a turn at the one writer connection, which
//!   also costs sqlx's ping on the connection's return to the pool. Here
//!   the updates of concurrent runs join a queue; one writer task at a
//!   time takes what is queued, applies it in one transaction and answers
//!   each run with whether its job still owns it. While that commit runs
//!   new updates queue up for the next, so batches grow with load and a
//!   lone update never waits for company (there is no timer).
//! - **PostgreSQL**: writes run side by side, so each update is applied at
//!   once, alone, on the bookkeeping pool, whose commits do not wait for
//!   the WAL flush (see [`AppState::bookkeeping`](crate::state::Shared::bookkeeping)).
//!   Not in one transaction: it would hold up to a batch of run rows
//!   locked together, in queue order, against `pause_waiting`, which locks
//!   an action's runs in its own order. Only a crash of the database server
//!   itself can lose the last fraction of a second of progress; the run
//!   then goes on from the step before (see [`runs`](super::runs)).
//!
//! A run's end (its status and event) and its waits (a new job) are not
//! written here. Never await [`Progress::write`] inside a transaction on
//! the writer: on SQLite the queue's writer needs that one connection.
//!
//! A batch that fails is applied again update by update, so one bad
//! update fails only its own run's job; a batch that cannot start (the
//! database is unreachable) fails all its updates at once.

use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait, UpdateMany};
use tokio::sync::oneshot;

use entity::action_run;

use crate::error::{Error, Result};
use crate::group::GroupQueue;
use crate::state::AppState;

/// Most updates one transaction applies.
const MAX_BATCH: usize = 100;

type Update = UpdateMany<action_run::Entity>;
type Waiting = (Update, oneshot::Sender<Result<bool>>);

/// Run updates waiting for their group commit.
#[derive(Default)]
pub struct Progress {
    queue: GroupQueue<Waiting>,
}

impl Progress {
    /// Applies `update` (filtered to one run and the job that must own it);
    /// returns once it is committed, with whether it changed the run.
    pub async fn write(&self, st: &AppState, update: Update) -> Result<bool> {
        if st.bookkeeping.get_database_backend() == DbBackend::Postgres {
            return apply_one(st, update).await;
        }
        let (tx, rx) = oneshot::channel();
        if self.queue.push((update, tx)) {
            let st = st.clone();
            tokio::spawn(async move { st.run_progress.drain(&st).await });
        }
        rx.await.unwrap_or_else(|_| Err(Error::internal("the run progress writer stopped")))
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
/// a statement of it fails, one by one.
async fn apply_all(st: &AppState, updates: Vec<Update>) -> Vec<Result<bool>> {
    if let [one] = updates.as_slice() {
        return vec![apply_one(st, one.clone()).await];
    }
    let txn = match st.bookkeeping.begin().await {
        Ok(txn) => txn,
        Err(e) => {
            tracing::warn!(cause = %e, updates = updates.len(), "run progress batch could not start");
            return updates.iter().map(|_| Err(Error::internal("the database could not be reached"))).collect();
        }
    };
    match apply_in(&txn, updates.clone()).await {
        Ok(owned) => match txn.commit().await {
            Ok(()) => return owned.into_iter().map(Ok).collect(),
            Err(e) => tracing::warn!(cause = %e, updates = updates.len(), "run progress batch failed to commit"),
        },
        Err(e) => {
            tracing::warn!(cause = %e, updates = updates.len(), "run progress batch failed");
            // Gives the connection back first: on SQLite it is the one writer.
            if let Err(e) = txn.rollback().await {
                tracing::warn!(cause = %e, "run progress batch failed to roll back");
            }
        }
    }
    // Applied again one by one (an update applied twice changes nothing more).
    let mut out = Vec::with_capacity(updates.len());
    for u in updates {
        out.push(apply_one(st, u).await);
    }
    out
}

/// One update, which commits on its own: no transaction's two more turns.
async fn apply_one(st: &AppState, update: Update) -> Result<bool> {
    Ok(update.exec(&st.bookkeeping).await?.rows_affected == 1)
}

async fn apply_in(txn: &sea_orm::DatabaseTransaction, updates: Vec<Update>) -> Result<Vec<bool>> {
    let mut owned = Vec::with_capacity(updates.len());
    for u in updates {
        owned.push(u.exec(txn).await?.rows_affected == 1);
    }
    Ok(owned)
}
