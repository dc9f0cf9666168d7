//! One event (or test message) to deliver to one webhook. Its sending is
//! scheduled by a `webhook.deliver` job; its outcome lives here.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub webhook_id: String,
    pub event_id: Option<String>,
    pub event_type: String,
    /// The exact body sent: `{"event", "timestamp", "data"}`.
    pub payload: Json,
    /// `pending`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub job_id: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
