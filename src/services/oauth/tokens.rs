//! The token endpoint's grants (authorization code with PKCE, refresh with
//! rotation and reuse detection, client credentials), revocation (RFC
//! 7009), introspection (RFC 7662), and resolving an access token to its
//! caller. Tokens are opaque random strings; only keyed hashes are stored.

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use entity::{membership, oauth_app, oauth_app_usage, oauth_authorization, oauth_grant, oauth_token, user};

use super::{apps, parse_scope_param, role_scopes, scope_string, scopes_json, scopes_of};
use crate::auth::{Credential, Principal, Role, Scope};
use crate::crypto::{ct_eq, random_token};
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::ids::new_id;
use crate::state::AppState;

/// An error of the token, revocation or introspection endpoint (RFC 6749 §5.2).
#[derive(Debug)]
pub struct OAuthError {
    /// The RFC's code: `invalid_request`, `invalid_client`, `invalid_grant`, …
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self { error, description: description.into() }
    }

    /// 401 for a client that failed to authenticate, 500 for our own
    /// failures, 400 for the rest.
    pub fn status(&self) -> u16 {
        match self.error {
            "invalid_client" => 401,
            "server_error" => 500,
            _ => 400,
        }
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidRequest { message, details } => {
                Self::new("invalid_request", details.first().map_or(message, |d| format!("{}: {}", d.field, d.error)))
            }
            other => Self::new("server_error", other.public_message()),
        }
    }
}

impl From<sea_orm::DbErr> for OAuthError {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::from(e).into()
    }
}

type OResult<T> = std::result::Result<T, OAuthError>;

/// The successful answer of the token endpoint (RFC 6749 §5.1, seed 002 §5.3).
#[derive(Debug, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// How a client proved who it is: HTTP Basic or body parameters.
#[derive(Debug, Default, Clone)]
pub struct ClientAuth {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// The app behind the client's credentials. A confidential app must send
/// its secret (compared as keyed hashes, in constant time); a public app
/// sends only its id.
pub async fn authenticate_client(st: &AppState, auth: &ClientAuth) -> OResult<oauth_app::Model> {
    let invalid = || OAuthError::new("invalid_client", "Client authentication failed");
    let client_id = auth.client_id.as_deref().ok_or_else(invalid)?;
    let app = apps::by_client_id(&st.db, client_id).await?;
    // Hash even for an unknown client, so the answer takes as long.
    let presented = auth.client_secret.as_deref().map(|s| st.secret.hash_token(s));
    let app = app.ok_or_else(invalid)?;
    match (&app.secret_hash, presented) {
        (Some(stored), Some(given)) if ct_eq(stored, &given) => Ok(app),
        (None, None) if !app.confidential => Ok(app),
        _ => Err(invalid()),
    }
}

/// Lifetimes of issued tokens.
fn access_lifetime(st: &AppState) -> Duration {
    Duration::seconds(st.config.oauth_access_token_seconds as i64)
}

fn refresh_lifetime(st: &AppState) -> Duration {
    Duration::days(st.config.oauth_refresh_token_days as i64)
}

/// A member's role in a workspace, if they are one.
async fn role_of(db: &impl ConnectionTrait, workspace_id: &str, user_id: &str) -> Result<Option<Role>> {
    Ok(membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(workspace_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .and_then(|m| Role::parse(&m.role)))
}

/// Stores a new access token (and refresh token) under `grant`.
async fn issue(
    st: &AppState,
    txn: &DatabaseTransaction,
    grant: &oauth_grant::Model,
    scopes: &BTreeSet<Scope>,
    with_refresh: bool,
    parent: Option<&str>,
) -> Result<TokenResponse> {
    let now = Utc::now();
    let store = |kind: &'static str, token: &str, expires_at: DateTime<Utc>| oauth_token::ActiveModel {
        id: Set(new_id("otk")),
        grant_id: Set(grant.id.clone()),
        app_id: Set(grant.app_id.clone()),
        kind: Set(kind.to_string()),
        token_hash: Set(st.secret.hash_token(token)),
        scopes: Set(scopes_json(scopes)),
        parent_id: Set(parent.map(str::to_string)),
        expires_at: Set(expires_at),
        used_at: Set(None),
        retried: Set(false),
        revoked_at: Set(None),
        created_at: Set(now),
    };
    let access = format!("oat_{}", random_token(32));
    store("access", &access, now + access_lifetime(st)).insert(txn).await?;
    let refresh = match with_refresh {
        true => {
            let refresh = format!("ort_{}", random_token(32));
            store("refresh", &refresh, now + refresh_lifetime(st)).insert(txn).await?;
            Some(refresh)
        }
        false => None,
    };
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: access_lifetime(st).num_seconds(),
        refresh_token: refresh,
        scope: scope_string(scopes),
    })
}

