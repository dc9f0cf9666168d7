//! Browser sign-in: password login, sessions, and one-time setup links.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde_json::json;

use entity::{login_token, membership, session, user};

use crate::auth::{passwords, Credential, Principal, Role, Scope};
use crate::crypto::{random_token, SecretKey};
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::ids::new_id;
use crate::services::bounded_text;
use crate::services::members::{normalize_email, user_data};
use crate::state::AppState;

/// How long a setup link stays valid.
pub const SETUP_TOKEN_HOURS: i64 = 24;

pub fn check_password_rules(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < 12 {
        Err(Error::invalid_field("password", "Must be at least 12 characters"))
    } else if n > 1024 {
        Err(Error::invalid_field("password", "Must be at most 1024 characters"))
    } else {
        Ok(())
    }
}

/// Hashes on the blocking pool, within the process-wide cap (429 when saturated).
pub(crate) async fn hash_password_blocking(password: &str) -> Result<String> {
    passwords::hash(password).await
}

/// Verifies on the blocking pool, within the process-wide cap (429 when
/// saturated); with no stored hash a dummy one is checked.
pub(crate) async fn verify_password_blocking(password: &str, stored: Option<String>) -> Result<bool> {
    passwords::verify(password, stored).await
}

/// Creates a one-time setup token for a user; returns the token (only its
/// hash is stored). Earlier unused tokens of the user are revoked.
pub async fn issue_setup_token(
    db: &impl ConnectionTrait,
    secret: &SecretKey,
    user_id: &str,
    workspace_id: &str,
) -> Result<String> {
    login_token::Entity::delete_many()
        .filter(login_token::Column::UserId.eq(user_id))
        .filter(login_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    let token = random_token(32);
    let now = Utc::now();
    login_token::ActiveModel {
        id: Set(new_id("lt")),
        token_hash: Set(secret.hash_token(&token)),
        user_id: Set(user_id.to_string()),
        workspace_id: Set(workspace_id.to_string()),
        expires_at: Set(now + Duration::hours(SETUP_TOKEN_HOURS)),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// A new session for `user_id` in `workspace_id`; returns the cookie token.
pub(crate) async fn open(
    st: &AppState,
    db: &impl ConnectionTrait,
    user_id: &str,
    workspace_id: &str,
) -> Result<String> {
    let token = random_token(32);
    let now = Utc::now();
    session::ActiveModel {
        id: Set(new_id("ses")),
        token_hash: Set(st.secret.hash_token(&token)),
        user_id: Set(user_id.to_string()),
        workspace_id: Set(workspace_id.to_string()),
        created_at: Set(now),
        expires_at: Set(now + Duration::hours(st.config.session_hours as i64)),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Checks email and password; returns a session token. The same error (and
/// about the same time) whether the email or the password is wrong.
pub async fn login(st: &AppState, email: &str, password: &str) -> Result<String> {
    let bad = || Error::Unauthorized("Invalid email or password".into());
    let email = normalize_email(email).map_err(|_| bad())?;
    let found = user::Entity::find().filter(user::Column::Email.eq(&email)).one(&st.db).await?;
    let stored = found.as_ref().and_then(|u| u.password_hash.clone());
    if !verify_password_blocking(password, stored).await? {
        return Err(bad());
    }
    let user = found.ok_or_else(bad)?;
    // Land where the user last chose to be (switched to or joined) while
    // they still belong there, else in their oldest membership. No other
    // workspace's owner can change this: a role granted elsewhere is not
    // a reason to sign in there.
    let memberships = membership::Entity::find()
        .filter(membership::Column::UserId.eq(&user.id))
        .order_by_asc(membership::Column::Id)
        .all(&st.db)
        .await?;
    let m = user
        .last_workspace_id
        .as_deref()
        .and_then(|last| memberships.iter().find(|m| m.workspace_id == last))
        .or(memberships.first())
        .ok_or_else(|| Error::Forbidden("This user belongs to no workspace".into()))?;
    open(st, &st.writer, &user.id, &m.workspace_id).await
}

/// Moves a browser session to another workspace the user belongs to (the
/// caller checks the membership) and remembers it as their last choice.
pub(crate) async fn move_session(
    db: &impl ConnectionTrait,
    session_id: &str,
    user_id: &str,
    workspace_id: &str,
) -> Result<()> {
    session::Entity::update_many()
        .set(session::ActiveModel { workspace_id: Set(workspace_id.to_string()), ..Default::default() })
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    user::Entity::update_many()
        .set(user::ActiveModel { last_workspace_id: Set(Some(workspace_id.to_string())), ..Default::default() })
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends the session holding `token` (no error if there is none).
pub async fn logout(st: &AppState, token: &str) -> Result<()> {
    let hash = st.secret.hash_token(token);
    let Some(s) = session::Entity::find().filter(session::Column::TokenHash.eq(&hash)).one(&st.writer).await? else {
        return Ok(());
    };
    session::Entity::delete_by_id(&s.id).exec(&st.writer).await?;
    crate::auth::invalidate(st, &s.workspace_id);
    Ok(())
}

/// The caller behind a session token's hash and the session's expiry, if
/// the session is valid and the user still a member.
pub async fn lookup_hash(db: &impl ConnectionTrait, hash: &str) -> Result<Option<(Principal, DateTime<Utc>)>> {
    let Some(s) = session::Entity::find().filter(session::Column::TokenHash.eq(hash)).one(db).await? else {
        return Ok(None);
    };
    if s.expires_at <= Utc::now() {
        // Expired rows are deleted by the hourly prune job.
        return Ok(None);
    }
    let role = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(&s.workspace_id))
        .filter(membership::Column::UserId.eq(&s.user_id))
        .one(db)
        .await?
        .and_then(|m| Role::parse(&m.role));
    Ok(role.map(|role| {
        let principal = Principal {
            workspace_id: s.workspace_id,
            user_id: s.user_id,
            role,
            scopes: Scope::ALL.into_iter().collect::<BTreeSet<_>>(),
            credential: Credential::Session { id: s.id },
        };
        (principal, s.expires_at)
    }))
}

/// Redeems a setup token: sets the password (and optionally the name) and
/// opens a session. The token works once.
pub async fn complete_setup(st: &AppState, token: &str, password: &str, name: Option<&str>) -> Result<String> {
    let invalid = || Error::invalid_field("token", "This setup link is invalid, used or expired");
    check_password_rules(password)?;
    let name = name.map(|n| bounded_text("name", n, 100)).transpose()?;
    let usable = |lt: &login_token::Model| lt.used_at.is_none() && lt.expires_at > Utc::now();
    let token_hash = st.secret.hash_token(token);
    // A cheap look-up first: a bogus token must not cost a password hash.
    let found = login_token::Entity::find().filter(login_token::Column::TokenHash.eq(&token_hash)).one(&st.db).await?;
    if !found.as_ref().is_some_and(usable) {
        return Err(invalid());
    }
    let hash = hash_password_blocking(password).await?;
    let txn = st.writer.begin().await?;
    let lt = login_token::Entity::find()
        .filter(login_token::Column::TokenHash.eq(token_hash))
        .one(&txn)
        .await?
        .ok_or_else(invalid)?;
    if !usable(&lt) {
        return Err(invalid());
    }
    let user = user::Entity::find_by_id(&lt.user_id).one(&txn).await?.ok_or_else(invalid)?;
    let mut am = user.into_active_model();
    am.password_hash = Set(Some(hash));
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        am.name = Set(n);
    }
    am.updated_at = Set(Utc::now());
    let user = am.update(&txn).await?;
    let (user_id, workspace_id) = (lt.user_id.clone(), lt.workspace_id.clone());
    let mut used = lt.into_active_model();
    used.used_at = Set(Some(Utc::now()));
    used.update(&txn).await?;
    let mut data = user_data(&user);
    data["password_set"] = json!(true);
    let evt = events::record(&txn, &workspace_id, EventType::UserUpdated, &user_id, Some(&user_id), data).await?;
    // A new password ends every session opened with the old one.
    session::Entity::delete_many().filter(session::Column::UserId.eq(&user_id)).exec(&txn).await?;
    let session = open(st, &txn, &user_id, &workspace_id).await?;
    txn.commit().await?;
    crate::auth::invalidate(st, &workspace_id);
    st.publish(vec![evt]);
    Ok(session)
}
