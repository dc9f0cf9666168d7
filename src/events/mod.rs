//! The event catalog and the event bus.
//!
//! An event is a row of the `event` table written in the same transaction as
//! the change that caused it (see [`record`]). After the commit the service
//! publishes it on the [`EventBus`], which feeds live GraphQL subscriptions.
//! [`BroadcastBus`] is the in-process bus; [`redis::RedisBus`] carries events
//! between processes through Redis pub/sub.

pub mod catalog;
pub mod fanout;
pub mod hooks;
pub mod redis;

use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::Stream;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::Result;
use crate::ids::new_id;

/// Every event type Switchyard emits. The string form is the wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    UserCreated,
    UserUpdated,
    UserDeleted,
    MemberInvited,
    MemberAdded,
    MemberUpdated,
    MemberRemoved,
    WorkspaceUpdated,
    ApiKeyCreated,
    ApiKeyUpdated,
    ApiKeyRolled,
    ApiKeyDeleted,
    JobCompleted,
    JobFailed,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
    WebhookDisabled,
    WebhookSecretRotated,
    RecordCreated,
    RecordUpdated,
    RecordDeleted,
    OAuthAppCreated,
    OAuthAppUpdated,
    OAuthAppDeleted,
    OAuthTokenReuseDetected,
    ConnectionCreated,
    ConnectionRefreshed,
    ConnectionBroken,
    ConnectionDeleted,
    ConnectionWebhookReceived,
    ActionRunSucceeded,
    ActionRunFailed,
    PluginInstalled,
    PluginUpdated,
    PluginUninstalled,
    IntegrationCreated,
    IntegrationUpdated,
    IntegrationDeleted,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserDeleted,
        Self::MemberInvited,
        Self::MemberAdded,
        Self::MemberUpdated,
        Self::MemberRemoved,
        Self::WorkspaceUpdated,
        Self::ApiKeyCreated,
        Self::ApiKeyUpdated,
        Self::ApiKeyRolled,
        Self::ApiKeyDeleted,
        Self::JobCompleted,
        Self::JobFailed,
        Self::WebhookCreated,
        Self::WebhookUpdated,
        Self::WebhookDeleted,
        Self::WebhookDisabled,
        Self::WebhookSecretRotated,
        Self::RecordCreated,
        Self::RecordUpdated,
        Self::RecordDeleted,
        Self::OAuthAppCreated,
        Self::OAuthAppUpdated,
        Self::OAuthAppDeleted,
        Self::OAuthTokenReuseDetected,
        Self::ConnectionCreated,
        Self::ConnectionRefreshed,
        Self::ConnectionBroken,
        Self::ConnectionDeleted,
        Self::ConnectionWebhookReceived,
        Self::ActionRunSucceeded,
        Self::ActionRunFailed,
        Self::PluginInstalled,
        Self::PluginUpdated,
        Self::PluginUninstalled,
        Self::IntegrationCreated,
        Self::IntegrationUpdated,
        Self::IntegrationDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDeleted => "user.deleted",
            Self::MemberInvited => "member.invited",
            Self::MemberAdded => "member.added",
            Self::MemberUpdated => "member.updated",
            Self::MemberRemoved => "member.removed",
            Self::WorkspaceUpdated => "workspace.updated",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyUpdated => "api_key.updated",
            Self::ApiKeyRolled => "api_key.rolled",
            Self::ApiKeyDeleted => "api_key.deleted",
            Self::JobCompleted => "job.completed",
            Self::JobFailed => "job.failed",
            Self::WebhookCreated => "webhook.created",
            Self::WebhookUpdated => "webhook.updated",
            Self::WebhookDeleted => "webhook.deleted",
            Self::WebhookDisabled => "webhook.disabled",
            Self::WebhookSecretRotated => "webhook.secret_rotated",
            Self::RecordCreated => "record.created",
            Self::RecordUpdated => "record.updated",
            Self::RecordDeleted => "record.deleted",
            Self::OAuthAppCreated => "oauth_app.created",
            Self::OAuthAppUpdated => "oauth_app.updated",
            Self::OAuthAppDeleted => "oauth_app.deleted",
            Self::OAuthTokenReuseDetected => "oauth.token_reuse_detected",
            Self::ConnectionCreated => "connection.created",
            Self::ConnectionRefreshed => "connection.refreshed",
            Self::ConnectionBroken => "connection.broken",
            Self::ConnectionDeleted => "connection.deleted",
            Self::ConnectionWebhookReceived => "connection.webhook_received",
            Self::ActionRunSucceeded => "action.run_succeeded",
            Self::ActionRunFailed => "action.run_failed",
            Self::PluginInstalled => "plugin.installed",
            Self::PluginUpdated => "plugin.updated",
            Self::PluginUninstalled => "plugin.uninstalled",
            Self::IntegrationCreated => "integration.created",
            Self::IntegrationUpdated => "integration.updated",
            Self::IntegrationDeleted => "integration.deleted",
        }
    }
}

