//! OAuth apps: registered, listed, changed, deleted and given a new secret
//! by the workspace's owners. A confidential app's `secret_…` is returned
//! once and stored as a keyed hash; deleting an app revokes every token it
//! holds (the rows go with it).

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde_json::json;

use entity::{oauth_app, oauth_app_usage};

use super::{scopes_json, scopes_of};
use crate::auth::{Principal, Scope};
use crate::crypto::random_token;
use crate::error::{Error, FieldError, Result, UserErrorCode};
use crate::events::{self, EventType};
use crate::ids::{has_prefix, new_id};
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::services::{bounded_text, required_text};
use crate::state::AppState;

/// Redirect URIs one app may register.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest redirect URI accepted.
const MAX_URI_LEN: usize = 2000;

pub struct NewApp {
    pub name: String,
    pub description: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<Scope>,
    pub confidential: bool,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Default)]
pub struct AppChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<Scope>>,
}

/// The redirect URIs stored on an app.
pub fn redirect_uris(app: &oauth_app::Model) -> Vec<String> {
    app.redirect_uris
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The scopes an app may ask for.
pub fn scopes(app: &oauth_app::Model) -> BTreeSet<Scope> {
    scopes_of(&app.scopes)
}

/// Checks one redirect URI: absolute, no fragment, `https`, or `http` on a
/// loopback host for native apps (RFC 8252 §7.3).
fn check_redirect_uri(uri: &str) -> std::result::Result<(), String> {
    if uri.len() > MAX_URI_LEN {
        return Err(format!("Must be at most {MAX_URI_LEN} characters"));
    }
    let url = url::Url::parse(uri).map_err(|e| format!("'{uri}' is not an absolute URL ({e})"))?;
    if url.fragment().is_some() {
        return Err(format!("'{uri}' must not have a fragment (RFC 6749 §3.1.2)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("'{uri}' must not carry credentials"));
    }
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("'{uri}' must use https (http only on 127.0.0.1, [::1] or localhost)")),
    }
}

fn redirect_uris_json(uris: &[String]) -> Result<serde_json::Value> {
    if uris.is_empty() {
        return Err(Error::invalid_field("redirectUris", "At least one redirect URI is required"));
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(Error::field_code(
            "redirectUris",
            UserErrorCode::LimitExceeded,
            format!("At most {MAX_REDIRECT_URIS} redirect URIs"),
        ));
    }
    let mut details = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, uri) in uris.iter().enumerate() {
        if let Err(e) = check_redirect_uri(uri) {
            details.push(FieldError::new(format!("redirectUris.{i}"), e));
        } else if !seen.insert(uri.as_str()) {
            details.push(FieldError::new(format!("redirectUris.{i}"), format!("'{uri}' is listed twice")));
        }
    }
    if !details.is_empty() {
        return Err(Error::validation(details));
    }
    Ok(json!(uris))
}

fn app_scopes_json(list: &[Scope]) -> Result<serde_json::Value> {
    let set: BTreeSet<Scope> = list.iter().copied().collect();
    if set.is_empty() {
        return Err(Error::invalid_field("scopes", "At least one scope is required"));
    }
    Ok(scopes_json(&set))
}

fn new_secret() -> String {
    format!("secret_{}", random_token(32))
}

fn event_data(a: &oauth_app::Model) -> serde_json::Value {
    json!({
        "id": a.id, "name": a.name, "client_id": a.client_id, "confidential": a.confidential,
        "redirect_uris": a.redirect_uris, "scopes": a.scopes,
    })
}

/// Registers an app (owner only); returns it with its client secret when
/// it is confidential. Emits `oauth_app.created`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id))]
pub async fn create(st: &AppState, p: &Principal, input: NewApp) -> Result<(oauth_app::Model, Option<String>)> {
    p.require(Scope::Write)?.require_owner()?;
    // Every field is checked, so one answer names every problem.
    let mut details = Vec::new();
    let name = gather(&mut details, required_text("name", &input.name, 100));
    let description =
        gather(&mut details, bounded_text("description", input.description.as_deref().unwrap_or(""), 500));
    let uris = gather(&mut details, redirect_uris_json(&input.redirect_uris));
    let app_scopes = gather(&mut details, app_scopes_json(&input.scopes));
    let (Some(name), Some(description), Some(uris), Some(app_scopes)) = (name, description, uris, app_scopes) else {
        return Err(Error::validation(details));
    };
    let secret = input.confidential.then(new_secret);
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let app = oauth_app::ActiveModel {
        id: Set(new_id("app")),
        workspace_id: Set(p.workspace_id.clone()),
        created_by: Set(p.user_id.clone()),
        name: Set(name),
        description: Set(description),
        client_id: Set(format!("client_{}", random_token(16))),
        secret_hash: Set(secret.as_deref().map(|s| st.secret.hash_token(s))),
        confidential: Set(input.confidential),
        redirect_uris: Set(uris),
        scopes: Set(app_scopes),
        usage_count: Set(0),
        last_used_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let evt =
        events::record(&txn, &p.workspace_id, EventType::OAuthAppCreated, p.actor(), Some(&app.id), event_data(&app))
            .await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok((app, secret))
}

/// The value of a check, or `None` with its problems added to `details`.
fn gather<T>(details: &mut Vec<FieldError>, r: Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(Error::InvalidRequest { details: d, message }) if d.is_empty() => {
            details.push(FieldError::new("input", message));
            None
        }
        Err(Error::InvalidRequest { details: d, .. }) => {
            details.extend(d);
            None
        }
        Err(e) => {
            details.push(FieldError::new("input", e.to_string()));
            None
        }
    }
}

