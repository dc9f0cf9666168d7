//! A workspace's connection to one outside service (at most one per
//! provider). Its credentials (tokens, keys) are encrypted and never leave
//! the server.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "connection")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// The catalog key, e.g. `instagram`.
    pub provider: String,
    /// The account as the provider names it, e.g. `@mybusiness`.
    pub account: String,
    /// `connected`, `needs_reauth` or `disconnected`.
    pub status: String,
    /// JSON array of the scopes the provider granted.
    pub scopes: Json,
    /// The credentials as JSON (access and refresh token, or key), encrypted.
    pub credentials_enc: String,
    pub token_expires_at: Option<DateTimeUtc>,
    pub auto_refresh: bool,
    /// While set and in the future, one process is refreshing the token
    /// (single flight: a rotating refresh token is spent once).
    pub refresh_lease_until: Option<DateTimeUtc>,
    pub created_by: String,
    pub last_used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
