//! Invitations: how a person joins a workspace. An owner invites an email
//! with a role and passes the one-time link on; only the account holder's own
//! action turns it into a membership:
//! - with no account for the email, the link's holder creates it (password
//!   and name) and joins, in one transaction;
//! - with an account, its holder accepts while signed in as that account.
//!
//! Inviting creates no user and no membership, and its answer is the same
//! whether or not an account exists for the email, so an owner learns
//! nothing about people outside the workspace, and never sets a password or
//! receives a link for someone else's account.

use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde_json::json;

use entity::{invitation, membership, user, workspace};

use crate::auth::{Credential, Principal, Role, Scope};
use crate::crypto::{random_token, SecretKey};
use crate::error::{Error, Result, UserErrorCode};
use crate::events::{self, EventType};
use crate::ids::{has_prefix, new_id};
use crate::services::members::{normalize_email, user_data};
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::services::{bounded_text, sessions};
use crate::state::AppState;

/// How long an invitation stays valid.
pub const INVITATION_DAYS: i64 = 7;

/// How long an expired invitation stays listed (for its owner to see it
/// lapsed) before the hourly prune deletes it. Accepted ones go at once:
/// the `member.added` event records them.
pub const INVITATION_KEPT_DAYS: i64 = 30;

/// An invitation with the workspace it is for (what its token holder may see).
#[derive(Debug, Clone)]
pub struct InvitationView {
    pub invitation: invitation::Model,
    pub workspace: workspace::Model,
}

/// The outcome of accepting: the workspace joined and the role held there;
/// for a new account, the token of the session opened for it.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub workspace: workspace::Model,
    pub role: Role,
    pub session_token: Option<String>,
}

fn invalid_token() -> Error {
    Error::invalid_field("token", "This invitation is invalid, used, revoked or expired")
}

/// The role an invitation grants.
pub fn role_of(inv: &invitation::Model) -> Role {
    Role::parse(&inv.role).unwrap_or(Role::Collaborator)
}

