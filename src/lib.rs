//! Switchyard: a self-hosted integration hub.
//!
//! Module map (see `ARCHITECTURE.md` for the design):
//!
//! - [`config`]: the one typed configuration (clap + `SWITCHYARD_*`).
//! - [`error`]: the one error type, mapped to REST bodies and GraphQL codes.
//! - [`state`]: [`AppState`], shared by every transport and background task.
//! - [`db`]: connecting (SQLite WAL or PostgreSQL) and migrating.
//! - [`crypto`]: the server key, token hashes, password hashes.
//! - [`ids`]: prefixed, time-sortable ids that double as cursors.
//! - [`auth`]: API keys and sessions → [`auth::Principal`]; rate limit; usage.
//! - [`events`]: the event catalog and the event bus.
//! - [`services`]: every rule and database call, one module per resource.
//! - [`graphql`]: the schema, one module per resource, thin resolvers.
//! - [`rest`]: GraphQL over HTTP/WebSocket, sign-in, pages, health.
//! - [`serve`]: the accept loop (connection cap, header timeout, shutdown).
//! - [`cli`] and [`bench`]: the admin commands and the benchmarks.
//!
//! [`start`] builds everything and serves; [`Server::stop`] shuts down
//! gracefully.

pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod delivery;
pub mod error;
pub mod events;
pub mod graphql;
pub mod group;
pub mod ids;
pub mod jobs;
pub mod metrics;
pub mod rest;
pub mod serve;
pub mod services;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use error::{Error, Result};
pub use state::AppState;

use auth::rate_limit::RateLimiter;
use auth::usage::UsageRecorder;
use events::BroadcastBus;

/// Connects to the database, applies migrations and assembles the state.
pub async fn build_state(config: Config) -> Result<AppState> {
    config.validate().map_err(Error::invalid)?;
    services::register_event_hooks();
    let secret = crypto::SecretKey::load_or_create(config.secret_key.as_deref(), &config.secret_key_file)?;
    db::migrate(&config).await?;
    let db::Pools { readers: db, writer, bookkeeping } = db::connect(&config).await?;
    let visibility = Duration::from_secs(config.visibility_timeout_seconds);
    jobs::ledger::set_default_grace(Duration::from_secs(config.sweep_grace_seconds));
    let redis = match &config.redis_url {
        Some(url) => Some(redis_pool(url).await?),
        None => None,
    };
    let queue: Arc<dyn jobs::Queue> = match &redis {
        Some(pool) => Arc::new(jobs::redis::RedisQueue::new(pool.clone(), &config.redis_prefix, visibility)),
        None => Arc::new(jobs::embedded::EmbeddedQueue::new(visibility)),
    };
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let bus: Arc<dyn events::EventBus> = match (&redis, &config.redis_url) {
        (Some(pool), Some(url)) => Arc::new(
            events::redis::RedisBus::start(url, pool.clone(), &config.redis_prefix, shutdown.clone(), &tasks).await?,
        ),
        _ => Arc::new(BroadcastBus::new(4096)),
    };
    // With Redis, limits hold across processes; otherwise in memory.
    let limiter = |per_minute: u32, name: &str| match &redis {
        Some(pool) => RateLimiter::redis(per_minute, pool.clone(), format!("{}:{name}", config.redis_prefix)),
        None => RateLimiter::per_minute(per_minute),
    };
    let request_limiter = Arc::new(limiter(config.rate_limit_per_minute, "rate"));
    let login_limiter = Arc::new(limiter(10, "login"));
    let address_limiter = Arc::new(limiter(config.auth_address_limit_per_minute, "auth-address"));
    let webhook_limiter = Arc::new(limiter(100, "webhook"));
    let call_windows = Arc::new(match &redis {
        Some(pool) => services::connections::window::Windows::redis(pool.clone(), config.redis_prefix.clone()),
        None => services::connections::window::Windows::memory(),
    });
    let http = Arc::new(delivery::HttpClient::new(config.allow_private_targets)?);
    let metrics = Arc::new(metrics::Metrics::default());
    Ok(AppState::new(state::Shared {
        db,
        writer,
        bookkeeping,
        secret,
        queue,
        redis,
        registry: Arc::new(services::register_jobs(jobs::Registry::engine())),
        metrics: metrics.clone(),
        live: Arc::new(events::fanout::Fanout::new(bus.clone(), metrics, shutdown.clone())),
        bus,
        limiter: request_limiter,
        webhook_limiter,
        call_windows,
        call_log: Arc::default(),
        run_progress: Arc::default(),
        finished: Arc::default(),
        http,
        login_limiter,
        address_limiter,
        usage: Arc::new(UsageRecorder::default()),
        shutdown,
        tasks,
        auth_cache: Arc::new(auth::cache::AuthCache::new(Duration::from_secs(config.auth_cache_seconds))),
        live_callers: Default::default(),
        connection_cache: Arc::new(services::connections::cache::ConnectionCache::new(Duration::from_secs(
            config.data_cache_seconds,
        ))),
        data_cache: Arc::new(services::data_cache::DataCache::new(Duration::from_secs(config.data_cache_seconds))),
        ingest: Arc::new(services::records::ingest::GroupCommit::new(
            config.ingest_writers(),
            if config.is_postgres() { config.worker_concurrency() } else { 1 },
            Duration::from_millis(config.process_yield_ms),
        )),
        config: Arc::new(config),
    }))
}

