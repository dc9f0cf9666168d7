//! Connecting to the database (SQLite in WAL mode, or PostgreSQL) and
//! applying migrations.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

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
async fn open(cfg: &Config, max_connections: u32) -> Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(cfg.database_url.clone());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
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

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}
