//! One grant: an authorization code (and the tokens exchanged for it and
//! refreshed from them), or one client-credentials request. Revoking the
//! grant revokes the whole family at once.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_grant")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub app_id: String,
    /// The user the tokens act for (for client credentials, the app's creator).
    pub user_id: String,
    /// The consent it came from; `None` for client credentials.
    pub authorization_id: Option<String>,
    /// JSON array of the granted scopes.
    pub scopes: Json,
    /// Keyed hash of the authorization code; `None` for client credentials.
    #[sea_orm(unique)]
    pub code_hash: Option<String>,
    /// PKCE S256 challenge (base64url of SHA-256 of the verifier).
    pub code_challenge: Option<String>,
    /// The redirect URI the code was issued to; the token request must repeat it.
    pub redirect_uri: Option<String>,
    pub code_expires_at: Option<DateTimeUtc>,
    /// Set when the code is exchanged; a second exchange revokes the grant.
    pub code_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
