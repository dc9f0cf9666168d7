//! Switchyard's own OAuth 2.0 authorization server (seed 002 §5): apps
//! registered by a workspace's owners ([`apps`]), the authorization-code
//! flow with PKCE and remembered consent ([`authorize`]), the token
//! endpoint's grants, rotation with reuse detection, revocation and
//! introspection ([`tokens`]), and the users' view of what they granted
//! ([`authorizations`]).
//!
//! An access token resolves to the same [`Principal`](crate::auth::Principal)
//! as an API key would: the user in the app's workspace with the granted
//! scopes, cut down to the app's scopes and to what the user's role allows
//! today. Every service's checks, the rate limit and usage counting apply
//! unchanged.

pub mod apps;
pub mod authorizations;
pub mod authorize;
pub mod tokens;

use std::collections::BTreeSet;

use crate::auth::{Role, Scope};
use crate::error::{Error, Result};

/// The scopes stored in a JSON array column.
pub fn scopes_of(json: &serde_json::Value) -> BTreeSet<Scope> {
    json.as_array().map(|a| a.iter().filter_map(|v| v.as_str().and_then(Scope::parse)).collect()).unwrap_or_default()
}

/// A set of scopes as stored.
pub fn scopes_json(scopes: &BTreeSet<Scope>) -> serde_json::Value {
    serde_json::json!(scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>())
}

/// A set of scopes as OAuth writes it: `read write`.
pub fn scope_string(scopes: &BTreeSet<Scope>) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

/// Parses an OAuth `scope` parameter (space-separated names).
pub fn parse_scope_param(s: &str) -> Result<BTreeSet<Scope>> {
    s.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| Scope::parse(w).ok_or_else(|| Error::invalid_field("scope", format!("Unknown scope '{w}'"))))
        .collect()
}

/// The scopes a member with `role` may hold: owners every one,
/// collaborators all but `admin`.
pub fn role_scopes(role: Role) -> BTreeSet<Scope> {
    match role {
        Role::Owner => Scope::ALL.into_iter().collect(),
        Role::Collaborator => [Scope::Read, Scope::Write].into_iter().collect(),
    }
}
