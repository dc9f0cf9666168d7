//! Refreshing connection tokens before they expire (seed 000: 7 days
//! before, `SWITCHYARD_CONNECTION_REFRESH_BEFORE_SECONDS`), as the
//! scheduled `connection.refresh` job. Single flight across processes: a
//! process refreshes a connection only after taking its lease with a
//! conditional update, so a rotating refresh token is spent once. When the
//! provider answers `invalid_grant` the connection becomes `NEEDS_REAUTH`
//! and `connection.broken` is emitted; reconnecting keeps its id.

use chrono::{Duration, Utc};
use oauth2::{RefreshToken, RequestTokenError, TokenResponse};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;

use entity::{connection, job};

use super::catalog::{self, AuthKind};
use super::{event_data, ConnectionStatus};
use crate::error::Result;
use crate::events::{self, EventType};
use crate::jobs::Handler;
use crate::state::AppState;

/// The job kind, scheduled every `SWITCHYARD_CONNECTION_REFRESH_INTERVAL_SECONDS`.
pub const KIND: &str = "connection.refresh";

/// How long a refresh may hold its lease.
const LEASE_SECONDS: i64 = 60;

/// How long one run of the scheduled job keeps starting refreshes; the
/// connections still due after it are left for the next run.
const RUN_BUDGET: std::time::Duration = std::time::Duration::from_secs(240);

/// `connection.refresh`: refreshes every connection whose token is due.
pub struct RefreshDue;

#[async_trait::async_trait]
impl Handler for RefreshDue {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn max_attempts(&self) -> u32 {
        1
    }

    /// Covers the run's budget plus the last refresh it started (the
    /// provider's timeout is 20 s), so the loop is not cut off midway.
    fn timeout(&self, _job: &job::Model) -> std::time::Duration {
        RUN_BUDGET + std::time::Duration::from_secs(60)
    }

    async fn run(&self, st: &AppState, _job: &job::Model) -> Result<()> {
        refresh_due(st).await.map(|_| ())
    }
}

/// What became of one connection's refresh.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Refreshed,
    /// The provider refused the refresh token: the connection needs the user again.
    Broken,
    /// Another process holds the lease, or there is nothing to refresh with.
    Skipped,
    /// A passing failure (network, 5xx): tried again on the next run.
    Failed,
}

/// Refreshes every connected, auto-refreshing connection whose token
/// expires within the configured margin, one after another for at most
/// 4 minutes (the rest wait for the next run); returns the outcomes.
pub async fn refresh_due(st: &AppState) -> Result<Vec<(String, Outcome)>> {
    let started = std::time::Instant::now();
    let horizon = Utc::now() + Duration::seconds(st.config.connection_refresh_before_seconds as i64);
    let due = connection::Entity::find()
        .filter(connection::Column::AutoRefresh.eq(true))
        .filter(connection::Column::Status.eq(ConnectionStatus::Connected.as_str()))
        .filter(connection::Column::TokenExpiresAt.lte(horizon))
        .all(&st.db)
        .await?;
    let mut out = Vec::new();
    for c in due {
        if started.elapsed() >= RUN_BUDGET {
            tracing::info!("connection refresh run out of time; the rest wait for the next run");
            break;
        }
        let id = c.id.clone();
        out.push((id, refresh_one(st, c, Some(horizon)).await?));
    }
    Ok(out)
}

