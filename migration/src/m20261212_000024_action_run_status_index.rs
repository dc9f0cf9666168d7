//! Paused runs across workspaces, found by status: the action scheduler
//! looks every few seconds for paused runs whose connections are usable
//! again (`ix_action_run_status` leads with the workspace, so it cannot
//! serve that search).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_action_run_status_updated")
                .table(ActionRun::Table)
                .col(ActionRun::Status)
                .col(ActionRun::UpdatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_action_run_status_updated").table(ActionRun::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ActionRun {
    Table,
    Status,
    UpdatedAt,
}
