//! The one GraphQL schema: a query, mutation and subscription root merged
//! from one object per resource. Resolvers are thin: they resolve the caller,
//! call one service function and convert the result into a public type
//! (never an entity model).

// A resolver takes one Rust argument per GraphQL argument: list fields
// (paging both ways, order, filter) have more than clippy's default seven.
#![allow(clippy::too_many_arguments)]

mod actions;
mod api_keys;
mod caller;
mod charts;
mod connections;
mod context;
mod cost;
mod data;
mod data_mutations;
mod documents;
mod errors;
mod events;
mod idempotency;
mod inputs;
mod integrations;
mod invitations;
mod jobs;
mod loaders;
mod members;
mod node;
mod nul;
mod oauth;
mod pagination;
mod plugins;
pub mod shared;
mod states;
pub mod user_errors;
mod viewer;
mod webhook_mutations;
mod webhooks;

use std::sync::Arc;

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::parser::types::{OperationDefinition, OperationType, Selection};
use async_graphql::{Data, MergedObject, MergedSubscription, Request, Response, Schema, SchemaBuilder};
use futures_util::StreamExt;
use tracing::Instrument;

pub use context::ContextExt;
pub use node::found;

use crate::events::fanout::TooSlow;
use crate::state::AppState;

/// Everything that can be read. Needs an API key with the `READ` scope, a
/// browser session or an OAuth token (`serverInfo` needs nothing).
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    viewer::ViewerQuery,
    members::MemberQuery,
    invitations::InvitationQuery,
    api_keys::ApiKeyQuery,
    events::EventQuery,
    jobs::JobQuery,
    webhooks::WebhookQuery,
    data::DataQuery,
    oauth::OAuthQuery,
    connections::ConnectionQuery,
    actions::ActionQuery,
    plugins::PluginQuery,
    integrations::IntegrationQuery,
    charts::ChartQuery,
    node::NodeQuery,
);

/// Every change, each `verbNoun(input:)` returning a payload with
/// `userErrors`. Needs the `WRITE` scope (and `ADMIN` for members and keys).
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    viewer::ViewerMutation,
    members::MemberMutation,
    invitations::InvitationMutation,
    api_keys::ApiKeyMutation,
    jobs::JobMutation,
    webhook_mutations::WebhookMutation,
    data_mutations::DataMutation,
    oauth::OAuthMutation,
    connections::ConnectionMutation,
    actions::ActionMutation,
    plugins::PluginMutation,
    integrations::IntegrationMutation,
);

/// Live streams over the WebSocket at `/graphql/ws` (`graphql-transport-ws`).
/// Needs the `READ` scope; each stream ends when the server shuts down.
#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(
    events::EventSubscription,
    jobs::JobSubscription,
    webhooks::WebhookSubscription,
    data::DataSubscription,
    connections::ConnectionSubscription,
    actions::ActionSubscription,
    integrations::IntegrationSubscription,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What clients read about the `DateTime` scalar (async-graphql's own text
/// describes its implementation).
const DATE_TIME: &str = "A point in time as an RFC 3339 string. Sent in UTC, e.g. \
    `2026-01-31T09:30:00.123+00:00`; accepted with any offset, e.g. `2026-01-31T18:30:00+09:00` or `…Z`.";

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot::default())
        .override_output_type_description::<chrono::DateTime<chrono::Utc>>(DATE_TIME)
}

/// The schema with the application state and the configured limits, as
/// every transport runs it.
///
/// Cost is the one extension: an extension makes async-graphql run every
/// field through the extension chain (a boxed future per extension per
/// field), which 10,000 live subscribers hearing one event feel. What used
/// to be extensions is done around the schema instead ([`Api`]), and
/// tracing stops at the HTTP request's span: a span per field (async-graphql's
/// `Tracing`) cost more than the fields at the default log level.
pub fn build(state: AppState) -> Api {
    let cfg = state.config.clone();
    let schema = builder()
        .limit_depth(cfg.graphql_max_depth)
        .limit_recursive_depth(32)
        .extension(cost::Cost { limit: cfg.graphql_max_complexity })
        .data(loaders::Loaders::new(state.db.clone()))
        .data(state)
        .finish();
    Api { schema, documents: documents::Documents::default(), shared: shared::Shared::default() }
}

/// The schema as HTTP and the WebSocket run it: every error in every
/// response gets its `extensions.code` (see [`errors`]), and an operation on
/// a WebSocket runs with the connection's caller as they are now (see
/// [`caller`]).
///
/// It holds three `Arc`s (the schema's, the parsed documents' and the
/// shared subscriptions'), so the per-request clone of the router's state
/// stays cheap.
#[derive(Clone)]
pub struct Api {
    schema: AppSchema,
    documents: documents::Documents,
    shared: shared::Shared,
}

