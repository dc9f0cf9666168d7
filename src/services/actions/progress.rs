//! A run's writes, made together with other runs': its start by hand
//! (the run and its job), its progress while it goes on (it starts, a step
//! ends and more follow: one UPDATE), and its close (it waits, hands over
//! to a new job, or ends: the update, the next job, the event of its end,
//! in one transaction). Each is a turn at the database on its own.
//!
//! - **SQLite**: every write is a turn at the one writer connection, which
//!   also costs sqlx's ping on the connection's return to the pool. Here
//!   the writes of concurrent runs join a queue; one writer task at a time
//!   takes what is queued, applies it in one transaction on the writer and
//!   answers each: a start with its run and job, an update with whether
//!   its job still owns the run, a close with that, its job and its event.
//!   While that commit runs new writes queue up for the next, so batches
//!   grow with load and a lone write never waits for company (there is no
//!   timer). A close that finds its job no longer owns the run writes
//!   nothing (its update comes first), so it needs no transaction of its
//!   own to undo.
//! - **PostgreSQL**: writes run side by side. A start (one statement) and
//!   a close are each their own transaction on the writer pool, as durable
//!   as before.
//!   Each update is applied at once, alone, on the bookkeeping pool, whose
//!   commits do not wait for the WAL flush (see
//!   [`AppState::bookkeeping`](crate::state::Shared::bookkeeping)).
//!   Not in one transaction: it would hold up to a batch of run rows
//!   locked together, in queue order, against `pause_waiting`, which locks
//!   an action's runs in its own order. Only a crash of the database server
//!   itself can lose the last fraction of a second of progress; the run
//!   then goes on from the step before (see [`runs`](super::runs)).
//!
//! Runs that triggers start are written in their cause's transaction, not
//! here. Never await [`Progress`]'s writes inside a transaction on the
//! writer: on SQLite the queue's writer needs that one connection. The
//! event hooks a close runs get the batch's transaction, not the state, so
//! they cannot wait on this queue.
//!
//! A batch that fails is rolled back and applied again write by write, so
//! one bad write fails only its own caller; a batch that cannot start (the
//! database is unreachable) fails all its writes at once.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, TransactionTrait, UpdateMany};
use serde_json::Value;
use tokio::sync::oneshot;

use entity::{action, action_run, job};

use super::runs::{self, Closed, Closing, Origin};
use crate::error::{Error, Result};
use crate::group::GroupQueue;
use crate::jobs::ledger;
use crate::state::AppState;

/// Most writes one transaction applies.
const MAX_BATCH: usize = 100;

type Update = UpdateMany<action_run::Entity>;

/// A run to write, with its job unless it starts paused (see [`runs::insert`]).
pub struct NewRun {
    pub grace: Duration,
    pub action: action::Model,
    pub origin: Origin,
    pub input: Value,
    pub paused: Option<String>,
}

type Started = (action_run::Model, Option<job::Model>);

impl NewRun {
    async fn insert(&self, db: &impl ConnectionTrait) -> Result<Started> {
        let (origin, input, paused) = (self.origin.clone(), self.input.clone(), self.paused.clone());
        runs::insert(db, self.grace, &self.action, origin, input, paused).await
    }

    /// The run and its job in a transaction of their own, on the writer
    /// (on PostgreSQL one statement).
    async fn insert_alone(&self, st: &AppState) -> Result<Started> {
        if st.writer.get_database_backend() == DbBackend::Postgres {
            return self.insert(&st.writer).await;
        }
        let txn = st.writer.begin().await?;
        let started = self.insert(&txn).await?;
        txn.commit().await?;
        Ok(started)
    }
}

/// One write waiting for its group commit, with whom to answer.
enum Write {
    /// A run's progress; answered with the run's new revision, or `None`
    /// when its job no longer owns the run (nothing was written).
    Update(Box<Update>, oneshot::Sender<Result<Option<i64>>>),
    /// A run started by hand.
    Start(Box<NewRun>, oneshot::Sender<Result<Started>>),
    /// A run that waits, hands over to a new job, or ends.
    Close(Box<Closing>, oneshot::Sender<Result<Closed>>),
}

/// What a write came to.
enum Done {
    Updated(Option<i64>),
    Started(Box<Started>),
    Closed(Box<Closed>),
}

