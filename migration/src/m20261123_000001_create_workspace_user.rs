use crate::cols::{cascade, id, text, timestamp};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Workspace::Table)
                .col(id(Workspace::Id))
                .col(text(Workspace::Name))
                .col(timestamp(Workspace::CreatedAt))
                .col(timestamp(Workspace::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(User::Table)
                .col(id(User::Id))
                .col(text(User::Email).unique_key())
                .col(text(User::Name))
                .col(ColumnDef::new(User::PasswordHash).string().null())
                .col(timestamp(User::CreatedAt))
                .col(timestamp(User::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Membership::Table)
                .col(id(Membership::Id))
                .col(text(Membership::WorkspaceId))
                .col(text(Membership::UserId))
                .col(text(Membership::Role))
                .col(timestamp(Membership::CreatedAt))
                .foreign_key(&mut cascade(
                    (Membership::Table, Membership::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .foreign_key(&mut cascade((Membership::Table, Membership::UserId), (User::Table, User::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_membership_workspace_user")
                .table(Membership::Table)
                .col(Membership::WorkspaceId)
                .col(Membership::UserId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_membership_user").table(Membership::Table).col(Membership::UserId).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Membership::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(User::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Workspace::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
pub enum Workspace {
    Table,
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub enum User {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Membership {
    Table,
    Id,
    WorkspaceId,
    UserId,
    Role,
    CreatedAt,
}
