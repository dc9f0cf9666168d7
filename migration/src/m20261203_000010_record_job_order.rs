//! A job's records are applied in id order, a chunk at a time: with the job
//! index on (job_id, id) each chunk reads its rows from the index in that
//! order, from where the last one stopped, instead of every remaining row
//! of the job followed by a sort.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create().name("ix_record_job_id").table(Record::Table).col(Record::JobId).col(Record::Id).to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name("ix_record_job").table(Record::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(Index::create().name("ix_record_job").table(Record::Table).col(Record::JobId).to_owned())
            .await?;
        m.drop_index(Index::drop().name("ix_record_job_id").table(Record::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Record {
    Table,
    JobId,
    Id,
}
