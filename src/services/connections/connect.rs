//! Connecting over OAuth (seed 000's three steps): [`start`] gives the
//! provider's authorize URL (made with the `oauth2` crate: `state` bound to
//! the user's session, PKCE where the provider supports it, the catalog's
//! scopes); [`finish`] takes the callback, exchanges the code through the
//! guarded outgoing client, reads the account name from the provider's "who
//! am I" call and stores the connection with its tokens encrypted.

use chrono::{Duration, Utc};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope as OScope, TokenResponse, TokenUrl,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde_json::json;

use entity::{connection, connection_attempt};

use super::catalog::{self, AuthKind, Provider};
use super::{event_data, only_one, settings, ConnectionStatus};
use crate::auth::{Credential, Principal, Scope};
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::ids::new_id;
use crate::state::AppState;

/// How long a started connect may take to come back.
const ATTEMPT_MINUTES: i64 = 10;

/// Where the provider sends the browser back.
pub fn callback_url(st: &AppState, provider: &str) -> String {
    format!("{}/connect/{provider}/callback", st.config.public_url().trim_end_matches('/'))
}

fn oauth_provider(key: &str) -> Result<&'static Provider> {
    let p = catalog::get(key).ok_or_else(|| Error::invalid_field("provider", format!("Unknown provider '{key}'")))?;
    if p.auth != AuthKind::Oauth2 {
        return Err(Error::invalid_field(
            "provider",
            format!("{} connects with an API key or a password, not over OAuth", p.name),
        ));
    }
    Ok(p)
}

/// The `oauth2` crate's client with its authorize and token URLs set.
pub(super) type ProviderClient = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

/// The OAuth client of a provider in a workspace.
pub(super) async fn client(
    st: &AppState,
    workspace_id: &str,
    provider: &Provider,
) -> Result<(ProviderClient, settings::Endpoints)> {
    let setting = settings::find(&st.db, workspace_id, &provider.key).await?;
    let (Some(id), Some(secret)) = (
        setting.as_ref().and_then(|s| s.client_id.clone()),
        setting.as_ref().and_then(|s| s.client_secret_enc.as_deref()).map(|s| st.secret.decrypt(s)).transpose()?,
    ) else {
        return Err(Error::invalid_field(
            "provider",
            format!("Set the {} OAuth client id and secret for this workspace first", provider.name),
        ));
    };
    let urls = settings::endpoints(provider, setting.as_ref())?;
    let bad = |e: oauth2::url::ParseError| {
        Error::invalid_field("provider", format!("A {} URL is invalid: {e}", provider.name))
    };
    let mut c = BasicClient::new(ClientId::new(id))
        .set_client_secret(ClientSecret::new(secret))
        .set_auth_uri(AuthUrl::new(urls.authorize_url.clone().unwrap_or_default()).map_err(bad)?)
        .set_token_uri(TokenUrl::new(urls.token_url.clone().unwrap_or_default()).map_err(bad)?)
        .set_redirect_uri(RedirectUrl::new(callback_url(st, &provider.key)).map_err(bad)?);
    if provider.client_id_param.is_some() {
        c = c.set_auth_type(oauth2::AuthType::RequestBody);
    }
    Ok((c, urls))
}

/// The client id under the provider's own name for it, when it has one
/// (added to authorize URLs and token requests beside `client_id`).
pub(super) fn renamed_client_id(provider: &Provider, c: &ProviderClient) -> Option<(String, String)> {
    provider.client_id_param.as_ref().map(|name| (name.clone(), c.client_id().as_str().to_string()))
}

