//! The shared application state handed to every transport and job.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::rate_limit::RateLimiter;
use crate::auth::usage::UsageRecorder;
use crate::config::Config;
use crate::crypto::SecretKey;
use crate::events::EventBus;
use crate::jobs::{Queue, Registry};
use crate::metrics::Metrics;

/// The state every handler and job shares: one `Arc`, so a clone (one per
/// request and per task) is a single reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    /// The ledger, for reads: SQLite or PostgreSQL pool.
    pub db: DatabaseConnection,
    /// The ledger, for writes and every transaction. On SQLite a single
    /// connection (see `db::connect`); on PostgreSQL the same pool as `db`.
    pub writer: DatabaseConnection,
    /// The ledger, for bookkeeping writes: claims, lease extensions,
    /// completions, a delivery's attempt log, the call log. On PostgreSQL
    /// its sessions commit without waiting for the WAL to reach the disk
    /// (`synchronous_commit = off`), so a claim or a completion is one
    /// statement and no flush wait. Such a commit is still atomic
    /// and in order; only a crash of the database server itself can lose
    /// its last fraction of a second, and then the job is run again
    /// (at-least-once: every handler is idempotent). What a 202 promises —
    /// the accepted record and its job — is never written here. On SQLite
    /// it is the writer (WAL commits do not flush to disk anyway). The
    /// setting is sent as a connection start-up parameter: a pooler in
    /// front of PostgreSQL must pass it on. One that refuses unknown
    /// start-up parameters refuses these connections; one told to ignore
    /// them (PgBouncer's `ignore_startup_parameters`) leaves these commits
    /// waiting for the flush like any other: slower, still correct.
    pub bookkeeping: DatabaseConnection,
    /// Validated configuration, read-only after start-up.
    pub config: Arc<Config>,
    /// Keys derived from the server secret (token hashing, later encryption).
    pub secret: SecretKey,
    /// Committed events, to this process and (with Redis) the others.
    pub bus: Arc<dyn EventBus>,
    /// GraphQL subscriptions' view of the bus: one dispatcher, filtered by
    /// workspace, a bounded queue per subscription.
    pub live: Arc<crate::events::fanout::Fanout>,
    /// Per-caller request limit.
    pub limiter: Arc<RateLimiter>,
    /// Sign-in attempts per account (10 a minute), against password guessing.
    pub login_limiter: Arc<RateLimiter>,
    /// Sign-in attempts per client address (`SWITCHYARD_AUTH_ADDRESS_LIMIT_PER_MINUTE`),
    /// against one client cycling through made-up accounts.
    pub address_limiter: Arc<RateLimiter>,
    /// Batched API-key usage counters.
    pub usage: Arc<UsageRecorder>,
    /// Cancelled once on shutdown: stops the listener, background tasks and
    /// open subscriptions.
    pub shutdown: CancellationToken,
    /// Background tasks and WebSocket connections to wait for on shutdown.
    pub tasks: TaskTracker,
    /// The job doorbell (Redis streams or in-process).
    pub queue: Arc<dyn Queue>,
    /// Job handlers by kind.
    pub registry: Arc<Registry>,
    /// The Redis pool, when `SWITCHYARD_REDIS_URL` is set.
    pub redis: Option<deadpool_redis::Pool>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The one outgoing HTTP client (SSRF guard, timeouts, pooling).
    pub http: Arc<crate::delivery::HttpClient>,
    /// Per-webhook delivery rate limits (each webhook has its own limit).
    pub webhook_limiter: Arc<RateLimiter>,
    /// Calls through connections counted against each provider's window.
    pub call_windows: Arc<crate::services::connections::window::Windows>,
    /// Finished jobs waiting for their bookkeeping's group commit.
    pub finished: Arc<crate::jobs::finish::Finished>,
    /// Finished connection calls waiting for their log's group commit.
    pub call_log: Arc<crate::services::connections::log::CallLog>,
    /// Writes action runs' progress (a group commit on SQLite).
    pub run_progress: Arc<crate::services::actions::progress::Progress>,
    /// Verified API keys and sessions with their principals.
    pub auth_cache: Arc<crate::auth::cache::AuthCache>,
    /// The callers of open WebSockets, re-checked as credentials change.
    pub live_callers: crate::auth::live::LiveWatch,
    /// Connections with their provider settings, as every call reads them.
    pub connection_cache: Arc<crate::services::connections::cache::ConnectionCache>,
    /// Data keys and endpoints the REST data API reads on every request.
    pub data_cache: Arc<crate::services::data_cache::DataCache>,
    /// Accepted record changes waiting for their group commit.
    pub ingest: Arc<crate::services::records::ingest::GroupCommit>,
}

impl AppState {
    /// After a commit: rings the jobs the events' fan-out hooks created and
    /// hands the events, and the live messages the hooks made, to live
    /// subscribers. A lost ring is re-rung by the sweeper from the ledger.
    pub fn publish(&self, mut events: Vec<crate::events::Envelope>) {
        let jobs: Vec<crate::jobs::Message> = events.iter().flat_map(|e| e.jobs.iter().cloned()).collect();
        let live: Vec<crate::events::Envelope> = events.iter_mut().flat_map(|e| std::mem::take(&mut e.live)).collect();
        events.extend(live);
        // Handed to this process's subscribers before the jobs can start: a
        // hook's "queued again" comes before the run's "running". (Another
        // process hears it through Redis, almost always before a worker
        // there has claimed the job and said "running", but not surely.)
        self.bus.publish(events);
        if !jobs.is_empty() {
            let queue = self.queue.clone();
            tokio::spawn(async move {
                // One round trip for the lot (a chunk of records fans out to
                // a delivery each).
                if let Err(e) = queue.push_many(&jobs).await {
                    tracing::warn!(cause = %e, "could not ring fanned-out jobs; the sweeper will");
                }
            });
        }
    }

    /// Tells every process (this one included, through the bus) that
    /// `note` happened: a live-only message, e.g. "drop your cached copies".
    pub fn announce(&self, workspace_id: &str, note: &str) {
        let msg = crate::events::Envelope::live(workspace_id.to_string(), note, "system", None, serde_json::json!({}));
        self.bus.publish(vec![msg]);
    }

    /// Runs `act` whenever a [`AppState::announce`]d `note` arrives on the
    /// bus (from any process); stops on shutdown.
    pub fn on_note(&self, note: &'static str, act: impl Fn(&AppState) + Send + 'static) {
        use futures_util::StreamExt;
        let st = self.clone();
        self.tasks.spawn(async move {
            let mut notes = st.bus.subscribe();
            loop {
                tokio::select! {
                    msg = notes.next() => match msg {
                        Some(m) if m.event_type == note => act(&st),
                        Some(_) => {}
                        None => break,
                    },
                    _ = st.shutdown.cancelled() => break,
                }
            }
        });
    }

    /// How long past due a job may wait in a queue before the sweeper rings again.
    pub fn sweep_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.sweep_grace_seconds)
    }
}
