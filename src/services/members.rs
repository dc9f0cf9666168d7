//! Users and their memberships in the caller's workspace: list, change role,
//! remove; the caller's own profile; and adding a user from the first start
//! or the admin command line (the API invites instead: `invitations`).

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QuerySelect, Set, TransactionTrait,
};
use serde_json::json;

use entity::{membership, session, user};

use crate::auth::{Credential, Principal, Role, Scope};
use crate::error::{Error, Result, UserErrorCode};
use crate::events::{self, Envelope, EventType};
use crate::ids::{has_prefix, new_id};
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::services::{bounded_text, sessions};
use crate::state::AppState;

/// A membership together with its user.
#[derive(Debug, Clone)]
pub struct Member {
    pub membership: membership::Model,
    pub user: user::Model,
}

/// Lower-cases and checks an email address.
pub fn normalize_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !e.contains(char::is_whitespace)
        });
    if e.is_empty() {
        Err(Error::invalid_field("email", "Required field is missing"))
    } else if valid {
        Ok(e)
    } else {
        Err(Error::invalid_field("email", "Not a valid email address"))
    }
}

pub(crate) fn user_data(u: &user::Model) -> serde_json::Value {
    json!({ "id": u.id, "email": u.email, "name": u.name })
}

/// The caller's user.
pub async fn me(db: &impl ConnectionTrait, p: &Principal) -> Result<user::Model> {
    p.require(Scope::Read)?;
    user::Entity::find_by_id(&p.user_id).one(db).await?.ok_or(Error::NotFound("User"))
}

/// One page of the workspace's members, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    role: Option<crate::auth::Role>,
    page: &PageArgs,
) -> Result<Page<Member>> {
    p.require(Scope::Read)?;
    let mut q = membership::Entity::find().filter(membership::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(role) = role {
        q = q.filter(membership::Column::Role.eq(role.as_str()));
    }
    let rows = fetch_page(db, q, membership::Column::Id, page).await?;
    let ids: Vec<&str> = rows.items.iter().map(|m| m.user_id.as_str()).collect();
    let mut users: HashMap<String, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    Ok(rows.filter_map(|m| users.remove(&m.user_id).map(|user| Member { membership: m, user })))
}

/// A membership of the workspace by its id (`mem_…`, what `members` lists).
async fn find_member(db: &impl ConnectionTrait, workspace_id: &str, member_id: &str) -> Result<Member> {
    if !has_prefix(member_id, "mem") {
        return Err(Error::NotFound("Member"));
    }
    let membership = membership::Entity::find_by_id(member_id)
        .filter(membership::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Member"))?;
    let user = user::Entity::find_by_id(&membership.user_id).one(db).await?.ok_or(Error::NotFound("Member"))?;
    Ok(Member { membership, user })
}

/// Adds a user (created if new, without a password) to a workspace with no
/// caller check, and returns a one-time setup token for a new user. Only for
/// the first start and the admin command line (a shell admin is trusted);
/// nothing reachable from the API calls it: owners invite instead
/// (`services::invitations`), which never hands them a link to an account.
pub async fn add_unchecked(
    st: &AppState,
    workspace_id: &str,
    actor: &str,
    email: &str,
    name: Option<&str>,
    role: Role,
) -> Result<(Member, Option<String>)> {
    let email = normalize_email(email)?;
    let name = bounded_text("name", name.unwrap_or(""), 100)?;
    let txn = st.writer.begin().await?;
    let mut evts = Vec::new();
    let now = Utc::now();
    let existing = user::Entity::find().filter(user::Column::Email.eq(&email)).one(&txn).await?;
    let new_user = existing.is_none();
    let user = match existing {
        Some(u) => u,
        None => {
            let u = user::ActiveModel {
                id: Set(new_id("usr")),
                email: Set(email.clone()),
                name: Set(name),
                password_hash: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                last_workspace_id: Set(None),
            }
            .insert(&txn)
            .await
            .map_err(Error::unique("email", "A user with this email already exists"))?;
            evts.push(
                events::record(&txn, workspace_id, EventType::UserCreated, actor, Some(&u.id), user_data(&u)).await?,
            );
            u
        }
    };
    let membership = membership::ActiveModel {
        id: Set(new_id("mem")),
        workspace_id: Set(workspace_id.to_string()),
        user_id: Set(user.id.clone()),
        role: Set(role.as_str().to_string()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(Error::unique("email", "This user is already a member of the workspace"))?;
    let mut data = user_data(&user);
    data["role"] = json!(role.as_str());
    evts.push(events::record(&txn, workspace_id, EventType::MemberAdded, actor, Some(&user.id), data).await?);
    // Only a user created here gets a setup link: a link for an existing
    // account would let this workspace's owner take over someone else's.
    let token = match new_user {
        true => Some(sessions::issue_setup_token(&txn, &st.secret, &user.id, workspace_id).await?),
        false => None,
    };
    txn.commit().await?;
    st.publish(evts);
    Ok((Member { membership, user }, token))
}

/// Owners of a workspace. On PostgreSQL their rows are locked for the rest
/// of the transaction, so two owners demoting each other at once cannot
/// leave none (SQLite serialises writers anyway).
async fn owner_count(db: &impl ConnectionTrait, workspace_id: &str) -> Result<u64> {
    let mut q = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(workspace_id))
        .filter(membership::Column::Role.eq(Role::Owner.as_str()));
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    Ok(q.all(db).await?.len() as u64)
}

/// Changes a member's role (by membership id); the last owner cannot be demoted.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, member = %member_id))]
pub async fn update_role(st: &AppState, p: &Principal, member_id: &str, role: Role) -> Result<Member> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let member = find_member(&txn, &p.workspace_id, member_id).await?;
    let user_id = member.user.id.as_str();
    if member.membership.role == Role::Owner.as_str()
        && role != Role::Owner
        && owner_count(&txn, &p.workspace_id).await? <= 1
    {
        return Err(Error::field_code("role", UserErrorCode::LastOwner, "The workspace must keep at least one owner"));
    }
    if role != Role::Owner {
        // The invitations they sent as an owner stop working.
        super::invitations::drop_sent_by(&txn, &p.workspace_id, user_id).await?;
    }
    let mut am = member.membership.into_active_model();
    am.role = Set(role.as_str().to_string());
    let membership = am.update(&txn).await?;
    let mut data = user_data(&member.user);
    data["role"] = json!(role.as_str());
    let evt = events::record(&txn, &p.workspace_id, EventType::MemberUpdated, p.actor(), Some(user_id), data).await?;
    txn.commit().await?;
    crate::auth::invalidate(st, &p.workspace_id);
    st.publish(vec![evt]);
    Ok(Member { membership, user: member.user })
}

/// Removes a member and their sessions in this workspace (their API keys stop
/// working: keys act with their creator's membership). A user left with no
/// workspace is deleted. The last owner cannot be removed.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, member = %member_id))]
pub async fn remove(st: &AppState, p: &Principal, member_id: &str) -> Result<()> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let member = find_member(&txn, &p.workspace_id, member_id).await?;
    let user_id = member.user.id.as_str();
    if member.membership.role == Role::Owner.as_str() && owner_count(&txn, &p.workspace_id).await? <= 1 {
        return Err(Error::field_code("id", UserErrorCode::LastOwner, "The workspace must keep at least one owner"));
    }
    membership::Entity::delete_by_id(&member.membership.id).exec(&txn).await?;
    super::invitations::drop_sent_by(&txn, &p.workspace_id, user_id).await?;
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::WorkspaceId.eq(&p.workspace_id))
        .exec(&txn)
        .await?;
    let data = user_data(&member.user);
    let mut evts = vec![
        events::record(&txn, &p.workspace_id, EventType::MemberRemoved, p.actor(), Some(user_id), data.clone()).await?,
    ];
    let others = membership::Entity::find().filter(membership::Column::UserId.eq(user_id)).count(&txn).await?;
    if others == 0 {
        user::Entity::delete_by_id(user_id).exec(&txn).await?;
        evts.push(events::record(&txn, &p.workspace_id, EventType::UserDeleted, p.actor(), Some(user_id), data).await?);
    }
    txn.commit().await?;
    // Their sessions, API keys and data keys stop working too.
    crate::auth::invalidate(st, &p.workspace_id);
    super::data_cache::invalidate(st, &p.workspace_id);
    st.publish(evts);
    Ok(())
}

