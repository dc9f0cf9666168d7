//! Workspaces: the caller's own, the ones they belong to and switching
//! between them, renaming, and creating one with its first owner (first
//! start and the admin command line).

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde_json::json;

use entity::{membership, user, workspace};

use crate::auth::{Credential, Principal, Role, Scope};
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::ids::{has_prefix, new_id};
use crate::services::members::{self, Member};
use crate::services::{required_text, sessions};
use crate::state::AppState;

/// The caller's workspace.
pub async fn current(db: &impl ConnectionTrait, p: &Principal) -> Result<workspace::Model> {
    p.require(Scope::Read)?;
    workspace::Entity::find_by_id(&p.workspace_id).one(db).await?.ok_or(Error::NotFound("Workspace"))
}

/// A workspace together with the caller's role in it.
#[derive(Debug, Clone)]
pub struct WorkspaceRole {
    pub workspace: workspace::Model,
    pub role: Role,
}

/// The workspaces the caller can work in: for a browser session every
/// workspace the user belongs to, oldest membership first; an API key is
/// bound to its own workspace (as is an OAuth token), so just that one.
pub async fn list_mine(db: &impl ConnectionTrait, p: &Principal) -> Result<Vec<WorkspaceRole>> {
    p.require(Scope::Read)?;
    if !matches!(p.credential, Credential::Session { .. }) {
        return Ok(vec![WorkspaceRole { workspace: current(db, p).await?, role: p.role }]);
    }
    let memberships = membership::Entity::find()
        .filter(membership::Column::UserId.eq(&p.user_id))
        .order_by_asc(membership::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<&str> = memberships.iter().map(|m| m.workspace_id.as_str()).collect();
    let mut by_id: HashMap<String, workspace::Model> = workspace::Entity::find()
        .filter(workspace::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|w| (w.id.clone(), w))
        .collect();
    Ok(memberships
        .into_iter()
        .filter_map(|m| {
            let role = Role::parse(&m.role)?;
            by_id.remove(&m.workspace_id).map(|workspace| WorkspaceRole { workspace, role })
        })
        .collect())
}

/// Moves the caller's browser session to another workspace they belong to;
/// signing in later lands there too. API keys stay bound to their workspace
/// (FORBIDDEN); a workspace the user does not belong to is NOT_FOUND.
#[tracing::instrument(skip_all, fields(user = %p.user_id, to = %workspace_id))]
pub async fn switch(st: &AppState, p: &Principal, workspace_id: &str) -> Result<WorkspaceRole> {
    p.require(Scope::Write)?;
    let Credential::Session { id: session_id } = &p.credential else {
        return Err(Error::Forbidden("API keys are bound to their workspace; only browser sessions switch".into()));
    };
    if !has_prefix(workspace_id, "ws") {
        return Err(Error::NotFound("Workspace"));
    }
    let txn = st.writer.begin().await?;
    let m = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(workspace_id))
        .filter(membership::Column::UserId.eq(&p.user_id))
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("Workspace"))?;
    let workspace = workspace::Entity::find_by_id(workspace_id).one(&txn).await?.ok_or(Error::NotFound("Workspace"))?;
    sessions::move_session(&txn, session_id, &p.user_id, workspace_id).await?;
    txn.commit().await?;
    // The session's cached caller names the old workspace.
    crate::auth::invalidate(st, workspace_id);
    Ok(WorkspaceRole { workspace, role: Role::parse(&m.role).unwrap_or(Role::Collaborator) })
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
