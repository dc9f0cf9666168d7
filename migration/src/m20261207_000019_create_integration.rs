//! Integrations (seed 002 §3): a service bound to the workspace (Slack, a
//! plain webhook, or a provider of the connections catalog) with its
//! config (secret fields encrypted apart), its auto-sync settings, the
//! outcome of its last test and sync, and the cursor of an outbound sync
//! (the id of the last event sent), or the data key an inbound sync writes
//! records with. Each sync run is a row of
//! `integration_run`; an inbound sync remembers which record each external
//! id became in `integration_item`.
use crate::cols::{cascade, id, text, timestamp, timestamp_null};
use crate::m20261123_000001_create_workspace_user::Workspace;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Integration::Table)
                .col(id(Integration::Id))
                .col(text(Integration::WorkspaceId))
                .col(text(Integration::Name))
                .col(text(Integration::ServiceType))
                .col(ColumnDef::new(Integration::Config).json().not_null())
                .col(ColumnDef::new(Integration::SecretsEnc).text().null())
                .col(ColumnDef::new(Integration::AutoSync).boolean().not_null())
                .col(ColumnDef::new(Integration::SyncIntervalSeconds).big_integer().not_null())
                .col(text(Integration::Status))
                .col(ColumnDef::new(Integration::Cursor).string().null())
                .col(ColumnDef::new(Integration::DataKeyId).string().null())
                .col(timestamp_null(Integration::LastTestAt))
                .col(ColumnDef::new(Integration::LastTestStatus).integer().null())
                .col(ColumnDef::new(Integration::LastTestError).text().null())
                .col(timestamp_null(Integration::LastSyncAt))
                .col(ColumnDef::new(Integration::LastError).text().null())
                .col(ColumnDef::new(Integration::ItemsSynced).big_integer().not_null())
                .col(timestamp(Integration::CreatedAt))
                .col(timestamp(Integration::UpdatedAt))
                .foreign_key(&mut cascade(
                    (Integration::Table, Integration::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_integration_workspace")
                .table(Integration::Table)
                .col(Integration::WorkspaceId)
                .col(Integration::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(IntegrationRun::Table)
                .col(id(IntegrationRun::Id))
                .col(text(IntegrationRun::WorkspaceId))
                .col(text(IntegrationRun::IntegrationId))
                .col(text(IntegrationRun::Trigger))
                .col(text(IntegrationRun::Status))
                .col(ColumnDef::new(IntegrationRun::Items).big_integer().not_null())
                .col(ColumnDef::new(IntegrationRun::CursorFrom).string().null())
                .col(ColumnDef::new(IntegrationRun::CursorTo).string().null())
                .col(ColumnDef::new(IntegrationRun::Error).text().null())
                .col(timestamp(IntegrationRun::CreatedAt))
                .col(timestamp_null(IntegrationRun::FinishedAt))
                .foreign_key(&mut cascade(
                    (IntegrationRun::Table, IntegrationRun::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .foreign_key(&mut cascade(
                    (IntegrationRun::Table, IntegrationRun::IntegrationId),
                    (Integration::Table, Integration::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_integration_run_integration")
                .table(IntegrationRun::Table)
                .col(IntegrationRun::IntegrationId)
                .col(IntegrationRun::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(IntegrationItem::Table)
                .col(text(IntegrationItem::IntegrationId))
                .col(text(IntegrationItem::ExternalId))
                .col(text(IntegrationItem::RecordId))
                .col(text(IntegrationItem::Digest))
                .col(timestamp(IntegrationItem::UpdatedAt))
                .primary_key(Index::create().col(IntegrationItem::IntegrationId).col(IntegrationItem::ExternalId))
                .foreign_key(&mut cascade(
                    (IntegrationItem::Table, IntegrationItem::IntegrationId),
                    (Integration::Table, Integration::Id),
                ))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(IntegrationItem::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(IntegrationRun::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Integration::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Integration {
    Table,
    Id,
    WorkspaceId,
    Name,
    ServiceType,
    Config,
    SecretsEnc,
    AutoSync,
    SyncIntervalSeconds,
    Status,
    Cursor,
    DataKeyId,
    LastTestAt,
    LastTestStatus,
    LastTestError,
    LastSyncAt,
    LastError,
    ItemsSynced,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IntegrationRun {
    Table,
    Id,
    WorkspaceId,
    IntegrationId,
    Trigger,
    Status,
    Items,
    CursorFrom,
    CursorTo,
    Error,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum IntegrationItem {
    Table,
    IntegrationId,
    ExternalId,
    RecordId,
    Digest,
    UpdatedAt,
}
