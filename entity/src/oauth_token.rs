//! An access or refresh token issued under a grant. Only a keyed hash is
//! stored, so a token is checked against this row on use and revocation is
//! immediate.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub grant_id: String,
    pub app_id: String,
    /// `access` or `refresh`.
    pub kind: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    /// JSON array of the scopes it carries (the grant's, or fewer after a
    /// refresh that asked for fewer).
    pub scopes: Json,
    /// The refresh token whose use issued this one, if any.
    pub parent_id: Option<String>,
    pub expires_at: DateTimeUtc,
    /// A refresh token: when it was spent (rotated).
    pub used_at: Option<DateTimeUtc>,
    /// A refresh token: whether its one retry within the grace was spent.
    pub retried: bool,
    pub revoked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
