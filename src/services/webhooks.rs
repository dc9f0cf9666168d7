//! Webhooks (seed 002 §4): endpoints that receive the workspace's events.
//! The signing secret is encrypted at rest and shown only on create and
//! rotate. [`fan_out`] turns each event into deliveries inside the event's
//! own transaction (the outbox), so no event is ever missed.

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, TransactionTrait,
};
use serde_json::json;

use entity::{delivery, webhook};

use crate::auth::{Principal, Scope};
use crate::delivery::{collaborator_schedule, signing, ssrf, DEFAULT_SCHEDULE};
use crate::error::{Error, FieldError, Result, UserErrorCode};
use crate::events::{self, is_known_pattern, type_matches, Envelope, EventType};
use crate::ids::{has_prefix, new_id};
use crate::services::bounded_text;
use crate::services::deliveries;
use crate::services::pagination::{fetch_page, Page, PageArgs};
use crate::state::AppState;

/// How a webhook retries failed deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryPolicy {
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    Default,
    /// Seed 001's collaborator policy: at most 3 retries, 60 s apart.
    Collaborator,
    /// Seconds before each retry (at most 20 retries of at most 24 h).
    Custom(Vec<u64>),
}

impl RetryPolicy {
    fn schedule(&self, collaborator_gap: u64) -> Result<Vec<u64>> {
        match self {
            Self::Default => Ok(DEFAULT_SCHEDULE.to_vec()),
            Self::Collaborator => Ok(collaborator_schedule(collaborator_gap)),
            Self::Custom(s) if s.len() <= 20 && s.iter().all(|d| *d <= 86_400) => Ok(s.clone()),
            Self::Custom(_) => Err(Error::field_code(
                "retryPolicy.delaysSeconds",
                UserErrorCode::LimitExceeded,
                "At most 20 retries, each at most 86400 s",
            )),
        }
    }
}

pub struct NewWebhook {
    pub url: String,
    /// Set for a data endpoint's collaborator webhook.
    pub endpoint_id: Option<String>,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub active: bool,
    /// `None`: the default (100); `Some(None)`: no limit.
    pub rate_limit_per_minute: Option<Option<u32>>,
    pub secret: Option<String>,
    pub retry_policy: RetryPolicy,
    pub timeout_ms: Option<u32>,
}

#[derive(Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub active: Option<bool>,
    /// `Some(None)`: no limit.
    pub rate_limit_per_minute: Option<Option<u32>>,
    pub retry_policy: Option<RetryPolicy>,
    pub timeout_ms: Option<u32>,
}

#[derive(Default)]
pub struct WebhookFilter {
    pub active: Option<bool>,
    /// Only webhooks that would receive this event type.
    pub event: Option<String>,
}

/// Headers Switchyard sets itself; custom headers cannot override them.
const RESERVED: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
];

fn check_events(events: &[String]) -> Result<serde_json::Value> {
    if events.is_empty() {
        return Err(Error::invalid_field("eventTypes", "At least one event type or pattern is required"));
    }
    if let Some(bad) = events.iter().find(|e| !is_known_pattern(e)) {
        return Err(Error::field_code(
            "eventTypes",
            UserErrorCode::UnknownEventType,
            format!("Unknown event type '{bad}'"),
        ));
    }
    Ok(json!(events))
}

