//! Switchyard's own OAuth 2.0 authorization server: third-party apps, the
//! users' authorizations (remembered consent), grants (one per
//! authorization code or client-credentials request, the family every token
//! descends from) and tokens. Secrets, codes and tokens are stored as keyed
//! hashes only.
use crate::cols::{cascade, id, text, timestamp, timestamp_null};
use crate::m20261123_000001_create_workspace_user::{User, Workspace};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OauthApp::Table)
                .col(id(OauthApp::Id))
                .col(text(OauthApp::WorkspaceId))
                .col(text(OauthApp::CreatedBy))
                .col(text(OauthApp::Name))
                .col(text(OauthApp::Description))
                .col(text(OauthApp::ClientId).unique_key())
                .col(ColumnDef::new(OauthApp::SecretHash).string().null())
                .col(ColumnDef::new(OauthApp::Confidential).boolean().not_null())
                .col(ColumnDef::new(OauthApp::RedirectUris).json().not_null())
                .col(ColumnDef::new(OauthApp::Scopes).json().not_null())
                .col(ColumnDef::new(OauthApp::UsageCount).big_integer().not_null().default(0))
                .col(timestamp_null(OauthApp::LastUsedAt))
                .col(timestamp(OauthApp::CreatedAt))
                .col(timestamp(OauthApp::UpdatedAt))
                .foreign_key(&mut cascade((OauthApp::Table, OauthApp::WorkspaceId), (Workspace::Table, Workspace::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_oauth_app_workspace")
                .table(OauthApp::Table)
                .col(OauthApp::WorkspaceId)
                .col(OauthApp::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OauthAppUsage::Table)
                .col(text(OauthAppUsage::AppId))
                .col(text(OauthAppUsage::Day))
                .col(text(OauthAppUsage::StatusClass))
                .col(ColumnDef::new(OauthAppUsage::Count).big_integer().not_null())
                .primary_key(
                    Index::create().col(OauthAppUsage::AppId).col(OauthAppUsage::Day).col(OauthAppUsage::StatusClass),
                )
                .foreign_key(&mut cascade(
                    (OauthAppUsage::Table, OauthAppUsage::AppId),
                    (OauthApp::Table, OauthApp::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OauthAuthorization::Table)
                .col(id(OauthAuthorization::Id))
                .col(text(OauthAuthorization::WorkspaceId))
                .col(text(OauthAuthorization::AppId))
                .col(text(OauthAuthorization::UserId))
                .col(ColumnDef::new(OauthAuthorization::Scopes).json().not_null())
                .col(timestamp_null(OauthAuthorization::LastUsedAt))
                .col(timestamp(OauthAuthorization::CreatedAt))
                .col(timestamp(OauthAuthorization::UpdatedAt))
                .foreign_key(&mut cascade(
                    (OauthAuthorization::Table, OauthAuthorization::AppId),
                    (OauthApp::Table, OauthApp::Id),
                ))
                .foreign_key(&mut cascade(
                    (OauthAuthorization::Table, OauthAuthorization::UserId),
                    (User::Table, User::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_oauth_authorization_app_user")
                .table(OauthAuthorization::Table)
                .col(OauthAuthorization::AppId)
                .col(OauthAuthorization::UserId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OauthGrant::Table)
                .col(id(OauthGrant::Id))
                .col(text(OauthGrant::WorkspaceId))
                .col(text(OauthGrant::AppId))
                .col(text(OauthGrant::UserId))
                .col(ColumnDef::new(OauthGrant::AuthorizationId).string().null())
                .col(ColumnDef::new(OauthGrant::Scopes).json().not_null())
                .col(ColumnDef::new(OauthGrant::CodeHash).string().null().unique_key())
                .col(ColumnDef::new(OauthGrant::CodeChallenge).string().null())
                .col(ColumnDef::new(OauthGrant::RedirectUri).string().null())
                .col(timestamp_null(OauthGrant::CodeExpiresAt))
                .col(timestamp_null(OauthGrant::CodeUsedAt))
                .col(timestamp_null(OauthGrant::RevokedAt))
                .col(timestamp(OauthGrant::CreatedAt))
                .foreign_key(&mut cascade((OauthGrant::Table, OauthGrant::AppId), (OauthApp::Table, OauthApp::Id)))
                .foreign_key(&mut cascade((OauthGrant::Table, OauthGrant::UserId), (User::Table, User::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_oauth_grant_app_user")
                .table(OauthGrant::Table)
                .col(OauthGrant::AppId)
                .col(OauthGrant::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OauthToken::Table)
                .col(id(OauthToken::Id))
                .col(text(OauthToken::GrantId))
                .col(text(OauthToken::AppId))
                .col(text(OauthToken::Kind))
                .col(text(OauthToken::TokenHash).unique_key())
                .col(ColumnDef::new(OauthToken::Scopes).json().not_null())
                .col(ColumnDef::new(OauthToken::ParentId).string().null())
                .col(timestamp(OauthToken::ExpiresAt))
                .col(timestamp_null(OauthToken::UsedAt))
                .col(ColumnDef::new(OauthToken::Retried).boolean().not_null().default(false))
                .col(timestamp_null(OauthToken::RevokedAt))
                .col(timestamp(OauthToken::CreatedAt))
                .foreign_key(&mut cascade(
                    (OauthToken::Table, OauthToken::GrantId),
                    (OauthGrant::Table, OauthGrant::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_oauth_token_grant").table(OauthToken::Table).col(OauthToken::GrantId).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            OauthToken::Table.into_iden(),
            OauthGrant::Table.into_iden(),
            OauthAuthorization::Table.into_iden(),
            OauthAppUsage::Table.into_iden(),
            OauthApp::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum OauthApp {
    Table,
    Id,
    WorkspaceId,
    CreatedBy,
    Name,
    Description,
    ClientId,
    SecretHash,
    Confidential,
    RedirectUris,
    Scopes,
    UsageCount,
    LastUsedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OauthAppUsage {
    Table,
    AppId,
    Day,
    StatusClass,
    Count,
}

#[derive(DeriveIden)]
enum OauthAuthorization {
    Table,
    Id,
    WorkspaceId,
    AppId,
    UserId,
    Scopes,
    LastUsedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OauthGrant {
    Table,
    Id,
    WorkspaceId,
    AppId,
    UserId,
    AuthorizationId,
    Scopes,
    CodeHash,
    CodeChallenge,
    RedirectUri,
    CodeExpiresAt,
    CodeUsedAt,
    RevokedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OauthToken {
    Table,
    Id,
    GrantId,
    AppId,
    Kind,
    TokenHash,
    Scopes,
    ParentId,
    ExpiresAt,
    UsedAt,
    Retried,
    RevokedAt,
    CreatedAt,
}
