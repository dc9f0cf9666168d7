//! The authorization endpoint's rules (RFC 6749 §4.1.1, RFC 7636): which
//! requests are refused on an error page (an unknown client or a redirect
//! URI that is not registered: never redirect there), which go back to the
//! client with an `error`, when the consent page shows, and the single-use
//! code an approval issues.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use entity::{membership, oauth_app, oauth_authorization, oauth_grant, user, workspace};

use super::{apps, parse_scope_param, role_scopes, scopes_json, scopes_of};
use crate::auth::{Role, Scope};
use crate::crypto::random_token;
use crate::error::Result;
use crate::ids::new_id;
use crate::state::AppState;

/// How long an authorization code may be exchanged (RFC 6749 §4.1.2: short).
pub const CODE_LIFETIME_SECONDS: i64 = 60;

/// The query of `GET /oauth/authorize`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// Why an authorization request cannot go on.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Shown on an error page; the browser is not sent anywhere, because the
    /// client or its redirect URI cannot be trusted.
    Page(String),
    /// The browser goes back to the client with `error` (and `state`).
    Redirect(String),
}

/// A request that passed every check that does not depend on the user.
#[derive(Debug, Clone)]
pub struct Checked {
    pub app: oauth_app::Model,
    /// Where the answer goes.
    pub redirect_to: String,
    /// The redirect URI as the request gave it (the token request must repeat it).
    pub redirect_uri_given: Option<String>,
    pub scopes: BTreeSet<Scope>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
}

/// What the signed-in user is asked.
pub enum Decision {
    /// The consent page, with what it shows.
    Ask(ConsentView),
    /// Consent was given before for these scopes: back to the client with a code.
    Redirect(String),
}

/// What the consent page shows.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentView {
    pub app_name: String,
    pub app_description: String,
    pub workspace_name: String,
    pub user_email: String,
    /// `(scope, what it lets the app do)`.
    pub scopes: Vec<(String, String)>,
    pub redirect_uri: String,
}

/// What each scope lets an app do, in words for the consent page.
pub fn scope_words(s: Scope) -> &'static str {
    match s {
        Scope::Read => "Read everything in the workspace: records, events, webhooks and their delivery logs",
        Scope::Write => "Create, change and delete data endpoints, records, webhooks and jobs",
        Scope::Admin => "Manage members, API keys and OAuth apps (owners only)",
    }
}

/// `uri` with `pairs` added to its query.
pub fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()));
            url.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

fn error_redirect(to: &str, error: &str, description: &str, state: Option<&str>) -> Refusal {
    Refusal::Redirect(with_query(
        to,
        &[("error", error), ("error_description", description), ("state", state.unwrap_or(""))],
    ))
}

/// Whether a PKCE challenge has the form RFC 7636 §4.2 gives an S256
/// challenge (43 base64url characters; 43 to 128 unreserved characters
/// for a verifier).
fn well_formed_challenge(c: &str) -> bool {
    (43..=128).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Checks everything that does not depend on who is signed in.
pub async fn check(st: &AppState, q: &AuthorizeParams) -> Result<std::result::Result<Checked, Refusal>> {
    let Some(client_id) = q.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return Ok(Err(Refusal::Page("The request names no client (client_id is missing).".into())));
    };
    let Some(app) = apps::by_client_id(&st.db, client_id).await? else {
        return Ok(Err(Refusal::Page("No app is registered with this client id.".into())));
    };
    let registered = apps::redirect_uris(&app);
    let redirect_to = match q.redirect_uri.as_deref() {
        // Exact match only (no prefix or pattern matching).
        Some(uri) if registered.iter().any(|r| r == uri) => uri.to_string(),
        Some(_) => {
            return Ok(Err(Refusal::Page(
                "The redirect URI is not one the app registered, so you are not sent there.".into(),
            )))
        }
        None if registered.len() == 1 => registered[0].clone(),
        None => {
            return Ok(Err(Refusal::Page(
                "The app registered several redirect URIs and the request names none.".into(),
            )))
        }
    };
    let state = q.state.clone();
    let fail =
        |error: &str, description: &str| Ok(Err(error_redirect(&redirect_to, error, description, state.as_deref())));
    if q.response_type.as_deref() != Some("code") {
        return fail("unsupported_response_type", "Only response_type=code is supported");
    }
    let allowed = apps::scopes(&app);
    let scopes = match q.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => allowed.clone(),
        Some(s) => match parse_scope_param(s) {
            Ok(set) if !set.is_empty() => set,
            _ => return fail("invalid_scope", "Unknown scope; use read, write or admin"),
        },
    };
    if !scopes.is_subset(&allowed) {
        return fail("invalid_scope", "The request asks for a scope the app is not registered for");
    }
    let code_challenge = match (q.code_challenge.as_deref(), q.code_challenge_method.as_deref()) {
        (None, None) if app.confidential => None,
        (None, _) => return fail("invalid_request", "PKCE is required for public apps: send code_challenge (S256)"),
        (Some(_), Some("S256")) => q.code_challenge.clone(),
        (Some(_), None | Some("plain")) => {
            return fail("invalid_request", "The plain PKCE method is not accepted; use code_challenge_method=S256")
        }
        (Some(_), Some(_)) => return fail("invalid_request", "Unknown code_challenge_method; use S256"),
    };
    if code_challenge.as_deref().is_some_and(|c| !well_formed_challenge(c)) {
        return fail("invalid_request", "code_challenge is not a base64url S256 challenge");
    }
    Ok(Ok(Checked { app, redirect_to, redirect_uri_given: q.redirect_uri.clone(), scopes, state, code_challenge }))
}

