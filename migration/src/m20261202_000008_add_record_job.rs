//! Each record names the `record.process` job that applies its pending
//! change, so one job can carry every record accepted while it waited.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Record::Table).add_column(ColumnDef::new(Record::JobId).string().null()).to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_record_job").table(Record::Table).col(Record::JobId).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_record_job").table(Record::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Record::Table).drop_column(Record::JobId).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Record {
    Table,
    JobId,
}