/// A Redis pool, checked with a PING so a wrong URL fails at start-up.
async fn redis_pool(url: &str) -> Result<deadpool_redis::Pool> {
    let pool = jobs::redis::pool(url)?;
    let mut conn = pool.get().await?;
    let _: String = deadpool_redis::redis::cmd("PING").query_async(&mut conn).await?;
    Ok(pool)
}

/// A running server.
pub struct Server {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    /// The metrics listener's address, when `SWITCHYARD_METRICS_LISTEN` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    /// On the first start of an empty database: the owner's one-time setup link.
    pub setup_url: Option<String>,
    serve: JoinHandle<()>,
}

/// Builds the state, creates the first owner on an empty database, starts
/// the background tasks and serves HTTP until [`Server::stop`].
pub async fn start(mut config: Config) -> Result<Server> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::internal(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    let metrics_listener = match config.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| Error::internal(format!("cannot listen on {at} for metrics: {e}")))?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().map(|l| l.local_addr()).transpose().map_err(Error::internal)?;
    // Links printed and returned must name the port actually bound.
    config.public_url.get_or_insert_with(|| format!("http://{addr}"));
    let state = build_state(config).await?;
    let setup_url = services::workspaces::bootstrap(&state)
        .await?
        .map(|(_, token)| format!("{}/setup?token={token}", state.config.public_url()));
    services::ensure_schedules(&state).await?;
    spawn_background(&state);
    jobs::sweeper::spawn(&state);
    if state.config.role.runs_jobs() {
        jobs::worker::spawn(&state);
    }
    let cfg = &state.config;
    // Room for the database pools, outgoing requests (a batch of webhook
    // deliveries, or of hook calls, has up to that many in flight), Redis
    // and files.
    serve::raise_open_file_limit();
    let pools = (cfg.database_max_connections + cfg.bookkeeping_connections()) as usize;
    let reserved = pools + cfg.worker_concurrency() * services::deliveries::BATCH + 256;
    let limits = serve::Limits {
        header_timeout: Duration::from_secs(cfg.header_timeout_seconds),
        max_connections: serve::fit_to_open_file_limit(cfg.max_connections, reserved),
    };
    let main = serve::serve(listener, rest::router(state.clone()), limits, state.shutdown.clone());
    let metrics = metrics_listener.map(|l| {
        // Scrapers are few; their own small budget keeps them out of the
        // way of (and unaffected by) the main listener's clients.
        let limits = serve::Limits { max_connections: 64, ..limits };
        serve::serve(l, rest::metrics_router(state.clone()), limits, state.shutdown.clone())
    });
    let serve = tokio::spawn(async move {
        match metrics {
            Some(metrics) => {
                tokio::join!(main, metrics);
            }
            None => main.await,
        }
    });
    tracing::info!(%addr, ?metrics_addr, storage = if cfg.is_postgres() { "postgres" } else { "sqlite" }, "listening");
    Ok(Server { addr, metrics_addr, state, setup_url, serve })
}

/// The usage flusher and the rate-limiter housekeeping, stopped by the
/// shutdown token (the flusher writes once more on the way out).
fn spawn_background(state: &AppState) {
    services::data_cache::spawn_listener(state);
    services::connections::cache::spawn_listener(state);
    auth::cache::spawn_listener(state);
    let st = state.clone();
    state.tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(st.config.usage_flush_seconds));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stop = tokio::select! {
                _ = tick.tick() => false,
                _ = st.shutdown.cancelled() => true,
            };
            if let Err(e) = st.usage.flush(&st.writer).await {
                tracing::warn!(cause = %e, "could not write API key usage; will retry");
            }
            if stop {
                break;
            }
            st.limiter.shrink().await;
            st.login_limiter.shrink().await;
            st.address_limiter.shrink().await;
            st.webhook_limiter.shrink().await;
            st.call_windows.shrink().await;
        }
    });
}

impl Server {
    /// Graceful shutdown: stop accepting, let in-flight requests finish, close
    /// subscriptions with a close frame, flush usage counters; all within
    /// the configured grace period.
    pub async fn stop(self) {
        self.state.shutdown.cancel();
        // Workers hand unfinished jobs back when the grace period ends; give
        // that a few seconds more before giving up on them.
        let grace = Duration::from_secs(self.state.config.shutdown_grace_seconds + 5);
        let tasks = self.state.tasks.clone();
        tasks.close();
        let drained = tokio::time::timeout(grace, async {
            let _ = self.serve.await;
            tasks.wait().await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!("shutdown grace period elapsed with work still running");
        }
        self.state.db.clone().close().await.ok();
        self.state.writer.clone().close().await.ok();
        self.state.bookkeeping.clone().close().await.ok();
        tracing::info!("stopped");
    }
}