/// Whether only workspace owners may see events of this type (through the
/// `events` query and subscription, and collaborator webhooks): those about
/// resources only owners manage (invitations, API keys, webhooks, OAuth apps). Unknown names are
/// visible (they are live-only messages, which have their own checks).
pub fn owners_only(event_type: &str) -> bool {
    EventType::ALL.iter().find(|t| t.as_str() == event_type).is_some_and(|t| t.owners_only())
}

impl EventType {
    /// See [`owners_only`].
    pub fn owners_only(self) -> bool {
        matches!(
            self,
            Self::MemberInvited
                | Self::ApiKeyCreated
                | Self::ApiKeyUpdated
                | Self::ApiKeyRolled
                | Self::ApiKeyDeleted
                | Self::WebhookCreated
                | Self::WebhookUpdated
                | Self::WebhookDeleted
                | Self::WebhookDisabled
                | Self::WebhookSecretRotated
                | Self::OAuthAppCreated
                | Self::OAuthAppUpdated
                | Self::OAuthAppDeleted
                | Self::OAuthTokenReuseDetected
        )
    }

    /// The names of the owner-only types.
    pub fn owners_only_names() -> Vec<&'static str> {
        Self::ALL.iter().filter(|t| t.owners_only()).map(|t| t.as_str()).collect()
    }
}

/// Whether an event type matches a filter pattern: an exact name, a
/// `family.*` wildcard, or `*`.
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix(".*") {
        _ if pattern == "*" => true,
        Some(family) => event_type.strip_prefix(family).is_some_and(|rest| rest.starts_with('.')),
        None => pattern == event_type,
    }
}

/// Checks that a filter pattern could ever match a catalog event.
pub fn is_known_pattern(pattern: &str) -> bool {
    EventType::ALL.iter().any(|t| type_matches(pattern, t.as_str()))
}

/// An event as it travels on the bus (serialisable for cross-process buses).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    pub id: String,
    pub workspace_id: String,
    pub event_type: String,
    pub actor: String,
    pub subject_id: Option<String>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// Live-only messages (delivery attempts) are not in the event table,
    /// fan out to no webhook, and are skipped by the `events` subscription.
    #[serde(default)]
    pub live_only: bool,
    /// Jobs created by this event's fan-out hooks, rung after the commit
    /// by [`AppState::publish`](crate::state::AppState::publish); never sent on the bus.
    #[serde(skip)]
    pub jobs: Vec<crate::jobs::Message>,
    /// Live-only messages the fan-out hooks made (e.g. "this run is queued
    /// again"), published after the commit with the event; never sent as
    /// part of it.
    #[serde(skip)]
    pub live: Vec<Envelope>,
}

/// The event type of live delivery-attempt messages.
pub const DELIVERY_ATTEMPT: &str = "delivery.attempt";

impl From<entity::event::Model> for Envelope {
    fn from(m: entity::event::Model) -> Self {
        Self {
            id: m.id,
            workspace_id: m.workspace_id,
            event_type: m.event_type,
            actor: m.actor,
            subject_id: m.subject_id,
            data: m.data,
            created_at: m.created_at,
            live_only: false,
            jobs: vec![],
            live: vec![],
        }
    }
}

impl Envelope {
    /// A live-only message: for subscribers, not in the event table, fanned
    /// out to no webhook.
    pub fn live(
        workspace_id: String,
        event_type: &str,
        actor: &str,
        subject_id: Option<String>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            id: new_id("evt"),
            workspace_id,
            event_type: event_type.to_string(),
            actor: actor.to_string(),
            subject_id,
            data,
            created_at: Utc::now(),
            live_only: true,
            jobs: vec![],
            live: vec![],
        }
    }
}

/// An event to record.
pub struct NewEvent {
    pub workspace_id: String,
    pub event_type: EventType,
    pub actor: String,
    pub subject_id: Option<String>,
    pub data: serde_json::Value,
}

impl NewEvent {
    pub fn new(
        workspace_id: &str,
        event_type: EventType,
        actor: &str,
        subject_id: Option<&str>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            workspace_id: workspace_id.to_string(),
            event_type,
            actor: actor.to_string(),
            subject_id: subject_id.map(str::to_string),
            data,
        }
    }
}

/// Writes an event row and, in the same transaction, one delivery per
/// matching active webhook (the outbox); call it inside the transaction of
/// the change.
pub async fn record(
    db: &impl ConnectionTrait,
    workspace_id: &str,
    event_type: EventType,
    actor: &str,
    subject_id: Option<&str>,
    data: serde_json::Value,
) -> Result<Envelope> {
    let new = NewEvent::new(workspace_id, event_type, actor, subject_id, data);
    let mut written = record_many(db, vec![new]).await?;
    written.pop().ok_or_else(|| crate::Error::internal("no event written"))
}

