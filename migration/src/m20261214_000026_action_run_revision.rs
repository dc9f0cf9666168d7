//! A run's revision (`revision`): every write to a run moves it on by one
//! in the same statement, and live subscribers order a run's notes by it
//! (a note older than one already shown is dropped). It replaces comparing
//! `updated_at`, which was taken from the clock of whichever process saved
//! the run, so two hosts whose clocks disagree could reorder states.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ActionRun::Table)
                .add_column(ColumnDef::new(ActionRun::Revision).big_integer().not_null().default(0))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(ActionRun::Table).drop_column(ActionRun::Revision).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ActionRun {
    Table,
    Revision,
}
