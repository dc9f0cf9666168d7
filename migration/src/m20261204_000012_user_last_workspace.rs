//! The workspace a user last chose (by switching to it or accepting an
//! invitation to it), so that signing in lands there while they still
//! belong to it. Only the user's own actions set it.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(User::Table)
                .add_column(ColumnDef::new(User::LastWorkspaceId).string().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(User::Table).drop_column(User::LastWorkspaceId).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    LastWorkspaceId,
}
