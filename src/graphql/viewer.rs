//! The caller, their user and workspace, and server information.

use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::auth::{Credential, Role, Scope};
use crate::graphql::inputs::found_at;
use crate::graphql::states::Storage;
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::ContextExt;
use crate::services::api_keys::Environment;
use crate::services::{members, workspaces};
use async_graphql::Result;

/// A person who can sign in.
#[derive(SimpleObject, Clone)]
pub struct User {
    /// The user's id (`usr_…`).
    pub id: ID,
    /// The address they sign in with; unique on this server.
    pub email: String,
    /// The name shown to others; may be `""`.
    pub name: String,
    /// Whether the user has set a password (an account made by the first
    /// start or the admin command has not until its setup link is used).
    pub has_password: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the profile was last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<entity::user::Model> for User {
    fn from(u: entity::user::Model) -> Self {
        Self {
            id: ID(u.id),
            email: u.email,
            name: u.name,
            has_password: u.password_hash.is_some(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// The tenant that owns every other object.
#[derive(SimpleObject, Clone)]
pub struct Workspace {
    /// The workspace's id (`ws_…`).
    pub id: ID,
    /// The workspace's name; owners change it with `updateWorkspace`.
    pub name: String,
    /// When the workspace was created.
    pub created_at: DateTime<Utc>,
    /// When it was last renamed.
    pub updated_at: DateTime<Utc>,
}

impl From<entity::workspace::Model> for Workspace {
    fn from(w: entity::workspace::Model) -> Self {
        Self { id: ID(w.id), name: w.name, created_at: w.created_at, updated_at: w.updated_at }
    }
}

/// How the caller authenticated.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A workspace API key (`sk_test_…`/`sk_live_…`).
    ApiKey,
    /// A browser session (signed in at `/login`).
    Session,
    /// An OAuth app's access token, acting for the user.
    OauthToken,
}

/// A workspace the caller belongs to, with their role there.
#[derive(SimpleObject)]
pub struct ViewerWorkspace {
    /// The workspace id (`ws_…`).
    pub id: ID,
    /// The workspace's name.
    pub name: String,
    /// The caller's role in it.
    pub role: Role,
}

impl From<workspaces::WorkspaceRole> for ViewerWorkspace {
    fn from(w: workspaces::WorkspaceRole) -> Self {
        Self { id: ID(w.workspace.id), name: w.workspace.name, role: w.role }
    }
}

/// The authenticated caller.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Viewer {
    /// The user the caller acts as (for an API key: the member who made it).
    pub user: User,
    /// The workspace the request works in.
    pub workspace: Workspace,
    /// The user's role in that workspace.
    pub role: Role,
    /// What this request may do (`READ` queries, `WRITE` mutations, `ADMIN`
    /// members and keys); a session has every scope.
    pub scopes: Vec<Scope>,
    /// How the caller authenticated.
    pub credential: CredentialKind,
    /// The API key's id when the caller used one.
    pub api_key_id: Option<ID>,
    /// The only environment whose records the caller sees: the API key's
    /// (`TEST` for `sk_test_…`, `LIVE` for `sk_live_…`); null for a session
    /// or an OAuth token, which see both.
    pub records_environment: Option<Environment>,
}

/// Facts about this server, readable without signing in.
#[derive(SimpleObject)]
pub struct ServerInfo {
    /// The server's version, e.g. `0.1.0`.
    pub version: String,
    /// The database in use.
    pub storage: Storage,
}

#[ComplexObject]
impl Viewer {
    /// The workspaces the caller can work in, oldest membership first: for a
    /// browser session every workspace the user belongs to (see
    /// `switchWorkspace`); an API key is bound to its own workspace only.
    async fn workspaces(&self, ctx: &Context<'_>) -> Result<Vec<ViewerWorkspace>> {
        let rows = workspaces::list_mine(&ctx.app().db, ctx.principal()?).await?;
        Ok(rows.into_iter().map(ViewerWorkspace::from).collect())
    }
}

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Server version and storage mode. Needs no authentication.
    async fn server_info(&self, ctx: &Context<'_>) -> ServerInfo {
        let postgres = ctx.app().config.is_postgres();
        ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            storage: if postgres { Storage::Postgres } else { Storage::Sqlite },
        }
    }

    /// The caller: user, workspace, role and scopes.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        let p = ctx.principal()?;
        let db = &ctx.app().db;
        let user = members::me(db, p).await?;
        let workspace = workspaces::current(db, p).await?;
        let (credential, api_key_id) = match &p.credential {
            Credential::ApiKey { id, .. } => (CredentialKind::ApiKey, Some(ID(id.clone()))),
            Credential::Session { .. } => (CredentialKind::Session, None),
            Credential::OAuthToken { .. } => (CredentialKind::OauthToken, None),
        };
        Ok(Viewer {
            user: user.into(),
            workspace: workspace.into(),
            role: p.role,
            scopes: p.scopes.iter().copied().collect(),
            credential,
            api_key_id,
            records_environment: p.records_environment(),
        })
    }

