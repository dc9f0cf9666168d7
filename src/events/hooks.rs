//! Fan-out hooks: code that other capabilities register to run inside the
//! transaction of every batch of new events. Webhooks turn events into
//! deliveries this way (the outbox); action triggers and integrations will
//! too. The event engine knows none of them.
//!
//! The registry is process-wide: [`super::record`] is called deep inside
//! the services with only a database connection at hand, and hooks are
//! code, the same for every server a process runs, so they are installed
//! when a state is built (installing one again replaces it) rather than
//! carried in each call.

use std::sync::{Arc, RwLock};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, Statement};

use super::Envelope;
use crate::error::Result;

/// Runs for every batch of new events, inside their transaction: what it
/// writes commits (or rolls back) with them.
#[async_trait::async_trait]
pub trait FanOut: Send + Sync + 'static {
    /// A unique name; registering the same name again replaces the hook.
    fn name(&self) -> &'static str;
    /// Reacts to freshly written events (never live-only ones). May add
    /// jobs to ring after the commit to each envelope's `jobs`, and live
    /// messages to publish after it to its `live`.
    async fn fan_out(&self, db: &DynConnection<'_>, events: &mut [Envelope]) -> Result<()>;
}

static HOOKS: RwLock<Vec<Arc<dyn FanOut>>> = RwLock::new(Vec::new());

/// Installs a hook (replacing one of the same name).
pub fn register(hook: impl FanOut) {
    let mut hooks = HOOKS.write().unwrap_or_else(|e| e.into_inner());
    hooks.retain(|h| h.name() != hook.name());
    hooks.push(Arc::new(hook));
}

/// Runs every hook over `events`, in registration order.
pub(super) async fn run(db: &impl ConnectionTrait, events: &mut [Envelope]) -> Result<()> {
    let hooks: Vec<Arc<dyn FanOut>> = HOOKS.read().unwrap_or_else(|e| e.into_inner()).clone();
    let db = DynConnection(db);
    for hook in hooks {
        hook.fan_out(&db, events).await?;
    }
    Ok(())
}

/// Any SeaORM connection or transaction, behind one type so hooks can be
/// trait objects.
pub struct DynConnection<'a>(&'a dyn ConnectionTrait);

#[async_trait::async_trait]
impl ConnectionTrait for DynConnection<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.0.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.0.execute(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.0.execute_unprepared(sql).await
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.0.query_one(stmt).await
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.0.query_all(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.0.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.0.is_mock_connection()
    }
}