impl Write {
    async fn apply(&self, db: &impl ConnectionTrait) -> Result<Done> {
        match self {
            Self::Update(u, _) => Ok(Done::Updated(runs::apply_update(db, (**u).clone()).await?)),
            Self::Start(n, _) => Ok(Done::Started(Box::new(n.insert(db).await?))),
            Self::Close(c, _) => Ok(Done::Closed(Box::new(c.apply(db).await?))),
        }
    }

    /// Answers the caller, if it is still there (what had to follow the
    /// commit was done by [`after_commit`], caller or not).
    fn answer(self, outcome: Result<Done>) {
        let mismatch = || Error::internal("a run write was answered with another kind's outcome");
        match self {
            Self::Update(_, tx) => {
                let _ =
                    tx.send(
                        outcome.and_then(|d| if let Done::Updated(owned) = d { Ok(owned) } else { Err(mismatch()) }),
                    );
            }
            Self::Start(_, tx) => {
                let _ =
                    tx.send(outcome.and_then(|d| if let Done::Started(run) = d { Ok(*run) } else { Err(mismatch()) }));
            }
            Self::Close(_, tx) => {
                let _ = tx.send(outcome.and_then(|d| if let Done::Closed(c) = d { Ok(*c) } else { Err(mismatch()) }));
            }
        }
    }
}

/// What follows committed writes, whether or not their callers still
/// wait: started runs and closed ones are announced (a closed run's event
/// with it), and then their jobs are rung, so a run's QUEUED or WAITING is
/// heard before its next job can say RUNNING. Nothing here awaits: on
/// PostgreSQL it runs in the caller's future right after its commit.
/// Progress is announced by its caller.
fn after_commit<'a>(st: &AppState, done: impl IntoIterator<Item = &'a Done>) {
    let (mut notes, mut jobs) = (Vec::new(), Vec::new());
    for d in done {
        match d {
            Done::Started(started) => {
                notes.push(runs::live_note(&started.0));
                jobs.extend(started.1.clone());
            }
            Done::Closed(closed) if closed.owned => {
                notes.push(runs::live_note(&closed.after));
                notes.extend(closed.event.clone());
                jobs.extend(closed.next.clone());
            }
            _ => {}
        }
    }
    if !notes.is_empty() {
        st.publish(notes);
    }
    if !jobs.is_empty() {
        // Not awaited here: a slow queue (Redis) must not hold up the next
        // batch, nor a caller; a ring lost with the process is the sweeper's.
        let st = st.clone();
        tokio::spawn(async move { ledger::ring_many(&st, &jobs).await });
    }
}

/// Run writes waiting for their group commit.
#[derive(Default)]
pub struct Progress {
    queue: GroupQueue<Write>,
}

impl Progress {
    /// Applies `update` (filtered to one run and the job that must own it);
    /// returns once it is committed, with the run's new revision (`None`:
    /// the job no longer owns the run and nothing was written).
    pub async fn write(&self, st: &AppState, update: Update) -> Result<Option<i64>> {
        if st.bookkeeping.get_database_backend() == DbBackend::Postgres {
            return apply_one(st, update).await;
        }
        self.queued(st, |tx| Write::Update(Box::new(update), tx)).await
    }

    /// Writes a run started by hand and its job (durably: on the writer),
    /// then announces the run and rings its job; returns once committed.
    pub async fn start(&self, st: &AppState, run: NewRun) -> Result<Started> {
        if st.writer.get_database_backend() == DbBackend::Postgres {
            let done = Done::Started(Box::new(run.insert_alone(st).await?));
            after_commit(st, [&done]);
            let Done::Started(started) = done else { unreachable!("built above") };
            return Ok(*started);
        }
        self.queued(st, |tx| Write::Start(Box::new(run), tx)).await
    }

    /// Writes a run's wait, hand-over or end with its job and event
    /// (durably: on the writer), then announces it with its event and
    /// rings its job; returns once committed.
    pub async fn close(&self, st: &AppState, closing: Closing) -> Result<Closed> {
        if st.writer.get_database_backend() == DbBackend::Postgres {
            let done = Done::Closed(Box::new(close_alone(st, &closing).await?));
            after_commit(st, [&done]);
            let Done::Closed(closed) = done else { unreachable!("built above") };
            return Ok(*closed);
        }
        self.queued(st, |tx| Write::Close(Box::new(closing), tx)).await
    }

