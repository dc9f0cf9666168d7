//! One sync run of an integration (started by hand or by its schedule).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "integration_run")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub integration_id: String,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// `queued`, `running`, `succeeded`, `failed`, `skipped` or `paused`.
    pub status: String,
    /// Items sent (outbound) or created and replaced (inbound) by this run.
    pub items: i64,
    /// Records deleted because their item vanished at the service (inbound
    /// with `delete_missing`, after a complete listing).
    #[serde(default)]
    pub deleted: i64,
    pub cursor_from: Option<String>,
    pub cursor_to: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// What a run that did not fail should tell: it stopped at a bound (the
    /// next run continues), its deletions were held back, or (skipped)
    /// which run was running.
    #[sea_orm(column_type = "Text", nullable)]
    #[serde(default)]
    pub note: Option<String>,
    pub created_at: DateTimeUtc,
    /// When it ended; for a paused run, when it paused.
    pub finished_at: Option<DateTimeUtc>,
    /// The job that may run it (none on runs from before this column): a
    /// paused run is resumed under a job of its own.
    #[serde(default)]
    pub job_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
