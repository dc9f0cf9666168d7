//! An inbound sync with `delete_missing` deletes the records whose item
//! vanished at the service: a run counts them in `deleted`, apart from the
//! items it created or replaced. `note` says how a run that did not fail
//! still ended early (it stopped at the page bound; the next run reads the
//! listing again from its start).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        m.alter_table(
            Table::alter()
                .table(IntegrationRun::Table)
                .add_column(ColumnDef::new(IntegrationRun::Deleted).big_integer().not_null().default(0))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(IntegrationRun::Table)
                .add_column(ColumnDef::new(IntegrationRun::Note).text().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(IntegrationRun::Table).drop_column(IntegrationRun::Note).to_owned()).await?;
        m.alter_table(Table::alter().table(IntegrationRun::Table).drop_column(IntegrationRun::Deleted).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum IntegrationRun {
    Table,
    Deleted,
    Note,
}
