//! One call a plugin made: an action run or an event hook. A hook call is
//! written `queued` in the transaction of its event and run by a job.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plugin_call")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// The installed plugin (`plg_…`).
    pub plugin_id: String,
    /// `action` or `hook`.
    pub kind: String,
    /// The action's or the hook's name in the manifest.
    pub name: String,
    /// The event a hook call reacts to.
    pub event_id: Option<String>,
    /// `queued`, `succeeded`, `failed` or `skipped`.
    pub status: String,
    pub http_status: Option<i32>,
    pub attempts: i32,
    pub duration_ms: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// What an action returned (the manifest's `result` part of the answer).
    pub result: Option<Json>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
