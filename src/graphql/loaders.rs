//! Batched lookups for fields that lead from one object to another
//! (`Delivery.webhook`, `Record.endpoint`, `ApiKey.createdBy`,
//! `Action.triggers`, `Action.pausedReason`'s connections): the ids a
//! page of results asks for in the same tick are read in one query, so a
//! page of 100 deliveries costs one webhook query, not 100. async-graphql's
//! `DataLoader` does the batching, without a cache (its default), so the loaders are
//! shared by every request and never serve a stale or another request's
//! row. Keys carry the workspace, and rows of another workspace are dropped:
//! the tenancy rule holds here as in every service query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use entity::{action_trigger, connection, data_endpoint, user, webhook};

/// (workspace id, object id).
pub type Key = (String, String);

/// The loaders, built once with the schema.
pub struct Loaders {
    pub webhooks: DataLoader<ById<webhook::Entity>>,
    pub endpoints: DataLoader<ById<data_endpoint::Entity>>,
    pub users: DataLoader<Users>,
    pub action_triggers: DataLoader<ActionTriggers>,
    pub connections: DataLoader<WorkspaceConnections>,
}

impl Loaders {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            webhooks: DataLoader::new(ById::new(db.clone()), tokio::spawn),
            endpoints: DataLoader::new(ById::new(db.clone()), tokio::spawn),
            users: DataLoader::new(Users { db: db.clone() }, tokio::spawn),
            action_triggers: DataLoader::new(ActionTriggers { db: db.clone() }, tokio::spawn),
            connections: DataLoader::new(WorkspaceConnections { db }, tokio::spawn),
        }
    }
}

/// Rows of a workspace-owned table by id.
pub struct ById<E> {
    db: DatabaseConnection,
    _e: std::marker::PhantomData<E>,
}

impl<E> ById<E> {
    fn new(db: DatabaseConnection) -> Self {
        Self { db, _e: std::marker::PhantomData }
    }
}

/// What a workspace-owned row offers the loader.
pub trait Owned: EntityTrait {
    fn id_col() -> Self::Column;
    fn ids(m: &Self::Model) -> (String, String);
}

impl Owned for webhook::Entity {
    fn id_col() -> Self::Column {
        webhook::Column::Id
    }
    fn ids(m: &webhook::Model) -> (String, String) {
        (m.workspace_id.clone(), m.id.clone())
    }
}

impl Owned for data_endpoint::Entity {
    fn id_col() -> Self::Column {
        data_endpoint::Column::Id
    }
    fn ids(m: &data_endpoint::Model) -> (String, String) {
        (m.workspace_id.clone(), m.id.clone())
    }
}

impl<E> Loader<Key> for ById<E>
where
    E: Owned + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[Key]) -> Result<HashMap<Key, E::Model>, Self::Error> {
        let ids: Vec<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
        let rows = E::find().filter(E::id_col().is_in(ids)).all(&self.db).await.map_err(Arc::new)?;
        let wanted: std::collections::HashSet<&Key> = keys.iter().collect();
        Ok(rows.into_iter().map(|m| (E::ids(&m), m)).filter(|(k, _)| wanted.contains(k)).collect())
    }
}

/// Users who are (or were) members of the workspace, by id. A user has no
/// workspace of their own: the membership table decides, and a user who
/// left still shows as the creator of what they made.
pub struct Users {
    db: DatabaseConnection,
}

impl Loader<Key> for Users {
    type Value = user::Model;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[Key]) -> Result<HashMap<Key, user::Model>, Self::Error> {
        let ids: Vec<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
        let rows = user::Entity::find().filter(user::Column::Id.is_in(ids)).all(&self.db).await.map_err(Arc::new)?;
        let by_id: HashMap<&str, &user::Model> = rows.iter().map(|u| (u.id.as_str(), u)).collect();
        Ok(keys.iter().filter_map(|k| by_id.get(k.1.as_str()).map(|u| (k.clone(), (*u).clone()))).collect())
    }
}

/// The triggers of actions, by (workspace id, action id), in their order.
pub struct ActionTriggers {
    db: DatabaseConnection,
}

impl Loader<Key> for ActionTriggers {
    type Value = Vec<action_trigger::Model>;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[Key]) -> Result<HashMap<Key, Self::Value>, Self::Error> {
        use sea_orm::QueryOrder;
        let ids: Vec<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
        let rows = action_trigger::Entity::find()
            .filter(action_trigger::Column::ActionId.is_in(ids))
            .order_by_asc(action_trigger::Column::Position)
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<Key, Self::Value> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for t in rows {
            if let Some(list) = out.get_mut(&(t.workspace_id.clone(), t.action_id.clone())) {
                list.push(t);
            }
        }
        Ok(out)
    }
}

/// Every connection of a workspace, by workspace id.
pub struct WorkspaceConnections {
    db: DatabaseConnection,
}

impl Loader<String> for WorkspaceConnections {
    type Value = Vec<connection::Model>;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let rows = connection::Entity::find()
            .filter(connection::Column::WorkspaceId.is_in(keys.to_vec()))
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<String, Self::Value> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for c in rows {
            if let Some(list) = out.get_mut(&c.workspace_id) {
                list.push(c);
            }
        }
        Ok(out)
    }
}
