use crate::cols::{cascade, id, text, timestamp, timestamp_null};
use crate::m20261123_000001_create_workspace_user::User;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Session::Table)
                .col(id(Session::Id))
                .col(text(Session::TokenHash).unique_key())
                .col(text(Session::UserId))
                .col(text(Session::WorkspaceId))
                .col(timestamp(Session::CreatedAt))
                .col(timestamp(Session::ExpiresAt))
                .foreign_key(&mut cascade((Session::Table, Session::UserId), (User::Table, User::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LoginToken::Table)
                .col(id(LoginToken::Id))
                .col(text(LoginToken::TokenHash).unique_key())
                .col(text(LoginToken::UserId))
                .col(text(LoginToken::WorkspaceId))
                .col(timestamp(LoginToken::ExpiresAt))
                .col(timestamp_null(LoginToken::UsedAt))
                .col(timestamp(LoginToken::CreatedAt))
                .foreign_key(&mut cascade((LoginToken::Table, LoginToken::UserId), (User::Table, User::Id)))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LoginToken::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Session::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    TokenHash,
    UserId,
    WorkspaceId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginToken {
    Table,
    Id,
    TokenHash,
    UserId,
    WorkspaceId,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}