impl Api {
    /// Runs one operation of a WebSocket connection whose data is
    /// `session`. A subscription of a signed-in caller shares a run with
    /// the same subscriptions, but for the first of its kind (see
    /// [`shared`]); anything else runs on its own.
    pub fn subscribe(&self, mut request: Request, session: Arc<Data>) -> BoxStream<'static, shared::Answer> {
        self.documents.reuse(&mut request);
        let live = caller::live_caller(&session).cloned();
        // `build` puts the state there; without it, the usual path says so.
        let app = self.schema.data::<AppState>().cloned();
        let (Some(live), Some(app), true) = (live, app, is_subscription(&mut request)) else {
            return shared::own(async_graphql::Executor::execute_stream(self, request, Some(session)));
        };
        let too_slow = session.get(&std::any::TypeId::of::<TooSlow>()).and_then(|d| d.downcast_ref::<TooSlow>());
        let too_slow = too_slow.cloned().unwrap_or_default().0;
        let (schema, shared) = (self.schema.clone(), self.shared.clone());
        let start = Box::pin(async move {
            let principal = match caller::current_principal(&app, &live).await {
                Ok(p) => p,
                Err(e) => return shared::own(failed(e).map(errors::annotate_response)),
            };
            let Some(key) = shared::Key::new(principal.clone(), &request) else {
                // Variables that do not serialise: it runs on its own.
                let answers = schema.execute_stream_with_session_data(request.data(principal), session);
                return shared::own(answers.map(errors::annotate_response));
            };
            let request = request.data(principal);
            shared.join(key, too_slow, &app.tasks, move |data| {
                let session = data.map_or(session, Arc::new);
                schema.execute_stream_with_session_data(request, session).map(errors::annotate_response).boxed()
            })
        });
        futures_util::stream::once(start).flatten().boxed()
    }
}

/// Whether the operation a request runs is a subscription.
fn is_subscription(request: &mut Request) -> bool {
    selected_operation(request).is_some_and(|op| op.ty == OperationType::Subscription)
}

/// The operation a request runs: the one named, or the only one. `None`
/// when the document does not parse or names none of them (the request
/// then fails when it runs).
fn selected_operation(request: &mut Request) -> Option<&OperationDefinition> {
    let name = request.operation_name.clone();
    let doc = request.parsed_query().ok()?;
    let mut operations = doc.operations.iter();
    let op = match &name {
        Some(name) => operations.find(|(n, _)| n.is_some_and(|n| n.as_str() == name.as_str())),
        // Several operations and no name: the request fails, naming none.
        None if doc.operations.iter().count() > 1 => None,
        None => operations.next(),
    };
    op.map(|(_, op)| &op.node)
}

impl async_graphql::Executor for Api {
    async fn execute(&self, mut request: Request) -> Response {
        self.documents.prepare(&mut request);
        let span = operation_span(&mut request);
        // Annotated inside the span: an internal error is logged there.
        async { errors::annotate_response(self.schema.execute(request).await) }.instrument(span).await
    }

    fn execute_stream(&self, request: Request, session: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let session = session.unwrap_or_default();
        let Some(live) = caller::live_caller(&session).cloned() else {
            return self
                .schema
                .execute_stream_with_session_data(request, session)
                .map(errors::annotate_response)
                .boxed();
        };
        let schema = self.schema.clone();
        // `build` puts it there; a schema without it runs nothing for a caller.
        let Some(app) = schema.data::<AppState>().cloned() else {
            return failed(async_graphql::ServerError::new("Internal server error", None));
        };
        // Boxed, so the finished look-up does not stay inside the stream
        // for the subscription's life.
        let start = Box::pin(async move {
            match caller::with_current_caller(&app, &live, request).await {
                Ok(request) => schema.execute_stream_with_session_data(request, session),
                Err(e) => failed(e),
            }
        });
        futures_util::stream::once(start).flatten().map(errors::annotate_response).boxed()
    }
}

/// A stream of one answer: the error that stopped the operation.
fn failed(err: async_graphql::ServerError) -> BoxStream<'static, Response> {
    futures_util::stream::once(std::future::ready(Response::from_errors(vec![err]))).boxed()
}

/// A debug span around one operation, naming its kind and root fields (e.g.
/// `graphql{operation=mutation fields="callConnection"}`): with
/// `SWITCHYARD_LOG=debug`, every line logged while it runs on the
/// request's task says which operation it served (a DataLoader's batch runs
/// on a task of its own, for several operations, and does not). At the
/// default level it is off and costs nothing; the document parsed for it is
/// the one async-graphql then runs.
fn operation_span(request: &mut Request) -> tracing::Span {
    let span = tracing::debug_span!("graphql", operation = tracing::field::Empty, fields = tracing::field::Empty);
    if span.is_disabled() {
        return span;
    }
    if let Some(op) = selected_operation(request) {
        let fields: Vec<&str> = op
            .selection_set
            .node
            .items
            .iter()
            .filter_map(|s| match &s.node {
                Selection::Field(f) => Some(f.node.name.node.as_str()),
                _ => None,
            })
            .collect();
        span.record("operation", tracing::field::display(op.ty));
        span.record("fields", fields.join(",").as_str());
    }
    span
}

/// The SDL that `switchyard schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    builder().finish().sdl()
}