/// Checks custom headers and seals their values (they often carry the
/// receiver's credentials): stored encrypted, sent decrypted, shown as `***`.
fn check_headers(st: &AppState, headers: &BTreeMap<String, String>) -> Result<serde_json::Value> {
    if headers.len() > 20 {
        return Err(Error::field_code("headers", UserErrorCode::LimitExceeded, "At most 20 custom headers"));
    }
    let mut details = Vec::new();
    for (k, v) in headers {
        let lower = k.to_ascii_lowercase();
        if axum::http::HeaderName::from_bytes(k.as_bytes()).is_err() {
            details.push(FieldError::new("headers", format!("'{k}' is not a valid header name")));
        } else if RESERVED.contains(&lower.as_str()) {
            details.push(FieldError::new("headers", format!("'{k}' is set by Switchyard and cannot be overridden")));
        } else if axum::http::HeaderValue::from_str(v).is_err() || v.len() > 1024 {
            details.push(FieldError::new("headers", format!("The value of '{k}' is not a valid header value")));
        }
    }
    if !details.is_empty() {
        return Err(Error::validation(details));
    }
    let sealed: Result<serde_json::Map<String, serde_json::Value>> =
        headers.iter().map(|(k, v)| Ok((k.clone(), json!(st.secret.encrypt(v)?)))).collect();
    Ok(serde_json::Value::Object(sealed?))
}

/// Deliveries per minute a webhook gets unless it says otherwise (seed 002).
pub const DEFAULT_RATE_PER_MINUTE: u32 = 100;
/// The highest per-webhook limit: 1,000,000 a minute (about 16,667 a second).
pub const MAX_RATE_PER_MINUTE: u32 = 1_000_000;

/// The stored form of a per-minute limit: `None` (no limit) is 0.
fn check_rate(n: Option<u32>) -> Result<i32> {
    match n {
        None => Ok(0),
        Some(n) if (1..=MAX_RATE_PER_MINUTE).contains(&n) => Ok(n as i32),
        Some(_) => Err(Error::invalid_field(
            "rateLimitPerMinute",
            format!("Must be between 1 and {MAX_RATE_PER_MINUTE}, or null for no limit"),
        )),
    }
}

/// A webhook's per-minute delivery limit; `None` means no limit.
pub fn rate_limit(w: &webhook::Model) -> Option<u32> {
    (w.rate_limit_per_minute > 0).then_some(w.rate_limit_per_minute as u32)
}

fn check_timeout(ms: u32) -> Result<i32> {
    if (1000..=60_000).contains(&ms) {
        Ok(ms as i32)
    } else {
        Err(Error::invalid_field("timeoutSeconds", "Must be between 1 and 60"))
    }
}

/// What events say about a webhook. No URL: URLs are often capabilities
/// (Slack-style), and events reach collaborators and other webhooks.
fn event_data(w: &webhook::Model) -> serde_json::Value {
    json!({ "id": w.id, "events": w.events, "active": w.active, "disabled_reason": w.disabled_reason })
}

