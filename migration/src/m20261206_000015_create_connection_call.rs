//! Calls made through connections (seed 000, "API execute"): one row per
//! call, the log the dashboard reads (method, path, status, duration,
//! attempts, time spent queued; never credentials, bodies cut to 4 KiB),
//! and the holding place of a call that waits for the provider's rate
//! window (its request encrypted until it has run). Provider settings gain
//! a rate limit of the workspace's own, for custom APIs and plans that
//! differ from the catalog's figure.
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
                .table(ConnectionCall::Table)
                .col(id(ConnectionCall::Id))
                .col(text(ConnectionCall::WorkspaceId))
                .col(text(ConnectionCall::ConnectionId))
                .col(text(ConnectionCall::Method))
                .col(text(ConnectionCall::Path))
                .col(text(ConnectionCall::Status))
                .col(ColumnDef::new(ConnectionCall::HttpStatus).integer().null())
                .col(ColumnDef::new(ConnectionCall::Attempts).integer().not_null())
                .col(ColumnDef::new(ConnectionCall::DurationMs).big_integer().null())
                .col(ColumnDef::new(ConnectionCall::QueuedMs).big_integer().not_null())
                .col(ColumnDef::new(ConnectionCall::RequestEnc).string().null())
                .col(ColumnDef::new(ConnectionCall::ResponseHeaders).json().null())
                .col(ColumnDef::new(ConnectionCall::ResponseBody).string().null())
                .col(ColumnDef::new(ConnectionCall::ResponseTruncated).boolean().not_null())
                .col(ColumnDef::new(ConnectionCall::Error).string().null())
                .col(timestamp_null(ConnectionCall::RunAfter))
                .col(timestamp(ConnectionCall::CreatedAt))
                .col(timestamp_null(ConnectionCall::FinishedAt))
                .foreign_key(&mut cascade(
                    (ConnectionCall::Table, ConnectionCall::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .foreign_key(&mut cascade(
                    (ConnectionCall::Table, ConnectionCall::ConnectionId),
                    (Connection::Table, Connection::Id),
                ))
                .to_owned(),
        )
        .await?;
        // The dashboard's "calls in the last 24 h" and a connection's call log.
        m.create_index(
            Index::create()
                .name("ix_connection_call_connection")
                .table(ConnectionCall::Table)
                .col(ConnectionCall::ConnectionId)
                .col(ConnectionCall::CreatedAt)
                .to_owned(),
        )
        .await?;
        // SQLite takes one column per ALTER TABLE.
        for col in [ProviderSetting::RateLimitRequests, ProviderSetting::RateLimitSeconds] {
            m.alter_table(
                Table::alter()
                    .table(ProviderSetting::Table)
                    .add_column(ColumnDef::new(col).integer().null())
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [ProviderSetting::RateLimitRequests, ProviderSetting::RateLimitSeconds] {
            m.alter_table(Table::alter().table(ProviderSetting::Table).drop_column(col).to_owned()).await?;
        }
        m.drop_table(Table::drop().table(ConnectionCall::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ConnectionCall {
    Table,
    Id,
    WorkspaceId,
    ConnectionId,
    Method,
    Path,
    Status,
    HttpStatus,
    Attempts,
    DurationMs,
    QueuedMs,
    RequestEnc,
    ResponseHeaders,
    ResponseBody,
    ResponseTruncated,
    Error,
    RunAfter,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Connection {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ProviderSetting {
    Table,
    RateLimitRequests,
    RateLimitSeconds,
}
