//! Idempotency keys: the first answer to a request sent with an
//! `Idempotency-Key`, replayed to a retry with the same key for 24 hours.
//! A key is scoped by the credential that sent it (stored hashed).
use crate::cols::{id, text, timestamp};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(IdempotencyKey::Table)
                .col(id(IdempotencyKey::Id))
                .col(text(IdempotencyKey::Scope))
                .col(text(IdempotencyKey::Key))
                .col(text(IdempotencyKey::Fingerprint))
                .col(ColumnDef::new(IdempotencyKey::Status).integer().null())
                .col(ColumnDef::new(IdempotencyKey::ContentType).string().null())
                .col(ColumnDef::new(IdempotencyKey::Body).text().null())
                .col(timestamp(IdempotencyKey::CreatedAt))
                .to_owned(),
        )
        .await?;
        // One answer per key and credential, even when two retries race.
        m.create_index(
            Index::create()
                .name("ux_idempotency_key")
                .table(IdempotencyKey::Table)
                .col(IdempotencyKey::Scope)
                .col(IdempotencyKey::Key)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_idempotency_key_created")
                .table(IdempotencyKey::Table)
                .col(IdempotencyKey::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(IdempotencyKey::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    Id,
    Scope,
    Key,
    Fingerprint,
    Status,
    ContentType,
    Body,
    CreatedAt,
}
