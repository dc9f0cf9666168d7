//! The call log's group commit. Every call through a connection is logged
//! before its caller gets the answer, but committing each log row alone
//! costs a transaction (on SQLite a turn at the one writer) per call. Here
//! finished calls join a queue; one writer task at a time takes what is
//! queued (up to 200 rows), inserts it in one statement, notes the
//! connections' last use when it is due, commits, and answers each caller.
//! While that commit runs new
//! rows queue up for the next, so batches grow with load and a lone call
//! never waits for company (there is no timer). The rows are bookkeeping
//! like the job ledger's: on PostgreSQL their commit does not wait for the
//! WAL flush (see [`AppState::bookkeeping`](crate::state::Shared::bookkeeping)).
//!
//! A connection's last use is noted at most once a minute by each process
//! (each remembers when it last wrote it), so most batches are one INSERT
//! and nothing else: on SQLite one statement on the writer, no transaction
//! around it.
//!
//! A batch that fails (a row whose connection was removed meanwhile breaks
//! its foreign key) is written again row by row, so one bad row fails only
//! its own caller.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, TransactionTrait};
use tokio::sync::oneshot;

use entity::{connection, connection_call};

use crate::error::{Error, Result};
use crate::group::GroupQueue;
use crate::state::AppState;

/// Most rows one transaction writes (18 columns each, well under SQLite's
/// limit on bound parameters).
const MAX_BATCH: usize = 200;

/// How often a connection's last use is written, at most.
const LAST_USE_EVERY: Duration = Duration::from_secs(60);

/// Connections whose last write of their last use is remembered; past it
/// the memory starts over (and each is written once more).
const LAST_USE_REMEMBERED: usize = 10_000;

type Waiting = (connection_call::Model, oneshot::Sender<std::result::Result<(), String>>);

/// Finished calls waiting for their log commit.
#[derive(Default)]
pub struct CallLog {
    queue: GroupQueue<Waiting>,
    /// When this process last wrote each connection's last use.
    last_use_written: Mutex<HashMap<String, Instant>>,
}

impl CallLog {
    /// Logs a finished call; returns once its row is committed.
    pub async fn write(&self, st: &AppState, row: connection_call::Model) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self.queue.push((row, tx)) {
            let st = st.clone();
            tokio::spawn(async move { st.call_log.drain(&st).await });
        }
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::internal(format!("the call log could not be written: {e}"))),
            Err(_) => Err(Error::internal("the call log writer stopped")),
        }
    }

    /// Writes batches until the queue is empty.
    async fn drain(&self, st: &AppState) {
        let _guard = self.queue.writer_guard();
        while let Some(batch) = self.queue.gather(MAX_BATCH).await {
            let (rows, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            for (outcome, w) in self.commit_all(st, rows).await.into_iter().zip(waiters) {
                let _ = w.send(outcome);
            }
        }
    }

    /// The connections of `rows` whose last use is due to be written,
    /// marked as written now.
    fn last_use_due(&self, rows: &[connection_call::Model]) -> Vec<String> {
        let now = Instant::now();
        let mut written = self.last_use_written.lock().unwrap_or_else(|e| e.into_inner());
        if written.len() > LAST_USE_REMEMBERED {
            written.clear();
        }
        let mut due = Vec::new();
        for r in rows {
            if written.get(&r.connection_id).is_none_or(|t| now.duration_since(*t) >= LAST_USE_EVERY) {
                written.insert(r.connection_id.clone(), now);
                due.push(r.connection_id.clone());
            }
        }
        due
    }

    /// Forgets that these connections' last use was written (its write failed).
    fn last_use_lost(&self, ids: &[String]) {
        let mut written = self.last_use_written.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            written.remove(id);
        }
    }

    /// Writes `rows` in one batch, or, when the batch fails, one by one:
    /// each row's outcome, in order. (Public for the tests.)
    pub async fn commit_all(
        &self,
        st: &AppState,
        rows: Vec<connection_call::Model>,
    ) -> Vec<std::result::Result<(), String>> {
        let n = rows.len();
        let again = (n > 1).then(|| rows.clone());
        let e = match self.commit(st, rows).await {
            Ok(()) => return vec![Ok(()); n],
            Err(e) => e,
        };
        let Some(rows) = again else { return vec![Err(e.to_string())] };
        tracing::warn!(cause = %e, rows = n, "call log batch failed; writing its rows one by one");
        let mut out = Vec::with_capacity(n);
        for row in rows {
            out.push(write(st, vec![row], &[]).await.map_err(|e| e.to_string()));
        }
        out
    }

    async fn commit(&self, st: &AppState, rows: Vec<connection_call::Model>) -> Result<()> {
        let used = self.last_use_due(&rows);
        let written = write(st, rows, &used).await;
        if written.is_err() {
            self.last_use_lost(&used);
        }
        written
    }
}

/// The rows, and the last use of the connections `used`. Bookkeeping like
/// the job ledger's: on PostgreSQL the commit does not wait for the WAL
/// flush (only a crash of the database server itself could lose the last
/// fraction of a second of log rows).
async fn write(st: &AppState, rows: Vec<connection_call::Model>, used: &[String]) -> Result<()> {
    let insert = connection_call::Entity::insert_many(rows.into_iter().map(IntoActiveModel::into_active_model));
    if used.is_empty() {
        // One statement, which commits on its own: no transaction's two
        // more turns.
        insert.exec_without_returning(&st.bookkeeping).await?;
        return Ok(());
    }
    let txn = st.bookkeeping.begin().await?;
    insert.exec_without_returning(&txn).await?;
    connection::Entity::update_many()
        .col_expr(connection::Column::LastUsedAt, Expr::value(Utc::now()))
        .filter(connection::Column::Id.is_in(used.iter().cloned()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}
