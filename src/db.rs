//! Connecting to the database (SQLite in WAL mode, or PostgreSQL) and
//! applying migrations.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::config::Config;
use crate::error::Result;

/// Opens the pool. SQLite gets WAL, `synchronous=NORMAL`, foreign keys and a
/// busy timeout so concurrent writers wait instead of failing.
pub async fn connect(cfg: &Config) -> Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(cfg.database_url.clone());
    opts.max_connections(cfg.database_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
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
