//! OAuth apps (Switchyard as an authorization server for third-party apps)
//! and the authorizations users gave them. Apps are managed by owners; every
//! user sees and withdraws their own authorizations, owners anyone's.

use async_graphql::{ComplexObject, Context, InputObject, MaybeUndefined, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::auth::Scope;
use crate::graphql::api_keys::{usage_days, ApiKeyUsageDay};
use crate::graphql::cost;
use crate::graphql::idempotency;
use crate::graphql::inputs::{found_at, NotNull};
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::user_errors::{user_errors, UserError};
use crate::graphql::viewer::User;
use crate::graphql::{found, ContextExt};
use crate::services::oauth::authorizations::{self, AuthorizationView};
use crate::services::oauth::{apps, scopes_of};

/// A third-party app that may ask users for access through Switchyard's
/// OAuth 2.0 server (`/oauth/authorize`, `/oauth/token`).
#[derive(SimpleObject, Clone)]
#[graphql(complex, name = "OAuthApp")]
pub struct OAuthApp {
    /// The app's id (`app_…`).
    pub id: ID,
    /// Shown to users on the consent page.
    pub name: String,
    /// Shown under the name on the consent page.
    pub description: String,
    /// The public client identifier (`client_…`) the app sends in OAuth requests.
    pub client_id: String,
    /// Whether the app has a client secret (a server-side app). A public app
    /// (native or single-page) has none and must use PKCE.
    pub confidential: bool,
    /// The exact redirect URIs allowed (https, or http on a loopback host).
    pub redirect_uris: Vec<String>,
    /// The most a token of this app may carry; a token also never exceeds
    /// the role of the user who granted it.
    pub scopes: Vec<Scope>,
    /// When the app was registered.
    pub created_at: DateTime<Utc>,
    /// When the app was last changed (or its secret rolled).
    pub updated_at: DateTime<Utc>,
    /// Last request made with one of its tokens (updated every few seconds).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Requests made with its tokens (updated every few seconds).
    pub usage_count: i64,
}

impl From<entity::oauth_app::Model> for OAuthApp {
    fn from(a: entity::oauth_app::Model) -> Self {
        Self {
            redirect_uris: apps::redirect_uris(&a),
            scopes: apps::scopes(&a).into_iter().collect(),
            id: ID(a.id),
            name: a.name,
            description: a.description,
            client_id: a.client_id,
            confidential: a.confidential,
            created_at: a.created_at,
            updated_at: a.updated_at,
            last_used_at: a.last_used_at,
            usage_count: a.usage_count,
        }
    }
}

#[ComplexObject]
impl OAuthApp {
    /// Requests made with the app's tokens per day and status class over the
    /// last `days` days (1–366), oldest first; days without requests are
    /// left out. Owner only.
    #[graphql(complexity = "cost::days(days, child_complexity)")]
    async fn usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30, desc = "How many days back, 1 to 366.")] days: u32,
    ) -> Result<Vec<ApiKeyUsageDay>> {
        let rows = apps::usage(&ctx.app().db, ctx.principal()?, &self.id, days).await?;
        Ok(usage_days(rows.into_iter().map(|r| (r.day, r.status_class, r.count))))
    }

    /// The users who authorized the app, newest first. Owner only.
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn authorizations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last authorization of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the authorizations just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Cursor: the id of the first authorization of the next page, to page back towards newer ones."
        )]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<OAuthAuthorization>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "oaz")?;
        let rows =
            authorizations::list_with_details(&ctx.app().db, ctx.principal()?, true, Some(&self.id), &page).await?;
        Ok(connection(rows, |a| a.authorization.id.clone(), OAuthAuthorization::from))
    }
}

/// A user's consent to an app: the app may act for the user, within these
/// scopes, until the authorization is revoked.
#[derive(SimpleObject)]
#[graphql(name = "OAuthAuthorization")]
pub struct OAuthAuthorization {
    /// The authorization's id (`oaz_…`).
    pub id: ID,
    /// The app the user authorized.
    pub app: OAuthApp,
    /// The user who gave the authorization.
    pub user: User,
    /// The scopes the user approved.
    pub scopes: Vec<Scope>,
    /// When the user first approved.
    pub created_at: DateTime<Utc>,
    /// When the user last approved (more scopes, or again).
    pub updated_at: DateTime<Utc>,
    /// Last request made with a token from this authorization (updated every few seconds).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<AuthorizationView> for OAuthAuthorization {
    fn from(v: AuthorizationView) -> Self {
        Self {
            scopes: scopes_of(&v.authorization.scopes).into_iter().collect(),
            id: ID(v.authorization.id),
            app: v.app.into(),
            user: v.user.into(),
            created_at: v.authorization.created_at,
            updated_at: v.authorization.updated_at,
            last_used_at: v.authorization.last_used_at,
        }
    }
}

#[derive(Default)]
pub struct OAuthQuery;