/// Creates a webhook (owner only); returns it with its secret.
pub async fn create(st: &AppState, p: &Principal, input: NewWebhook) -> Result<(webhook::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let url = ssrf::check_url(&input.url, st.http.allow_private()).await?;
    let events = check_events(&input.events)?;
    let headers = check_headers(st, &input.headers)?;
    let description = bounded_text("description", input.description.as_deref().unwrap_or(""), 500)?;
    let rate = check_rate(input.rate_limit_per_minute.unwrap_or(Some(DEFAULT_RATE_PER_MINUTE)))?;
    let timeout = check_timeout(input.timeout_ms.unwrap_or(st.config.webhook_timeout_ms))?;
    let schedule = input.retry_policy.schedule(st.config.collaborator_retry_seconds)?;
    let secret = match input.secret {
        Some(s) => {
            signing::secret_key(&s)?;
            s
        }
        None => signing::new_secret(),
    };
    let now = Utc::now();
    let txn = st.writer.begin().await?;
    let w = webhook::ActiveModel {
        id: Set(new_id("wh")),
        workspace_id: Set(p.workspace_id.clone()),
        url: Set(url.to_string()),
        endpoint_id: Set(input.endpoint_id),
        description: Set(description),
        events: Set(events),
        headers: Set(headers),
        secret_enc: Set(st.secret.encrypt(&secret)?),
        previous_secret_enc: Set(None),
        previous_secret_expires_at: Set(None),
        active: Set(input.active),
        disabled_reason: Set(None),
        rate_limit_per_minute: Set(rate),
        retry_schedule: Set(json!(schedule)),
        timeout_ms: Set(timeout),
        failing_since: Set(None),
        last_success_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let evt = events::record(&txn, &p.workspace_id, EventType::WebhookCreated, p.actor(), Some(&w.id), event_data(&w))
        .await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok((w, secret))
}

pub async fn list(
    db: &impl ConnectionTrait,
    p: &Principal,
    filter: WebhookFilter,
    page: &PageArgs,
) -> Result<Page<webhook::Model>> {
    p.require(Scope::Read)?.require_owner()?;
    let mut q = webhook::Entity::find().filter(webhook::Column::WorkspaceId.eq(&p.workspace_id));
    if let Some(a) = filter.active {
        q = q.filter(webhook::Column::Active.eq(a));
    }
    let Some(event) = filter.event else {
        return fetch_page(db, q, webhook::Column::Id, page).await;
    };
    // Pattern matching happens here, not in SQL; a workspace has few webhooks.
    let all = q.all(db).await?;
    let ids: Vec<String> = all.into_iter().filter(|w| subscribes(w, &event)).map(|w| w.id).collect();
    let q = webhook::Entity::find()
        .filter(webhook::Column::WorkspaceId.eq(&p.workspace_id))
        .filter(webhook::Column::Id.is_in(ids));
    fetch_page(db, q, webhook::Column::Id, page).await
}

/// Whether a webhook wants an event: its type, and for a collaborator
/// webhook, its endpoint.
/// Whether a webhook gets an event. A collaborator webhook (one data
/// endpoint's) gets only that endpoint's events and never owner-only ones,
/// whatever patterns it was later given.
fn wants(w: &webhook::Model, e: &Envelope) -> bool {
    subscribes(w, &e.event_type)
        && w.endpoint_id
            .as_deref()
            .is_none_or(|ep| e.data["endpoint_id"].as_str() == Some(ep) && !events::owners_only(&e.event_type))
}

/// Whether a webhook subscribes to an event type.
pub fn subscribes(w: &webhook::Model, event_type: &str) -> bool {
    w.events.as_array().is_some_and(|a| a.iter().filter_map(|p| p.as_str()).any(|p| type_matches(p, event_type)))
}

pub async fn get(db: &impl ConnectionTrait, p: &Principal, id: &str) -> Result<webhook::Model> {
    p.require(Scope::Read)?.require_owner()?;
    find(db, &p.workspace_id, id).await
}

pub(crate) async fn find(db: &impl ConnectionTrait, workspace_id: &str, id: &str) -> Result<webhook::Model> {
    if !has_prefix(id, "wh") {
        return Err(Error::NotFound("Webhook"));
    }
    webhook::Entity::find_by_id(id)
        .filter(webhook::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("Webhook"))
}

pub async fn update(st: &AppState, p: &Principal, id: &str, c: WebhookChanges) -> Result<webhook::Model> {
    p.require(Scope::Write)?.require_owner()?;
    let url = match &c.url {
        Some(u) => Some(ssrf::check_url(u, st.http.allow_private()).await?.to_string()),
        None => None,
    };
    let txn = st.writer.begin().await?;
    let mut am = find(&txn, &p.workspace_id, id).await?.into_active_model();
    if let Some(u) = url {
        am.url = Set(u);
    }
    if let Some(e) = &c.events {
        am.events = Set(check_events(e)?);
    }
    if let Some(h) = &c.headers {
        am.headers = Set(check_headers(st, h)?);
    }
    if let Some(d) = &c.description {
        am.description = Set(bounded_text("description", d, 500)?);
    }
    if let Some(r) = c.rate_limit_per_minute {
        am.rate_limit_per_minute = Set(check_rate(r)?);
    }
    if let Some(t) = c.timeout_ms {
        am.timeout_ms = Set(check_timeout(t)?);
    }
    if let Some(policy) = &c.retry_policy {
        am.retry_schedule = Set(json!(policy.schedule(st.config.collaborator_retry_seconds)?));
    }
    if let Some(active) = c.active {
        am.active = Set(active);
        if active {
            // Enabling again starts a fresh record.
            am.disabled_reason = Set(None);
            am.failing_since = Set(None);
        }
    }
    am.updated_at = Set(Utc::now());
    let w = am.update(&txn).await?;
    let evt =
        events::record(&txn, &p.workspace_id, EventType::WebhookUpdated, p.actor(), Some(id), event_data(&w)).await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok(w)
}

/// Deletes a webhook with its deliveries and attempt log (owner only).
pub async fn delete(st: &AppState, p: &Principal, id: &str) -> Result<()> {
    p.require(Scope::Write)?.require_owner()?;
    let txn = st.writer.begin().await?;
    let w = find(&txn, &p.workspace_id, id).await?;
    let evt = delete_in(&txn, &w, p.actor()).await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok(())
}

/// Deletes a webhook with its deliveries and attempt log inside the
/// caller's transaction, recording `webhook.deleted` (publish it after the
/// commit). Also used when a data endpoint takes its collaborator webhooks
/// with it.
pub(crate) async fn delete_in(txn: &impl ConnectionTrait, w: &webhook::Model, actor: &str) -> Result<Envelope> {
    entity::delivery_attempt::Entity::delete_many()
        .filter(entity::delivery_attempt::Column::WebhookId.eq(&w.id))
        .exec(txn)
        .await?;
    delivery::Entity::delete_many().filter(delivery::Column::WebhookId.eq(&w.id)).exec(txn).await?;
    webhook::Entity::delete_by_id(&w.id).exec(txn).await?;
    events::record(txn, &w.workspace_id, EventType::WebhookDeleted, actor, Some(&w.id), event_data(w)).await
}

/// The retry policy a stored schedule stands for: the default
/// schedule, the collaborator one (`collaborator_gap` seconds apart), or a
/// custom list.
pub fn retry_policy(schedule: &[u64], collaborator_gap: u64) -> RetryPolicy {
    if schedule == DEFAULT_SCHEDULE {
        RetryPolicy::Default
    } else if schedule == collaborator_schedule(collaborator_gap) {
        RetryPolicy::Collaborator
    } else {
        RetryPolicy::Custom(schedule.to_vec())
    }
}

/// The seconds before each retry that a webhook stores.
pub fn retry_schedule(w: &webhook::Model) -> Vec<u64> {
    w.retry_schedule.as_array().map(|a| a.iter().filter_map(|v| v.as_u64()).collect()).unwrap_or_default()
}

/// The longest a rotated-out secret may keep signing: 7 days.
pub const MAX_ROTATION_GRACE_SECONDS: u64 = 7 * 86_400;

/// Issues a new signing secret. For `grace_seconds` (default 24 h, at most
/// 7 days, 0 for none) every message carries a signature with the old secret
/// too, so receivers can switch over without rejecting anything.
pub async fn rotate_secret(
    st: &AppState,
    p: &Principal,
    id: &str,
    grace_seconds: Option<u64>,
) -> Result<(webhook::Model, String)> {
    p.require(Scope::Write)?.require_owner()?;
    let grace = grace_seconds.unwrap_or(86_400);
    if grace > MAX_ROTATION_GRACE_SECONDS {
        return Err(Error::invalid_field("graceSeconds", "Must be between 0 and 604800 (7 days)"));
    }
    let secret = signing::new_secret();
    let txn = st.writer.begin().await?;
    let current = find(&txn, &p.workspace_id, id).await?;
    let old = current.secret_enc.clone();
    let mut am = current.into_active_model();
    am.secret_enc = Set(st.secret.encrypt(&secret)?);
    (am.previous_secret_enc, am.previous_secret_expires_at) = if grace > 0 {
        (Set(Some(old)), Set(Some(Utc::now() + chrono::Duration::seconds(grace as i64))))
    } else {
        (Set(None), Set(None))
    };
    am.updated_at = Set(Utc::now());
    let w = am.update(&txn).await?;
    let evt =
        events::record(&txn, &p.workspace_id, EventType::WebhookSecretRotated, p.actor(), Some(id), event_data(&w))
            .await?;
    txn.commit().await?;
    st.publish(vec![evt]);
    Ok((w, secret))
}

/// The webhooks' fan-out hook, registered with the event engine.
pub struct WebhookFanOut;

#[async_trait::async_trait]
impl events::hooks::FanOut for WebhookFanOut {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    async fn fan_out(&self, db: &events::hooks::DynConnection<'_>, events: &mut [Envelope]) -> Result<()> {
        fan_out(db, events).await
    }
}

/// The outbox: one delivery (and its job) per active webhook of each event's
/// workspace that subscribes to its type, with one webhook lookup per
/// workspace. Runs inside the events' transaction; adds the jobs to ring
/// after the commit to each envelope's `jobs`.
pub async fn fan_out(db: &impl ConnectionTrait, events: &mut [Envelope]) -> Result<()> {
    let mut hooks: std::collections::HashMap<String, Vec<webhook::Model>> = Default::default();
    for e in events.iter() {
        if !hooks.contains_key(&e.workspace_id) {
            let active = webhook::Entity::find()
                .filter(webhook::Column::WorkspaceId.eq(&e.workspace_id))
                .filter(webhook::Column::Active.eq(true))
                .all(db)
                .await?;
            hooks.insert(e.workspace_id.clone(), active);
        }
    }
    // Every delivery of the lot in two inserts; each event's envelope then
    // carries the jobs of its own deliveries.
    let mut new = Vec::new();
    let mut owner = Vec::new();
    for (i, e) in events.iter().enumerate() {
        for w in hooks[&e.workspace_id].iter().filter(|w| wants(w, e)) {
            // `event` is the seed's name for the type; `id` lets a receiver drop a redelivery.
            let body = json!({ "id": e.id, "type": e.event_type, "event": e.event_type,
                               "timestamp": e.created_at.to_rfc3339(), "data": e.data });
            new.push(deliveries::NewDelivery { webhook: w, event_id: Some(&e.id), event_type: &e.event_type, body });
            owner.push(i);
        }
    }
    if new.is_empty() {
        return Ok(());
    }
    let job_ids = deliveries::create_many(db, new).await?;
    for (i, job_id) in owner.into_iter().zip(job_ids) {
        events[i].jobs.push(crate::jobs::Message { job_id, kind: deliveries::KIND.to_string() });
    }
    Ok(())
}

/// Disables a webhook the server gave up on, with a `webhook.disabled` event.
pub async fn disable(st: &AppState, w: &webhook::Model, reason: &str) -> Result<()> {
    let txn = st.writer.begin().await?;
    // Conditional: concurrent failures disable (and announce) it once.
    let res = webhook::Entity::update_many()
        .col_expr(webhook::Column::Active, sea_orm::sea_query::Expr::value(false))
        .col_expr(webhook::Column::DisabledReason, sea_orm::sea_query::Expr::value(reason))
        .col_expr(webhook::Column::UpdatedAt, sea_orm::sea_query::Expr::value(Utc::now()))
        .filter(webhook::Column::Id.eq(&w.id))
        .filter(webhook::Column::Active.eq(true))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(());
    }
    let w = webhook::Entity::find_by_id(&w.id).one(&txn).await?.ok_or(Error::NotFound("Webhook"))?;
    let evt = events::record(&txn, &w.workspace_id, EventType::WebhookDisabled, "system", Some(&w.id), event_data(&w))
        .await?;
    txn.commit().await?;
    tracing::warn!(webhook = %w.id, reason, "webhook disabled");
    st.publish(vec![evt]);
    Ok(())
}