/// Invites `email` to the caller's workspace with `role` (owner only).
/// Replaces a pending invitation of the same address (its link stops
/// working). Returns the invitation and its token, shown once. Emits
/// `member.invited`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id))]
pub async fn invite(st: &AppState, p: &Principal, email: &str, role: Role) -> Result<(invitation::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let email = normalize_email(email)?;
    let txn = st.writer.begin().await?;
    // Only this workspace's own members are told apart; whether an account
    // exists elsewhere changes nothing in the answer.
    if let Some(u) = user::Entity::find().filter(user::Column::Email.eq(&email)).one(&txn).await? {
        let member = membership::Entity::find()
            .filter(membership::Column::WorkspaceId.eq(&p.workspace_id))
            .filter(membership::Column::UserId.eq(&u.id))
            .one(&txn)
            .await?;
        if member.is_some() {
            return Err(Error::field_code(
                "email",
                UserErrorCode::Taken,
                "This person is already a member of the workspace",
            ));
        }
    }
    invitation::Entity::delete_many()
        .filter(invitation::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(invitation::Column::Email.eq(&email))
        .filter(invitation::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?;
    let token = random_token(32);
    let now = Utc::now();
    let inv = invitation::ActiveModel {
        id: Set(new_id("inv")),
        workspace_id: Set(p.workspace_id.clone()),
        email: Set(email),
        role: Set(role.as_str().to_string()),
        invited_by: Set(p.user_id.clone()),
        token_hash: Set(st.secret.hash_token(&token)),
        expires_at: Set(now + Duration::days(INVITATION_DAYS)),
        accepted_at: Set(None),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(Error::unique("email", "This address was invited at the same moment; try again"))?;
    let data = json!({ "id": inv.id, "email": inv.email, "role": inv.role });
    let evt = events::record(&txn, &p.workspace_id, EventType::MemberInvited, p.actor(), Some(&inv.id), data).await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok((inv, token))
}

/// One page of the workspace's pending (not yet accepted) invitations,
/// newest first; expired ones stay listed until replaced, revoked or pruned
/// [`INVITATION_KEPT_DAYS`] after expiring (owner only).
pub async fn list(db: &impl ConnectionTrait, p: &Principal, page: &PageArgs) -> Result<Page<invitation::Model>> {
    p.require(Scope::Read)?.require_owner()?;
    let q = invitation::Entity::find()
        .filter(invitation::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(invitation::Column::AcceptedAt.is_null());
    fetch_page(db, q, invitation::Column::Id, page).await
}

/// Revokes a pending invitation of the workspace: its link stops working
/// (owner only). NOT_FOUND for an accepted one or another workspace's.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, invitation = %id))]
pub async fn revoke(st: &AppState, p: &Principal, id: &str) -> Result<()> {
    p.require(Scope::Write)?.require_owner()?;
    if !has_prefix(id, "inv") {
        return Err(Error::NotFound("Invitation"));
    }
    let res = invitation::Entity::delete_many()
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .exec(&st.writer)
        .await?;
    if res.rows_affected == 0 {
        return Err(Error::NotFound("Invitation"));
    }
    Ok(())
}

/// The pending, unexpired invitation a token stands for (a hash lookup).
async fn find_pending(db: &impl ConnectionTrait, secret: &SecretKey, token: &str) -> Result<invitation::Model> {
    if token.is_empty() || token.len() > 100 {
        return Err(invalid_token());
    }
    let inv = invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(secret.hash_token(token)))
        .one(db)
        .await?
        .ok_or_else(invalid_token)?;
    if inv.accepted_at.is_some() || inv.expires_at <= Utc::now() {
        return Err(invalid_token());
    }
    // An invitation speaks for its sender only while they own the
    // workspace: a demoted or removed owner's links stop working (they are
    // also deleted then; this holds whatever the path).
    let sender = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(&inv.workspace_id))
        .filter(membership::Column::UserId.eq(&inv.invited_by))
        .filter(membership::Column::Role.eq(Role::Owner.as_str()))
        .one(db)
        .await?;
    if sender.is_none() {
        return Err(invalid_token());
    }
    Ok(inv)
}

/// Deletes the pending invitations `user_id` sent in a workspace, when they
/// stop being one of its owners.
pub(crate) async fn drop_sent_by(db: &impl ConnectionTrait, workspace_id: &str, user_id: &str) -> Result<()> {
    invitation::Entity::delete_many()
        .filter(invitation::Column::WorkspaceId.eq(workspace_id))
        .filter(invitation::Column::InvitedBy.eq(user_id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

async fn view(db: &impl ConnectionTrait, inv: invitation::Model) -> Result<InvitationView> {
    let workspace = workspace::Entity::find_by_id(&inv.workspace_id).one(db).await?.ok_or_else(invalid_token)?;
    Ok(InvitationView { invitation: inv, workspace })
}

/// What the holder of a token may know about it: the workspace, the invited
/// address, the role and the expiry. Nothing about accounts.
pub async fn preview(st: &AppState, token: &str) -> Result<InvitationView> {
    let inv = find_pending(&st.db, &st.secret, token).await?;
    view(&st.db, inv).await
}

/// Spends the invitation; fails if another request spent it first.
async fn mark_accepted(db: &impl ConnectionTrait, id: &str) -> Result<()> {
    let res = invitation::Entity::update_many()
        .set(invitation::ActiveModel { accepted_at: Set(Some(Utc::now())), ..Default::default() })
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .exec(db)
        .await?;
    match res.rows_affected {
        1 => Ok(()),
        _ => Err(invalid_token()),
    }
}

async fn insert_membership(db: &impl ConnectionTrait, inv: &invitation::Model, user_id: &str) -> Result<()> {
    membership::ActiveModel {
        id: Set(new_id("mem")),
        workspace_id: Set(inv.workspace_id.clone()),
        user_id: Set(user_id.to_string()),
        role: Set(inv.role.clone()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map_err(Error::unique("token", "You are already a member of this workspace"))?;
    Ok(())
}

fn existing_account() -> Error {
    Error::invalid_field(
        "password",
        "This invitation is for an existing account: sign in to it first, then accept the invitation \
         (an invitation never sets the password of an existing account)",
    )
}

/// Accepts an invitation whose address has no account yet: creates the
/// account with `password`, the membership, spends the invitation and opens
/// a session, all in one transaction. The token is checked before the
/// (expensive) password hashing. Emits `user.created` and `member.added`.
#[tracing::instrument(skip_all)]
pub async fn accept_with_new_account(
    st: &AppState,
    token: &str,
    password: &str,
    name: Option<&str>,
) -> Result<Accepted> {
    let inv = find_pending(&st.db, &st.secret, token).await?;
    if user::Entity::find().filter(user::Column::Email.eq(&inv.email)).one(&st.db).await?.is_some() {
        return Err(existing_account());
    }
    sessions::check_password_rules(password)?;
    let name = bounded_text("name", name.unwrap_or(""), 100)?;
    let hash = sessions::hash_password_blocking(password).await?;

    let txn = st.writer.begin().await?;
    let inv = find_pending(&txn, &st.secret, token).await?;
    mark_accepted(&txn, &inv.id).await?;
    let now = Utc::now();
    let user = user::ActiveModel {
        id: Set(new_id("usr")),
        email: Set(inv.email.clone()),
        name: Set(name),
        password_hash: Set(Some(hash)),
        created_at: Set(now),
        updated_at: Set(now),
        last_workspace_id: Set(Some(inv.workspace_id.clone())),
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => existing_account(),
        _ => Error::Database(e),
    })?;
    insert_membership(&txn, &inv, &user.id).await?;
    let mut evts = vec![
        events::record(&txn, &inv.workspace_id, EventType::UserCreated, &user.id, Some(&user.id), user_data(&user))
            .await?,
    ];
    evts.push(member_added(&txn, &inv, &user).await?);
    let session_token = sessions::open(st, &txn, &user.id, &inv.workspace_id).await?;
    let view = view(&txn, inv).await?;
    txn.commit().await?;
    st.publish(evts);
    Ok(Accepted { role: role_of(&view.invitation), workspace: view.workspace, session_token: Some(session_token) })
}

async fn member_added(
    db: &impl ConnectionTrait,
    inv: &invitation::Model,
    user: &user::Model,
) -> Result<events::Envelope> {
    let mut data = user_data(user);
    data["role"] = json!(inv.role);
    data["invitation_id"] = json!(inv.id);
    events::record(db, &inv.workspace_id, EventType::MemberAdded, &user.id, Some(&user.id), data).await
}

/// Accepts an invitation for the signed-in user (browser sessions only; the
/// user's email must be the invited address): adds the membership, spends
/// the invitation and moves the session to the workspace joined. Emits
/// `member.added`.
#[tracing::instrument(skip_all, fields(user = %p.user_id))]
pub async fn accept_signed_in(st: &AppState, p: &Principal, token: &str) -> Result<Accepted> {
    let Credential::Session { id: session_id } = &p.credential else {
        return Err(Error::Forbidden(
            "Invitations are accepted from a signed-in browser session; API keys cannot accept them".into(),
        ));
    };
    let inv = find_pending(&st.db, &st.secret, token).await?;
    let user = user::Entity::find_by_id(&p.user_id).one(&st.db).await?.ok_or(Error::NotFound("User"))?;
    if user.email != inv.email {
        return Err(Error::Forbidden(
            "This invitation is for another account: sign in as the invited address to accept it".into(),
        ));
    }
    let txn = st.writer.begin().await?;
    let inv = find_pending(&txn, &st.secret, token).await?;
    mark_accepted(&txn, &inv.id).await?;
    insert_membership(&txn, &inv, &user.id).await?;
    let evt = member_added(&txn, &inv, &user).await?;
    sessions::move_session(&txn, session_id, &user.id, &inv.workspace_id).await?;
    let view = view(&txn, inv).await?;
    txn.commit().await?;
    // The session's cached caller names the old workspace.
    crate::auth::invalidate(st, &view.workspace.id);
    st.publish(vec![evt]);
    Ok(Accepted { role: role_of(&view.invitation), workspace: view.workspace, session_token: None })
}
