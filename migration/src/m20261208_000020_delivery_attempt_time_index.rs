//! The delivery chart (`deliveryTimeline`) reads a workspace's attempts of
//! the last minutes or hours, bucketed by `created_at`: without this index
//! it scans every attempt kept (a million a day at a busy hub); with it, the
//! last hour of them. The hourly prune's `created_at` cut-off uses it too.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "ix_delivery_attempt_workspace_time";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(NAME)
                .table(DeliveryAttempt::Table)
                .col(DeliveryAttempt::WorkspaceId)
                .col(DeliveryAttempt::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(NAME).table(DeliveryAttempt::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum DeliveryAttempt {
    Table,
    WorkspaceId,
    CreatedAt,
}
