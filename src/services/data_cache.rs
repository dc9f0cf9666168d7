//! What the REST data API reads on every request, cached: the data key a
//! token resolves to (with its member checked) and the endpoint a slug
//! names (with its JSON Schema compiled once). Only hits are cached, so a
//! flood of wrong tokens cannot fill it.
//!
//! Every change that could alter an answer (a key enabled or disabled, an
//! endpoint changed, a member removed) calls [`invalidate`],
//! which empties this process's cache at once and tells the other processes
//! through the event bus (a live-only message). The time-to-live
//! (`SWITCHYARD_DATA_CACHE_SECONDS`) bounds how stale a copy can be if that
//! message is lost.
//! Each kind is a [`Cached`]: `moka` entries behind a generation.

use std::sync::Arc;
use std::time::Duration;

use entity::{data_endpoint, data_key};

use super::cached::Cached;
use crate::error::{FieldError, Result};
use crate::services::data_endpoints;
use crate::state::AppState;

/// The bus message that empties every process's cache.
pub const INVALIDATE: &str = "cache.data_invalidate";

/// Entries of each kind kept at most.
const CAPACITY: u64 = 10_000;

/// A data endpoint as the REST API needs it.
pub struct Endpoint {
    pub model: data_endpoint::Model,
    /// The endpoint's JSON Schema, compiled.
    validator: Option<jsonschema::Validator>,
}

impl Endpoint {
    fn new(model: data_endpoint::Model) -> Self {
        let validator = model.schema.as_ref().and_then(|s| jsonschema::validator_for(s).ok());
        Self { model, validator }
    }

    /// The fields a body breaks against the endpoint's schema (none without one).
    pub fn violations(&self, body: &serde_json::Value) -> Vec<FieldError> {
        self.validator.as_ref().map(|v| data_endpoints::schema_violations(v, body)).unwrap_or_default()
    }
}

pub struct DataCache {
    /// By token hash.
    keys: Cached<String, Arc<data_key::Model>>,
    /// By (workspace id, slug).
    endpoints: Cached<(String, String), Arc<Endpoint>>,
}

impl DataCache {
    /// A cache whose entries live `ttl` (zero: nothing is cached).
    pub fn new(ttl: Duration) -> Self {
        Self { keys: Cached::new(ttl, CAPACITY), endpoints: Cached::new(ttl, CAPACITY) }
    }

    fn clear(&self) {
        self.keys.clear();
        self.endpoints.clear();
    }
}

/// The enabled data key a presented `tm_…` token resolves to, whose member
/// still belongs to the workspace; every failure is UNAUTHORIZED.
pub async fn key(st: &AppState, token: &str) -> Result<Arc<data_key::Model>> {
    let hash = data_endpoints::check_key_shape(&st.secret, token)?;
    let cache = &st.data_cache.keys;
    if let Some(hit) = cache.get(&hash) {
        return Ok(hit);
    }
    let generation = cache.generation();
    let found = Arc::new(data_endpoints::authenticate_hash(&st.db, &hash).await?);
    cache.keep(generation, hash, found.clone());
    Ok(found)
}

/// The endpoint `slug` of a workspace, if there is one.
pub async fn endpoint(st: &AppState, workspace_id: &str, slug: &str) -> Result<Option<Arc<Endpoint>>> {
    let id = (workspace_id.to_string(), slug.to_string());
    let cache = &st.data_cache.endpoints;
    if let Some(hit) = cache.get(&id) {
        return Ok(Some(hit));
    }
    let generation = cache.generation();
    let Some(model) = data_endpoints::by_slug(&st.db, workspace_id, slug).await? else { return Ok(None) };
    let found = Arc::new(Endpoint::new(model));
    cache.keep(generation, id, found.clone());
    Ok(Some(found))
}

/// Drops every cached key and endpoint, here and (through the bus) in every
/// other process. Call it after the change commits.
pub fn invalidate(st: &AppState, workspace_id: &str) {
    st.data_cache.clear();
    st.announce(workspace_id, INVALIDATE);
}

/// Empties the cache whenever another process says so; ends on shutdown.
pub fn spawn_listener(st: &AppState) {
    st.on_note(INVALIDATE, |st| st.data_cache.clear());
}
