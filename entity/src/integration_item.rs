//! Which record an external id of an inbound sync became, and a digest of
//! what was stored, so a sync run twice changes nothing.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integration_item")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub integration_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub external_id: String,
    pub record_id: String,
    /// What was stored, hashed; empty while a first write may not have
    /// reached the record (the row is written first, see the inbound sync).
    pub digest: String,
    pub updated_at: DateTimeUtc,
    /// The listing cycle (the id of the run that read its first page) that
    /// last saw the item.
    pub cycle: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
