use crate::cols::{id, text, timestamp};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Event::Table)
                .col(id(Event::Id))
                .col(text(Event::WorkspaceId))
                .col(text(Event::EventType))
                .col(text(Event::Actor))
                .col(ColumnDef::new(Event::SubjectId).string().null())
                .col(ColumnDef::new(Event::Data).json().not_null())
                .col(timestamp(Event::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_event_workspace_id")
                .table(Event::Table)
                .col(Event::WorkspaceId)
                .col(Event::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Event::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
#[allow(clippy::enum_variant_names)] // `event_type` is the column's name
enum Event {
    Table,
    Id,
    WorkspaceId,
    EventType,
    Actor,
    SubjectId,
    Data,
    CreatedAt,
}
