//! PostgreSQL: record pages keep room for updated row versions. A record is
//! written once and updated twice (processing, then processed); with the
//! default fill factor its page is full by then, so every update writes new
//! entries into all of the record's indexes. With room on the page, and no
//! indexed column changed, the updates are heap-only (HOT): no index writes,
//! and the old versions are pruned in place. SQLite has no such setting.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection().execute_unprepared("ALTER TABLE record SET (fillfactor = 50)").await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection().execute_unprepared("ALTER TABLE record RESET (fillfactor)").await?;
        }
        Ok(())
    }
}