/// One page of the workspace's apps, newest first (owner only).
pub async fn list(db: &impl ConnectionTrait, p: &Principal, page: &PageArgs) -> Result<Page<oauth_app::Model>> {
    p.require(Scope::Read)?.require_owner()?;
    let q = oauth_app::Entity::find().filter(oauth_app::Column::WorkspaceId.eq(&p.workspace_id));
    fetch_page(db, q, oauth_app::Column::Id, page).await
}

/// One app of the caller's workspace (owner only); NOT_FOUND for any other.
pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<oauth_app::Model> {
    p.require(Scope::Read)?.require_owner()?;
    find(db, &p.workspace_id, id).await
}

async fn find(db: &impl ConnectionTrait, workspace_id: &str, id: &str) -> Result<oauth_app::Model> {
    if !has_prefix(id, "app") {
        return Err(Error::NotFound("OAuth app"));
    }
    oauth_app::Entity::find_by_id(id)
        .filter(oauth_app::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("OAuth app"))
}

/// The app with this public client id, in any workspace (the protocol
/// endpoints start from it).
pub async fn by_client_id(db: &impl ConnectionTrait, client_id: &str) -> Result<Option<oauth_app::Model>> {
    if client_id.is_empty() || client_id.len() > 100 {
        return Ok(None);
    }
    Ok(oauth_app::Entity::find().filter(oauth_app::Column::ClientId.eq(client_id)).one(db).await?)
}

/// Changes an app's name, description, redirect URIs or scopes (owner
/// only). Narrower scopes apply to tokens already issued at once. Emits
/// `oauth_app.updated`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, app = %id))]
pub async fn update(st: &AppState, p: &Principal, id: &str, changes: AppChanges) -> Result<oauth_app::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let current = find(&txn, &p.workspace_id, id).await?;
    let mut am = current.into_active_model();
    if let Some(name) = changes.name {
        am.name = Set(required_text("name", &name, 100)?);
    }
    if let Some(d) = changes.description {
        am.description = Set(bounded_text("description", &d, 500)?);
    }
    if let Some(uris) = changes.redirect_uris {
        am.redirect_uris = Set(redirect_uris_json(&uris)?);
    }
    if let Some(s) = changes.scopes {
        am.scopes = Set(app_scopes_json(&s)?);
    }
    am.updated_at = Set(Utc::now());
    let app = am.update(&txn).await?;
    let evt = events::record(&txn, &p.workspace_id, EventType::OAuthAppUpdated, p.actor(), Some(id), event_data(&app))
        .await?;
    txn.commit().await?;
    crate::auth::invalidate(st, &p.workspace_id);
    st.publish(vec![evt]);
    Ok(app)
}

/// Deletes an app with its authorizations, grants and tokens; every token
/// stops working at once (owner only). Emits `oauth_app.deleted`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, app = %id))]
pub async fn delete(st: &AppState, p: &Principal, id: &str) -> Result<()> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let app = find(&txn, &p.workspace_id, id).await?;
    super::tokens::delete_app_rows(&txn, id).await?;
    oauth_app::Entity::delete_by_id(id).exec(&txn).await?;
    let evt = events::record(&txn, &p.workspace_id, EventType::OAuthAppDeleted, p.actor(), Some(id), event_data(&app))
        .await?;
    txn.commit().await?;
    crate::auth::invalidate(st, &p.workspace_id);
    st.publish(vec![evt]);
    Ok(())
}

/// Issues a new client secret; the old one stops working at once (owner
/// only; a public app has no secret to roll). Tokens already issued keep
/// working. Emits `oauth_app.updated`.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, app = %id))]
pub async fn roll_secret(st: &AppState, p: &Principal, id: &str) -> Result<(oauth_app::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let current = find(&txn, &p.workspace_id, id).await?;
    if !current.confidential {
        return Err(Error::invalid_field("id", "A public app has no client secret; it authenticates with PKCE"));
    }
    let secret = new_secret();
    let mut am = current.into_active_model();
    am.secret_hash = Set(Some(st.secret.hash_token(&secret)));
    am.updated_at = Set(Utc::now());
    let app = am.update(&txn).await?;
    let mut data = event_data(&app);
    data["secret_rolled"] = json!(true);
    let evt = events::record(&txn, &p.workspace_id, EventType::OAuthAppUpdated, p.actor(), Some(id), data).await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok((app, secret))
}

/// Daily usage rows of an app, oldest day first, for the last `days` days.
pub async fn usage(
    db: &impl ConnectionTrait,
    p: &Principal,
    id: &str,
    days: u32,
) -> Result<Vec<oauth_app_usage::Model>> {
    if !(1..=366).contains(&days) {
        return Err(Error::invalid_field("days", "Must be between 1 and 366"));
    }
    let app = get(db, p, id).await?;
    let since = (Utc::now() - Duration::days(days as i64 - 1)).format("%Y-%m-%d").to_string();
    Ok(oauth_app_usage::Entity::find()
        .filter(oauth_app_usage::Column::AppId.eq(app.id))
        .filter(oauth_app_usage::Column::Day.gte(since))
        .order_by_asc(oauth_app_usage::Column::Day)
        .order_by_asc(oauth_app_usage::Column::StatusClass)
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_need_https_except_on_loopback() {
        assert!(check_redirect_uri("https://app.example/callback").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:8123/cb").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
        assert!(check_redirect_uri("http://[::1]:9/cb").is_ok());
        assert!(check_redirect_uri("http://app.example/cb").is_err());
        assert!(check_redirect_uri("https://app.example/cb#frag").is_err());
        assert!(check_redirect_uri("/relative").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
        assert!(check_redirect_uri("https://user:pw@app.example/cb").is_err());
    }
}