/// [`record`] for many events at once: one insert for the rows, one webhook
/// lookup per workspace for the fan-out.
pub async fn record_many(db: &impl ConnectionTrait, events: Vec<NewEvent>) -> Result<Vec<Envelope>> {
    if events.is_empty() {
        return Ok(vec![]);
    }
    let now = Utc::now();
    let models: Vec<entity::event::Model> = events
        .into_iter()
        .map(|e| entity::event::Model {
            id: new_id("evt"),
            workspace_id: e.workspace_id,
            event_type: e.event_type.as_str().to_string(),
            actor: e.actor,
            subject_id: e.subject_id,
            data: e.data,
            created_at: now,
        })
        .collect();
    insert_rows(db, &models, now).await?;
    let mut envelopes: Vec<Envelope> = models.into_iter().map(Envelope::from).collect();
    hooks::run(db, &mut envelopes).await?;
    Ok(envelopes)
}

/// The rows of [`record_many`]. On PostgreSQL they travel as one array per
/// column ([`crate::db::Columns`]): the statement's text is the same for
/// any number of events (parsed and planned once per connection), and
/// binding six arrays (and the time) costs far less than seven parameters
/// per event.
/// SQLite takes them as one multi-row insert ([`crate::db::insert_rows`]):
/// its JSON functions re-read each row's text for every field.
async fn insert_rows(db: &impl ConnectionTrait, models: &[entity::event::Model], now: DateTime<Utc>) -> Result<()> {
    let backend = db.get_database_backend();
    if backend != sea_orm::DbBackend::Postgres {
        const COLUMNS: [&str; 7] = ["id", "workspace_id", "event_type", "actor", "subject_id", "data", "created_at"];
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(COLUMNS.len() * models.len());
        for m in models {
            values.extend([
                m.id.as_str().into(),
                m.workspace_id.as_str().into(),
                m.event_type.as_str().into(),
                m.actor.as_str().into(),
                m.subject_id.as_deref().into(),
                m.data.clone().into(),
                m.created_at.into(),
            ]);
        }
        db.execute(crate::db::insert_rows(backend, "event", &COLUMNS, &[], values)?).await?;
        return Ok(());
    }
    // Subject ids are never empty when given.
    let mut columns = crate::db::Columns::new(6, models.len());
    for m in models {
        columns.push(0, m.id.as_str());
        columns.push(1, m.workspace_id.as_str());
        columns.push(2, m.event_type.as_str());
        columns.push(3, m.actor.as_str());
        columns.push_opt(4, m.subject_id.as_deref());
        columns.push(5, serde_json::to_string(&m.data).map_err(crate::Error::internal)?);
    }
    let sql = "INSERT INTO event (id, workspace_id, event_type, actor, subject_id, data, created_at) \
               SELECT v.id, v.workspace_id, v.event_type, v.actor, NULLIF(v.subject_id, ''), v.data::json, $7 \
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                    AS v(id, workspace_id, event_type, actor, subject_id, data)";
    let values = columns.into_values().chain([now.into()]);
    let stmt = sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values);
    db.execute(stmt).await?;
    Ok(())
}

pub type EventStream = Pin<Box<dyn Stream<Item = Arc<Envelope>> + Send>>;

/// Fan-out of committed events to live subscribers.
pub trait EventBus: Send + Sync + 'static {
    /// Publishes committed events. Never blocks; a subscriber that falls too
    /// far behind loses the oldest events (and the loss is logged).
    fn publish(&self, events: Vec<Envelope>);
    /// A stream of every event published from now on.
    fn subscribe(&self) -> EventStream;
    /// The underlying channel, for [`fanout::Fanout`]'s dispatcher, which
    /// must see (and act on) a lag rather than have it logged away.
    fn receiver(&self) -> broadcast::Receiver<Arc<Envelope>>;
}

/// The in-process bus: a `tokio::sync::broadcast` channel.
pub struct BroadcastBus {
    tx: broadcast::Sender<Arc<Envelope>>,
}

impl BroadcastBus {
    pub fn new(capacity: usize) -> Self {
        Self { tx: broadcast::channel(capacity).0 }
    }

    /// Publishes events already shared (as `Arc`s) with the outbox to other
    /// processes (see [`redis::RedisBus`]): no copy per subscriber or bus.
    pub fn publish_shared(&self, events: &[Arc<Envelope>]) {
        for e in events {
            // An error only means nobody is listening.
            let _ = self.tx.send(e.clone());
        }
    }
}

impl EventBus for BroadcastBus {
    fn publish(&self, events: Vec<Envelope>) {
        for e in events {
            // An error only means nobody is listening.
            let _ = self.tx.send(Arc::new(e));
        }
    }

    fn subscribe(&self) -> EventStream {
        let rx = self.tx.subscribe();
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((e, rx)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "event subscriber lagged; events dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }

    fn receiver(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_families_and_names() {
        assert!(type_matches("api_key.*", "api_key.created"));
        assert!(type_matches("*", "user.deleted"));
        assert!(type_matches("user.created", "user.created"));
        assert!(!type_matches("user.*", "user_x.created"));
        assert!(!type_matches("api_key.created", "api_key.deleted"));
        assert!(is_known_pattern("member.*"));
        assert!(!is_known_pattern("nothing.*"));
    }
}