/// Revokes a grant and every token issued under it.
async fn revoke_grant(txn: &impl ConnectionTrait, grant_id: &str) -> Result<()> {
    let now = Utc::now();
    oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::RevokedAt, Expr::value(now))
        .filter(oauth_grant::Column::Id.eq(grant_id))
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    oauth_token::Entity::update_many()
        .col_expr(oauth_token::Column::RevokedAt, Expr::value(now))
        .filter(oauth_token::Column::GrantId.eq(grant_id))
        .filter(oauth_token::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// Revokes every grant matching `filter` (used when an authorization is
/// withdrawn); returns how many there were.
pub async fn revoke_grants_where(txn: &impl ConnectionTrait, app_id: &str, user_id: &str) -> Result<usize> {
    let grants = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::AppId.eq(app_id))
        .filter(oauth_grant::Column::UserId.eq(user_id))
        .filter(oauth_grant::Column::AuthorizationId.is_not_null())
        .filter(oauth_grant::Column::RevokedAt.is_null())
        .all(txn)
        .await?;
    for g in &grants {
        revoke_grant(txn, &g.id).await?;
    }
    Ok(grants.len())
}

/// Deletes every row that belongs to an app (before the app itself).
pub async fn delete_app_rows(txn: &impl ConnectionTrait, app_id: &str) -> Result<()> {
    oauth_token::Entity::delete_many().filter(oauth_token::Column::AppId.eq(app_id)).exec(txn).await?;
    oauth_grant::Entity::delete_many().filter(oauth_grant::Column::AppId.eq(app_id)).exec(txn).await?;
    oauth_authorization::Entity::delete_many().filter(oauth_authorization::Column::AppId.eq(app_id)).exec(txn).await?;
    oauth_app_usage::Entity::delete_many().filter(oauth_app_usage::Column::AppId.eq(app_id)).exec(txn).await?;
    Ok(())
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2, S256).
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `grant_type=authorization_code`: exchanges a code once. A second
/// exchange of the same code revokes every token issued from it (RFC 6749
/// §4.1.2).
#[tracing::instrument(skip_all, fields(app = %app.id))]
pub async fn exchange_code(
    st: &AppState,
    app: &oauth_app::Model,
    code: Option<&str>,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> OResult<TokenResponse> {
    let bad = |d: &str| OAuthError::new("invalid_grant", d);
    let code = code.filter(|c| !c.is_empty()).ok_or_else(|| OAuthError::new("invalid_request", "code is missing"))?;
    let hash = st.secret.hash_token(code);
    let txn = st.writer.begin().await?;
    let grant = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::CodeHash.eq(&hash))
        .filter(oauth_grant::Column::AppId.eq(&app.id))
        .one(&txn)
        .await?
        .ok_or_else(|| bad("The code is unknown or was issued to another client"))?;
    if grant.code_used_at.is_some() {
        revoke_grant(&txn, &grant.id).await?;
        txn.commit().await?;
        crate::auth::invalidate(st, &grant.workspace_id);
        return Err(bad("The code was already used; every token issued from it is revoked"));
    }
    if grant.revoked_at.is_some() || grant.code_expires_at.is_none_or(|t| t <= Utc::now()) {
        return Err(bad("The code has expired"));
    }
    if let Some(expected) = &grant.redirect_uri {
        if redirect_uri != Some(expected.as_str()) {
            return Err(bad("redirect_uri does not match the authorization request"));
        }
    }
    match (&grant.code_challenge, verifier) {
        (Some(challenge), Some(v)) if ct_eq(challenge, &s256(v)) => {}
        (Some(_), Some(_)) => return Err(bad("code_verifier does not match the code_challenge")),
        (Some(_), None) => return Err(bad("code_verifier is missing")),
        (None, Some(_)) => return Err(bad("A code_verifier was sent, but the authorization used no PKCE")),
        (None, None) => {}
    }
    // Spent exactly once, even when two exchanges race.
    let spent = oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::CodeUsedAt, Expr::value(Utc::now()))
        .filter(oauth_grant::Column::Id.eq(&grant.id))
        .filter(oauth_grant::Column::CodeUsedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected != 1 {
        return Err(bad("The code was already used"));
    }
    if role_of(&txn, &grant.workspace_id, &grant.user_id).await?.is_none() {
        return Err(bad("The user is no longer a member of the workspace"));
    }
    let scopes = scopes_of(&grant.scopes);
    let answer = issue(st, &txn, &grant, &scopes, true, None).await?;
    txn.commit().await?;
    Ok(answer)
}

