use crate::cols::{id, text, timestamp, timestamp_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Job::Table)
                .col(id(Job::Id))
                .col(ColumnDef::new(Job::WorkspaceId).string().null())
                .col(text(Job::Kind))
                .col(ColumnDef::new(Job::Payload).json().not_null())
                .col(text(Job::State))
                .col(ColumnDef::new(Job::Attempts).integer().not_null())
                .col(ColumnDef::new(Job::MaxAttempts).integer().not_null())
                .col(timestamp(Job::RunAt))
                .col(timestamp(Job::VisibleAt))
                .col(ColumnDef::new(Job::LeaseOwner).string().null())
                .col(ColumnDef::new(Job::LastError).text().null())
                .col(timestamp(Job::CreatedAt))
                .col(timestamp(Job::UpdatedAt))
                .col(timestamp_null(Job::FinishedAt))
                .to_owned(),
        )
        .await?;
        // The sweeper's scan: unfinished jobs by the time they are due.
        m.create_index(
            Index::create()
                .name("ix_job_state_visible")
                .table(Job::Table)
                .col(Job::State)
                .col(Job::VisibleAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_job_kind_state").table(Job::Table).col(Job::Kind).col(Job::State).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Schedule::Table)
                .col(ColumnDef::new(Schedule::Name).string().not_null().primary_key())
                .col(text(Schedule::Kind))
                .col(ColumnDef::new(Schedule::Payload).json().not_null())
                .col(ColumnDef::new(Schedule::EverySeconds).big_integer().not_null())
                .col(timestamp(Schedule::NextRunAt))
                .col(ColumnDef::new(Schedule::LastJobId).string().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Schedule::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Job::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Job {
    Table,
    Id,
    WorkspaceId,
    Kind,
    Payload,
    State,
    Attempts,
    MaxAttempts,
    RunAt,
    VisibleAt,
    LeaseOwner,
    LastError,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Schedule {
    Table,
    Name,
    Kind,
    Payload,
    EverySeconds,
    NextRunAt,
    LastJobId,
}
