//! Actions (seed 000, "API execute" workflows): an action is an ordered list
//! of steps (kept as JSON on the row); its triggers (schedules and event
//! patterns) are rows of their own so the scheduler and the event fan-out
//! find the due and matching ones with an index; each run keeps its steps'
//! results and where it stands, so a killed worker resumes it at the step
//! it was on.
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
                .table(Action::Table)
                .col(id(Action::Id))
                .col(text(Action::WorkspaceId))
                .col(text(Action::Name))
                .col(text(Action::Description))
                .col(ColumnDef::new(Action::Enabled).boolean().not_null())
                .col(ColumnDef::new(Action::Steps).json().not_null())
                .col(ColumnDef::new(Action::Providers).json().not_null())
                .col(text(Action::SigningSecretEnc))
                .col(text(Action::CreatedBy))
                .col(timestamp(Action::CreatedAt))
                .col(timestamp(Action::UpdatedAt))
                .foreign_key(&mut cascade((Action::Table, Action::WorkspaceId), (Workspace::Table, Workspace::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_action_workspace")
                .table(Action::Table)
                .col(Action::WorkspaceId)
                .col(Action::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ActionTrigger::Table)
                .col(id(ActionTrigger::Id))
                .col(text(ActionTrigger::WorkspaceId))
                .col(text(ActionTrigger::ActionId))
                .col(text(ActionTrigger::Kind))
                .col(ColumnDef::new(ActionTrigger::Active).boolean().not_null())
                .col(ColumnDef::new(ActionTrigger::Cron).string().null())
                .col(ColumnDef::new(ActionTrigger::Timezone).string().null())
                .col(ColumnDef::new(ActionTrigger::EverySeconds).big_integer().null())
                .col(timestamp_null(ActionTrigger::NextRunAt))
                .col(ColumnDef::new(ActionTrigger::EventType).string().null())
                .col(ColumnDef::new(ActionTrigger::EndpointId).string().null())
                .col(ColumnDef::new(ActionTrigger::Position).integer().not_null())
                .foreign_key(&mut cascade((ActionTrigger::Table, ActionTrigger::ActionId), (Action::Table, Action::Id)))
                .to_owned(),
        )
        .await?;
        // The scheduler: due schedules.
        m.create_index(
            Index::create()
                .name("ix_action_trigger_due")
                .table(ActionTrigger::Table)
                .col(ActionTrigger::Kind)
                .col(ActionTrigger::NextRunAt)
                .to_owned(),
        )
        .await?;
        // The event fan-out: a workspace's event triggers.
        m.create_index(
            Index::create()
                .name("ix_action_trigger_workspace")
                .table(ActionTrigger::Table)
                .col(ActionTrigger::WorkspaceId)
                .col(ActionTrigger::Kind)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_action_trigger_action")
                .table(ActionTrigger::Table)
                .col(ActionTrigger::ActionId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ActionRun::Table)
                .col(id(ActionRun::Id))
                .col(text(ActionRun::WorkspaceId))
                .col(text(ActionRun::ActionId))
                .col(text(ActionRun::Status))
                .col(text(ActionRun::TriggerKind))
                .col(ColumnDef::new(ActionRun::TriggerId).string().null())
                .col(text(ActionRun::Actor))
                .col(ColumnDef::new(ActionRun::Input).json().not_null())
                .col(ColumnDef::new(ActionRun::Event).json().null())
                .col(ColumnDef::new(ActionRun::StepIndex).integer().not_null())
                .col(ColumnDef::new(ActionRun::JobId).string().null())
                .col(ColumnDef::new(ActionRun::Steps).json().not_null())
                .col(timestamp_null(ActionRun::WaitUntil))
                .col(ColumnDef::new(ActionRun::Error).string().null())
                .col(timestamp(ActionRun::CreatedAt))
                .col(timestamp_null(ActionRun::StartedAt))
                .col(timestamp_null(ActionRun::FinishedAt))
                .col(timestamp(ActionRun::UpdatedAt))
                .foreign_key(&mut cascade((ActionRun::Table, ActionRun::ActionId), (Action::Table, Action::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_action_run_action")
                .table(ActionRun::Table)
                .col(ActionRun::ActionId)
                .col(ActionRun::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_action_run_workspace")
                .table(ActionRun::Table)
                .col(ActionRun::WorkspaceId)
                .col(ActionRun::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_action_run_status")
                .table(ActionRun::Table)
                .col(ActionRun::WorkspaceId)
                .col(ActionRun::Status)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ActionRun::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(ActionTrigger::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Action::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Action {
    Table,
    Id,
    WorkspaceId,
    Name,
    Description,
    Enabled,
    Steps,
    Providers,
    SigningSecretEnc,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ActionTrigger {
    Table,
    Id,
    WorkspaceId,
    ActionId,
    Kind,
    Active,
    Cron,
    Timezone,
    EverySeconds,
    NextRunAt,
    EventType,
    EndpointId,
    Position,
}

#[derive(DeriveIden)]
enum ActionRun {
    Table,
    Id,
    WorkspaceId,
    ActionId,
    Status,
    TriggerKind,
    TriggerId,
    Actor,
    Input,
    Event,
    StepIndex,
    JobId,
    Steps,
    WaitUntil,
    Error,
    CreatedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}
