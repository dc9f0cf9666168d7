//! A run's start by hand and its progress, written together with other
//! runs'. A `runAction` writes the run and its job; while a run goes on (it
//! starts, a step ends and more follow) its row is updated. Each is a turn
//! at the database on its own.
//!
//! - **SQLite**: every write is a turn at the one writer connection, which
//!   also costs sqlx's ping on the connection's return to the pool. Here
//!   the writes of concurrent runs join a queue; one writer task at a time
//!   takes what is queued, applies it in one transaction and answers each:
//!   a start with its run and job, an update with whether its job still
//!   owns the run. While that commit runs new writes queue up for the next,
//!   so batches grow with load and a lone write never waits for company
//!   (there is no timer). A started run is as durable as before: the
//!   batch commits on the writer.
//! - **PostgreSQL**: writes run side by side. A start is its own
//!   transaction on the writer pool. Each update is applied at once, alone,
//!   on the bookkeeping pool, whose commits do not wait for the WAL flush
//!   (see [`AppState::bookkeeping`](crate::state::Shared::bookkeeping)).
//!   Not in one transaction: it would hold up to a batch of run rows
//!   locked together, in queue order, against `pause_waiting`, which locks
//!   an action's runs in its own order. Only a crash of the database server
//!   itself can lose the last fraction of a second of progress; the run
//!   then goes on from the step before (see [`runs`](super::runs)).
//!
//! A run's end (its status and event) and its waits (a new job) are not
//! written here, nor runs that triggers start (they are written in their
//! cause's transaction). Never await [`Progress::write`] or
//! [`Progress::start`] inside a transaction on the writer: on SQLite the
//! queue's writer needs that one connection.
//!
//! A batch that fails is rolled back and applied again write by write, so
//! one bad write fails only its own caller; a batch that cannot start (the
//! database is unreachable) fails all its writes at once.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, TransactionTrait, UpdateMany};
use serde_json::Value;
use tokio::sync::oneshot;

use entity::{action, action_run, job};

use super::runs::{self, Origin};
use crate::error::{Error, Result};
use crate::group::GroupQueue;
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

    /// The run and its job in a transaction of their own, on the writer.
    async fn insert_alone(&self, st: &AppState) -> Result<Started> {
        let txn = st.writer.begin().await?;
        let started = self.insert(&txn).await?;
        txn.commit().await?;
        Ok(started)
    }
}

/// One write waiting for its group commit, with whom to answer.
enum Write {
    /// A run's progress; answered with whether its job still owns the run.
    Update(Update, oneshot::Sender<Result<bool>>),
    /// A run started by hand.
    Start(Box<NewRun>, oneshot::Sender<Result<Started>>),
}

/// What a write came to.
enum Done {
    Updated(bool),
    Started(Box<Started>),
}

impl Write {
    async fn apply(&self, db: &impl ConnectionTrait) -> Result<Done> {
        match self {
            Self::Update(u, _) => Ok(Done::Updated(u.clone().exec(db).await?.rows_affected == 1)),
            Self::Start(n, _) => Ok(Done::Started(Box::new(n.insert(db).await?))),
        }
    }

    fn answer(self, outcome: Result<Done>) {
        match self {
            Self::Update(_, tx) => {
                let _ = tx.send(outcome.and_then(|d| match d {
                    Done::Updated(owned) => Ok(owned),
                    Done::Started(_) => Err(Error::internal("a run update was answered with a start")),
                }));
            }
            Self::Start(_, tx) => {
                let _ = tx.send(outcome.and_then(|d| match d {
                    Done::Started(run) => Ok(*run),
                    Done::Updated(_) => Err(Error::internal("a run start was answered with an update")),
                }));
            }
        }
    }
}

/// Run writes waiting for their group commit.
#[derive(Default)]
pub struct Progress {
    queue: GroupQueue<Write>,
}

impl Progress {
    /// Applies `update` (filtered to one run and the job that must own it);
    /// returns once it is committed, with whether it changed the run.
    pub async fn write(&self, st: &AppState, update: Update) -> Result<bool> {
        if st.bookkeeping.get_database_backend() == DbBackend::Postgres {
            return apply_one(st, update).await;
        }
        let (tx, rx) = oneshot::channel();
        self.enqueue(st, Write::Update(update, tx));
        rx.await.unwrap_or_else(|_| Err(Error::internal("the run progress writer stopped")))
    }

    /// Writes a run started by hand and its job (durably: on the writer);
    /// returns once committed. The caller announces it and rings the job.
    pub async fn start(&self, st: &AppState, run: NewRun) -> Result<Started> {
        if st.writer.get_database_backend() == DbBackend::Postgres {
            return run.insert_alone(st).await;
        }
        let (tx, rx) = oneshot::channel();
        self.enqueue(st, Write::Start(Box::new(run), tx));
        rx.await.unwrap_or_else(|_| Err(Error::internal("the run progress writer stopped")))
    }

    fn enqueue(&self, st: &AppState, w: Write) {
        if self.queue.push(w) {
            let st = st.clone();
            tokio::spawn(async move { st.run_progress.drain(&st).await });
        }
    }

    /// Applies batches until the queue is empty.
    async fn drain(&self, st: &AppState) {
        let _guard = self.queue.writer_guard();
        while let Some(batch) = self.queue.next_batch(MAX_BATCH) {
            let outcomes = apply_all(st, &batch).await;
            for (w, outcome) in batch.into_iter().zip(outcomes) {
                w.answer(outcome);
            }
        }
    }
}

/// Each write's outcome, in order: together in one transaction, or, when
/// a statement of it fails, one by one.
async fn apply_all(st: &AppState, writes: &[Write]) -> Vec<Result<Done>> {
    if let [one] = writes {
        return vec![apply_alone(st, one).await];
    }
    let txn = match st.bookkeeping.begin().await {
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
    // Applied again one by one (nothing of the batch was committed; an
    // update applied twice changes nothing more).
    let mut out = Vec::with_capacity(writes.len());
    for w in writes {
        out.push(apply_alone(st, w).await);
    }
    out
}

/// One write on its own: an update commits alone (no transaction's two
/// more turns); a start's two rows in one transaction.
async fn apply_alone(st: &AppState, w: &Write) -> Result<Done> {
    match w {
        Write::Update(u, _) => Ok(Done::Updated(apply_one(st, u.clone()).await?)),
        Write::Start(n, _) => Ok(Done::Started(Box::new(n.insert_alone(st).await?))),
    }
}

async fn apply_one(st: &AppState, update: Update) -> Result<bool> {
    Ok(update.exec(&st.bookkeeping).await?.rows_affected == 1)
}

async fn apply_in(txn: &DatabaseTransaction, writes: &[Write]) -> Result<Vec<Done>> {
    let mut done = Vec::with_capacity(writes.len());
    for w in writes {
        done.push(w.apply(txn).await?);
    }
    Ok(done)
}
