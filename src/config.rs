//! One typed configuration: command-line flags with `SWITCHYARD_*`
//! environment fallbacks. Parsed and validated once at start-up; nothing reads
//! the environment after that.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The longest grace period an API key roll may give the old secret: 7 days.
pub const MAX_ROLL_GRACE_SECONDS: u64 = 7 * 86_400;

/// Switchyard: a self-hosted integration hub. Run with no arguments to serve
/// on 127.0.0.1:8080 with an embedded SQLite database.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) to stdout.
    Schema,
    /// Administrative tasks run from the shell against the configured database.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Benchmarks (loopback only, bounded).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user. With `--new-workspace` a new workspace is created with
    /// the user as owner; with `--workspace` the user joins an existing one.
    /// Prints a one-time link to set the password.
    CreateUser {
        /// The new user's email (their sign-in name).
        #[arg(long)]
        email: String,
        /// The user's display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Existing workspace id (`ws_…`) to join.
        #[arg(long, conflicts_with = "new_workspace", required_unless_present = "new_workspace")]
        workspace: Option<String>,
        /// Name of a new workspace to create, owned by this user.
        // Not `--workspace-name`: that global flag (the first start's
        // workspace) would fill it with its default (issue 18).
        #[arg(long, value_name = "NAME")]
        new_workspace: Option<String>,
        /// The user's role when joining an existing workspace.
        #[arg(long, value_enum, default_value = "collaborator")]
        member_role: RoleArg,
    },
    /// Create an API key acting for a user of a workspace; prints the secret once.
    CreateApiKey {
        /// The user the key acts for.
        #[arg(long)]
        email: String,
        /// Workspace id; defaults to the user's first workspace.
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Comma-separated scopes: read, write, admin.
        #[arg(long, default_value = "read,write,admin", value_delimiter = ',')]
        scopes: Vec<String>,
        #[arg(long, value_enum, default_value = "test")]
        environment: EnvironmentArg,
    },
    /// Issue a new one-time setup link for a user (e.g. a lost first-start link).
    SetupLink {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Throughput of an authenticated GraphQL query vs the same query
    /// unauthenticated vs a bare axum route; start-up time; idle RSS.
    Http {
        /// Requests per measured phase (split over the rounds).
        #[arg(long, default_value_t = 40_000)]
        requests: usize,
        /// Concurrent client connections.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// The phases run one after another this many times and each
        /// figure is the median over the rounds, so a neighbour's load
        /// that comes and goes skews all phases alike, not one of them.
        /// Many short rounds rather than a few long ones: on a shared
        /// 2-core machine one round's ratio moves by ±30%, the median of
        /// 20 by a few percent.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// End-to-end no-op jobs per second: the embedded queue in one process,
    /// and (with `--redis-url` and a PostgreSQL `--database-url`) Redis with 1
    /// and 2 worker processes, against a raw XADD/XREADGROUP/XACK loop.
    Jobs {
        /// Jobs per measured phase.
        #[arg(long, default_value_t = 5_000)]
        jobs: usize,
    },
    /// Events delivered to a local receiver per second and event-to-receipt
    /// latency: embedded, and (with `--redis-url` and a PostgreSQL
    /// `--database-url`) with 1 and 2 worker processes, against the same
    /// receiver hit directly by a plain reqwest loop.
    ///
    /// With `--end-to-end`: records posted to a data endpoint at each load
    /// of `--rates`, processed and delivered to a receiver that verifies
    /// each signature; delivered per second and post-to-receipt latency.
    Delivery {
        /// Events per measured phase.
        #[arg(long, default_value_t = 2_000)]
        events: usize,
        /// Measure the whole pipeline (data API → processing → webhook).
        #[arg(long)]
        end_to_end: bool,
        /// With `--end-to-end`: offered loads in records per second, 0 = as
        /// fast as 16 senders go.
        #[arg(long, value_delimiter = ',', default_value = "50,400,1000,2000,0")]
        rates: Vec<u32>,
        /// With `--end-to-end`: seconds each load is offered.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Accepted records per second of `POST /api/v1/data/{slug}` against a
    /// bare axum route answering 202, then a check that all were processed.
    Ingest {
        /// Requests per measured phase.
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Concurrent client connections, one level or several separated
        /// by commas: both routes are measured at each level, side by side.
        #[arg(long, value_delimiter = ',', default_value = "64,256,512")]
        concurrency: Vec<usize>,
    },
    /// Live subscribers one server process holds (its RSS before and after
    /// connecting them) and the time until every one hears an event.
    Subscriptions {
        /// Subscribers to connect, one level or several separated by commas;
        /// each level gets a fresh server.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        subscribers: Vec<usize>,
        /// Measured events per level (the figures are their median and worst).
        #[arg(long, default_value_t = 5)]
        events: usize,
        /// Give every subscriber a document of its own (a field alias
        /// numbered per subscriber), so that no two share a run and every
        /// answer is made and serialised once per subscriber: the worst case.
        #[arg(long)]
        distinct: bool,
        /// Start this binary as the server instead of this one (another
        /// build of Switchyard, to compare before and after a change).
        #[arg(long)]
        server_exe: Option<std::path::PathBuf>,
    },
    /// `callConnection` through the server to a provider on 127.0.0.1
    /// against a plain reqwest loop to the same provider: req/s, p50, p99.
    Connections {
        /// Calls per measured phase.
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
        /// Concurrent callers.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Interleaved rounds of both phases; the medians are reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Runs of a two-step action against a provider on 127.0.0.1 and a
    /// plain loop making the same two calls; then, idle, the time from an
    /// event to its action's first provider call (p50, p99).
    Actions {
        /// Runs (and loop iterations) in the throughput phases.
        #[arg(long, default_value_t = 2_000)]
        runs: usize,
        /// Concurrent starters (and loop tasks).
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Events in the latency phase, one at a time.
        #[arg(long, default_value_t = 100)]
        events: usize,
    },
    /// Event → plugin hook call (the HTTP forwarder) to a receiver on
    /// 127.0.0.1, idle and under load, against a plain reqwest loop to the
    /// same receiver: calls/s, p50, p99.
    Plugins {
        /// Events (each one hook call) in the measured phase.
        #[arg(long, default_value_t = 2_000)]
        events: usize,
        /// Concurrent event makers.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// A backlog's drain and the plain loop run one after the other this
        /// many times; the ratio is the median of the rounds' ratios, so a
        /// neighbour's load that comes and goes skews both sides alike.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// The console's delivery chart on a busy hub (PostgreSQL only): a
    /// fresh database with `--rows` deliveries over the last 24 hours,
    /// written in bulk and rolled up (timed), then `deliveryTimeline` (the
    /// last hour per minute, and the day per hour, with and without the
    /// rollups) timed over GraphQL: p50, p90, max.
    Charts {
        /// Deliveries (one attempt each) spread over the last 24 hours.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Timed runs of the chart query.
        #[arg(long, default_value_t = 15)]
        runs: usize,
    },
    /// The baseline server of the benches: a bare axum route (`bench http`,
    /// `bench ingest`) and a bare forwarding route (`bench connections`).
    #[command(hide = true)]
    BareServer {
        #[arg(long)]
        port: u16,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Owner,
    Collaborator,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EnvironmentArg {
    Test,
    Live,
}

/// A process's role when several share one database and Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Serve HTTP (GraphQL, REST, pages); run no jobs.
    Api,
    /// Run jobs; serve only `/healthz`, `/readyz` and `/metrics`.
    Worker,
    /// Both.
    All,
}

impl Role {
    pub fn serves_api(self) -> bool {
        matches!(self, Role::Api | Role::All)
    }
    pub fn runs_jobs(self) -> bool {
        matches!(self, Role::Worker | Role::All)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Server settings. Every flag also reads `SWITCHYARD_<NAME>`. They are
/// global (accepted after any subcommand); in a subcommand's `--help` they
/// come after the subcommand's own options, under a heading of their own.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server options (every command; each also reads SWITCHYARD_<NAME>)")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,

    /// Database URL: `sqlite://path?mode=rwc` (embedded default) or `postgres://…`.
    #[arg(long, env = "SWITCHYARD_DATABASE_URL", default_value = "sqlite://switchyard.db?mode=rwc", global = true)]
    pub database_url: String,

    /// Maximum database connections in the pool.
    #[arg(long, env = "SWITCHYARD_DATABASE_MAX_CONNECTIONS", default_value_t = 16, global = true)]
    pub database_max_connections: u32,

    /// File holding the server's 32-byte secret key (created with mode 0600 on
    /// first start). Ignored when `SWITCHYARD_SECRET_KEY` is set.
    #[arg(long, env = "SWITCHYARD_SECRET_KEY_FILE", default_value = "switchyard.key", global = true)]
    pub secret_key_file: PathBuf,

    /// The secret key itself, base64 (for several processes sharing one database).
    #[arg(long, env = "SWITCHYARD_SECRET_KEY", hide_env_values = true, global = true)]
    pub secret_key: Option<String>,

    /// The URL users reach this server at; used in printed links and to decide
    /// whether cookies are `Secure`. Defaults to `http://<listen>`.
    #[arg(long, env = "SWITCHYARD_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Email of the owner account created on the first start of an empty database.
    #[arg(long, env = "SWITCHYARD_OWNER_EMAIL", default_value = "owner@localhost", global = true)]
    pub owner_email: String,

    /// Name of the workspace created on the first start of an empty database.
    #[arg(long, env = "SWITCHYARD_WORKSPACE_NAME", default_value = "My workspace", global = true)]
    pub workspace_name: String,

    /// Requests per minute allowed per API key (or browser session), GCRA.
    #[arg(long, env = "SWITCHYARD_RATE_LIMIT_PER_MINUTE", default_value_t = 1000, global = true)]
    pub rate_limit_per_minute: u32,

    /// Seconds between writes of batched API-key usage counters.
    #[arg(long, env = "SWITCHYARD_USAGE_FLUSH_SECONDS", default_value_t = 5, global = true)]
    pub usage_flush_seconds: u64,

    /// Default grace period, in seconds, during which a rolled key's old secret
    /// still works (overridable per roll, at most 7 days).
    #[arg(long, env = "SWITCHYARD_KEY_ROLL_GRACE_SECONDS", default_value_t = 86_400, global = true)]
    pub key_roll_grace_seconds: u64,

    /// Requests per minute allowed per OAuth grant (an app's access tokens
    /// for one authorization, across refreshes), GCRA.
    #[arg(long, env = "SWITCHYARD_OAUTH_RATE_LIMIT_PER_MINUTE", default_value_t = 500, global = true)]
    pub oauth_rate_limit_per_minute: u32,

    /// Lifetime of an OAuth access token, in seconds.
    #[arg(long, env = "SWITCHYARD_OAUTH_ACCESS_TOKEN_SECONDS", default_value_t = 3600, global = true,
          value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub oauth_access_token_seconds: u64,

    /// Lifetime of an OAuth refresh token, in days (each refresh issues a new one).
    #[arg(long, env = "SWITCHYARD_OAUTH_REFRESH_TOKEN_DAYS", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u64).range(1..=365))]
    pub oauth_refresh_token_days: u64,

    /// Seconds after a refresh during which the spent refresh token may be
    /// presented once more (a client that lost the answer retries) instead
    /// of counting as reuse, which revokes the whole grant (0: never).
    #[arg(long, env = "SWITCHYARD_OAUTH_REFRESH_GRACE_SECONDS", default_value_t = 10, global = true,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub oauth_refresh_grace_seconds: u64,

    /// Connection tokens are refreshed this many seconds before they expire
    /// (seed 000: 7 days).
    #[arg(long, env = "SWITCHYARD_CONNECTION_REFRESH_BEFORE_SECONDS", default_value_t = 604_800, global = true)]
    pub connection_refresh_before_seconds: u64,

    /// Seconds between the scheduled scans for connection tokens due for a refresh.
    #[arg(long, env = "SWITCHYARD_CONNECTION_REFRESH_INTERVAL_SECONDS", default_value_t = 600, global = true,
          value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub connection_refresh_interval_seconds: u64,

    /// Seconds between the scans that start scheduled actions: a schedule
    /// fires within this long after its tick.
    #[arg(long, env = "SWITCHYARD_ACTION_SCHEDULE_INTERVAL_SECONDS", default_value_t = 5, global = true,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub action_schedule_interval_seconds: u64,

    /// Browser session lifetime in hours.
    #[arg(long, env = "SWITCHYARD_SESSION_HOURS", default_value_t = 168, global = true)]
    pub session_hours: u64,

    /// Largest accepted GraphQL request body, in bytes.
    #[arg(long, env = "SWITCHYARD_GRAPHQL_MAX_BODY_BYTES", default_value_t = 1_048_576, global = true)]
    pub graphql_max_body_bytes: usize,

    /// Deepest GraphQL selection accepted (GraphiQL's introspection query
    /// needs about 14).
    #[arg(long, env = "SWITCHYARD_GRAPHQL_MAX_DEPTH", default_value_t = 20, global = true)]
    pub graphql_max_depth: usize,

    /// Highest GraphQL query cost accepted: each field 1, a list's selection
    /// times its page size (`first`, `days`, `ids`), `totalCount` 25. The
    /// default lets a page of 100 items with about 95 fields each through.
    #[arg(long, env = "SWITCHYARD_GRAPHQL_MAX_COMPLEXITY", default_value_t = 10_000, global = true)]
    pub graphql_max_complexity: usize,

    /// Seconds a client may take to send a request's line and headers; a
    /// slower connection is closed (against slowloris). Idle keep-alive
    /// connections are closed after this long too.
    #[arg(long, env = "SWITCHYARD_HEADER_TIMEOUT_SECONDS", default_value_t = 10, global = true)]
    pub header_timeout_seconds: u64,

    /// Seconds a request's body may stall (no data arriving); such a request
    /// is answered with an error and its connection closed.
    #[arg(long, env = "SWITCHYARD_BODY_TIMEOUT_SECONDS", default_value_t = 30, global = true)]
    pub body_timeout_seconds: u64,

    /// Client connections served at once; further ones wait in the kernel's
    /// backlog until one closes. Lowered at start-up to fit the open-file
    /// limit.
    #[arg(long, env = "SWITCHYARD_MAX_CONNECTIONS", default_value_t = 10_000, global = true)]
    pub max_connections: usize,

    /// Sign-in attempts (`/auth/login` and `/auth/setup` together) per
    /// minute from one client address (an IPv6 client: its /64), on top of
    /// the 10 a minute per account. Behind a reverse proxy every client
    /// shares the proxy's address.
    #[arg(long, env = "SWITCHYARD_AUTH_ADDRESS_LIMIT_PER_MINUTE", default_value_t = 60, global = true)]
    pub auth_address_limit_per_minute: u32,

    /// Serve `/metrics` on this address (e.g. `127.0.0.1:9090`), and not on
    /// the main listener.
    #[arg(long, env = "SWITCHYARD_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,

    /// Bearer token `/metrics` requires (at least 16 characters). With
    /// neither this nor `SWITCHYARD_METRICS_LISTEN`, `/metrics` answers only
    /// clients connecting from a loopback address.
    #[arg(long, env = "SWITCHYARD_METRICS_TOKEN", hide_env_values = true, global = true)]
    pub metrics_token: Option<String>,

    /// Seconds to wait for in-flight requests and subscriptions on shutdown.
    #[arg(long, env = "SWITCHYARD_SHUTDOWN_GRACE_SECONDS", default_value_t = 20, global = true)]
    pub shutdown_grace_seconds: u64,

    /// Redis URL. When set, jobs, rate limits and live events are shared
    /// through Redis by every process; otherwise everything stays in-process.
    #[arg(long, env = "SWITCHYARD_REDIS_URL", global = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key this deployment uses.
    #[arg(long, env = "SWITCHYARD_REDIS_PREFIX", default_value = "switchyard", global = true)]
    pub redis_prefix: String,

    /// What this process does: serve the API, run jobs, or both.
    #[arg(long, env = "SWITCHYARD_ROLE", value_enum, default_value = "all", global = true)]
    pub role: Role,

    /// Jobs one process runs at the same time (and batches of a batching
    /// kind, such as webhook deliveries), apart from the kinds with a pool
    /// of their own (action runs, see `Handler::own_slots`). Default: 32 on
    /// PostgreSQL, where writes run side by side and most jobs wait on the
    /// network (`bench jobs` ran 2.6× more no-op jobs per second with 32
    /// than with 8); 8 on SQLite, whose writes all take turns at one
    /// connection (there 32 delivered fewer webhooks, `bench delivery`:
    /// 1,150-1,330/s with 8, 700-750/s with 32, and under a burst processing
    /// took smaller batches and fell behind further, `bench delivery
    /// --end-to-end`). See
    /// [`Config::worker_concurrency`].
    #[arg(long = "worker-concurrency", env = "SWITCHYARD_WORKER_CONCURRENCY", global = true)]
    pub worker_concurrency_setting: Option<usize>,

    /// Seconds a leased job stays invisible to other workers without a
    /// heartbeat (the lease is extended while the job runs).
    #[arg(long, env = "SWITCHYARD_VISIBILITY_TIMEOUT_SECONDS", default_value_t = 30, global = true)]
    pub visibility_timeout_seconds: u64,

    /// Seconds between sweeps for overdue jobs and scheduler runs.
    #[arg(long, env = "SWITCHYARD_SWEEP_INTERVAL_SECONDS", default_value_t = 5, global = true)]
    pub sweep_interval_seconds: u64,

    /// Seconds past its due time after which a job nobody took counts as
    /// lost, and the sweeper rings for it again.
    #[arg(long, env = "SWITCHYARD_SWEEP_GRACE_SECONDS", default_value_t = 30, global = true)]
    pub sweep_grace_seconds: u64,

    /// Days finished jobs are kept before the hourly prune deletes them.
    #[arg(long, env = "SWITCHYARD_JOB_RETENTION_DAYS", default_value_t = 7, global = true)]
    pub job_retention_days: u64,

    /// Seconds between re-checks of an open WebSocket's credential; a
    /// revoked key or ended session closes the connection.
    #[arg(long, env = "SWITCHYARD_WS_RECHECK_SECONDS", default_value_t = 10, global = true)]
    pub ws_recheck_seconds: u64,

    /// Seconds a data key or data endpoint stays cached for the REST data
    /// API, and a connection with its provider's settings for calls through
    /// it (0: no cache). Changes made through any process drop the cached
    /// copies at once (through the event bus); this bounds the staleness if
    /// that message is lost.
    #[arg(long, env = "SWITCHYARD_DATA_CACHE_SECONDS", default_value_t = 10, global = true)]
    pub data_cache_seconds: u64,

    /// Seconds a verified API key or browser session stays cached with its
    /// role and scopes (0: no cache). Changes made through any process drop
    /// the cached copies at once (through the event bus); this bounds the
    /// staleness if that message is lost.
    #[arg(long, env = "SWITCHYARD_AUTH_CACHE_SECONDS", default_value_t = 10, global = true)]
    pub auth_cache_seconds: u64,

    /// Group-commit transactions of accepted records that may run at once
    /// (0: 1 on SQLite, 2 on PostgreSQL).
    #[arg(long, env = "SWITCHYARD_INGEST_WRITERS", default_value_t = 0, global = true)]
    pub ingest_writers: usize,

    /// How long, at most, record processing waits for running group commits
    /// of accepted records (and changes queued for them) before each of its
    /// transactions, in milliseconds (0: it never waits). Accepting comes
    /// first under a burst; under a steady load processing takes the gaps.
    #[arg(long, env = "SWITCHYARD_PROCESS_YIELD_MS", default_value_t = 250, global = true)]
    pub process_yield_ms: u64,

    /// Milliseconds between `queueStatus` subscription updates.
    #[arg(long, env = "SWITCHYARD_QUEUE_STATUS_INTERVAL_MS", default_value_t = 1000, global = true)]
    pub queue_status_interval_ms: u64,

    /// Let outgoing requests (webhooks, integrations) reach loopback and
    /// private addresses. Off in production; tests and local development
    /// turn it on.
    #[arg(long, env = "SWITCHYARD_ALLOW_PRIVATE_TARGETS", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub allow_private_targets: bool,

    /// Default time limit of one webhook request, in milliseconds.
    #[arg(long, env = "SWITCHYARD_WEBHOOK_TIMEOUT_MS", default_value_t = 15_000, global = true)]
    pub webhook_timeout_ms: u32,

    /// A webhook whose deliveries have all failed for this many days is disabled.
    #[arg(long, env = "SWITCHYARD_WEBHOOK_DISABLE_AFTER_DAYS", default_value_t = 5.0, global = true)]
    pub webhook_disable_after_days: f64,

    /// Seconds between retries of a data-endpoint callback (seed 001: 60).
    #[arg(long, env = "SWITCHYARD_COLLABORATOR_RETRY_SECONDS", default_value_t = 60, global = true)]
    pub collaborator_retry_seconds: u64,

    /// Days delivery logs (deliveries and attempts) are kept.
    #[arg(long, env = "SWITCHYARD_DELIVERY_LOG_RETENTION_DAYS", default_value_t = 30, global = true)]
    pub delivery_log_retention_days: u64,

    /// Log format.
    #[arg(long, env = "SWITCHYARD_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,

    /// Log filter, in `tracing` env-filter syntax.
    #[arg(long, env = "SWITCHYARD_LOG", default_value = "info,sqlx=warn,sea_orm=warn", global = true)]
    pub log: String,
}

impl Config {
    /// Parse a configuration from arguments alone (tests and benches), with
    /// the same defaults and validation as the command line.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Cli::try_parse_from(std::iter::once("switchyard".into()).chain(args.into_iter().map(Into::into)))?;
        Ok(cli.config)
    }

    /// The public base URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Whether session cookies get the `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        self.public_url().starts_with("https://")
    }

    /// Group-commit writers: the configured number, or the backend's default.
    pub fn ingest_writers(&self) -> usize {
        match self.ingest_writers {
            0 if self.is_postgres() => 2,
            0 => 1,
            n => n,
        }
    }

    /// Jobs one process runs at the same time: the setting, else 32 on
    /// PostgreSQL and 8 on SQLite (see `--worker-concurrency`).
    pub fn worker_concurrency(&self) -> usize {
        let default = if self.is_postgres() { 32 } else { 8 };
        self.worker_concurrency_setting.unwrap_or(default).max(1)
    }

    /// Connections of the bookkeeping pool (see `AppState::bookkeeping`):
    /// on PostgreSQL half the main pool's, at least 2; on SQLite none (it
    /// is the writer). A process opens at most `database_max_connections`
    /// plus these.
    pub fn bookkeeping_connections(&self) -> u32 {
        match self.is_postgres() {
            true => (self.database_max_connections / 2).max(2),
            false => 0,
        }
    }

    /// Whether the database is PostgreSQL (otherwise the embedded SQLite).
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    /// Checks that clap's types cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.is_postgres() || self.database_url.starts_with("sqlite:")) {
            return Err("SWITCHYARD_DATABASE_URL must start with sqlite: or postgres://".into());
        }
        if self.rate_limit_per_minute == 0 {
            return Err("SWITCHYARD_RATE_LIMIT_PER_MINUTE must be at least 1".into());
        }
        if self.usage_flush_seconds == 0 {
            return Err("SWITCHYARD_USAGE_FLUSH_SECONDS must be at least 1".into());
        }
        if self.key_roll_grace_seconds > MAX_ROLL_GRACE_SECONDS {
            return Err("SWITCHYARD_KEY_ROLL_GRACE_SECONDS must be at most 604800 (7 days)".into());
        }
        if let Some(r) = &self.redis_url {
            if !(r.starts_with("redis://") || r.starts_with("rediss://") || r.starts_with("unix://")) {
                return Err("SWITCHYARD_REDIS_URL must start with redis://, rediss:// or unix://".into());
            }
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            return Err("SWITCHYARD_REDIS_PREFIX must be non-empty, without spaces".into());
        }
        if self.visibility_timeout_seconds < 3 {
            return Err("SWITCHYARD_VISIBILITY_TIMEOUT_SECONDS must be at least 3".into());
        }
        if self.sweep_interval_seconds == 0 || self.sweep_grace_seconds == 0 {
            return Err(
                "SWITCHYARD_SWEEP_INTERVAL_SECONDS and SWITCHYARD_SWEEP_GRACE_SECONDS must be at least 1".into()
            );
        }
        if !(1000..=60_000).contains(&self.webhook_timeout_ms) {
            return Err("SWITCHYARD_WEBHOOK_TIMEOUT_MS must be between 1000 and 60000".into());
        }
        if !self.webhook_disable_after_days.is_finite() || self.webhook_disable_after_days <= 0.0 {
            return Err("SWITCHYARD_WEBHOOK_DISABLE_AFTER_DAYS must be positive".into());
        }
        // Two waits and a run budget of chunks must fit a job's timeout.
        if self.process_yield_ms > 5_000 {
            return Err("SWITCHYARD_PROCESS_YIELD_MS must be at most 5000".into());
        }
        if self.ingest_writers > 64 {
            return Err("SWITCHYARD_INGEST_WRITERS must be at most 64".into());
        }
        if self.ws_recheck_seconds == 0 {
            return Err("SWITCHYARD_WS_RECHECK_SECONDS must be at least 1".into());
        }
        if self.queue_status_interval_ms < 100 {
            return Err("SWITCHYARD_QUEUE_STATUS_INTERVAL_MS must be at least 100".into());
        }
        if self.header_timeout_seconds == 0 || self.body_timeout_seconds == 0 {
            return Err(
                "SWITCHYARD_HEADER_TIMEOUT_SECONDS and SWITCHYARD_BODY_TIMEOUT_SECONDS must be at least 1".into()
            );
        }
        if self.max_connections == 0 {
            return Err("SWITCHYARD_MAX_CONNECTIONS must be at least 1".into());
        }
        if self.auth_address_limit_per_minute == 0 {
            return Err("SWITCHYARD_AUTH_ADDRESS_LIMIT_PER_MINUTE must be at least 1".into());
        }
        if self.metrics_token.as_ref().is_some_and(|t| t.chars().count() < 16) {
            return Err("SWITCHYARD_METRICS_TOKEN must be at least 16 characters".into());
        }
        if let Some(u) = &self.public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err("SWITCHYARD_PUBLIC_URL must start with http:// or https://".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A subcommand flag named like a global one silently takes the global's
    /// value (issue 18: `admin create-user --workspace ws_X` got the global
    /// `--workspace-name` default and created a workspace instead of joining
    /// ws_X). One flag, one meaning.
    #[test]
    fn no_subcommand_flag_shares_a_name_with_a_global_flag() {
        let cli = Cli::command();
        let globals: Vec<String> =
            cli.get_arguments().filter(|a| a.is_global_set()).filter_map(|a| a.get_long().map(String::from)).collect();
        assert!(globals.iter().any(|g| g == "workspace-name"), "{globals:?}");
        fn walk(cmd: &clap::Command, globals: &[String], path: &str) {
            for sub in cmd.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                for arg in sub.get_arguments() {
                    if let Some(long) = arg.get_long() {
                        assert!(!globals.iter().any(|g| g == long), "`{path} --{long}` shadows the global flag");
                    }
                }
                walk(sub, globals, &path);
            }
        }
        walk(&cli, &globals, "switchyard");
    }

    #[test]
    fn create_user_joins_with_workspace_and_creates_with_new_workspace() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["switchyard", "admin", "create-user", "--email", "a@b.c"].iter().chain(args))
        };
        match parse(&["--workspace", "ws_X", "--member-role", "collaborator"]).unwrap().command {
            Some(Command::Admin(AdminCommand::CreateUser { workspace, new_workspace, .. })) => {
                assert_eq!((workspace.as_deref(), new_workspace), (Some("ws_X"), None));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["--workspace", "ws_X", "--new-workspace", "W"]).is_err(), "one or the other");
        assert!(parse(&[]).is_err(), "one of them is required");
    }
}
