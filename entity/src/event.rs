//! The audit log: one row per change, written in the same transaction as the
//! change, and the source of webhooks and live subscriptions.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// A name from the catalog in `src/events.rs`, e.g. `api_key.created`.
    pub event_type: String,
    /// Who caused it: a user id, an API key id, or `system`.
    pub actor: String,
    /// The id of the object the event is about.
    pub subject_id: Option<String>,
    pub data: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
