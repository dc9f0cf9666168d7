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
                .table(DataEndpoint::Table)
                .col(id(DataEndpoint::Id))
                .col(text(DataEndpoint::WorkspaceId))
                .col(text(DataEndpoint::Slug))
                .col(text(DataEndpoint::Name))
                .col(ColumnDef::new(DataEndpoint::Schema).json().null())
                .col(text(DataEndpoint::SecretEnc))
                .col(ColumnDef::new(DataEndpoint::Enabled).boolean().not_null())
                .col(ColumnDef::new(DataEndpoint::MonthlyQuota).big_integer().null())
                .col(timestamp_null(DataEndpoint::SubscriptionExpiresAt))
                .col(timestamp(DataEndpoint::CreatedAt))
                .col(timestamp(DataEndpoint::UpdatedAt))
                .foreign_key(&mut cascade(
                    (DataEndpoint::Table, DataEndpoint::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_data_endpoint_slug")
                .table(DataEndpoint::Table)
                .col(DataEndpoint::WorkspaceId)
                .col(DataEndpoint::Slug)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DataKey::Table)
                .col(id(DataKey::Id))
                .col(text(DataKey::WorkspaceId))
                .col(text(DataKey::UserId))
                .col(text(DataKey::Name))
                .col(text(DataKey::Environment))
                .col(text(DataKey::Prefix))
                .col(text(DataKey::KeyHash).unique_key())
                .col(ColumnDef::new(DataKey::Enabled).boolean().not_null())
                .col(timestamp(DataKey::CreatedAt))
                .col(timestamp(DataKey::UpdatedAt))
                .foreign_key(&mut cascade((DataKey::Table, DataKey::WorkspaceId), (Workspace::Table, Workspace::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Record::Table)
                .col(id(Record::Id))
                .col(text(Record::WorkspaceId))
                .col(text(Record::EndpointId))
                .col(text(Record::Environment))
                .col(ColumnDef::new(Record::Data).json().null())
                .col(ColumnDef::new(Record::Pending).json().null())
                .col(text(Record::Operation))
                .col(text(Record::State))
                .col(ColumnDef::new(Record::Error).text().null())
                .col(text(Record::KeyId))
                .col(ColumnDef::new(Record::Silent).boolean().not_null().default(false))
                .col(ColumnDef::new(Record::CallbackUrl).string().null())
                .col(ColumnDef::new(Record::CallbackAuthHeader).string().null())
                .col(ColumnDef::new(Record::CallbackAuthEnc).string().null())
                .col(ColumnDef::new(Record::CallbackState).string().null())
                .col(ColumnDef::new(Record::CallbackError).text().null())
                .col(timestamp(Record::CreatedAt))
                .col(timestamp(Record::UpdatedAt))
                .col(timestamp_null(Record::ProcessedAt))
                .foreign_key(&mut cascade((Record::Table, Record::EndpointId), (DataEndpoint::Table, DataEndpoint::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_record_endpoint")
                .table(Record::Table)
                .col(Record::WorkspaceId)
                .col(Record::EndpointId)
                .col(Record::Environment)
                .col(Record::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EndpointUsage::Table)
                .col(text(EndpointUsage::EndpointId))
                .col(text(EndpointUsage::Month))
                .col(ColumnDef::new(EndpointUsage::Count).big_integer().not_null())
                .primary_key(Index::create().col(EndpointUsage::EndpointId).col(EndpointUsage::Month))
                .foreign_key(&mut cascade(
                    (EndpointUsage::Table, EndpointUsage::EndpointId),
                    (DataEndpoint::Table, DataEndpoint::Id),
                ))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(EndpointUsage::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Record::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(DataKey::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(DataEndpoint::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum DataEndpoint {
    Table,
    Id,
    WorkspaceId,
    Slug,
    Name,
    Schema,
    SecretEnc,
    Enabled,
    MonthlyQuota,
    SubscriptionExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DataKey {
    Table,
    Id,
    WorkspaceId,
    UserId,
    Name,
    Environment,
    Prefix,
    KeyHash,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Record {
    Table,
    Id,
    WorkspaceId,
    EndpointId,
    Environment,
    Data,
    Pending,
    Operation,
    State,
    Error,
    KeyId,
    Silent,
    CallbackUrl,
    CallbackAuthHeader,
    CallbackAuthEnc,
    CallbackState,
    CallbackError,
    CreatedAt,
    UpdatedAt,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum EndpointUsage {
    Table,
    EndpointId,
    Month,
    Count,
}
