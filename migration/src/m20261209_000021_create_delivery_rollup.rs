//! Rollups of the attempt log for the console's delivery chart: per closed
//! minute, hour and day, per webhook and per workspace (`webhook_id` = ''),
//! the success and failure counts and the nearest-rank p50/p99 response
//! times, computed once by the `charts.rollup` job. A chart over a day of a
//! busy hub then reads a few dozen rows instead of a million.
//! `delivery_rollup_mark` holds, per bucket width, where the rolled-up time
//! ends; the chart reads the raw attempts from there on.
//! The job finds each new stretch of attempts by `created_at` alone, across
//! workspaces: hence the index on it (the hourly prune's cut-off uses it too).
use crate::cols::{cascade, text};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TIME_INDEX: &str = "ix_delivery_attempt_created";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let count = |c: DeliveryRollup| ColumnDef::new(c).big_integer().not_null().take();
        m.create_table(
            Table::create()
                .table(DeliveryRollup::Table)
                .col(text(DeliveryRollup::WorkspaceId))
                .col(text(DeliveryRollup::WebhookId))
                .col(count(DeliveryRollup::Width))
                .col(count(DeliveryRollup::Bucket))
                .col(count(DeliveryRollup::Succeeded))
                .col(count(DeliveryRollup::Failed))
                .col(count(DeliveryRollup::P50Ms))
                .col(count(DeliveryRollup::P99Ms))
                .primary_key(
                    Index::create()
                        .col(DeliveryRollup::WorkspaceId)
                        .col(DeliveryRollup::WebhookId)
                        .col(DeliveryRollup::Width)
                        .col(DeliveryRollup::Bucket),
                )
                .foreign_key(&mut cascade(
                    (DeliveryRollup::Table, DeliveryRollup::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .to_owned(),
        )
        .await?;
        // The job's clean-up of old rollups goes by width and bucket alone.
        m.create_index(
            Index::create()
                .name("ix_delivery_rollup_width_bucket")
                .table(DeliveryRollup::Table)
                .col(DeliveryRollup::Width)
                .col(DeliveryRollup::Bucket)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DeliveryRollupMark::Table)
                .col(ColumnDef::new(DeliveryRollupMark::Width).big_integer().not_null().primary_key())
                .col(ColumnDef::new(DeliveryRollupMark::Until).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name(TIME_INDEX).table(DeliveryAttempt::Table).col(DeliveryAttempt::CreatedAt).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(TIME_INDEX).table(DeliveryAttempt::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(DeliveryRollupMark::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(DeliveryRollup::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum DeliveryRollup {
    Table,
    WorkspaceId,
    WebhookId,
    Width,
    Bucket,
    Succeeded,
    Failed,
    P50Ms,
    P99Ms,
}

#[derive(DeriveIden)]
enum Workspace {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum DeliveryRollupMark {
    Table,
    Width,
    Until,
}

#[derive(DeriveIden)]
enum DeliveryAttempt {
    Table,
    CreatedAt,
}
