//! A user's consent to an app: the scopes they approved. Asking again for
//! scopes it covers skips the consent page. Revoking it revokes every grant
//! the user gave the app.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_authorization")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub app_id: String,
    pub user_id: String,
    /// JSON array of the approved scopes.
    pub scopes: Json,
    /// Last request made with a token from this authorization (batched).
    pub last_used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
