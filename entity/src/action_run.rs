//! One run of an action: its status, the step it is on and every step's
//! result so far (request, status, response cut to a few KiB, duration,
//! attempts).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "action_run")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub action_id: String,
    /// `queued`, `running`, `waiting`, `paused`, `succeeded`, `failed`, `cancelled`.
    pub status: String,
    /// `manual`, `schedule` or `event`.
    pub trigger_kind: String,
    pub trigger_id: Option<String>,
    /// Who started it (`user:…`, `key:…`, `system`).
    pub actor: String,
    pub input: Json,
    /// The event that started it (`{id, type, data, created_at}`).
    pub event: Option<Json>,
    /// The step to run next (0-based); equal to the number of steps once done.
    pub step_index: i32,
    /// The one job that may run it now: a stale or duplicate job finds
    /// another id here and does nothing.
    pub job_id: Option<String>,
    /// One result per step started, in order (the service's `StepResult` JSON).
    pub steps: Json,
    /// A waiting run goes on at this instant.
    pub wait_until: Option<DateTimeUtc>,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    /// Moved on by one with every write to the run (in the same
    /// statement), so a run's states are ordered whichever process saved
    /// them. Required when a live note is read: a note from a process
    /// older than the field fails to parse, and its subscriber reads the
    /// run from the database instead.
    pub revision: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::action::Entity", from = "Column::ActionId", to = "super::action::Column::Id")]
    Action,
}

impl Related<super::action::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Action.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
