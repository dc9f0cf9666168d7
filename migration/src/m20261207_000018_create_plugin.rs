//! Plugins (seed 002 §2): the custom manifests a workspace adds beside the
//! marketplace's, the plugins it installed (the manifest they were
//! installed from, the config with its secret fields encrypted apart, the
//! status), and the log of every call a plugin made (an action run or an
//! event hook), which is also the queue of hook calls still to make.
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
                .table(PluginManifest::Table)
                .col(id(PluginManifest::Id))
                .col(text(PluginManifest::WorkspaceId))
                .col(text(PluginManifest::PluginId))
                .col(text(PluginManifest::Key))
                .col(text(PluginManifest::Version))
                .col(ColumnDef::new(PluginManifest::Manifest).json().not_null())
                .col(timestamp(PluginManifest::CreatedAt))
                .foreign_key(&mut cascade(
                    (PluginManifest::Table, PluginManifest::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_plugin_manifest_plugin")
                .table(PluginManifest::Table)
                .col(PluginManifest::WorkspaceId)
                .col(PluginManifest::PluginId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Plugin::Table)
                .col(id(Plugin::Id))
                .col(text(Plugin::WorkspaceId))
                .col(text(Plugin::PluginId))
                .col(text(Plugin::Key))
                .col(text(Plugin::Source))
                .col(ColumnDef::new(Plugin::Manifest).json().not_null())
                .col(text(Plugin::Status))
                .col(ColumnDef::new(Plugin::Config).json().not_null())
                .col(ColumnDef::new(Plugin::SecretsEnc).text().null())
                .col(timestamp(Plugin::InstalledAt))
                .col(timestamp(Plugin::UpdatedAt))
                .foreign_key(&mut cascade((Plugin::Table, Plugin::WorkspaceId), (Workspace::Table, Workspace::Id)))
                .to_owned(),
        )
        .await?;
        // One installation of a plugin (any version) per workspace; the
        // event hook fan-out reads a workspace's plugins by this prefix.
        m.create_index(
            Index::create()
                .name("ux_plugin_key")
                .table(Plugin::Table)
                .col(Plugin::WorkspaceId)
                .col(Plugin::Key)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PluginCall::Table)
                .col(id(PluginCall::Id))
                .col(text(PluginCall::WorkspaceId))
                .col(text(PluginCall::PluginId))
                .col(text(PluginCall::Kind))
                .col(text(PluginCall::Name))
                .col(ColumnDef::new(PluginCall::EventId).string().null())
                .col(text(PluginCall::Status))
                .col(ColumnDef::new(PluginCall::HttpStatus).integer().null())
                .col(ColumnDef::new(PluginCall::Attempts).integer().not_null())
                .col(ColumnDef::new(PluginCall::DurationMs).big_integer().null())
                .col(ColumnDef::new(PluginCall::Error).text().null())
                .col(ColumnDef::new(PluginCall::Result).json().null())
                .col(timestamp(PluginCall::CreatedAt))
                .col(timestamp_null(PluginCall::FinishedAt))
                .foreign_key(&mut cascade(
                    (PluginCall::Table, PluginCall::WorkspaceId),
                    (Workspace::Table, Workspace::Id),
                ))
                // Uninstalling forgets the plugin's calls, queued hook calls
                // included: its hooks stop at once.
                .foreign_key(&mut cascade((PluginCall::Table, PluginCall::PluginId), (Plugin::Table, Plugin::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_plugin_call_plugin")
                .table(PluginCall::Table)
                .col(PluginCall::PluginId)
                .col(PluginCall::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PluginCall::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Plugin::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(PluginManifest::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum PluginManifest {
    Table,
    Id,
    WorkspaceId,
    PluginId,
    Key,
    Version,
    Manifest,
    CreatedAt,
}

// `Plugin::PluginId` is the column's name (the manifest's id), not a stutter.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum Plugin {
    Table,
    Id,
    WorkspaceId,
    PluginId,
    Key,
    Source,
    Manifest,
    Status,
    Config,
    SecretsEnc,
    InstalledAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PluginCall {
    Table,
    Id,
    WorkspaceId,
    PluginId,
    Kind,
    Name,
    EventId,
    Status,
    HttpStatus,
    Attempts,
    DurationMs,
    Error,
    Result,
    CreatedAt,
    FinishedAt,
}
