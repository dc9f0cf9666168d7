//! A custom plugin manifest a workspace added beside the marketplace's
//! (checked against the manifest schema when it was added).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plugin_manifest")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// `plugin_{key}_v{version}`, unique in the workspace.
    pub plugin_id: String,
    pub key: String,
    pub version: String,
    pub manifest: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
