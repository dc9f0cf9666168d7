//! A REST data endpoint (`/api/v1/data/{slug}`) of a workspace (seed 001).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "data_endpoint")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// Unique per workspace; the URL path segment.
    pub slug: String,
    pub name: String,
    /// JSON Schema every record body must satisfy (none: any JSON object).
    pub schema: Option<Json>,
    /// The `whsec_…` secret that signs processing-result callbacks,
    /// AES-GCM encrypted; shown once, when the endpoint is created.
    pub secret_enc: String,
    pub enabled: bool,
    /// Requests per calendar month (UTC); none: unlimited.
    pub monthly_quota: Option<i64>,
    pub subscription_expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
