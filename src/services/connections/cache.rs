//! What every call through a connection reads, cached: the connection with
//! the workspace's settings of its provider. A call that found them in the
//! database would spend one query on them, a turn on a database thread and
//! back, which on the embedded default is a good part of a call's cost.
//!
//! Every change a call could see (credentials refreshed, the connection
//! broken, reconnected or removed, the provider's settings changed) calls
//! [`invalidate`] after its commit: this process's copies go at once, the
//! other processes' through the bus (a live-only message), and the
//! time-to-live (`SWITCHYARD_DATA_CACHE_SECONDS`, as for the data API's
//! cache) bounds how stale a copy can be if that message is lost. What a
//! call does not read is not worth a clear: the connection's last use, the
//! refresh lease. Only a working connection is served from the cache: one
//! that needs the user (or is off) is read again, so a reconnect in another
//! process is seen even before its note arrives. Credentials refreshed by
//! another process whose note is late draw a 401, and the call then reads
//! the row again before it would refresh (see `call::run`).
//!
//! The job that runs a queued call reads the database itself: it is the
//! rare path, and it runs after a wait in which anything may have changed.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ColumnTrait, Condition};

use entity::{connection, provider_setting};

use super::settings;
use crate::error::Result;
use crate::services::cached::Cached;
use crate::state::AppState;

/// The bus message that empties every process's copies.
pub const INVALIDATE: &str = "cache.connections_invalidate";

/// Connections kept at most.
const CAPACITY: u64 = 10_000;

/// A connection and its workspace's settings of its provider.
pub type Found = Arc<(connection::Model, Option<provider_setting::Model>)>;

/// How a call names its connection.
#[derive(Clone, Copy)]
pub enum By<'a> {
    /// Its id (`callConnection`).
    Id(&'a str),
    /// Its provider, one connection per provider per workspace (an action's step).
    Provider(&'a str),
}

/// By (workspace id, `By` as text).
pub struct ConnectionCache(Cached<(String, String), Found>);

impl ConnectionCache {
    pub fn new(ttl: Duration) -> Self {
        Self(Cached::new(ttl, CAPACITY))
    }
}

/// The workspace's connection `by` names, with its provider's settings.
pub async fn find(st: &AppState, workspace_id: &str, by: By<'_>) -> Result<Option<Found>> {
    let (filter, key) = match by {
        By::Id(id) => (Condition::all().add(connection::Column::Id.eq(id)), format!("id:{id}")),
        By::Provider(p) => (Condition::all().add(connection::Column::Provider.eq(p)), format!("provider:{p}")),
    };
    let key = (workspace_id.to_string(), key);
    let cache = &st.connection_cache.0;
    let working = |f: &Found| super::ConnectionStatus::parse(&f.0.status) == super::ConnectionStatus::Connected;
    if let Some(hit) = cache.get(&key).filter(working) {
        return Ok(Some(hit));
    }
    let generation = cache.generation();
    let Some(found) = settings::connection_with_settings(&st.db, workspace_id, filter).await? else { return Ok(None) };
    let found = Arc::new(found);
    cache.keep(generation, key, found.clone());
    Ok(Some(found))
}

/// Drops every cached connection, here and (through the bus) in every
/// other process. Call it after the change commits.
pub fn invalidate(st: &AppState, workspace_id: &str) {
    st.connection_cache.0.clear();
    st.announce(workspace_id, INVALIDATE);
}

/// Drops this process's copies only: for a process that found out itself
/// that a connection is gone (the process that removed it tells the others).
pub(super) fn forget_here(st: &AppState) {
    st.connection_cache.0.clear();
}

/// Empties the cache whenever another process says so; ends on shutdown.
pub fn spawn_listener(st: &AppState) {
    st.on_note(INVALIDATE, |st| st.connection_cache.0.clear());
}
