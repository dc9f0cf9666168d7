//! An invitation to join a workspace: an email and a role, waiting for the
//! account holder to accept it with its token. It creates no account and no
//! membership by itself. Only the token's hash is stored.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitation")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// Lower-cased, like `user.email`.
    pub email: String,
    /// `owner` or `collaborator`: the role the membership gets on acceptance.
    pub role: String,
    /// The user who sent it (for an API key, the key's creator).
    pub invited_by: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub expires_at: DateTimeUtc,
    /// Set once, when the invitation becomes a membership.
    pub accepted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
