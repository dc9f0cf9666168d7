//! A data key (`tm_test_…` / `tm_live_…`) for the data endpoints; only a
//! keyed hash is stored. Its environment selects sandbox or live records.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "data_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// The member (usually a collaborator) the key was made for.
    pub user_id: String,
    pub name: String,
    /// `test` or `live`.
    pub environment: String,
    pub prefix: String,
    #[sea_orm(unique)]
    pub key_hash: String,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
