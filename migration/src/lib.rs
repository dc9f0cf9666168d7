//! Schema migrations, one file per migration, applied in order by
//! `switchyard migrate` and on every `switchyard serve` start.
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_workspace_user;
mod m20261123_000002_create_api_key;
mod m20261123_000003_create_session;
mod m20261123_000004_create_event;
mod m20261123_000005_create_job;
mod m20261123_000006_create_webhook;
mod m20261123_000007_create_data_endpoint;
mod m20261202_000008_add_record_job;
mod m20261202_000009_record_fillfactor;
mod m20261203_000010_record_job_order;
mod m20261204_000011_create_invitation;
mod m20261204_000012_user_last_workspace;
mod m20261205_000013_create_oauth;
mod m20261205_000014_create_connection;
mod m20261206_000015_create_connection_call;
mod m20261206_000016_create_idempotency_key;
mod m20261207_000017_create_action;
mod m20261207_000018_create_plugin;
mod m20261207_000019_create_integration;
mod m20261208_000020_delivery_attempt_time_index;
mod m20261209_000021_create_delivery_rollup;
mod m20261210_000022_integration_run_deleted_note;
mod m20261211_000023_integration_sync_state;
mod m20261212_000024_action_run_status_index;
mod m20261213_000025_integration_run_job;
mod m20261214_000026_action_run_revision;
mod m20261215_000027_record_endpoint_lock;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_workspace_user::Migration),
            Box::new(m20261123_000002_create_api_key::Migration),
            Box::new(m20261123_000003_create_session::Migration),
            Box::new(m20261123_000004_create_event::Migration),
            Box::new(m20261123_000005_create_job::Migration),
            Box::new(m20261123_000006_create_webhook::Migration),
            Box::new(m20261123_000007_create_data_endpoint::Migration),
            Box::new(m20261202_000008_add_record_job::Migration),
            Box::new(m20261202_000009_record_fillfactor::Migration),
            Box::new(m20261203_000010_record_job_order::Migration),
            Box::new(m20261204_000011_create_invitation::Migration),
            Box::new(m20261204_000012_user_last_workspace::Migration),
            Box::new(m20261205_000013_create_oauth::Migration),
            Box::new(m20261205_000014_create_connection::Migration),
            Box::new(m20261206_000015_create_connection_call::Migration),
            Box::new(m20261206_000016_create_idempotency_key::Migration),
            Box::new(m20261207_000017_create_action::Migration),
            Box::new(m20261207_000018_create_plugin::Migration),
            Box::new(m20261207_000019_create_integration::Migration),
            Box::new(m20261208_000020_delivery_attempt_time_index::Migration),
            Box::new(m20261209_000021_create_delivery_rollup::Migration),
            Box::new(m20261210_000022_integration_run_deleted_note::Migration),
            Box::new(m20261211_000023_integration_sync_state::Migration),
            Box::new(m20261212_000024_action_run_status_index::Migration),
            Box::new(m20261213_000025_integration_run_job::Migration),
            Box::new(m20261214_000026_action_run_revision::Migration),
            Box::new(m20261215_000027_record_endpoint_lock::Migration),
        ]
    }
}

/// Column helpers shared by the migrations.
pub(crate) mod cols {
    use sea_orm_migration::prelude::*;

    pub fn id<T: IntoIden>(name: T) -> ColumnDef {
        ColumnDef::new(name).string().not_null().primary_key().take()
    }
    pub fn text<T: IntoIden>(name: T) -> ColumnDef {
        ColumnDef::new(name).string().not_null().take()
    }
    pub fn timestamp<T: IntoIden>(name: T) -> ColumnDef {
        ColumnDef::new(name).timestamp_with_time_zone().not_null().take()
    }
    /// A foreign key whose rows go when the row they point at is deleted.
    pub fn cascade<T: IntoIden + 'static, C: IntoIden, U: IntoIden + 'static, D: IntoIden>(
        from: (T, C),
        to: (U, D),
    ) -> ForeignKeyCreateStatement {
        ForeignKey::create().from(from.0, from.1).to(to.0, to.1).on_delete(ForeignKeyAction::Cascade).to_owned()
    }
    pub fn timestamp_null<T: IntoIden>(name: T) -> ColumnDef {
        ColumnDef::new(name).timestamp_with_time_zone().null().take()
    }
}
