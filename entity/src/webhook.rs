//! An outgoing webhook endpoint of a workspace.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "webhook")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub url: String,
    /// A collaborator webhook of one data endpoint: receives only that
    /// endpoint's `record.*` events.
    pub endpoint_id: Option<String>,
    pub description: String,
    /// JSON array of event-type patterns (`record.*`, `api_key.created`, `*`).
    pub events: Json,
    /// JSON object of extra request headers.
    pub headers: Json,
    /// The `whsec_…` signing secret, AES-GCM encrypted under the server key.
    pub secret_enc: String,
    /// After a rotation, the old secret (encrypted) also signs until
    /// `previous_secret_expires_at`, so receivers can switch without a gap.
    pub previous_secret_enc: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    pub active: bool,
    /// Why the server disabled it (410 Gone, failing for days), if it did.
    pub disabled_reason: Option<String>,
    /// Deliveries per minute; 0 means no limit.
    pub rate_limit_per_minute: i32,
    /// JSON array of seconds to wait before each retry.
    pub retry_schedule: Json,
    pub timeout_ms: i32,
    /// Start of the current streak of failed deliveries.
    pub failing_since: Option<DateTimeUtc>,
    pub last_success_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
