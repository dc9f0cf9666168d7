//! The ledger row of a generic background job: its truth (state, attempts,
//! next run, last error) lives here; the queue only rings the doorbell.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `None` for system jobs (maintenance, schedules).
    pub workspace_id: Option<String>,
    pub kind: String,
    pub payload: Json,
    /// `queued`, `running`, `done` or `dead`.
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    /// When the job should run next.
    pub run_at: DateTimeUtc,
    /// When the sweeper may assume the job lost and ring the doorbell again:
    /// a little after `run_at` while queued, the end of the lease while running.
    pub visible_at: DateTimeUtc,
    /// The worker holding the job while it runs.
    pub lease_owner: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