/// `grant_type=refresh_token`: spends the refresh token and issues a new
/// pair. Presenting a spent refresh token again revokes the whole grant
/// and emits `oauth.token_reuse_detected`, except once within
/// `SWITCHYARD_OAUTH_REFRESH_GRACE_SECONDS` of its use (a client that lost
/// the answer retries): then the pair from the first use is revoked and a
/// new one issued.
#[tracing::instrument(skip_all, fields(app = %app.id))]
pub async fn refresh(
    st: &AppState,
    app: &oauth_app::Model,
    refresh_token: Option<&str>,
    scope: Option<&str>,
) -> OResult<TokenResponse> {
    let bad = |d: &str| OAuthError::new("invalid_grant", d);
    let token = refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is missing"))?;
    let hash = st.secret.hash_token(token);
    let txn = st.writer.begin().await?;
    let row = oauth_token::Entity::find()
        .filter(oauth_token::Column::TokenHash.eq(&hash))
        .filter(oauth_token::Column::Kind.eq("refresh"))
        .filter(oauth_token::Column::AppId.eq(&app.id))
        .one(&txn)
        .await?
        .filter(|t| ct_eq(&t.token_hash, &hash))
        .ok_or_else(|| bad("The refresh token is unknown or was issued to another client"))?;
    let grant =
        oauth_grant::Entity::find_by_id(&row.grant_id).one(&txn).await?.ok_or_else(|| bad("The grant is gone"))?;
    if grant.revoked_at.is_some() || row.revoked_at.is_some() {
        return Err(bad("The refresh token was revoked"));
    }
    if row.expires_at <= Utc::now() {
        return Err(bad("The refresh token has expired"));
    }
    let held = scopes_of(&row.scopes);
    let scopes = match scope.map(str::trim).filter(|s| !s.is_empty()) {
        None => held.clone(),
        Some(s) => match parse_scope_param(s) {
            Ok(asked) if !asked.is_empty() && asked.is_subset(&held) => asked,
            _ => {
                return Err(OAuthError::new(
                    "invalid_scope",
                    "A refresh may keep or narrow the scopes, never widen them",
                ))
            }
        },
    };
    let now = Utc::now();
    let first_use = oauth_token::Entity::update_many()
        .col_expr(oauth_token::Column::UsedAt, Expr::value(now))
        .filter(oauth_token::Column::Id.eq(&row.id))
        .filter(oauth_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if first_use.rows_affected != 1 {
        let grace = Duration::seconds(st.config.oauth_refresh_grace_seconds as i64);
        let in_grace = !grace.is_zero() && row.used_at.is_some_and(|t| t + grace > now);
        let retry = match in_grace {
            true => {
                oauth_token::Entity::update_many()
                    .col_expr(oauth_token::Column::Retried, Expr::value(true))
                    .filter(oauth_token::Column::Id.eq(&row.id))
                    .filter(oauth_token::Column::Retried.eq(false))
                    .exec(&txn)
                    .await?
                    .rows_affected
                    == 1
            }
            false => false,
        };
        if !retry {
            revoke_grant(&txn, &grant.id).await?;
            let data =
                json!({ "app_id": app.id, "client_id": app.client_id, "grant_id": grant.id, "user_id": grant.user_id });
            let evt = events::record(
                &txn,
                &grant.workspace_id,
                EventType::OAuthTokenReuseDetected,
                &app.id,
                Some(&grant.id),
                data,
            )
            .await?;
            txn.commit().await?;
            crate::auth::invalidate(st, &grant.workspace_id);
            st.publish(vec![evt]);
            tracing::warn!(app = %app.id, grant = %grant.id, "refresh token reused: grant revoked");
            return Err(bad("The refresh token was already used; every token of this grant is revoked"));
        }
        // The client lost the first answer: what it issued goes, a new pair comes.
        oauth_token::Entity::update_many()
            .col_expr(oauth_token::Column::RevokedAt, Expr::value(now))
            .filter(oauth_token::Column::ParentId.eq(&row.id))
            .filter(oauth_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
    }
    if role_of(&txn, &grant.workspace_id, &grant.user_id).await?.is_none() {
        return Err(bad("The user is no longer a member of the workspace"));
    }
    let answer = issue(st, &txn, &grant, &scopes, true, Some(&row.id)).await?;
    txn.commit().await?;
    if first_use.rows_affected != 1 {
        crate::auth::invalidate(st, &grant.workspace_id);
    }
    Ok(answer)
}

/// `grant_type=client_credentials`: a confidential app acts as itself in
/// its workspace (as the owner who registered it, within the app's scopes
/// and that member's role). No refresh token (RFC 6749 §4.4.3).
#[tracing::instrument(skip_all, fields(app = %app.id))]
pub async fn client_credentials(st: &AppState, app: &oauth_app::Model, scope: Option<&str>) -> OResult<TokenResponse> {
    if !app.confidential {
        return Err(OAuthError::new("unauthorized_client", "A public app cannot use client credentials"));
    }
    let allowed = apps::scopes(app);
    let scopes = match scope.map(str::trim).filter(|s| !s.is_empty()) {
        None => allowed.clone(),
        Some(s) => parse_scope_param(s).map_err(|_| OAuthError::new("invalid_scope", "Unknown scope"))?,
    };
    if scopes.is_empty() || !scopes.is_subset(&allowed) {
        return Err(OAuthError::new("invalid_scope", "The request asks for a scope the app is not registered for"));
    }
    let txn = st.writer.begin().await?;
    let Some(role) = role_of(&txn, &app.workspace_id, &app.created_by).await? else {
        return Err(OAuthError::new("unauthorized_client", "The app's owner is no longer a member of the workspace"));
    };
    if !scopes.is_subset(&role_scopes(role)) {
        return Err(OAuthError::new("invalid_scope", "The app's owner can no longer grant these scopes"));
    }
    let grant = oauth_grant::ActiveModel {
        id: Set(new_id("ogr")),
        workspace_id: Set(app.workspace_id.clone()),
        app_id: Set(app.id.clone()),
        user_id: Set(app.created_by.clone()),
        authorization_id: Set(None),
        scopes: Set(scopes_json(&scopes)),
        code_hash: Set(None),
        code_challenge: Set(None),
        redirect_uri: Set(None),
        code_expires_at: Set(None),
        code_used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    let answer = issue(st, &txn, &grant, &scopes, false, None).await?;
    txn.commit().await?;
    Ok(answer)
}

/// The token row behind a presented token, if it was issued to `app`.
async fn find_token(st: &AppState, app: &oauth_app::Model, token: &str) -> Result<Option<oauth_token::Model>> {
    if token.is_empty() || token.len() > 200 {
        return Ok(None);
    }
    let hash = st.secret.hash_token(token);
    Ok(oauth_token::Entity::find()
        .filter(oauth_token::Column::TokenHash.eq(&hash))
        .filter(oauth_token::Column::AppId.eq(&app.id))
        .one(&st.db)
        .await?
        .filter(|t| ct_eq(&t.token_hash, &hash)))
}

/// RFC 7009: revokes an access token, or a refresh token together with
/// its whole grant. Unknown tokens, and tokens of other clients, are
/// answered the same way and left alone.
#[tracing::instrument(skip_all, fields(app = %app.id))]
pub async fn revoke(st: &AppState, app: &oauth_app::Model, token: &str) -> Result<()> {
    let Some(row) = find_token(st, app, token).await? else { return Ok(()) };
    let txn = st.writer.begin().await?;
    match row.kind.as_str() {
        "refresh" => revoke_grant(&txn, &row.grant_id).await?,
        _ => {
            oauth_token::Entity::update_many()
                .col_expr(oauth_token::Column::RevokedAt, Expr::value(Utc::now()))
                .filter(oauth_token::Column::Id.eq(&row.id))
                .filter(oauth_token::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    crate::auth::invalidate(st, &app.workspace_id);
    Ok(())
}

/// RFC 7662: what a token of this client is, or `{"active": false}`.
pub async fn introspect(st: &AppState, app: &oauth_app::Model, token: &str) -> Result<serde_json::Value> {
    let inactive = json!({ "active": false });
    let Some(row) = find_token(st, app, token).await? else { return Ok(inactive) };
    let Some(grant) = oauth_grant::Entity::find_by_id(&row.grant_id).one(&st.db).await? else { return Ok(inactive) };
    let now = Utc::now();
    let spent = row.kind == "refresh" && row.used_at.is_some();
    if row.revoked_at.is_some() || grant.revoked_at.is_some() || row.expires_at <= now || spent {
        return Ok(inactive);
    }
    let Some(role) = role_of(&st.db, &grant.workspace_id, &grant.user_id).await? else { return Ok(inactive) };
    let scopes: BTreeSet<Scope> = scopes_of(&row.scopes)
        .intersection(&apps::scopes(app))
        .copied()
        .filter(|s| role_scopes(role).contains(s))
        .collect();
    let username = user::Entity::find_by_id(&grant.user_id).one(&st.db).await?.map(|u| u.email);
    Ok(json!({
        "active": true,
        "scope": scope_string(&scopes),
        "client_id": app.client_id,
        "username": username,
        "token_type": if row.kind == "refresh" { "refresh_token" } else { "Bearer" },
        "exp": row.expires_at.timestamp(),
        "iat": row.created_at.timestamp(),
        "sub": grant.user_id,
        "iss": st.config.public_url(),
        "workspace_id": grant.workspace_id,
    }))
}

/// Whether a bearer token is one of ours (`oat_…`).
pub fn is_access_token(token: &str) -> bool {
    token.starts_with("oat_") && token.len() <= 200
}

/// Resolves the hash of a presented access token to its caller and the
/// time it stops working. Every failure is UNAUTHORIZED. The scopes are
/// those granted, cut to the app's scopes and the user's role today.
pub async fn authenticate_hash(db: &impl ConnectionTrait, hash: &str) -> Result<(Principal, Option<DateTime<Utc>>)> {
    let invalid = || Error::Unauthorized("Invalid or expired access token".into());
    let row = oauth_token::Entity::find()
        .filter(oauth_token::Column::TokenHash.eq(hash))
        .filter(oauth_token::Column::Kind.eq("access"))
        .one(db)
        .await?
        .filter(|t| ct_eq(&t.token_hash, hash))
        .ok_or_else(invalid)?;
    if row.revoked_at.is_some() || row.expires_at <= Utc::now() {
        return Err(invalid());
    }
    let grant = oauth_grant::Entity::find_by_id(&row.grant_id).one(db).await?.ok_or_else(invalid)?;
    let app = oauth_app::Entity::find_by_id(&row.app_id).one(db).await?.ok_or_else(invalid)?;
    if grant.revoked_at.is_some() {
        return Err(invalid());
    }
    let role = role_of(db, &grant.workspace_id, &grant.user_id)
        .await?
        .ok_or_else(|| Error::Unauthorized("The token's user is no longer a member of its workspace".into()))?;
    let scopes: BTreeSet<Scope> = scopes_of(&row.scopes)
        .intersection(&apps::scopes(&app))
        .copied()
        .filter(|s| role_scopes(role).contains(s))
        .collect();
    let principal = Principal {
        workspace_id: grant.workspace_id,
        user_id: grant.user_id,
        role,
        scopes,
        credential: Credential::OAuthToken {
            id: row.id,
            app_id: app.id,
            grant_id: grant.id,
            authorization_id: grant.authorization_id,
        },
    };
    Ok((principal, Some(row.expires_at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
}