/// Changes the caller's own display name.
pub async fn update_profile(st: &AppState, p: &Principal, name: &str) -> Result<user::Model> {
    p.require(Scope::Write)?;
    let name = bounded_text("name", name, 100)?;
    let txn = st.writer.begin().await?;
    let mut am = me(&txn, p).await?.into_active_model();
    am.name = Set(name);
    am.updated_at = Set(Utc::now());
    let user = am.update(&txn).await?;
    let evt =
        events::record(&txn, &p.workspace_id, EventType::UserUpdated, p.actor(), Some(&user.id), user_data(&user))
            .await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok(user)
}

/// Changes the caller's password; only from a signed-in browser session,
/// with the current password.
pub async fn change_password(st: &AppState, p: &Principal, current: &str, new: &str) -> Result<()> {
    p.require(Scope::Write)?;
    if !matches!(p.credential, Credential::Session { .. }) {
        return Err(Error::Forbidden("Passwords can only be changed from a signed-in browser session".into()));
    }
    sessions::check_password_rules(new)?;
    let user = me(&st.db, p).await?;
    if !sessions::verify_password_blocking(current, user.password_hash.clone()).await? {
        return Err(Error::invalid_field("currentPassword", "The current password is wrong"));
    }
    let hash = sessions::hash_password_blocking(new).await?;
    let txn = st.writer.begin().await?;
    let mut am = user.into_active_model();
    am.password_hash = Set(Some(hash));
    am.updated_at = Set(Utc::now());
    let user = am.update(&txn).await?;
    // Whoever signed in with the old password is signed out everywhere
    // (their WebSockets close); this session stays.
    let mut others = session::Entity::delete_many().filter(session::Column::UserId.eq(&user.id));
    if let Credential::Session { id } = &p.credential {
        others = others.filter(session::Column::Id.ne(id));
    }
    others.exec(&txn).await?;
    let mut data = user_data(&user);
    data["password_changed"] = json!(true);
    let evt: Envelope =
        events::record(&txn, &p.workspace_id, EventType::UserUpdated, p.actor(), Some(&user.id), data).await?;
    txn.commit().await?;
    crate::auth::invalidate(st, &p.workspace_id);
    st.publish(vec![evt]);
    Ok(())
}
