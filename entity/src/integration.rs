//! A service integration of a workspace: its config (secret fields
//! encrypted apart), auto-sync settings, the outcome of its last test and
//! sync, the cursor of an outbound sync, where an inbound sync's listing
//! continues, and which run holds the sync.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "integration")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    /// `slack`, `webhook`, or a provider key of the connections catalog.
    pub service_type: String,
    /// The config without its secret fields.
    pub config: Json,
    /// The secret fields (a JSON object), encrypted with the server key.
    #[sea_orm(column_type = "Text", nullable)]
    pub secrets_enc: Option<String>,
    pub auto_sync: bool,
    pub sync_interval_seconds: i64,
    /// `active`, `inactive` or `error`.
    pub status: String,
    /// Outbound: the id of the last event sent.
    pub cursor: Option<String>,
    /// Inbound: the data key (`dk_…`) its records are written with.
    pub data_key_id: Option<String>,
    pub last_test_at: Option<DateTimeUtc>,
    pub last_test_status: Option<i32>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_test_error: Option<String>,
    pub last_sync_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// Items sent or stored by every sync so far.
    pub items_synced: i64,
    /// Inbound: where a listing longer than one run continues (the cycle
    /// and the next page's request, encrypted: a link may carry a token);
    /// `None`: the next run starts at the first page.
    #[sea_orm(column_type = "Text", nullable)]
    #[serde(default)]
    pub sync_resume_enc: Option<String>,
    /// The run (`isr_…`) that holds the sync, one at a time, until `sync_lease_until`.
    #[serde(default)]
    pub sync_run_id: Option<String>,
    #[serde(default)]
    pub sync_lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
