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
                .table(ApiKey::Table)
                .col(id(ApiKey::Id))
                .col(text(ApiKey::WorkspaceId))
                .col(text(ApiKey::CreatedBy))
                .col(text(ApiKey::Name))
                .col(text(ApiKey::Description))
                .col(text(ApiKey::Environment))
                .col(text(ApiKey::Prefix))
                .col(text(ApiKey::KeyHash).unique_key())
                .col(ColumnDef::new(ApiKey::PreviousKeyHash).string().null())
                .col(timestamp_null(ApiKey::PreviousExpiresAt))
                .col(ColumnDef::new(ApiKey::Permissions).json().not_null())
                .col(ColumnDef::new(ApiKey::Enabled).boolean().not_null())
                .col(timestamp_null(ApiKey::ExpiresAt))
                .col(timestamp_null(ApiKey::LastUsedAt))
                .col(ColumnDef::new(ApiKey::UsageCount).big_integer().not_null().default(0))
                .col(timestamp(ApiKey::CreatedAt))
                .col(timestamp(ApiKey::UpdatedAt))
                .foreign_key(&mut cascade((ApiKey::Table, ApiKey::WorkspaceId), (Workspace::Table, Workspace::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_api_key_workspace")
                .table(ApiKey::Table)
                .col(ApiKey::WorkspaceId)
                .col(ApiKey::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_api_key_previous_hash")
                .table(ApiKey::Table)
                .col(ApiKey::PreviousKeyHash)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ApiKeyUsage::Table)
                .col(text(ApiKeyUsage::ApiKeyId))
                .col(text(ApiKeyUsage::Day))
                .col(text(ApiKeyUsage::StatusClass))
                .col(ColumnDef::new(ApiKeyUsage::Count).big_integer().not_null())
                .primary_key(
                    Index::create().col(ApiKeyUsage::ApiKeyId).col(ApiKeyUsage::Day).col(ApiKeyUsage::StatusClass),
                )
                .foreign_key(&mut cascade((ApiKeyUsage::Table, ApiKeyUsage::ApiKeyId), (ApiKey::Table, ApiKey::Id)))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ApiKeyUsage::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(ApiKey::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    Id,
    WorkspaceId,
    CreatedBy,
    Name,
    Description,
    Environment,
    Prefix,
    KeyHash,
    PreviousKeyHash,
    PreviousExpiresAt,
    Permissions,
    Enabled,
    ExpiresAt,
    LastUsedAt,
    UsageCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiKeyUsage {
    Table,
    ApiKeyId,
    Day,
    StatusClass,
    Count,
}
