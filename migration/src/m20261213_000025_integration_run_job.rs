//! The job that may run an integration's run (`job_id`): a run paused by a
//! broken connection is resumed under a new job, and the job that paused it,
//! should it be retried (its worker died before it was acknowledged), must
//! not run it beside that one. Paused runs are found by status (the sweep
//! that resumes those whose connection came back without an event).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(IntegrationRun::Table)
                .add_column(ColumnDef::new(IntegrationRun::JobId).string().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_integration_run_status")
                .table(IntegrationRun::Table)
                .col(IntegrationRun::Status)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_integration_run_status").table(IntegrationRun::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(IntegrationRun::Table).drop_column(IntegrationRun::JobId).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum IntegrationRun {
    Table,
    JobId,
    Status,
}
