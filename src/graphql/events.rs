//! The event log: `events` query and live `events` subscription.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use crate::auth::{Role, Scope};
use crate::events::{owners_only, type_matches, workspace_stream, Envelope};
use crate::graphql::pagination::{connection, page_args, Conn};
use crate::graphql::{found, ContextExt};
use crate::services::events::{self as event_service, check_patterns, EventFilter};

/// Something that happened in the workspace.
#[derive(SimpleObject, Clone)]
pub struct Event {
    pub id: ID,
    /// A catalog name such as `api_key.created`.
    #[graphql(name = "type")]
    pub event_type: String,
    /// Who caused it: a user id, an API key id, or `system`.
    pub actor: String,
    /// The object the event is about.
    pub subject_id: Option<String>,
    pub data: async_graphql::Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

impl From<Envelope> for Event {
    fn from(e: Envelope) -> Self {
        Self {
            id: ID(e.id),
            event_type: e.event_type,
            actor: e.actor,
            subject_id: e.subject_id,
            data: async_graphql::Json(e.data),
            created_at: e.created_at,
        }
    }
}

#[derive(InputObject, Default)]
pub struct EventFilterInput {
    /// Names or `family.*` patterns, e.g. `["api_key.*", "user.created"]`.
    pub types: Option<Vec<String>>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// The workspace's events, newest first.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last event of the previous page.")] after: Option<String>,
        filter: Option<EventFilterInput>,
    ) -> Result<Conn<Event>> {
        let page = page_args(ctx, first, after, "evt")?;
        let f = filter.unwrap_or_default();
        let filter = EventFilter { types: f.types, since: f.since, until: f.until };
        let rows = event_service::list(&ctx.app().db, ctx.principal()?, filter, &page).await?;
        Ok(connection(rows, |e| e.id.clone(), Event::from))
    }

    /// One event; null when it does not exist or the caller may not see it.
    async fn event(&self, ctx: &Context<'_>, #[graphql(desc = "The id (`evt_…`).")] id: ID) -> Result<Option<Event>> {
        Ok(found(event_service::get(&ctx.app().db, ctx.principal()?, &id).await)?.map(Event::from))
    }
}

#[derive(Default)]
pub struct EventSubscription;

#[Subscription]
impl EventSubscription {
    /// Events of the workspace as they are committed, optionally filtered by
    /// type names or `family.*` patterns. Ends when the server shuts down.
    async fn events(&self, ctx: &Context<'_>, types: Option<Vec<String>>) -> Result<impl Stream<Item = Event>> {
        let p = ctx.principal()?.require(Scope::Read)?;
        let types = types.unwrap_or_default();
        check_patterns(&types)?;
        // A connection whose caller is demoted closes (see rest::graphql),
        // so the role at the start holds for the stream's life.
        let owner = p.role == Role::Owner;
        let app = ctx.app();
        let stream = workspace_stream(app.bus.as_ref(), p.workspace_id.clone())
            .filter(move |e| std::future::ready(!e.live_only && (owner || !owners_only(&e.event_type))))
            .filter(move |e| {
                std::future::ready(types.is_empty() || types.iter().any(|t| type_matches(t, &e.event_type)))
            })
            .map(|e| Event::from((*e).clone()))
            .take_until(app.shutdown.clone().cancelled_owned());
        Ok(stream)
    }
}
