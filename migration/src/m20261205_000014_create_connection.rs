//! Connections to outside services (seed 000): the workspace's settings per
//! provider (OAuth client, URL overrides), the connections themselves (one
//! per provider per workspace, tokens encrypted) and pending OAuth attempts
//! (state and PKCE verifier, bound to the session that started them).
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
                .table(ProviderSetting::Table)
                .col(id(ProviderSetting::Id))
                .col(text(ProviderSetting::WorkspaceId))
                .col(text(ProviderSetting::Provider))
                .col(ColumnDef::new(ProviderSetting::ClientId).string().null())
                .col(ColumnDef::new(ProviderSetting::ClientSecretEnc).string().null())
                .col(ColumnDef::new(ProviderSetting::AuthorizeUrl).string().null())
                .col(ColumnDef::new(ProviderSetting::TokenUrl).string().null())
                .col(ColumnDef::new(ProviderSetting::ApiBaseUrl).string().null())
                .col(timestamp(ProviderSetting::CreatedAt))
                .col(timestamp(ProviderSetting::UpdatedAt))
                .foreign_key(&mut cascade(
                    (ProviderSetting::Table, ProviderSetting::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_provider_setting")
                .table(ProviderSetting::Table)
                .col(ProviderSetting::WorkspaceId)
                .col(ProviderSetting::Provider)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Connection::Table)
                .col(id(Connection::Id))
                .col(text(Connection::WorkspaceId))
                .col(text(Connection::Provider))
                .col(text(Connection::Account))
                .col(text(Connection::Status))
                .col(ColumnDef::new(Connection::Scopes).json().not_null())
                .col(ColumnDef::new(Connection::CredentialsEnc).string().not_null())
                .col(timestamp_null(Connection::TokenExpiresAt))
                .col(ColumnDef::new(Connection::AutoRefresh).boolean().not_null())
                .col(timestamp_null(Connection::RefreshLeaseUntil))
                .col(text(Connection::CreatedBy))
                .col(timestamp_null(Connection::LastUsedAt))
                .col(timestamp(Connection::CreatedAt))
                .col(timestamp(Connection::UpdatedAt))
                .foreign_key(&mut cascade(
                    (Connection::Table, Connection::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .to_owned(),
        )
        .await?;
        // One connection per service per workspace, even when two connects race.
        m.create_index(
            Index::create()
                .name("ux_connection_provider")
                .table(Connection::Table)
                .col(Connection::WorkspaceId)
                .col(Connection::Provider)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ConnectionAttempt::Table)
                .col(id(ConnectionAttempt::Id))
                .col(text(ConnectionAttempt::WorkspaceId))
                .col(text(ConnectionAttempt::UserId))
                .col(text(ConnectionAttempt::SessionId))
                .col(text(ConnectionAttempt::Provider))
                .col(text(ConnectionAttempt::StateHash).unique_key())
                .col(ColumnDef::new(ConnectionAttempt::VerifierEnc).string().null())
                .col(timestamp(ConnectionAttempt::ExpiresAt))
                .col(timestamp(ConnectionAttempt::CreatedAt))
                .foreign_key(&mut cascade(
                    (ConnectionAttempt::Table, ConnectionAttempt::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ConnectionAttempt::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Connection::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(ProviderSetting::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ProviderSetting {
    Table,
    Id,
    WorkspaceId,
    Provider,
    ClientId,
    ClientSecretEnc,
    AuthorizeUrl,
    TokenUrl,
    ApiBaseUrl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Connection {
    Table,
    Id,
    WorkspaceId,
    Provider,
    Account,
    Status,
    Scopes,
    CredentialsEnc,
    TokenExpiresAt,
    AutoRefresh,
    RefreshLeaseUntil,
    CreatedBy,
    LastUsedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ConnectionAttempt {
    Table,
    Id,
    WorkspaceId,
    UserId,
    SessionId,
    Provider,
    StateHash,
    VerifierEnc,
    ExpiresAt,
    CreatedAt,
}
