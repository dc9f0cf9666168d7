//! An action: an ordered list of steps run by hand, on a schedule or on an
//! event (its triggers are `action_trigger` rows).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "action")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// The steps, as the service's `Step` JSON (templates unrendered).
    pub steps: Json,
    /// The catalog keys of the providers its steps call (a JSON array), so
    /// a broken connection finds the actions it pauses.
    pub providers: Json,
    /// The Standard Webhooks secret (`whsec_…`) its `WEBHOOK` steps sign with, encrypted.
    pub signing_secret_enc: String,
    /// The actor that created it (`user:…`, `key:…`).
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
