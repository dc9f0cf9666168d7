//! A workspace API key (`sk_test_…` / `sk_live_…`). Only a keyed hash of the
//! secret is stored; the secret itself is shown once, on create and roll.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "api_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// The user who created the key; the key acts with that user's role.
    pub created_by: String,
    pub name: String,
    pub description: String,
    /// `test` or `live`.
    pub environment: String,
    /// The first 12 characters of the secret, for recognising it in lists.
    pub prefix: String,
    #[sea_orm(unique)]
    pub key_hash: String,
    /// After a roll, the old secret's hash stays valid until `previous_expires_at`.
    pub previous_key_hash: Option<String>,
    pub previous_expires_at: Option<DateTimeUtc>,
    /// JSON array of scope names.
    pub permissions: Json,
    pub enabled: bool,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub usage_count: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