/// Starts a connect for the signed-in user (owner only, in a browser
/// session: the callback must come back to the same session). Returns the
/// provider's authorize URL.
#[tracing::instrument(skip_all, fields(workspace = %p.workspace_id, provider = %provider_key))]
pub async fn start(st: &AppState, p: &Principal, provider_key: &str) -> Result<String> {
    p.require(Scope::Write)?.require_owner()?;
    let Credential::Session { id: session_id } = &p.credential else {
        return Err(Error::Forbidden(
            "Connecting a service needs a browser session (the provider sends the browser back)".into(),
        ));
    };
    let provider = oauth_provider(provider_key)?;
    let existing = connection::Entity::find()
        .filter(connection::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(connection::Column::Provider.eq(provider_key))
        .one(&st.db)
        .await?;
    if existing.is_some_and(|c| ConnectionStatus::parse(&c.status) == ConnectionStatus::Connected) {
        return Err(only_one(provider_key));
    }
    let (c, _) = client(st, &p.workspace_id, provider).await?;
    let mut req = c.authorize_url(CsrfToken::new_random);
    if !provider.scopes.is_empty() {
        // Providers that join scopes with a comma get them as one value.
        req = match provider.scope_separator.as_str() {
            " " => req.add_scopes(provider.scopes.iter().map(|s| OScope::new(s.clone()))),
            sep => req.add_scope(OScope::new(provider.scopes.join(sep))),
        };
    }
    for (k, v) in &provider.authorize_params {
        req = req.add_extra_param(k.clone(), v.clone());
    }
    if let Some((k, v)) = renamed_client_id(provider, &c) {
        req = req.add_extra_param(k, v);
    }
    let verifier = match provider.pkce {
        true => {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            req = req.set_pkce_challenge(challenge);
            Some(verifier)
        }
        false => None,
    };
    let (url, state) = req.url();
    let now = Utc::now();
    connection_attempt::ActiveModel {
        id: Set(new_id("cat")),
        workspace_id: Set(p.workspace_id.clone()),
        user_id: Set(p.user_id.clone()),
        session_id: Set(session_id.clone()),
        provider: Set(provider_key.to_string()),
        state_hash: Set(st.secret.hash_token(state.secret())),
        verifier_enc: Set(verifier.map(|v| st.secret.encrypt(v.secret())).transpose()?),
        expires_at: Set(now + Duration::minutes(ATTEMPT_MINUTES)),
        created_at: Set(now),
    }
    .insert(&st.writer)
    .await?;
    Ok(url.to_string())
}

/// What the provider sent back to `GET /connect/{provider}/callback`.
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Finishes a connect: the callback must carry the `state` of an attempt
/// this same session started (single use, ten minutes). On any failure
/// nothing is stored. Returns the connection.
#[tracing::instrument(skip_all, fields(provider = %provider_key))]
pub async fn finish(st: &AppState, session_id: &str, provider_key: &str, cb: Callback) -> Result<connection::Model> {
    let provider = oauth_provider(provider_key)?;
    let state = cb
        .state
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .ok_or_else(|| Error::invalid("The provider sent no state back"))?;
    let txn = st.writer.begin().await?;
    let attempt = connection_attempt::Entity::find()
        .filter(connection_attempt::Column::StateHash.eq(st.secret.hash_token(&state)))
        .filter(connection_attempt::Column::Provider.eq(provider_key))
        .one(&txn)
        .await?
        .filter(|a| crate::crypto::ct_eq(&a.session_id, session_id))
        .ok_or_else(|| Error::invalid("This connect link is not from your session or was already used; start again"))?;
    // Single use, whatever happens next.
    connection_attempt::Entity::delete_by_id(&attempt.id).exec(&txn).await?;
    txn.commit().await?;
    if attempt.expires_at <= Utc::now() {
        return Err(Error::invalid("The connect took longer than ten minutes; start again"));
    }
    if let Some(e) = cb.error {
        let why = cb.error_description.unwrap_or_default();
        return Err(Error::invalid(format!("{} refused the connection: {e} {why}", provider.name).trim().to_string()));
    }
    let code = cb.code.filter(|c| !c.is_empty()).ok_or_else(|| Error::invalid("The provider sent no code back"))?;
    let (c, urls) = client(st, &attempt.workspace_id, provider).await?;
    let mut exchange = c.exchange_code(AuthorizationCode::new(code));
    if let Some((k, v)) = renamed_client_id(provider, &c) {
        exchange = exchange.add_extra_param(k, v);
    }
    if let Some(v) = &attempt.verifier_enc {
        exchange = exchange.set_pkce_verifier(PkceCodeVerifier::new(st.secret.decrypt(v)?));
    }
    let http = st.http.clone();
    let send = move |req: oauth2::HttpRequest| {
        let http = http.clone();
        async move { http.exchange(req).await }
    };
    let tokens = exchange.request_async(&send).await.map_err(|e| {
        let detail = match &e {
            oauth2::RequestTokenError::ServerResponse(r) => r.error().to_string(),
            oauth2::RequestTokenError::Request(e) => e.to_string(),
            oauth2::RequestTokenError::Parse(e, _) => format!("unreadable answer ({e})"),
            oauth2::RequestTokenError::Other(e) => e.clone(),
        };
        Error::invalid(format!("{} did not exchange the code: {detail}", provider.name))
    })?;
    let access = tokens.access_token().secret().clone();
    let account = account_name(st, provider, urls.api_base_url.as_deref(), &access).await?;
    let granted = match tokens.scopes() {
        Some(s) => split_scopes(s.iter().map(|s| s.as_str()), &provider.scope_separator),
        None => provider.scopes.clone(),
    };
    let credentials = json!({
        "access_token": access,
        "refresh_token": tokens.refresh_token().map(|t| t.secret().clone()),
    });
    let expires_at = tokens.expires_in().map(|d| Utc::now() + Duration::seconds(d.as_secs() as i64));
    store(st, &attempt, provider_key, account, granted, st.secret.encrypt(&credentials.to_string())?, expires_at).await
}

/// The granted scopes one by one: the token answer's `scope` is split on
/// spaces, so a provider that separates them with commas (Facebook,
/// Instagram, TikTok, Pinterest, Shopify) is split again on its separator.
fn split_scopes<'a>(scopes: impl Iterator<Item = &'a str>, separator: &str) -> Vec<String> {
    let separator = if separator.trim().is_empty() { " " } else { separator };
    scopes.flat_map(|s| s.split(separator)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Reads the account's name from the provider's "who am I" call.
async fn account_name(st: &AppState, provider: &Provider, base: Option<&str>, token: &str) -> Result<String> {
    let (Some(lookup), Some(base)) = (&provider.account, base) else { return Ok(provider.name.clone()) };
    let headers: Vec<(String, String)> = provider.api_headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let (status, body) = st.http.get_json(&format!("{base}{}", lookup.path), token, &headers).await?;
    if !(200..300).contains(&status) {
        return Err(Error::invalid(format!("{} did not say who the account is (HTTP {status})", provider.name)));
    }
    let name = body.pointer(&lookup.field).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    let name = name.ok_or_else(|| Error::invalid(format!("{}'s account answer has no name", provider.name)))?;
    Ok(format!("{}{}", lookup.prefix, name.chars().take(200).collect::<String>()))
}

/// Stores the connection: a new one, or the same id again for one that
/// needs re-authorizing. A second connected one of the provider is refused
/// (the unique index settles a race).
async fn store(
    st: &AppState,
    attempt: &connection_attempt::Model,
    provider: &str,
    account: String,
    scopes: Vec<String>,
    credentials_enc: String,
    expires_at: Option<chrono::DateTime<Utc>>,
) -> Result<connection::Model> {
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let existing = connection::Entity::find()
        .filter(connection::Column::WorkspaceId.eq(&attempt.workspace_id))
        .filter(connection::Column::Provider.eq(provider))
        .one(&txn)
        .await?;
    let (saved, kind, previous_account) = match existing {
        Some(c) if ConnectionStatus::parse(&c.status) == ConnectionStatus::Connected => return Err(only_one(provider)),
        Some(c) => {
            let previous = c.account.clone();
            let mut am: connection::ActiveModel = c.into();
            am.account = Set(account);
            am.status = Set(ConnectionStatus::Connected.as_str().into());
            am.scopes = Set(json!(scopes));
            am.credentials_enc = Set(credentials_enc);
            am.token_expires_at = Set(expires_at);
            am.updated_at = Set(now);
            (am.update(&txn).await?, EventType::ConnectionRefreshed, Some(previous))
        }
        None => {
            let c = connection::ActiveModel {
                id: Set(new_id("con")),
                workspace_id: Set(attempt.workspace_id.clone()),
                provider: Set(provider.to_string()),
                account: Set(account),
                status: Set(ConnectionStatus::Connected.as_str().into()),
                scopes: Set(json!(scopes)),
                credentials_enc: Set(credentials_enc),
                token_expires_at: Set(expires_at),
                auto_refresh: Set(true),
                refresh_lease_until: Set(None),
                created_by: Set(attempt.user_id.clone()),
                last_used_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => only_one(provider),
                _ => e.into(),
            })?;
            (c, EventType::ConnectionCreated, None)
        }
    };
    let evt = events::record(&txn, &attempt.workspace_id, kind, &attempt.user_id, Some(&saved.id), event_data(&saved))
        .await?;
    txn.commit().await?;
    // A reconnect keeps the id: calls must see the new credentials, and
    // the calls that waited for it go now.
    super::cache::invalidate(st, &attempt.workspace_id);
    st.publish(vec![evt]);
    if let Some(previous) = previous_account {
        if let Err(e) = super::call::resume_after_reconnect(st, &saved, &previous).await {
            tracing::warn!(connection = %saved.id, cause = %e, "could not wake the calls waiting for the reconnect; they look again within the hour");
        }
    }
    Ok(saved)
}