    /// The caller's workspace.
    async fn workspace(&self, ctx: &Context<'_>) -> Result<Workspace> {
        Ok(workspaces::current(&ctx.app().db, ctx.principal()?).await?.into())
    }
}

/// The caller's new profile.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    /// Display name, at most 100 characters.
    pub name: String,
}

/// The caller's user after the change.
#[derive(SimpleObject)]
pub struct UpdateProfilePayload {
    /// The caller's user; `null` when nothing changed.
    pub user: Option<User>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The current and the new password.
#[derive(InputObject)]
pub struct ChangePasswordInput {
    /// The password the caller signs in with now.
    #[graphql(secret)]
    pub current_password: String,
    /// At least 12 characters.
    #[graphql(secret)]
    pub new_password: String,
}

/// The outcome of `changePassword`.
#[derive(SimpleObject)]
pub struct ChangePasswordPayload {
    /// The caller's user; `null` when the password was not changed.
    pub user: Option<User>,
    /// Problems with the input (a wrong current password, a new one that
    /// is too weak); when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The workspace's new name.
#[derive(InputObject)]
pub struct UpdateWorkspaceInput {
    /// 1 to 100 characters.
    pub name: String,
}

/// The workspace after the change.
#[derive(SimpleObject)]
pub struct UpdateWorkspacePayload {
    /// The caller's workspace; `null` when nothing changed.
    pub workspace: Option<Workspace>,
    /// Problems with the input; when there are any, nothing changed.
    pub user_errors: Vec<UserError>,
}

/// The workspace to work in.
#[derive(InputObject)]
pub struct SwitchWorkspaceInput {
    /// A workspace the signed-in user belongs to (`ws_…`).
    pub workspace_id: ID,
}

/// The workspace the session now works in.
#[derive(SimpleObject)]
pub struct SwitchWorkspacePayload {
    /// The workspace switched to; `null` when the session did not move.
    pub workspace: Option<Workspace>,
    /// The caller's role there; `null` when the session did not move.
    pub role: Option<Role>,
    /// Problems with the input (`NOT_FOUND`: not a workspace of the user's).
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ViewerMutation;

#[Object]
impl ViewerMutation {
    /// Changes the caller's display name. Emits `user.updated`.
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new display name.")] input: UpdateProfileInput,
    ) -> Result<UpdateProfilePayload> {
        Ok(match user_errors(members::update_profile(ctx.app(), ctx.principal()?, &input.name).await)? {
            Ok(u) => UpdateProfilePayload { user: Some(u.into()), user_errors: vec![] },
            Err(e) => UpdateProfilePayload { user: None, user_errors: e },
        })
    }

    /// Changes the caller's password (browser sessions only; API keys get
    /// FORBIDDEN) and ends the user's other sessions. Emits `user.updated`.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The current and the new password.")] input: ChangePasswordInput,
    ) -> Result<ChangePasswordPayload> {
        let (st, p) = (ctx.app(), ctx.principal()?);
        let changed = members::change_password(st, p, &input.current_password, &input.new_password).await;
        if let Err(mut e) = user_errors(changed)? {
            // The password rules name the field `password`; here it is `newPassword`.
            for err in &mut e {
                if err.field.as_deref() == Some(&["input".to_string(), "password".into()][..]) {
                    err.field = Some(vec!["input".into(), "newPassword".into()]);
                }
            }
            return Ok(ChangePasswordPayload { user: None, user_errors: e });
        }
        Ok(ChangePasswordPayload { user: Some(members::me(&st.db, p).await?.into()), user_errors: vec![] })
    }

    /// Moves the browser session to another workspace the user belongs to;
    /// signing in later lands there too. API keys are bound to their
    /// workspace (FORBIDDEN); a workspace the user does not belong to is a
    /// `NOT_FOUND` user error.
    async fn switch_workspace(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The workspace to work in.")] input: SwitchWorkspaceInput,
    ) -> Result<SwitchWorkspacePayload> {
        Ok(match user_errors(workspaces::switch(ctx.app(), ctx.principal()?, &input.workspace_id).await)? {
            Ok(w) => {
                SwitchWorkspacePayload { workspace: Some(w.workspace.into()), role: Some(w.role), user_errors: vec![] }
            }
            Err(e) => SwitchWorkspacePayload { workspace: None, role: None, user_errors: found_at(e, "workspaceId") },
        })
    }

    /// Renames the caller's workspace (owner only). Emits `workspace.updated`.
    async fn update_workspace(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The workspace's new name.")] input: UpdateWorkspaceInput,
    ) -> Result<UpdateWorkspacePayload> {
        Ok(match user_errors(workspaces::rename(ctx.app(), ctx.principal()?, &input.name).await)? {
            Ok(w) => UpdateWorkspacePayload { workspace: Some(w.into()), user_errors: vec![] },
            Err(e) => UpdateWorkspacePayload { workspace: None, user_errors: e },
        })
    }
}
