//! What starts an action on its own: a schedule (cron with a time zone, or
//! an interval) or an event pattern.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "action_trigger")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub action_id: String,
    /// `schedule` or `event`.
    pub kind: String,
    /// False while the action is disabled.
    pub active: bool,
    pub cron: Option<String>,
    /// An IANA time zone for `cron` (UTC when none).
    pub timezone: Option<String>,
    pub every_seconds: Option<i64>,
    /// A schedule's next tick; firing it is a conditional update of this.
    pub next_run_at: Option<DateTimeUtc>,
    /// An event type pattern (`record.created`, `order.*`, `*`).
    pub event_type: Option<String>,
    /// Only events about this data endpoint.
    pub endpoint_id: Option<String>,
    /// Its place in the action's list of triggers.
    pub position: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
