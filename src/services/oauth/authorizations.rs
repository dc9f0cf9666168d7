//! The apps a user has let act for them: each consent with its scopes and
//! last use. Users see and withdraw their own; owners see and withdraw any
//! in their workspace. Withdrawing revokes every token the app got from
//! that user at once.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};

use entity::{oauth_app, oauth_authorization, user};

use crate::auth::{Principal, Scope};
use crate::error::{Error, Result};
use crate::ids::has_prefix;
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::state::AppState;

/// One page of authorizations, newest first: the caller's own, or (for an
/// owner asking for `every_member`) the whole workspace's.
pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    every_member: bool,
    app_id: Option<&str>,
    page: &PageArgs,
) -> Result<Page<oauth_authorization::Model>> {
    p.require(Scope::Read)?;
    let mut q =
        oauth_authorization::Entity::find().filter(oauth_authorization::Column::WorkspaceId.eq(&p.workspace_id));
    if every_member {
        p.require_owner()?;
    } else {
        q = q.filter(oauth_authorization::Column::UserId.eq(&p.user_id));
    }
    if let Some(app) = app_id {
        q = q.filter(oauth_authorization::Column::AppId.eq(app));
    }
    fetch_page(db, q, oauth_authorization::Column::Id, page).await
}

/// An authorization with its app and its user, for display.
pub struct AuthorizationView {
    pub authorization: oauth_authorization::Model,
    pub app: oauth_app::Model,
    pub user: user::Model,
}

/// [`list`] with each authorization's app and user, in two more queries
/// per page (not one per row).
pub async fn list_with_details(
    db: &impl ConnectionTrait,
    p: &Principal,
    every_member: bool,
    app_id: Option<&str>,
    page: &PageArgs,
) -> Result<Page<AuthorizationView>> {
    let found = list(db, p, every_member, app_id, page).await?;
    let app_ids: Vec<&str> = found.items.iter().map(|a| a.app_id.as_str()).collect();
    let user_ids: Vec<&str> = found.items.iter().map(|a| a.user_id.as_str()).collect();
    let apps: HashMap<String, oauth_app::Model> = oauth_app::Entity::find()
        .filter(oauth_app::Column::Id.is_in(app_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let users: HashMap<String, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(user_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let items = found
        .items
        .into_iter()
        .filter_map(|a| {
            let app = apps.get(&a.app_id)?.clone();
            let user = users.get(&a.user_id)?.clone();
            Some(AuthorizationView { authorization: a, app, user })
        })
        .collect();
    Ok(Page {
        items,
        has_next_page: found.has_next_page,
        has_previous_page: found.has_previous_page,
        total_count: found.total_count,
    })
}

/// Withdraws `user_id`'s consent to the app (the caller's own when `None`;
/// another member's only for an owner) and revokes every token it led to.
/// Returns the withdrawn authorization's id.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, app = %app_id))]
pub async fn revoke(st: &AppState, p: &Principal, app_id: &str, user_id: Option<&str>) -> Result<String> {
    p.require(Scope::Write)?;
    let user_id = match user_id {
        Some(u) if u != p.user_id => {
            p.require_owner()?;
            u
        }
        _ => p.user_id.as_str(),
    };
    if !has_prefix(app_id, "app") {
        return Err(Error::NotFound("Authorization"));
    }
    let txn = st.writer.begin().await?;
    let found = oauth_authorization::Entity::find()
        .filter(oauth_authorization::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(oauth_authorization::Column::AppId.eq(app_id))
        .filter(oauth_authorization::Column::UserId.eq(user_id))
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("Authorization"))?;
    super::tokens::revoke_grants_where(&txn, app_id, user_id).await?;
    oauth_authorization::Entity::delete_by_id(&found.id).exec(&txn).await?;
    txn.commit().await?;
    crate::auth::invalidate(st, &p.workspace_id);
    Ok(found.id)
}
