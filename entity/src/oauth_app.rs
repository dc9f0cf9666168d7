//! A third-party app registered with Switchyard's OAuth 2.0 server. A
//! confidential app has a client secret (only its keyed hash is stored,
//! shown once on create and roll); a public app (a native or browser app)
//! has none and must use PKCE.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "oauth_app")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// The owner who registered it; client-credentials tokens act for this user.
    pub created_by: String,
    pub name: String,
    pub description: String,
    /// The public `client_…` identifier.
    #[sea_orm(unique)]
    pub client_id: String,
    /// Keyed hash of the `secret_…` client secret; `None` for a public app.
    pub secret_hash: Option<String>,
    pub confidential: bool,
    /// JSON array of the exact redirect URIs allowed.
    pub redirect_uris: Json,
    /// JSON array of the scopes the app may ask for.
    pub scopes: Json,
    /// Requests made with the app's tokens (batched).
    pub usage_count: i64,
    pub last_used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