/// The user's role in the app's workspace, or the refusal that sends the
/// browser back (not a member; asking for more than the role may grant).
async fn user_role(st: &AppState, c: &Checked, user_id: &str) -> Result<std::result::Result<Role, Refusal>> {
    let role = membership::Entity::find()
        .filter(membership::Column::WorkspaceId.eq(&c.app.workspace_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(&st.db)
        .await?
        .and_then(|m| Role::parse(&m.role));
    let state = c.state.as_deref();
    let Some(role) = role else {
        return Ok(Err(error_redirect(
            &c.redirect_to,
            "access_denied",
            "You are not a member of the workspace this app belongs to",
            state,
        )));
    };
    if !c.scopes.is_subset(&role_scopes(role)) {
        return Ok(Err(error_redirect(
            &c.redirect_to,
            "invalid_scope",
            "Your role cannot grant the admin scope; ask for read or write",
            state,
        )));
    }
    Ok(Ok(role))
}

/// What the signed-in user sees: the consent page, or a code at once when
/// an earlier consent covers every scope asked.
pub async fn decide(st: &AppState, c: &Checked, user_id: &str) -> Result<std::result::Result<Decision, Refusal>> {
    if let Err(r) = user_role(st, c, user_id).await? {
        return Ok(Err(r));
    }
    let remembered = oauth_authorization::Entity::find()
        .filter(oauth_authorization::Column::AppId.eq(&c.app.id))
        .filter(oauth_authorization::Column::UserId.eq(user_id))
        .one(&st.db)
        .await?;
    if remembered.is_some_and(|a| c.scopes.is_subset(&scopes_of(&a.scopes))) {
        return Ok(Ok(Decision::Redirect(issue_code(st, c, user_id).await?)));
    }
    let workspace_name =
        workspace::Entity::find_by_id(&c.app.workspace_id).one(&st.db).await?.map(|w| w.name).unwrap_or_default();
    let user_email = user::Entity::find_by_id(user_id).one(&st.db).await?.map(|u| u.email).unwrap_or_default();
    Ok(Ok(Decision::Ask(ConsentView {
        app_name: c.app.name.clone(),
        app_description: c.app.description.clone(),
        workspace_name,
        user_email,
        scopes: c.scopes.iter().map(|s| (s.as_str().to_string(), scope_words(*s).to_string())).collect(),
        redirect_uri: c.redirect_to.clone(),
    })))
}

/// The user's answer on the consent page: where the browser goes next.
pub async fn answer(st: &AppState, c: &Checked, user_id: &str, approve: bool) -> Result<String> {
    if let Err(Refusal::Redirect(to) | Refusal::Page(to)) = user_role(st, c, user_id).await? {
        return Ok(to);
    }
    if !approve {
        let Refusal::Redirect(to) =
            error_redirect(&c.redirect_to, "access_denied", "The user denied the request", c.state.as_deref())
        else {
            unreachable!("error_redirect always redirects")
        };
        return Ok(to);
    }
    remember_consent(st, c, user_id).await?;
    issue_code(st, c, user_id).await
}

/// Records (or widens) the user's consent to the app.
async fn remember_consent(st: &AppState, c: &Checked, user_id: &str) -> Result<()> {
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let existing = oauth_authorization::Entity::find()
        .filter(oauth_authorization::Column::AppId.eq(&c.app.id))
        .filter(oauth_authorization::Column::UserId.eq(user_id))
        .one(&txn)
        .await?;
    match existing {
        Some(a) => {
            let mut all = scopes_of(&a.scopes);
            all.extend(c.scopes.iter().copied());
            let mut am: oauth_authorization::ActiveModel = a.into();
            am.scopes = Set(scopes_json(&all));
            am.updated_at = Set(now);
            am.update(&txn).await?;
        }
        None => {
            oauth_authorization::ActiveModel {
                id: Set(new_id("oaz")),
                workspace_id: Set(c.app.workspace_id.clone()),
                app_id: Set(c.app.id.clone()),
                user_id: Set(user_id.to_string()),
                scopes: Set(scopes_json(&c.scopes)),
                last_used_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// A new grant holding a single-use code; returns the redirect carrying it.
async fn issue_code(st: &AppState, c: &Checked, user_id: &str) -> Result<String> {
    let code = format!("ocd_{}", random_token(32));
    let now = Utc::now();
    let authorization = oauth_authorization::Entity::find()
        .filter(oauth_authorization::Column::AppId.eq(&c.app.id))
        .filter(oauth_authorization::Column::UserId.eq(user_id))
        .one(&st.db)
        .await?;
    oauth_grant::ActiveModel {
        id: Set(new_id("ogr")),
        workspace_id: Set(c.app.workspace_id.clone()),
        app_id: Set(c.app.id.clone()),
        user_id: Set(user_id.to_string()),
        authorization_id: Set(authorization.map(|a| a.id)),
        scopes: Set(scopes_json(&c.scopes)),
        code_hash: Set(Some(st.secret.hash_token(&code))),
        code_challenge: Set(c.code_challenge.clone()),
        redirect_uri: Set(c.redirect_uri_given.clone()),
        code_expires_at: Set(Some(now + Duration::seconds(CODE_LIFETIME_SECONDS))),
        code_used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
    }
    .insert(&st.writer)
    .await?;
    Ok(with_query(&c.redirect_to, &[("code", &code), ("state", c.state.as_deref().unwrap_or(""))]))
}
