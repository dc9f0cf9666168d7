//! A record of a data endpoint. A request writes the wanted change into
//! `pending` and answers 202; the `record.process` job applies it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "record")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub endpoint_id: String,
    /// `test` (sandbox) or `live`; the two never mix.
    pub environment: String,
    /// The record's current body (after processing).
    pub data: Option<Json>,
    /// The body waiting to be applied by the queued operation.
    pub pending: Option<Json>,
    /// The last requested operation: `create`, `replace` or `delete`.
    pub operation: String,
    /// `queued`, `processing`, `processed`, `failed` or `deleted`.
    pub state: String,
    pub error: Option<String>,
    pub key_id: String,
    /// Written from the owner's production console: processing emits no
    /// events, so no webhooks or callbacks fire.
    pub silent: bool,
    /// `X-Webhook-Callback` of the last request: where the result goes.
    pub callback_url: Option<String>,
    /// `X-Webhook-Auth-Header` (default `Authorization`).
    pub callback_auth_header: Option<String>,
    /// `X-Webhook-Auth`, AES-GCM encrypted.
    pub callback_auth_enc: Option<String>,
    /// `pending`, `delivered` or `failed`.
    pub callback_state: Option<String>,
    pub callback_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub processed_at: Option<DateTimeUtc>,
    /// The `record.process` job that applies the pending change.
    pub job_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