#[Object]
impl OAuthQuery {
    /// The workspace's OAuth apps, newest first (owner only).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn oauth_apps(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last app of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1 to 100: the apps just newer than `before` (or the oldest ones).")]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first app of the next page, to page back towards newer ones.")] before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
    ) -> Result<Conn<OAuthApp>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "app")?;
        let rows = apps::list(&ctx.app().db, ctx.principal()?, &page).await?;
        Ok(connection(rows, |a| a.id.clone(), OAuthApp::from))
    }

    /// One OAuth app (owner only); null when it does not exist or is not the caller's.
    async fn oauth_app(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id (`app_…`).")] id: ID,
    ) -> Result<Option<OAuthApp>> {
        Ok(found(apps::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(OAuthApp::from))
    }

    /// The apps the caller has authorized to act for them, newest first; an
    /// owner may ask for every member's (`everyMember: true`).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn authorized_apps(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last authorization of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the authorizations just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Cursor: the id of the first authorization of the next page, to page back towards newer ones."
        )]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
        #[graphql(default = false, desc = "Every member's authorizations instead of the caller's (owner only).")]
        every_member: bool,
    ) -> Result<Conn<OAuthAuthorization>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "oaz")?;
        let rows =
            authorizations::list_with_details(&ctx.app().db, ctx.principal()?, every_member, None, &page).await?;
        Ok(connection(rows, |a| a.authorization.id.clone(), OAuthAuthorization::from))
    }
}

/// Registers an app.
#[derive(InputObject)]
#[graphql(name = "CreateOAuthAppInput")]
pub struct CreateOAuthAppInput {
    /// 1 to 100 characters, shown on the consent page.
    pub name: String,
    /// At most 500 characters.
    pub description: Option<String>,
    /// 1 to 10 exact redirect URIs: https, or http on 127.0.0.1, [::1] or localhost.
    pub redirect_uris: Vec<String>,
    /// At least one: the most the app's tokens may carry.
    pub scopes: Vec<Scope>,
    /// `true` (default) for a server-side app with a client secret; `false`
    /// for a public app (native or single-page) that uses PKCE instead.
    #[graphql(default = true)]
    pub confidential: bool,
    /// Makes a retry safe: the same key with the same input within 24 hours
    /// returns the first call's object (and secret) instead of creating
    /// another; with a different input it is refused (`IDEMPOTENCY_CONFLICT`).
    /// 1 to 255 visible ASCII characters, unique per workspace (per user
    /// when signed in with a browser session).
    pub idempotency_key: Option<String>,
}

/// The app, with its client secret shown this once.
#[derive(SimpleObject)]
#[graphql(name = "CreateOAuthAppPayload")]
pub struct CreateOAuthAppPayload {
    /// The new app; null when nothing was created.
    pub oauth_app: Option<OAuthApp>,
    /// The client secret (`secret_…`) of a confidential app. Store it now:
    /// it cannot be read again (roll it to get a new one).
    pub secret: Option<String>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Changes an app. A field left out stays as it is.
#[derive(InputObject)]
#[graphql(name = "UpdateOAuthAppInput")]
pub struct UpdateOAuthAppInput {
    /// The app (`app_…`).
    pub id: ID,
    /// 1 to 100 characters; cannot be null.
    pub name: MaybeUndefined<String>,
    /// At most 500 characters (`""` empties it); cannot be null.
    pub description: MaybeUndefined<String>,
    /// 1 to 10 exact redirect URIs; cannot be null.
    pub redirect_uris: MaybeUndefined<Vec<String>>,
    /// At least one; narrower scopes apply to tokens already issued at once. Cannot be null.
    pub scopes: MaybeUndefined<Vec<Scope>>,
}

/// The app after an update.
#[derive(SimpleObject)]
#[graphql(name = "UpdateOAuthAppPayload")]
pub struct UpdateOAuthAppPayload {
    /// The app as it is now; null when nothing changed.
    pub oauth_app: Option<OAuthApp>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Names one app.
#[derive(InputObject)]
#[graphql(name = "DeleteOAuthAppInput")]
pub struct DeleteOAuthAppInput {
    /// The app (`app_…`).
    pub id: ID,
}

/// What a deletion removed.
#[derive(SimpleObject)]
#[graphql(name = "DeleteOAuthAppPayload")]
pub struct DeleteOAuthAppPayload {
    /// The deleted app's id; null when nothing was deleted.
    pub deleted_id: Option<ID>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Names one confidential app.
#[derive(InputObject)]
#[graphql(name = "RollOAuthAppSecretInput")]
pub struct RollOAuthAppSecretInput {
    /// The app (`app_…`).
    pub id: ID,
}

/// The app with its new client secret, shown this once.
#[derive(SimpleObject)]
#[graphql(name = "RollOAuthAppSecretPayload")]
pub struct RollOAuthAppSecretPayload {
    /// The app; null when nothing changed.
    pub oauth_app: Option<OAuthApp>,
    /// The new client secret (`secret_…`), shown this once; the old one
    /// stopped working. Tokens already issued keep working.
    pub secret: Option<String>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Withdraws an authorization.
#[derive(InputObject)]
pub struct RevokeAppAuthorizationInput {
    /// The app (`app_…`) to withdraw the authorization from.
    pub app_id: ID,
    /// Whose authorization (`usr_…`): the caller's own when left out;
    /// another member's only for an owner.
    pub user_id: Option<ID>,
}

/// What a withdrawal removed.
#[derive(SimpleObject)]
pub struct RevokeAppAuthorizationPayload {
    /// The withdrawn authorization's id (`oaz_…`); null when nothing changed.
    pub deleted_id: Option<ID>,
    /// Problems with the input; empty on success.
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct OAuthMutation;

#[Object]
impl OAuthMutation {
    /// Registers an OAuth app (owner only). Emits `oauth_app.created`.
    #[graphql(name = "createOAuthApp")]
    async fn create_oauth_app(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app to register.")] input: CreateOAuthAppInput,
    ) -> Result<CreateOAuthAppPayload> {
        let key = input.idempotency_key.clone();
        let new = apps::NewApp {
            name: input.name,
            description: input.description,
            redirect_uris: input.redirect_uris,
            scopes: input.scopes,
            confidential: input.confidential,
        };
        Ok(
            match user_errors(
                idempotency::once(ctx, key.as_deref(), apps::create(ctx.app(), ctx.principal()?, new)).await,
            )? {
                Ok((app, secret)) => CreateOAuthAppPayload { oauth_app: Some(app.into()), secret, user_errors: vec![] },
                Err(problems) => CreateOAuthAppPayload { oauth_app: None, secret: None, user_errors: problems },
            },
        )
    }

