//! One HTTP attempt of a delivery: the attempt log.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempt")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub delivery_id: String,
    pub webhook_id: String,
    pub attempt: i32,
    pub success: bool,
    pub status_code: Option<i32>,
    pub response_time_ms: i64,
    /// At most 4 KiB of the response body.
    pub response_body: String,
    /// Headers sent, with the signature redacted.
    pub request_headers: Json,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
