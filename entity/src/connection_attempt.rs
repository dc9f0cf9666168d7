//! An OAuth connect in progress: the `state` sent to the provider (hashed),
//! the PKCE verifier (encrypted), and the session that started it. Used
//! once, within ten minutes.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connection_attempt")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub user_id: String,
    /// The browser session that must come back with the callback.
    pub session_id: String,
    pub provider: String,
    #[sea_orm(unique)]
    pub state_hash: String,
    pub verifier_enc: Option<String>,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