    /// Changes an app's name, description, redirect URIs or scopes (owner
    /// only). Emits `oauth_app.updated`.
    #[graphql(name = "updateOAuthApp")]
    async fn update_oauth_app(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app and the fields to change.")] input: UpdateOAuthAppInput,
    ) -> Result<UpdateOAuthAppPayload> {
        let mut not_null = NotNull::default();
        let changes = apps::AppChanges {
            name: not_null.take("name", input.name),
            redirect_uris: not_null.take("redirectUris", input.redirect_uris),
            scopes: not_null.take("scopes", input.scopes),
            description: not_null.take("description", input.description),
        };
        if let Err(problems) = not_null.check() {
            return Ok(UpdateOAuthAppPayload { oauth_app: None, user_errors: problems });
        }
        Ok(match user_errors(apps::update(ctx.app(), ctx.principal()?, &input.id, changes).await)? {
            Ok(app) => UpdateOAuthAppPayload { oauth_app: Some(app.into()), user_errors: vec![] },
            Err(problems) => UpdateOAuthAppPayload { oauth_app: None, user_errors: problems },
        })
    }

    /// Deletes an app; every token it holds stops working at once (owner
    /// only). Emits `oauth_app.deleted`.
    #[graphql(name = "deleteOAuthApp")]
    async fn delete_oauth_app(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app to delete.")] input: DeleteOAuthAppInput,
    ) -> Result<DeleteOAuthAppPayload> {
        Ok(match user_errors(apps::delete(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok(()) => DeleteOAuthAppPayload { deleted_id: Some(input.id), user_errors: vec![] },
            Err(problems) => DeleteOAuthAppPayload { deleted_id: None, user_errors: problems },
        })
    }

    /// Issues a new client secret for a confidential app; the old one stops
    /// working at once (owner only). Emits `oauth_app.updated`.
    #[graphql(name = "rollOAuthAppSecret")]
    async fn roll_oauth_app_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app whose secret to replace.")] input: RollOAuthAppSecretInput,
    ) -> Result<RollOAuthAppSecretPayload> {
        Ok(match user_errors(apps::roll_secret(ctx.app(), ctx.principal()?, &input.id).await)? {
            Ok((app, secret)) => {
                RollOAuthAppSecretPayload { oauth_app: Some(app.into()), secret: Some(secret), user_errors: vec![] }
            }
            Err(problems) => RollOAuthAppSecretPayload { oauth_app: None, secret: None, user_errors: problems },
        })
    }

    /// Withdraws a user's authorization of an app and revokes every token
    /// the app got through it, at once. Anyone may withdraw their own;
    /// owners anyone's.
    async fn revoke_app_authorization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The app, and whose authorization.")] input: RevokeAppAuthorizationInput,
    ) -> Result<RevokeAppAuthorizationPayload> {
        let user = input.user_id.as_ref().map(|u| u.as_str());
        let result = authorizations::revoke(ctx.app(), ctx.principal()?, &input.app_id, user).await;
        Ok(match user_errors(result)? {
            Ok(id) => RevokeAppAuthorizationPayload { deleted_id: Some(ID(id)), user_errors: vec![] },
            Err(problems) => {
                RevokeAppAuthorizationPayload { deleted_id: None, user_errors: found_at(problems, "appId") }
            }
        })
    }
}
