//! A plugin installed in a workspace: the manifest it was installed from
//! (so an upgrade of the marketplace never changes a running plugin), its
//! status, and its config with the secret fields taken out and kept
//! encrypted in `secrets_enc`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "plugin")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// The manifest's id, `plugin_{key}_v{version}`.
    pub plugin_id: String,
    /// The manifest's key: one installation per key per workspace.
    pub key: String,
    /// `marketplace` or `custom`.
    pub source: String,
    pub manifest: Json,
    /// `active` or `inactive`.
    pub status: String,
    /// The config without its secret fields.
    pub config: Json,
    /// The secret fields (a JSON object), encrypted with the server key.
    #[sea_orm(column_type = "Text", nullable)]
    pub secrets_enc: Option<String>,
    pub installed_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
