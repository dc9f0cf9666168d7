//! Relay's `Node`: every object with a prefixed id (`ak_…`, `wh_…`, see
//! `crate::ids`) is reachable through `node(id:)` / `nodes(ids:)`. The prefix
//! picks the same service function the type's own lookup calls, so the
//! permission checks and the workspace scoping are the same.

use async_graphql::{Context, Interface, Object, Result, ID};

use crate::error::Error;
use crate::graphql::actions::{Action, ActionRun};
use crate::graphql::api_keys::ApiKey;
use crate::graphql::connections::{ConnectionCall, ServiceConnection};
use crate::graphql::data::{DataEndpoint, DataKey, Record};
use crate::graphql::events::Event;
use crate::graphql::integrations::{Integration, IntegrationRun};
use crate::graphql::invitations::Invitation;
use crate::graphql::jobs::Job;
use crate::graphql::members::Member;
use crate::graphql::oauth::OAuthApp;
use crate::graphql::plugins::{Plugin, PluginCall};
use crate::graphql::viewer::{User, Workspace};
use crate::graphql::webhooks::{Delivery, DeliveryAttempt, Webhook};
use crate::graphql::{cost, ContextExt};
use crate::services::{
    actions, api_keys, connections, data_endpoints, deliveries, events, integrations, members, oauth, plugins, records,
    webhooks, workspaces,
};

/// Most ids one `nodes` call may ask for.
const MAX_NODES: usize = 100;

/// An object with a global id: a type prefix and a ULID (`wh_01J…`).
#[derive(Interface)]
#[graphql(field(name = "id", ty = "&ID", desc = "The global id: a type prefix and a ULID, e.g. `wh_01J…`."))]
pub enum Node {
    Action(Action),
    ActionRun(ActionRun),
    ApiKey(ApiKey),
    ConnectionCall(ConnectionCall),
    DataEndpoint(DataEndpoint),
    DataKey(DataKey),
    Delivery(Delivery),
    DeliveryAttempt(DeliveryAttempt),
    Event(Event),
    Integration(Integration),
    IntegrationRun(IntegrationRun),
    Invitation(Invitation),
    Job(Job),
    Member(Member),
    OAuthApp(OAuthApp),
    Plugin(Plugin),
    PluginCall(PluginCall),
    Record(Record),
    ServiceConnection(ServiceConnection),
    User(User),
    Webhook(Webhook),
    Workspace(Workspace),
}

/// A lookup's result with "not found or not yours" as `None`; every other
/// error stays an error.
pub fn found<T>(r: crate::Result<T>) -> crate::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The object behind one global id, through the lookup of its type. Ids of
/// types without a lookup of their own (members, invitations, jobs,
/// attempts, data keys) and unknown prefixes resolve to `None`.
async fn resolve(ctx: &Context<'_>, id: &str) -> crate::Result<Option<Node>> {
    let p = ctx.principal()?;
    let db = &ctx.app().db;
    let prefix = id.split_once('_').map_or("", |(prefix, _)| prefix);
    let node = match prefix {
        "act" => actions::get(db, p, id).await.map(|m| Node::Action(m.into())),
        "arn" => actions::runs::get(db, p, id).await.map(|m| Node::ActionRun(m.into())),
        "ak" => api_keys::get(db, p, id).await.map(|m| Node::ApiKey(m.into())),
        "evt" => events::get(db, p, id).await.map(|e| Node::Event(e.into())),
        "wh" => webhooks::get(db, p, id).await.map(|m| Node::Webhook(m.into())),
        "dlv" => deliveries::get(db, p, id).await.map(|m| Node::Delivery(m.into())),
        "de" => data_endpoints::get(db, p, id).await.map(|m| Node::DataEndpoint(m.into())),
        "rec" => records::get(db, p, id).await.map(|m| Node::Record(m.into())),
        "con" => connections::get(db, p, id).await.map(|m| Node::ServiceConnection(m.into())),
        "cal" => connections::call::get(db, p, id).await.map(|m| Node::ConnectionCall(m.into())),
        "plg" => plugins::get(db, p, id).await.map(|m| Node::Plugin(m.into())),
        "pcl" => plugins::calls::get(db, p, id).await.map(|m| Node::PluginCall(m.into())),
        "int" => integrations::get(db, p, id).await.map(|m| Node::Integration(m.into())),
        "isr" => integrations::run(db, p, id).await.map(|m| Node::IntegrationRun(m.into())),
        "app" => oauth::apps::get(db, p, id).await.map(|m| Node::OAuthApp(m.into())),
        "ws" if id == p.workspace_id => workspaces::current(db, p).await.map(|m| Node::Workspace(m.into())),
        "usr" if id == p.user_id => members::me(db, p).await.map(|m| Node::User(m.into())),
        _ => Err(Error::NotFound("Node")),
    };
    found(node)
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id, with the permissions of its own lookup;
    /// null when it does not exist or is not the caller's.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A prefixed id such as `wh_01J…`.")] id: ID,
    ) -> Result<Option<Node>> {
        Ok(resolve(ctx, &id).await?)
    }

    /// Objects by global id, in the order asked (null where not found); at
    /// most 100 ids. Costs the number of ids times what it selects.
    #[graphql(complexity = "cost::list(ids.len(), child_complexity)")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "1 to 100 prefixed ids.")] ids: Vec<ID>,
    ) -> Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(Error::invalid_field("ids", format!("At most {MAX_NODES} ids")).into());
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            out.push(resolve(ctx, id).await?);
        }
        Ok(out)
    }
}
