//! Workspaces: the caller's own, renaming it, and creating one with its
//! first owner (first start and the admin command line).

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, Set, TransactionTrait};
use serde_json::json;

use entity::{user, workspace};

use crate::auth::{Principal, Role, Scope};
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::ids::new_id;
use crate::services::members::{self, Member};
use crate::services::required_text;
use crate::state::AppState;

/// The caller's workspace.
pub async fn current(db: &impl ConnectionTrait, p: &Principal) -> Result<workspace::Model> {
    p.require(Scope::Read)?;
    workspace::Entity::find_by_id(&p.workspace_id).one(db).await?.ok_or(Error::NotFound("Workspace"))
}

/// Renames the caller's workspace (owner only).
pub async fn rename(st: &AppState, p: &Principal, name: &str) -> Result<workspace::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let name = required_text("name", name, 100)?;
    let txn = st.writer.begin().await?;
    let mut am = current(&txn, p).await?.into_active_model();
    am.name = Set(name);
    am.updated_at = Set(Utc::now());
    let ws = am.update(&txn).await?;
    let evt = events::record(
        &txn,
        &ws.id,
        EventType::WorkspaceUpdated,
        p.actor(),
        Some(&ws.id),
        json!({ "id": ws.id, "name": ws.name }),
    )
    .await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok(ws)
}

/// Creates a workspace owned by a (new or existing) user. Returns the owner
/// and, if they have no password yet, a one-time setup token.
pub async fn create_with_owner(
    st: &AppState,
    workspace_name: &str,
    owner_email: &str,
    owner_name: Option<&str>,
) -> Result<(workspace::Model, Member, Option<String>)> {
    let name = required_text("workspaceName", workspace_name, 100)?;
    let now = Utc::now();
    let ws =
        workspace::ActiveModel { id: Set(new_id("ws")), name: Set(name), created_at: Set(now), updated_at: Set(now) }
            .insert(&st.writer)
            .await?;
    match members::add_unchecked(st, &ws.id, "system", owner_email, owner_name, Role::Owner).await {
        Ok((member, token)) => Ok((ws, member, token)),
        Err(e) => {
            // Do not leave an ownerless workspace behind.
            workspace::Entity::delete_by_id(&ws.id).exec(&st.writer).await?;
            Err(e)
        }
    }
}

/// On an empty database, creates the first workspace and its owner and
/// returns the owner's one-time setup token. Does nothing otherwise.
pub async fn bootstrap(st: &AppState) -> Result<Option<(Member, String)>> {
    if user::Entity::find().count(&st.db).await? > 0 {
        return Ok(None);
    }
    let (_, member, token) =
        create_with_owner(st, &st.config.workspace_name, &st.config.owner_email, Some("Owner")).await?;
    Ok(token.map(|t| (member, t)))
}
