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
                .table(Webhook::Table)
                .col(id(Webhook::Id))
                .col(text(Webhook::WorkspaceId))
                .col(text(Webhook::Url))
                .col(ColumnDef::new(Webhook::EndpointId).string().null())
                .col(text(Webhook::Description))
                .col(ColumnDef::new(Webhook::Events).json().not_null())
                .col(ColumnDef::new(Webhook::Headers).json().not_null())
                .col(text(Webhook::SecretEnc))
                .col(ColumnDef::new(Webhook::PreviousSecretEnc).string().null())
                .col(timestamp_null(Webhook::PreviousSecretExpiresAt))
                .col(ColumnDef::new(Webhook::Active).boolean().not_null())
                .col(ColumnDef::new(Webhook::DisabledReason).string().null())
                .col(ColumnDef::new(Webhook::RateLimitPerMinute).integer().not_null())
                .col(ColumnDef::new(Webhook::RetrySchedule).json().not_null())
                .col(ColumnDef::new(Webhook::TimeoutMs).integer().not_null())
                .col(timestamp_null(Webhook::FailingSince))
                .col(timestamp_null(Webhook::LastSuccessAt))
                .col(timestamp(Webhook::CreatedAt))
                .col(timestamp(Webhook::UpdatedAt))
                .foreign_key(&mut cascade((Webhook::Table, Webhook::WorkspaceId), (Workspace::Table, Workspace::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_workspace")
                .table(Webhook::Table)
                .col(Webhook::WorkspaceId)
                .col(Webhook::Active)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Delivery::Table)
                .col(id(Delivery::Id))
                .col(text(Delivery::WorkspaceId))
                .col(text(Delivery::WebhookId))
                .col(ColumnDef::new(Delivery::EventId).string().null())
                .col(text(Delivery::EventType))
                .col(ColumnDef::new(Delivery::Payload).json().not_null())
                .col(text(Delivery::State))
                .col(ColumnDef::new(Delivery::Attempts).integer().not_null())
                .col(ColumnDef::new(Delivery::LastStatusCode).integer().null())
                .col(ColumnDef::new(Delivery::LastError).text().null())
                .col(text(Delivery::JobId))
                .col(timestamp(Delivery::CreatedAt))
                .col(timestamp(Delivery::UpdatedAt))
                .col(timestamp_null(Delivery::DeliveredAt))
                .foreign_key(&mut cascade((Delivery::Table, Delivery::WebhookId), (Webhook::Table, Webhook::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_delivery_webhook")
                .table(Delivery::Table)
                .col(Delivery::WorkspaceId)
                .col(Delivery::WebhookId)
                .col(Delivery::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DeliveryAttempt::Table)
                .col(id(DeliveryAttempt::Id))
                .col(text(DeliveryAttempt::WorkspaceId))
                .col(text(DeliveryAttempt::DeliveryId))
                .col(text(DeliveryAttempt::WebhookId))
                .col(ColumnDef::new(DeliveryAttempt::Attempt).integer().not_null())
                .col(ColumnDef::new(DeliveryAttempt::Success).boolean().not_null())
                .col(ColumnDef::new(DeliveryAttempt::StatusCode).integer().null())
                .col(ColumnDef::new(DeliveryAttempt::ResponseTimeMs).big_integer().not_null())
                .col(ColumnDef::new(DeliveryAttempt::ResponseBody).text().not_null())
                .col(ColumnDef::new(DeliveryAttempt::RequestHeaders).json().not_null())
                .col(ColumnDef::new(DeliveryAttempt::Error).text().null())
                .col(timestamp(DeliveryAttempt::CreatedAt))
                .foreign_key(&mut cascade(
                    (DeliveryAttempt::Table, DeliveryAttempt::DeliveryId),
                    (Delivery::Table, Delivery::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_attempt_delivery")
                .table(DeliveryAttempt::Table)
                .col(DeliveryAttempt::DeliveryId)
                .col(DeliveryAttempt::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_attempt_webhook")
                .table(DeliveryAttempt::Table)
                .col(DeliveryAttempt::WorkspaceId)
                .col(DeliveryAttempt::WebhookId)
                .col(DeliveryAttempt::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DeliveryAttempt::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Delivery::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Webhook::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Webhook {
    Table,
    Id,
    WorkspaceId,
    Url,
    EndpointId,
    Description,
    Events,
    Headers,
    SecretEnc,
    PreviousSecretEnc,
    PreviousSecretExpiresAt,
    Active,
    DisabledReason,
    RateLimitPerMinute,
    RetrySchedule,
    TimeoutMs,
    FailingSince,
    LastSuccessAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Delivery {
    Table,
    Id,
    WorkspaceId,
    WebhookId,
    EventId,
    EventType,
    Payload,
    State,
    Attempts,
    LastStatusCode,
    LastError,
    JobId,
    CreatedAt,
    UpdatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum DeliveryAttempt {
    Table,
    Id,
    WorkspaceId,
    DeliveryId,
    WebhookId,
    Attempt,
    Success,
    StatusCode,
    ResponseTimeMs,
    ResponseBody,
    RequestHeaders,
    Error,
    CreatedAt,
}
