//! One call made through a connection: the log line the dashboard reads
//! and, while it waits for the provider's rate window, the call itself
//! (its request encrypted, dropped once it has run). Never holds
//! credentials; bodies are cut to 4 KiB.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connection_call")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub connection_id: String,
    pub method: String,
    /// Path and query under the provider's API base URL.
    pub path: String,
    /// `queued`, `succeeded` or `failed`.
    pub status: String,
    /// The provider's last answer, if one came.
    pub http_status: Option<i32>,
    /// Requests sent so far (retries after 401, 429, 5xx included).
    pub attempts: i32,
    /// Time from the first request to the last answer.
    pub duration_ms: Option<i64>,
    /// Time spent waiting for the provider's rate window.
    pub queued_ms: i64,
    /// The request (JSON), encrypted, while the call waits to run.
    pub request_enc: Option<String>,
    /// The answer's headers as a JSON object of strings.
    pub response_headers: Option<Json>,
    pub response_body: Option<String>,
    pub response_truncated: bool,
    pub error: Option<String>,
    /// Not sent before this instant (the provider's window resets then).
    pub run_after: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
