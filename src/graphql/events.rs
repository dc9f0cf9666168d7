//! The event log: `events` query and live `events` subscription.

use std::sync::Arc;

use async_graphql::{Context, InputObject, Json, Object, Result, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use crate::auth::Scope;
use crate::events::{type_matches, Envelope};
use crate::graphql::cost;
use crate::graphql::pagination::{connection, page_args, Conn, ListOrder};
use crate::graphql::{found, ContextExt};
use crate::services::events::{self as event_service, check_patterns, EventFilter};

/// An event as the API shows it. Holds the bus's shared envelope: a live
/// event reaches every subscriber without a copy, and only the fields a
/// subscriber selects are cloned.
#[derive(Clone)]
pub struct Event {
    /// The envelope's id as a GraphQL id (what `Node` reads).
    id: ID,
    envelope: Arc<Envelope>,
}

/// Something that happened in the workspace.
#[Object]
impl Event {
    /// The event's id (`evt_…`).
    pub async fn id(&self) -> &ID {
        &self.id
    }

    /// A catalog name such as `api_key.created`.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.envelope.event_type
    }

    /// Who caused it, as an id: a user (`usr_…`), an API key (`ak_…`), an
    /// OAuth app (`app_…`), a connection (`con_…`), or `system`.
    async fn actor(&self) -> &str {
        &self.envelope.actor
    }

    /// Who caused it, as an object: the user, or the API key, OAuth app,
    /// connection or the server itself.
    async fn acted_by(&self, ctx: &Context<'_>) -> Result<Actor> {
        let id = self.envelope.actor.clone();
        let prefix = id.split_once('_').map_or("", |(p, _)| p);
        Ok(match prefix {
            "usr" => {
                let p = ctx.principal()?;
                let loaders = ctx.data_unchecked::<crate::graphql::loaders::Loaders>();
                let key = (p.workspace_id.clone(), id.clone());
                match loaders.users.load_one(key).await.map_err(crate::Error::internal)? {
                    Some(u) => Actor::User(u.into()),
                    None => Actor::FormerUser(FormerUser { id: ID(id) }),
                }
            }
            "ak" => Actor::ApiKey(ApiKeyActor { id: ID(id) }),
            "app" => Actor::OAuthApp(OAuthAppActor { id: ID(id) }),
            "con" => Actor::Connection(ConnectionActor { id: ID(id) }),
            _ => Actor::System(SystemActor { name: id }),
        })
    }

    /// The object the event is about.
    async fn subject_id(&self) -> Option<&str> {
        self.envelope.subject_id.as_deref()
    }

    /// Details of what happened; the fields depend on the event's `type`.
    async fn data(&self) -> async_graphql::Json<&serde_json::Value> {
        async_graphql::Json(&self.envelope.data)
    }

    /// When it happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.envelope.created_at
    }
}

/// Who caused an event.
#[derive(async_graphql::Union)]
pub enum Actor {
    User(crate::graphql::viewer::User),
    FormerUser(FormerUser),
    ApiKey(ApiKeyActor),
    OAuthApp(OAuthAppActor),
    Connection(ConnectionActor),
    System(SystemActor),
}

/// A user whose account has since been deleted.
#[derive(SimpleObject)]
pub struct FormerUser {
    /// Their former id (`usr_…`).
    pub id: ID,
}

/// An API key acting on its own (look it up with `apiKey(id:)`, owners only).
#[derive(SimpleObject)]
pub struct ApiKeyActor {
    /// The key's id (`ak_…`).
    pub id: ID,
}

/// An OAuth app acting as itself (client credentials; `oauthApp(id:)`, owners only).
#[derive(SimpleObject)]
pub struct OAuthAppActor {
    /// The app's id (`app_…`).
    pub id: ID,
}

/// A connection, for what a service sent to it (incoming webhooks).
#[derive(SimpleObject)]
pub struct ConnectionActor {
    /// The connection's id (`con_…`).
    pub id: ID,
}

/// The server itself (scheduled work, retries, refreshes).
#[derive(SimpleObject)]
pub struct SystemActor {
    /// `system`.
    pub name: String,
}

impl From<Envelope> for Event {
    fn from(e: Envelope) -> Self {
        Self::from(Arc::new(e))
    }
}

impl From<Arc<Envelope>> for Event {
    fn from(envelope: Arc<Envelope>) -> Self {
        Self { id: ID(envelope.id.clone()), envelope }
    }
}

