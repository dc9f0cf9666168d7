//! An inbound sync's state between runs, and the guard that keeps one run
//! of an integration at a time.
//!
//! - `integration.sync_resume_enc`: where a listing longer than one run
//!   continues (the request of its next page and the id of the cycle that
//!   began at its first page), encrypted like the secrets (a link may
//!   carry a token); null when the next run starts from the first page.
//! - `integration.sync_run_id` and `sync_lease_until`: the run that holds
//!   the integration's sync, until when. Taken by a conditional update, so
//!   of two runs one holds it and the other is skipped; a killed process's
//!   hold ends with its lease.
//! - `integration_item.cycle`: the cycle that last saw the item: after a
//!   complete cycle, the items of other cycles are the vanished ones.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        let columns = [
            ColumnDef::new(Integration::SyncResumeEnc).text().null().to_owned(),
            ColumnDef::new(Integration::SyncRunId).string().null().to_owned(),
            ColumnDef::new(Integration::SyncLeaseUntil).timestamp_with_time_zone().null().to_owned(),
        ];
        for mut column in columns {
            m.alter_table(Table::alter().table(Integration::Table).add_column(&mut column).to_owned()).await?;
        }
        m.alter_table(
            Table::alter()
                .table(IntegrationItem::Table)
                .add_column(ColumnDef::new(IntegrationItem::Cycle).string().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(IntegrationItem::Table).drop_column(IntegrationItem::Cycle).to_owned())
            .await?;
        for column in [Integration::SyncLeaseUntil, Integration::SyncRunId, Integration::SyncResumeEnc] {
            m.alter_table(Table::alter().table(Integration::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Integration {
    Table,
    SyncResumeEnc,
    SyncRunId,
    SyncLeaseUntil,
}

#[derive(DeriveIden)]
enum IntegrationItem {
    Table,
    Cycle,
}
