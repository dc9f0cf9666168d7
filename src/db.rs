//! Connecting to the database (SQLite in WAL mode, or PostgreSQL) and
//! applying migrations.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::config::Config;
use crate::error::Result;

/// Opens the pools: `(readers, writer)`. SQLite allows one writer at a
/// time and a transaction that reads before it writes fails outright
/// (`SQLITE_BUSY_SNAPSHOT`) if another connection committed in between, so
/// on SQLite every write goes through a one-connection writer pool while
/// reads use the others (WAL lets them run alongside). On PostgreSQL both are
/// the same pool.
pub async fn connect(cfg: &Config) -> Result<(DatabaseConnection, DatabaseConnection)> {
    let readers = open(cfg, cfg.database_max_connections).await?;
    if cfg.is_postgres() {
        return Ok((readers.clone(), readers));
    }
    let writer = open(cfg, 1).await?;
    Ok((readers, writer))
}

/// Opens one pool. SQLite gets WAL, `synchronous=NORMAL`, foreign keys and a
/// busy timeout so a second writer (another process) waits instead of failing.
///
/// Connections are not pinged before each use (sqlx's default): that ping
/// is a round trip per statement, measured at 6% of the server's CPU in
/// `bench ingest`. A connection the database dropped fails its next
/// statement instead (that request gets a 500, a job is retried) and is
/// then closed; idle ones are recycled after ten minutes anyway.
async fn open(cfg: &Config, max_connections: u32) -> Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(cfg.database_url.clone());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .sqlx_logging(false);
    if !cfg.is_postgres() {
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
        });
    }
    Ok(Database::connect(opts).await?)
}

/// Applies every pending migration. On PostgreSQL, processes starting
/// together take turns through an advisory lock held on a connection of
/// its own, so two never run the same migration at once.
pub async fn migrate(db: &DatabaseConnection, url: &str) -> Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        Migrator::up(db, None).await?;
        return Ok(());
    }
    let lock = ConnectOptions::new(url).max_connections(1).sqlx_logging(false).to_owned();
    let lock = Database::connect(lock).await?;
    lock.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).await?;
    let result = Migrator::up(db, None).await;
    lock.execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).await?;
    lock.close().await?;
    Ok(result?)
}

/// Advisory lock key for migrations (any fixed number; "SWYD" in ASCII).
const MIGRATION_LOCK: i64 = 0x5357_5944;
