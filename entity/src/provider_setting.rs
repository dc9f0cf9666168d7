//! A workspace's settings for one provider of the catalog: its own OAuth
//! client (the secret encrypted) and URL overrides (a self-hosted shop, a
//! sandbox, a local stand-in).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_setting")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// The catalog key, e.g. `instagram`.
    pub provider: String,
    pub client_id: Option<String>,
    /// The OAuth client secret, encrypted with the server key.
    pub client_secret_enc: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub api_base_url: Option<String>,
    /// The workspace's own rate limit: this many calls …
    pub rate_limit_requests: Option<i32>,
    /// … per this many seconds (both set, or neither: the catalog's figure).
    pub rate_limit_seconds: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