/// Takes the connection's lease; `false` when another process holds it.
async fn take_lease(st: &AppState, id: &str) -> Result<bool> {
    let now = Utc::now();
    let taken = connection::Entity::update_many()
        .col_expr(connection::Column::RefreshLeaseUntil, Expr::value(now + Duration::seconds(LEASE_SECONDS)))
        .filter(connection::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(connection::Column::RefreshLeaseUntil.is_null())
                .add(connection::Column::RefreshLeaseUntil.lte(now)),
        )
        .exec(&st.writer)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Refreshes one connection in a task of its own: a caller that goes away
/// (a job timeout, a client that hangs up) never cuts a refresh off after
/// the provider has rotated the refresh token but before the new one is
/// stored. With `due_before`, only a token that still expires by then is
/// refreshed (another process may have refreshed it since it was read).
async fn refresh_one(
    st: &AppState,
    c: connection::Model,
    due_before: Option<chrono::DateTime<Utc>>,
) -> Result<Outcome> {
    let st = st.clone();
    tokio::spawn(async move { refresh_one_inner(&st, c, due_before).await })
        .await
        .map_err(|e| crate::error::Error::internal(format!("connection refresh task: {e}")))?
}

async fn refresh_one_inner(
    st: &AppState,
    c: connection::Model,
    due_before: Option<chrono::DateTime<Utc>>,
) -> Result<Outcome> {
    let Some(provider) = catalog::get(&c.provider).filter(|p| p.auth == AuthKind::Oauth2) else {
        return Ok(Outcome::Skipped);
    };
    if !take_lease(st, &c.id).await? {
        return Ok(Outcome::Skipped);
    }
    // Read again under the lease: another process may have just refreshed
    // it, or it may have been broken or deleted meanwhile.
    let Some(c) = connection::Entity::find_by_id(&c.id).one(&st.writer).await? else { return Ok(Outcome::Skipped) };
    let still_due = match due_before {
        Some(horizon) => c.token_expires_at.is_some_and(|t| t <= horizon),
        None => true,
    };
    if ConnectionStatus::parse(&c.status) != ConnectionStatus::Connected || !still_due {
        release(st, &c.id).await?;
        return Ok(Outcome::Skipped);
    }
    let creds: serde_json::Value = serde_json::from_str(&st.secret.decrypt(&c.credentials_enc)?).unwrap_or_default();
    let Some(refresh) = creds["refresh_token"].as_str().map(str::to_string) else {
        release(st, &c.id).await?;
        return Ok(Outcome::Skipped);
    };
    let (client, _) = match super::connect::client(st, &c.workspace_id, provider).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(connection = %c.id, cause = %e, "cannot refresh: provider settings");
            release(st, &c.id).await?;
            return Ok(Outcome::Failed);
        }
    };
    let http = st.http.clone();
    let send = move |req: oauth2::HttpRequest| {
        let http = http.clone();
        async move { http.exchange(req).await }
    };
    let refresh_token = RefreshToken::new(refresh.clone());
    let mut exchange = client.exchange_refresh_token(&refresh_token);
    if let Some((k, v)) = super::connect::renamed_client_id(provider, &client) {
        exchange = exchange.add_extra_param(k, v);
    }
    let answer = exchange.request_async(&send).await;
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let (outcome, event) = match answer {
        Ok(tokens) => {
            let new_creds = json!({
                "access_token": tokens.access_token().secret(),
                // A provider that does not rotate keeps the old refresh token valid.
                "refresh_token": tokens.refresh_token().map_or(refresh, |t| t.secret().clone()),
            });
            let expires = tokens.expires_in().map(|d| now + Duration::seconds(d.as_secs() as i64));
            connection::Entity::update_many()
                .col_expr(connection::Column::CredentialsEnc, Expr::value(st.secret.encrypt(&new_creds.to_string())?))
                .col_expr(connection::Column::TokenExpiresAt, Expr::value(expires))
                .col_expr(connection::Column::RefreshLeaseUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
                .col_expr(connection::Column::UpdatedAt, Expr::value(now))
                .filter(connection::Column::Id.eq(&c.id))
                .exec(&txn)
                .await?;
            (Outcome::Refreshed, Some(EventType::ConnectionRefreshed))
        }
        Err(RequestTokenError::ServerResponse(r)) if r.error().to_string() == "invalid_grant" => {
            connection::Entity::update_many()
                .col_expr(connection::Column::Status, Expr::value(ConnectionStatus::NeedsReauth.as_str()))
                .col_expr(connection::Column::RefreshLeaseUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
                .col_expr(connection::Column::UpdatedAt, Expr::value(now))
                .filter(connection::Column::Id.eq(&c.id))
                .exec(&txn)
                .await?;
            tracing::warn!(connection = %c.id, provider = %c.provider, "refresh token refused: the connection needs the user again");
            (Outcome::Broken, Some(EventType::ConnectionBroken))
        }
        Err(e) => {
            tracing::warn!(connection = %c.id, provider = %c.provider, cause = %e, "token refresh failed; trying again on the next run");
            (Outcome::Failed, None)
        }
    };
    let evt = match event {
        Some(kind) => {
            let fresh = connection::Entity::find_by_id(&c.id).one(&txn).await?.unwrap_or(c.clone());
            Some(events::record(&txn, &c.workspace_id, kind, "system", Some(&c.id), event_data(&fresh)).await?)
        }
        None => None,
    };
    txn.commit().await?;
    if let Some(evt) = evt {
        // New credentials, or a broken connection: calls must see them.
        super::cache::invalidate(st, &c.workspace_id);
        st.publish(vec![evt]);
    }
    if outcome == Outcome::Failed {
        release(st, &c.id).await?;
    }
    Ok(outcome)
}

async fn release(st: &AppState, id: &str) -> Result<()> {
    connection::Entity::update_many()
        .col_expr(connection::Column::RefreshLeaseUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .filter(connection::Column::Id.eq(id))
        .exec(&st.writer)
        .await?;
    Ok(())
}

/// Refreshes one connection now (a call was answered 401) and returns it as
/// it is afterwards. When another process holds the lease, waits up to
/// 10 s for that refresh to finish instead of spending the refresh token
/// a second time.
pub async fn refresh_now(st: &AppState, id: &str) -> Result<connection::Model> {
    let gone = || crate::error::Error::invalid("The connection was deleted");
    let c = connection::Entity::find_by_id(id).one(&st.writer).await?.ok_or_else(gone)?;
    let before = c.updated_at;
    if refresh_one(st, c, None).await? == Outcome::Skipped {
        for _ in 0..100 {
            let now = connection::Entity::find_by_id(id).one(&st.writer).await?.ok_or_else(gone)?;
            let leased = now.refresh_lease_until.is_some_and(|t| t > Utc::now());
            if !leased || now.updated_at != before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    connection::Entity::find_by_id(id).one(&st.writer).await?.ok_or_else(gone)
}