/// Which events to list; every field given must match.
#[derive(InputObject, Default)]
pub struct EventFilterInput {
    /// Event types or `family.*` patterns, e.g. `["api_key.*", "user.created"]`.
    pub event_types: Option<Vec<String>>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct EventQuery;

/// One event type of the catalog: what it means and the shape of its `data`.
#[derive(SimpleObject)]
pub struct EventTypeInfo {
    /// The type's name, e.g. `record.created` (also `type` and `event` in webhook bodies).
    pub name: String,
    /// What happened when an event of this type is recorded.
    pub description: String,
    /// Whether only owners see it (in `events`, and through collaborators' webhooks).
    pub owners_only: bool,
    /// A JSON Schema (2020-12) of the event's `data`.
    pub schema: Json<serde_json::Value>,
    /// An example of the event's `data`.
    pub example: Json<serde_json::Value>,
}

#[Object]
impl EventQuery {
    /// The event catalog: every type the server emits, with its meaning, a
    /// JSON Schema of its `data` and an example (any member).
    async fn event_types(&self, ctx: &Context<'_>) -> Result<Vec<EventTypeInfo>> {
        ctx.principal()?.require(Scope::Read)?;
        Ok(crate::events::catalog::all()
            .iter()
            .map(|d| EventTypeInfo {
                name: d.name.clone(),
                description: d.description.clone(),
                owners_only: d.owners_only(),
                schema: Json(d.schema()),
                example: Json(d.example.clone()),
            })
            .collect())
    }

    /// The workspace's events, newest first (any member; collaborators do not
    /// see events about what only owners manage, such as API keys and webhooks).
    #[graphql(complexity = "cost::connection(__field, first.or(last), child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor: the id of the last event of the previous page.")] after: Option<String>,
        #[graphql(
            desc = "Page size from the end, 1 to 100: the events just newer than `before` (or the oldest ones)."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor: the id of the first event of the next page, to page back towards newer ones.")]
        before: Option<String>,
        #[graphql(desc = "`NEWEST_FIRST` (default) or `OLDEST_FIRST`; cursors page on in that order.")]
        order_by: Option<ListOrder>,
        #[graphql(desc = "Which events; none: all the caller may see.")] filter: Option<EventFilterInput>,
    ) -> Result<Conn<Event>> {
        let page = page_args(ctx, (first, after), (last, before), order_by, "evt")?;
        let f = filter.unwrap_or_default();
        let filter = EventFilter { types: f.event_types, since: f.since, until: f.until };
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
    /// type names or `family.*` patterns. With `after` (the id of the last
    /// event a client saw before it lost its connection) the events
    /// committed since then come first, oldest first (at most 1,000), then
    /// the live ones, with none twice. Ends when the server shuts down
    /// (its connection closes).
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Event types or `family.*` patterns; all events when absent.")] event_types: Option<
            Vec<String>,
        >,
        #[graphql(desc = "Resume after this event id (`evt_…`): the events missed since are sent first.")]
        after: Option<ID>,
    ) -> Result<impl Stream<Item = Event>> {
        let p = ctx.principal()?.require(Scope::Read)?;
        let types = event_types.unwrap_or_default();
        check_patterns(&types)?;
        // A connection whose caller is demoted closes (see rest::graphql),
        // so the role at the start holds for the stream's life.
        let seer = p.clone();
        let types_for_replay = types.clone();
        let accept = move |e: &Envelope| {
            !e.live_only
                && event_service::may_see(&seer, &e.event_type, &e.data)
                && (types.is_empty() || types.iter().any(|t| type_matches(t, &e.event_type)))
        };
        // Listen first, then read what was missed, so nothing falls between.
        let live = ctx.live_events(&p.workspace_id, Box::new(accept));
        // Boxed: async-graphql keeps this resolver's future inside the
        // subscription's stream for as long as it lives, and a query's
        // future inline would cost every live subscriber its size.
        let missed = match &after {
            Some(id) => Box::pin(event_service::after(&ctx.app().db, p, Some(types_for_replay.clone()), id)).await?,
            None => vec![],
        };
        let replayed: std::collections::HashSet<String> = missed.iter().map(|e| e.id.clone()).collect();
        let live = live.filter(move |e| std::future::ready(!replayed.contains(&e.id)));
        let stream =
            futures_util::stream::iter(missed.into_iter().map(std::sync::Arc::new)).chain(live).map(Event::from);
        // No shutdown watch of its own: the socket it runs on closes then.
        Ok(stream)
    }
}
