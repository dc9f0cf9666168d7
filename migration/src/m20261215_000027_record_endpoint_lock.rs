//! PostgreSQL: `record.endpoint_id` loses its foreign key. PostgreSQL checks
//! a foreign key row by row: every inserted record ran a query that found
//! its endpoint and share-locked it, a quarter of the database's time per
//! inserted record in a group commit of 100 (`psql`, 30,000 records: 17.6
//! µs with the key, 13.3 µs without). The writers now take that lock once
//! per statement (`FOR KEY SHARE` on the endpoint, before inserting), and
//! deleting an endpoint deletes its row first and then its records, so an
//! insert either finishes before the endpoint goes (and its records go
//! with the others) or finds no endpoint and writes nothing. SQLite keeps
//! the key: it serialises writers, and its check is one index lookup.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            // Whatever the key's name: the one on `record.endpoint_id`.
            m.get_connection()
                .execute_unprepared(
                    "DO $$ DECLARE k name; BEGIN \
                       FOR k IN SELECT c.conname FROM pg_constraint AS c \
                         JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
                         WHERE c.contype = 'f' AND c.conrelid = 'record'::regclass \
                           AND c.confrelid = 'data_endpoint'::regclass AND a.attname = 'endpoint_id' \
                       LOOP EXECUTE format('ALTER TABLE record DROP CONSTRAINT %I', k); END LOOP; \
                     END $$",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared(
                    "DELETE FROM record WHERE endpoint_id NOT IN (SELECT id FROM data_endpoint); \
                     ALTER TABLE record ADD CONSTRAINT record_endpoint_id_fkey FOREIGN KEY (endpoint_id) \
                     REFERENCES data_endpoint (id) ON DELETE CASCADE",
                )
                .await?;
        }
        Ok(())
    }
}