    /// Queues the write `write` makes around its answer's sender (starting
    /// the writer if none runs) and waits for the answer.
    async fn queued<T>(&self, st: &AppState, write: impl FnOnce(oneshot::Sender<Result<T>>) -> Write) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        if self.queue.push(write(tx)) {
            let st = st.clone();
            tokio::spawn(async move { st.run_progress.drain(&st).await });
        }
        rx.await.unwrap_or_else(|_| Err(Error::internal("the run progress writer stopped")))
    }

    /// Applies batches until the queue is empty. A batch whose writing
    /// panics (an event hook, say) fails its callers, as a job's panic
    /// fails that job, and the writer goes on with the next.
    async fn drain(&self, st: &AppState) {
        let _guard = self.queue.writer_guard();
        while let Some(batch) = self.queue.next_batch(MAX_BATCH) {
            let written = AssertUnwindSafe(async {
                let outcomes = apply_all(st, &batch).await;
                after_commit(st, outcomes.iter().flatten());
                outcomes
            })
            .catch_unwind()
            .await;
            let outcomes = written.unwrap_or_else(|_| {
                tracing::error!(writes = batch.len(), "run progress batch panicked");
                batch.iter().map(|_| Err(Error::internal("the run writes panicked"))).collect()
            });
            for (w, outcome) in batch.into_iter().zip(outcomes) {
                w.answer(outcome);
            }
        }
    }
}

/// Each write's outcome, in order: together in one transaction on the
/// writer, or, when a statement of it fails, one by one. (SQLite only:
/// there `bookkeeping` is the writer too.)
async fn apply_all(st: &AppState, writes: &[Write]) -> Vec<Result<Done>> {
    if let [one] = writes {
        return vec![apply_alone(st, one).await];
    }
    let txn = match st.writer.begin().await {
        Ok(txn) => txn,
        Err(e) => {
            tracing::warn!(cause = %e, writes = writes.len(), "run progress batch could not start");
            return writes.iter().map(|_| Err(Error::internal("the database could not be reached"))).collect();
        }
    };
    match apply_in(&txn, writes).await {
        Ok(done) => match txn.commit().await {
            Ok(()) => return done.into_iter().map(Ok).collect(),
            Err(e) => tracing::warn!(cause = %e, writes = writes.len(), "run progress batch failed to commit"),
        },
        Err(e) => {
            tracing::warn!(cause = %e, writes = writes.len(), "run progress batch failed");
            // Gives the connection back first: on SQLite it is the one writer.
            if let Err(e) = txn.rollback().await {
                tracing::warn!(cause = %e, "run progress batch failed to roll back");
            }
        }
    }
    // Applied again one by one: nothing of the batch was committed, so
    // each write (and its revision step) is applied once.
    let mut out = Vec::with_capacity(writes.len());
    for w in writes {
        out.push(apply_alone(st, w).await);
    }
    out
}

/// One write on its own: an update commits alone (no transaction's two
/// more turns); a start or a close in a transaction of its own.
async fn apply_alone(st: &AppState, w: &Write) -> Result<Done> {
    match w {
        Write::Update(u, _) => Ok(Done::Updated(apply_one(st, (**u).clone()).await?)),
        Write::Start(n, _) => Ok(Done::Started(Box::new(n.insert_alone(st).await?))),
        Write::Close(c, _) => Ok(Done::Closed(Box::new(close_alone(st, c).await?))),
    }
}

async fn apply_one(st: &AppState, update: Update) -> Result<Option<i64>> {
    runs::apply_update(&st.bookkeeping, update).await
}

/// A run's wait, hand-over or end in a transaction of its own, on the
/// writer: committed when the job still owned the run, else rolled back.
async fn close_alone(st: &AppState, closing: &Closing) -> Result<Closed> {
    let txn = st.writer.begin().await?;
    let closed = closing.apply(&txn).await?;
    match closed.owned {
        true => txn.commit().await?,
        false => txn.rollback().await?,
    }
    Ok(closed)
}

async fn apply_in(txn: &DatabaseTransaction, writes: &[Write]) -> Result<Vec<Done>> {
    let mut done = Vec::with_capacity(writes.len());
    for w in writes {
        done.push(w.apply(txn).await?);
    }
    Ok(done)
}
