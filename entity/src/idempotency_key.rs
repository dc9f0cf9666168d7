//! The first answer to a request sent with an `Idempotency-Key`, kept 24
//! hours for retries. `status` is null while the first request runs.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// A hash of the credential that sent the key: keys never cross callers.
    pub scope: String,
    pub key: String,
    /// A hash of the method, path and body of the first request.
    pub fingerprint: String,
    pub status: Option<i32>,
    pub content_type: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub body: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
