//! Incoming webhooks (seed 000's "receive external events"): an
//! `incoming_webhooks` connection gets a URL of its own on this server,
//! `/hooks/{connection id}/{token}`, shown once. What arrives there becomes
//! the workspace event `connection.webhook_received`, which fans out like
//! any event. When the connection has a secret the request must be signed:
//! a `whsec_…` secret means Standard Webhooks (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`, five minutes' tolerance), any
//! other secret an HMAC-SHA256 of the body in `X-Signature-256` or
//! `X-Hub-Signature-256` (`sha256=<hex>`). A bad signature is refused and
//! nothing is recorded.

use axum::http::HeaderMap;
use chrono::Utc;
use hmac::{Hmac, Mac};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde_json::json;
use sha2::Sha256;

use entity::connection;

use super::{event_data, only_one, ConnectionStatus};
use crate::auth::{Principal, Scope};
use crate::crypto::{ct_eq, random_token};
use crate::error::{Error, Result};
use crate::events::{self, Envelope, EventType};
use crate::ids::{has_prefix, new_id};
use crate::state::AppState;

/// The catalog key of incoming webhooks.
pub const PROVIDER: &str = "incoming_webhooks";

/// Largest body kept in the event.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How far a Standard Webhooks timestamp may be from now.
const TOLERANCE_SECONDS: i64 = 300;

/// Creates the workspace's incoming-webhooks connection (owner only);
/// returns it with its URL, shown this once.
pub async fn create(st: &AppState, p: &Principal, secret: Option<String>) -> Result<(connection::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let secret = secret.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    match &secret {
        Some(s) if s.starts_with("whsec_") => {
            crate::delivery::signing::secret_key(s)
                .map_err(|_| Error::invalid_field("webhookSecret", "Not a valid whsec_ secret"))?;
        }
        Some(s) if s.len() < 16 || s.len() > 500 => {
            return Err(Error::invalid_field("webhookSecret", "Use 16 to 500 characters, or a whsec_ secret"))
        }
        _ => {}
    }
    let token = random_token(32);
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let saved = connection::ActiveModel {
        id: Set(new_id("con")),
        workspace_id: Set(p.workspace_id.clone()),
        provider: Set(PROVIDER.into()),
        account: Set("Incoming webhooks".into()),
        status: Set(ConnectionStatus::Connected.as_str().into()),
        scopes: Set(json!([])),
        credentials_enc: Set(st
            .secret
            .encrypt(&json!({ "kind": "incoming", "token": token, "secret": secret }).to_string())?),
        token_expires_at: Set(None),
        auto_refresh: Set(false),
        refresh_lease_until: Set(None),
        created_by: Set(p.user_id.clone()),
        last_used_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => only_one(PROVIDER),
        _ => e.into(),
    })?;
    let evt = events::record(
        &txn,
        &p.workspace_id,
        EventType::ConnectionCreated,
        p.actor(),
        Some(&saved.id),
        event_data(&saved),
    )
    .await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    let url = format!("{}/hooks/{}/{token}", st.config.public_url().trim_end_matches('/'), saved.id);
    Ok((saved, url))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request carries a valid signature for `secret`.
fn signed(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    if secret.starts_with("whsec_") {
        let (Some(id), Some(ts), Some(sigs)) =
            (header(headers, "webhook-id"), header(headers, "webhook-timestamp"), header(headers, "webhook-signature"))
        else {
            return false;
        };
        let Ok(ts) = ts.parse::<i64>() else { return false };
        if (Utc::now().timestamp() - ts).abs() > TOLERANCE_SECONDS {
            return false;
        }
        let Ok(expected) = crate::delivery::signing::sign(secret, id, ts, body) else { return false };
        return sigs.split(' ').any(|s| ct_eq(s, &expected));
    }
    let given = header(headers, "x-signature-256").or_else(|| header(headers, "x-hub-signature-256"));
    let Some(given) = given.and_then(|g| g.strip_prefix("sha256=")) else { return false };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    ct_eq(&given.to_ascii_lowercase(), &hex::encode(mac.finalize().into_bytes()))
}

/// Takes one delivery to `/hooks/{id}/{token}`: UNAUTHORIZED for an
/// unknown URL or a bad signature (nothing recorded), else the event.
pub async fn receive(st: &AppState, id: &str, token: &str, headers: &HeaderMap, body: &[u8]) -> Result<Envelope> {
    let refused = || Error::Unauthorized("Unknown webhook URL or bad signature".into());
    if !has_prefix(id, "con") || token.len() > 100 {
        return Err(refused());
    }
    let c = connection::Entity::find_by_id(id)
        .filter(connection::Column::Provider.eq(PROVIDER))
        .filter(connection::Column::Status.eq(ConnectionStatus::Connected.as_str()))
        .one(&st.db)
        .await?
        .ok_or_else(refused)?;
    let creds: serde_json::Value = serde_json::from_str(&st.secret.decrypt(&c.credentials_enc)?).unwrap_or_default();
    if !ct_eq(creds["token"].as_str().unwrap_or(""), token) {
        return Err(refused());
    }
    if let Some(secret) = creds["secret"].as_str() {
        if !signed(secret, headers, body) {
            return Err(refused());
        }
    }
    let payload = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v,
        Err(_) => json!(String::from_utf8_lossy(body)),
    };
    let data = json!({
        "connection_id": c.id,
        "content_type": header(headers, "content-type"),
        "webhook_id": header(headers, "webhook-id"),
        "payload": payload,
    });
    let txn = st.writer.begin().await?;
    let evt =
        events::record(&txn, &c.workspace_id, EventType::ConnectionWebhookReceived, &c.id, Some(&c.id), data).await?;
    // The last use is noted at most once a minute, as for calls.
    let now = Utc::now();
    if c.last_used_at.is_none_or(|t| now - t >= chrono::Duration::seconds(60)) {
        connection::Entity::update_many()
            .col_expr(connection::Column::LastUsedAt, sea_orm::sea_query::Expr::value(now))
            .filter(connection::Column::Id.eq(&c.id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    st.publish(vec![evt.clone()]);
    Ok(evt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_signatures_are_checked_in_either_header() {
        let body = br#"{"a":1}"#;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"a long enough secret").unwrap();
        mac.update(body);
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let mut h = HeaderMap::new();
        h.insert("x-hub-signature-256", sig.parse().unwrap());
        assert!(signed("a long enough secret", &h, body));
        assert!(!signed("another secret, long", &h, body));
        assert!(!signed("a long enough secret", &h, b"tampered"));
        assert!(!signed("a long enough secret", &HeaderMap::new(), body));
    }
}
