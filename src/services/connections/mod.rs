//! Connections to outside services (seed 000): the [`catalog`] of
//! providers, the workspace's settings per provider ([`settings`]), and the
//! connections themselves: one per provider per workspace, made over OAuth
//! ([`connect`]), listed and removed here. Credentials are encrypted with
//! the server key and never leave the server.

pub mod cache;
pub mod call;
pub mod catalog;
pub mod connect;
pub mod direct;
pub mod incoming;
pub mod log;
pub mod refresh;
pub mod settings;
pub mod window;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;

use entity::connection;

use crate::auth::{Principal, Scope};
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::ids::has_prefix;
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::state::AppState;

/// A connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum ConnectionStatus {
    /// Working: calls go out with its credentials.
    Connected,
    /// The provider refused its credentials (e.g. a revoked refresh token):
    /// reconnect to use it again; the connection keeps its id.
    NeedsReauth,
    /// Turned off by the workspace.
    Disconnected,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::NeedsReauth => "needs_reauth",
            Self::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "connected" => Self::Connected,
            "needs_reauth" => Self::NeedsReauth,
            _ => Self::Disconnected,
        }
    }
}

/// The event data of a connection: never its credentials.
pub(crate) fn event_data(c: &connection::Model) -> serde_json::Value {
    json!({ "id": c.id, "provider": c.provider, "account": c.account, "status": c.status, "scopes": c.scopes })
}

/// "Only one Instagram connection is allowed per workspace" (seed 000).
pub(crate) fn only_one(provider: &str) -> Error {
    let name = catalog::get(provider).map_or(provider, |p| p.name.as_str());
    Error::field_code(
        "provider",
        crate::error::UserErrorCode::Taken,
        format!("Only one {name} connection is allowed per workspace"),
    )
}

/// One page of the workspace's connections, newest first.
pub async fn list(db: &impl ConnectionTrait, p: &Principal, page: &PageArgs) -> Result<Page<connection::Model>> {
    p.require(Scope::Read)?;
    let q = connection::Entity::find().filter(connection::Column::WorkspaceId.eq(&p.workspace_id));
    fetch_page(db, q, connection::Column::Id, page).await
}

/// One connection of the caller's workspace; NOT_FOUND for any other.
pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<connection::Model> {
    p.require(Scope::Read)?;
    find(db, &p.workspace_id, id).await
}

async fn find(db: &impl ConnectionTrait, workspace_id: &str, id: &str) -> Result<connection::Model> {
    if !has_prefix(id, "con") {
        return Err(Error::NotFound("Connection"));
    }
    connection::Entity::find_by_id(id)
        .filter(connection::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Connection"))
}

/// Removes a connection and forgets its credentials (owner only). Emits
/// `connection.deleted`. The provider keeps its grant until the user
/// withdraws it there.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, connection = %id))]
pub async fn delete(st: &AppState, p: &Principal, id: &str) -> Result<()> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let c = find(&txn, &p.workspace_id, id).await?;
    connection::Entity::delete_by_id(id).exec(&txn).await?;
    let evt = events::record(&txn, &p.workspace_id, EventType::ConnectionDeleted, p.actor(), Some(id), event_data(&c))
        .await?;
    txn.commit().await?;
    cache::invalidate(st, &p.workspace_id);
    st.publish(vec![evt]);
    Ok(())
}
